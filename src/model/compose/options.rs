//! Service options with a syntax of their own: capabilities, ulimits, restart policy, network
//! mode, healthcheck test. Each is checked while it is read, so errors carry its line.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize as DeriveDeserialize, Serialize, Serializer};

use super::forms::Scalar;
use crate::util::yaml::de::long;

/// Linux capabilities Docker knows, without the `CAP_` prefix.
const CAPABILITIES: &[&str] = &[
    "ALL",
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYSLOG",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "WAKE_ALARM",
];

/// A capability, normalised: upper case, no `CAP_` prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Capability(pub String);

impl Capability {
    pub fn parse(text: &str) -> Result<Capability, String> {
        let upper = text.to_ascii_uppercase();
        let name = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if !CAPABILITIES.contains(&name) {
            return Err(format!(
                "unknown capability {text:?} (e.g. NET_ADMIN, SYS_NICE; see capabilities(7))"
            ));
        }
        Ok(Capability(name.to_string()))
    }
}

impl<'de> Deserialize<'de> for Capability {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Capability;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a capability name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Capability, E> {
                Capability::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Resource limits setrlimit(2) knows (Docker's names).
const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// A ulimit name (a mapping key), checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UlimitName(pub String);

impl<'de> Deserialize<'de> for UlimitName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = UlimitName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a ulimit name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UlimitName, E> {
                if !ULIMITS.contains(&v) {
                    return Err(E::custom(format!(
                        "unknown ulimit {v:?} (one of: {})",
                        ULIMITS.join(", ")
                    )));
                }
                Ok(UlimitName(v.to_string()))
            }
        }
        d.deserialize_str(V)
    }
}

/// A ulimit: `nofile: 65536` (soft = hard) or `{soft, hard}`; -1 is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct SoftHard {
    soft: i64,
    hard: i64,
}

impl Ulimit {
    fn new(soft: i64, hard: i64) -> Result<Ulimit, String> {
        let valid = |v: i64| v >= -1;
        if !valid(soft) || !valid(hard) {
            return Err("a limit is a number of 0 or more, or -1 for unlimited".into());
        }
        let unlimited = |v: i64| if v == -1 { i64::MAX } else { v };
        if unlimited(soft) > unlimited(hard) {
            return Err(format!("soft limit {soft} is above the hard limit {hard}"));
        }
        Ok(Ulimit { soft, hard })
    }
}

impl<'de> Deserialize<'de> for Ulimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ulimit;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a mapping with soft and hard")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ulimit, E> {
                Ulimit::new(v, v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ulimit, E> {
                let v = i64::try_from(v).map_err(|_| E::custom("limit too large"))?;
                Ulimit::new(v, v).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Ulimit, A::Error> {
                let raw: SoftHard = long(map)?;
                Ulimit::new(raw.soft, raw.hard).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// The restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    #[default]
    No,
    Always,
    UnlessStopped,
    OnFailure(Option<u32>),
}

impl Restart {
    pub fn parse(text: &str) -> Result<Restart, String> {
        Ok(match text {
            "no" => Restart::No,
            "always" => Restart::Always,
            "unless-stopped" => Restart::UnlessStopped,
            "on-failure" => Restart::OnFailure(None),
            _ => match text.strip_prefix("on-failure:").map(str::parse::<u32>) {
                Some(Ok(n)) => Restart::OnFailure(Some(n)),
                _ => {
                    return Err(format!(
                        "unknown restart policy {text:?} (one of: no, always, unless-stopped, \
                         on-failure, on-failure:N)"
                    ));
                }
            },
        })
    }
}

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Restart::No => f.write_str("no"),
            Restart::Always => f.write_str("always"),
            Restart::UnlessStopped => f.write_str("unless-stopped"),
            Restart::OnFailure(None) => f.write_str("on-failure"),
            Restart::OnFailure(Some(n)) => write!(f, "on-failure:{n}"),
        }
    }
}

/// `network_mode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    Host,
    None,
    /// Docker's default bridge (`docker0`).
    Bridge,
    /// The network stack of another service of the file.
    Service(String),
}

impl NetworkMode {
    pub fn parse(text: &str) -> Result<NetworkMode, String> {
        Ok(match text {
            "host" => NetworkMode::Host,
            "none" => NetworkMode::None,
            "bridge" => NetworkMode::Bridge,
            _ => match text.strip_prefix("service:") {
                Some(name) if !name.is_empty() => NetworkMode::Service(name.to_string()),
                _ => {
                    return Err(format!(
                        "unsupported network_mode {text:?} (one of: host, none, bridge, \
                         service:NAME; to join networks, use `networks`)"
                    ));
                }
            },
        })
    }

    /// Whether the service has a network stack of its own (ports, networks, hostname apply).
    pub fn owns_stack(&self) -> bool {
        !matches!(self, NetworkMode::Service(_))
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Bridge => f.write_str("bridge"),
            NetworkMode::Service(s) => write!(f, "service:{s}"),
        }
    }
}

/// Parsed from and serialised as its Compose string.
macro_rules! string_form {
    ($ty:ty, $what:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        <$ty>::parse(v).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

string_form!(Restart, "a restart policy");
string_form!(NetworkMode, "a network mode");

/// A healthcheck `test`, normalised to Docker's form: `["CMD", args...]`,
/// `["CMD-SHELL", command]` or `["NONE"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTest(pub Vec<String>);

impl HealthTest {
    pub fn is_none(&self) -> bool {
        self.0.first().is_some_and(|w| w == "NONE")
    }

    fn check(words: Vec<String>) -> Result<HealthTest, String> {
        match words.first().map(String::as_str) {
            Some("NONE") if words.len() == 1 => {}
            Some("NONE") => return Err("[\"NONE\"] takes no arguments".into()),
            Some("CMD") if words.len() >= 2 => {}
            Some("CMD") => return Err("[\"CMD\", ...] needs a command after CMD".into()),
            Some("CMD-SHELL") if words.len() == 2 => {}
            Some("CMD-SHELL") => {
                return Err("[\"CMD-SHELL\", ...] takes exactly one shell command".into());
            }
            _ => {
                return Err("a list test starts with \"CMD\", \"CMD-SHELL\" or \"NONE\"".into());
            }
        }
        Ok(HealthTest(words))
    }
}

impl<'de> Deserialize<'de> for HealthTest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HealthTest;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a shell command or a list starting with CMD, CMD-SHELL or NONE")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HealthTest, E> {
                if v.trim().is_empty() {
                    return Err(E::custom("an empty test"));
                }
                Ok(HealthTest(vec!["CMD-SHELL".into(), v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HealthTest, A::Error> {
                let mut words = Vec::new();
                while let Some(word) = seq.next_element::<Scalar>()? {
                    words.push(word.0);
                }
                HealthTest::check(words).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_normalised_and_checked() {
        assert_eq!(Capability::parse("net_admin").unwrap().0, "NET_ADMIN");
        assert_eq!(Capability::parse("CAP_SYS_NICE").unwrap().0, "SYS_NICE");
        assert_eq!(Capability::parse("ALL").unwrap().0, "ALL");
        let err = Capability::parse("NET_ADMN").unwrap_err();
        assert!(err.contains("unknown capability \"NET_ADMN\""), "{err}");
    }

    #[test]
    fn restart_policies() {
        for (text, want) in [
            ("no", Restart::No),
            ("always", Restart::Always),
            ("unless-stopped", Restart::UnlessStopped),
            ("on-failure", Restart::OnFailure(None)),
            ("on-failure:3", Restart::OnFailure(Some(3))),
        ] {
            assert_eq!(Restart::parse(text), Ok(want));
            assert_eq!(want.to_string(), text);
        }
        for bad in ["sometimes", "on-failure:x", "on-failure:", "No"] {
            let err = Restart::parse(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn network_modes() {
        assert_eq!(NetworkMode::parse("host"), Ok(NetworkMode::Host));
        assert_eq!(NetworkMode::parse("none"), Ok(NetworkMode::None));
        assert_eq!(NetworkMode::parse("bridge"), Ok(NetworkMode::Bridge));
        assert_eq!(
            NetworkMode::parse("service:vpn"),
            Ok(NetworkMode::Service("vpn".into()))
        );
        for bad in ["container:abc", "service:", "hots", "default"] {
            let err = NetworkMode::parse(bad).unwrap_err();
            assert!(err.contains("unsupported network_mode"), "{err}");
        }
    }

    #[test]
    fn health_tests() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(HealthTest::check(words(&["CMD", "true"])).is_ok());
        assert!(HealthTest::check(words(&["CMD-SHELL", "a | b"])).is_ok());
        assert!(HealthTest::check(words(&["NONE"])).unwrap().is_none());
        for (bad, why) in [
            (&["CMD"][..], "needs a command"),
            (&["CMD-SHELL", "a", "b"][..], "exactly one"),
            (&["NONE", "x"][..], "takes no arguments"),
            (&["curl", "x"][..], "starts with"),
            (&[][..], "starts with"),
        ] {
            let err = HealthTest::check(words(bad)).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn ulimits() {
        assert_eq!(Ulimit::new(1, 2), Ok(Ulimit { soft: 1, hard: 2 }));
        assert!(Ulimit::new(5, -1).is_ok());
        assert!(
            Ulimit::new(3, 2)
                .unwrap_err()
                .contains("above the hard limit")
        );
        assert!(
            Ulimit::new(-1, 5)
                .unwrap_err()
                .contains("above the hard limit")
        );
        assert!(Ulimit::new(-2, 5).unwrap_err().contains("-1 for unlimited"));
    }
}

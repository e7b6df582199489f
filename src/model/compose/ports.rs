//! Published ports: the short syntax `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]` (an
//! IPv6 host address in brackets: `[::1]:80:80`; ports or equal-length ranges `8000-8001`) and
//! the long syntax (`target`, `published`, `host_ip`, `protocol`).

use std::fmt;
use std::net::IpAddr;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::{Deserialize as DeriveDeserialize, Serialize};

use crate::util::yaml::de::long;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, DeriveDeserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        })
    }
}

/// One container port published on the host: the normalised form (ranges expanded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PortBinding {
    pub container_port: u16,
    pub protocol: Protocol,
    /// `None`: every address.
    pub host_ip: Option<IpAddr>,
    /// `None`: a port chosen by Docker.
    pub host_port: Option<u16>,
}

/// A `ports` entry as written, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub host_ip: Option<IpAddr>,
    pub host: Option<PortRange>,
    pub container: PortRange,
    pub protocol: Protocol,
}

/// `first..=last`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    fn len(&self) -> u16 {
        self.last - self.first + 1
    }

    fn parse(text: &str, what: &str) -> Result<PortRange, String> {
        let port = |t: &str| -> Result<u16, String> {
            t.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{what} {t:?} is not a port (1 to 65535)"))
        };
        let (first, last) = match text.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => {
                let p = port(text)?;
                (p, p)
            }
        };
        if first > last {
            return Err(format!("{what} range {text:?} goes backwards"));
        }
        Ok(PortRange { first, last })
    }
}

impl PortSpec {
    /// Parses the short syntax.
    pub fn parse(text: &str) -> Result<PortSpec, String> {
        let bad = |why: String| format!("bad port {text:?}: {why}");
        let (rest, protocol) = match text.rsplit_once('/') {
            Some((rest, p)) => (
                rest,
                match p {
                    "tcp" => Protocol::Tcp,
                    "udp" => Protocol::Udp,
                    "sctp" => Protocol::Sctp,
                    _ => {
                        return Err(bad(format!("protocol {p:?} is not tcp, udp or sctp")));
                    }
                },
            ),
            None => (text, Protocol::Tcp),
        };
        let (host_ip, ports) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (ip, after) = bracketed
                .split_once(']')
                .ok_or_else(|| bad("no closing \"]\" after the host address".into()))?;
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| bad(format!("{ip:?} is not an IP address")))?;
            let after = after
                .strip_prefix(':')
                .ok_or_else(|| bad("expected \":\" after the bracketed host address".into()))?;
            (Some(ip), after)
        } else {
            match rest.matches(':').count() {
                0 | 1 => (None, rest),
                2 => {
                    let (ip, after) = rest.split_once(':').unwrap_or_default();
                    let ip: IpAddr = ip
                        .parse()
                        .map_err(|_| bad(format!("{ip:?} is not an IP address")))?;
                    (Some(ip), after)
                }
                _ => {
                    return Err(bad(
                        "too many \":\" (an IPv6 host address goes in brackets: \"[::1]:80:80\")"
                            .into(),
                    ));
                }
            }
        };
        let (host, container) = match ports.split_once(':') {
            Some(("", c)) => (None, c),
            Some((h, c)) => (Some(PortRange::parse(h, "host port").map_err(bad)?), c),
            None if host_ip.is_some() => {
                return Err(bad(
                    "expected HOST_IP:HOST_PORT:CONTAINER_PORT (HOST_PORT may be empty)".into(),
                ));
            }
            None => (None, ports),
        };
        let container = PortRange::parse(container, "container port").map_err(bad)?;
        let spec = PortSpec {
            host_ip,
            host,
            container,
            protocol,
        };
        spec.check().map_err(bad)?;
        Ok(spec)
    }

    fn check(&self) -> Result<(), String> {
        if let Some(host) = self.host
            && host.len() != self.container.len()
        {
            return Err(format!(
                "the host and container ranges differ in length ({} and {} ports)",
                host.len(),
                self.container.len()
            ));
        }
        Ok(())
    }

    /// One binding per container port.
    pub fn bindings(&self) -> Vec<PortBinding> {
        (0..self.container.len())
            .map(|i| PortBinding {
                container_port: self.container.first + i,
                protocol: self.protocol,
                host_ip: self.host_ip,
                host_port: self.host.map(|h| h.first + i),
            })
            .collect()
    }
}

/// The long syntax.
#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct LongPort {
    target: u16,
    published: Option<PortText>,
    host_ip: Option<super::net::Ip>,
    protocol: Option<Protocol>,
}

/// A port or range given as a number or a string.
struct PortText(String);

impl<'de> Deserialize<'de> for PortText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PortText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port or a range of ports")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortText, E> {
                Ok(PortText(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortText, E> {
                Ok(PortText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for PortSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PortSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port: \"[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]\" or a mapping with target, published, host_ip, protocol")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortSpec, E> {
                PortSpec::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortSpec, E> {
                PortSpec::parse(v).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PortSpec, A::Error> {
                let raw: LongPort = long(map)?;
                let bad = |why: String| de::Error::custom(format!("bad port: {why}"));
                let container = PortRange::parse(&raw.target.to_string(), "target").map_err(bad)?;
                let host = match raw.published {
                    Some(p) => Some(PortRange::parse(&p.0, "published").map_err(bad)?),
                    None => None,
                };
                let spec = PortSpec {
                    host_ip: raw.host_ip.map(|ip| ip.0),
                    host,
                    container,
                    protocol: raw.protocol.unwrap_or(Protocol::Tcp),
                };
                spec.check().map_err(bad)?;
                Ok(spec)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(
        container_port: u16,
        protocol: Protocol,
        ip: Option<&str>,
        host: Option<u16>,
    ) -> PortBinding {
        PortBinding {
            container_port,
            protocol,
            host_ip: ip.map(|i| i.parse().unwrap()),
            host_port: host,
        }
    }

    #[test]
    fn short_syntax_variants() {
        use Protocol::*;
        let cases: &[(&str, &[PortBinding])] = &[
            ("80", &[b(80, Tcp, None, None)]),
            ("8080:80", &[b(80, Tcp, None, Some(8080))]),
            ("514:514/udp", &[b(514, Udp, None, Some(514))]),
            (
                "0.0.0.0:443:443/tcp",
                &[b(443, Tcp, Some("0.0.0.0"), Some(443))],
            ),
            ("127.0.0.1::5000", &[b(5000, Tcp, Some("127.0.0.1"), None)]),
            ("[::1]:6000:6000", &[b(6000, Tcp, Some("::1"), Some(6000))]),
            (
                "[2001:db8::1]:53:53/sctp",
                &[b(53, Sctp, Some("2001:db8::1"), Some(53))],
            ),
            ("[::]::7000", &[b(7000, Tcp, Some("::"), None)]),
            (
                "9090-9091:8080-8081",
                &[
                    b(8080, Tcp, None, Some(9090)),
                    b(8081, Tcp, None, Some(9091)),
                ],
            ),
            (
                "3000-3001",
                &[b(3000, Tcp, None, None), b(3001, Tcp, None, None)],
            ),
        ];
        for (text, want) in cases {
            let spec = PortSpec::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(spec.bindings(), *want, "{text}");
        }
    }

    #[test]
    fn bad_short_syntax_says_why() {
        for (text, why) in [
            ("80/tcpx", "protocol \"tcpx\" is not tcp, udp or sctp"),
            ("::1:80:80", "IPv6 host address goes in brackets"),
            ("[::1:80:80", "no closing"),
            ("[::1]80:80", "expected \":\" after"),
            ("[nope]:80:80", "\"nope\" is not an IP address"),
            ("1.2.3:80:80", "\"1.2.3\" is not an IP address"),
            ("70000:80", "host port \"70000\" is not a port"),
            ("80:0", "container port \"0\" is not a port"),
            ("http", "container port \"http\" is not a port"),
            ("9-8:1-2", "goes backwards"),
            ("9090-9092:8080-8081", "differ in length (3 and 2 ports)"),
            ("8080:8080-8081", "differ in length"),
            ("127.0.0.1:80", "host port \"127.0.0.1\" is not a port"),
            ("[::1]:80", "expected HOST_IP:HOST_PORT:CONTAINER_PORT"),
        ] {
            let err = PortSpec::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.starts_with(&format!("bad port {text:?}")), "{err}");
        }
    }
}

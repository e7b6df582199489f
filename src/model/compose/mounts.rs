//! Service `volumes` (bind mounts and named volumes, short and long syntax) and `devices`.
//!
//! Bind-mount sources must be absolute paths: a relative one (`./x`, `~/x`) is refused rather
//! than resolved, because what it means depends on where the file is read from (Compose uses
//! the folder of the compose file; nxinfra reads `rendered/<host>/compose.yml` locally and the
//! containers run on the host). Templates know the base folder on the host and write it out.

use std::fmt;
use std::path::{Component, Path};

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::{Deserialize as DeriveDeserialize, Serialize};

use crate::util::yaml::de::long;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, DeriveDeserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
}

/// A mount, normalised: bind sources are clean absolute paths, volume sources are names of
/// top-level `volumes`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Mount {
    pub target: String,
    pub kind: MountKind,
    pub source: String,
    pub read_only: bool,
}

impl Mount {
    /// Parses the short syntax `SOURCE:TARGET[:ro|rw]`.
    pub fn parse(text: &str) -> Result<Mount, String> {
        let bad = |why: String| format!("bad volume {text:?}: {why}");
        let parts: Vec<&str> = text.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [_] => {
                return Err(bad(
                    "an anonymous volume (no source) loses its data when the container is \
                     recreated: name it (a top-level `volumes` entry) or bind a host path"
                        .into(),
                ));
            }
            [s, t] => (*s, *t, None),
            [s, t, m] => (*s, *t, Some(*m)),
            _ => return Err(bad("expected SOURCE:TARGET[:ro|rw]".into())),
        };
        let read_only = match mode {
            None | Some("rw") => false,
            Some("ro") => true,
            Some(other) => {
                return Err(bad(format!(
                    "mode {other:?} is not supported: only ro or rw"
                )));
            }
        };
        let (kind, source) = classify(source).map_err(bad)?;
        Mount::new(kind, source, target, read_only).map_err(bad)
    }

    fn new(
        kind: MountKind,
        source: String,
        target: &str,
        read_only: bool,
    ) -> Result<Mount, String> {
        let target = clean_absolute(target)
            .map_err(|why| format!("target {target:?} {why} (a path in the container)"))?;
        Ok(Mount {
            target,
            kind,
            source,
            read_only,
        })
    }
}

/// A short-syntax source: an absolute path is a bind mount, a name a named volume.
fn classify(source: &str) -> Result<(MountKind, String), String> {
    if source.starts_with('/') {
        let path = clean_absolute(source).map_err(|why| format!("source {source:?} {why}"))?;
        return Ok((MountKind::Bind, path));
    }
    if source.starts_with('.') || source.starts_with('~') {
        return Err(relative(source));
    }
    check_volume_name(source)?;
    Ok((MountKind::Volume, source.to_string()))
}

fn relative(source: &str) -> String {
    format!(
        "relative bind-mount source {source:?}: write the absolute path on the host (nxinfra \
         does not resolve relative paths; templates know the base folder)"
    )
}

fn check_volume_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
        return Err(format!(
            "source {name:?} is neither an absolute path nor a volume name \
             ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"
        ));
    }
    Ok(())
}

/// `path` without `.` components or repeated / trailing slashes; `..` refused.
pub fn clean_absolute(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err("is not absolute".into());
    }
    let mut out = String::new();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => {
                out.push('/');
                out.push_str(&part.to_string_lossy());
            }
            Component::ParentDir => return Err("contains \"..\"".into()),
            Component::Prefix(_) => return Err("is not a Unix path".into()),
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// The long syntax.
#[derive(DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct LongMount {
    #[serde(rename = "type")]
    kind: MountKind,
    source: Option<String>,
    target: String,
    read_only: Option<bool>,
}

impl<'de> Deserialize<'de> for Mount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Mount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a volume: \"SOURCE:TARGET[:ro|rw]\" or a mapping with type, source, target, read_only")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Mount, E> {
                Mount::parse(v).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Mount, A::Error> {
                let raw: LongMount = long(map)?;
                let bad = |why: String| de::Error::custom(format!("bad volume: {why}"));
                let source = raw.source.ok_or_else(|| {
                    bad(match raw.kind {
                        MountKind::Bind => "a bind mount needs a source".into(),
                        MountKind::Volume => "an anonymous volume (no source) loses its data \
                                              when the container is recreated: name it"
                            .into(),
                    })
                })?;
                let source = match raw.kind {
                    MountKind::Bind if source.starts_with('/') => clean_absolute(&source)
                        .map_err(|why| bad(format!("source {source:?} {why}")))?,
                    MountKind::Bind => return Err(bad(relative(&source))),
                    MountKind::Volume => {
                        check_volume_name(&source).map_err(bad)?;
                        source
                    }
                };
                Mount::new(
                    raw.kind,
                    source,
                    &raw.target,
                    raw.read_only.unwrap_or(false),
                )
                .map_err(bad)
            }
        }
        d.deserialize_any(V)
    }
}

/// A device: `HOST_PATH[:CONTAINER_PATH[:PERMISSIONS]]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Device {
    pub host: String,
    pub container: String,
    /// Some of `r`, `w`, `m`; default `rwm`.
    pub permissions: String,
}

impl Device {
    pub fn parse(text: &str) -> Result<Device, String> {
        let bad = |why: String| format!("bad device {text:?}: {why}");
        let parts: Vec<&str> = text.split(':').collect();
        let (host, container, permissions) = match parts.as_slice() {
            [h] => (*h, *h, "rwm"),
            [h, p] if valid_permissions(p) => (*h, *h, *p),
            [h, c] => (*h, *c, "rwm"),
            [h, c, p] => (*h, *c, *p),
            _ => {
                return Err(bad(
                    "expected HOST_PATH[:CONTAINER_PATH[:PERMISSIONS]]".into()
                ));
            }
        };
        if !valid_permissions(permissions) {
            return Err(bad(format!(
                "permissions {permissions:?} are not some of r, w, m"
            )));
        }
        let host = clean_absolute(host).map_err(|why| bad(format!("host path {why}")))?;
        let container =
            clean_absolute(container).map_err(|why| bad(format!("container path {why}")))?;
        Ok(Device {
            host,
            container,
            permissions: permissions.to_string(),
        })
    }
}

fn valid_permissions(p: &str) -> bool {
    !p.is_empty()
        && p.chars().all(|c| "rwm".contains(c))
        && p.chars().count() == p.chars().collect::<std::collections::BTreeSet<_>>().len()
}

impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Device;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a device: \"HOST_PATH[:CONTAINER_PATH[:PERMISSIONS]]\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Device, E> {
                Device::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kind: MountKind, source: &str, target: &str, read_only: bool) -> Mount {
        Mount {
            target: target.into(),
            kind,
            source: source.into(),
            read_only,
        }
    }

    #[test]
    fn short_volume_syntax() {
        use MountKind::*;
        let cases = [
            (
                "/home/x/config:/etc/x:ro",
                m(Bind, "/home/x/config", "/etc/x", true),
            ),
            (
                "/home/x/data:/data",
                m(Bind, "/home/x/data", "/data", false),
            ),
            (
                "/home/x/data/:/data/:rw",
                m(Bind, "/home/x/data", "/data", false),
            ),
            ("//a/./b:/c", m(Bind, "/a/b", "/c", false)),
            ("/:/rootfs:ro", m(Bind, "/", "/rootfs", true)),
            (
                "pgdata:/var/lib/postgresql",
                m(Volume, "pgdata", "/var/lib/postgresql", false),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Mount::parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_volume_syntax_says_why() {
        for (text, why) in [
            ("/data", "anonymous volume"),
            ("./config:/etc/x", "relative bind-mount source \"./config\""),
            ("~/config:/etc/x", "relative bind-mount source"),
            ("/a:/b:z", "mode \"z\" is not supported"),
            ("/a:/b:ro,z", "mode \"ro,z\" is not supported"),
            ("/a:b", "target \"b\" is not absolute"),
            ("/a/../b:/b", "contains \"..\""),
            ("data/x:/b", "neither an absolute path nor a volume name"),
            ("/a:/b:ro:x", "expected SOURCE:TARGET"),
        ] {
            let err = Mount::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.starts_with(&format!("bad volume {text:?}")), "{err}");
        }
    }

    #[test]
    fn device_syntax() {
        let d = |h: &str, c: &str, p: &str| Device {
            host: h.into(),
            container: c.into(),
            permissions: p.into(),
        };
        assert_eq!(
            Device::parse("/dev/kmsg"),
            Ok(d("/dev/kmsg", "/dev/kmsg", "rwm"))
        );
        assert_eq!(
            Device::parse("/dev/net/tun:/dev/net/tun"),
            Ok(d("/dev/net/tun", "/dev/net/tun", "rwm"))
        );
        assert_eq!(
            Device::parse("/dev/sda:r"),
            Ok(d("/dev/sda", "/dev/sda", "r"))
        );
        assert_eq!(
            Device::parse("/dev/a:/dev/b:rw"),
            Ok(d("/dev/a", "/dev/b", "rw"))
        );
        for (text, why) in [
            ("/dev/a:/dev/b:x", "permissions \"x\""),
            ("/dev/a:/dev/b:rr", "permissions \"rr\""),
            ("dev/a", "host path is not absolute"),
            ("/dev/a:b:r", "container path is not absolute"),
            ("/a:/b:r:x", "expected HOST_PATH"),
        ] {
            let err = Device::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}

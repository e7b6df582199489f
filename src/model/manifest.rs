//! The manifest of the files nxinfra placed on a host: path, sha256 and mode of each.
//!
//! Text, one file per line, sorted by path, so that it diffs well and a human can read it:
//!
//! ```text
//! # nxinfra manifest v1
//! 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 0644 proxy/config/Caddyfile
//! system 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752 0640 root:bird - /etc/bird/bird.conf
//! ```
//!
//! Lines starting with `system` are the system files (`nxinfra_system_files`), placed outside
//! the base dir with an owner; `secret` instead of `-` marks one that holds a secret.
//!
//! A manifest read back from a host is untrusted input: a path that could leave the base dir
//! (`..`, absolute, empty components) or a malformed line is an error naming the line, never
//! something to act on.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::model::system_files::Placed;
use crate::model::tree::OutFile;

/// First line of every manifest.
pub const HEADER: &str = "# nxinfra manifest v1";
/// First word of a system file's line.
const SYSTEM: &str = "system";
/// First word of a restart record's line.
const CONTAINER: &str = "container";
/// The flag of a system file that holds a secret (`-` otherwise).
const SECRET: &str = "secret";

/// What nxinfra knows of one placed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
    /// Permission bits.
    pub mode: u32,
}

/// What nxinfra knows of one placed system file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemEntry {
    pub sha256: String,
    pub mode: u32,
    pub owner: String,
    pub group: String,
    /// It holds a secret (its content is never shown in a diff).
    pub secret: bool,
}

/// What `nxinfra apply` last restarted a container with (a restart cannot change the
/// container's labels). The parts are opaque here: apply encodes and reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    pub id: String,
    pub hash: String,
    pub fields: String,
    pub mounts: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Files in the base dir, by relative path.
    pub files: BTreeMap<String, Entry>,
    /// System files, by absolute path.
    pub system: BTreeMap<String, SystemEntry>,
    /// Restart records, by container name.
    pub containers: BTreeMap<String, ContainerRecord>,
}

/// Lower-case hex sha256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("manifest line {line}: {reason}")]
pub struct ManifestError {
    pub line: usize,
    pub reason: LineError,
}

/// What is wrong with one line of a manifest.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LineError {
    #[error("expected {HEADER:?}: not an nxinfra manifest, or a newer version")]
    Header,
    #[error("expected `container NAME ID HASH FIELDS MOUNTS`")]
    ContainerShape,
    #[error("invalid container record")]
    ContainerRecord,
    #[error("container {0} is listed twice")]
    ContainerTwice(String),
    #[error("expected `system SHA256 MODE OWNER:GROUP secret|- DEST`")]
    SystemShape,
    #[error("invalid flag {0:?}")]
    Flag(String),
    #[error("invalid owner {0:?}")]
    Owner(String),
    #[error("system path {0:?} is not absolute")]
    SystemNotAbsolute(String),
    #[error("expected `SHA256 MODE PATH`")]
    FileShape,
    #[error("not a lower-case hex sha256")]
    Sha,
    #[error("invalid mode {0:?}")]
    Mode(String),
    #[error(transparent)]
    Path(#[from] PathError),
    /// A file's or a system file's path, listed twice.
    #[error("{0} is listed twice")]
    Twice(String),
}

/// Why a path is not one nxinfra may place or remove ([`check_path`]).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("path {0:?} is not relative")]
    NotRelative(String),
    #[error("path {0:?} is not normalised or leaves the base dir")]
    NotNormalised(String),
    #[error("path {0:?} contains control characters")]
    ControlCharacters(String),
}

impl Manifest {
    /// The manifest of a rendered host tree.
    pub fn of_files(files: &BTreeMap<String, OutFile>) -> Self {
        Manifest {
            files: files
                .iter()
                .map(|(path, f)| {
                    let entry = Entry {
                        sha256: sha256_hex(&f.data),
                        mode: f.mode,
                    };
                    (path.clone(), entry)
                })
                .collect(),
            system: BTreeMap::new(),
            containers: BTreeMap::new(),
        }
    }

    /// Keeps the restart records of `other` (the host's manifest): a sync does not change them.
    pub fn with_containers(mut self, records: BTreeMap<String, ContainerRecord>) -> Self {
        self.containers = records;
        self
    }

    /// Adds the system files to the manifest.
    pub fn with_system(mut self, placed: &[Placed]) -> Self {
        self.system = placed
            .iter()
            .map(|p| {
                let entry = SystemEntry {
                    sha256: sha256_hex(&p.file.data),
                    mode: p.file.mode,
                    owner: p.entry.owner.clone(),
                    group: p.entry.group.clone(),
                    secret: p.secret,
                };
                (p.entry.dest.clone(), entry)
            })
            .collect();
        self
    }

    /// The text written on the host.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(80 * (self.files.len() + 1));
        out.push_str(HEADER);
        out.push('\n');
        for (path, e) in &self.files {
            out.push_str(&format!("{} {:04o} {path}\n", e.sha256, e.mode));
        }
        for (dest, e) in &self.system {
            out.push_str(&format!(
                "{SYSTEM} {} {:04o} {}:{} {} {dest}\n",
                e.sha256,
                e.mode,
                e.owner,
                e.group,
                if e.secret { SECRET } else { "-" }
            ));
        }
        for (name, r) in &self.containers {
            let dash = |s: &str| {
                if s.is_empty() {
                    "-".to_string()
                } else {
                    s.to_string()
                }
            };
            out.push_str(&format!(
                "{CONTAINER} {name} {} {} {} {}\n",
                r.id,
                r.hash,
                dash(&r.fields),
                dash(&r.mounts)
            ));
        }
        out
    }

    /// Parses a manifest read from a host. An empty text is an empty manifest (nothing placed
    /// yet).
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let mut files = BTreeMap::new();
        let mut lines = text.lines().enumerate();
        if text.trim().is_empty() {
            return Ok(Manifest::default());
        }
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => {
                return Err(ManifestError {
                    line: 1,
                    reason: LineError::Header,
                });
            }
        }
        let mut system = BTreeMap::new();
        let mut containers = BTreeMap::new();
        for (idx, line) in lines {
            let bad = |reason: LineError| ManifestError {
                line: idx + 1,
                reason,
            };
            if let Some(rest) = line.strip_prefix(&format!("{CONTAINER} ")) {
                let parts: Vec<&str> = rest.split(' ').collect();
                let [name, id, hash, fields, mounts] = parts[..] else {
                    return Err(bad(LineError::ContainerShape));
                };
                let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic());
                if ![name, id, hash, fields, mounts].iter().all(|p| ok(p)) {
                    return Err(bad(LineError::ContainerRecord));
                }
                let undash = |s: &str| {
                    if s == "-" {
                        String::new()
                    } else {
                        s.to_string()
                    }
                };
                let record = ContainerRecord {
                    id: id.to_string(),
                    hash: hash.to_string(),
                    fields: undash(fields),
                    mounts: undash(mounts),
                };
                if containers.insert(name.to_string(), record).is_some() {
                    return Err(bad(LineError::ContainerTwice(name.to_string())));
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix(&format!("{SYSTEM} ")) {
                let mut parts = rest.splitn(5, ' ');
                let (Some(sha), Some(mode), Some(owner), Some(flag), Some(dest)) = (
                    parts.next(),
                    parts.next(),
                    parts.next(),
                    parts.next(),
                    parts.next(),
                ) else {
                    return Err(bad(LineError::SystemShape));
                };
                let secret = match flag {
                    SECRET => true,
                    "-" => false,
                    other => return Err(bad(LineError::Flag(other.to_string()))),
                };
                let (owner, group) = owner
                    .split_once(':')
                    .filter(|(u, g)| !u.is_empty() && !g.is_empty())
                    .ok_or_else(|| bad(LineError::Owner(owner.to_string())))?;
                let relative = dest
                    .strip_prefix('/')
                    .ok_or_else(|| bad(LineError::SystemNotAbsolute(dest.to_string())))?;
                check_path(relative).map_err(|e| bad(e.into()))?;
                let entry = SystemEntry {
                    sha256: parse_sha(sha).map_err(bad)?,
                    mode: parse_mode(mode).map_err(bad)?,
                    owner: owner.to_string(),
                    group: group.to_string(),
                    secret,
                };
                if system.insert(dest.to_string(), entry).is_some() {
                    return Err(bad(LineError::Twice(dest.to_string())));
                }
                continue;
            }
            let mut parts = line.splitn(3, ' ');
            let (Some(sha), Some(mode), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad(LineError::FileShape));
            };
            let sha = parse_sha(sha).map_err(bad)?;
            let mode = parse_mode(mode).map_err(bad)?;
            check_path(path).map_err(|e| bad(e.into()))?;
            let entry = Entry { sha256: sha, mode };
            if files.insert(path.to_string(), entry).is_some() {
                return Err(bad(LineError::Twice(path.to_string())));
            }
        }
        Ok(Manifest {
            files,
            system,
            containers,
        })
    }
}

fn parse_sha(sha: &str) -> Result<String, LineError> {
    if sha.len() != 64
        || !sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(LineError::Sha);
    }
    Ok(sha.to_string())
}

fn parse_mode(mode: &str) -> Result<u32, LineError> {
    u32::from_str_radix(mode, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| LineError::Mode(mode.to_string()))
}

/// A path nxinfra may place or remove: relative, `/`-separated, no `.`/`..`/empty components.
pub fn check_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() || path.starts_with('/') {
        return Err(PathError::NotRelative(path.to_string()));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(PathError::NotNormalised(path.to_string()));
    }
    if path.chars().any(|c| c.is_control()) {
        return Err(PathError::ControlCharacters(path.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> BTreeMap<String, OutFile> {
        let mut m = BTreeMap::new();
        m.insert(
            "proxy/Caddyfile".into(),
            OutFile {
                data: b"test".to_vec().into(),
                mode: 0o644,
            },
        );
        m.insert(
            "wg/wg0 conf".into(),
            OutFile {
                data: b"".to_vec().into(),
                mode: 0o600,
            },
        );
        m
    }

    #[test]
    fn round_trip_with_known_digests() {
        let m = Manifest::of_files(&files());
        let text = m.to_text();
        assert_eq!(
            text,
            "# nxinfra manifest v1\n\
             9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 0644 proxy/Caddyfile\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0600 wg/wg0 conf\n"
        );
        assert_eq!(Manifest::parse(&text).unwrap(), m);
        assert_eq!(Manifest::parse("").unwrap(), Manifest::default());
    }

    #[test]
    fn system_files_round_trip() {
        let entries = crate::model::system_files::parse(Some(&serde_json::json!([
            {"src": "wg/wg0 conf", "dest": "/etc/wireguard/wg 0.conf", "owner": "root:bird"}
        ])))
        .unwrap();
        let (base, placed) =
            crate::model::system_files::split("h", files(), &entries, "/home/u").unwrap();
        let m = Manifest::of_files(&base).with_system(&placed);
        let text = m.to_text();
        assert!(
            text.ends_with(
                "system e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0600 \
             root:bird secret /etc/wireguard/wg 0.conf\n"
            ),
            "{text}"
        );
        assert_eq!(Manifest::parse(&text).unwrap(), m);
    }

    #[test]
    fn untrusted_manifests_are_rejected_with_the_line() {
        let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let cases = [
            ("garbage\n".to_string(), 1, "not an nxinfra manifest"),
            (
                format!("{HEADER}\n{sha} 0644 ../etc/passwd\n"),
                2,
                "leaves the base dir",
            ),
            (
                format!("{HEADER}\n{sha} 0644 /etc/passwd\n"),
                2,
                "not relative",
            ),
            (format!("{HEADER}\n{sha} 0644 a//b\n"), 2, "not normalised"),
            (format!("{HEADER}\n{sha} 0644 a/./b\n"), 2, "not normalised"),
            (
                format!("{HEADER}\n{sha} 0644 a\n{sha} 0600 a\n"),
                3,
                "listed twice",
            ),
            (format!("{HEADER}\nXYZ 0644 a\n"), 2, "sha256"),
            (format!("{HEADER}\n{sha} 9999 a\n"), 2, "invalid mode"),
            (format!("{HEADER}\n{sha} 0644\n"), 2, "SHA256 MODE PATH"),
            (
                format!("{HEADER}\nsystem {sha} 0644 root:root - etc/x\n"),
                2,
                "not absolute",
            ),
            (
                format!("{HEADER}\nsystem {sha} 0644 root:root - /etc/../x\n"),
                2,
                "leaves the base dir",
            ),
            (
                format!("{HEADER}\nsystem {sha} 0644 root - /etc/x\n"),
                2,
                "invalid owner",
            ),
            (
                format!("{HEADER}\nsystem {sha} 0644 root:root -\n"),
                2,
                "system SHA256 MODE OWNER:GROUP secret|- DEST",
            ),
            (
                format!("{HEADER}\nsystem {sha} 0644 root:root yes /etc/x\n"),
                2,
                "invalid flag",
            ),
        ];
        for (text, line, reason) in cases {
            let err = Manifest::parse(&text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.reason.to_string().contains(reason), "{text:?}: {err}");
        }
    }

    #[test]
    fn messages_name_the_line_and_what_is_wrong() {
        let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let err = |text: String| Manifest::parse(&text).unwrap_err().to_string();
        assert_eq!(
            err("x".into()),
            "manifest line 1: expected \"# nxinfra manifest v1\": not an nxinfra manifest, or \
             a newer version"
        );
        for (line, want) in [
            (
                "container a b".to_string(),
                "expected `container NAME ID HASH FIELDS MOUNTS`",
            ),
            (
                "container a b c d \u{7}".to_string(),
                "invalid container record",
            ),
            (
                format!("{sha} 0644 a\u{1}b"),
                "path \"a\\u{1}b\" contains control characters",
            ),
            (
                format!("system {sha} 0644 root:root no /x"),
                "invalid flag \"no\"",
            ),
            (
                format!("system {sha} 0644 root: - /x"),
                "invalid owner \"root:\"",
            ),
            (
                format!("system {sha} 0644 root:root - x"),
                "system path \"x\" is not absolute",
            ),
            (
                format!("system {sha} 0644"),
                "expected `system SHA256 MODE OWNER:GROUP secret|- DEST`",
            ),
            (format!("{sha} 0644 /a"), "path \"/a\" is not relative"),
            (
                format!("{sha} 0644 a/../b"),
                "path \"a/../b\" is not normalised or leaves the base dir",
            ),
            (format!("{sha} 08 a"), "invalid mode \"08\""),
            ("ABC 0644 a".to_string(), "not a lower-case hex sha256"),
            ("a b".to_string(), "expected `SHA256 MODE PATH`"),
        ] {
            assert_eq!(
                err(format!("{HEADER}\n{line}\n")),
                format!("manifest line 2: {want}")
            );
        }
        assert_eq!(
            err(format!(
                "{HEADER}\ncontainer a b c d e\ncontainer a b c d e\n"
            )),
            "manifest line 3: container a is listed twice"
        );
        assert_eq!(
            err(format!(
                "{HEADER}\nsystem {sha} 0644 r:r - /x\nsystem {sha} 0644 r:r - /x\n"
            )),
            "manifest line 3: /x is listed twice"
        );
        assert_eq!(
            check_path("").unwrap_err().to_string(),
            "path \"\" is not relative"
        );
    }
}

//! Drift: the files nxinfra placed that were changed on the host since (edited, removed,
//! re-moded, a system file re-owned). Pure: from what the host said ([`HostFiles`]) and the
//! content of the suspects, read from the host.
//!
//! A file whose state now is the one recorded at placement is as placed: nothing is read. The
//! others ([`suspects`]: state changed, no record, or gone) are read once and compared with
//! the manifest ([`compare`]); a suspect found as placed (touched, or no record yet) only
//! means the record is out of date ([`Drift::stale`]), which the next sync that changes
//! anything, or a real one, writes again.

use std::collections::BTreeMap;

use crate::model::manifest::sha256_hex;
use crate::model::placed::HostFiles;

/// How a placed file differs from what nxinfra placed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "change")]
pub enum HostChange {
    /// Gone from the host.
    Removed,
    /// Its content is another (`sha256` of it now; none when it could not be read). The hash
    /// is never shown (a file's hash can give a short secret away).
    Edited {
        #[serde(skip)]
        sha256: Option<String>,
    },
    /// Its content is right, its mode another.
    Mode { placed: u32, now: u32 },
    /// A system file whose content and mode are right, its owner another.
    Owner { placed: String, now: String },
}

impl std::fmt::Display for HostChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostChange::Removed => write!(f, "removed"),
            HostChange::Edited { sha256: Some(_) } => write!(f, "edited"),
            HostChange::Edited { sha256: None } => write!(f, "unreadable"),
            HostChange::Mode { placed, now } => write!(f, "mode {now:04o}, placed {placed:04o}"),
            HostChange::Owner { placed, now } => write!(f, "owner {now}, placed {placed}"),
        }
    }
}

/// The placed files changed on the host, by path (base dir files relative, system files
/// absolute).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    pub changed: BTreeMap<String, HostChange>,
    /// Some file's record is out of date though the file is as placed: a sync writes the
    /// record again so that the next run need not read it.
    pub stale: bool,
}

/// The placed files to read and compare: `(base dir files, system files)`.
pub fn suspects(host: &HostFiles) -> (Vec<String>, Vec<String>) {
    let suspect = |path: &String| match host.now.get(path) {
        Some(now) => host.recorded.get(path) != Some(&now.line),
        None => true,
    };
    let base = host.manifest.files.keys().filter(|p| suspect(p));
    let system = host.manifest.system.keys().filter(|p| suspect(p));
    (base.cloned().collect(), system.cloned().collect())
}

/// What changed among the suspects, given their content on the host (`read`: the suspects
/// that could be read, by path).
pub fn compare(host: &HostFiles, read: &BTreeMap<String, Vec<u8>>) -> Drift {
    let (base, system) = suspects(host);
    let mut drift = Drift::default();
    let placed = |path: &str| {
        host.manifest
            .files
            .get(path)
            .map(|e| (&e.sha256, e.mode, None))
            .or_else(|| {
                let e = host.manifest.system.get(path)?;
                Some((&e.sha256, e.mode, Some(format!("{}:{}", e.owner, e.group))))
            })
    };
    for path in base.iter().chain(&system) {
        let Some((sha256, mode, owner)) = placed(path) else {
            continue;
        };
        let now = host.now.get(path);
        let change = match (now, read.get(path)) {
            (None, None) => Some(HostChange::Removed),
            (_, Some(data)) if &sha256_hex(data) != sha256 => Some(HostChange::Edited {
                sha256: Some(sha256_hex(data)),
            }),
            // Present but unreadable: what it holds is unknown.
            (Some(_), None) => Some(HostChange::Edited { sha256: None }),
            (Some(now), Some(_)) if now.mode != mode => Some(HostChange::Mode {
                placed: mode,
                now: now.mode,
            }),
            (Some(now), Some(_)) => match owner {
                Some(owner) if owner != now.owner => Some(HostChange::Owner {
                    placed: owner,
                    now: now.owner.clone(),
                }),
                _ => None,
            },
            // Read, yet no state (a system file hidden from the login user and sudo refused
            // the state but not the read): its content is right, the rest unknown.
            (None, Some(_)) => None,
        };
        match change {
            Some(change) => {
                drift.changed.insert(path.clone(), change);
            }
            None => drift.stale = true,
        }
    }
    drift
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::manifest::{Entry, Manifest, SystemEntry};
    use crate::model::placed::FileStat;

    fn line(path: &str, mode: u32, owner: &str, ctime: &str) -> String {
        format!("{mode:o} {owner} 4 77 2026-12-02 19:01:{ctime} +0000 {path}")
    }

    /// A host where `a`, `b`, `c`, `d` and the system file `/etc/x` were placed (content
    /// `data`, mode 0644, /etc/x root:bird 0640) and recorded.
    fn host() -> HostFiles {
        let mut manifest = Manifest::default();
        for path in ["a", "b", "c", "d"] {
            let entry = Entry {
                sha256: sha256_hex(b"data"),
                mode: 0o644,
            };
            manifest.files.insert(path.into(), entry);
        }
        manifest.system.insert(
            "/etc/x".into(),
            SystemEntry {
                sha256: sha256_hex(b"data"),
                mode: 0o640,
                owner: "root".into(),
                group: "bird".into(),
                secret: false,
            },
        );
        let mut h = HostFiles::of(manifest);
        for (path, mode, owner) in [
            ("a", 0o644, "u:u"),
            ("b", 0o644, "u:u"),
            ("c", 0o644, "u:u"),
            ("d", 0o644, "u:u"),
            ("/etc/x", 0o640, "root:bird"),
        ] {
            let l = line(path, mode, owner, "00.1");
            h.recorded.insert(path.into(), l.clone());
            let stat = FileStat {
                mode,
                owner: owner.into(),
                line: l,
            };
            h.now.insert(path.into(), stat);
        }
        h
    }

    fn restat(h: &mut HostFiles, path: &str, mode: u32, owner: &str) {
        let stat = FileStat {
            mode,
            owner: owner.into(),
            line: line(path, mode, owner, "09.5"),
        };
        h.now.insert(path.into(), stat);
    }

    #[test]
    fn files_as_recorded_are_not_read() {
        let h = host();
        assert_eq!(suspects(&h), (vec![], vec![]));
        assert_eq!(compare(&h, &BTreeMap::new()), Drift::default());
    }

    #[test]
    fn edits_removals_modes_and_owners_are_found_among_the_suspects() {
        let mut h = host();
        restat(&mut h, "a", 0o644, "u:u"); // edited
        h.now.remove("b"); // removed
        restat(&mut h, "c", 0o600, "u:u"); // chmod
        restat(&mut h, "/etc/x", 0o640, "root:root"); // chown
        assert_eq!(
            suspects(&h),
            (
                vec!["a".into(), "b".into(), "c".into()],
                vec!["/etc/x".into()]
            )
        );
        let read = BTreeMap::from([
            ("a".to_string(), b"data, and a line".to_vec()),
            ("c".to_string(), b"data".to_vec()),
            ("/etc/x".to_string(), b"data".to_vec()),
        ]);
        let drift = compare(&h, &read);
        assert!(!drift.stale);
        let shown: Vec<String> = drift
            .changed
            .iter()
            .map(|(p, c)| format!("{p}: {c}"))
            .collect();
        assert_eq!(
            shown,
            [
                "/etc/x: owner root:root, placed root:bird",
                "a: edited",
                "b: removed",
                "c: mode 0600, placed 0644",
            ]
        );
        assert_eq!(
            drift.changed["a"],
            HostChange::Edited {
                sha256: Some(sha256_hex(b"data, and a line"))
            }
        );
    }

    #[test]
    fn a_touched_file_or_a_missing_record_is_read_once_and_only_stale() {
        let mut h = host();
        restat(&mut h, "a", 0o644, "u:u");
        h.recorded.remove("d");
        let (base, _) = suspects(&h);
        assert_eq!(base, ["a", "d"]);
        let read = BTreeMap::from([
            ("a".to_string(), b"data".to_vec()),
            ("d".to_string(), b"data".to_vec()),
        ]);
        let drift = compare(&h, &read);
        assert!(drift.changed.is_empty());
        assert!(drift.stale);
    }

    #[test]
    fn a_file_that_cannot_be_read_is_not_taken_as_placed() {
        let mut h = host();
        restat(&mut h, "a", 0o000, "u:u");
        let drift = compare(&h, &BTreeMap::new());
        assert_eq!(drift.changed["a"], HostChange::Edited { sha256: None });
        assert_eq!(drift.changed["a"].to_string(), "unreadable");
    }
}

//! What a sync will do to one host, computed from the local manifest and the host's, before
//! anything is sent.

use super::manifest::Manifest;

#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncPlan {
    /// Files that are new or whose content changed: they travel in the tar stream.
    pub upload: Vec<String>,
    /// Files with the right content but another mode: only a chmod.
    pub chmod: Vec<(String, u32)>,
    /// Files nxinfra placed earlier that are gone from the render.
    pub remove: Vec<String>,
    /// Files already right.
    pub unchanged: usize,
}

impl SyncPlan {
    pub fn is_noop(&self) -> bool {
        self.upload.is_empty() && self.chmod.is_empty() && self.remove.is_empty()
    }

    /// Number of files the sync changes on the host.
    pub fn changes(&self) -> usize {
        self.upload.len() + self.chmod.len() + self.remove.len()
    }
}

/// The plan that turns `remote` (what the host's manifest says) into `local` (the render).
/// Only files in the host's manifest are ever removed: files nxinfra never placed are never
/// touched.
pub fn plan(local: &Manifest, remote: &Manifest) -> SyncPlan {
    let mut p = SyncPlan::default();
    for (path, want) in &local.files {
        match remote.files.get(path) {
            Some(have) if have.sha256 == want.sha256 && have.mode == want.mode => p.unchanged += 1,
            Some(have) if have.sha256 == want.sha256 => p.chmod.push((path.clone(), want.mode)),
            _ => p.upload.push(path.clone()),
        }
    }
    p.remove = remote
        .files
        .keys()
        .filter(|path| !local.files.contains_key(*path))
        .cloned()
        .collect();
    p
}

#[cfg(test)]
mod tests {
    use super::super::manifest::Entry;
    use super::*;

    fn m(entries: &[(&str, &str, u32)]) -> Manifest {
        Manifest {
            files: entries
                .iter()
                .map(|(p, sha, mode)| {
                    let e = Entry {
                        sha256: sha.repeat(64),
                        mode: *mode,
                    };
                    (p.to_string(), e)
                })
                .collect(),
        }
    }

    #[test]
    fn first_sync_uploads_everything() {
        let local = m(&[("a", "1", 0o644), ("b", "2", 0o600)]);
        let p = plan(&local, &Manifest::default());
        assert_eq!(p.upload, ["a", "b"]);
        assert!(p.remove.is_empty() && p.chmod.is_empty());
        assert_eq!(p.changes(), 2);
    }

    #[test]
    fn changed_moved_mode_and_removed_files() {
        let remote = m(&[
            ("same", "1", 0o644),
            ("edited", "2", 0o644),
            ("mode", "3", 0o644),
            ("gone", "4", 0o644),
        ]);
        let local = m(&[
            ("same", "1", 0o644),
            ("edited", "9", 0o644),
            ("mode", "3", 0o600),
            ("new", "5", 0o755),
        ]);
        let p = plan(&local, &remote);
        assert_eq!(p.upload, ["edited", "new"]);
        assert_eq!(p.chmod, [("mode".to_string(), 0o600)]);
        assert_eq!(p.remove, ["gone"]);
        assert_eq!(p.unchanged, 1);
        assert!(!p.is_noop());
    }

    #[test]
    fn identical_manifests_are_a_noop() {
        let both = m(&[("a", "1", 0o644), ("b", "2", 0o600)]);
        let p = plan(&both, &both);
        assert!(p.is_noop());
        assert_eq!(p.unchanged, 2);
    }
}

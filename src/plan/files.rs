//! What a sync will do to one host, computed from the local manifest and the host's, before
//! anything is sent.

use crate::model::manifest::Manifest;
use crate::model::system_files::SystemFile;
use crate::plan::drift::{Drift, HostChange};

#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncPlan {
    /// Files that are new or whose content changed: they travel in the tar stream.
    pub upload: Vec<String>,
    /// Of `upload`, the files new to the host (the others change).
    pub added: Vec<String>,
    /// Files with the right content but another mode: only a chmod.
    pub chmod: Vec<(String, u32)>,
    /// Files nxinfra placed earlier that are gone from the render.
    pub remove: Vec<String>,
    /// Files already right.
    pub unchanged: usize,
    /// System files (absolute paths) to place through sudo: new, or content, mode or owner
    /// changed.
    pub system_install: Vec<String>,
    /// System files nxinfra placed earlier that are no longer listed.
    pub system_remove: Vec<String>,
    /// The `reload` commands of the installed system files, each once, in inventory order.
    pub reloads: Vec<String>,
    /// Of the files above, those changed on the host since the last sync (drift): the sync
    /// puts the desired content, mode or owner back.
    pub changed_on_host: Vec<ChangedOnHost>,
    /// The record of the placed files' state is out of date though every file is as placed
    /// (a file touched, or no record yet): a real sync writes it again, nothing else.
    #[serde(skip)]
    pub stale_record: bool,
    /// The top-most folders of the uploads that hold no file of the host's manifest: on a host
    /// where they do not exist yet, each moves into place with one rename.
    #[serde(skip)]
    pub new_dirs: Vec<String>,
}

impl SyncPlan {
    pub fn is_noop(&self) -> bool {
        self.changes() == 0
    }

    /// `3 files: 1 added, 1 changed, 1 removed; 1 system file; reload: birdc configure`
    pub fn summary(&self) -> String {
        let p = self;
        let files = p.upload.len() + p.chmod.len() + p.remove.len();
        let mut parts = Vec::new();
        for (n, what) in [
            (p.added.len(), "added"),
            (p.upload.len() - p.added.len(), "changed"),
            (p.chmod.len(), "mode changes"),
            (p.remove.len(), "removed"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let mut out = format!("{files} file{}", if files == 1 { "" } else { "s" });
        if !parts.is_empty() {
            out.push_str(&format!(": {}", parts.join(", ")));
        }
        let system = p.system_install.len() + p.system_remove.len();
        if system > 0 {
            out.push_str(&format!(
                "; {system} system file{}",
                if system == 1 { "" } else { "s" }
            ));
        }
        if !p.reloads.is_empty() {
            out.push_str(&format!("; reload: {}", p.reloads.join(", ")));
        }
        if !p.changed_on_host.is_empty() {
            out.push_str(&format!(
                "; {} changed on host since the last sync",
                p.changed_on_host.len()
            ));
        }
        out
    }

    /// `changed on host since the last sync: bird.conf (edited), key (mode 0644, placed
    /// 0600); put back` (`would` be, for a plan), when anything was.
    pub fn changed_on_host_line(&self, would: bool) -> Option<String> {
        if self.changed_on_host.is_empty() {
            return None;
        }
        let files: Vec<String> = self
            .changed_on_host
            .iter()
            .map(|c| format!("{} ({})", c.path, c.change))
            .collect();
        Some(format!(
            "changed on host since the last sync: {}; {}",
            files.join(", "),
            if would {
                "would be put back"
            } else {
                "put back"
            }
        ))
    }

    /// Number of files the sync changes on the host.
    pub fn changes(&self) -> usize {
        self.upload.len()
            + self.chmod.len()
            + self.remove.len()
            + self.system_install.len()
            + self.system_remove.len()
    }
}

/// A placed file changed on the host, as a sync plan shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChangedOnHost {
    pub path: String,
    #[serde(flatten)]
    pub change: HostChange,
}

/// The plan that turns `remote` (what the host's manifest says) into `local` (the render),
/// for a host whose files are as placed. Only files in the host's manifest are ever removed:
/// files nxinfra never placed are never touched. `system` gives the `reload` commands of the
/// system files.
pub fn plan(local: &Manifest, remote: &Manifest, system: &[SystemFile]) -> SyncPlan {
    plan_with_drift(local, remote, &Drift::default(), system)
}

/// [`plan`] for a host where `drift` says which placed files were changed there since: they
/// are placed again (content) or re-moded, and listed in `changed_on_host`.
pub fn plan_with_drift(
    local: &Manifest,
    remote: &Manifest,
    drift: &Drift,
    system: &[SystemFile],
) -> SyncPlan {
    let mut p = SyncPlan::default();
    let on_host = |p: &mut SyncPlan, path: &str| {
        if let Some(change) = drift.changed.get(path) {
            p.changed_on_host.push(ChangedOnHost {
                path: path.to_string(),
                change: change.clone(),
            });
        }
    };
    for (path, want) in &local.files {
        let Some(have) = remote.files.get(path) else {
            p.upload.push(path.clone());
            p.added.push(path.clone());
            continue;
        };
        // What the host holds now, where it differs from what was placed.
        let (sha256, mode) = match drift.changed.get(path) {
            Some(HostChange::Removed) | Some(HostChange::Edited { sha256: None }) => (None, 0),
            Some(HostChange::Edited { sha256: Some(sha) }) => (Some(sha), have.mode),
            Some(HostChange::Mode { now, .. }) => (Some(&have.sha256), *now),
            Some(HostChange::Owner { .. }) | None => (Some(&have.sha256), have.mode),
        };
        if sha256 == Some(&want.sha256) && mode == want.mode {
            if drift.changed.contains_key(path) {
                // Changed on the host into what is now wanted: only the manifest is out of date.
                p.chmod.push((path.clone(), want.mode));
            } else {
                p.unchanged += 1;
            }
        } else if sha256 == Some(&want.sha256) {
            p.chmod.push((path.clone(), want.mode));
            on_host(&mut p, path);
        } else {
            p.upload.push(path.clone());
            on_host(&mut p, path);
        }
    }
    p.remove = remote
        .files
        .keys()
        .filter(|path| !local.files.contains_key(*path))
        .cloned()
        .collect();
    p.system_install = local
        .system
        .iter()
        .filter(|(dest, want)| {
            remote.system.get(*dest) != Some(want) || drift.changed.contains_key(*dest)
        })
        .map(|(dest, _)| dest.clone())
        .collect();
    for dest in p.system_install.clone() {
        on_host(&mut p, &dest);
    }
    p.stale_record = drift.stale;
    p.system_remove = remote
        .system
        .keys()
        .filter(|dest| !local.system.contains_key(*dest))
        .cloned()
        .collect();
    let mut known_dirs = std::collections::HashSet::new();
    for path in remote.files.keys() {
        let mut dir = path.as_str();
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if !known_dirs.insert(parent) {
                break;
            }
            dir = parent;
        }
    }
    for path in &p.upload {
        // The top-most ancestor the manifest knows nothing of.
        let mut end = 0;
        let top = loop {
            match path[end..].find('/') {
                None => break None,
                Some(i) => {
                    end += i;
                    if !known_dirs.contains(&path[..end]) {
                        break Some(&path[..end]);
                    }
                    end += 1;
                }
            }
        };
        if let Some(dir) = top
            && p.new_dirs.last().map(String::as_str) != Some(dir)
        {
            p.new_dirs.push(dir.to_string());
        }
    }
    for entry in system {
        if let Some(reload) = &entry.reload
            && p.system_install.contains(&entry.dest)
            && !p.reloads.contains(reload)
        {
            p.reloads.push(reload.clone());
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::manifest::Entry;

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
            ..Default::default()
        }
    }

    #[test]
    fn first_sync_uploads_everything() {
        let local = m(&[("a", "1", 0o644), ("b", "2", 0o600)]);
        let p = plan(&local, &Manifest::default(), &[]);
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
        let p = plan(&local, &remote, &[]);
        assert_eq!(p.upload, ["edited", "new"]);
        assert_eq!(p.chmod, [("mode".to_string(), 0o600)]);
        assert_eq!(p.remove, ["gone"]);
        assert_eq!(p.unchanged, 1);
        assert!(!p.is_noop());
    }

    #[test]
    fn new_dirs_are_the_top_most_folders_the_host_manifest_does_not_know() {
        let remote = m(&[
            ("a/x", "1", 0o644),
            ("run.sh", "2", 0o755),
            ("top", "3", 0o644),
        ]);
        let local = m(&[
            ("a/x", "9", 0o644),
            ("a/b/c/y", "4", 0o644),
            ("a/b/z", "5", 0o644),
            ("new/deep/f", "6", 0o644),
            ("new/g", "7", 0o644),
            ("run.sh/inner", "8", 0o644),
            ("top2", "3", 0o644),
        ]);
        let p = plan(&local, &remote, &[]);
        assert_eq!(p.new_dirs, ["a/b", "new", "run.sh"]);
    }

    #[test]
    fn identical_manifests_are_a_noop() {
        let both = m(&[("a", "1", 0o644), ("b", "2", 0o600)]);
        let p = plan(&both, &both, &[]);
        assert!(p.is_noop());
        assert_eq!(p.unchanged, 2);
    }

    #[test]
    fn system_files_install_on_any_difference_and_reload_once() {
        use crate::model::manifest::SystemEntry;
        let entries = crate::model::system_files::parse(Some(&serde_json::json!([
            {"src": "a", "dest": "/etc/bird/a.conf", "reload": "birdc configure"},
            {"src": "b", "dest": "/etc/bird/b.conf", "reload": "birdc configure"},
            {"src": "c", "dest": "/etc/c.conf", "reload": "systemctl restart c"},
            {"src": "d", "dest": "/etc/d.conf", "owner": "root:d", "reload": "restart d"},
        ])))
        .unwrap();
        let e = |sha: &str, group: &str| SystemEntry {
            sha256: sha.repeat(64),
            mode: 0o640,
            owner: "root".into(),
            group: group.into(),
            secret: false,
        };
        let mut remote = Manifest::default();
        remote
            .system
            .insert("/etc/bird/a.conf".into(), e("1", "root"));
        remote
            .system
            .insert("/etc/bird/b.conf".into(), e("2", "root"));
        remote.system.insert("/etc/c.conf".into(), e("3", "root"));
        remote.system.insert("/etc/d.conf".into(), e("4", "root"));
        remote.system.insert("/etc/old.conf".into(), e("5", "root"));
        let mut local = Manifest::default();
        local
            .system
            .insert("/etc/bird/a.conf".into(), e("9", "root"));
        local
            .system
            .insert("/etc/bird/b.conf".into(), e("8", "root"));
        local.system.insert("/etc/c.conf".into(), e("3", "root"));
        local.system.insert("/etc/d.conf".into(), e("4", "d"));
        let p = plan(&local, &remote, &entries);
        assert_eq!(
            p.system_install,
            ["/etc/bird/a.conf", "/etc/bird/b.conf", "/etc/d.conf"]
        );
        assert_eq!(p.system_remove, ["/etc/old.conf"]);
        assert_eq!(
            p.reloads,
            ["birdc configure", "restart d"],
            "once each; c unchanged"
        );
        assert_eq!(p.changes(), 4);
        let same = plan(&local, &local, &entries);
        assert!(same.is_noop() && same.reloads.is_empty());
    }
}

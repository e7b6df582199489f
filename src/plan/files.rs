//! What a sync will do to one host, computed from the local manifest and the host's, before
//! anything is sent.

use std::collections::BTreeMap;

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
    /// Files the render would change but a hold (`nxinfra_hold_paths`) keeps as they are on
    /// the host: not in the lists above, not placed, not reloaded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<HeldFile>,
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

/// A file a hold keeps as it is, and what the sync would otherwise have done to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeldFile {
    pub path: String,
    pub reason: String,
    /// When the hold ends (RFC 3339, UTC); none: until it is removed.
    pub until: Option<String>,
    /// `add`, `change`, `change mode`, `remove`, or `put back` (changed on the host since
    /// the last sync: the hand-made change is kept).
    pub would: &'static str,
}

impl SyncPlan {
    /// `held: bird/filters.conf (BIRD experiment) would otherwise change, …`, when a hold
    /// kept any file.
    pub fn held_line(&self) -> Option<String> {
        if self.held.is_empty() {
            return None;
        }
        let files: Vec<String> = self
            .held
            .iter()
            .map(|h| {
                let until = h
                    .until
                    .as_ref()
                    .map(|u| format!(" until {u}"))
                    .unwrap_or_default();
                format!(
                    "{} ({}{until}): would otherwise {}",
                    h.path, h.reason, h.would
                )
            })
            .collect();
        Some(format!("held: {}", files.join("; ")))
    }
}

/// [`plan_with_drift`] where `holds` keep some files as they are on the host: the render's
/// entry of a held file is replaced by the host's (dropped if the host has none, kept if the
/// render dropped it), its drift is ignored (a hand-made change is what a hold protects).
/// Returns the plan, with `held` saying what it would otherwise have done, and the manifest
/// the host will have afterwards.
pub fn plan_held(
    local: &Manifest,
    remote: &Manifest,
    drift: &Drift,
    system: &[SystemFile],
    holds: &crate::model::hold::Holds,
) -> (SyncPlan, Manifest) {
    if holds.paths.is_empty() {
        return (plan_with_drift(local, remote, drift, system), local.clone());
    }
    let full = plan_with_drift(local, remote, drift, system);
    let mut kept = local.clone();
    let mut drift = drift.clone();
    let held = |path: &str| holds.of_path(path);
    /// The held entries of `kept` made the host's (`remote`), their drift forgotten.
    fn keep<E: Clone>(
        kept: &mut BTreeMap<String, E>,
        remote: &BTreeMap<String, E>,
        drift: &mut Drift,
        held: impl Fn(&str) -> bool,
    ) {
        let paths: Vec<String> = kept.keys().chain(remote.keys()).cloned().collect();
        for path in paths.into_iter().filter(|p| held(p)) {
            match remote.get(&path) {
                Some(entry) => kept.insert(path.clone(), entry.clone()),
                None => kept.remove(&path),
            };
            drift.changed.remove(&path);
        }
    }
    keep(&mut kept.files, &remote.files, &mut drift, |p| {
        held(p).is_some()
    });
    keep(&mut kept.system, &remote.system, &mut drift, |p| {
        held(p).is_some()
    });
    let mut p = plan_with_drift(&kept, remote, &drift, system);
    let would = |path: &str| -> Option<&'static str> {
        let is = |list: &[String]| list.iter().any(|p| p == path);
        if full.changed_on_host.iter().any(|c| c.path == path) {
            Some("put back")
        } else if is(&full.added) {
            Some("add")
        } else if is(&full.upload) || is(&full.system_install) {
            Some(
                if remote.system.contains_key(path) || remote.files.contains_key(path) {
                    "change"
                } else {
                    "add"
                },
            )
        } else if full.chmod.iter().any(|(p, _)| p == path) {
            Some("change mode")
        } else if is(&full.remove) || is(&full.system_remove) {
            Some("remove")
        } else {
            None
        }
    };
    let mut paths: Vec<&String> = local
        .files
        .keys()
        .chain(remote.files.keys())
        .chain(local.system.keys())
        .chain(remote.system.keys())
        .collect();
    paths.sort();
    paths.dedup();
    for path in paths {
        if let (Some(hold), Some(would)) = (held(path), would(path)) {
            p.held.push(HeldFile {
                path: path.clone(),
                reason: hold.hold.reason.clone(),
                until: hold.hold.until_text(),
                would,
            });
        }
    }
    (p, kept)
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

    #[test]
    fn held_files_keep_what_the_host_has_and_say_what_would_have_changed() {
        use crate::model::hold::Holds;
        let holds = Holds {
            host: None,
            paths: crate::model::hold::parse_paths(Some(&serde_json::json!([
                "bird/",
                {"path": "mode", "reason": "by hand", "until": "2026-12-15"},
            ])))
            .unwrap(),
        };
        let remote = m(&[
            ("bird/a.conf", "1", 0o644),
            ("bird/gone.conf", "2", 0o644),
            ("bird/edited.conf", "3", 0o644),
            ("mode", "4", 0o644),
            ("other", "5", 0o644),
        ]);
        let local = m(&[
            ("bird/a.conf", "9", 0o644),
            ("bird/new.conf", "8", 0o644),
            ("bird/edited.conf", "3", 0o644),
            ("mode", "4", 0o600),
            ("other", "7", 0o644),
        ]);
        let drift = Drift {
            changed: [(
                "bird/edited.conf".to_string(),
                HostChange::Edited { sha256: None },
            )]
            .into(),
            stale: false,
        };
        let (p, after) = plan_held(&local, &remote, &drift, &[], &holds);
        assert_eq!(p.upload, ["other"], "only the file no hold covers moves");
        assert!(p.chmod.is_empty() && p.remove.is_empty() && p.changed_on_host.is_empty());
        let held: Vec<(&str, &str, &str)> = p
            .held
            .iter()
            .map(|h| (h.path.as_str(), h.reason.as_str(), h.would))
            .collect();
        let reason = crate::model::hold::PATH_REASON;
        assert_eq!(
            held,
            [
                ("bird/a.conf", reason, "change"),
                ("bird/edited.conf", reason, "put back"),
                ("bird/gone.conf", reason, "remove"),
                ("bird/new.conf", reason, "add"),
                ("mode", "by hand", "change mode"),
            ]
        );
        assert_eq!(p.held[4].until.as_deref(), Some("2026-12-15T23:59:59Z"));
        // The manifest afterwards records the held files as the host has them.
        assert_eq!(after.files["bird/a.conf"], remote.files["bird/a.conf"]);
        assert_eq!(
            after.files["bird/gone.conf"],
            remote.files["bird/gone.conf"]
        );
        assert!(!after.files.contains_key("bird/new.conf"));
        assert_eq!(after.files["mode"].mode, 0o644);
        assert_eq!(after.files["other"], local.files["other"]);
        assert_eq!(
            p.held_line().unwrap(),
            "held: bird/a.conf (held by nxinfra_hold_paths): would otherwise change; \
             bird/edited.conf (held by nxinfra_hold_paths): would otherwise put back; \
             bird/gone.conf (held by nxinfra_hold_paths): would otherwise remove; \
             bird/new.conf (held by nxinfra_hold_paths): would otherwise add; \
             mode (by hand until 2026-12-15T23:59:59Z): would otherwise change mode"
        );
        // Without holds: the same plan as before.
        let (free, _) = plan_held(&local, &remote, &drift, &[], &Holds::default());
        assert_eq!(free, plan_with_drift(&local, &remote, &drift, &[]));
        assert!(free.held.is_empty() && free.held_line().is_none());
    }

    #[test]
    fn a_held_system_file_is_not_installed_nor_reloaded() {
        use crate::model::hold::Holds;
        let entries = crate::model::system_files::parse(Some(&serde_json::json!([
            {"src": "bird/bird.conf", "dest": "/etc/bird/bird.conf", "reload": "birdc configure"},
        ])))
        .unwrap();
        let holds = Holds {
            host: None,
            paths: crate::model::hold::parse_paths(Some(&serde_json::json!([
                "/etc/bird/bird.conf"
            ])))
            .unwrap(),
        };
        let mut remote = Manifest::default();
        let mut local = Manifest::default();
        for (m, sha) in [(&mut remote, "1"), (&mut local, "2")] {
            m.system.insert(
                "/etc/bird/bird.conf".into(),
                crate::model::manifest::SystemEntry {
                    sha256: sha.repeat(64),
                    mode: 0o640,
                    owner: "root".into(),
                    group: "bird".into(),
                    secret: false,
                },
            );
        }
        let (p, after) = plan_held(&local, &remote, &Drift::default(), &entries, &holds);
        assert!(p.is_noop() && p.reloads.is_empty(), "{p:?}");
        assert_eq!(p.held[0].would, "change");
        assert_eq!(after.system, remote.system);
    }
}

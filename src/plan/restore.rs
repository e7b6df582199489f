//! Putting a failed service's files back (pure: which files, and the tree to sync back).
//!
//! The files move before the containers do, so when a (re)created or restarted service fails
//! its health gate the previous container comes back reading the *new* files — a broken config
//! file would keep it broken. So before the files move, apply keeps the previous content of
//! every changing file that a service about to be recreated or restarted mounts, and after a
//! rollback it syncs exactly those back (the service's own mounts, nothing else), then starts
//! the restored container again where it was stopped.

use std::collections::BTreeMap;
use std::path::Path;

use crate::model::compose::Compose;
use crate::model::tree::OutFile;
use crate::plan::containers::{Action, ApplyPlan};
use crate::plan::files::SyncPlan;

/// Container name → the changing files (relative to the base dir) it mounts, for every
/// container that is recreated in place or restarted (a new service or one on a recreated
/// network has no previous container to restore).
pub fn at_risk(
    compose: &Compose,
    plan: &ApplyPlan,
    sync: &SyncPlan,
    base_dir: &str,
) -> BTreeMap<String, Vec<String>> {
    let changing: Vec<&String> = sync
        .upload
        .iter()
        .chain(&sync.remove)
        .chain(sync.chmod.iter().map(|(p, _)| p))
        .collect();
    let mut out = BTreeMap::new();
    for step in &plan.containers {
        if !matches!(step.action, Action::Recreate | Action::Restart) || step.fresh() {
            continue;
        }
        let Some(service) = step.service.as_ref().and_then(|s| compose.services.get(s)) else {
            continue;
        };
        // A job has no previous container to come back: a failed run keeps the new files,
        // and the next apply runs it again with them.
        if service.job.is_some() {
            continue;
        }
        let mut paths: Vec<String> = Vec::new();
        for source in service.rendered_sources(Path::new(base_dir)) {
            let rel = source.to_string_lossy();
            for path in &changing {
                let under = rel.is_empty()
                    || path.as_str() == rel
                    || (path.starts_with(rel.as_ref())
                        && path.as_bytes().get(rel.len()) == Some(&b'/'));
                if under && !paths.contains(path) {
                    paths.push((*path).clone());
                }
            }
        }
        if !paths.is_empty() {
            paths.sort();
            out.insert(step.name.clone(), paths);
        }
    }
    out
}

/// The tree to sync back: `files` (what was synced) with each of `paths` as it was before
/// (`previous`: its content and mode, or absent if it did not exist).
pub fn restored_tree(
    files: &BTreeMap<String, OutFile>,
    paths: &[String],
    previous: &BTreeMap<String, OutFile>,
) -> BTreeMap<String, OutFile> {
    let mut tree = files.clone();
    for path in paths {
        match previous.get(path) {
            Some(old) => tree.insert(path.clone(), old.clone()),
            None => tree.remove(path),
        };
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::compose::parse;
    use crate::plan::containers::ContainerStep;

    const COMPOSE: &str = "services:
  web:
    image: busybox:1
    network_mode: none
    volumes:
      - /home/u/web/conf:/etc/web:ro
      - /home/u/shared/ca.pem:/ca.pem:ro
  db:
    image: busybox:1
    network_mode: none
    volumes:
      - /home/u/db:/etc/db:ro
      - /var/lib/db:/data
";

    fn step(name: &str, action: Action, reason: &str) -> ContainerStep {
        ContainerStep {
            name: name.into(),
            service: Some(name.into()),
            action,
            reasons: vec![reason.into()],
            desired: None,
            image_id: None,
            with_network: reason.starts_with("network "),
            recover: None,
            pin: None,
        }
    }

    fn sync(upload: &[&str], remove: &[&str]) -> SyncPlan {
        SyncPlan {
            upload: upload.iter().map(|s| s.to_string()).collect(),
            remove: remove.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_changing_files_each_recreated_or_restarted_service_mounts() {
        let c = parse(Path::new("compose.yml"), COMPOSE).unwrap();
        let plan = ApplyPlan {
            containers: vec![
                step("web", Action::Recreate, "mount content changed: web/conf"),
                step("db", Action::Restart, "mount content changed: db"),
            ],
            ..Default::default()
        };
        let s = sync(
            &[
                "web/conf/a.conf",
                "shared/ca.pem",
                "web/confusing",
                "db/x/y.conf",
            ],
            &["web/conf/old.conf", "other/z"],
        );
        let risk = at_risk(&c, &plan, &s, "/home/u");
        assert_eq!(
            risk["web"],
            ["shared/ca.pem", "web/conf/a.conf", "web/conf/old.conf"],
            "its folder's files and its one file; not a sibling with the same prefix"
        );
        assert_eq!(risk["db"], ["db/x/y.conf"]);
        // A new service, or one on a recreated network, has nothing to restore.
        let plan = ApplyPlan {
            containers: vec![
                step("web", Action::Create, "new service"),
                step("db", Action::Recreate, "network backend is recreated"),
            ],
            ..Default::default()
        };
        assert!(at_risk(&c, &plan, &s, "/home/u").is_empty());
    }

    #[test]
    fn the_tree_synced_back_has_the_previous_files_and_not_the_new_ones() {
        let files = BTreeMap::from([
            ("web/conf/a.conf".to_string(), OutFile::new("new a", 0o644)),
            ("web/conf/added".to_string(), OutFile::new("added", 0o644)),
            ("other".to_string(), OutFile::new("other, new", 0o644)),
        ]);
        let previous = BTreeMap::from([
            ("web/conf/a.conf".to_string(), OutFile::new("old a", 0o600)),
            (
                "web/conf/removed".to_string(),
                OutFile::new("was there", 0o644),
            ),
        ]);
        let paths: Vec<String> = ["web/conf/a.conf", "web/conf/added", "web/conf/removed"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let tree = restored_tree(&files, &paths, &previous);
        assert_eq!(
            tree,
            BTreeMap::from([
                ("web/conf/a.conf".to_string(), OutFile::new("old a", 0o600)),
                (
                    "web/conf/removed".to_string(),
                    OutFile::new("was there", 0o644)
                ),
                ("other".to_string(), OutFile::new("other, new", 0o644)),
            ])
        );
    }
}

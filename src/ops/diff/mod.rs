//! `nxinfra diff --base REV`: what a change does to the rendered fleet, offline — two renders
//! (REV's sources and the working tree's, secrets as `<secret:PATH>` placeholders) compared
//! per host, as data, then as text. [`git`] reads REV's sources; [`compose`] summarises
//! compose.yml changes per service; the rest is pure.

pub mod compose;
pub mod git;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::render::OutFile;

/// One host's rendered files on each side; `None`: the host is not in that side's inventory.
pub struct Sides<'a> {
    pub base: Option<&'a BTreeMap<String, OutFile>>,
    pub head: Option<&'a BTreeMap<String, OutFile>>,
}

/// What differs for one host.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct HostChanges {
    pub host: String,
    /// `added` / `removed` (the whole host), `changed`, or `unrenderable`: the host does not
    /// render at the base revision ([`HostChanges::base_error`] says why; no file lists).
    pub status: &'static str,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// Same content, another mode: (path, base mode, head mode).
    pub mode: Vec<(String, u32, u32)>,
    /// The compose.yml summary (empty when it did not change).
    pub services: Vec<compose::ServiceChange>,
    /// The stack.yml summary, a cluster's services (absent when it did not change).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stack_services: Vec<compose::ServiceChange>,
    /// Why the base revision does not render this host (status `unrenderable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_error: Option<String>,
    /// Unified diffs of every differing file.
    #[serde(skip)]
    pub diff: String,
}

/// A host the base revision does not render: nothing to compare its files with.
pub fn unrenderable(host: &str, error: String) -> HostChanges {
    HostChanges {
        host: host.to_string(),
        status: "unrenderable",
        base_error: Some(error),
        ..Default::default()
    }
}

/// Compares one host's two sides; `None` when nothing differs.
pub fn compare(host: &str, sides: Sides<'_>) -> Option<HostChanges> {
    let empty = BTreeMap::new();
    let base = sides.base.unwrap_or(&empty);
    let head = sides.head.unwrap_or(&empty);
    let mut out = HostChanges {
        host: host.to_string(),
        status: match (sides.base.is_some(), sides.head.is_some()) {
            (false, _) => "added",
            (_, false) => "removed",
            _ => "changed",
        },
        ..Default::default()
    };
    let paths: BTreeSet<&String> = base.keys().chain(head.keys()).collect();
    for path in paths {
        let label = format!("{host}:{path}");
        match (base.get(path), head.get(path)) {
            (None, Some(new)) => {
                out.added.push(path.clone());
                crate::plan::textdiff::file_diff(
                    &mut out.diff,
                    &label,
                    None,
                    &new.data,
                    true,
                    false,
                );
            }
            (Some(old), None) => {
                out.removed.push(path.clone());
                crate::plan::textdiff::file_diff(
                    &mut out.diff,
                    &label,
                    Some(&old.data),
                    &[],
                    false,
                    false,
                );
            }
            (Some(old), Some(new)) if old.data != new.data => {
                out.changed.push(path.clone());
                crate::plan::textdiff::file_diff(
                    &mut out.diff,
                    &label,
                    Some(&old.data),
                    &new.data,
                    true,
                    false,
                );
            }
            (Some(old), Some(new)) if old.mode != new.mode => {
                out.mode.push((path.clone(), old.mode, new.mode));
                out.diff.push_str(&format!(
                    "{label}: mode {:04o} -> {:04o}\n",
                    old.mode, new.mode
                ));
            }
            _ => {}
        }
    }
    let touched = |file: &str| {
        out.changed
            .iter()
            .chain(&out.added)
            .chain(&out.removed)
            .any(|p| p == file)
    };
    let (compose_touched, stack_touched) = (touched(compose::FILE), touched(compose::STACK_FILE));
    let text = |side: &BTreeMap<String, OutFile>, file: &str| {
        side.get(file)
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
    };
    let sides = |file: &str| (text(base, file), text(head, file));
    if compose_touched {
        let (b, h) = sides(compose::FILE);
        out.services = compose::summary(host, b.as_deref(), h.as_deref());
    }
    if stack_touched {
        let (b, h) = sides(compose::STACK_FILE);
        out.stack_services = compose::stack_summary(host, b.as_deref(), h.as_deref());
    }
    let differs = !(out.added.is_empty()
        && out.removed.is_empty()
        && out.changed.is_empty()
        && out.mode.is_empty());
    differs.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_added_removed_changed_and_chmod() {
        let base = BTreeMap::from([
            ("a.conf".to_string(), OutFile::new("a=1\n", 0o644)),
            ("gone".to_string(), OutFile::new("x\n", 0o644)),
            ("run.sh".to_string(), OutFile::new("#!/bin/sh\n", 0o644)),
            ("same".to_string(), OutFile::new("s\n", 0o644)),
        ]);
        let head = BTreeMap::from([
            ("a.conf".to_string(), OutFile::new("a=2\n", 0o644)),
            ("new".to_string(), OutFile::new("n\n", 0o600)),
            ("run.sh".to_string(), OutFile::new("#!/bin/sh\n", 0o755)),
            ("same".to_string(), OutFile::new("s\n", 0o644)),
        ]);
        let c = compare(
            "h1",
            Sides {
                base: Some(&base),
                head: Some(&head),
            },
        )
        .unwrap();
        assert_eq!(c.status, "changed");
        assert_eq!(
            (c.added, c.removed, c.changed),
            (
                vec!["new".to_string()],
                vec!["gone".to_string()],
                vec!["a.conf".to_string()]
            )
        );
        assert_eq!(c.mode, [("run.sh".to_string(), 0o644, 0o755)]);
        assert!(
            c.diff
                .contains("--- h1:a.conf\n+++ h1:a.conf\n@@ -1 +1 @@\n-a=1\n+a=2\n"),
            "{}",
            c.diff
        );
        assert!(c.diff.contains("--- /dev/null\n+++ h1:new\n"), "{}", c.diff);
        assert!(
            c.diff.contains("h1:run.sh: mode 0644 -> 0755"),
            "{}",
            c.diff
        );
        assert!(
            compare(
                "h1",
                Sides {
                    base: Some(&base),
                    head: Some(&base)
                }
            )
            .is_none()
        );
    }

    #[test]
    fn a_host_on_one_side_only() {
        let tree = BTreeMap::from([("a".to_string(), OutFile::new("a\n", 0o644))]);
        let added = compare(
            "new",
            Sides {
                base: None,
                head: Some(&tree),
            },
        )
        .unwrap();
        assert_eq!((added.status, added.added.len()), ("added", 1));
        let removed = compare(
            "old",
            Sides {
                base: Some(&tree),
                head: None,
            },
        )
        .unwrap();
        assert_eq!((removed.status, removed.removed.len()), ("removed", 1));
    }
}

//! Which holds are in force for a run: expired ones said and dropped, `--ignore-holds` said
//! and every hold dropped, a held path that covers none of the host's files warned of (a
//! typo would otherwise hold nothing, silently).

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::model::target::Target;
use crate::render::OutFile;

/// Sets each target's holds to those in force `now` (none with `ignore`), and returns the
/// lines to print on stderr: expired holds, ignored holds, held paths that hold nothing.
pub fn in_force(
    work: &mut [(Target, BTreeMap<String, OutFile>)],
    now: SystemTime,
    ignore: bool,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (target, files) in work.iter_mut() {
        let host = target.host.clone();
        let (active, expired) = target.holds.at(now);
        for e in expired {
            lines.push(format!("warning: host {host}: {e}"));
        }
        if ignore {
            for (path, hold) in active.all() {
                let what = path.map(|p| format!(" {p}")).unwrap_or_default();
                lines.push(format!(
                    "ignoring the hold of {host}{what} ({}): --ignore-holds",
                    hold.describe()
                ));
            }
            target.holds = Default::default();
            continue;
        }
        let destinations: Vec<&str> = target
            .system_files
            .iter()
            .map(|s| s.dest.as_str())
            .collect();
        for held in &active.paths {
            let covers =
                files.keys().any(|p| held.covers(p)) || destinations.iter().any(|d| held.covers(d));
            if !covers {
                lines.push(format!(
                    "warning: host {host}: nxinfra_hold_paths: {} is none of the host's rendered \
                     files or system file destinations (a hold of a file the render dropped \
                     still keeps it, one of a mistyped path holds nothing)",
                    held.path
                ));
            }
        }
        target.holds = active;
    }
    lines
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn work(vars: serde_json::Value, files: &[&str]) -> Vec<(Target, BTreeMap<String, OutFile>)> {
        let vars = vars.as_object().unwrap().clone().into_iter().collect();
        let defaults = crate::model::target::Defaults {
            user: "u".into(),
            fleet: "f".into(),
        };
        let target = Target::from_vars("ixp1", &vars, &defaults).unwrap();
        let tree = files
            .iter()
            .map(|p| (p.to_string(), OutFile::new("x", 0o644)))
            .collect();
        vec![(target, tree)]
    }

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn expired_holds_are_dropped_with_a_warning_and_live_ones_kept() {
        let mut w = work(
            json!({
                "nxinfra_hold": {"reason": "BIRD experiment", "until": "2026-12-01"},
                "nxinfra_hold_paths": ["bird/", {"path": "x.conf", "reason": "old", "until": "2026-01-01"}],
            }),
            &["bird/bird.conf", "x.conf"],
        );
        let lines = in_force(&mut w, at("2026-12-01T12:00:00Z"), false);
        assert_eq!(
            lines,
            [
                "warning: host ixp1: the hold of x.conf \"old\" expired at 2026-01-01T23:59:59Z: not held"
            ]
        );
        assert!(w[0].0.holds.host.is_some());
        assert_eq!(w[0].0.holds.paths.len(), 1);
        let lines = in_force(&mut w, at("2026-12-02T00:00:00Z"), false);
        assert_eq!(
            lines,
            [
                "warning: host ixp1: the hold \"BIRD experiment\" expired at 2026-12-01T23:59:59Z: not held"
            ]
        );
        assert!(w[0].0.holds.host.is_none());
    }

    #[test]
    fn ignore_holds_drops_every_hold_and_says_which() {
        let mut w = work(
            json!({"nxinfra_hold": {"reason": "BIRD experiment"}, "nxinfra_hold_paths": ["bird/"]}),
            &["bird/bird.conf"],
        );
        let lines = in_force(&mut w, SystemTime::now(), true);
        assert_eq!(
            lines,
            [
                "ignoring the hold of ixp1 (BIRD experiment): --ignore-holds",
                "ignoring the hold of ixp1 bird/ (held by nxinfra_hold_paths): --ignore-holds",
            ]
        );
        assert!(w[0].0.holds.is_empty());
    }

    #[test]
    fn a_held_path_that_covers_nothing_is_warned_of() {
        let mut w = work(
            json!({"nxinfra_hold_paths": ["bird/filter.conf", "bird/bird.conf"]}),
            &["bird/bird.conf"],
        );
        let lines = in_force(&mut w, SystemTime::now(), false);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0]
                .starts_with("warning: host ixp1: nxinfra_hold_paths: bird/filter.conf is none"),
            "{lines:?}"
        );
        assert_eq!(w[0].0.holds.paths.len(), 2, "a warning, still held");
    }
}

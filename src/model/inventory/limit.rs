//! `--limit`: host and group names, `*`/`?` globs, comma-separated, `!pattern` to exclude.

use std::collections::BTreeSet;

use super::{Inventory, InventoryError};

/// The hosts selected by `limit` (all hosts when `None`), sorted by name.
///
/// Every pattern must match at least one host or group: a typo never silently selects nothing.
/// A `--limit` given with no pattern at all (`""`, `" "`, `",,"`: an unset variable in a CI
/// script) is an error too: it must never widen into the whole fleet.
pub fn select(inv: &Inventory, limit: Option<&str>) -> Result<Vec<String>, InventoryError> {
    let Some(limit) = limit else {
        return Ok(inv.hosts.keys().cloned().collect());
    };
    check(limit)?;
    let mut included: BTreeSet<String> = BTreeSet::new();
    let mut excluded: BTreeSet<String> = BTreeSet::new();
    let mut any_include = false;
    for raw in limit.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (exclude, pattern) = match raw.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let matched = matching_hosts(inv, pattern);
        if matched.is_empty() {
            return Err(InventoryError::NoMatch {
                pattern: raw.to_string(),
                known: known_names(inv),
            });
        }
        if exclude {
            excluded.extend(matched);
        } else {
            any_include = true;
            included.extend(matched);
        }
    }
    if !any_include {
        included = inv.hosts.keys().cloned().collect();
    }
    let selected: Vec<String> = included.difference(&excluded).cloned().collect();
    if selected.is_empty() {
        return Err(InventoryError::NoMatch {
            pattern: limit.to_string(),
            known: known_names(inv),
        });
    }
    Ok(selected)
}

/// Fails when `limit` holds no pattern: empty, blanks, or commas only.
pub fn check(limit: &str) -> Result<(), InventoryError> {
    if limit.split(',').all(|p| p.trim().is_empty()) {
        return Err(InventoryError::EmptyLimit {
            given: limit.to_string(),
        });
    }
    Ok(())
}

fn matching_hosts(inv: &Inventory, pattern: &str) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = inv
        .hosts
        .keys()
        .filter(|h| wildcard_match(pattern, h))
        .cloned()
        .collect();
    for group in inv.groups.keys().filter(|g| wildcard_match(pattern, g)) {
        out.extend(inv.hosts_of_group(group));
    }
    out
}

fn known_names(inv: &Inventory) -> String {
    let hosts: Vec<&str> = inv.hosts.keys().map(String::as_str).collect();
    let groups: Vec<&str> = inv.groups.keys().map(String::as_str).collect();
    format!("{}; groups: {}", hosts.join(", "), groups.join(", "))
}

/// Shell-style wildcard match of a whole name: `*` any run, `?` one character.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with backtracking to the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn fleet() -> Inventory {
        super::super::load::parse(
            Path::new("inventory.yml"),
            "core:\n  hosts:\n    coreams01:\nixp:\n  hosts:\n    ixpams01:\n    ixpams02:\n    ixpfra01:\n\
             vlt:\n  hosts:\n    vltatl01:\n    vltcdg01:\n",
        )
        .unwrap()
    }

    fn sel(limit: &str) -> Vec<String> {
        select(&fleet(), Some(limit)).unwrap()
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("ixp*", "ixpams01"));
        assert!(wildcard_match("*ams*", "ixpams01"));
        assert!(wildcard_match("ixpams0?", "ixpams02"));
        assert!(!wildcard_match("ixpams0?", "ixpams012"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("a*b", "acbx"));
        assert!(wildcard_match("a*b*c", "aXbYbZc"));
    }

    #[test]
    fn hosts_groups_globs_lists_and_exclusions() {
        assert_eq!(sel("coreams01"), ["coreams01"]);
        assert_eq!(sel("vlt"), ["vltatl01", "vltcdg01"]);
        assert_eq!(sel("*ams*"), ["coreams01", "ixpams01", "ixpams02"]);
        assert_eq!(sel("core, vltcdg01"), ["coreams01", "vltcdg01"]);
        assert_eq!(sel("ixp,!ixpfra01"), ["ixpams01", "ixpams02"]);
        assert_eq!(sel("!ixp").len(), 3);
        assert_eq!(sel("all").len(), 6);
        assert_eq!(select(&fleet(), None).unwrap().len(), 6);
    }

    #[test]
    fn unmatched_patterns_are_errors() {
        let err = select(&fleet(), Some("core,ixpzzz"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"ixpzzz\" matches no host or group"), "{err}");
        assert!(err.contains("coreams01"), "{err}");
        assert!(select(&fleet(), Some("core,!core")).is_err());
    }

    #[test]
    fn a_limit_without_a_pattern_is_an_error_not_the_whole_fleet() {
        for empty in ["", " ", ",,,", " , ,\t"] {
            let err = select(&fleet(), Some(empty)).unwrap_err();
            assert!(
                matches!(err, InventoryError::EmptyLimit { .. }),
                "{empty:?}: {err}"
            );
            let text = err.to_string();
            assert!(text.starts_with("--limit "), "{text}");
            assert!(text.contains("no host or group pattern"), "{text}");
        }
        // An empty item next to a real pattern is only a stray comma.
        assert_eq!(sel("core,"), ["coreams01"]);
    }
}

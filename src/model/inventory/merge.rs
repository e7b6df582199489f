//! Variable precedence: `all` < parent groups < child groups < host vars.
//!
//! A group's variable may override only a value that came from one of its ancestors. Two
//! groups of a host that are not ancestor and descendant of each other and give one variable
//! different values are a conflict, reported as an error: Ansible would pick one by depth and
//! then alphabetically, which is exactly the kind of silent choice nxinfra refuses to make.

use std::collections::{BTreeMap, BTreeSet};

use super::{ALL, Inventory, InventoryError, Level, Vars};

/// Depth of every group: `all` is 0, a group is one deeper than its deepest parent.
fn depths(inv: &Inventory) -> BTreeMap<&str, usize> {
    fn depth<'a>(
        inv: &'a Inventory,
        name: &'a str,
        memo: &mut BTreeMap<&'a str, usize>,
        guard: usize,
    ) -> usize {
        if let Some(d) = memo.get(name) {
            return *d;
        }
        let parents = inv.groups.get(name).map(|g| &g.parents[..]).unwrap_or(&[]);
        let d = if name == ALL || guard > inv.groups.len() {
            0
        } else {
            parents
                .iter()
                .map(|p| depth(inv, p, memo, guard + 1) + 1)
                .max()
                .unwrap_or(1)
        };
        memo.insert(name, d);
        d
    }
    let mut memo = BTreeMap::new();
    for name in inv.groups.keys() {
        depth(inv, name, &mut memo, 0);
    }
    memo
}

/// Every ancestor of `group` (not the group itself).
fn ancestors(inv: &Inventory, group: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<String> = inv.groups[group].parents.clone();
    while let Some(g) = todo.pop() {
        if out.insert(g.clone()) {
            todo.extend(inv.groups[&g].parents.iter().cloned());
        }
    }
    out.insert(ALL.to_string());
    out.remove(group);
    out
}

/// The group whose value of `variable` `host` gets (the deepest that sets it), if any.
pub(super) fn winning_group(inv: &Inventory, host: &str, variable: &str) -> Option<String> {
    let depths = depths(inv);
    let mut groups: Vec<String> = inv.groups_of(host).into_iter().collect();
    groups.sort_by_key(|g| (depths.get(g.as_str()).copied().unwrap_or(0), g.clone()));
    groups.into_iter().rev().find(|g| {
        inv.groups
            .get(g)
            .is_some_and(|g| g.vars.contains_key(variable))
    })
}

/// A host's merged variables, and those of them whose value came from a vault-encrypted vars
/// file (the winning setting's mark: the host's own, else its group's).
pub(super) fn host_vars(
    inv: &Inventory,
    host: &str,
) -> Result<(Vars, BTreeSet<String>), InventoryError> {
    let h = inv.require_host(host)?;
    let depths = depths(inv);
    let mut groups: Vec<String> = inv.groups_of(host).into_iter().collect();
    groups.sort_by_key(|g| (depths.get(g.as_str()).copied().unwrap_or(0), g.clone()));

    let mut merged = Vars::new();
    let mut origin: BTreeMap<String, String> = BTreeMap::new();
    for group in &groups {
        let ancestors = ancestors(inv, group);
        for (key, value) in &inv.groups[group].vars {
            if let Some(prev_group) = origin.get(key)
                && !ancestors.contains(prev_group)
                && !h.vars.contains_key(key)
                && merged.get(key) != Some(value)
            {
                let at = |g: &str| {
                    inv.groups[g]
                        .settings
                        .get(key)
                        .map(|s| s.origin.to_string())
                };
                return Err(InventoryError::Invalid {
                    location: at(group)
                        .or_else(|| at(prev_group))
                        .unwrap_or_else(|| inv.file.display().to_string()),
                    message: format!(
                        "host {host}: variable {key} is set differently by groups \
                         {prev_group} and {group}, and neither is a parent of the other; set it \
                         on the host, or on one group only"
                    ),
                });
            }
            merged.insert(key.clone(), value.clone());
            origin.insert(key.clone(), group.clone());
        }
    }
    for (key, group) in &origin {
        if !h.vars.contains_key(key) {
            ansible_agrees(inv, host, key, group, &groups, &depths)?;
        }
    }
    for (key, value) in &h.vars {
        merged.insert(key.clone(), value.clone());
    }
    let secret = merged
        .keys()
        .filter(|key| {
            let setting = if h.vars.contains_key(*key) {
                h.settings.get(*key)
            } else {
                origin
                    .get(*key)
                    .and_then(|g| inv.groups[g].settings.get(*key))
            };
            setting.is_some_and(|s| s.secret)
        })
        .cloned()
        .collect();
    Ok((merged, secret))
}

/// Ansible's rank of a group's variable: inventory sources' group vars < `group_vars/all`
/// beside the inventory < at the root < other `group_vars/` beside the inventory < at the
/// root; then the deeper group, then the later name.
fn rank(inv: &Inventory, group: &str, key: &str) -> u8 {
    let level = inv.groups[group].settings.get(key).map(|s| s.level);
    match (level, group == ALL) {
        (None | Some(Level::Source), _) => 0,
        (Some(Level::InventoryDir), true) => 1,
        (Some(Level::RootDir), true) => 2,
        (Some(Level::InventoryDir), false) => 3,
        (Some(Level::RootDir), false) => 4,
    }
}

/// The value the group hierarchy gives (`winner`'s) must be the one Ansible's precedence
/// gives: a `group_vars/all.yml` outranks a child group's variable in an inventory file in
/// Ansible, the reverse of the hierarchy. Where the two disagree, nxinfra refuses rather than
/// render what Ansible would not.
fn ansible_agrees(
    inv: &Inventory,
    host: &str,
    key: &str,
    winner: &str,
    groups: &[String],
    depths: &BTreeMap<&str, usize>,
) -> Result<(), InventoryError> {
    let ansible = groups
        .iter()
        .filter(|g| inv.groups[g.as_str()].vars.contains_key(key))
        .max_by_key(|g| {
            (
                rank(inv, g, key),
                depths.get(g.as_str()).copied().unwrap_or(0),
                g.as_str(),
            )
        });
    let Some(ansible) = ansible else {
        return Ok(());
    };
    if inv.groups[ansible.as_str()].vars.get(key) == inv.groups[winner].vars.get(key) {
        return Ok(());
    }
    let at = |g: &str| {
        inv.groups[g]
            .settings
            .get(key)
            .map(|s| s.origin.to_string())
            .unwrap_or_else(|| inv.file.display().to_string())
    };
    Err(InventoryError::Invalid {
        location: at(ansible),
        message: format!(
            "host {host}: variable {key} of group {ansible} here and of group {winner} in {}: \
             nxinfra's hierarchy gives {winner}'s value, Ansible's precedence (vars files \
             over inventory files) {ansible}'s; set it in one place, or on the host",
            at(winner)
        ),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::load;

    fn parse(text: &str) -> super::Inventory {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("inventory.yml");
        std::fs::write(&file, text).unwrap();
        load(&file).unwrap()
    }

    #[test]
    fn precedence_all_group_child_host() {
        let inv = parse(
            "all:\n  vars:\n    a: all\n    b: all\n    c: all\n    d: all\n\
             edge:\n  vars:\n    b: edge\n    c: edge\n  children:\n    ixp:\n\
             ixp:\n  vars:\n    c: ixp\n  hosts:\n    r1:\n      d: host\n",
        );
        let vars = inv.host_vars("r1").unwrap();
        assert_eq!(vars["a"], json!("all"));
        assert_eq!(vars["b"], json!("edge"));
        assert_eq!(vars["c"], json!("ixp"));
        assert_eq!(vars["d"], json!("host"));
    }

    #[test]
    fn unrelated_groups_disagreeing_is_an_error() {
        let inv = parse(
            "ams:\n  vars:\n    dns: one\n  hosts:\n    r1:\n\
             ixp:\n  vars:\n    dns: two\n  hosts:\n    r1:\n",
        );
        let err = inv.host_vars("r1").unwrap_err().to_string();
        assert!(err.contains("variable dns"), "{err}");
        assert!(err.contains("ams and ixp"), "{err}");
        assert!(err.contains("host r1"), "{err}");
        assert!(err.contains("inventory.yml:"), "{err}");
    }

    #[test]
    fn unrelated_groups_agreeing_is_fine_and_host_wins() {
        let inv = parse(
            "ams:\n  vars:\n    dns: one\n  hosts:\n    r1:\n      dns: mine\n    r2:\n\
             ixp:\n  vars:\n    dns: one\n  hosts:\n    r2:\n",
        );
        assert_eq!(inv.host_vars("r2").unwrap()["dns"], json!("one"));
        assert_eq!(inv.host_vars("r1").unwrap()["dns"], json!("mine"));
        // Host vars settle a conflict between its groups.
        let inv = parse(
            "ams:\n  vars:\n    dns: one\n  hosts:\n    r1:\n      dns: mine\n\
             ixp:\n  vars:\n    dns: two\n  hosts:\n    r1:\n",
        );
        assert_eq!(inv.host_vars("r1").unwrap()["dns"], json!("mine"));
    }
}

//! Parsing `inventory.yml` (Ansible's YAML inventory format) into an [`Inventory`].

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;

use super::{ALL, Group, Host, Inventory, InventoryError, Vars};
use crate::util::yaml;

/// One group as written: everything optional, nothing else allowed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    hosts: Option<IndexMap<String, Option<Vars>>>,
    #[serde(default)]
    vars: Option<Vars>,
    #[serde(default)]
    children: Option<IndexMap<String, Option<RawGroup>>>,
}

/// Reads and validates the inventory at `file`.
pub fn load(file: &Path) -> Result<Inventory, InventoryError> {
    let text = std::fs::read_to_string(file).map_err(|source| InventoryError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse(file, &text)
}

/// Parses inventory text; `file` is used in error messages only.
pub fn parse(file: &Path, text: &str) -> Result<Inventory, InventoryError> {
    let raw: Option<IndexMap<String, Option<RawGroup>>> = yaml::parse(file, text)?;
    let raw = raw.unwrap_or_default();
    let mut builder = Builder {
        file,
        lines: yaml::KeyLines::new(text),
        groups: IndexMap::new(),
        hosts: BTreeMap::new(),
        references: Vec::new(),
    };
    builder.group(ALL, None, &[ALL.to_string()])?;
    for (name, body) in &raw {
        let parent = (name != ALL).then_some(ALL);
        builder.define(name, parent, body.as_ref(), std::slice::from_ref(name))?;
    }
    builder.finish()
}

struct Builder<'a> {
    file: &'a Path,
    lines: yaml::KeyLines,
    groups: IndexMap<String, Group>,
    hosts: BTreeMap<String, Host>,
    /// `children:` entries without a body: (group, parent, key path), checked at the end.
    references: Vec<(String, Vec<String>)>,
}

impl Builder<'_> {
    fn line(&self, path: &[String]) -> Option<usize> {
        self.lines.get(path)
    }

    fn invalid(&self, path: &[String], message: String) -> InventoryError {
        let location = match self.line(path) {
            Some(line) => format!("{}:{line}", self.file.display()),
            None => self.file.display().to_string(),
        };
        InventoryError::Invalid { location, message }
    }

    /// Returns the group `name`, creating it (with the line of `path`) if needed.
    fn group(
        &mut self,
        name: &str,
        parent: Option<&str>,
        path: &[String],
    ) -> Result<&mut Group, InventoryError> {
        if !valid_name(name) {
            return Err(self.invalid(
                path,
                format!("invalid group name {name:?}: use letters, digits, '_', '-' and '.'"),
            ));
        }
        if !self.groups.contains_key(name) {
            let line = self.line(path);
            self.groups.insert(
                name.to_string(),
                Group {
                    name: name.to_string(),
                    line,
                    ..Group::default()
                },
            );
        }
        let group = self
            .groups
            .get_mut(name)
            .ok_or_else(|| InventoryError::Invalid {
                location: name.to_string(),
                message: "group vanished".into(),
            })?;
        if let Some(parent) = parent
            && !group.parents.iter().any(|p| p == parent)
        {
            group.parents.push(parent.to_string());
        }
        Ok(group)
    }

    fn define(
        &mut self,
        name: &str,
        parent: Option<&str>,
        body: Option<&RawGroup>,
        path: &[String],
    ) -> Result<(), InventoryError> {
        if let Some(parent) = parent
            && parent != ALL
        {
            let parent_group = self.group(parent, None, &path[..path.len() - 2])?;
            if !parent_group.children.iter().any(|c| c == name) {
                parent_group.children.push(name.to_string());
            }
        }
        self.group(name, parent, path)?;
        let Some(body) = body else {
            if parent.is_some_and(|p| p != ALL) {
                self.references.push((name.to_string(), path.to_vec()));
            }
            return Ok(());
        };
        if let Some(vars) = &body.vars {
            for (key, value) in vars {
                let mut var_path = path.to_vec();
                var_path.extend(["vars".to_string(), key.clone()]);
                self.tool_variable(&var_path, key)?;
                let group = &self.groups[name];
                if let Some(old) = group.vars.get(key)
                    && old != value
                {
                    return Err(self.invalid(
                        &var_path,
                        format!(
                            "group {name}: variable {key} is defined twice with different values"
                        ),
                    ));
                }
                let line = self.line(&var_path);
                if let Some(group) = self.groups.get_mut(name) {
                    group.vars.insert(key.clone(), value.clone());
                    if let Some(line) = line {
                        group.var_lines.entry(key.clone()).or_insert(line);
                    }
                }
            }
        }
        for (host, vars) in body.hosts.iter().flatten() {
            let mut host_path = path.to_vec();
            host_path.extend(["hosts".to_string(), host.clone()]);
            self.host(name, host, vars.as_ref(), &host_path)?;
        }
        for (child, child_body) in body.children.iter().flatten() {
            let mut child_path = path.to_vec();
            child_path.extend(["children".to_string(), child.clone()]);
            if child == name || child == ALL {
                return Err(self.invalid(
                    &child_path,
                    format!("group {name} cannot have {child} as a child"),
                ));
            }
            self.define(child, Some(name), child_body.as_ref(), &child_path)?;
        }
        Ok(())
    }

    /// A variable named `nxinfra_*` must be one nxinfra reads: a misspelt one would be
    /// ignored without a word (no backups, files in the wrong place).
    fn tool_variable(&self, path: &[String], key: &str) -> Result<(), InventoryError> {
        if super::RESERVED_VARIABLES.contains(&key) {
            return Err(self.invalid(
                path,
                format!(
                    "variable {key} has the name of a variable nxinfra defines for every host \
                     ({}): rename it",
                    super::RESERVED_VARIABLES.join(", ")
                ),
            ));
        }
        if !key.starts_with("nxinfra_") || super::TOOL_VARIABLES.contains(&key) {
            return Ok(());
        }
        let hint = match crate::util::suggest::closest(key, super::TOOL_VARIABLES) {
            Some(close) => format!("did you mean {close}?"),
            None => format!("nxinfra reads {}", super::TOOL_VARIABLES.join(", ")),
        };
        Err(self.invalid(path, format!("unknown nxinfra variable {key} ({hint})")))
    }

    fn host(
        &mut self,
        group: &str,
        name: &str,
        vars: Option<&Vars>,
        path: &[String],
    ) -> Result<(), InventoryError> {
        if !valid_name(name) {
            return Err(self.invalid(
                path,
                format!(
                    "invalid host name {name:?}: host names become folder names under rendered/; \
                     use letters, digits, '_', '-' and '.' (not '.' or '..' alone)"
                ),
            ));
        }
        if self.groups.contains_key(name) {
            return Err(self.invalid(path, format!("{name} is both a group and a host")));
        }
        let mut var_lines = Vec::new();
        for key in vars.into_iter().flatten().map(|(k, _)| k) {
            let mut var_path = path.to_vec();
            var_path.push(key.clone());
            self.tool_variable(&var_path, key)?;
            if let Some(line) = self.line(&var_path) {
                var_lines.push((key.clone(), line));
            }
        }
        let line = self.line(path);
        let host = self.hosts.entry(name.to_string()).or_insert_with(|| Host {
            name: name.to_string(),
            line,
            ..Host::default()
        });
        if !host.direct_groups.iter().any(|g| g == group) {
            host.direct_groups.push(group.to_string());
        }
        for (key, line) in var_lines {
            host.var_lines.entry(key).or_insert(line);
        }
        let mut conflict = None;
        for (key, value) in vars.into_iter().flatten() {
            match host.vars.get(key) {
                Some(old) if old != value => {
                    conflict = Some(key.clone());
                    break;
                }
                _ => {
                    host.vars.insert(key.clone(), value.clone());
                }
            }
        }
        if let Some(key) = conflict {
            let mut var_path = path.to_vec();
            var_path.push(key.clone());
            return Err(self.invalid(
                &var_path,
                format!(
                    "host {name}: variable {key} has different values where the host is listed \
                     more than once; define it in one place"
                ),
            ));
        }
        if let Some(g) = self.groups.get_mut(group)
            && !g.hosts.iter().any(|h| h == name)
        {
            g.hosts.push(name.to_string());
        }
        Ok(())
    }

    fn finish(self) -> Result<Inventory, InventoryError> {
        for (group, path) in &self.references {
            let g = &self.groups[group];
            let undefined = g.hosts.is_empty()
                && g.children.is_empty()
                && g.vars.is_empty()
                && g.parents.iter().all(|p| p != ALL);
            if undefined {
                return Err(self.invalid(
                    path,
                    format!(
                        "unknown group {group:?} in children: it is not defined anywhere \
                         (define it with hosts, vars or children, or fix the name)"
                    ),
                ));
            }
        }
        for name in self.hosts.keys() {
            if self.groups.contains_key(name) {
                let path = vec![name.clone()];
                return Err(self.invalid(&path, format!("{name} is both a group and a host")));
            }
        }
        self.check_cycles()?;
        let hosts = self.hosts.into_iter().collect();
        Ok(Inventory {
            file: self.file.to_path_buf(),
            groups: self.groups,
            hosts,
        })
    }

    fn check_cycles(&self) -> Result<(), InventoryError> {
        // Depth-first search over children; a grey node seen again is a cycle.
        fn visit<'g>(
            groups: &'g IndexMap<String, Group>,
            name: &'g str,
            state: &mut BTreeMap<&'g str, bool>,
            trail: &mut Vec<&'g str>,
        ) -> Option<Vec<String>> {
            match state.get(name) {
                Some(true) => return None,
                Some(false) => {
                    let start = trail.iter().position(|g| *g == name).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        trail[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(name.to_string());
                    return Some(cycle);
                }
                None => {}
            }
            state.insert(name, false);
            trail.push(name);
            for child in groups.get(name).map(|g| &g.children[..]).unwrap_or(&[]) {
                if let Some(cycle) = visit(groups, child, state, trail) {
                    return Some(cycle);
                }
            }
            trail.pop();
            state.insert(name, true);
            None
        }
        let mut state = BTreeMap::new();
        for name in self.groups.keys() {
            if let Some(cycle) = visit(&self.groups, name, &mut state, &mut Vec::new()) {
                return Err(InventoryError::Invalid {
                    location: self.file.display().to_string(),
                    message: format!("groups form a cycle: {}", cycle.join(" → ")),
                });
            }
        }
        Ok(())
    }
}

/// Names become folder names: no path separators, no `.`/`..`, nothing exotic.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(text: &str) -> Result<Inventory, InventoryError> {
        parse(Path::new("inventory.yml"), text)
    }

    const FLEET: &str = "\
all:
  vars:
    ansible_user: nxthdr
core:
  hosts:
    coreams01:
      ansible_host: ams01.core.example
ixp:
  hosts:
    ixpams01:
    ixpfra01:
      tailnet: 100.64.0.3
  vars:
    role: ixp
edge:
  children:
    ixp:
";

    #[test]
    fn groups_hosts_and_children() {
        let inv = inv(FLEET).unwrap();
        assert_eq!(
            inv.hosts.keys().collect::<Vec<_>>(),
            ["coreams01", "ixpams01", "ixpfra01"]
        );
        assert_eq!(inv.groups["ixp"].parents, ["all", "edge"]);
        assert_eq!(inv.groups["edge"].children, ["ixp"]);
        assert_eq!(
            inv.groups_of("ixpfra01").into_iter().collect::<Vec<_>>(),
            ["all", "edge", "ixp"]
        );
        assert_eq!(
            inv.hosts_of_group("edge").into_iter().collect::<Vec<_>>(),
            ["ixpams01", "ixpfra01"]
        );
        assert_eq!(inv.hosts["coreams01"].line, Some(6));
        assert_eq!(inv.groups["ixp"].line, Some(8));
    }

    #[test]
    fn unknown_keys_are_errors_with_lines() {
        let err = inv("core:\n  hostss:\n    a:\n").unwrap_err().to_string();
        assert!(err.contains("inventory.yml:2"), "{err}");
        assert!(err.contains("hostss"), "{err}");
    }

    #[test]
    fn a_misspelt_nxinfra_variable_is_an_error_with_its_line() {
        let err = inv("core:\n  hosts:\n    a:\n      nxinfra_backup: []\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("inventory.yml:4")
                && err.contains(
                    "unknown nxinfra variable nxinfra_backup (did you mean nxinfra_backups?)"
                ),
            "{err}"
        );
        let err = inv("core:\n  hosts:\n    a:\n  vars:\n    nxinfra_colour: red\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("inventory.yml:5") && err.contains("nxinfra reads nxinfra_base_dir"),
            "{err}"
        );
        // Every variable the tool reads is known.
        for known in [
            crate::model::system_files::VARIABLE,
            crate::model::backup::VARIABLE,
            crate::model::wireguard::PEERS_VAR,
        ] {
            assert!(super::super::TOOL_VARIABLES.contains(&known), "{known}");
        }
        assert!(inv("core:\n  hosts:\n    a:\n      nxinfra_base_dir: /srv\n").is_ok());
    }

    #[test]
    fn unknown_child_group_is_an_error() {
        let err = inv("ixp:\n  hosts:\n    a:\nedge:\n  children:\n    ipx:\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("inventory.yml:6"), "{err}");
        assert!(err.contains("unknown group \"ipx\""), "{err}");
    }

    #[test]
    fn child_defined_later_at_top_level_is_fine() {
        let inv = inv("edge:\n  children:\n    ixp:\nixp:\n  hosts:\n    a:\n").unwrap();
        assert_eq!(inv.groups["ixp"].parents, ["edge", "all"]);
    }

    #[test]
    fn cycles_are_errors() {
        let err = inv("a:\n  hosts:\n    h:\n  children:\n    b:\n      children:\n        a:\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cycle"), "{err}");
    }

    #[test]
    fn bad_host_names_are_errors() {
        for name in ["'..'", "a/b", "'../x'"] {
            let err = inv(&format!("g:\n  hosts:\n    {name}:\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("invalid host name"), "{name}: {err}");
        }
    }

    #[test]
    fn host_listed_twice_with_conflicting_vars() {
        let err = inv("a:\n  hosts:\n    h:\n      x: 1\nb:\n  hosts:\n    h:\n      x: 2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("inventory.yml:8"), "{err}");
        assert!(err.contains("variable x"), "{err}");
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        // A second `ixp:` would silently drop the first one's hosts.
        let err = inv("ixp:\n  hosts:\n    a:\ncore:\n  hosts:\n    c:\nixp:\n  hosts:\n    b:\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("inventory.yml:7: duplicate key \"ixp\" (first written at line 1)"),
            "{err}"
        );
        let err = inv("g:\n  hosts:\n    a:\n      ansible_host: x\n      ansible_host: y\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "inventory.yml:5: g.hosts.a: duplicate key \"ansible_host\" (first written at line 4)"
            ) || err.starts_with(
                "inventory.yml:5: duplicate key \"ansible_host\" (first written at line 4)"
            ),
            "{err}"
        );
    }

    #[test]
    fn merge_keys_are_merged_as_ansible_does() {
        let inv = inv(
            "g:\n  hosts:\n    a: &defaults\n      ansible_user: ops\n      port: 1\n    \
                       b:\n      <<: *defaults\n      port: 2\n",
        )
        .unwrap();
        let b = &inv.hosts["b"].vars;
        assert_eq!(b["ansible_user"], "ops");
        assert_eq!(b["port"], 2);
        assert!(!b.contains_key("<<"), "{b:?}");
    }

    #[test]
    fn special_floats_are_refused_with_their_line() {
        let err = inv("g:\n  hosts:\n    a:\n      ratio: .nan\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("inventory.yml:4"), "{err}");
        assert!(err.contains(".nan, .inf, -.inf"), "{err}");
    }

    #[test]
    fn reserved_variable_names_are_errors() {
        for name in super::super::RESERVED_VARIABLES {
            let err = inv(&format!("g:\n  hosts:\n    a:\n  vars:\n    {name}: x\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("inventory.yml:5") && err.contains(&format!("variable {name} ")),
                "{err}"
            );
        }
    }

    #[test]
    fn empty_inventory_has_no_hosts() {
        let inv = inv("").unwrap();
        assert!(inv.hosts.is_empty());
        assert!(inv.groups.contains_key(ALL));
    }
}

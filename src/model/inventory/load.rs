//! The builder every inventory source feeds (YAML and INI files, scripts, vars files): groups,
//! hosts and variables added with where they were written, checked as they come (names,
//! `nxinfra_*` variables, a variable set twice differently) and at the end (undefined
//! children, cycles).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;

use super::{ALL, Group, Host, Inventory, InventoryError, Level, Origin, Setting};

/// Parses the text of one YAML inventory file; `file` is used in error messages only.
pub fn parse(file: &Path, text: &str) -> Result<Inventory, InventoryError> {
    let mut builder = Builder::new(file);
    super::yaml::read(&mut builder, &Arc::from(file), text)?;
    builder.finish()
}

/// How a variable is being set: where, at which level, secret or not.
#[derive(Debug, Clone)]
pub struct At {
    pub origin: Origin,
    pub level: Level,
    pub secret: bool,
}

impl At {
    pub fn source(origin: Origin) -> Self {
        At {
            origin,
            level: Level::Source,
            secret: false,
        }
    }
}

pub struct Builder {
    /// The inventory's folder or file, for messages with no better place.
    file: std::path::PathBuf,
    groups: IndexMap<String, Group>,
    hosts: BTreeMap<String, Host>,
    /// Groups named as children without a body: each must be defined somewhere.
    references: Vec<(String, Origin)>,
    /// The files and scripts read.
    pub sources: Vec<std::path::PathBuf>,
    /// Groups defined with a body (hosts, vars or children), a section, or a script's key.
    defined: std::collections::BTreeSet<String>,
}

pub fn invalid(at: &Origin, message: String) -> InventoryError {
    InventoryError::Invalid {
        location: at.to_string(),
        message,
    }
}

impl Builder {
    pub fn new(file: &Path) -> Self {
        let mut builder = Builder {
            file: file.to_path_buf(),
            groups: IndexMap::new(),
            hosts: BTreeMap::new(),
            references: Vec::new(),
            defined: Default::default(),
            sources: Vec::new(),
        };
        builder.groups.insert(
            ALL.to_string(),
            Group {
                name: ALL.to_string(),
                ..Group::default()
            },
        );
        builder
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.groups.contains_key(name)
    }

    pub fn has_host(&self, name: &str) -> bool {
        self.hosts.contains_key(name)
    }

    pub fn group_names(&self) -> Vec<&str> {
        self.groups.keys().map(String::as_str).collect()
    }

    pub fn host_names(&self) -> Vec<&str> {
        self.hosts.keys().map(String::as_str).collect()
    }

    /// Defines the group `name` at `at` (a body of its own, a section): a top-level
    /// definition, making it a child of `all` as Ansible's YAML inventory does.
    pub fn define(&mut self, name: &str, at: &Origin) -> Result<(), InventoryError> {
        self.group(name, at)?;
        self.defined.insert(name.to_string());
        if name != ALL
            && let Some(g) = self.groups.get_mut(name)
            && !g.parents.iter().any(|p| p == ALL)
        {
            g.parents.push(ALL.to_string());
        }
        Ok(())
    }

    pub fn is_defined(&self, name: &str) -> bool {
        self.defined.contains(name)
    }

    /// Marks `name` as defined with a body without making it a child of `all`.
    pub fn defined(&mut self, name: &str) {
        self.defined.insert(name.to_string());
    }

    /// The group `name`, created (first seen at `at`) if new.
    pub fn group(&mut self, name: &str, at: &Origin) -> Result<(), InventoryError> {
        if !valid_name(name) {
            return Err(invalid(
                at,
                format!("invalid group name {name:?}: use letters, digits, '_', '-' and '.'"),
            ));
        }
        if self.hosts.contains_key(name) {
            return Err(invalid(at, format!("{name} is both a group and a host")));
        }
        let group = self
            .groups
            .entry(name.to_string())
            .or_insert_with(|| Group {
                name: name.to_string(),
                ..Group::default()
            });
        if group.origin.is_none() && name != ALL {
            group.origin = Some(at.clone());
        }
        Ok(())
    }

    /// Makes `child` a child of `parent` (both defined as groups if new).
    pub fn child(&mut self, parent: &str, child: &str, at: &Origin) -> Result<(), InventoryError> {
        if child == parent || child == ALL {
            return Err(invalid(
                at,
                format!("group {parent} cannot have {child} as a child"),
            ));
        }
        self.group(parent, at)?;
        self.group(child, at)?;
        if let Some(p) = self.groups.get_mut(parent)
            && !p.children.iter().any(|c| c == child)
        {
            p.children.push(child.to_string());
        }
        if let Some(c) = self.groups.get_mut(child)
            && !c.parents.iter().any(|p| p == parent)
        {
            c.parents.push(parent.to_string());
        }
        Ok(())
    }

    /// `child` was named without a body: it must be defined somewhere else.
    pub fn reference(&mut self, child: &str, at: &Origin) {
        self.references.push((child.to_string(), at.clone()));
    }

    /// Sets a group's variable; set before to another value is an error naming both places.
    pub fn group_var(
        &mut self,
        group: &str,
        key: &str,
        value: &Value,
        at: &At,
    ) -> Result<(), InventoryError> {
        tool_variable(&at.origin, key)?;
        let Some(g) = self.groups.get_mut(group) else {
            return Err(invalid(&at.origin, format!("unknown group {group}")));
        };
        set(
            &mut g.vars,
            &mut g.settings,
            &format!("group {group}"),
            key,
            value,
            at,
        )
    }

    /// Lists `name` as a host of `group`.
    pub fn host(&mut self, group: &str, name: &str, at: &Origin) -> Result<(), InventoryError> {
        if !valid_name(name) {
            return Err(invalid(
                at,
                format!(
                    "invalid host name {name:?}: host names become folder names under rendered/; \
                     use letters, digits, '_', '-' and '.' (not '.' or '..' alone)"
                ),
            ));
        }
        if self.groups.contains_key(name) {
            return Err(invalid(at, format!("{name} is both a group and a host")));
        }
        self.group(group, at)?;
        let host = self.hosts.entry(name.to_string()).or_insert_with(|| Host {
            name: name.to_string(),
            ..Host::default()
        });
        if host.origin.is_none() {
            host.origin = Some(at.clone());
        }
        if !host.direct_groups.iter().any(|g| g == group) {
            host.direct_groups.push(group.to_string());
        }
        if let Some(g) = self.groups.get_mut(group)
            && !g.hosts.iter().any(|h| h == name)
        {
            g.hosts.push(name.to_string());
        }
        Ok(())
    }

    /// Lists the hosts of a host pattern (`web[01:03]`, `name:PORT`) in `group`, the port as
    /// their `ansible_port`; returns their names.
    pub fn hosts(
        &mut self,
        group: &str,
        pattern: &str,
        at: &Origin,
    ) -> Result<Vec<String>, InventoryError> {
        let (hosts, port) = super::pattern::expand(pattern)
            .map_err(|e| invalid(at, format!("host pattern {pattern:?}: {e}")))?;
        for host in &hosts {
            self.host(group, host, at)?;
            if let Some(port) = port {
                self.host_var(host, "ansible_port", &port.into(), &At::source(at.clone()))?;
            }
        }
        Ok(hosts)
    }

    /// Sets a host's own variable; set before to another value is an error naming both places.
    pub fn host_var(
        &mut self,
        host: &str,
        key: &str,
        value: &Value,
        at: &At,
    ) -> Result<(), InventoryError> {
        tool_variable(&at.origin, key)?;
        let Some(h) = self.hosts.get_mut(host) else {
            return Err(invalid(&at.origin, format!("unknown host {host}")));
        };
        set(
            &mut h.vars,
            &mut h.settings,
            &format!("host {host}"),
            key,
            value,
            at,
        )
    }

    pub fn finish(mut self) -> Result<Inventory, InventoryError> {
        for (group, at) in &self.references {
            if !self.defined.contains(group) {
                return Err(invalid(
                    at,
                    format!(
                        "unknown group {group:?} in children: it is not defined anywhere \
                         (define it with hosts, vars or children, or fix the name)"
                    ),
                ));
            }
        }
        self.check_cycles()?;
        // A group no source gave a parent (a script's, say) is a child of `all`.
        for g in self.groups.values_mut() {
            if g.name != ALL && g.parents.is_empty() {
                g.parents.push(ALL.to_string());
            }
        }
        let hosts = self.hosts.into_iter().collect();
        Ok(Inventory {
            file: self.file,
            sources: self.sources,
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
                let location = self.groups[cycle[0].as_str()]
                    .origin
                    .as_ref()
                    .map(Origin::to_string)
                    .unwrap_or_else(|| self.file.display().to_string());
                return Err(InventoryError::Invalid {
                    location,
                    message: format!("groups form a cycle: {}", cycle.join(" → ")),
                });
            }
        }
        Ok(())
    }
}

/// Sets `key` in one scope (a group's or a host's variables). The same value again is fine
/// (the higher level and a secret mark are kept); another value is an error naming both
/// places: Ansible would take one by its precedence rules without a word.
fn set(
    vars: &mut super::Vars,
    settings: &mut BTreeMap<String, Setting>,
    scope: &str,
    key: &str,
    value: &Value,
    at: &At,
) -> Result<(), InventoryError> {
    if let Some(old) = vars.get(key) {
        let before = settings.get(key).map(|s| s.origin.clone());
        if old != value {
            let before = match &before {
                Some(o) if *o == at.origin => "the same place".to_string(),
                Some(o) => o.to_string(),
                None => "another place".to_string(),
            };
            return Err(invalid(
                &at.origin,
                format!(
                    "{scope}: variable {key} is set to different values here and in {before}; \
                     set it in one place"
                ),
            ));
        }
        if let Some(s) = settings.get_mut(key) {
            s.secret |= at.secret;
            if at.level > s.level {
                s.level = at.level;
                s.origin = at.origin.clone();
            }
        }
        return Ok(());
    }
    vars.insert(key.to_string(), value.clone());
    settings.insert(
        key.to_string(),
        Setting {
            origin: at.origin.clone(),
            level: at.level,
            secret: at.secret,
        },
    );
    Ok(())
}

/// A variable named `nxinfra_*` must be one nxinfra reads: a misspelt one would be ignored
/// without a word (no backups, files in the wrong place).
fn tool_variable(at: &Origin, key: &str) -> Result<(), InventoryError> {
    if super::RESERVED_VARIABLES.contains(&key) {
        return Err(invalid(
            at,
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
    Err(invalid(
        at,
        format!("unknown nxinfra variable {key} ({hint})"),
    ))
}

/// Names become folder names: no path separators, no `.`/`..`, nothing exotic.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

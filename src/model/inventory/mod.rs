//! The Ansible-style inventory: groups, hosts, and the merged variables of every host.
//!
//! `load` parses `inventory/inventory.yml` into an [`Inventory`]; `limit` selects hosts with
//! `--limit` patterns; `merge` computes a host's variables with Ansible's precedence.

pub mod limit;
mod load;
mod merge;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use indexmap::IndexMap;
use serde_json::Value;

pub use load::{load, parse};

/// Variables as written in the inventory (insertion order kept).
pub type Vars = IndexMap<String, Value>;

/// The inventory variables nxinfra itself reads; any other `nxinfra_*` is an error.
pub const TOOL_VARIABLES: &[&str] = &[
    "nxinfra_base_dir",
    "nxinfra_docker_socket",
    "nxinfra_fleet",
    "nxinfra_system_files",
    "nxinfra_backups",
    "nxinfra_checks",
    "nxinfra_wireguard_peers",
    "nxinfra_cluster",
    "nxinfra_swarm_role",
    "nxinfra_swarm_advertise",
    "nxinfra_swarm_labels",
    "nxinfra_history",
    "nxinfra_keep_deploys",
    "nxinfra_hold",
    "nxinfra_hold_paths",
];

/// The variables the template context defines for every host (Ansible's magic variables, and
/// `secrets`): an inventory variable or a top-level secrets key with one of these names would
/// be hidden by them (or hide them), so it is an error.
pub const RESERVED_VARIABLES: &[&str] = &[
    "inventory_hostname",
    "group_names",
    "groups",
    "hostvars",
    "secrets",
];

/// The group every host belongs to.
pub const ALL: &str = "all";

#[derive(Debug)]
pub struct Inventory {
    /// The file the inventory was read from (for error messages).
    pub file: PathBuf,
    /// Every group, `all` included, in the order they are first written.
    pub groups: IndexMap<String, Group>,
    /// Every host, sorted by name.
    pub hosts: IndexMap<String, Host>,
}

#[derive(Debug, Default)]
pub struct Group {
    pub name: String,
    pub vars: Vars,
    /// Hosts listed directly under this group's `hosts:`.
    pub hosts: Vec<String>,
    pub children: Vec<String>,
    pub parents: Vec<String>,
    /// 1-based line where the group is first defined, when known.
    pub line: Option<usize>,
    /// 1-based line of each of its variables, when written in block style.
    pub var_lines: BTreeMap<String, usize>,
}

#[derive(Debug, Default)]
pub struct Host {
    pub name: String,
    /// The host's own variables (merged from every place the host is listed).
    pub vars: Vars,
    /// Groups listing the host directly.
    pub direct_groups: Vec<String>,
    /// 1-based line where the host is first listed, when known.
    pub line: Option<usize>,
    /// 1-based line of each of its own variables, when written in block style.
    pub var_lines: BTreeMap<String, usize>,
}

/// An inventory that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Yaml(#[from] crate::util::yaml::YamlError),
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "--limit {given:?} holds no host or group pattern (an unset variable?): refusing to \
         act on every host; leave --limit out to select them all"
    )]
    EmptyLimit { given: String },
    #[error("--limit {pattern:?} matches no host or group (hosts: {known})")]
    NoMatch { pattern: String, known: String },
    #[error("unknown host {host:?} (hosts: {known})")]
    UnknownHost { host: String, known: String },
}

impl Inventory {
    /// Every group the host belongs to, directly or through `children`, `all` included.
    pub fn groups_of(&self, host: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<String> = self
            .hosts
            .get(host)
            .map(|h| h.direct_groups.clone())
            .unwrap_or_default();
        while let Some(g) = todo.pop() {
            if out.insert(g.clone())
                && let Some(group) = self.groups.get(&g)
            {
                todo.extend(group.parents.iter().cloned());
            }
        }
        out.insert(ALL.to_string());
        out
    }

    /// Hosts of a group, directly or through its children.
    pub fn hosts_of_group(&self, group: &str) -> BTreeSet<String> {
        if group == ALL {
            return self.hosts.keys().cloned().collect();
        }
        let mut out = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut todo = vec![group.to_string()];
        while let Some(g) = todo.pop() {
            if !seen.insert(g.clone()) {
                continue;
            }
            if let Some(group) = self.groups.get(&g) {
                out.extend(group.hosts.iter().cloned());
                todo.extend(group.children.iter().cloned());
            }
        }
        out
    }

    /// The merged inventory variables of `host` (group vars < host vars), without secrets.
    pub fn host_vars(&self, host: &str) -> Result<Vars, InventoryError> {
        merge::host_vars(self, host)
    }

    /// Where the value of `host`'s `variable` comes from, as `FILE:LINE`: the host's own
    /// definition, else that of the deepest of its groups that sets it (the one whose value
    /// wins, as [`Inventory::host_vars`] merges them); the file alone when the line is not
    /// known (flow style).
    pub fn origin(&self, host: &str, variable: &str) -> String {
        let file = self.file.display();
        let line = self.hosts.get(host).and_then(|h| {
            if h.vars.contains_key(variable) {
                return h.var_lines.get(variable).copied();
            }
            merge::winning_group(self, host, variable)
                .and_then(|g| self.groups.get(&g)?.var_lines.get(variable).copied())
        });
        match line {
            Some(line) => format!("{file}:{line}"),
            None => file.to_string(),
        }
    }

    /// Fails with the list of known hosts when `host` is not in the inventory.
    pub fn require_host(&self, host: &str) -> Result<&Host, InventoryError> {
        self.hosts
            .get(host)
            .ok_or_else(|| InventoryError::UnknownHost {
                host: host.to_string(),
                known: self.hosts.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// `groups`: every group → its hosts (sorted), as Ansible's magic variable.
    pub fn groups_map(&self) -> IndexMap<String, Vec<String>> {
        self.groups
            .keys()
            .map(|g| (g.clone(), self.hosts_of_group(g).into_iter().collect()))
            .collect()
    }
}

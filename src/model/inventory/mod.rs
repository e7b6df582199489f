//! The Ansible-style inventory: groups, hosts, and the merged variables of every host.
//!
//! `sources` reads the `inventory/` folder as Ansible does (YAML and INI files, executable
//! inventory scripts, `group_vars/` and `host_vars/`, vault-encrypted vars files) into one
//! [`Inventory`] through `load`'s builder; `yaml`, `ini`, `script` and `vars_files` parse each
//! kind of source; `limit` selects hosts with `--limit` patterns; `merge` computes a host's
//! variables with Ansible's precedence (and refuses where it would surprise).

pub mod ini;
pub mod limit;
pub mod load;
mod merge;
mod pattern;
mod pylit;
mod script;
mod sources;
mod vars_files;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;

pub use load::parse;
pub use sources::{Options, Unlock, load, load_dir};

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

/// Where something is written: a file and, when known, a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<Path>,
    pub line: Option<usize>,
}

impl Origin {
    pub fn new(file: &Arc<Path>, line: Option<usize>) -> Self {
        Origin {
            file: file.clone(),
            line,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file.display()),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// Which of Ansible's precedence levels a variable was set at: group and host variables of an
/// inventory source (a file or a script) < `group_vars/` and `host_vars/` beside the inventory
/// (`inventory/group_vars/`) < those of the repository's root (where Ansible's playbooks
/// are: `group_vars/`). Ordered as Ansible ranks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Source,
    InventoryDir,
    RootDir,
}

/// How one variable of a group or a host was set: where, at which level, and whether it came
/// from a vault-encrypted vars file (then it is a secret: redacted, its files 0600).
#[derive(Debug, Clone)]
pub struct Setting {
    pub origin: Origin,
    pub level: Level,
    pub secret: bool,
}

#[derive(Debug)]
pub struct Inventory {
    /// The inventory's folder, or the one file it was parsed from (for error messages).
    pub file: PathBuf,
    /// The inventory files and scripts read, in order.
    pub sources: Vec<PathBuf>,
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
    /// Where the group is first defined.
    pub origin: Option<Origin>,
    /// How each of its variables was set.
    pub settings: BTreeMap<String, Setting>,
}

#[derive(Debug, Default)]
pub struct Host {
    pub name: String,
    /// The host's own variables (merged from every place the host is listed).
    pub vars: Vars,
    /// Groups listing the host directly.
    pub direct_groups: Vec<String>,
    /// Where the host is first listed.
    pub origin: Option<Origin>,
    /// How each of its own variables was set.
    pub settings: BTreeMap<String, Setting>,
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
        Ok(merge::host_vars(self, host)?.0)
    }

    /// The merged inventory variables of `host`, and the names of those whose values come
    /// from a vault-encrypted vars file.
    pub fn host_vars_marked(&self, host: &str) -> Result<(Vars, BTreeSet<String>), InventoryError> {
        merge::host_vars(self, host)
    }

    /// Where the value of `host`'s `variable` comes from, as `FILE:LINE`: the host's own
    /// definition, else that of the deepest of its groups that sets it (the one whose value
    /// wins, as [`Inventory::host_vars`] merges them); the file alone when the line is not
    /// known (flow style, a script's output).
    pub fn origin(&self, host: &str, variable: &str) -> String {
        match self.setting(host, variable) {
            Some(setting) => setting.origin.to_string(),
            None => self
                .hosts
                .get(host)
                .and_then(|h| h.origin.as_ref())
                .map(Origin::to_string)
                .unwrap_or_else(|| self.file.display().to_string()),
        }
    }

    /// How the value `host` gets for `variable` was set: by the host, else by the group whose
    /// value wins.
    pub fn setting(&self, host: &str, variable: &str) -> Option<&Setting> {
        let h = self.hosts.get(host)?;
        if h.vars.contains_key(variable) {
            return h.settings.get(variable);
        }
        let group = merge::winning_group(self, host, variable)?;
        self.groups.get(&group)?.settings.get(variable)
    }

    /// The variables of `host` whose values come from a vault-encrypted vars file.
    pub fn secret_vars(&self, host: &str) -> Result<BTreeSet<String>, InventoryError> {
        Ok(merge::host_vars(self, host)?.1)
    }

    /// Every value read from a vault-encrypted vars file, as `(where, value)` leaves: for the
    /// redactor, so that none is ever printed.
    pub fn secret_leaves(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let scopes = self
            .groups
            .values()
            .map(|g| (&g.vars, &g.settings))
            .chain(self.hosts.values().map(|h| (&h.vars, &h.settings)));
        for (vars, settings) in scopes {
            for (key, setting) in settings.iter().filter(|(_, s)| s.secret) {
                if let Some(value) = vars.get(key) {
                    let path = format!("{}:{key}", setting.origin.file.display());
                    crate::util::redact::leaves(&path, value, &mut out);
                }
            }
        }
        out
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

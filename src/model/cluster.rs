//! Clusters, read from the inventory: a group whose own vars set `nxinfra_cluster: swarm` is a
//! Docker Swarm whose nodes are the group's hosts (docs/cluster.md).
//!
//! Per host: `nxinfra_swarm_role` (`manager` or `worker`; unset, the first three hosts of the
//! group in inventory order are managers and the rest workers), `nxinfra_swarm_advertise`
//! (the address the other nodes reach it at; default `ansible_host`, which must then be an IP
//! address) and `nxinfra_swarm_labels` (node labels, beside `nxinfra.host=<name>`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde_json::Value;

use crate::model::inventory::{Inventory, Vars};

/// The group variable that makes a group a cluster.
pub const CLUSTER: &str = "nxinfra_cluster";
/// A node's role.
pub const ROLE: &str = "nxinfra_swarm_role";
/// The address a node advertises to the others.
pub const ADVERTISE: &str = "nxinfra_swarm_advertise";
/// A node's own labels.
pub const LABELS: &str = "nxinfra_swarm_labels";
/// The label every node carries: the inventory name of its host.
pub const HOST_LABEL: &str = "nxinfra.host";
/// How many hosts are managers when no role is set: three managers survive the loss of one.
pub const DEFAULT_MANAGERS: usize = 3;

/// A node's part in the swarm's control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Manager,
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Worker => "worker",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One host as a node of its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub host: String,
    pub role: Role,
    /// What `swarm init` / `join` advertise: an IP address.
    pub advertise: IpAddr,
    /// Every label the node must carry: `nxinfra.host` and `nxinfra_swarm_labels`.
    pub labels: BTreeMap<String, String>,
}

/// A swarm: a group and its hosts as nodes, in inventory order (the first manager is where a
/// new swarm is initialised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub group: String,
    pub nodes: Vec<Node>,
    /// What is allowed but unwise (an even number of managers), said before any work.
    pub warnings: Vec<String>,
}

impl Cluster {
    pub fn managers(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.role == Role::Manager)
    }

    pub fn node(&self, host: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.host == host)
    }
}

/// A cluster setting that cannot be used, located in the inventory.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{location}: {subject}: {variable}: {reason}")]
pub struct ClusterError {
    /// `inventory/inventory.yml:LINE` (the line of the group or host that sets it).
    pub location: String,
    /// `group core` or `host h1`.
    pub subject: String,
    pub variable: &'static str,
    /// Boxed: a `Result` of the clusters stays small.
    pub reason: Box<Reason>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Reason {
    #[error("{0} is not a cluster engine nxinfra drives (it drives: swarm)")]
    Engine(Value),
    #[error("set it on a group (its hosts are the cluster's nodes), not on a host")]
    OnHost,
    #[error("the group has no hosts")]
    Empty,
    #[error("the host is already a node of cluster {0}: a host is in one cluster at most")]
    TwoClusters(String),
    #[error("{0} is not a role (manager or worker)")]
    Role(Value),
    #[error("no node is a manager: a swarm needs at least one")]
    NoManager,
    #[error(
        "{0} is not an IP address; set nxinfra_swarm_advertise to the address the other nodes \
         reach this one at"
    )]
    Advertise(String),
    #[error("expected a mapping of label names to values, got {0}")]
    Labels(Value),
    #[error("label {0:?}: {1}")]
    Label(String, &'static str),
    #[error("the host is in no cluster group (a group with nxinfra_cluster: swarm)")]
    NotInCluster,
}

/// Every cluster of the inventory, in the order its groups are written.
pub fn clusters(inv: &Inventory) -> Result<Vec<Cluster>, ClusterError> {
    let mut out: Vec<Cluster> = Vec::new();
    let mut member: BTreeMap<String, String> = BTreeMap::new();
    for (name, group) in &inv.groups {
        let Some(engine) = group.vars.get(CLUSTER) else {
            continue;
        };
        let located = |variable, reason| ClusterError {
            location: location(inv, group.origin.as_ref()),
            subject: format!("group {name}"),
            variable,
            reason: Box::new(reason),
        };
        if engine != &Value::String("swarm".into()) {
            return Err(located(CLUSTER, Reason::Engine(engine.clone())));
        }
        let hosts = hosts_in_order(inv, name);
        if hosts.is_empty() {
            return Err(located(CLUSTER, Reason::Empty));
        }
        let mut nodes = Vec::new();
        for (i, host) in hosts.iter().enumerate() {
            if let Some(other) = member.insert(host.clone(), name.clone()) {
                let error = host_error(inv, host, CLUSTER, Reason::TwoClusters(other));
                return Err(error);
            }
            let vars = inv
                .host_vars(host)
                .map_err(|_| host_error(inv, host, CLUSTER, Reason::NotInCluster))?;
            nodes.push(node(inv, host, &vars, i < DEFAULT_MANAGERS)?);
        }
        let managers = nodes.iter().filter(|n| n.role == Role::Manager).count();
        if managers == 0 {
            return Err(located(ROLE, Reason::NoManager));
        }
        let mut warnings = Vec::new();
        if managers % 2 == 0 {
            warnings.push(format!(
                "cluster {name}: {managers} managers: an even number tolerates no more lost \
                 managers than {} would (a majority must stay); make it odd",
                managers - 1
            ));
        }
        out.push(Cluster {
            group: name.clone(),
            nodes,
            warnings,
        });
    }
    check_outsiders(inv, &member)?;
    Ok(out)
}

/// A host's settings as a node; `first` hosts (the first three) default to manager.
fn node(inv: &Inventory, host: &str, vars: &Vars, first: bool) -> Result<Node, ClusterError> {
    let bad = |variable, reason| host_error(inv, host, variable, reason);
    if inv
        .hosts
        .get(host)
        .is_some_and(|h| h.vars.contains_key(CLUSTER))
    {
        return Err(bad(CLUSTER, Reason::OnHost));
    }
    let role = match vars.get(ROLE) {
        None | Some(Value::Null) if first => Role::Manager,
        None | Some(Value::Null) => Role::Worker,
        Some(Value::String(s)) if s == "manager" => Role::Manager,
        Some(Value::String(s)) if s == "worker" => Role::Worker,
        Some(other) => return Err(bad(ROLE, Reason::Role(other.clone()))),
    };
    let (variable, address) = match (vars.get(ADVERTISE), vars.get("ansible_host")) {
        (Some(Value::String(a)), _) => (ADVERTISE, a.trim().to_string()),
        (Some(other), _) => (ADVERTISE, other.to_string()),
        (None, Some(Value::String(a))) => ("ansible_host", a.trim().to_string()),
        (None, _) => ("ansible_host", host.to_string()),
    };
    let advertise: IpAddr = address.parse().map_err(|_| {
        bad(
            ADVERTISE,
            Reason::Advertise(format!("{variable} {address:?}")),
        )
    })?;
    let mut labels = BTreeMap::from([(HOST_LABEL.to_string(), host.to_string())]);
    match vars.get(LABELS) {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                let why = label_problem(key);
                if let Some(why) = why {
                    return Err(bad(LABELS, Reason::Label(key.clone(), why)));
                }
                let value = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(bad(
                            LABELS,
                            Reason::Label(key.clone(), "not a scalar value"),
                        ));
                    }
                };
                labels.insert(key.clone(), value);
            }
        }
        Some(other) => return Err(bad(LABELS, Reason::Labels(other.clone()))),
    }
    Ok(Node {
        host: host.to_string(),
        role,
        advertise,
        labels,
    })
}

/// Why `key` cannot be a node label, if it cannot.
fn label_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c.is_control() || c == '=') {
        return Some("a label name has no spaces, control characters or '='");
    }
    if key == HOST_LABEL || key.starts_with("nxinfra.") {
        return Some("names starting with nxinfra. are nxinfra's own");
    }
    None
}

/// A host outside every cluster that sets a node's variable is a mistake (a typo in a group,
/// a host left out): said, not ignored.
fn check_outsiders(inv: &Inventory, member: &BTreeMap<String, String>) -> Result<(), ClusterError> {
    for host in inv.hosts.keys() {
        if member.contains_key(host) {
            continue;
        }
        let Ok(vars) = inv.host_vars(host) else {
            continue;
        };
        for variable in [ROLE, ADVERTISE, LABELS, CLUSTER] {
            if vars.contains_key(variable) {
                let reason = if variable == CLUSTER {
                    Reason::OnHost
                } else {
                    Reason::NotInCluster
                };
                return Err(host_error(inv, host, variable, reason));
            }
        }
    }
    Ok(())
}

/// The group's hosts in the order the inventory lists them: its own, then each child's,
/// depth first; each once.
pub fn hosts_in_order(inv: &Inventory, group: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen_hosts = BTreeSet::new();
    let mut seen_groups = BTreeSet::new();
    let mut todo = vec![group.to_string()];
    while let Some(g) = todo.pop() {
        if !seen_groups.insert(g.clone()) {
            continue;
        }
        let Some(group) = inv.groups.get(&g) else {
            continue;
        };
        for h in &group.hosts {
            if seen_hosts.insert(h.clone()) {
                out.push(h.clone());
            }
        }
        todo.extend(group.children.iter().rev().cloned());
    }
    out
}

fn host_error(inv: &Inventory, host: &str, variable: &'static str, reason: Reason) -> ClusterError {
    // The line of whatever sets it: the host itself, else the first of its groups that does.
    let origin = match inv.hosts.get(host) {
        Some(h) if h.vars.contains_key(variable) => h.origin.as_ref(),
        Some(h) => inv
            .groups_of(host)
            .iter()
            .filter_map(|g| inv.groups.get(g))
            .find(|g| g.vars.contains_key(variable))
            .and_then(|g| g.origin.as_ref())
            .or(h.origin.as_ref()),
        None => None,
    };
    ClusterError {
        location: location(inv, origin),
        subject: format!("host {host}"),
        variable,
        reason: Box::new(reason),
    }
}

fn location(inv: &Inventory, origin: Option<&crate::model::inventory::Origin>) -> String {
    match origin {
        Some(o) => o.to_string(),
        None => inv.file.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn inventory(text: &str) -> Inventory {
        crate::model::inventory::parse(Path::new("inventory.yml"), text).unwrap()
    }

    fn error(text: &str) -> String {
        clusters(&inventory(text)).unwrap_err().to_string()
    }

    #[test]
    fn the_first_three_hosts_are_managers_the_rest_workers_in_inventory_order() {
        let inv = inventory(
            "swarm:\n  vars:\n    nxinfra_cluster: swarm\n  hosts:\n\
             \x20   n4: {ansible_host: 10.0.0.4}\n    n1: {ansible_host: 10.0.0.1}\n\
             \x20   n3: {ansible_host: 10.0.0.3, nxinfra_swarm_labels: {zone: a, rack: 2}}\n\
             \x20   n2: {ansible_host: 'fd00::2'}\n\
             other:\n  hosts:\n    solo: {ansible_host: 10.0.0.9}\n",
        );
        let all = clusters(&inv).unwrap();
        assert_eq!(all.len(), 1);
        let c = &all[0];
        assert_eq!(c.group, "swarm");
        let roles: Vec<(&str, Role)> = c.nodes.iter().map(|n| (n.host.as_str(), n.role)).collect();
        assert_eq!(
            roles,
            [
                ("n4", Role::Manager),
                ("n1", Role::Manager),
                ("n3", Role::Manager),
                ("n2", Role::Worker)
            ]
        );
        assert_eq!(c.nodes[3].advertise, "fd00::2".parse::<IpAddr>().unwrap());
        assert_eq!(
            c.nodes[2].labels,
            BTreeMap::from([
                ("nxinfra.host".to_string(), "n3".to_string()),
                ("rack".to_string(), "2".to_string()),
                ("zone".to_string(), "a".to_string())
            ])
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert!(c.node("solo").is_none());
    }

    #[test]
    fn declared_roles_and_addresses_win_and_an_even_number_of_managers_is_a_warning() {
        let inv = inventory(
            "swarm:\n  vars:\n    nxinfra_cluster: swarm\n  hosts:\n\
             \x20   a: {ansible_host: a.example, nxinfra_swarm_advertise: 10.0.0.1}\n\
             \x20   b: {ansible_host: 10.0.0.2, nxinfra_swarm_role: worker}\n\
             \x20   c: {ansible_host: 10.0.0.3}\n    d: {ansible_host: 10.0.0.4, nxinfra_swarm_role: manager}\n",
        );
        let c = &clusters(&inv).unwrap()[0];
        let managers: Vec<&str> = c.managers().map(|n| n.host.as_str()).collect();
        assert_eq!(managers, ["a", "c", "d"]);
        assert_eq!(c.nodes[0].advertise, "10.0.0.1".parse::<IpAddr>().unwrap());

        let even = inventory(
            "swarm:\n  vars: {nxinfra_cluster: swarm}\n  hosts:\n\
             \x20   a: {ansible_host: 10.0.0.1}\n    b: {ansible_host: 10.0.0.2}\n",
        );
        let c = &clusters(&even).unwrap()[0];
        assert_eq!(c.warnings.len(), 1);
        assert!(
            c.warnings[0].starts_with("cluster swarm: 2 managers"),
            "{}",
            c.warnings[0]
        );
    }

    #[test]
    fn hosts_of_child_groups_follow_the_groups_own_in_order() {
        let inv = inventory(
            "swarm:\n  vars: {nxinfra_cluster: swarm}\n  hosts:\n    z: {ansible_host: 10.0.0.26}\n\
             \x20 children:\n    east:\n      hosts:\n        y: {ansible_host: 10.0.0.25}\n\
             \x20   west:\n      hosts:\n        x: {ansible_host: 10.0.0.24}\n        z:\n",
        );
        assert_eq!(hosts_in_order(&inv, "swarm"), ["z", "y", "x"]);
    }

    #[test]
    fn bad_settings_are_errors_naming_file_line_subject_and_variable() {
        let cases = [
            (
                "g:\n  vars:\n    nxinfra_cluster: kubernetes\n  hosts:\n    a: {ansible_host: 10.0.0.1}\n",
                "inventory.yml:1: group g: nxinfra_cluster: \"kubernetes\" is not a cluster engine",
            ),
            (
                "g:\n  vars: {nxinfra_cluster: swarm}\n  hosts:\n    a:\n      ansible_host: 10.0.0.1\n      nxinfra_swarm_role: leader\n",
                "inventory.yml:4: host a: nxinfra_swarm_role: \"leader\" is not a role",
            ),
            (
                "g:\n  vars: {nxinfra_cluster: swarm}\n  hosts:\n    a: {ansible_host: a.example}\n",
                "host a: nxinfra_swarm_advertise: ansible_host \"a.example\" is not an IP address",
            ),
            (
                "g:\n  vars: {nxinfra_cluster: swarm}\n  hosts:\n    a: {ansible_host: 10.0.0.1, nxinfra_swarm_labels: [zone]}\n",
                "host a: nxinfra_swarm_labels: expected a mapping",
            ),
            (
                "g:\n  vars: {nxinfra_cluster: swarm}\n  hosts:\n    a: {ansible_host: 10.0.0.1, nxinfra_swarm_labels: {nxinfra.host: b}}\n",
                "label \"nxinfra.host\": names starting with nxinfra. are nxinfra's own",
            ),
            (
                "g:\n  vars: {nxinfra_cluster: swarm}\n  hosts:\n    a: {ansible_host: 10.0.0.1, nxinfra_swarm_role: worker}\n",
                "group g: nxinfra_swarm_role: no node is a manager",
            ),
            (
                "g:\n  vars: {nxinfra_cluster: swarm}\n  hosts:\n    a: {ansible_host: 10.0.0.1}\n\
                 h:\n  vars: {nxinfra_cluster: swarm}\n  hosts:\n    a:\n",
                "host a: nxinfra_cluster: the host is already a node of cluster g",
            ),
            (
                "g:\n  hosts:\n    a: {ansible_host: 10.0.0.1, nxinfra_swarm_role: manager}\n",
                "inventory.yml:3: host a: nxinfra_swarm_role: the host is in no cluster group",
            ),
            (
                "g:\n  hosts:\n    a: {nxinfra_cluster: swarm}\n",
                "host a: nxinfra_cluster: set it on a group",
            ),
        ];
        for (text, want) in cases {
            let got = error(text);
            assert!(got.contains(want), "{text}\nwant: {want}\ngot:  {got}");
        }
    }
}

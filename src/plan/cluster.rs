//! A cluster's membership, planned: which engine starts the swarm, which join it and as what,
//! which nodes' labels and roles change, and which nodes are refused (in another swarm,
//! locked, unreachable). Pure: computed from each node's own view ([`LocalNode`]) and a
//! manager's list of nodes ([`SwarmNode`]), both read by `host::swarm`.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::cluster::{Cluster, HOST_LABEL, Node, Role};
use crate::model::observed::{LocalNode, LocalState, SwarmNode};

/// The label that records which labels of a node nxinfra set (comma-separated names): a
/// label it set and no longer declares is removed, a label someone else set is kept.
pub const MANAGED_LABELS: &str = "nxinfra.labels";

/// The swarm's own label (its spec's) that makes it a cluster's: set when nxinfra
/// initialises it. A swarm without it is another swarm, never joined or changed.
pub const CLUSTER_LABEL: &str = crate::plan::identity::CLUSTER;

/// What one node is, for the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Its engine answered.
    Reached(LocalNode),
    /// It could not be reached: why.
    Down(String),
}

/// Why a node is left alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("unreachable: {0}")]
    Down(String),
    #[error(
        "its engine is in another swarm ({0}): it is left untouched; `docker swarm leave` on \
         it first if it should join this one"
    )]
    OtherSwarm(String),
    #[error(
        "its engine is in a swarm whose managers nxinfra cannot reach: no new swarm is made \
         beside it; bring a manager back, or `docker swarm leave` on it"
    )]
    NoManagerReached,
    #[error(
        "no manager of the cluster is reachable among the selected hosts: it cannot join \
         (include a manager in --limit, or bring one back)"
    )]
    NoManager,
    #[error(
        "its engine is joining a swarm (pending): wait for it, or `docker swarm leave --force` on it"
    )]
    Pending,
    #[error("its swarm is locked (autolock): `docker swarm unlock` on it first")]
    Locked,
    #[error("its engine reports a swarm error: {0}")]
    Error(String),
}

/// The first phase: who starts the swarm and who joins.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Membership {
    /// The host whose engine initialises a new swarm (no node is in one).
    pub init: Option<String>,
    /// The manager that hands out join tokens and is asked for the nodes afterwards.
    pub via: Option<String>,
    /// Hosts that join, in inventory order, with their role.
    pub joins: Vec<(String, Role)>,
    /// Hosts already in the cluster's swarm.
    pub members: Vec<String>,
    /// Hosts left alone, and why.
    pub refused: Vec<(String, Refused)>,
}

impl Membership {
    /// Nothing to write.
    pub fn is_noop(&self) -> bool {
        self.init.is_none() && self.joins.is_empty()
    }
}

/// Plans the membership of `cluster`'s nodes in `acted` (the hosts selected), from what each
/// node said (`seen`: every node of the cluster that was asked).
pub fn membership(
    cluster: &Cluster,
    seen: &BTreeMap<String, Seen>,
    acted: &BTreeSet<String>,
) -> Membership {
    let mut out = Membership::default();
    let local = |host: &str| match seen.get(host) {
        Some(Seen::Reached(l)) => Some(l),
        _ => None,
    };
    // The cluster's swarm: the one its label marks, as the first of its managers that is
    // reached (in inventory order) says.
    let ours = |l: &LocalNode| {
        l.state == LocalState::Active
            && l.manager
            && l.cluster_labels.get(CLUSTER_LABEL) == Some(&cluster.group)
    };
    let via = cluster
        .nodes
        .iter()
        .find(|n| local(&n.host).is_some_and(ours));
    let swarm = via
        .and_then(|n| local(&n.host))
        .and_then(|l| l.cluster_id.clone());
    // A worker in a swarm may be in the cluster's, its managers out of reach: no new swarm.
    let active_worker = cluster
        .nodes
        .iter()
        .any(|n| local(&n.host).is_some_and(|l| l.state == LocalState::Active && !l.manager));
    out.via = via.map(|n| n.host.clone());
    if via.is_none() && !active_worker {
        // No node is in the cluster's swarm: the first reachable manager starts it.
        let first = cluster.managers().find(|n| {
            acted.contains(&n.host)
                && local(&n.host).is_some_and(|l| l.state == LocalState::Inactive)
        });
        out.init = first.map(|n| n.host.clone());
        out.via = out.init.clone();
    }
    for node in &cluster.nodes {
        if !acted.contains(&node.host) {
            continue;
        }
        let refuse = |why| (node.host.clone(), why);
        match seen.get(&node.host) {
            None => {}
            Some(Seen::Down(why)) => out.refused.push(refuse(Refused::Down(why.clone()))),
            Some(Seen::Reached(l)) => match l.state {
                _ if out.init.as_deref() == Some(node.host.as_str()) => {}
                LocalState::Active => {
                    let other = l.manager && (!ours(l) || l.cluster_id != swarm);
                    if other {
                        let id = l.cluster_id.clone().unwrap_or_default();
                        out.refused.push(refuse(Refused::OtherSwarm(id)));
                    } else if out.via.is_none() {
                        out.refused.push(refuse(Refused::NoManagerReached));
                    } else {
                        out.members.push(node.host.clone());
                    }
                }
                LocalState::Inactive if out.via.is_some() => {
                    out.joins.push((node.host.clone(), node.role));
                }
                LocalState::Inactive => out.refused.push(refuse(Refused::NoManager)),
                LocalState::Pending => out.refused.push(refuse(Refused::Pending)),
                LocalState::Locked => out.refused.push(refuse(Refused::Locked)),
                LocalState::Error => out.refused.push(refuse(Refused::Error(l.error.clone()))),
            },
        }
    }
    out
}

/// A change to one node's spec: its role, its labels, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeUpdate {
    pub host: String,
    /// The node as the manager listed it (its id and version).
    pub node: SwarmNode,
    pub role: Role,
    /// The node's whole label set afterwards.
    pub labels: BTreeMap<String, String>,
    /// What changes, in words: `promoted to manager`, `label zone=a`, `label rack removed`.
    pub reasons: Vec<String>,
}

/// The second phase: each member's labels and role, against the manager's list of `nodes`.
/// `ids` maps each host to its node id (its engine's own view). A host whose id the manager
/// does not list is in another swarm.
pub fn node_updates(
    cluster: &Cluster,
    members: &[String],
    ids: &BTreeMap<String, String>,
    nodes: &[SwarmNode],
) -> (Vec<NodeUpdate>, Vec<(String, Refused)>) {
    let mut updates = Vec::new();
    let mut refused = Vec::new();
    for host in members {
        let Some(want) = cluster.node(host) else {
            continue;
        };
        let id = ids.get(host).map(String::as_str).unwrap_or_default();
        let Some(have) = nodes.iter().find(|n| n.id == id) else {
            refused.push((host.clone(), Refused::OtherSwarm(format!("node {id}"))));
            continue;
        };
        if let Some(update) = node_update(want, have) {
            updates.push(update);
        }
    }
    // Promotions first, demotions last: the count of managers never dips in between.
    updates.sort_by_key(|u| match (u.node.manager, u.role) {
        (false, Role::Manager) => 0,
        (true, Role::Worker) => 2,
        _ => 1,
    });
    (updates, refused)
}

fn node_update(want: &Node, have: &SwarmNode) -> Option<NodeUpdate> {
    let mut reasons = Vec::new();
    let is_manager = want.role == Role::Manager;
    if have.manager != is_manager {
        reasons.push(match want.role {
            Role::Manager => "promoted to manager".to_string(),
            Role::Worker => "demoted to worker".to_string(),
        });
    }
    let recorded: BTreeSet<&str> = have
        .labels
        .get(MANAGED_LABELS)
        .map(|l| l.split(',').filter(|k| !k.is_empty()).collect())
        .unwrap_or_default();
    let mut labels = have.labels.clone();
    for (key, value) in &want.labels {
        if have.labels.get(key) != Some(value) {
            reasons.push(format!("label {key}={value}"));
            labels.insert(key.clone(), value.clone());
        }
    }
    for key in recorded {
        if !want.labels.contains_key(key) && labels.remove(key).is_some() {
            reasons.push(format!("label {key} removed"));
        }
    }
    let managed: Vec<&str> = want
        .labels
        .keys()
        .map(String::as_str)
        .filter(|k| *k != HOST_LABEL)
        .collect();
    let record = managed.join(",");
    if labels.get(MANAGED_LABELS).map(String::as_str).unwrap_or("") != record {
        if record.is_empty() {
            labels.remove(MANAGED_LABELS);
        } else {
            labels.insert(MANAGED_LABELS.into(), record);
        }
        if reasons.is_empty() {
            reasons.push("the record of nxinfra's labels".into());
        }
    }
    (!reasons.is_empty()).then(|| NodeUpdate {
        host: want.host.clone(),
        node: have.clone(),
        role: want.role,
        labels,
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn cluster(roles: &[(&str, Role)]) -> Cluster {
        Cluster {
            group: "swarm".into(),
            nodes: roles
                .iter()
                .enumerate()
                .map(|(i, (h, r))| Node {
                    host: h.to_string(),
                    role: *r,
                    advertise: IpAddr::from([10, 0, 0, i as u8 + 1]),
                    labels: BTreeMap::from([(HOST_LABEL.to_string(), h.to_string())]),
                })
                .collect(),
            warnings: vec![],
        }
    }

    fn three() -> Cluster {
        cluster(&[
            ("a", Role::Manager),
            ("b", Role::Manager),
            ("c", Role::Worker),
        ])
    }

    fn inactive() -> Seen {
        Seen::Reached(LocalNode::default())
    }

    /// An engine active in swarm `swarm`, marked as cluster `swarm`'s unless it is `OTHER`.
    fn active(id: &str, manager: bool, swarm: &str) -> Seen {
        let marked = manager && swarm != "OTHER";
        Seen::Reached(LocalNode {
            state: LocalState::Active,
            node_id: id.into(),
            cluster_id: manager.then(|| swarm.to_string()),
            cluster_labels: if marked {
                BTreeMap::from([(CLUSTER_LABEL.to_string(), "swarm".to_string())])
            } else {
                BTreeMap::new()
            },
            manager,
            ..Default::default()
        })
    }

    fn all(c: &Cluster) -> BTreeSet<String> {
        c.nodes.iter().map(|n| n.host.clone()).collect()
    }

    fn seen(pairs: Vec<(&str, Seen)>) -> BTreeMap<String, Seen> {
        pairs.into_iter().map(|(h, s)| (h.to_string(), s)).collect()
    }

    #[test]
    fn a_new_cluster_starts_on_its_first_manager_and_the_others_join_in_order() {
        let c = three();
        let m = membership(
            &c,
            &seen(vec![
                ("a", inactive()),
                ("b", inactive()),
                ("c", inactive()),
            ]),
            &all(&c),
        );
        assert_eq!(m.init.as_deref(), Some("a"));
        assert_eq!(m.via.as_deref(), Some("a"));
        assert_eq!(
            m.joins,
            [
                ("b".to_string(), Role::Manager),
                ("c".to_string(), Role::Worker)
            ]
        );
        assert!(m.refused.is_empty());
        // Its first manager down: the next one starts it, the first is named.
        let m = membership(
            &c,
            &seen(vec![
                ("a", Seen::Down("ssh: connection refused".into())),
                ("b", inactive()),
                ("c", inactive()),
            ]),
            &all(&c),
        );
        assert_eq!(m.init.as_deref(), Some("b"));
        assert_eq!(m.joins, [("c".to_string(), Role::Worker)]);
        assert_eq!(
            m.refused,
            [(
                "a".to_string(),
                Refused::Down("ssh: connection refused".into())
            )]
        );
    }

    #[test]
    fn an_existing_swarm_is_joined_not_remade_and_a_complete_one_is_a_noop() {
        let c = three();
        let m = membership(
            &c,
            &seen(vec![
                ("a", inactive()),
                ("b", active("nb", true, "S")),
                ("c", active("nc", false, "")),
            ]),
            &all(&c),
        );
        assert_eq!(m.init, None);
        assert_eq!(m.via.as_deref(), Some("b"));
        assert_eq!(m.joins, [("a".to_string(), Role::Manager)]);
        assert_eq!(m.members, ["b", "c"]);

        let done = membership(
            &c,
            &seen(vec![
                ("a", active("na", true, "S")),
                ("b", active("nb", true, "S")),
                ("c", active("nc", false, "")),
            ]),
            &all(&c),
        );
        assert!(done.is_noop());
        assert_eq!(done.members, ["a", "b", "c"]);
    }

    #[test]
    fn a_node_of_another_swarm_and_workers_without_a_manager_are_refused_untouched() {
        let c = three();
        let m = membership(
            &c,
            &seen(vec![
                ("a", active("na", true, "S")),
                ("b", active("nb", true, "OTHER")),
                ("c", inactive()),
            ]),
            &all(&c),
        );
        assert_eq!(
            m.refused,
            [("b".to_string(), Refused::OtherSwarm("OTHER".into()))]
        );
        assert_eq!(m.joins, [("c".to_string(), Role::Worker)]);

        // A swarm nxinfra did not make, first in order: not joined, the cluster's is made.
        let m = membership(
            &c,
            &seen(vec![
                ("a", active("na", true, "OTHER")),
                ("b", inactive()),
                ("c", inactive()),
            ]),
            &all(&c),
        );
        assert_eq!(m.init.as_deref(), Some("b"));
        assert_eq!(m.joins, [("c".to_string(), Role::Worker)]);
        assert_eq!(
            m.refused,
            [("a".to_string(), Refused::OtherSwarm("OTHER".into()))]
        );

        // Only a worker is in a swarm, its managers gone: no second swarm beside it.
        let m = membership(
            &c,
            &seen(vec![
                ("a", inactive()),
                ("b", inactive()),
                ("c", active("nc", false, "")),
            ]),
            &all(&c),
        );
        assert_eq!(m.init, None);
        assert!(m.joins.is_empty());
        assert_eq!(
            m.refused,
            [
                ("a".to_string(), Refused::NoManager),
                ("b".to_string(), Refused::NoManager),
                ("c".to_string(), Refused::NoManagerReached)
            ]
        );
    }

    #[test]
    fn a_worker_selected_without_any_manager_is_told_why_it_cannot_join() {
        let c = three();
        let only_c = BTreeSet::from(["c".to_string()]);
        let m = membership(&c, &seen(vec![("c", inactive())]), &only_c);
        assert_eq!((m.init, m.joins.len()), (None, 0));
        assert_eq!(m.refused, [("c".to_string(), Refused::NoManager)]);
    }

    #[test]
    fn only_the_selected_hosts_are_acted_on() {
        let c = three();
        let only_c = BTreeSet::from(["c".to_string()]);
        let m = membership(
            &c,
            &seen(vec![("a", active("na", true, "S")), ("c", inactive())]),
            &only_c,
        );
        assert_eq!(m.joins, [("c".to_string(), Role::Worker)]);
        assert!(m.members.is_empty());
    }

    fn listed(id: &str, manager: bool, labels: &[(&str, &str)]) -> SwarmNode {
        SwarmNode {
            id: id.into(),
            version: 7,
            hostname: id.into(),
            manager,
            status: "ready".into(),
            availability: "active".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn labels_and_roles_are_set_and_what_others_set_is_kept() {
        let mut c = three();
        c.nodes[0].labels.insert("zone".into(), "a".into());
        let ids: BTreeMap<String, String> = [("a", "na"), ("b", "nb"), ("c", "nc")]
            .iter()
            .map(|(h, i)| (h.to_string(), i.to_string()))
            .collect();
        let members: Vec<String> = ["a", "b", "c"].iter().map(|h| h.to_string()).collect();
        let nodes = vec![
            listed(
                "na",
                true,
                &[
                    ("nxinfra.host", "a"),
                    ("rack", "1"),
                    ("nxinfra.labels", "rack"),
                    ("ops", "x"),
                ],
            ),
            listed("nb", false, &[("nxinfra.host", "b")]),
            listed("nc", false, &[("nxinfra.host", "c")]),
        ];
        let (updates, refused) = node_updates(&c, &members, &ids, &nodes);
        assert!(refused.is_empty());
        let summary: Vec<(&str, Vec<String>)> = updates
            .iter()
            .map(|u| (u.host.as_str(), u.reasons.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                ("b", vec!["promoted to manager".to_string()]),
                (
                    "a",
                    vec!["label zone=a".to_string(), "label rack removed".to_string()]
                ),
            ]
        );
        let a = &updates[1];
        assert_eq!(
            a.labels.get("ops").map(String::as_str),
            Some("x"),
            "not nxinfra's: kept"
        );
        assert_eq!(
            a.labels.get(MANAGED_LABELS).map(String::as_str),
            Some("zone")
        );
        assert_eq!(a.labels.get("rack"), None);

        // Applied: nothing more to do.
        let after: Vec<SwarmNode> = nodes
            .iter()
            .map(|n| match updates.iter().find(|u| u.node.id == n.id) {
                Some(u) => SwarmNode {
                    manager: u.role == Role::Manager,
                    labels: u.labels.clone(),
                    ..n.clone()
                },
                None => n.clone(),
            })
            .collect();
        let (again, _) = node_updates(&c, &members, &ids, &after);
        assert!(again.is_empty(), "{again:?}");

        // A member whose id the manager does not list is in another swarm.
        let (_, refused) = node_updates(&c, &members, &ids, &after[..2]);
        assert_eq!(
            refused,
            [("c".to_string(), Refused::OtherSwarm("node nc".into()))]
        );
    }
}

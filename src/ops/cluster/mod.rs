//! A cluster's membership brought to what the inventory declares (docs/cluster.md): the swarm
//! initialised on its first reachable manager when no node is in one, the missing nodes
//! joined (tokens read from a manager, never printed), every node labelled and given its
//! declared role. A node in another swarm, locked or unreachable is named and left alone;
//! the others go on. Then its stack ([`stack`]: `stack.yml`'s services, through one
//! manager). Idempotent: an unchanged cluster costs one read per node, one for the node
//! list and four for the stack, and no write.

pub mod stack;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures_util::future::join_all;
use serde::Serialize;

use crate::host::Reached;
use crate::host::engine::Engine;
use crate::host::engine::EngineError;
use crate::host::runner::HostFailure;
use crate::host::session::SshOptions;
use crate::host::stack::StackEngine;
use crate::host::swarm::{JoinToken, Swarm};
use crate::model::cluster::{Cluster, Role};
use crate::model::target::Target;
use crate::model::tree::OutFile;
use crate::plan::cluster::{CLUSTER_LABEL, Seen, membership, node_updates};
use crate::util::redact::Redactor;

/// What one node of a cluster became, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeOutcome {
    pub host: String,
    /// What was done (or, in a dry run, would be), in words; empty: unchanged.
    pub actions: Vec<String>,
    /// Why the node was left alone or failed; `None`: it is as declared.
    pub error: Option<HostFailure>,
}

/// One cluster's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterOutcome {
    pub group: String,
    /// The manager it was reached through.
    pub via: Option<String>,
    pub nodes: Vec<NodeOutcome>,
    /// The managers' engines' API calls: (reads, writes).
    pub api_calls: (usize, usize),
    pub warnings: Vec<String>,
    /// The stack's outcome, when the nodes render a `stack.yml`.
    pub stack: Option<stack::StackOutcome>,
    /// Each reached node's id in the swarm, by host (as its own engine said).
    #[serde(skip)]
    pub node_ids: BTreeMap<String, String>,
}

impl ClusterOutcome {
    pub fn failed(&self) -> impl Iterator<Item = &NodeOutcome> {
        self.nodes.iter().filter(|n| n.error.is_some())
    }

    pub fn is_noop(&self) -> bool {
        self.nodes.iter().all(|n| n.actions.is_empty())
            && self.stack.as_ref().is_none_or(|s| s.plan.is_noop())
    }
}

/// How a cluster is reconciled.
#[derive(Debug, Clone)]
pub struct Options {
    pub ssh: SshOptions,
    /// Plan only (`--dry-run`, `plan`): reads, no write.
    pub dry_run: bool,
    pub redactor: Arc<Redactor>,
}

/// Reconciles `cluster` through the nodes in `targets` (the selected hosts of the cluster):
/// their engines are reached at once, over SSH, and closed afterwards.
pub fn apply(
    cluster: &Cluster,
    targets: &[Target],
    trees: &BTreeMap<String, BTreeMap<String, OutFile>>,
    opts: &Options,
) -> ClusterOutcome {
    let acted: BTreeSet<String> = targets.iter().map(|t| t.host.clone()).collect();
    let quiet = |_: &str| {};
    let work = async {
        let reached = join_all(targets.iter().map(|t| Reached::open(t, &opts.ssh, &quiet))).await;
        let mut engines = BTreeMap::new();
        let mut open = Vec::new();
        for (target, r) in targets.iter().zip(reached) {
            match r {
                Ok(r) => open.push((target.host.clone(), r)),
                Err(e) => {
                    engines.insert(target.host.clone(), Err(e.to_string()));
                }
            }
        }
        for (host, r) in &open {
            engines.insert(host.clone(), Ok(&r.engine));
        }
        let mut outcome = reconcile(cluster, &engines, &acted, opts).await;
        outcome.stack = stacked(cluster, targets, trees, &engines, &outcome, opts).await;
        outcome.api_calls = calls(&engines);
        drop(engines);
        join_all(open.into_iter().map(|(_, r)| r.close())).await;
        outcome
    };
    match crate::host::runner::block_on(work) {
        Ok(outcome) => outcome,
        Err(e) => {
            let why = HostFailure::of(
                &format!("cannot start the async runtime: {e}"),
                &opts.redactor,
            );
            ClusterOutcome {
                group: cluster.group.clone(),
                via: None,
                nodes: targets
                    .iter()
                    .map(|t| NodeOutcome {
                        host: t.host.clone(),
                        actions: vec![],
                        error: Some(why.clone()),
                    })
                    .collect(),
                api_calls: (0, 0),
                warnings: cluster.warnings.clone(),
                stack: None,
                node_ids: BTreeMap::new(),
            }
        }
    }
}

/// What became of each node so far, as the reconciliation goes.
struct Tally<'a> {
    outcomes: BTreeMap<String, NodeOutcome>,
    /// Each host's node id, as its engine says.
    ids: BTreeMap<String, String>,
    /// The hosts in the cluster's swarm (after an init or a join too).
    members: Vec<String>,
    redactor: &'a Redactor,
}

impl Tally<'_> {
    fn did(&mut self, host: &str, action: impl Into<String>) {
        if let Some(o) = self.outcomes.get_mut(host) {
            o.actions.push(action.into());
        }
    }

    fn failed(&mut self, host: &str, why: &dyn std::fmt::Display) {
        if let Some(o) = self.outcomes.get_mut(host) {
            o.error = Some(HostFailure::of(&why, self.redactor));
        }
    }

    /// `host` initialised or joined the swarm (its node id), or failed to.
    fn entered(&mut self, host: &str, result: Result<String, EngineError>, action: String) {
        match result {
            Ok(id) => {
                self.ids.insert(host.to_string(), id);
                self.members.push(host.to_string());
                self.did(host, action);
            }
            Err(e) => self.failed(host, &e),
        }
    }
}

/// The reconciliation on engines already reached (`Err`: why a node could not be).
pub async fn reconcile<S: Swarm>(
    cluster: &Cluster,
    engines: &BTreeMap<String, Result<&S, String>>,
    acted: &BTreeSet<String>,
    opts: &Options,
) -> ClusterOutcome {
    let mut seen = BTreeMap::new();
    for (host, engine) in engines {
        let view = match engine {
            Err(why) => Seen::Down(why.clone()),
            Ok(engine) => match engine.local_node().await {
                Ok(local) => Seen::Reached(local),
                Err(e) => Seen::Down(e.to_string()),
            },
        };
        seen.insert(host.clone(), view);
    }
    let plan = membership(cluster, &seen, acted);
    let mut tally = Tally {
        outcomes: acted
            .iter()
            .map(|h| {
                let outcome = NodeOutcome {
                    host: h.clone(),
                    actions: vec![],
                    error: None,
                };
                (h.clone(), outcome)
            })
            .collect(),
        ids: seen
            .iter()
            .filter_map(|(h, s)| match s {
                Seen::Reached(l) if !l.node_id.is_empty() => Some((h.clone(), l.node_id.clone())),
                _ => None,
            })
            .collect(),
        members: plan.members.clone(),
        redactor: &opts.redactor,
    };
    for (host, why) in &plan.refused {
        tally.failed(host, why);
    }
    let engine = |host: &str| engines.get(host).and_then(|e| e.as_ref().ok()).copied();
    let via = plan.via.as_deref().and_then(engine);

    if let Some(host) = plan.init.as_deref()
        && let (Some(e), Some(node)) = (engine(host), cluster.node(host))
    {
        let action = "initialised the swarm (manager)".to_string();
        if opts.dry_run {
            tally.did(host, action);
        } else {
            let marker = BTreeMap::from([(CLUSTER_LABEL.to_string(), cluster.group.clone())]);
            let result = e.init(node.advertise, &marker).await;
            tally.entered(host, result, action);
        }
    }
    // Joins, one at a time (a swarm takes managers one by one), through one manager.
    let manager_addr = plan
        .via
        .as_deref()
        .and_then(|h| cluster.node(h))
        .map(|n| n.advertise);
    let mut tokens: BTreeMap<Role, JoinToken> = BTreeMap::new();
    for (host, role) in &plan.joins {
        let action = format!("joined as {role}");
        if opts.dry_run {
            tally.did(host, action);
            continue;
        }
        let (Some(via), Some(joiner), Some(addr), Some(node)) =
            (via, engine(host), manager_addr, cluster.node(host))
        else {
            continue;
        };
        let result: Result<String, EngineError> = async {
            if !tokens.contains_key(role) {
                tokens.insert(*role, via.join_token(*role).await?);
            }
            joiner.join(node.advertise, addr, &tokens[role]).await?;
            Ok(joiner.local_node().await?.node_id)
        }
        .await;
        tally.entered(host, result, action);
    }
    // Labels and roles, against the manager's list of nodes (skipped in a dry run of a
    // swarm that does not exist yet: every node would get its declared labels and role).
    if let Some(via) = via.filter(|_| !(opts.dry_run && plan.init.is_some())) {
        match via.nodes().await {
            Err(err) => {
                for host in tally.members.clone() {
                    tally.failed(&host, &err);
                }
            }
            Ok(nodes) => {
                let (updates, refused) = node_updates(cluster, &tally.members, &tally.ids, &nodes);
                for (host, why) in refused {
                    tally.failed(&host, &why);
                }
                for update in updates {
                    let done = if opts.dry_run {
                        Ok(())
                    } else {
                        via.update_node(&update.node, update.role, &update.labels)
                            .await
                    };
                    match done {
                        Ok(()) => {
                            for reason in &update.reasons {
                                tally.did(&update.host, reason.clone());
                            }
                        }
                        Err(err) => tally.failed(&update.host, &err),
                    }
                }
            }
        }
    }
    ClusterOutcome {
        group: cluster.group.clone(),
        via: plan.via.clone(),
        nodes: cluster
            .nodes
            .iter()
            .filter_map(|n| tally.outcomes.remove(&n.host))
            .collect(),
        api_calls: calls(engines),
        warnings: cluster.warnings.clone(),
        stack: None,
        node_ids: tally.ids,
    }
}

/// Every engine's API calls so far: (reads, writes).
fn calls<S: Swarm>(engines: &BTreeMap<String, Result<&S, String>>) -> (usize, usize) {
    engines
        .values()
        .filter_map(|e| e.as_ref().ok())
        .map(|e| e.calls())
        .fold((0, 0), |(r, w), (r2, w2)| (r + r2, w + w2))
}

/// The stack of the nodes' trees reconciled through the manager the membership went
/// through; `None` when no node renders a `stack.yml`.
async fn stacked<S: StackEngine + Swarm + Engine>(
    cluster: &Cluster,
    targets: &[Target],
    trees: &BTreeMap<String, BTreeMap<String, OutFile>>,
    engines: &BTreeMap<String, Result<&S, String>>,
    outcome: &ClusterOutcome,
    opts: &Options,
) -> Option<stack::StackOutcome> {
    let rendered: Vec<(&str, &BTreeMap<String, OutFile>)> = targets
        .iter()
        .filter_map(|t| trees.get(&t.host).map(|tree| (t.host.as_str(), tree)))
        .collect();
    if !rendered.iter().any(|(_, t)| t.contains_key(stack::FILE)) {
        return None;
    }
    let failed = |why: String| {
        Some(stack::StackOutcome {
            error: Some(opts.redactor.redact(&why).into_owned()),
            ..Default::default()
        })
    };
    if let Err(why) = stack::same_everywhere(&rendered) {
        return failed(why);
    }
    let (host, tree) = rendered[0];
    let loaded = match stack::load(tree, host)? {
        Ok(s) => s,
        Err(why) => return failed(why),
    };
    let via = outcome.via.as_deref();
    let (Some(via), Some(target)) = (via, via.and_then(|v| targets.iter().find(|t| t.host == v)))
    else {
        return failed("no manager of the cluster could be reached".into());
    };
    let Some(Ok(engine)) = engines.get(via) else {
        return failed(format!("the manager {via} could not be reached"));
    };
    let desired = crate::plan::stack::Desired {
        stack_name: &cluster.group,
        fleet: &target.fleet,
        stack: &loaded,
        tree,
        base_dir: &target.base_dir,
    };
    let mut out = stack::reconcile(*engine, &desired, opts.dry_run).await;
    health_outputs(&mut out, *engine, engines, &outcome.node_ids).await;
    // Task errors and messages may quote a value: redacted like every host's failure.
    for s in &mut out.services {
        if let Some(e) = &s.error {
            s.error = Some(opts.redactor.redact(e).into_owned());
        }
    }
    if let Some(e) = &out.error {
        out.error = Some(opts.redactor.redact(e).into_owned());
    }
    Some(out)
}

/// To each service whose rollout failed, the last healthcheck output of its failed tasks,
/// read on the engine of the node each ran on (the swarm itself keeps no health output).
async fn health_outputs<S: StackEngine + Engine>(
    out: &mut stack::StackOutcome,
    via: &S,
    engines: &BTreeMap<String, Result<&S, String>>,
    node_ids: &BTreeMap<String, String>,
) {
    if out.services.iter().all(|s| s.error.is_none()) {
        return;
    }
    let by_node: BTreeMap<&str, &S> = node_ids
        .iter()
        .filter_map(|(host, id)| match engines.get(host) {
            Some(Ok(engine)) => Some((id.as_str(), *engine)),
            _ => None,
        })
        .collect();
    for service in out.services.iter_mut().filter(|s| s.error.is_some()) {
        let Ok(tasks) = via.tasks(&service.name).await else {
            continue;
        };
        let mut outputs = Vec::new();
        for task in tasks
            .iter()
            .filter(|t| !t.error.is_empty() && !t.container_id.is_empty())
        {
            let Some(node) = by_node.get(task.node_id.as_str()) else {
                continue;
            };
            if let Ok(state) = Engine::state(*node, &task.container_id).await
                && let Some(output) = state.health.and_then(|h| h.last_output)
                && !outputs.contains(&output)
            {
                outputs.push(output);
            }
        }
        if let (Some(error), false) = (&mut service.error, outputs.is_empty()) {
            error.push_str(&format!("; last health check: {}", outputs.join("; ")));
        }
    }
}

#[cfg(test)]
mod tests;

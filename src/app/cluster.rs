//! What `apply` and `plan` do and say about clusters: each cluster with a selected node
//! reconciled (or planned) after the hosts, its outcome printed, its failures in the exit
//! status.

use std::collections::BTreeMap;

use anyhow::bail;

use crate::host::files::SyncOptions;
use crate::model::cluster::Cluster;
use crate::model::target::Target;
use crate::ops::cluster::{self, ClusterOutcome};
use crate::plan::stack::Action;
use crate::render::OutFile;

use super::Outcome;

/// The selected hosts that are nodes of a cluster, with their rendered trees (their
/// stack.yml), kept before the hosts' work takes the trees.
pub struct Nodes {
    targets: Vec<Target>,
    trees: BTreeMap<String, BTreeMap<String, OutFile>>,
}

impl Nodes {
    pub fn of(clusters: &[Cluster], work: &[(Target, BTreeMap<String, OutFile>)]) -> Nodes {
        let node = |t: &Target| clusters.iter().any(|c| c.node(&t.host).is_some());
        Nodes {
            targets: work
                .iter()
                .filter(|(t, _)| node(t))
                .map(|(t, _)| t.clone())
                .collect(),
            trees: work
                .iter()
                .filter(|(t, _)| node(t))
                .map(|(t, files)| (t.host.clone(), files.clone()))
                .collect(),
        }
    }

    /// Reconciles (or, unless `opts.mode` changes hosts, plans) each cluster that has a
    /// selected node, through its selected nodes; its warnings said first (on stderr,
    /// unless `json`).
    pub fn apply(
        &self,
        clusters: &[Cluster],
        opts: &SyncOptions,
        json: bool,
    ) -> Vec<ClusterOutcome> {
        let options = cluster::Options {
            ssh: opts.ssh.clone(),
            dry_run: !opts.mode.changes(),
            redactor: opts.redactor.clone(),
        };
        let mut out = Vec::new();
        for c in clusters {
            let nodes: Vec<Target> = self
                .targets
                .iter()
                .filter(|t| c.node(&t.host).is_some())
                .cloned()
                .collect();
            if nodes.is_empty() {
                continue;
            }
            if !json {
                for w in &c.warnings {
                    eprintln!("warning: {w}");
                }
            }
            out.push(cluster::apply(c, &nodes, &self.trees, &options));
        }
        out
    }
}

/// Each cluster's nodes, stack steps and services, on stderr.
pub fn print(clusters: &[ClusterOutcome], would: bool) {
    for c in clusters {
        let via = c
            .via
            .as_deref()
            .map(|v| format!(" (through {v})"))
            .unwrap_or_default();
        eprintln!("cluster {}{via}:", c.group);
        for n in &c.nodes {
            match (&n.error, n.actions.is_empty()) {
                (Some(e), _) => eprintln!("  {:<12} FAILED: {e}", n.host),
                (None, true) => eprintln!("  {:<12} unchanged", n.host),
                (None, false) => eprintln!(
                    "  {:<12} {}{}",
                    n.host,
                    if would { "would: " } else { "" },
                    n.actions.join(", ")
                ),
            }
        }
        let Some(stack) = &c.stack else { continue };
        if let Some(e) = &stack.error {
            eprintln!("  stack FAILED: {e}");
        }
        let plan = &stack.plan;
        for (kind, step) in plan
            .networks
            .iter()
            .map(|s| ("network", s))
            .chain(plan.configs.iter().map(|s| ("config", s)))
            .chain(plan.secrets.iter().map(|s| ("secret", s)))
        {
            if step.action != Action::Unchanged {
                let verb = match step.action {
                    Action::Create => "create",
                    Action::Remove => "remove",
                    _ => "update",
                };
                let would = if would { "would " } else { "" };
                eprintln!("  {would}{verb} {kind} {}: {}", step.name, step.reason);
            }
        }
        for s in &stack.services {
            match &s.error {
                Some(e) => eprintln!("  service {:<20} {}: {e}", s.name, s.status.to_uppercase()),
                None if s.reasons.is_empty() => eprintln!("  service {:<20} {}", s.name, s.status),
                None => eprintln!(
                    "  service {:<20} {}: {}",
                    s.name,
                    s.status,
                    s.reasons.join(", ")
                ),
            }
        }
    }
}

/// What failed in the clusters: nodes, stacks, services, in words.
fn failures(clusters: &[ClusterOutcome]) -> Vec<String> {
    let mut failed = Vec::new();
    for c in clusters {
        failed.extend(
            c.failed()
                .map(|n| format!("{} (cluster {})", n.host, c.group)),
        );
        if let Some(s) = &c.stack {
            if let Some(e) = &s.error {
                failed.push(format!("the stack of cluster {} ({e})", c.group));
            }
            failed.extend(
                s.services
                    .iter()
                    .filter(|s| s.error.is_some())
                    .map(|s| format!("service {} ({})", s.name, s.status)),
            );
        }
    }
    failed
}

/// The command's end: the hosts' (`hosts`) and the clusters' failures together (exit 1), else
/// 2 when `changes_exit` and anything would change.
pub fn finish(
    command: &str,
    hosts: anyhow::Result<Outcome>,
    clusters: &[ClusterOutcome],
    changes_exit: bool,
) -> anyhow::Result<Outcome> {
    let failed = failures(clusters);
    if !failed.is_empty() {
        let hosts = match &hosts {
            Err(e) => format!("{e}; "),
            Ok(_) => String::new(),
        };
        bail!(
            "{hosts}{command} failed on {} of the clusters' nodes and services: {}",
            failed.len(),
            failed.join(", ")
        );
    }
    let outcome = hosts?;
    Ok(if changes_exit && clusters.iter().any(|c| !c.is_noop()) {
        Outcome::Changes
    } else {
        outcome
    })
}

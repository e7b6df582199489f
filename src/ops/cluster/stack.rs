//! A cluster's stack brought to its `stack.yml`, through one manager: overlay networks,
//! configs and secrets created by content, services created, updated (only those whose
//! identity differs, with the version read) or removed, each update waited for until the
//! swarm says it converged, rolled back or paused; the config and secret versions no longer
//! used removed after that. An unchanged stack costs four reads and no write.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::host::stack::{StackEngine, service_spec};
use crate::model::compose::stack::{DeployMode, Stack};
use crate::model::observed::ObservedTask;
use crate::model::tree::OutFile;
use crate::plan::stack::{Action, Desired, StackPlan, plan};

pub use crate::model::compose::stack::FILE;

/// How long an update or a new service may take to converge before it is reported failed.
pub const CONVERGE_TIMEOUT: Duration = Duration::from_secs(180);

/// What became of one service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceOutcome {
    pub name: String,
    pub action: Action,
    pub reasons: Vec<String>,
    /// `created`, `updated`, `removed`, `unchanged`, `rolled back`, `paused`, `failed`
    /// (`would …` in a dry run).
    pub status: String,
    /// Why it failed: the swarm's message and its tasks' errors.
    pub error: Option<String>,
}

/// A stack's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct StackOutcome {
    pub plan: StackPlan,
    pub services: Vec<ServiceOutcome>,
    /// What failed outside a service (a network, a config), or why nothing was done.
    pub error: Option<String>,
}

impl StackOutcome {
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.services.iter().any(|s| s.error.is_some())
    }
}

/// Checks that every node rendered the same `stack.yml`; the hosts and the first line that
/// differs otherwise.
pub fn same_everywhere(trees: &[(&str, &BTreeMap<String, OutFile>)]) -> Result<(), String> {
    let Some((first, tree)) = trees.first() else {
        return Ok(());
    };
    let text = |t: &BTreeMap<String, OutFile>| {
        t.get(FILE)
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
    };
    let want = text(tree);
    for (host, tree) in &trees[1..] {
        let have = text(tree);
        if have == want {
            continue;
        }
        let (a, b) = (want.clone().unwrap_or_default(), have.unwrap_or_default());
        let line = a
            .lines()
            .zip(b.lines())
            .position(|(x, y)| x != y)
            .unwrap_or_else(|| a.lines().count().min(b.lines().count()))
            + 1;
        return Err(format!(
            "the nodes of a cluster must render the same {FILE}: {first} and {host} differ at \
             line {line} (render the file from the group's templates, not a host's)"
        ));
    }
    Ok(())
}

/// Reconciles `stack` (named `stack_name`, the cluster's group) through manager `engine`;
/// `tree` is the rendered tree `stack.yml` came with.
pub async fn reconcile<E: StackEngine>(
    engine: &E,
    desired: &Desired<'_>,
    dry_run: bool,
) -> StackOutcome {
    let state = match engine.stack_state().await {
        Ok(s) => s,
        Err(e) => {
            return StackOutcome {
                error: Some(e.to_string()),
                ..Default::default()
            };
        }
    };
    let planned = match plan(desired, &state) {
        Ok(p) => p,
        Err(e) => {
            return StackOutcome {
                error: Some(e.to_string()),
                ..Default::default()
            };
        }
    };
    let mut out = StackOutcome {
        plan: planned.clone(),
        ..Default::default()
    };
    if dry_run {
        out.services = planned
            .services
            .iter()
            .map(|s| ServiceOutcome {
                name: s.name.clone(),
                action: s.action,
                reasons: s.reasons.clone(),
                status: match s.action {
                    Action::Unchanged => "unchanged".into(),
                    Action::Create => "would create".into(),
                    Action::Update => "would update".into(),
                    Action::Remove => "would remove".into(),
                },
                error: None,
            })
            .collect();
        return out;
    }
    if let Err(e) = objects(engine, desired, &planned).await {
        out.error = Some(e);
        return out;
    }
    // The ids services refer to their configs and secrets by: read again only when some
    // were just created.
    let created = planned
        .configs
        .iter()
        .chain(&planned.secrets)
        .any(|s| s.action == Action::Create);
    let current = if created {
        match engine.stack_state().await {
            Ok(s) => s,
            Err(e) => {
                out.error = Some(e.to_string());
                return out;
            }
        }
    } else {
        state
    };
    let ids: BTreeMap<String, String> = current
        .configs
        .iter()
        .chain(&current.secrets)
        .map(|o| (o.name.clone(), o.id.clone()))
        .collect();
    let mut started = Vec::new();
    for step in &planned.services {
        let outcome = |status: &str, error: Option<String>| ServiceOutcome {
            name: step.name.clone(),
            action: step.action,
            reasons: step.reasons.clone(),
            status: status.into(),
            error,
        };
        let done = match step.action {
            Action::Unchanged => outcome("unchanged", None),
            Action::Remove => match engine.remove_service(&step.name).await {
                Ok(()) => outcome("removed", None),
                Err(e) => outcome("failed", Some(e.to_string())),
            },
            Action::Create | Action::Update => {
                let Some(service) = desired.stack.services.get(&step.key) else {
                    continue;
                };
                let spec = service_spec(
                    &step.name,
                    service,
                    desired.stack,
                    &step.labels,
                    (&step.configs, &step.secrets),
                    &ids,
                );
                let version = (step.action == Action::Update).then_some(step.version);
                match engine.put_service(spec, version).await {
                    Ok(()) => {
                        let replicas = match service.deploy.mode {
                            DeployMode::Replicated { replicas } => Some(replicas),
                            DeployMode::Global => None,
                        };
                        started.push((out.services.len(), replicas));
                        outcome("started", None)
                    }
                    Err(e) => outcome("failed", Some(e.to_string())),
                }
            }
        };
        out.services.push(done);
    }
    // Every started rollout is waited for, all at once.
    let waits = started.iter().map(|&(i, replicas)| {
        let name = out.services[i].name.clone();
        let update = out.services[i].action == Action::Update;
        async move { (i, converge(engine, &name, update, replicas).await) }
    });
    for (i, result) in futures_util::future::join_all(waits).await {
        let s = &mut out.services[i];
        match result {
            Ok(()) => {
                s.status = if s.action == Action::Create {
                    "created"
                } else {
                    "updated"
                }
                .into();
            }
            Err((status, why)) => {
                s.status = status.into();
                s.error = Some(why);
            }
        }
    }
    // Versions no longer used: removed now that the services moved off them (one still
    // referenced by a service that failed to move stays until the next apply).
    for (secret, steps) in [(false, &planned.configs), (true, &planned.secrets)] {
        for step in steps.iter().filter(|s| s.action == Action::Remove) {
            let _ = engine.remove_object(secret, &step.name).await;
        }
    }
    out
}

/// Creates the plan's networks, configs and secrets.
async fn objects<E: StackEngine>(
    engine: &E,
    desired: &Desired<'_>,
    planned: &StackPlan,
) -> Result<(), String> {
    for step in planned
        .networks
        .iter()
        .filter(|s| s.action == Action::Create)
    {
        let Some(net) = desired.stack.networks.get(&step.key) else {
            continue;
        };
        engine
            .create_overlay(net, &step.labels)
            .await
            .map_err(|e| e.to_string())?;
    }
    for (secret, steps) in [(false, &planned.configs), (true, &planned.secrets)] {
        for step in steps.iter().filter(|s| s.action == Action::Create) {
            let data = step
                .file
                .as_ref()
                .and_then(|f| desired.tree.get(f))
                .map(|f| &f.data[..])
                .unwrap_or_default();
            engine
                .create_object(secret, &step.name, data, &step.labels)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Waits until service `name` converged: an update completed (or changed no task), a new
/// service's tasks all running. Err: (`rolled back` | `paused` | `failed`, why).
async fn converge<E: StackEngine>(
    engine: &E,
    name: &str,
    update: bool,
    replicas: Option<u64>,
) -> Result<(), (&'static str, String)> {
    let start = Instant::now();
    let failing = |tasks: &[ObservedTask]| {
        let mut errors: Vec<&str> = tasks
            .iter()
            .filter(|t| !t.error.is_empty())
            .map(|t| t.error.as_str())
            .collect();
        errors.sort();
        errors.dedup();
        if errors.is_empty() {
            String::new()
        } else {
            format!("; tasks: {}", errors.join("; "))
        }
    };
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let service = engine
            .service(name)
            .await
            .map_err(|e| ("failed", e.to_string()))?;
        let tasks = engine.tasks(name).await.unwrap_or_default();
        match service.update_state.as_deref() {
            Some("rollback_completed") => {
                return Err((
                    "rolled back",
                    format!(
                        "the update failed and was rolled back: {}{}",
                        service.update_message,
                        failing(&tasks)
                    ),
                ));
            }
            Some("paused") | Some("rollback_paused") => {
                return Err((
                    "paused",
                    format!(
                        "the update is paused: {}{}",
                        service.update_message,
                        failing(&tasks)
                    ),
                ));
            }
            Some("completed") => return Ok(()),
            Some(_) => {}
            None => {
                let wanted: Vec<&ObservedTask> =
                    tasks.iter().filter(|t| t.desired == "running").collect();
                let running = wanted.iter().filter(|t| t.state == "running").count() as u64;
                let enough = match replicas {
                    Some(n) => running >= n,
                    None => running > 0 && wanted.iter().all(|t| t.state == "running"),
                };
                // An update that changed no task never reports a state: given 3 s to start.
                if enough && (!update || start.elapsed() > Duration::from_secs(3)) {
                    return Ok(());
                }
            }
        }
        if start.elapsed() > CONVERGE_TIMEOUT {
            return Err((
                "failed",
                format!(
                    "not converged after {} s{}",
                    CONVERGE_TIMEOUT.as_secs(),
                    failing(&tasks)
                ),
            ));
        }
    }
}

/// The stack of `tree` (its `stack.yml`), if it has one.
pub fn load(tree: &BTreeMap<String, OutFile>, host: &str) -> Option<Result<Stack, String>> {
    let file = tree.get(FILE)?;
    let text = String::from_utf8_lossy(&file.data);
    let path = format!("rendered/{host}/{FILE}");
    Some(
        crate::model::compose::stack::parse(std::path::Path::new(&path), &text)
            .map_err(|e| e.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(stack: &str) -> BTreeMap<String, OutFile> {
        BTreeMap::from([(
            FILE.to_string(),
            OutFile {
                data: stack.as_bytes().to_vec().into(),
                mode: 0o644,
            },
        )])
    }

    #[test]
    fn every_node_must_render_the_same_stack() {
        let (a, b) = (
            tree("services:\n  web:\n    image: x:1\n"),
            tree("services:\n  web:\n    image: x:2\n"),
        );
        assert_eq!(same_everywhere(&[("h1", &a), ("h2", &a)]), Ok(()));
        assert_eq!(
            same_everywhere(&[("h1", &a), ("h2", &a), ("h3", &b)]),
            Err("the nodes of a cluster must render the same stack.yml: h1 and h3 differ at line 3 \
                 (render the file from the group's templates, not a host's)"
                .into())
        );
        let none = BTreeMap::new();
        assert!(
            same_everywhere(&[("h1", &a), ("h2", &none)]).is_err(),
            "one without it"
        );
    }
}

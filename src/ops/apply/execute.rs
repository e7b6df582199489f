//! Carries out a host's [`ApplyPlan`] on its engine: images, networks, then containers in
//! dependency order, each (re)created container health-gated, the previous one restored when
//! the new one fails.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::host::Host;
use crate::host::engine::{Engine, EngineError};
use crate::model::compose::{Compose, Healthcheck, NetworkMode, Service};
use crate::plan::checks::CheckResult;
use crate::plan::containers::{
    Action, ApplyPlan, ContainerStep, ImageStep, NEW_SUFFIX, OLD_SUFFIX,
};
use crate::plan::identity::Identity;
use crate::plan::recover::Recover;

/// A step that failed, and what state it left.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(
        "{name}: the new container did not become healthy ({why}); the previous container was restored and runs"
    )]
    RolledBack {
        name: String,
        why: String,
        /// The previous container was stopped and started again (old one first): it read
        /// its mounted files anew.
        old_restarted: bool,
    },
    #[error("{name}: the new container did not become healthy ({why}); it was removed")]
    Unhealthy { name: String, why: String },
    #[error(
        "{name}: the job failed ({why}); its container is kept for `docker logs`, and the next apply runs it again"
    )]
    JobFailed { name: String, why: String },
    #[error("{name}: restarted, but not healthy: {why}")]
    RestartFailed { name: String, why: String },
    #[error("{name}: {why}")]
    Step { name: String, why: String },
    /// The previous container could not be put back (the engine stopped answering): what is
    /// left is named, and the next apply completes or undoes it (`recover`).
    #[error(
        "{name}: the new container did not become healthy ({why}), and undoing it failed ({undo}): {left}"
    )]
    Unfinished {
        name: String,
        why: String,
        undo: String,
        left: String,
    },
    /// A signal asked to stop: the steps in flight were finished or undone, the others not
    /// started.
    #[error("{0}")]
    Interrupted(#[from] crate::util::interrupt::Interrupted),
    /// Steps of one wave that failed side by side.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Several(Vec<ExecError>),
}

impl ExecError {
    /// The containers whose previous state runs again but reads the new mounted files, each
    /// with whether it must be restarted to read them again once they are put back: a
    /// rollback (restarted if it was stopped first) or a failed restart (always).
    pub fn restored(&self) -> Vec<(&str, bool)> {
        match self {
            ExecError::RolledBack {
                name,
                old_restarted,
                ..
            } => vec![(name, *old_restarted)],
            ExecError::RestartFailed { name, .. } => vec![(name, true)],
            ExecError::Several(all) => all.iter().flat_map(|e| e.restored()).collect(),
            _ => vec![],
        }
    }
}

/// What was done; `restarted` goes to the host's manifest (see [`crate::plan::containers::Restarted`]).
#[derive(Debug, Default)]
pub struct Done {
    pub restarted: BTreeMap<String, (String, Identity)>,
}

/// Pulls the plan's images. The containers' identities include the image id, which is known
/// only once the image is there: the caller plans again after this.
pub async fn pull(
    engine: &impl Engine,
    images: &[ImageStep],
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), ExecError> {
    for image in images {
        progress(&format!("pulling {}", image.image));
        engine.pull(&image.image).await?;
    }
    Ok(())
}

/// Runs `plan` for `compose` on `engine`, its images already pulled ([`pull`]). Stops at the
/// first failure; `done` says what was done up to there.
pub async fn execute<H: Host>(
    engine: &impl Engine,
    gate: &Gate<'_, H>,
    compose: &Compose,
    plan: &ApplyPlan,
    done: &mut Done,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), ExecError> {
    let service_of =
        |step: &ContainerStep| step.service.as_ref().and_then(|s| compose.services.get(s));
    // What an interrupted apply left, completed or undone first (the plan was made against
    // the engine as it will be after it).
    for step in &plan.containers {
        if let Some(how) = &step.recover {
            progress(&format!("recovering {}", step.name));
            recover(engine, &step.name, how).await?;
        }
    }
    // Managed containers that are going away, and those on networks that are recreated.
    for step in &plan.containers {
        if step.action == Action::Remove || step.with_network {
            progress(&format!("removing {}", step.name));
            let grace = service_of(step)
                .map(|s| s.spec.stop_grace_period)
                .unwrap_or(Duration::from_secs(10));
            engine.stop(&step.name, grace).await?;
            engine.remove(&step.name, false).await?;
        }
    }
    for step in &plan.networks {
        let net = compose.networks.values().find(|n| n.name == step.name);
        match step.action {
            Action::Recreate => {
                progress(&format!("recreating network {}", step.name));
                engine.remove_network(&step.name).await?;
                if let Some(net) = net {
                    engine.create_network(net).await?;
                }
            }
            Action::Create => {
                if let Some(net) = net {
                    progress(&format!("creating network {}", step.name));
                    engine.create_network(net).await?;
                }
            }
            _ => {}
        }
    }
    // Containers in waves: each wave's services depend only on earlier waves, and run at
    // once (at most PARALLEL at a time). A wave whose step failed ends the run once the rest
    // of that wave is done: a step is never cut off halfway.
    let steps: BTreeMap<&str, &ContainerStep> = plan
        .containers
        .iter()
        .filter(|step| step.action != Action::Remove)
        .filter_map(|step| Some((step.service.as_deref()?, step)))
        .collect();
    for wave in compose.start_waves() {
        // A signal: the waves before are done, nothing more is started.
        crate::util::interrupt::check()?;
        let mut runs = Vec::new();
        for service in wave {
            if let Some(step) = steps.get(service.name.as_str()) {
                runs.push(container_step(
                    engine, gate, compose, service, step, progress,
                ));
            }
        }
        let results: Vec<_> = futures_util::stream::iter(runs)
            .buffered(PARALLEL)
            .collect()
            .await;
        let mut failed = Vec::new();
        for result in results {
            match result {
                Ok(Some((name, record))) => {
                    done.restarted.insert(name, record);
                }
                Ok(None) => {}
                Err(e) => failed.push(e),
            }
        }
        match failed.len() {
            0 => {}
            1 => return Err(failed.remove(0)),
            _ => return Err(ExecError::Several(failed)),
        }
    }
    for step in &plan.networks {
        if step.action == Action::Remove {
            progress(&format!("removing network {}", step.name));
            engine.remove_network(&step.name).await?;
        }
    }
    Ok(())
}

/// Containers (re)created, restarted or started at once.
const PARALLEL: usize = 8;

/// Carries out one container's step; a restart returns its record (name, (id, identity)).
async fn container_step<H: Host>(
    engine: &impl Engine,
    gate: &Gate<'_, H>,
    compose: &Compose,
    service: &Service,
    step: &ContainerStep,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Option<(String, (String, Identity))>, ExecError> {
    let identity = || match (&step.desired, &step.image_id) {
        (Some(identity), Some(image_id)) => Ok((identity.clone(), image_id.clone())),
        _ => Err(ExecError::Step {
            name: step.name.clone(),
            why: "its image id is unknown".into(),
        }),
    };
    let name = &step.name;
    // Not started once a signal asked to stop (the other steps of its wave finish).
    crate::util::interrupt::check()?;
    if let Some(job) = &service.job {
        if matches!(step.action, Action::Create | Action::Recreate) {
            progress(&format!("running job {name}"));
            run_job(
                engine,
                compose,
                service,
                &identity()?,
                name,
                !step.fresh(),
                job.timeout,
            )
            .await?;
        }
        return Ok(None);
    }
    // A container on a recreated network was removed with it: it is created anew.
    if step.fresh() {
        progress(&format!("creating {name}"));
        create_started(engine, compose, service, &identity()?, name).await?;
        if let Err(why) = wait_healthy(engine, gate, service, name).await {
            let _ = engine.remove(name, true).await;
            return Err(ExecError::Unhealthy {
                name: name.clone(),
                why,
            });
        }
        return Ok(None);
    }
    match step.action {
        Action::Recreate => {
            progress(&format!("recreating {name}"));
            replace(engine, gate, compose, service, &identity()?, name).await?;
        }
        Action::Restart => {
            progress(&format!("restarting {name}"));
            engine.restart(name, service.spec.stop_grace_period).await?;
            if let Err(why) = wait_healthy(engine, gate, service, name).await {
                return Err(ExecError::RestartFailed {
                    name: name.clone(),
                    why,
                });
            }
            let id = engine.state(name).await?.id;
            return Ok(Some((name.clone(), (id, identity()?.0))));
        }
        Action::Start => {
            progress(&format!("starting {name}"));
            engine.start(name).await?;
        }
        // Create: done above; Remove, Recover: before the networks.
        Action::Create | Action::Remove | Action::Recover | Action::Unchanged => {}
    }
    Ok(None)
}

/// Creates the container of `service` as `name`, on its networks, and starts it.
async fn create_started(
    engine: &impl Engine,
    compose: &Compose,
    service: &Service,
    (identity, image_id): &(Identity, String),
    name: &str,
) -> Result<(), ExecError> {
    let labels = identity.labels(engine.fleet(), &service.name, image_id);
    engine
        .create_container(name, compose, service, &labels)
        .await?;
    if let Err(e) = engine.start(name).await {
        // Not left behind half made: the next apply starts from what was there before.
        let _ = engine.remove(name, true).await;
        return Err(e.into());
    }
    Ok(())
}

/// Can the new container run beside the old one while it proves healthy? Not with fixed
/// addresses, host networking or published ports: those belong to one container at a time.
fn side_by_side(service: &Service) -> bool {
    let spec = &service.spec;
    !matches!(spec.network_mode, Some(NetworkMode::Host))
        && spec.network_mode.is_none()
        && spec.ports.is_empty()
        && spec
            .networks
            .values()
            .all(|a| a.ipv4_address.is_none() && a.ipv6_address.is_none())
}

/// Replaces the running container `name` by a new one, health-gated.
async fn replace<H: Host>(
    engine: &impl Engine,
    gate: &Gate<'_, H>,
    compose: &Compose,
    service: &Service,
    identity: &(Identity, String),
    name: &str,
) -> Result<(), ExecError> {
    let grace = service.spec.stop_grace_period;
    if side_by_side(service) {
        // The new one starts beside the old one; the old one stops only once the new one is
        // healthy.
        // (What an interrupted run left under that name was recovered first: plan::recover.)
        let new = format!("{name}{NEW_SUFFIX}");
        let healthy = match create_started(engine, compose, service, identity, &new).await {
            Ok(()) => wait_healthy(engine, gate, service, &new).await,
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = healthy {
            if let Err(e) = engine.remove_if_present(&new, true).await {
                return Err(ExecError::Unfinished {
                    name: name.to_string(),
                    why,
                    undo: e.to_string(),
                    left: format!(
                        "the new container is left as {new}, the previous one {name} was not \
                         touched; the next apply removes {new}"
                    ),
                });
            }
            return Err(ExecError::RolledBack {
                name: name.to_string(),
                why,
                old_restarted: false,
            });
        }
        engine.stop(name, grace).await?;
        engine.remove(name, false).await?;
        engine.rename(&new, name).await?;
        return Ok(());
    }
    // Fixed addresses, host networking, published ports: the old one steps aside first, and
    // comes back if the new one fails.
    let old = format!("{name}{OLD_SUFFIX}");
    engine.rename(name, &old).await?;
    engine.stop(&old, grace).await?;
    let created = create_started(engine, compose, service, identity, name).await;
    let outcome = match created {
        Ok(()) => wait_healthy(engine, gate, service, name).await,
        Err(e) => Err(e.to_string()),
    };
    match outcome {
        Ok(()) => {
            engine.remove(&old, false).await?;
            Ok(())
        }
        Err(why) => {
            let undo = async {
                engine.remove_if_present(name, true).await?;
                engine.rename(&old, name).await?;
                engine.start(name).await
            }
            .await;
            match undo {
                Ok(()) => Err(ExecError::RolledBack {
                    name: name.to_string(),
                    why,
                    old_restarted: true,
                }),
                Err(e) => Err(ExecError::Unfinished {
                    name: name.to_string(),
                    why,
                    undo: e.to_string(),
                    left: format!(
                        "the previous container is kept, stopped, as {old}; the next apply puts \
                         the previous container back"
                    ),
                }),
            }
        }
    }
}

/// Runs a job: its previous container (`replace`) removed, a new one created and started,
/// and waited for until it exits (0: done) or `timeout` passes (it is stopped). A failed run
/// keeps its container, for `docker logs`; the error quotes the last lines it printed.
async fn run_job(
    engine: &impl Engine,
    compose: &Compose,
    service: &Service,
    identity: &(Identity, String),
    name: &str,
    replace: bool,
    timeout: Duration,
) -> Result<(), ExecError> {
    let grace = service.spec.stop_grace_period;
    if replace {
        engine.stop(name, grace).await?;
        engine.remove(name, false).await?;
    }
    create_started(engine, compose, service, identity, name).await?;
    let why = match engine.wait_exit(name, timeout).await? {
        Some(0) => return Ok(()),
        Some(code) => format!("exit status {code}"),
        None => {
            engine.stop(name, grace).await?;
            format!("not done after {} s, stopped", timeout.as_secs())
        }
    };
    let printed = engine
        .logs_tail(name, JOB_LOG_LINES)
        .await
        .unwrap_or_default();
    let printed = printed.trim();
    Err(ExecError::JobFailed {
        name: name.to_string(),
        why: if printed.is_empty() {
            format!("{why}, nothing printed")
        } else {
            format!("{why}; it printed: {}", printed.replace('\n', " / "))
        },
    })
}

/// How much of a failed job's output its error quotes.
const JOB_LOG_LINES: usize = 5;

/// What a health gate needs beside the engine: the host, whose point of view a check may
/// take, and the redactor of the checks' output; it keeps the checks that passed (the
/// report's), by container.
pub struct Gate<'a, H> {
    pub host: &'a H,
    pub redactor: &'a crate::util::redact::Redactor,
    passed: std::sync::Mutex<Vec<(String, CheckResult)>>,
}

impl<'a, H> Gate<'a, H> {
    pub fn new(host: &'a H, redactor: &'a crate::util::redact::Redactor) -> Self {
        Gate {
            host,
            redactor,
            passed: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The checks that passed, in the order they ran: (container, result).
    pub fn passed(self) -> Vec<(String, CheckResult)> {
        self.passed.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

/// Restarts `name` and waits until it is healthy, as after a (re)creation.
pub(super) async fn restart_healthy<H: Host>(
    engine: &impl Engine,
    gate: &Gate<'_, H>,
    service: &Service,
    name: &str,
) -> Result<(), String> {
    engine
        .restart(name, service.spec.stop_grace_period)
        .await
        .map_err(|e| e.to_string())?;
    wait_healthy(engine, gate, service, name).await
}

/// Waits until `name` is healthy (services with a healthcheck) or at least still running a
/// moment after its start (the others). Err says why, with the last healthcheck output.
/// Then its checks (`x-nxinfra.checks`) pass, each in turn; Err quotes the first that fails.
async fn wait_healthy<H: Host>(
    engine: &impl Engine,
    gate: &Gate<'_, H>,
    service: &Service,
    name: &str,
) -> Result<(), String> {
    let gated = async {
        wait_healthy_until_done(engine, service, name).await?;
        for check in service.checks.iter().filter(|c| c.gate) {
            let result = crate::host::checks::run_service_check(
                gate.host,
                engine,
                name,
                check,
                gate.redactor,
            )
            .await;
            if !result.passed {
                return Err(result.failure());
            }
            // A side-by-side container's new name is its own once it has passed.
            let container = name.strip_suffix(NEW_SUFFIX).unwrap_or(name);
            gate.passed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((container.to_string(), result));
        }
        Ok(())
    };
    // A signal gives the wait up: the caller undoes the step (the previous container back).
    tokio::select! {
        waited = gated => waited,
        () = crate::util::interrupt::stopped() => Err(format!(
            "interrupted by {} while it was waited for",
            crate::util::interrupt::received().map_or("a signal", crate::util::interrupt::name)
        )),
    }
}

async fn wait_healthy_until_done(
    engine: &impl Engine,
    service: &Service,
    name: &str,
) -> Result<(), String> {
    let check = match &service.spec.healthcheck {
        Some(Healthcheck::Check(c)) => Some(c),
        _ => None,
    };
    let deadline = match check {
        // Bounded at parse time (compose::MAX_DURATION, MAX_RETRIES); saturating all the same.
        Some(c) => c
            .start_period
            .saturating_add(
                c.interval
                    .saturating_add(c.timeout)
                    .saturating_mul(c.retries.saturating_add(1)),
            )
            .saturating_add(Duration::from_secs(5)),
        None => Duration::from_millis(0),
    };
    let start = Instant::now();
    loop {
        let state = engine.state(name).await.map_err(|e| e.to_string())?;
        if !state.running {
            return Err(format!("it exited with status {}", state.exit_code));
        }
        let Some(_) = check else {
            return Ok(());
        };
        let health = state.health.unwrap_or_default();
        let last_output = || {
            health
                .last_output
                .clone()
                .unwrap_or_else(|| "no output".into())
        };
        match health.status.as_str() {
            "healthy" => return Ok(()),
            "unhealthy" => return Err(format!("unhealthy: {}", last_output())),
            _ if start.elapsed() > deadline => {
                return Err(if health.ran {
                    format!(
                        "not healthy after {} s: {}",
                        deadline.as_secs(),
                        last_output()
                    )
                } else {
                    format!(
                        "no healthcheck result after {} s: the engine never ran the check \
                         (Podman runs healthchecks from systemd timers, so not without systemd)",
                        deadline.as_secs()
                    )
                });
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Completes or undoes what an interrupted apply left under `name` ([`Recover`]).
async fn recover(engine: &impl Engine, name: &str, how: &Recover) -> Result<(), ExecError> {
    match how {
        Recover::PutBack { aside, unverified } => {
            if let Some(unverified) = unverified {
                engine.remove(unverified, true).await?;
            }
            engine.rename(aside, name).await?;
            // One already running (an engine restarted it on its own) answers 304: fine.
            engine.start(name).await?;
        }
        Recover::Complete { new } => engine.rename(new, name).await?,
    }
    Ok(())
}

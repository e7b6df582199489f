//! `nxinfra apply` on many hosts: per host, sync its files and keep its lock, reach its engine
//! through the same SSH connection, plan, and (unless `--dry-run`) carry the plan out.

pub mod execute;
mod journal;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::host::engine::{DockerEngine, Engine, EngineError};
use crate::host::files::{Held, SyncOptions, lock_and_plan, split};
use crate::host::runner::HostFailure;
use crate::host::session::{HostSession, SessionError};
use crate::host::{Host, Upload};
use crate::model::compose::{self, Compose};
use crate::model::manifest::ContainerRecord;
use crate::model::observed::Observed;
use crate::model::target::Target;
use crate::plan::containers::{self, Action, ApplyPlan, Desired, PlanError, Restarted};
use crate::plan::files::SyncPlan;
use crate::plan::identity::{self, Identity};
use crate::plan::restore;
use crate::render::OutFile;
use crate::util::progress::Progress;

/// What happened on a host that did not fail.
#[derive(Debug)]
pub struct HostApply {
    pub sync: SyncPlan,
    pub diff: Option<String>,
    pub plan: ApplyPlan,
    /// The checks (`x-nxinfra.checks`) of the containers created, recreated or restarted,
    /// all passed: (container, result).
    pub checks: Vec<(String, crate::plan::checks::CheckResult)>,
    /// The record this apply added to the host's deploy journal, if it changed anything.
    pub journal: Option<crate::model::journal::Record>,
    /// The host's pins afterwards.
    pub pins: crate::model::journal::Pins,
    /// Docker API calls made after connecting: (reads, writes).
    pub api_calls: (usize, usize),
    pub api_version: String,
    pub elapsed: Duration,
    /// From the lock taken and the files planned to the end: reading the engine, planning,
    /// pulling, placing the files, carrying the plan out.
    pub reconcile: Duration,
    /// The host's hold (`nxinfra_hold`): an apply (or a rollback) does not contact it, a
    /// dry run or a plan says what it would otherwise change.
    pub held: Option<crate::model::hold::Hold>,
}

impl HostApply {
    pub fn is_noop(&self) -> bool {
        self.sync.is_noop() && self.plan.is_noop()
    }

    /// Whether the run changes (or would change) the host: something to do, and no hold.
    pub fn changes(&self) -> bool {
        !self.is_noop() && self.held.is_none()
    }

    /// A held host, left as it is without being contacted.
    fn held(hold: &crate::model::hold::Hold) -> HostApply {
        HostApply {
            sync: SyncPlan::default(),
            diff: None,
            plan: ApplyPlan::default(),
            checks: Vec::new(),
            journal: None,
            pins: Default::default(),
            api_calls: (0, 0),
            api_version: String::new(),
            elapsed: Duration::ZERO,
            reconcile: Duration::ZERO,
            held: Some(hold.clone()),
        }
    }

    /// `2 files; create web, recreate db (environment changed)`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.sync.is_noop() {
            parts.push(self.sync.summary());
        }
        for n in &self.plan.networks {
            if n.action != Action::Unchanged {
                parts.push(format!("{} network {}", verb(n.action), n.name));
            }
        }
        for c in &self.plan.containers {
            if c.action != Action::Unchanged {
                let why = if c.reasons.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.reasons.join(", "))
                };
                parts.push(format!("{} {}{why}", verb(c.action), c.name));
            }
        }
        if parts.is_empty() {
            "unchanged".into()
        } else {
            parts.join("; ")
        }
    }
}

pub use crate::plan::containers::verb;

/// What an apply sets out to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Deploy {
    /// compose.yml as rendered, pinned services kept at their image.
    #[default]
    Apply,
    /// `nxinfra rollback`: `services` (default: those the last deploy changed) recreated with
    /// the image ids of deploy `to` (default: the last good one before the last), and pinned.
    Rollback {
        to: Option<u64>,
        services: Vec<String>,
    },
}

/// Why a host's apply failed. Each names its stage's error, whose message says what and where.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{0} is not rendered: nothing to apply")]
    NotRendered(String),
    #[error(transparent)]
    Compose(#[from] compose::ComposeError),
    /// Connecting, the lock, the file sync.
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Reach(#[from] crate::host::ReachError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Interrupted(#[from] crate::util::interrupt::Interrupted),
    /// A pull failed (nothing changed yet).
    #[error(transparent)]
    Pull(#[from] execute::ExecError),
    #[error(transparent)]
    PinGone(#[from] crate::plan::journal::PinGone),
    #[error(transparent)]
    Rollback(#[from] crate::plan::journal::RollbackError),
    #[error(transparent)]
    History(#[from] crate::host::files::HistoryError),
    #[error(
        "deploy {to}'s image of {service} ({image_id}) is no longer on the host (removed by `nxinfra prune` or by hand): it cannot be rolled back to; nothing was changed"
    )]
    RollbackImageGone {
        service: String,
        image_id: String,
        to: u64,
    },
    /// A rollback changes images only: anything else the checkout would change first stops it.
    #[error(
        "the checkout differs from what is deployed ({what}), and a rollback changes images only; nothing was changed: check out the deployed commit{commit} (or `nxinfra apply` first)"
    )]
    RollbackPending { what: String, commit: String },
    /// A step failed; `afterwards` says what became of the previous files (put back or not).
    #[error("{error}{afterwards}")]
    Step {
        error: execute::ExecError,
        afterwards: String,
    },
}

/// Why putting a failed service's previous files back failed.
#[derive(Debug, thiserror::Error)]
enum PutBackError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{0} is not a service of compose.yml")]
    NotAService(String),
    #[error("{container} restarted with them, but: {why}")]
    Restart { container: String, why: String },
}

/// Applies every host; one outcome per host, in the given order.
pub fn apply_all(
    hosts: Vec<(Target, BTreeMap<String, OutFile>)>,
    opts: &SyncOptions,
    deploy: &Deploy,
    progress: Arc<Progress>,
) -> Vec<(String, Result<HostApply, HostFailure>)> {
    let items = hosts
        .into_iter()
        .map(|(t, files)| (t.host.clone(), (t, files)))
        .collect();
    crate::host::runner::for_hosts(
        items,
        opts.forks,
        opts.redactor.clone(),
        |i, (target, files)| {
            let progress = &progress;
            async move {
                let result = apply_host(&target, files, opts, deploy, &|what: &str| {
                    progress.phase(i, what)
                })
                .await;
                progress.finish(
                    i,
                    &match &result {
                        Ok(
                            a @ HostApply {
                                held: Some(hold), ..
                            },
                        ) => hold.line(&a.summary(), a.is_noop()),
                        Ok(a) if a.is_noop() => "unchanged".to_string(),
                        Ok(a) if !opts.mode.changes() => format!("would {}", a.summary()),
                        Ok(a) => a.summary(),
                        Err(e) => format!("FAILED: {e}"),
                    },
                );
                result
            }
        },
    )
}

async fn apply_host(
    target: &Target,
    files: BTreeMap<String, OutFile>,
    opts: &SyncOptions,
    deploy: &Deploy,
    phase: &(dyn Fn(&str) + Sync),
) -> Result<HostApply, ApplyError> {
    if let Some(hold) = &target.holds.host
        && opts.mode.changes()
    {
        return Ok(HostApply::held(hold));
    }
    let start = Instant::now();
    let host = &target.host;
    // compose.yml first: a bad file stops the host before anything is touched.
    let compose_path = format!("rendered/{host}/compose.yml");
    let compose = match files.get("compose.yml") {
        Some(f) => {
            let text = String::from_utf8_lossy(&f.data);
            compose::parse(Path::new(&compose_path), &text)?
        }
        // A cluster node that runs only the cluster's services (stack.yml): no per-host
        // container of this fleet is wanted there.
        None if files.contains_key(crate::model::compose::stack::FILE) => Compose {
            file: compose_path.into(),
            services: BTreeMap::new(),
            networks: BTreeMap::new(),
            volumes: BTreeMap::new(),
        },
        None => return Err(ApplyError::NotRendered(compose_path)),
    };
    let (files, system) = split(target, files)?;
    let result = crate::host::with_engine(
        target,
        &opts.ssh,
        phase,
        async |session: &HostSession, engine: &DockerEngine| {
            locked(
                session, engine, &compose, &files, &system, opts, deploy, phase,
            )
            .await
        },
    )
    .await
    .map_err(ApplyError::from)
    .and_then(|r| r);
    result.map(|a| HostApply {
        elapsed: start.elapsed(),
        held: target.holds.host.clone(),
        ..a
    })
}

/// Under the host's lock: plan the files and the containers, pull, then (unless `--dry-run`)
/// place the files and carry the containers' plan out, and record the deploy in the host's
/// journal. Anything found wrong before the files move (a container nxinfra does not own in
/// the way, an image that cannot be had, a pinned image gone) leaves the host as it was.
#[allow(clippy::too_many_arguments)]
async fn locked<H: Host>(
    session: &H,
    engine: &impl Engine,
    compose: &Compose,
    files: &BTreeMap<String, OutFile>,
    system: &[crate::model::system_files::Placed],
    opts: &SyncOptions,
    deploy: &Deploy,
    phase: &(dyn Fn(&str) + Sync),
) -> Result<HostApply, ApplyError> {
    let target = session.target();
    let sync = lock_and_plan(session, files, system, opts, phase).await?;
    let reconcile_start = Instant::now();
    let records = sync.remote.containers.clone();
    let n = sync.journal.next();
    // A rollback's choice and the pins it adds; the pins the plan honours.
    let chosen = match deploy {
        Deploy::Apply => Ok(None),
        Deploy::Rollback { to, services } => journal::choose(
            session,
            engine,
            compose,
            (&sync.plan, &sync.journal),
            *to,
            services,
            phase,
        )
        .await
        .map(Some),
    };
    let chosen = match chosen {
        Ok(c) => c,
        Err(e) => {
            let _ = sync.lock.release().await;
            return Err(e);
        }
    };
    let pins = match &chosen {
        Some(choice) => crate::plan::journal::pins_after_rollback(
            &sync.journal.pins,
            choice,
            n,
            &journal::now(),
            &opts.source.operator,
        ),
        None => sync.journal.pins.clone(),
    };
    let planned = plan_containers(
        engine,
        target,
        compose,
        &pins,
        &sync.placed().files,
        &records,
        !opts.mode.changes(),
        phase,
    )
    .await
    .and_then(|p| match &chosen {
        Some(choice) => journal::only_rolled_back(p, choice, &sync.journal),
        None => Ok(p),
    });
    let Planned {
        plan,
        mut kept,
        compose: pinned,
        observed,
    } = match planned {
        Ok(p) => p,
        Err(e) => {
            let _ = sync.lock.release().await;
            return Err(e);
        }
    };
    let rendered = compose;
    let compose = &pinned;
    let pins_before = sync.journal.pins.clone();
    // The previous content of the changing files that services about to be recreated or
    // restarted mount: put back if their service fails (restore.rs).
    let at_risk = if !opts.mode.changes() {
        BTreeMap::new()
    } else {
        restore::at_risk(compose, &plan, &sync.plan, &target.base_dir)
    };
    let previous = match keep_previous(session, &sync.remote, &at_risk).await {
        Ok(previous) => previous,
        Err(e) => {
            let _ = sync.lock.release().await;
            return Err(e.into());
        }
    };
    let synced = sync.upload(files, system, opts, phase).await?;
    let mut lock = synced.lock;
    // What the host's manifest will say: the synced files (or those put back after a
    // failure), with the restart records of the containers that are as they were or were
    // restarted now, failure or not.
    let mut on_host = synced.manifest.clone();
    let mut failure = None;
    let mut checks = Vec::new();
    let executing = opts.mode.changes() && !plan.is_noop();
    if executing {
        let mut done = execute::Done::default();
        let gate = execute::Gate::new(session, &opts.redactor);
        let executed = execute::execute(engine, &gate, compose, &plan, &mut done, phase).await;
        checks = gate.passed();
        for (name, (id, identity)) in done.restarted {
            kept.insert(
                name,
                ContainerRecord {
                    id,
                    hash: identity.hash.clone(),
                    fields: identity::encode(&identity.fields),
                    mounts: identity::encode(&identity.mounts),
                },
            );
        }
        if let Err(e) = executed {
            let put_back = PutBack {
                session,
                lock: &mut lock,
                engine,
                compose,
                plan: &plan,
                system,
                now: &synced.manifest,
                redactor: &opts.redactor,
            };
            let (afterwards, manifest) =
                after_failure(&e, put_back, files, &at_risk, &previous, phase).await;
            if let Some(manifest) = manifest {
                on_host = manifest;
            }
            failure = Some(ApplyError::Step {
                error: e,
                afterwards,
            });
        }
    }
    // The deploy's record, when it changed something. A rollback's pins are written once it
    // held: after a failure the host keeps the pins it had.
    let pins_written = (chosen.is_some() && failure.is_none()).then(|| pins.clone());
    let pins_after = pins_written.clone().unwrap_or(pins_before);
    let mut written = None;
    if opts.mode.changes() && (executing || !synced.plan.is_noop()) {
        let after = if executing {
            engine.observe().await.unwrap_or(observed)
        } else {
            observed
        };
        let record = journal::record(
            journal::Facts {
                n,
                source: &opts.source,
                to: chosen.as_ref().map(|c| c.to),
                failure: failure.as_ref(),
                files: &synced.plan,
                redactor: &opts.redactor,
            },
            rendered,
            &plan,
            &after,
            &pins_after,
        );
        let write = crate::model::journal::JournalWrite {
            record: Some(record.clone()),
            keep: target.journal.history,
            pins: pins_written,
        };
        if let Err(e) = lock.record(&write).await {
            return Err(failure.unwrap_or(e.into()));
        }
        written = Some(record);
    }
    let finished = if kept != on_host.containers && opts.mode.changes() {
        let manifest = on_host.with_containers(kept);
        lock.write_manifest_and_release(&manifest).await
    } else {
        lock.release().await
    };
    if let Some(failure) = failure {
        return Err(failure);
    }
    finished?;
    Ok(HostApply {
        sync: synced.plan,
        diff: synced.diff,
        plan,
        checks,
        journal: written,
        pins: pins_after,
        api_calls: engine.calls(),
        api_version: engine.api_version(),
        elapsed: Duration::ZERO,
        reconcile: reconcile_start.elapsed(),
        held: None,
    })
}

/// A host's containers planned: the plan, the restart records still valid, compose.yml with
/// the pins applied (what is carried out), and the engine as read.
struct Planned {
    plan: ApplyPlan,
    kept: BTreeMap<String, ContainerRecord>,
    compose: Compose,
    observed: Observed,
}

/// Reads the engine and plans its containers, their mounts as `placed` (a held file as the
/// host has it), the pinned services kept at their image ids;
/// unless `dry_run`, pulls what the plan pulls and plans again (a container's identity
/// includes its image id, known once the image is there). Each pinned step says what
/// unpinning it would change.
#[allow(clippy::too_many_arguments)]
async fn plan_containers(
    engine: &impl Engine,
    target: &Target,
    compose: &Compose,
    pins: &crate::model::journal::Pins,
    placed: &BTreeMap<String, crate::model::manifest::Entry>,
    records: &BTreeMap<String, ContainerRecord>,
    dry_run: bool,
    phase: &(dyn Fn(&str) + Sync),
) -> Result<Planned, ApplyError> {
    phase("reading the engine's state");
    let mut observed = engine.observe().await?;
    if let Some(gone) = crate::plan::journal::missing_pinned(compose, pins, &observed) {
        return Err(gone.into());
    }
    let pinned = crate::plan::journal::pinned(compose, pins);
    let restarted: BTreeMap<String, Restarted> = records
        .iter()
        .filter_map(|(name, r)| {
            let identity =
                Identity::from_parts(identity::decode(&r.fields)?, identity::decode(&r.mounts)?);
            (identity.hash == r.hash).then(|| {
                (
                    name.clone(),
                    Restarted {
                        container_id: r.id.clone(),
                        identity,
                    },
                )
            })
        })
        .collect();
    let planned = |compose: &Compose, observed: &Observed| {
        let desired = Desired {
            compose,
            tree: placed,
            base_dir: &target.base_dir,
            fleet: &target.fleet,
        };
        containers::plan(
            &desired,
            observed,
            &restarted,
            &containers::network_difference,
        )
    };
    let mut plan = planned(&pinned, &observed)?;
    if !dry_run && !plan.images.is_empty() {
        // A signal during a pull: nothing was changed yet, nothing is.
        tokio::select! {
            pulled = execute::pull(engine, &plan.images, phase) => pulled?,
            e = crate::util::interrupt::interrupted() => return Err(e.into()),
        }
        phase("reading the engine's state");
        observed = engine.observe().await?;
        let pulled = std::mem::take(&mut plan.images);
        plan = planned(&pinned, &observed)?;
        plan.images = pulled;
    }
    if !pins.is_empty() {
        let unpinned = planned(compose, &observed);
        match &unpinned {
            Ok(other) => crate::plan::journal::annotate(&mut plan, pins, Ok(other)),
            Err(e) => crate::plan::journal::annotate(&mut plan, pins, Err(e)),
        }
    }
    let kept = records
        .iter()
        .filter(|(name, r)| {
            observed.container(name).is_some_and(|c| c.id == r.id)
                && plan
                    .containers
                    .iter()
                    .any(|s| &s.name == *name && s.action == Action::Unchanged)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Planned {
        plan,
        kept,
        compose: pinned,
        observed,
    })
}

/// The current content (and mode, from the host's manifest) of the files in `at_risk` that
/// exist on the host: one remote command, only when a service at risk mounts a changing file.
async fn keep_previous(
    session: &impl Host,
    remote: &crate::model::manifest::Manifest,
    at_risk: &BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, OutFile>, SessionError> {
    let mut paths: Vec<String> = at_risk
        .values()
        .flatten()
        .filter(|p| remote.files.contains_key(*p))
        .cloned()
        .collect();
    paths.sort();
    paths.dedup();
    let fetched = session
        .fetch(&paths, &[], "keeping the files a rollback would put back")
        .await?;
    Ok(fetched
        .into_iter()
        .filter_map(|(path, data)| {
            let mode = remote.files.get(&path)?.mode;
            Some((
                path,
                OutFile {
                    data: data.into(),
                    mode,
                },
            ))
        })
        .collect())
}

/// After `e`: syncs back, as they were, the changed mounts of every container it left running
/// its previous version, restarting those that must read them again. Returns what became of
/// the files (`; the previous files were put back (…)`, or why not), and the manifest now on
/// the host, if it changed.
async fn after_failure(
    e: &execute::ExecError,
    put_back: PutBack<'_, '_, impl Host, impl Engine>,
    files: &BTreeMap<String, OutFile>,
    at_risk: &BTreeMap<String, Vec<String>>,
    previous: &BTreeMap<String, OutFile>,
    phase: &(dyn Fn(&str) + Sync),
) -> (String, Option<crate::model::manifest::Manifest>) {
    let mut message = String::new();
    let mut paths: Vec<String> = Vec::new();
    let mut restarts: Vec<&str> = Vec::new();
    for (name, restart) in e.restored() {
        if let Some(p) = at_risk.get(name) {
            paths.extend(p.iter().cloned());
            if restart {
                restarts.push(name);
            }
        }
    }
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        return (message, None);
    }
    let tree = restore::restored_tree(files, &paths, previous);
    match put_files_back(put_back, &tree, &restarts, phase).await {
        Ok(manifest) => {
            message.push_str(&format!(
                "; the previous files were put back ({})",
                paths.join(", ")
            ));
            (message, Some(manifest))
        }
        Err(why) => {
            message.push_str(&format!("; putting the previous files back failed: {why}"));
            (message, None)
        }
    }
}

/// What putting a failed service's files back works with.
struct PutBack<'a, 's, H: Host + 's, E: Engine> {
    session: &'a H,
    lock: &'a mut Held<H::Lock<'s>>,
    engine: &'a E,
    compose: &'a Compose,
    plan: &'a ApplyPlan,
    system: &'a [crate::model::system_files::Placed],
    /// The host's manifest now (after the upload).
    now: &'a crate::model::manifest::Manifest,
    redactor: &'a crate::util::redact::Redactor,
}

/// Syncs `tree` (the synced files with the failed containers' mounts as they were) under the
/// held lock, then restarts the `restarts` containers so that they read them. Returns the
/// manifest now on the host.
async fn put_files_back(
    p: PutBack<'_, '_, impl Host, impl Engine>,
    tree: &BTreeMap<String, OutFile>,
    restarts: &[&str],
    phase: &(dyn Fn(&str) + Sync),
) -> Result<crate::model::manifest::Manifest, PutBackError> {
    use crate::model::manifest::Manifest;
    let target = p.session.target();
    let local = Manifest::of_files(tree)
        .with_system(p.system)
        .with_containers(p.now.containers.clone());
    let back = crate::plan::files::plan(&local, p.now, &target.system_files);
    if !back.is_noop() {
        phase("putting the previous files back");
        let upload = Upload {
            files: tree,
            system: p.system,
            plan: &back,
            manifest: &local,
        };
        p.lock.place(&upload, phase).await?;
    }
    for container in restarts {
        let service = p
            .plan
            .containers
            .iter()
            .find(|s| s.name == *container)
            .and_then(|s| s.service.as_ref())
            .and_then(|s| p.compose.services.get(s))
            .ok_or_else(|| PutBackError::NotAService(container.to_string()))?;
        phase(&format!("restarting {container} with its previous files"));
        let gate = execute::Gate::new(p.session, p.redactor);
        execute::restart_healthy(p.engine, &gate, service, container)
            .await
            .map_err(|why| PutBackError::Restart {
                container: container.to_string(),
                why,
            })?;
    }
    Ok(local)
}

#[cfg(test)]
mod tests;

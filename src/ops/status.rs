//! `nxinfra status` on many hosts: per host, read-only (no lock, nothing written): the
//! placed files' drift, the engine's containers and the state of each desired one, the
//! host's facts; decided by [`crate::plan::status`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::host::engine::{DockerEngine, Engine, EngineError};
use crate::host::files::read_suspects;
use crate::host::runner::HostFailure;
use crate::host::session::{HostSession, SessionError, SshOptions};
use crate::host::{Host, ReachError};
use crate::model::compose::{self, Compose};
use crate::model::target::Target;
use crate::plan::checks::CheckResult;
use crate::plan::identity::{self, Owner};
use crate::plan::status::{Assessment, HostFacts, State, assess};
use crate::render::OutFile;
use crate::util::progress::Progress;
use crate::util::redact::Redactor;

pub struct StatusOptions {
    pub forks: usize,
    pub ssh: SshOptions,
    pub redactor: Arc<Redactor>,
    /// Run the services' checks (`x-nxinfra.checks`) and the host's (`nxinfra_checks`).
    pub checks: bool,
}

/// One host's status.
#[derive(Debug, Serialize)]
pub struct HostStatus {
    #[serde(flatten)]
    pub assessment: Assessment,
    pub facts: HostFacts,
    pub engine: EngineFacts,
    /// With `--checks`: every check run, the services' then the host's.
    pub checks: Vec<CheckRun>,
    /// The services kept at an image by a rollback (`nxinfra unpin` drops them).
    pub pins: crate::model::journal::Pins,
    /// The host's last deploy, from its journal.
    pub last_deploy: Option<crate::model::journal::Record>,
    /// Remote commands run and Docker API calls made (reads; status makes no write).
    pub remote_commands: usize,
    pub api_reads: usize,
    #[serde(skip)]
    pub elapsed: Duration,
    /// The holds in force on the host (`--json` carries them as `held`); a held file changed
    /// on the host is not drift.
    #[serde(skip)]
    pub holds: crate::model::hold::Holds,
}

#[derive(Debug, Serialize)]
pub struct EngineFacts {
    pub version: String,
    pub api_version: String,
}

/// One check run by status: whose (a service's, or the host's when `service` is none).
#[derive(Debug, Serialize)]
pub struct CheckRun {
    pub service: Option<String>,
    #[serde(flatten)]
    pub result: CheckResult,
}

impl HostStatus {
    pub fn as_desired(&self) -> bool {
        self.assessment.as_desired() && self.checks.iter().all(|c| c.result.passed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{0} is not rendered: nothing to compare with")]
    NotRendered(String),
    #[error(transparent)]
    Compose(#[from] compose::ComposeError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Reach(#[from] ReachError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The status of every host; one outcome per host, in the given order.
pub fn status_all(
    hosts: Vec<(Target, BTreeMap<String, OutFile>)>,
    opts: &StatusOptions,
    progress: Arc<Progress>,
) -> Vec<(String, Result<HostStatus, HostFailure>)> {
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
                let result =
                    status_host(&target, &files, opts, &|what: &str| progress.phase(i, what)).await;
                progress.finish(
                    i,
                    &match &result {
                        Ok(s) if s.as_desired() => "as desired".to_string(),
                        Ok(_) => "NOT as desired".to_string(),
                        Err(e) => format!("FAILED: {e}"),
                    },
                );
                result
            }
        },
    )
}

/// compose.yml of a rendered host: what its engine should run.
pub fn desired(host: &str, files: &BTreeMap<String, OutFile>) -> Result<Compose, StatusError> {
    let path = format!("rendered/{host}/compose.yml");
    match files.get("compose.yml") {
        Some(f) => Ok(compose::parse(
            Path::new(&path),
            &String::from_utf8_lossy(&f.data),
        )?),
        // A cluster node that runs only the cluster's services (stack.yml).
        None if files.contains_key(compose::stack::FILE) => Ok(Compose {
            file: path.into(),
            services: BTreeMap::new(),
            networks: BTreeMap::new(),
            volumes: BTreeMap::new(),
        }),
        None => Err(StatusError::NotRendered(path)),
    }
}

async fn status_host(
    target: &Target,
    files: &BTreeMap<String, OutFile>,
    opts: &StatusOptions,
    phase: &(dyn Fn(&str) + Sync),
) -> Result<HostStatus, StatusError> {
    let start = Instant::now();
    let compose = desired(&target.host, files)?;
    let status = crate::host::with_engine(
        target,
        &opts.ssh,
        phase,
        async |session: &HostSession, engine: &DockerEngine| {
            let reads_before = engine.calls().0;
            let commands_before = session.commands_run();
            let mut status = read(session, engine, &compose, opts, phase).await?;
            if opts.checks {
                status.checks = checks(session, engine, &compose, &status, opts, phase).await;
            }
            status.remote_commands = session.commands_run() - commands_before;
            status.api_reads = engine.calls().0 - reads_before;
            Ok::<_, StatusError>(status)
        },
    )
    .await??;
    Ok(HostStatus {
        elapsed: start.elapsed(),
        ..status
    })
}

/// Everything status reads on a host reached.
async fn read(
    session: &impl Host,
    engine: &impl Engine,
    compose: &Compose,
    opts: &StatusOptions,
    phase: &(dyn Fn(&str) + Sync),
) -> Result<HostStatus, StatusError> {
    phase("reading the manifest");
    let host_files = session.read_files().await?;
    let (mut drift, _) = read_suspects(session, &host_files, phase).await?;
    let holds = &session.target().holds;
    drift
        .changed
        .retain(|path, _| holds.of_path(path).is_none());
    phase("reading the host's facts");
    let facts = session
        .facts(None)
        .await
        .map_err(|reason| SessionError::Command {
            what: "reading the host's facts",
            reason,
        })?;
    phase("reading the engine");
    let observed = engine.observe().await?;
    let mut states = BTreeMap::new();
    for service in compose.services.values() {
        let name = &service.spec.container_name;
        let ours = observed.container(name).is_some_and(|c| {
            matches!(
                identity::container_owner(c, engine.fleet()),
                Owner::Ours | Owner::Unlabelled
            )
        });
        if ours {
            states.insert(name.clone(), engine.state(name).await?);
        }
    }
    let mut assessment = assess(compose, &observed, &states, &drift, engine.fleet());
    // A healthcheck's output can hold anything the container printed.
    for s in &mut assessment.services {
        if let State::Unhealthy { output: Some(o) } = &mut s.state {
            *o = opts.redactor.redact(o).into_owned();
        }
    }
    let engine_facts = EngineFacts {
        version: engine.version().await?,
        api_version: engine.api_version(),
    };
    Ok(HostStatus {
        assessment,
        facts,
        engine: engine_facts,
        checks: Vec::new(),
        pins: host_files.journal.pins.clone(),
        last_deploy: host_files.journal.last.clone(),
        remote_commands: 0,
        api_reads: 0,
        elapsed: Duration::ZERO,
        holds: holds.clone(),
    })
}

/// The checks of the services whose container runs (the others are not as desired already),
/// then the host's own; one after the other, as a gate runs them.
async fn checks(
    session: &impl Host,
    engine: &impl Engine,
    compose: &Compose,
    status: &HostStatus,
    opts: &StatusOptions,
    phase: &(dyn Fn(&str) + Sync),
) -> Vec<CheckRun> {
    let mut runs = Vec::new();
    for s in &status.assessment.services {
        let running = matches!(
            s.state,
            State::Running { .. } | State::Unhealthy { .. } | State::Starting
        );
        let Some(service) = compose.services.get(&s.service).filter(|_| running) else {
            continue;
        };
        for check in &service.checks {
            phase(&format!("checking {}: {}", s.service, check.name));
            let result = crate::host::checks::run_service_check(
                session,
                engine,
                &s.container,
                check,
                &opts.redactor,
            )
            .await;
            runs.push(CheckRun {
                service: Some(s.service.clone()),
                result,
            });
        }
    }
    for check in &session.target().checks {
        phase(&format!("checking {}", check.name));
        let result = crate::host::checks::run_host_check(session, check, &opts.redactor).await;
        runs.push(CheckRun {
            service: None,
            result,
        });
    }
    runs
}

#[cfg(test)]
mod tests {
    //! Status's reading on a host and an engine in memory ([`crate::host::fake`]);
    //! tests/status_e2e.rs shows the same on real sshd and dockerd.

    use super::*;
    use crate::host::fake::{FakeContainer, FakeEngine, FakeHost};
    use crate::model::manifest::Manifest;
    use crate::plan::identity;

    const COMPOSE: &str = "services:
  web:
    image: app:1
    network_mode: host
    x-nxinfra:
      checks:
        - {http: 'http://127.0.0.1:8080/', retries: 0}
  db: {image: app:1, network_mode: host}
";

    fn ours(name: &str, running: bool, exit_code: Option<i64>) -> FakeContainer {
        FakeContainer {
            id: format!("id-{name}"),
            image: "app:1".into(),
            image_id: "sha256:aa".into(),
            labels: [
                (identity::MANAGED, "true"),
                (identity::FLEET, "test"),
                (identity::SERVICE, name),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            running,
            exit_code,
            networks: Vec::new(),
        }
    }

    fn options(checks: bool) -> StatusOptions {
        StatusOptions {
            forks: 1,
            ssh: SshOptions::default(),
            redactor: Default::default(),
            checks,
        }
    }

    /// A host where web/app.conf was placed and recorded, web and db run.
    fn fleet() -> (FakeHost, FakeEngine, Compose) {
        let host = FakeHost::new("h1");
        {
            let mut s = host.state();
            s.files
                .insert("web/app.conf".into(), OutFile::new("v=1\n", 0o644));
            s.manifest = Manifest::of_files(&s.files);
            s.record();
            s.http
                .insert("http://127.0.0.1:8080/".into(), (200, "ok".into()));
        }
        let engine = FakeEngine::new("test");
        for name in ["web", "db"] {
            engine
                .state()
                .containers
                .insert(name.into(), ours(name, true, None));
        }
        let compose = compose::parse(Path::new("compose.yml"), COMPOSE).unwrap();
        (host, engine, compose)
    }

    async fn status(
        host: &FakeHost,
        engine: &FakeEngine,
        compose: &Compose,
        checks: bool,
    ) -> HostStatus {
        let opts = options(checks);
        match read(host, engine, compose, &opts, &|_| {}).await {
            Ok(mut s) => {
                if checks {
                    s.checks = super::checks(host, engine, compose, &s, &opts, &|_| {}).await;
                }
                s
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn as_desired_then_each_difference_named_and_nothing_written() {
        let (host, engine, compose) = fleet();
        let s = status(&host, &engine, &compose, true).await;
        assert!(s.as_desired(), "{s:?}");
        assert_eq!(s.engine.version, "fake 1.0");
        assert_eq!(s.checks.len(), 1);

        // db exited, a leftover runs, a placed file edited by hand, web's check answers 500.
        {
            let mut e = engine.state();
            e.containers.insert("db".into(), ours("db", false, Some(1)));
            e.containers.insert("old".into(), ours("old", true, None));
        }
        {
            let mut h = host.state();
            h.files
                .insert("web/app.conf".into(), OutFile::new("v=1\nby hand\n", 0o644));
            h.http
                .insert("http://127.0.0.1:8080/".into(), (500, "boom".into()));
        }
        let s = status(&host, &engine, &compose, true).await;
        assert!(!s.as_desired());
        let states: Vec<String> = s
            .assessment
            .services
            .iter()
            .map(|c| format!("{}: {}", c.container, c.state))
            .collect();
        assert_eq!(states, ["db: exited (1)", "web: running"]);
        assert_eq!(s.assessment.not_desired[0].container, "old");
        assert_eq!(s.assessment.changed_on_host[0].path, "web/app.conf");
        assert_eq!(
            s.checks[0].result.failure(),
            "check \"http http://127.0.0.1:8080/\" failed after 1 attempt: got 500, expected \
             200: boom"
        );
        // Read-only: no lock, no upload, no engine write.
        assert_eq!(host.state().locks_taken, 0);
        assert_eq!(host.state().uploads, 0);
        assert_eq!(engine.calls().1, 0);
        // Without --checks, no check runs.
        let s = status(&host, &engine, &compose, false).await;
        assert!(s.checks.is_empty());
    }
}

//! `nxinfra status`, decided: each desired service against what its host's engine holds, the
//! fleet's containers no longer desired, the files changed on the host, the host's facts;
//! whether all of it is as desired. Pure: from compose.yml, the engine's state and the
//! drift found ([`crate::plan::drift`]).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::compose::Compose;
use crate::model::observed::{ContainerState, Observed};
use crate::plan::drift::{Drift, HostChange};
use crate::plan::identity::{self, Owner};

/// One desired service's container, as the engine has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub container: String,
    #[serde(flatten)]
    pub state: State,
    pub as_desired: bool,
    /// The image it runs (`sha256:…`), and that image's repository digests.
    pub image_id: Option<String>,
    pub repo_digests: Vec<String>,
    /// When it last started (RFC 3339).
    pub since: Option<String>,
    /// Times its engine restarted it (its restart policy).
    pub restarts: i64,
}

/// What the container of a service is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum State {
    /// Runs; `health` is its healthcheck's status when it has one (`healthy`).
    Running { health: Option<String> },
    /// Runs, and its healthcheck fails: the last check's output (redacted before shown).
    Unhealthy { output: Option<String> },
    /// Runs, its healthcheck has not passed yet.
    Starting,
    /// Exited, and the engine restarts it again and again.
    Restarting,
    /// Exited with `code` at `at`. For a job, exit 0 is as desired (`completed`).
    Exited { code: i64, at: Option<String> },
    /// A job that ran to completion (exit 0).
    Completed { at: Option<String> },
    /// Created, never started; paused; dead: the engine's word.
    Other { status: String },
    /// No container of that name.
    Missing,
    /// A container of that name that this fleet did not create (another fleet's, or not
    /// nxinfra's).
    NotOurs { owner: String },
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Running { health: Some(h) } => write!(f, "running ({h})"),
            State::Running { health: None } => write!(f, "running"),
            State::Unhealthy { output: Some(o) } => write!(f, "unhealthy: {o}"),
            State::Unhealthy { output: None } => write!(f, "unhealthy"),
            State::Starting => write!(f, "starting (health not known yet)"),
            State::Restarting => write!(f, "restarting"),
            State::Exited { code, .. } => write!(f, "exited ({code})"),
            State::Completed { .. } => write!(f, "completed"),
            State::Other { status } => write!(f, "{status}"),
            State::Missing => write!(f, "missing"),
            State::NotOurs { owner } => write!(f, "a container of that name is {owner}'s"),
        }
    }
}

/// A container of this fleet on the host whose service is no longer in compose.yml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leftover {
    pub container: String,
    pub service: Option<String>,
    pub running: bool,
}

/// A placed file changed on the host since the last sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedFile {
    pub path: String,
    #[serde(flatten)]
    pub change: HostChange,
}

/// A host's facts: the base dir's filesystem and the load.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostFacts {
    pub disk: Option<Disk>,
    /// The 1, 5 and 15 minute load averages.
    pub load: Option<[f64; 3]>,
}

/// The filesystem of the base dir, as `df -P -k` has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disk {
    pub mount: String,
    pub used_percent: u32,
    pub size_kib: u64,
    pub available_kib: u64,
}

impl HostFacts {
    /// Parses what the host printed (`remote::facts`): `df -P -k`'s line, then
    /// `/proc/loadavg`. What cannot be read is left out, never an error: facts inform.
    pub fn parse(text: &str) -> HostFacts {
        let mut facts = HostFacts::default();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [_, size, _, available, capacity, ref mount @ ..] = words[..]
                && let Some(percent) = capacity.strip_suffix('%')
                && !mount.is_empty()
            {
                if let (Ok(used_percent), Ok(size_kib), Ok(available_kib)) =
                    (percent.parse(), size.parse(), available.parse())
                {
                    facts.disk = Some(Disk {
                        mount: mount.join(" "),
                        used_percent,
                        size_kib,
                        available_kib,
                    });
                }
            } else if let [one, five, fifteen, _, _] = words[..]
                && let (Ok(a), Ok(b), Ok(c)) = (one.parse(), five.parse(), fifteen.parse())
            {
                facts.load = Some([a, b, c]);
            }
        }
        facts
    }
}

/// The host's view of one host: services, leftovers, drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub services: Vec<ServiceStatus>,
    pub not_desired: Vec<Leftover>,
    pub changed_on_host: Vec<ChangedFile>,
}

impl Assessment {
    /// Everything as desired.
    pub fn as_desired(&self) -> bool {
        self.services.iter().all(|s| s.as_desired)
            && self.not_desired.is_empty()
            && self.changed_on_host.is_empty()
    }
}

/// The status of `compose`'s services on an engine that holds `observed`, whose containers
/// of those names are in `states` (inspected), for the fleet `fleet`; with the host's `drift`.
pub fn assess(
    compose: &Compose,
    observed: &Observed,
    states: &BTreeMap<String, ContainerState>,
    drift: &Drift,
    fleet: &str,
) -> Assessment {
    let mut services = Vec::new();
    for (name, service) in &compose.services {
        let container = &service.spec.container_name;
        let found = observed.container(container);
        let state = match found {
            None => State::Missing,
            Some(c) => match identity::container_owner(c, fleet) {
                Owner::Ours | Owner::Unlabelled => match states.get(container) {
                    Some(s) => state(s, service.job.is_some()),
                    None => State::Missing,
                },
                Owner::Fleet(other) => State::NotOurs {
                    owner: format!("the fleet {other}"),
                },
                Owner::Foreign => State::NotOurs {
                    owner: "not nxinfra".into(),
                },
            },
        };
        let as_desired = matches!(state, State::Running { .. } | State::Completed { .. });
        let inspected = states.get(container);
        let image_id = found.map(|c| c.image_id.clone()).filter(|i| !i.is_empty());
        let repo_digests = image_id
            .as_ref()
            .map(|id| {
                observed
                    .images
                    .iter()
                    .filter(|(r, i)| r.contains('@') && *i == id)
                    .map(|(r, _)| r.clone())
                    .collect()
            })
            .unwrap_or_default();
        services.push(ServiceStatus {
            service: name.clone(),
            container: container.clone(),
            as_desired,
            image_id,
            repo_digests,
            since: inspected.and_then(|s| s.started_at.clone()),
            restarts: inspected.map_or(0, |s| s.restart_count),
            state,
        });
    }
    let desired: Vec<&str> = compose
        .services
        .values()
        .map(|s| s.spec.container_name.as_str())
        .collect();
    let not_desired = observed
        .containers
        .iter()
        .filter(|c| identity::container_owner(c, fleet) == Owner::Ours)
        .filter(|c| !identity::in_cluster(&c.labels))
        .filter(|c| !desired.contains(&c.name.as_str()))
        // The side containers of an apply in progress or interrupted are recover's to name.
        .filter(|c| !c.name.contains("--nxinfra-"))
        .map(|c| Leftover {
            container: c.name.clone(),
            service: c.labels.get(identity::SERVICE).cloned(),
            running: c.running,
        })
        .collect();
    let changed_on_host = drift
        .changed
        .iter()
        .map(|(path, change)| ChangedFile {
            path: path.clone(),
            change: change.clone(),
        })
        .collect();
    Assessment {
        services,
        not_desired,
        changed_on_host,
    }
}

/// A container's state, from its inspection.
fn state(s: &ContainerState, job: bool) -> State {
    let health = s.health.as_ref().map(|h| h.status.as_str());
    match s.status.as_str() {
        "running" => match health {
            Some("unhealthy") => State::Unhealthy {
                output: s.health.as_ref().and_then(|h| h.last_output.clone()),
            },
            Some("starting") | Some("") => State::Starting,
            _ => State::Running {
                health: health.map(str::to_string),
            },
        },
        "restarting" => State::Restarting,
        "exited" if job && s.exit_code == 0 => State::Completed {
            at: s.finished_at.clone(),
        },
        "exited" => State::Exited {
            code: s.exit_code,
            at: s.finished_at.clone(),
        },
        other => State::Other {
            status: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::observed::{Container, Health};

    const COMPOSE: &str = "services:
  web: {image: 'nginx:1', network_mode: host}
  db: {image: 'postgres:16', container_name: pg, network_mode: host}
  cache: {image: 'redis:7', network_mode: host}
  migrate: {image: 'app:1', x-nxinfra: {job: true}, network_mode: host}
  flapping: {image: 'app:1', restart: always, network_mode: host}
  sick: {image: 'app:1', network_mode: host}
  taken: {image: 'app:1', network_mode: host}
  gone: {image: 'app:1', network_mode: host}
";

    fn container(name: &str, fleet: Option<&str>, running: bool) -> Container {
        let mut labels = BTreeMap::new();
        if let Some(f) = fleet {
            labels.insert(identity::MANAGED.into(), "true".into());
            labels.insert(identity::FLEET.into(), f.into());
            labels.insert(identity::SERVICE.into(), name.into());
        }
        Container {
            id: format!("id-{name}"),
            name: name.into(),
            labels,
            running,
            image_id: "sha256:aa".into(),
            ..Container::default()
        }
    }

    fn inspected(status: &str, exit_code: i64, health: Option<(&str, &str)>) -> ContainerState {
        ContainerState {
            status: status.into(),
            running: status == "running",
            exit_code,
            health: health.map(|(s, o)| Health {
                status: s.into(),
                last_output: Some(o.into()),
                ran: true,
            }),
            started_at: Some("2026-12-02T10:00:00Z".into()),
            restart_count: if status == "restarting" { 7 } else { 0 },
            ..ContainerState::default()
        }
    }

    #[test]
    fn every_state_is_named_and_only_running_and_completed_are_as_desired() {
        let compose =
            crate::model::compose::parse(std::path::Path::new("compose.yml"), COMPOSE).unwrap();
        let mut observed = Observed::default();
        for (name, running) in [
            ("web", true),
            ("pg", false),
            ("migrate", false),
            ("flapping", false),
            ("sick", true),
            ("old", true),
        ] {
            observed
                .containers
                .push(container(name, Some("test"), running));
        }
        observed.containers.push(container("taken", None, true));
        observed
            .containers
            .push(container("cache", Some("other"), true));
        observed.images.insert(
            "docker.io/library/nginx@sha256:bb".into(),
            "sha256:aa".into(),
        );
        observed
            .images
            .insert("docker.io/library/nginx:1".into(), "sha256:aa".into());
        let states = BTreeMap::from([
            (
                "web".to_string(),
                inspected("running", 0, Some(("healthy", "ok"))),
            ),
            ("pg".to_string(), inspected("exited", 137, None)),
            ("migrate".to_string(), inspected("exited", 0, None)),
            ("flapping".to_string(), inspected("restarting", 1, None)),
            (
                "sick".to_string(),
                inspected("running", 0, Some(("unhealthy", "connection refused"))),
            ),
        ]);
        let a = assess(&compose, &observed, &states, &Drift::default(), "test");
        let shown: Vec<String> = a
            .services
            .iter()
            .map(|s| format!("{} {}: {}", s.container, s.as_desired, s.state))
            .collect();
        assert_eq!(
            shown,
            [
                "cache false: a container of that name is the fleet other's",
                "pg false: exited (137)",
                "flapping false: restarting",
                "gone false: missing",
                "migrate true: completed",
                "sick false: unhealthy: connection refused",
                "taken false: a container of that name is not nxinfra's",
                "web true: running (healthy)",
            ]
        );
        let web = a.services.iter().find(|s| s.service == "web").unwrap();
        assert_eq!(web.repo_digests, ["docker.io/library/nginx@sha256:bb"]);
        assert_eq!(web.since.as_deref(), Some("2026-12-02T10:00:00Z"));
        let flapping = a.services.iter().find(|s| s.service == "flapping").unwrap();
        assert_eq!(flapping.restarts, 7);
        assert_eq!(
            a.not_desired,
            [Leftover {
                container: "old".into(),
                service: Some("old".into()),
                running: true
            }]
        );
        assert!(!a.as_desired());
    }

    #[test]
    fn facts_are_read_from_df_and_loadavg_and_garbage_is_left_out() {
        let f = HostFacts::parse(
            "/dev/sda1  10255636 4120000 5600000  43% /srv/my data\n0.52 0.58 0.59 1/389 12345\n",
        );
        let disk = f.disk.unwrap();
        assert_eq!(
            (disk.used_percent, disk.mount.as_str()),
            (43, "/srv/my data")
        );
        assert_eq!((disk.size_kib, disk.available_kib), (10255636, 5600000));
        assert_eq!(f.load, Some([0.52, 0.58, 0.59]));
        assert_eq!(HostFacts::parse("df: no such file\n"), HostFacts::default());
    }

    #[test]
    fn all_running_and_no_drift_is_as_desired_and_drift_is_not() {
        let compose = crate::model::compose::parse(
            std::path::Path::new("compose.yml"),
            "services: {web: {image: 'nginx:1', network_mode: host}}",
        )
        .unwrap();
        let mut observed = Observed::default();
        observed
            .containers
            .push(container("web", Some("test"), true));
        let states = BTreeMap::from([("web".to_string(), inspected("running", 0, None))]);
        let a = assess(&compose, &observed, &states, &Drift::default(), "test");
        assert!(a.as_desired(), "{a:?}");
        let mut drift = Drift::default();
        drift
            .changed
            .insert("bird.conf".into(), HostChange::Removed);
        let a = assess(&compose, &observed, &states, &drift, "test");
        assert!(!a.as_desired());
        assert_eq!(a.changed_on_host[0].path, "bird.conf");
    }
}

//! The normalised form: short syntaxes expanded, defaults filled, maps sorted, lists sorted
//! where their order means nothing (`dns` keeps its order: it is the resolvers' priority).
//! Deterministic and serialisable: the reconciler hashes [`ContainerSpec`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::duration::nanos;
use super::model::{Condition, OnConfigChange, PidMode, PullPolicy};
use super::mounts::{Device, Mount, MountKind};
use super::net::Subnet;
use super::options::{NetworkMode, Restart, Ulimit};
use super::ports::PortBinding;

/// A loaded compose file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Compose {
    #[serde(skip)]
    pub file: PathBuf,
    /// By name.
    pub services: BTreeMap<String, Service>,
    /// By key in the file.
    pub networks: BTreeMap<String, Network>,
    /// By key in the file.
    pub volumes: BTreeMap<String, Volume>,
}

/// One service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub name: String,
    /// Line of the service's key in the file, for later messages.
    #[serde(skip)]
    pub line: Option<usize>,
    /// Everything the container is created from: what the reconciler hashes.
    pub spec: ContainerSpec,
    /// Start order only: changing it does not change the container.
    pub depends_on: BTreeMap<String, Condition>,
    pub pull_policy: PullPolicy,
    /// `x-nxinfra.on_config_change` (default `recreate`).
    pub on_config_change: OnConfigChange,
    /// Set for a job (`x-nxinfra.job: true`, or a service another one depends on with
    /// `condition: service_completed_successfully`): how long it may run.
    pub job: Option<Job>,
    /// `x-nxinfra.checks`: run after the healthcheck passes, part of the health gate. Not part
    /// of the container: changing a check recreates nothing.
    pub checks: Vec<PostCheck>,
}

/// A post-deploy check (`x-nxinfra.checks`, or a host's `nxinfra_checks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostCheck {
    /// `name`, else what it probes (`http http://127.0.0.1:8080/`).
    pub name: String,
    pub probe: Probe,
    /// Each attempt's limit.
    #[serde(with = "nanos")]
    pub timeout: Duration,
    /// Attempts after the first failed one.
    pub retries: u32,
    /// Between two attempts.
    #[serde(with = "nanos")]
    pub interval: Duration,
    /// Before the first attempt.
    #[serde(with = "nanos")]
    pub start_delay: Duration,
    /// Part of the health gate of a rollout (`gate: false`: run by `status --checks` only).
    pub gate: bool,
}

impl PostCheck {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_RETRIES: u32 = 3;
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
}

/// What a check probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// An HTTP GET answered with `status` (and a body holding `body`).
    Http {
        url: String,
        status: u16,
        body: Option<String>,
        from: super::model::CheckFrom,
    },
    /// A TCP connection to `host:port` accepted.
    Tcp {
        address: String,
        from: super::model::CheckFrom,
    },
    /// A command run in the container (a host's check: on the host), exiting 0.
    Exec { command: Vec<String> },
    /// A host's check: the base dir's filesystem used at most that much.
    DiskMaxPercent { percent: u32, path: Option<String> },
}

/// A service that runs to completion: it must exit 0 within `timeout` after it is
/// (re)created, and is run again only when it changes (or its last run failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Job {
    #[serde(with = "nanos")]
    pub timeout: Duration,
}

impl Job {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
}

/// The container of a service, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerSpec {
    /// `container_name`, else the service name.
    pub container_name: String,
    /// As written, with `:latest` added when it has neither tag nor digest.
    pub image: String,
    /// `None`: the image's. A string is split into words like a shell would.
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub environment: Environment,
    pub user: Option<String>,
    pub hostname: Option<String>,
    /// Default `no`.
    pub restart: Restart,
    /// Exclusive with `networks`: one of the two is set.
    pub network_mode: Option<NetworkMode>,
    /// By network key (see [`Compose::networks`] for the Docker name).
    pub networks: BTreeMap<String, Attachment>,
    /// One per container port (ranges expanded), sorted.
    pub ports: Vec<PortBinding>,
    /// Sorted by target.
    pub mounts: Vec<Mount>,
    /// Sorted by container path.
    pub devices: Vec<Device>,
    /// Upper case without `CAP_`, sorted, unique.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub pid: Option<PidMode>,
    pub ulimits: BTreeMap<String, Ulimit>,
    pub sysctls: BTreeMap<String, String>,
    /// In the order written (resolver priority).
    pub dns: Vec<IpAddr>,
    pub logging: Option<Logging>,
    pub labels: BTreeMap<String, String>,
    /// `None`: the image's healthcheck, if any.
    pub healthcheck: Option<Healthcheck>,
    /// Default 10 s (Docker's); serialised in nanoseconds.
    #[serde(with = "nanos")]
    pub stop_grace_period: Duration,
}

impl ContainerSpec {
    /// Canonical JSON of the spec (fixed field order, sorted maps): the input of the hash.
    pub fn canonical_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Environment variables, sorted. `Debug` shows names only: values may be secrets.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Environment(pub BTreeMap<String, String>);

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "<redacted>")))
            .finish()
    }
}

/// A service's settings on one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub ipv4_address: Option<Ipv4Addr>,
    pub ipv6_address: Option<Ipv6Addr>,
    /// Sorted, unique.
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Logging {
    /// `None`: the daemon's default driver.
    pub driver: Option<String>,
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Healthcheck {
    /// `disable: true` or `test: ["NONE"]`: the image's healthcheck is switched off.
    Disabled,
    Check(Check),
}

/// A healthcheck with Docker's defaults filled in; durations serialised in nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `["CMD", args...]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    #[serde(with = "nanos")]
    pub interval: Duration,
    #[serde(with = "nanos")]
    pub timeout: Duration,
    pub retries: u32,
    #[serde(with = "nanos")]
    pub start_period: Duration,
}

/// A top-level network, normalised. Docker names carry no project prefix: the network is
/// named after its key unless `name` says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    /// The Docker name.
    pub name: String,
    #[serde(skip)]
    pub line: Option<usize>,
    /// Created elsewhere: nxinfra only attaches to it (the other fields are defaults).
    pub external: bool,
    /// Default `bridge`.
    pub driver: String,
    pub enable_ipv6: bool,
    pub driver_opts: BTreeMap<String, String>,
    /// Sorted (IPv4 first).
    pub ipam: Vec<Pool>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Pool {
    pub subnet: Subnet,
    pub gateway: Option<IpAddr>,
}

/// A top-level named volume, normalised (named after its key unless `name` says otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Volume {
    pub name: String,
    #[serde(skip)]
    pub line: Option<usize>,
    pub external: bool,
    /// Default `local`.
    pub driver: String,
    pub driver_opts: BTreeMap<String, String>,
}

impl Service {
    /// Host paths of the service's bind mounts (files or folders), sorted by target.
    pub fn bind_sources(&self) -> impl Iterator<Item = &Path> {
        self.spec
            .mounts
            .iter()
            .filter(|m| m.kind == MountKind::Bind)
            .map(|m| Path::new(&m.source))
    }

    /// The bind sources below `base_dir` (the host folder that `rendered/<host>/` is synced
    /// to), relative to it: where to find, in `rendered/<host>/`, the files the container
    /// reads. A source equal to `base_dir` gives the empty path (the whole tree).
    pub fn rendered_sources<'a>(&'a self, base_dir: &'a Path) -> impl Iterator<Item = &'a Path> {
        self.bind_sources()
            .filter_map(move |source| source.strip_prefix(base_dir).ok())
    }
}

/// Docker's defaults for what a healthcheck leaves out.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_RETRIES: u32 = 3;
/// Docker's default stop timeout.
pub const DEFAULT_STOP_GRACE_PERIOD: Duration = Duration::from_secs(10);

/// The longest healthcheck interval, timeout or start period, and stop grace period nxinfra
/// accepts: a day. The health gate waits `start_period + (interval + timeout) × (retries + 1)`;
/// with these bounds that sum cannot overflow, and no real service waits longer.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// The longest job timeout: a week (a long data migration).
pub const MAX_JOB_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most healthcheck retries nxinfra accepts.
pub const MAX_RETRIES: u32 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_debug_hides_values() {
        let env = Environment([("PW".to_string(), "hunter2".to_string())].into());
        let shown = format!("{env:?}");
        assert!(
            shown.contains("PW") && !shown.contains("hunter2"),
            "{shown}"
        );
        // Serialised in full: the hash must see value changes.
        assert_eq!(serde_json::to_string(&env).unwrap(), r#"{"PW":"hunter2"}"#);
    }
}

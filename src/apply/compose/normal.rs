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
use super::error::{Problem, Scope};
use super::model::{
    Condition, OnConfigChange, PidMode, PullPolicy, RawCompose, RawHealthcheck, RawNetwork,
    RawService, RawVolume,
};
use super::mounts::{Device, Mount, MountKind};
use super::net::Subnet;
use super::options::{NetworkMode, Restart, Ulimit};
use super::ports::PortBinding;
use crate::yaml::KeyLines;

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

/// Collects problems with the line of their key path.
pub struct Report<'a> {
    lines: &'a KeyLines,
    pub problems: Vec<Problem>,
}

impl<'a> Report<'a> {
    pub fn new(lines: &'a KeyLines) -> Self {
        Report {
            lines,
            problems: Vec::new(),
        }
    }

    /// The line of `path`, or of its nearest written parent.
    fn line(&self, path: &[&str]) -> Option<usize> {
        (1..=path.len())
            .rev()
            .find_map(|n| self.lines.get(&path[..n]))
    }

    fn add(&mut self, top: &str, name: &str, key: &[&str], message: String) {
        let mut path = vec![top, name];
        path.extend_from_slice(key);
        let scope = match top {
            "services" => Scope::Service(name.to_string()),
            "networks" => Scope::Network(name.to_string()),
            _ => Scope::Volume(name.to_string()),
        };
        let line = self.line(&path);
        self.problems
            .push(Problem::new(line, scope, key.join("."), message));
    }

    pub fn service(&mut self, name: &str, key: &[&str], message: String) {
        self.add("services", name, key, message);
    }

    pub fn network(&mut self, name: &str, key: &[&str], message: String) {
        self.add("networks", name, key, message);
    }

    pub fn volume(&mut self, name: &str, key: &[&str], message: String) {
        self.add("volumes", name, key, message);
    }

    pub fn line_of(&self, path: &[&str]) -> Option<usize> {
        self.line(path)
    }
}

/// Normalises every part of the file, reporting what is wrong within a service, network or
/// volume; references between them are checked by [`super::validate`].
pub fn build(file: &Path, raw: RawCompose, report: &mut Report) -> Compose {
    let networks = raw
        .networks
        .unwrap_or_default()
        .into_iter()
        .map(|(key, n)| {
            let n = network(&key, n, report);
            (key, n)
        })
        .collect();
    let volumes = raw
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|(key, v)| {
            let v = volume(&key, v, report);
            (key, v)
        })
        .collect();
    let services = raw
        .services
        .unwrap_or_default()
        .into_iter()
        .map(|(name, s)| {
            let s = service(&name, s, report);
            (name, s)
        })
        .collect();
    Compose {
        file: file.to_path_buf(),
        services,
        networks,
        volumes,
    }
}

/// Compose's pattern for service, network and volume keys.
fn valid_key(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Docker's pattern for container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
fn valid_container_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// RFC 1123 host name.
fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// The image reference with `:latest` added when it has no tag or digest; `Err` says why it
/// cannot be one.
fn image_reference(image: &str) -> Result<String, String> {
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{image:?} is not an image reference"));
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let (repository, tag) = match last.split_once(':') {
        Some((_, t)) => (&name[..name.len() - t.len() - 1], Some(t)),
        None => (name, None),
    };
    if repository.is_empty() || tag == Some("") || digest == Some("") {
        return Err(format!("{image:?} is not an image reference"));
    }
    // The registry host (first part with a dot, a colon or "localhost") may have upper case.
    let path = match repository.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repository,
    };
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "image {image:?}: a repository name must be lower case"
        ));
    }
    if tag.is_none() && digest.is_none() {
        return Ok(format!("{image}:latest"));
    }
    Ok(image.to_string())
}

fn service(name: &str, raw: RawService, report: &mut Report) -> Service {
    let mut problem = |key: &[&str], message: String| report.service(name, key, message);
    if !valid_key(name) {
        problem(
            &[],
            format!("invalid service name {name:?}: use [a-zA-Z0-9._-]"),
        );
    }
    let container_name = raw.container_name.unwrap_or_else(|| name.to_string());
    if !valid_container_name(&container_name) {
        problem(
            &["container_name"],
            format!(
                "invalid container name {container_name:?}: Docker wants \
                 [a-zA-Z0-9][a-zA-Z0-9_.-]+ (set container_name when the service name does \
                 not fit)"
            ),
        );
    }
    let image = image_reference(&raw.image).unwrap_or_else(|why| {
        problem(&["image"], why);
        raw.image.clone()
    });
    if let Some(hostname) = &raw.hostname
        && !valid_hostname(hostname)
    {
        problem(&["hostname"], format!("invalid hostname {hostname:?}"));
    }
    let user = raw.user.map(|u| u.0);
    if user.as_deref() == Some("") {
        problem(&["user"], "empty user".into());
    }

    let networks: BTreeMap<String, Attachment> = raw
        .networks
        .unwrap_or_default()
        .0
        .into_iter()
        .map(|(net, a)| {
            let mut aliases = a.aliases.unwrap_or_default();
            aliases.sort();
            aliases.dedup();
            let attachment = Attachment {
                ipv4_address: a.ipv4_address.map(|ip| ip.0),
                ipv6_address: a.ipv6_address.map(|ip| ip.0),
                aliases,
            };
            (net, attachment)
        })
        .collect();
    let mut ports: Vec<PortBinding> = raw
        .ports
        .unwrap_or_default()
        .iter()
        .flat_map(|p| p.bindings())
        .collect();
    ports.sort();
    let stack_keys = [
        ("hostname", raw.hostname.is_some()),
        ("dns", raw.dns.is_some()),
    ];
    check_network_mode(
        &raw.network_mode,
        &networks,
        &ports,
        stack_keys,
        &mut problem,
    );
    for pair in ports.windows(2) {
        if pair[0] == pair[1] {
            problem(
                &["ports"],
                format!(
                    "container port {}/{} is published twice the same way",
                    pair[0].container_port, pair[0].protocol
                ),
            );
        }
    }
    ports.dedup();

    let mut mounts = raw.volumes.unwrap_or_default();
    mounts.sort();
    for pair in mounts.windows(2) {
        if pair[0].target == pair[1].target {
            problem(
                &["volumes"],
                format!("two volumes are mounted on {}", pair[0].target),
            );
        }
    }
    let mut devices = raw.devices.unwrap_or_default();
    devices.sort_by(|a, b| (&a.container, &a.host).cmp(&(&b.container, &b.host)));
    for pair in devices.windows(2) {
        if pair[0].container == pair[1].container {
            problem(
                &["devices"],
                format!("two devices are mapped to {}", pair[0].container),
            );
        }
    }

    let caps = |list: Option<Vec<super::options::Capability>>| {
        let mut out: Vec<String> = list.unwrap_or_default().into_iter().map(|c| c.0).collect();
        out.sort();
        out.dedup();
        out
    };
    let cap_add = caps(raw.cap_add);
    let cap_drop = caps(raw.cap_drop);
    for cap in cap_add.iter().filter(|c| cap_drop.contains(c)) {
        problem(
            &["cap_drop"],
            format!("capability {cap} is both added and dropped"),
        );
    }

    let labels: BTreeMap<String, String> = raw
        .labels
        .map(|l| l.0.into_iter().collect())
        .unwrap_or_default();
    for label in labels.keys().filter(|l| l.starts_with("nxinfra.")) {
        problem(
            &["labels", label],
            format!("label {label}: the nxinfra. prefix is reserved for nxinfra's own labels"),
        );
    }

    let logging = raw.logging.map(|l| Logging {
        driver: l.driver,
        options: l
            .options
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
    });
    if let Some(Logging {
        driver: Some(driver),
        ..
    }) = &logging
        && (driver.is_empty() || driver.chars().any(char::is_whitespace))
    {
        problem(
            &["logging", "driver"],
            format!("invalid logging driver {driver:?}"),
        );
    }

    let healthcheck = raw
        .healthcheck
        .and_then(|h| healthcheck(h).map_err(|(key, why)| problem(&key, why)).ok());

    let on_config_change = raw
        .x_nxinfra
        .and_then(|x| x.on_config_change)
        .unwrap_or_default();

    Service {
        name: name.to_string(),
        line: report.line_of(&["services", name]),
        spec: ContainerSpec {
            container_name,
            image,
            command: raw.command.map(|c| c.0),
            entrypoint: raw.entrypoint.map(|c| c.0),
            environment: Environment(
                raw.environment
                    .map(|e| e.0.into_iter().collect())
                    .unwrap_or_default(),
            ),
            user,
            hostname: raw.hostname,
            restart: raw.restart.unwrap_or_default(),
            network_mode: raw.network_mode,
            networks,
            ports,
            mounts,
            devices,
            cap_add,
            cap_drop,
            privileged: raw.privileged.unwrap_or(false),
            pid: raw.pid,
            ulimits: raw
                .ulimits
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.0, v))
                .collect(),
            sysctls: raw
                .sysctls
                .map(|s| s.0.into_iter().collect())
                .unwrap_or_default(),
            dns: raw.dns.map(|d| d.0).unwrap_or_default(),
            logging,
            labels,
            healthcheck,
            stop_grace_period: raw
                .stop_grace_period
                .map(|d| d.0)
                .unwrap_or(DEFAULT_STOP_GRACE_PERIOD),
        },
        depends_on: raw
            .depends_on
            .map(|d| d.0.into_iter().collect())
            .unwrap_or_default(),
        pull_policy: raw.pull_policy.unwrap_or_default(),
        on_config_change,
    }
}

/// `network_mode` and `networks` exclude each other; one of them says where the container
/// connects (nxinfra has no implicit `default` network: Compose's would be named after the
/// project, which nxinfra does not have).
fn check_network_mode(
    mode: &Option<NetworkMode>,
    networks: &BTreeMap<String, Attachment>,
    ports: &[PortBinding],
    stack_keys: [(&str, bool); 2],
    problem: &mut impl FnMut(&[&str], String),
) {
    let Some(mode) = mode else {
        if networks.is_empty() {
            problem(
                &[],
                "neither `networks` nor `network_mode`: say where the container connects \
                 (nxinfra has no implicit default network)"
                    .into(),
            );
        }
        return;
    };
    if !networks.is_empty() {
        problem(
            &["network_mode"],
            format!("network_mode {mode} cannot be combined with `networks`"),
        );
    }
    let no_ports = matches!(mode, NetworkMode::Host | NetworkMode::None) || !mode.owns_stack();
    if no_ports && !ports.is_empty() {
        problem(
            &["network_mode"],
            format!(
                "network_mode {mode} cannot be combined with `ports` (with host networking \
                 the container's ports are the host's already)"
            ),
        );
    }
    if !mode.owns_stack() {
        for (key, set) in stack_keys {
            if set {
                problem(
                    &["network_mode"],
                    format!("network_mode {mode} cannot be combined with `{key}`"),
                );
            }
        }
    }
}

fn healthcheck(raw: RawHealthcheck) -> Result<Healthcheck, (Vec<&'static str>, String)> {
    let has_settings = raw.interval.is_some()
        || raw.timeout.is_some()
        || raw.retries.is_some()
        || raw.start_period.is_some();
    if raw.disable == Some(true) {
        if raw.test.as_ref().is_some_and(|t| !t.is_none()) || has_settings {
            return Err((
                vec!["healthcheck", "disable"],
                "disable: true takes no other healthcheck settings".into(),
            ));
        }
        return Ok(Healthcheck::Disabled);
    }
    let Some(test) = raw.test else {
        return Err((
            vec!["healthcheck"],
            "a healthcheck needs a `test` (nxinfra gates rollouts on it; inheriting the \
             image's test is not supported)"
                .into(),
        ));
    };
    if test.is_none() {
        if has_settings {
            return Err((
                vec!["healthcheck", "test"],
                "test: [\"NONE\"] takes no other healthcheck settings".into(),
            ));
        }
        return Ok(Healthcheck::Disabled);
    }
    let duration = |key: &'static str, d: Option<super::duration::ComposeDuration>, default| {
        let d = d.map(|d| d.0).unwrap_or(default);
        // The Docker API refuses non-zero durations under a millisecond.
        if d != Duration::ZERO && d < Duration::from_millis(1) {
            return Err((
                vec!["healthcheck", key],
                format!("{key} must be 0 or at least 1ms"),
            ));
        }
        Ok(d)
    };
    let interval = duration("interval", raw.interval, DEFAULT_INTERVAL)?;
    let timeout = duration("timeout", raw.timeout, DEFAULT_TIMEOUT)?;
    let start_period = duration("start_period", raw.start_period, Duration::ZERO)?;
    for (key, d) in [("interval", interval), ("timeout", timeout)] {
        if d == Duration::ZERO {
            return Err((
                vec!["healthcheck", key],
                format!("{key} must be at least 1ms"),
            ));
        }
    }
    Ok(Healthcheck::Check(Check {
        test: test.0,
        interval,
        timeout,
        retries: raw.retries.unwrap_or(DEFAULT_RETRIES),
        start_period,
    }))
}

fn network(key: &str, raw: Option<RawNetwork>, report: &mut Report) -> Network {
    let mut problem = |k: &[&str], message: String| report.network(key, k, message);
    if !valid_key(key) {
        problem(
            &[],
            format!("invalid network name {key:?}: use [a-zA-Z0-9._-]"),
        );
    }
    let raw = raw.unwrap_or(RawNetwork {
        driver: None,
        enable_ipv6: None,
        driver_opts: None,
        ipam: None,
        external: None,
        name: None,
    });
    let external = raw.external.unwrap_or(false);
    let name = raw.name.unwrap_or_else(|| key.to_string());
    if external {
        for (k, set) in [
            ("driver", raw.driver.is_some()),
            ("enable_ipv6", raw.enable_ipv6.is_some()),
            ("driver_opts", raw.driver_opts.is_some()),
            ("ipam", raw.ipam.is_some()),
        ] {
            if set {
                problem(
                    &[k],
                    format!("an external network is created elsewhere: `{k}` does not apply"),
                );
            }
        }
    } else if ["bridge", "host", "none", "default"].contains(&name.as_str()) {
        problem(
            &[],
            format!(
                "network name {name:?} is Docker's own: use network_mode for host/none/bridge, \
                 or another name"
            ),
        );
    }
    let driver = raw.driver.unwrap_or_else(|| "bridge".to_string());
    if !["bridge", "macvlan", "ipvlan"].contains(&driver.as_str()) {
        problem(
            &["driver"],
            format!("unsupported network driver {driver:?} (one of: bridge, macvlan, ipvlan)"),
        );
    }
    let enable_ipv6 = raw.enable_ipv6.unwrap_or(false);
    let mut ipam: Vec<Pool> = raw
        .ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .into_iter()
        .map(|p| Pool {
            subnet: p.subnet,
            gateway: p.gateway.map(|g| g.0),
        })
        .collect();
    ipam.sort();
    for pool in &ipam {
        if let Some(gateway) = pool.gateway
            && !pool.subnet.contains(gateway)
        {
            problem(
                &["ipam", "config"],
                format!("gateway {gateway} is outside subnet {}", pool.subnet),
            );
        }
        if pool.subnet.is_ipv6() && !enable_ipv6 {
            problem(
                &["ipam", "config"],
                format!(
                    "IPv6 subnet {} on a network without enable_ipv6: true",
                    pool.subnet
                ),
            );
        }
    }
    for (i, a) in ipam.iter().enumerate() {
        for b in &ipam[i + 1..] {
            if a.subnet.overlaps(&b.subnet) {
                problem(
                    &["ipam", "config"],
                    format!("subnets {} and {} overlap", a.subnet, b.subnet),
                );
            }
        }
    }
    Network {
        name,
        line: report.line_of(&["networks", key]),
        external,
        driver,
        enable_ipv6,
        driver_opts: raw
            .driver_opts
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
        ipam,
    }
}

fn volume(key: &str, raw: Option<RawVolume>, report: &mut Report) -> Volume {
    let mut problem = |k: &[&str], message: String| report.volume(key, k, message);
    let raw = raw.unwrap_or(RawVolume {
        driver: None,
        driver_opts: None,
        external: None,
        name: None,
    });
    let name = raw.name.unwrap_or_else(|| key.to_string());
    if !valid_key(key) {
        problem(
            &[],
            format!("invalid volume key {key:?}: use [a-zA-Z0-9._-]"),
        );
    } else if !valid_container_name(&name) {
        problem(
            &[],
            format!(
                "invalid volume name {name:?}: Docker wants [a-zA-Z0-9][a-zA-Z0-9_.-]+ (set \
                 `name` when the key does not fit)"
            ),
        );
    }
    let external = raw.external.unwrap_or(false);
    if external {
        for (k, set) in [
            ("driver", raw.driver.is_some()),
            ("driver_opts", raw.driver_opts.is_some()),
        ] {
            if set {
                problem(
                    &[k],
                    format!("an external volume is created elsewhere: `{k}` does not apply"),
                );
            }
        }
    }
    Volume {
        name,
        line: report.line_of(&["volumes", key]),
        external,
        driver: raw.driver.unwrap_or_else(|| "local".to_string()),
        driver_opts: raw
            .driver_opts
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        for (image, want) in [
            ("caddy", "caddy:latest"),
            ("caddy:2.8.4", "caddy:2.8.4"),
            (
                "ghcr.io/nxthdr/nxthdr.dev:main",
                "ghcr.io/nxthdr/nxthdr.dev:main",
            ),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("Registry.example.com/app:1", "Registry.example.com/app:1"),
            ("alpine@sha256:abcd", "alpine@sha256:abcd"),
        ] {
            assert_eq!(image_reference(image).as_deref(), Ok(want), "{image}");
        }
        for bad in ["", "a b", "Caddy:2", "caddy:", "ghcr.io/Nx/app"] {
            assert!(image_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(valid_container_name("proxy-ipv4"));
        assert!(valid_container_name("node_exporter"));
        assert!(!valid_container_name("a"));
        assert!(!valid_container_name("-a"));
        assert!(!valid_container_name("a b"));
        assert!(valid_hostname("coreams01"));
        assert!(valid_hostname("a.b-c.d"));
        assert!(!valid_hostname("a_b"));
        assert!(!valid_hostname("-a"));
        assert!(!valid_hostname("a..b"));
    }

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

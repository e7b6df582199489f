//! The loader of `rendered/<host>/stack.yml`, a cluster's services: the Compose
//! Specification with `deploy:`, as `docker stack deploy` reads it, in nxinfra's subset
//! (docs/cluster.md). The same reader, errors and building blocks as `compose.yml`'s (file,
//! line, service and key in every error); what a swarm service cannot have (privileges,
//! host networking, fixed addresses, devices) is refused with where it belongs instead.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use indexmap::IndexMap;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::build::{image_reference, valid_key};
use super::duration::{ComposeDuration, nanos};
use super::error::ComposeError;
use super::forms::{Command, Env, KeyValues, Label, Scalar};
use super::model::{RawHealthcheck, ServiceNetworks};
use super::mounts::{Mount, MountKind};
use super::net::Subnet;
use super::ports::Protocol;
use super::report::Report;
use super::{Healthcheck, service};

/// The file of a node's rendered tree that holds its cluster's services.
pub const FILE: &str = "stack.yml";

/// A cluster's services, networks, configs and secrets, normalised; its canonical JSON is
/// what the reconciler hashes, per service.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Stack {
    pub services: BTreeMap<String, StackService>,
    pub networks: BTreeMap<String, Overlay>,
    /// Name → the file (in the host's rendered tree) whose content it is.
    pub configs: BTreeMap<String, FileSource>,
    pub secrets: BTreeMap<String, FileSource>,
}

/// A config's or secret's content: a file of the host's rendered tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSource {
    /// Relative to `rendered/<host>/`, clean (no `..`, not absolute).
    pub file: String,
}

/// An overlay network of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overlay {
    /// The engine's name: the key, unless `name` says otherwise.
    pub name: String,
    pub attachable: bool,
    pub enable_ipv6: bool,
    /// `driver_opts: {encrypted: ""}`: IPsec between the nodes.
    pub encrypted: bool,
    pub driver_opts: BTreeMap<String, String>,
    pub subnets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackService {
    pub image: String,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub environment: BTreeMap<String, String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    /// `labels:`: the containers' (tasks') labels.
    pub container_labels: BTreeMap<String, String>,
    /// Network → aliases.
    pub networks: BTreeMap<String, Vec<String>>,
    pub ports: Vec<StackPort>,
    pub mounts: Vec<Mount>,
    pub healthcheck: Option<Healthcheck>,
    #[serde(with = "nanos")]
    pub stop_grace_period: Duration,
    pub configs: Vec<FileRef>,
    pub secrets: Vec<FileRef>,
    pub deploy: Deploy,
}

impl StackService {
    /// Whether it publishes a port on the nodes themselves (`mode: host`): two of its tasks
    /// cannot share a node, so an update stops the old task first.
    pub fn publishes_host_ports(&self) -> bool {
        self.ports.iter().any(|p| p.mode == PublishMode::Host)
    }
}

/// A config or secret as a service mounts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRef {
    /// The top-level config or secret.
    pub source: String,
    /// Where in the container: configs default to `/<source>`, secrets to
    /// `/run/secrets/<source>`.
    pub target: String,
    pub uid: String,
    pub gid: String,
    pub mode: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum PublishMode {
    /// Through the routing mesh, on every node (needs the kernel's IPVS).
    Ingress,
    /// On the node that runs the task only.
    Host,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, PartialOrd, Ord)]
pub struct StackPort {
    pub target: u16,
    pub published: Option<u16>,
    pub protocol: Protocol,
    pub mode: PublishMode,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deploy {
    pub mode: DeployMode,
    pub placement: Placement,
    pub update_config: UpdateConfig,
    pub rollback_config: UpdateConfig,
    pub restart_policy: RestartPolicy,
    pub resources: Resources,
    pub endpoint_mode: EndpointMode,
    /// `deploy.labels`: the service's own labels.
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployMode {
    Replicated { replicas: u64 },
    Global,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Placement {
    pub constraints: Vec<String>,
    pub max_replicas_per_node: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    Continue,
    Pause,
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    StartFirst,
    StopFirst,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateConfig {
    pub parallelism: u64,
    #[serde(with = "nanos")]
    pub delay: Duration,
    pub failure_action: FailureAction,
    #[serde(with = "nanos")]
    pub monitor: Duration,
    pub max_failure_ratio: f64,
    pub order: Order,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartCondition {
    None,
    OnFailure,
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestartPolicy {
    pub condition: RestartCondition,
    #[serde(with = "nanos")]
    pub delay: Duration,
    pub max_attempts: Option<u64>,
    #[serde(with = "nanos")]
    pub window: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Resources {
    pub limit_nano_cpus: Option<i64>,
    pub limit_memory_bytes: Option<i64>,
    pub limit_pids: Option<i64>,
    pub reserve_nano_cpus: Option<i64>,
    pub reserve_memory_bytes: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointMode {
    Vip,
    Dnsrr,
}

// --- the file as written ------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStack {
    #[serde(default, rename = "version")]
    _version: Option<IgnoredAny>,
    #[serde(default)]
    services: Option<IndexMap<String, RawService>>,
    #[serde(default)]
    networks: Option<IndexMap<String, Option<RawOverlay>>>,
    #[serde(default)]
    configs: Option<IndexMap<String, RawFileObject>>,
    #[serde(default)]
    secrets: Option<IndexMap<String, RawFileObject>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileObject {
    file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverlay {
    name: Option<String>,
    driver: Option<String>,
    attachable: Option<bool>,
    enable_ipv6: Option<bool>,
    driver_opts: Option<IndexMap<String, Scalar>>,
    ipam: Option<RawIpam>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIpam {
    config: Option<Vec<RawPool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    subnet: Subnet,
}

/// What a per-host container may have and a swarm service cannot: read, to be refused with
/// where it belongs (compose.yml) rather than as an unknown key.
const PER_HOST_ONLY: &[(&str, &str)] = &[
    ("container_name", "a swarm names its tasks itself"),
    (
        "network_mode",
        "swarm services cannot use host networking or share a namespace",
    ),
    ("privileged", "swarm services cannot be privileged"),
    (
        "cap_add",
        "swarm services on Docker 20.10 take no capabilities",
    ),
    (
        "cap_drop",
        "swarm services on Docker 20.10 take no capabilities",
    ),
    ("devices", "swarm services cannot map devices"),
    (
        "pid",
        "swarm services cannot share the host's PID namespace",
    ),
    ("sysctls", "swarm services on Docker 20.10 take no sysctls"),
    ("restart", "a swarm restarts tasks by deploy.restart_policy"),
    ("depends_on", "a swarm starts services in no order"),
    (
        "x-nxinfra",
        "jobs and on_config_change are per-host settings",
    ),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    image: String,
    command: Option<Command>,
    entrypoint: Option<Command>,
    environment: Option<KeyValues<Env>>,
    user: Option<Scalar>,
    hostname: Option<String>,
    labels: Option<KeyValues<Label>>,
    networks: Option<ServiceNetworks>,
    ports: Option<Vec<RawPort>>,
    volumes: Option<Vec<Mount>>,
    healthcheck: Option<RawHealthcheck>,
    stop_grace_period: Option<ComposeDuration>,
    configs: Option<Vec<RawFileRef>>,
    secrets: Option<Vec<RawFileRef>>,
    deploy: Option<RawDeploy>,
    // Read to be refused with where they belong (PER_HOST_ONLY).
    container_name: Option<IgnoredAny>,
    network_mode: Option<IgnoredAny>,
    privileged: Option<IgnoredAny>,
    cap_add: Option<IgnoredAny>,
    cap_drop: Option<IgnoredAny>,
    devices: Option<IgnoredAny>,
    pid: Option<IgnoredAny>,
    sysctls: Option<IgnoredAny>,
    restart: Option<IgnoredAny>,
    depends_on: Option<IgnoredAny>,
    #[serde(rename = "x-nxinfra")]
    x_nxinfra: Option<IgnoredAny>,
}

impl RawService {
    /// The per-host keys it has.
    fn per_host(&self) -> Vec<&'static str> {
        [
            ("container_name", self.container_name.is_some()),
            ("network_mode", self.network_mode.is_some()),
            ("privileged", self.privileged.is_some()),
            ("cap_add", self.cap_add.is_some()),
            ("cap_drop", self.cap_drop.is_some()),
            ("devices", self.devices.is_some()),
            ("pid", self.pid.is_some()),
            ("sysctls", self.sysctls.is_some()),
            ("restart", self.restart.is_some()),
            ("depends_on", self.depends_on.is_some()),
            ("x-nxinfra", self.x_nxinfra.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeploy {
    mode: Option<String>,
    replicas: Option<u64>,
    placement: Option<RawPlacement>,
    update_config: Option<RawUpdate>,
    rollback_config: Option<RawUpdate>,
    restart_policy: Option<RawRestart>,
    resources: Option<RawResources>,
    endpoint_mode: Option<String>,
    labels: Option<KeyValues<Label>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlacement {
    constraints: Option<Vec<String>>,
    max_replicas_per_node: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpdate {
    parallelism: Option<u64>,
    delay: Option<ComposeDuration>,
    failure_action: Option<String>,
    monitor: Option<ComposeDuration>,
    max_failure_ratio: Option<f64>,
    order: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestart {
    condition: Option<String>,
    delay: Option<ComposeDuration>,
    max_attempts: Option<u64>,
    window: Option<ComposeDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResources {
    limits: Option<RawLimits>,
    reservations: Option<RawLimits>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    cpus: Option<Scalar>,
    memory: Option<Scalar>,
    pids: Option<i64>,
}

/// `configs:`/`secrets:` of a service: a name, or `{source, target, uid, gid, mode}`.
#[derive(Debug)]
struct RawFileRef {
    source: String,
    target: Option<String>,
    uid: Option<String>,
    gid: Option<String>,
    mode: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LongFileRef {
    source: String,
    target: Option<String>,
    uid: Option<Scalar>,
    gid: Option<Scalar>,
    mode: Option<u32>,
}

impl<'de> Deserialize<'de> for RawFileRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawFileRef;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a name, or a mapping with source, target, uid, gid, mode")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawFileRef, E> {
                Ok(RawFileRef {
                    source: v.to_string(),
                    target: None,
                    uid: None,
                    gid: None,
                    mode: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawFileRef, A::Error> {
                let long = LongFileRef::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawFileRef {
                    source: long.source,
                    target: long.target,
                    uid: long.uid.map(|s| s.0),
                    gid: long.gid.map(|s| s.0),
                    mode: long.mode,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `ports:` of a service: `"PUBLISHED:TARGET[/PROTOCOL]"`, `TARGET`, or the long form with
/// `mode`.
#[derive(Debug)]
struct RawPort(StackPort);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LongPort {
    target: u16,
    published: Option<u16>,
    protocol: Option<Protocol>,
    mode: Option<PublishMode>,
}

impl<'de> Deserialize<'de> for PublishMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "host" => Ok(PublishMode::Host),
            "ingress" => Ok(PublishMode::Ingress),
            other => Err(de::Error::custom(format!(
                "mode {other:?}: expected host or ingress"
            ))),
        }
    }
}

fn short_port(text: &str) -> Result<StackPort, String> {
    let bad = |why: &str| format!("bad port {text:?}: {why} (\"PUBLISHED:TARGET[/udp]\")");
    let (ports, protocol) = match text.split_once('/') {
        None => (text, Protocol::Tcp),
        Some((p, "tcp")) => (p, Protocol::Tcp),
        Some((p, "udp")) => (p, Protocol::Udp),
        Some((p, "sctp")) => (p, Protocol::Sctp),
        Some(_) => return Err(bad("the protocol is tcp, udp or sctp")),
    };
    let number = |s: &str| {
        s.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("a port is 1-65535"))
    };
    let (published, target) = match ports.split_once(':') {
        None => (None, number(ports)?),
        Some((p, t)) if !t.contains(':') => (Some(number(p)?), number(t)?),
        Some(_) => return Err(bad("a swarm service publishes on every address of a node")),
    };
    Ok(StackPort {
        target,
        published,
        protocol,
        mode: PublishMode::Ingress,
    })
}

impl<'de> Deserialize<'de> for RawPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPort;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a port: \"PUBLISHED:TARGET[/PROTOCOL]\" or a mapping with target, published, protocol, mode")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawPort, E> {
                short_port(&v.to_string()).map(RawPort).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPort, E> {
                short_port(v).map(RawPort).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPort, A::Error> {
                let long = LongPort::deserialize(de::value::MapAccessDeserializer::new(map))?;
                if long.target == 0 || long.published == Some(0) {
                    return Err(de::Error::custom("bad port: a port is 1-65535"));
                }
                Ok(RawPort(StackPort {
                    target: long.target,
                    published: long.published,
                    protocol: long.protocol.unwrap_or(Protocol::Tcp),
                    mode: long.mode.unwrap_or(PublishMode::Ingress),
                }))
            }
        }
        d.deserialize_any(V)
    }
}

// --- reading and normalising ---------------------------------------------------------------

/// Checks and normalises stack `text`; `file` names it in errors.
pub fn parse(file: &Path, text: &str) -> Result<Stack, ComposeError> {
    let (raw, lines) = super::read::<RawStack>(file, text)?;
    let mut report = Report::new(&lines);
    let stack = build(raw, &mut report);
    super::finish(file, stack, report)
}

fn build(raw: RawStack, report: &mut Report) -> Stack {
    let mut stack = Stack::default();
    for (key, net) in raw.networks.unwrap_or_default() {
        let net = overlay(&key, net, report);
        stack.networks.insert(key, net);
    }
    for (top, raw_objects) in [("configs", raw.configs), ("secrets", raw.secrets)] {
        for (name, object) in raw_objects.unwrap_or_default() {
            let file = object.file.trim_start_matches("./").to_string();
            let clean = !file.is_empty()
                && Path::new(&file)
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !clean {
                report.problem(
                    top,
                    &name,
                    &["file"],
                    format!(
                        "{:?} is not a file of the host's rendered tree (a relative path, no \
                         '..')",
                        object.file
                    ),
                );
            }
            if !valid_key(&name) {
                report.problem(
                    top,
                    &name,
                    &[],
                    format!("invalid name {name:?}: use [a-zA-Z0-9._-]"),
                );
            }
            let target = if top == "configs" {
                &mut stack.configs
            } else {
                &mut stack.secrets
            };
            target.insert(name, FileSource { file });
        }
    }
    let services = raw.services.unwrap_or_default();
    if services.is_empty() {
        report.problem(
            "services",
            "",
            &[],
            "a stack needs at least one service".into(),
        );
    }
    for (name, raw) in services {
        let service = stack_service(&name, raw, &stack, report);
        stack.services.insert(name, service);
    }
    stack
}

fn overlay(key: &str, raw: Option<RawOverlay>, report: &mut Report) -> Overlay {
    let raw = raw.unwrap_or(RawOverlay {
        name: None,
        driver: None,
        attachable: None,
        enable_ipv6: None,
        driver_opts: None,
        ipam: None,
    });
    if let Some(driver) = raw.driver.as_deref()
        && driver != "overlay"
    {
        report.network(
            key,
            &["driver"],
            format!("driver {driver:?}: a cluster's networks are overlay networks"),
        );
    }
    let driver_opts: BTreeMap<String, String> = raw
        .driver_opts
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    let mut subnets: Vec<String> = raw
        .ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.subnet.to_string())
        .collect();
    subnets.sort();
    let enable_ipv6 = raw.enable_ipv6.unwrap_or(false);
    if enable_ipv6 && !subnets.iter().any(|s| s.contains(':')) {
        report.network(
            key,
            &["enable_ipv6"],
            "an IPv6 overlay needs its IPv6 subnet in ipam.config (the engine has no IPv6 pool \
             of its own)"
                .into(),
        );
    }
    Overlay {
        name: raw.name.unwrap_or_else(|| key.to_string()),
        attachable: raw.attachable.unwrap_or(false),
        enable_ipv6,
        encrypted: driver_opts.contains_key("encrypted"),
        driver_opts,
        subnets,
    }
}

fn stack_service(name: &str, raw: RawService, stack: &Stack, report: &mut Report) -> StackService {
    let mut problem = |key: &[&str], message: String| report.service(name, key, message);
    if !valid_key(name) {
        problem(
            &[],
            format!("invalid service name {name:?}: use [a-zA-Z0-9._-]"),
        );
    }
    for key in raw.per_host() {
        if let Some((_, why)) = PER_HOST_ONLY.iter().find(|(k, _)| *k == key) {
            problem(
                &[key],
                format!("{key}: {why}; keep this service in compose.yml (per host)"),
            );
        }
    }
    let image = image_reference(&raw.image).unwrap_or_else(|why| {
        problem(&["image"], why);
        raw.image.clone()
    });
    let mut networks = BTreeMap::new();
    for (net, a) in raw.networks.unwrap_or_default().0 {
        if a.ipv4_address.is_some() || a.ipv6_address.is_some() {
            problem(
                &["networks", &net],
                "a fixed address is not possible on a swarm service; keep this service in \
                 compose.yml (per host)"
                    .into(),
            );
        }
        if !stack.networks.contains_key(&net) {
            problem(
                &["networks", &net],
                format!("network {net:?} is not declared under the top-level networks"),
            );
        }
        let mut aliases = a.aliases.unwrap_or_default();
        aliases.sort();
        aliases.dedup();
        networks.insert(net, aliases);
    }
    let mut ports: Vec<StackPort> = raw
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.0)
        .collect();
    ports.sort();
    for pair in ports.windows(2) {
        if (pair[0].published, pair[0].protocol) == (pair[1].published, pair[1].protocol)
            && pair[0].published.is_some()
        {
            problem(
                &["ports"],
                format!("port {} is published twice", pair[0].target),
            );
        }
    }
    let mut mounts = raw.volumes.unwrap_or_default();
    mounts.sort();
    for m in &mounts {
        if m.kind == MountKind::Volume {
            problem(
                &["volumes"],
                format!(
                    "named volume {:?}: a swarm task's volume is local to whichever node runs \
                     it; mount a synced file (a bind mount), or keep the service per host",
                    m.source
                ),
            );
        }
    }
    let healthcheck = raw.healthcheck.map(|h| {
        service::healthcheck(h).unwrap_or_else(|(key, why)| {
            problem(&key, why);
            Healthcheck::Disabled
        })
    });
    let mut refs = |key: &'static str, list: Option<Vec<RawFileRef>>| -> Vec<FileRef> {
        let known = if key == "configs" {
            &stack.configs
        } else {
            &stack.secrets
        };
        let mut out: Vec<FileRef> = list
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                if !known.contains_key(&r.source) {
                    problem(
                        &[key],
                        format!("{:?} is not declared under the top-level {key}", r.source),
                    );
                }
                let target = r.target.unwrap_or_else(|| {
                    if key == "configs" {
                        format!("/{}", r.source)
                    } else {
                        r.source.clone()
                    }
                });
                FileRef {
                    target,
                    uid: r.uid.unwrap_or_else(|| "0".into()),
                    gid: r.gid.unwrap_or_else(|| "0".into()),
                    mode: r.mode.unwrap_or(0o444),
                    source: r.source,
                }
            })
            .collect();
        out.sort_by(|a, b| a.target.cmp(&b.target));
        out
    };
    let configs = refs("configs", raw.configs);
    let secrets = refs("secrets", raw.secrets);
    let host_ports = ports.iter().any(|p| p.mode == PublishMode::Host);
    let deploy = deploy(raw.deploy, host_ports, &mut problem);
    StackService {
        image,
        command: raw.command.map(|c| c.0),
        entrypoint: raw.entrypoint.map(|c| c.0),
        environment: raw
            .environment
            .map(|e| e.0.into_iter().collect())
            .unwrap_or_default(),
        user: raw.user.map(|u| u.0),
        hostname: raw.hostname,
        container_labels: raw
            .labels
            .map(|l| l.0.into_iter().collect())
            .unwrap_or_default(),
        networks,
        ports,
        mounts,
        healthcheck,
        stop_grace_period: raw
            .stop_grace_period
            .map(|d| d.0)
            .unwrap_or(Duration::from_secs(10)),
        configs,
        secrets,
        deploy,
    }
}

fn deploy(
    raw: Option<RawDeploy>,
    host_ports: bool,
    problem: &mut dyn FnMut(&[&str], String),
) -> Deploy {
    let raw = raw.unwrap_or(RawDeploy {
        mode: None,
        replicas: None,
        placement: None,
        update_config: None,
        rollback_config: None,
        restart_policy: None,
        resources: None,
        endpoint_mode: None,
        labels: None,
    });
    let mode = match raw.mode.as_deref() {
        None | Some("replicated") => DeployMode::Replicated {
            replicas: raw.replicas.unwrap_or(1),
        },
        Some("global") => {
            if raw.replicas.is_some() {
                problem(
                    &["deploy", "replicas"],
                    "a global service runs one task per node: no replicas".into(),
                );
            }
            DeployMode::Global
        }
        Some(other) => {
            problem(
                &["deploy", "mode"],
                format!("mode {other:?}: expected replicated or global"),
            );
            DeployMode::Global
        }
    };
    let placement = raw
        .placement
        .map(|p| Placement {
            constraints: p.constraints.unwrap_or_default(),
            max_replicas_per_node: p.max_replicas_per_node,
        })
        .unwrap_or_default();
    // Tasks that bind a port of their node cannot overlap on it: the old one stops first.
    let order = if host_ports {
        Order::StopFirst
    } else {
        Order::StartFirst
    };
    let mut update = |key: &'static str, raw: Option<RawUpdate>, failure: FailureAction| {
        let raw = raw.unwrap_or(RawUpdate {
            parallelism: None,
            delay: None,
            failure_action: None,
            monitor: None,
            max_failure_ratio: None,
            order: None,
        });
        let failure_action = match raw.failure_action.as_deref() {
            None => failure,
            Some("rollback") if key == "update_config" => FailureAction::Rollback,
            Some("continue") => FailureAction::Continue,
            Some("pause") => FailureAction::Pause,
            Some(other) => {
                problem(
                    &["deploy", key, "failure_action"],
                    format!("failure_action {other:?}: expected rollback, pause or continue"),
                );
                failure
            }
        };
        let order = match raw.order.as_deref() {
            None => order,
            Some("start-first") if host_ports => {
                problem(
                    &["deploy", key, "order"],
                    "start-first: the service publishes a port in host mode, which the old and \
                     the new task cannot both hold on one node"
                        .into(),
                );
                order
            }
            Some("start-first") => Order::StartFirst,
            Some("stop-first") => Order::StopFirst,
            Some(other) => {
                problem(
                    &["deploy", key, "order"],
                    format!("order {other:?}: expected start-first or stop-first"),
                );
                order
            }
        };
        let ratio = raw.max_failure_ratio.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&ratio) {
            problem(
                &["deploy", key, "max_failure_ratio"],
                "max_failure_ratio is between 0 and 1".into(),
            );
        }
        UpdateConfig {
            parallelism: raw.parallelism.unwrap_or(1),
            delay: raw.delay.map(|d| d.0).unwrap_or(Duration::ZERO),
            failure_action,
            monitor: raw.monitor.map(|d| d.0).unwrap_or(Duration::from_secs(5)),
            max_failure_ratio: ratio,
            order,
        }
    };
    let update_config = update("update_config", raw.update_config, FailureAction::Rollback);
    let rollback_config = update("rollback_config", raw.rollback_config, FailureAction::Pause);
    let restart_policy = match raw.restart_policy {
        None => RestartPolicy {
            condition: RestartCondition::Any,
            delay: Duration::from_secs(5),
            max_attempts: None,
            window: Duration::ZERO,
        },
        Some(r) => RestartPolicy {
            condition: match r.condition.as_deref() {
                None | Some("any") => RestartCondition::Any,
                Some("on-failure") => RestartCondition::OnFailure,
                Some("none") => RestartCondition::None,
                Some(other) => {
                    problem(
                        &["deploy", "restart_policy", "condition"],
                        format!("condition {other:?}: expected any, on-failure or none"),
                    );
                    RestartCondition::Any
                }
            },
            delay: r.delay.map(|d| d.0).unwrap_or(Duration::from_secs(5)),
            max_attempts: r.max_attempts,
            window: r.window.map(|d| d.0).unwrap_or(Duration::ZERO),
        },
    };
    let mut resources = Resources::default();
    if let Some(r) = raw.resources {
        let mut limits = |which: &'static str, l: Option<RawLimits>| {
            let Some(l) = l else {
                return (None, None, None);
            };
            let cpus = l.cpus.and_then(|c| {
                cpus(&c.0).or_else(|| {
                    problem(
                        &["deploy", "resources", which, "cpus"],
                        format!("cpus {:?}: a number of CPUs, e.g. \"0.5\"", c.0),
                    );
                    None
                })
            });
            let memory = l.memory.and_then(|m| {
                bytes(&m.0).or_else(|| {
                    problem(
                        &["deploy", "resources", which, "memory"],
                        format!("memory {:?}: bytes, or a number with b, k, m or g", m.0),
                    );
                    None
                })
            });
            (cpus, memory, l.pids)
        };
        let (c, m, p) = limits("limits", r.limits);
        resources.limit_nano_cpus = c;
        resources.limit_memory_bytes = m;
        resources.limit_pids = p;
        let (c, m, _) = limits("reservations", r.reservations);
        resources.reserve_nano_cpus = c;
        resources.reserve_memory_bytes = m;
    }
    let endpoint_mode = match raw.endpoint_mode.as_deref() {
        None | Some("vip") => EndpointMode::Vip,
        Some("dnsrr") => EndpointMode::Dnsrr,
        Some(other) => {
            problem(
                &["deploy", "endpoint_mode"],
                format!("endpoint_mode {other:?}: expected vip or dnsrr"),
            );
            EndpointMode::Vip
        }
    };
    Deploy {
        mode,
        placement,
        update_config,
        rollback_config,
        restart_policy,
        resources,
        endpoint_mode,
        labels: raw
            .labels
            .map(|l| l.0.into_iter().collect())
            .unwrap_or_default(),
    }
}

/// `"0.5"` CPUs as nano-CPUs.
fn cpus(text: &str) -> Option<i64> {
    let n: f64 = text.trim().parse().ok()?;
    (n > 0.0 && n <= 1024.0).then(|| (n * 1e9).round() as i64)
}

/// `"64m"`, `"1g"`, `"512k"`, `"100b"` or a plain number of bytes.
fn bytes(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix('b')
        .filter(|s| !s.is_empty() && !s.ends_with(char::is_numeric))
        .unwrap_or(&t);
    let (number, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], Some(c)),
        _ => (t, None),
    };
    let n: i64 = number.parse().ok()?;
    let scale = match unit {
        None | Some('b') => 1,
        Some('k') => 1 << 10,
        Some('m') => 1 << 20,
        Some('g') => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale).filter(|b| *b > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Stack {
        parse(Path::new("stack.yml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn errors(text: &str) -> String {
        parse(Path::new("stack.yml"), text).unwrap_err().to_string()
    }

    const WEB: &str = "services:
  web:
    image: nxtb-busybox:1
    command: [httpd, -f, -p, '8080']
    networks: [front]
    ports:
      - {target: 8080, published: 18080, mode: host}
    configs:
      - source: page
        target: /www/index.html
    secrets: [token]
    healthcheck:
      test: [CMD, nc, -z, 127.0.0.1, '8080']
      interval: 1s
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      placement:
        max_replicas_per_node: 1
        constraints: [node.labels.zone==a]
networks:
  front:
    attachable: true
    driver_opts: {encrypted: ''}
configs:
  page: {file: ./web/index.html}
secrets:
  token: {file: web/token}
";

    #[test]
    fn a_stack_is_read_with_swarm_defaults() {
        let s = load(WEB);
        let web = &s.services["web"];
        assert_eq!(web.deploy.mode, DeployMode::Replicated { replicas: 2 });
        assert_eq!(web.deploy.endpoint_mode, EndpointMode::Dnsrr);
        assert_eq!(web.deploy.placement.max_replicas_per_node, Some(1));
        // A host port: the old task stops first; failures roll back by default.
        assert_eq!(web.deploy.update_config.order, Order::StopFirst);
        assert_eq!(
            web.deploy.update_config.failure_action,
            FailureAction::Rollback
        );
        assert_eq!(
            web.deploy.rollback_config.failure_action,
            FailureAction::Pause
        );
        assert_eq!(web.ports[0].mode, PublishMode::Host);
        assert_eq!(web.configs[0].target, "/www/index.html");
        assert_eq!(web.secrets[0].target, "token");
        assert_eq!(s.configs["page"].file, "web/index.html");
        assert!(s.networks["front"].encrypted && s.networks["front"].attachable);
        assert!(matches!(web.healthcheck, Some(Healthcheck::Check(_))));

        let plain = load("services:\n  w:\n    image: busybox:1\n    ports: ['8080:80']\n");
        let w = &plain.services["w"];
        assert_eq!(w.deploy.update_config.order, Order::StartFirst);
        assert_eq!(
            w.ports,
            [StackPort {
                target: 80,
                published: Some(8080),
                protocol: Protocol::Tcp,
                mode: PublishMode::Ingress
            }]
        );
        assert_eq!(w.deploy.mode, DeployMode::Replicated { replicas: 1 });
    }

    #[test]
    fn what_only_a_host_can_have_is_refused_with_where_it_belongs() {
        let e = errors(
            "services:\n  r:\n    image: bird:2\n    network_mode: host\n    privileged: true\n    \
             networks:\n      front: {ipv6_address: 'fd00::1'}\nnetworks:\n  front: {}\n",
        );
        assert!(
            e.contains("network_mode: swarm services cannot use host networking"),
            "{e}"
        );
        assert!(
            e.contains(
                "privileged: swarm services cannot be privileged; keep this service in compose.yml"
            ),
            "{e}"
        );
        assert!(
            e.contains("a fixed address is not possible on a swarm service"),
            "{e}"
        );
        assert!(e.contains("stack.yml:4"), "lines: {e}");
    }

    #[test]
    fn bad_references_and_values_are_errors_with_their_line() {
        let e = errors(
            "services:\n  w:\n    image: busybox:1\n    networks: [nope]\n    configs: [missing]\n    \
             deploy:\n      mode: sometimes\n      update_config: {order: sideways}\n      \
             resources: {limits: {memory: lots}}\nconfigs:\n  c: {file: ../etc/passwd}\n",
        );
        for want in [
            "network \"nope\" is not declared",
            "\"missing\" is not declared under the top-level configs",
            "mode \"sometimes\": expected replicated or global",
            "order \"sideways\"",
            "memory \"lots\"",
            "\"../etc/passwd\" is not a file of the host's rendered tree",
        ] {
            assert!(e.contains(want), "want {want:?} in:\n{e}");
        }
        let e = errors(
            "services:\n  w:\n    image: busybox:1\n    ports: [{target: 80, published: 80, mode: host}]\n    deploy: {update_config: {order: start-first}}\n",
        );
        assert!(
            e.contains("start-first: the service publishes a port in host mode"),
            "{e}"
        );
        assert!(errors("services: {}\n").contains("at least one service"));
    }

    #[test]
    fn sizes_and_cpus() {
        assert_eq!(bytes("64m"), Some(64 << 20));
        assert_eq!(bytes("1G"), Some(1 << 30));
        assert_eq!(bytes("100"), Some(100));
        assert_eq!(bytes("512kb"), Some(512 << 10));
        assert_eq!(bytes("lots"), None);
        assert_eq!(cpus("0.5"), Some(500_000_000));
        assert_eq!(cpus("-1"), None);
    }
}

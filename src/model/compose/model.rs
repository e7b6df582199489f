//! The compose file as written: serde structs with `deny_unknown_fields`, values already parsed
//! from their short or long syntax. [`super::normal`] turns this into the normalised form.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize as DeriveDeserialize, Serialize};

use super::duration::ComposeDuration;
use super::forms::{Addresses, Command, Env, KeyValues, Label, Scalar, Sysctl};
use super::mounts::{Device, Mount};
use super::net::{Ip, Ip4, Ip6, Subnet};
use super::options::{Capability, HealthTest, NetworkMode, Restart, Ulimit, UlimitName};
use super::ports::PortSpec;

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompose {
    /// Obsolete in the Specification and ignored, as Compose does.
    #[serde(default, rename = "version")]
    pub _version: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub services: Option<IndexMap<String, RawService>>,
    #[serde(default)]
    pub networks: Option<IndexMap<String, Option<RawNetwork>>>,
    #[serde(default)]
    pub volumes: Option<IndexMap<String, Option<RawVolume>>>,
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub image: String,
    pub container_name: Option<String>,
    pub command: Option<Command>,
    pub entrypoint: Option<Command>,
    pub environment: Option<KeyValues<Env>>,
    pub user: Option<Scalar>,
    pub restart: Option<Restart>,
    pub network_mode: Option<NetworkMode>,
    pub networks: Option<ServiceNetworks>,
    pub ports: Option<Vec<PortSpec>>,
    pub volumes: Option<Vec<Mount>>,
    pub cap_add: Option<Vec<Capability>>,
    pub cap_drop: Option<Vec<Capability>>,
    pub ulimits: Option<IndexMap<UlimitName, Ulimit>>,
    pub privileged: Option<bool>,
    pub pid: Option<PidMode>,
    pub dns: Option<Addresses>,
    pub hostname: Option<String>,
    pub logging: Option<RawLogging>,
    pub labels: Option<KeyValues<Label>>,
    pub sysctls: Option<KeyValues<Sysctl>>,
    pub devices: Option<Vec<Device>>,
    pub healthcheck: Option<RawHealthcheck>,
    pub depends_on: Option<DependsOn>,
    pub pull_policy: Option<PullPolicy>,
    pub stop_grace_period: Option<ComposeDuration>,
    #[serde(rename = "x-nxinfra")]
    pub x_nxinfra: Option<XNxinfra>,
}

/// `pid`: only the host's PID namespace is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, DeriveDeserialize)]
#[serde(rename_all = "lowercase")]
pub enum PidMode {
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, DeriveDeserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    /// Pull when the image is not on the host (`if_not_present` is an older name for it,
    /// the one docker-compose 1.x knows).
    #[default]
    #[serde(alias = "if_not_present")]
    Missing,
    /// Pull on every apply.
    Always,
    /// Never pull: the image must be on the host.
    Never,
}

/// What a change to the content of a bind-mounted rendered file does to the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, DeriveDeserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnConfigChange {
    #[default]
    Recreate,
    Restart,
    Ignore,
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct XNxinfra {
    pub on_config_change: Option<OnConfigChange>,
    /// A job: a container that runs to completion (exit 0), once per change.
    pub job: Option<bool>,
    /// How long a job may run (default 10 minutes).
    pub timeout: Option<ComposeDuration>,
    /// Post-deploy checks, part of the service's health gate (`nxinfra status` runs them
    /// too).
    pub checks: Option<Vec<RawCheck>>,
}

/// One of `x-nxinfra.checks`: exactly one of `http`, `tcp`, `exec`.
#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub name: Option<String>,
    /// A URL (`http://127.0.0.1:8080/health`).
    pub http: Option<String>,
    /// The HTTP status expected (default 200).
    pub status: Option<u16>,
    /// A text the HTTP answer's body must contain.
    pub body: Option<String>,
    /// `host:port`.
    pub tcp: Option<String>,
    /// Whose point of view `http` and `tcp` take: `host` (default) or `container`.
    pub from: Option<CheckFrom>,
    /// A command run in the container (a string runs through `sh -c`), passing when it exits 0.
    pub exec: Option<RawExec>,
    pub timeout: Option<ComposeDuration>,
    pub retries: Option<u32>,
    pub interval: Option<ComposeDuration>,
    pub start_delay: Option<ComposeDuration>,
    /// Whether it gates a rollout (default true); false: `nxinfra status --checks` only (a
    /// data freshness check, which a fresh database cannot pass).
    pub gate: Option<bool>,
}

/// A check's command: a string for `sh -c`, or the words themselves.
#[derive(Debug, DeriveDeserialize)]
#[serde(untagged)]
pub enum RawExec {
    Shell(String),
    Words(Vec<String>),
}

/// Where a check's `http` or `tcp` connects from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, DeriveDeserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckFrom {
    /// The host's network (nxinfra connects through the host's SSH connection).
    #[default]
    Host,
    /// The container's network (a command run in it: `wget` for http, `nc` for tcp).
    Container,
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogging {
    pub driver: Option<String>,
    pub options: Option<IndexMap<String, Scalar>>,
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthcheck {
    pub test: Option<HealthTest>,
    pub interval: Option<ComposeDuration>,
    pub timeout: Option<ComposeDuration>,
    pub retries: Option<u32>,
    pub start_period: Option<ComposeDuration>,
    pub disable: Option<bool>,
}

/// One network of a service (the mapping form; the list form has none of these).
#[derive(Debug, Default, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttachment {
    pub ipv4_address: Option<Ip4>,
    pub ipv6_address: Option<Ip6>,
    pub aliases: Option<Vec<String>>,
}

/// A service's `networks`: a list of names or a mapping name → settings.
#[derive(Debug, Default)]
pub struct ServiceNetworks(pub IndexMap<String, RawAttachment>);

impl<'de> Deserialize<'de> for ServiceNetworks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ServiceNetworks;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of network names or a mapping of networks")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = IndexMap::new();
                while let Some(name) = seq.next_element::<String>()? {
                    if out.contains_key(&name) {
                        return Err(de::Error::custom(format!("network {name} is listed twice")));
                    }
                    out.insert(name, RawAttachment::default());
                }
                Ok(ServiceNetworks(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = IndexMap::new();
                while let Some(name) = map.next_key::<String>()? {
                    let settings: Option<RawAttachment> = map.next_value()?;
                    out.insert(name, settings.unwrap_or_default());
                }
                Ok(ServiceNetworks(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// The condition of a dependency (the mapping form of `depends_on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, DeriveDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    #[default]
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
struct RawDependency {
    condition: Option<Condition>,
}

/// `depends_on`: a list of service names or a mapping name → `{condition}`.
#[derive(Debug, Default)]
pub struct DependsOn(pub IndexMap<String, Condition>);

impl<'de> Deserialize<'de> for DependsOn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DependsOn;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of service names or a mapping of services")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = IndexMap::new();
                while let Some(name) = seq.next_element::<String>()? {
                    if out.contains_key(&name) {
                        return Err(de::Error::custom(format!("service {name} is listed twice")));
                    }
                    out.insert(name, Condition::default());
                }
                Ok(DependsOn(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = IndexMap::new();
                while let Some(name) = map.next_key::<String>()? {
                    let dep: Option<RawDependency> = map.next_value()?;
                    let condition = dep.and_then(|d| d.condition).unwrap_or_default();
                    out.insert(name, condition);
                }
                Ok(DependsOn(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub driver: Option<String>,
    pub enable_ipv6: Option<bool>,
    pub driver_opts: Option<IndexMap<String, Scalar>>,
    pub ipam: Option<RawIpam>,
    pub external: Option<bool>,
    pub name: Option<String>,
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIpam {
    pub config: Option<Vec<RawPool>>,
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    pub subnet: Subnet,
    pub gateway: Option<Ip>,
}

#[derive(Debug, DeriveDeserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVolume {
    pub driver: Option<String>,
    pub driver_opts: Option<IndexMap<String, Scalar>>,
    pub external: Option<bool>,
    pub name: Option<String>,
}

//! The normalised compose model translated into the engine's create requests (pure).

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HealthConfig,
    HostConfig, HostConfigLogConfig, Ipam, IpamConfig, Mount, MountType, NetworkCreateRequest,
    NetworkingConfig, PortBinding, ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};

use crate::model::compose::{
    Compose, Healthcheck, MountKind, Network, NetworkMode, PidMode, Protocol, Restart, Service,
};

/// What creating a service's container takes. API 1.41 (Docker 20.10) accepts one network at
/// create: the others are attached with `connect_network` before the start.
#[derive(Debug, Clone)]
pub struct ContainerRequest {
    pub name: String,
    pub body: ContainerCreateBody,
    /// (Docker network name, endpoint).
    pub extra_networks: Vec<(String, EndpointSettings)>,
}

pub fn nanos(d: std::time::Duration) -> i64 {
    d.as_nanos().min(i64::MAX as u128) as i64
}

/// The create request of `service`, with nxinfra's `labels` added to the service's own.
pub fn container(
    compose: &Compose,
    service: &Service,
    labels: &BTreeMap<String, String>,
) -> ContainerRequest {
    let spec = &service.spec;
    let mut all_labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    all_labels.extend(labels.clone());
    let network_mode = match &spec.network_mode {
        Some(NetworkMode::Host) => Some("host".to_string()),
        Some(NetworkMode::None) => Some("none".to_string()),
        Some(NetworkMode::Bridge) => Some("bridge".to_string()),
        Some(NetworkMode::Service(other)) => {
            let name = compose
                .services
                .get(other)
                .map(|s| s.spec.container_name.clone())
                .unwrap_or_else(|| other.clone());
            Some(format!("container:{name}"))
        }
        None => None,
    };
    let mut endpoints: Vec<(String, EndpointSettings)> = spec
        .networks
        .iter()
        .map(|(key, a)| {
            let name = compose
                .networks
                .get(key)
                .map(|n| n.name.clone())
                .unwrap_or_else(|| key.clone());
            let ipam = (a.ipv4_address.is_some() || a.ipv6_address.is_some()).then(|| {
                EndpointIpamConfig {
                    ipv4_address: a.ipv4_address.map(|ip| ip.to_string()),
                    ipv6_address: a.ipv6_address.map(|ip| ip.to_string()),
                    ..Default::default()
                }
            });
            let endpoint = EndpointSettings {
                ipam_config: ipam,
                aliases: (!a.aliases.is_empty()).then(|| a.aliases.clone()),
                ..Default::default()
            };
            (name, endpoint)
        })
        .collect();
    let first = (!endpoints.is_empty()).then(|| endpoints.remove(0));
    let network_mode = network_mode.or_else(|| first.as_ref().map(|(n, _)| n.clone()));
    let networking_config = first.map(|(name, endpoint)| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(name, endpoint)])),
    });

    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &spec.ports {
        let proto = match p.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        };
        let key = format!("{}/{proto}", p.container_port);
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: p.host_ip.map(|ip| ip.to_string()),
                host_port: p.host_port.map(|port| port.to_string()),
            });
    }
    let mounts: Vec<Mount> = spec.mounts.iter().map(mount).collect();
    let restart = match spec.restart {
        Restart::No => RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        },
        Restart::Always => RestartPolicy {
            name: Some(RestartPolicyNameEnum::ALWAYS),
            maximum_retry_count: None,
        },
        Restart::UnlessStopped => RestartPolicy {
            name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        },
        Restart::OnFailure(n) => RestartPolicy {
            name: Some(RestartPolicyNameEnum::ON_FAILURE),
            maximum_retry_count: n.map(i64::from),
        },
    };
    let healthcheck = spec.healthcheck.as_ref().map(health);
    let host_config = HostConfig {
        network_mode,
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        mounts: (!mounts.is_empty()).then_some(mounts),
        devices: (!spec.devices.is_empty()).then(|| {
            spec.devices
                .iter()
                .map(|d| DeviceMapping {
                    path_on_host: Some(d.host.clone()),
                    path_in_container: Some(d.container.clone()),
                    cgroup_permissions: Some(d.permissions.clone()),
                })
                .collect()
        }),
        cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
        cap_drop: (!spec.cap_drop.is_empty()).then(|| spec.cap_drop.clone()),
        privileged: Some(spec.privileged),
        pid_mode: spec.pid.as_ref().map(|p| match p {
            PidMode::Host => "host".to_string(),
        }),
        ulimits: (!spec.ulimits.is_empty()).then(|| {
            spec.ulimits
                .iter()
                .map(|(name, u)| ResourcesUlimits {
                    name: Some(name.clone()),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect()
        }),
        sysctls: (!spec.sysctls.is_empty()).then(|| spec.sysctls.clone().into_iter().collect()),
        dns: (!spec.dns.is_empty()).then(|| spec.dns.iter().map(|d| d.to_string()).collect()),
        log_config: spec.logging.as_ref().map(|l| HostConfigLogConfig {
            typ: l.driver.clone(),
            config: (!l.options.is_empty()).then(|| l.options.clone().into_iter().collect()),
        }),
        restart_policy: Some(restart),
        ..Default::default()
    };
    let body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.command.clone(),
        entrypoint: spec.entrypoint.clone(),
        env: Some(
            spec.environment
                .0
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        user: spec.user.clone(),
        hostname: spec.hostname.clone(),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        labels: Some(all_labels),
        healthcheck,
        stop_timeout: Some(spec.stop_grace_period.as_secs() as i64),
        host_config: Some(host_config),
        networking_config,
        ..Default::default()
    };
    ContainerRequest {
        name: spec.container_name.clone(),
        body,
        extra_networks: endpoints,
    }
}

/// The create request of a network, with nxinfra's `labels`.
pub fn network(net: &Network, labels: &BTreeMap<String, String>) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: net.name.clone(),
        driver: Some(net.driver.clone()),
        enable_ipv6: Some(net.enable_ipv6),
        options: (!net.driver_opts.is_empty())
            .then(|| net.driver_opts.clone().into_iter().collect()),
        ipam: (!net.ipam.is_empty()).then(|| Ipam {
            driver: Some("default".into()),
            config: Some(
                net.ipam
                    .iter()
                    .map(|p| IpamConfig {
                        subnet: Some(p.subnet.to_string()),
                        gateway: p.gateway.map(|g| g.to_string()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            options: None,
        }),
        labels: Some(labels.clone().into_iter().collect()),
        ..Default::default()
    }
}

/// A healthcheck as the engine's (containers and swarm services alike).
pub fn health(h: &Healthcheck) -> HealthConfig {
    match h {
        Healthcheck::Disabled => HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        },
        Healthcheck::Check(c) => HealthConfig {
            test: Some(c.test.clone()),
            interval: Some(nanos(c.interval)),
            timeout: Some(nanos(c.timeout)),
            retries: Some(i64::from(c.retries)),
            start_period: Some(nanos(c.start_period)),
            ..Default::default()
        },
    }
}

/// A compose mount as the engine's (containers and swarm services alike).
pub fn mount(m: &crate::model::compose::Mount) -> Mount {
    Mount {
        target: Some(m.target.clone()),
        source: Some(m.source.clone()),
        typ: Some(match m.kind {
            MountKind::Bind => MountType::BIND,
            MountKind::Volume => MountType::VOLUME,
        }),
        read_only: Some(m.read_only),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::compose::parse;

    fn load(text: &str) -> Compose {
        parse(std::path::Path::new("compose.yml"), text).unwrap()
    }

    #[test]
    fn every_field_lands_in_the_request() {
        let c = load(
            "services:
  app:
    image: busybox:1
    command: [\"sleep\", \"1\"]
    entrypoint: [\"/bin/sh\", \"-c\"]
    environment: {A: \"1\"}
    user: \"1000:1000\"
    hostname: app1
    restart: unless-stopped
    networks:
      a: {ipv6_address: \"fd00:a::10\"}
      b: {ipv4_address: 172.30.1.10, aliases: [x]}
    ports: [\"127.0.0.1:8080:80/tcp\", \"53:53/udp\"]
    volumes: [\"/srv/conf:/etc/app:ro\"]
    cap_add: [NET_ADMIN]
    privileged: true
    ulimits: {nofile: 65536}
    sysctls: {net.ipv4.ip_forward: \"1\"}
    dns: [\"2001:db8::53\"]
    logging: {driver: json-file, options: {max-size: 10m}}
    labels: {team: net}
    healthcheck: {test: [\"CMD\", \"true\"], interval: 2s, retries: 5}
    stop_grace_period: 3s
networks:
  a: {enable_ipv6: true, ipam: {config: [{subnet: \"fd00:a::/64\"}]}}
  b: {ipam: {config: [{subnet: 172.30.1.0/24, gateway: 172.30.1.1}]}}
",
        );
        let labels = BTreeMap::from([("nxinfra.managed".to_string(), "true".to_string())]);
        let r = container(&c, &c.services["app"], &labels);
        let b = &r.body;
        assert_eq!(r.name, "app");
        assert_eq!(b.image.as_deref(), Some("busybox:1"));
        assert_eq!(
            b.cmd.as_deref(),
            Some(&["sleep".to_string(), "1".into()][..])
        );
        assert_eq!(b.env.as_deref(), Some(&["A=1".to_string()][..]));
        assert_eq!(b.user.as_deref(), Some("1000:1000"));
        assert_eq!(b.hostname.as_deref(), Some("app1"));
        let labels = b.labels.clone().unwrap();
        assert_eq!(
            (labels["team"].as_str(), labels["nxinfra.managed"].as_str()),
            ("net", "true")
        );
        assert_eq!(b.stop_timeout, Some(3));
        let h = b.healthcheck.clone().unwrap();
        assert_eq!((h.interval, h.retries), (Some(2_000_000_000), Some(5)));
        let hc = b.host_config.clone().unwrap();
        assert_eq!(hc.network_mode.as_deref(), Some("a"));
        let eps = b
            .networking_config
            .clone()
            .unwrap()
            .endpoints_config
            .unwrap();
        assert_eq!(
            eps["a"]
                .ipam_config
                .clone()
                .unwrap()
                .ipv6_address
                .as_deref(),
            Some("fd00:a::10")
        );
        assert_eq!(r.extra_networks.len(), 1);
        assert_eq!(r.extra_networks[0].0, "b");
        assert_eq!(
            r.extra_networks[0].1.aliases.as_deref(),
            Some(&["x".to_string()][..])
        );
        let ports = hc.port_bindings.unwrap();
        let http = ports["80/tcp"].clone().unwrap();
        assert_eq!(http[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(http[0].host_port.as_deref(), Some("8080"));
        assert!(ports.contains_key("53/udp"));
        let m = &hc.mounts.unwrap()[0];
        assert_eq!((m.read_only, m.typ), (Some(true), Some(MountType::BIND)));
        assert_eq!(hc.cap_add.as_deref(), Some(&["NET_ADMIN".to_string()][..]));
        assert_eq!(hc.privileged, Some(true));
        assert_eq!(hc.ulimits.unwrap()[0].soft, Some(65536));
        assert_eq!(hc.sysctls.unwrap()["net.ipv4.ip_forward"], "1");
        assert_eq!(hc.dns.as_deref(), Some(&["2001:db8::53".to_string()][..]));
        assert_eq!(hc.log_config.unwrap().config.unwrap()["max-size"], "10m");
        assert_eq!(
            hc.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        let n = network(&c.networks["b"], &BTreeMap::new());
        let pool = &n.ipam.unwrap().config.unwrap()[0];
        assert_eq!(pool.gateway.as_deref(), Some("172.30.1.1"));
    }
}

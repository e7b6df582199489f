//! The compose loader on the shipped fleet: every host's rendered `compose.yml` loads, holds
//! the services it should, normalises as the reconciler expects, and Compose itself
//! (`docker-compose config`) accepts the same files.

mod common;

use common::shipped::{HOSTS, rendered_fleet};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use nxinfra::model::compose::{self, Compose, Healthcheck, NetworkMode, OnConfigChange};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const BASE_DIR: &str = "/home/nxthdr";

const CORE: &[&str] = &[
    "alertmanager",
    "alloy",
    "bgpalerter",
    "bird_exporter",
    "cadvisor",
    "chproxy",
    "clickhouse",
    "clickhouse-schemas",
    "geofeed",
    "grafana",
    "headplane",
    "headscale",
    "loki",
    "node_exporter",
    "peerlab-gateway",
    "pesto",
    "postgres_exporter",
    "postgresql",
    "prometheus",
    "proxy",
    "proxy-ipv4",
    "redpanda",
    "risotto",
    "routinator",
    "saimiris-gateway",
    "website-blog",
    "website-docs",
    "website-nxthdr",
];

const IXP: &[&str] = &[
    "alloy",
    "bird_exporter",
    "cadvisor",
    "node_exporter",
    "tailscale",
];

const VLT: &[&str] = &[
    "alloy",
    "bird_exporter",
    "cadvisor",
    "node_exporter",
    "saimiris",
];

fn expected_services(host: &str) -> &'static [&'static str] {
    match host {
        "coreams01" => CORE,
        h if h.starts_with("ixp") => IXP,
        _ => VLT,
    }
}

fn load(rendered: &Path, host: &str) -> Compose {
    let file = rendered.join(host).join("compose.yml");
    compose::load(&file).unwrap_or_else(|e| panic!("{e}"))
}

fn position(order: &[&str], name: &str) -> usize {
    order
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("{name} not in {order:?}"))
}

#[test]
fn every_shipped_compose_file_loads_with_its_services() {
    let (_dir, rendered) = rendered_fleet();
    for host in HOSTS {
        let c = load(&rendered, host);
        let names: BTreeSet<&str> = c.services.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = expected_services(host).iter().copied().collect();
        assert_eq!(names, want, "{host}");
        // Every service starts after what it depends on.
        let order: Vec<&str> = c.start_order().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(order.len(), c.services.len(), "{host}");
        for service in c.services.values() {
            for dep in service.dependencies() {
                assert!(
                    position(&order, dep) < position(&order, &service.name),
                    "{host}: {} before {dep}",
                    service.name
                );
            }
            // The hash input exists for every service, and containers are named after
            // their service.
            assert!(service.spec.canonical_json().is_ok());
            assert_eq!(service.spec.container_name, service.name, "{host}");
        }
        // Every fixed address sits in its network's subnet (the loader checks it; this pins
        // that the shipped networks have the IPv6 they need).
        let backend = &c.networks["backend"];
        assert!(backend.enable_ipv6, "{host}");
        assert_eq!(
            backend.driver_opts["com.docker.network.bridge.name"],
            "br-backend"
        );
    }
}

#[test]
fn the_core_host_normalises_as_the_reconciler_expects() {
    let (_dir, rendered) = rendered_fleet();
    let c = load(&rendered, "coreams01");
    let order: Vec<&str> = c.start_order().iter().map(|s| s.name.as_str()).collect();
    for (before, after) in [
        ("redpanda", "clickhouse"),
        ("clickhouse", "chproxy"),
        ("chproxy", "grafana"),
        ("postgresql", "headscale"),
        ("headscale", "headplane"),
        ("proxy", "proxy-ipv4"),
        ("clickhouse", "clickhouse-schemas"),
    ] {
        assert!(
            position(&order, before) < position(&order, after),
            "{order:?}"
        );
    }

    // The schemas of clickhouse-tables/ are applied by a job, once clickhouse is healthy,
    // and again when one changes (they are its only mount).
    let schemas = &c.services["clickhouse-schemas"];
    assert_eq!(
        schemas.job.map(|j| j.timeout),
        Some(std::time::Duration::from_secs(300))
    );
    assert_eq!(
        schemas.depends_on["clickhouse"],
        nxinfra::model::compose::Condition::ServiceHealthy
    );
    assert_eq!(
        schemas
            .spec
            .mounts
            .iter()
            .map(|m| m.target.as_str())
            .collect::<Vec<_>>(),
        ["/schemas"]
    );

    let proxy = &c.services["proxy"];
    assert_eq!(proxy.on_config_change, OnConfigChange::Restart);
    assert_eq!(proxy.spec.networks.len(), 2);
    assert_eq!(
        proxy.spec.networks["dmz"].ipv6_address,
        Some("2a06:de00:50:cafe:100::a".parse().unwrap())
    );
    assert!(matches!(
        proxy.spec.healthcheck,
        Some(Healthcheck::Check(_))
    ));
    assert_eq!(
        c.services["grafana"].on_config_change,
        OnConfigChange::Recreate
    );

    // The `$$` of node_exporter's regex reaches the container as one `$`.
    let node = &c.services["node_exporter"].spec;
    let command = node.command.as_ref().unwrap();
    assert!(command.iter().any(|w| w.ends_with("($|/)")), "{command:?}");

    let ports: Vec<String> = c.services["proxy-ipv4"]
        .spec
        .ports
        .iter()
        .map(|p| format!("{}/{}", p.container_port, p.protocol))
        .collect();
    assert_eq!(ports, ["80/tcp", "443/tcp", "443/udp"]);

    // The rendered files a service mounts are found under rendered/<host>/.
    let host_dir = rendered.join("coreams01");
    let sources = |name: &str| -> Vec<PathBuf> {
        c.services[name]
            .rendered_sources(Path::new(BASE_DIR))
            .map(Path::to_path_buf)
            .collect()
    };
    assert!(sources("proxy").contains(&PathBuf::from("proxy/config")));
    assert!(host_dir.join("proxy/config/Caddyfile").is_file());
    for file in [
        "grafana/config/grafana.ini",
        "grafana/config/datasources.yml",
        "grafana/config/dashboards.yml",
    ] {
        assert!(sources("grafana").contains(&PathBuf::from(file)), "{file}");
        assert!(host_dir.join(file).is_file(), "{file}");
    }
    // Host paths outside the base dir are not rendered files.
    assert!(
        c.services["cadvisor"]
            .rendered_sources(Path::new(BASE_DIR))
            .next()
            .is_none()
    );
}

#[test]
fn host_networking_services_on_ixp_and_vlt_hosts() {
    let (_dir, rendered) = rendered_fleet();
    for (host, name) in [("ixpams01", "tailscale"), ("vltatl01", "saimiris")] {
        let c = load(&rendered, host);
        let spec = &c.services[name].spec;
        assert_eq!(spec.network_mode, Some(NetworkMode::Host), "{host}");
        assert!(spec.networks.is_empty() && spec.ports.is_empty(), "{host}");
    }
}

#[test]
fn docker_compose_accepts_every_shipped_compose_file() {
    if !common::require_tool("docker-compose", "docker-compose") {
        return;
    }
    let (_dir, rendered) = rendered_fleet();
    for host in HOSTS {
        let file = rendered.join(host).join("compose.yml");
        let out = Command::new("docker-compose")
            .arg("-f")
            .arg(&file)
            .args(["config", "-q"])
            .current_dir(rendered.join(host))
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .output()
            .unwrap();
        let (stdout, stderr) = common::texts(&out);
        assert!(
            out.status.success(),
            "docker-compose rejects {host}'s compose.yml:\n{stdout}\n{stderr}"
        );
        // And nxinfra accepts what Compose accepts.
        load(&rendered, host);
    }
}

/// Every key and form the loader supports, in one file that Compose must accept too: the
/// subset stays a subset.
#[test]
fn every_supported_key_is_accepted_by_both() {
    let file = Path::new(REPO).join("tests/fixtures/compose/every-key.yml");
    let c = compose::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let order: Vec<&str> = c.start_order().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        order,
        ["isolated", "migrate", "app", "sidecar", "vpn", "web"]
    );
    assert!(position(&order, "migrate") < position(&order, "app"));
    assert!(position(&order, "app") < position(&order, "web"));
    assert!(position(&order, "app") < position(&order, "sidecar"));
    let web = &c.services["web"].spec;
    assert_eq!(
        web.command.as_deref(),
        Some(&["nginx", "-g", "daemon off;"].map(String::from)[..])
    );
    assert_eq!(web.environment.0["GREETING"], "costs $5");
    assert_eq!(web.ports.len(), 8);
    assert_eq!(web.mounts.len(), 5);
    assert_eq!(c.services["web"].on_config_change, OnConfigChange::Restart);
    assert_eq!(c.services["app"].on_config_change, OnConfigChange::Ignore);
    assert_eq!(
        c.services["migrate"].spec.healthcheck,
        Some(Healthcheck::Disabled)
    );
    assert_eq!(c.networks["back"].name, "example-back");
    assert_eq!(c.volumes["logs"].name, "web-logs");
    assert!(c.volumes["archive"].external);

    if !common::require_tool("docker-compose", "docker-compose") {
        return;
    }
    let out = Command::new("docker-compose")
        .arg("-f")
        .arg(&file)
        .args(["config", "-q"])
        .env_remove("COMPOSE_FILE")
        .output()
        .unwrap();
    let (stdout, stderr) = common::texts(&out);
    assert!(
        out.status.success(),
        "docker-compose rejects it:\n{stdout}\n{stderr}"
    );
}

//! The shipped nxthdr fleet: it renders out of the box with the demo identity, holds what
//! NXTHDR.md describes, and the real validators accept the rendered files.

mod common;

use common::shipped::{HOSTS, rendered_fleet};

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn services(rendered: &Path, host: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(rendered.join(host).join("compose.yml")).unwrap();
    let doc: serde_json::Value = serde_norway::from_str(&text).unwrap();
    doc["services"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn the_shipped_fleet_renders_every_host_and_file() {
    let (_dir, rendered) = rendered_fleet();
    let hosts: BTreeSet<String> = std::fs::read_dir(&rendered)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(hosts, HOSTS.map(String::from).into());
    let expect = |host: &str, files: &[&str]| {
        for f in files {
            assert!(rendered.join(host).join(f).is_file(), "{host}: {f} missing");
        }
    };
    expect(
        "coreams01",
        &[
            "compose.yml",
            "proxy/config/Caddyfile",
            "proxy-ipv4/config/Caddyfile",
            "prometheus/config/prometheus.yml",
            "prometheus/config/web.yml",
            "prometheus/config/alerts.yml",
            "alertmanager/config/alertmanager.yml",
            "loki/config/loki.yml",
            "grafana/config/grafana.ini",
            "grafana/config/datasources.yml",
            "grafana/config/dashboards.yml",
            "chproxy/config/config.yml",
            "redpanda/config/redpanda.yaml",
            "redpanda/config/entrypoint.sh",
            "postgresql/config/postgresql.conf",
            "postgresql/config/pg_hba.conf",
            "headscale/config/config.yaml",
            "alloy/config/config.alloy",
            "bgpalerter/volume/config.yml",
            "bgpalerter/volume/prefixes.yml",
            "routinator/config/routinator.conf",
            "wireguard/wg0.conf",
            "wireguard/wg1.conf",
            "bird/bird.conf",
            "clickhouse/data/format_schemas/update.capnp",
            "clickhouse/data/format_schemas/sflow.capnp",
            "clickhouse/data/format_schemas/reply.capnp",
            "clickhouse/schemas/bmp.sql",
            "clickhouse/schemas/flows.sql",
            "clickhouse/schemas/saimiris.sql",
        ],
    );
    // The schemas are clickhouse-tables/'s, byte for byte (one copy, read by lookup).
    for db in ["bmp", "flows", "saimiris"] {
        assert_eq!(
            std::fs::read_to_string(
                rendered.join(format!("coreams01/clickhouse/schemas/{db}.sql"))
            )
            .unwrap(),
            std::fs::read_to_string(
                Path::new(REPO).join(format!("clickhouse-tables/{db}/{db}.sql"))
            )
            .unwrap(),
            "{db}"
        );
    }
    for ixp in ["ixpams01", "ixpams02", "ixpfra01"] {
        expect(
            ixp,
            &[
                "compose.yml",
                "alloy/config/config.alloy",
                "bird/bird.conf",
                "bird/peerlab.conf",
                "wireguard/wg0.conf",
            ],
        );
        assert_eq!(
            services(&rendered, ixp),
            [
                "alloy",
                "bird_exporter",
                "cadvisor",
                "node_exporter",
                "tailscale"
            ]
            .map(String::from)
            .into()
        );
    }
    for vlt in ["vltatl01", "vltcdg01"] {
        expect(
            vlt,
            &[
                "compose.yml",
                "alloy/config/config.alloy",
                "bird/bird.conf",
                "hsflowd/hsflowd.conf",
                "saimiris/config/saimiris.yml",
            ],
        );
        assert_eq!(
            services(&rendered, vlt),
            [
                "alloy",
                "bird_exporter",
                "cadvisor",
                "node_exporter",
                "saimiris"
            ]
            .map(String::from)
            .into()
        );
    }
    let core = services(&rendered, "coreams01");
    assert!(
        core.len() >= 25,
        "core runs about 30 containers, got {}",
        core.len()
    );
    for s in [
        "proxy",
        "proxy-ipv4",
        "clickhouse",
        "chproxy",
        "redpanda",
        "prometheus",
        "grafana",
        "alertmanager",
        "loki",
        "alloy",
        "node_exporter",
        "cadvisor",
        "bird_exporter",
        "risotto",
        "pesto",
        "saimiris-gateway",
        "postgresql",
        "headscale",
        "headplane",
        "geofeed",
        "routinator",
        "bgpalerter",
    ] {
        assert!(core.contains(s), "core lacks {s}");
    }
    // The entrypoint is executable; it creates SASL users from secrets, so it is private too.
    let mode = std::fs::metadata(rendered.join("coreams01/redpanda/config/entrypoint.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    // Every WireGuard config holds a private key: 0600.
    for host in ["coreams01", "ixpams01", "ixpfra01"] {
        let mode = std::fs::metadata(rendered.join(host).join("wireguard/wg0.conf"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{host}");
    }
}

/// `Key = value` lines of a WireGuard config.
fn wg_values(path: &Path, key: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

#[test]
fn wireguard_public_keys_are_derived_from_the_private_keys() {
    let (_dir, rendered) = rendered_fleet();
    let mut env = minijinja::Environment::new();
    nxinfra::render::filters::register(&mut env);
    let pubkey = |private: &str| {
        env.render_str("{{ k | wg_pubkey }}", minijinja::context! { k => private })
            .unwrap()
    };
    // Every tunnel of the core: the peer's configured public key is derived from that peer's
    // private key, and the peer lists the core's public key.
    let mut tunnels = 0;
    for entry in std::fs::read_dir(rendered.join("coreams01/wireguard")).unwrap() {
        let core_conf = entry.unwrap().path();
        let core_private = wg_values(&core_conf, "PrivateKey").remove(0);
        let peer_public = wg_values(&core_conf, "PublicKey").remove(0);
        let peer = ["ixpams01", "ixpams02", "ixpfra01"]
            .into_iter()
            .find(|h| {
                let p =
                    wg_values(&rendered.join(h).join("wireguard/wg0.conf"), "PrivateKey").remove(0);
                pubkey(&p) == peer_public
            })
            .unwrap_or_else(|| {
                panic!(
                    "{}: peer key matches no ixp private key",
                    core_conf.display()
                )
            });
        let peer_conf = rendered.join(peer).join("wireguard/wg0.conf");
        assert_eq!(
            wg_values(&peer_conf, "PublicKey"),
            [pubkey(&core_private)],
            "{peer}"
        );
        tunnels += 1;
    }
    assert!(tunnels >= 2, "core has a tunnel per ixp host");
    // Public keys are derived, never stored: no secrets leaf is a public key.
    let secrets = nxinfra::secrets::store::load(
        &rendered.join(".."),
        &nxinfra::secrets::store::Keys {
            identity: Some(common::shipped::demo_identity()),
            vault_password_file: None,
        },
    )
    .unwrap();
    let leaves: Vec<String> = secrets.leaves().into_iter().map(|(_, v)| v).collect();
    for conf in [
        "coreams01/wireguard/wg0.conf",
        "ixpams01/wireguard/wg0.conf",
    ] {
        for public in wg_values(&rendered.join(conf), "PublicKey") {
            assert!(
                !leaves.contains(&public),
                "{conf}: public key stored in secrets"
            );
        }
    }
}

#[test]
fn clickhouse_schemas_follow_the_kafka_mergetree_view_pattern() {
    for (db, topic, schema, table) in [
        ("bmp", "risotto-updates", "update.capnp:Update", "updates"),
        ("flows", "pesto-sflow", "sflow:SFlowFlowRecord", "records"),
        (
            "saimiris",
            "saimiris-replies",
            "reply.capnp:Reply",
            "replies",
        ),
    ] {
        let sql = std::fs::read_to_string(
            Path::new(REPO).join(format!("clickhouse-tables/{db}/{db}.sql")),
        )
        .unwrap();
        for needle in [
            format!("{db}.from_kafka"),
            "ENGINE = Kafka".to_string(),
            topic.to_string(),
            schema.to_string(),
            format!("{db}.{table}"),
            "MergeTree".to_string(),
            "PARTITION BY".to_string(),
            "TTL".to_string(),
            "INTERVAL 7 DAY".to_string(),
            format!("{db}.from_kafka_mv"),
            format!("TO {db}.{table}"),
        ] {
            assert!(sql.contains(&needle), "{db}.sql lacks {needle:?}");
        }
    }
}

#[test]
fn real_validators_accept_the_rendered_fleet() {
    let tools = [
        ("bird", "bird2"),
        ("caddy", "caddy"),
        ("promtool", "prometheus"),
        ("amtool", "prometheus-alertmanager"),
        ("wg-quick", "wireguard-tools"),
        ("yamllint", "yamllint"),
        ("shellcheck", "shellcheck"),
        ("docker-compose", "docker-compose"),
        ("capnp", "capnproto"),
        ("xmllint", "libxml2-utils"),
        ("openssl", "openssl"),
        ("wireguard-go", "wireguard-go"),
        ("ip", "iproute2"),
    ];
    if !tools.iter().all(|(t, p)| common::require_tool(t, p)) {
        return;
    }
    let (_dir, rendered) = rendered_fleet();
    let out = Command::new("sh")
        .arg(Path::new(REPO).join("tests/tools/validate-rendered.sh"))
        .arg(&rendered)
        .output()
        .unwrap();
    let (stdout, stderr) = common::texts(&out);
    assert!(
        out.status.success(),
        "validators failed:\n{stdout}\n{stderr}"
    );
    let passed = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(
        passed >= 50,
        "expected every rendered file checked, got {passed}:\n{stdout}"
    );
    eprintln!("{}", stdout.lines().last().unwrap_or_default());
}

#[test]
fn every_shipped_host_has_a_valid_connection_target_and_system_files() {
    let (_dir, rendered) = rendered_fleet();
    let inv =
        nxinfra::model::inventory::load(&Path::new(REPO).join("inventory/inventory.yml")).unwrap();
    for host in inv.hosts.keys() {
        let vars = inv.host_vars(host).unwrap();
        let defaults = nxinfra::model::target::Defaults {
            user: "operator".into(),
            fleet: "checkout".into(),
        };
        let t = nxinfra::model::target::Target::from_vars(host, &vars, &defaults).unwrap();
        assert_eq!(t.fleet, "nxthdr", "{host}: the shipped fleet names itself");
        // Every system file is rendered, private when it holds a secret, and BIRD's config
        // is placed on every host.
        let tree = common::snapshot(&rendered.join(host));
        let (base, placed) =
            nxinfra::model::system_files::split(host, tree, &t.system_files, &t.base_dir).unwrap();
        assert!(
            placed.iter().any(|p| p.entry.dest == "/etc/bird/bird.conf"),
            "{host}"
        );
        for p in &placed {
            assert!(!base.contains_key(&p.entry.src), "{host}: {}", p.entry.src);
            if p.entry.dest.starts_with("/etc/wireguard/") {
                assert_eq!(p.file.mode, 0o600, "{host}: {}", p.entry.dest);
            }
        }
        assert_eq!(t.user.as_deref(), Some("nxthdr"), "{host}");
        assert_eq!(t.base_dir, "/home/nxthdr", "{host}");
        assert!(
            t.destination.ends_with(".infra.nxthdr.dev"),
            "{host}: {}",
            t.destination
        );
    }
}

/// The checks of nxthdr's written health-check procedure (docs/status.md): the static sites
/// behind the proxy answer 200, ClickHouse's pipelines are fresh (status only), BIRD runs on
/// the routers and probes, and every host's disk is at most 85% full.
#[test]
fn the_shipped_fleet_declares_the_health_procedures_checks() {
    use nxinfra::model::compose::{Probe, parse};
    let (_dir, rendered) = rendered_fleet();
    let inv =
        nxinfra::model::inventory::load(&Path::new(REPO).join("inventory/inventory.yml")).unwrap();
    let defaults = nxinfra::model::target::Defaults {
        user: "operator".into(),
        fleet: "checkout".into(),
    };
    for host in inv.hosts.keys() {
        let vars = inv.host_vars(host).unwrap();
        let t = nxinfra::model::target::Target::from_vars(host, &vars, &defaults).unwrap();
        let probes: Vec<&Probe> = t.checks.iter().map(|c| &c.probe).collect();
        assert!(
            probes.contains(&&Probe::DiskMaxPercent {
                percent: 85,
                path: None
            }),
            "{host}: {probes:?}"
        );
        let bird = t.checks.iter().any(|c| c.name == "bird");
        assert_eq!(
            bird,
            !host.starts_with("core"),
            "{host}: BIRD on ixp and vlt hosts"
        );
    }
    let path = rendered.join("coreams01/compose.yml");
    let compose = parse(&path, &std::fs::read_to_string(&path).unwrap()).unwrap();
    for site in ["website-nxthdr", "website-docs", "website-blog"] {
        let checks = &compose.services[site].checks;
        assert!(
            matches!(&checks[0].probe, Probe::Http { url, status: 200, .. } if url.starts_with("http://[2a06:")),
            "{site}: {checks:?}"
        );
        assert!(checks[0].gate);
    }
    let fresh: Vec<&str> = compose.services["clickhouse"]
        .checks
        .iter()
        .filter(|c| !c.gate)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        fresh,
        [
            "bmp fresh (a row in the last 5 min)",
            "flows fresh (a row in the last 5 min)",
            "saimiris fresh (a row in the last 60 min)"
        ]
    );
}

/// Every nxinfra command the workflows run (`.github/workflows/*.yml`) is one the binary
/// takes: its arguments parse (each run with `--help` added: clap refuses an unknown option
/// before it prints help), so a renamed option fails here, not at 02:17 in the nightly job.
#[test]
fn the_workflows_run_commands_the_binary_takes() {
    let dir = Path::new(REPO).join(".github/workflows");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            // `${{ github.x }}` (GitHub's expressions) stands for one value.
            let mut line = line.to_string();
            while let (Some(a), Some(b)) = (line.find("${{"), line.find("}}")) {
                if b < a {
                    break;
                }
                line.replace_range(a..b + 2, "X");
            }
            let Some(at) = line.find("target/release/nxinfra ") else {
                continue;
            };
            // The words up to a shell operator; `"$identity"` and such stand for a value.
            let words: Vec<String> = line[at + "target/release/nxinfra ".len()..]
                .split_whitespace()
                .take_while(|w| !["|", ">", ">>", "&&", "||", ";"].contains(w))
                .map(|w| {
                    if w.contains('$') {
                        "X".to_string()
                    } else {
                        w.trim_matches('"').to_string()
                    }
                })
                .collect();
            let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
            args.push("--help");
            let out = Command::new(common::bin()).args(&args).output().unwrap();
            assert!(
                out.status.success(),
                "{}: `nxinfra {}`: {}",
                path.display(),
                words.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            seen.push(words.join(" "));
        }
    }
    for want in [
        "backup run",
        "backup verify",
        "backup status",
        "diff --base",
    ] {
        assert!(
            seen.iter().any(|s| s.starts_with(want)),
            "no workflow runs `nxinfra {want}`: {seen:?}"
        );
    }
}

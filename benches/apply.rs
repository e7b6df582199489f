//! `make bench`: `nxinfra apply` of a core-like host with 30 busybox services on testbed host
//! h1 (real sshd and Docker 20.10 in a network namespace): first apply, no-op apply, and one
//! mounted config file changed. Prints wall time, the reconcile time once the engine
//! connection is up, Docker API calls (reads / writes), peak memory, and which containers were
//! touched. Each command is its own process, timed with `wait4`.
//!
//! Baseline, in the same run: `docker-compose up -d` (Debian's 1.29) of the same services on
//! the same engine, as a second project with its own network, over the engine's socket directly
//! (no SSH), for the no-op and the one-file change.

mod common;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{REPO, cpus, measure_prepared, ms};

const SERVICES: usize = 30;
const BIN: &str = env!("CARGO_BIN_EXE_nxinfra");

fn main() {
    let state = PathBuf::from(std::env::var("NXTB_STATE").unwrap_or_else(|_| "/tmp/nxtb".into()));
    let Ok(env) = std::fs::read_to_string(state.join("env")) else {
        eprintln!("the apply benchmark needs the testbed: tests/testbed/testbed.sh up 6");
        std::process::exit(1);
    };
    let ip = env
        .lines()
        .find_map(|l| l.strip_prefix("NXTB_H1_IP="))
        .map(|v| v.trim_matches('\'').to_string())
        .expect("h1");
    let socket = state.join("h1/run/docker.sock");
    // The host's base dir as both its sshd and its dockerd see it (the engine runs in the
    // machine's mount namespace, so /srv/home, the login's home, would not resolve there).
    let base = state.join("h1/home/nxinfra-apply-bench");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("fleet");
    write_fleet(&root, &ip, &socket, &base);
    let identity = Path::new(REPO).join("demo/identity.DEMO-ONLY.txt");
    let runtime = dir.path().join("run");
    std::fs::create_dir_all(&runtime).expect("mkdir");
    let docker = |args: &[&str]| {
        let out = Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(args)
            .output()
            .expect("docker");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let clean = || {
        let ids = docker(&["ps", "-aq", "--filter", "label=nxinfra.service"]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            docker(&args);
        }
        docker(&["network", "rm", "bench"]);
        let _ = std::fs::remove_dir_all(&base);
    };
    let nxinfra = || {
        let mut c = Command::new(BIN);
        c.arg("--root")
            .arg(&root)
            .arg("--identity")
            .arg(&identity)
            .args(["apply", "--json", "--ssh-persist", "120", "--ssh-config"])
            .arg(state.join("ssh_config"))
            .env("XDG_RUNTIME_DIR", &runtime);
        c
    };
    let bump = Cell::new(0);
    let change_one = || {
        bump.set(bump.get() + 1);
        std::fs::write(
            root.join("templates/config/bench/svc7/conf/app.conf"),
            format!("v={}\n", bump.get()),
        )
        .expect("write");
    };
    println!(
        "nxinfra apply benchmark: {SERVICES} busybox services on testbed h1 (Docker 20.10, {} CPUs), \
         warm SSH connection",
        cpus()
    );
    println!(
        "{:<22} {:>6} {:>9} {:>13} {:>12} {:>8}  touched",
        "scenario", "runs", "wall ms", "reconcile ms", "reads/writes", "peak MB"
    );
    clean();
    let first = measure_prepared(1, clean, nxinfra);
    report("first apply", 1, &first);
    let noop = measure_prepared(7, || {}, nxinfra);
    report("no-op apply", 7, &noop);
    let one = measure_prepared(5, change_one, nxinfra);
    report("one file changed", 5, &one);

    // Baseline: docker-compose on the same engine, socket direct.
    let compose_file = dir.path().join("compose-baseline.yml");
    std::fs::write(&compose_file, baseline_compose()).expect("write");
    let dc = || {
        let mut c = Command::new("docker-compose");
        c.arg("-p")
            .arg("ncbase")
            .arg("-f")
            .arg(&compose_file)
            .args(["up", "-d"])
            .env("DOCKER_HOST", format!("unix://{}", socket.display()));
        c
    };
    let have_compose = Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if have_compose {
        let conf = dir.path().join("svc7.conf");
        // Before the first run: a missing bind source would be made a folder by the engine.
        std::fs::write(&conf, "v=0\n").expect("write");
        let bump2 = Cell::new(0);
        let dc_first = measure_prepared(1, || {}, dc);
        let dc_noop = measure_prepared(5, || {}, dc);
        let dc_one = measure_prepared(
            3,
            || {
                bump2.set(bump2.get() + 1);
                std::fs::write(&conf, format!("v={}\n", bump2.get())).expect("write");
            },
            dc,
        );
        for (name, m) in [
            ("compose: first", &dc_first),
            ("compose: no-op", &dc_noop),
            ("compose: one file", &dc_one),
        ] {
            println!(
                "{:<22} {:>6} {:>9.1} {:>13} {:>12} {:>8.1}",
                name,
                "",
                ms(m.wall),
                "-",
                "-",
                m.peak_kb as f64 / 1024.0
            );
        }
        println!(
            "no-op: nxinfra {:.0} ms over SSH vs docker-compose {:.0} ms on the socket: {:.2}x",
            ms(noop.wall),
            ms(dc_noop.wall),
            noop.wall.as_secs_f64() / dc_noop.wall.as_secs_f64()
        );
        println!(
            "(docker-compose 1.29 does not restart a service when a file it bind-mounts \
             changes: its 'one file' run changes nothing)"
        );
        let _ = Command::new("docker-compose")
            .arg("-p")
            .arg("ncbase")
            .arg("-f")
            .arg(&compose_file)
            .args(["down", "-t", "1"])
            .env("DOCKER_HOST", format!("unix://{}", socket.display()))
            .output();
    }
    clean();
    common::stop_persisted_masters(&runtime);
    println!();
    println!("targets: no-op reconcile of 30 containers under 300 ms once the");
    println!(
        "connection is up, at most 3 API calls; one file changed recreates exactly its container"
    );
}

fn report(name: &str, runs: usize, m: &common::Measure) {
    let json: serde_json::Value = serde_json::from_str(&m.stdout).unwrap_or_default();
    let host = &json["hosts"][0];
    let touched: Vec<String> = host["containers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|c| c["action"] != "unchanged")
                .map(|c| {
                    format!(
                        "{} {}",
                        c["action"].as_str().unwrap_or(""),
                        c["name"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let touched = if touched.len() > 3 {
        format!("{} containers", touched.len())
    } else if touched.is_empty() {
        "none".to_string()
    } else {
        touched.join(", ")
    };
    println!(
        "{:<22} {:>6} {:>9.1} {:>13.1} {:>12} {:>8.1}  {}",
        name,
        runs,
        ms(m.wall),
        median_reconcile_ms(m),
        format!(
            "{}/{}",
            host["api_calls"]["reads"], host["api_calls"]["writes"]
        ),
        m.peak_kb as f64 / 1024.0,
        touched
    );
    if host["status"] == "failed" {
        println!("    FAILED: {}", host["error"]);
    }
}

/// The median over the runs of the `reconcile_ms` each reported.
fn median_reconcile_ms(m: &common::Measure) -> f64 {
    let mut all: Vec<f64> = m
        .stdouts
        .iter()
        .filter_map(|out| serde_json::from_str::<serde_json::Value>(out).ok())
        .filter_map(|json| json["hosts"][0]["reconcile_ms"].as_f64())
        .collect();
    all.sort_by(f64::total_cmp);
    all.get(all.len() / 2).copied().unwrap_or(f64::NAN)
}

fn services_yaml(image: &str, mount: &dyn Fn(usize) -> String) -> String {
    let mut out = String::from("services:\n");
    for i in 1..=SERVICES {
        out.push_str(&format!(
            "  svc{i}:\n    image: {image}\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while sleep 0.2; do :; done\"]\n    \
             environment:\n      INDEX: \"{i}\"\n    networks: [bench]\n    volumes:\n      - {}:/conf:ro\n    \
             stop_grace_period: 1s\n",
            mount(i)
        ));
    }
    out
}

fn write_fleet(root: &Path, ip: &str, socket: &Path, base: &Path) {
    let base = base.display();
    let w = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    common::copy_dir(&Path::new(REPO).join("secrets"), &root.join("secrets"));
    w(
        "inventory/inventory.yml",
        &format!(
            "bench:\n  hosts:\n    h1:\n      ansible_host: {ip}\n  vars:\n    ansible_user: nxtb\n    \
             nxinfra_base_dir: {base}\n    nxinfra_docker_socket: {}\n",
            socket.display()
        ),
    );
    let mut compose = services_yaml("nxtb-busybox:1", &|i| format!("{base}/svc{i}/conf"));
    compose.push_str(
        "networks:\n  bench:\n    ipam:\n      config:\n        - subnet: 172.29.0.0/24\n",
    );
    w("templates/config/bench/compose.yml", &compose);
    for i in 1..=SERVICES {
        w(
            &format!("templates/config/bench/svc{i}/conf/app.conf"),
            "v=0\n",
        );
    }
}

fn baseline_compose() -> String {
    let mut compose = services_yaml("nxtb-busybox:1", &|i| {
        if i == 7 {
            "./svc7.conf".to_string()
        } else {
            "/etc/hostname".to_string()
        }
    });
    compose.push_str(
        "networks:\n  bench:\n    ipam:\n      config:\n        - subnet: 172.28.0.0/24\n",
    );
    compose
}

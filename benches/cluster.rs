//! `make bench`: `nxinfra apply` of a cluster of three testbed engines (Docker 20.10 in network
//! namespaces, reached over SSH) whose stack has 20 services, each with a config: the first
//! apply (the swarm made, the nodes joined, everything created and every rollout waited for),
//! a no-op apply, and one config file changed. Prints wall time, the cluster's API calls
//! (reads / writes), peak memory and what changed.
//!
//! Baseline, in the same run and on the same swarm: `docker stack deploy` of the same stack
//! file over the first manager's socket directly (no SSH) as a second stack. It does not wait
//! for its services to converge; and it refuses a changed config file under the same name
//! (configs cannot change), so its "one config changed" is measured with the config renamed
//! by hand, as an operator has to.

mod common;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{REPO, cpus, measure_prepared, ms};

const SERVICES: usize = 20;
const NODES: [&str; 3] = ["h1", "h2", "h3"];
const BIN: &str = env!("CARGO_BIN_EXE_nxinfra");

fn main() {
    let state = PathBuf::from(std::env::var("NXTB_STATE").unwrap_or_else(|_| "/tmp/nxtb".into()));
    let Ok(env) = std::fs::read_to_string(state.join("env")) else {
        eprintln!("the cluster benchmark needs the testbed: tests/testbed/testbed.sh up 6");
        std::process::exit(1);
    };
    let ip = |h: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("NXTB_{}_IP=", h.to_uppercase())))
            .map(|v| v.trim_matches('\'').to_string())
            .unwrap_or_else(|| panic!("{h}"))
    };
    let socket = |h: &str| state.join(h).join("run/docker.sock");
    let base = |h: &str| state.join(h).join("home/nxinfra-cluster-bench");
    let docker = |h: &str, args: &[&str]| {
        let out = Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", socket(h).display()))
            .args(args)
            .output()
            .expect("docker");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let leave = || {
        for h in NODES {
            let _ = docker(h, &["swarm", "leave", "--force"]);
            let _ = std::fs::remove_dir_all(base(h));
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("fleet");
    write_fleet(&root, &|h| ip(h), &|h| socket(h), &|h| base(h));
    let identity = Path::new(REPO).join("demo/identity.DEMO-ONLY.txt");
    let runtime = dir.path().join("run");
    std::fs::create_dir_all(&runtime).expect("mkdir");
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
            root.join("templates/config/bench/conf/svc7.conf"),
            format!("v={}\n", bump.get()),
        )
        .expect("write");
    };
    println!(
        "nxinfra cluster benchmark: a swarm of 3 testbed engines (Docker 20.10, {} CPUs), a stack \
         of {SERVICES} services with a config each, warm SSH connections",
        cpus()
    );
    println!(
        "{:<30} {:>5} {:>9} {:>12} {:>8}  changed",
        "scenario", "runs", "wall ms", "reads/writes", "peak MB"
    );
    leave();
    let first = measure_prepared(1, || {}, nxinfra);
    report("nxinfra: first apply", 1, &first);
    let noop = measure_prepared(5, || {}, nxinfra);
    report("nxinfra: no-op apply", 5, &noop);
    let one = measure_prepared(3, change_one, nxinfra);
    report("nxinfra: one config changed", 3, &one);

    // Baseline: docker stack deploy of the same file, its configs beside it, on h1's socket.
    let stack_dir = dir.path().join("dsd");
    common::copy_dir(&root.join("rendered/h1"), &stack_dir);
    let stack_file = stack_dir.join("stack.yml");
    let original = std::fs::read_to_string(&stack_file).expect("stack.yml");
    let deploy = || {
        let mut c = Command::new("docker");
        c.arg("-H")
            .arg(format!("unix://{}", socket("h1").display()))
            .args(["stack", "deploy", "--resolve-image", "never", "-c"])
            .arg(&stack_file)
            .arg("dsd")
            .current_dir(&stack_dir);
        c
    };
    let dsd_first = measure_prepared(1, || {}, deploy);
    let dsd_noop = measure_prepared(5, || {}, deploy);
    // A changed config under the same name: what docker stack deploy says.
    std::fs::write(stack_dir.join("conf/svc7.conf"), "v=changed\n").expect("write");
    let refused = deploy().output().expect("docker stack deploy");
    let refusal = String::from_utf8_lossy(&refused.stderr)
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    let version = Cell::new(0);
    let renamed = || {
        version.set(version.get() + 1);
        std::fs::write(
            stack_dir.join("conf/svc7.conf"),
            format!("v=renamed {}\n", version.get()),
        )
        .expect("write");
        let text = original.replace(
            "  conf7:\n    file: conf/svc7.conf\n",
            &format!(
                "  conf7:\n    name: dsd_conf7_v{}\n    file: conf/svc7.conf\n",
                version.get()
            ),
        );
        std::fs::write(&stack_file, text).expect("write");
    };
    let dsd_one = measure_prepared(3, renamed, deploy);
    for (name, runs, m) in [
        ("stack deploy: first", 1, &dsd_first),
        ("stack deploy: no-op", 5, &dsd_noop),
        ("stack deploy: config renamed", 3, &dsd_one),
    ] {
        println!(
            "{:<30} {:>5} {:>9.1} {:>12} {:>8.1}",
            name,
            runs,
            ms(m.wall),
            "-",
            m.peak_kb as f64 / 1024.0
        );
    }
    println!(
        "stack deploy of a changed config under the same name: exit {}: {}",
        refused.status.code().unwrap_or(-1),
        refusal.trim()
    );
    println!(
        "no-op: nxinfra {:.0} ms over SSH (3 nodes read, nothing written) vs docker stack deploy \
         {:.0} ms on the socket: {:.2}x",
        ms(noop.wall),
        ms(dsd_noop.wall),
        noop.wall.as_secs_f64() / dsd_noop.wall.as_secs_f64()
    );
    println!(
        "one config changed: nxinfra {:.0} ms (new version, service updated, rollout waited for, old \
         version removed) vs docker stack deploy {:.0} ms (renamed by hand; returns before the \
         rollout; the old config is left): {:.2}x",
        ms(one.wall),
        ms(dsd_one.wall),
        one.wall.as_secs_f64() / dsd_one.wall.as_secs_f64()
    );
    let _ = docker("h1", &["stack", "rm", "dsd"]);
    leave();
    common::stop_persisted_masters(&runtime);
}

fn report(name: &str, runs: usize, m: &common::Measure) {
    let json: serde_json::Value = serde_json::from_str(&m.stdout).unwrap_or_default();
    let cluster = &json["clusters"][0];
    let services = cluster["stack"]["services"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let changed: Vec<String> = services
        .iter()
        .filter(|s| s["status"] != "unchanged")
        .map(|s| {
            format!(
                "{} {}",
                s["status"].as_str().unwrap_or(""),
                s["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    let changed = match changed.len() {
        0 => "none".to_string(),
        1..=3 => changed.join(", "),
        n => format!("{n} services"),
    };
    println!(
        "{:<30} {:>5} {:>9.1} {:>12} {:>8.1}  {}",
        name,
        runs,
        ms(m.wall),
        format!("{}/{}", cluster["api_calls"][0], cluster["api_calls"][1]),
        m.peak_kb as f64 / 1024.0,
        changed
    );
    for s in &services {
        if !s["error"].is_null() {
            println!("    FAILED {}: {}", s["name"], s["error"]);
        }
    }
}

fn write_fleet(
    root: &Path,
    ip: &dyn Fn(&str) -> String,
    socket: &dyn Fn(&str) -> PathBuf,
    base: &dyn Fn(&str) -> PathBuf,
) {
    let w = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    common::copy_dir(&Path::new(REPO).join("secrets"), &root.join("secrets"));
    let mut inventory = String::from("bench:\n  hosts:\n");
    for h in NODES {
        inventory.push_str(&format!(
            "    {h}:\n      ansible_host: {}\n      nxinfra_base_dir: {}\n      \
             nxinfra_docker_socket: {}\n",
            ip(h),
            base(h).display(),
            socket(h).display()
        ));
    }
    inventory.push_str(
        "  vars:\n    ansible_user: nxtb\n    nxinfra_cluster: swarm\n    nxinfra_fleet: cluster-bench\n",
    );
    w("inventory/inventory.yml", &inventory);
    let mut stack = String::from("version: \"3.8\"\nservices:\n");
    for i in 1..=SERVICES {
        stack.push_str(&format!(
            "  svc{i}:\n    image: nxtb-busybox:1\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while sleep 0.2; do :; done\"]\n    \
             networks: [bench]\n    configs:\n      - {{source: conf{i}, target: /conf/app.conf}}\n    \
             stop_grace_period: 1s\n    deploy:\n      endpoint_mode: dnsrr\n      update_config: {{monitor: 1s}}\n"
        ));
    }
    stack.push_str("networks:\n  bench:\n    attachable: true\nconfigs:\n");
    for i in 1..=SERVICES {
        stack.push_str(&format!("  conf{i}:\n    file: conf/svc{i}.conf\n"));
        w(&format!("templates/config/bench/conf/svc{i}.conf"), "v=0\n");
    }
    w("templates/config/bench/stack.yml", &stack);
}

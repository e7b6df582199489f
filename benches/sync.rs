//! `make bench`: `nxinfra sync` of the shipped fleet's rendered trees to the 6 testbed hosts
//! (real sshd in network namespaces, `tests/testbed/testbed.sh up 6`), beside a plain baseline
//! measured in the same run:
//!
//! - first sync (empty hosts): per host in parallel, `tar -cf - . | ssh HOST 'tar -xf -'`;
//! - no-op: per host in parallel, one `ssh HOST 'find . -type f -exec sha256sum {} +'`;
//! - one file changed (compose.yml on every host): the same tar | ssh with that one file.
//!
//! Each scenario cold (new SSH connections every run) and warm (masters already up:
//! `--ssh-persist` for nxinfra, ControlMaster sockets for the baseline). Every command runs in
//! its own process, timed with `wait4`: wall, CPU (with the ssh processes it waited for), peak
//! memory. nxinfra's figures are end to end: they include rendering the fleet.
//!
//! The shipped inventory is rewritten to reach the testbed: coreams01 → h1, ixpams01 → h2, …,
//! base dir `/srv/home/nxinfra-bench` (each host's own). Like the baseline, the main scenarios
//! put every file in the base dir; "first sync + sys files" also places the system files
//! through sudo, under `/srv/nxinfra-bench-etc/` with `reload: "true"` (the testbed hosts
//! share this machine's /etc: the real paths must not be written).

mod common;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Measure, REPO, copy_fleet, cpus, measure_prepared, ms};

const HOSTS: [&str; 6] = [
    "coreams01",
    "ixpams01",
    "ixpams02",
    "ixpfra01",
    "vltatl01",
    "vltcdg01",
];
const BASE: &str = "/srv/home/nxinfra-bench";
const RUNS: usize = 7;
const BIN: &str = env!("CARGO_BIN_EXE_nxinfra");

struct Testbed {
    state: PathBuf,
    ips: Vec<String>,
}

impl Testbed {
    fn get() -> Testbed {
        let state =
            PathBuf::from(std::env::var("NXTB_STATE").unwrap_or_else(|_| "/tmp/nxtb".into()));
        let Ok(env) = std::fs::read_to_string(state.join("env")) else {
            eprintln!(
                "the sync benchmark needs the testbed: tests/testbed/testbed.sh up 6 \
                 (make bench brings it up)"
            );
            std::process::exit(1);
        };
        let var = |name: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(|v| v.trim_matches('\'').to_string())
        };
        let ips: Vec<String> = (1..=HOSTS.len())
            .map(|k| var(&format!("NXTB_H{k}_IP")).expect("the testbed has 6 hosts"))
            .collect();
        Testbed { state, ips }
    }

    fn ssh_config(&self) -> PathBuf {
        self.state.join("ssh_config")
    }

    /// Removes what the benchmark placed on every host (as root, from this machine).
    fn clean(&self) {
        for k in 1..=HOSTS.len() {
            let host = self.state.join(format!("h{k}"));
            let _ = std::fs::remove_dir_all(host.join("home/nxinfra-bench"));
            let _ = std::fs::remove_dir_all(host.join("srv/nxinfra-bench-etc"));
        }
    }
}

fn main() {
    let tb = Testbed::get();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("fleet");
    let runtime = dir.path().join("run");
    std::fs::create_dir_all(&runtime).expect("mkdir");
    copy_fleet(&root);
    retarget_inventory(&root, &tb, false);
    // The same fleet with its system files (through sudo), measured apart: the baseline has
    // no equivalent.
    let root_sys = dir.path().join("fleet-system");
    copy_fleet(&root_sys);
    retarget_inventory(&root_sys, &tb, true);
    let identity = Path::new(REPO).join("demo/identity.DEMO-ONLY.txt");
    let nxinfra_in = |root: &Path, persist: bool| {
        let mut c = Command::new(BIN);
        c.arg("--root")
            .arg(root)
            .arg("--identity")
            .arg(&identity)
            .args(["sync", "--json", "--ssh-config"])
            .arg(tb.ssh_config())
            .env("XDG_RUNTIME_DIR", &runtime);
        if persist {
            c.args(["--ssh-persist", "120"]);
        }
        c
    };
    let nxinfra = |persist: bool| nxinfra_in(&root, persist);
    // Render once, so the baseline has the trees to send.
    let status = Command::new(BIN)
        .arg("--root")
        .arg(&root)
        .arg("--identity")
        .arg(&identity)
        .arg("render")
        .status()
        .expect("render");
    assert!(status.success(), "render failed");
    let rendered = root.join("rendered");
    let files: usize = HOSTS
        .iter()
        .map(|h| nxinfra::render::output::read_tree(&rendered.join(h)).map_or(0, |t| t.len()))
        .sum();

    let bump = Cell::new(0);
    let change_one_file = || {
        // One file per host: every host's compose.yml.
        bump.set(bump.get() + 1);
        for entry in common::walk(&root.join("templates/config")) {
            if entry.file_name().is_some_and(|n| n == "compose.yml.j2") {
                let mut text = std::fs::read_to_string(&entry).expect("template");
                text.push_str(&format!("# bench {}\n", bump.get()));
                std::fs::write(&entry, text).expect("template");
            }
        }
    };
    let render_again = || {
        let ok = Command::new(BIN)
            .arg("--root")
            .arg(&root)
            .arg("--identity")
            .arg(&identity)
            .arg("render")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "render failed");
    };

    println!(
        "nxinfra sync benchmark: shipped fleet, {} hosts, {files} files, testbed ({} CPUs), \
         {RUNS} runs each, medians",
        HOSTS.len(),
        cpus()
    );
    println!(
        "{:<26} {:>11} {:>11} {:>7} {:>11} {:>8} {:>13}",
        "scenario", "nxinfra ms", "baseline ms", "ratio", "nx cpu ms", "peak MB", "remote cmds"
    );
    let mut summary = Vec::new();
    for warm in [false, true] {
        let label = if warm { "warm" } else { "cold" };
        if warm {
            start_masters(&tb, &nxinfra);
        }
        let baseline_ssh = |script: String| {
            let mut c = Command::new("sh");
            c.arg("-c").arg(script);
            c
        };
        tb.clean();
        let first = measure_prepared(RUNS, || tb.clean(), || nxinfra(warm));
        let noop = measure_prepared(RUNS, || {}, || nxinfra(warm));
        let noop_base = measure_prepared(
            RUNS,
            || {},
            || {
                baseline_ssh(parallel(&tb, |_, ip| {
                    ssh(
                        &tb,
                        ip,
                        &format!("cd {BASE} && find . -type f -exec sha256sum {{}} + >/dev/null"),
                    )
                }))
            },
        );
        let one = measure_prepared(RUNS, change_one_file, || nxinfra(warm));
        let one_base = measure_prepared(
            RUNS,
            change_one_file_and(&render_again, &change_one_file),
            || {
                baseline_ssh(parallel(&tb, |host, ip| {
                    format!(
                        "tar -C {} -cf - compose.yml | {}",
                        rendered.join(host).display(),
                        ssh(&tb, ip, &format!("tar -xf - -C {BASE}"))
                    )
                }))
            },
        );
        let first_base = measure_prepared(
            RUNS,
            || tb.clean(),
            || {
                baseline_ssh(parallel(&tb, |host, ip| {
                    format!(
                        "tar -C {} -cf - . | {}",
                        rendered.join(host).display(),
                        ssh(&tb, ip, &format!("mkdir -p {BASE} && tar -xf - -C {BASE}"))
                    )
                }))
            },
        );
        let with_system = measure_prepared(RUNS, || tb.clean(), || nxinfra_in(&root_sys, warm));
        for (name, nx, base) in [
            ("first sync", &first, &first_base),
            ("no-op sync", &noop, &noop_base),
            ("one file changed", &one, &one_base),
            ("first sync + sys files", &with_system, &first_base),
        ] {
            let ratio = nx.wall.as_secs_f64() / base.wall.as_secs_f64();
            println!(
                "{:<26} {:>11.1} {:>11.1} {:>6.2}x {:>11.1} {:>8.1} {:>13}",
                format!("{label}: {name}"),
                ms(nx.wall),
                ms(base.wall),
                ratio,
                ms(nx.cpu),
                nx.peak_kb as f64 / 1024.0,
                remote_commands(nx)
            );
            summary.push((
                format!("{label} {name}"),
                ratio,
                nx.wall,
                remote_commands(nx),
            ));
        }
        if warm {
            stop_masters(&tb, &runtime);
        }
    }
    tb.clean();
    println!();
    println!("targets: no-op within 1.2x of its baseline, first sync within 1.5x,");
    println!("warm no-op of 6 hosts under 150 ms, remote commands per host 1 (no-op) / <= 3");
    for (name, ratio, wall, cmds) in summary {
        println!(
            "  {name:<24} ratio {ratio:.2}x, {:.0} ms, remote commands per host {cmds}",
            ms(wall)
        );
    }
}

/// Runs `prepare` then renders: the baseline sends the rendered file, so it must be current.
fn change_one_file_and<'a>(render: &'a dyn Fn(), change: &'a dyn Fn()) -> impl Fn() + 'a {
    move || {
        change();
        render();
    }
}

/// The remote commands per host of the last run, e.g. `1` or `2-3`.
fn remote_commands(m: &Measure) -> String {
    let json: serde_json::Value = serde_json::from_str(&m.stdout).unwrap_or_default();
    let counts: Vec<u64> = json["hosts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h["remote_commands"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    match (counts.iter().min(), counts.iter().max()) {
        (Some(a), Some(b)) if a == b => a.to_string(),
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => "-".into(),
    }
}

/// A shell script running `one(shipped host, ip)` for every host at once, failing if any did.
fn parallel(tb: &Testbed, one: impl Fn(&str, &str) -> String) -> String {
    let mut script = String::from("set -e\n");
    for (i, (host, ip)) in HOSTS.iter().zip(&tb.ips).enumerate() {
        script.push_str(&format!("( {} ) & p{i}=$!\n", one(host, ip)));
    }
    for i in 0..HOSTS.len() {
        script.push_str(&format!("wait $p{i}\n"));
    }
    script
}

fn ssh(tb: &Testbed, ip: &str, command: &str) -> String {
    format!(
        "ssh -F {} {ip} {}",
        tb.ssh_config().display(),
        nxinfra::util::shell::quote(command)
    )
}

/// Warm runs: nxinfra's persistent masters (one dry run) and the baseline's ControlMasters
/// (the testbed's ssh config sets a ControlPath that plain `ssh` then uses).
fn start_masters(tb: &Testbed, nxinfra: &dyn Fn(bool) -> Command) {
    let ok = nxinfra(true)
        .arg("--dry-run")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.code() == Some(0) || s.code() == Some(2));
    assert!(ok, "starting nxinfra's masters failed");
    for ip in &tb.ips {
        let ok = Command::new("ssh")
            .arg("-F")
            .arg(tb.ssh_config())
            .args([
                "-o",
                "ControlMaster=yes",
                "-o",
                "ControlPersist=120",
                "-fN",
                ip,
            ])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ssh master to {ip} failed");
    }
}

fn stop_masters(tb: &Testbed, runtime: &Path) {
    for ip in &tb.ips {
        let _ = Command::new("ssh")
            .arg("-F")
            .arg(tb.ssh_config())
            .args(["-O", "exit", ip])
            .stderr(std::process::Stdio::null())
            .status();
    }
    common::stop_persisted_masters(runtime);
}

/// Points the shipped inventory at the testbed (see the module comment).
fn retarget_inventory(root: &Path, tb: &Testbed, system_files: bool) {
    let path = root.join("inventory/inventory.yml");
    let inventory = nxinfra::model::inventory::load(&path).expect("shipped inventory");
    let mut text = std::fs::read_to_string(&path).expect("inventory");
    for (host, ip) in HOSTS.iter().zip(&tb.ips) {
        let vars = inventory.host_vars(host).expect("host vars");
        let name = vars["ansible_host"].as_str().expect("ansible_host");
        let line = format!("ansible_host: {name}\n");
        assert_eq!(text.matches(&line).count(), 1, "{host}: {line}");
        text = text.replace(&line, &format!("ansible_host: {ip}\n"));
    }
    let mut out = String::new();
    for line in text.lines() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let trimmed = line.trim_start();
        let replaced = if trimmed.starts_with("ansible_user:") {
            format!("{indent}ansible_user: nxtb")
        } else if trimmed.starts_with("nxinfra_base_dir:") {
            format!("{indent}nxinfra_base_dir: {BASE}")
        } else if let Some(dest) = trimmed.strip_prefix("dest: /etc/") {
            format!("{indent}dest: /srv/nxinfra-bench-etc/{dest}")
        } else if trimmed.starts_with("reload:") {
            format!("{indent}reload: \"true\"")
        } else if !system_files && trimmed.starts_with("nxinfra_system_files:") {
            // Every file to the base dir, as the tar baseline does.
            format!("{indent}bench_system_files_off:")
        } else {
            line.to_string()
        };
        out.push_str(&replaced);
        out.push('\n');
    }
    std::fs::write(&path, out).expect("inventory");
}

//! `make bench-scale`: nxinfra at N = 10, 50, 100 and 200 hosts on the sshd-only testbed
//! (`NXTB_ENGINE=none tests/testbed/testbed.sh up 200`: one real sshd per network namespace, no
//! engine), beside the parallel `tar | ssh` / `ssh sha256sum` floor measured in the same run.
//!
//! The fleet: the shipped one, its hosts cloned round-robin (coreams01, ixpams01, …, then
//! coreams01c007, …) until it has N hosts, as benches/render.rs grows its fleet: each clone
//! joins its original's group, gets a copy of its original's own template folder and of every
//! secrets subtree keyed by its original's name, so it renders what a core, ixp or probing host
//! renders. Host i goes to testbed host hI (its IP, the testbed's ssh_config and known_hosts),
//! base dir `/srv/home/nxinfra-scale` (hI's own home); no system files (as the floor).
//!
//! Scenarios at each N: render (rendered/ absent), first sync (empty hosts), no-op sync,
//! one file changed on every host (compose.yml). nxinfra's sync figures are end to end (they
//! include its render). The floor, with the same parallelism as nxinfra (`--forks F`: F hosts
//! at once, `xargs -P F`): first = per host `tar -cf - . | ssh HOST 'tar -xf -'`; no-op = per
//! host `ssh HOST 'find . -type f -exec sha256sum {} +'`; one file = tar | ssh of that file.
//! Every SSH connection is fresh (cold), on both sides. Then, at the largest N, first and no-op
//! sync at `--forks` 4, 8, 16, 32, 64 beside the floor at the same parallelism.
//!
//! Each command runs in its own process, timed with `wait4` (benches/common): wall, CPU with
//! the children it waited for, peak RSS (the largest process: nxinfra itself).
//!
//! Environment: `NXINFRA_SCALE_NS` (default `10,50,100,200`, capped at the testbed's size),
//! `NXINFRA_SCALE_RUNS` (runs per scenario; default 3 up to 50 hosts, 1 beyond),
//! `NXINFRA_SCALE_FORKS` (default `4,8,16,32,64`; empty: no sweep), `NXTB_STATE`.

mod common;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;

use nxinfra::model::inventory;

use common::{Measure, REPO, clone_host_files, clone_keys, copy_fleet, cpus, measure_prepared, ms};

const BASE: &str = "/srv/home/nxinfra-scale";
const BASE_NAME: &str = "nxinfra-scale";
const BIN: &str = env!("CARGO_BIN_EXE_nxinfra");
/// nxinfra sync's `--forks` default (src/cli.rs), used for the N series.
const FORKS: usize = 16;
const UP: &str = "NXTB_ENGINE=none tests/testbed/testbed.sh up 200";

struct Testbed {
    state: PathBuf,
    ips: Vec<String>,
}

impl Testbed {
    /// The testbed, with at least `need` hosts, or a clear exit saying what to run.
    fn get(need: usize) -> Testbed {
        let state =
            PathBuf::from(std::env::var("NXTB_STATE").unwrap_or_else(|_| "/tmp/nxtb".into()));
        let env = std::fs::read_to_string(state.join("env")).unwrap_or_default();
        let var = |name: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(|v| v.trim_matches('\'').to_string())
        };
        let n: usize = var("NXTB_N").and_then(|v| v.parse().ok()).unwrap_or(0);
        let engine = var("NXTB_ENGINE").unwrap_or_default();
        if n < need {
            eprintln!(
                "the scale benchmark needs the sshd-only testbed of {need} hosts or more \
                 (found: {}): {UP} (make bench-scale brings it up and down)",
                if n == 0 {
                    "none".to_string()
                } else {
                    format!("{n} hosts, engine {engine}")
                }
            );
            std::process::exit(1);
        }
        if engine != "none" {
            eprintln!("note: the testbed runs engine {engine}; the figures are meant for {UP}");
        }
        let ips = (1..=n)
            .map(|k| var(&format!("NXTB_H{k}_IP")).expect("the testbed's env names every host"))
            .collect();
        Testbed { state, ips }
    }

    fn ssh_config(&self) -> PathBuf {
        self.state.join("ssh_config")
    }

    /// Removes what the benchmark placed on hosts h1..hN (as root, from this machine).
    fn clean(&self, n: usize) {
        for k in 1..=n {
            let _ = std::fs::remove_dir_all(self.state.join(format!("h{k}/home/{BASE_NAME}")));
        }
    }
}

fn list_env(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().expect("a list of numbers"))
        .collect()
}

fn main() {
    let wanted = list_env("NXINFRA_SCALE_NS", "10,50,100,200");
    let sweep = list_env("NXINFRA_SCALE_FORKS", "4,8,16,32,64");
    let runs_env: Option<usize> = std::env::var("NXINFRA_SCALE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok());
    let tb = Testbed::get(*wanted.iter().min().expect("NXINFRA_SCALE_NS is empty"));
    let ns: Vec<usize> = wanted.into_iter().filter(|&n| n <= tb.ips.len()).collect();
    let identity = Path::new(REPO).join("demo/identity.DEMO-ONLY.txt");
    let dir = tempfile::tempdir().expect("tempdir");

    println!(
        "nxinfra scale benchmark: shipped fleet cloned to N hosts, sshd-only testbed of {} \
         hosts ({} CPUs); --forks {FORKS} and the floor {FORKS} hosts at once; fresh SSH \
         connections every run; medians",
        tb.ips.len(),
        cpus()
    );
    println!(
        "{:>4} {:<16} {:>5} {:>6} {:>10} {:>10} {:>7} {:>10} {:>8} {:>9} {:>8}",
        "N",
        "scenario",
        "runs",
        "files",
        "nxinfra ms",
        "floor ms",
        "ratio",
        "nx cpu ms",
        "peak MB",
        "ms/host",
        "vs N0"
    );
    let mut first_per_host: std::collections::BTreeMap<&str, f64> = Default::default();
    let mut last_root = None;
    for &n in &ns {
        let runs = runs_env.unwrap_or(if n <= 50 { 3 } else { 1 });
        let root = dir.path().join(format!("fleet-{n}"));
        let names = build_fleet(&root, n, &tb, &identity);
        let rendered = root.join("rendered");
        let render = || {
            let mut c = nx(&root, &identity);
            c.arg("render");
            c
        };
        let clear = || {
            let _ = std::fs::remove_dir_all(&rendered);
        };
        let render_m = measure_prepared(runs, clear, render);
        let files: usize = names
            .iter()
            .map(|h| nxinfra::render::output::read_tree(&rendered.join(h)).map_or(0, |t| t.len()))
            .sum();
        let bump = Cell::new(0);
        let change = || change_one_file(&root, &bump);
        let render_now = || {
            let ok = render()
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "render failed");
        };

        tb.clean(n);
        let [first, first_floor, noop, noop_floor] =
            first_and_noop(&tb, &root, &identity, &names, runs, FORKS);
        let one = measure_prepared(runs, change, || sync_command(&root, &identity, &tb, FORKS));
        let one_floor = measure_prepared(
            runs,
            || {
                change();
                render_now();
            },
            || floor_one(&tb, &rendered, &names, FORKS),
        );
        for (name, m, floor) in [
            ("render", &render_m, None),
            ("first sync", &first, Some(&first_floor)),
            ("no-op sync", &noop, Some(&noop_floor)),
            ("one file", &one, Some(&one_floor)),
        ] {
            let per_host = ms(m.wall) / n as f64;
            let base = *first_per_host.entry(name).or_insert(per_host);
            println!(
                "{n:>4} {name:<16} {runs:>5} {files:>6} {:>10.0} {:>10} {:>7} {:>10.0} {:>8.1} \
                 {per_host:>9.1} {:>7.2}x",
                ms(m.wall),
                floor.map_or("-".into(), |f| format!("{:.0}", ms(f.wall))),
                floor.map_or("-".into(), |f| format!("{:.2}x", ratio(m, f))),
                ms(m.cpu),
                m.peak_kb as f64 / 1024.0,
                per_host / base,
            );
        }
        tb.clean(n);
        last_root = Some((root, names));
    }
    println!(
        "ms/host = wall / N; vs N0 = ms/host against the smallest N ({}): 1.00x is linear \
         growth, below it sub-linear",
        ns.first().copied().unwrap_or(0)
    );

    let Some((root, names)) = last_root else {
        return;
    };
    if sweep.is_empty() {
        return;
    }
    let n = names.len();
    let runs = runs_env.unwrap_or(1);
    println!();
    println!("--forks at N = {n} ({runs} run(s) each; the floor at the same parallelism)");
    println!(
        "{:>6} {:>12} {:>10} {:>7} {:>8} {:>12} {:>10} {:>7} {:>8}",
        "forks",
        "first nx ms",
        "floor ms",
        "ratio",
        "peak MB",
        "no-op nx ms",
        "floor ms",
        "ratio",
        "peak MB"
    );
    for &forks in &sweep {
        let [first, first_floor, noop, noop_floor] =
            first_and_noop(&tb, &root, &identity, &names, runs, forks);
        println!(
            "{forks:>6} {:>12.0} {:>10.0} {:>6.2}x {:>8.1} {:>12.0} {:>10.0} {:>6.2}x {:>8.1}",
            ms(first.wall),
            ms(first_floor.wall),
            ratio(&first, &first_floor),
            first.peak_kb as f64 / 1024.0,
            ms(noop.wall),
            ms(noop_floor.wall),
            ratio(&noop, &noop_floor),
            noop.peak_kb as f64 / 1024.0,
        );
    }
    tb.clean(n);
}

/// `nxinfra sync --json --forks FORKS` of the fleet at `root` to the testbed.
fn sync_command(root: &Path, identity: &Path, tb: &Testbed, forks: usize) -> Command {
    let mut c = nx(root, identity);
    c.args([
        "sync",
        "--json",
        "--forks",
        &forks.to_string(),
        "--ssh-config",
    ])
    .arg(tb.ssh_config());
    c
}

/// The first sync to empty hosts and the no-op sync, nxinfra's and the floor's, `forks` hosts
/// at once: [first, first floor, no-op, no-op floor]. The hosts end full.
fn first_and_noop(
    tb: &Testbed,
    root: &Path,
    identity: &Path,
    names: &[String],
    runs: usize,
    forks: usize,
) -> [Measure; 4] {
    let n = names.len();
    let rendered = root.join("rendered");
    let sync = || sync_command(root, identity, tb, forks);
    let first = measure_prepared(runs, || tb.clean(n), sync);
    let first_floor = measure_prepared(
        runs,
        || tb.clean(n),
        || floor_first(tb, &rendered, names, forks),
    );
    // The hosts are full (the floor's last run): nxinfra's no-op starts from its own state.
    tb.clean(n);
    run_ok(sync());
    let noop = measure_prepared(runs, || {}, sync);
    let noop_floor = measure_prepared(runs, || {}, || floor_noop(tb, names, forks));
    [first, first_floor, noop, noop_floor]
}

fn ratio(a: &Measure, b: &Measure) -> f64 {
    a.wall.as_secs_f64() / b.wall.as_secs_f64()
}

fn nx(root: &Path, identity: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--root").arg(root).arg("--identity").arg(identity);
    c
}

fn run_ok(mut c: Command) {
    let ok = c
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{c:?} failed");
}

/// One changed file on every host: each compose.yml.j2 gets a new last line.
fn change_one_file(root: &Path, bump: &Cell<usize>) {
    bump.set(bump.get() + 1);
    for entry in common::walk(&root.join("templates/config")) {
        if entry.file_name().is_some_and(|n| n == "compose.yml.j2") {
            let mut text = std::fs::read_to_string(&entry).expect("template");
            text.push_str(&format!("# bench {}\n", bump.get()));
            std::fs::write(&entry, text).expect("template");
        }
    }
}

/// `sh -c SCRIPT` where SCRIPT runs `one` for every (host, ip), `forks` at once
/// (`xargs -P`), failing if any failed. `one` sees the host as `$1` and the IP as `$2`.
fn floor(tb: &Testbed, names: &[String], forks: usize, one: &str) -> Command {
    let list: String = names
        .iter()
        .zip(&tb.ips)
        .map(|(h, ip)| format!("{h} {ip}\n"))
        .collect();
    let script = format!(
        "printf '%s' {} | xargs -P {forks} -n 2 sh -c {} sh",
        nxinfra::util::shell::quote(&list),
        nxinfra::util::shell::quote(one)
    );
    let mut c = Command::new("sh");
    c.arg("-c").arg(script);
    c
}

fn ssh(tb: &Testbed, command: &str) -> String {
    format!(
        "ssh -F {} \"$2\" {}",
        tb.ssh_config().display(),
        nxinfra::util::shell::quote(command)
    )
}

fn floor_first(tb: &Testbed, rendered: &Path, names: &[String], forks: usize) -> Command {
    let one = format!(
        "tar -C {}/\"$1\" -cf - . | {}",
        rendered.display(),
        ssh(tb, &format!("mkdir -p {BASE} && tar -xf - -C {BASE}"))
    );
    floor(tb, names, forks, &one)
}

fn floor_noop(tb: &Testbed, names: &[String], forks: usize) -> Command {
    let one = ssh(
        tb,
        &format!("cd {BASE} && find . -type f -exec sha256sum {{}} + >/dev/null"),
    );
    floor(tb, names, forks, &one)
}

fn floor_one(tb: &Testbed, rendered: &Path, names: &[String], forks: usize) -> Command {
    let one = format!(
        "tar -C {}/\"$1\" -cf - compose.yml | {}",
        rendered.display(),
        ssh(tb, &format!("tar -xf - -C {BASE}"))
    );
    floor(tb, names, forks, &one)
}

/// The shipped fleet with exactly `n` hosts, host i (1-based) at testbed host hI; returns the
/// host names in that order. Clones as benches/render.rs's `grow_fleet` makes them (inventory
/// entries, per-host template folders, per-host secrets), one per index, round-robin.
fn build_fleet(root: &Path, n: usize, tb: &Testbed, identity: &Path) -> Vec<String> {
    copy_fleet(root);
    let inv_file = root.join("inventory/inventory.yml");
    let originals: Vec<String> = inventory::load(&inv_file)
        .expect("inventory")
        .hosts
        .keys()
        .cloned()
        .collect();
    let names: Vec<String> = (0..n)
        .map(|i| {
            let o = &originals[i % originals.len()];
            if i < originals.len() {
                o.clone()
            } else {
                format!("{o}c{:03}", i + 1)
            }
        })
        .collect();
    let clones_of = |h: &str| -> Vec<String> {
        names
            .iter()
            .enumerate()
            .filter(|(i, _)| *i >= originals.len() && originals[i % originals.len()] == h)
            .map(|(_, c)| c.clone())
            .collect()
    };
    let ip_of = |h: &str| tb.ips[names.iter().position(|x| x == h).expect("host")].clone();

    let text = std::fs::read_to_string(&inv_file).expect("read");
    let mut doc: serde_json::Value = serde_norway::from_str(&text).expect("yaml");
    clone_keys(&mut doc, &originals, &clones_of, true);
    let groups = doc.as_object_mut().expect("inventory mapping");
    for (name, group) in groups.iter_mut() {
        if let Some(vars) = group.get_mut("vars").and_then(|v| v.as_object_mut()) {
            // Every file to the base dir, as the floor does (no sudo, no reloads).
            vars.remove("nxinfra_system_files");
            if name == "all" {
                vars.insert("ansible_user".into(), "nxtb".into());
                vars.insert("nxinfra_base_dir".into(), BASE.into());
            }
        }
        if let Some(hosts) = group.get_mut("hosts").and_then(|v| v.as_object_mut()) {
            for (host, vars) in hosts.iter_mut() {
                if let Some(vars) = vars.as_object_mut() {
                    vars.insert("ansible_host".into(), ip_of(host).into());
                }
            }
        }
    }
    std::fs::write(&inv_file, serde_norway::to_string(&doc).expect("yaml")).expect("write");

    clone_host_files(root, &originals, &clones_of, identity);
    let count = inventory::load(&inv_file)
        .expect("grown inventory")
        .hosts
        .len();
    assert_eq!(count, n, "the grown fleet has {count} hosts, not {n}");
    names
}

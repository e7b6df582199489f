//! `make bench`: render benchmarks against a naive baseline measured in the same run.
//!
//! Scenarios: the shipped fleet (6 hosts), and a generated fleet of ~500 hosts that reuses the
//! shipped templates (every host cloned, per-host template folders and per-host secrets copied).
//! Each command runs in its own process, timed with `wait4` (wall, user+sys CPU, peak RSS).
//!
//! Baseline ("naive"): what the old Python render script did — one host after another, a new
//! Jinja environment and a fresh parse of every template for every file, files written straight
//! into rendered/. It is run by this same program re-executed with `--naive ROOT`.

use std::path::{Path, PathBuf};
use std::process::Command;

use nxinfra::model::inventory;
use nxinfra::render::{self, context::SharedContext, engine, output, sources};
use nxinfra::secrets::{Secrets, store};

mod common;

use common::{REPO, clone_host_files, clone_keys, copy_fleet, cpus, measure, measure_prepared, ms};
const BIN: &str = env!("CARGO_BIN_EXE_nxinfra");

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--naive") {
        let root = PathBuf::from(&args[i + 1]);
        if let Err(e) = naive_render(&root) {
            eprintln!("naive render failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    let identity = Path::new(REPO).join("demo/identity.DEMO-ONLY.txt");
    // `--generate DIR N`: only write the generated fleet (to profile or inspect it).
    if let Some(i) = args.iter().position(|a| a == "--generate") {
        let root = PathBuf::from(&args[i + 1]);
        copy_fleet(&root);
        grow_fleet(&root, args[i + 2].parse().expect("host count"), &identity);
        return;
    }
    let me = std::env::current_exe().expect("current exe");

    println!("nxinfra render benchmark ({} CPUs)", cpus());
    println!(
        "{:<30} {:>6} {:>7} {:>10} {:>10} {:>9} {:>11}",
        "scenario", "hosts", "files", "wall ms", "cpu ms", "peak MB", "files/s"
    );
    for (label, hosts, runs) in [
        ("shipped fleet", 0usize, 21usize),
        ("generated fleet", 500, 5),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        copy_fleet(root);
        if hosts > 0 {
            grow_fleet(root, hosts, &identity);
        }
        let count_hosts = inventory::load(&root.join("inventory/inventory.yml"))
            .expect("inventory")
            .hosts
            .len();
        let rendered = root.join("rendered");
        let clear = || {
            if rendered.exists() {
                std::fs::remove_dir_all(&rendered).expect("rm rendered");
            }
        };
        let nxinfra = || {
            let mut c = Command::new(BIN);
            c.arg("--root")
                .arg(root)
                .arg("--identity")
                .arg(&identity)
                .arg("render");
            c
        };
        // Cold: rendered/ absent, every file written. No-op: rendered/ already up to date.
        let cold = measure_prepared(runs, clear, nxinfra);
        let noop = measure(runs, nxinfra);
        let tool_tree = output::read_tree(&rendered).expect("read rendered");
        let files = tool_tree.len();
        let naive = measure_prepared(runs, clear, || {
            let mut c = Command::new(&me);
            c.arg("--naive")
                .arg(root)
                .env("NXINFRA_AGE_KEY_FILE", &identity);
            c
        });
        let naive_tree = output::read_tree(&rendered).expect("read rendered");
        let differing: Vec<String> = tool_tree
            .iter()
            .filter(|(path, state)| naive_tree.get(*path) != Some(state))
            .map(|(path, state)| {
                let mode = naive_tree.get(path).map(|s| format!("{:o}", s.mode));
                format!("{path} (mode {:o} vs {mode:?})", state.mode)
            })
            .collect();
        assert!(
            differing.is_empty() && naive_tree.len() == tool_tree.len(),
            "baseline and nxinfra disagree on: {differing:?}"
        );
        for (name, m) in [
            ("nxinfra cold", &cold),
            ("nxinfra no-op", &noop),
            ("naive", &naive),
        ] {
            println!(
                "{:<30} {:>6} {:>7} {:>10.1} {:>10.1} {:>9.1} {:>11.0}",
                format!("{label}: {name}"),
                count_hosts,
                files,
                ms(m.wall),
                ms(m.cpu),
                m.peak_kb as f64 / 1024.0,
                files as f64 / m.wall.as_secs_f64()
            );
        }
        for (name, m) in [("cold", &cold), ("no-op", &noop)] {
            println!(
                "{:<30} baseline/nxinfra: wall {:.2}x, cpu {:.2}x ({runs} runs, medians)",
                format!("{label}: {name} ratio"),
                naive.wall.as_secs_f64() / m.wall.as_secs_f64(),
                naive.cpu.as_secs_f64() / m.cpu.as_secs_f64(),
            );
        }
    }
}

/// Clones every host until the fleet has at least `target` hosts: inventory entries, per-host
/// template folders and every secrets subtree keyed by a host name.
fn grow_fleet(root: &Path, target: usize, identity: &Path) {
    let inv_file = root.join("inventory/inventory.yml");
    let inv = inventory::load(&inv_file).expect("inventory");
    let originals: Vec<String> = inv.hosts.keys().cloned().collect();
    let copies = target.div_ceil(originals.len()) - 1;
    let clone_names = |h: &str| {
        (1..=copies)
            .map(move |i| format!("{h}c{i:03}"))
            .collect::<Vec<_>>()
    };

    let text = std::fs::read_to_string(&inv_file).expect("read");
    let mut doc: serde_json::Value = serde_norway::from_str(&text).expect("yaml");
    clone_keys(&mut doc, &originals, &clone_names, true);
    std::fs::write(&inv_file, serde_norway::to_string(&doc).expect("yaml")).expect("write");

    clone_host_files(root, &originals, &clone_names, identity);
}

/// The old toolchain's approach: sequential, every file parsed with a fresh environment.
fn naive_render(root: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let inv = inventory::load(&root.join("inventory/inventory.yml"))?;
    let keys = store::Keys {
        identity: std::env::var_os("NXINFRA_AGE_KEY_FILE").map(PathBuf::from),
        vault_password_file: None,
    };
    let secrets: Secrets = store::load(root, &keys)?;
    let templates = root.join("templates");
    let tree = sources::TemplateTree::read(&templates, u64::MAX)?;
    let shared = SharedContext::new(&inv, &secrets.doc)?;
    let redactor = secrets.redactor();
    let out = root.join("rendered");
    for host in inv.hosts.keys() {
        let touched = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ctx = shared.for_host(&inv, host, &touched)?;
        let plan = sources::plan_host_files(tree.config_files(), &inv, host, &templates)?;
        for (out_path, planned) in plan {
            touched.store(false, std::sync::atomic::Ordering::Relaxed);
            let data = if planned.render {
                let mut env = minijinja::Environment::new();
                engine::configure(&mut env);
                engine::add_lookup(&mut env, root.to_path_buf());
                let dir = templates.clone();
                env.set_loader(move |name| Ok(std::fs::read_to_string(dir.join(name)).ok()));
                let source = std::fs::read_to_string(templates.join(&planned.source))?;
                env.add_template_owned(planned.source.clone(), source)?;
                env.get_template(&planned.source)?
                    .render(&ctx)?
                    .into_bytes()
            } else {
                std::fs::read(templates.join(&planned.source))?
            };
            let touched = touched.load(std::sync::atomic::Ordering::Relaxed);
            let secret = render::holds_secret(&planned, touched, &redactor, &data);
            output::write_file(
                &out.join(host),
                &out_path,
                &data,
                output::mode_for(&out_path, secret),
            )?;
        }
    }
    Ok(())
}

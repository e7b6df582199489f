//! Issue 17, resource bounds on hostile input: a loop that never ends, an output of gigabytes,
//! a static file of a gigabyte, an inventory of 10,000 hosts. Each either works within
//! bounded memory or stops with an error naming file, line and host; never a hang or an
//! out-of-memory kill. The memory bound is real: the binary runs under an RLIMIT_DATA, so an
//! allocation beyond it would abort the run and fail the test. Run against `$NXINFRA_BIN`.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Fleet, texts};

/// The binary's private writable memory may not exceed this (heap, thread stacks, arenas).
const DATA_LIMIT: u64 = 640 << 20;

/// `nxinfra ARGS` under [`DATA_LIMIT`]; its exit status, stderr, and how long it took.
fn bounded(fleet: &Fleet, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, Duration) {
    let mut cmd = fleet.command(args);
    cmd.envs(env.iter().copied());
    // SAFETY: setrlimit is a single system call, async-signal-safe between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = rustix::process::Rlimit {
                current: Some(DATA_LIMIT),
                maximum: Some(DATA_LIMIT),
            };
            rustix::process::setrlimit(rustix::process::Resource::Data, limit)?;
            Ok(())
        });
    }
    let start = Instant::now();
    let out: Output = cmd.output().expect("run nxinfra");
    let took = start.elapsed();
    let (_, stderr) = texts(&out);
    assert!(
        out.status.code().is_some(),
        "killed by a signal (memory beyond {DATA_LIMIT} bytes?): {:?}\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("memory allocation"), "{stderr}");
    (out.status.code(), stderr, took)
}

#[test]
fn nested_loops_that_write_nothing_stop_at_the_step_limit_naming_file_line_and_host() {
    let fleet = Fleet::new();
    // 10^10 iterations: hours without a limit; an output limit alone never sees them.
    fleet.write(
        "templates/config/ixp/spin.conf.j2",
        "# spin\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n",
    );
    let (code, stderr, took) = bounded(&fleet, &["render"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("templates/config/ixp/spin.conf.j2:2 (host ixp1): stopped after 100000000 template steps")
            && stderr.contains("--max-template-steps"),
        "{stderr}"
    );
    assert!(!fleet.path("rendered").exists(), "nothing rendered");
    eprintln!("stopped in {took:?}");
}

#[test]
fn the_step_limit_is_configurable_by_option_and_environment() {
    let fleet = Fleet::new();
    // About 500,000 steps: rendered by default, stopped under a limit of 100,000.
    fleet.write(
        "templates/config/ixp/count.conf.j2",
        "{% for i in range(100000) %}{{ i % 10 }}{% endfor %}\n",
    );
    let (code, stderr, _) = bounded(&fleet, &["render", "--max-template-steps", "100000"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("count.conf.j2:1 (host ixp1): stopped after 100000 template steps"),
        "{stderr}"
    );
    let (code, stderr, _) = bounded(
        &fleet,
        &["render"],
        &[("NXINFRA_MAX_TEMPLATE_STEPS", "100000")],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("stopped after 100000 template steps"),
        "{stderr}"
    );
    assert!(!fleet.path("rendered").exists(), "nothing rendered");

    let (code, stderr, _) = bounded(&fleet, &["render"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(fleet.read("rendered/ixp1/count.conf").len(), 100000);
}

#[test]
fn an_output_of_gigabytes_stops_at_the_size_limit_without_holding_it() {
    let fleet = Fleet::new();
    // 10 GB in 100,000 writes of 100 kB: few steps, a huge output.
    fleet.write(
        "templates/config/ixp/huge.conf.j2",
        "{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}\n",
    );
    // The default (256 MiB) under a 640 MiB memory limit: memory stays bounded.
    let (code, stderr, _) = bounded(&fleet, &["render"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("templates/config/ixp/huge.conf.j2 (host ixp1): stopped: the output exceeds 256.0 MiB, the limit of one file (--max-file-mib)"),
        "{stderr}"
    );
    let (code, stderr, _) = bounded(&fleet, &["render", "--max-file-mib", "1"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the output exceeds 1.0 MiB"), "{stderr}");
    assert!(!fleet.path("rendered").exists(), "nothing rendered");
}

#[test]
fn a_static_file_of_a_gigabyte_is_refused_before_it_is_read() {
    let fleet = Fleet::new();
    fleet.nxinfra(&["render"]);
    let before = common::snapshot(&fleet.path("rendered"));
    // A sparse file: 1 GiB long, nothing on disk.
    let big = fleet.path("templates/config/ixp/geo.mmdb");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(1 << 30))
        .expect("sparse file");
    let (code, stderr, took) = bounded(&fleet, &["render"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "templates/config/ixp/geo.mmdb: 1.0 GiB is larger than the limit of one file, \
             256.0 MiB (--max-file-mib)"
        ),
        "{stderr}"
    );
    assert_eq!(
        common::snapshot(&fleet.path("rendered")),
        before,
        "rendered/ untouched"
    );
    assert!(took < Duration::from_secs(20), "not read: {took:?}");
    // Below the limit it is copied, and held once, not once per host: 100 MiB for 12 hosts
    // under a 640 MiB memory limit.
    std::fs::remove_file(&big).expect("rm");
    let mut inventory = String::from(common::INVENTORY);
    inventory.push_str("probes:\n  hosts:\n");
    for h in 0..12 {
        inventory.push_str(&format!("    probe{h:02}:\n"));
    }
    fleet.write("inventory/inventory.yml", &inventory);
    let shared = fleet.path("templates/config/probes/geo.mmdb");
    std::fs::create_dir_all(shared.parent().expect("parent")).expect("mkdir");
    std::fs::File::create(&shared)
        .and_then(|f| f.set_len(100 << 20))
        .expect("sparse file");
    let (code, stderr, _) = bounded(&fleet, &["render"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    for h in 0..12 {
        let copied = std::fs::metadata(fleet.path(&format!("rendered/probe{h:02}/geo.mmdb")))
            .expect("copied");
        assert_eq!(copied.len(), 100 << 20);
    }
}

#[test]
fn a_fifo_in_templates_is_refused_not_waited_on() {
    let fleet = Fleet::new();
    let fifo = fleet.path("templates/config/ixp/pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let (code, stderr, _) = bounded(&fleet, &["render"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("templates/config/ixp/pipe: not a regular file"),
        "{stderr}"
    );
}

#[test]
fn an_inventory_of_10000_hosts_renders_within_bounded_memory() {
    let fleet = Fleet::new();
    let mut inventory = String::from(common::INVENTORY);
    inventory.push_str("probes:\n  vars:\n    role: probe\n  hosts:\n");
    for h in 0..10_000 {
        inventory.push_str(&format!(
            "    probe{h:05}:\n      tailnet: 100.64.{}.{}\n",
            h / 250,
            h % 250 + 1
        ));
    }
    fleet.write("inventory/inventory.yml", &inventory);
    fleet.write(
        "templates/config/probes/probe.conf.j2",
        "name {{ inventory_hostname }}\naddress {{ tailnet }}\npeers {{ groups.probes | length }}\n",
    );
    fleet.write("templates/config/probes/static.conf", "shared\n");
    let (code, stderr, took) = bounded(&fleet, &["render"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        fleet.read("rendered/probe09999/probe.conf"),
        "name probe09999\naddress 100.64.39.250\npeers 10000"
    );
    let hosts = std::fs::read_dir(fleet.path("rendered"))
        .expect("rendered")
        .count();
    assert!(hosts >= 10_000, "{hosts} hosts rendered");
    eprintln!("10,000 hosts rendered in {took:?}");
}

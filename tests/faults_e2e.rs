//! Faults beyond an interrupt, end to end on the testbed's real sshd and Docker engines: the
//! network cut (the host's veth down) in the middle of a sync and of an apply, then restored;
//! the host's disk full during an apply's file placement; a registry that stops answering
//! mid-pull. After each the host is in its old or its new state, the known-good container
//! serving or put back, nothing left under a `--nxinfra-` name that the next apply does not
//! clean, and the next run converges and says what it found.
//!
//! Each test has a host of its own (a cut takes a whole host away): h2 the registry, h3 the
//! full disk, h4 the apply cut, h5 the sync cut.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::engine::{self, applied, apply, aside, id, inspect, running, set, steps};
use common::faults::*;
use common::{Fleet, SECRET, Testbed, texts};

/// `--ssh-timeout` of the runs whose network is cut: ssh's keepalive every second, the host
/// given up after three unanswered.
const SHORT_SSH_TIMEOUT: &str = "3";

/// How long a run whose host went silent may take to give up: the keepalives' 3 s, a
/// connection closing, the report. A run that hangs is killed and the test fails.
const GIVE_UP: Duration = Duration::from_secs(45);

/// `nxinfra apply --json --ssh-config <testbed> ARGS`, started, not waited for.
fn spawn_apply(fleet: &Fleet, tb: &Testbed, args: &[&str]) -> Child {
    let mut all = vec![
        "apply",
        "--json",
        "--ssh-config",
        tb.ssh_config.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    fleet
        .command(&all)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nxinfra apply")
}

/// Waits until no process mentions `base` any more: the remote commands of a session whose
/// client went away end once the host hears of it (the restored link carries the client's
/// FIN), and with them the host's lock.
fn wait_remote_commands_gone(base: &std::path::Path) {
    let needle = base.display().to_string();
    wait_for(
        Duration::from_secs(90),
        "the orphaned remote commands to end",
        || processes_mentioning(&needle).is_empty(),
    );
}

// ---------------------------------------------------------------------------------------------
// 1. the network cut in the middle of a sync

/// 4000 files of 16 KiB: 64 MiB a version, a transfer long enough to be cut in the middle.
const CUT_FILES: usize = 4000;
const CUT_SIZE: usize = 16 << 10;

#[test]
fn a_network_cut_mid_sync_fails_the_host_within_the_ssh_timeout_and_the_next_sync_converges() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h5", "fault-cut-sync");
    let fleet = fleet(&tb, test);
    let base = tb.base_dir(host, test);
    let v1 = tree(CUT_FILES, CUT_SIZE, "v1");
    let v2 = tree(CUT_FILES, CUT_SIZE, "v2");
    let v3 = tree(CUT_FILES, CUT_SIZE, "v3");
    put_tree(&fleet, &v1);
    let run = sync(&fleet, &tb, &["--limit", host]);
    assert_eq!(run.code, Some(0), "first sync: {}", run.stderr);

    // A blip: a cut of one second in the middle of the transfer, shorter than the timeout
    // (30 s), is carried over by TCP: the sync ends as if nothing had happened.
    put_tree(&fleet, &v2);
    let child = spawn_sync(&fleet, &tb, &["--json", "--limit", host]);
    wait_for_staging(&base);
    let mut cut = Cut::new(host);
    std::thread::sleep(Duration::from_secs(1));
    cut.restore();
    let run = finish(child, Duration::from_secs(120), "sync through a blip");
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_synced(&base, &v2, "after the blip");

    // A cut that lasts: the sync gives the host up after --ssh-timeout, names it, exits 1.
    put_tree(&fleet, &v3);
    let child = spawn_sync(
        &fleet,
        &tb,
        &[
            "--json",
            "--limit",
            host,
            "--ssh-timeout",
            SHORT_SSH_TIMEOUT,
        ],
    );
    wait_for_staging(&base);
    let mut cut = Cut::new(host);
    let since = Instant::now();
    let run = finish(child, GIVE_UP, "sync whose host's network was cut");
    let took = since.elapsed();
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.statuses(), [format!("{host}=failed")]);
    let error = run.host(host)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!error.is_empty(), "no reason given: {}", run.stdout);
    assert!(
        run.stderr
            .contains(&format!("sync failed on 1 of 1 hosts: {host}")),
        "{}",
        run.stderr
    );
    eprintln!("cut mid-sync: given up after {took:.1?}: {error}");

    // While the host is away, its files are each old or new; once it is back and has heard
    // that its client went, nothing of the sync is left running, and the next sync converges.
    let (newer, manifest_new) = assert_old_or_new(&base, &v2, &v3, "during the cut");
    cut.restore();
    wait_remote_commands_gone(&base);
    let (newer_after, _) = assert_old_or_new(&base, &v2, &v3, "after the cut");
    assert!(
        !staging(&base).exists(),
        "the interrupted sync's staging folder is left once its command ended"
    );
    eprintln!(
        "cut mid-sync: {newer} (then {newer_after}) of {CUT_FILES} files new, manifest {}",
        if manifest_new { "new" } else { "old" }
    );
    let run = sync(&fleet, &tb, &["--json", "--limit", host]);
    assert_eq!(run.code, Some(0), "the sync after the cut: {}", run.stderr);
    assert_synced(&base, &v3, "after the sync that followed the cut");
}

// ---------------------------------------------------------------------------------------------
// 2. the network cut in the middle of an apply

/// `web`, replaced side by side (on a network of its own, no fixed address: the new container
/// beside the running one until it is healthy): healthy once `/{web_ready}` exists in it
/// (`bin` does, `missing` never).
const GATED: &str = r#"services:
  web:
    image: nxtb-app:1
    command: ["sleep", "3600"]
    networks:
      net: {}
    environment:
      MODE: "{{ web_mode }}"
    healthcheck:
      test: ["CMD", "test", "-e", "/{{ web_ready }}"]
      interval: 1s
      timeout: 1s
      retries: 120
    stop_grace_period: 1s
networks:
  net:
    ipam:
      config:
        - subnet: 172.27.{{ subnet }}.0/24
"#;

/// The fleet of [`GATED`] on `host`, its engine emptied, `web` at version `one`, healthy.
fn gated_fleet(tb: &Testbed, host: &str, test: &str) -> Fleet {
    engine::clean_engine(tb, host, &["net"]);
    let vars = format!(
        "    web_mode: one\n    web_ready: bin\n    subnet: {}\n",
        &host[1..]
    );
    engine::fleet(tb, host, test, GATED, &vars)
}

#[test]
fn a_network_cut_mid_apply_keeps_the_known_good_container_and_the_next_apply_cleans_up() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h4", "fault-cut-apply");
    let fleet = gated_fleet(&tb, host, test);
    applied(&fleet, &tb);
    let good = id(&tb, host, "web");
    assert!(!good.is_empty() && running(&tb, host, "web"));

    // A new version that never becomes healthy: the apply waits in its health gate, the new
    // container beside the known-good one; then the network goes.
    set(&fleet, "web_mode", "two");
    set(&fleet, "web_ready", "missing");
    let child = spawn_apply(&fleet, &tb, &["--ssh-timeout", SHORT_SSH_TIMEOUT]);
    wait_for(Duration::from_secs(60), "the new container", || {
        !id(&tb, host, "web--nxinfra-new").is_empty()
    });
    std::thread::sleep(Duration::from_secs(1));
    let mut cut = Cut::new(host);
    let since = Instant::now();
    let run = finish(child, GIVE_UP, "apply whose host's network was cut");
    let took = since.elapsed();
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
    assert_eq!(run.statuses(), [format!("{host}=failed")]);
    let error = run.host(host)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("connection to the engine was lost")
            && error.contains("the new container is left as web--nxinfra-new")
            && error.contains("the next apply removes web--nxinfra-new"),
        "the error names the lost connection and what is left: {error}"
    );
    eprintln!("cut mid-apply: given up after {took:.1?}: {error}");

    // The known-good container never stopped serving; the half-done replacement is there.
    assert_eq!(id(&tb, host, "web"), good, "the known-good container");
    assert!(running(&tb, host, "web"), "it still runs");
    assert_eq!(aside(&tb, host), ["web--nxinfra-new"]);

    // Back on the network, with the new version fixed: the plan and the next apply name what
    // the interrupted apply left, the next apply removes it and rolls the new version out.
    cut.restore();
    wait_remote_commands_gone(&tb.base_dir(host, test));
    set(&fleet, "web_ready", "bin");
    let ssh_config = tb.ssh_config.to_str().unwrap();
    let plan = fleet.nxinfra(&["plan", "--json", "--ssh-config", ssh_config]);
    let (stdout, stderr) = texts(&plan);
    assert_eq!(plan.status.code(), Some(2), "{stderr}");
    let planned = steps(&serde_json::from_str(&stdout).expect("plan JSON"));
    assert!(
        planned.iter().any(|s| s.contains("interrupted apply")),
        "{planned:?}"
    );
    let json = applied(&fleet, &tb);
    let done = steps(&json);
    assert!(
        done.iter()
            .any(|s| s.starts_with("web--nxinfra-new=") || s.contains("interrupted apply")),
        "the apply says what it found: {done:?}"
    );
    assert!(aside(&tb, host).is_empty(), "{:?}", aside(&tb, host));
    assert!(running(&tb, host, "web"));
    assert_ne!(id(&tb, host, "web"), good, "the new version runs");
    assert!(
        inspect(&tb, host, "web")["Config"]["Env"]
            .as_array()
            .is_some_and(|e| e.iter().any(|v| v == "MODE=two")),
        "the new version runs"
    );
    let json = applied(&fleet, &tb);
    assert!(
        steps(&json).iter().all(|s| s.ends_with("=unchanged")),
        "{:?}",
        steps(&json)
    );
}

// ---------------------------------------------------------------------------------------------
// 3. the disk full during an apply's file placement

#[test]
fn a_full_disk_during_an_apply_changes_no_container_and_the_next_apply_converges() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h3", "fault-full-apply");
    let fleet = gated_fleet(&tb, host, test);
    let disk = HostTmpfs::mount(&tb, host, &tb.base_dir(host, test), "1m");
    let base = disk.view();
    applied(&fleet, &tb);
    let good = id(&tb, host, "web");
    let compose_v1 = std::fs::read(base.join("compose.yml")).expect("compose.yml placed");

    // A new version, and a file that does not fit on the 1 MiB disk.
    set(&fleet, "web_mode", "two");
    let big: Vec<u8> = (0..(3usize << 19)).map(|i| (i * 7 % 251) as u8).collect();
    fleet.write_bytes(&format!("{GROUP_DIR}/big.dat"), &big);
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{stderr}\n{json}");
    let error = json["hosts"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.to_lowercase().contains("no space left"),
        "the host's error names the full disk: {error}\n{stderr}"
    );
    // Nothing placed, no container touched, nothing left aside, no staging on the disk.
    assert_eq!(std::fs::read(base.join("compose.yml")).unwrap(), compose_v1);
    assert!(!base.join("big.dat").exists());
    assert_eq!(id(&tb, host, "web"), good);
    assert!(running(&tb, host, "web"));
    assert!(aside(&tb, host).is_empty(), "{:?}", aside(&tb, host));
    assert!(!staging(&base).exists(), "staging left on the full disk");

    // Room made (the big file goes): the next apply places the files and rolls out.
    std::fs::remove_file(fleet.path(&format!("{GROUP_DIR}/big.dat"))).unwrap();
    let json = applied(&fleet, &tb);
    assert_eq!(steps(&json).len(), 1, "{:?}", steps(&json));
    assert!(
        steps(&json)[0].starts_with("web=recreate"),
        "{:?}",
        steps(&json)
    );
    assert_ne!(id(&tb, host, "web"), good);
    assert_ne!(std::fs::read(base.join("compose.yml")).unwrap(), compose_v1);
    drop(disk);
}

// ---------------------------------------------------------------------------------------------
// 4. a registry that stops answering mid-pull

const PULLED: &str = r#"services:
  app:
    image: 10.200.0.1:5000/nxtb/stall:{{ app_tag }}
    command: ["sleep", "3600"]
    network_mode: none
    stop_grace_period: 1s
"#;

#[test]
fn a_registry_that_stops_answering_mid_pull_fails_the_pull_and_changes_nothing() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h2", "fault-registry");
    engine::clean_engine(&tb, host, &[]);
    for tag in ["1", "2"] {
        engine::docker(
            &tb,
            host,
            &["rmi", "-f", &format!("10.200.0.1:5000/nxtb/stall:{tag}")],
        );
    }
    let registry = common::registry::Registry::start();
    let rootfs = tb.state.join("image/rootfs.tar");
    // Layers of their own (padded): never on the host before, so each is downloaded.
    let v1 = registry.publish_padded("nxtb/stall", "1", &rootfs, &["PATH=/bin", "V=1"], 3);
    let v2 = registry.publish_padded("nxtb/stall", "2", &rootfs, &["PATH=/bin", "V=2"], 5);
    let fleet = engine::fleet(&tb, host, test, PULLED, "    app_tag: \"1\"\n");
    applied(&fleet, &tb);
    let good = id(&tb, host, "app");
    assert_eq!(inspect(&tb, host, "app")["Image"], v1.as_str());
    let base = tb.base_dir(host, test);
    let compose_v1 = std::fs::read(base.join("compose.yml")).unwrap();

    // The registry stops half way through the new layer: the pull is given up after
    // --pull-timeout without progress, the host fails before anything was changed.
    registry.stall(true);
    set(&fleet, "app_tag", "\"2\"");
    let child = spawn_apply(&fleet, &tb, &["--pull-timeout", "3"]);
    let run = finish(
        child,
        Duration::from_secs(60),
        "apply whose registry stalled",
    );
    assert!(registry.stalled() > 0, "the pull reached the stalled layer");
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.statuses(), [format!("{host}=failed")]);
    let error = run.host(host)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("pulling 10.200.0.1:5000/nxtb/stall:2")
            && error.contains("no progress for 3 s"),
        "{error}"
    );
    assert_eq!(id(&tb, host, "app"), good, "the running container is kept");
    assert!(running(&tb, host, "app"));
    assert!(aside(&tb, host).is_empty(), "{:?}", aside(&tb, host));
    assert_eq!(
        std::fs::read(base.join("compose.yml")).unwrap(),
        compose_v1,
        "no file placed"
    );

    // The registry answers again: the next apply pulls and rolls out.
    registry.stall(false);
    let json = applied(&fleet, &tb);
    assert_eq!(
        json["hosts"][0]["images"],
        serde_json::json!([{"image": "10.200.0.1:5000/nxtb/stall:2", "reason": "not on the host"}])
    );
    assert!(
        steps(&json)[0].starts_with("app=recreate"),
        "{:?}",
        steps(&json)
    );
    assert_eq!(inspect(&tb, host, "app")["Image"], v2.as_str());
}

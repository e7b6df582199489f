//! Interrupted applies, foreign containers and fleets sharing an engine, on the testbed's real
//! Docker engines: a replacement cut off by SIGINT, SIGTERM or SIGKILL, or by the engine
//! stopping, never loses the known-good container; nxinfra never removes what is not its
//! own fleet's; and a failed reload that prints a secret is redacted everywhere.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::engine::{
    self, applied, apply, aside, docker, id, inspect, run_sleeper, running, set, steps,
};
use common::{Down, Fleet, SECRET, Testbed, texts};

/// `web` is replaced side by side (no fixed address), `pinned` old one first (a fixed
/// address). Each becomes healthy once `/{ready}` exists in it: `bin` does, `missing` never.
const COMPOSE: &str = r#"services:
  web:
    image: nxtb-app:1
    command: ["sleep", "3600"]
    environment:
      MODE: "{{ web_mode }}"
    networks:
      net: {}
    healthcheck:
      test: ["CMD", "test", "-e", "/{{ web_ready }}"]
      interval: 1s
      timeout: 1s
      retries: 120
    stop_grace_period: 1s
  pinned:
    image: nxtb-app:1
    command: ["sleep", "3600"]
    environment:
      MODE: "{{ pinned_mode }}"
    networks:
      net:
        ipv4_address: 172.27.{{ subnet }}.30
    healthcheck:
      test: ["CMD", "test", "-e", "/{{ pinned_ready }}"]
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

const VARS: &str = "    web_mode: one\n    web_ready: bin\n    pinned_mode: one\n    \
                    pinned_ready: bin\n";

fn fleet(tb: &Testbed, host: &str, test: &str) -> Fleet {
    engine::clean_engine(tb, host, &["net"]);
    let vars = format!("{VARS}    subnet: {}\n", &host[1..]);
    engine::fleet(tb, host, test, COMPOSE, &vars)
}

/// `nxinfra apply --json` started in its own process group (as a shell starts a job, so
/// that a signal to the group is what Ctrl-C sends), not waited for.
fn spawn_apply(fleet: &Fleet, tb: &Testbed) -> Child {
    use std::os::unix::process::CommandExt;
    let ssh_config = tb.ssh_config.to_str().expect("utf-8 path").to_string();
    let mut cmd: Command = fleet.command(&["apply", "--json", "--ssh-config", &ssh_config]);
    cmd.process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nxinfra apply")
}

/// Sends `signal` to `child`'s process group.
fn signal(child: &Child, signal: i32) {
    let group = -(i32::try_from(child.id()).expect("a pid"));
    // SAFETY: kill(2) with a process group id and a signal number has no memory effects.
    let sent = unsafe { libc::kill(group, signal) };
    assert_eq!(sent, 0, "kill -{signal} {group}");
}

/// Waits (at most a minute) for `child` to end: its output.
fn finished(child: Child) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.expect("wait for nxinfra"),
        Err(_) => {
            // SAFETY: as in `signal`.
            unsafe { libc::kill(i32::try_from(pid).unwrap_or(0), libc::SIGKILL) };
            panic!("nxinfra did not end within a minute of the signal");
        }
    }
}

/// Waits (at most a minute) until `ready` holds, polling the engine.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts an apply that replaces `service` with a version that never becomes healthy, and
/// returns it once the new container is being waited for (and the known-good one's id).
fn apply_stuck_in_the_health_gate(
    fleet: &Fleet,
    tb: &Testbed,
    host: &str,
    service: &str,
) -> (Child, String) {
    let good = id(tb, host, service);
    assert!(!good.is_empty(), "{service} runs before the change");
    set(fleet, &format!("{service}_mode"), "two");
    set(fleet, &format!("{service}_ready"), "missing");
    let child = spawn_apply(fleet, tb);
    let new = format!("{service}--nxinfra-new");
    let old = format!("{service}--nxinfra-old");
    wait_for("the new container to be waited for", || {
        if service == "web" {
            !id(tb, host, &new).is_empty()
        } else {
            id(tb, host, &old) == good && !id(tb, host, service).is_empty()
        }
    });
    // Inside the health gate: the check runs every second and never passes.
    std::thread::sleep(Duration::from_secs(2));
    (child, good)
}

/// Reverts `service` to the known-good version.
fn revert(fleet: &Fleet, service: &str) {
    set(fleet, &format!("{service}_mode"), "one");
    set(fleet, &format!("{service}_ready"), "bin");
}

fn interrupted_replacements_keep_the_known_good_container(host: &str, service: &str) {
    let Some(tb) = Testbed::get() else { return };
    let test = format!("interrupt-{service}");
    let fleet = fleet(&tb, host, &test);
    applied(&fleet, &tb);

    for (sig, name, status) in [
        (libc::SIGINT, "SIGINT", 130),
        (libc::SIGTERM, "SIGTERM", 143),
    ] {
        let (child, good) = apply_stuck_in_the_health_gate(&fleet, &tb, host, service);
        signal(&child, sig);
        let out = finished(child);
        let (stdout, stderr) = texts(&out);
        assert_eq!(
            out.status.code(),
            Some(status),
            "{name}: {stderr}\n{stdout}"
        );
        assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
        assert!(
            stderr.contains(&format!("interrupted by {name}")),
            "{name}: says so: {stderr}"
        );
        let json: serde_json::Value = serde_json::from_str(&stdout).expect("--json output");
        let error = json["hosts"][0]["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(&format!(
                "{service}: the new container did not become healthy"
            )) && error.contains(name)
                && error.contains("restored"),
            "{name}: the step in flight was undone: {error}"
        );
        assert_eq!(id(&tb, host, service), good, "{name}: the known-good one");
        assert!(running(&tb, host, service), "{name}: it runs");
        assert!(
            aside(&tb, host).is_empty(),
            "{name}: {:?}",
            aside(&tb, host)
        );
        // The lock was released: the next apply runs at once; the unchanged fleet is a no-op.
        revert(&fleet, service);
        let json = applied(&fleet, &tb);
        assert!(
            steps(&json).iter().all(|s| s.ends_with("=unchanged")),
            "{name}: {:?}",
            steps(&json)
        );
    }

    // SIGKILL: nothing can be done then; the next apply finds what was left and puts the
    // known-good container back, never removing it.
    let (child, good) = apply_stuck_in_the_health_gate(&fleet, &tb, host, service);
    signal(&child, libc::SIGKILL);
    let out = finished(child);
    assert_eq!(out.status.code(), None, "killed");
    assert!(!aside(&tb, host).is_empty(), "the replacement was cut off");
    revert(&fleet, service);
    // A plan shows what the next apply will do about it, and does nothing.
    let ssh_config = tb.ssh_config.to_str().expect("utf-8 path");
    let plan = fleet.nxinfra(&["plan", "--json", "--ssh-config", ssh_config]);
    let (stdout, stderr) = texts(&plan);
    assert_eq!(plan.status.code(), Some(2), "{stderr}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("plan JSON");
    common::assert_schema(&plan, "plan.schema.json");
    let planned = steps(&plan);
    assert!(
        planned.iter().any(|s| s.starts_with(service)
            && (s.contains("=recover an interrupted apply")
                || s.contains("=remove left by an interrupted apply"))),
        "{planned:?}"
    );
    assert!(!aside(&tb, host).is_empty(), "a plan changes nothing");
    let json = applied(&fleet, &tb);
    let done = steps(&json);
    assert!(
        done.iter().any(|s| s.contains("interrupted apply")),
        "{done:?}"
    );
    assert_eq!(
        id(&tb, host, service),
        good,
        "the known-good container is back"
    );
    assert!(running(&tb, host, service));
    assert!(aside(&tb, host).is_empty(), "{:?}", aside(&tb, host));
    let json = applied(&fleet, &tb);
    assert!(
        steps(&json).iter().all(|s| s.ends_with("=unchanged")),
        "{:?}",
        steps(&json)
    );
}

#[test]
fn an_interrupted_old_one_first_replacement_keeps_the_known_good_container() {
    interrupted_replacements_keep_the_known_good_container("h1", "pinned");
}

#[test]
fn an_interrupted_side_by_side_replacement_keeps_the_known_good_container() {
    interrupted_replacements_keep_the_known_good_container("h2", "web");
}

#[test]
fn an_engine_stopped_mid_replacement_is_named_and_the_next_apply_puts_the_previous_back() {
    let Some(tb) = Testbed::get() else { return };
    let host = "h3";
    let fleet = fleet(&tb, host, "interrupt-engine");
    applied(&fleet, &tb);
    let (child, good) = apply_stuck_in_the_health_gate(&fleet, &tb, host, "pinned");
    let mut down = Down::stop(&tb, "engine", host);
    let out = finished(child);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("--json output");
    let error = json["hosts"][0]["error"].as_str().unwrap_or_default();
    assert!(
        !error.contains("restored and runs"),
        "no claim that the previous container runs: {error}"
    );
    assert!(
        error.contains("pinned--nxinfra-old") && error.contains("the next apply"),
        "what is left, and what happens next: {error}"
    );
    down.start();
    revert(&fleet, "pinned");
    let json = applied(&fleet, &tb);
    assert!(
        steps(&json)
            .iter()
            .any(|s| s.starts_with("pinned=recover an interrupted apply")),
        "{:?}",
        steps(&json)
    );
    assert_eq!(
        id(&tb, host, "pinned"),
        good,
        "the known-good container is back"
    );
    assert!(running(&tb, host, "pinned"));
    assert!(aside(&tb, host).is_empty(), "{:?}", aside(&tb, host));
}

const SLEEPER: &str = r#"services:
{% for s in services %}
  {{ s }}:
    image: nxtb-app:1
    command: ["sleep", "3600"]
    network_mode: none
    stop_grace_period: 1s
{% endfor %}
"#;

#[test]
fn a_foreign_container_under_a_replacement_name_is_never_removed() {
    let Some(tb) = Testbed::get() else { return };
    let host = "h4";
    let fleet = fleet(&tb, host, "interrupt-foreign");
    applied(&fleet, &tb);
    let web = id(&tb, host, "web");
    run_sleeper(&tb, host, "web--nxinfra-new", "nxtb-app:1", &[]);
    let foreign = id(&tb, host, "web--nxinfra-new");
    set(&fleet, "web_mode", "two");
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let error = json["hosts"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("web--nxinfra-new") && error.contains("nxinfra did not create it"),
        "{error}"
    );
    assert_eq!(id(&tb, host, "web--nxinfra-new"), foreign, "never removed");
    assert_eq!(
        id(&tb, host, "web"),
        web,
        "the host stopped before anything changed"
    );
    docker(&tb, host, &["rm", "-f", "web--nxinfra-new"]);
}

#[test]
fn two_fleets_on_one_engine_never_touch_each_other() {
    let Some(tb) = Testbed::get() else { return };
    let host = "h5";
    engine::clean_engine(&tb, host, &[]);
    let with = |test: &str, fleet_name: &str, services: &str| {
        let vars = format!("    nxinfra_fleet: {fleet_name}\n    services: [{services}]\n");
        engine::fleet(&tb, host, test, SLEEPER, &vars)
    };
    let alpha = with("fleet-alpha", "alpha", "a1");
    let beta = with("fleet-beta", "beta", "b1");
    applied(&alpha, &tb);
    let a1 = id(&tb, host, "a1");
    assert_eq!(
        inspect(&tb, host, "a1")["Config"]["Labels"]["nxinfra.fleet"],
        "alpha"
    );
    let json = applied(&beta, &tb);
    assert_eq!(steps(&json), ["b1=create new service"], "a1 is not beta's");
    assert_eq!(id(&tb, host, "a1"), a1, "alpha's container is untouched");
    // Beta wanting alpha's name: refused before anything changes, naming both fleets.
    let beta = with("fleet-beta", "beta", "b1, a1");
    let (code, json, stderr) = apply(&beta, &tb, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let error = json["hosts"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("container a1 belongs to the fleet alpha")
            && error.contains("this repository is the fleet beta"),
        "{error}"
    );
    assert_eq!(id(&tb, host, "a1"), a1);
    // Alpha applied again: unchanged, beta's b1 is not "no longer in compose.yml".
    let json = applied(&alpha, &tb);
    assert_eq!(steps(&json), ["a1=unchanged"]);
    assert!(!id(&tb, host, "b1").is_empty());
}

#[test]
fn a_failed_reload_that_prints_a_secret_is_redacted_everywhere() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h6", "interrupt-reload");
    let fleet = Fleet::new();
    std::fs::remove_dir_all(fleet.path("templates")).expect("remove templates");
    fleet.set_secrets(&format!("db:\n  password: {SECRET}\n"));
    let dir = format!("/srv/{test}");
    let srv = tb.state.join(host).join("srv").join(test);
    let _ = std::fs::remove_dir_all(&srv);
    let _ = std::fs::remove_dir_all(tb.base_dir(host, test));
    fleet.write(
        "inventory/inventory.yml",
        &format!(
            "testbed:\n  hosts:\n    {host}:\n      ansible_host: {}\n      \
             nxinfra_base_dir: {}\n  vars:\n    ansible_user: nxtb\n    \
             nxinfra_system_files:\n      - src: app/app.conf\n        \
             dest: {dir}/etc/app.conf\n        reload: \"cat {dir}/etc/app.conf; exit 1\"\n",
            tb.ip(host),
            tb.base_dir(host, test).display()
        ),
    );
    fleet.write(
        "templates/config/testbed/app/app.conf.j2",
        "password={{ secrets.db.password }}\n",
    );
    let ssh_config = tb.ssh_config.to_str().expect("utf-8 path");
    for args in [
        vec!["sync", "--ssh-config", ssh_config],
        vec!["sync", "--json", "--ssh-config", ssh_config],
    ] {
        // Each run changes the file, so that its reload runs (and fails) every time.
        let n = args.len();
        fleet.write(
            "templates/config/testbed/app/app.conf.j2",
            &format!("password={{{{ secrets.db.password }}}}\nrun={n}\n"),
        );
        let out = fleet.nxinfra(&args);
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            format!("{stdout}{stderr}").contains("password=<secret:db.password>"),
            "the reload's output is shown, redacted: {stdout}{stderr}"
        );
        assert!(
            !stdout.contains(SECRET) && !stderr.contains(SECRET),
            "{args:?} printed the secret:\n{stdout}\n{stderr}"
        );
    }
}

//! `nxinfra status` end to end on the testbed, and drift: a host as desired (exit 0, one
//! line), then its files changed by hand (found by status, plan and `sync --dry-run --diff`,
//! put back by sync, a foreign file beside them untouched), then its containers broken by
//! hand (stopped, in a restart loop, unhealthy: exit 2, each named), then a host that cannot
//! be reached (exit 1, named). Status never changes anything on a host (checked byte for
//! byte, as for plan); the JSON is checked against docs/status.schema.json.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::engine::{self, apply, docker, host_state, inspect};
use common::{Down, Fleet, SECRET, Testbed, texts};

const COMPOSE: &str = r#"services:
  web:
    image: nxtb-busybox:1
    command: ["sh", "-c", "touch /tmp/healthy; exec sleep 3600"]
    network_mode: none
    environment:
      TOKEN: "{{ db.password }}"
    healthcheck:
      test: ["CMD-SHELL", "test -e /tmp/healthy || { echo \"no /tmp/healthy, token $$TOKEN\"; exit 1; }"]
      interval: 1s
      timeout: 1s
      retries: 1
    volumes:
      - {{ nxinfra_base_dir }}/web/conf:/conf:ro
    stop_grace_period: 1s
  stopper:
    image: nxtb-busybox:1
    command: ["sleep", "3600"]
    network_mode: none
    stop_grace_period: 1s
  looper:
    image: nxtb-busybox:1
    # Runs until /stop appears; restarted (its file system kept), exits 1 at once: a restart
    # loop (the engine does not restart a container stopped by `docker kill`).
    command: ["sh", "-c", "test ! -e /ran || exit 1; touch /ran; while [ ! -e /stop ]; do sleep 0.2; done; exit 1"]
    restart: always
    network_mode: none
    stop_grace_period: 1s
"#;

/// `nxinfra status ARGS` on the testbed: (exit code, stdout, stderr); fails the test if the
/// fleet's secret appears.
fn status(fleet: &Fleet, tb: &Testbed, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["status", "--ssh-config", tb.ssh_config.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = fleet.nxinfra(&all);
    let (stdout, stderr) = texts(&out);
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "a secret was printed:\n{stdout}\n{stderr}"
    );
    (out.status.code(), stdout, stderr)
}

/// `status --json`, checked against the documented schema.
fn status_json(fleet: &Fleet, tb: &Testbed, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = status(fleet, tb, &all);
    let json: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    common::assert_schema(&json, "status.schema.json");
    (code, json)
}

/// `container: state` of every service of the first host of a status report.
fn states(json: &serde_json::Value) -> Vec<String> {
    json["hosts"][0]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}: {}", s["container"].as_str().unwrap(), s["state"]))
        .collect()
}

/// Waits until `name`'s engine state satisfies `ok` (at most 30 s).
fn wait_for(tb: &Testbed, host: &str, name: &str, ok: impl Fn(&serde_json::Value) -> bool) {
    let start = Instant::now();
    while !ok(&inspect(tb, host, name)) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{name}: {}",
            inspect(tb, host, name)["State"]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Removes the test's containers however it ends: a container in a restart loop would burn
/// the testbed's CPU for every later test.
struct Removed<'a>(&'a Testbed, &'a str);

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        engine::clean_engine(self.0, self.1, &[]);
    }
}

#[test]
fn status_names_what_is_not_as_desired_and_drift_is_found_and_put_back() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h2", "status");
    engine::clean_engine(&tb, host, &[]);
    let _removed = Removed(&tb, host);
    let fleet = engine::fleet(&tb, host, test, COMPOSE, "");
    fleet.write("templates/config/testbed/web/conf/app.conf", "v=1\n");
    fleet.write("templates/config/testbed/web/conf/peers.conf", "peer a\n");
    // It holds a secret: placed 0600.
    fleet.write(
        "templates/config/testbed/web/conf/key.j2",
        "{{ db.password }}\n",
    );
    let base = tb.base_dir(host, test);
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    std::fs::write(base.join("foreign.txt"), "not nxinfra's\n").unwrap();

    // All as desired: exit 0, one line for the host, nothing changed on it.
    let before = host_state(&tb, host, &base);
    let (code, stdout, stderr) = status(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let line = stdout.lines().next().unwrap();
    assert!(
        line.contains("h2") && line.contains("as desired: 3 services") && line.contains("disk "),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().count(),
        2,
        "one line per host and the total:\n{stdout}"
    );
    let (code, json) = status_json(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{json}");
    let h = &json["hosts"][0];
    assert_eq!(
        (h["status"].as_str(), h["as_desired"].as_bool()),
        (Some("as_desired"), Some(true))
    );
    assert!(
        h["engine"]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{h}"
    );
    assert!(h["facts"]["disk"]["used_percent"].is_u64(), "{h}");
    assert!(
        h["services"][0]["image_id"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(
        host_state(&tb, host, &base),
        before,
        "status changed the host"
    );

    // Drift: one file edited, one removed, one re-moded.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(base.join("web/conf/app.conf"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"edited by hand\n").unwrap();
    std::fs::remove_file(base.join("web/conf/peers.conf")).unwrap();
    std::fs::set_permissions(
        base.join("web/conf/key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let before = host_state(&tb, host, &base);
    let (code, json) = status_json(&fleet, &tb, &[]);
    assert_eq!(code, Some(2), "{json}");
    let changed: Vec<String> = json["hosts"][0]["changed_on_host"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["path"].as_str().unwrap(),
                c["change"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            "web/conf/app.conf edited",
            "web/conf/key mode",
            "web/conf/peers.conf removed"
        ]
    );
    let (code, stdout, _) = status(&fleet, &tb, &[]);
    assert_eq!(code, Some(2));
    assert!(
        stdout.contains(
            "changed on host since the last sync: web/conf/app.conf (edited), web/conf/key \
             (mode 0644, placed 0600), web/conf/peers.conf (removed)"
        ),
        "{stdout}"
    );
    assert_eq!(
        host_state(&tb, host, &base),
        before,
        "status changed the host"
    );

    // plan shows it (and writes nothing either).
    let out = fleet.nxinfra(&[
        "plan",
        "--json",
        "--ssh-config",
        tb.ssh_config.to_str().unwrap(),
    ]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    common::assert_schema(&plan, "plan.schema.json");
    assert_eq!(out.status.code(), Some(2), "{plan}");
    let files = &plan["hosts"][0]["files"];
    assert_eq!(
        files["changed_on_host"].as_array().unwrap().len(),
        3,
        "{files}"
    );
    assert_eq!(
        files["upload"],
        serde_json::json!(["web/conf/app.conf", "web/conf/peers.conf"])
    );
    assert_eq!(
        host_state(&tb, host, &base),
        before,
        "plan changed the host"
    );

    // sync --dry-run --diff: the host's version against the desired one.
    let ssh = tb.ssh_config.to_str().unwrap();
    let out = fleet.nxinfra(&["sync", "--dry-run", "--diff", "--ssh-config", ssh]);
    let (stdout, stderr) = texts(&out);
    assert!(stdout.contains("-edited by hand"), "{stdout}");
    assert!(stdout.contains("+peer a"), "{stdout}");
    assert!(
        stdout.contains("mode of h2:web/conf/key becomes 0600"),
        "{stdout}"
    );
    assert!(stderr.contains("would be put back"), "{stderr}");
    assert_eq!(
        host_state(&tb, host, &base),
        before,
        "a dry run changed the files"
    );

    // sync puts it back, says so; the foreign file is untouched; status is clean again.
    let out = fleet.nxinfra(&["sync", "--ssh-config", ssh]);
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("changed on host since the last sync") && stderr.contains("; put back"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(base.join("web/conf/app.conf")).unwrap(),
        "v=1\n"
    );
    assert_eq!(
        std::fs::read_to_string(base.join("web/conf/peers.conf")).unwrap(),
        "peer a\n"
    );
    let mode = std::fs::metadata(base.join("web/conf/key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        std::fs::read_to_string(base.join("foreign.txt")).unwrap(),
        "not nxinfra's\n"
    );
    let (code, stdout, _) = status(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stdout}");

    // Containers broken by hand: stopped, looping, unhealthy (its output holds the secret).
    let (ok, out) = docker(&tb, host, &["stop", "-t", "1", "stopper"]);
    assert!(ok, "{out}");
    let (ok, out) = docker(&tb, host, &["exec", "looper", "touch", "/stop"]);
    assert!(ok, "{out}");
    let (ok, out) = docker(&tb, host, &["exec", "web", "rm", "/tmp/healthy"]);
    assert!(ok, "{out}");
    // Enough restarts that the engine's back-off (doubling from 100 ms) keeps it restarting
    // for seconds, longer than status takes to read it.
    wait_for(&tb, host, "looper", |c| {
        c["RestartCount"].as_i64() >= Some(5) && c["State"]["Status"] == "restarting"
    });
    wait_for(&tb, host, "web", |c| {
        c["State"]["Health"]["Status"] == "unhealthy"
    });
    let (code, json) = status_json(&fleet, &tb, &[]);
    assert_eq!(code, Some(2), "{json}");
    assert_eq!(
        states(&json),
        [
            "looper: \"restarting\"",
            "stopper: \"exited\"",
            "web: \"unhealthy\""
        ],
        "{json}"
    );
    let services = json["hosts"][0]["services"].as_array().unwrap();
    assert_eq!(services[1]["code"], 137, "{}", services[1]);
    assert!(services[0]["restarts"].as_i64() >= Some(5));
    let output = services[2]["output"].as_str().unwrap();
    assert!(
        output.contains("no /tmp/healthy, token <secret:db.password>"),
        "{output}"
    );
    let (code, stdout, _) = status(&fleet, &tb, &[]);
    assert_eq!(code, Some(2));
    for want in [
        "NOT as desired",
        "! looper",
        "restarting",
        "! stopper",
        "exited (137)",
        "! web",
        "unhealthy: no /tmp/healthy",
    ] {
        assert!(stdout.contains(want), "{want:?} in:\n{stdout}");
    }

    // A managed container no longer desired is named.
    fleet.write(
        "templates/config/testbed/compose.yml.j2",
        &COMPOSE.replace("  stopper:\n", "  stopped:\n"),
    );
    let (code, json) = status_json(&fleet, &tb, &[]);
    assert_eq!(code, Some(2));
    assert_eq!(
        json["hosts"][0]["not_desired"][0]["container"], "stopper",
        "{json}"
    );
}

#[test]
fn a_host_that_cannot_be_reached_is_named_and_fails_the_status() {
    let Some(tb) = Testbed::get() else { return };
    let test = "status-down";
    let more = format!(
        "    h4:\n      ansible_host: {}\n      nxinfra_base_dir: {}\n      \
         nxinfra_docker_socket: {}\n",
        tb.ip("h4"),
        tb.base_dir("h4", test).display(),
        tb.docker_socket("h4").display()
    );
    let compose = "services:\n  sleeper:\n    image: nxtb-busybox:1\n    command: [sleep, '3600']\n    \
                   network_mode: none\n";
    let fleet = engine::fleet_with_hosts(&tb, "h3", test, compose, "", &more);
    engine::clean_engine(&tb, "h3", &[]);
    let (code, json, stderr) = apply(&fleet, &tb, &["--limit", "h3"]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    let _down = Down::stop(&tb, "sshd", "h4");
    let (code, json) = status_json(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(
        common::host_statuses(&json),
        [
            ("h3".to_string(), "as_desired".to_string()),
            ("h4".to_string(), "failed".to_string())
        ]
    );
    let (code, stdout, stderr) = status(&fleet, &tb, &[]);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("h4") && stdout.contains("FAILED"),
        "{stdout}"
    );
    assert!(
        stderr.contains("status failed on 1 of 2 hosts: h4"),
        "{stderr}"
    );
}

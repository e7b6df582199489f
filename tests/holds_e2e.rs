//! Holds end to end on the testbed (real sshd and dockerd): a host held by `nxinfra_hold`
//! keeps its files and containers while the other host changes, and the output names the
//! hold; `plan` shows what the held host would otherwise change; a file held by
//! `nxinfra_hold_paths` keeps its hand-made edit while the rest of its host is deployed; an
//! expired hold no longer holds (a warning says so); `--ignore-holds` deploys what is held
//! and says so.

mod common;

use common::engine::{self, docker};
use common::{Fleet, Testbed, assert_schema, texts};

const COMPOSE: &str = r#"services:
  web:
    image: nxtb-busybox:1
    command: ["sleep", "3600"]
    network_mode: none
    stop_grace_period: 1s
    volumes:
      - {{ nxinfra_base_dir }}/conf:/conf:ro
"#;

const TEST: &str = "holds";

/// The inventory of h5 and h6, each with its own extra host variables (6-space indent).
fn inventory(tb: &Testbed, conf: &str, h5: &str, h6: &str) -> String {
    let mut out = String::from("testbed:\n  hosts:\n");
    for (host, extra) in [("h5", h5), ("h6", h6)] {
        out.push_str(&format!(
            "    {host}:\n      ansible_host: {}\n      nxinfra_base_dir: {}\n      \
             nxinfra_docker_socket: {}\n{extra}",
            tb.ip(host),
            tb.base_dir(host, TEST).display(),
            tb.docker_socket(host).display(),
        ));
    }
    out.push_str(&format!(
        "  vars:\n    ansible_user: nxtb\n    conf: {conf}\n"
    ));
    out
}

/// `nxinfra ARGS --ssh-config …` in the fleet: (exit code, stdout, stderr).
fn run(fleet: &Fleet, tb: &Testbed, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--ssh-config", tb.ssh_config.to_str().expect("utf-8 path")]);
    let out = fleet.nxinfra(&all);
    let (stdout, stderr) = texts(&out);
    (out.status.code(), stdout, stderr)
}

/// A placed file of `host`, as the host has it.
fn placed(tb: &Testbed, host: &str, rel: &str) -> String {
    std::fs::read_to_string(tb.base_dir(host, TEST).join(rel)).unwrap_or_default()
}

/// The id and start time of `host`'s web container: what changes when it is recreated or
/// restarted.
fn web(tb: &Testbed, host: &str) -> String {
    let (ok, out) = docker(
        tb,
        host,
        &["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", "web"],
    );
    assert!(ok, "{host}: web: {out}");
    out
}

fn host_json<'a>(json: &'a serde_json::Value, host: &str) -> &'a serde_json::Value {
    json["hosts"]
        .as_array()
        .and_then(|hosts| hosts.iter().find(|h| h["host"] == host))
        .unwrap_or_else(|| panic!("{host} in {json}"))
}

#[test]
fn held_hosts_and_files_stay_untouched_until_the_hold_expires_or_is_ignored() {
    let Some(tb) = Testbed::get() else { return };
    for host in ["h5", "h6"] {
        engine::clean_engine(&tb, host, &[]);
        let _ = std::fs::remove_dir_all(tb.base_dir(host, TEST));
    }
    let fleet = Fleet::new();
    std::fs::remove_dir_all(fleet.path("templates")).expect("remove templates");
    fleet.write("templates/config/testbed/compose.yml.j2", COMPOSE);
    fleet.write(
        "templates/config/testbed/conf/app.conf.j2",
        "conf {{ conf }}\n",
    );
    fleet.write(
        "templates/config/testbed/bird/filters.conf.j2",
        "filters {{ conf }}\n",
    );
    fleet.write("inventory/inventory.yml", &inventory(&tb, "1", "", ""));
    let (code, _, err) = run(&fleet, &tb, &["apply"]);
    assert_eq!(code, Some(0), "{err}");
    let (h5_web, h6_web) = (web(&tb, "h5"), web(&tb, "h6"));

    // h5 held whole, h6's bird/ held; the render changes everything.
    let h5_hold = "      nxinfra_hold:\n        reason: BIRD experiment (max)\n        \
                   until: \"2099-12-31\"\n";
    let h6_hold = "      nxinfra_hold_paths:\n        - path: bird/\n          \
                   reason: filters by hand\n";
    fleet.write(
        "inventory/inventory.yml",
        &inventory(&tb, "2", h5_hold, h6_hold),
    );
    // A hand-made experiment on h6's held file.
    std::fs::write(
        tb.base_dir("h6", TEST).join("bird/filters.conf"),
        "filters by hand\n",
    )
    .unwrap();
    let h5_before = engine::host_state(&tb, "h5", &tb.base_dir("h5", TEST));

    // plan: h5 is held (and what it would otherwise change is shown), h6 changes its conf
    // and says what its hold keeps.
    let (code, out, err) = run(&fleet, &tb, &["plan", "--json"]);
    assert_eq!(code, Some(2), "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("plan --json");
    assert_schema(&json, "plan.schema.json");
    let h5 = host_json(&json, "h5");
    assert_eq!(h5["status"], "held", "{json}");
    assert_eq!(h5["held"]["reason"], "BIRD experiment (max)");
    assert_eq!(h5["held"]["until"], "2099-12-31T23:59:59Z");
    assert_eq!(
        h5["files"]["upload"],
        serde_json::json!(["bird/filters.conf", "conf/app.conf"]),
        "what it would otherwise change: {json}"
    );
    let h6 = host_json(&json, "h6");
    assert_eq!(h6["status"], "changes", "{json}");
    assert_eq!(h6["files"]["upload"], serde_json::json!(["conf/app.conf"]));
    assert_eq!(
        h6["files"]["held"],
        serde_json::json!([{"path": "bird/filters.conf", "reason": "filters by hand",
                            "until": null, "would": "put back"}]),
        "{json}"
    );
    let (_, _, text) = run(&fleet, &tb, &["plan"]);
    assert!(
        text.contains("held: BIRD experiment (max) (until 2099-12-31T23:59:59Z); would otherwise:"),
        "{text}"
    );

    // apply: h5 is not touched at all, h6's conf changes and its web reads it, its held
    // file keeps the hand-made edit; the output names both holds.
    let (code, _, err) = run(&fleet, &tb, &["apply"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("h5           held: BIRD experiment (max) (until 2099-12-31T23:59:59Z)"),
        "{err}"
    );
    assert!(
        err.contains("held: bird/filters.conf (filters by hand): would otherwise put back"),
        "{err}"
    );
    assert_eq!(
        engine::host_state(&tb, "h5", &tb.base_dir("h5", TEST)),
        h5_before,
        "the held host is untouched"
    );
    assert_eq!(placed(&tb, "h5", "conf/app.conf"), "conf 1");
    assert_eq!(web(&tb, "h5"), h5_web);
    assert_eq!(placed(&tb, "h6", "conf/app.conf"), "conf 2");
    assert_ne!(web(&tb, "h6"), h6_web, "h6's web read its new conf");
    assert_eq!(placed(&tb, "h6", "bird/filters.conf"), "filters by hand\n");
    // status shows the holds, and a held file's edit is no drift.
    let (_, out, err) = run(&fleet, &tb, &["status", "--json"]);
    let json: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_schema(&json, "status.schema.json");
    assert_eq!(
        host_json(&json, "h5")["held"]["host"]["reason"],
        "BIRD experiment (max)"
    );
    let h6 = host_json(&json, "h6");
    assert_eq!(h6["held"]["paths"][0]["path"], "bird/", "{json}");
    assert_eq!(h6["changed_on_host"], serde_json::json!([]), "{json}");
    assert_eq!(h6["status"], "as_desired", "{json}");

    // The hold expired: a warning, and h5 is deployed.
    let expired = h5_hold.replace("2099-12-31", "2020-01-01");
    fleet.write(
        "inventory/inventory.yml",
        &inventory(&tb, "2", &expired, h6_hold),
    );
    let (code, _, err) = run(&fleet, &tb, &["apply"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(
            "warning: host h5: the hold \"BIRD experiment (max)\" expired at \
             2020-01-01T23:59:59Z: not held"
        ),
        "{err}"
    );
    assert_eq!(placed(&tb, "h5", "conf/app.conf"), "conf 2");
    assert_eq!(placed(&tb, "h5", "bird/filters.conf"), "filters 2");
    assert_ne!(web(&tb, "h5"), h5_web);

    // --ignore-holds: h6's held file is put back as rendered, and the run says so.
    let (code, _, err) = run(&fleet, &tb, &["sync", "--ignore-holds", "--limit", "h6"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("ignoring the hold of h6 bird/ (filters by hand): --ignore-holds"),
        "{err}"
    );
    assert_eq!(placed(&tb, "h6", "bird/filters.conf"), "filters 2");

    // A held host is not rolled back either.
    fleet.write("inventory/inventory.yml", &inventory(&tb, "2", h5_hold, ""));
    let before = engine::host_state(&tb, "h5", &tb.base_dir("h5", TEST));
    let (code, _, err) = run(&fleet, &tb, &["rollback", "--limit", "h5"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("held: BIRD experiment (max)"), "{err}");
    assert_eq!(
        engine::host_state(&tb, "h5", &tb.base_dir("h5", TEST)),
        before
    );
    for host in ["h5", "h6"] {
        engine::clean_engine(&tb, host, &[]);
    }
}

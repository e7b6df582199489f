//! `nxinfra plan` end to end on the testbed: what sync and apply would do, with the hosts —
//! their files, their lock, their engines — left byte for byte as they were; the JSON checked
//! against docs/plan.schema.json.

mod common;

use common::engine::{self, apply, host_state, steps};
use common::{Fleet, SECRET, Testbed, texts};

const COMPOSE: &str = r#"services:
  reader:
    image: nxtb-busybox:1
    command: ["sleep", "3600"]
    network_mode: none
    environment:
      TOKEN: "{{ db.password }}"
    volumes:
      - {{ nxinfra_base_dir }}/reader/conf:/conf:ro
    stop_grace_period: 1s
  other:
    image: nxtb-busybox:1
    command: ["sleep", "3600"]
    network_mode: none
    volumes:
      - {{ nxinfra_base_dir }}/other/conf:/conf:ro
    stop_grace_period: 1s
"#;

/// `nxinfra plan ARGS`: (exit code, stdout, stderr); fails the test if a secret shows.
fn plan(fleet: &Fleet, tb: &Testbed, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["plan", "--ssh-config", tb.ssh_config.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = fleet.nxinfra(&all);
    let (stdout, stderr) = texts(&out);
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "a secret was printed:\n{stdout}\n{stderr}"
    );
    (out.status.code(), stdout, stderr)
}

/// `plan --json`, checked against the documented schema.
fn plan_json(fleet: &Fleet, tb: &Testbed, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = plan(fleet, tb, &all);
    let json: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    common::assert_schema(&json, "plan.schema.json");
    (code, json)
}

#[test]
fn plan_shows_what_would_change_and_touches_nothing() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h1", "plan");
    engine::clean_engine(&tb, host, &[]);
    let fleet = engine::fleet(&tb, host, test, COMPOSE, "");
    let conf = "templates/config/testbed/reader/conf/app.conf";
    fleet.write(conf, "v=1\n");
    fleet.write("templates/config/testbed/other/conf/app.conf", "v=1\n");
    let base = tb.base_dir(host, test);

    // A host never synced: the plan says everything is new, and makes nothing there.
    let (code, json) = plan_json(&fleet, &tb, &[]);
    assert_eq!(code, Some(2), "{json}");
    assert_eq!(json["changes"], true);
    assert_eq!(
        steps(&json),
        ["other=create new service", "reader=create new service"]
    );
    assert!(!base.exists(), "plan made the base dir");

    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    let (code, json) = plan_json(&fleet, &tb, &[]);
    assert_eq!(
        (code, &json["changes"]),
        (Some(0), &serde_json::json!(false)),
        "{json}"
    );
    assert_eq!(json["hosts"][0]["status"], "unchanged");

    // A template change: exactly that file, and exactly the container that mounts it.
    fleet.write(conf, "v=2\n");
    let before = host_state(&tb, host, &base);
    let (code, json) = plan_json(&fleet, &tb, &["--diff"]);
    assert_eq!(code, Some(2), "{json}");
    let h = &json["hosts"][0];
    assert_eq!(h["status"], "changes");
    assert_eq!(
        h["files"]["upload"],
        serde_json::json!(["reader/conf/app.conf"])
    );
    assert_eq!(
        h["files"]["added"],
        serde_json::json!([]),
        "changed, not new"
    );
    assert_eq!(h["files"]["remove"], serde_json::json!([]));
    assert_eq!(
        steps(&json),
        [
            "other=unchanged",
            "reader=recreate mount content changed: reader/conf"
        ]
    );
    assert_eq!(h["api_calls"]["writes"], 0);
    let diff = h["diff"].as_str().unwrap();
    assert!(diff.contains("-v=1\n+v=2\n"), "{diff}");
    // The text form says the same.
    let (code, stdout, stderr) = plan(&fleet, &tb, &["--diff"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.contains("+v=2"), "{stdout}");
    assert!(
        stderr.contains("recreate reader: mount content changed: reader/conf")
            && !stderr.contains("other:"),
        "{stderr}"
    );
    // The host is byte for byte as it was: files, manifest, lock, containers, networks.
    assert_eq!(host_state(&tb, host, &base), before);

    // A host that cannot be reached (connection refused) fails alone (exit 1), in the same
    // schema.
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace(
            "  vars:\n",
            "    gone:\n      ansible_host: 10.200.0.1\n      ansible_port: 2\n      \
             nxinfra_base_dir: /nowhere\n  vars:\n",
        ),
    );
    let (code, json) = plan_json(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(json["failed"], 1);
    let gone = json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "gone")
        .unwrap();
    assert_eq!(gone["status"], "failed", "{json}");
    assert!(
        gone["error"].as_str().unwrap().contains("10.200.0.1"),
        "{gone}"
    );
    engine::clean_engine(&tb, host, &[]);
}

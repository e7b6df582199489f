//! The deploy journal end to end on the testbed (real sshd and dockerd): two deploys of two
//! image versions are recorded with their ids and the commit; `rollback` brings version 1
//! back and pins it, `plan` and `status` show the pin and the next `apply` keeps it; `unpin`
//! then `apply` returns to version 2; a rollback to an image that is gone fails and changes
//! nothing; `prune` removes only what no container and no recent deploy needs; a floating tag
//! pushed again is not followed while a pin holds.

mod common;

use common::engine::{self, docker, host_state, id};
use common::{Fleet, Testbed, assert_schema, texts};

const COMPOSE: &str = r#"services:
  web:
    image: nxtb-web:{{ tag }}
    command: ["sleep", "3600"]
    network_mode: none
    stop_grace_period: 1s
  side:
    image: nxtb-busybox:1
    command: ["sleep", "3600"]
    network_mode: none
    stop_grace_period: 1s
"#;

/// `nxinfra ARGS --ssh-config …` in the fleet: (exit code, stdout, stderr).
fn run(fleet: &Fleet, tb: &Testbed, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--ssh-config", tb.ssh_config.to_str().expect("utf-8 path")]);
    let out = fleet.nxinfra(&all);
    let (stdout, stderr) = texts(&out);
    assert!(
        !stdout.contains(common::SECRET) && !stderr.contains(common::SECRET),
        "a secret was printed:\n{stdout}\n{stderr}"
    );
    (out.status.code(), stdout, stderr)
}

/// `nxinfra ARGS --json`, its document checked against `schema`: (exit code, JSON).
fn run_json(
    fleet: &Fleet,
    tb: &Testbed,
    args: &[&str],
    schema: Option<&str>,
) -> (Option<i32>, serde_json::Value) {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, stdout, stderr) = run(fleet, tb, &all);
    let json: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {stdout}\n{stderr}"));
    if let Some(schema) = schema {
        assert_schema(&json, schema);
    }
    (code, json)
}

/// Imports the testbed's busybox rootfs on `host` as `tag`, with `VERSION=version` in its
/// environment (each version another image id). Returns the image id.
fn import(tb: &Testbed, host: &str, tag: &str, version: &str) -> String {
    let rootfs = tb.state.join("image/rootfs.tar");
    let env = format!("ENV VERSION={version}");
    let (ok, out) = docker(
        tb,
        host,
        &[
            "import",
            "-c",
            "ENV PATH=/bin",
            "-c",
            &env,
            "-c",
            "CMD [\"sh\"]",
            rootfs.to_str().expect("utf-8 path"),
            tag,
        ],
    );
    assert!(ok, "docker import {tag}: {out}");
    image_id(tb, host, tag)
}

fn image_id(tb: &Testbed, host: &str, reference: &str) -> String {
    let (ok, out) = docker(tb, host, &["image", "inspect", "-f", "{{.Id}}", reference]);
    assert!(ok, "{reference}: {out}");
    out.trim().to_string()
}

/// What the container `name` says its version is.
fn version(tb: &Testbed, host: &str, name: &str) -> String {
    let (ok, out) = docker(tb, host, &["exec", name, "sh", "-c", "echo $VERSION"]);
    assert!(ok, "exec {name}: {out}");
    out.trim().to_string()
}

fn set_tag(fleet: &Fleet, from: &str, to: &str) {
    let text = fleet.read("inventory/inventory.yml");
    let changed = text.replace(&format!("    tag: {from}\n"), &format!("    tag: {to}\n"));
    assert_ne!(text, changed, "the inventory sets tag: {from}");
    fleet.write("inventory/inventory.yml", &changed);
}

fn commit(fleet: &Fleet, message: &str) -> String {
    common::git(fleet.root(), &["add", "-A"]);
    common::git(fleet.root(), &["commit", "-q", "-m", message]);
    common::git(fleet.root(), &["rev-parse", "HEAD"])
        .trim()
        .to_string()
}

fn s(v: &serde_json::Value) -> &str {
    v.as_str().unwrap_or_default()
}

#[test]
fn deploys_are_journaled_rolled_back_pinned_unpinned_and_pruned() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h3", "journal");
    engine::clean_engine(&tb, host, &[]);
    for tag in ["nxtb-web:1", "nxtb-web:2", "nxtb-web:3"] {
        docker(&tb, host, &["rmi", "-f", tag]);
    }
    let v1 = import(&tb, host, "nxtb-web:1", "1");
    let v2 = import(&tb, host, "nxtb-web:2", "2");
    assert_ne!(v1, v2);
    let fleet = engine::fleet(&tb, host, test, COMPOSE, "    tag: 1\n");
    std::fs::write(fleet.path(".gitignore"), "rendered/\n.nxinfra-render*\n").unwrap();
    common::git(fleet.root(), &["init", "-q"]);
    common::git(fleet.root(), &["config", "user.email", "t@example.net"]);
    common::git(fleet.root(), &["config", "user.name", "t"]);
    let first = commit(&fleet, "version 1");

    // Deploy 1 (web at version 1), deploy 2 (version 2).
    let (code, _, err) = run(&fleet, &tb, &["apply"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("recorded as deploy 1"), "{err}");
    set_tag(&fleet, "1", "2");
    let second = commit(&fleet, "version 2");
    let (code, json) = run_json(&fleet, &tb, &["apply"], Some("plan.schema.json#apply"));
    assert_eq!(code, Some(0), "{json}");
    let record = &json["hosts"][0]["journal"];
    assert_eq!(record["n"], 2, "{json}");
    assert_eq!(version(&tb, host, "web"), "2");

    // history: newest first, with the ids and the commits.
    let (code, json) = run_json(&fleet, &tb, &["history"], Some("history.schema.json"));
    assert_eq!(code, Some(0), "{json}");
    let deploys = json["hosts"][0]["deploys"].as_array().expect("deploys");
    assert_eq!(deploys.len(), 2, "{json}");
    assert_eq!(
        (deploys[0]["n"].clone(), deploys[1]["n"].clone()),
        (2.into(), 1.into())
    );
    assert_eq!(s(&deploys[0]["commit"]), second);
    assert_eq!(s(&deploys[1]["commit"]), first);
    assert_eq!(deploys[0]["dirty"], false);
    let web = |d: &serde_json::Value| {
        d["services"]
            .as_array()
            .expect("services")
            .iter()
            .find(|s| s["service"] == "web")
            .cloned()
            .expect("web")
    };
    assert_eq!(s(&web(&deploys[0])["image_id"]), v2);
    assert_eq!(s(&web(&deploys[0])["action"]), "recreate");
    assert_eq!(s(&web(&deploys[1])["image_id"]), v1);
    assert_eq!(s(&web(&deploys[1])["image"]), "nxtb-web:1");
    let journal = tb.base_dir(host, test).join(".nxinfra/history");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&journal).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the journal is private");
    let (_, text, _) = run(&fleet, &tb, &["history", "web"]);
    assert!(
        text.contains("#2") && text.contains("recreate web"),
        "{text}"
    );

    // A dry run says what it would do and changes nothing.
    let base = tb.base_dir(host, test);
    let before = host_state(&tb, host, &base);
    let (code, _, err) = run(&fleet, &tb, &["rollback", "--limit", host, "--dry-run"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("recreate web"), "{err}");
    assert_eq!(
        host_state(&tb, host, &base),
        before,
        "a dry run changes nothing"
    );

    // The rollback: web runs version 1 again, pinned.
    let (code, json) = run_json(
        &fleet,
        &tb,
        &["rollback", "--limit", host],
        Some("plan.schema.json#apply"),
    );
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(version(&tb, host, "web"), "1");
    assert_eq!(engine::inspect(&tb, host, "web")["Image"], v1.as_str());
    let h = &json["hosts"][0];
    assert_eq!(h["journal"]["kind"], "rollback");
    assert_eq!(h["journal"]["to"], 1);
    assert_eq!(s(&h["pins"]["web"]["image_id"]), v1);
    let side = id(&tb, host, "side");

    // plan and status show the pin; the next apply keeps it.
    let (code, json) = run_json(&fleet, &tb, &["plan"], Some("plan.schema.json"));
    assert_eq!(code, Some(0), "pinned, nothing to do: {json}");
    let step = json["hosts"][0]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "web")
        .cloned()
        .unwrap();
    assert_eq!(step["action"], "unchanged");
    assert!(
        s(&step["pin"]["text"]).starts_with("pinned by rollback to deploy 1 at "),
        "{step}"
    );
    assert_eq!(step["pin"]["unpinned"]["action"], "recreate", "{step}");
    let (_, _, err) = run(&fleet, &tb, &["plan"]);
    assert!(err.contains(&format!("image kept at {v1}")), "{err}");
    assert!(err.contains("unpinned, it would recreate"), "{err}");
    let (code, json) = run_json(&fleet, &tb, &["status"], Some("status.schema.json"));
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(s(&json["hosts"][0]["pins"]["web"]["image_id"]), v1);
    assert_eq!(json["hosts"][0]["last_deploy"]["n"], 3);
    let (_, out, _) = run(&fleet, &tb, &["status"]);
    assert!(out.contains("web: pinned by rollback to deploy 1"), "{out}");
    let (code, json) = run_json(&fleet, &tb, &["apply"], Some("plan.schema.json#apply"));
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["hosts"][0]["status"], "unchanged", "{json}");
    assert_eq!(version(&tb, host, "web"), "1");
    assert_eq!(id(&tb, host, "side"), side);

    // unpin, then apply: back to version 2.
    let (code, _, err) = run(&fleet, &tb, &["unpin", "--limit", host, "web"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("web: unpinned"), "{err}");
    assert_eq!(
        version(&tb, host, "web"),
        "1",
        "unpin alone changes no container"
    );
    let (code, json) = run_json(&fleet, &tb, &["plan"], Some("plan.schema.json"));
    assert_eq!(code, Some(2), "{json}");
    let (code, _, err) = run(&fleet, &tb, &["unpin", "--limit", host, "web"]);
    assert_eq!(code, Some(1), "not pinned any more: {err}");
    assert!(err.contains("web not pinned on this host"), "{err}");
    let (code, json) = run_json(&fleet, &tb, &["apply"], Some("plan.schema.json#apply"));
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(version(&tb, host, "web"), "2");
    assert_eq!(json["hosts"][0]["journal"]["n"], 4);

    // prune, keeping the last deploy only: version 1 (deploys 1 and 3) and an image of
    // web's repository no deploy names go; version 2 (web runs it) and the base image stay.
    let v3 = import(&tb, host, "nxtb-web:3", "3");
    let text = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &text.replace("    tag: 2\n", "    tag: 2\n    nxinfra_keep_deploys: 1\n"),
    );
    let (code, json) = run_json(&fleet, &tb, &["prune", "--dry-run"], None);
    assert_eq!(code, Some(2), "{json}");
    let removed: Vec<&str> = json["hosts"][0]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(&r["id"]))
        .collect();
    let mut want = vec![v1.as_str(), v3.as_str()];
    want.sort();
    assert_eq!(removed, want, "{json}");
    assert!(
        docker(&tb, host, &["image", "inspect", &v1]).0,
        "a dry run removes nothing"
    );
    let (code, _, err) = run(&fleet, &tb, &["prune"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !docker(&tb, host, &["image", "inspect", &v1]).0,
        "v1 pruned"
    );
    assert!(
        !docker(&tb, host, &["image", "inspect", &v3]).0,
        "v3 pruned"
    );
    assert!(
        docker(&tb, host, &["image", "inspect", &v2]).0,
        "v2 is used"
    );
    assert!(
        docker(&tb, host, &["image", "inspect", "nxtb-busybox:1"]).0,
        "not web's"
    );

    // A rollback to deploy 1, whose image is gone: refused, nothing changed.
    let before = host_state(&tb, host, &base);
    let (code, _, err) = run(&fleet, &tb, &["rollback", "--limit", host, "--to", "1"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is no longer on the host"), "{err}");
    assert!(err.contains(&v1), "{err}");
    assert_eq!(host_state(&tb, host, &base), before, "nothing changed");
    engine::clean_engine(&tb, host, &[]);
}

const FLOATING: &str = r#"services:
  floating:
    image: 10.200.0.1:5000/nxtb/journal:main
    pull_policy: always
    command: ["sleep", "3600"]
    network_mode: none
    stop_grace_period: 1s
"#;

#[test]
fn a_pin_holds_when_the_floating_tag_moves() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h4", "journal-tag");
    engine::clean_engine(&tb, host, &[]);
    docker(
        &tb,
        host,
        &["rmi", "-f", "10.200.0.1:5000/nxtb/journal:main"],
    );
    let registry = common::registry::Registry::start();
    let rootfs = tb.state.join("image/rootfs.tar");
    let publish = |v: &str| {
        registry.publish(
            "nxtb/journal",
            "main",
            &rootfs,
            &["PATH=/bin", &format!("VERSION={v}")],
        )
    };
    let main1 = publish("1");
    let fleet = engine::fleet(&tb, host, test, FLOATING, "");
    let (code, _, err) = run(&fleet, &tb, &["apply"]);
    assert_eq!(code, Some(0), "{err}");
    let main2 = publish("2");
    let (code, _, err) = run(&fleet, &tb, &["apply"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(version(&tb, host, "floating"), "2");

    // Rolled back to main1, which the tag no longer names: pinned by its id.
    let (code, _, err) = run(&fleet, &tb, &["rollback", "--limit", host]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(version(&tb, host, "floating"), "1");
    assert_eq!(
        engine::inspect(&tb, host, "floating")["Image"],
        main1.as_str()
    );

    // :main pushed again: the pinned service neither pulls nor follows it.
    let _main3 = publish("3");
    let pulls = registry.manifest_requests("nxtb/journal");
    let (code, json) = run_json(&fleet, &tb, &["apply"], Some("plan.schema.json#apply"));
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["hosts"][0]["status"], "unchanged", "{json}");
    assert_eq!(
        json["hosts"][0]["images"],
        serde_json::json!([]),
        "no pull: {json}"
    );
    assert_eq!(registry.manifest_requests("nxtb/journal"), pulls);
    assert_eq!(version(&tb, host, "floating"), "1");
    assert_ne!(main2, main1);
    engine::clean_engine(&tb, host, &[]);
}

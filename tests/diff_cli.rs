//! `nxinfra diff --base REV`: a fixture fleet in a git repository, changed in its working tree
//! (a template, a host added and one removed, a secret, a compose service), compared offline
//! with and without an identity. No value of any secret may appear, old or new.

mod common;

use common::{Fleet, SECRET, texts};

const NEW_SECRET: &str = "correct-horse-New-Value";

const COMPOSE: &str = "services:
  app:
    image: busybox:1
    network_mode: none
    environment:
      MODE: \"{{ mode }}\"
      PASSWORD: \"{{ db.password }}\"
";

fn git(fleet: &Fleet, args: &[&str]) -> String {
    common::git(fleet.root(), args)
}

/// The fixture committed as the base, with the key index its secrets writes would keep.
fn committed_fleet() -> Fleet {
    let fleet = Fleet::new();
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace("    asn: 215011\n", "    asn: 215011\n    mode: one\n"),
    );
    fleet.write("templates/config/core/core1/compose.yml.j2", COMPOSE);
    write_keys(&fleet, common::SECRETS);
    fleet.write(".gitignore", "rendered/\ntest-identity.key\nhome/\n");
    git(&fleet, &["init", "-q"]);
    git(&fleet, &["add", "-A"]);
    git(&fleet, &["commit", "-q", "-m", "base"]);
    fleet
}

fn write_keys(fleet: &Fleet, yaml: &str) {
    let secrets =
        nxinfra::secrets::Secrets::from_yaml(std::path::Path::new("s.yml"), yaml.as_bytes())
            .unwrap();
    nxinfra::secrets::store::write_keys(fleet.root(), &secrets).unwrap();
}

/// The working-tree changes: every kind the diff must show.
fn change(fleet: &Fleet) {
    // A template change (ixp hosts' bird.conf), a compose change (env) and a new service.
    let bird = fleet.read("templates/config/ixp/bird/bird.conf.j2");
    fleet.write(
        "templates/config/ixp/bird/bird.conf.j2",
        &format!("{bird}# filtered\n"),
    );
    fleet.write(
        "templates/config/core/core1/compose.yml.j2",
        &format!(
            "{}  cache:\n    image: busybox:1\n    network_mode: none\n",
            COMPOSE.replace("{{ mode }}", "{{ mode }}-2")
        ),
    );
    // A template new to the working tree.
    fleet.write("templates/config/ixp/extra.conf", "extra\n");
    // A host added (ixp3), one removed (ixp2).
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace(
            "    ixp2:\n      tailnet: 100.64.0.2\n",
            "    ixp3:\n      tailnet: 100.64.0.3\n",
        ),
    );
    // A secret's value.
    let secrets = common::SECRETS.replace(SECRET, NEW_SECRET);
    fleet.set_secrets(&secrets);
    write_keys(fleet, &secrets);
}

fn diff(fleet: &Fleet, identity: bool, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["diff"];
    all.extend_from_slice(args);
    let mut cmd = fleet.command(&all);
    if !identity {
        cmd.env_remove("NXINFRA_AGE_KEY_FILE");
    }
    let out = cmd.output().expect("run nxinfra");
    let (stdout, stderr) = texts(&out);
    for value in [SECRET, NEW_SECRET] {
        assert!(
            !stdout.contains(value) && !stderr.contains(value),
            "a secret value was printed:\n{stdout}\n{stderr}"
        );
    }
    (out.status.code(), stdout, stderr)
}

#[test]
fn diff_without_an_identity_shows_every_change_and_no_value() {
    let fleet = committed_fleet();
    change(&fleet);
    let status = git(&fleet, &["status", "--porcelain"]);
    let (code, stdout, stderr) = diff(&fleet, false, &["--base", "HEAD"]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    // The template change, on the hosts that have it.
    assert!(
        stdout.contains("## ixp1 (changed): 1 added, 0 removed, 1 changed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("--- /dev/null\n+++ ixp1:extra.conf\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+++ ixp1:bird/bird.conf\n") && stdout.contains("+# filtered"),
        "{stdout}"
    );
    // A host added, a host removed: all of their files.
    assert!(stdout.contains("## ixp3 (added): 4 added"), "{stdout}");
    assert!(
        stdout.contains("## ixp2 (removed): 0 added, 3 removed"),
        "{stdout}"
    );
    // compose.yml: per service, and the diff with placeholders.
    assert!(
        stdout.contains("service app: changed: environment"),
        "{stdout}"
    );
    assert!(stdout.contains("service cache: added"), "{stdout}");
    assert!(
        stdout.contains("PASSWORD: \"<secret:db.password>\""),
        "{stdout}"
    );
    // The secret: which file changed, not which value.
    assert!(
        stdout.contains("secrets: secrets/secrets.yml.age changed; which values is not known"),
        "{stdout}"
    );
    assert_eq!(
        git(&fleet, &["status", "--porcelain"]),
        status,
        "the work tree and index are untouched"
    );
}

#[test]
fn diff_with_an_identity_names_the_secrets_whose_values_changed() {
    let fleet = committed_fleet();
    change(&fleet);
    let (code, stdout, stderr) = diff(&fleet, true, &["--base", "HEAD", "--json"]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    common::assert_schema(&json, "diff.schema.json");
    assert_eq!(json["secrets"]["values_known"], true);
    assert_eq!(
        json["secrets"]["changed"],
        serde_json::json!(["db.password"])
    );
    let hosts: Vec<&str> = json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["core1", "ixp1", "ixp2", "ixp3"]);
    // core1's app.conf reads the secret: it differs only by a value, so its placeholder
    // render does not. Its peers.conf lists the ixp hosts (ixp2 gone, ixp3 new), its compose.yml
    // changed.
    assert_eq!(
        json["hosts"][0]["changed"],
        serde_json::json!(["app/peers.conf", "compose.yml"]),
        "{json}"
    );
    // Committed: nothing differs from HEAD, and HEAD~1 shows the same changes as before.
    git(&fleet, &["add", "-A"]);
    git(&fleet, &["commit", "-q", "-m", "head"]);
    let (code, stdout, _) = diff(&fleet, true, &["--base", "HEAD"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("no host's rendered files differ"),
        "{stdout}"
    );
    assert!(stdout.contains("secrets: no change"), "{stdout}");
    let (code, again, _) = diff(&fleet, true, &["--base", "HEAD~1", "--json"]);
    assert_eq!(code, Some(2));
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    common::assert_schema(&again, "diff.schema.json");
    assert_eq!(again["hosts"], json["hosts"]);
    assert_eq!(again["secrets"], json["secrets"]);
}

#[test]
fn a_revision_that_does_not_exist_is_a_clear_error() {
    let fleet = committed_fleet();
    let (code, _, stderr) = diff(&fleet, false, &["--base", "no-such-branch"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("error: no-such-branch is not a revision of this repository"),
        "{stderr}"
    );
    // Outside a git repository.
    let plain = Fleet::new();
    let (code, _, stderr) = diff(&plain, true, &["--base", "HEAD"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("is not in a git repository"), "{stderr}");
}

#[test]
fn a_base_whose_secrets_the_identity_cannot_open_is_compared_by_key_paths() {
    let fleet = committed_fleet();
    // The working tree's secrets re-encrypted to a new identity only, one key added.
    let (identity, public) = nxinfra::secrets::age_file::generate_identity();
    fleet.write("test-identity.key", &identity);
    fleet.write("secrets/recipients.txt", &format!("# new\n{public}\n"));
    let secrets = format!("{}extra: another-Secret-Value\n", common::SECRETS);
    fleet.set_secrets(&secrets);
    write_keys(&fleet, &secrets);
    let (code, stdout, stderr) = diff(&fleet, true, &["--base", "HEAD", "--json"]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(!stdout.contains("another-Secret-Value"), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    common::assert_schema(&json, "diff.schema.json");
    let s = &json["secrets"];
    assert_eq!(s["values_known"], false, "{s}");
    assert_eq!(s["added"], serde_json::json!(["extra"]), "{s}");
    assert!(s["changed"].is_null(), "no value is compared: {s}");
    assert!(
        s["why"][0]
            .as_str()
            .unwrap()
            .contains("the values at HEAD are not known"),
        "{s}"
    );
}

#[test]
fn a_base_that_does_not_render_is_reported_per_host_and_the_rest_compared() {
    let fleet = committed_fleet();
    // At the base, the ixp hosts' bird.conf uses a variable nobody defines; the working tree
    // fixes it and changes core1's compose.yml.
    let path = "templates/config/ixp/bird/bird.conf.j2";
    let bird = fleet.read(path);
    fleet.write(path, &format!("{bird}{{{{ no_such_variable }}}}\n"));
    git(&fleet, &["commit", "-qam", "broken bird.conf"]);
    fleet.write(path, &bird);
    let compose = "templates/config/core/core1/compose.yml.j2";
    fleet.write(compose, &COMPOSE.replace("{{ mode }}", "{{ mode }}-2"));

    let (code, stdout, stderr) = diff(&fleet, false, &["--base", "HEAD", "--json"]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    common::assert_schema(&json, "diff.schema.json");
    assert!(json["base"]["error"].is_null(), "{json}");
    let hosts = json["hosts"].as_array().unwrap();
    let status: Vec<(&str, &str)> = hosts
        .iter()
        .map(|h| (h["host"].as_str().unwrap(), h["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        status,
        [
            ("core1", "changed"),
            ("ixp1", "unrenderable"),
            ("ixp2", "unrenderable")
        ]
    );
    assert_eq!(hosts[0]["changed"], serde_json::json!(["compose.yml"]));
    let error = hosts[1]["base_error"].as_str().unwrap();
    assert!(
        error.contains("HEAD:templates/config/ixp/bird/bird.conf.j2")
            && error.contains("no_such_variable")
            && !error.contains("/tmp"),
        "the error names REV's file, not the temporary checkout: {error}"
    );
    let (code, text, _) = diff(&fleet, false, &["--base", "HEAD"]);
    assert_eq!(code, Some(2));
    assert!(text.contains("## ixp1 (unrenderable at HEAD):\n"), "{text}");
    assert!(text.contains("service app: changed: environment"), "{text}");
}

#[test]
fn a_base_whose_inventory_does_not_load_makes_every_host_unrenderable() {
    let fleet = committed_fleet();
    let good = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &format!("{good}  - not: [closed\n"),
    );
    git(&fleet, &["commit", "-qam", "broken inventory"]);
    fleet.write("inventory/inventory.yml", &good);

    let (code, stdout, stderr) = diff(&fleet, false, &["--base", "HEAD", "--json"]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    common::assert_schema(&json, "diff.schema.json");
    let error = json["base"]["error"].as_str().unwrap();
    let line = error
        .strip_prefix("HEAD:inventory/inventory.yml:")
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse::<usize>().ok());
    assert!(
        line.is_some(),
        "the error names REV's file and line: {error}"
    );
    let unrenderable: Vec<&str> = json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["status"] == "unrenderable")
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(unrenderable, ["core1", "ixp1", "ixp2"]);
    let (_, text, _) = diff(&fleet, false, &["--base", "HEAD"]);
    assert!(
        text.contains("HEAD does not render, so no host can be compared with it:\n"),
        "{text}"
    );
    // The working tree broken instead: an error, as before (exit 1).
    fleet.write(
        "inventory/inventory.yml",
        &format!("{good}  - not: [closed\n"),
    );
    let (code, _, stderr) = diff(&fleet, false, &["--base", "HEAD~1"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("inventory/inventory.yml"), "{stderr}");
}

#[test]
fn a_clusters_stack_changes_are_summarised_per_service() {
    let fleet = committed_fleet();
    // The ixp group becomes a cluster whose nodes render one stack.yml; committed as the base.
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory
            .replace(
                "    role: ixp\n",
                "    role: ixp\n    nxinfra_cluster: swarm\n    replicas: 2\n",
            )
            .replace(
                "      tailnet: 100.64.0.1\n",
                "      tailnet: 100.64.0.1\n      ansible_host: 10.0.0.1\n",
            )
            .replace(
                "      tailnet: 100.64.0.2\n",
                "      tailnet: 100.64.0.2\n      ansible_host: 10.0.0.2\n",
            ),
    );
    let stack = "services:\n  web:\n    image: busybox:1\n    deploy: {replicas: {{ replicas }}}\n";
    fleet.write("templates/config/ixp/stack.yml.j2", stack);
    git(&fleet, &["add", "-A"]);
    git(&fleet, &["commit", "-q", "-m", "cluster"]);
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace("    replicas: 2\n", "    replicas: 3\n"),
    );
    fleet.write(
        "templates/config/ixp/stack.yml.j2",
        &format!("{stack}  api:\n    image: busybox:1\n"),
    );

    let (code, stdout, stderr) = diff(&fleet, true, &["--base", "HEAD", "--json"]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    common::assert_schema(&json, "diff.schema.json");
    let hosts = json["hosts"].as_array().unwrap();
    let ixp1 = hosts
        .iter()
        .find(|h| h["host"] == "ixp1")
        .expect("ixp1 changed");
    assert_eq!(
        ixp1["stack_services"],
        serde_json::json!([
            {"service": "api", "change": "added", "fields": []},
            {"service": "web", "change": "changed", "fields": ["deploy.mode"]}
        ]),
        "{ixp1}"
    );
    let (_, text, _) = diff(&fleet, true, &["--base", "HEAD"]);
    assert!(
        text.contains("cluster service web: changed: deploy.mode"),
        "{text}"
    );
    assert!(text.contains("cluster service api: added"), "{text}");
}

//! Ansible's inventory conventions, differential: each layout below (several inventory files,
//! INI, host ranges and ports, Python-literal values, `group_vars/` and `host_vars/` files and
//! folders beside the inventory and at the root, an inventory script, a vault-encrypted vars
//! file) is read by ansible-core's own `ansible-inventory --list` (pinned in
//! tests/jinja2-requirements.txt, venv by tests/jinja2-venv.sh) and by the release binary's
//! `nxinfra inventory show`/`list`; every host's variables and groups must be the same. Then
//! what nxinfra refuses where Ansible would choose without a word, and inventory scripts that
//! fail, print bad JSON or hang.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Fleet, SECRET, texts};
use serde_json::Value;

/// A layout's files: (path from the root, text).
type Files<'a> = &'a [(&'a str, &'a str)];

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn venv_bin(tool: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("NXINFRA_JINJA2_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(REPO).join("target/jinja2-venv"));
    let bin = venv.join("bin").join(tool);
    if bin.is_file() {
        return Some(bin);
    }
    let message = format!(
        "ansible-core is not installed in {}: run tests/jinja2-venv.sh install (make test does)",
        venv.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

/// An Ansible command run offline, its configuration isolated from the machine's.
fn ansible(tool: &Path, fleet: &Fleet, args: &[&str]) -> Output {
    let home = fleet.path("ansible-home");
    Command::new(tool)
        .current_dir(fleet.root())
        .env("ANSIBLE_HOME", &home)
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        .env("ANSIBLE_CONFIG", home.join("none.cfg"))
        .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_DEPRECATION_WARNINGS", "false")
        .env("ANSIBLE_LOCALHOST_WARNING", "false")
        .args(args)
        .output()
        .expect("run ansible")
}

/// A fleet whose inventory is `files` (paths from the root; `+x` at the end of a path makes it
/// executable), no templates.
fn layout(files: &[(&str, &str)]) -> Fleet {
    let fleet = Fleet::new();
    std::fs::remove_dir_all(fleet.path("inventory")).expect("rm inventory");
    std::fs::remove_dir_all(fleet.path("templates")).expect("rm templates");
    std::fs::create_dir_all(fleet.path("templates/config")).expect("mkdir");
    for (path, text) in files {
        let (path, exec) = match path.strip_suffix(" +x") {
            Some(p) => (p, true),
            None => (*path, false),
        };
        fleet.write(path, text);
        if exec {
            std::fs::set_permissions(fleet.path(path), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
    }
    fleet
}

/// Ansible's view: host → (variables, groups other than all and ungrouped).
fn ansible_view(list: &Value) -> BTreeMap<String, (Value, BTreeSet<String>)> {
    fn walk(
        list: &Value,
        group: &str,
        parents: &[String],
        out: &mut BTreeMap<String, BTreeSet<String>>,
    ) {
        let mut chain = parents.to_vec();
        if group != "all" && group != "ungrouped" {
            chain.push(group.to_string());
        }
        let body = &list[group];
        for host in body["hosts"].as_array().into_iter().flatten() {
            let entry = out.entry(host.as_str().unwrap().to_string()).or_default();
            entry.extend(chain.iter().cloned());
        }
        for child in body["children"].as_array().into_iter().flatten() {
            walk(list, child.as_str().unwrap(), &chain, out);
        }
    }
    let mut groups = BTreeMap::new();
    walk(list, "all", &[], &mut groups);
    let hostvars = &list["_meta"]["hostvars"];
    groups
        .into_iter()
        .map(|(host, groups)| {
            let vars = hostvars
                .get(&host)
                .cloned()
                .unwrap_or(Value::Object(Default::default()));
            (host, (vars, groups))
        })
        .collect()
}

/// nxinfra's view of the same, from `inventory list --json` and `inventory show --json`.
fn nxinfra_view(fleet: &Fleet, extra: &[&str]) -> BTreeMap<String, (Value, BTreeSet<String>)> {
    let mut args = vec!["inventory", "list", "--json"];
    args.extend(extra);
    let out = fleet.nxinfra(&args);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "inventory list: {stderr}");
    let list: Value = serde_json::from_str(&stdout).expect("list json");
    let mut view = BTreeMap::new();
    for row in list["hosts"].as_array().expect("hosts") {
        let host = row["host"].as_str().expect("host").to_string();
        let groups = row["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|g| *g != "ungrouped")
            .map(String::from)
            .collect();
        let mut args = vec!["inventory", "show", host.as_str(), "--json"];
        args.extend(extra);
        let out = fleet.nxinfra(&args);
        let (stdout, stderr) = texts(&out);
        assert!(out.status.success(), "inventory show {host}: {stderr}");
        let mut vars: serde_json::Map<String, Value> =
            serde_json::from_str(&stdout).expect("show json");
        for added in ["secrets", "inventory_hostname", "group_names", "db"] {
            vars.remove(added);
        }
        view.insert(host, (Value::Object(vars), groups));
    }
    view
}

/// Both read `fleet`'s inventory alike; returns the hosts' variables.
fn same_as_ansible(fleet: &Fleet, extra: &[&str]) -> Option<BTreeMap<String, Value>> {
    let tool = venv_bin("ansible-inventory")?;
    let playbook_dir = fleet.root().display().to_string();
    let mut args = vec!["-i", "inventory", "--list", "--playbook-dir", &playbook_dir];
    args.extend(extra);
    let out = ansible(&tool, fleet, &args);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "ansible-inventory: {stderr}");
    let theirs = ansible_view(&serde_json::from_str(&stdout).expect("ansible json"));
    let ours = nxinfra_view(fleet, extra);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "hosts"
    );
    for (host, (vars, groups)) in &theirs {
        let (our_vars, our_groups) = &ours[host];
        assert_eq!(our_groups, groups, "groups of {host}");
        for (key, value) in vars.as_object().expect("vars") {
            let ours = &our_vars[key];
            if ours.as_str().is_some_and(|s| s.starts_with("<secret:")) {
                continue; // a vault value: compared through a render below
            }
            assert_eq!(ours, value, "{host}: {key}");
        }
        let theirs_keys: BTreeSet<&String> = vars.as_object().expect("vars").keys().collect();
        let ours_keys: BTreeSet<&String> = our_vars.as_object().expect("vars").keys().collect();
        assert_eq!(ours_keys, theirs_keys, "variables of {host}");
    }
    Some(theirs.into_iter().map(|(h, (v, _))| (h, v)).collect())
}

#[test]
fn ini_inventory_reads_as_ansible_reads_it() {
    let fleet = layout(&[(
        "inventory/hosts",
        "\
# before any section: ungrouped
lone ansible_host=192.0.2.9

[web]
web[01:03].example ansible_user=deploy
api:2222 weight=10 ratio=0.5 big=1e3 hex=0x1f neg=-4 under=1_000
quoted a='two words' b=\"say \\\"hi\\\"\" c=True d=None e=yes f=0755 g=\"[1,'x',{'k':2}]\" h=(1,2) i=[1,'x']

[db]
pg[a:b] ; a comment is not one here
pg-c

[web:vars]
proxy = http://proxy.example:3128
port=8080
flag=False
list=[1, 2]
pair=1,2
octal=0o17
negzero=-0
single='quoted'
text=hello world # not a comment

[prod:children]
web
db

[prod:vars]
env=prod
",
    )]);
    let out = fleet.nxinfra(&["inventory", "list"]);
    let (_, stderr) = texts(&out);
    // `pg[a:b] ; a comment` is `pg[a:b]` with two words that are not key=value: an error in
    // both (Ansible: "Expected key=value host variable assignment").
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("inventory/hosts:10") && stderr.contains("expected key=value"),
        "{stderr}"
    );
    fleet.write(
        "inventory/hosts",
        &fleet
            .read("inventory/hosts")
            .replace(" ; a comment is not one here", ""),
    );
    let Some(vars) = same_as_ansible(&fleet, &[]) else {
        return;
    };
    // The comparison covered the literal forms.
    assert_eq!(vars["quoted"]["g"], serde_json::json!([1, "x", {"k": 2}]));
    // shlex takes the quotes of an unquoted word: Python never sees them.
    assert_eq!(vars["quoted"]["i"], "[1,x]");
    assert_eq!(vars["api"]["ansible_port"], 2222);
    assert_eq!(vars["web02.example"]["text"], "hello world # not a comment");
}

#[test]
fn several_files_and_vars_folders_read_as_ansible_reads_them() {
    let fleet = layout(&[
        (
            "inventory/01-core.yml",
            "core:\n  hosts:\n    core1:\n      ansible_host: core1.example\nall:\n  vars:\n    dns: 192.0.2.53\n",
        ),
        (
            "inventory/02-edge",
            "[ixp]\nixp1 tailnet=100.64.0.1\nixp2\n[edge:children]\nixp\n[edge:vars]\nmtu=1500\n",
        ),
        ("inventory/README.md", "# not an inventory\n"),
        ("inventory/old.yml~", "garbage: [\n"),
        ("inventory/group_vars/all.yml", "ntp: pool.ntp.org\n"),
        ("inventory/group_vars/ixp/10-bird.yml", "bird_as: 215011\n"),
        ("inventory/group_vars/ixp/20-peers.yaml", "peers: [a, b]\n"),
        ("inventory/group_vars/ixp/notes.txt", "ignored: 1\n"),
        ("inventory/host_vars/ixp1.yml", "router_id: 1.1.1.1\n"),
        ("group_vars/core.yml", "role: core\n"),
        ("host_vars/ixp2/main.yml", "router_id: 2.2.2.2\n"),
        (
            "inventory/03-probes.sh +x",
            "#!/bin/sh\ncat <<'EOF'\n{\"probes\": {\"hosts\": [\"vlt1\"], \"vars\": {\"probe\": true}},\n \
             \"_meta\": {\"hostvars\": {\"vlt1\": {\"ansible_host\": \"198.51.100.7\", \"site\": {\"city\": \"atl\"}}}}}\nEOF\n",
        ),
    ]);
    let Some(vars) = same_as_ansible(&fleet, &[]) else {
        return;
    };
    assert_eq!(vars["ixp1"]["bird_as"], 215011);
    assert_eq!(vars["ixp2"]["router_id"], "2.2.2.2");
    assert_eq!(vars["core1"]["role"], "core");
    assert_eq!(vars["vlt1"]["site"]["city"], "atl");
    // Errors name the file and line where the variable is written.
    fleet.write(
        "inventory/group_vars/ixp/10-bird.yml",
        "bird_as: 215011\nnxinfra_basedir: /x\n",
    );
    let out = fleet.nxinfra(&["inventory", "list"]);
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("inventory/group_vars/ixp/10-bird.yml:2")
            && stderr.contains("did you mean nxinfra_base_dir"),
        "{stderr}"
    );
}

#[test]
fn yaml_host_ranges_ports_and_json_vars_read_as_ansible_reads_them() {
    let fleet = layout(&[
        (
            "inventory/main.yml",
            "all:\n  hosts:\n    lone.example:\n  children:\n    web:\n      hosts:\n        \
             w[1:2]:2201:\n          x: 1\n      vars:\n        y: [1, {a: b}]\n",
        ),
        ("inventory/group_vars/web.json", "{\"z\": 3}\n"),
        ("inventory/host_vars/lone.example.yml", "h: dotted\n"),
    ]);
    let Some(vars) = same_as_ansible(&fleet, &[]) else {
        return;
    };
    assert_eq!(vars["w2"]["ansible_port"], 2201);
    assert_eq!(vars["lone.example"]["h"], "dotted");
}

#[test]
fn a_vault_encrypted_group_vars_file_is_read_and_kept_secret() {
    let Some(vault) = venv_bin("ansible-vault") else {
        return;
    };
    let fleet = layout(&[
        (
            "inventory/hosts.yml",
            "ixp:\n  hosts:\n    ixp1:\n    ixp2:\n",
        ),
        ("inventory/group_vars/all/main.yml", "db_user: app\n"),
        (
            "inventory/group_vars/all/vault.yml",
            &format!("vault_db_password: {SECRET}\nvault_api:\n  token: tok-{SECRET}\n"),
        ),
        (
            "templates/config/ixp/db.conf.j2",
            "user={{ db_user }}\npassword={{ vault_db_password }}\n",
        ),
        (
            "templates/config/ixp/peer.conf.j2",
            "peer={{ hostvars['ixp2'].vault_api.token | b64encode }}\n",
        ),
        ("templates/config/ixp/plain.conf.j2", "user={{ db_user }}\n"),
        ("vault-pass", "correct horse\n"),
    ]);
    let out = ansible(
        &vault,
        &fleet,
        &[
            "encrypt",
            "--vault-password-file",
            "vault-pass",
            "inventory/group_vars/all/vault.yml",
        ],
    );
    assert!(out.status.success(), "{}", texts(&out).1);
    assert!(
        fleet
            .read("inventory/group_vars/all/vault.yml")
            .starts_with("$ANSIBLE_VAULT;1.1;AES256")
    );

    // Without the password: an error naming the file and the flag, nothing rendered.
    let out = fleet.nxinfra(&["render"]);
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("inventory/group_vars/all/vault.yml")
            && stderr.contains("--vault-password-file"),
        "{stderr}"
    );
    assert!(!fleet.path("rendered").exists());
    // A wrong one: the same file named, the password never.
    fleet.write("wrong-pass", "battery staple\n");
    let out = fleet.nxinfra(&["render", "--vault-password-file", "wrong-pass"]);
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("vault.yml") && stderr.contains("wrong vault password"),
        "{stderr}"
    );

    // With it: the same variables as Ansible's, rendered; files that read them are 0600.
    let pass = ["--vault-password-file", "vault-pass"];
    same_as_ansible(&fleet, &pass);
    let out = fleet.nxinfra(&["render", "--vault-password-file", "vault-pass"]);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    assert_eq!(
        fleet.read("rendered/ixp1/db.conf"),
        format!("user=app\npassword={SECRET}")
    );
    let mode = |p: &str| {
        std::fs::metadata(fleet.path(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("rendered/ixp1/db.conf"), 0o600);
    assert_eq!(
        mode("rendered/ixp1/peer.conf"),
        0o600,
        "read through hostvars, encoded"
    );
    assert_eq!(mode("rendered/ixp1/plain.conf"), 0o644);
    // Shown as secrets, never as values.
    let out = fleet.nxinfra(&[
        "inventory",
        "show",
        "ixp1",
        "--vault-password-file",
        "vault-pass",
    ]);
    let (stdout, _) = texts(&out);
    assert!(out.status.success());
    assert!(!stdout.contains(SECRET), "{stdout}");
    assert!(
        stdout.contains("<secret:inventory/group_vars/all/vault.yml:vault_db_password>"),
        "{stdout}"
    );
    // An error quoting a vault value redacts it.
    fleet.write(
        "templates/config/ixp/bad.conf.j2",
        "{% include vault_db_password %}\n",
    );
    let out = fleet.nxinfra(&["render", "--vault-password-file", "vault-pass"]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "{stderr}"
    );
}

#[test]
fn where_ansible_would_choose_without_a_word_nxinfra_refuses() {
    // (files, where the error points, what it says)
    let cases: &[(Files, &str, &str)] = &[
        // group_vars/all outranks a child group's inventory variable in Ansible.
        (
            &[
                (
                    "inventory/hosts.yml",
                    "ixp:\n  hosts:\n    r1:\n  vars:\n    mtu: 9000\n",
                ),
                ("inventory/group_vars/all.yml", "mtu: 1500\n"),
            ],
            "inventory/group_vars/all.yml:1",
            "Ansible's precedence",
        ),
        // One group given two values in two places.
        (
            &[
                (
                    "inventory/hosts.yml",
                    "ixp:\n  hosts:\n    r1:\n  vars:\n    mtu: 9000\n",
                ),
                ("inventory/group_vars/ixp.yml", "mtu: 1500\n"),
            ],
            "inventory/group_vars/ixp.yml:1",
            "inventory/hosts.yml:5",
        ),
        // A host's variable in the inventory and in host_vars.
        (
            &[
                ("inventory/hosts", "[ixp]\nr1 asn=1\n"),
                ("host_vars/r1.yml", "asn: 2\n"),
            ],
            "host_vars/r1.yml:1",
            "inventory/hosts:2",
        ),
        // A vars file for a group the inventory does not have (a typo).
        (
            &[
                ("inventory/hosts", "[ixp]\nr1\n"),
                ("inventory/group_vars/ixps.yml", "mtu: 1\n"),
            ],
            "inventory/group_vars/ixps.yml",
            "did you mean ixp?",
        ),
        // NAME.yml beside NAME/: Ansible reads only the folder.
        (
            &[
                ("inventory/hosts", "[ixp]\nr1\n"),
                ("inventory/group_vars/ixp.yml", "a: 1\n"),
                ("inventory/group_vars/ixp/main.yml", "b: 1\n"),
            ],
            "inventory/group_vars/ixp.yml",
            "merge them",
        ),
        // Two files of one inventory folder giving a host's variable two values.
        (
            &[
                ("inventory/a.yml", "ixp:\n  hosts:\n    r1:\n      asn: 1\n"),
                ("inventory/b", "[ixp]\nr1 asn=2\n"),
            ],
            "inventory/b:2",
            "inventory/a.yml:4",
        ),
        // A script that is not executable.
        (
            &[(
                "inventory/hosts.py",
                "#!/usr/bin/env python3\nprint('{}')\n",
            )],
            "inventory/hosts.py",
            "chmod +x",
        ),
    ];
    for (files, at, what) in cases {
        let fleet = layout(files);
        let out = fleet.nxinfra(&["inventory", "list"]);
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(1), "{files:?}: {stderr}");
        assert!(
            stderr.contains(&format!("error: {at}")) && stderr.contains(what),
            "{files:?}: {stderr}"
        );
    }
}

#[test]
fn inventory_scripts_that_fail_print_bad_json_or_hang_are_errors() {
    let script = |body: &str| {
        layout(&[
            ("inventory/hosts", "[ixp]\nr1\n"),
            ("inventory/tf.sh +x", &format!("#!/bin/sh\n{body}\n")),
        ])
    };
    let fleet = script("echo 'terraform: state locked' >&2; exit 3");
    let out = fleet.nxinfra(&["render"]);
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("inventory/tf.sh")
            && stderr.contains("exit status: 3")
            && stderr.contains("terraform: state locked"),
        "{stderr}"
    );
    assert!(!fleet.path("rendered").exists());

    let fleet = script(&format!(
        "echo '{{\"ixp\": [\"r2\"] \"password\": \"{SECRET}\"}}'"
    ));
    let out = fleet.nxinfra(&["render"]);
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("inventory/tf.sh") && stderr.contains("line 1"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET), "{stderr}");

    // Too slow: killed after --inventory-timeout, with what it started (the sleep holding
    // its output open).
    let fleet = script("sleep 60 & sleep 60; echo '{}'");
    let started = std::time::Instant::now();
    let out = fleet.nxinfra(&["render", "--inventory-timeout", "1"]);
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("inventory/tf.sh") && stderr.contains("did not finish within 1s"),
        "{stderr}"
    );
    // Not a timing assertion: a script left running would hold the test for 60 s.
    assert!(started.elapsed() < std::time::Duration::from_secs(50));

    // A good one: its hosts and facts reach the templates.
    let fleet = script(
        "echo '{\"probes\": {\"hosts\": [\"vlt1\"]}, \"_meta\": {\"hostvars\": {\"vlt1\": {\"ip\": \"198.51.100.7\"}}}}'",
    );
    fleet.write("templates/config/probes/ip.txt.j2", "{{ ip }}\n");
    let out = fleet.nxinfra(&["render"]);
    assert!(out.status.success(), "{}", texts(&out).1);
    assert_eq!(fleet.read("rendered/vlt1/ip.txt"), "198.51.100.7");
}

//! `nxinfra wg`: the WireGuard keys a fleet needs are made once, never replaced, never
//! printed; the public keys it prints are the ones `wg pubkey` (wireguard-tools) derives, and
//! the fleet renders with them.

mod common;

use std::collections::BTreeMap;

use common::{Fleet, SECRET, texts};

const HUB: &str = "[Interface]
PrivateKey = {{ secrets.wireguard.core1.wg0 }}
{% for h in groups.ixp %}
[Peer]
# {{ h }}
PublicKey = {{ secrets.wireguard[h].wg0 | wg_pubkey }}
{% endfor %}
{% for p in nxinfra_wireguard_peers.wg0 %}
[Peer]
# {{ p }}
PublicKey = {{ secrets.wireguard[p].wg0 | wg_pubkey }}
{% endfor %}
";

const SPOKE: &str = "[Interface]
PrivateKey = {{ secrets.wireguard[inventory_hostname].wg0 }}
[Peer]
PublicKey = {{ secrets.wireguard.core1.wg0 | wg_pubkey }}
";

/// The test fleet with a WireGuard hub (core1, with a laptop as a peer that is no host) and
/// its ixp spokes, and no key yet.
fn wg_fleet() -> Fleet {
    let fleet = Fleet::new();
    fleet.write("templates/config/core/core1/wireguard/wg0.conf.j2", HUB);
    fleet.write("templates/config/ixp/wireguard/wg0.conf.j2", SPOKE);
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace(
            "      ansible_host: core1.example.net\n",
            "      ansible_host: core1.example.net\n      nxinfra_wireguard_peers:\n        wg0: [laptop]\n",
        ),
    );
    fleet
}

/// Runs `nxinfra ARGS`; no private key (and no other secret) may be in its output.
fn run(fleet: &Fleet, args: &[&str]) -> (Option<i32>, String, String) {
    let out = fleet.nxinfra(args);
    let (stdout, stderr) = texts(&out);
    let mut values: Vec<String> = wg_keys(fleet).into_values().collect();
    values.push(SECRET.to_string());
    for value in values {
        assert!(
            !stdout.contains(&value) && !stderr.contains(&value),
            "a secret value was printed:\n{stdout}\n{stderr}"
        );
    }
    (out.status.code(), stdout, stderr)
}

/// The fleet's decrypted secrets, if its identity opens them.
fn secrets(fleet: &Fleet) -> Option<nxinfra::secrets::Secrets> {
    let keys = nxinfra::secrets::store::Keys {
        identity: Some(fleet.identity.clone()),
        vault_password_file: None,
    };
    nxinfra::secrets::store::load(fleet.root(), &keys).ok()
}

/// The fleet's decrypted secrets, `wireguard.*` leaves only.
fn wg_keys(fleet: &Fleet) -> BTreeMap<String, String> {
    let Some(secrets) = secrets(fleet) else {
        return BTreeMap::new();
    };
    secrets
        .leaves()
        .into_iter()
        .filter(|(p, _)| p.starts_with("wireguard."))
        .collect()
}

/// `wg pubkey` of `private`, by the real tool.
fn wg_pubkey(private: &str) -> String {
    let out = common::run_with_stdin(
        {
            let mut c = std::process::Command::new("wg");
            c.arg("pubkey");
            c
        },
        format!("{private}\n").as_bytes(),
    );
    assert!(out.status.success(), "wg pubkey: {}", texts(&out).1);
    texts(&out).0.trim().to_string()
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn keys_of(list: &serde_json::Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect()
}

#[test]
fn wg_makes_the_missing_keys_once_and_never_replaces_one() {
    if !common::require_tool("wg", "wireguard-tools") {
        return;
    }
    let fleet = wg_fleet();
    let (code, _, stderr) = run(&fleet, &["render"]);
    assert_eq!(code, Some(1), "no key yet: the render fails: {stderr}");
    assert!(
        stderr.contains("a WireGuard key missing? `nxinfra wg` makes the keys"),
        "{stderr}"
    );

    // What is missing, nothing written.
    let before = std::fs::read(fleet.path("secrets/secrets.yml.age")).unwrap();
    let (code, stdout, stderr) = run(&fleet, &["wg", "--dry-run"]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("missing   wireguard.laptop.wg0  (core1: nxinfra_wireguard_peers.wg0)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("missing   wireguard.ixp1.wg0    (ixp1: wireguard/wg0.conf)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("4 WireGuard keys needed: 0 present, 4 missing"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(fleet.path("secrets/secrets.yml.age")).unwrap(),
        before
    );

    // Made: the public keys printed are wg's, the other secrets are kept.
    let (code, stdout, stderr) = run(&fleet, &["wg", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let made = json(&stdout);
    assert_eq!(made["written"], true);
    assert_eq!(
        keys_of(&made["missing"]),
        [
            "wireguard.core1.wg0",
            "wireguard.ixp1.wg0",
            "wireguard.ixp2.wg0",
            "wireguard.laptop.wg0"
        ]
    );
    let keys = wg_keys(&fleet);
    assert_eq!(keys.len(), 4);
    for entry in made["missing"].as_array().unwrap() {
        let private = &keys[entry["key"].as_str().unwrap()];
        assert_eq!(entry["public_key"].as_str().unwrap(), wg_pubkey(private));
    }
    assert_eq!(secrets(&fleet).unwrap().doc["db"]["password"], SECRET);
    assert!(
        fleet
            .read("secrets.keys.yml")
            .contains("wireguard:\n  core1:\n    wg0: <secret:wireguard.core1.wg0>"),
        "the key index knows the new paths: {}",
        fleet.read("secrets.keys.yml")
    );

    // The fleet renders with them: the hub has each spoke's public key, the spokes their own
    // private key, privately.
    let (code, _, stderr) = run(&fleet, &["render"]);
    assert_eq!(code, Some(0), "{stderr}");
    let hub = fleet.read("rendered/core1/wireguard/wg0.conf");
    for peer in ["ixp1", "ixp2", "laptop"] {
        let public = wg_pubkey(&keys[&format!("wireguard.{peer}.wg0")]);
        assert!(
            hub.contains(&format!("# {peer}\nPublicKey = {public}\n")),
            "{hub}"
        );
    }
    let spoke = fleet.path("rendered/ixp1/wireguard/wg0.conf");
    assert!(
        std::fs::read_to_string(&spoke)
            .unwrap()
            .contains(&keys["wireguard.ixp1.wg0"])
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&spoke).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Again: nothing missing, nothing written.
    let written = std::fs::read(fleet.path("secrets/secrets.yml.age")).unwrap();
    let (code, stdout, _) = run(&fleet, &["wg"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("4 WireGuard keys needed: 4 present, 0 new"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(fleet.path("secrets/secrets.yml.age")).unwrap(),
        written
    );

    // A new spoke: its key only; every other key is the one it was.
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace(
            "    ixp2:\n      tailnet: 100.64.0.2\n",
            "    ixp2:\n      tailnet: 100.64.0.2\n    ixp3:\n      tailnet: 100.64.0.3\n",
        ),
    );
    let (code, stdout, stderr) = run(&fleet, &["wg", "--limit", "ixp3", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(keys_of(&json(&stdout)["missing"]), ["wireguard.ixp3.wg0"]);
    let now = wg_keys(&fleet);
    assert_eq!(now.len(), 5);
    for (path, value) in &keys {
        assert_eq!(&now[path], value, "{path} was replaced");
    }

    // A spoke gone: its key is reported unused, and kept.
    fleet.write(
        "inventory/inventory.yml",
        &fleet
            .read("inventory/inventory.yml")
            .replace("    ixp3:\n      tailnet: 100.64.0.3\n", ""),
    );
    let (code, stdout, _) = run(&fleet, &["wg", "--dry-run"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("unused    wireguard.ixp3.wg0    no host needs it; kept"),
        "{stdout}"
    );
    assert_eq!(wg_keys(&fleet).len(), 5);
}

#[test]
fn a_broken_key_a_bad_peers_variable_or_a_wrong_identity_fail_and_write_nothing() {
    let fleet = wg_fleet();
    fleet.set_secrets(&format!(
        "{}wireguard:\n  ixp1:\n    wg0: not-a-key-Secret\n",
        common::SECRETS
    ));
    let before = std::fs::read(fleet.path("secrets/secrets.yml.age")).unwrap();
    let (code, _, stderr) = run(&fleet, &["wg"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("wireguard.ixp1.wg0 is not a WireGuard private key"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-a-key-Secret"), "{stderr}");
    assert_eq!(
        std::fs::read(fleet.path("secrets/secrets.yml.age")).unwrap(),
        before
    );

    // The peers variable, wrong: the host and the variable are named.
    fleet.set_secrets(common::SECRETS);
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace("wg0: [laptop]", "wg0: laptop"),
    );
    let (code, _, stderr) = run(&fleet, &["wg"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("host core1: nxinfra_wireguard_peers: wg0: expected a list"),
        "{stderr}"
    );
    fleet.write("inventory/inventory.yml", &inventory);

    // Another identity cannot decrypt: an error, nothing written.
    let (other, _) = nxinfra::secrets::age_file::generate_identity();
    fleet.write("other.key", &other);
    let before = std::fs::read(fleet.path("secrets/secrets.yml.age")).unwrap();
    let out = fleet
        .command(&["wg"])
        .env("NXINFRA_AGE_KEY_FILE", fleet.path("other.key"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read(fleet.path("secrets/secrets.yml.age")).unwrap(),
        before
    );
    assert!(wg_keys(&fleet).is_empty());
}

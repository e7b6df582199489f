//! WireGuard keys in the secrets (`nxinfra wg`): which private keys the fleet needs, which of
//! them the secrets lack, and new keys for those. Existing keys are never replaced; public keys
//! are derived (the `wg_pubkey` filter), never stored.
//!
//! A key is needed, at `wireguard.<peer>.<iface>`:
//! - for every host that gets a file `wireguard/<iface>.conf` (its own interface);
//! - for every peer a host names in `nxinfra_wireguard_peers` (peers that are not hosts of the
//!   inventory: laptops, a monitoring box; the host's templates render their configs), parsed
//!   with the host's spec: [`crate::model::wireguard`].
//!
//! Everything here is pure except [`generate`], which reads the system's random source.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;

pub use crate::model::wireguard::PEERS_VAR;
use crate::model::wireguard::valid_interface;

/// The top-level key of the secrets that holds the WireGuard private keys.
pub const SECRETS_KEY: &str = "wireguard";
/// The folder of a host's rendered tree whose `<iface>.conf` files are its interfaces.
pub const CONFIG_DIR: &str = "wireguard";

/// Where one private key lives in the secrets: `wireguard.<peer>.<iface>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct KeyPath {
    pub peer: String,
    pub iface: String,
}

impl KeyPath {
    pub fn new(peer: &str, iface: &str) -> Self {
        KeyPath {
            peer: peer.to_string(),
            iface: iface.to_string(),
        }
    }

    /// The dotted path, as `nxinfra secrets set` and the diff name it.
    pub fn dotted(&self) -> String {
        format!("{SECRETS_KEY}.{}.{}", self.peer, self.iface)
    }
}

/// The interface a rendered file configures: `wireguard/wg0.conf` → `wg0`.
pub fn interface_of(path: &str) -> Option<&str> {
    let name = path.strip_prefix(CONFIG_DIR)?.strip_prefix('/')?;
    let iface = name.strip_suffix(".conf")?;
    (!iface.contains('/')).then_some(iface)
}

/// The keys the fleet needs, each with what needs it (`coreams01: wireguard/wg1.conf`).
/// `files`: each host's rendered paths; `peers`: each host's `nxinfra_wireguard_peers`.
pub fn needed(
    files: &BTreeMap<String, Vec<String>>,
    peers: &BTreeMap<String, Vec<(String, String)>>,
) -> Result<BTreeMap<KeyPath, Vec<String>>, KeysError> {
    let mut out: BTreeMap<KeyPath, Vec<String>> = BTreeMap::new();
    for (host, paths) in files {
        for path in paths {
            let Some(iface) = interface_of(path) else {
                continue;
            };
            if !valid_interface(iface) {
                return Err(KeysError::Interface {
                    host: host.clone(),
                    path: path.clone(),
                    iface: iface.to_string(),
                });
            }
            out.entry(KeyPath::new(host, iface))
                .or_default()
                .push(format!("{host}: {path}"));
        }
    }
    for (host, pairs) in peers {
        for (iface, peer) in pairs {
            out.entry(KeyPath::new(peer, iface))
                .or_default()
                .push(format!("{host}: {PEERS_VAR}.{iface}"));
        }
    }
    Ok(out)
}

/// What `nxinfra wg` finds: keys present (with their public keys), missing, and in the
/// secrets but needed by nobody.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct KeysPlan {
    pub present: Vec<(KeyPath, String)>,
    pub missing: Vec<KeyPath>,
    pub unused: Vec<KeyPath>,
}

/// Compares the needed keys with the secrets' `wireguard` mapping. A key that is there but is
/// not a WireGuard private key is an error (it is never replaced: it may be a live key pasted
/// wrongly), as is a `wireguard` that is not a mapping of mappings.
pub fn plan(
    needed: &BTreeMap<KeyPath, Vec<String>>,
    doc: &indexmap::IndexMap<String, Value>,
) -> Result<KeysPlan, KeysError> {
    let existing = existing(doc)?;
    let mut out = KeysPlan::default();
    for key in needed.keys() {
        match existing.get(key) {
            Some(Value::String(private)) => match public_key(private) {
                Some(public) => out.present.push((key.clone(), public)),
                None => return Err(KeysError::NotAKey(key.clone())),
            },
            Some(_) => return Err(KeysError::NotAString(key.clone())),
            None => out.missing.push(key.clone()),
        }
    }
    out.unused = existing
        .keys()
        .filter(|k| !needed.contains_key(*k))
        .cloned()
        .collect();
    Ok(out)
}

/// Why the needed keys, or the secrets' keys, are wrong.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeysError {
    /// A rendered `wireguard/<iface>.conf` whose name is not an interface's.
    #[error(
        "host {host}: {path}: {iface:?} is not an interface name (1 to 15 of a-z A-Z 0-9 _ = + \
         . -)"
    )]
    Interface {
        host: String,
        path: String,
        iface: String,
    },
    #[error(
        "{} is not a WireGuard private key (base64 of 32 bytes); fix it with `nxinfra secrets \
         edit`, or remove it to have a new one made",
        .0.dotted()
    )]
    NotAKey(KeyPath),
    #[error("{} is not a WireGuard private key (not a string)", .0.dotted())]
    NotAString(KeyPath),
    #[error("{SECRETS_KEY} is not a mapping of peers")]
    NotPeers,
    #[error("{SECRETS_KEY}.{0} is not a mapping of interfaces")]
    NotInterfaces(String),
}

/// The secrets' `wireguard.<peer>.<iface>` entries.
fn existing(
    doc: &indexmap::IndexMap<String, Value>,
) -> Result<BTreeMap<KeyPath, &Value>, KeysError> {
    let mut out = BTreeMap::new();
    let peers = match doc.get(SECRETS_KEY) {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Object(peers)) => peers,
        Some(_) => return Err(KeysError::NotPeers),
    };
    for (peer, ifaces) in peers {
        let Value::Object(ifaces) = ifaces else {
            return Err(KeysError::NotInterfaces(peer.clone()));
        };
        for (iface, value) in ifaces {
            out.insert(KeyPath::new(peer, iface), value);
        }
    }
    Ok(out)
}

/// Adds `private` at `key` (whose place [`plan`] found free), keeping every other entry and
/// the document's order.
pub fn insert(doc: &mut indexmap::IndexMap<String, Value>, key: &KeyPath, private: String) {
    let peers = doc
        .entry(SECRETS_KEY.to_string())
        .or_insert_with(|| Value::Object(Default::default()));
    if peers.is_null() {
        *peers = Value::Object(Default::default());
    }
    if let Value::Object(peers) = peers {
        let ifaces = peers
            .entry(key.peer.clone())
            .or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(ifaces) = ifaces {
            ifaces.insert(key.iface.clone(), Value::String(private));
        }
    }
}

/// A new private key, as `wg genkey` makes it: 32 random bytes, clamped, base64.
pub fn generate() -> String {
    let secret = x25519_dalek::StaticSecret::random();
    STANDARD.encode(clamp(secret.to_bytes()))
}

/// Curve25519 clamping (what `wg genkey` applies; x25519 applies it anyway at use).
fn clamp(mut key: [u8; 32]) -> [u8; 32] {
    key[0] &= 248;
    key[31] &= 127;
    key[31] |= 64;
    key
}

/// The base64 public key of a base64 private key; `None` if it is not one.
pub fn public_key(private: &str) -> Option<String> {
    let bytes = STANDARD.decode(private.trim().as_bytes()).ok()?;
    let key: [u8; 32] = bytes.try_into().ok()?;
    let secret = x25519_dalek::StaticSecret::from(key);
    Some(STANDARD.encode(x25519_dalek::PublicKey::from(&secret).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> indexmap::IndexMap<String, Value> {
        match v {
            Value::Object(m) => m.into_iter().collect(),
            _ => unreachable!(),
        }
    }

    fn files(list: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        list.iter()
            .map(|(h, p)| (h.to_string(), p.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn interfaces_come_from_the_wireguard_folder_only() {
        assert_eq!(interface_of("wireguard/wg0.conf"), Some("wg0"));
        assert_eq!(interface_of("wireguard/peers/a.conf"), None);
        assert_eq!(interface_of("wireguard/wg0.conf.bak"), None);
        assert_eq!(interface_of("bird/wireguard/wg0.conf"), None);
        assert_eq!(interface_of("wireguardx/wg0.conf"), None);
    }

    #[test]
    fn needed_keys_are_each_hosts_interfaces_and_its_declared_peers() {
        let f = files(&[
            (
                "core",
                &["wireguard/wg1.conf", "wireguard/wg2.conf", "bird/bird.conf"],
            ),
            ("ixp1", &["wireguard/wg0.conf"]),
        ]);
        let peers = BTreeMap::from([(
            "core".to_string(),
            crate::model::wireguard::parse_peers(Some(&json!({"test": ["mon", "client01"]})))
                .unwrap(),
        )]);
        let n = needed(&f, &peers).unwrap();
        let keys: Vec<String> = n.keys().map(KeyPath::dotted).collect();
        assert_eq!(
            keys,
            [
                "wireguard.client01.test",
                "wireguard.core.wg1",
                "wireguard.core.wg2",
                "wireguard.ixp1.wg0",
                "wireguard.mon.test"
            ]
        );
        assert_eq!(
            n[&KeyPath::new("mon", "test")],
            ["core: nxinfra_wireguard_peers.test"]
        );
        assert_eq!(
            n[&KeyPath::new("ixp1", "wg0")],
            ["ixp1: wireguard/wg0.conf"]
        );
        let bad = files(&[("h", &["wireguard/much-too-long-name.conf"])]);
        assert_eq!(
            needed(&bad, &BTreeMap::new()).unwrap_err().to_string(),
            "host h: wireguard/much-too-long-name.conf: \"much-too-long-name\" is not an \
             interface name (1 to 15 of a-z A-Z 0-9 _ = + . -)"
        );
    }

    #[test]
    fn plan_keeps_present_keys_finds_missing_and_unused_and_refuses_broken_ones() {
        let present = generate();
        let f = files(&[
            ("a", &["wireguard/wg0.conf"]),
            ("b", &["wireguard/wg0.conf"]),
        ]);
        let n = needed(&f, &BTreeMap::new()).unwrap();
        let d = doc(json!({
            "db": {"password": "x"},
            "wireguard": {"a": {"wg0": present}, "gone": {"wg0": generate()}}
        }));
        let p = plan(&n, &d).unwrap();
        assert_eq!(
            p.present,
            [(KeyPath::new("a", "wg0"), public_key(&present).unwrap())]
        );
        assert_eq!(p.missing, [KeyPath::new("b", "wg0")]);
        assert_eq!(p.unused, [KeyPath::new("gone", "wg0")]);

        let broken = doc(json!({"wireguard": {"a": {"wg0": "not-a-key"}}}));
        let e = plan(&n, &broken).unwrap_err().to_string();
        assert!(
            e.starts_with("wireguard.a.wg0 is not a WireGuard private key"),
            "{e}"
        );
        assert_eq!(
            e,
            "wireguard.a.wg0 is not a WireGuard private key (base64 of 32 bytes); fix it with \
             `nxinfra secrets edit`, or remove it to have a new one made"
        );
        assert!(!e.contains("not-a-key"), "the value is never quoted: {e}");
        let wrong_shape = doc(json!({"wireguard": "x"}));
        assert_eq!(
            plan(&n, &wrong_shape).unwrap_err().to_string(),
            "wireguard is not a mapping of peers"
        );
        let wrong_peer = doc(json!({"wireguard": {"a": "x"}}));
        assert_eq!(
            plan(&n, &wrong_peer).unwrap_err().to_string(),
            "wireguard.a is not a mapping of interfaces"
        );
        let not_a_string = doc(json!({"wireguard": {"a": {"wg0": 1}}}));
        assert_eq!(
            plan(&n, &not_a_string).unwrap_err().to_string(),
            "wireguard.a.wg0 is not a WireGuard private key (not a string)"
        );
    }

    #[test]
    fn insert_adds_beside_what_is_there_in_order() {
        let mut d = doc(json!({"db": {"password": "x"}, "wireguard": {"a": {"wg0": "k"}}}));
        insert(&mut d, &KeyPath::new("a", "wg1"), "k1".into());
        insert(&mut d, &KeyPath::new("b", "wg0"), "k2".into());
        assert_eq!(
            Value::Object(d.into_iter().collect()),
            json!({"db": {"password": "x"}, "wireguard": {"a": {"wg0": "k", "wg1": "k1"}, "b": {"wg0": "k2"}}})
        );
        let mut empty = doc(json!({"wireguard": null}));
        insert(&mut empty, &KeyPath::new("a", "wg0"), "k".into());
        assert_eq!(empty["wireguard"], json!({"a": {"wg0": "k"}}));
    }

    #[test]
    fn generated_keys_are_clamped_distinct_and_have_a_public_key() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        let bytes = STANDARD.decode(&a).unwrap();
        assert_eq!(bytes.len(), 32);
        assert_eq!((bytes[0] & 7, bytes[31] & 128, bytes[31] & 64), (0, 0, 64));
        assert!(public_key(&a).is_some());
        // RFC 7748 §6.1's test vector (Alice's key pair).
        let alice = STANDARD.encode(
            hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap(),
        );
        assert_eq!(
            public_key(&alice).map(|k| hex::encode(STANDARD.decode(k).unwrap())),
            Some("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a".into())
        );
        assert_eq!(public_key("c2hvcnQ="), None);
    }
}

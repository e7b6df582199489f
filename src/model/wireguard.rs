//! `nxinfra_wireguard_peers`: the WireGuard peers a host names that are not hosts of the
//! inventory (laptops, a monitoring box), by interface. Parsed here, with the rest of a host's
//! spec ([`crate::model::target::Target`]); the keys they need are made by
//! `secrets::wireguard`.
//!
//! ```yaml
//! nxinfra_wireguard_peers:   # a host's (or group's) variable: interface → peer names
//!   test: [mon, client01]    # keys wireguard.mon.test and wireguard.client01.test
//! ```

use serde_json::Value;

/// The inventory variable naming peers that are not hosts.
pub const PEERS_VAR: &str = "nxinfra_wireguard_peers";

/// Why a host's `nxinfra_wireguard_peers` is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PeersError {
    #[error("expected a mapping of interface → list of peer names, got {0}")]
    NotAMapping(Value),
    #[error("{0:?} is not an interface name (1 to 15 of a-z A-Z 0-9 _ = + . -)")]
    Interface(String),
    #[error("{iface}: expected a list of peer names, got {got}")]
    NotAList { iface: String, got: Value },
    #[error("{iface}: {peer} is not a peer name (letters, digits, _ and -)")]
    Peer { iface: String, peer: Value },
}

/// Linux's rule for interface names (what wg-quick accepts): 1 to 15 of `[a-zA-Z0-9_=+.-]`.
pub fn valid_interface(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_=+.-".contains(c))
}

/// A peer name, as a key of the secrets: what an inventory host name may be.
fn valid_peer(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
}

/// Parses one host's `nxinfra_wireguard_peers`: (interface, peer) pairs, in the variable's
/// order.
pub fn parse_peers(value: Option<&Value>) -> Result<Vec<(String, String)>, PeersError> {
    let map = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(map)) => map,
        Some(other) => return Err(PeersError::NotAMapping(other.clone())),
    };
    let mut out = Vec::new();
    for (iface, peers) in map {
        if !valid_interface(iface) {
            return Err(PeersError::Interface(iface.clone()));
        }
        let Value::Array(peers) = peers else {
            return Err(PeersError::NotAList {
                iface: iface.clone(),
                got: peers.clone(),
            });
        };
        for peer in peers {
            match peer.as_str() {
                Some(p) if valid_peer(p) => out.push((iface.clone(), p.to_string())),
                _ => {
                    return Err(PeersError::Peer {
                        iface: iface.clone(),
                        peer: peer.clone(),
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn peers_are_interface_and_name_pairs() {
        assert_eq!(
            parse_peers(Some(&json!({"test": ["mon", "client01"], "wg1": []}))).unwrap(),
            [
                ("test".to_string(), "mon".to_string()),
                ("test".to_string(), "client01".to_string())
            ]
        );
        assert_eq!(parse_peers(Some(&Value::Null)).unwrap(), []);
        assert!(valid_interface("wg-core.1"));
        assert!(!valid_interface("a-name-longer-than-15"));
        assert!(!valid_interface("wg 0"));
    }

    #[test]
    fn peers_variable_errors_name_what_is_wrong() {
        assert_eq!(parse_peers(None).unwrap(), []);
        let err = |v: Value| parse_peers(Some(&v)).unwrap_err();
        assert_eq!(
            err(json!(["a"])).to_string(),
            "expected a mapping of interface → list of peer names, got [\"a\"]"
        );
        assert_eq!(
            err(json!({"test": "mon"})).to_string(),
            "test: expected a list of peer names, got \"mon\""
        );
        assert_eq!(
            err(json!({"test": ["a.b"]})).to_string(),
            "test: \"a.b\" is not a peer name (letters, digits, _ and -)"
        );
        assert_eq!(
            err(json!({"bad iface": ["a"]})),
            PeersError::Interface("bad iface".into())
        );
        assert!(
            err(json!({"bad iface": ["a"]}))
                .to_string()
                .contains("not an interface name")
        );
    }
}

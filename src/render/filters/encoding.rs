//! `b64encode`, `b64decode`, `hash`, `wg_pubkey`.

use super::*;

/// `b64encode`: standard base64 (with padding) of the UTF-8 string.
pub(super) fn b64encode(value: String) -> String {
    STANDARD.encode(value.as_bytes())
}

/// `b64decode`: decodes standard base64 (whitespace ignored) to a UTF-8 string.
pub(super) fn b64decode(value: String) -> Result<String, Error> {
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| err("b64decode", format!("invalid base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| err("b64decode", "decoded data is not valid UTF-8"))
}

/// `hash(algorithm)`: hex digest of the UTF-8 string.
pub(super) fn hash(value: String, algorithm: Option<String>) -> Result<String, Error> {
    let Some(algorithm) = algorithm else {
        return Err(err(
            "hash",
            "an algorithm is required (Ansible's default sha1 is not supported): \
             use sha224, sha256, sha384 or sha512",
        ));
    };
    let data = value.as_bytes();
    Ok(match algorithm.to_ascii_lowercase().as_str() {
        "sha224" => hex::encode(Sha224::digest(data)),
        "sha256" => hex::encode(Sha256::digest(data)),
        "sha384" => hex::encode(Sha384::digest(data)),
        "sha512" => hex::encode(Sha512::digest(data)),
        _ => {
            return Err(err(
                "hash",
                format!(
                    "unsupported algorithm '{algorithm}' (supported: sha224, sha256, sha384, sha512)"
                ),
            ));
        }
    })
}

/// `wg_pubkey`: the base64 WireGuard public key of a base64 private key.
pub(super) fn wg_pubkey(value: String) -> Result<String, Error> {
    // A placeholder (`nxinfra diff`, where values are not known): the key it stands for.
    if let Some(secret) = value
        .strip_prefix("<secret:")
        .and_then(|v| v.strip_suffix('>'))
    {
        return Ok(format!("<wg_pubkey of secret:{secret}>"));
    }
    // A hub's config derives every peer's public key, and every hub does it again: memoize,
    // keyed by a digest so the cache holds no second copy of any private key.
    let digest: [u8; 32] = Sha256::digest(value.trim().as_bytes()).into();
    static CACHE: LazyLock<std::sync::Mutex<std::collections::HashMap<[u8; 32], String>>> =
        LazyLock::new(Default::default);
    let cache = &*CACHE;
    if let Some(public) = cache.lock().ok().and_then(|c| c.get(&digest).cloned()) {
        return Ok(public);
    }
    let public = crate::secrets::wireguard::public_key(&value)
        .ok_or_else(|| err("wg_pubkey", "not a base64-encoded 32-byte key"))?;
    if let Ok(mut c) = cache.lock() {
        c.insert(digest, public.clone());
    }
    Ok(public)
}

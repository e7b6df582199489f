//! Ansible Vault 1.1 / 1.2 (`$ANSIBLE_VAULT;1.1;AES256`) decryption.
//!
//! File format (as written by `ansible-vault encrypt`):
//!
//! ```text
//! $ANSIBLE_VAULT;1.1;AES256            (or `$ANSIBLE_VAULT;1.2;AES256;<vault-id>`)
//! 6162...  <- hex, wrapped at 80 columns
//! ```
//!
//! The hex-decoded body is itself text: `salt_hex\nhmac_hex\nciphertext_hex`.
//! PBKDF2-HMAC-SHA256(password, salt, 10000 iterations) gives 80 bytes: a
//! 32-byte AES-256 key, a 32-byte HMAC-SHA256 key and a 16-byte initial
//! counter block for AES-256-CTR (128-bit big-endian counter). The HMAC is
//! over the ciphertext; the plaintext is PKCS#7-padded to the AES block size.
//!
//! Only reading is implemented. Malformed input is reported as an error, never
//! a panic.

use std::path::Path;

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;
type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// Magic at the start of every vault file (the header's first field).
const MAGIC: &str = "$ANSIBLE_VAULT";
/// PBKDF2 iteration count used by Ansible for `AES256` vaults.
const PBKDF2_ITERATIONS: u32 = 10_000;
const AES_KEY_LEN: usize = 32;
const HMAC_KEY_LEN: usize = 32;
const IV_LEN: usize = 16;
const DERIVED_LEN: usize = AES_KEY_LEN + HMAC_KEY_LEN + IV_LEN;
/// Length of an HMAC-SHA256 tag in bytes.
const HMAC_LEN: usize = 32;
const AES_BLOCK: usize = 16;

/// Errors from reading an Ansible Vault.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The data does not start with an `$ANSIBLE_VAULT;` header.
    #[error("not an Ansible Vault (no `$ANSIBLE_VAULT;` header)")]
    NotAVault,
    /// The header names a format version other than 1.1 or 1.2.
    #[error("unsupported Ansible Vault format version {0:?} (supported: 1.1, 1.2)")]
    UnsupportedVersion(String),
    /// The header names a cipher other than AES256.
    #[error("unsupported Ansible Vault cipher {0:?} (supported: AES256)")]
    UnsupportedCipher(String),
    /// The vault is structurally broken. `line` is the 1-based line of the
    /// file where the problem was found (for problems inside the hex-encoded
    /// payload, the line holding the offending hex digits).
    #[error("malformed Ansible Vault (line {line}): {reason}")]
    Malformed { line: usize, reason: String },
    /// The HMAC does not match. Like Ansible, we cannot tell a wrong password
    /// from a modified file.
    #[error("wrong vault password or the file was modified (HMAC mismatch)")]
    WrongPassword,
    /// The HMAC matched but the decrypted data has invalid PKCS#7 padding.
    #[error("invalid padding in decrypted Ansible Vault data")]
    BadPadding,
    /// An empty password was given (Ansible refuses empty vault passwords).
    #[error("the vault password is empty")]
    EmptyPassword,
    /// A cryptographic primitive rejected its (fixed-size) parameters; this
    /// indicates a bug, not bad input.
    #[error("internal error while decrypting an Ansible Vault: {0}")]
    Internal(&'static str),
}

/// The parsed first line of a vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultHeader {
    /// Format version: `"1.1"` or `"1.2"`.
    pub version: String,
    /// Cipher name; always `"AES256"` for a header that parsed successfully.
    pub cipher: String,
    /// The vault id of a 1.2 header (`$ANSIBLE_VAULT;1.2;AES256;<id>`).
    pub vault_id: Option<String>,
}

/// Whether `data` looks like an Ansible Vault: it starts with
/// `$ANSIBLE_VAULT;`, after optional leading whitespace.
pub fn is_vault(data: &[u8]) -> bool {
    data.trim_ascii_start().starts_with(b"$ANSIBLE_VAULT;")
}

/// Parses and validates the header line of a vault.
pub fn parse_header(data: &[u8]) -> Result<VaultHeader, VaultError> {
    let mut lines = Lines::new(data);
    let (line_no, line) = find_header_line(&mut lines)?;
    parse_header_line(line_no, line)
}

/// Decrypts an Ansible Vault (format 1.1 or 1.2, cipher AES256) with
/// `password` (used as is; see [`read_password_file`] for file passwords).
pub fn decrypt(data: &[u8], password: &[u8]) -> Result<Vec<u8>, VaultError> {
    let payload = parse_vault(data)?;
    if password.is_empty() {
        return Err(VaultError::EmptyPassword);
    }

    let keys = DerivedKeys::new(password, &payload.salt);

    let mut mac = <HmacSha256 as Mac>::new_from_slice(&keys.hmac_key)
        .map_err(|_| VaultError::Internal("HMAC key setup failed"))?;
    mac.update(&payload.ciphertext);
    mac.verify_slice(&payload.hmac)
        .map_err(|_| VaultError::WrongPassword)?;

    let mut cipher = Aes256Ctr::new(&keys.aes_key.into(), &keys.iv.into());
    let mut plaintext = payload.ciphertext;
    cipher
        .try_apply_keystream(&mut plaintext)
        .map_err(|_| VaultError::Internal("AES-CTR keystream exhausted"))?;

    let unpadded_len = pkcs7_unpadded_len(&plaintext).ok_or(VaultError::BadPadding)?;
    plaintext.truncate(unpadded_len);
    Ok(plaintext)
}

/// Reads a vault password file the way Ansible does: the contents with
/// surrounding whitespace removed (Ansible applies Python's `bytes.strip()`,
/// so leading whitespace goes too, and `\r\n` line endings are handled).
///
/// Unlike Ansible, an executable file is read, not run as a password script,
/// and a vault-encrypted password file is not decrypted.
pub fn read_password_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let contents = std::fs::read(path)?;
    Ok(strip_password(&contents).to_vec())
}

/// Python's `bytes.strip()` with no argument: ASCII whitespace both sides
/// (space, `\t`, `\n`, `\r`, `\x0b`, `\x0c`).
fn strip_password(contents: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = contents
        .iter()
        .position(|b| !is_ws(b))
        .unwrap_or(contents.len());
    let end = contents
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |i| i + 1);
    contents.get(start..end).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Parsing

/// The three parts of the hex-decoded vault body, decoded.
struct Payload {
    salt: Vec<u8>,
    hmac: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// Lines of a byte slice with 1-based numbers. Like Python's
/// `bytes.splitlines()`, a line ends at `\n`, `\r\n` or a lone `\r`.
struct Lines<'a> {
    rest: &'a [u8],
    next_no: usize,
}

impl<'a> Lines<'a> {
    fn new(data: &'a [u8]) -> Self {
        Lines {
            rest: data,
            next_no: 1,
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let no = self.next_no;
        self.next_no += 1;
        match self.rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            None => {
                let line = self.rest;
                self.rest = &[];
                Some((no, line))
            }
            Some(i) => {
                let (line, tail) = self.rest.split_at(i);
                let skip = if tail.starts_with(b"\r\n") { 2 } else { 1 };
                self.rest = tail.get(skip..).unwrap_or_default();
                Some((no, line))
            }
        }
    }
}

/// Skips blank lines and returns the first non-blank one, which must be a
/// vault header.
fn find_header_line<'a>(lines: &mut Lines<'a>) -> Result<(usize, &'a [u8]), VaultError> {
    for (no, line) in lines.by_ref() {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with(b"$ANSIBLE_VAULT;") {
            return Ok((no, trimmed));
        }
        return Err(VaultError::NotAVault);
    }
    Err(VaultError::NotAVault)
}

fn parse_header_line(line_no: usize, line: &[u8]) -> Result<VaultHeader, VaultError> {
    let malformed = |reason: String| VaultError::Malformed {
        line: line_no,
        reason,
    };
    let text = std::str::from_utf8(line)
        .map_err(|_| malformed("the header line is not valid UTF-8".to_string()))?;
    let fields: Vec<&str> = text.split(';').map(str::trim).collect();
    let (version, cipher, vault_id) = match fields.as_slice() {
        [MAGIC, version, cipher] => (*version, *cipher, None),
        [MAGIC, version, cipher, id] => (*version, *cipher, Some(*id)),
        _ => {
            return Err(malformed(format!(
                "expected a header `$ANSIBLE_VAULT;<version>;<cipher>[;<vault-id>]`, found {text:?}"
            )));
        }
    };
    if version != "1.1" && version != "1.2" {
        return Err(VaultError::UnsupportedVersion(version.to_string()));
    }
    if cipher != "AES256" {
        return Err(VaultError::UnsupportedCipher(cipher.to_string()));
    }
    Ok(VaultHeader {
        version: version.to_string(),
        cipher: cipher.to_string(),
        vault_id: vault_id.filter(|id| !id.is_empty()).map(str::to_string),
    })
}

/// The hex body of a vault with the file line each piece came from, so
/// errors deep inside the payload can name a line.
struct HexBody {
    hex: Vec<u8>,
    /// `(offset in hex, 1-based file line)` of each non-blank body line.
    segments: Vec<(usize, usize)>,
    /// Line number of the header (used when the body is empty).
    header_line: usize,
}

impl HexBody {
    /// The file line holding the hex digits of payload byte `index`.
    fn line_of_payload_byte(&self, index: usize) -> usize {
        let hex_offset = index.saturating_mul(2);
        let after = self
            .segments
            .partition_point(|&(start, _)| start <= hex_offset);
        match after.checked_sub(1).and_then(|i| self.segments.get(i)) {
            Some(&(_, line)) => line,
            None => self.header_line + 1,
        }
    }

    fn last_line(&self) -> usize {
        self.segments
            .last()
            .map_or(self.header_line + 1, |&(_, line)| line)
    }
}

fn parse_vault(data: &[u8]) -> Result<Payload, VaultError> {
    let mut lines = Lines::new(data);
    let (header_line, line) = find_header_line(&mut lines)?;
    parse_header_line(header_line, line)?;

    let mut body = HexBody {
        hex: Vec::with_capacity(data.len()),
        segments: Vec::new(),
        header_line,
    };
    for (no, raw) in lines {
        let indent = raw.len() - raw.trim_ascii_start().len();
        let line = raw.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if let Some(pos) = line.iter().position(|b| !b.is_ascii_hexdigit()) {
            let bad = line.get(pos).copied().unwrap_or_default();
            return Err(VaultError::Malformed {
                line: no,
                reason: format!(
                    "invalid character {:?} at column {} (expected hex digits)",
                    char::from(bad),
                    indent + pos + 1
                ),
            });
        }
        body.segments.push((body.hex.len(), no));
        body.hex.extend_from_slice(line);
    }

    if body.hex.is_empty() {
        return Err(VaultError::Malformed {
            line: header_line + 1,
            reason: "no encrypted data after the header".to_string(),
        });
    }
    if !body.hex.len().is_multiple_of(2) {
        return Err(VaultError::Malformed {
            line: body.last_line(),
            reason: "odd number of hex digits (truncated vault?)".to_string(),
        });
    }
    let inner = hex::decode(&body.hex).map_err(|e| VaultError::Malformed {
        line: body.last_line(),
        reason: format!("invalid hex data: {e}"),
    })?;

    split_payload(&body, &inner)
}

/// Splits the decoded body `salt_hex\nhmac_hex\nciphertext_hex` and decodes
/// each part.
fn split_payload(body: &HexBody, inner: &[u8]) -> Result<Payload, VaultError> {
    let truncated = || VaultError::Malformed {
        line: body.last_line(),
        reason: "truncated vault: expected salt, HMAC and ciphertext".to_string(),
    };
    let first_nl = inner
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(truncated)?;
    let (salt_hex, rest) = inner.split_at(first_nl);
    let rest = rest.get(1..).unwrap_or_default();
    let second_nl = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(truncated)?;
    let (hmac_hex, ct_hex) = rest.split_at(second_nl);
    let ct_hex = ct_hex.get(1..).unwrap_or_default();

    let hmac_start = first_nl + 1;
    let ct_start = hmac_start + second_nl + 1;
    let salt = decode_part(body, "salt", salt_hex, 0)?;
    let hmac = decode_part(body, "HMAC", hmac_hex, hmac_start)?;
    let ciphertext = decode_part(body, "ciphertext", ct_hex, ct_start)?;

    if salt.is_empty() {
        return Err(VaultError::Malformed {
            line: body.line_of_payload_byte(0),
            reason: "empty salt".to_string(),
        });
    }
    if hmac.len() != HMAC_LEN {
        return Err(VaultError::Malformed {
            line: body.line_of_payload_byte(hmac_start),
            reason: format!(
                "HMAC is {} bytes, expected {HMAC_LEN} (64 hex digits)",
                hmac.len()
            ),
        });
    }
    if ciphertext.is_empty() {
        return Err(truncated());
    }
    if !ciphertext.len().is_multiple_of(AES_BLOCK) {
        return Err(VaultError::Malformed {
            line: body.last_line(),
            reason: format!(
                "ciphertext length {} is not a multiple of the AES block size (truncated vault?)",
                ciphertext.len()
            ),
        });
    }
    Ok(Payload {
        salt,
        hmac,
        ciphertext,
    })
}

/// Hex-decodes one part of the payload; `start` is its offset in the
/// payload, for error line numbers.
fn decode_part(
    body: &HexBody,
    what: &str,
    part: &[u8],
    start: usize,
) -> Result<Vec<u8>, VaultError> {
    hex::decode(part).map_err(|e| {
        let (offset, reason) = match e {
            hex::FromHexError::InvalidHexCharacter { c, index } => (
                start + index,
                format!("invalid character {c:?} in the hex-encoded {what}"),
            ),
            hex::FromHexError::OddLength => (
                start + part.len(),
                format!("odd number of hex digits in the {what}"),
            ),
            other => (start, format!("invalid hex-encoded {what}: {other}")),
        };
        VaultError::Malformed {
            line: body.line_of_payload_byte(offset),
            reason,
        }
    })
}

// ---------------------------------------------------------------------------
// Cryptography

struct DerivedKeys {
    aes_key: [u8; AES_KEY_LEN],
    hmac_key: [u8; HMAC_KEY_LEN],
    iv: [u8; IV_LEN],
}

impl DerivedKeys {
    fn new(password: &[u8], salt: &[u8]) -> Self {
        let mut derived = [0u8; DERIVED_LEN];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, PBKDF2_ITERATIONS, &mut derived);
        let mut keys = DerivedKeys {
            aes_key: [0; AES_KEY_LEN],
            hmac_key: [0; HMAC_KEY_LEN],
            iv: [0; IV_LEN],
        };
        let (aes_key, rest) = derived.split_at(AES_KEY_LEN);
        let (hmac_key, iv) = rest.split_at(HMAC_KEY_LEN);
        keys.aes_key.copy_from_slice(aes_key);
        keys.hmac_key.copy_from_slice(hmac_key);
        keys.iv.copy_from_slice(iv);
        derived.fill(0);
        keys
    }
}

impl Drop for DerivedKeys {
    fn drop(&mut self) {
        // Best effort: without a zeroize crate the compiler may elide this.
        self.aes_key.fill(0);
        self.hmac_key.fill(0);
        self.iv.fill(0);
    }
}

/// Length of `data` without its PKCS#7 padding, or `None` if the padding is
/// invalid.
fn pkcs7_unpadded_len(data: &[u8]) -> Option<usize> {
    let &last = data.last()?;
    let pad = usize::from(last);
    if pad == 0 || pad > AES_BLOCK || pad > data.len() {
        return None;
    }
    let keep = data.len() - pad;
    data.get(keep..)?.iter().all(|&b| b == last).then_some(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD_FILE: &[u8] = include_bytes!("../../tests/fixtures/vault/password.txt");
    const WRONG_PASSWORD_FILE: &[u8] =
        include_bytes!("../../tests/fixtures/vault/wrong-password.txt");
    const SIMPLE_VAULT: &[u8] = include_bytes!("../../tests/fixtures/vault/simple-1.1.yml.vault");
    const SIMPLE_PLAIN: &[u8] = include_bytes!("../../tests/fixtures/vault/simple.yml");
    const MULTILINE_VAULT: &[u8] =
        include_bytes!("../../tests/fixtures/vault/multiline-1.1.yml.vault");
    const MULTILINE_PLAIN: &[u8] = include_bytes!("../../tests/fixtures/vault/multiline.yml");
    const VAULTID_VAULT: &[u8] = include_bytes!("../../tests/fixtures/vault/vaultid-1.2.yml.vault");
    const VAULTID_PLAIN: &[u8] = include_bytes!("../../tests/fixtures/vault/vaultid.yml");
    const CRLF_VAULT: &[u8] = include_bytes!("../../tests/fixtures/vault/crlf-1.1.yml.vault");
    const TAMPERED_HMAC_VAULT: &[u8] =
        include_bytes!("../../tests/fixtures/vault/tampered-hmac-1.1.yml.vault");

    fn password() -> &'static [u8] {
        strip_password(PASSWORD_FILE)
    }

    /// Splits a vault file into (header line, salt_hex, hmac_hex, ct_hex).
    fn unwrap_vault(data: &[u8]) -> (String, String, String, String) {
        let text = std::str::from_utf8(data).expect("fixture is ASCII");
        let mut lines = text.lines().map(str::trim);
        let header = lines.next().expect("header").to_string();
        let body: String = lines.collect();
        let inner = String::from_utf8(hex::decode(body).expect("hex")).expect("utf8");
        let mut parts = inner.splitn(3, '\n').map(str::to_string);
        (
            header,
            parts.next().expect("salt"),
            parts.next().expect("hmac"),
            parts.next().expect("ct"),
        )
    }

    /// Re-assembles a vault file like Ansible's `format_vaulttext_envelope`.
    fn wrap_vault(header: &str, salt_hex: &str, hmac_hex: &str, ct_hex: &str) -> Vec<u8> {
        let body = hex::encode(format!("{salt_hex}\n{hmac_hex}\n{ct_hex}"));
        let mut out = header.to_string();
        for chunk in body.as_bytes().chunks(80) {
            out.push('\n');
            out.push_str(std::str::from_utf8(chunk).expect("hex is ASCII"));
        }
        out.push('\n');
        out.into_bytes()
    }

    /// Test-only encryption, the inverse of [`decrypt`], like Ansible's
    /// `VaultAES256.encrypt` with a given salt.
    fn encrypt(plaintext: &[u8], password: &[u8], salt: &[u8], vault_id: Option<&str>) -> Vec<u8> {
        let keys = DerivedKeys::new(password, salt);
        let pad = AES_BLOCK - plaintext.len() % AES_BLOCK;
        let mut data = plaintext.to_vec();
        data.extend(std::iter::repeat_n(pad as u8, pad));
        let mut cipher = Aes256Ctr::new(&keys.aes_key.into(), &keys.iv.into());
        cipher.apply_keystream(&mut data);
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&keys.hmac_key).expect("hmac key");
        mac.update(&data);
        let tag = mac.finalize().into_bytes();
        let header = match vault_id {
            Some(id) => format!("$ANSIBLE_VAULT;1.2;AES256;{id}"),
            None => "$ANSIBLE_VAULT;1.1;AES256".to_string(),
        };
        wrap_vault(
            &header,
            &hex::encode(salt),
            &hex::encode(tag),
            &hex::encode(data),
        )
    }

    fn assert_malformed(result: Result<Vec<u8>, VaultError>, expected_line: usize) {
        match result {
            Err(VaultError::Malformed { line, .. }) => assert_eq!(line, expected_line),
            other => panic!("expected Malformed at line {expected_line}, got {other:?}"),
        }
    }

    #[test]
    fn fixtures_decrypt_to_their_plaintexts() {
        for (vault, plain) in [
            (SIMPLE_VAULT, SIMPLE_PLAIN),
            (MULTILINE_VAULT, MULTILINE_PLAIN),
            (VAULTID_VAULT, VAULTID_PLAIN),
            (CRLF_VAULT, SIMPLE_PLAIN),
        ] {
            assert!(is_vault(vault));
            assert_eq!(decrypt(vault, password()).expect("decrypts"), plain);
        }
    }

    #[test]
    fn multiline_plaintext_has_block_scalar_and_non_ascii() {
        let plain = decrypt(MULTILINE_VAULT, password()).expect("decrypts");
        let text = String::from_utf8(plain).expect("UTF-8");
        assert!(text.contains("-----BEGIN PRIVATE KEY-----\n"));
        assert!(text.contains("Grüße aus Köln"));
        assert!(text.contains("日本語"));
    }

    #[test]
    fn headers_are_parsed() {
        let h = parse_header(SIMPLE_VAULT).expect("header");
        assert_eq!(
            h,
            VaultHeader {
                version: "1.1".into(),
                cipher: "AES256".into(),
                vault_id: None
            }
        );
        let h = parse_header(VAULTID_VAULT).expect("header");
        assert_eq!(h.version, "1.2");
        assert_eq!(h.cipher, "AES256");
        assert_eq!(h.vault_id.as_deref(), Some("prod"));
        assert_eq!(parse_header(CRLF_VAULT).expect("header").version, "1.1");
        // Surrounding whitespace, empty vault id.
        let h = parse_header(b"\n  $ANSIBLE_VAULT;1.2;AES256; \r\n").expect("header");
        assert_eq!(h.vault_id, None);
    }

    #[test]
    fn wrong_password_is_reported() {
        let wrong = strip_password(WRONG_PASSWORD_FILE);
        assert!(matches!(
            decrypt(SIMPLE_VAULT, wrong),
            Err(VaultError::WrongPassword)
        ));
        // The password is used as is: a trailing newline makes it wrong.
        assert!(matches!(
            decrypt(SIMPLE_VAULT, PASSWORD_FILE),
            Err(VaultError::WrongPassword)
        ));
        assert!(matches!(
            decrypt(SIMPLE_VAULT, b""),
            Err(VaultError::EmptyPassword)
        ));
        let msg = VaultError::WrongPassword.to_string();
        assert!(msg.contains("wrong vault password or the file was modified"));
    }

    #[test]
    fn tampered_hmac_is_wrong_password() {
        assert!(matches!(
            decrypt(TAMPERED_HMAC_VAULT, password()),
            Err(VaultError::WrongPassword)
        ));
    }

    #[test]
    fn tampered_ciphertext_is_rejected() {
        let (header, salt, hmac, ct) = unwrap_vault(SIMPLE_VAULT);
        let mut ct = ct.into_bytes();
        ct[5] = if ct[5] == b'0' { b'1' } else { b'0' };
        let ct = String::from_utf8(ct).expect("ASCII");
        let tampered = wrap_vault(&header, &salt, &hmac, &ct);
        assert!(matches!(
            decrypt(&tampered, password()),
            Err(VaultError::WrongPassword)
        ));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let full = SIMPLE_VAULT.trim_ascii_end();
        for len in 0..full.len() {
            let result = decrypt(&full[..len], password());
            assert!(result.is_err(), "prefix of {len} bytes decrypted");
        }
    }

    #[test]
    fn truncated_files_report_lines() {
        let lines: Vec<&[u8]> = SIMPLE_VAULT.split(|&b| b == b'\n').collect();
        // Header only.
        assert_malformed(decrypt(lines[0], password()), 2);
        // Header and one line: the salt is not even complete.
        let two = lines[..2].join(&b'\n');
        assert_malformed(decrypt(&two, password()), 2);
        // Header and five lines: ciphertext cut mid-way.
        let six = lines[..6].join(&b'\n');
        assert_malformed(decrypt(&six, password()), 6);
        // Odd number of hex digits.
        let mut odd = lines[..6].join(&b'\n');
        odd.pop();
        assert_malformed(decrypt(&odd, password()), 6);
    }

    #[test]
    fn non_hex_body_is_malformed() {
        let mut data = SIMPLE_VAULT.to_vec();
        let pos = data.iter().position(|&b| b == b'\n').expect("newline") + 1 + 80 + 1 + 7;
        data[pos] = b'z';
        match decrypt(&data, password()) {
            Err(VaultError::Malformed { line, reason }) => {
                assert_eq!(line, 3);
                assert!(reason.contains("column 8"), "{reason}");
            }
            other => panic!("expected Malformed, got {other:?}"),
        }

        // Valid outer hex, but the decoded text is not hex.
        let (header, _, hmac, ct) = unwrap_vault(SIMPLE_VAULT);
        let bad = wrap_vault(&header, "xyz!", &hmac, &ct);
        assert_malformed(decrypt(&bad, password()), 2);
        let bad_ct = format!("{}g{}", &ct[..200], &ct[201..]);
        let bad = wrap_vault(&header, "00", &hmac, &bad_ct);
        // Payload byte offset 2 + 1 + 64 + 1 + 200 = 268 → hex 536 → line 2 + 536/80.
        assert_malformed(decrypt(&bad, password()), 8);
        // HMAC of the wrong length.
        let bad = wrap_vault(&header, "00", &hmac[..62], &ct);
        assert_malformed(decrypt(&bad, password()), 2);
        // Missing ciphertext line.
        let body = hex::encode(format!("00\n{hmac}"));
        let bad = format!("{header}\n{body}\n");
        assert_malformed(decrypt(bad.as_bytes(), password()), 2);
        // Empty ciphertext.
        let bad = wrap_vault(&header, "00", &hmac, "");
        assert_malformed(decrypt(&bad, password()), 3);
    }

    #[test]
    fn missing_or_bad_header() {
        let body_only = SIMPLE_VAULT
            .splitn(2, |&b| b == b'\n')
            .nth(1)
            .expect("body");
        assert!(!is_vault(body_only));
        assert!(matches!(
            decrypt(body_only, password()),
            Err(VaultError::NotAVault)
        ));
        assert!(matches!(
            decrypt(b"", password()),
            Err(VaultError::NotAVault)
        ));
        assert!(matches!(
            parse_header(b"  \n\t\n"),
            Err(VaultError::NotAVault)
        ));
        assert!(matches!(
            parse_header(b"db_password: hunter2\n"),
            Err(VaultError::NotAVault)
        ));
        assert!(!is_vault(b"$ANSIBLE_VAULT"));
        assert!(is_vault(b"  \n $ANSIBLE_VAULT;1.1;AES256\n"));
        assert!(matches!(
            parse_header(b"\n\n$ANSIBLE_VAULT;1.1\n"),
            Err(VaultError::Malformed { line: 3, .. })
        ));
        assert!(matches!(
            parse_header(b"$ANSIBLE_VAULT;1.2;AES256;a;b\n"),
            Err(VaultError::Malformed { line: 1, .. })
        ));
    }

    #[test]
    fn unsupported_version_and_cipher() {
        let body = SIMPLE_VAULT
            .splitn(2, |&b| b == b'\n')
            .nth(1)
            .expect("body");
        for version in ["1.0", "2.0"] {
            let mut data = format!("$ANSIBLE_VAULT;{version};AES256\n").into_bytes();
            data.extend_from_slice(body);
            match decrypt(&data, password()) {
                Err(VaultError::UnsupportedVersion(v)) => assert_eq!(v, version),
                other => panic!("expected UnsupportedVersion, got {other:?}"),
            }
        }
        let mut data = b"$ANSIBLE_VAULT;1.1;AES128\n".to_vec();
        data.extend_from_slice(body);
        match decrypt(&data, password()) {
            Err(VaultError::UnsupportedCipher(c)) => assert_eq!(c, "AES128"),
            other => panic!("expected UnsupportedCipher, got {other:?}"),
        }
    }

    #[test]
    fn indented_and_crlf_bodies_decrypt() {
        // Like a `!vault |` block lifted out of a YAML file: indented lines.
        let text = std::str::from_utf8(SIMPLE_VAULT).expect("ASCII");
        let indented: String = text.lines().map(|l| format!("    {l}  \r\n")).collect();
        assert_eq!(
            decrypt(indented.as_bytes(), password()).expect("decrypts"),
            SIMPLE_PLAIN
        );
        assert!(CRLF_VAULT.windows(2).any(|w| w == b"\r\n"));
        // Old-Mac lone `\r` line endings (Python's splitlines accepts them).
        let cr: Vec<u8> = SIMPLE_VAULT
            .iter()
            .map(|&b| if b == b'\n' { b'\r' } else { b })
            .collect();
        assert_eq!(decrypt(&cr, password()).expect("decrypts"), SIMPLE_PLAIN);
    }

    #[test]
    fn bad_padding_is_reported() {
        let salt = b"fixed-test-salt";
        // Encrypt 16 bytes without padding: the last byte ('f' = 0x66) is not
        // valid padding.
        let keys = DerivedKeys::new(password(), salt);
        let mut data = b"0123456789abcdef".to_vec();
        Aes256Ctr::new(&keys.aes_key.into(), &keys.iv.into()).apply_keystream(&mut data);
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&keys.hmac_key).expect("key");
        mac.update(&data);
        let tag = hex::encode(mac.finalize().into_bytes());
        let vault = wrap_vault(
            "$ANSIBLE_VAULT;1.1;AES256",
            &hex::encode(salt),
            &tag,
            &hex::encode(&data),
        );
        assert!(matches!(
            decrypt(&vault, password()),
            Err(VaultError::BadPadding)
        ));
    }

    #[test]
    fn pkcs7_validation() {
        assert_eq!(pkcs7_unpadded_len(&[1, 2, 3, 1]), Some(3));
        assert_eq!(pkcs7_unpadded_len(&[16; 16]), Some(0));
        assert_eq!(pkcs7_unpadded_len(&[5, 3, 3, 3]), Some(1));
        assert_eq!(pkcs7_unpadded_len(&[5, 2, 3, 3]), None);
        assert_eq!(pkcs7_unpadded_len(&[0]), None);
        assert_eq!(pkcs7_unpadded_len(&[17; 32]), None);
        assert_eq!(pkcs7_unpadded_len(&[3, 3]), None);
        assert_eq!(pkcs7_unpadded_len(&[]), None);
    }

    #[test]
    fn test_encrypt_reproduces_ansible_output() {
        // With the fixture's salt, our test encryptor must produce exactly
        // what ansible-vault wrote.
        for (vault, plain, id) in [
            (SIMPLE_VAULT, SIMPLE_PLAIN, None),
            (VAULTID_VAULT, VAULTID_PLAIN, Some("prod")),
        ] {
            let (_, salt_hex, _, _) = unwrap_vault(vault);
            let salt = hex::decode(salt_hex).expect("salt");
            assert_eq!(encrypt(plain, password(), &salt, id), vault);
        }
    }

    #[test]
    fn round_trip() {
        let salt = b"nxinfra-fixed-test-salt-32-bytes";
        let mut state: u32 = 0x1234_5678;
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let plaintext: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect();
            let vault = encrypt(&plaintext, b"round-trip", salt, Some("dev"));
            assert_eq!(
                parse_header(&vault).expect("header").vault_id.as_deref(),
                Some("dev")
            );
            assert_eq!(
                decrypt(&vault, b"round-trip").expect("decrypts"),
                plaintext,
                "length {len}"
            );
        }
    }

    #[test]
    fn password_file_stripping() {
        assert_eq!(password(), b"nxinfra-test-vault-password");
        assert_eq!(strip_password(b"secret\r\n"), b"secret");
        assert_eq!(strip_password(b"secret\n\n  \t"), b"secret");
        assert_eq!(strip_password(b"  secret  \n"), b"secret");
        assert_eq!(strip_password(b"se cret\n"), b"se cret");
        assert_eq!(strip_password(b"\x0bsecret\x0c"), b"secret");
        assert_eq!(strip_password(b" \r\n"), b"");
        assert_eq!(strip_password(b""), b"");
    }

    #[test]
    fn error_messages() {
        let e = VaultError::Malformed {
            line: 3,
            reason: "x".into(),
        };
        assert_eq!(e.to_string(), "malformed Ansible Vault (line 3): x");
        assert!(
            VaultError::UnsupportedVersion("2.0".into())
                .to_string()
                .contains("\"2.0\"")
        );
    }
}

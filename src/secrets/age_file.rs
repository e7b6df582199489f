//! age encryption of the secrets document: armored output, x25519 recipients and identities,
//! interoperable with the `age` and `rage` command-line tools.

use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;

use super::SecretsError;

/// Identities able to decrypt, read from an identity file.
pub type Identities = Vec<Box<dyn age::Identity + Send + Sync>>;

/// Encrypts `plaintext` to every recipient, ASCII-armored.
pub fn encrypt(
    plaintext: &[u8],
    recipients: &[age::x25519::Recipient],
) -> Result<String, SecretsError> {
    let fail = |reason: String| SecretsError::Encrypt { reason };
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| fail(e.to_string()))?;
    let mut out = Vec::with_capacity(plaintext.len() * 2 + 512);
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| fail(e.to_string()))?;
    let mut writer = encryptor
        .wrap_output(armor)
        .map_err(|e| fail(e.to_string()))?;
    writer
        .write_all(plaintext)
        .map_err(|e| fail(e.to_string()))?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(|e| fail(e.to_string()))?;
    String::from_utf8(out).map_err(|e| fail(e.to_string()))
}

/// Decrypts an age file (armored or binary) with `identities`.
pub fn decrypt(
    file: &Path,
    data: &[u8],
    identities: &Identities,
    identity_file: &Path,
) -> Result<Vec<u8>, SecretsError> {
    let corrupt = |reason: String| SecretsError::Corrupt {
        file: file.to_path_buf(),
        reason,
    };
    let decryptor = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(data))
        .map_err(|e| corrupt(e.to_string()))?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => SecretsError::WrongIdentity {
                file: file.to_path_buf(),
                identity_file: identity_file.to_path_buf(),
            },
            other => corrupt(other.to_string()),
        })?;
    let mut plaintext = Vec::new();
    reader
        .read_to_end(&mut plaintext)
        .map_err(|e| corrupt(e.to_string()))?;
    Ok(plaintext)
}

/// Reads `recipients.txt` as `age -R` does: one `age1…` public key per line, alone on it;
/// lines starting with `#` are comments, blank lines are skipped (docs/secrets.md).
pub fn read_recipients(file: &Path) -> Result<Vec<age::x25519::Recipient>, SecretsError> {
    let text = std::fs::read_to_string(file).map_err(|source| SecretsError::Io {
        action: "read recipients file",
        file: file.to_path_buf(),
        source,
    })?;
    parse_recipients(file, &text)
}

/// SSH public key types that `age -R` accepts but this build does not (age's `ssh` feature is
/// off): named in the error rather than called a malformed key.
const SSH_KEY_TYPES: &[&str] = &["ssh-ed25519", "ssh-rsa"];

pub fn parse_recipients(
    file: &Path,
    text: &str,
) -> Result<Vec<age::x25519::Recipient>, SecretsError> {
    let mut out = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: String| SecretsError::Recipients {
            file: file.to_path_buf(),
            line: Some(idx + 1),
            reason,
        };
        let mut words = line.split_whitespace();
        let key = words.next().unwrap_or(line);
        if let Some(kind) = SSH_KEY_TYPES.iter().find(|k| **k == key) {
            return Err(bad(format!(
                "an SSH public key ({kind}): nxinfra takes age x25519 keys (age1…) only; make \
                 one with `nxinfra secrets init` or `age-keygen`"
            )));
        }
        if words.next().is_some() {
            return Err(bad(
                "text after the key: a line holds one age1… key and nothing else (`age -R` \
                 rejects anything more); name its owner in a `# comment` line above it"
                    .into(),
            ));
        }
        let recipient = age::x25519::Recipient::from_str(key)
            .map_err(|e| bad(format!("not an age x25519 public key (age1…): {e}")))?;
        out.push(recipient);
    }
    if out.is_empty() {
        return Err(SecretsError::Recipients {
            file: file.to_path_buf(),
            line: None,
            reason: "no recipients: add at least one age public key (age1…)".into(),
        });
    }
    Ok(out)
}

/// Reads an identity file (`AGE-SECRET-KEY-1…` lines, as written by `age-keygen`).
pub fn read_identities(file: &Path) -> Result<Identities, SecretsError> {
    let data = std::fs::read(file).map_err(|source| SecretsError::Io {
        action: "read identity file",
        file: file.to_path_buf(),
        source,
    })?;
    let bad = |reason: String| SecretsError::Identity {
        file: file.to_path_buf(),
        reason,
    };
    let parsed = age::IdentityFile::from_buffer(&data[..]).map_err(|e| bad(e.to_string()))?;
    let identities = parsed.into_identities().map_err(|e| bad(e.to_string()))?;
    if identities.is_empty() {
        return Err(bad("no AGE-SECRET-KEY-1… line in the file".into()));
    }
    Ok(identities)
}

/// A new identity: (file contents as `age-keygen` writes them, public key).
pub fn generate_identity() -> (String, String) {
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let contents = format!(
        "# created by nxinfra secrets init\n# public key: {public}\n{}\n",
        identity.to_string().expose_secret()
    );
    (contents, public)
}

/// The public keys of the x25519 identities in an identity file's text.
pub fn public_keys_of(identity_text: &str) -> Vec<String> {
    identity_text
        .lines()
        .filter_map(|l| age::x25519::Identity::from_str(l.trim()).ok())
        .map(|i| i.to_public().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_identity() {
        let (text, public) = generate_identity();
        let dir = tempfile::tempdir().unwrap();
        let id_file = dir.path().join("id.txt");
        std::fs::write(&id_file, &text).unwrap();
        let recipients =
            parse_recipients(Path::new("r.txt"), &format!("# alice\n{public}\n")).unwrap();
        let armored = encrypt(b"a: 1\n", &recipients).unwrap();
        assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        let ids = read_identities(&id_file).unwrap();
        let plain = decrypt(Path::new("s.age"), armored.as_bytes(), &ids, &id_file).unwrap();
        assert_eq!(plain, b"a: 1\n");
        assert_eq!(public_keys_of(&text), [public]);

        let (other, _) = generate_identity();
        std::fs::write(&id_file, other).unwrap();
        let ids = read_identities(&id_file).unwrap();
        let err = decrypt(Path::new("s.age"), armored.as_bytes(), &ids, &id_file).unwrap_err();
        assert!(matches!(err, SecretsError::WrongIdentity { .. }), "{err}");
    }

    #[test]
    fn corrupt_files_and_bad_recipients() {
        let (text, _) = generate_identity();
        let dir = tempfile::tempdir().unwrap();
        let id_file = dir.path().join("id.txt");
        std::fs::write(&id_file, text).unwrap();
        let ids = read_identities(&id_file).unwrap();
        let err = decrypt(
            Path::new("s.age"),
            b"-----BEGIN AGE ENCRYPTED FILE-----\ngarbage\n",
            &ids,
            &id_file,
        )
        .unwrap_err();
        assert!(matches!(err, SecretsError::Corrupt { .. }), "{err}");
        let err = parse_recipients(Path::new("r.txt"), "age1nope\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("r.txt:1"), "{err}");
        assert!(parse_recipients(Path::new("r.txt"), "# only a comment\n").is_err());
        let (_, public) = generate_identity();
        let err = parse_recipients(Path::new("r.txt"), &format!("{public} alice\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("r.txt:1") && err.contains("# comment"),
            "{err}"
        );
        let err = parse_recipients(Path::new("r.txt"), &format!("{public} # alice\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("text after the key"), "{err}");
        // An SSH key is named as such, never as "text after the key".
        for line in [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG0 alice@laptop",
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 bob",
        ] {
            let err = parse_recipients(Path::new("r.txt"), &format!("# ok\n{public}\n{line}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("r.txt:3: an SSH public key (ssh-"), "{err}");
            assert!(!err.contains("text after the key"), "{err}");
        }
        std::fs::write(&id_file, "not a key\n").unwrap();
        assert!(read_identities(&id_file).is_err());
    }
}

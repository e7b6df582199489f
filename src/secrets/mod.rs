//! Secrets: an age-encrypted YAML document (`secrets/secrets.yml.age`), or an Ansible Vault file
//! (`secrets/secrets.yml`) read for migration; their values are redacted from every output.

pub mod age_file;
pub mod edit;
pub mod store;
pub mod vault;
pub mod wireguard;

use std::path::PathBuf;

use indexmap::IndexMap;
use serde_json::Value;

pub use crate::util::redact::{self, Redactor};

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "{} is encrypted, and no age identity was given: pass --identity FILE, set \
         NXINFRA_AGE_KEY_FILE, or put your identity at {}",
        file.display(), default_hint()
    )]
    NoIdentity { file: PathBuf },
    #[error(
        "{} cannot be decrypted with {}: it is encrypted to other recipients (wrong identity; \
         see secrets/recipients.txt for the public keys it is encrypted to)",
        file.display(), identity_file.display()
    )]
    WrongIdentity {
        file: PathBuf,
        identity_file: PathBuf,
    },
    #[error(
        "{}{}: top-level key {key} has the name of a variable nxinfra defines for every \
         template ({}); templates see top-level secrets as variables, so one would hide the \
         other: move it under another key",
        file.display(), line.map(|l| format!(":{l}")).unwrap_or_default(),
        crate::model::inventory::RESERVED_VARIABLES.join(", ")
    )]
    Reserved {
        file: PathBuf,
        line: Option<usize>,
        key: String,
    },
    #[error("{}: not a valid age file: {reason}", file.display())]
    Corrupt { file: PathBuf, reason: String },
    #[error("{}: not a valid age identity file: {reason}", file.display())]
    Identity { file: PathBuf, reason: String },
    #[error("{}{}: {reason}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Recipients {
        file: PathBuf,
        line: Option<usize>,
        reason: String,
    },
    #[error("{}{}: the decrypted secrets are not valid: {reason}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    NotYaml {
        file: PathBuf,
        line: Option<usize>,
        reason: String,
    },
    #[error("{}: {source}", file.display())]
    Vault {
        file: PathBuf,
        source: vault::VaultError,
    },
    #[error(
        "{} is an Ansible Vault file: pass --vault-password-file FILE (or set \
         NXINFRA_VAULT_PASSWORD_FILE)",
        file.display()
    )]
    NoVaultPassword { file: PathBuf },
    #[error("cannot encrypt: {reason}")]
    Encrypt { reason: String },
    #[error("cannot {action} {}: {source}", file.display())]
    Io {
        action: &'static str,
        file: PathBuf,
        source: std::io::Error,
    },
}

fn default_hint() -> String {
    store::default_identity_path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.config/nxinfra/identity.txt".into())
}

/// The decrypted secrets document: a mapping at the top level.
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    pub doc: IndexMap<String, Value>,
}

impl Secrets {
    /// Parses decrypted YAML. Error messages never quote content (it is secret): the parser's
    /// own messages lose their quoted parts; nxinfra's (duplicate keys, merge keys, special
    /// floats, YAML tags) quote key names at most and are kept whole, hints included.
    pub fn from_yaml(file: &std::path::Path, plaintext: &[u8]) -> Result<Self, SecretsError> {
        let not_yaml = |line, reason: String| SecretsError::NotYaml {
            file: file.to_path_buf(),
            line,
            reason,
        };
        let text =
            std::str::from_utf8(plaintext).map_err(|_| not_yaml(None, "not UTF-8 text".into()))?;
        let value: Value = crate::util::yaml::parse(file, text).map_err(|e| {
            let reason = if e.from_parser {
                strip_quoted(&e.message)
            } else {
                e.message
            };
            not_yaml(e.line, reason)
        })?;
        match value {
            Value::Null => Ok(Secrets::default()),
            Value::Object(map) => {
                if let Some(key) = map
                    .keys()
                    .find(|k| crate::model::inventory::RESERVED_VARIABLES.contains(&k.as_str()))
                {
                    return Err(SecretsError::Reserved {
                        file: file.to_path_buf(),
                        line: crate::util::yaml::KeyLines::new(text).get(&[key]),
                        key: key.clone(),
                    });
                }
                Ok(Secrets {
                    doc: map.into_iter().collect(),
                })
            }
            _ => Err(not_yaml(
                Some(1),
                "the document must be a mapping (key: value)".into(),
            )),
        }
    }

    /// Every leaf as (dotted path, value as text), in document order.
    pub fn leaves(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, v) in &self.doc {
            crate::util::redact::leaves(k, v, &mut out);
        }
        out
    }

    /// The same document with every leaf replaced by `<secret:PATH>`: renders show where each
    /// secret goes, never its value.
    pub fn as_placeholders(&self) -> Secrets {
        Secrets {
            doc: self.placeholders(),
        }
    }

    /// A redactor for every leaf value.
    pub fn redactor(&self) -> Redactor {
        let leaves = self.leaves();
        Redactor::new(leaves.iter().map(|(p, v)| (p.as_str(), v.as_str())))
    }

    /// The same document with every leaf replaced by `<secret:PATH>` (for display and for
    /// offline renders).
    pub fn placeholders(&self) -> IndexMap<String, Value> {
        fn walk(prefix: &str, value: &Value) -> Value {
            match value {
                Value::Object(map) => Value::Object(
                    map.iter()
                        .map(|(k, v)| (k.clone(), walk(&join(prefix, k), v)))
                        .collect(),
                ),
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| walk(&join(prefix, &i.to_string()), v))
                        .collect(),
                ),
                Value::Null => Value::Null,
                _ => Value::String(format!("<secret:{prefix}>")),
            }
        }
        self.doc
            .iter()
            .map(|(k, v)| (k.clone(), walk(k, v)))
            .collect()
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Removes quoted fragments from a parser message, which could hold secret text.
fn strip_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_quote = false;
    for c in message.chars() {
        if c == '"' || c == '`' {
            if !in_quote {
                out.push_str("\"…\"");
            }
            in_quote = !in_quote;
        } else if !in_quote {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn leaves_and_placeholders() {
        let s = Secrets::from_yaml(
            Path::new("s.yml"),
            b"db:\n  user: app\n  password: hunter22\nports: [1, 2]\nwireguard:\n  h1:\n    wg0: KEY\n",
        )
        .unwrap();
        assert_eq!(
            s.leaves(),
            [
                ("db.user".to_string(), "app".to_string()),
                ("db.password".into(), "hunter22".into()),
                ("ports.0".into(), "1".into()),
                ("ports.1".into(), "2".into()),
                ("wireguard.h1.wg0".into(), "KEY".into()),
            ]
        );
        let p = s.placeholders();
        assert_eq!(p["db"]["password"], "<secret:db.password>");
        assert_eq!(p["ports"][1], "<secret:ports.1>");
    }

    #[test]
    fn reserved_top_level_keys_are_errors_naming_the_key() {
        for key in crate::model::inventory::RESERVED_VARIABLES {
            let err =
                Secrets::from_yaml(Path::new("s.yml"), format!("a: 1\n{key}: x\n").as_bytes())
                    .unwrap_err()
                    .to_string();
            assert!(
                err.starts_with(&format!("s.yml:2: top-level key {key} has the name")),
                "{err}"
            );
        }
        // Nested, the names are free.
        assert!(Secrets::from_yaml(Path::new("s.yml"), b"app:\n  groups: [a]\n").is_ok());
    }

    #[test]
    fn nxinfra_messages_keep_their_hints() {
        let err = Secrets::from_yaml(Path::new("s.yml"), b"a:\n  pw: !vault |\n    x\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains('…'), "{err}");
        assert!(
            err.contains("`!vault`") && err.contains("`nxinfra secrets set PATH`"),
            "{err}"
        );
        let err = Secrets::from_yaml(Path::new("s.yml"), b"db:\n  pw: hunter2\n  pw: hunter3\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("s.yml:3:")
                && err.contains("duplicate key \"pw\" (first written at line 2)"),
            "{err}"
        );
        assert!(!err.contains("hunter"), "{err}");
        let err = Secrets::from_yaml(Path::new("s.yml"), b"db:\n  ratio: .inf\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("s.yml:2:") && err.contains("('.inf')"),
            "{err}"
        );
        let s = Secrets::from_yaml(
            Path::new("s.yml"),
            b"base: &b {user: app, password: x}\ndb:\n  <<: *b\n  password: hunter2\n",
        )
        .unwrap();
        assert_eq!(s.doc["db"]["user"], "app");
        assert_eq!(s.doc["db"]["password"], "hunter2");
    }

    #[test]
    fn bad_documents_never_quote_content() {
        let err = Secrets::from_yaml(Path::new("s.yml"), b"a: \"hunter2\nb: [\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.starts_with("s.yml:"), "{err}");
        let err = Secrets::from_yaml(Path::new("s.yml"), b"- a\n- b\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be a mapping"), "{err}");
        assert!(
            Secrets::from_yaml(Path::new("s.yml"), b"")
                .unwrap()
                .doc
                .is_empty()
        );
    }
}

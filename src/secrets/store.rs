//! Where a fleet's secrets live in the repository, and loading / saving them.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Secrets, SecretsError, age_file, vault};

/// The native secrets file: armored age, YAML inside.
pub const AGE_FILE: &str = "secrets/secrets.yml.age";
/// An Ansible Vault secrets file, read directly for migration.
pub const VAULT_FILE: &str = "secrets/secrets.yml";
/// Public keys the secrets are encrypted to.
pub const RECIPIENTS_FILE: &str = "secrets/recipients.txt";
/// The key paths of the secrets, without values: every leaf as its `<secret:PATH>`
/// placeholder. Written with every write of the secrets file; `nxinfra diff` renders with it
/// when there is no identity. Outside `secrets/`: it holds nothing secret.
pub const KEYS_FILE: &str = "secrets.keys.yml";

/// How to unlock the secrets: from `--identity` / `NXINFRA_AGE_KEY_FILE` and
/// `--vault-password-file` / `NXINFRA_VAULT_PASSWORD_FILE`.
#[derive(Debug, Default, Clone)]
pub struct Keys {
    pub identity: Option<PathBuf>,
    pub vault_password_file: Option<PathBuf>,
}

/// Which secrets file a repository has.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    None,
    Age(PathBuf),
    Vault(PathBuf),
}

/// `$XDG_CONFIG_HOME/nxinfra/identity.txt`, else `~/.config/nxinfra/identity.txt`.
pub fn default_identity_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("nxinfra").join("identity.txt"))
}

impl Keys {
    /// The identity file to use: the explicit one, else the default one if it exists.
    pub fn identity_file(&self) -> Option<PathBuf> {
        self.identity
            .clone()
            .or_else(|| default_identity_path().filter(|p| p.exists()))
    }
}

/// Finds the secrets file of the repository at `root`.
pub fn locate(root: &Path) -> Result<Source, SecretsError> {
    let age = root.join(AGE_FILE);
    let vault_file = root.join(VAULT_FILE);
    match (age.exists(), vault_file.exists()) {
        (true, true) => Err(SecretsError::Corrupt {
            file: vault_file,
            reason: format!(
                "both {AGE_FILE} and {VAULT_FILE} exist; nxinfra will not guess which one holds \
                 the secrets: after `nxinfra secrets import-vault`, delete {VAULT_FILE}"
            ),
        }),
        (true, false) => Ok(Source::Age(age)),
        (false, true) => Ok(Source::Vault(vault_file)),
        (false, false) => Ok(Source::None),
    }
}

/// Decrypts the repository's secrets file; `None` when the fleet has no secrets.
pub fn read_plaintext(
    root: &Path,
    keys: &Keys,
) -> Result<Option<(PathBuf, Vec<u8>)>, SecretsError> {
    match locate(root)? {
        Source::None => Ok(None),
        Source::Age(file) => decrypt_age(&file, keys).map(|p| Some((file, p))),
        Source::Vault(file) => decrypt_vault(&file, keys).map(|p| Some((file, p))),
    }
}

/// Loads and parses the repository's secrets (empty when the fleet has none).
pub fn load(root: &Path, keys: &Keys) -> Result<Secrets, SecretsError> {
    match read_plaintext(root, keys)? {
        None => Ok(Secrets::default()),
        Some((file, plaintext)) => Secrets::from_yaml(&file, &plaintext),
    }
}

/// Decrypts an age file with the identity from `keys`.
pub fn decrypt_age(file: &Path, keys: &Keys) -> Result<Vec<u8>, SecretsError> {
    let identity_file = keys
        .identity_file()
        .ok_or_else(|| SecretsError::NoIdentity {
            file: file.to_path_buf(),
        })?;
    let identities = age_file::read_identities(&identity_file)?;
    let data = std::fs::read(file).map_err(|source| SecretsError::Io {
        action: "read",
        file: file.to_path_buf(),
        source,
    })?;
    age_file::decrypt(file, &data, &identities, &identity_file)
}

/// Decrypts an Ansible Vault file with the password file from `keys`.
pub fn decrypt_vault(file: &Path, keys: &Keys) -> Result<Vec<u8>, SecretsError> {
    let password_file =
        keys.vault_password_file
            .as_ref()
            .ok_or_else(|| SecretsError::NoVaultPassword {
                file: file.to_path_buf(),
            })?;
    let password = vault::read_password_file(password_file).map_err(|source| SecretsError::Io {
        action: "read vault password file",
        file: password_file.clone(),
        source,
    })?;
    let data = std::fs::read(file).map_err(|source| SecretsError::Io {
        action: "read",
        file: file.to_path_buf(),
        source,
    })?;
    vault::decrypt(&data, &password).map_err(|source| SecretsError::Vault {
        file: file.to_path_buf(),
        source,
    })
}

/// Encrypts `plaintext` to the repository's recipients and replaces the age secrets file
/// atomically (a temporary file renamed over it: a crash leaves the old or the new file).
pub fn write_age(root: &Path, plaintext: &[u8]) -> Result<PathBuf, SecretsError> {
    let recipients = age_file::read_recipients(&root.join(RECIPIENTS_FILE))?;
    let armored = age_file::encrypt(plaintext, &recipients)?;
    let file = root.join(AGE_FILE);
    write_atomic(&file, armored.as_bytes(), 0o644)?;
    write_keys(root, &Secrets::from_yaml(&file, plaintext)?)?;
    Ok(file)
}

/// Writes [`KEYS_FILE`] for `secrets`.
pub fn write_keys(root: &Path, secrets: &Secrets) -> Result<(), SecretsError> {
    let file = root.join(KEYS_FILE);
    let yaml =
        serde_norway::to_string(&secrets.placeholders()).map_err(|e| SecretsError::Encrypt {
            reason: format!("cannot write {KEYS_FILE}: {e}"),
        })?;
    let text = format!(
        "# The key paths of {AGE_FILE}, without values: written by nxinfra with every change of\n\
         # the secrets (do not edit). nxinfra diff renders with these placeholders when there is no\n\
         # identity (docs/secrets.md).\n{}",
        if secrets.doc.is_empty() {
            "{}\n"
        } else {
            &yaml
        }
    );
    write_atomic(&file, text.as_bytes(), 0o644)
}

/// The placeholders of [`KEYS_FILE`], if the repository has one.
pub fn read_keys(root: &Path) -> Result<Option<Secrets>, SecretsError> {
    let file = root.join(KEYS_FILE);
    match std::fs::read(&file) {
        Ok(data) => Secrets::from_yaml(&file, &data).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SecretsError::Io {
            action: "read",
            file,
            source,
        }),
    }
}

/// Writes `data` to `file` through a temporary file in the same folder, then renames it.
pub fn write_atomic(file: &Path, data: &[u8], mode: u32) -> Result<(), SecretsError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |action: &'static str| {
        move |source| SecretsError::Io {
            action,
            file: file.to_path_buf(),
            source,
        }
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("create the folder of"))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".nxinfra-tmp-")
        .tempfile_in(dir)
        .map_err(io("create a temporary file for"))?;
    tmp.write_all(data).map_err(io("write"))?;
    tmp.as_file().sync_all().map_err(io("sync"))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
        .map_err(io("set the mode of"))?;
    tmp.persist(file).map_err(|e| SecretsError::Io {
        action: "replace",
        file: file.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

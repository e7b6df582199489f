//! `group_vars/` and `host_vars/`, found as Ansible's `host_group_vars` plugin finds them:
//! for a group or host NAME, the first of `NAME` (a file, or a folder read recursively in
//! sorted order, hidden files and `~` backups skipped), `NAME.yml`, `NAME.yaml`, `NAME.json`.
//! Unlike Ansible, a file for a group or host the inventory does not have is an error (a typo
//! would otherwise drop its variables without a word), and so is a `NAME.yml` beside a `NAME/`
//! folder (Ansible reads only the folder).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;

use super::load::{At, Builder, invalid};
use super::{InventoryError, Level, Origin};
use crate::util::yaml;

/// The extensions a vars file may have (Ansible's `YAML_FILENAME_EXTENSIONS`, and none).
const EXTENSIONS: &[&str] = &["", ".yml", ".yaml", ".json"];

/// Opens a vault-encrypted vars file: its plaintext, or why not (never its content).
pub trait Unlock {
    fn unlock(&self, file: &Path) -> Result<Vec<u8>, String>;
}

/// Whether `data` is an Ansible Vault (a whole-file `ansible-vault encrypt`).
pub fn is_vault(data: &[u8]) -> bool {
    data.starts_with(b"$ANSIBLE_VAULT;")
}

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Group,
    Host,
}

impl Kind {
    fn folder(self) -> &'static str {
        match self {
            Kind::Group => "group_vars",
            Kind::Host => "host_vars",
        }
    }
}

/// Reads `dir/group_vars/` or `dir/host_vars/` (if there) into `builder` at `level`.
pub fn read(
    builder: &mut Builder,
    dir: &Path,
    kind: Kind,
    level: Level,
    unlock: Option<&dyn Unlock>,
) -> Result<(), InventoryError> {
    let folder = dir.join(kind.folder());
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Ok(());
    };
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| InventoryError::Read {
            file: folder.clone(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && !name.ends_with('~') {
            names.push(name);
        }
    }
    names.sort();
    // Each entry's group or host: the name itself, else the name without its extension.
    let mut entities: IndexMap<String, Vec<String>> = IndexMap::new();
    for name in &names {
        let path = folder.join(name);
        let stem = [".yml", ".yaml", ".json"]
            .iter()
            .find_map(|e| name.strip_suffix(e));
        let entity = if known(builder, kind, name) {
            name.as_str()
        } else if let Some(stem) = stem.filter(|s| known(builder, kind, s)) {
            stem
        } else if stem.is_none() && path.is_file() && (ignored(name) || !looks_like_vars(&path)) {
            continue; // README.md, notes: Ansible never reads them either
        } else {
            let at = Origin::new(&Arc::from(path.as_path()), None);
            return Err(invalid(&at, unknown(builder, kind, stem.unwrap_or(name))));
        };
        entities
            .entry(entity.to_string())
            .or_default()
            .push(name.clone());
    }
    for (entity, found) in &entities {
        if found.len() > 1 {
            let at = Origin::new(&Arc::from(folder.join(&found[1])), None);
            return Err(invalid(
                &at,
                format!(
                    "{} and {} both hold {entity}'s variables; Ansible reads only the first: \
                     merge them into one",
                    folder.join(&found[0]).display(),
                    folder.join(&found[1]).display()
                ),
            ));
        }
        let path = folder.join(&found[0]);
        let mut files = Vec::new();
        if path.is_dir() {
            files_in(&path, &mut files)?;
        } else {
            files.push(path);
        }
        for file in files {
            read_file(builder, &file, entity, kind, level, unlock)?;
        }
    }
    Ok(())
}

fn known(builder: &Builder, kind: Kind, name: &str) -> bool {
    match kind {
        Kind::Group => builder.has_group(name),
        Kind::Host => builder.has_host(name),
    }
}

fn unknown(builder: &Builder, kind: Kind, name: &str) -> String {
    let (what, known) = match kind {
        Kind::Group => ("group", builder.group_names()),
        Kind::Host => ("host", builder.host_names()),
    };
    let hint = match crate::util::suggest::closest(name, &known) {
        Some(close) => format!(" (did you mean {close}?)"),
        None => String::new(),
    };
    format!(
        "no {what} {name:?} in the inventory{hint}: Ansible would ignore these variables \
         without a word; nxinfra refuses them"
    )
}

/// Files Ansible's inventory readers skip by their extension (`INVENTORY_IGNORE_EXTS`).
pub fn ignored(name: &str) -> bool {
    const EXTS: &[&str] = &[
        ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg",
        ".retry",
    ];
    name.starts_with('.') || EXTS.iter().any(|e| name.ends_with(e))
}

/// A file without an extension is a vars file when it holds a vault or `key:` lines.
fn looks_like_vars(file: &Path) -> bool {
    std::fs::read(file).is_ok_and(|d| {
        is_vault(&d)
            || String::from_utf8_lossy(&d)
                .lines()
                .any(|l| !l.starts_with([' ', '#', '-']) && l.contains(':'))
    })
}

/// Every file under `dir`, recursively, in sorted order, but for entries whose name `skip`
/// says to skip and files `keep` refuses.
pub fn files_under(
    dir: &Path,
    skip: &dyn Fn(&str) -> bool,
    keep: &dyn Fn(&Path) -> bool,
    out: &mut Vec<PathBuf>,
) -> Result<(), InventoryError> {
    let read_err = |source| InventoryError::Read {
        file: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.path()).map_err(read_err))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if skip(&name) {
            continue;
        }
        if path.is_dir() {
            files_under(&path, skip, keep, out)?;
        } else if keep(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// A vars folder's files: hidden files and `~` backups skipped; as Ansible, files with other
/// extensions than [`EXTENSIONS`] too.
fn files_in(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InventoryError> {
    let skip = |name: &str| name.starts_with('.') || name.ends_with('~');
    let keep = |path: &Path| {
        let ext = path
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        EXTENSIONS.contains(&ext.as_str())
    };
    files_under(dir, &skip, &keep, out)
}

/// One vars file: a YAML (or JSON) mapping of variables, maybe a whole-file vault.
fn read_file(
    builder: &mut Builder,
    file: &Path,
    entity: &str,
    kind: Kind,
    level: Level,
    unlock: Option<&dyn Unlock>,
) -> Result<(), InventoryError> {
    let data = std::fs::read(file).map_err(|source| InventoryError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    let path: Arc<Path> = Arc::from(file);
    let whole = Origin::new(&path, None);
    let secret = is_vault(&data);
    let (text, lines) = if secret {
        let Some(unlock) = unlock else {
            return Err(invalid(
                &whole,
                "is encrypted with Ansible Vault: pass --vault-password-file FILE".into(),
            ));
        };
        let plain = unlock
            .unlock(file)
            .map_err(|why| invalid(&whole, format!("cannot decrypt: {why}")))?;
        let text = String::from_utf8(plain).map_err(|_| {
            invalid(
                &whole,
                "decrypts to something that is not UTF-8 text".into(),
            )
        })?;
        (text, None)
    } else {
        let text =
            String::from_utf8(data).map_err(|_| invalid(&whole, "is not UTF-8 text".into()))?;
        let lines = yaml::KeyLines::new(&text);
        (text, Some(lines))
    };
    let vars: Option<IndexMap<String, Value>> = yaml::parse(file, &text).map_err(|e| {
        if secret {
            // The parser's words may quote the plaintext: its line only.
            invalid(
                &Origin::new(&path, e.line),
                "(decrypted) is not a YAML mapping of variables".into(),
            )
        } else {
            e.into()
        }
    })?;
    for (key, value) in vars.iter().flatten() {
        let line = lines.as_ref().and_then(|l| l.get(&[key]));
        let at = At {
            origin: Origin::new(&path, line),
            level,
            secret,
        };
        match kind {
            Kind::Group => builder.group_var(entity, key, value, &at)?,
            Kind::Host => builder.host_var(entity, key, value, &at)?,
        }
    }
    Ok(())
}

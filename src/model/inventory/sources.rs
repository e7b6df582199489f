//! The repository's inventory as Ansible reads an inventory folder: every file of
//! `inventory/` in sorted order, recursively (hidden files, `group_vars/`, `host_vars/` and
//! Ansible's ignored extensions skipped), each an executable inventory script, a YAML file
//! (`.yml`, `.yaml`, `.json`) or an INI file (anything else); then the vars files of
//! `inventory/group_vars/` and `inventory/host_vars/`, and of `group_vars/` and
//! `host_vars/` at the repository's root (where an Ansible repository keeps them beside its
//! playbooks).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::load::{Builder, invalid};
use super::vars_files::{self, Kind};
use super::{Inventory, InventoryError, Level, Origin};

pub use super::vars_files::Unlock;

/// How to read an inventory's sources.
pub struct Options<'a> {
    /// Opens vault-encrypted vars files; none: such a file is an error that says what to pass.
    pub unlock: Option<&'a dyn Unlock>,
    /// How long an inventory script may run.
    pub script_timeout: Duration,
}

/// Reads one YAML inventory file (no vars folders, no scripts).
pub fn load(file: &Path) -> Result<Inventory, InventoryError> {
    let text = std::fs::read_to_string(file).map_err(|source| InventoryError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    super::load::parse(file, &text)
}

/// Reads the inventory folder `dir` of the repository at `root`, with the vars folders beside
/// it and at the root.
pub fn load_dir(dir: &Path, root: &Path, opts: &Options<'_>) -> Result<Inventory, InventoryError> {
    let mut builder = Builder::new(dir);
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    for file in &files {
        read_source(&mut builder, file, root, opts)?;
        builder.sources.push(file.clone());
    }
    for kind in [Kind::Group, Kind::Host] {
        vars_files::read(&mut builder, dir, kind, Level::InventoryDir, opts.unlock)?;
        vars_files::read(&mut builder, root, kind, Level::RootDir, opts.unlock)?;
    }
    builder.finish()
}

/// The inventory sources under `dir`, sorted, recursively.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InventoryError> {
    let skip =
        |name: &str| vars_files::ignored(name) || name == "group_vars" || name == "host_vars";
    vars_files::files_under(dir, &skip, &|_| true, out)
}

/// One source: a script if executable, YAML by its extension, else INI.
fn read_source(
    builder: &mut Builder,
    file: &Path,
    root: &Path,
    opts: &Options<'_>,
) -> Result<(), InventoryError> {
    use std::os::unix::fs::PermissionsExt;
    let path: Arc<Path> = Arc::from(file);
    let meta = std::fs::metadata(file).map_err(|source| InventoryError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    if meta.permissions().mode() & 0o111 != 0 {
        let output = super::script::run(file, root, opts.script_timeout)?;
        return super::script::read(builder, &path, &output);
    }
    let data = std::fs::read(file).map_err(|source| InventoryError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    let whole = Origin::new(&path, None);
    if data.starts_with(b"#!") {
        return Err(invalid(
            &whole,
            "starts with #! but is not executable: `chmod +x` it to have it run as an \
             inventory script (Ansible's --list JSON)"
                .into(),
        ));
    }
    if vars_files::is_vault(&data) {
        return Err(invalid(
            &whole,
            "is an Ansible Vault: nxinfra reads encrypted vars files (group_vars/, host_vars/), \
             not encrypted inventory files; keep hosts and groups in plain text"
                .into(),
        ));
    }
    let text = String::from_utf8(data).map_err(|_| invalid(&whole, "is not UTF-8 text".into()))?;
    let ext = file
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    match ext.as_str() {
        "yml" | "yaml" | "json" => super::yaml::read(builder, &path, &text),
        "toml" => Err(invalid(
            &whole,
            "TOML inventories are not read: use YAML (.yml) or INI".into(),
        )),
        _ => super::ini::read(builder, &path, &text),
    }
}

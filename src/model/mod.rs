//! The model: what the repository and the hosts say, as plain data, parsed once and checked.
//! No I/O beyond reading the repository's own files, no network, no engine.
//!
//! [`inventory`] (groups, hosts, their merged variables, `--limit`); [`target`] (each host's
//! connection and tool settings, parsed once from its variables); [`system_files`] and
//! [`backup`] (the declarations of `nxinfra_system_files` and `nxinfra_backups`);
//! [`compose`] (a host's `compose.yml`, loaded and checked); [`manifest`] (what nxinfra
//! placed on a host: `<base_dir>/.nxinfra/manifest`); [`observed`] (an engine's state as
//! plain data).

pub mod backup;
pub mod compose;
pub mod inventory;
pub mod manifest;
pub mod observed;
pub mod system_files;
pub mod target;
pub mod tree;

//! The model: what the repository and the hosts say, as plain data, parsed once and checked.
//! No I/O beyond reading the repository's own files, no network, no engine.
//!
//! [`inventory`] (groups, hosts, their merged variables, `--limit`); [`target`] (each host's
//! spec: connection, tool settings and declarations, parsed once from its variables);
//! [`system_files`], [`backup`] and [`wireguard`] (the declarations of `nxinfra_system_files`,
//! `nxinfra_backups` and `nxinfra_wireguard_peers`);
//! [`hold`] (what deploys leave alone, and until when); [`compose`] (a host's `compose.yml`, loaded and checked); [`manifest`] (what nxinfra
//! placed on a host: `<base_dir>/.nxinfra/manifest`); [`observed`] (an engine's state as
//! plain data).

pub mod backup;
pub mod cluster;
pub mod compose;
pub mod hold;
pub mod host_checks;
pub mod inventory;
pub mod journal;
pub mod manifest;
pub mod observed;
pub mod placed;
pub mod system_files;
pub mod target;
pub mod tree;
pub mod wireguard;

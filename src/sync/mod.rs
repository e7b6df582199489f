//! `sync` (in progress, issue 3): rendered trees pushed to hosts over SSH.
//!
//! The pure parts come first: the manifest nxinfra keeps on each host
//! (`<base_dir>/.nxinfra/manifest`) and the plan computed from it before anything is sent.

pub mod control;
pub mod diff;
pub mod manifest;
pub mod plan;
pub mod remote;
pub mod run;
pub mod session;
pub mod system_files;
pub mod target;

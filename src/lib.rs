//! nxinfra: deploys a fleet from a git repository.
//!
//! The pipeline, one module per stage: [`inventory`] → [`secrets`] → [`render`] → [`sync`]
//! (manifest, plan, then the SSH work); the command line in [`cli`] and [`commands`], shared
//! per-host [`progress`].

pub mod apply;
pub mod backup;
pub mod cli;
pub mod color;
pub mod commands;
pub mod interrupt;
pub mod inventory;
pub mod parallel;
pub mod pipe;
pub mod preview;
pub mod progress;
pub mod render;
pub mod secrets;
pub mod shell;
pub mod suggest;
pub mod sync;
pub mod yaml;

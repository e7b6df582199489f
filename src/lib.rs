//! nxinfra: deploys a fleet from a git repository.
//!
//! The pipeline, one module per stage: [`inventory`] → [`secrets`] → [`render`] → [`sync`]
//! (the manifest and plan so far); the command
//! line in [`cli`] and [`commands`].

pub mod cli;
pub mod commands;
pub mod inventory;
pub mod render;
pub mod secrets;
pub mod shell;
pub mod sync;
pub mod yaml;

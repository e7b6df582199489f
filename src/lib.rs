//! nxinfra: deploys a fleet from a git repository.
//!
//! The pipeline: the inventory and the encrypted secrets are loaded and checked
//! ([`model::inventory`], [`secrets`]); each host's templates are rendered into
//! `rendered/HOST/` ([`render`]); `sync` places a host's rendered files under its lock and
//! records them in its manifest ([`ops::sync`]); `apply` does that and then brings the host's
//! containers to what its `compose.yml` asks, health-gated, putting the old ones and their
//! files back on failure ([`ops::apply`]); `plan` and `diff` show what would change, against
//! the hosts or offline between two revisions ([`ops::diff`]); `backup` dumps, verifies and
//! restores declared data ([`ops::backup`]).
//!
//! Layers, dependencies pointing one way (docs/architecture.md):
//!
//! - [`cli`]: the command line's clap types, nothing else; [`app`]: the command layer, one
//!   file per command: arguments into settings, one operation called, its report printed,
//!   the exit status decided;
//! - [`ops`]: operations across the fleet (sync, apply, backup, diff), orchestrating
//! - [`plan`] (pure: observed + desired → what to do, with reasons) and [`host`] (every
//!   effect on a host: SSH, lock, remote scripts, the engine, the fleet runner);
//! - [`render`] and [`secrets`]: the local stages (templates → `rendered/`, the encrypted
//!   secrets), which touch the repository, never a host;
//! - [`model`]: inventory, per-host settings, compose, manifest, as plain data;
//! - [`util`]: small helpers any layer may use.

pub mod app;
pub mod cli;
pub mod host;
pub mod model;
pub mod ops;
pub mod plan;
pub mod render;
pub mod secrets;
pub mod util;

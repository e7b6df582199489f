//! The loader of `rendered/<host>/compose.yml`: nxinfra's subset of the Compose Specification
//! (docs/compose.md), parsed into a typed model, checked, and normalised for the reconciler.
//!
//! How it reads, in order:
//!
//! - [`crate::util::yaml::de`] (the deserializer every loader shares) in its compose dialect:
//!   records the key path of an error, refuses duplicate keys, merges `<<` merge keys,
//!   unescapes `$$` (and refuses other `$`: no interpolation) and skips `x-*` keys;
//! - `model`: the file as written (serde, `deny_unknown_fields` everywhere), with the short and
//!   long syntaxes parsed as they are read (`forms`, `ports`, `mounts`, `options`, `net`,
//!   `duration`, `words`), so their errors carry their line;
//! - `build` and `service`: the normalised form (`normal`: [`Compose`], [`Service`],
//!   [`ContainerSpec`], whose canonical JSON the reconciler hashes), with the checks that
//!   concern one service, network or volume;
//! - `jobs`: which services run to completion, and what they may not have;
//! - `validate`: checks across the file (references, addresses, unique names and ports,
//!   cycles), located by `report` through [`crate::util::yaml::KeyLines`]; `order`: dependency order.
//!
//! Every error names the file, the line when known, the service (network, volume) and the
//! key, and never quotes an environment value.

mod build;
mod duration;
mod error;
mod forms;
mod jobs;
mod model;
mod mounts;
mod net;
mod normal;
mod options;
mod order;
mod ports;
mod report;
mod service;
pub mod stack;
mod validate;
mod words;

use std::path::Path;

pub use duration::ComposeDuration;
pub use error::{ComposeError, Problem, Scope};
pub use model::{CheckFrom, Condition, OnConfigChange, PidMode, PullPolicy, RawCheck, RawExec};
pub use mounts::{Device, Mount, MountKind};
pub use net::Subnet;
pub use normal::{
    Attachment, Check, Compose, ContainerSpec, Environment, Healthcheck, Job, Logging, Network,
    Pool, PostCheck, Probe, Service, Volume,
};
pub use options::{NetworkMode, Restart, Ulimit};
pub use ports::{PortBinding, Protocol};
pub use service::{Timing, check_timing, post_check};

/// Reads, checks and normalises the compose file at `file`.
pub fn load(file: &Path) -> Result<Compose, ComposeError> {
    let text = std::fs::read_to_string(file).map_err(|source| ComposeError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse(file, &text)
}

/// Checks and normalises compose `text`; `file` names it in errors.
pub fn parse(file: &Path, text: &str) -> Result<Compose, ComposeError> {
    let (raw, lines) = read::<model::RawCompose>(file, text)?;
    let mut report = report::Report::new(&lines);
    let mut compose = build::build(file, raw, &mut report);
    jobs::mark_and_check(&mut compose, &mut report);
    validate::check(&compose, &mut report);
    finish(file, compose, report)
}

/// The document of `text` as written (`T`) and the lines of its keys; a parse error or an
/// empty file is the error (compose.yml and stack.yml alike).
fn read<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<(T, crate::util::yaml::KeyLines), ComposeError> {
    let invalid = |problems| ComposeError::Invalid {
        file: file.to_path_buf(),
        problems,
    };
    let raw: Option<T> =
        crate::util::yaml::de::from_str(text, crate::util::yaml::de::Dialect::Compose)
            .map_err(|e| invalid(vec![error::from_serde(&e)]))?;
    let Some(raw) = raw else {
        return Err(invalid(vec![Problem::new(
            None,
            Scope::File,
            "",
            "the file is empty (expected `services:`)".into(),
        )]));
    };
    Ok((raw, crate::util::yaml::KeyLines::new(text)))
}

/// `value`, unless `report` found problems: then all of them, in file order (those without
/// a line last).
fn finish<T>(file: &Path, value: T, report: report::Report) -> Result<T, ComposeError> {
    if report.problems.is_empty() {
        return Ok(value);
    }
    let mut problems = report.problems;
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    Err(ComposeError::Invalid {
        file: file.to_path_buf(),
        problems,
    })
}

#[cfg(test)]
mod tests;

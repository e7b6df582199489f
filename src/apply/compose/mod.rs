//! The loader of `rendered/<host>/compose.yml`: nxinfra's subset of the Compose Specification
//! (docs/compose.md), parsed into a typed model, checked, and normalised for the reconciler.
//!
//! - [`model`]: the file as written (serde, `deny_unknown_fields` everywhere; extension keys
//!   `x-*` skipped, `x-nxinfra` read on services);
//! - [`normal`]: the normalised form ([`Compose`], [`Service`], [`ContainerSpec`]) whose
//!   canonical JSON the reconciler hashes;
//! - [`validate`]: checks across the file; [`order`]: dependency order.
//!
//! Every error names the file, the line when known, the service (network, volume) and the
//! key, and never quotes an environment value.

mod de;
mod duration;
mod error;
mod forms;
mod model;
mod mounts;
mod net;
mod normal;
mod options;
mod order;
mod ports;
mod validate;
mod words;

use std::path::Path;

pub use error::{ComposeError, Problem, Scope};
pub use model::{Condition, OnConfigChange, PidMode, PullPolicy};
pub use mounts::{Device, Mount, MountKind};
pub use net::Subnet;
pub use normal::{
    Attachment, Check, Compose, ContainerSpec, Environment, Healthcheck, Logging, Network, Pool,
    Service, Volume,
};
pub use options::{NetworkMode, Restart, Ulimit};
pub use ports::{PortBinding, Protocol};

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
    let invalid = |problems| ComposeError::Invalid {
        file: file.to_path_buf(),
        problems,
    };
    let raw: Option<model::RawCompose> =
        de::from_str(text).map_err(|(e, path)| invalid(vec![error::from_serde(&e, &path)]))?;
    let Some(raw) = raw else {
        return Err(invalid(vec![Problem::new(
            None,
            Scope::File,
            "",
            "the file is empty (expected `services:`)".into(),
        )]));
    };
    let lines = crate::yaml::KeyLines::new(text);
    let mut report = normal::Report::new(&lines);
    let compose = normal::build(file, raw, &mut report);
    validate::check(&compose, &mut report);
    if report.problems.is_empty() {
        return Ok(compose);
    }
    // In file order; problems without a line last.
    let mut problems = report.problems;
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    Err(invalid(problems))
}

#[cfg(test)]
mod tests;

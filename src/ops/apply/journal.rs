//! An apply's deploy journal: the rollback's choice read from the host's journal, the check
//! that a rollback changes images only, and the record of what the deploy left. What is
//! decided is `plan::journal`'s; this reads the host and the engine for it.

use std::collections::BTreeMap;

use crate::host::Host;
use crate::host::engine::Engine;
use crate::model::compose::Compose;
use crate::model::journal::{Journal, Kind, Outcome, Pins, Record};
use crate::model::observed::Observed;
use crate::plan::containers::{Action, ApplyPlan};
use crate::plan::files::SyncPlan;
use crate::plan::journal::{RollbackChoice, Source};
use crate::util::redact::Redactor;

use super::{ApplyError, Planned, execute::ExecError};

/// Now, as the journal writes it (RFC 3339, UTC, seconds).
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A rollback's choice on this host: the files must be as deployed (a rollback changes
/// images only), deploy `to`'s image of each service must still be on the host.
pub async fn choose(
    session: &impl Host,
    engine: &impl Engine,
    compose: &Compose,
    sync: (&SyncPlan, &Journal),
    to: Option<u64>,
    services: &[String],
    phase: &(dyn Fn(&str) + Sync),
) -> Result<RollbackChoice, ApplyError> {
    let (files, journal) = sync;
    if !files.is_noop() {
        return Err(pending(files.summary(), journal));
    }
    phase("reading the deploy journal");
    let history = crate::host::files::read_history(session).await?;
    let observed = engine.observe().await?;
    let running: BTreeMap<String, String> = compose
        .services
        .values()
        .filter_map(|s| {
            let c = observed.container(&s.spec.container_name)?;
            Some((s.name.clone(), c.image_id.clone()))
        })
        .collect();
    let choice = crate::plan::journal::choose_rollback(&history, to, services, compose, &running)?;
    for (service, record) in &choice.services {
        if let Some(id) = &record.image_id
            && observed.image_id(id).is_none()
        {
            return Err(ApplyError::RollbackImageGone {
                service: service.clone(),
                image_id: id.clone(),
                to: choice.to,
            });
        }
    }
    Ok(choice)
}

/// `planned`, if it changes nothing but the services `choice` rolls back.
pub fn only_rolled_back(
    planned: Planned,
    choice: &RollbackChoice,
    journal: &Journal,
) -> Result<Planned, ApplyError> {
    let rolled: Vec<&str> = choice.services.iter().map(|(s, _)| s.as_str()).collect();
    let mut other: Vec<String> = planned
        .plan
        .networks
        .iter()
        .filter(|n| n.action != Action::Unchanged)
        .map(|n| format!("{} network {}", super::verb(n.action), n.name))
        .collect();
    other.extend(
        planned
            .plan
            .containers
            .iter()
            .filter(|c| c.action != Action::Unchanged)
            .filter(|c| !c.service.as_deref().is_some_and(|s| rolled.contains(&s)))
            .map(|c| {
                format!(
                    "{} {}: {}",
                    super::verb(c.action),
                    c.name,
                    c.reasons.join(", ")
                )
            }),
    );
    if other.is_empty() {
        Ok(planned)
    } else {
        Err(pending(other.join("; "), journal))
    }
}

fn pending(what: String, journal: &Journal) -> ApplyError {
    let commit = journal
        .last
        .as_ref()
        .and_then(|r| r.commit.as_ref())
        .map(|c| format!(" {}", &c[..c.len().min(12)]))
        .unwrap_or_default();
    ApplyError::RollbackPending { what, commit }
}

/// What a deploy's record says beside the host's state.
pub struct Facts<'a> {
    pub n: u64,
    pub source: &'a Source,
    /// A rollback's deploy gone back to.
    pub to: Option<u64>,
    pub failure: Option<&'a ApplyError>,
    pub files: &'a SyncPlan,
    pub redactor: &'a Redactor,
}

/// The record of the deploy: `compose` (as rendered: its references) as the engine holds it
/// `after`, the steps of `plan`, the pins afterwards.
pub fn record(
    facts: Facts<'_>,
    compose: &Compose,
    plan: &ApplyPlan,
    after: &Observed,
    pins: &Pins,
) -> Record {
    let outcome = match facts.failure {
        None => Outcome::Ok,
        Some(ApplyError::Step {
            error: ExecError::RolledBack { .. },
            ..
        }) => Outcome::RolledBack,
        Some(_) => Outcome::Failed,
    };
    crate::plan::journal::record(
        crate::plan::journal::Deployed {
            n: facts.n,
            time: now(),
            source: facts.source,
            kind: if facts.to.is_some() {
                Kind::Rollback
            } else {
                Kind::Apply
            },
            to: facts.to,
            outcome,
            error: facts
                .failure
                .map(|e| facts.redactor.redact(&e.to_string()).into_owned()),
            files: (!facts.files.is_noop()).then(|| facts.files.summary()),
        },
        compose,
        plan,
        after,
        pins,
    )
}

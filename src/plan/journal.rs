//! The deploy journal's decisions, pure: a host's compose.yml with its pins applied, what
//! unpinning would change, a deploy's record as it left the host, and which deploy and
//! services a rollback goes back to.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::compose::{Compose, PullPolicy};
use crate::model::journal::{Kind, Outcome, Pin, Pins, Record, ServiceRecord};
use crate::model::observed::Observed;
use crate::plan::containers::{Action, ApplyPlan};

/// `compose` with every pinned service's image replaced by its pinned image id: the container
/// is compared and created with that image, and its reference (a floating tag that may have
/// moved) is neither pulled nor followed. Pins of services compose.yml no longer has are
/// ignored (they are shown, and `unpin` drops them).
pub fn pinned(compose: &Compose, pins: &Pins) -> Compose {
    let mut out = compose.clone();
    for (name, pin) in &pins.pins {
        if let Some(service) = out.services.get_mut(name) {
            service.spec.image = pin.image_id.clone();
            // An image id is never pulled: it is on the host or the pin cannot hold.
            service.pull_policy = PullPolicy::Never;
        }
    }
    out
}

/// A pinned service whose image is no longer on the host.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "service {service} is pinned to {image_id} ({why}), and that image is no longer on the host; nothing was changed: `nxinfra rollback --to N` to another deploy, or `nxinfra unpin {service}` to follow compose.yml again"
)]
pub struct PinGone {
    pub service: String,
    pub image_id: String,
    pub why: String,
}

/// The first pin of a service of `compose` whose image the engine does not have.
pub fn missing_pinned(compose: &Compose, pins: &Pins, observed: &Observed) -> Option<PinGone> {
    pins.pins
        .iter()
        .filter(|(name, _)| compose.services.contains_key(*name))
        .find(|(_, pin)| observed.image_id(&pin.image_id).is_none())
        .map(|(service, pin)| PinGone {
            service: service.clone(),
            image_id: pin.image_id.clone(),
            why: pin.describe(),
        })
}

/// A pinned service, as a plan shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinNote {
    #[serde(flatten)]
    pub pin: Pin,
    /// `pinned by rollback to deploy 3 at …: image kept at sha256:…`
    pub text: String,
    /// What `nxinfra unpin` followed by `apply` would do to it.
    pub unpinned: Unpinned,
}

/// What unpinning a service would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unpinned {
    pub action: Action,
    pub reasons: Vec<String>,
}

impl PinNote {
    /// `web: pinned by … ; unpinned, it would be recreated (image changed)`
    pub fn line(&self, container: &str) -> String {
        let after = match self.unpinned.action {
            Action::Unchanged => "unpinned, it would stay as it is".to_string(),
            a => format!(
                "unpinned, it would {}{}",
                crate::plan::containers::verb(a),
                if self.unpinned.reasons.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", self.unpinned.reasons.join(", "))
                }
            ),
        };
        format!("{container}: {}; {after}", self.text)
    }
}

/// Puts on each pinned step of `plan` its pin, and what the same step is in `unpinned` (the
/// plan of compose.yml as it is, against the same engine), or why that plan failed.
pub fn annotate(
    plan: &mut ApplyPlan,
    pins: &Pins,
    unpinned: Result<&ApplyPlan, &dyn std::fmt::Display>,
) {
    for step in &mut plan.containers {
        let Some(pin) = step.service.as_ref().and_then(|s| pins.pins.get(s)) else {
            continue;
        };
        if step.action == Action::Remove {
            continue;
        }
        let unpinned = match unpinned {
            Ok(other) => other
                .containers
                .iter()
                .find(|s| s.name == step.name)
                .map(|s| Unpinned {
                    action: s.action,
                    reasons: s.reasons.clone(),
                })
                .unwrap_or(Unpinned {
                    action: Action::Unchanged,
                    reasons: vec![],
                }),
            Err(e) => Unpinned {
                action: Action::Recreate,
                reasons: vec![format!("but planning it fails: {e}")],
            },
        };
        step.pin = Some(PinNote {
            pin: pin.clone(),
            text: pin.describe(),
            unpinned,
        });
    }
}

/// Who made a deploy, from what.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// `user@machine`.
    pub operator: String,
    pub commit: Option<String>,
    pub dirty: bool,
}

/// A deploy's facts beside the host's state after it.
pub struct Deployed<'a> {
    pub n: u64,
    pub time: String,
    pub source: &'a Source,
    pub kind: Kind,
    pub to: Option<u64>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub files: Option<String>,
}

/// The record of a deploy: every service of `compose` (as compose.yml names its image) as
/// the engine holds it afterwards (`after`), with the step `plan` took for it; then the
/// containers it removed. `pins` are the pins after the deploy.
pub fn record(
    d: Deployed<'_>,
    compose: &Compose,
    plan: &ApplyPlan,
    after: &Observed,
    pins: &Pins,
) -> Record {
    let mut services: Vec<ServiceRecord> = Vec::new();
    for service in compose.start_order() {
        let container = &service.spec.container_name;
        let found = after.container(container);
        let image_id = found.map(|c| c.image_id.clone()).filter(|i| !i.is_empty());
        let action = plan
            .containers
            .iter()
            .find(|s| &s.name == container)
            .map_or(Action::Unchanged, |s| s.action);
        services.push(ServiceRecord {
            service: service.name.clone(),
            container: container.clone(),
            image: service.spec.image.clone(),
            digest: image_id.as_ref().and_then(|i| after.digest(i)).cloned(),
            image_id,
            hash: found.and_then(|c| c.labels.get(crate::plan::identity::HASH).cloned()),
            action: crate::plan::containers::verb(action).to_string(),
            pinned: pins.pins.contains_key(&service.name),
        });
    }
    for step in &plan.containers {
        if step.action == Action::Remove {
            services.push(ServiceRecord {
                service: step.service.clone().unwrap_or_else(|| step.name.clone()),
                container: step.name.clone(),
                image: String::new(),
                image_id: None,
                digest: None,
                hash: None,
                action: "remove".into(),
                pinned: false,
            });
        }
    }
    Record {
        n: d.n,
        time: d.time,
        operator: d.source.operator.clone(),
        commit: d.source.commit.clone(),
        dirty: d.source.dirty,
        kind: d.kind,
        outcome: d.outcome,
        error: d.error,
        files: d.files,
        to: d.to,
        services,
    }
}

/// What a rollback does: the deploy it goes back to, and per service the image id it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackChoice {
    pub to: u64,
    /// (service, that deploy's record of it).
    pub services: Vec<(String, ServiceRecord)>,
    /// Services named (or changed last) that already run deploy `to`'s image.
    pub already: Vec<String>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RollbackError {
    #[error("the host has no deploy journal yet: nothing to roll back to")]
    NoHistory,
    #[error(
        "deploy {n} is not in the host's journal, which holds deploys {oldest} to {newest} (`nxinfra history`)"
    )]
    NotInHistory { n: u64, oldest: u64, newest: u64 },
    #[error(
        "no successful deploy precedes deploy {last}, the last one: name one with --to N (`nxinfra history`)"
    )]
    NoEarlier { last: u64 },
    #[error("deploy {last}, the last one, changed no service: name the services to roll back")]
    NothingChanged { last: u64 },
    #[error("{service} is not a service of compose.yml")]
    NotAService { service: String },
    #[error("deploy {n} has no image of {service} (it had no container then)")]
    NotInDeploy { service: String, n: u64 },
    #[error("nothing to roll back: {} already run(s) the image of deploy {to}", .services.join(", "))]
    NothingToDo { to: u64, services: Vec<String> },
}

/// Chooses a rollback from the host's journal (`history`, oldest first): to deploy `to`
/// (default: the newest successful deploy before the last), the `services` named (default:
/// those the last deploy changed) that compose.yml has, skipping those whose container
/// already runs that deploy's image (`running`: service → image id).
pub fn choose_rollback(
    history: &[Record],
    to: Option<u64>,
    services: &[String],
    compose: &Compose,
    running: &BTreeMap<String, String>,
) -> Result<RollbackChoice, RollbackError> {
    let (Some(first), Some(last)) = (history.first(), history.last()) else {
        return Err(RollbackError::NoHistory);
    };
    let target = match to {
        Some(n) => history
            .iter()
            .find(|r| r.n == n)
            .ok_or(RollbackError::NotInHistory {
                n,
                oldest: first.n,
                newest: last.n,
            })?,
        None => history
            .iter()
            .rev()
            .find(|r| r.n < last.n && r.outcome == Outcome::Ok)
            .ok_or(RollbackError::NoEarlier { last: last.n })?,
    };
    let names: Vec<String> = if services.is_empty() {
        let changed: Vec<String> = last.changed().map(|s| s.service.clone()).collect();
        if changed.is_empty() {
            return Err(RollbackError::NothingChanged { last: last.n });
        }
        changed
    } else {
        services.to_vec()
    };
    let mut choice = RollbackChoice {
        to: target.n,
        services: vec![],
        already: vec![],
    };
    for name in names {
        if !compose.services.contains_key(&name) {
            return Err(RollbackError::NotAService { service: name });
        }
        let record = target
            .service(&name)
            .filter(|s| s.image_id.is_some())
            .ok_or_else(|| RollbackError::NotInDeploy {
                service: name.clone(),
                n: target.n,
            })?;
        if running.get(&name) == record.image_id.as_ref() {
            choice.already.push(name);
        } else {
            choice.services.push((name, record.clone()));
        }
    }
    if choice.services.is_empty() {
        return Err(RollbackError::NothingToDo {
            to: target.n,
            services: choice.already,
        });
    }
    Ok(choice)
}

/// The pins after a successful rollback: `pins` and one per service of `choice`.
pub fn pins_after_rollback(
    pins: &Pins,
    choice: &RollbackChoice,
    n: u64,
    since: &str,
    by: &str,
) -> Pins {
    let mut out = pins.clone();
    for (service, record) in &choice.services {
        if let Some(image_id) = &record.image_id {
            out.pins.insert(
                service.clone(),
                Pin {
                    image_id: image_id.clone(),
                    image: record.image.clone(),
                    since: since.to_string(),
                    by: by.to_string(),
                    deploy: n,
                    why: format!("rollback to deploy {}", choice.to),
                },
            );
        }
    }
    out
}

/// An image `nxinfra prune` removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneStep {
    pub id: String,
    pub tags: Vec<String>,
    pub size: i64,
}

/// What `nxinfra prune` does on an engine holding `observed`: of the images nxinfra deployed
/// there (an image id a record of `history` names, or an image of a repository a record's
/// service names: the older versions of a service's image, a moved tag's previous image),
/// those that no container uses (running or not), that none of the last `keep` records
/// references, and that no pin holds; with how many images are kept. An image of any other
/// repository (a base image, a tool pulled by hand) is never nxinfra's to remove.
pub fn prune(
    observed: &Observed,
    history: &[Record],
    keep: usize,
    pins: &Pins,
) -> (Vec<PruneStep>, usize) {
    let mut kept: std::collections::BTreeSet<&str> = observed
        .containers
        .iter()
        .map(|c| c.image_id.as_str())
        .collect();
    let from = history.len().saturating_sub(keep);
    kept.extend(
        history[from..]
            .iter()
            .flat_map(|r| &r.services)
            .filter_map(|s| s.image_id.as_deref()),
    );
    kept.extend(pins.pins.values().map(|p| p.image_id.as_str()));
    let services = history.iter().flat_map(|r| &r.services);
    let ids: std::collections::BTreeSet<&str> = services
        .clone()
        .filter_map(|s| s.image_id.as_deref())
        .collect();
    let repositories: std::collections::BTreeSet<String> = services
        .map(|s| s.image.as_str())
        .chain(pins.pins.values().map(|p| p.image.as_str()))
        .filter(|i| !i.is_empty() && !i.starts_with("sha256:"))
        .map(crate::model::observed::repository)
        .collect();
    let ours = |id: &str, image: &crate::model::observed::Image| {
        ids.contains(id)
            || image
                .tags
                .iter()
                .chain(&image.digests)
                .any(|r| repositories.contains(&crate::model::observed::repository(r)))
    };
    let remove: Vec<PruneStep> = observed
        .image_list
        .iter()
        .filter(|(id, image)| !kept.contains(id.as_str()) && ours(id, image))
        .map(|(id, image)| PruneStep {
            id: id.clone(),
            tags: image.tags.clone(),
            size: image.size,
        })
        .collect();
    let left = observed.image_list.len() - remove.len();
    (remove, left)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compose(text: &str) -> Compose {
        crate::model::compose::parse(std::path::Path::new("compose.yml"), text).unwrap()
    }

    const TWO: &str = "services:\n  web:\n    image: web:main\n    network_mode: host\n  db:\n    image: db:1\n    network_mode: host\n";

    fn svc(service: &str, id: &str, action: &str) -> ServiceRecord {
        ServiceRecord {
            service: service.into(),
            container: service.into(),
            image: format!("{service}:main"),
            image_id: Some(id.into()),
            digest: None,
            hash: None,
            action: action.into(),
            pinned: false,
        }
    }

    fn rec(n: u64, outcome: Outcome, services: Vec<ServiceRecord>) -> Record {
        Record {
            n,
            time: format!("2026-12-0{n}T10:00:00Z"),
            operator: "alice@laptop".into(),
            commit: None,
            dirty: false,
            kind: Kind::Apply,
            outcome,
            error: None,
            files: None,
            to: None,
            services,
        }
    }

    fn history() -> Vec<Record> {
        vec![
            rec(
                1,
                Outcome::Ok,
                vec![
                    svc("web", "sha256:v1", "create"),
                    svc("db", "sha256:d1", "create"),
                ],
            ),
            rec(
                2,
                Outcome::RolledBack,
                vec![
                    svc("web", "sha256:v1", "recreate"),
                    svc("db", "sha256:d1", "unchanged"),
                ],
            ),
            rec(
                3,
                Outcome::Ok,
                vec![
                    svc("web", "sha256:v2", "recreate"),
                    svc("db", "sha256:d1", "unchanged"),
                ],
            ),
        ]
    }

    fn running(web: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("web".to_string(), web.to_string()),
            ("db".to_string(), "sha256:d1".to_string()),
        ])
    }

    #[test]
    fn by_default_the_last_changes_go_back_to_the_last_good_deploy_before() {
        let c = compose(TWO);
        let choice = choose_rollback(&history(), None, &[], &c, &running("sha256:v2")).unwrap();
        // Deploy 2 was rolled back by its gate: not a deploy to go back to.
        assert_eq!(choice.to, 1);
        assert_eq!(choice.services.len(), 1);
        assert_eq!(choice.services[0].0, "web");
        assert_eq!(choice.services[0].1.image_id.as_deref(), Some("sha256:v1"));
        let pins = pins_after_rollback(&Pins::default(), &choice, 4, "T", "bob@ci");
        assert_eq!(pins.pins["web"].image_id, "sha256:v1");
        assert_eq!(pins.pins["web"].why, "rollback to deploy 1");
        assert_eq!(pins.pins["web"].deploy, 4);
    }

    #[test]
    fn named_services_and_deploys_are_checked() {
        let c = compose(TWO);
        let h = history();
        let run = running("sha256:v2");
        assert_eq!(
            choose_rollback(&h, Some(9), &[], &c, &run),
            Err(RollbackError::NotInHistory {
                n: 9,
                oldest: 1,
                newest: 3
            })
        );
        assert_eq!(
            choose_rollback(&h, Some(1), &["cache".into()], &c, &run),
            Err(RollbackError::NotAService {
                service: "cache".into()
            })
        );
        let e = choose_rollback(&h, Some(1), &["db".into()], &c, &run).unwrap_err();
        assert!(e.to_string().contains("db already run"), "{e}");
        assert_eq!(
            choose_rollback(&[], None, &[], &c, &run),
            Err(RollbackError::NoHistory)
        );
        assert_eq!(
            choose_rollback(&h[..1], None, &[], &c, &run),
            Err(RollbackError::NoEarlier { last: 1 })
        );
        // Deploy 3 to the current image: nothing to do.
        assert!(matches!(
            choose_rollback(&h, Some(3), &[], &c, &run),
            Err(RollbackError::NothingToDo { .. })
        ));
    }

    #[test]
    fn a_pinned_service_runs_its_image_id_and_is_never_pulled() {
        let c = compose(TWO);
        let mut pins = Pins::default();
        pins.pins.insert(
            "web".into(),
            Pin {
                image_id: "sha256:v1".into(),
                image: "web:main".into(),
                since: "T".into(),
                by: "alice@laptop".into(),
                deploy: 4,
                why: "rollback to deploy 1".into(),
            },
        );
        let p = pinned(&c, &pins);
        assert_eq!(p.services["web"].spec.image, "sha256:v1");
        assert_eq!(p.services["web"].pull_policy, PullPolicy::Never);
        assert_eq!(p.services["db"], c.services["db"]);
        let mut observed = Observed::default();
        observed.insert_image("web:main", "sha256:v2");
        let gone = missing_pinned(&c, &pins, &observed).unwrap();
        assert!(gone.to_string().contains("no longer on the host"), "{gone}");
        // Untagged (its tag moved on), the image is still there.
        observed.image_list.entry("sha256:v1".into()).or_default();
        assert_eq!(missing_pinned(&c, &pins, &observed), None);
    }

    #[test]
    fn prune_keeps_what_containers_recent_deploys_and_pins_use() {
        let mut observed = Observed::default();
        for (tag, id) in [
            ("web:1", "sha256:v1"),
            ("web:2", "sha256:v2"),
            ("web:3", "sha256:v3"),
            ("tool:1", "sha256:t1"),
            ("db:1", "sha256:d1"),
        ] {
            observed.insert_image(tag, id);
        }
        observed.image_list.entry("sha256:old".into()).or_default();
        observed.containers.push(crate::model::observed::Container {
            name: "web".into(),
            image_id: "sha256:v3".into(),
            ..Default::default()
        });
        let h = vec![
            rec(1, Outcome::Ok, vec![svc("web", "sha256:v1", "create")]),
            rec(2, Outcome::Ok, vec![svc("web", "sha256:v2", "recreate")]),
            rec(3, Outcome::Ok, vec![svc("web", "sha256:v3", "recreate")]),
        ];
        let mut pins = Pins::default();
        pins.pins.insert(
            "db".into(),
            Pin {
                image_id: "sha256:d1".into(),
                image: "db:1".into(),
                since: "T".into(),
                by: "a@b".into(),
                deploy: 3,
                why: "rollback to deploy 1".into(),
            },
        );
        // An older web image no deploy of the journal names, untagged but with its
        // repository's digest (a moved tag's previous image): web's, removed.
        observed.insert_image("web@sha256:0ld", "sha256:w0");
        // The last 2 deploys: v2 and v3 kept, v1 (deploy 1) and w0 go; tool:1 and the
        // untagged sha256:old are no image nxinfra deployed here: kept.
        let (remove, left) = prune(&observed, &h, 2, &pins);
        let ids: Vec<&str> = remove.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["sha256:v1", "sha256:w0"]);
        assert_eq!(remove[0].tags, ["web:1"]);
        assert_eq!(left, 5);
        // All 3 deploys kept: only w0.
        let (remove, _) = prune(&observed, &h, 10, &pins);
        assert_eq!(remove.len(), 1);
    }
}

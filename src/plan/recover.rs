//! What an interrupted apply left on an engine, and how the next apply completes or undoes it
//! (pure: from the observed containers to steps, and the engine as it will be after them).
//!
//! A replacement names containers aside while the new one proves healthy
//! (`execute::replace`):
//!
//! - old one first: the previous container is renamed `NAME--nxinfra-old` and stopped, the new
//!   one created as `NAME`; the previous one is removed only once the new one is healthy. So
//!   `NAME--nxinfra-old` on the engine means that the container under `NAME`, if any, never
//!   passed its health gate (or did, and nxinfra was killed before it could say so): the
//!   previous, known-good container is put back, and the plan then tries the change again,
//!   health-gated.
//! - side by side: the new one starts as `NAME--nxinfra-new`; once it is healthy, the previous
//!   one is stopped and removed, and the new one renamed `NAME`. So `NAME--nxinfra-new` beside
//!   `NAME` never replaced it: it is removed. Without `NAME`, it passed its gate and its
//!   predecessor is gone: it takes its name.
//!
//! The last known-good container is never removed while the one in its place has not passed
//! its health gate.

use crate::model::observed::{Container, Observed};
use crate::plan::containers::{Action, ContainerStep, NEW_SUFFIX, OLD_SUFFIX};
use crate::plan::identity::Owner;

/// How a step of [`Action::Recover`] completes or undoes what an interrupted apply left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recover {
    /// The previous container, stepped aside as `aside`, gets its name back and is started;
    /// `unverified`, the new container that took its name without passing its health gate, is
    /// removed first.
    PutBack {
        aside: String,
        unverified: Option<String>,
    },
    /// The new container `new`, healthy and alone, takes its name.
    Complete { new: String },
}

/// The steps that complete or undo what an interrupted apply left among this fleet's
/// containers (`fleet`), and the engine as it will be after them (what the plan compares
/// against). Removals of unverified new containers are [`Action::Remove`] steps; the others
/// are [`Action::Recover`] steps with their [`Recover`].
pub fn recover(observed: &Observed, fleet: &str) -> (Vec<ContainerStep>, Observed) {
    let mut view = observed.clone();
    let mut steps = Vec::new();
    let ours = |c: &Container| {
        matches!(
            crate::plan::identity::container_owner(c, fleet),
            Owner::Ours | Owner::Unlabelled
        )
    };
    let step = |c: &Container, name: &str, action, reason: String, recover| ContainerStep {
        name: name.to_string(),
        service: c.labels.get(crate::plan::identity::SERVICE).cloned(),
        action,
        reasons: vec![reason],
        desired: None,
        image_id: None,
        with_network: false,
        recover,
        pin: None,
    };
    for aside in observed.containers.iter().filter(|c| ours(c)) {
        let Some(name) = aside.name.strip_suffix(OLD_SUFFIX) else {
            continue;
        };
        let unverified = match observed.container(name) {
            // Someone else's took the name: the plan stops the host on it, untouched.
            Some(c) if !ours(c) => continue,
            Some(c) => Some(c.name.clone()),
            None => None,
        };
        let reason = match unverified {
            Some(_) => format!(
                "an interrupted apply stepped it aside as {}: the container in its place \
                 never passed its health gate and is removed, the previous one put back",
                aside.name
            ),
            None => format!(
                "an interrupted apply left it stepped aside as {}: it is put back",
                aside.name
            ),
        };
        steps.push(step(
            aside,
            name,
            Action::Recover,
            reason,
            Some(Recover::PutBack {
                aside: aside.name.clone(),
                unverified: unverified.clone(),
            }),
        ));
        view.containers.retain(|c| c.name != name);
        if let Some(c) = view.containers.iter_mut().find(|c| c.name == aside.name) {
            c.name = name.to_string();
            c.running = true;
            c.exit_code = None;
        }
    }
    for new in observed.containers.iter().filter(|c| ours(c)) {
        let Some(name) = new.name.strip_suffix(NEW_SUFFIX) else {
            continue;
        };
        if view.container(name).is_some() {
            steps.push(step(
                new,
                &new.name,
                Action::Remove,
                format!("left by an interrupted apply: it never replaced {name}, which is kept"),
                None,
            ));
            view.containers.retain(|c| c.name != new.name);
        } else {
            steps.push(step(
                new,
                name,
                Action::Recover,
                format!(
                    "an interrupted apply left it as {} once it had passed its health gate \
                     and the previous container was removed: it takes its name",
                    new.name
                ),
                Some(Recover::Complete {
                    new: new.name.clone(),
                }),
            ));
            if let Some(c) = view.containers.iter_mut().find(|c| c.name == new.name) {
                c.name = name.to_string();
            }
        }
    }
    (steps, view)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::plan::identity;

    fn container(name: &str, fleet: Option<&str>, running: bool) -> Container {
        let mut labels = BTreeMap::from([
            (identity::MANAGED.to_string(), "true".to_string()),
            (identity::SERVICE.to_string(), "web".to_string()),
        ]);
        if let Some(f) = fleet {
            labels.insert(identity::FLEET.to_string(), f.to_string());
        }
        Container {
            id: format!("id-{name}"),
            name: name.into(),
            labels,
            running,
            ..Default::default()
        }
    }

    fn observed(containers: Vec<Container>) -> Observed {
        Observed {
            containers,
            ..Default::default()
        }
    }

    fn names(o: &Observed) -> Vec<(String, String, bool)> {
        let mut v: Vec<_> = o
            .containers
            .iter()
            .map(|c| (c.name.clone(), c.id.clone(), c.running))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn an_old_one_first_replacement_cut_off_puts_the_previous_container_back() {
        // Killed while the new one was waited for: the previous one aside and stopped.
        let o = observed(vec![
            container("web--nxinfra-old", Some("f"), false),
            container("web", Some("f"), true),
        ]);
        let (steps, view) = recover(&o, "f");
        assert_eq!(steps.len(), 1);
        let step = &steps[0];
        assert_eq!((step.name.as_str(), step.action), ("web", Action::Recover));
        assert!(
            step.reasons[0].contains("never passed its health gate"),
            "{step:?}"
        );
        assert_eq!(
            step.recover,
            Some(Recover::PutBack {
                aside: "web--nxinfra-old".into(),
                unverified: Some("web".into())
            })
        );
        assert_eq!(
            names(&view),
            [("web".into(), "id-web--nxinfra-old".into(), true)],
            "the known-good container, running under its name; the unverified one gone"
        );
        // Killed while putting it back (the new one already removed).
        let o = observed(vec![container("web--nxinfra-old", None, false)]);
        let (steps, view) = recover(&o, "f");
        assert_eq!(
            steps[0].recover,
            Some(Recover::PutBack {
                aside: "web--nxinfra-old".into(),
                unverified: None
            })
        );
        assert_eq!(
            names(&view),
            [("web".into(), "id-web--nxinfra-old".into(), true)]
        );
    }

    #[test]
    fn a_side_by_side_replacement_cut_off_is_dropped_or_completed() {
        // The new one never became healthy: the previous one still runs, the new one goes.
        let o = observed(vec![
            container("web", Some("f"), true),
            container("web--nxinfra-new", Some("f"), true),
        ]);
        let (steps, view) = recover(&o, "f");
        assert_eq!(steps.len(), 1);
        assert_eq!(
            (steps[0].name.as_str(), steps[0].action, &steps[0].recover),
            ("web--nxinfra-new", Action::Remove, &None)
        );
        assert_eq!(names(&view), [("web".into(), "id-web".into(), true)]);
        // It was healthy and the previous one was removed: it takes the name.
        let o = observed(vec![container("web--nxinfra-new", Some("f"), true)]);
        let (steps, view) = recover(&o, "f");
        assert_eq!(
            steps[0].recover,
            Some(Recover::Complete {
                new: "web--nxinfra-new".into()
            })
        );
        assert_eq!(
            names(&view),
            [("web".into(), "id-web--nxinfra-new".into(), true)]
        );
    }

    #[test]
    fn what_is_not_this_fleets_is_left_alone() {
        let o = observed(vec![
            container("web--nxinfra-old", Some("other"), false),
            container("db--nxinfra-new", Some("other"), true),
            Container {
                name: "x--nxinfra-old".into(),
                ..Default::default()
            },
        ]);
        let (steps, view) = recover(&o, "f");
        assert!(steps.is_empty());
        assert_eq!(names(&view), names(&o));
        // Someone else's container took the name: nothing recovered (the plan refuses it).
        let mut foreign = container("web", None, true);
        foreign.labels.clear();
        let o = observed(vec![
            container("web--nxinfra-old", Some("f"), false),
            foreign,
        ]);
        assert!(recover(&o, "f").0.is_empty());
        // Nothing left over: nothing to do.
        let o = observed(vec![container("web", Some("f"), true)]);
        assert!(recover(&o, "f").0.is_empty());
    }
}

//! Where containers are compared: what apply will do to one host's networks and containers,
//! with the reason of every change, computed as data before anything is done.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::compose::{Compose, Network, OnConfigChange};
use crate::model::observed::{Network as ObservedNetwork, Observed};
use crate::plan::identity::{self, Digested, Identity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Recreate,
    Restart,
    /// Exists and is right, but is not running.
    Start,
    Remove,
    /// Completes or undoes what an interrupted apply left ([`crate::plan::recover`]).
    Recover,
    Unchanged,
}

/// The verb of an action, as plans and journals say it.
pub fn verb(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Recreate => "recreate",
        Action::Restart => "restart",
        Action::Start => "start",
        Action::Remove => "remove",
        Action::Recover => "recover",
        Action::Unchanged => "unchanged",
    }
}

/// The name of a new container while it proves healthy beside the old one (suffix).
pub const NEW_SUFFIX: &str = "--nxinfra-new";
/// The name of an old container stepped aside while its successor proves healthy (suffix).
pub const OLD_SUFFIX: &str = "--nxinfra-old";

/// One network's step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkStep {
    pub name: String,
    pub action: Action,
    pub reasons: Vec<String>,
}

/// One container's step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerStep {
    /// The container's name.
    pub name: String,
    /// The service, `None` for a managed container no longer in compose.yml.
    pub service: Option<String>,
    pub action: Action,
    pub reasons: Vec<String>,
    /// The identity it will have (create, recreate, restart).
    #[serde(skip)]
    pub desired: Option<Identity>,
    /// The id of the image it will run, when the engine has the image (else it is pulled
    /// first); recorded on the container as `nxinfra.image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// A recreation because a network it is on is recreated: the container goes with the
    /// network and is created anew after it (no previous container to keep or restore).
    #[serde(skip)]
    pub with_network: bool,
    /// For [`Action::Recover`]: what to do.
    #[serde(skip)]
    pub recover: Option<crate::plan::recover::Recover>,
    /// The service is pinned (a rollback's): its pin, and what unpinning would change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<crate::plan::journal::PinNote>,
}

impl ContainerStep {
    /// Created from nothing: a new service, or one whose container went with its network.
    pub fn fresh(&self) -> bool {
        self.action == Action::Create || self.with_network
    }
}

/// An image to pull first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageStep {
    pub image: String,
    pub reason: String,
    /// The engine does not have it: a change. A pull of an image the engine has
    /// (`pull_policy: always`) changes something only if it brings another image id, which
    /// the containers' plan then shows.
    #[serde(skip)]
    pub absent: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyPlan {
    pub images: Vec<ImageStep>,
    pub networks: Vec<NetworkStep>,
    /// Desired services in start order, then removals.
    pub containers: Vec<ContainerStep>,
}

impl ApplyPlan {
    pub fn is_noop(&self) -> bool {
        self.images.iter().all(|i| !i.absent)
            && self.networks.iter().all(|n| n.action == Action::Unchanged)
            && self
                .containers
                .iter()
                .all(|c| c.action == Action::Unchanged)
    }

    /// Networks and containers that change.
    pub fn changes(&self) -> usize {
        self.networks
            .iter()
            .filter(|n| n.action != Action::Unchanged)
            .count()
            + self
                .containers
                .iter()
                .filter(|c| c.action != Action::Unchanged)
                .count()
    }
}

/// What a restarted container was last started with (kept in the host's manifest: a restart
/// cannot change a container's labels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restarted {
    pub container_id: String,
    pub identity: Identity,
}

/// A problem that stops the host's apply before anything is done.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error(
        "a container named {0} exists and nxinfra did not create it; rename or remove it (nxinfra never touches containers it does not manage)"
    )]
    Unmanaged(String),
    #[error(
        "{kind} {name} belongs to the fleet {other} (its nxinfra.fleet label), and this repository is the fleet {ours}; nxinfra never touches another fleet's objects (rename the service, or if both are the same fleet, set nxinfra_fleet: {other})"
    )]
    OtherFleet {
        kind: &'static str,
        name: String,
        other: String,
        ours: String,
    },
    #[error(
        "network {name} exists, was not created by nxinfra, and differs from compose.yml: {reason}"
    )]
    UnmanagedNetwork { name: String, reason: String },
    #[error("image {image} is not on the host and pull_policy is never")]
    MissingImage { image: String },
    #[error("external network {0} does not exist on the host")]
    MissingExternal(String),
    #[error("service {service}: {reason}")]
    Identity { service: String, reason: String },
}

/// The inputs of a host's plan.
pub struct Desired<'a, F = crate::model::tree::OutFile> {
    pub compose: &'a Compose,
    /// The host's files (what its bind mounts hold): rendered ([`OutFile`]s), or as they
    /// will be placed ([`Entry`]s of the manifest: a held file as the host has it).
    ///
    /// [`OutFile`]: crate::model::tree::OutFile
    /// [`Entry`]: crate::model::manifest::Entry
    pub tree: &'a BTreeMap<String, F>,
    pub base_dir: &'a str,
    /// The fleet's name (`nxinfra_fleet`): only its objects are compared and removed.
    pub fleet: &'a str,
}

/// The plan for one host. `network_difference` compares a desired network with the engine's
/// (says what differs); `restarted` comes from the host's manifest.
pub fn plan<F: Digested>(
    desired: &Desired<F>,
    observed: &Observed,
    restarted: &BTreeMap<String, Restarted>,
    network_difference: &dyn Fn(&Network, &ObservedNetwork) -> Option<String>,
) -> Result<ApplyPlan, PlanError> {
    let compose = desired.compose;
    let mut out = ApplyPlan::default();
    // Planned against the engine as it will be once what an interrupted apply left is
    // completed or undone.
    let (recovered, view) = crate::plan::recover::recover(observed, desired.fleet);
    let observed = &view;

    // Images.
    // Each image once, whatever the number of services using it.
    let mut pulls: BTreeMap<&str, ImageStep> = BTreeMap::new();
    for service in compose.services.values() {
        let image = &service.spec.image;
        let absent = observed.image_id(image).is_none();
        use crate::model::compose::PullPolicy;
        let reason = match service.pull_policy {
            PullPolicy::Never if absent => {
                return Err(PlanError::MissingImage {
                    image: image.clone(),
                });
            }
            _ if absent => "not on the host",
            PullPolicy::Always => "pull_policy: always",
            _ => continue,
        };
        pulls.insert(
            image,
            ImageStep {
                image: image.clone(),
                reason: reason.to_string(),
                absent,
            },
        );
    }
    out.images = pulls.into_values().collect();

    // Networks.
    let mut recreated_networks = BTreeSet::new();
    for net in compose.networks.values() {
        let have = observed.networks.get(&net.name);
        if net.external {
            if have.is_none() {
                return Err(PlanError::MissingExternal(net.name.clone()));
            }
            continue;
        }
        let step = |action, reasons| NetworkStep {
            name: net.name.clone(),
            action,
            reasons,
        };
        let Some(have) = have else {
            out.networks
                .push(step(Action::Create, vec!["new network".into()]));
            continue;
        };
        let labels = &have.labels;
        let owner = identity::owner(|k| labels.get(k).map(String::as_str), desired.fleet);
        if let identity::Owner::Fleet(other) = owner {
            return Err(PlanError::OtherFleet {
                kind: "network",
                name: net.name.clone(),
                other: other.to_string(),
                ours: desired.fleet.to_string(),
            });
        }
        // One made before networks carried their fleet is this fleet's when it wants it.
        let managed = owner != identity::Owner::Foreign;
        // What nxinfra created it with, if it did (and labelled it); else what the engine says.
        let recorded = identity::network_fields_from_labels(labels).filter(|_| managed);
        let verdict = match recorded {
            Some(created) => {
                let changed = identity::changed(&identity::network_fields(net), &created);
                if changed.is_empty() {
                    Ok(())
                } else {
                    Err(changed
                        .iter()
                        .map(|f| match f.strip_prefix("driver_opts.") {
                            Some(option) => format!("driver option {option}"),
                            None => f.replace('_', " "),
                        })
                        .collect::<Vec<_>>()
                        .join(", "))
                }
            }
            None => network_difference(net, have).map_or(Ok(()), Err),
        };
        match verdict {
            Ok(()) => out.networks.push(step(Action::Unchanged, vec![])),
            Err(reason) if !managed => {
                return Err(PlanError::UnmanagedNetwork {
                    name: net.name.clone(),
                    reason,
                });
            }
            Err(reason) => {
                recreated_networks.insert(net.name.clone());
                out.networks.push(step(
                    Action::Recreate,
                    vec![format!("settings changed: {reason}")],
                ));
            }
        }
    }
    let wanted_networks: BTreeSet<&str> =
        compose.networks.values().map(|n| n.name.as_str()).collect();
    for (name, net) in &observed.networks {
        let ours = identity::owner(|k| net.labels.get(k).map(String::as_str), desired.fleet)
            == identity::Owner::Ours;
        if ours && !wanted_networks.contains(name.as_str()) && !identity::in_cluster(&net.labels) {
            out.networks.push(NetworkStep {
                name: name.clone(),
                action: Action::Remove,
                reasons: vec!["no longer in compose.yml".into()],
            });
        }
    }

    // Containers, in start order.
    for service in compose.start_order() {
        let name = &service.spec.container_name;
        let network_names: Vec<&str> = service
            .spec
            .networks
            .keys()
            .filter_map(|k| compose.networks.get(k).map(|n| n.name.as_str()))
            .collect();
        let image_id = observed.image_id(&service.spec.image).cloned();
        let want = match &image_id {
            Some(id) => Some(
                Identity::desired(service, id, desired.tree, desired.base_dir).map_err(|e| {
                    PlanError::Identity {
                        service: service.name.clone(),
                        reason: e.to_string(),
                    }
                })?,
            ),
            None => None,
        };
        let step = |action, reasons: Vec<String>| ContainerStep {
            name: name.clone(),
            service: Some(service.name.clone()),
            action,
            reasons,
            desired: want.clone(),
            image_id: image_id.clone(),
            with_network: false,
            recover: None,
            pin: None,
        };
        let Some(have) = observed.container(name) else {
            out.containers
                .push(step(Action::Create, vec!["new service".into()]));
            continue;
        };
        let unlabelled = match identity::container_owner(have, desired.fleet) {
            identity::Owner::Foreign => return Err(PlanError::Unmanaged(name.clone())),
            identity::Owner::Fleet(other) => {
                return Err(PlanError::OtherFleet {
                    kind: "container",
                    name: name.clone(),
                    other: other.to_string(),
                    ours: desired.fleet.to_string(),
                });
            }
            identity::Owner::Unlabelled => true,
            identity::Owner::Ours => false,
        };
        // The names a replacement uses while it proves healthy must be free or nxinfra's.
        for aside in [format!("{name}{NEW_SUFFIX}"), format!("{name}{OLD_SUFFIX}")] {
            if let Some(c) = observed.container(&aside)
                && identity::container_owner(c, desired.fleet) != identity::Owner::Ours
            {
                return Err(PlanError::Unmanaged(aside));
            }
        }
        let on_recreated: Vec<String> = network_names
            .iter()
            .filter(|n| recreated_networks.contains(**n))
            .map(|n| format!("network {n} is recreated"))
            .collect();
        if !on_recreated.is_empty() {
            out.containers.push(ContainerStep {
                with_network: true,
                ..step(Action::Recreate, on_recreated)
            });
            continue;
        }
        let Some(want) = &want else {
            out.containers.push(step(
                Action::Recreate,
                vec![format!("image {} is pulled first", service.spec.image)],
            ));
            continue;
        };
        // What it runs: the last restart's identity if it is that container's, else its
        // labels.
        let current = match restarted.get(name) {
            Some(r) if r.container_id == have.id => Some(r.identity.clone()),
            _ => Identity::from_labels(&have.labels),
        };
        let Some(current) = current else {
            out.containers.push(step(
                Action::Recreate,
                vec!["its nxinfra labels are missing or damaged".into()],
            ));
            continue;
        };
        if unlabelled {
            // Made by an nxinfra that did not label fleets: recreated once to say whose it
            // is, or another fleet applied to this engine could not tell.
            out.containers.push(step(
                Action::Recreate,
                vec!["it carries no nxinfra.fleet label (made by an older nxinfra)".into()],
            ));
            continue;
        }
        if current.hash == want.hash {
            if service.job.is_some() {
                // A job is done when its container exited 0; one still running is left to
                // finish; one that failed (or never ran) runs again.
                match (have.running, have.exit_code) {
                    (true, _) | (false, Some(0)) => {
                        out.containers.push(step(Action::Unchanged, vec![]))
                    }
                    (false, Some(code)) => out.containers.push(step(
                        Action::Recreate,
                        vec![format!("its last run failed (exit status {code})")],
                    )),
                    (false, None) => out
                        .containers
                        .push(step(Action::Recreate, vec!["it never ran".into()])),
                }
                continue;
            }
            if have.running {
                out.containers.push(step(Action::Unchanged, vec![]));
            } else {
                out.containers
                    .push(step(Action::Start, vec!["not running".into()]));
            }
            continue;
        }
        let fields = want.changed_fields(&current);
        if !fields.is_empty() {
            let reasons = fields
                .iter()
                .map(|f| match f.as_str() {
                    "image_id" => "image changed (another image id)".to_string(),
                    other => format!("{} changed", other.replace('_', " ")),
                })
                .collect();
            out.containers.push(step(Action::Recreate, reasons));
            continue;
        }
        let mounts: Vec<String> = want
            .changed_mounts(&current)
            .into_iter()
            .map(|m| format!("mount content changed: {m}"))
            .collect();
        let (action, mut reasons) = match service.on_config_change {
            OnConfigChange::Recreate => (Action::Recreate, mounts),
            // A job runs again in a new container: it has no process to restart.
            OnConfigChange::Restart if service.job.is_some() => (Action::Recreate, mounts),
            OnConfigChange::Restart => (Action::Restart, mounts),
            OnConfigChange::Ignore => (Action::Unchanged, vec![]),
        };
        if reasons.is_empty() && action != Action::Unchanged {
            reasons.push("mount content changed".into());
        }
        out.containers.push(step(action, reasons));
    }
    let wanted: BTreeSet<&str> = compose
        .services
        .values()
        .map(|s| s.spec.container_name.as_str())
        .collect();
    for c in &observed.containers {
        if identity::container_owner(c, desired.fleet) == identity::Owner::Ours
            && !wanted.contains(c.name.as_str())
            && !identity::in_cluster(&c.labels)
        {
            out.containers.push(ContainerStep {
                name: c.name.clone(),
                service: c.labels.get(crate::plan::identity::SERVICE).cloned(),
                action: Action::Remove,
                reasons: vec![if c.labels.contains_key(identity::DRILL) {
                    "a restore drill's container, left behind".into()
                } else {
                    "no longer in compose.yml".into()
                }],
                desired: None,
                image_id: None,
                with_network: false,
                recover: None,
                pin: None,
            });
        }
    }
    // What an interrupted apply left comes first: it is completed or undone before anything
    // else is done.
    out.containers.splice(0..0, recovered);
    Ok(out)
}

/// How the engine's network `have` differs from `want`, if it does. Compared: driver, IPv6, the driver options
/// compose.yml sets (the engine adds defaults of its own, which are ignored), and the IPAM
/// pools when compose.yml sets any (otherwise the engine chose them). The difference, if any, in words.
pub fn network_difference(want: &Network, have: &ObservedNetwork) -> Option<String> {
    let driver = have.driver.clone();
    if driver != want.driver {
        return Some(format!("driver {driver}, want {}", want.driver));
    }
    let ipv6 = have.enable_ipv6;
    if ipv6 != want.enable_ipv6 {
        return Some(format!("enable_ipv6 {ipv6}, want {}", want.enable_ipv6));
    }
    let options = &have.options;
    for (k, v) in &want.driver_opts {
        match options.get(k) {
            Some(have) if have == v => {}
            Some(have) => return Some(format!("driver option {k} is {have}, want {v}")),
            None => return Some(format!("driver option {k} missing")),
        }
    }
    if !want.ipam.is_empty() {
        let pools = &have.pools;
        for p in &want.ipam {
            let subnet = p.subnet.to_string();
            match pools.iter().find(|(s, _)| *s == subnet) {
                None => return Some(format!("subnet {subnet} missing")),
                Some((_, gw)) => {
                    if let Some(want_gw) = p.gateway
                        && gw.as_deref() != Some(want_gw.to_string().as_str())
                    {
                        return Some(format!(
                            "gateway of {subnet} is {}, want {want_gw}",
                            gw.clone().unwrap_or_else(|| "unset".into())
                        ));
                    }
                }
            }
        }
        // A family compose.yml gives no subnet for gets one from the engine's pools (Docker
        // always gives a network an IPv4 subnet): only the other families must match exactly.
        let given = |v4: bool| want.ipam.iter().any(|p| p.subnet.addr.is_ipv4() == v4);
        for (s, _) in pools {
            let v4 = !s.contains(':');
            if given(v4) && !want.ipam.iter().any(|p| &p.subnet.to_string() == s) {
                return Some(format!("subnet {s} is not in compose.yml"));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::compose::parse;
    use crate::model::observed::Container;
    use crate::model::tree::OutFile;

    const COMPOSE: &str = "services:
  web:
    image: busybox:1
    environment:
      MODE: \"a\"
    networks: [backend]
    volumes:
      - /home/u/web/conf:/etc/web:ro
  worker:
    image: busybox:1
    depends_on: [web]
    networks: [backend]
    volumes:
      - /home/u/worker/conf:/etc/worker:ro
    x-nxinfra:
      on_config_change: restart
networks:
  backend:
    enable_ipv6: true
    ipam:
      config:
        - subnet: fd00:1::/64
";

    fn tree(web: &str, worker: &str) -> BTreeMap<String, OutFile> {
        let f = |s: &str| OutFile {
            data: s.as_bytes().to_vec().into(),
            mode: 0o644,
        };
        BTreeMap::from([
            ("web/conf/web.conf".to_string(), f(web)),
            ("worker/conf/w.conf".to_string(), f(worker)),
        ])
    }

    fn compose(text: &str) -> Compose {
        parse(std::path::Path::new("compose.yml"), text).unwrap()
    }

    fn same(_: &Network, _: &ObservedNetwork) -> Option<String> {
        None
    }

    /// The engine after a successful apply of `text` with `tree`.
    fn applied(text: &str, tree: &BTreeMap<String, OutFile>) -> Observed {
        let c = compose(text);
        let mut o = Observed::default();
        o.insert_image("busybox:1", "sha256:b1");
        for net in c.networks.values() {
            o.networks.insert(
                net.name.clone(),
                ObservedNetwork {
                    name: net.name.clone(),
                    labels: ours(),
                    ..Default::default()
                },
            );
        }
        for s in c.services.values() {
            let id = Identity::desired(s, "sha256:b1", tree, "/home/u").unwrap();
            o.containers.push(Container {
                id: format!("id-{}", s.name),
                name: s.spec.container_name.clone(),
                labels: id.labels(FLEET, &s.name, "sha256:b1"),
                running: s.job.is_none(),
                exit_code: s.job.map(|_| 0),
                image_id: "sha256:b1".into(),
                networks: vec!["backend".into()],
            });
        }
        o
    }

    /// The inputs of a plan of `c` with `tree`, landing in /home/u.
    fn desired<'a>(c: &'a Compose, tree: &'a BTreeMap<String, OutFile>) -> Desired<'a> {
        Desired {
            compose: c,
            tree,
            base_dir: "/home/u",
            fleet: FLEET,
        }
    }

    /// The fleet the tests plan for.
    const FLEET: &str = "nxthdr";

    /// The labels nxinfra gives any object of [`FLEET`].
    fn ours() -> BTreeMap<String, String> {
        BTreeMap::from([
            (identity::MANAGED.to_string(), "true".to_string()),
            (identity::FLEET.to_string(), FLEET.to_string()),
        ])
    }

    fn run(text: &str, tree: &BTreeMap<String, OutFile>, o: &Observed) -> ApplyPlan {
        let c = compose(text);
        plan(&desired(&c, tree), o, &BTreeMap::new(), &same).unwrap()
    }

    fn actions(p: &ApplyPlan) -> Vec<String> {
        p.networks
            .iter()
            .map(|n| format!("net {}={:?}", n.name, n.action))
            .chain(
                p.containers
                    .iter()
                    .map(|c| format!("{}={:?} {}", c.name, c.action, c.reasons.join("; "))),
            )
            .collect()
    }

    #[test]
    fn first_apply_creates_in_dependency_order_and_second_touches_nothing() {
        let t = tree("a", "b");
        let mut empty = Observed::default();
        empty.insert_image("busybox:1", "sha256:b1");
        let p = run(COMPOSE, &t, &empty);
        assert_eq!(
            actions(&p),
            [
                "net backend=Create",
                "web=Create new service",
                "worker=Create new service"
            ]
        );
        assert!(p.images.is_empty(), "present: nothing to pull");
        let p = run(COMPOSE, &t, &applied(COMPOSE, &t));
        assert!(p.is_noop(), "{:?}", actions(&p));
    }

    const JOBS: &str = "services:
  schema:
    image: busybox:1
    networks: [backend]
    volumes:
      - /home/u/web/conf:/schema:ro
    x-nxinfra:
      on_config_change: restart
  web:
    image: busybox:1
    networks: [backend]
    depends_on:
      schema:
        condition: service_completed_successfully
networks:
  backend: {}
";

    #[test]
    fn a_job_is_done_once_it_exited_0_and_runs_again_when_it_changed_or_failed() {
        let t = tree("a", "b");
        let done = applied(JOBS, &t);
        let p = run(JOBS, &t, &done);
        assert!(p.is_noop(), "an exited job is done: {:?}", actions(&p));
        let mut failed = done.clone();
        failed.containers[0].exit_code = Some(3);
        assert_eq!(
            actions(&run(JOBS, &t, &failed))[1],
            "schema=Recreate its last run failed (exit status 3)"
        );
        let mut never = done.clone();
        never.containers[0].exit_code = None;
        assert_eq!(
            actions(&run(JOBS, &t, &never))[1],
            "schema=Recreate it never ran"
        );
        let mut running = done.clone();
        running.containers[0].running = true;
        assert!(run(JOBS, &t, &running).is_noop(), "left to finish");
        // A changed mount: run again, in a new container, even with on_config_change: restart.
        assert_eq!(
            actions(&run(JOBS, &tree("a2", "b"), &done))[1],
            "schema=Recreate mount content changed: web/conf"
        );
    }

    #[test]
    fn each_change_recreates_or_restarts_exactly_what_it_affects() {
        let t = tree("a", "b");
        let o = applied(COMPOSE, &t);
        // Environment.
        let p = run(&COMPOSE.replace("MODE: \"a\"", "MODE: \"b\""), &t, &o);
        assert_eq!(
            actions(&p),
            [
                "net backend=Unchanged",
                "web=Recreate environment changed",
                "worker=Unchanged "
            ]
        );
        // A mounted file: web recreates (default), worker restarts (x-nxinfra).
        let p = run(COMPOSE, &tree("a2", "b"), &o);
        assert_eq!(
            actions(&p)[1],
            "web=Recreate mount content changed: web/conf"
        );
        assert_eq!(actions(&p)[2], "worker=Unchanged ");
        let p = run(COMPOSE, &tree("a", "b2"), &o);
        assert_eq!(actions(&p)[1], "web=Unchanged ");
        assert_eq!(
            actions(&p)[2],
            "worker=Restart mount content changed: worker/conf"
        );
        // Ignore: nothing to do.
        let ignore = COMPOSE.replace("on_config_change: restart", "on_config_change: ignore");
        assert!(run(&ignore, &tree("a", "b2"), &applied(&ignore, &t)).is_noop());
        // A new image id for the same reference.
        let mut o2 = o.clone();
        o2.insert_image("busybox:1", "sha256:b2");
        let p = run(COMPOSE, &t, &o2);
        assert_eq!(
            actions(&p)[1],
            "web=Recreate image changed (another image id)"
        );
        assert_eq!(
            actions(&p)[2],
            "worker=Recreate image changed (another image id)"
        );
    }

    #[test]
    fn a_restart_is_remembered_through_the_manifest_record() {
        let t = tree("a", "b");
        let o = applied(COMPOSE, &t);
        let t2 = tree("a", "b2");
        let c = compose(COMPOSE);
        let worker = &c.services["worker"];
        let record = Restarted {
            container_id: "id-worker".into(),
            identity: Identity::desired(worker, "sha256:b1", &t2, "/home/u").unwrap(),
        };
        let d = desired(&c, &t2);
        let restarted = BTreeMap::from([("worker".to_string(), record.clone())]);
        assert!(plan(&d, &o, &restarted, &same).unwrap().is_noop());
        // A record of another container (it was recreated since) does not count.
        let stale = BTreeMap::from([(
            "worker".to_string(),
            Restarted {
                container_id: "id-old".into(),
                ..record
            },
        )]);
        let p = plan(&d, &o, &stale, &same).unwrap();
        assert_eq!(p.containers[1].action, Action::Restart);
    }

    #[test]
    fn a_network_nxinfra_labelled_is_compared_by_its_labels() {
        let t = tree("a", "b");
        let c = compose(COMPOSE);
        let d = desired(&c, &t);
        // Labelled as created from this compose.yml: unchanged, whatever the engine reports
        // (Podman reports no driver options, for one).
        let mut o = applied(COMPOSE, &t);
        let labels = identity::network_labels(FLEET, &c.networks["backend"]);
        o.networks.get_mut("backend").unwrap().labels = labels;
        let differs = |_: &Network, _: &ObservedNetwork| Some("not asked".to_string());
        let p = plan(&d, &o, &BTreeMap::new(), &differs).unwrap();
        assert_eq!(actions(&p)[0], "net backend=Unchanged");
        // Created with other settings: recreated, the reason names them.
        let other = compose(&COMPOSE.replace(
            "    enable_ipv6: true\n",
            "    enable_ipv6: true\n    driver_opts:\n      com.docker.network.driver.mtu: \"1400\"\n",
        ));
        let labels = identity::network_labels(FLEET, &other.networks["backend"]);
        o.networks.get_mut("backend").unwrap().labels = labels;
        let p = plan(&d, &o, &BTreeMap::new(), &differs).unwrap();
        assert_eq!(
            p.networks[0].reasons,
            ["settings changed: driver option com.docker.network.driver.mtu"]
        );
        assert_eq!(actions(&p)[1], "web=Recreate network backend is recreated");
    }

    #[test]
    fn a_clusters_networks_and_task_containers_are_not_the_hosts_to_remove() {
        let t = tree("a", "b");
        let mut o = applied(COMPOSE, &t);
        let mut cluster = ours();
        cluster.insert(identity::CLUSTER.into(), "edge".into());
        o.networks.insert(
            "front".into(),
            ObservedNetwork {
                name: "front".into(),
                labels: cluster.clone(),
                ..Default::default()
            },
        );
        o.containers.push(Container {
            id: "t".into(),
            name: "edge_web.1.x".into(),
            labels: cluster,
            running: true,
            ..Default::default()
        });
        let p = run(COMPOSE, &t, &o);
        assert!(p.is_noop(), "{:?}", actions(&p));
    }

    #[test]
    fn removals_starts_and_recreated_networks() {
        let t = tree("a", "b");
        let mut o = applied(COMPOSE, &t);
        o.containers[0].running = false;
        // A managed container of a service that is gone; an unmanaged one is never listed.
        o.containers.push(Container {
            id: "x".into(),
            name: "old".into(),
            labels: ours(),
            ..Default::default()
        });
        o.containers.push(Container {
            id: "y".into(),
            name: "someone-elses".into(),
            ..Default::default()
        });
        let p = run(COMPOSE, &t, &o);
        assert_eq!(
            actions(&p),
            [
                "net backend=Unchanged",
                "web=Start not running",
                "worker=Unchanged ",
                "old=Remove no longer in compose.yml"
            ]
        );
        let c = compose(COMPOSE);
        let d = desired(&c, &t);
        let differs =
            |_: &Network, _: &ObservedNetwork| Some("subnet fd00:1::/64 missing".to_string());
        let p = plan(&d, &applied(COMPOSE, &t), &BTreeMap::new(), &differs).unwrap();
        assert_eq!(
            actions(&p),
            [
                "net backend=Recreate",
                "web=Recreate network backend is recreated",
                "worker=Recreate network backend is recreated"
            ]
        );
        assert_eq!(
            p.networks[0].reasons,
            ["settings changed: subnet fd00:1::/64 missing"]
        );
        assert!(
            p.containers.iter().all(|c| c.with_network && c.fresh()),
            "they go with the network and are created anew"
        );
    }

    #[test]
    fn another_fleets_objects_are_never_compared_nor_removed() {
        let t = tree("a", "b");
        let c = compose(COMPOSE);
        let d = desired(&c, &t);
        let other = |name: &str| {
            let mut labels = ours();
            labels.insert(identity::FLEET.into(), "lab".into());
            Container {
                id: format!("id-{name}"),
                name: name.into(),
                labels,
                running: true,
                ..Default::default()
            }
        };
        // Its containers and networks that this fleet does not want are not ours to remove.
        let mut o = applied(COMPOSE, &t);
        o.containers.push(other("lab-db"));
        let mut net = o.networks["backend"].clone();
        let mut labels = ours();
        labels.insert(identity::FLEET.into(), "lab".into());
        net.labels = labels.clone();
        o.networks.insert("lab-net".into(), net.clone());
        assert!(plan(&d, &o, &BTreeMap::new(), &same).unwrap().is_noop());
        // One under a name this fleet wants stops the host, naming both fleets.
        let mut o = applied(COMPOSE, &t);
        o.containers[0] = other("web");
        let err = plan(&d, &o, &BTreeMap::new(), &same).unwrap_err();
        assert_eq!(
            err,
            PlanError::OtherFleet {
                kind: "container",
                name: "web".into(),
                other: "lab".into(),
                ours: FLEET.into()
            }
        );
        assert!(err.to_string().contains("set nxinfra_fleet: lab"), "{err}");
        let mut o = applied(COMPOSE, &t);
        o.networks.insert("backend".into(), net);
        assert!(matches!(
            plan(&d, &o, &BTreeMap::new(), &same),
            Err(PlanError::OtherFleet {
                kind: "network",
                ..
            })
        ));
    }

    #[test]
    fn unlabelled_objects_of_an_older_nxinfra_are_adopted_when_wanted_and_never_removed() {
        let t = tree("a", "b");
        let mut o = applied(COMPOSE, &t);
        for c in &mut o.containers {
            c.labels.remove(identity::FLEET);
        }
        for n in o.networks.values_mut() {
            n.labels = [(identity::MANAGED.to_string(), "true".to_string())].into();
        }
        o.containers.push(Container {
            id: "x".into(),
            name: "old".into(),
            labels: [(identity::MANAGED.to_string(), "true".to_string())].into(),
            ..Default::default()
        });
        let p = run(COMPOSE, &t, &o);
        assert_eq!(
            actions(&p),
            [
                "net backend=Unchanged",
                "web=Recreate it carries no nxinfra.fleet label (made by an older nxinfra)",
                "worker=Recreate it carries no nxinfra.fleet label (made by an older nxinfra)",
            ],
            "recreated to say whose they are; the unwanted one is not known to be ours"
        );
    }

    #[test]
    fn an_interrupted_replacement_is_undone_first_and_the_plan_made_against_the_result() {
        let t = tree("a", "b");
        // Killed while a changed web (web.conf "c") was waited for, old one first: the
        // known-good web aside and stopped, the unverified one under its name.
        let mut o = applied(COMPOSE, &t);
        let newer = applied(COMPOSE, &tree("c", "b"));
        o.containers[0].name = "web--nxinfra-old".into();
        o.containers[0].running = false;
        o.containers.push(Container {
            id: "id-unverified".into(),
            ..newer.containers[0].clone()
        });
        // The change reverted: the previous web is put back, and is then as wanted.
        let p = run(COMPOSE, &t, &o);
        let a = actions(&p);
        assert!(
            a[1].starts_with(
                "web=Recover an interrupted apply stepped it aside as web--nxinfra-old"
            ),
            "{a:?}"
        );
        assert_eq!(a[2..], ["web=Unchanged ", "worker=Unchanged "]);
        assert!(!p.is_noop(), "recovering is a change");
        // The change still wanted: put back, then recreated through the health gate again.
        let p = run(COMPOSE, &tree("c", "b"), &o);
        assert_eq!(
            actions(&p)[2],
            "web=Recreate mount content changed: web/conf"
        );
    }

    #[test]
    fn a_foreign_container_under_a_replacement_name_stops_the_host() {
        let t = tree("a", "b");
        let c = compose(COMPOSE);
        let d = desired(&c, &t);
        for aside in ["web--nxinfra-new", "web--nxinfra-old"] {
            let mut o = applied(COMPOSE, &t);
            o.containers.push(Container {
                id: "z".into(),
                name: aside.into(),
                ..Default::default()
            });
            assert_eq!(
                plan(&d, &o, &BTreeMap::new(), &same).unwrap_err(),
                PlanError::Unmanaged(aside.into()),
                "never removed to make room"
            );
        }
    }

    #[test]
    fn what_nxinfra_does_not_own_stops_the_host() {
        let t = tree("a", "b");
        let c = compose(COMPOSE);
        let d = desired(&c, &t);
        let mut o = applied(COMPOSE, &t);
        o.containers[0].labels.clear();
        let err = plan(&d, &o, &BTreeMap::new(), &same).unwrap_err();
        assert_eq!(err, PlanError::Unmanaged("web".into()));
        let mut o = applied(COMPOSE, &t);
        o.networks.get_mut("backend").unwrap().labels = BTreeMap::new();
        let differs =
            |_: &Network, _: &ObservedNetwork| Some("driver macvlan, want bridge".to_string());
        let err = plan(&d, &o, &BTreeMap::new(), &differs).unwrap_err();
        assert!(
            err.to_string().contains("was not created by nxinfra"),
            "{err}"
        );
        let never = compose(&COMPOSE.replace(
            "    image: busybox:1\n    environment",
            "    image: busybox:2\n    pull_policy: never\n    environment",
        ));
        let d = desired(&never, &t);
        let err = plan(&d, &applied(COMPOSE, &t), &BTreeMap::new(), &same).unwrap_err();
        assert_eq!(
            err,
            PlanError::MissingImage {
                image: "busybox:2".into()
            }
        );
    }

    #[test]
    fn networks_match_or_say_what_differs() {
        let c = compose(
            "services:\n  svc: {image: busybox:1, network_mode: none}\nnetworks:\n  a:\n    \
             enable_ipv6: true\n    ipam: {config: [{subnet: \"fd00:a::/64\"}]}\n",
        );
        let want = &c.networks["a"];
        let have = ObservedNetwork {
            name: "a".into(),
            driver: "bridge".into(),
            enable_ipv6: true,
            pools: vec![("fd00:a::/64".into(), None)],
            options: BTreeMap::from([("com.docker.x".to_string(), "y".to_string())]),
            ..Default::default()
        };
        assert_eq!(network_difference(want, &have), None);
        let mut other = have.clone();
        other.enable_ipv6 = false;
        assert_eq!(
            network_difference(want, &other),
            Some("enable_ipv6 false, want true".into())
        );
        let with_pool = |subnet: &str, gateway: Option<&str>| {
            let mut net = have.clone();
            net.pools.push((subnet.into(), gateway.map(Into::into)));
            net
        };
        // The IPv4 subnet the engine chose itself, compose.yml giving only an IPv6 one.
        let auto = with_pool("172.21.0.0/16", Some("172.21.0.1"));
        assert_eq!(network_difference(want, &auto), None);
        // An IPv6 subnet that compose.yml does not have, beside the one it has.
        let extra = with_pool("fd00:b::/64", None);
        assert_eq!(
            network_difference(want, &extra),
            Some("subnet fd00:b::/64 is not in compose.yml".into())
        );
        let mut other = have;
        other.pools.clear();
        assert_eq!(
            network_difference(want, &other),
            Some("subnet fd00:a::/64 missing".into())
        );
    }
}

//! A cluster's stack, planned: its overlay networks, configs and secrets (named by content),
//! and services (created, updated when their identity differs, removed when no longer
//! declared), each with its reason. Pure: from the loaded `stack.yml`, the rendered tree it
//! came with, and what the swarm holds ([`StackState`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::compose::MountKind;
use crate::model::compose::stack::{DeployMode, Overlay, Stack, StackService};
use crate::model::manifest::sha256_hex;
use crate::model::observed::{ObservedService, StackState, SwarmObject};
use crate::model::tree::OutFile;
use crate::plan::identity::{self, FIELDS, FLEET, HASH, Identity, MANAGED, MOUNTS, SERVICE};

/// The label that says which cluster (stack) an object belongs to.
pub const STACK: &str = identity::CLUSTER;
/// Docker's own stack label: `docker stack services NAME` lists nxinfra's services too.
pub const NAMESPACE: &str = "com.docker.stack.namespace";

/// What the plan starts from.
pub struct Desired<'a> {
    /// The stack's name: the cluster's group. Objects are named `<stack>_<key>`.
    pub stack_name: &'a str,
    pub fleet: &'a str,
    pub stack: &'a Stack,
    /// The rendered tree that holds stack.yml (any node's: they are the same).
    pub tree: &'a BTreeMap<String, OutFile>,
    /// Where the tree lands on the nodes (bind mounts of synced files are under it).
    pub base_dir: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Remove,
    Unchanged,
}

/// A network, config or secret step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectStep {
    /// The engine's name (`web_page_3f2a9c0b1d4e`).
    pub name: String,
    /// The stack's key (`page`); empty for a removal of an old version.
    pub key: String,
    pub action: Action,
    pub reason: String,
    /// For a config or secret to create: the file of the tree that is its content.
    #[serde(skip)]
    pub file: Option<String>,
    #[serde(skip)]
    pub labels: BTreeMap<String, String>,
}

/// A service step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceStep {
    /// The engine's name (`<stack>_<key>`).
    pub name: String,
    pub key: String,
    pub action: Action,
    pub reasons: Vec<String>,
    /// What it is created or updated to: its labels (identity included) and the engine
    /// names of its configs and secrets by key.
    #[serde(skip)]
    pub labels: BTreeMap<String, String>,
    #[serde(skip)]
    pub configs: BTreeMap<String, String>,
    #[serde(skip)]
    pub secrets: BTreeMap<String, String>,
    /// The version an update is sent with.
    #[serde(skip)]
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct StackPlan {
    pub networks: Vec<ObjectStep>,
    pub configs: Vec<ObjectStep>,
    pub secrets: Vec<ObjectStep>,
    pub services: Vec<ServiceStep>,
}

impl StackPlan {
    pub fn is_noop(&self) -> bool {
        let objects = self
            .networks
            .iter()
            .chain(&self.configs)
            .chain(&self.secrets);
        objects.into_iter().all(|s| s.action == Action::Unchanged)
            && self.services.iter().all(|s| s.action == Action::Unchanged)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StackError {
    #[error(
        "{kind} {name} exists and is not this cluster's (no {STACK}={stack} label): rename it in stack.yml, or remove it"
    )]
    Foreign {
        kind: &'static str,
        name: String,
        stack: String,
    },
    #[error("{kind} {key}: {file} is not rendered for this host")]
    MissingFile {
        kind: &'static str,
        key: String,
        file: String,
    },
    #[error(
        "network {name}: its settings changed ({fields}); a cluster network is not recreated \
         while services use it: remove the services from stack.yml, apply, then bring them \
         back with the new network"
    )]
    NetworkChanged { name: String, fields: String },
    #[error("cannot hash service {0}: {1}")]
    Hash(String, String),
    #[error(
        "config {key}: {file} holds a secret value (it renders private, 0600): a config's \
         content is readable by anyone who can list the swarm's configs; declare it under the \
         top-level secrets instead"
    )]
    SecretInConfig { key: String, file: String },
}

/// The engine's name of the stack's `key`.
pub fn object_name(stack: &str, key: &str) -> String {
    format!("{stack}_{key}")
}

/// A config's or secret's name for `content`: `<stack>_<key>_<sha12>`, a new name for every
/// new content (swarm configs cannot change).
pub fn versioned_name(stack: &str, key: &str, content: &[u8]) -> String {
    format!("{stack}_{key}_{}", &sha256_hex(content)[..12])
}

fn ours(labels: &BTreeMap<String, String>, stack: &str, fleet: &str) -> bool {
    labels.get(STACK).map(String::as_str) == Some(stack)
        && labels.get(FLEET).map(String::as_str) == Some(fleet)
}

/// The labels every object of the stack carries.
fn base_labels(d: &Desired) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED.to_string(), "true".to_string()),
        (FLEET.to_string(), d.fleet.to_string()),
        (STACK.to_string(), d.stack_name.to_string()),
        (NAMESPACE.to_string(), d.stack_name.to_string()),
    ])
}

/// An overlay's settings as short hashes, kept in its labels.
fn overlay_fields(net: &Overlay) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(net) {
        for (k, v) in map {
            fields.insert(k, sha256_hex(v.to_string().as_bytes())[..8].to_string());
        }
    }
    fields
}

pub fn plan(d: &Desired, observed: &StackState) -> Result<StackPlan, StackError> {
    let mut out = StackPlan::default();
    let base = base_labels(d);

    for (key, net) in &d.stack.networks {
        let name = net.name.clone();
        let fields = overlay_fields(net);
        let mut labels = base.clone();
        labels.insert(FIELDS.into(), identity::encode(&fields));
        let (action, reason) = match observed.networks.iter().find(|n| n.name == name) {
            None => (Action::Create, "new".to_string()),
            Some(have) if !ours(&have.labels, d.stack_name, d.fleet) => {
                return Err(StackError::Foreign {
                    kind: "network",
                    name,
                    stack: d.stack_name.into(),
                });
            }
            Some(have) => {
                let recorded = have
                    .labels
                    .get(FIELDS)
                    .and_then(|f| identity::decode(f))
                    .unwrap_or_default();
                let changed = identity::changed(&fields, &recorded);
                if !changed.is_empty() {
                    return Err(StackError::NetworkChanged {
                        name,
                        fields: changed.join(", "),
                    });
                }
                (Action::Unchanged, String::new())
            }
        };
        out.networks.push(ObjectStep {
            name,
            key: key.clone(),
            action,
            reason,
            file: None,
            labels,
        });
    }

    // Configs and secrets by content; the versions no longer used go once the services moved.
    let mut names: [BTreeMap<String, String>; 2] = Default::default();
    for (i, (kind, declared, have)) in [
        ("config", &d.stack.configs, &observed.configs),
        ("secret", &d.stack.secrets, &observed.secrets),
    ]
    .into_iter()
    .enumerate()
    {
        let mut steps = Vec::new();
        let mut wanted = BTreeSet::new();
        for (key, source) in declared {
            let Some(file) = d.tree.get(&source.file) else {
                return Err(StackError::MissingFile {
                    kind,
                    key: key.clone(),
                    file: source.file.clone(),
                });
            };
            // A rendered file that holds a secret has no permission for others (render's rule).
            if kind == "config" && file.mode & 0o077 == 0 {
                return Err(StackError::SecretInConfig {
                    key: key.clone(),
                    file: source.file.clone(),
                });
            }
            let name = versioned_name(d.stack_name, key, &file.data);
            names[i].insert(key.clone(), name.clone());
            wanted.insert(name.clone());
            let present = have.iter().find(|o| o.name == name);
            if let Some(o) = present
                && !ours(&o.labels, d.stack_name, d.fleet)
            {
                return Err(StackError::Foreign {
                    kind,
                    name,
                    stack: d.stack_name.into(),
                });
            }
            let mut labels = base.clone();
            labels.insert(SERVICE.into(), key.clone());
            steps.push(ObjectStep {
                action: if present.is_some() {
                    Action::Unchanged
                } else {
                    Action::Create
                },
                reason: if present.is_some() {
                    String::new()
                } else if have.iter().any(|o| o.labels.get(SERVICE) == Some(key)) {
                    format!("{} changed", source.file)
                } else {
                    "new".into()
                },
                name,
                key: key.clone(),
                file: Some(source.file.clone()),
                labels,
            });
        }
        for o in have {
            if ours(&o.labels, d.stack_name, d.fleet) && !wanted.contains(&o.name) {
                steps.push(removal(o));
            }
        }
        if i == 0 {
            out.configs = steps;
        } else {
            out.secrets = steps;
        }
    }
    let [config_names, secret_names] = names;

    let mut wanted = BTreeSet::new();
    for (key, service) in &d.stack.services {
        let name = object_name(d.stack_name, key);
        wanted.insert(name.clone());
        let id = identity(d, service, &config_names, &secret_names)
            .map_err(|e| StackError::Hash(key.clone(), e.to_string()))?;
        let mut labels = base.clone();
        labels.insert(SERVICE.into(), key.clone());
        labels.insert(HASH.into(), id.hash.clone());
        labels.insert(FIELDS.into(), identity::encode(&id.fields));
        labels.insert(MOUNTS.into(), identity::encode(&id.mounts));
        let have = observed.services.iter().find(|s| s.name == name);
        let (action, reasons, version) = match have {
            None => (Action::Create, vec!["new".to_string()], 0),
            Some(h) if !ours(&h.labels, d.stack_name, d.fleet) => {
                return Err(StackError::Foreign {
                    kind: "service",
                    name,
                    stack: d.stack_name.into(),
                });
            }
            Some(h) => {
                let reasons = update_reasons(service, &id, h);
                if reasons.is_empty() {
                    (Action::Unchanged, reasons, h.version)
                } else {
                    (Action::Update, reasons, h.version)
                }
            }
        };
        out.services.push(ServiceStep {
            name,
            key: key.clone(),
            action,
            reasons,
            labels,
            configs: service
                .configs
                .iter()
                .filter_map(|r| {
                    config_names
                        .get(&r.source)
                        .map(|n| (r.source.clone(), n.clone()))
                })
                .collect(),
            secrets: service
                .secrets
                .iter()
                .filter_map(|r| {
                    secret_names
                        .get(&r.source)
                        .map(|n| (r.source.clone(), n.clone()))
                })
                .collect(),
            version,
        });
    }
    for s in &observed.services {
        if ours(&s.labels, d.stack_name, d.fleet) && !wanted.contains(&s.name) {
            out.services.push(ServiceStep {
                name: s.name.clone(),
                key: s.labels.get(SERVICE).cloned().unwrap_or_default(),
                action: Action::Remove,
                reasons: vec!["no longer in stack.yml".into()],
                labels: BTreeMap::new(),
                configs: BTreeMap::new(),
                secrets: BTreeMap::new(),
                version: s.version,
            });
        }
    }
    Ok(out)
}

fn removal(o: &SwarmObject) -> ObjectStep {
    ObjectStep {
        name: o.name.clone(),
        key: String::new(),
        action: Action::Remove,
        reason: "no longer used".into(),
        file: None,
        labels: BTreeMap::new(),
    }
}

/// A service's identity: a short hash per field of its spec (`deploy.*` apart, the replica
/// count out of it: it is compared with the swarm's own count), one per config and secret
/// content (`config.KEY`), one per bind-mounted rendered file.
fn identity(
    d: &Desired,
    service: &StackService,
    configs: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, String>,
) -> Result<Identity, serde_json::Error> {
    let short = |v: &serde_json::Value| sha256_hex(v.to_string().as_bytes())[..8].to_string();
    let mut fields = BTreeMap::new();
    if let serde_json::Value::Object(map) = serde_json::to_value(service)? {
        for (key, value) in map {
            if key == "deploy" {
                if let serde_json::Value::Object(deploy) = value {
                    for (k, v) in deploy {
                        if k != "mode" {
                            fields.insert(format!("deploy.{k}"), short(&v));
                        }
                    }
                }
            } else {
                fields.insert(key, short(&value));
            }
        }
    }
    let global = matches!(service.deploy.mode, DeployMode::Global);
    fields.insert("deploy.mode".into(), short(&serde_json::json!(global)));
    for r in &service.configs {
        if let Some(name) = configs.get(&r.source) {
            fields.insert(
                format!("config.{}", r.source),
                name[name.len() - 12..].to_string(),
            );
        }
    }
    for r in &service.secrets {
        if let Some(name) = secrets.get(&r.source) {
            fields.insert(
                format!("secret.{}", r.source),
                name[name.len() - 12..].to_string(),
            );
        }
    }
    let base = std::path::Path::new(d.base_dir);
    let mut mounts = BTreeMap::new();
    for m in &service.mounts {
        if m.kind != MountKind::Bind {
            continue;
        }
        if let Ok(rel) = std::path::Path::new(&m.source).strip_prefix(base) {
            let rel = rel.to_string_lossy().into_owned();
            if let Some(h) = identity::content_hash(&rel, d.tree) {
                mounts.insert(rel, h);
            }
        }
    }
    Ok(Identity::from_parts(fields, mounts))
}

/// Why service `have` must be updated to `service` (empty: it need not be).
fn update_reasons(service: &StackService, id: &Identity, have: &ObservedService) -> Vec<String> {
    let mut reasons = Vec::new();
    match Identity::from_labels(&have.labels) {
        None => reasons.push("its identity labels are missing".to_string()),
        Some(old) => {
            for field in id.changed_fields(&old) {
                reasons.push(match field.split_once('.') {
                    Some(("config", key)) => format!("config {key} changed"),
                    Some(("secret", key)) => format!("secret {key} changed"),
                    _ => format!("{field} changed"),
                });
            }
            for path in id.changed_mounts(&old) {
                reasons.push(format!("{path} changed"));
            }
        }
    }
    if let DeployMode::Replicated { replicas } = service.deploy.mode
        && have.replicas != Some(replicas)
    {
        let was = have
            .replicas
            .map_or("global".to_string(), |r| r.to_string());
        reasons.push(format!("replicas {was} → {replicas}"));
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::compose::stack::parse;
    use std::path::Path;

    const STACK_YML: &str = "services:
  web:
    image: nxtb-busybox:1
    command: [httpd, -f]
    configs: [{source: page, target: /www/index.html}]
    secrets: [token]
    deploy: {replicas: 2}
  worker:
    image: nxtb-busybox:1
    command: [sleep, '3600']
networks:
  front: {attachable: true}
configs:
  page: {file: web/index.html}
secrets:
  token: {file: web/token}
";

    fn tree(page: &str) -> BTreeMap<String, OutFile> {
        [
            ("web/index.html", page, 0o644),
            ("web/token", "hunter2", 0o600),
            ("web/conf/app.conf", "a=1", 0o644),
        ]
        .into_iter()
        .map(|(p, c, mode)| {
            (
                p.to_string(),
                OutFile {
                    data: c.as_bytes().to_vec().into(),
                    mode,
                },
            )
        })
        .collect()
    }

    fn planned(stack: &Stack, tree: &BTreeMap<String, OutFile>, have: &StackState) -> StackPlan {
        let d = Desired {
            stack_name: "edge",
            fleet: "f",
            stack,
            tree,
            base_dir: "/srv",
        };
        plan(&d, have).unwrap()
    }

    /// The swarm after `plan` was carried out.
    fn applied(p: &StackPlan, replicas: &BTreeMap<&str, u64>) -> StackState {
        let object = |s: &ObjectStep| SwarmObject {
            id: s.name.clone(),
            name: s.name.clone(),
            labels: s.labels.clone(),
        };
        let kept = |steps: &[ObjectStep]| -> Vec<SwarmObject> {
            steps
                .iter()
                .filter(|s| s.action != Action::Remove)
                .map(object)
                .collect()
        };
        StackState {
            networks: kept(&p.networks),
            configs: kept(&p.configs),
            secrets: kept(&p.secrets),
            services: p
                .services
                .iter()
                .filter(|s| s.action != Action::Remove)
                .map(|s| ObservedService {
                    id: s.name.clone(),
                    name: s.name.clone(),
                    version: 1,
                    labels: s.labels.clone(),
                    replicas: Some(replicas.get(s.key.as_str()).copied().unwrap_or(1)),
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn a_new_stack_is_created_then_unchanged_and_a_changed_file_updates_only_its_users() {
        let stack = parse(Path::new("stack.yml"), STACK_YML).unwrap();
        let first = planned(&stack, &tree("v1"), &StackState::default());
        let actions: Vec<(&str, Action)> = first
            .services
            .iter()
            .map(|s| (s.name.as_str(), s.action))
            .collect();
        assert_eq!(
            actions,
            [
                ("edge_web", Action::Create),
                ("edge_worker", Action::Create)
            ]
        );
        assert_eq!(first.networks[0].name, "front");
        let page = &first.configs[0];
        assert!(page.name.starts_with("edge_page_") && page.name.len() == "edge_page_".len() + 12);
        assert_eq!(page.file.as_deref(), Some("web/index.html"));
        assert_eq!(first.services[0].configs["page"], page.name);

        let replicas = BTreeMap::from([("web", 2)]);
        let swarm = applied(&first, &replicas);
        let again = planned(&stack, &tree("v1"), &swarm);
        assert!(again.is_noop(), "{again:?}");

        let changed = planned(&stack, &tree("v2"), &swarm);
        let web = &changed.services[0];
        assert_eq!(
            (web.action, web.reasons.clone()),
            (Action::Update, vec!["config page changed".to_string()])
        );
        assert_eq!(
            changed.services[1].action,
            Action::Unchanged,
            "worker does not use it"
        );
        let configs: Vec<(Action, &str)> = changed
            .configs
            .iter()
            .map(|c| (c.action, c.reason.as_str()))
            .collect();
        assert_eq!(
            configs,
            [
                (Action::Create, "web/index.html changed"),
                (Action::Remove, "no longer used")
            ]
        );
    }

    #[test]
    fn replicas_changed_by_hand_and_removed_services_are_planned_with_their_reason() {
        let stack = parse(Path::new("stack.yml"), STACK_YML).unwrap();
        let first = planned(&stack, &tree("v1"), &StackState::default());
        let mut swarm = applied(&first, &BTreeMap::from([("web", 5)]));
        let p = planned(&stack, &tree("v1"), &swarm);
        assert_eq!(p.services[0].reasons, ["replicas 5 → 2"]);

        let only_web = parse(
            Path::new("stack.yml"),
            &STACK_YML.replace(
                "  worker:\n    image: nxtb-busybox:1\n    command: [sleep, '3600']\n",
                "",
            ),
        )
        .unwrap();
        swarm.services[0].replicas = Some(2);
        let p = planned(&only_web, &tree("v1"), &swarm);
        let worker = p.services.iter().find(|s| s.name == "edge_worker").unwrap();
        assert_eq!(
            (worker.action, worker.reasons.clone()),
            (Action::Remove, vec!["no longer in stack.yml".to_string()])
        );
    }

    #[test]
    fn another_clusters_or_hand_made_objects_are_never_taken_over() {
        let stack = parse(Path::new("stack.yml"), STACK_YML).unwrap();
        let swarm = StackState {
            services: vec![ObservedService {
                name: "edge_web".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let d = Desired {
            stack_name: "edge",
            fleet: "f",
            stack: &stack,
            tree: &tree("v1"),
            base_dir: "/srv",
        };
        let e = plan(&d, &swarm).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("service edge_web exists and is not this cluster's"),
            "{e}"
        );
        let mut without = tree("v1");
        without.remove("web/token");
        let d = Desired {
            tree: &without,
            ..d
        };
        let e = plan(&d, &StackState::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "secret token: web/token is not rendered for this host"
        );
    }

    #[test]
    fn a_bind_mounted_files_content_is_part_of_the_service_and_a_secret_is_no_config() {
        let text = "services:\n  web:\n    image: nxtb-busybox:1\n    volumes:\n      \
                    - /srv/web/conf:/conf:ro\n";
        let stack = parse(Path::new("stack.yml"), text).unwrap();
        let first = planned(&stack, &tree("v1"), &StackState::default());
        let swarm = applied(&first, &BTreeMap::new());
        assert!(planned(&stack, &tree("v1"), &swarm).is_noop());
        let mut changed = tree("v1");
        changed.insert(
            "web/conf/app.conf".into(),
            OutFile {
                data: b"a=2".to_vec().into(),
                mode: 0o644,
            },
        );
        let p = planned(&stack, &changed, &swarm);
        assert_eq!(p.services[0].action, Action::Update);
        assert_eq!(p.services[0].reasons, ["web/conf changed"]);

        let leaky = parse(
            Path::new("stack.yml"),
            "services:\n  web:\n    image: busybox:1\n    configs: [key]\nconfigs:\n  key: {file: web/token}\n",
        )
        .unwrap();
        let d = Desired {
            stack_name: "edge",
            fleet: "f",
            stack: &leaky,
            tree: &tree("v1"),
            base_dir: "/srv",
        };
        let e = plan(&d, &StackState::default()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("config key: web/token holds a secret value"),
            "{e}"
        );
    }
}

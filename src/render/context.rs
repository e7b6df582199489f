//! The template context of a host: inventory variables, secrets (tracked), magic variables.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr, Serde};

use crate::model::inventory::{Inventory, InventoryError};

/// Converts any serializable value (inventory data) to a template value.
pub fn to_value<T: serde::Serialize>(value: T) -> Value {
    Value::from(Serde(value))
}

/// A node of the secrets document, shared by all hosts.
#[derive(Debug)]
enum Node {
    Map(IndexMap<String, Arc<Node>>),
    Seq(Vec<Arc<Node>>),
    Leaf(Value),
}

impl Node {
    fn from_json(v: &serde_json::Value) -> Arc<Node> {
        Arc::new(match v {
            serde_json::Value::Object(m) => Node::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), Node::from_json(v)))
                    .collect(),
            ),
            serde_json::Value::Array(a) => Node::Seq(a.iter().map(Node::from_json).collect()),
            other => Node::Leaf(to_value(other)),
        })
    }
}

/// A view of a secrets node for one host's render: reading any leaf through it sets `touched`,
/// so the file being rendered is known to hold secret material (even transformed, e.g.
/// base64-encoded) and is written 0600.
#[derive(Debug)]
struct SecretView {
    node: Arc<Node>,
    touched: Arc<AtomicBool>,
}

impl SecretView {
    fn wrap(node: &Arc<Node>, touched: &Arc<AtomicBool>) -> Value {
        match &**node {
            Node::Leaf(v) => {
                touched.store(true, Ordering::Relaxed);
                v.clone()
            }
            _ => Value::from_object(SecretView {
                node: node.clone(),
                touched: touched.clone(),
            }),
        }
    }
}

impl Object for SecretView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match &*self.node {
            Node::Seq(_) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let child = match &*self.node {
            Node::Map(m) => m.get(key.as_str()?)?,
            Node::Seq(s) => {
                let idx = i64::try_from(key.clone()).ok()?;
                let idx = if idx < 0 { s.len() as i64 + idx } else { idx };
                s.get(usize::try_from(idx).ok()?)?
            }
            Node::Leaf(_) => return None,
        };
        Some(SecretView::wrap(child, &self.touched))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match &*self.node {
            Node::Map(m) => Enumerator::Values(m.keys().map(|k| Value::from(k.as_str())).collect()),
            Node::Seq(s) => Enumerator::Seq(s.len()),
            Node::Leaf(_) => Enumerator::NonEnumerable,
        }
    }
}

/// What every host's context shares: converted once per render.
pub struct SharedContext {
    secrets: Arc<Node>,
    secret_keys: Vec<String>,
    hostvars: Arc<HostVars>,
    groups: Value,
}

/// Every host's variables, as `hostvars` shows them: those read from a vault-encrypted vars
/// file kept as secret nodes, so that reading one through `hostvars` marks the file too.
#[derive(Debug)]
struct HostVars {
    hosts: IndexMap<String, IndexMap<String, Value>>,
    secret: IndexMap<String, IndexMap<String, Arc<Node>>>,
}

/// `hostvars` in one host's render: reads of secret values set its `touched`.
#[derive(Debug)]
struct HostVarsView {
    all: Arc<HostVars>,
    touched: Arc<AtomicBool>,
}

/// `hostvars[HOST]` in one host's render.
#[derive(Debug)]
struct OneHostView {
    all: Arc<HostVars>,
    host: String,
    touched: Arc<AtomicBool>,
}

impl Object for HostVarsView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let host = key.as_str()?;
        self.all.hosts.contains_key(host).then(|| {
            Value::from_object(OneHostView {
                all: self.all.clone(),
                host: host.to_string(),
                touched: self.touched.clone(),
            })
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.all
                .hosts
                .keys()
                .map(|k| Value::from(k.as_str()))
                .collect(),
        )
    }
}

impl Object for OneHostView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        if let Some(node) = self.all.secret.get(&self.host).and_then(|s| s.get(key)) {
            return Some(SecretView::wrap(node, &self.touched));
        }
        self.all.hosts.get(&self.host)?.get(key).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys = self.all.hosts.get(&self.host).into_iter().flatten();
        Enumerator::Values(keys.map(|(k, _)| Value::from(k.as_str())).collect())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(
        "host {host}: {key} is both an inventory variable and a top-level secrets key; rename \
         one (templates see secrets at the top level and as secrets.{key})"
    )]
    SecretShadowsVariable { host: String, key: String },
}

impl SharedContext {
    pub fn new(
        inv: &Inventory,
        secrets: &IndexMap<String, serde_json::Value>,
    ) -> Result<Self, InventoryError> {
        let doc = serde_json::Value::Object(secrets.clone().into_iter().collect());
        let mut hosts = IndexMap::new();
        let mut secret = IndexMap::new();
        for host in inv.hosts.keys() {
            let (vars, secret_vars) = inv.host_vars_marked(host)?;
            if !secret_vars.is_empty() {
                let nodes: IndexMap<String, Arc<Node>> = secret_vars
                    .iter()
                    .filter_map(|k| Some((k.clone(), Node::from_json(vars.get(k)?))))
                    .collect();
                secret.insert(host.clone(), nodes);
            }
            hosts.insert(
                host.clone(),
                vars.iter().map(|(k, v)| (k.clone(), to_value(v))).collect(),
            );
        }
        Ok(SharedContext {
            secrets: Node::from_json(&doc),
            secret_keys: secrets.keys().cloned().collect(),
            hostvars: Arc::new(HostVars { hosts, secret }),
            groups: to_value(inv.groups_map()),
        })
    }

    /// The context of `host`; reads of secret leaves set `touched`.
    pub fn for_host(
        &self,
        inv: &Inventory,
        host: &str,
        touched: &Arc<AtomicBool>,
    ) -> Result<Value, ContextError> {
        let mut secret_leaves = Vec::new();
        let mut ctx: IndexMap<String, Value> =
            self.hostvars.hosts.get(host).cloned().unwrap_or_default();
        // Variables from a vault-encrypted vars file are read as secrets are.
        for (key, node) in self.hostvars.secret.get(host).into_iter().flatten() {
            if matches!(**node, Node::Leaf(_)) {
                secret_leaves.push(key.clone());
            }
            ctx.insert(key.clone(), lazy_view(node, touched));
        }
        if let Node::Map(top) = &*self.secrets {
            for key in &self.secret_keys {
                if ctx.contains_key(key) {
                    return Err(ContextError::SecretShadowsVariable {
                        host: host.to_string(),
                        key: key.clone(),
                    });
                }
                if let Some(node) = top.get(key) {
                    if matches!(**node, Node::Leaf(_)) {
                        secret_leaves.push(key.clone());
                    }
                    ctx.insert(key.clone(), lazy_view(node, touched));
                }
            }
        }
        ctx.insert("secrets".into(), lazy_view(&self.secrets, touched));
        ctx.insert("inventory_hostname".into(), Value::from(host));
        let group_names: Vec<String> = inv
            .groups_of(host)
            .into_iter()
            .filter(|g| g != crate::model::inventory::ALL)
            .collect();
        ctx.insert("group_names".into(), to_value(group_names));
        ctx.insert("groups".into(), self.groups.clone());
        ctx.insert(
            "hostvars".into(),
            Value::from_object(HostVarsView {
                all: self.hostvars.clone(),
                touched: touched.clone(),
            }),
        );
        Ok(Value::from_object(HostContext {
            vars: ctx,
            secret_leaves,
            touched: touched.clone(),
        }))
    }
}

/// The value a secrets node is seen as: nested values through a [`SecretView`]; a top-level
/// plain value as is (filters need the real string), its reads tracked by [`HostContext`].
fn lazy_view(node: &Arc<Node>, touched: &Arc<AtomicBool>) -> Value {
    match &**node {
        Node::Leaf(v) => v.clone(),
        _ => SecretView::wrap(node, touched),
    }
}

/// The root of a host's context. Looking up a top-level secret that is a plain value marks the
/// file as holding secrets; nested secrets are marked by their [`SecretView`].
#[derive(Debug)]
struct HostContext {
    vars: IndexMap<String, Value>,
    secret_leaves: Vec<String>,
    touched: Arc<AtomicBool>,
}

impl Object for HostContext {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        let value = self.vars.get(key)?;
        if self.secret_leaves.iter().any(|k| k == key) {
            self.touched.store(true, Ordering::Relaxed);
        }
        Some(value.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.vars.keys().map(|k| Value::from(k.as_str())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserved_variables_are_the_names_the_context_defines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("inventory.yml");
        std::fs::write(&file, "g:\n  hosts:\n    h:\n").unwrap();
        let inv = crate::model::inventory::load(&file).unwrap();
        let shared = SharedContext::new(&inv, &IndexMap::new()).unwrap();
        let ctx = shared
            .for_host(&inv, "h", &Arc::new(AtomicBool::new(false)))
            .unwrap();
        let mut names: Vec<String> = ctx.try_iter().unwrap().map(|k| k.to_string()).collect();
        names.sort();
        let mut reserved: Vec<String> = crate::model::inventory::RESERVED_VARIABLES
            .iter()
            .map(|s| s.to_string())
            .collect();
        reserved.sort();
        assert_eq!(names, reserved);
    }
}

//! compose.yml changes of one host, per service: added, removed, or the fields that changed
//! (pure; the fields are those the reconciler compares, see `apply::hash`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::model::compose;
use crate::model::manifest::sha256_hex;
use crate::plan::identity::{self, Identity};

pub const FILE: &str = "compose.yml";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceChange {
    pub service: String,
    /// `added`, `removed`, `changed`, or `unreadable` (the file does not load on that side:
    /// `reason` says why).
    pub change: &'static str,
    /// For `changed`: the fields that differ (`environment`, `image`, `ports`, ...).
    pub fields: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The per-service summary of `host`'s compose.yml going from `base` to `head` (`None`: the
/// file is not rendered on that side).
pub fn summary(host: &str, base: Option<&str>, head: Option<&str>) -> Vec<ServiceChange> {
    let load = |text: Option<&str>| -> Result<Fields, String> {
        let Some(t) = text else {
            return Ok(Fields::new());
        };
        let c = compose::parse(Path::new(&format!("rendered/{host}/{FILE}")), t)
            .map_err(|e| e.to_string())?;
        Ok(c.services
            .iter()
            .filter_map(|(name, s)| {
                let id = Identity::desired(
                    s,
                    "",
                    &BTreeMap::<String, crate::model::tree::OutFile>::new(),
                    "",
                )
                .ok()?;
                Some((name.clone(), id.fields))
            })
            .collect())
    };
    compare(load(base), load(head))
}

/// The same for the cluster's `stack.yml` (its services' fields, `deploy.*` one by one).
pub fn stack_summary(host: &str, base: Option<&str>, head: Option<&str>) -> Vec<ServiceChange> {
    let load = |text: Option<&str>| -> Result<Fields, String> {
        let Some(t) = text else {
            return Ok(Fields::new());
        };
        let stack = compose::stack::parse(Path::new(&format!("rendered/{host}/{STACK_FILE}")), t)
            .map_err(|e| e.to_string())?;
        Ok(stack
            .services
            .iter()
            .map(|(name, s)| (name.clone(), stack_fields(s)))
            .collect())
    };
    compare(load(base), load(head))
}

/// The file of a cluster's services.
pub use crate::model::compose::stack::FILE as STACK_FILE;

/// Service → field → short hash of its value.
type Fields = BTreeMap<String, BTreeMap<String, String>>;

fn stack_fields(s: &compose::stack::StackService) -> BTreeMap<String, String> {
    let short = |v: &serde_json::Value| sha256_hex(v.to_string().as_bytes())[..8].to_string();
    let mut out = BTreeMap::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(s) {
        for (key, value) in map {
            match value {
                serde_json::Value::Object(deploy) if key == "deploy" => {
                    for (k, v) in deploy {
                        out.insert(format!("deploy.{k}"), short(&v));
                    }
                }
                value => {
                    out.insert(key, short(&value));
                }
            }
        }
    }
    out
}

fn compare(base: Result<Fields, String>, head: Result<Fields, String>) -> Vec<ServiceChange> {
    let (base, head) = match (base, head) {
        (Ok(b), Ok(h)) => (b, h),
        (b, h) => {
            let reason = [b.err(), h.err()].into_iter().flatten().collect::<Vec<_>>();
            return vec![ServiceChange {
                service: String::new(),
                change: "unreadable",
                fields: vec![],
                reason: Some(reason.join("; ")),
            }];
        }
    };
    let mut out = Vec::new();
    for (name, b) in &base {
        match head.get(name) {
            None => out.push(change(name, "removed", vec![])),
            Some(h) => {
                let changed = identity::changed(h, b);
                if !changed.is_empty() {
                    out.push(change(name, "changed", changed));
                }
            }
        }
    }
    for name in head.keys().filter(|n| !base.contains_key(*n)) {
        out.push(change(name, "added", vec![]));
    }
    out.sort_by(|a, b| a.service.cmp(&b.service));
    out
}

fn change(service: &str, change: &'static str, fields: Vec<String>) -> ServiceChange {
    ServiceChange {
        service: service.to_string(),
        change,
        fields,
        reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "services:
  web:
    image: busybox:1
    network_mode: none
    environment: {A: \"1\"}
  db:
    image: busybox:1
    network_mode: none
";

    #[test]
    fn services_added_removed_and_their_changed_fields() {
        let head = "services:
  web:
    image: busybox:2
    network_mode: none
    environment: {A: \"2\"}
  cache:
    image: busybox:1
    network_mode: none
";
        assert_eq!(
            summary("h1", Some(BASE), Some(head)),
            [
                change("cache", "added", vec![]),
                change("db", "removed", vec![]),
                change("web", "changed", vec!["environment".into(), "image".into()]),
            ]
        );
        assert_eq!(summary("h1", Some(BASE), Some(BASE)), []);
        assert_eq!(
            summary("h1", None, Some(BASE)),
            [
                change("db", "added", vec![]),
                change("web", "added", vec![])
            ]
        );
    }

    #[test]
    fn a_file_that_does_not_load_says_why() {
        let s = summary("h1", Some(BASE), Some("services:\n  web:\n    imag: x\n"));
        assert_eq!(s[0].change, "unreadable");
        assert!(
            s[0].reason
                .as_deref()
                .unwrap()
                .contains("rendered/h1/compose.yml"),
            "{s:?}"
        );
    }

    #[test]
    fn stack_services_added_removed_and_their_changed_fields() {
        let base = "services:\n  web:\n    image: busybox:1\n    deploy: {replicas: 2}\n  \
                    old:\n    image: busybox:1\n";
        let head = "services:\n  web:\n    image: busybox:2\n    deploy: {replicas: 3}\n  \
                    new:\n    image: busybox:1\n";
        assert_eq!(
            stack_summary("h1", Some(base), Some(head)),
            [
                change("new", "added", vec![]),
                change("old", "removed", vec![]),
                change("web", "changed", vec!["deploy.mode".into(), "image".into()]),
            ]
        );
        let broken = stack_summary(
            "h1",
            Some(base),
            Some("services:\n  web: {privileged: true}\n"),
        );
        assert_eq!(broken[0].change, "unreadable");
    }
}

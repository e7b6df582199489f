//! `nxinfra_backups`: what a host backs up, declared in the inventory (host or group vars).
//!
//! ```yaml
//! nxinfra_backups:
//!   - name: postgresql              # letters, digits, _ and -: names the backup's folder
//!     container: postgresql         # the container the command runs in (docker exec);
//!                                   # without it, on the host, as the login user
//!     command: pg_dumpall -U postgres   # its stdout is the backup (run with sh -c)
//!     restore: psql -U postgres     # optional: reads a backup on its stdin
//!     keep: 7                       # how many of the newest are kept (default 7)
//! ```

use serde_json::Value;

pub const VARIABLE: &str = "nxinfra_backups";
pub const DEFAULT_KEEP: usize = 7;

/// One declared backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Backup {
    pub name: String,
    /// `None`: the command runs on the host itself.
    pub container: Option<String>,
    pub command: String,
    pub restore: Option<String>,
    pub keep: usize,
}

impl Backup {
    /// Where its commands run, for messages: `in CONTAINER`, or `on the host`.
    pub fn place(&self) -> String {
        match &self.container {
            Some(c) => format!("in {c}"),
            None => "on the host".into(),
        }
    }
}

/// Why `nxinfra_backups` is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("expected a list of backups, got {0}")]
    NotAList(Value),
    #[error("{label}: {reason}")]
    Entry { label: Label, reason: EntryError },
    #[error("{label}: the name {name} is used twice")]
    Twice { label: Label, name: String },
}

/// Which entry of `nxinfra_backups`: `entry 2`, or `entry 2 (postgresql)` when it has a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// From 1.
    pub index: usize,
    pub name: Option<String>,
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(n) => write!(f, "entry {} ({n})", self.index),
            None => write!(f, "entry {}", self.index),
        }
    }
}

/// What is wrong with one entry of `nxinfra_backups`.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("expected a mapping (name, container, command, ...)")]
    NotAMapping,
    #[error("unknown key {0:?} (known: name, container, command, restore, keep)")]
    UnknownKey(String),
    #[error("{key}: expected a non-empty string, got {got}")]
    NotAString { key: &'static str, got: Value },
    #[error("{0} is required")]
    Required(&'static str),
    #[error("name {0:?}: letters, digits, _ and - only (it names a folder)")]
    Name(String),
    #[error("keep: expected a whole number of at least 1, got {0}")]
    KeepTooSmall(serde_json::Number),
    #[error("keep: expected a number, got {0}")]
    KeepNotANumber(Value),
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
}

/// Parses a host's `nxinfra_backups`; the error names the entry and the key.
pub fn parse(value: Option<&Value>) -> Result<Vec<Backup>, ParseError> {
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(ParseError::NotAList(other.clone())),
    };
    let mut out: Vec<Backup> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let label = Label {
            index: i + 1,
            name: item.get("name").and_then(Value::as_str).map(str::to_string),
        };
        let entry = match entry(item) {
            Ok(entry) => entry,
            Err(reason) => return Err(ParseError::Entry { label, reason }),
        };
        if out.iter().any(|b| b.name == entry.name) {
            return Err(ParseError::Twice {
                label,
                name: entry.name,
            });
        }
        out.push(entry);
    }
    Ok(out)
}

fn entry(item: &Value) -> Result<Backup, EntryError> {
    let Value::Object(map) = item else {
        return Err(EntryError::NotAMapping);
    };
    for key in map.keys() {
        if !["name", "container", "command", "restore", "keep"].contains(&key.as_str()) {
            return Err(EntryError::UnknownKey(key.clone()));
        }
    }
    let text = |key: &'static str| -> Result<Option<String>, EntryError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(other) => Err(EntryError::NotAString {
                key,
                got: other.clone(),
            }),
        }
    };
    let required = |key: &'static str| text(key)?.ok_or(EntryError::Required(key));
    let name = required("name")?;
    if !valid_name(&name) {
        return Err(EntryError::Name(name));
    }
    let keep = match map.get("keep") {
        None | Some(Value::Null) => DEFAULT_KEEP,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(k) if k >= 1 => k as usize,
            _ => return Err(EntryError::KeepTooSmall(n.clone())),
        },
        Some(other) => return Err(EntryError::KeepNotANumber(other.clone())),
    };
    Ok(Backup {
        container: text("container")?,
        command: required("command")?,
        restore: text("restore")?,
        keep,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_parse_with_defaults() {
        let b = parse(Some(&json!([
            {"name": "postgresql", "container": "postgresql", "command": "pg_dumpall", "restore": "psql"},
            {"name": "grafana-db", "container": "grafana", "command": "cat /var/lib/grafana/grafana.db", "keep": 3}
        ])))
        .unwrap();
        assert_eq!(b[0].keep, DEFAULT_KEEP);
        assert_eq!(b[0].restore.as_deref(), Some("psql"));
        assert_eq!(
            (b[1].name.as_str(), b[1].keep, &b[1].restore),
            ("grafana-db", 3, &None)
        );
        assert_eq!(parse(None).unwrap(), []);
    }

    #[test]
    fn errors_name_the_entry_and_the_key() {
        for (value, want) in [
            (json!({"name": "x"}), "expected a list of backups"),
            (json!(["x"]), "entry 1: expected a mapping"),
            (
                json!([{"name": "a", "container": "c"}]),
                "entry 1 (a): command is required",
            ),
            (
                json!([{"name": "a", "container": "c", "command": "x", "kep": 1}]),
                "entry 1 (a): unknown key \"kep\"",
            ),
            (
                json!([{"name": "a/b", "container": "c", "command": "x"}]),
                "entry 1 (a/b): name \"a/b\": letters, digits",
            ),
            (
                json!([{"name": "a", "container": "c", "command": "x", "keep": 0}]),
                "keep: expected a whole number of at least 1",
            ),
            (
                json!([
                    {"name": "a", "container": "c", "command": "x"},
                    {"name": "a", "container": "d", "command": "y"}
                ]),
                "entry 2 (a): the name a is used twice",
            ),
            (
                json!([{"name": "a", "container": "", "command": "x"}]),
                "container: expected a non-empty string",
            ),
        ] {
            let e = parse(Some(&value)).unwrap_err().to_string();
            assert!(e.contains(want), "{value}: {e}");
        }
    }

    #[test]
    fn messages_say_the_entry_and_key() {
        let err = |v: Value| parse(Some(&v)).unwrap_err().to_string();
        for (v, want) in [
            (json!("x"), "expected a list of backups, got \"x\""),
            (
                json!([{"name": "a", "command": "x", "x": 1}]),
                "entry 1 (a): unknown key \"x\" (known: name, container, command, restore, keep)",
            ),
            (
                json!([{"name": 1}]),
                "entry 1: name: expected a non-empty string, got 1",
            ),
            (json!([{"command": "x"}]), "entry 1: name is required"),
            (
                json!([{"name": "a b", "command": "x"}]),
                "entry 1 (a b): name \"a b\": letters, digits, _ and - only (it names a folder)",
            ),
            (
                json!([{"name": "a", "command": "x", "keep": 1.5}]),
                "entry 1 (a): keep: expected a whole number of at least 1, got 1.5",
            ),
            (
                json!([{"name": "a", "command": "x", "keep": "7"}]),
                "entry 1 (a): keep: expected a number, got \"7\"",
            ),
        ] {
            assert_eq!(err(v.clone()), want, "{v}");
        }
    }
}

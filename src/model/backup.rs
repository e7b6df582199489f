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

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
}

/// Parses a host's `nxinfra_backups`; the error names the entry and the key.
pub fn parse(value: Option<&Value>) -> Result<Vec<Backup>, String> {
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(format!("expected a list of backups, got {other}")),
    };
    let mut out: Vec<Backup> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let label = item
            .get("name")
            .and_then(Value::as_str)
            .map_or(format!("entry {}", i + 1), |n| {
                format!("entry {} ({n})", i + 1)
            });
        let entry = entry(item).map_err(|why| format!("{label}: {why}"))?;
        if out.iter().any(|b| b.name == entry.name) {
            return Err(format!("{label}: the name {} is used twice", entry.name));
        }
        out.push(entry);
    }
    Ok(out)
}

fn entry(item: &Value) -> Result<Backup, String> {
    let Value::Object(map) = item else {
        return Err("expected a mapping (name, container, command, ...)".into());
    };
    for key in map.keys() {
        if !["name", "container", "command", "restore", "keep"].contains(&key.as_str()) {
            return Err(format!(
                "unknown key {key:?} (known: name, container, command, restore, keep)"
            ));
        }
    }
    let text = |key: &str| -> Result<Option<String>, String> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(other) => Err(format!("{key}: expected a non-empty string, got {other}")),
        }
    };
    let required = |key: &str| text(key)?.ok_or_else(|| format!("{key} is required"));
    let name = required("name")?;
    if !valid_name(&name) {
        return Err(format!(
            "name {name:?}: letters, digits, _ and - only (it names a folder)"
        ));
    }
    let keep = match map.get("keep") {
        None | Some(Value::Null) => DEFAULT_KEEP,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(k) if k >= 1 => k as usize,
            _ => {
                return Err(format!(
                    "keep: expected a whole number of at least 1, got {n}"
                ));
            }
        },
        Some(other) => return Err(format!("keep: expected a number, got {other}")),
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
            let e = parse(Some(&value)).unwrap_err();
            assert!(e.contains(want), "{value}: {e}");
        }
    }
}

//! A host's own checks (`nxinfra_checks`), run by `nxinfra status --checks`: an `exec` on the
//! host (`systemctl is-active bird`), `disk_max_percent` (the base dir's filesystem, or
//! `path`'s), or an `http`/`tcp` probe from the host; each with the timing keys of a service's
//! check (docs/status.md).

use serde::Deserialize;
use serde_json::Value;

use crate::model::compose::{self, PostCheck, Probe};

pub const VARIABLE: &str = "nxinfra_checks";

/// One entry as written: the keys of a service's check (`from` aside: a host's check takes
/// the host's point of view), and `disk_max_percent` with its `path`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHostCheck {
    name: Option<String>,
    disk_max_percent: Option<u32>,
    path: Option<String>,
    http: Option<String>,
    status: Option<u16>,
    body: Option<String>,
    tcp: Option<String>,
    exec: Option<compose::RawExec>,
    timeout: Option<compose::ComposeDuration>,
    retries: Option<u32>,
    interval: Option<compose::ComposeDuration>,
    start_delay: Option<compose::ComposeDuration>,
}

/// Why `nxinfra_checks` is refused: the entry (1-based) and what is wrong with it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("expected a list of checks, got {0}")]
    NotAList(Value),
    #[error("check {index}: {message}")]
    Entry { index: usize, message: String },
}

pub fn parse(value: Option<&Value>) -> Result<Vec<PostCheck>, ParseError> {
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(ParseError::NotAList(other.clone())),
    };
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            entry(item).map_err(|message| ParseError::Entry {
                index: i + 1,
                message,
            })
        })
        .collect()
}

fn entry(item: &Value) -> Result<PostCheck, String> {
    let raw: RawHostCheck = serde_json::from_value(item.clone()).map_err(|e| e.to_string())?;
    let Some(percent) = raw.disk_max_percent else {
        if raw.path.is_some() {
            return Err("path: is for `disk_max_percent`".into());
        }
        return compose::post_check(compose::RawCheck {
            name: raw.name,
            http: raw.http,
            status: raw.status,
            body: raw.body,
            tcp: raw.tcp,
            from: None,
            exec: raw.exec,
            timeout: raw.timeout,
            retries: raw.retries,
            interval: raw.interval,
            start_delay: raw.start_delay,
            gate: None,
        })
        .map_err(describe);
    };
    if raw.http.is_some() || raw.tcp.is_some() || raw.exec.is_some() {
        return Err("a check has exactly one of `disk_max_percent`, `http`, `tcp`, `exec`".into());
    }
    if raw.status.is_some() || raw.body.is_some() {
        return Err("`status` and `body` are for an `http` check".into());
    }
    if percent > 100 {
        return Err(format!("disk_max_percent: {percent} is more than 100"));
    }
    // A fact, not a service coming up: no retries unless asked.
    let t = compose::check_timing(raw.timeout, raw.retries, raw.interval, raw.start_delay, 0)
        .map_err(describe)?;
    Ok(PostCheck {
        name: raw
            .name
            .unwrap_or_else(|| format!("disk at most {percent}%")),
        probe: Probe::DiskMaxPercent {
            percent,
            path: raw.path,
        },
        timeout: t.timeout,
        retries: t.retries,
        interval: t.interval,
        start_delay: t.start_delay,
        gate: false,
    })
}

fn describe((key, why): (Vec<&'static str>, String)) -> String {
    if key.is_empty() {
        why
    } else {
        format!("{}: {why}", key.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exec_disk_and_probes_parse_with_defaults() {
        let checks = parse(Some(&json!([
            {"exec": "systemctl is-active bird", "name": "bird"},
            {"disk_max_percent": 85},
            {"tcp": "127.0.0.1:179", "retries": 0},
        ])))
        .unwrap();
        assert_eq!(checks[0].name, "bird");
        assert_eq!(
            checks[0].probe,
            Probe::Exec {
                command: vec!["sh".into(), "-c".into(), "systemctl is-active bird".into()]
            }
        );
        assert_eq!(checks[1].name, "disk at most 85%");
        assert_eq!(
            checks[1].probe,
            Probe::DiskMaxPercent {
                percent: 85,
                path: None
            }
        );
        assert_eq!(checks[1].retries, 0);
        assert_eq!(checks[2].retries, 0);
        assert_eq!(parse(None).unwrap(), []);
    }

    #[test]
    fn bad_entries_name_the_entry_and_the_key() {
        let err = |v: Value| parse(Some(&v)).unwrap_err().to_string();
        assert!(
            err(json!([{"exec": "x", "tiemout": "1s"}]))
                .starts_with("check 1: unknown field `tiemout`")
        );
        assert_eq!(
            err(json!([{"exec": "x"}, {"disk_max_percent": 120}])),
            "check 2: disk_max_percent: 120 is more than 100"
        );
        assert_eq!(
            err(json!([{"disk_max_percent": 80, "exec": "x"}])),
            "check 1: a check has exactly one of `disk_max_percent`, `http`, `tcp`, `exec`"
        );
        assert_eq!(
            err(json!({"exec": "x"})),
            "expected a list of checks, got {\"exec\":\"x\"}"
        );
        assert_eq!(
            err(json!([{"tcp": "nohost"}])),
            "check 1: tcp: \"nohost\": expected host:port (e.g. 127.0.0.1:9000)"
        );
    }
}

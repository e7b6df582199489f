//! Holds: a host, or some of its files, that a deploy must leave as they are (a hand-managed
//! experiment on a router). `nxinfra_hold` holds the whole host, `nxinfra_hold_paths` some of
//! its rendered files or system files; each hold has a reason and may end (`until`). Parsed
//! once here; which holds are in force at a moment is [`Holds::at`], pure.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::model::manifest;

/// The variable that holds a whole host.
pub const HOLD_VAR: &str = "nxinfra_hold";
/// The variable that holds some of a host's files.
pub const PATHS_VAR: &str = "nxinfra_hold_paths";

/// The reason of a held path written as a plain string.
pub const PATH_REASON: &str = "held by nxinfra_hold_paths";

/// The keys of `nxinfra_hold`.
const HOLD_KEYS: [&str; 2] = ["reason", "until"];
/// The keys of a mapping of `nxinfra_hold_paths`.
const PATH_KEYS: [&str; 3] = ["path", "reason", "until"];

/// Why a host or a file is held, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub reason: String,
    /// The last moment it holds; none: until the variable is removed.
    pub until: Option<SystemTime>,
}

/// A held file: a path of the host's rendered tree (`bird/filters.conf`), a folder of it
/// (`bird/`: every file under it), or a system file's destination (`/etc/bird/bird.conf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPath {
    pub path: String,
    pub hold: Hold,
}

/// A host's holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holds {
    /// `nxinfra_hold`: the whole host.
    pub host: Option<Hold>,
    /// `nxinfra_hold_paths`, in the order written.
    pub paths: Vec<HeldPath>,
}

/// A hold whose `until` has passed: it no longer holds, and a run says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// The held path; none for the host's hold.
    pub path: Option<String>,
    pub reason: String,
    pub until: SystemTime,
}

impl std::fmt::Display for Expired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let of = match &self.path {
            Some(p) => format!(" of {p}"),
            None => String::new(),
        };
        write!(
            f,
            "the hold{of} {:?} expired at {}: not held",
            self.reason,
            humantime::format_rfc3339_seconds(self.until)
        )
    }
}

impl Hold {
    /// `until`, as RFC 3339 in UTC to the second.
    pub fn until_text(&self) -> Option<String> {
        self.until
            .map(|t| humantime::format_rfc3339_seconds(t).to_string())
    }

    /// `BIRD experiment (max) (until 2026-12-15T23:59:59Z)`.
    pub fn describe(&self) -> String {
        match self.until_text() {
            Some(until) => format!("{} (until {until})", self.reason),
            None => self.reason.clone(),
        }
    }

    /// `held: BIRD experiment (until …)`, with `; would otherwise change SUMMARY` unless
    /// nothing would (a plan of a held host).
    pub fn line(&self, summary: &str, noop: bool) -> String {
        if noop {
            format!("held: {}", self.describe())
        } else {
            format!(
                "held: {}; would otherwise change {summary}",
                self.describe()
            )
        }
    }

    /// `{"reason": …, "until": … | null}`.
    pub fn json(&self) -> Value {
        serde_json::json!({"reason": self.reason, "until": self.until_text()})
    }

    fn active(&self, now: SystemTime) -> bool {
        self.until.is_none_or(|until| now <= until)
    }
}

impl HeldPath {
    /// Whether this hold covers `path` (a rendered path, or a system file's destination).
    pub fn covers(&self, path: &str) -> bool {
        if self.path.ends_with('/') {
            path.starts_with(&self.path)
        } else {
            path == self.path
        }
    }
}

impl Holds {
    pub fn is_empty(&self) -> bool {
        self.host.is_none() && self.paths.is_empty()
    }

    /// The holds in force at `now`, and those that expired (to be said, then dropped).
    pub fn at(&self, now: SystemTime) -> (Holds, Vec<Expired>) {
        let mut expired = Vec::new();
        let mut keep = |path: Option<&str>, hold: &Hold| {
            if hold.active(now) {
                return true;
            }
            expired.push(Expired {
                path: path.map(str::to_string),
                reason: hold.reason.clone(),
                until: hold.until.unwrap_or(now),
            });
            false
        };
        let host = self.host.clone().filter(|h| keep(None, h));
        let paths = self
            .paths
            .iter()
            .filter(|p| keep(Some(&p.path), &p.hold))
            .cloned()
            .collect();
        (Holds { host, paths }, expired)
    }

    /// Every hold, the host's first: (the held path, or none for the host; the hold).
    pub fn all(&self) -> impl Iterator<Item = (Option<&str>, &Hold)> {
        self.host
            .iter()
            .map(|h| (None, h))
            .chain(self.paths.iter().map(|p| (Some(p.path.as_str()), &p.hold)))
    }

    /// The hold covering `path`, the first written.
    pub fn of_path(&self, path: &str) -> Option<&HeldPath> {
        self.paths.iter().find(|p| p.covers(path))
    }

    /// `{"host": {reason, until} | null, "paths": [{path, reason, until}]}`.
    pub fn json(&self) -> Value {
        let paths: Vec<Value> = self
            .paths
            .iter()
            .map(|p| {
                let mut v = p.hold.json();
                v["path"] = Value::String(p.path.clone());
                v
            })
            .collect();
        serde_json::json!({
            "host": self.host.as_ref().map(Hold::json),
            "paths": paths,
        })
    }
}

/// Why `nxinfra_hold` or `nxinfra_hold_paths` is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("expected a mapping with reason (and until), got {0}")]
    NotAMapping(Value),
    #[error("unknown key {key:?}{hint} (expected one of {expected})")]
    UnknownKey {
        key: String,
        /// ` (did you mean until?)`, or nothing.
        hint: String,
        expected: String,
    },
    #[error("reason is required (why it is held, for whoever runs the next deploy)")]
    NoReason,
    #[error("{key}: expected a non-empty string, got {got}")]
    NotAString { key: &'static str, got: Value },
    #[error(
        "until: {0} is not a date (YYYY-MM-DD, held through the end of that day, UTC) or an \
         RFC 3339 timestamp (2026-12-15T18:00:00Z)"
    )]
    Until(Value),
    #[error("expected a list of paths (or of mappings with path, reason, until), got {0}")]
    NotAList(Value),
    #[error("entry {index}: expected a path or a mapping with path, reason, until, got {got}")]
    NotAnEntry { index: usize, got: Value },
    #[error("entry {index}: {reason}")]
    Entry {
        index: usize,
        reason: Box<ParseError>,
    },
    #[error("path is missing")]
    NoPath,
    #[error(
        "path: {0:?} is neither a normalised path of the rendered tree (bird/filters.conf, \
         or a folder: bird/) nor an absolute system file destination (no ., .., //)"
    )]
    Path(String),
    #[error("compose.yml cannot be held: hold the host instead ({HOLD_VAR})")]
    Compose,
}

/// `nxinfra_hold`: absent or null is no hold.
pub fn parse_host(value: Option<&Value>) -> Result<Option<Hold>, ParseError> {
    let map = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(map)) => map,
        Some(other) => return Err(ParseError::NotAMapping(other.clone())),
    };
    known_keys(map, &HOLD_KEYS)?;
    Ok(Some(hold_of(map)?.ok_or(ParseError::NoReason)?))
}

/// `nxinfra_hold_paths`: absent or null is none.
pub fn parse_paths(value: Option<&Value>) -> Result<Vec<HeldPath>, ParseError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(ParseError::NotAList(other.clone())),
    };
    let entry = |index: usize, item: &Value| -> Result<HeldPath, ParseError> {
        let (path, hold) = match item {
            Value::String(path) => (path.trim().to_string(), None),
            Value::Object(map) => {
                known_keys(map, &PATH_KEYS)?;
                let path = match map.get("path") {
                    None | Some(Value::Null) => return Err(ParseError::NoPath),
                    Some(Value::String(p)) => p.trim().to_string(),
                    Some(other) => {
                        return Err(ParseError::NotAString {
                            key: "path",
                            got: other.clone(),
                        });
                    }
                };
                (path, hold_of(map)?)
            }
            other => {
                return Err(ParseError::NotAnEntry {
                    index,
                    got: other.clone(),
                });
            }
        };
        check_path(&path)?;
        let hold = hold.unwrap_or_else(|| Hold {
            reason: PATH_REASON.into(),
            until: None,
        });
        Ok(HeldPath { path, hold })
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            entry(i + 1, item).map_err(|e| match e {
                e @ ParseError::NotAnEntry { .. } => e,
                e => ParseError::Entry {
                    index: i + 1,
                    reason: Box::new(e),
                },
            })
        })
        .collect()
}

/// Any key of `map` not in `keys` is an error, with the likely intended one.
fn known_keys(map: &serde_json::Map<String, Value>, keys: &[&str]) -> Result<(), ParseError> {
    match map.keys().find(|k| !keys.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) => Err(ParseError::UnknownKey {
            key: key.clone(),
            hint: crate::util::suggest::closest(key, keys)
                .map(|k| format!(" (did you mean {k}?)"))
                .unwrap_or_default(),
            expected: keys.join(", "),
        }),
    }
}

/// The `reason` and `until` of a mapping; none when it has no reason.
fn hold_of(map: &serde_json::Map<String, Value>) -> Result<Option<Hold>, ParseError> {
    let until = match map.get("until") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(parse_until(s.trim()).ok_or_else(|| ParseError::Until(Value::String(s.clone())))?)
        }
        Some(other) => return Err(ParseError::Until(other.clone())),
    };
    match map.get("reason") {
        None | Some(Value::Null) if until.is_none() => Ok(None),
        None | Some(Value::Null) => Err(ParseError::NoReason),
        Some(Value::String(r)) if !r.trim().is_empty() => Ok(Some(Hold {
            reason: r.trim().to_string(),
            until,
        })),
        Some(other) => Err(ParseError::NotAString {
            key: "reason",
            got: other.clone(),
        }),
    }
}

/// `YYYY-MM-DD` (the last nanosecond of that day, UTC) or an RFC 3339 timestamp.
fn parse_until(text: &str) -> Option<SystemTime> {
    let is_date = text.len() == 10
        && text.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    if is_date {
        let end = humantime::parse_rfc3339(&format!("{text}T23:59:59Z")).ok()?;
        return Some(end + Duration::from_nanos(999_999_999));
    }
    // A date and a time: `T` or a space between them, `Z` or nothing after (UTC).
    if text.len() < 19 {
        return None;
    }
    humantime::parse_rfc3339_weak(text).ok()
}

/// A held path: relative and normalised (a trailing `/` for a folder), or an absolute system
/// file destination; never compose.yml.
fn check_path(path: &str) -> Result<(), ParseError> {
    let bad = || ParseError::Path(path.to_string());
    let body = path.strip_suffix('/').unwrap_or(path);
    let relative = body.strip_prefix('/').unwrap_or(body);
    if relative.is_empty() || path.contains('\\') {
        return Err(bad());
    }
    manifest::check_path(relative).map_err(|_| bad())?;
    if path == "compose.yml" {
        return Err(ParseError::Compose);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn a_host_hold_with_a_date_holds_through_that_day() {
        let hold = parse_host(Some(
            &json!({"reason": " BIRD experiment (max) ", "until": "2026-12-15"}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(hold.reason, "BIRD experiment (max)");
        assert_eq!(hold.until_text().as_deref(), Some("2026-12-15T23:59:59Z"));
        assert_eq!(
            hold.describe(),
            "BIRD experiment (max) (until 2026-12-15T23:59:59Z)"
        );
        assert_eq!(
            hold.json(),
            json!({"reason": "BIRD experiment (max)", "until": "2026-12-15T23:59:59Z"})
        );
        assert_eq!(
            hold.line("2 files: 2 changed", true),
            "held: BIRD experiment (max) (until 2026-12-15T23:59:59Z)"
        );
        assert_eq!(
            hold.line("2 files: 2 changed", false),
            "held: BIRD experiment (max) (until 2026-12-15T23:59:59Z); would otherwise change \
             2 files: 2 changed"
        );
        let holds = Holds {
            host: Some(hold.clone()),
            paths: vec![],
        };
        for now in ["2026-12-02T10:00:00Z", "2026-12-15T23:59:59.5Z"] {
            let (active, expired) = holds.at(at(now));
            assert_eq!(
                (active.host.as_ref(), expired.len()),
                (Some(&hold), 0),
                "{now}"
            );
        }
        let (active, expired) = holds.at(at("2026-12-16T00:00:00Z"));
        assert!(active.is_empty());
        assert_eq!(
            expired[0].to_string(),
            "the hold \"BIRD experiment (max)\" expired at 2026-12-15T23:59:59Z: not held"
        );
    }

    #[test]
    fn a_hold_without_until_never_expires_and_timestamps_are_rfc3339() {
        let hold = parse_host(Some(&json!({"reason": "x"}))).unwrap().unwrap();
        assert_eq!(
            (hold.until, hold.json()),
            (None, json!({"reason": "x", "until": null}))
        );
        assert_eq!(parse_host(None).unwrap(), None);
        assert_eq!(parse_host(Some(&Value::Null)).unwrap(), None);
        for (text, shown) in [
            ("2026-12-15T18:00:00Z", "2026-12-15T18:00:00Z"),
            ("2026-12-15 18:00:00", "2026-12-15T18:00:00Z"),
            ("2026-12-15T18:00:00.250Z", "2026-12-15T18:00:00Z"),
        ] {
            let hold = parse_host(Some(&json!({"reason": "x", "until": text})))
                .unwrap()
                .unwrap();
            assert_eq!(hold.until_text().as_deref(), Some(shown), "{text}");
        }
    }

    #[test]
    fn held_paths_are_strings_or_mappings() {
        let paths = parse_paths(Some(&json!([
            "bird/filters.conf",
            "bird/",
            "/etc/bird/bird.conf",
            {"path": "wg/wg0.conf", "reason": "key rotation", "until": "2026-12-20"},
            {"path": "x.conf"},
        ])))
        .unwrap();
        let shown: Vec<(&str, &str, bool)> = paths
            .iter()
            .map(|p| {
                (
                    p.path.as_str(),
                    p.hold.reason.as_str(),
                    p.hold.until.is_some(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("bird/filters.conf", PATH_REASON, false),
                ("bird/", PATH_REASON, false),
                ("/etc/bird/bird.conf", PATH_REASON, false),
                ("wg/wg0.conf", "key rotation", true),
                ("x.conf", PATH_REASON, false),
            ]
        );
        assert!(paths[1].covers("bird/filters.conf") && !paths[1].covers("birdc"));
        assert!(paths[0].covers("bird/filters.conf") && !paths[0].covers("bird/filters"));
        let holds = Holds { host: None, paths };
        assert_eq!(holds.of_path("bird/x").unwrap().path, "bird/");
        assert_eq!(
            holds.of_path("bird/filters.conf").unwrap().path,
            "bird/filters.conf"
        );
        assert!(holds.of_path("other").is_none());
        assert_eq!(parse_paths(None).unwrap(), []);
    }

    #[test]
    fn expired_paths_are_dropped_and_said() {
        let holds = Holds {
            host: None,
            paths: parse_paths(Some(&json!([
                {"path": "a", "reason": "old", "until": "2026-01-01"},
                "b",
            ])))
            .unwrap(),
        };
        let (active, expired) = holds.at(at("2026-06-01T00:00:00Z"));
        assert_eq!(active.paths.len(), 1);
        assert_eq!(active.paths[0].path, "b");
        assert_eq!(
            expired[0].to_string(),
            "the hold of a \"old\" expired at 2026-01-01T23:59:59Z: not held"
        );
    }

    #[test]
    fn every_mistake_is_refused_with_what_is_wrong() {
        let host = |v: Value| parse_host(Some(&v)).unwrap_err().to_string();
        assert_eq!(
            host(json!("max")),
            "expected a mapping with reason (and until), got \"max\""
        );
        assert_eq!(
            host(json!({"until": "2026-12-15"})),
            "reason is required (why it is held, for whoever runs the next deploy)"
        );
        assert_eq!(host(json!({})), host(json!({"until": "2026-12-15"})));
        assert_eq!(
            host(json!({"reason": ""})),
            "reason: expected a non-empty string, got \"\""
        );
        assert_eq!(
            host(json!({"reason": 3})),
            "reason: expected a non-empty string, got 3"
        );
        assert_eq!(
            host(json!({"reason": "x", "untl": "2026-12-15"})),
            "unknown key \"untl\" (did you mean until?) (expected one of reason, until)"
        );
        assert_eq!(
            host(json!({"reason": "x", "owner": "max"})),
            "unknown key \"owner\" (expected one of reason, until)"
        );
        for until in [
            json!("2026-13-45"),
            json!("15/12/2026"),
            json!("tomorrow"),
            json!("2026-12-15T25:00:00Z"),
            json!(20261215),
        ] {
            assert!(
                host(json!({"reason": "x", "until": until.clone()}))
                    .starts_with(&format!("until: {until} is not a date (YYYY-MM-DD")),
                "{until}"
            );
        }
        let paths = |v: Value| parse_paths(Some(&v)).unwrap_err().to_string();
        assert_eq!(
            paths(json!("bird/")),
            "expected a list of paths (or of mappings with path, reason, until), got \"bird/\""
        );
        assert_eq!(
            paths(json!(["compose.yml"])),
            "entry 1: compose.yml cannot be held: hold the host instead (nxinfra_hold)"
        );
        assert_eq!(
            paths(json!(["a", 3])),
            "entry 2: expected a path or a mapping with path, reason, until, got 3"
        );
        assert_eq!(paths(json!([{"reason": "x"}])), "entry 1: path is missing");
        assert_eq!(
            paths(json!([{"path": "a", "reasn": "x"}])),
            "entry 1: unknown key \"reasn\" (did you mean reason?) (expected one of path, \
             reason, until)"
        );
        assert_eq!(
            paths(json!([{"path": "a", "until": "2026-12-15"}])),
            "entry 1: reason is required (why it is held, for whoever runs the next deploy)"
        );
        assert_eq!(
            paths(json!([{"path": 1}])),
            "entry 1: path: expected a non-empty string, got 1"
        );
        for bad in ["", "/", "../etc", "a//b", "a/./b", "//etc/x", "a\\b"] {
            assert!(
                paths(json!([bad])).starts_with(&format!("entry 1: path: {bad:?} is neither")),
                "{bad:?}"
            );
        }
    }
}

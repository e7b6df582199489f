//! `nxinfra_backups`: what a host backs up, declared in the inventory (host or group vars),
//! and where each backup's copies go.
//!
//! ```yaml
//! nxinfra_backups:
//!   - name: postgresql              # letters, digits, _ and -: names the backup's folder
//!     container: postgresql         # the container the command runs in (docker exec);
//!                                   # without it, on the host, as the login user
//!     command: pg_dumpall -U postgres   # its stdout is the backup (run with sh -c)
//!     restore: psql -U postgres     # optional: reads a backup on its stdin
//!     check: grep -c '^CREATE DATABASE'  # optional: `verify` feeds it the plaintext (locally)
//!     keep: 7                       # how many of the newest each destination keeps (default 7)
//!     max_age: 26h                  # optional: `backup status` exits 2 beyond it
//!     to:                           # where the copies go (default: local)
//!       - local
//!       - host: ixpams01            # another inventory host, over its SSH connection
//!         dir: /var/backups/nxinfra # optional (default: <its base dir>/.nxinfra/backups)
//!         keep: 30
//!       - s3: nxthdr-backups        # the bucket
//!         endpoint: https://s3.fr-par.scw.cloud
//!         region: fr-par
//!         prefix: core/
//!         access_key: backups.s3.access_key   # paths in the secrets, never values
//!         secret_key: backups.s3.secret_key
//!         keep_daily: 7
//!         keep_weekly: 8
//!     drill:                        # optional: `nxinfra backup drill` restores into this
//!       image: postgres:17-alpine
//!       env: {POSTGRES_HOST_AUTH_METHOD: trust}
//!       restore: psql -q -U postgres
//!       check: psql -tA -U postgres -c 'select count(*) from pg_database'
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

pub const VARIABLE: &str = "nxinfra_backups";
pub const DEFAULT_KEEP: usize = 7;
/// A drill's time limit unless `drill: timeout` says otherwise.
pub const DEFAULT_DRILL_TIMEOUT: Duration = Duration::from_secs(600);
/// The name of the destination that is the machine running nxinfra.
pub const LOCAL: &str = "local";

/// One declared backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Backup {
    pub name: String,
    /// `None`: the command runs on the host itself.
    pub container: Option<String>,
    pub command: String,
    pub restore: Option<String>,
    /// Run locally by `verify` with the plaintext on its stdin; exit 0 means good.
    pub check: Option<String>,
    /// Where the copies go, in the declared order; never empty (default: local).
    pub to: Vec<Destination>,
    pub drill: Option<Drill>,
}

impl Backup {
    /// Where its commands run, for messages: `in CONTAINER`, or `on the host`.
    pub fn place(&self) -> String {
        match &self.container {
            Some(c) => format!("in {c}"),
            None => "on the host".into(),
        }
    }

    /// The destination called `name`.
    pub fn destination(&self, name: &str) -> Option<&Destination> {
        self.to.iter().find(|d| d.name == name)
    }

    /// The destinations' names, for messages: `local, ixpams01, s3`.
    pub fn destination_names(&self) -> String {
        let names: Vec<&str> = self.to.iter().map(|d| d.name.as_str()).collect();
        names.join(", ")
    }
}

/// One place a backup's copies are kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Destination {
    /// `local`, the host's name, `s3`, or the declared `name`: what `--from` takes.
    pub name: String,
    #[serde(flatten)]
    pub kind: Kind,
    #[serde(flatten)]
    pub retention: Retention,
    /// `backup status` exits 2 when the newest copy here is older.
    #[serde(serialize_with = "seconds")]
    pub max_age: Option<Duration>,
}

fn seconds<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs()),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// The backups' folder of the machine that runs nxinfra (`--dir`, `backups/`).
    Local,
    /// Another inventory host, over its SSH connection.
    Host {
        host: String,
        /// Absolute; `None`: `<its base dir>/.nxinfra/backups`.
        dir: Option<String>,
    },
    /// An S3-compatible bucket.
    S3(S3),
}

/// An S3-compatible bucket; the keys are paths in the secrets, read when needed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct S3 {
    pub bucket: String,
    /// `None`: AWS's own endpoint for the region.
    pub endpoint: Option<String>,
    pub region: String,
    /// Prepended to every object's key; empty or ending in `/`.
    pub prefix: String,
    /// The secrets' path of the access key id.
    pub access_key: String,
    /// The secrets' path of the secret access key.
    pub secret_key: String,
}

/// Which copies a destination keeps: the newest `keep`, and the newest of each of the last
/// `daily` days and of the last `weekly` ISO weeks that have one (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Retention {
    pub keep: usize,
    #[serde(rename = "keep_daily")]
    pub daily: usize,
    #[serde(rename = "keep_weekly")]
    pub weekly: usize,
}

/// A restore drill: the newest backup restored into a throwaway container of `image` (no
/// network), then `check` run in it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Drill {
    pub image: String,
    /// The container's environment (not secrets: a drill container is throwaway).
    pub env: BTreeMap<String, String>,
    /// What the container runs instead of its image's command (`sh -c`), for an image
    /// whose own command does not keep running (`sleep 3600`); `None`: the image's.
    pub command: Option<String>,
    /// Reads the backup on stdin (sh -c, in the drill container).
    pub restore: String,
    /// Exit 0: the drill passes; its output is reported.
    pub check: String,
    #[serde(serialize_with = "timeout_seconds")]
    pub timeout: Duration,
}

fn timeout_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// Why `nxinfra_backups` is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("expected a list of backups, got {0}")]
    NotAList(Value),
    #[error("{label}: {reason}")]
    Entry {
        label: Label,
        reason: Box<EntryError>,
    },
    #[error("{label}: the name {name} is used twice")]
    Twice { label: Label, name: String },
}

impl ParseError {
    /// The entry's name, when it has one.
    pub fn entry_name(&self) -> Option<&str> {
        match self {
            ParseError::NotAList(_) => None,
            ParseError::Entry { label, .. } | ParseError::Twice { label, .. } => {
                label.name.as_deref()
            }
        }
    }
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
    #[error("unknown key {key:?} (known: {known})")]
    UnknownKey { key: String, known: &'static str },
    #[error("{key}: expected a non-empty string, got {got}")]
    NotAString { key: String, got: Value },
    #[error("{0} is required")]
    Required(String),
    #[error("name {0:?}: letters, digits, _ and - only (it names a folder)")]
    Name(String),
    #[error("{key}: expected a whole number of at least {min}, got {got}")]
    Number { key: String, min: u64, got: Value },
    #[error("{key}: {got:?} is not a duration (e.g. 26h, 7d, 90m)")]
    Duration { key: String, got: String },
    #[error("s3: {0:?} is not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens)")]
    Bucket(String),
    #[error("to: {0}")]
    To(#[from] DestinationError),
    #[error("drill: {0}")]
    Drill(Box<EntryError>),
}

/// What is wrong with one destination of a backup's `to`.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DestinationError {
    #[error("expected a list of destinations (local, host: NAME, s3: BUCKET), got {0}")]
    NotAList(Value),
    #[error("destination {index}: {reason}")]
    At {
        index: usize,
        reason: Box<EntryError>,
    },
    #[error(
        "destination {index}: unknown kind (expected `local`, `host: NAME` or `s3: BUCKET`), \
         got {got}"
    )]
    UnknownKind { index: usize, got: Value },
    #[error("destination {index}: one kind only (local, host or s3), got {kinds}")]
    TwoKinds { index: usize, kinds: String },
    #[error("the destination name {0} is used twice (give one a `name:`)")]
    Twice(String),
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
}

/// S3's rule for bucket names, in short.
fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
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
            Err(reason) => {
                return Err(ParseError::Entry {
                    label,
                    reason: Box::new(reason),
                });
            }
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

const BACKUP_KEYS: &str =
    "name, container, command, restore, check, keep, keep_daily, keep_weekly, max_age, to, drill";
const DESTINATION_KEYS: &str = "local, host, s3, name, dir, endpoint, region, prefix, access_key, secret_key, keep, \
     keep_daily, keep_weekly, max_age";
const DRILL_KEYS: &str = "image, env, command, restore, check, timeout";

/// A mapping's keys read one by one: unknown keys refused, types checked, the key named.
struct Fields<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn new(map: &'a Map<String, Value>, known: &'static str) -> Result<Self, EntryError> {
        for key in map.keys() {
            if !known.split(", ").any(|k| k.trim() == key) {
                return Err(EntryError::UnknownKey {
                    key: key.clone(),
                    known,
                });
            }
        }
        Ok(Fields { map })
    }

    fn text(&self, key: &str) -> Result<Option<String>, EntryError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(other) => Err(EntryError::NotAString {
                key: key.to_string(),
                got: other.clone(),
            }),
        }
    }

    fn required(&self, key: &str) -> Result<String, EntryError> {
        self.text(key)?
            .ok_or_else(|| EntryError::Required(key.to_string()))
    }

    fn number(&self, key: &str, min: u64) -> Result<Option<usize>, EntryError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some_and(|k| k >= min) => {
                Ok(n.as_u64().map(|k| k as usize))
            }
            Some(other) => Err(EntryError::Number {
                key: key.to_string(),
                min,
                got: other.clone(),
            }),
        }
    }

    fn duration(&self, key: &str) -> Result<Option<Duration>, EntryError> {
        let Some(text) = self.text(key)? else {
            return Ok(None);
        };
        match parse_duration(&text) {
            Some(d) => Ok(Some(d)),
            None => Err(EntryError::Duration {
                key: key.to_string(),
                got: text,
            }),
        }
    }
}

/// `26h`, `7d`, `90m`, `1d 12h`: a duration of at least one second.
pub fn parse_duration(text: &str) -> Option<Duration> {
    humantime::parse_duration(text.trim())
        .ok()
        .filter(|d| d.as_secs() >= 1)
}

/// The defaults a backup gives its destinations.
struct Defaults {
    retention: Retention,
    max_age: Option<Duration>,
}

fn entry(item: &Value) -> Result<Backup, EntryError> {
    let Value::Object(map) = item else {
        return Err(EntryError::NotAMapping);
    };
    let f = Fields::new(map, BACKUP_KEYS)?;
    let name = f.required("name")?;
    if !valid_name(&name) {
        return Err(EntryError::Name(name));
    }
    let defaults = Defaults {
        retention: Retention {
            keep: f.number("keep", 1)?.unwrap_or(DEFAULT_KEEP),
            daily: f.number("keep_daily", 0)?.unwrap_or(0),
            weekly: f.number("keep_weekly", 0)?.unwrap_or(0),
        },
        max_age: f.duration("max_age")?,
    };
    let to = destinations(map.get("to"), &defaults)?;
    let drill = match map.get("drill") {
        None | Some(Value::Null) => None,
        Some(value) => Some(drill(value).map_err(|e| EntryError::Drill(Box::new(e)))?),
    };
    Ok(Backup {
        container: f.text("container")?,
        command: f.required("command")?,
        restore: f.text("restore")?,
        check: f.text("check")?,
        to,
        drill,
        name,
    })
}

fn destinations(
    value: Option<&Value>,
    defaults: &Defaults,
) -> Result<Vec<Destination>, DestinationError> {
    let local = || Destination {
        name: LOCAL.into(),
        kind: Kind::Local,
        retention: defaults.retention,
        max_age: defaults.max_age,
    };
    let list = match value {
        None | Some(Value::Null) => return Ok(vec![local()]),
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(other) => return Err(DestinationError::NotAList(other.clone())),
    };
    let mut out: Vec<Destination> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let index = i + 1;
        let at = |reason: EntryError| DestinationError::At {
            index,
            reason: Box::new(reason),
        };
        let d = match item {
            Value::String(s) if s == LOCAL => local(),
            Value::Object(map) => destination(index, map, defaults)?,
            other => {
                return Err(DestinationError::UnknownKind {
                    index,
                    got: other.clone(),
                });
            }
        };
        if !valid_name(&d.name) {
            return Err(at(EntryError::Name(d.name)));
        }
        if out.iter().any(|o| o.name == d.name) {
            return Err(DestinationError::Twice(d.name));
        }
        out.push(d);
    }
    Ok(out)
}

fn destination(
    index: usize,
    map: &Map<String, Value>,
    defaults: &Defaults,
) -> Result<Destination, DestinationError> {
    let at = |reason: EntryError| DestinationError::At {
        index,
        reason: Box::new(reason),
    };
    let f = Fields::new(map, DESTINATION_KEYS).map_err(at)?;
    let kinds: Vec<&str> = ["local", "host", "s3"]
        .into_iter()
        .filter(|k| map.contains_key(*k))
        .collect();
    let only = |allowed: &[&str]| -> Result<(), DestinationError> {
        let kind_keys = [
            "dir",
            "endpoint",
            "region",
            "prefix",
            "access_key",
            "secret_key",
        ];
        match kind_keys
            .iter()
            .find(|k| map.contains_key(**k) && !allowed.contains(k))
        {
            Some(k) => Err(at(EntryError::UnknownKey {
                key: k.to_string(),
                known: DESTINATION_KEYS,
            })),
            None => Ok(()),
        }
    };
    let kind = match kinds[..] {
        ["local"] => {
            if !matches!(map.get("local"), Some(Value::Null | Value::Bool(true))) {
                return Err(at(EntryError::NotAString {
                    key: "local".into(),
                    got: map.get("local").cloned().unwrap_or(Value::Null),
                }));
            }
            only(&[])?;
            Kind::Local
        }
        ["host"] => {
            only(&["dir"])?;
            let host = f.required("host").map_err(at)?;
            let dir = f.text("dir").map_err(at)?;
            if let Some(d) = &dir
                && !d.starts_with('/')
            {
                return Err(at(EntryError::NotAString {
                    key: "dir (an absolute path)".into(),
                    got: Value::String(d.clone()),
                }));
            }
            Kind::Host { host, dir }
        }
        ["s3"] => {
            only(&["endpoint", "region", "prefix", "access_key", "secret_key"])?;
            let mut prefix = f.text("prefix").map_err(at)?.unwrap_or_default();
            let prefix_trimmed = prefix.trim_start_matches('/').to_string();
            prefix = prefix_trimmed;
            if !prefix.is_empty() && !prefix.ends_with('/') {
                prefix.push('/');
            }
            let bucket = f.required("s3").map_err(at)?;
            if !valid_bucket(&bucket) {
                return Err(at(EntryError::Bucket(bucket)));
            }
            Kind::S3(S3 {
                bucket,
                endpoint: f.text("endpoint").map_err(at)?,
                region: f
                    .text("region")
                    .map_err(at)?
                    .unwrap_or_else(|| "us-east-1".into()),
                prefix,
                access_key: f.required("access_key").map_err(at)?,
                secret_key: f.required("secret_key").map_err(at)?,
            })
        }
        [] => {
            return Err(DestinationError::UnknownKind {
                index,
                got: Value::Object(map.clone()),
            });
        }
        _ => {
            return Err(DestinationError::TwoKinds {
                index,
                kinds: kinds.join(", "),
            });
        }
    };
    let name = match f.text("name").map_err(at)? {
        Some(n) => n,
        None => match &kind {
            Kind::Local => LOCAL.into(),
            Kind::Host { host, .. } => host.clone(),
            Kind::S3(_) => "s3".into(),
        },
    };
    Ok(Destination {
        name,
        kind,
        retention: Retention {
            keep: f
                .number("keep", 1)
                .map_err(at)?
                .unwrap_or(defaults.retention.keep),
            daily: f
                .number("keep_daily", 0)
                .map_err(at)?
                .unwrap_or(defaults.retention.daily),
            weekly: f
                .number("keep_weekly", 0)
                .map_err(at)?
                .unwrap_or(defaults.retention.weekly),
        },
        max_age: f.duration("max_age").map_err(at)?.or(defaults.max_age),
    })
}

fn drill(value: &Value) -> Result<Drill, EntryError> {
    let Value::Object(map) = value else {
        return Err(EntryError::NotAString {
            key: "drill (a mapping: image, restore, check)".into(),
            got: value.clone(),
        });
    };
    let f = Fields::new(map, DRILL_KEYS)?;
    let env = match map.get("env") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(vars)) => {
            let mut env = BTreeMap::new();
            for (k, v) in vars {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(EntryError::NotAString {
                            key: format!("env.{k}"),
                            got: other.clone(),
                        });
                    }
                };
                env.insert(k.clone(), v);
            }
            env
        }
        Some(other) => {
            return Err(EntryError::NotAString {
                key: "env (a mapping)".into(),
                got: other.clone(),
            });
        }
    };
    Ok(Drill {
        image: f.required("image")?,
        env,
        command: f.text("command")?,
        restore: f.required("restore")?,
        check: f.required("check")?,
        timeout: f.duration("timeout")?.unwrap_or(DEFAULT_DRILL_TIMEOUT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(v: Value) -> Backup {
        parse(Some(&json!([v]))).unwrap().remove(0)
    }

    #[test]
    fn entries_parse_with_defaults() {
        let b = parse(Some(&json!([
            {"name": "postgresql", "container": "postgresql", "command": "pg_dumpall", "restore": "psql"},
            {"name": "grafana-db", "container": "grafana", "command": "cat /var/lib/grafana/grafana.db", "keep": 3}
        ])))
        .unwrap();
        assert_eq!(b[0].restore.as_deref(), Some("psql"));
        assert_eq!(b[0].to.len(), 1);
        assert_eq!(b[0].to[0].name, LOCAL);
        assert_eq!(b[0].to[0].kind, Kind::Local);
        assert_eq!(
            b[0].to[0].retention,
            Retention {
                keep: DEFAULT_KEEP,
                daily: 0,
                weekly: 0
            }
        );
        assert_eq!(b[0].to[0].max_age, None);
        assert_eq!(
            (b[1].name.as_str(), b[1].to[0].retention.keep, &b[1].restore),
            ("grafana-db", 3, &None)
        );
        assert_eq!(parse(None).unwrap(), []);
    }

    #[test]
    fn destinations_take_the_backups_defaults_and_their_own() {
        let b = one(json!({
            "name": "pg", "command": "x", "keep": 5, "keep_daily": 3, "max_age": "26h",
            "check": "grep -q x",
            "to": [
                "local",
                {"host": "ixp1", "dir": "/srv/backups", "keep": 30, "max_age": "2d"},
                {"s3": "nxthdr-backups", "endpoint": "https://s3.example.net", "prefix": "/core",
                 "access_key": "s3.key", "secret_key": "s3.secret", "keep_weekly": 8, "keep": 2},
                {"local": null, "name": "laptop", "keep": 1},
            ],
        }));
        assert_eq!(b.check.as_deref(), Some("grep -q x"));
        let names: Vec<&str> = b.to.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["local", "ixp1", "s3", "laptop"]);
        let day = Duration::from_secs(86_400);
        assert_eq!(
            b.to[0].retention,
            Retention {
                keep: 5,
                daily: 3,
                weekly: 0
            }
        );
        assert_eq!(b.to[0].max_age, Some(Duration::from_secs(26 * 3600)));
        assert_eq!(
            b.to[1].kind,
            Kind::Host {
                host: "ixp1".into(),
                dir: Some("/srv/backups".into())
            }
        );
        assert_eq!(
            (b.to[1].retention.keep, b.to[1].max_age),
            (30, Some(2 * day))
        );
        let Kind::S3(s3) = &b.to[2].kind else {
            panic!("{:?}", b.to[2])
        };
        assert_eq!(
            (s3.bucket.as_str(), s3.prefix.as_str(), s3.region.as_str()),
            ("nxthdr-backups", "core/", "us-east-1")
        );
        assert_eq!(
            (s3.access_key.as_str(), s3.secret_key.as_str()),
            ("s3.key", "s3.secret")
        );
        assert_eq!(
            b.to[2].retention,
            Retention {
                keep: 2,
                daily: 3,
                weekly: 8
            }
        );
        assert_eq!(
            (b.to[3].kind.clone(), b.to[3].retention.keep),
            (Kind::Local, 1)
        );
        assert_eq!(b.destination("ixp1").map(|d| d.retention.keep), Some(30));
        assert_eq!(b.destination_names(), "local, ixp1, s3, laptop");
    }

    #[test]
    fn a_drill_parses_with_its_defaults() {
        let b = one(json!({
            "name": "pg", "command": "x",
            "drill": {"image": "postgres:17", "env": {"A": "b", "N": 1},
                      "restore": "psql", "check": "psql -c 'select 1'"},
        }));
        let drill = b.drill.unwrap();
        assert_eq!(drill.image, "postgres:17");
        assert_eq!(drill.env.get("N").map(String::as_str), Some("1"));
        assert_eq!(drill.timeout, DEFAULT_DRILL_TIMEOUT);
        let b = one(json!({"name": "pg", "command": "x",
            "drill": {"image": "i", "restore": "r", "check": "c", "timeout": "90s"}}));
        assert_eq!(b.drill.unwrap().timeout, Duration::from_secs(90));
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
            (
                json!([{"name": "a", "command": "x", "max_age": "soon"}]),
                "entry 1 (a): max_age: \"soon\" is not a duration (e.g. 26h, 7d, 90m)",
            ),
            (
                json!([{"name": "a", "command": "x", "to": ["ftp"]}]),
                "entry 1 (a): to: destination 1: unknown kind (expected `local`, `host: NAME` or \
                 `s3: BUCKET`), got \"ftp\"",
            ),
            (
                json!([{"name": "a", "command": "x", "to": [{"ftp": "x"}]}]),
                "to: destination 1: unknown key \"ftp\"",
            ),
            (
                json!([{"name": "a", "command": "x", "to": []}]),
                "to: expected a list of destinations",
            ),
            (
                json!([{"name": "a", "command": "x", "to": [{"host": "a", "s3": "b"}]}]),
                "to: destination 1: one kind only (local, host or s3), got host, s3",
            ),
            (
                json!([{"name": "a", "command": "x", "to": ["local", {"local": null}]}]),
                "to: the destination name local is used twice (give one a `name:`)",
            ),
            (
                json!([{"name": "a", "command": "x", "to": [{"host": "h", "region": "x"}]}]),
                "to: destination 1: unknown key \"region\"",
            ),
            (
                json!([{"name": "a", "command": "x", "to": [{"host": "h", "dir": "rel"}]}]),
                "dir (an absolute path)",
            ),
            (
                json!([{"name": "a", "command": "x", "to": [{"s3": "bucket", "access_key": "k"}]}]),
                "to: destination 1: secret_key is required",
            ),
            (
                json!([{"name": "a", "command": "x",
                        "to": [{"s3": "Bad_Bucket", "access_key": "k", "secret_key": "s"}]}]),
                "s3: \"Bad_Bucket\" is not a bucket name",
            ),
            (
                json!([{"name": "a", "command": "x", "to": [{"host": "h", "keep_daily": -1}]}]),
                "keep_daily: expected a whole number of at least 0, got -1",
            ),
            (
                json!([{"name": "a", "command": "x", "drill": {"image": "i", "check": "c"}}]),
                "entry 1 (a): drill: restore is required",
            ),
            (
                json!([{"name": "a", "command": "x",
                        "drill": {"image": "i", "restore": "r", "check": "c", "tmeout": 1}}]),
                "drill: unknown key \"tmeout\" (known: image, env, command, restore, check, timeout)",
            ),
        ] {
            let e = parse(Some(&value)).unwrap_err().to_string();
            assert!(e.contains(want), "{value}: {e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("26h"), Some(Duration::from_secs(26 * 3600)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86400)));
        assert_eq!(
            parse_duration("1d 12h"),
            Some(Duration::from_secs(36 * 3600))
        );
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("26"), None);
    }
}

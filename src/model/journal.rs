//! What a host remembers of its deploys, as plain data: the journal
//! (`<base_dir>/.nxinfra/history`, one JSON record per line, the newest last, the last
//! `nxinfra_history` kept) and the pins (`<base_dir>/.nxinfra/pins`: services kept at an
//! image id by a rollback until `nxinfra unpin`). Both hold names, references, ids, digests
//! and hashes, never a secret value; both live on the host, so that every operator (and CI)
//! sees the same.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The journal's file, in the host's state folder.
pub const HISTORY_FILE: &str = "history";
/// The pins' file, in the host's state folder.
pub const PINS_FILE: &str = "pins";
/// Records a host's journal keeps (`nxinfra_history`).
pub const DEFAULT_HISTORY: usize = 50;
/// Deploys whose images `nxinfra prune` keeps (`nxinfra_keep_deploys`).
pub const DEFAULT_KEEP_DEPLOYS: usize = 10;

/// One deploy on one host: an `apply` (or `rollback`) that changed something there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The deploy's number on this host: 1, 2, … (kept when older records are dropped).
    pub n: u64,
    /// When it ended (RFC 3339, UTC).
    pub time: String,
    /// Who ran it: `user@machine`.
    pub operator: String,
    /// The repository's commit (`git rev-parse HEAD`), when it is a git repository.
    pub commit: Option<String>,
    /// Whether the working tree differed from that commit.
    pub dirty: bool,
    pub kind: Kind,
    pub outcome: Outcome,
    /// Why it failed (redacted), for a failed or rolled-back deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The files it changed (`3 files: 1 added, 2 changed`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<String>,
    /// For a rollback: the deploy whose image ids it went back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u64>,
    /// Every service of the host as the deploy left it, and what it did to each.
    pub services: Vec<ServiceRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Apply,
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything it set out to do was done, health-gated.
    Ok,
    /// A service failed its health gate and its previous container was put back.
    RolledBack,
    /// It stopped on an error (what is left is in `error`).
    Failed,
}

/// A service as a deploy left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub service: String,
    pub container: String,
    /// The image reference compose.yml names (`ghcr.io/nxthdr/web:main`).
    pub image: String,
    /// The image id its container runs afterwards; none when it has no container.
    pub image_id: Option<String>,
    /// A repository digest of that image (`ghcr.io/nxthdr/web@sha256:…`), when it came
    /// from a registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Its container's identity hash (`nxinfra.hash`).
    pub hash: Option<String>,
    /// What the deploy did to it: `create`, `recreate`, `restart`, `start`, `remove`,
    /// `unchanged`.
    pub action: String,
    /// It was kept at a pinned image id.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
}

impl Record {
    /// The services this deploy changed (created, recreated, restarted, started).
    pub fn changed(&self) -> impl Iterator<Item = &ServiceRecord> {
        self.services
            .iter()
            .filter(|s| s.action != "unchanged" && s.action != "remove")
    }

    pub fn service(&self, name: &str) -> Option<&ServiceRecord> {
        self.services.iter().find(|s| s.service == name)
    }

    /// The record as the one line the journal holds.
    pub fn to_line(&self) -> String {
        // A record is strings, numbers and booleans: it always serialises.
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }
}

/// A line of the journal that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the host's deploy journal (.nxinfra/history), line {line}: {reason}")]
pub struct JournalError {
    pub line: usize,
    pub reason: String,
}

/// The journal's records, oldest first. A line that does not parse is an error: the journal
/// is what a rollback goes back to.
pub fn parse_history(text: &str) -> Result<Vec<Record>, JournalError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let record: Record = serde_json::from_str(l).map_err(|e| JournalError {
                line: i + 1,
                reason: e.to_string(),
            })?;
            // The next deploy's number follows it (found by fuzzing: an overflow).
            if record.n == u64::MAX {
                return Err(JournalError {
                    line: i + 1,
                    reason: format!("deploy number {} leaves none for the next deploy", record.n),
                });
            }
            Ok(record)
        })
        .collect()
}

/// A service kept at an image id until `nxinfra unpin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The image id it is kept at (`sha256:…`).
    pub image_id: String,
    /// The image reference compose.yml named when it was pinned.
    pub image: String,
    /// When (RFC 3339, UTC), by whom (`user@machine`), and the deploy that pinned it.
    pub since: String,
    pub by: String,
    pub deploy: u64,
    /// Why: `rollback to deploy 3`.
    pub why: String,
}

impl Pin {
    /// `pinned by rollback at 2026-12-02T21:03:11Z: image kept at sha256:…`
    pub fn describe(&self) -> String {
        format!(
            "pinned by {} at {}: image kept at {}",
            self.why, self.since, self.image_id
        )
    }
}

/// The pins of a host, by service (the file is a JSON object: service → pin).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pins {
    pub pins: BTreeMap<String, Pin>,
}

impl Pins {
    /// The pins' file, as written on the host (empty when there is no pin: the file goes).
    pub fn to_text(&self) -> String {
        if self.pins.is_empty() {
            return String::new();
        }
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    pub fn is_empty(&self) -> bool {
        self.pins.is_empty()
    }
}

/// The pins' file does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the host's pins (.nxinfra/pins) do not parse ({0}); nxinfra will not guess which images are pinned: fix the file, or remove it to drop every pin"
)]
pub struct PinsError(pub String);

/// The pins' file; none when it is missing or empty.
pub fn parse_pins(text: &str) -> Result<Pins, PinsError> {
    if text.trim().is_empty() {
        return Ok(Pins::default());
    }
    serde_json::from_str(text).map_err(|e| PinsError(e.to_string()))
}

/// The host's journal or pins do not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Pins(#[from] PinsError),
}

/// What a host says of its journal in the one command that reads its manifest: the last
/// record (the next deploy's number follows it) and the pins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    pub last: Option<Record>,
    pub pins: Pins,
}

impl Journal {
    /// The two parts the host printed: the journal's last line and the pins' file.
    pub fn parse(last: &str, pins: &str) -> Result<Journal, StateError> {
        let last = parse_history(last)?.pop();
        let pins = parse_pins(pins)?;
        Ok(Journal { last, pins })
    }

    /// The number the next deploy gets.
    pub fn next(&self) -> u64 {
        self.last.as_ref().map_or(1, |r| r.n + 1)
    }
}

/// What a deploy writes to the journal, under the host's lock: its record (the journal then
/// keeps its last `keep` lines) and the pins (replaced; `None` leaves them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalWrite {
    pub record: Option<Record>,
    pub keep: usize,
    pub pins: Option<Pins>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> Record {
        Record {
            n,
            time: "2026-12-02T21:00:00Z".into(),
            operator: "alice@laptop".into(),
            commit: Some("3f2a1c9".into()),
            dirty: false,
            kind: Kind::Apply,
            outcome: Outcome::Ok,
            error: None,
            files: None,
            to: None,
            services: vec![ServiceRecord {
                service: "web".into(),
                container: "web".into(),
                image: "web:main".into(),
                image_id: Some("sha256:aa".into()),
                digest: None,
                hash: Some("0123456789abcdef".into()),
                action: "recreate".into(),
                pinned: false,
            }],
        }
    }

    #[test]
    fn records_round_trip_one_per_line() {
        let text = format!("{}{}", record(1).to_line(), record(2).to_line());
        assert_eq!(text.lines().count(), 2);
        let back = parse_history(&text).unwrap();
        assert_eq!(back, [record(1), record(2)]);
        assert_eq!(back[1].changed().count(), 1);
    }

    #[test]
    fn a_damaged_line_is_named() {
        let text = format!("{}{{\"n\":\n", record(1).to_line());
        let e = parse_history(&text).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("(.nxinfra/history), line 2"), "{e}");
    }

    #[test]
    fn the_next_number_follows_the_last_record() {
        let j = Journal::parse(&record(7).to_line(), "").unwrap();
        assert_eq!(j.next(), 8);
        assert_eq!(Journal::parse("", "").unwrap().next(), 1);
        // fuzz/regressions/remote_lines/journal-next-overflow
        let err = Journal::parse(&record(u64::MAX).to_line(), "").map(|j| j.next());
        assert!(
            err.as_ref().is_err_and(|e| e
                .to_string()
                .contains("line 1: deploy number 18446744073709551615 leaves none")),
            "{err:?}"
        );
    }

    #[test]
    fn pins_round_trip_and_a_damaged_file_is_refused() {
        let mut pins = Pins::default();
        assert_eq!(pins.to_text(), "");
        pins.pins.insert(
            "web".into(),
            Pin {
                image_id: "sha256:aa".into(),
                image: "web:main".into(),
                since: "2026-12-02T21:00:00Z".into(),
                by: "alice@laptop".into(),
                deploy: 3,
                why: "rollback to deploy 1".into(),
            },
        );
        assert_eq!(parse_pins(&pins.to_text()).unwrap(), pins);
        assert_eq!(
            pins.pins["web"].describe(),
            "pinned by rollback to deploy 1 at 2026-12-02T21:00:00Z: image kept at sha256:aa"
        );
        let e = parse_pins("{\"web\": 3").unwrap_err();
        assert!(e.to_string().contains("remove it to drop every pin"), "{e}");
    }
}

//! Backups' copies as data: their names (which carry their time), which ones a destination's
//! retention keeps, and whether the newest is fresh enough. No I/O: the copies are listed by
//! `ops::backup`'s stores, the decisions made here.
//!
//! A copy is `NAME-20261202T013624.123Z.gz.age` at every destination (under
//! `<host>/<name>/`): the name sorts by time and gives it back, so no destination needs
//! metadata of its own.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::backup::Retention;

const SUFFIX: &str = ".gz.age";

/// A copy's file name at `time`: `NAME-20261202T013624.123Z.gz.age` (sorts by time).
pub fn file_name(name: &str, time: SystemTime) -> String {
    let stamp: String = humantime::format_rfc3339_millis(time)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    format!("{name}-{stamp}{SUFFIX}")
}

/// The time in a copy's file name, as RFC 3339 (`2026-12-02T01:36:24.123Z`); `None` for a
/// name that is not a copy of `name` (a `.partial-*` file, another backup's).
pub fn time_of(name: &str, file: &str) -> Option<String> {
    let stamp = file
        .strip_prefix(name)?
        .strip_prefix('-')?
        .strip_suffix(SUFFIX)?;
    // 20261202T013624.123Z
    let b = stamp.as_bytes();
    if b.len() != 20 || b[8] != b'T' || b[15] != b'.' || b[19] != b'Z' {
        return None;
    }
    let s = |r: std::ops::Range<usize>| stamp.get(r);
    let text = format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        s(0..4)?,
        s(4..6)?,
        s(6..8)?,
        s(9..11)?,
        s(11..13)?,
        s(13..15)?,
        s(16..19)?
    );
    humantime::parse_rfc3339(&text).ok()?;
    Some(text)
}

/// One copy at a destination.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Copy {
    /// The file name (the last part of its key or path).
    pub file: String,
    /// When it was made, RFC 3339.
    pub time: String,
    /// Its size at the destination (encrypted, compressed).
    pub stored: u64,
}

impl Copy {
    /// `file` as a copy of `name` (its time from its name); `None` for anything else.
    pub fn of(name: &str, file: &str, stored: u64) -> Option<Copy> {
        Some(Copy {
            time: time_of(name, file)?,
            file: file.to_string(),
            stored,
        })
    }

    pub fn made(&self) -> SystemTime {
        humantime::parse_rfc3339(&self.time).unwrap_or(UNIX_EPOCH)
    }
}

/// The copies of `name` among `files` (name, size), oldest first.
pub fn copies(name: &str, files: impl IntoIterator<Item = (String, u64)>) -> Vec<Copy> {
    let mut out: Vec<Copy> = files
        .into_iter()
        .filter_map(|(f, size)| Copy::of(name, &f, size))
        .collect();
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// Days since 1970-01-01 (UTC) of `t`.
fn day(t: SystemTime) -> i64 {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    secs.div_euclid(86_400)
}

/// The ISO week (Monday to Sunday) of a day: 1970-01-01 was a Thursday.
fn week(day: i64) -> i64 {
    (day + 3).div_euclid(7)
}

/// Which of `copies` go under `retention`: every copy but the newest `keep`, the newest of
/// each of the last `daily` days that have a copy, and the newest of each of the last
/// `weekly` ISO weeks that have one (days and weeks in UTC). Oldest first.
pub fn beyond(copies: &[Copy], retention: &Retention) -> Vec<String> {
    let mut newest_first: Vec<&Copy> = copies.iter().collect();
    newest_first.sort_by(|a, b| b.file.cmp(&a.file));
    let mut kept: BTreeSet<&str> = newest_first
        .iter()
        .take(retention.keep.max(1))
        .map(|c| c.file.as_str())
        .collect();
    for (count, bucket) in [
        (retention.daily, day as fn(SystemTime) -> i64),
        (retention.weekly, |t| week(day(t))),
    ] {
        let mut seen = BTreeSet::new();
        for copy in &newest_first {
            if seen.len() == count {
                break;
            }
            if seen.insert(bucket(copy.made())) {
                kept.insert(&copy.file);
            }
        }
    }
    let mut out: Vec<String> = copies
        .iter()
        .filter(|c| !kept.contains(c.file.as_str()))
        .map(|c| c.file.clone())
        .collect();
    out.sort();
    out
}

/// How the newest copy at a destination stands against its `max_age`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Freshness {
    /// Younger than `max_age`, or there is no `max_age`.
    Fresh { age_secs: u64 },
    /// Older than `max_age`.
    Stale { age_secs: u64, max_age_secs: u64 },
    /// No copy at all.
    Missing,
}

impl Freshness {
    /// Whether `backup status` counts it against the backup (exit 2).
    pub fn is_bad(&self) -> bool {
        !matches!(self, Freshness::Fresh { .. })
    }
}

/// Judges the newest of `copies` (any order) at `now`.
pub fn freshness(copies: &[Copy], max_age: Option<Duration>, now: SystemTime) -> Freshness {
    let Some(newest) = copies.iter().max_by(|a, b| a.file.cmp(&b.file)) else {
        return Freshness::Missing;
    };
    let age = now
        .duration_since(newest.made())
        .unwrap_or(Duration::ZERO)
        .as_secs();
    match max_age {
        Some(max) if age > max.as_secs() => Freshness::Stale {
            age_secs: age,
            max_age_secs: max.as_secs(),
        },
        _ => Freshness::Fresh { age_secs: age },
    }
}

/// An age as people say it: `3h 12m`, `2d 4h`, `45s`.
pub fn age(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    fn copy(text: &str) -> Copy {
        Copy::of("pg", &file_name("pg", at(text)), 10).unwrap()
    }

    fn retention(keep: usize, daily: usize, weekly: usize) -> Retention {
        Retention {
            keep,
            daily,
            weekly,
        }
    }

    #[test]
    fn names_sort_by_time_and_give_it_back() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_639_384_123);
        let name = file_name("pg", t);
        assert_eq!(name, "pg-20251202T013624.123Z.gz.age");
        assert_eq!(
            time_of("pg", &name).as_deref(),
            Some("2025-12-02T01:36:24.123Z")
        );
        assert_eq!(Copy::of("pg", &name, 1).unwrap().made(), t);
        assert!(file_name("pg", t + Duration::from_millis(1)) > name);
        assert_eq!(time_of("pg", "pg-x.gz.age"), None);
        assert_eq!(time_of("pg", "pg-20251399T013624.123Z.gz.age"), None);
        assert_eq!(time_of("other", &name), None);
        let listed = copies(
            "pg",
            [
                (file_name("pg", t + Duration::from_secs(5)), 2),
                (".partial-abc".to_string(), 3),
                (name.clone(), 1),
            ],
        );
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].file, name);
    }

    #[test]
    fn keep_keeps_the_newest() {
        let c: Vec<Copy> = [
            "2026-12-01T01:00:00Z",
            "2026-12-02T01:00:00Z",
            "2026-12-03T01:00:00Z",
        ]
        .map(copy)
        .into();
        assert_eq!(beyond(&c, &retention(2, 0, 0)), [c[0].file.clone()]);
        assert!(beyond(&c, &retention(5, 0, 0)).is_empty());
        // keep is at least 1: the newest is never removed.
        assert_eq!(beyond(&c, &retention(0, 0, 0)).len(), 2);
    }

    #[test]
    fn daily_and_weekly_keep_the_newest_of_each_day_and_week() {
        // Four a day (00:00, 06:00, 12:00, 18:00) for 20 days from Monday 2026-11-02.
        let mut c = Vec::new();
        let start = at("2026-11-02T00:00:00Z");
        for i in 0..80u64 {
            c.push(
                Copy::of(
                    "pg",
                    &file_name("pg", start + Duration::from_secs(i * 6 * 3600)),
                    1,
                )
                .unwrap(),
            );
        }
        let gone = beyond(&c, &retention(2, 3, 2));
        let kept: Vec<&str> = c
            .iter()
            .filter(|x| !gone.contains(&x.file))
            .map(|x| x.time.as_str())
            .collect();
        assert_eq!(
            kept,
            [
                // the newest of week 2026-11-09..15 (the week before the last)
                "2026-11-15T18:00:00.000Z",
                // the newest of days 19 and 20, and of 21 (the last week's newest too)
                "2026-11-19T18:00:00.000Z",
                "2026-11-20T18:00:00.000Z",
                // the newest two
                "2026-11-21T12:00:00.000Z",
                "2026-11-21T18:00:00.000Z",
            ]
        );
        assert_eq!(gone.len(), 75);
        let mut sorted = gone.clone();
        sorted.sort();
        assert_eq!(gone, sorted, "oldest first");
    }

    #[test]
    fn freshness_against_max_age() {
        let c = vec![copy("2026-12-01T00:00:00Z"), copy("2026-12-02T00:00:00Z")];
        let now = at("2026-12-03T01:00:00Z");
        let h = |n: u64| Some(Duration::from_secs(n * 3600));
        assert_eq!(
            freshness(&c, h(26), now),
            Freshness::Fresh {
                age_secs: 25 * 3600
            }
        );
        assert_eq!(
            freshness(&c, h(24), now),
            Freshness::Stale {
                age_secs: 25 * 3600,
                max_age_secs: 24 * 3600
            }
        );
        assert!(freshness(&c, h(24), now).is_bad());
        assert_eq!(
            freshness(&c, None, now),
            Freshness::Fresh {
                age_secs: 25 * 3600
            }
        );
        assert_eq!(freshness(&[], h(1), now), Freshness::Missing);
        assert!(Freshness::Missing.is_bad());
        assert_eq!(age(25 * 3600 + 120), "1d 1h");
        assert_eq!(age(3 * 3600 + 12 * 60), "3h 12m");
        assert_eq!(age(45), "45s");
        assert_eq!(age(600), "10m");
    }
}

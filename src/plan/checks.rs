//! What a check's answer means: passed or not, and what to quote. Pure; the attempts are
//! made by `crate::host::checks`.

use serde::Serialize;

use crate::model::compose::PostCheck;
use crate::plan::status::HostFacts;
use crate::util::redact::Redactor;

/// The most of a check's output kept (its end: where errors are).
pub const OUTPUT_LIMIT: usize = 2000;

/// One attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub passed: bool,
    /// What it answered, or why it failed.
    pub output: String,
}

impl Attempt {
    pub fn pass(output: impl Into<String>) -> Attempt {
        Attempt {
            passed: true,
            output: output.into(),
        }
    }

    pub fn fail(output: impl Into<String>) -> Attempt {
        Attempt {
            passed: false,
            output: output.into(),
        }
    }
}

/// A check's outcome after its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    pub attempts: u32,
    /// The last attempt's output: its end, secrets redacted.
    pub output: String,
}

impl CheckResult {
    pub fn of(check: &PostCheck, last: Attempt, attempts: u32, redactor: &Redactor) -> Self {
        CheckResult {
            // A name made from a command or a URL may hold a secret too.
            name: redactor.redact(&check.name).into_owned(),
            passed: last.passed,
            attempts,
            // Redacted before cut: half a secret is still a secret.
            output: tail(&redactor.redact(last.output.trim())),
        }
    }

    /// `check "http http://…" failed after 4 attempts: got 500, expected 200`.
    pub fn failure(&self) -> String {
        format!(
            "check {:?} failed after {} attempt{}: {}",
            self.name,
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            if self.output.is_empty() {
                "no output"
            } else {
                &self.output
            }
        )
    }
}

/// The end of `text`, at most [`OUTPUT_LIMIT`] bytes, cut on a character boundary.
fn tail(text: &str) -> String {
    if text.len() <= OUTPUT_LIMIT {
        return text.to_string();
    }
    let mut start = text.len() - OUTPUT_LIMIT;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

/// A command's exit status: 0 passes; its output is quoted either way.
pub fn judge_exec(code: i64, output: &str) -> Attempt {
    if code == 0 {
        Attempt::pass(output)
    } else {
        let output = output.trim();
        Attempt::fail(if output.is_empty() {
            format!("exit status {code}")
        } else {
            format!("exit status {code}: {output}")
        })
    }
}

/// An HTTP answer against the status and body substring expected.
pub fn judge_http(status: u16, body: &[u8], want: u16, contains: Option<&str>) -> Attempt {
    let text = String::from_utf8_lossy(body);
    let start: String = text.trim().chars().take(200).collect();
    if status != want {
        return Attempt::fail(format!("got {status}, expected {want}: {start}"));
    }
    match contains {
        Some(needle) if !text.contains(needle) => Attempt::fail(format!(
            "got {status}, but the body does not contain {needle:?}: {start}"
        )),
        _ => Attempt::pass(format!("got {status}")),
    }
}

/// `nc -z` refused as an unknown option (busybox's nc has no `-z`): the probe is made again
/// without it (its stdin is empty, so a plain `nc` connects and exits).
pub fn nc_lacks_z(code: i64, output: &str) -> bool {
    code != 0
        && ["invalid option", "unrecognized option", "illegal option"]
            .iter()
            .any(|w| output.contains(w))
}

/// `wget -S -O -` run in a container (exit status `code`): the headers (`HTTP/1.1 200 OK`,
/// on stderr) and the body.
pub fn judge_wget(code: i64, output: &str, want: u16, contains: Option<&str>) -> Attempt {
    let status = output.lines().rev().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix("HTTP/")?;
        rest.split_whitespace().nth(1)?.parse::<u16>().ok()
    });
    match status {
        Some(status) => judge_http(status, output.as_bytes(), want, contains),
        // 126/127: not there, or not runnable (the engine's own words say which).
        None if code == 126 || code == 127 => Attempt::fail(format!(
            "wget could not run in the container (an http check `from: container` needs \
             wget in the image): {}",
            output.trim()
        )),
        None => Attempt::fail(format!("no HTTP answer: {}", output.trim())),
    }
}

/// The base dir's filesystem against the highest use allowed.
pub fn judge_disk(facts: &HostFacts, max: u32) -> Attempt {
    match &facts.disk {
        Some(d) if d.used_percent > max => Attempt::fail(format!(
            "{} is {}% full, more than {max}%",
            d.mount, d.used_percent
        )),
        Some(d) => Attempt::pass(format!("{} is {}% full", d.mount, d.used_percent)),
        None => Attempt::fail("the disk use could not be read (df)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::status::Disk;

    #[test]
    fn http_answers_are_judged_by_status_then_body() {
        assert!(judge_http(200, b"ok", 200, None).passed);
        let a = judge_http(500, b"boom", 200, None);
        assert_eq!(a, Attempt::fail("got 500, expected 200: boom"));
        assert!(judge_http(200, b"<h1>nxthdr</h1>", 200, Some("nxthdr")).passed);
        let a = judge_http(200, b"maintenance", 200, Some("nxthdr"));
        assert!(!a.passed && a.output.contains("does not contain \"nxthdr\""));
        assert!(judge_http(301, b"", 301, None).passed);
    }

    #[test]
    fn wget_output_gives_the_last_status() {
        let out = "  HTTP/1.1 301 Moved\n  Location: /x\n  HTTP/1.1 200 OK\nbody text";
        assert!(judge_wget(0, out, 200, Some("body")).passed);
        let out = "wget: server returned error: HTTP/1.1 500 Internal Server Error";
        assert!(!judge_wget(1, out, 200, None).passed);
        let a = judge_wget(
            1,
            "wget: can't connect to remote host: Connection refused",
            200,
            None,
        );
        assert!(a.output.starts_with("no HTTP answer: wget: can't connect"));
        let a = judge_wget(127, "exec: \"wget\": executable file not found", 200, None);
        assert!(a.output.contains("needs wget in the image"), "{}", a.output);
        assert!(nc_lacks_z(1, "nc: invalid option -- 'z'"));
        assert!(!nc_lacks_z(
            1,
            "nc: can't connect to remote host: Connection refused"
        ));
    }

    #[test]
    fn exec_passes_on_zero_and_quotes_its_output() {
        assert!(judge_exec(0, "fresh").passed);
        assert_eq!(
            judge_exec(1, "  stale: 12 min \n").output,
            "exit status 1: stale: 12 min"
        );
        assert_eq!(judge_exec(2, "").output, "exit status 2");
    }

    #[test]
    fn disk_above_the_limit_fails() {
        let facts = |p| HostFacts {
            disk: Some(Disk {
                mount: "/".into(),
                used_percent: p,
                size_kib: 1,
                available_kib: 1,
            }),
            load: None,
        };
        assert!(judge_disk(&facts(85), 85).passed);
        assert_eq!(
            judge_disk(&facts(91), 85).output,
            "/ is 91% full, more than 85%"
        );
        assert!(!judge_disk(&HostFacts::default(), 85).passed);
    }

    #[test]
    fn a_result_quotes_the_end_of_the_output_redacted() {
        let mut check = PostCheck {
            name: "freshness".into(),
            probe: crate::model::compose::Probe::Exec {
                command: vec!["true".into()],
            },
            timeout: std::time::Duration::from_secs(1),
            retries: 0,
            interval: std::time::Duration::ZERO,
            start_delay: std::time::Duration::ZERO,
            gate: true,
        };
        let redactor = Redactor::new([("db.password", "hunter2-Secret")]);
        let long = format!("{}end: hunter2-Secret", "x".repeat(3000));
        let r = CheckResult::of(&check, Attempt::fail(long), 4, &redactor);
        assert!(
            r.output.ends_with("end: <secret:db.password>"),
            "{}",
            r.output
        );
        assert!(r.output.len() < OUTPUT_LIMIT + 20);
        assert!(
            r.failure()
                .starts_with("check \"freshness\" failed after 4 attempts: …")
        );
        // A name made from a command holds what the command holds.
        check.name = "exec psql postgres://app:hunter2-Secret@db".into();
        let r = CheckResult::of(&check, Attempt::pass(""), 1, &redactor);
        assert_eq!(r.name, "exec psql postgres://app:<secret:db.password>@db");
    }
}

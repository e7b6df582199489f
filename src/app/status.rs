//! `nxinfra status [--limit P] [--json]`: each host read, nothing changed (no lock, no
//! write); a table, or JSON (docs/status.schema.json).

use std::sync::Arc;

use anyhow::bail;
use serde_json::json;

use crate::cli::StatusArgs;
use crate::host::files::RunMode;
use crate::host::runner::HostFailure;
use crate::ops::status::{HostStatus, StatusOptions, status_all};
use crate::util::progress::{self, Progress};

use super::sync::{Prepared, Settings, prepare};
use super::{Ctx, Outcome};

/// The `schema` of `--json` output (docs/status.schema.json); bumped on any incompatible
/// change.
pub const SCHEMA: &str = "nxinfra-status/1";

pub fn run(ctx: &Ctx, args: &StatusArgs) -> anyhow::Result<Outcome> {
    let settings = Settings {
        limit: args.limit.limit.as_deref(),
        forks: args.forks,
        mode: RunMode::ReadOnly,
        diff: false,
        force_unlock: false,
        lock_timeout: crate::cli::DEFAULT_LOCK_TIMEOUT,
        // Reads only: nothing is pulled.
        pull_timeout: crate::cli::DEFAULT_PULL_TIMEOUT,
        ssh: &args.ssh,
        ignore_holds: false,
    };
    let Prepared {
        hosts, work, opts, ..
    } = prepare(ctx, &settings, "status")?;
    let opts = StatusOptions {
        forks: opts.forks,
        ssh: opts.ssh,
        redactor: opts.redactor,
        checks: args.checks,
    };
    let mode = if args.json {
        progress::Mode::TerminalOnly
    } else {
        progress::Mode::Auto
    };
    let progress = Arc::new(Progress::new(&hosts, mode, opts.redactor.clone()));
    let outcomes = status_all(work, &opts, progress.clone());
    progress.clear();
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(h, _)| h.as_str())
        .collect();
    let off = outcomes
        .iter()
        .filter(|(_, r)| r.as_ref().is_ok_and(|s| !s.as_desired()))
        .count();
    if args.json {
        println!("{}", json_report(&outcomes));
    } else {
        print!("{}", table(&outcomes));
        println!(
            "{} hosts: {} as desired, {off} not, {} failed",
            outcomes.len(),
            outcomes.len() - off - failed.len(),
            failed.len()
        );
    }
    if !failed.is_empty() {
        bail!(
            "status failed on {} of {} hosts: {}",
            failed.len(),
            outcomes.len(),
            failed.join(", ")
        );
    }
    Ok(if off > 0 {
        Outcome::Changes
    } else {
        Outcome::Done
    })
}

fn json_report(outcomes: &[(String, Result<HostStatus, HostFailure>)]) -> serde_json::Value {
    let hosts: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|(host, r)| match r {
            Ok(s) => {
                let mut v = json!(s);
                v["host"] = json!(host);
                v["as_desired"] = json!(s.as_desired());
                v["status"] = json!(if s.as_desired() {
                    "as_desired"
                } else {
                    "not_as_desired"
                });
                v["elapsed_ms"] = json!(s.elapsed.as_millis() as u64);
                v["held"] = s.holds.json();
                v
            }
            Err(e) => json!({ "host": host, "status": "failed", "error": e }),
        })
        .collect();
    let all = outcomes
        .iter()
        .all(|(_, r)| r.as_ref().is_ok_and(HostStatus::as_desired));
    json!({
        "schema": SCHEMA,
        "as_desired": all,
        "failed": outcomes.iter().filter(|(_, r)| r.is_err()).count(),
        "hosts": hosts,
    })
}

/// One line per host as desired; a host that is not gets a line per service and per
/// difference under it.
fn table(outcomes: &[(String, Result<HostStatus, HostFailure>)]) -> String {
    let mut out = String::new();
    for (host, r) in outcomes {
        let s = match r {
            Ok(s) => s,
            Err(e) => {
                out.push_str(&format!("  {host:<12} FAILED: {e}\n"));
                continue;
            }
        };
        let a = &s.assessment;
        let running = a.services.len();
        let head = if s.as_desired() {
            let checks = if s.checks.is_empty() {
                String::new()
            } else {
                format!(", {} checks passed", s.checks.len())
            };
            format!(
                "as desired: {running} service{}{checks}",
                if running == 1 { "" } else { "s" }
            )
        } else {
            "NOT as desired".to_string()
        };
        out.push_str(&format!("  {host:<12} {head}{}\n", facts(s)));
        for (path, hold) in s.holds.all() {
            let what = path.map(|p| format!(" {p}")).unwrap_or_default();
            out.push_str(&format!("     held{what}: {}\n", hold.describe()));
        }
        for (service, pin) in &s.pins.pins {
            out.push_str(&format!("     {service}: {}\n", pin.describe()));
        }
        if s.as_desired() {
            continue;
        }
        let width = a
            .services
            .iter()
            .map(|s| s.container.len())
            .max()
            .unwrap_or(0)
            .max(9);
        for svc in &a.services {
            let mark = if svc.as_desired { " " } else { "!" };
            let mut line = format!("   {mark} {:<width$}  {}", svc.container, svc.state);
            if svc.restarts > 0 {
                line.push_str(&format!(", {} restarts", svc.restarts));
            }
            if let Some(id) = &svc.image_id {
                let short = id.strip_prefix("sha256:").unwrap_or(id);
                line.push_str(&format!("  image {}", &short[..short.len().min(12)]));
            }
            if let Some(since) = &svc.since {
                line.push_str(&format!("  since {since}"));
            }
            out.push_str(&line);
            out.push('\n');
        }
        for l in &a.not_desired {
            out.push_str(&format!(
                "   ! {:<width$}  no longer desired ({})\n",
                l.container,
                if l.running { "running" } else { "stopped" }
            ));
        }
        for c in s.checks.iter().filter(|c| !c.result.passed) {
            let whose = c.service.as_deref().unwrap_or("host");
            out.push_str(&format!("   ! {whose}: {}\n", c.result.failure()));
        }
        if !a.changed_on_host.is_empty() {
            let files: Vec<String> = a
                .changed_on_host
                .iter()
                .map(|c| format!("{} ({})", c.path, c.change))
                .collect();
            out.push_str(&format!(
                "   ! changed on host since the last sync: {}\n",
                files.join(", ")
            ));
        }
    }
    out
}

/// ` · disk 43% of /srv · load 0.52 · docker 24.0.7`
fn facts(s: &HostStatus) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &s.facts.disk {
        parts.push(format!("disk {}% of {}", d.used_percent, d.mount));
    }
    if let Some([one, ..]) = s.facts.load {
        parts.push(format!("load {one:.2}"));
    }
    if !s.engine.version.is_empty() {
        parts.push(format!("engine {}", s.engine.version));
    }
    parts.iter().map(|p| format!(" · {p}")).collect()
}

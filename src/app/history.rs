//! `nxinfra history [--limit P] [SERVICE…] [--json]`: each host's deploy journal, newest
//! first (docs/history.schema.json). Also the settings `unpin` and `prune` share: the
//! selected hosts' targets, nothing rendered.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use serde_json::json;

use crate::cli::{HistoryArgs, SshArgs};
use crate::model::journal::Record;
use crate::model::target::{Defaults, Target};
use crate::ops::journal::{JournalOptions, history_all};
use crate::util::progress::{self, Progress};

use super::{Ctx, Outcome};

/// The `schema` of `--json` output (docs/history.schema.json).
pub const SCHEMA: &str = "nxinfra-history/1";

/// The selected hosts' targets (nothing rendered), and the options to reach them.
pub(super) fn targets(
    ctx: &Ctx,
    limit: Option<&str>,
    ssh: &SshArgs,
    command: &str,
    lock_timeout: u64,
) -> anyhow::Result<(Vec<String>, Vec<Target>, JournalOptions)> {
    let inventory = ctx.inventory()?;
    let hosts = crate::model::inventory::limit::select(&inventory, limit)?;
    let defaults = Defaults::new(&ctx.root);
    let mut targets = Vec::new();
    for host in &hosts {
        targets.push(Target::of_host(&inventory, host, &defaults)?);
    }
    let machine = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let opts = JournalOptions {
        forks: 16,
        ssh: super::ssh_options(ssh),
        redactor: ctx.redactor(),
        lock_timeout: Duration::from_secs(lock_timeout),
        holder: format!(
            "{}@{} pid {} ({command})",
            defaults.user,
            machine.trim(),
            std::process::id()
        ),
        dry_run: false,
    };
    Ok((hosts, targets, opts))
}

/// A progress display for `hosts` (on a terminal only under `--json`).
pub(super) fn progress(ctx: &Ctx, hosts: &[String], json: bool) -> Arc<Progress> {
    let mode = if json {
        progress::Mode::TerminalOnly
    } else {
        progress::Mode::Auto
    };
    Arc::new(Progress::new(hosts, mode, ctx.redactor()))
}

/// The error for the hosts that failed, if any.
pub(super) fn failed<T>(
    command: &str,
    outcomes: &[(String, Result<T, crate::host::runner::HostFailure>)],
) -> anyhow::Result<()> {
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(h, _)| h.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "{command} failed on {} of {} hosts: {}",
            failed.len(),
            outcomes.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

pub fn run(ctx: &Ctx, args: &HistoryArgs) -> anyhow::Result<Outcome> {
    if args.forks == 0 {
        bail!("--forks must be at least 1");
    }
    let (hosts, targets, mut opts) = targets(
        ctx,
        args.limit.limit.as_deref(),
        &args.ssh,
        "history",
        crate::cli::DEFAULT_LOCK_TIMEOUT,
    )?;
    opts.forks = args.forks;
    let progress = progress(ctx, &hosts, args.json);
    let outcomes = history_all(targets, &opts, &progress);
    progress.clear();
    // Newest first, only those that changed a named service (if any is named).
    let shown = |history: &[Record]| -> Vec<Record> {
        history
            .iter()
            .rev()
            .filter(|r| {
                args.services.is_empty() || r.changed().any(|s| args.services.contains(&s.service))
            })
            .cloned()
            .collect()
    };
    if args.json {
        let hosts: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|(host, r)| match r {
                Ok(h) => json!({"host": host, "deploys": shown(h)}),
                Err(e) => json!({"host": host, "error": e}),
            })
            .collect();
        println!("{}", json!({"schema": SCHEMA, "hosts": hosts}));
    } else {
        for (host, r) in &outcomes {
            match r {
                Ok(h) => print!("{}", text(host, &shown(h), &args.services)),
                Err(e) => println!("{host}: FAILED: {e}"),
            }
        }
    }
    failed("history", &outcomes)?;
    Ok(Outcome::Done)
}

/// A host's deploys as text: a line per deploy, a line per service it changed.
fn text(host: &str, deploys: &[Record], services: &[String]) -> String {
    use std::fmt::Write;
    let mut out = format!("{host}\n");
    if deploys.is_empty() {
        out.push_str("  no deploy recorded\n");
    }
    let short = |id: &str| id.get(..19).unwrap_or(id).to_string();
    for d in deploys {
        let commit = d
            .commit
            .as_deref()
            .map(|c| {
                format!(
                    "{}{}",
                    &c[..c.len().min(12)],
                    if d.dirty { "+dirty" } else { "" }
                )
            })
            .unwrap_or_else(|| "no commit".into());
        let kind = match d.to {
            Some(to) => format!("rollback to #{to}"),
            None => "apply".into(),
        };
        let outcome = match d.outcome {
            crate::model::journal::Outcome::Ok => "ok",
            crate::model::journal::Outcome::RolledBack => "rolled back",
            crate::model::journal::Outcome::Failed => "FAILED",
        };
        let _ = writeln!(
            out,
            "  #{:<4} {}  {}  {commit}  {kind}  {outcome}",
            d.n, d.time, d.operator
        );
        if let Some(files) = &d.files {
            let _ = writeln!(out, "        {files}");
        }
        for s in d
            .changed()
            .chain(d.services.iter().filter(|s| s.action == "remove"))
        {
            if !services.is_empty() && !services.contains(&s.service) {
                continue;
            }
            let _ = writeln!(
                out,
                "        {:<8} {:<12} {}  {}{}{}",
                s.action,
                s.service,
                s.image,
                s.image_id.as_deref().map(short).unwrap_or_default(),
                s.digest
                    .as_deref()
                    .map(|d| format!("  {d}"))
                    .unwrap_or_default(),
                if s.pinned { "  (pinned)" } else { "" }
            );
        }
        if let Some(e) = &d.error {
            let _ = writeln!(out, "        error: {e}");
        }
    }
    out
}

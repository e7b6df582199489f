//! `nxinfra apply [--limit P] [--dry-run] [--diff] [--json]`: render, sync, reconcile.

use std::sync::Arc;

use anyhow::bail;
use serde_json::json;

use crate::apply::run::{apply_all, verb};
use crate::cli::SyncArgs;
use crate::progress::{self, Progress};

use super::sync::{Prepared, prepare};
use super::{Ctx, Outcome};

pub fn run(ctx: &Ctx, args: &SyncArgs) -> anyhow::Result<Outcome> {
    let Prepared { hosts, work, opts } = prepare(ctx, args, "apply")?;
    let mode = if args.json {
        progress::Mode::TerminalOnly
    } else {
        progress::Mode::Auto
    };
    let progress = Arc::new(Progress::new(&hosts, mode));
    let outcomes = apply_all(work, &opts, progress.clone());
    progress.clear();
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(h, _)| h.as_str())
        .collect();
    let changed = outcomes
        .iter()
        .filter(|(_, r)| r.as_ref().is_ok_and(|a| !a.is_noop()))
        .count();
    if args.json {
        let rows: Vec<_> = outcomes
            .iter()
            .map(|(host, r)| match r {
                Ok(a) => json!({
                    "host": host,
                    "status": if a.is_noop() { "unchanged" } else { "changed" },
                    "files": a.sync,
                    "diff": a.diff,
                    "images": a.plan.images,
                    "networks": a.plan.networks,
                    "containers": a.plan.containers,
                    "api_calls": {"reads": a.api_calls.0, "writes": a.api_calls.1},
                    "api_version": a.api_version,
                    "elapsed_ms": a.elapsed.as_millis() as u64,
                    "reconcile_ms": a.reconcile.as_secs_f64() * 1000.0,
                }),
                Err(e) => json!({"host": host, "status": "failed", "error": e}),
            })
            .collect();
        println!(
            "{}",
            json!({"dry_run": args.dry_run, "hosts": rows, "failed": failed.len()})
        );
    } else {
        for (_, r) in &outcomes {
            if let Ok(a) = r
                && let Some(diff) = &a.diff
            {
                print!("{diff}");
            }
        }
        for (host, r) in &outcomes {
            match r {
                Ok(a) if a.is_noop() => eprintln!("  {host:<12} unchanged"),
                Ok(a) => {
                    eprintln!("  {host:<12}");
                    if !a.sync.is_noop() {
                        eprintln!("    {}", a.sync.summary());
                    }
                    for i in &a.plan.images {
                        eprintln!("    pull {} ({})", i.image, i.reason);
                    }
                    for n in &a.plan.networks {
                        if n.action != crate::apply::plan::Action::Unchanged {
                            eprintln!(
                                "    {} network {}: {}",
                                verb(n.action),
                                n.name,
                                n.reasons.join(", ")
                            );
                        }
                    }
                    for c in &a.plan.containers {
                        if c.action != crate::apply::plan::Action::Unchanged {
                            eprintln!(
                                "    {} {}: {}",
                                verb(c.action),
                                c.name,
                                c.reasons.join(", ")
                            );
                        }
                    }
                }
                Err(e) => eprintln!("  {host:<12} FAILED: {e}"),
            }
        }
        let verb = if args.dry_run {
            "would change"
        } else {
            "changed"
        };
        eprintln!(
            "{} hosts: {changed} {verb}, {} failed",
            outcomes.len(),
            failed.len()
        );
    }
    if !failed.is_empty() {
        bail!(
            "apply failed on {} of {} hosts: {}",
            failed.len(),
            outcomes.len(),
            failed.join(", ")
        );
    }
    Ok(if args.dry_run && changed > 0 {
        Outcome::Changes
    } else {
        Outcome::Done
    })
}

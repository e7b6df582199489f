//! `nxinfra apply [--limit P] [--dry-run] [--diff] [--json]`: render, sync, reconcile.

use std::sync::Arc;

use anyhow::bail;
use serde_json::json;

use crate::cli::SyncArgs;
use crate::host::files::SyncOptions;
use crate::host::runner::{HostFailure, in_batches};
use crate::ops::apply::{Deploy, HostApply, apply_all, verb};
use crate::plan::containers::Action;
use crate::util::progress::{self, Progress};

use super::sync::{Prepared, Settings, prepare};
use super::{Ctx, Outcome};

pub fn run(ctx: &Ctx, args: &SyncArgs) -> anyhow::Result<Outcome> {
    let Prepared {
        work,
        opts,
        clusters,
        ..
    } = prepare(ctx, &Settings::of(args), "apply")?;
    let nodes = super::cluster::Nodes::of(&clusters, &work);
    let items = work
        .into_iter()
        .map(|(t, files)| (t.host.clone(), (t, files)))
        .collect();
    let serial = args.serial.map(|n| n as usize);
    let outcomes = in_batches(items, serial, &opts.redactor, |batch| {
        let hosts: Vec<String> = batch.iter().map(|(h, _)| h.clone()).collect();
        let work = batch.into_iter().map(|(_, w)| w).collect();
        run_hosts(&hosts, work, &opts, &Deploy::Apply, args.json)
    });
    let clustered = nodes.apply(&clusters, &opts, args.json);
    let report = Report {
        outcomes: &outcomes,
        would: args.dry_run,
        changed_word: "changed",
    };
    if args.json {
        let mut out = json!({"dry_run": args.dry_run, "hosts": report.json_hosts(), "failed": report.failed().len()});
        if !clustered.is_empty() {
            out["clusters"] = json!(clustered);
        }
        println!("{out}");
    } else {
        report.print();
        super::cluster::print(&clustered, args.dry_run);
    }
    super::cluster::finish(
        "apply",
        report.finish("apply", args.dry_run),
        &clustered,
        args.dry_run,
    )
}

/// Applies (or, unless `opts.mode` changes hosts, plans) every host, with progress unless `json` (then on
/// a terminal only).
pub(super) fn run_hosts(
    hosts: &[String],
    work: Vec<(
        crate::model::target::Target,
        std::collections::BTreeMap<String, crate::render::OutFile>,
    )>,
    opts: &SyncOptions,
    deploy: &Deploy,
    json: bool,
) -> Vec<(String, Result<HostApply, HostFailure>)> {
    let mode = if json {
        progress::Mode::TerminalOnly
    } else {
        progress::Mode::Auto
    };
    let progress = Arc::new(Progress::new(hosts, mode, opts.redactor.clone()));
    let outcomes = apply_all(work, opts, deploy, progress.clone());
    progress.clear();
    outcomes
}

/// The pinned services of a host: each with its pin and what unpinning would change.
fn print_pins(a: &HostApply) {
    for c in &a.plan.containers {
        if let Some(pin) = &c.pin {
            eprintln!("    {}", pin.line(&c.name));
        }
    }
}

/// The files of a host a hold kept as they are, and what would otherwise have changed.
fn print_held_files(a: &HostApply) {
    if let Some(line) = a.sync.held_line() {
        eprintln!("    {line}");
    }
}

/// The outcomes of `apply` or `plan`, as text or JSON.
pub(super) struct Report<'a> {
    pub outcomes: &'a [(String, Result<HostApply, HostFailure>)],
    /// Nothing was carried out (`--dry-run`, `plan`): "would change".
    pub would: bool,
    /// The JSON status of a host with changes.
    pub changed_word: &'static str,
}

impl Report<'_> {
    pub fn failed(&self) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|(_, r)| r.is_err())
            .map(|(h, _)| h.as_str())
            .collect()
    }

    pub fn changed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, r)| r.as_ref().is_ok_and(|a| a.changes()))
            .count()
    }

    /// One object per host.
    pub fn json_hosts(&self) -> Vec<serde_json::Value> {
        self.outcomes
            .iter()
            .map(|(host, r)| match r {
                Ok(a) => json!({
                    "host": host,
                    "status": if a.held.is_some() {
                        "held"
                    } else if a.is_noop() {
                        "unchanged"
                    } else {
                        self.changed_word
                    },
                    "held": a.held.as_ref().map(|h| h.json()),
                    "files": a.sync,
                    "diff": a.diff,
                    "images": a.plan.images,
                    "networks": a.plan.networks,
                    "containers": a.plan.containers,
                    "checks": a.checks.iter().map(|(container, r)| json!({
                        "container": container,
                        "name": r.name,
                        "passed": r.passed,
                        "attempts": r.attempts,
                        "output": r.output,
                    })).collect::<Vec<_>>(),
                    "journal": a.journal,
                    "pins": a.pins.pins,
                    "api_calls": {"reads": a.api_calls.0, "writes": a.api_calls.1},
                    "api_version": a.api_version,
                    "elapsed_ms": a.elapsed.as_millis() as u64,
                    "reconcile_ms": a.reconcile.as_secs_f64() * 1000.0,
                }),
                Err(e) => json!({"host": host, "status": "failed", "error": e}),
            })
            .collect()
    }

    /// Diffs on stdout, the per-host summary on stderr.
    pub fn print(&self) {
        let colour = crate::util::color::stdout_enabled();
        for (_, r) in self.outcomes {
            if let Ok(a) = r
                && let Some(diff) = &a.diff
            {
                print!("{}", crate::util::color::diff(diff, colour));
            }
        }
        for (host, r) in self.outcomes {
            match r {
                Ok(
                    a @ HostApply {
                        held: Some(hold), ..
                    },
                ) if !self.would || a.is_noop() => {
                    eprintln!("  {host:<12} held: {}", hold.describe());
                }
                Ok(a) if a.is_noop() => {
                    eprintln!("  {host:<12} unchanged");
                    print_held_files(a);
                    print_pins(a);
                }
                Ok(a) => {
                    match &a.held {
                        Some(hold) => {
                            eprintln!("  {host:<12} held: {}; would otherwise:", hold.describe())
                        }
                        None => eprintln!("  {host:<12}"),
                    }
                    if !a.sync.is_noop() {
                        eprintln!("    {}", a.sync.summary());
                        if let Some(line) = a.sync.changed_on_host_line(self.would) {
                            eprintln!("    {line}");
                        }
                    }
                    for i in &a.plan.images {
                        eprintln!("    pull {} ({})", i.image, i.reason);
                    }
                    for n in &a.plan.networks {
                        if n.action != Action::Unchanged {
                            eprintln!(
                                "    {} network {}: {}",
                                verb(n.action),
                                n.name,
                                n.reasons.join(", ")
                            );
                        }
                    }
                    for c in &a.plan.containers {
                        if c.action != Action::Unchanged {
                            eprintln!(
                                "    {} {}: {}",
                                verb(c.action),
                                c.name,
                                c.reasons.join(", ")
                            );
                        }
                    }
                    print_held_files(a);
                    print_pins(a);
                    if let Some(r) = &a.journal {
                        eprintln!("    recorded as deploy {} (`nxinfra history`)", r.n);
                    }
                }
                Err(e) => eprintln!("  {host:<12} FAILED: {e}"),
            }
        }
        let verb = if self.would {
            "would change"
        } else {
            "changed"
        };
        eprintln!(
            "{} hosts: {} {verb}, {} failed",
            self.outcomes.len(),
            self.changed(),
            self.failed().len()
        );
    }

    /// Exit: 1 if any host failed, else 2 if `changes_exit` and anything (would) change.
    pub fn finish(&self, command: &str, changes_exit: bool) -> anyhow::Result<Outcome> {
        let failed = self.failed();
        if !failed.is_empty() {
            bail!(
                "{command} failed on {} of {} hosts: {}",
                failed.len(),
                self.outcomes.len(),
                failed.join(", ")
            );
        }
        Ok(if changes_exit && self.changed() > 0 {
            Outcome::Changes
        } else {
            Outcome::Done
        })
    }
}

//! `nxinfra sync [--limit P] [--dry-run] [--forks N] [--lock-timeout S] [--json]`

use std::time::Duration;

use anyhow::bail;
use serde_json::json;

use crate::cli::SyncArgs;
use std::sync::Arc;

use crate::host::files::{RunMode, SyncOptions};
use crate::host::runner::in_batches;
use crate::model::inventory::limit;
use crate::model::target::{Defaults, Target};
use crate::ops::sync::{HostOutcome, HostSync, sync_all};
use crate::render::{self, Job};
use crate::util::progress::{self, Progress};

use super::{Ctx, Outcome};

/// The hosts' targets and rendered trees, and the options: what sync and apply start from.
pub struct Prepared {
    pub hosts: Vec<String>,
    pub work: Vec<(
        Target,
        std::collections::BTreeMap<String, crate::render::OutFile>,
    )>,
    pub opts: SyncOptions,
    /// The inventory's clusters (checked before anything is rendered).
    pub clusters: Vec<crate::model::cluster::Cluster>,
}

/// What sync, apply and plan start from, resolved from their arguments once.
pub struct Settings<'a> {
    pub limit: Option<&'a str>,
    pub forks: usize,
    pub mode: RunMode,
    pub diff: bool,
    pub force_unlock: bool,
    /// Seconds to wait for a host's lock (and for another render's).
    pub lock_timeout: u64,
    /// `--pull-timeout` (apply, rollback): seconds a pull may go without progress.
    pub pull_timeout: u64,
    pub ssh: &'a crate::cli::SshArgs,
    /// `--ignore-holds`: every hold dropped for this run (and said).
    pub ignore_holds: bool,
}

impl<'a> Settings<'a> {
    /// The settings of `sync` and `apply`: `--dry-run` plans under the lock.
    pub fn of(args: &'a SyncArgs) -> Settings<'a> {
        Settings {
            limit: args.limit.limit.as_deref(),
            forks: args.forks,
            mode: if args.dry_run {
                RunMode::DryRun
            } else {
                RunMode::Apply
            },
            diff: args.diff,
            force_unlock: args.force_unlock,
            lock_timeout: args.lock_timeout,
            pull_timeout: args.pull_timeout,
            ssh: &args.ssh,
            ignore_holds: args.ignore_holds,
        }
    }
}

/// Selects the hosts, checks their connection settings, renders them (updating `rendered/`).
pub fn prepare(ctx: &Ctx, args: &Settings, command: &str) -> anyhow::Result<Prepared> {
    if args.forks == 0 {
        bail!("--forks must be at least 1");
    }
    let inventory = ctx.inventory()?;
    let hosts = limit::select(&inventory, args.limit)?;
    let clusters = crate::model::cluster::clusters(&inventory)?;
    let defaults = Defaults::new(&ctx.root);
    let mut targets = Vec::new();
    for host in &hosts {
        targets.push(Target::of_host(&inventory, host, &defaults)?);
    }
    let secrets = ctx.secrets()?;
    let job = Job {
        root: &ctx.root,
        inventory: &inventory,
        secrets: &secrets,
        hosts: &hosts,
        limited: args.limit.is_some(),
        limits: ctx.render_limits,
    };
    let rendered = render::render(
        &job,
        Duration::from_secs(args.lock_timeout),
        super::waiting_for_render,
    )?;
    let mut work: Vec<_> = targets
        .into_iter()
        .zip(rendered.trees)
        .map(|(t, tree)| (t, tree.files))
        .collect();
    for line in super::holds::in_force(&mut work, std::time::SystemTime::now(), args.ignore_holds) {
        eprintln!("{line}");
    }
    let machine = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let head = crate::ops::diff::git::head(&ctx.root);
    let source = crate::plan::journal::Source {
        operator: format!("{}@{}", defaults.user, machine.trim()),
        commit: head.as_ref().map(|(c, _)| c.clone()),
        dirty: head.is_some_and(|(_, d)| d),
    };
    let opts = SyncOptions {
        source,
        forks: args.forks,
        mode: args.mode,
        diff: args.diff,
        force_unlock: args.force_unlock,
        lock_timeout: Duration::from_secs(args.lock_timeout),
        ssh: crate::host::session::SshOptions {
            pull_stall: Some(Duration::from_secs(args.pull_timeout)),
            ..super::ssh_options(args.ssh)
        },
        // After the render: it knows the secrets' values.
        redactor: ctx.redactor(),
        holder: format!(
            "{}@{} pid {} ({command}{})",
            defaults.user,
            machine.trim(),
            std::process::id(),
            match args.mode {
                RunMode::Apply => "",
                RunMode::DryRun => " --dry-run",
                RunMode::ReadOnly => " read-only",
            }
        ),
    };
    Ok(Prepared {
        hosts,
        work,
        opts,
        clusters,
    })
}

pub fn run(ctx: &Ctx, args: &SyncArgs) -> anyhow::Result<Outcome> {
    let Prepared { work, opts, .. } = prepare(ctx, &Settings::of(args), "sync")?;
    let mode = if args.json {
        progress::Mode::TerminalOnly
    } else {
        progress::Mode::Auto
    };
    let items = work
        .into_iter()
        .map(|(t, files)| (t.host.clone(), (t, files)))
        .collect();
    let serial = args.serial.map(|n| n as usize);
    let outcomes: Vec<HostOutcome> = in_batches(items, serial, &opts.redactor, |batch| {
        let hosts: Vec<String> = batch.iter().map(|(h, _)| h.clone()).collect();
        let progress = Arc::new(Progress::new(&hosts, mode, opts.redactor.clone()));
        let work = batch.into_iter().map(|(_, w)| w).collect();
        let done = sync_all(work, &opts, progress.clone());
        progress.clear();
        done.into_iter().map(|o| (o.host, o.result)).collect()
    })
    .into_iter()
    .map(|(host, result)| HostOutcome { host, result })
    .collect();
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    let changed = outcomes
        .iter()
        .filter(|o| {
            o.result
                .as_ref()
                .is_ok_and(|s| !s.plan.is_noop() && s.held.is_none())
        })
        .count();
    if args.json {
        let rows: Vec<_> = outcomes
            .iter()
            .map(|o| match &o.result {
                Ok(s) => json!({
                    "host": o.host,
                    "status": if s.held.is_some() {
                        "held"
                    } else if s.plan.is_noop() {
                        "unchanged"
                    } else {
                        "changed"
                    },
                    "held": s.held.as_ref().map(|h| h.json()),
                    "plan": s.plan,
                    "diff": s.diff,
                    "unlocked": s.unlocked,
                    "remote_commands": s.remote_commands,
                    "elapsed_ms": s.elapsed.as_millis() as u64,
                }),
                Err(e) => json!({ "host": o.host, "status": "failed", "error": e }),
            })
            .collect();
        println!(
            "{}",
            json!({ "dry_run": args.dry_run, "hosts": rows, "failed": failed })
        );
    } else {
        let verb = if args.dry_run {
            "would change"
        } else {
            "changed"
        };
        // The diffs on stdout (for a pager or a file), the summary on stderr.
        let colour = crate::util::color::stdout_enabled();
        for o in &outcomes {
            if let Ok(HostSync {
                diff: Some(diff), ..
            }) = &o.result
            {
                print!("{}", crate::util::color::diff(diff, colour));
            }
        }
        for o in &outcomes {
            match &o.result {
                Ok(HostSync {
                    held: Some(hold),
                    plan,
                    ..
                }) => eprintln!(
                    "  {:<12} {}",
                    o.host,
                    hold.line(&plan.summary(), plan.is_noop())
                ),
                Ok(p) if p.plan.is_noop() => {
                    eprintln!("  {:<12} unchanged ({} files)", o.host, p.plan.unchanged)
                }
                Ok(s) => {
                    eprintln!("  {:<12} {verb} {}", o.host, s.plan.summary());
                    if let Some(line) = s.plan.changed_on_host_line(args.dry_run) {
                        eprintln!("  {:<12} {line}", "");
                    }
                }
                Err(e) => eprintln!("  {:<12} FAILED: {e}", o.host),
            }
            if let Ok(s) = &o.result
                && let Some(line) = s.plan.held_line()
            {
                eprintln!("  {:<12} {line}", "");
            }
        }
        for o in &outcomes {
            if let Ok(HostSync {
                unlocked: Some(who),
                ..
            }) = &o.result
            {
                eprintln!("  {:<12} broke the lock held by {who}", o.host);
            }
        }
        eprintln!(
            "{} hosts: {changed} {verb}, {failed} failed",
            outcomes.len()
        );
    }
    if failed > 0 {
        let names: Vec<&str> = outcomes
            .iter()
            .filter(|o| o.result.is_err())
            .map(|o| o.host.as_str())
            .collect();
        bail!(
            "sync failed on {failed} of {} hosts: {}",
            outcomes.len(),
            names.join(", ")
        );
    }
    Ok(if args.dry_run && changed > 0 {
        Outcome::Changes
    } else {
        Outcome::Done
    })
}

//! `nxinfra rollback --limit HOST [SERVICE…] [--to N] [--dry-run]`: an apply whose named
//! services go back to the image ids of an earlier deploy, pinned there.

use serde_json::json;

use crate::cli::RollbackArgs;
use crate::host::files::RunMode;
use crate::ops::apply::Deploy;

use super::apply::{Report, run_hosts};
use super::sync::{Prepared, Settings, prepare};
use super::{Ctx, Outcome};

pub fn run(ctx: &Ctx, args: &RollbackArgs) -> anyhow::Result<Outcome> {
    let settings = Settings {
        limit: Some(&args.limit),
        forks: 16,
        mode: if args.dry_run {
            RunMode::DryRun
        } else {
            RunMode::Apply
        },
        diff: false,
        force_unlock: false,
        lock_timeout: args.lock_timeout,
        pull_timeout: args.pull_timeout,
        ssh: &args.ssh,
        ignore_holds: args.ignore_holds,
    };
    let Prepared {
        hosts, work, opts, ..
    } = prepare(ctx, &settings, "rollback")?;
    let deploy = Deploy::Rollback {
        to: args.to,
        services: args.services.clone(),
    };
    if args.to.is_some() && hosts.len() > 1 {
        anyhow::bail!(
            "--to names a deploy of one host's journal, and --limit {} selects {} hosts ({}): select one",
            args.limit,
            hosts.len(),
            hosts.join(", ")
        );
    }
    let outcomes = run_hosts(&hosts, work, &opts, &deploy, args.json);
    let report = Report {
        outcomes: &outcomes,
        would: args.dry_run,
        changed_word: "rolled_back",
    };
    if args.json {
        println!(
            "{}",
            json!({"dry_run": args.dry_run, "hosts": report.json_hosts(), "failed": report.failed().len()})
        );
    } else {
        report.print();
    }
    report.finish("rollback", args.dry_run)
}

//! `nxinfra plan [--limit P] [--diff] [--json]`: what sync and apply would do, per host,
//! changing nothing anywhere (no lock, no file, no pull).

use serde_json::json;

use crate::cli::{PlanArgs, SyncArgs};

use super::apply::{Report, run_hosts};
use super::sync::{Prepared, prepare};
use super::{Ctx, Outcome};

/// The `schema` of `--json` output (docs/plan.schema.json); bumped on any incompatible change.
pub const SCHEMA: &str = "nxinfra-plan/1";

pub fn run(ctx: &Ctx, args: &PlanArgs) -> anyhow::Result<Outcome> {
    let as_sync = SyncArgs {
        limit: args.limit.clone(),
        dry_run: true,
        diff: args.diff,
        forks: args.forks,
        serial: None,
        // Plan takes no host's lock; this is how long its render waits for another's.
        lock_timeout: crate::cli::DEFAULT_LOCK_TIMEOUT,
        force_unlock: false,
        ssh: args.ssh.clone(),
        json: args.json,
    };
    let Prepared {
        hosts,
        work,
        mut opts,
    } = prepare(ctx, &as_sync, "plan")?;
    opts.read_only = true;
    let outcomes = run_hosts(&hosts, work, &opts, args.json);
    let report = Report {
        outcomes: &outcomes,
        would: true,
        changed_word: "changes",
    };
    if args.json {
        println!(
            "{}",
            json!({
                "schema": SCHEMA,
                "changes": report.changed() > 0,
                "failed": report.failed().len(),
                "hosts": report.json_hosts(),
            })
        );
    } else {
        report.print();
    }
    report.finish("plan", true)
}

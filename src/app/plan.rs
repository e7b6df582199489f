//! `nxinfra plan [--limit P] [--diff] [--json]`: what sync and apply would do, per host,
//! changing nothing anywhere (no lock, no file, no pull).

use serde_json::json;

use crate::cli::PlanArgs;
use crate::host::files::RunMode;

use super::apply::{Report, run_hosts};
use super::sync::{Prepared, Settings, prepare};
use super::{Ctx, Outcome};

/// The `schema` of `--json` output (docs/plan.schema.json); bumped on any incompatible change.
pub const SCHEMA: &str = "nxinfra-plan/1";

pub fn run(ctx: &Ctx, args: &PlanArgs) -> anyhow::Result<Outcome> {
    // Plan takes no host's lock; the timeout is how long its render waits for another's.
    let settings = Settings {
        limit: args.limit.limit.as_deref(),
        forks: args.forks,
        mode: RunMode::ReadOnly,
        diff: args.diff,
        force_unlock: false,
        lock_timeout: crate::cli::DEFAULT_LOCK_TIMEOUT,
        // Reads only: nothing is pulled.
        pull_timeout: crate::cli::DEFAULT_PULL_TIMEOUT,
        ssh: &args.ssh,
        ignore_holds: false,
    };
    let Prepared {
        hosts,
        work,
        opts,
        clusters,
    } = prepare(ctx, &settings, "plan")?;
    let nodes = super::cluster::Nodes::of(&clusters, &work);
    let outcomes = run_hosts(
        &hosts,
        work,
        &opts,
        &crate::ops::apply::Deploy::Apply,
        args.json,
    );
    let clustered = nodes.apply(&clusters, &opts, args.json);
    let report = Report {
        outcomes: &outcomes,
        would: true,
        changed_word: "changes",
    };
    if args.json {
        let mut out = json!({
            "schema": SCHEMA,
            "changes": report.changed() > 0 || clustered.iter().any(|c| !c.is_noop()),
            "failed": report.failed().len(),
            "hosts": report.json_hosts(),
        });
        if !clustered.is_empty() {
            out["clusters"] = json!(clustered);
        }
        println!("{out}");
    } else {
        report.print();
        super::cluster::print(&clustered, true);
    }
    super::cluster::finish("plan", report.finish("plan", true), &clustered, true)
}

//! `nxinfra unpin [--limit P] [SERVICE…]`: a rollback's pins dropped, under each host's
//! lock; no container changes until the next apply.

use serde_json::json;

use crate::cli::UnpinArgs;
use crate::ops::journal::unpin_all;

use super::history::{failed, progress, targets};
use super::{Ctx, Outcome};

pub fn run(ctx: &Ctx, args: &UnpinArgs) -> anyhow::Result<Outcome> {
    let (hosts, targets, opts) = targets(
        ctx,
        args.limit.limit.as_deref(),
        &args.ssh,
        "unpin",
        args.lock_timeout,
    )?;
    let progress = progress(ctx, &hosts, args.json);
    let outcomes = unpin_all(targets, &args.services, &opts, &progress);
    progress.clear();
    if args.json {
        let hosts: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|(host, r)| match r {
                Ok(u) => json!({
                    "host": host,
                    "unpinned": u.removed.iter().map(|(s, p)| json!({"service": s, "pin": p})).collect::<Vec<_>>(),
                }),
                Err(e) => json!({"host": host, "error": e}),
            })
            .collect();
        println!("{}", json!({"hosts": hosts}));
    } else {
        for (host, r) in &outcomes {
            match r {
                Ok(u) if u.removed.is_empty() => eprintln!("  {host:<12} no pin"),
                Ok(u) => {
                    for (service, pin) in &u.removed {
                        eprintln!(
                            "  {host:<12} {service}: unpinned (was {}); the next apply follows compose.yml (`nxinfra plan` shows what changes)",
                            pin.describe()
                        );
                    }
                }
                Err(e) => eprintln!("  {host:<12} FAILED: {e}"),
            }
        }
    }
    failed("unpin", &outcomes)?;
    Ok(Outcome::Done)
}

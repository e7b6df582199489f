//! `nxinfra prune [--limit P] [--dry-run]`: the images no container, recent deploy or pin
//! needs, removed under each host's lock.

use serde_json::json;

use crate::cli::PruneArgs;
use crate::ops::journal::prune_all;

use super::history::{failed, progress, targets};
use super::{Ctx, Outcome};

pub fn run(ctx: &Ctx, args: &PruneArgs) -> anyhow::Result<Outcome> {
    if args.forks == 0 {
        anyhow::bail!("--forks must be at least 1");
    }
    let (hosts, targets, mut opts) = targets(
        ctx,
        args.limit.limit.as_deref(),
        &args.ssh,
        if args.dry_run {
            "prune --dry-run"
        } else {
            "prune"
        },
        args.lock_timeout,
    )?;
    opts.forks = args.forks;
    opts.dry_run = args.dry_run;
    // A held host (nxinfra_hold) keeps its images too.
    let now = std::time::SystemTime::now();
    let (held, targets): (Vec<_>, Vec<_>) = targets
        .into_iter()
        .partition(|t| t.holds.at(now).0.host.is_some());
    let held: Vec<(String, crate::model::hold::Hold)> = held
        .into_iter()
        .filter_map(|t| Some((t.host.clone(), t.holds.at(now).0.host?)))
        .collect();
    let hosts: Vec<String> = hosts
        .into_iter()
        .filter(|h| !held.iter().any(|(held, _)| held == h))
        .collect();
    let progress = progress(ctx, &hosts, args.json);
    let outcomes = prune_all(targets, &opts, &progress);
    progress.clear();
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    if args.json {
        let hosts: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|(host, r)| match r {
                Ok(p) => {
                    json!({"host": host, "removed": p.removed, "kept": p.kept, "bytes": p.bytes()})
                }
                Err(e) => json!({"host": host, "error": e}),
            })
            .chain(
                held.iter()
                    .map(|(host, hold)| json!({"host": host, "held": hold.json()})),
            )
            .collect();
        println!("{}", json!({"dry_run": args.dry_run, "hosts": hosts}));
    } else {
        for (host, r) in &outcomes {
            match r {
                Ok(p) => {
                    eprintln!(
                        "  {host:<12} {verb} {} images ({} MB), kept {}",
                        p.removed.len(),
                        p.bytes() / 1_000_000,
                        p.kept
                    );
                    for image in &p.removed {
                        let tags = if image.tags.is_empty() {
                            "untagged".to_string()
                        } else {
                            image.tags.join(", ")
                        };
                        eprintln!("    {} ({tags})", image.id);
                    }
                }
                Err(e) => eprintln!("  {host:<12} FAILED: {e}"),
            }
        }
        for (host, hold) in &held {
            eprintln!(
                "  {host:<12} held: {} (its images are kept)",
                hold.describe()
            );
        }
    }
    failed("prune", &outcomes)?;
    let found = outcomes
        .iter()
        .any(|(_, r)| r.as_ref().is_ok_and(|p| !p.removed.is_empty()));
    Ok(if args.dry_run && found {
        Outcome::Changes
    } else {
        Outcome::Done
    })
}

//! `nxinfra render [--limit P] [--check] [--json]`

use std::time::{Duration, Instant};

use crate::cli::RenderArgs;
use crate::model::inventory::limit;
use crate::render::{self, Job};

use super::{Ctx, Outcome};

pub fn run(ctx: &Ctx, args: &RenderArgs) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let inventory = ctx.inventory()?;
    let hosts = limit::select(&inventory, args.limit.limit.as_deref())?;
    let secrets = ctx.secrets()?;
    let job = Job {
        root: &ctx.root,
        inventory: &inventory,
        secrets: &secrets,
        hosts: &hosts,
        limited: args.limit.limit.is_some(),
        limits: ctx.render_limits,
    };
    if args.check {
        let diffs = render::check(&job)?;
        if args.json {
            println!(
                "{}",
                serde_json::json!({ "hosts": hosts, "up_to_date": diffs.is_empty(), "differences": diffs })
            );
        } else if diffs.is_empty() {
            eprintln!("rendered/ is up to date ({} hosts)", hosts.len());
        } else {
            eprintln!("rendered/ differs from what the sources produce:");
            for d in &diffs {
                eprintln!("  {d}");
            }
            eprintln!("run `nxinfra render` to update it");
        }
        return Ok(if diffs.is_empty() {
            Outcome::Done
        } else {
            Outcome::Changes
        });
    }
    let reports = render::render(
        &job,
        Duration::from_secs(args.lock_timeout),
        super::waiting_for_render,
    )?
    .reports;
    let files: usize = reports.iter().map(|r| r.files).sum();
    let secret_files: usize = reports.iter().map(|r| r.secret_files).sum();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "hosts": reports,
                "files": files,
                "secret_files": secret_files,
                "updated": reports.iter().filter(|r| r.changed).count(),
                "elapsed_ms": start.elapsed().as_millis() as u64,
            })
        );
    } else {
        for r in &reports {
            eprintln!(
                "  {:<12} {:>4} files, {:>3} private (0600)  {}",
                r.host,
                r.files,
                r.secret_files,
                if r.changed { "updated" } else { "unchanged" }
            );
        }
        let updated = reports.iter().filter(|r| r.changed).count();
        eprintln!(
            "rendered {} hosts ({updated} updated), {files} files, into {}/ in {} ms",
            reports.len(),
            render::RENDERED_DIR,
            start.elapsed().as_millis()
        );
    }
    Ok(Outcome::Done)
}

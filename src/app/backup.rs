//! `nxinfra backup run|list|verify|status|restore|drill`: the edge of [`crate::ops::backup`].
//! The declarations are checked here, against the inventory and the secrets, before anything
//! is dumped; each destination is reached once per run (a destination host's connection, a
//! bucket with its keys) and shared by every backup that names it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::bail;
use serde_json::json;

use crate::cli::{
    BackupCommand, BackupDirArg, BackupDrillArgs, BackupRestoreArgs, BackupRunArgs,
    BackupSelectArgs,
};
use crate::host::session::SshOptions;
use crate::model::backup::{self, Backup, Destination, Kind};
use crate::model::inventory::{Inventory, limit};
use crate::model::target::{Defaults, Target};
use crate::ops::backup::dest::Place;
use crate::ops::backup::s3::Bucket;
use crate::ops::backup::store;
use crate::ops::backup::{self as backups, Job, Made, Options, Row, RowResult};
use crate::plan::backup::{Freshness, age};
use crate::secrets::age_file::{self, Identities};
use crate::secrets::store::RECIPIENTS_FILE;
use crate::util::progress::{self, Progress};
use crate::util::size;

use super::{Ctx, Outcome};

pub fn run(ctx: &Ctx, cmd: BackupCommand) -> anyhow::Result<Outcome> {
    match cmd {
        BackupCommand::Run(args) => make(ctx, &args),
        BackupCommand::List(args) => list(ctx, &args.select),
        BackupCommand::Verify(args) => verify(ctx, &args.select, args.all),
        BackupCommand::Status(args) => status(ctx, &args.select),
        BackupCommand::Restore(args) => restore(ctx, &args),
        BackupCommand::Drill(args) => drill(ctx, &args),
    }
}

fn folder_of(ctx: &Ctx, arg: &BackupDirArg) -> PathBuf {
    arg.dir
        .clone()
        .unwrap_or_else(|| ctx.root.join(store::DEFAULT_DIR))
}

/// The selected hosts that declare backups (`only`: that one), their declarations checked
/// against the inventory: every error names the file and line, the host, the backup.
fn declared(
    ctx: &Ctx,
    inventory: &Inventory,
    pattern: Option<&str>,
    only: Option<&str>,
) -> anyhow::Result<Vec<(Target, Vec<Backup>)>> {
    let defaults = Defaults::new(&ctx.root);
    let mut out = Vec::new();
    for host in limit::select(inventory, pattern)? {
        let spec = Target::of_host(inventory, &host, &defaults)?;
        check_destinations(inventory, &spec)?;
        let chosen: Vec<Backup> = spec
            .backups
            .iter()
            .filter(|b| only.is_none_or(|o| o == b.name))
            .cloned()
            .collect();
        if !chosen.is_empty() {
            out.push((spec, chosen));
        }
    }
    if out.is_empty() {
        match only {
            Some(only) => bail!("no selected host declares a backup named {only:?}"),
            None => bail!(
                "no selected host declares {} (see docs/backup.md)",
                backup::VARIABLE
            ),
        }
    }
    Ok(out)
}

/// A host destination must be another host of the inventory.
fn check_destinations(inventory: &Inventory, spec: &Target) -> anyhow::Result<()> {
    let at = inventory.origin(&spec.host, backup::VARIABLE);
    for b in &spec.backups {
        for d in &b.to {
            if let Kind::Host { host, .. } = &d.kind {
                if inventory.hosts.get(host).is_none() {
                    bail!(
                        "{at}: host {}: {}: backup {}: destination {}: {host:?} is not a host of \
                         the inventory (hosts: {})",
                        spec.host,
                        backup::VARIABLE,
                        b.name,
                        d.name,
                        inventory
                            .hosts
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                if *host == spec.host {
                    bail!(
                        "{at}: host {}: {}: backup {}: destination {}: a host cannot keep its own \
                         backups (its loss would take them with it); name another host",
                        spec.host,
                        backup::VARIABLE,
                        b.name,
                        d.name
                    );
                }
            }
        }
    }
    Ok(())
}

/// The identity's keys, when there is an identity file.
fn identities(ctx: &Ctx) -> anyhow::Result<Option<(Identities, PathBuf)>> {
    match ctx.keys.identity_file() {
        Some(file) if file.exists() => Ok(Some((age_file::read_identities(&file)?, file))),
        _ => Ok(None),
    }
}

fn require_identities(ctx: &Ctx, what: &str) -> anyhow::Result<Identities> {
    match identities(ctx)? {
        Some((ids, _)) => Ok(ids),
        None => bail!(
            "{what} decrypts backups: it needs the identity (--identity, NXINFRA_AGE_KEY_FILE or \
             ~/.config/nxinfra/identity.txt)"
        ),
    }
}

/// Whether the identity in `file` is one of `recipients` (can read what is encrypted to them).
fn is_recipient(file: &Path, recipients: &[age::x25519::Recipient]) -> bool {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mine = age_file::public_keys_of(&text);
    recipients.iter().any(|r| mine.contains(&r.to_string()))
}

/// Each backup's destinations reached: one place per destination, shared by every backup
/// naming it. `from`: only that destination (a backup without it is left out). The S3 keys
/// are read from the secrets here; a missing path is an error naming where it is declared.
fn jobs(
    ctx: &Ctx,
    inventory: &Inventory,
    work: Vec<(Target, Vec<Backup>)>,
    dir: &Path,
    ssh: &SshOptions,
    from: Option<&str>,
) -> anyhow::Result<Vec<(Target, Vec<Job>)>> {
    let defaults = Defaults::new(&ctx.root);
    let needs_keys = work
        .iter()
        .flat_map(|(_, bs)| bs.iter().flat_map(|b| &b.to))
        .any(|d| matches!(d.kind, Kind::S3(_)) && from.is_none_or(|f| f == d.name));
    let secrets = if needs_keys {
        let leaves: BTreeMap<String, String> = ctx.secrets()?.leaves().into_iter().collect();
        Some(leaves)
    } else {
        None
    };
    let mut places: BTreeMap<String, Arc<Place>> = BTreeMap::new();
    let mut out = Vec::new();
    for (target, list) in work {
        let at = inventory.origin(&target.host, backup::VARIABLE);
        let mut host_jobs = Vec::new();
        for b in list {
            let mut reached = Vec::new();
            for d in &b.to {
                if from.is_some_and(|f| f != d.name) {
                    continue;
                }
                let (key, make): (String, Box<dyn FnOnce() -> anyhow::Result<Place>>) = match &d
                    .kind
                {
                    Kind::Local => (
                        "local".into(),
                        Box::new(|| {
                            Ok(Place::Local {
                                dir: dir.to_path_buf(),
                            })
                        }),
                    ),
                    Kind::Host { host, dir: remote } => {
                        let spec = Target::of_host(inventory, host, &defaults)?;
                        let remote = remote.clone().unwrap_or_else(|| {
                            format!(
                                "{}/{}/backups",
                                spec.base_dir.trim_end_matches('/'),
                                crate::host::remote::STATE_DIR
                            )
                        });
                        (
                            format!("host {host} {remote}"),
                            Box::new(move || {
                                Ok(Place::Host {
                                    target: Box::new(spec),
                                    dir: remote,
                                    ssh: ssh.clone(),
                                })
                            }),
                        )
                    }
                    Kind::S3(s3) => {
                        let leaves = secrets.as_ref();
                        let key_of = |path: &str| -> anyhow::Result<String> {
                            match leaves.and_then(|l| l.get(path)) {
                                Some(v) if !v.is_empty() => Ok(v.clone()),
                                _ => bail!(
                                    "{at}: host {}: {}: backup {}: destination {}: the \
                                         secrets have no {path:?} (nxinfra secrets set {path})",
                                    target.host,
                                    backup::VARIABLE,
                                    b.name,
                                    d.name
                                ),
                            }
                        };
                        let access = key_of(&s3.access_key)?;
                        let secret = key_of(&s3.secret_key)?;
                        let s3 = s3.clone();
                        (
                            format!(
                                "s3 {} {} {} {}",
                                s3.endpoint.clone().unwrap_or_default(),
                                s3.bucket,
                                s3.prefix,
                                s3.access_key
                            ),
                            Box::new(move || Ok(Place::S3(Bucket::new(&s3, &access, &secret)?))),
                        )
                    }
                };
                let place = match places.get(&key) {
                    Some(p) => p.clone(),
                    None => {
                        let p = Arc::new(make()?);
                        places.insert(key, p.clone());
                        p
                    }
                };
                reached.push((d.clone(), place));
            }
            if !reached.is_empty() {
                host_jobs.push(Job {
                    backup: b,
                    places: reached,
                });
            }
        }
        if !host_jobs.is_empty() {
            out.push((target, host_jobs));
        }
    }
    if let (Some(from), true) = (from, out.is_empty()) {
        bail!("no selected backup has a destination named {from:?}");
    }
    Ok(out)
}

fn make(ctx: &Ctx, args: &BackupRunArgs) -> anyhow::Result<Outcome> {
    if args.forks == 0 {
        bail!("--forks must be at least 1");
    }
    let inventory = ctx.inventory()?;
    let work = declared(
        ctx,
        &inventory,
        args.limit.limit.as_deref(),
        args.only.as_deref(),
    )?;
    let recipients = age_file::read_recipients(&ctx.root.join(RECIPIENTS_FILE))?;
    // A command's stderr goes into errors: the secrets' values are redacted from it.
    let _ = ctx.secrets();
    let dir = folder_of(ctx, &args.dir);
    let ssh = super::ssh_options(&args.ssh);
    let work = jobs(ctx, &inventory, work, &dir, &ssh, None)?;
    let ids = match identities(ctx)? {
        Some((ids, file)) if is_recipient(&file, &recipients) => Some(ids),
        Some((_, file)) => {
            eprintln!(
                "note: {} is not one of {RECIPIENTS_FILE}: it could not read the new backups, \
                 so they are not read back (verified)",
                file.display()
            );
            None
        }
        None => {
            eprintln!("note: no identity: the new backups are not read back (verified)");
            None
        }
    };
    let hosts: Vec<String> = work.iter().map(|(t, _)| t.host.clone()).collect();
    let mode = if args.json {
        progress::Mode::TerminalOnly
    } else {
        progress::Mode::Auto
    };
    let progress = Arc::new(Progress::new(&hosts, mode, ctx.redactor()));
    let opts = Options {
        dir,
        recipients,
        identities: ids,
        ssh,
        redactor: ctx.redactor(),
        forks: args.forks,
    };
    let outcomes = backups::backup_all(work, opts, progress);

    let mut failed: Vec<String> = Vec::new();
    let mut failed_hosts = 0;
    let mut report = Vec::new();
    for (host, result) in &outcomes {
        match result {
            Err(e) => {
                failed_hosts += 1;
                failed.push(format!("{host}: {e}"));
                report.push(json!({"host": host, "status": "failed", "error": e}));
            }
            Ok(done) => {
                let mut entries = Vec::new();
                let mut ok = true;
                for (name, r) in done {
                    match r {
                        Ok(made) => {
                            for (_, e) in made.failed() {
                                ok = false;
                                failed.push(format!("{host}: backup {name}: {e}"));
                            }
                            entries.push(serde_json::to_value(made).unwrap_or_default());
                        }
                        Err(e) => {
                            ok = false;
                            failed.push(format!("{host}: backup {name}: {e}"));
                            entries.push(json!({"name": name, "error": e}));
                        }
                    }
                }
                if !ok {
                    failed_hosts += 1;
                }
                report.push(json!({
                    "host": host,
                    "status": if ok { "done" } else { "failed" },
                    "backups": entries,
                }));
            }
        }
    }
    if args.json {
        println!("{}", json!({ "hosts": report }));
    } else {
        for (host, result) in &outcomes {
            if let Ok(done) = result {
                for made in done.iter().filter_map(|(_, r)| r.as_ref().ok()) {
                    print_made(host, made);
                }
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "backup failed on {failed_hosts} of {} hosts:\n  {}",
            outcomes.len(),
            failed.join("\n  ")
        );
    }
    Ok(Outcome::Done)
}

fn print_made(host: &str, made: &Made) {
    println!(
        "{host} {}: {} dumped, {} stored{} ({} ms): {}",
        made.name,
        size::human(made.written.bytes),
        size::human(made.written.stored),
        if made.verified {
            ", read back"
        } else {
            ", not read back (no identity)"
        },
        made.elapsed_ms,
        made.file,
    );
    for d in &made.destinations {
        match (&d.location, &d.error) {
            (_, Some(e)) => println!("  {}: FAILED: {e}", d.name),
            (Some(location), None) => {
                let removed = match d.removed.len() {
                    0 => String::new(),
                    n => format!(" ({n} older removed)"),
                };
                println!("  {}: {location}{removed}", d.name);
            }
            (None, None) => {}
        }
    }
}

/// The rows' failures, as the error lists them; prints nothing.
fn row_failures<T>(rows: &[Row<T>]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| match &r.result {
            RowResult::Failed { error } => Some(format!(
                "{} {} at {}: {error}",
                r.host, r.backup, r.destination
            )),
            RowResult::Ok(_) => None,
        })
        .collect()
}

fn bail_failures(what: &str, failures: Vec<String>) -> anyhow::Result<Outcome> {
    match failures.len() {
        0 => Ok(Outcome::Done),
        1 => bail!("{what}: {}", failures[0]),
        n => bail!("{what} ({n}):\n  {}", failures.join("\n  ")),
    }
}

/// Each host's backups with their destinations reached.
type HostJobs = Vec<(String, Vec<Job>)>;

/// The selected backups with their destinations reached, for the reading commands, and the
/// local backups' folder.
fn selected(ctx: &Ctx, args: &BackupSelectArgs) -> anyhow::Result<(HostJobs, PathBuf)> {
    let inventory = ctx.inventory()?;
    let work = declared(
        ctx,
        &inventory,
        args.limit.limit.as_deref(),
        args.only.as_deref(),
    )?;
    let dir = folder_of(ctx, &args.dir);
    let ssh = super::ssh_options(&args.ssh);
    let work = jobs(ctx, &inventory, work, &dir, &ssh, args.from.as_deref())?;
    Ok((work.into_iter().map(|(t, j)| (t.host, j)).collect(), dir))
}

/// How many forks the reading commands use.
const READ_FORKS: usize = 4;

fn list(ctx: &Ctx, args: &BackupSelectArgs) -> anyhow::Result<Outcome> {
    let (work, _) = selected(ctx, args)?;
    let rows = backups::list_all(work, READ_FORKS, ctx.redactor());
    if args.json {
        println!("{}", json!({ "backups": rows }));
    } else {
        for r in &rows {
            match &r.result {
                RowResult::Ok(c) if c.copies.is_empty() => {
                    println!("{} {} {} (none kept)", r.host, r.backup, r.destination)
                }
                RowResult::Ok(c) => {
                    for c in &c.copies {
                        println!(
                            "{} {} {} {} {} {}",
                            r.host,
                            r.backup,
                            r.destination,
                            c.time,
                            size::human(c.stored),
                            c.file
                        );
                    }
                }
                RowResult::Failed { error } => {
                    println!("{} {} {} FAILED: {error}", r.host, r.backup, r.destination)
                }
            }
        }
    }
    bail_failures("cannot list every destination", row_failures(&rows))
}

fn verify(ctx: &Ctx, args: &BackupSelectArgs, all: bool) -> anyhow::Result<Outcome> {
    let ids = require_identities(ctx, "verifying")?;
    // A check's output is shown: the secrets' values are redacted from it.
    let _ = ctx.secrets();
    let (work, dir) = selected(ctx, args)?;
    let rows = backups::verify_all(work, READ_FORKS, ctx.redactor(), &ids, &dir, all);
    let mut bad = row_failures(&rows);
    for r in &rows {
        let Some(copies) = r.result.ok() else {
            if !args.json
                && let RowResult::Failed { error } = &r.result
            {
                println!("{} {} {} FAILED: {error}", r.host, r.backup, r.destination);
            }
            continue;
        };
        for v in &copies.copies {
            let line = match (&v.error, &v.check) {
                (Some(e), _) => {
                    bad.push(format!("{} {} at {}: {e}", r.host, r.backup, r.destination));
                    format!(
                        "{} {} {} {}: BAD: {e}",
                        r.host, r.backup, r.destination, v.file
                    )
                }
                (None, check) => {
                    let check = match check {
                        None => String::new(),
                        Some(c) if c.passed() => format!(", check passed{}", said(&c.output)),
                        Some(c) => {
                            bad.push(format!(
                                "{} {} at {}: {}: the check exited with status {}{}",
                                r.host,
                                r.backup,
                                r.destination,
                                v.file,
                                c.code,
                                said(&c.output)
                            ));
                            format!(", CHECK FAILED (status {}){}", c.code, said(&c.output))
                        }
                    };
                    format!(
                        "{} {} {} {}: reads back ({} dumped){check}",
                        r.host,
                        r.backup,
                        r.destination,
                        v.file,
                        size::human(v.bytes.unwrap_or(0))
                    )
                }
            };
            if !args.json {
                println!("{line}");
            }
        }
    }
    if args.json {
        println!("{}", json!({ "backups": rows }));
    }
    bail_failures("verification failed", bad)
}

/// `: what it said` (one line), or nothing.
fn said(output: &str) -> String {
    match output.trim() {
        "" => String::new(),
        text => format!(": {}", text.replace('\n', " / ")),
    }
}

fn status(ctx: &Ctx, args: &BackupSelectArgs) -> anyhow::Result<Outcome> {
    let (work, _) = selected(ctx, args)?;
    let rows = backups::status_all(work, READ_FORKS, ctx.redactor(), SystemTime::now());
    let failures = row_failures(&rows);
    let stale = rows
        .iter()
        .filter_map(|r| r.result.ok())
        .filter(|s| s.freshness.is_bad())
        .count();
    if args.json {
        println!("{}", json!({ "backups": rows, "stale": stale }));
    } else {
        let mut table = vec![
            [
                "HOST",
                "BACKUP",
                "DESTINATION",
                "NEWEST",
                "AGE",
                "SIZE",
                "MAX AGE",
                "STATE",
            ]
            .map(String::from),
        ];
        for r in &rows {
            let mut line = [r.host.clone(), r.backup.clone(), r.destination.clone()]
                .into_iter()
                .chain(match &r.result {
                    RowResult::Ok(s) => {
                        let newest = s.newest.as_ref();
                        let (age_text, state) = match &s.freshness {
                            Freshness::Fresh { age_secs } => (age(*age_secs), "ok".to_string()),
                            Freshness::Stale { age_secs, .. } => {
                                (age(*age_secs), "STALE".to_string())
                            }
                            Freshness::Missing => ("-".into(), "MISSING".into()),
                        };
                        [
                            newest.map_or("-".into(), |c| c.time.clone()),
                            age_text,
                            newest.map_or("-".into(), |c| size::human(c.stored)),
                            s.max_age_secs.map_or("-".into(), age),
                            state,
                        ]
                    }
                    RowResult::Failed { error } => [
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        format!("FAILED: {error}"),
                    ],
                });
            table.push(std::array::from_fn(|_| line.next().unwrap_or_default()));
        }
        let widths: Vec<usize> = (0..8)
            .map(|i| table.iter().map(|r| r[i].len()).max().unwrap_or(0))
            .collect();
        for r in &table {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == 7 {
                        c.clone()
                    } else {
                        format!("{c:<w$}", w = widths[i])
                    }
                })
                .collect();
            println!("{}", cells.join("  "));
        }
    }
    if !failures.is_empty() {
        return bail_failures("cannot read every destination", failures);
    }
    if stale > 0 {
        eprintln!(
            "{stale} of {} destinations without a copy younger than their max_age (stale or \
             missing)",
            rows.len()
        );
        return Ok(Outcome::Changes);
    }
    Ok(Outcome::Done)
}

/// The backup `name` of `host` and the destination `from` (default: its first).
fn one_backup(
    ctx: &Ctx,
    host: &str,
    name: &str,
    from: Option<&str>,
    dir_arg: &BackupDirArg,
    ssh: &SshOptions,
) -> anyhow::Result<(Target, Backup, Destination, Arc<Place>, PathBuf)> {
    let inventory = ctx.inventory()?;
    inventory.require_host(host)?;
    // A bad declaration is its own error, not "no such backup".
    let Some((target, mut list)) = declared(ctx, &inventory, Some(host), None)?
        .into_iter()
        .next()
        .filter(|(_, list)| list.iter().any(|b| b.name == name))
        .map(|(t, list)| {
            (
                t,
                list.into_iter()
                    .filter(|b| b.name == name)
                    .collect::<Vec<_>>(),
            )
        })
    else {
        bail!(
            "host {host} declares no backup named {name:?} in {}",
            backup::VARIABLE
        );
    };
    let b = list.remove(0);
    let d = match from {
        Some(f) => match b.destination(f) {
            Some(d) => d.clone(),
            None => bail!(
                "backup {name} of {host} has no destination {f:?} (its destinations: {})",
                b.destination_names()
            ),
        },
        None => b.to[0].clone(),
    };
    let dir = folder_of(ctx, dir_arg);
    let mut reached = jobs(
        ctx,
        &inventory,
        vec![(target, vec![b])],
        &dir,
        ssh,
        Some(&d.name),
    )?;
    let Some((target, mut js)) = reached.pop() else {
        bail!(
            "backup {name} of {host}: destination {} cannot be reached",
            d.name
        );
    };
    let job = js.remove(0);
    let Some((d, place)) = job.places.into_iter().next() else {
        bail!(
            "backup {name} of {host}: destination {} cannot be reached",
            d.name
        );
    };
    Ok((target, job.backup, d, place, dir))
}

fn restore(ctx: &Ctx, args: &BackupRestoreArgs) -> anyhow::Result<Outcome> {
    let ssh = super::ssh_options(&args.ssh);
    let (target, backup, d, place, dir) = one_backup(
        ctx,
        &args.host,
        &args.name,
        args.from.as_deref(),
        &args.dir,
        &ssh,
    )?;
    let ids = require_identities(ctx, "restoring")?;
    let _ = ctx.secrets();
    eprintln!(
        "restoring {} of {} {} from {} ...",
        backup.name,
        args.host,
        backup.place(),
        d.name
    );
    let file = args.file.clone();
    let outcome = crate::host::runner::for_hosts(
        vec![(args.host.clone(), ())],
        1,
        ctx.redactor(),
        |_, ()| {
            let (target, backup, place, ids, ssh, dir, file, d) =
                (&target, &backup, &place, &ids, &ssh, &dir, &file, &d);
            async move {
                backups::restore(
                    target,
                    backup,
                    &d.name,
                    place,
                    file.as_deref(),
                    ids,
                    ssh,
                    dir,
                )
                .await
            }
        },
    );
    match outcome.into_iter().next() {
        Some((_, Ok(r))) => {
            println!(
                "{} restored from {} ({})",
                args.name,
                r.location,
                size::human(r.bytes)
            );
            Ok(Outcome::Done)
        }
        Some((_, Err(e))) => bail!("restore failed: {e}"),
        None => bail!("restore failed: no result"),
    }
}

fn drill(ctx: &Ctx, args: &BackupDrillArgs) -> anyhow::Result<Outcome> {
    let inventory = ctx.inventory()?;
    let work = declared(
        ctx,
        &inventory,
        args.limit.limit.as_deref(),
        Some(&args.name),
    )?;
    let without: Vec<&str> = work
        .iter()
        .filter(|(_, b)| b[0].drill.is_none())
        .map(|(t, _)| t.host.as_str())
        .collect();
    if without.len() == work.len() {
        bail!(
            "backup {} declares no drill on {} (nxinfra_backups: drill: image, restore, check; \
             see docs/backup.md)",
            args.name,
            without.join(", ")
        );
    }
    for host in &without {
        eprintln!(
            "note: {host}: backup {} declares no drill: not drilled",
            args.name
        );
    }
    let ids = require_identities(ctx, "a drill")?;
    let _ = ctx.secrets();
    let ssh = super::ssh_options(&args.ssh);
    let dir = folder_of(ctx, &args.dir);
    let mut items = Vec::new();
    for (target, list) in work {
        if list[0].drill.is_none() {
            continue;
        }
        let (target, backup, d, place, _) = one_backup(
            ctx,
            &target.host,
            &args.name,
            args.from.as_deref(),
            &args.dir,
            &ssh,
        )?;
        items.push((target.host.clone(), (target, backup, d, place)));
    }
    let redactor = ctx.redactor();
    let outcomes = crate::host::runner::for_hosts(items, READ_FORKS, ctx.redactor(), |_, item| {
        let (ids, ssh, dir, redactor) = (&ids, &ssh, &dir, &redactor);
        async move {
            let (target, backup, d, place) = item;
            backups::drill(&target, &backup, &d.name, &place, ids, ssh, dir, redactor).await
        }
    });
    let mut failed = Vec::new();
    let mut report = Vec::new();
    for (host, result) in &outcomes {
        match result {
            Ok(r) => {
                let verdict = if r.passed { "PASSED" } else { "FAILED" };
                if !args.json {
                    println!(
                        "{host} {} drill {verdict}: {} from {} restored into {} ({}), {} {}{}",
                        args.name,
                        r.file,
                        r.destination,
                        r.image,
                        size::human(r.bytes),
                        r.step,
                        match r.code {
                            Some(c) => format!("exited with status {c}"),
                            None => "did not end".into(),
                        },
                        said(&r.output)
                    );
                    if let Some(e) = &r.cleanup_error {
                        println!(
                            "  the drill's container {} was not removed: {e}",
                            r.container
                        );
                    }
                }
                if !r.passed {
                    failed.push(format!("{host}: the {} failed{}", r.step, said(&r.output)));
                }
                report.push(json!({"host": host, "drill": r}));
            }
            Err(e) => {
                if !args.json {
                    println!("{host} {} drill FAILED: {e}", args.name);
                }
                failed.push(format!("{host}: {e}"));
                report.push(json!({"host": host, "error": e}));
            }
        }
    }
    if args.json {
        println!("{}", json!({ "drills": report }));
    }
    match failed.len() {
        0 => Ok(Outcome::Done),
        _ => bail!("drill of {} failed:\n  {}", args.name, failed.join("\n  ")),
    }
}

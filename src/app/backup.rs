//! `nxinfra backup run|list|verify|restore`: the edge of [`crate::backup`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::json;

use crate::cli::{BackupCommand, BackupDirArg, BackupListArgs, BackupRestoreArgs, BackupRunArgs};
use crate::model::backup::{self, Backup};
use crate::model::inventory::{Inventory, limit};
use crate::model::target::{Defaults, Target};
use crate::ops::backup::store;
use crate::ops::backup::{self as backups, Made, Options};
use crate::secrets::age_file::{self, Identities};
use crate::secrets::store::RECIPIENTS_FILE;
use crate::util::progress::{self, Progress};

use super::{Ctx, Outcome};

pub fn run(ctx: &Ctx, cmd: BackupCommand) -> anyhow::Result<Outcome> {
    match cmd {
        BackupCommand::Run(args) => make(ctx, &args),
        BackupCommand::List(args) => list(ctx, &args, false),
        BackupCommand::Verify(args) => list(ctx, &args, true),
        BackupCommand::Restore(args) => restore(ctx, &args),
    }
}

fn folder_of(ctx: &Ctx, arg: &BackupDirArg) -> PathBuf {
    arg.dir
        .clone()
        .unwrap_or_else(|| ctx.root.join(store::DEFAULT_DIR))
}

/// The specs of the selected hosts that declare backups (in [`Target::backups`]).
fn declared(
    defaults: &Defaults,
    inventory: &Inventory,
    pattern: Option<&str>,
) -> anyhow::Result<Vec<Target>> {
    let mut out = Vec::new();
    for host in limit::select(inventory, pattern)? {
        let spec = target(defaults, inventory, &host)?;
        if !spec.backups.is_empty() {
            out.push(spec);
        }
    }
    if out.is_empty() {
        bail!(
            "no selected host declares {} (see docs/backup.md)",
            backup::VARIABLE
        );
    }
    Ok(out)
}

/// The identity's keys, when there is an identity file.
fn identities(ctx: &Ctx) -> anyhow::Result<Option<(Identities, PathBuf)>> {
    match ctx.keys.identity_file() {
        Some(file) if file.exists() => Ok(Some((age_file::read_identities(&file)?, file))),
        _ => Ok(None),
    }
}

/// Whether the identity in `file` is one of `recipients` (can read what is encrypted to them).
fn is_recipient(file: &Path, recipients: &[age::x25519::Recipient]) -> bool {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mine = age_file::public_keys_of(&text);
    recipients.iter().any(|r| mine.contains(&r.to_string()))
}

fn target(defaults: &Defaults, inventory: &Inventory, host: &str) -> anyhow::Result<Target> {
    Ok(Target::from_vars(
        host,
        &inventory.host_vars(host)?,
        defaults,
    )?)
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn make(ctx: &Ctx, args: &BackupRunArgs) -> anyhow::Result<Outcome> {
    if args.forks == 0 {
        bail!("--forks must be at least 1");
    }
    let inventory = ctx.inventory()?;
    let defaults = Defaults::new(&ctx.root);
    let mut work = Vec::new();
    for spec in declared(&defaults, &inventory, args.limit.limit.as_deref())? {
        let chosen: Vec<Backup> = spec
            .backups
            .iter()
            .filter(|b| args.only.as_ref().is_none_or(|o| *o == b.name))
            .cloned()
            .collect();
        if !chosen.is_empty() {
            work.push((spec, chosen));
        }
    }
    if let (Some(only), true) = (&args.only, work.is_empty()) {
        bail!("no selected host declares a backup named {only:?}");
    }
    let recipients = age_file::read_recipients(&ctx.root.join(RECIPIENTS_FILE))?;
    // A command's stderr goes into errors: the secrets' values are redacted from it.
    let _ = ctx.secrets();
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
        dir: folder_of(ctx, &args.dir),
        recipients,
        identities: ids,
        ssh: super::ssh_options(&args.ssh),
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
                for (name, r) in done {
                    match r {
                        Ok(made) => entries.push(made_json(made)),
                        Err(e) => {
                            failed.push(format!("{host}: backup {name}: {e}"));
                            entries.push(json!({"name": name, "error": e}));
                        }
                    }
                }
                let ok = done.iter().all(|(_, r)| r.is_ok());
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
                for (_, made) in done.iter().filter_map(|(n, r)| Some((n, r.as_ref().ok()?))) {
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

fn made_json(made: &Made) -> serde_json::Value {
    serde_json::to_value(made).unwrap_or(serde_json::Value::Null)
}

fn print_made(host: &str, made: &Made) {
    let removed = match made.removed.len() {
        0 => String::new(),
        n => format!(", {n} older removed"),
    };
    println!(
        "{host} {}: {} dumped, {} stored{}{removed} ({} ms): {}",
        made.name,
        size(made.written.bytes),
        size(made.written.stored),
        if made.verified {
            ", read back"
        } else {
            ", not read back (no identity)"
        },
        made.elapsed_ms,
        made.written.file.display()
    );
}

fn list(ctx: &Ctx, args: &BackupListArgs, verify: bool) -> anyhow::Result<Outcome> {
    let inventory = ctx.inventory()?;
    let dir = folder_of(ctx, &args.dir);
    let ids = if verify {
        match identities(ctx)? {
            Some((ids, _)) => Some(ids),
            None => bail!(
                "verifying decrypts every backup: it needs the identity (--identity, \
                 NXINFRA_AGE_KEY_FILE or ~/.config/nxinfra/identity.txt)"
            ),
        }
    } else {
        None
    };
    let mut bad = Vec::new();
    let mut report = Vec::new();
    let defaults = Defaults::new(&ctx.root);
    for spec in declared(&defaults, &inventory, args.limit.limit.as_deref())? {
        let host = &spec.host;
        for backup in &spec.backups {
            let folder = store::folder(&dir, host, &backup.name);
            let kept = store::kept(&folder, &backup.name)
                .with_context(|| format!("cannot read {}", folder.display()))?;
            let mut files = Vec::new();
            for file in &kept {
                let path = folder.join(file);
                let stored = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                let mut entry = json!({
                    "file": path,
                    "time": store::time_of(&backup.name, file),
                    "stored": stored,
                });
                let mut line = format!(
                    "{host} {} {} {}",
                    backup.name,
                    store::time_of(&backup.name, file).unwrap_or_default(),
                    size(stored)
                );
                if let Some(ids) = &ids {
                    match store::verify(&path, ids) {
                        Ok((bytes, sha)) => {
                            entry["verified"] = json!(true);
                            entry["bytes"] = json!(bytes);
                            entry["sha256"] = json!(sha);
                            line.push_str(&format!(" ok ({} dumped)", size(bytes)));
                        }
                        Err(e) => {
                            entry["verified"] = json!(false);
                            entry["error"] = json!(e.to_string());
                            line.push_str(&format!(" BAD: {e}"));
                            bad.push(format!("{}: {e}", path.display()));
                        }
                    }
                }
                if !args.json {
                    println!("{line}");
                }
                files.push(entry);
            }
            if kept.is_empty() && !args.json {
                println!("{host} {} (none kept)", backup.name);
            }
            report.push(
                json!({"host": host, "name": backup.name, "keep": backup.keep, "files": files}),
            );
        }
    }
    if args.json {
        println!("{}", json!({ "backups": report }));
    }
    if !bad.is_empty() {
        let what = match bad.len() {
            1 => "1 backup does not read back".to_string(),
            n => format!("{n} backups do not read back"),
        };
        bail!("{what}:\n  {}", bad.join("\n  "));
    }
    Ok(Outcome::Done)
}

/// The backup file `--file` names (a file name in the backup's folder, or a path), else the
/// newest kept.
fn chosen_file(folder: &Path, name: &str, file: Option<&Path>) -> anyhow::Result<PathBuf> {
    match file {
        Some(f) => {
            let path = if f.components().count() == 1 {
                folder.join(f)
            } else {
                f.to_path_buf()
            };
            if !path.is_file() {
                bail!("{} is not a backup file", path.display());
            }
            Ok(path)
        }
        None => {
            let kept = store::kept(folder, name)
                .with_context(|| format!("cannot read {}", folder.display()))?;
            match kept.last() {
                Some(newest) => Ok(folder.join(newest)),
                None => bail!("no backup of {name} is kept in {}", folder.display()),
            }
        }
    }
}

fn restore(ctx: &Ctx, args: &BackupRestoreArgs) -> anyhow::Result<Outcome> {
    let inventory = ctx.inventory()?;
    inventory.require_host(&args.host)?;
    let target = target(&Defaults::new(&ctx.root), &inventory, &args.host)?;
    let Some(backup) = target.backups.iter().find(|b| b.name == args.name).cloned() else {
        bail!(
            "host {} declares no backup named {:?} in {}",
            args.host,
            args.name,
            backup::VARIABLE
        );
    };
    let folder = store::folder(&folder_of(ctx, &args.dir), &args.host, &backup.name);
    let file = chosen_file(&folder, &backup.name, args.file.as_deref())?;
    let Some((ids, _)) = identities(ctx)? else {
        bail!(
            "restoring decrypts the backup: it needs the identity (--identity, \
             NXINFRA_AGE_KEY_FILE or ~/.config/nxinfra/identity.txt)"
        );
    };
    let _ = ctx.secrets();
    let ssh = super::ssh_options(&args.ssh);
    eprintln!(
        "restoring {} {} of {} ...",
        file.display(),
        backup.place(),
        args.host
    );
    let host = args.host.clone();
    let outcome = crate::host::runner::for_hosts(
        vec![(host, (target, backup, file.clone(), ids, ssh))],
        1,
        ctx.redactor(),
        |_, (target, backup, file, ids, ssh)| async move {
            backups::restore(&target, &backup, &file, &ids, &ssh).await
        },
    );
    match outcome.into_iter().next() {
        Some((_, Ok(bytes))) => {
            println!(
                "{} restored from {} ({})",
                args.name,
                file.display(),
                size(bytes)
            );
            Ok(Outcome::Done)
        }
        Some((_, Err(e))) => bail!("restore failed: {e}"),
        None => bail!("restore failed: no result"),
    }
}

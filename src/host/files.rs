//! Placing one host's rendered files, under its lock: the lock taken and the manifest read,
//! the sync planned ([`crate::plan::files`]) and diffed, then the files uploaded in one tar
//! stream unpacked with atomic renames. `sync` releases the lock at once; `apply` reconciles
//! the host's containers under it first.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::host::remote;
use crate::host::session::{HostSession, LockGuard, SessionError, SshOptions};
use crate::model::manifest::Manifest;
use crate::model::system_files;
use crate::model::target::Target;
use crate::model::tree::OutFile;
use crate::plan::files::{SyncPlan, plan};
use crate::plan::textdiff;
use crate::util::redact::{self, Redactor};

/// What a run may do to the hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Place the files, reconcile the containers.
    Apply,
    /// Plan under each host's lock, change nothing (`--dry-run`).
    DryRun,
    /// Plan without even taking the lock (`nxinfra plan`).
    ReadOnly,
}

impl RunMode {
    /// Whether anything on the hosts changes.
    pub fn changes(self) -> bool {
        self == RunMode::Apply
    }
}

#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub forks: usize,
    pub mode: RunMode,
    /// Compute unified diffs of what changes (one more remote command per changed host).
    pub diff: bool,
    /// End whatever holds each host's lock before taking it.
    pub force_unlock: bool,
    pub lock_timeout: Duration,
    pub ssh: SshOptions,
    /// Who holds the lock: `user@machine pid N since TIME`.
    pub holder: String,
}

/// The host's rendered tree split into the base dir's files and the system files.
pub fn split(
    target: &Target,
    files: BTreeMap<String, OutFile>,
) -> Result<(BTreeMap<String, OutFile>, Vec<system_files::Placed>), SessionError> {
    system_files::split(&target.host, files, &target.system_files, &target.base_dir).map_err(
        |reason| SessionError::Command {
            what: "placing system files",
            reason: reason.to_string(),
        },
    )
}

/// A host whose files are synced and whose lock is still held.
pub struct Synced<'s> {
    pub plan: SyncPlan,
    pub diff: Option<String>,
    pub unlocked: Option<String>,
    /// The manifest now on the host (the old one after a dry run).
    pub manifest: Manifest,
    pub lock: LockGuard<'s>,
}

/// A host whose lock is held and whose sync is planned (and diffed), nothing changed yet:
/// [`Locked::upload`] carries the plan out. In between, `apply` plans the containers, so that
/// a problem found there stops the host before any file moves.
pub struct Locked<'s> {
    pub plan: SyncPlan,
    pub diff: Option<String>,
    pub unlocked: Option<String>,
    /// The manifest on the host now.
    pub remote: Manifest,
    /// The manifest once the files are placed.
    local: Manifest,
    pub lock: LockGuard<'s>,
}

/// Takes the host's lock, plans, diffs and (unless `--dry-run`) applies the files, and returns
/// with the lock held: `apply` reconciles the containers under it, `sync` releases it.
pub async fn sync_locked<'s>(
    session: &'s HostSession,
    files: &BTreeMap<String, OutFile>,
    system: &[system_files::Placed],
    opts: &SyncOptions,
    phase: &(dyn Fn(&str) + Sync),
) -> Result<Synced<'s>, SessionError> {
    lock_and_plan(session, files, system, opts, phase)
        .await?
        .upload(session, files, system, opts, phase)
        .await
}

/// Takes the host's lock, reads its manifest, plans and (with `--diff`) diffs the sync.
pub async fn lock_and_plan<'s>(
    session: &'s HostSession,
    files: &BTreeMap<String, OutFile>,
    system: &[system_files::Placed],
    opts: &SyncOptions,
    phase: &(dyn Fn(&str) + Sync),
) -> Result<Locked<'s>, SessionError> {
    let target = &session.target;
    let unlocked = if opts.force_unlock {
        let out = session
            .run(&remote::force_unlock(&target.base_dir), "breaking the lock")
            .await?;
        Some(String::from_utf8_lossy(&out).trim().to_string()).filter(|s| !s.is_empty())
    } else {
        None
    };
    let (remote_manifest, lock) = if opts.mode == RunMode::ReadOnly {
        phase("reading the manifest");
        session.read_only().await?
    } else {
        phase("taking the lock, reading the manifest");
        // A signal while the lock is waited for: nothing was done, nothing is.
        tokio::select! {
            locked = session.lock_and_read(&opts.holder, opts.lock_timeout) => locked?,
            e = crate::util::interrupt::interrupted() => return Err(e.into()),
        }
    };
    let local = Manifest::of_files(files)
        .with_system(system)
        .with_containers(remote_manifest.containers.clone());
    let p = plan(&local, &remote_manifest, &target.system_files);
    let diff = if opts.diff && !p.is_noop() {
        let wanted: Vec<String> = p
            .upload
            .iter()
            .filter(|f| remote_manifest.files.contains_key(*f))
            .chain(&p.remove)
            .cloned()
            .collect();
        let wanted_system: Vec<String> = p
            .system_install
            .iter()
            .filter(|f| remote_manifest.system.contains_key(*f))
            .chain(&p.system_remove)
            .cloned()
            .collect();
        phase("reading the files to diff");
        let fetched = session
            .fetch(&wanted, &wanted_system, "reading the files to diff")
            .await;
        let old = match fetched {
            Ok(old) => old,
            Err(e) => {
                let _ = lock.release().await;
                return Err(e);
            }
        };
        let none = Redactor::new([]);
        let redactor = redact::global().unwrap_or(&none);
        Some(textdiff::plan_diff(
            &target.host,
            &p,
            &old,
            &remote_manifest,
            files,
            system,
            redactor,
        ))
    } else {
        None
    };
    Ok(Locked {
        plan: p,
        diff,
        unlocked,
        remote: remote_manifest,
        local,
        lock,
    })
}

impl<'s> Locked<'s> {
    /// Places the files (unless `--dry-run` or nothing changes); the lock stays held. On
    /// failure the lock is released.
    pub async fn upload(
        self,
        session: &HostSession,
        files: &BTreeMap<String, OutFile>,
        system: &[system_files::Placed],
        opts: &SyncOptions,
        phase: &(dyn Fn(&str) + Sync),
    ) -> Result<Synced<'s>, SessionError> {
        let Locked {
            plan: p,
            diff,
            unlocked,
            remote: remote_manifest,
            local,
            mut lock,
        } = self;
        let manifest = if !p.is_noop() && opts.mode.changes() {
            let target = &session.target;
            let tar = match remote::upload_tar(&target.base_dir, files, system, &p, &local) {
                Ok(tar) => tar,
                Err(reason) => {
                    let _ = lock.release().await;
                    return Err(SessionError::Command {
                        what: "preparing the upload",
                        reason,
                    });
                }
            };
            phase(&format!(
                "uploading {} ({} KiB), applying",
                p.summary(),
                tar.len().div_ceil(1024)
            ));
            // A signal before the files move: nothing was changed, nothing is.
            if let Err(e) = crate::util::interrupt::check() {
                let _ = lock.release().await;
                return Err(e.into());
            }
            lock.apply_and_hold(&tar).await?;
            local
        } else {
            remote_manifest
        };
        Ok(Synced {
            plan: p,
            diff,
            unlocked,
            manifest,
            lock,
        })
    }
}

//! Placing one host's rendered files, under its lock: the lock taken and the manifest read,
//! the sync planned ([`crate::plan::files`]) and diffed, then the files uploaded in one tar
//! stream unpacked with atomic renames. `sync` releases the lock at once; `apply` reconciles
//! the host's containers under it first.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::host::session::{SessionError, SshOptions};
use crate::host::{Host, HostLock, Upload};
use crate::model::manifest::Manifest;
use crate::model::placed::HostFiles;
use crate::model::system_files;
use crate::model::target::Target;
use crate::model::tree::OutFile;
use crate::plan::drift::{self, Drift};
use crate::plan::files::{SyncPlan, plan_held};
use crate::plan::textdiff;
use crate::util::redact::Redactor;

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
    /// The secrets' redactor: diffs and every host's error pass it.
    pub redactor: std::sync::Arc<Redactor>,
    /// Who deploys, from which commit: the deploy journal's record says it.
    pub source: crate::plan::journal::Source,
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

/// A host's lock as a run holds it: taken, or not taken at all (`nxinfra plan` reads the
/// manifest only).
pub enum Held<L> {
    Taken(L),
    NotTaken,
}

impl<L: HostLock + Send> Held<L> {
    /// Releases the lock, if it was taken.
    pub async fn release(self) -> Result<(), SessionError> {
        match self {
            Held::Taken(lock) => lock.release().await,
            Held::NotTaken => Ok(()),
        }
    }

    /// Places `upload`, the lock kept ([`HostLock::place`]); a run that took no lock may not.
    pub async fn place(
        &mut self,
        upload: &Upload<'_>,
        phase: &(dyn Fn(&str) + Sync),
    ) -> Result<(), SessionError> {
        match self {
            Held::Taken(lock) => lock.place(upload, phase).await,
            Held::NotTaken => Err(not_taken()),
        }
    }

    /// Writes a deploy's journal record and pins ([`HostLock::record`]), the lock kept; a run
    /// that took no lock may not.
    pub async fn record(
        &mut self,
        write: &crate::model::journal::JournalWrite,
    ) -> Result<(), SessionError> {
        match self {
            Held::Taken(lock) => lock.record(write).await,
            Held::NotTaken => Err(not_taken()),
        }
    }

    /// Writes the host's manifest and releases the lock; a run that took no lock may not.
    pub async fn write_manifest_and_release(self, manifest: &Manifest) -> Result<(), SessionError> {
        match self {
            Held::Taken(lock) => lock.write_manifest_and_release(manifest).await,
            Held::NotTaken => Err(not_taken()),
        }
    }
}

fn not_taken() -> SessionError {
    SessionError::Command {
        what: "changing the host",
        reason: "a read-only run took no lock".into(),
    }
}

/// A host whose files are synced and whose lock is still held.
pub struct Synced<'s, H: Host + 's> {
    pub plan: SyncPlan,
    pub diff: Option<String>,
    pub unlocked: Option<String>,
    /// The manifest now on the host (the old one after a dry run).
    pub manifest: Manifest,
    pub lock: Held<H::Lock<'s>>,
}

/// A host whose lock is held and whose sync is planned (and diffed), nothing changed yet:
/// [`Locked::upload`] carries the plan out. In between, `apply` plans the containers, so that
/// a problem found there stops the host before any file moves.
pub struct Locked<'s, H: Host + 's> {
    pub plan: SyncPlan,
    pub diff: Option<String>,
    pub unlocked: Option<String>,
    /// The manifest on the host now.
    pub remote: Manifest,
    /// The host's deploy journal's last record and its pins.
    pub journal: crate::model::journal::Journal,
    /// The manifest once the files are placed.
    local: Manifest,
    pub lock: Held<H::Lock<'s>>,
}

/// Takes the host's lock, plans, diffs and (unless `--dry-run`) applies the files, and returns
/// with the lock held: `apply` reconciles the containers under it, `sync` releases it.
pub async fn sync_locked<'s, H: Host>(
    session: &'s H,
    files: &BTreeMap<String, OutFile>,
    system: &[system_files::Placed],
    opts: &SyncOptions,
    phase: &(dyn Fn(&str) + Sync),
) -> Result<Synced<'s, H>, SessionError> {
    lock_and_plan(session, files, system, opts, phase)
        .await?
        .upload(files, system, opts, phase)
        .await
}

/// Takes the host's lock, reads its manifest, plans and (with `--diff`) diffs the sync.
pub async fn lock_and_plan<'s, H: Host>(
    session: &'s H,
    files: &BTreeMap<String, OutFile>,
    system: &[system_files::Placed],
    opts: &SyncOptions,
    phase: &(dyn Fn(&str) + Sync),
) -> Result<Locked<'s, H>, SessionError> {
    let target = session.target();
    let unlocked = if opts.force_unlock {
        session.break_lock().await?
    } else {
        None
    };
    let (host_files, lock) = if opts.mode == RunMode::ReadOnly {
        phase("reading the manifest");
        (session.read_files().await?, Held::NotTaken)
    } else {
        phase("taking the lock, reading the manifest");
        // A signal while the lock is waited for: nothing was done, nothing is.
        tokio::select! {
            locked = session.lock_and_read(&opts.holder, opts.lock_timeout) => {
                let (files, lock) = locked?;
                (files, Held::Taken(lock))
            }
            e = crate::util::interrupt::interrupted() => return Err(e.into()),
        }
    };
    let (drift, mut old) = match read_suspects(session, &host_files, phase).await {
        Ok(found) => found,
        Err(e) => {
            let _ = lock.release().await;
            return Err(e);
        }
    };
    let journal = host_files.journal;
    let remote_manifest = host_files.manifest;
    let rendered = Manifest::of_files(files)
        .with_system(system)
        .with_containers(remote_manifest.containers.clone());
    // Held files stay as the host has them (nxinfra_hold_paths).
    let (p, local) = plan_held(
        &rendered,
        &remote_manifest,
        &drift,
        &target.system_files,
        &target.holds,
    );
    let diff = if opts.diff && !p.is_noop() {
        // The files to diff against, those not read already as suspects of drift.
        let unread =
            |f: &&String| remote_manifest_has(&remote_manifest, f) && !old.contains_key(*f);
        let wanted: Vec<String> = p
            .upload
            .iter()
            .chain(&p.remove)
            .filter(unread)
            .cloned()
            .collect();
        let wanted_system: Vec<String> = p
            .system_install
            .iter()
            .chain(&p.system_remove)
            .filter(unread)
            .cloned()
            .collect();
        if !wanted.is_empty() || !wanted_system.is_empty() {
            phase("reading the files to diff");
            let fetched = session
                .fetch(&wanted, &wanted_system, "reading the files to diff")
                .await;
            match fetched {
                Ok(fetched) => old.extend(fetched),
                Err(e) => {
                    let _ = lock.release().await;
                    return Err(e);
                }
            }
        }
        Some(textdiff::plan_diff(
            &target.host,
            &p,
            &old,
            &remote_manifest,
            files,
            system,
            &opts.redactor,
        ))
    } else {
        None
    };
    Ok(Locked {
        plan: p,
        diff,
        unlocked,
        remote: remote_manifest,
        journal,
        local,
        lock,
    })
}

/// Whether the host's manifest lists `path` (a base dir file, or an absolute system file).
fn remote_manifest_has(manifest: &Manifest, path: &str) -> bool {
    manifest.files.contains_key(path) || manifest.system.contains_key(path)
}

/// The drift of a host's placed files: the suspects ([`drift::suspects`]) read, in one
/// remote command (none when every file is as recorded), and compared; with what was read.
pub async fn read_suspects<H: Host>(
    session: &H,
    host_files: &HostFiles,
    phase: &(dyn Fn(&str) + Sync),
) -> Result<(Drift, BTreeMap<String, Vec<u8>>), SessionError> {
    let (base, system) = drift::suspects(host_files);
    let read = if base.is_empty() && system.is_empty() {
        BTreeMap::new()
    } else {
        phase("reading the files changed on the host");
        session
            .fetch(&base, &system, "reading the files changed on the host")
            .await?
    };
    Ok((drift::compare(host_files, &read), read))
}

impl<'s, H: Host> Locked<'s, H> {
    /// The manifest the host will have once the files are placed: the render's files, the
    /// held ones as the host has them. What the containers' identities are made of.
    pub fn placed(&self) -> &Manifest {
        &self.local
    }

    /// Places the files (unless `--dry-run` or nothing changes); the lock stays held. On
    /// failure the lock is released.
    pub async fn upload(
        self,
        files: &BTreeMap<String, OutFile>,
        system: &[system_files::Placed],
        opts: &SyncOptions,
        phase: &(dyn Fn(&str) + Sync),
    ) -> Result<Synced<'s, H>, SessionError> {
        let Locked {
            plan: p,
            diff,
            unlocked,
            remote: remote_manifest,
            local,
            mut lock,
            ..
        } = self;
        // A stale record alone is written again with the manifest: the files stay as they are.
        let manifest = if (!p.is_noop() || p.stale_record) && opts.mode.changes() {
            // A signal before the files move: nothing was changed, nothing is.
            if let Err(e) = crate::util::interrupt::check() {
                let _ = lock.release().await;
                return Err(e.into());
            }
            let upload = Upload {
                files,
                system,
                plan: &p,
                manifest: &local,
            };
            lock.place(&upload, phase).await?;
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

/// Why a host's deploy journal could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Journal(#[from] crate::model::journal::JournalError),
}

/// The host's whole deploy journal, oldest first (one remote command; none on a host
/// without one).
pub async fn read_history(
    session: &impl Host,
) -> Result<Vec<crate::model::journal::Record>, HistoryError> {
    let path = format!(
        "{}/{}",
        crate::host::remote::STATE_DIR,
        crate::model::journal::HISTORY_FILE
    );
    let fetched = session
        .fetch(
            std::slice::from_ref(&path),
            &[],
            "reading the deploy journal",
        )
        .await?;
    let text = fetched
        .get(&path)
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .unwrap_or_default();
    Ok(crate::model::journal::parse_history(&text)?)
}

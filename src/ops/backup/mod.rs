//! `nxinfra backup`: what each host declares in `nxinfra_backups` ([`crate::model::backup`])
//! is dumped by a command in one of its containers (or on the host), compressed and
//! age-encrypted into local files with retention ([`store`]), verified, and restorable.
//!
//! Backups and restores on the hosts: each host's SSH connection (host keys checked), its
//! engine's socket forwarded through it, the dump or restore command run in its container by
//! the engine's exec API, its output streamed into (or its input out of) a local file of
//! [`crate::ops::backup::store`].

pub mod dest;
pub mod drill;
pub mod read;
pub mod s3;
pub mod store;

pub use drill::{Drilled, drill};
pub use read::{
    Copies, Row, RowResult, Status, Verified, VerifiedCopies, list_all, status_all, verify_all,
};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::host::ReachError;
use crate::host::engine::{DockerEngine, EngineError};
use crate::host::runner::HostFailure;
use crate::host::session::{HostSession, SessionError, SshOptions};
use crate::model::backup::{Backup, Destination};
use crate::model::target::Target;
use crate::plan::backup::{self as plan, Copy};
use crate::secrets::age_file::Identities;
use dest::{DestError, Place};
use store::Written;

/// What every host's run shares.
pub struct Options {
    /// The local backups' folder: the local destination's, and where every new backup is
    /// spooled before it goes to its destinations.
    pub dir: PathBuf,
    /// Who can decrypt them: the secrets' recipients.
    pub recipients: Vec<age::x25519::Recipient>,
    /// To read each new backup back before it goes anywhere; `None`: not verified.
    pub identities: Option<Identities>,
    pub ssh: SshOptions,
    pub forks: usize,
    /// The secrets' redactor: every host's and backup's error passes it.
    pub redactor: Arc<crate::util::redact::Redactor>,
}

/// One backup of a host, with its destinations reached (a destination host's connection,
/// a bucket with its keys).
pub struct Job {
    pub backup: Backup,
    pub places: Vec<(Destination, Arc<Place>)>,
}

/// One backup made: dumped once, encrypted once, and what each destination did with it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Made {
    pub name: String,
    /// The copy's file name, the same at every destination.
    pub file: String,
    #[serde(flatten)]
    pub written: Written,
    /// Read back through with the identity (age's authentication, gzip's checksum, the
    /// dump's sha256) before it went anywhere.
    pub verified: bool,
    pub destinations: Vec<StoredAt>,
    pub elapsed_ms: u64,
}

impl Made {
    /// The destinations that failed.
    pub fn failed(&self) -> impl Iterator<Item = (&str, &HostFailure)> {
        self.destinations
            .iter()
            .filter_map(|d| Some((d.name.as_str(), d.error.as_ref()?)))
    }
}

/// What one destination did with a new backup.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredAt {
    pub name: String,
    /// Where the copy is (a path, `host:path`, `s3://bucket/key`); `None` when it failed.
    pub location: Option<String>,
    /// Older copies removed there by its retention.
    pub removed: Vec<String>,
    pub error: Option<HostFailure>,
}

/// A host's backups, each made or why not, or why none could run; the errors as reports show
/// them (redacted: a command's stderr may quote a secret).
pub type HostResult = Result<Vec<(String, Result<Made, HostFailure>)>, HostFailure>;

/// What one host's backups did, or why none could run.
type Backups = Result<Vec<(String, Result<Made, BackupError>)>, ReachError>;

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Reach(#[from] ReachError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("the engine is not connected")]
    NoEngine,
    #[error("cannot {action} {}: {source}", .file.display())]
    File {
        action: &'static str,
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", .folder.display())]
    Folder {
        folder: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}; no backup was kept")]
    NotKept(Exited),
    #[error("{} does not read back as written ({why}); removed, the older backups kept", .file.display())]
    ReadBack { file: PathBuf, why: String },
    #[error(transparent)]
    Dest(#[from] DestError),
    #[error("no copy of {name} at {destination}")]
    NoCopy { name: String, destination: String },
    #[error("{file} is not a copy of {name} at {destination}")]
    NotACopy {
        file: String,
        name: String,
        destination: String,
    },
    #[error("host {host}: backup {name} declares no drill (nxinfra_backups: drill)")]
    NoDrill { host: String, name: String },
    #[error("host {host}: backup {name} has no restore command (nxinfra_backups: restore)")]
    NoRestore { host: String, name: String },
    #[error("host {host}: {exited}")]
    RestoreFailed { host: String, exited: Exited },
}

/// A command that exited with a status other than 0: "`COMMAND` in CONTAINER (on the host)
/// exited with status N: the end of its stderr".
#[derive(Debug)]
pub struct Exited {
    command: String,
    place: String,
    code: i64,
    stderr: String,
}

impl std::fmt::Display for Exited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` {} exited with status {}",
            self.command, self.place, self.code
        )?;
        if !self.stderr.is_empty() {
            write!(f, ": {}", self.stderr.replace('\n', " / "))?;
        }
        Ok(())
    }
}

/// Makes every listed backup of every host, hosts in parallel.
pub fn backup_all(
    hosts: Vec<(Target, Vec<Job>)>,
    opts: Options,
    progress: Arc<crate::util::progress::Progress>,
) -> Vec<(String, HostResult)> {
    let opts = Arc::new(opts);
    let forks = opts.forks;
    let redactor = opts.redactor.clone();
    let items = hosts
        .into_iter()
        .map(|(t, b)| (t.host.clone(), (t, b)))
        .collect();
    let outcomes =
        crate::host::runner::for_hosts(items, forks, redactor.clone(), move |i, (target, jobs)| {
            let opts = opts.clone();
            let progress = progress.clone();
            async move {
                let result =
                    backup_host(&target, &jobs, &opts, &|what: &str| progress.phase(i, what)).await;
                let summary = match &result {
                    Ok(done) => {
                        let failed = done
                            .iter()
                            .filter(|(_, r)| {
                                r.as_ref().map_or(true, |m| m.failed().next().is_some())
                            })
                            .count();
                        if failed == 0 {
                            match done.len() {
                                1 => "1 backup made".to_string(),
                                n => format!("{n} backups made"),
                            }
                        } else {
                            format!("FAILED: {failed} of {} backups", done.len())
                        }
                    }
                    Err(e) => format!("FAILED: {e}"),
                };
                progress.finish(i, &summary);
                // for_hosts wants a Result; a host's own failures travel inside it.
                Ok::<_, HostFailure>(result)
            }
        });
    outcomes
        .into_iter()
        .map(|(host, r)| {
            (
                host,
                r.and_then(|inner| {
                    inner
                        .map(|done| {
                            done.into_iter()
                                .map(|(name, made)| {
                                    (name, made.map_err(|e| HostFailure::of(&e, &redactor)))
                                })
                                .collect()
                        })
                        .map_err(|e| HostFailure::of(&e, &redactor))
                }),
            )
        })
        .collect()
}

/// Runs `command` where `backup` says (its container, else the host), its stdout to `out`.
async fn run_command(
    session: &HostSession,
    engine: Option<&DockerEngine>,
    container: Option<&str>,
    command: &str,
    input: Option<&mut (dyn std::io::Read + Send)>,
    out: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
) -> Result<(i64, String), BackupError> {
    match (container, engine) {
        (Some(container), Some(engine)) => {
            Ok(engine.exec(container, shell(command), input, out).await?)
        }
        (Some(_), None) => Err(BackupError::NoEngine),
        (None, _) => Ok(session.stream(command, input, out).await?),
    }
}

async fn backup_host(
    target: &Target,
    jobs: &[Job],
    opts: &Options,
    phase: &(dyn Fn(&str) + Sync),
) -> Backups {
    let engine = jobs.iter().any(|j| j.backup.container.is_some());
    crate::host::with_host(
        target,
        &opts.ssh,
        engine,
        phase,
        async |session: &HostSession, engine: Option<&DockerEngine>| {
            let mut out = Vec::new();
            for job in jobs {
                phase(&format!("backing up {}", job.backup.name));
                let made = backup_one(session, engine, &target.host, job, opts, phase).await;
                out.push((job.backup.name.clone(), made));
            }
            out
        },
    )
    .await
}

/// `sh -c COMMAND`, as the inventory writes commands.
pub(super) fn shell(command: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), command.into()]
}

async fn backup_one(
    session: &HostSession,
    engine: Option<&DockerEngine>,
    host: &str,
    job: &Job,
    opts: &Options,
    phase: &(dyn Fn(&str) + Sync),
) -> Result<Made, BackupError> {
    let backup = &job.backup;
    let start = Instant::now();
    let folder = store::folder(&opts.dir, host, &backup.name);
    let file = plan::file_name(&backup.name, SystemTime::now());
    let mut writing =
        store::Writing::start(&folder, &opts.recipients).map_err(|source| BackupError::Folder {
            folder: folder.clone(),
            source,
        })?;
    let (code, stderr) = run_command(
        session,
        engine,
        backup.container.as_deref(),
        &backup.command,
        None,
        &mut |chunk| writing.write(chunk),
    )
    .await?;
    if code != 0 {
        // `writing` is dropped: its temporary file goes with it.
        return Err(BackupError::NotKept(Exited {
            command: backup.command.clone(),
            place: backup.place(),
            code,
            stderr,
        }));
    }
    let spool = writing.finish().map_err(|source| BackupError::File {
        action: "write",
        file: folder.join(&file),
        source,
    })?;
    let written = spool.written.clone();
    // Read back before any destination gets it: a copy that does not read is sent nowhere.
    let verified = match &opts.identities {
        Some(identities) => match store::verify(spool.path(), identities) {
            Ok((bytes, sha)) if bytes == written.bytes && sha == written.sha256 => true,
            other => {
                return Err(BackupError::ReadBack {
                    file: folder.join(&file),
                    why: match other {
                        Ok(_) => "another content".to_string(),
                        Err(e) => e.to_string(),
                    },
                });
            }
        },
        None => false,
    };
    phase(&format!(
        "storing {} at {}",
        backup.name,
        backup.destination_names()
    ));
    // Every destination at once, from the same spool; one that fails stops no other.
    let stored = futures_util::future::join_all(job.places.iter().map(|(d, place)| {
        let file = &file;
        let spool = &spool;
        async move {
            let r = place
                .store(host, &backup.name, spool, file, &d.retention)
                .await;
            match r {
                Ok(s) => StoredAt {
                    name: d.name.clone(),
                    location: Some(s.location),
                    removed: s.removed,
                    error: None,
                },
                Err(e) => StoredAt {
                    name: d.name.clone(),
                    location: None,
                    removed: Vec::new(),
                    error: Some(HostFailure::of(
                        &format!("destination {}: {e}", d.name),
                        &opts.redactor,
                    )),
                },
            }
        }
    }))
    .await;
    drop(spool);
    Ok(Made {
        name: backup.name.clone(),
        file,
        written,
        verified,
        destinations: stored,
        elapsed_ms: start.elapsed().as_millis() as u64,
    })
}

/// Which copy at `place`: `file` when given (it must be a copy of the backup there), else
/// the newest.
pub(super) async fn choose(
    place: &Place,
    host: &str,
    backup: &Backup,
    destination: &str,
    file: Option<&str>,
) -> Result<Copy, BackupError> {
    let copies = place.list(host, &backup.name).await?;
    match file {
        Some(f) => copies
            .into_iter()
            .find(|c| c.file == f)
            .ok_or_else(|| BackupError::NotACopy {
                file: f.to_string(),
                name: backup.name.clone(),
                destination: destination.to_string(),
            }),
        None => copies
            .into_iter()
            .last()
            .ok_or_else(|| BackupError::NoCopy {
                name: backup.name.clone(),
                destination: destination.to_string(),
            }),
    }
}

/// A copy chosen at a destination ([`choose`]), readable here: decrypted, decompressed.
pub(super) struct Opened {
    pub copy: Copy,
    /// Where it is, as messages show it.
    pub location: String,
    pub reader: Box<dyn std::io::Read + Send>,
    /// Keeps a copy read from elsewhere until the reader is done.
    _fetched: dest::Fetched,
}

impl Opened {
    pub(super) async fn of(
        place: &Place,
        host: &str,
        backup: &Backup,
        destination: &str,
        file: Option<&str>,
        identities: &Identities,
        spool_dir: &Path,
    ) -> Result<Opened, BackupError> {
        let copy = choose(place, host, backup, destination, file).await?;
        let location = place.location(host, &backup.name, Some(&copy.file));
        let fetched = place
            .fetch(host, &backup.name, &copy.file, spool_dir)
            .await?;
        let reader =
            store::open(fetched.path(), identities).map_err(|source| BackupError::File {
                action: "read",
                file: PathBuf::from(&location),
                source,
            })?;
        Ok(Opened {
            copy,
            location,
            reader: Box::new(reader),
            _fetched: fetched,
        })
    }
}

/// What a restore put back.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Restored {
    pub file: String,
    pub location: String,
    pub bytes: u64,
}

/// Restores a copy of `backup` from `place` (`file`, else the newest) through its `restore`
/// command, in its container on `target` (or on the host).
#[allow(clippy::too_many_arguments)]
pub async fn restore(
    target: &Target,
    backup: &Backup,
    destination: &str,
    place: &Place,
    file: Option<&str>,
    identities: &Identities,
    ssh: &SshOptions,
    spool_dir: &Path,
) -> Result<Restored, BackupError> {
    let Some(command) = &backup.restore else {
        return Err(BackupError::NoRestore {
            host: target.host.clone(),
            name: backup.name.clone(),
        });
    };
    let opened = Opened::of(
        place,
        &target.host,
        backup,
        destination,
        file,
        identities,
        spool_dir,
    )
    .await?;
    let (copy, location, mut reader) = (opened.copy, opened.location, opened.reader);
    let mut counted = Counted {
        inner: &mut reader,
        bytes: 0,
    };
    let result = crate::host::with_host(
        target,
        ssh,
        backup.container.is_some(),
        &|_: &str| {},
        async |session: &HostSession, engine: Option<&DockerEngine>| {
            run_command(
                session,
                engine,
                backup.container.as_deref(),
                command,
                Some(&mut counted),
                &mut |_| Ok(()),
            )
            .await
        },
    )
    .await?;
    let (code, stderr) = result?;
    if code != 0 {
        return Err(BackupError::RestoreFailed {
            host: target.host.clone(),
            exited: Exited {
                command: command.clone(),
                place: backup.place(),
                code,
                stderr,
            },
        });
    }
    Ok(Restored {
        file: copy.file,
        location,
        bytes: counted.bytes,
    })
}

/// A reader that counts what went through it.
pub(super) struct Counted<'a> {
    pub(super) inner: &'a mut (dyn std::io::Read + Send),
    pub(super) bytes: u64,
}

impl std::io::Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

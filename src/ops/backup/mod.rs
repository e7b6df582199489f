//! `nxinfra backup`: what each host declares in `nxinfra_backups` ([`crate::model::backup`])
//! is dumped by a command in one of its containers (or on the host), compressed and
//! age-encrypted into local files with retention ([`store`]), verified, and restorable.
//!
//! Backups and restores on the hosts: each host's SSH connection (host keys checked), its
//! engine's socket forwarded through it, the dump or restore command run in its container by
//! the engine's exec API, its output streamed into (or its input out of) a local file of
//! [`crate::ops::backup::store`].

pub mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::host::ReachError;
use crate::host::engine::{DockerEngine, EngineError};
use crate::host::runner::HostFailure;
use crate::host::session::{HostSession, SessionError, SshOptions};
use crate::model::backup::Backup;
use crate::model::target::Target;
use crate::secrets::age_file::Identities;
use store::Written;

/// What every host's run shares.
pub struct Options {
    /// The backups' folder.
    pub dir: PathBuf,
    /// Who can decrypt them: the secrets' recipients.
    pub recipients: Vec<age::x25519::Recipient>,
    /// To read each new backup back before the old ones go; `None`: not verified.
    pub identities: Option<Identities>,
    pub ssh: SshOptions,
    pub forks: usize,
    /// The secrets' redactor: every host's and backup's error passes it.
    pub redactor: Arc<crate::util::redact::Redactor>,
}

/// One backup made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Made {
    pub name: String,
    #[serde(flatten)]
    pub written: Written,
    /// Read back through with the identity (age's authentication, gzip's checksum, the
    /// dump's sha256).
    pub verified: bool,
    /// Older backups removed by `keep`.
    pub removed: Vec<String>,
    pub elapsed_ms: u64,
}

/// One host's backups: each made or failed.
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
    hosts: Vec<(Target, Vec<Backup>)>,
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
    let outcomes = crate::host::runner::for_hosts(
        items,
        forks,
        redactor.clone(),
        move |i, (target, backups)| {
            let opts = opts.clone();
            let progress = progress.clone();
            async move {
                let result = backup_host(&target, &backups, &opts, &|what: &str| {
                    progress.phase(i, what)
                })
                .await;
                let summary = match &result {
                    Ok(done) => {
                        let failed = done.iter().filter(|(_, r)| r.is_err()).count();
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
        },
    );
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
    backup: &Backup,
    command: &str,
    input: Option<&mut (dyn std::io::Read + Send)>,
    out: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
) -> Result<(i64, String), BackupError> {
    match (&backup.container, engine) {
        (Some(container), Some(engine)) => {
            Ok(engine.exec(container, shell(command), input, out).await?)
        }
        (Some(_), None) => Err(BackupError::NoEngine),
        (None, _) => Ok(session.stream(command, input, out).await?),
    }
}

async fn backup_host(
    target: &Target,
    backups: &[Backup],
    opts: &Options,
    phase: &(dyn Fn(&str) + Sync),
) -> Backups {
    let engine = backups.iter().any(|b| b.container.is_some());
    crate::host::with_host(
        target,
        &opts.ssh,
        engine,
        phase,
        async |session: &HostSession, engine: Option<&DockerEngine>| {
            let mut out = Vec::new();
            for backup in backups {
                phase(&format!("backing up {}", backup.name));
                let made = backup_one(session, engine, &target.host, backup, opts).await;
                out.push((backup.name.clone(), made));
            }
            out
        },
    )
    .await
}

/// `sh -c COMMAND`, as the inventory writes commands.
fn shell(command: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), command.into()]
}

async fn backup_one(
    session: &HostSession,
    engine: Option<&DockerEngine>,
    host: &str,
    backup: &Backup,
    opts: &Options,
) -> Result<Made, BackupError> {
    let start = Instant::now();
    let folder = store::folder(&opts.dir, host, &backup.name);
    let file = folder.join(store::file_name(&backup.name, SystemTime::now()));
    let cannot_write = |source| BackupError::File {
        action: "write",
        file: file.clone(),
        source,
    };
    let mut writing =
        store::Writing::start(file.clone(), &opts.recipients).map_err(cannot_write)?;
    let (code, stderr) = run_command(
        session,
        engine,
        backup,
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
    let written = writing.finish().map_err(cannot_write)?;
    let verified = match &opts.identities {
        Some(identities) => {
            let read = store::verify(&written.file, identities);
            match read {
                Ok((bytes, sha)) if bytes == written.bytes && sha == written.sha256 => true,
                other => {
                    let _ = std::fs::remove_file(&written.file);
                    return Err(BackupError::ReadBack {
                        file: written.file.clone(),
                        why: match other {
                            Ok(_) => "another content".to_string(),
                            Err(e) => e.to_string(),
                        },
                    });
                }
            }
        }
        None => false,
    };
    // Only now, with the new one in place (and read back), do the oldest go.
    let kept = store::kept(&folder, &backup.name).map_err(|source| BackupError::Folder {
        folder: folder.clone(),
        source,
    })?;
    let mut removed = Vec::new();
    for old in store::beyond(&kept, backup.keep) {
        std::fs::remove_file(folder.join(old)).map_err(|source| BackupError::File {
            action: "remove",
            file: folder.join(old),
            source,
        })?;
        removed.push(old.clone());
    }
    Ok(Made {
        name: backup.name.clone(),
        written,
        verified,
        removed,
        elapsed_ms: start.elapsed().as_millis() as u64,
    })
}

/// Restores `file` into `backup`'s container on `target` through its `restore` command.
/// Returns the bytes restored.
pub async fn restore(
    target: &Target,
    backup: &Backup,
    file: &Path,
    identities: &Identities,
    ssh: &SshOptions,
) -> Result<u64, BackupError> {
    let Some(command) = &backup.restore else {
        return Err(BackupError::NoRestore {
            host: target.host.clone(),
            name: backup.name.clone(),
        });
    };
    let mut reader = store::open(file, identities).map_err(|source| BackupError::File {
        action: "read",
        file: file.to_path_buf(),
        source,
    })?;
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
                backup,
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
    Ok(counted.bytes)
}

/// A reader that counts what went through it.
struct Counted<'a> {
    inner: &'a mut (dyn std::io::Read + Send),
    bytes: u64,
}

impl std::io::Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

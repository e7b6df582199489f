//! A backup's destinations, as places copies are put, listed, read and removed: the folder of
//! the machine running nxinfra, another inventory host over its SSH connection
//! (`host/scripts/backup_*.sh`: a copy is complete or absent), an S3-compatible bucket
//! ([`super::s3`]). Every destination holds the same layout: `<host>/<name>/<copy>`.

use std::path::{Path, PathBuf};

use crate::host::ReachError;
use crate::host::remote;
use crate::host::session::{HostSession, SessionError, SshOptions};
use crate::model::backup::Retention;
use crate::model::target::Target;
use crate::plan::backup::{self as plan, Copy};

use super::s3::{Bucket, S3Error};
use super::store::{self, Spool};

/// Where one destination's copies are.
pub enum Place {
    /// A folder here: `<dir>/<host>/<name>/`.
    Local {
        dir: PathBuf,
    },
    /// `<dir>/<host>/<name>/` on another host, through its SSH connection.
    Host {
        target: Box<Target>,
        dir: String,
        ssh: SshOptions,
    },
    S3(Bucket),
}

/// Why a destination failed.
#[derive(Debug, thiserror::Error)]
pub enum DestError {
    #[error(transparent)]
    Reach(#[from] ReachError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{what} on {host} exited with status {code}: {stderr}")]
    Remote {
        what: &'static str,
        host: String,
        code: i64,
        stderr: String,
    },
    #[error("cannot {action} {}: {source}", .path.display())]
    Local {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    S3(#[from] S3Error),
}

/// A copy stored, and the retention's removals.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stored {
    /// Where: a path, `host:path`, `s3://bucket/key`.
    pub location: String,
    /// Older copies removed by the retention.
    pub removed: Vec<String>,
}

fn local_io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DestError {
    let path = path.to_path_buf();
    move |source| DestError::Local {
        action,
        path,
        source,
    }
}

fn remote_failed(what: &'static str, host: &str, code: i64, stderr: String) -> DestError {
    DestError::Remote {
        what,
        host: host.to_string(),
        code,
        stderr: stderr.replace('\n', " / "),
    }
}

/// Runs `script` in the session `s` to the destination host `host`: `input` to its stdin,
/// its stdout to `out`; a status other than 0 is an error saying `what`.
async fn run(
    s: &HostSession,
    host: &str,
    what: &'static str,
    script: &str,
    input: Option<&mut (dyn std::io::Read + Send)>,
    out: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
) -> Result<(), DestError> {
    let (code, stderr) = s.stream(script, input, out).await?;
    if code != 0 {
        return Err(remote_failed(what, host, code, stderr));
    }
    Ok(())
}

/// `work` with a connection to the destination host `target` (host keys checked), closed
/// afterwards.
async fn on_host<T>(
    target: &Target,
    ssh: &SshOptions,
    work: impl AsyncFnOnce(&HostSession) -> Result<T, DestError>,
) -> Result<T, DestError> {
    crate::host::with_host(
        target,
        ssh,
        false,
        &|_: &str| {},
        async |s: &HostSession, _| work(s).await,
    )
    .await?
}

impl Place {
    /// The folder (or prefix) of `host`'s backup `name` here, as messages show it.
    pub fn location(&self, host: &str, name: &str, file: Option<&str>) -> String {
        let tail = match file {
            Some(f) => format!("{host}/{name}/{f}"),
            None => format!("{host}/{name}/"),
        };
        match self {
            Place::Local { dir } => dir.join(tail).display().to_string(),
            Place::Host { target, dir, .. } => format!("{}:{dir}/{tail}", target.host),
            Place::S3(bucket) => bucket.url(&tail),
        }
    }

    fn remote_dir(dir: &str, host: &str, name: &str) -> String {
        format!("{}/{host}/{name}", dir.trim_end_matches('/'))
    }

    /// Puts `spool` here as `file`, then removes what `retention` does not keep. A copy is
    /// complete under its name or not there at all.
    pub async fn store(
        &self,
        host: &str,
        name: &str,
        spool: &Spool,
        file: &str,
        retention: &Retention,
    ) -> Result<Stored, DestError> {
        let location = self.location(host, name, Some(file));
        let removed = match self {
            Place::Local { dir } => {
                let folder = store::folder(dir, host, name);
                let target = folder.join(file);
                spool.link(&target).map_err(local_io("write", &target))?;
                let copies = plan::copies(
                    name,
                    store::listed(&folder).map_err(local_io("read", &folder))?,
                );
                let gone = plan::beyond(&copies, retention);
                for old in &gone {
                    let path = folder.join(old);
                    std::fs::remove_file(&path).map_err(local_io("remove", &path))?;
                }
                gone
            }
            Place::Host { target, dir, ssh } => {
                let folder = Self::remote_dir(dir, host, name);
                let written = &spool.written;
                let script =
                    remote::backup_put(&folder, file, written.stored, &written.stored_sha256);
                let mut input =
                    std::fs::File::open(spool.path()).map_err(local_io("read", spool.path()))?;
                on_host(target, ssh, async |s: &HostSession| {
                    let mut listed = Vec::new();
                    run(
                        s,
                        &target.host,
                        "storing the copy",
                        &script,
                        Some(&mut input),
                        &mut |c| {
                            listed.extend_from_slice(c);
                            Ok(())
                        },
                    )
                    .await?;
                    let copies = plan::copies(
                        name,
                        remote::parse_backup_list(&String::from_utf8_lossy(&listed)),
                    );
                    let gone = plan::beyond(&copies, retention);
                    if !gone.is_empty() {
                        let script = remote::backup_remove(&folder, &gone);
                        run(
                            s,
                            &target.host,
                            "removing old copies",
                            &script,
                            None,
                            &mut |_| Ok(()),
                        )
                        .await?;
                    }
                    Ok(gone)
                })
                .await?
            }
            Place::S3(bucket) => {
                let prefix = format!("{host}/{name}/");
                bucket
                    .put_file(&format!("{prefix}{file}"), spool.path())
                    .await?;
                let copies = plan::copies(name, bucket.list(&prefix).await?);
                let gone = plan::beyond(&copies, retention);
                for old in &gone {
                    bucket.delete(&format!("{prefix}{old}")).await?;
                }
                gone
            }
        };
        Ok(Stored { location, removed })
    }

    /// The copies of `host`'s backup `name` here, oldest first.
    pub async fn list(&self, host: &str, name: &str) -> Result<Vec<Copy>, DestError> {
        let files = match self {
            Place::Local { dir } => {
                let folder = store::folder(dir, host, name);
                store::listed(&folder).map_err(local_io("read", &folder))?
            }
            Place::Host { target, dir, ssh } => {
                let script = remote::backup_list(&Self::remote_dir(dir, host, name));
                on_host(target, ssh, async |s: &HostSession| {
                    let mut out = Vec::new();
                    run(
                        s,
                        &target.host,
                        "listing the copies",
                        &script,
                        None,
                        &mut |c| {
                            out.extend_from_slice(c);
                            Ok(())
                        },
                    )
                    .await?;
                    Ok(remote::parse_backup_list(&String::from_utf8_lossy(&out)))
                })
                .await?
            }
            Place::S3(bucket) => bucket.list(&format!("{host}/{name}/")).await?,
        };
        Ok(plan::copies(name, files))
    }

    /// A local file holding the copy `file`: the copy itself for a local destination, else a
    /// private temporary file in `spool_dir` it is read into (removed when dropped).
    pub async fn fetch(
        &self,
        host: &str,
        name: &str,
        file: &str,
        spool_dir: &Path,
    ) -> Result<Fetched, DestError> {
        if let Place::Local { dir } = self {
            let path = store::folder(dir, host, name).join(file);
            if !path.is_file() {
                return Err(DestError::Local {
                    action: "read",
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    path,
                });
            }
            return Ok(Fetched::Here(path));
        }
        store::private_folder(spool_dir).map_err(local_io("write", spool_dir))?;
        let tmp = tempfile::Builder::new()
            .prefix(".fetched-")
            .tempfile_in(spool_dir)
            .map_err(local_io("write", spool_dir))?;
        let mut out = tmp.reopen().map_err(local_io("write", tmp.path()))?;
        match self {
            Place::Local { .. } => {}
            Place::Host { target, dir, ssh } => {
                use std::io::Write;
                let script = remote::backup_get(&Self::remote_dir(dir, host, name), file);
                on_host(target, ssh, async |s: &HostSession| {
                    run(
                        s,
                        &target.host,
                        "reading the copy",
                        &script,
                        None,
                        &mut |c| out.write_all(c),
                    )
                    .await
                })
                .await?;
            }
            Place::S3(bucket) => {
                bucket
                    .get_into(&format!("{host}/{name}/{file}"), &mut out)
                    .await?;
            }
        }
        Ok(Fetched::Copy(tmp))
    }
}

/// A copy readable here.
pub enum Fetched {
    /// The local destination's own file.
    Here(PathBuf),
    /// Read from elsewhere into a temporary file (removed when dropped).
    Copy(tempfile::NamedTempFile),
}

impl Fetched {
    pub fn path(&self) -> &Path {
        match self {
            Fetched::Here(p) => p,
            Fetched::Copy(t) => t.path(),
        }
    }
}

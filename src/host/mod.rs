//! The host layer: every effect on a host goes through here. [`session`] (one SSH
//! connection per host, the lock, the remote commands), [`control`] (where the control
//! sockets live), [`remote`] (the scripts the hosts run, and the tar streams they unpack),
//! [`engine`] (the Docker engine's API over the forwarded socket, every call counted) and
//! [`convert`] (compose services as the engine's create requests), [`runner`] (many hosts at
//! once, one's failure never stopping the others); [`with_host`] (a host's connection, and
//! its engine through it, for the time of a piece of work).

pub mod checks;
pub mod control;
pub mod convert;
pub mod engine;
#[cfg(test)]
pub mod fake;
pub mod files;
pub mod remote;
pub mod runner;
pub mod session;
pub mod stack;
pub mod swarm;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use crate::model::manifest::Manifest;
use crate::model::placed::HostFiles;
use crate::model::system_files::Placed;
use crate::model::target::Target;
use crate::model::tree::OutFile;
use crate::plan::files::SyncPlan;
use engine::{DockerEngine, EngineError};
use session::{HostSession, SessionError, SshOptions};

/// What operations ask of one host, its engine aside: its manifest, its lock, its files.
/// [`HostSession`] is a host over SSH; operations are written against this trait, so that
/// their orchestration and failure paths are tested on a host made to fail
/// (`crate::host::fake`).
pub trait Host: Send + Sync {
    /// The host's lock, held while the value lives.
    type Lock<'a>: HostLock + Send
    where
        Self: 'a;

    fn target(&self) -> &Target;

    /// Ends whatever holds the host's lock: who held it, if anything did.
    fn break_lock(&self) -> impl Future<Output = Result<Option<String>, SessionError>> + Send;

    /// The host's manifest and the state of the files it lists, read without taking the lock
    /// or writing anything (`nxinfra plan`, `nxinfra status`).
    fn read_files(&self) -> impl Future<Output = Result<HostFiles, SessionError>> + Send;

    /// Takes the host's lock, waiting at most `timeout` for whoever holds it, and reads its
    /// manifest and the state of the files it lists.
    fn lock_and_read(
        &self,
        holder: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<(HostFiles, Self::Lock<'_>), SessionError>> + Send;

    /// An HTTP GET of `url` as the host reaches it (a check's probe): the status and the
    /// start of the body, or why there is no answer.
    fn http_get(&self, url: &str) -> impl Future<Output = Result<(u16, Vec<u8>), String>> + Send;

    /// A TCP connection to `address` (`host:port`) as the host reaches it (a check's probe).
    fn tcp_connect(&self, address: &str) -> impl Future<Output = Result<(), String>> + Send;

    /// `command` run on the host (a host's check): its exit status and output.
    fn run_check_command(
        &self,
        command: &[String],
    ) -> impl Future<Output = Result<(i64, String), String>> + Send;

    /// The host's facts, with the filesystem of `path` (default: the base dir).
    fn facts(
        &self,
        path: Option<&str>,
    ) -> impl Future<Output = Result<crate::plan::status::HostFacts, String>> + Send;

    /// The host's current content of `paths` (in the base dir) and `system` (absolute); the
    /// missing ones are absent from the result.
    fn fetch(
        &self,
        paths: &[String],
        system: &[String],
        what: &'static str,
    ) -> impl Future<Output = Result<BTreeMap<String, Vec<u8>>, SessionError>> + Send;
}

/// A host's lock, taken by [`Host::lock_and_read`].
pub trait HostLock {
    /// Releases the lock.
    fn release(self) -> impl Future<Output = Result<(), SessionError>> + Send;

    /// Places `upload` on the host, the lock kept. After an error the lock is released.
    fn place(
        &mut self,
        upload: &Upload<'_>,
        phase: &(dyn Fn(&str) + Sync),
    ) -> impl Future<Output = Result<(), SessionError>> + Send;

    /// Writes what a deploy records (its journal record, the pins), the lock kept. After an
    /// error the lock is released.
    fn record(
        &mut self,
        write: &crate::model::journal::JournalWrite,
    ) -> impl Future<Output = Result<(), SessionError>> + Send;

    /// Replaces the host's manifest by `manifest`, then releases the lock.
    fn write_manifest_and_release(
        self,
        manifest: &Manifest,
    ) -> impl Future<Output = Result<(), SessionError>> + Send;
}

/// A sync's changes, as [`HostLock::place`] places them: `plan` carried out with the content
/// of `files` and `system`, and `manifest` the host's manifest afterwards.
pub struct Upload<'a> {
    pub files: &'a BTreeMap<String, OutFile>,
    pub system: &'a [Placed],
    pub plan: &'a SyncPlan,
    pub manifest: &'a Manifest,
}

/// Why a host could not be reached: its SSH connection, or its engine through it.
#[derive(Debug, thiserror::Error)]
pub enum ReachError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Runs `work` with the host's SSH connection, and its engine reached through it when
/// `engine` is asked for; closes both afterwards, whatever `work` returned. Every operation
/// reaches its hosts through here or [`with_engine`].
pub async fn with_host<T>(
    target: &Target,
    ssh: &SshOptions,
    engine: bool,
    phase: &(dyn Fn(&str) + Sync),
    work: impl AsyncFnOnce(&HostSession, Option<&DockerEngine>) -> T,
) -> Result<T, ReachError> {
    if engine {
        with_engine(
            target,
            ssh,
            phase,
            async |s: &HostSession, e: &DockerEngine| work(s, Some(e)).await,
        )
        .await
    } else {
        connected(target, ssh, phase, async |s: &HostSession| {
            Ok(work(s, None).await)
        })
        .await
    }
}

/// Runs `work` with the host's SSH connection and its engine, reached through it (the
/// engine's socket forwarded over the same connection, host keys checked); closes both
/// afterwards. The engine is reached before anything else: a host whose engine does not
/// answer fails untouched.
pub async fn with_engine<T>(
    target: &Target,
    ssh: &SshOptions,
    phase: &(dyn Fn(&str) + Sync),
    work: impl AsyncFnOnce(&HostSession, &DockerEngine) -> T,
) -> Result<T, ReachError> {
    let reached = Reached::open(target, ssh, phase).await?;
    let out = work(&reached.session, &reached.engine).await;
    reached.close().await;
    Ok(out)
}

/// A host's SSH connection and its engine through it, held open as a value: for work that
/// needs several hosts' engines at once (a cluster's nodes). [`Reached::close`] ends both;
/// [`with_engine`] is the scoped form every single-host operation uses.
pub struct Reached {
    pub session: HostSession,
    pub engine: DockerEngine,
    /// The forwarded socket's two ends.
    forward: (std::path::PathBuf, String),
}

impl Reached {
    /// Connects to `target` and reaches its engine through the connection (host keys
    /// checked); nothing is left open when either fails.
    pub async fn open(
        target: &Target,
        ssh: &SshOptions,
        phase: &(dyn Fn(&str) + Sync),
    ) -> Result<Reached, ReachError> {
        phase("connecting");
        let session = HostSession::connect(target, ssh).await?;
        phase("connecting to the Docker engine");
        let forward = match session.forward_unix(&target.docker_socket).await {
            Ok(f) => f,
            Err(e) => {
                session.close().await;
                return Err(e.into());
            }
        };
        let engine =
            engine::connect_engine(&forward.local.to_string_lossy(), target, ssh.pull_stall).await;
        let forward = forward.into_parts();
        match engine {
            Ok(engine) => Ok(Reached {
                session,
                engine,
                forward,
            }),
            Err(e) => {
                session.close_forward(&forward.0, &forward.1).await;
                session.close().await;
                Err(e.into())
            }
        }
    }

    /// Ends the engine's forwarding and the connection.
    pub async fn close(self) {
        self.session
            .close_forward(&self.forward.0, &self.forward.1)
            .await;
        self.session.close().await;
    }
}

/// Runs `work` with the host's SSH connection, closed afterwards.
async fn connected<T>(
    target: &Target,
    ssh: &SshOptions,
    phase: &(dyn Fn(&str) + Sync),
    work: impl AsyncFnOnce(&HostSession) -> Result<T, ReachError>,
) -> Result<T, ReachError> {
    phase("connecting");
    let session = HostSession::connect(target, ssh).await?;
    let result = work(&session).await;
    session.close().await;
    result
}

//! The host layer: every effect on a host goes through here. [`session`] (one SSH
//! connection per host, the lock, the remote commands), [`control`] (where the control
//! sockets live), [`remote`] (the scripts the hosts run, and the tar streams they unpack),
//! [`engine`] (the Docker engine's API over the forwarded socket, every call counted) and
//! [`convert`] (compose services as the engine's create requests), [`runner`] (many hosts at
//! once, one's failure never stopping the others); [`with_host`] (a host's connection, and
//! its engine through it, for the time of a piece of work).

pub mod control;
pub mod convert;
pub mod engine;
pub mod files;
pub mod remote;
pub mod runner;
pub mod session;

use crate::model::target::Target;
use engine::{Engine, EngineError};
use session::{HostSession, SessionError, SshOptions};

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
    work: impl AsyncFnOnce(&HostSession, Option<&Engine>) -> T,
) -> Result<T, ReachError> {
    if engine {
        with_engine(target, ssh, phase, async |s: &HostSession, e: &Engine| {
            work(s, Some(e)).await
        })
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
    work: impl AsyncFnOnce(&HostSession, &Engine) -> T,
) -> Result<T, ReachError> {
    connected(target, ssh, phase, async |session: &HostSession| {
        phase("connecting to the Docker engine");
        let forward = session.forward_unix(&target.docker_socket).await?;
        let engine = engine::connect_engine(&forward.local.to_string_lossy(), target).await;
        let out = match engine {
            Ok(engine) => Ok(work(session, &engine).await),
            Err(e) => Err(e.into()),
        };
        forward.close().await;
        out
    })
    .await
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

//! The day-2 operations on a host's deploy journal that are not an apply: `history` (read,
//! no lock), `unpin` (the pins rewritten under the lock, no container touched) and `prune`
//! (the images no container, recent deploy or pin needs, removed under the lock). Rollback
//! is an apply (`ops::apply`, `Deploy::Rollback`).

use std::sync::Arc;
use std::time::Duration;

use crate::host::engine::{Engine, EngineError};
use crate::host::files::{HistoryError, read_history};
use crate::host::runner::{HostFailure, Phase, for_targets};
use crate::host::session::{HostSession, SessionError, SshOptions};
use crate::host::{Host, HostLock, ReachError};
use crate::model::journal::{JournalWrite, Pin, Pins, Record};
use crate::model::target::Target;
use crate::plan::journal::PruneStep;
use crate::util::progress::Progress;
use crate::util::redact::Redactor;

/// How these operations reach and lock hosts.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    pub forks: usize,
    pub ssh: SshOptions,
    pub redactor: Arc<Redactor>,
    pub lock_timeout: Duration,
    /// Who holds the lock (as sync's holder).
    pub holder: String,
    /// `prune --dry-run`: list, remove nothing (the lock is still taken, as apply's).
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalOpError {
    #[error(transparent)]
    Reach(#[from] ReachError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{} not pinned on this host (pinned: {})", .services.join(", "), if .pinned.is_empty() { "none".to_string() } else { .pinned.join(", ") })]
    NotPinned {
        services: Vec<String>,
        pinned: Vec<String>,
    },
}

/// Every host's deploy journal, oldest first.
pub fn history_all(
    targets: Vec<Target>,
    opts: &JournalOptions,
    progress: &Arc<Progress>,
) -> Vec<(String, Result<Vec<Record>, HostFailure>)> {
    for_targets(
        targets,
        opts.forks,
        opts.redactor.clone(),
        progress,
        |r: &Result<Vec<Record>, JournalOpError>| match r {
            Ok(h) => format!("{} deploys", h.len()),
            Err(e) => format!("FAILED: {e}"),
        },
        |target, phase| async move {
            let work = async |session: &HostSession, _: Option<&_>| {
                phase.say("reading the deploy journal");
                read_history(session).await
            };
            let say = |w: &str| phase.say(w);
            let read = crate::host::with_host(&target, &opts.ssh, false, &say, work);
            Ok::<_, JournalOpError>(read.await??)
        },
    )
}

/// What `unpin` did on a host: the pins removed.
#[derive(Debug, Clone, Default)]
pub struct Unpinned {
    pub removed: Vec<(String, Pin)>,
}

/// Removes the pins of `services` (all when empty) on every host.
pub fn unpin_all(
    targets: Vec<Target>,
    services: &[String],
    opts: &JournalOptions,
    progress: &Arc<Progress>,
) -> Vec<(String, Result<Unpinned, HostFailure>)> {
    for_targets(
        targets,
        opts.forks,
        opts.redactor.clone(),
        progress,
        |r: &Result<Unpinned, JournalOpError>| match r {
            Ok(u) if u.removed.is_empty() => "no pin".into(),
            Ok(u) => format!("{} unpinned", u.removed.len()),
            Err(e) => format!("FAILED: {e}"),
        },
        |target, phase| async move {
            let work = async |session: &HostSession, _: Option<&_>| {
                unpin(session, services, opts, &phase).await
            };
            let say = |w: &str| phase.say(w);
            crate::host::with_host(&target, &opts.ssh, false, &say, work).await?
        },
    )
}

/// Under the host's lock: its pins without `services` (all when empty); a named service that
/// is not pinned is an error, and nothing is written.
pub async fn unpin(
    session: &impl Host,
    services: &[String],
    opts: &JournalOptions,
    phase: &Phase,
) -> Result<Unpinned, JournalOpError> {
    phase.say("taking the lock, reading the pins");
    let (files, mut lock) = session
        .lock_and_read(&opts.holder, opts.lock_timeout)
        .await?;
    let pins = files.journal.pins;
    let missing: Vec<String> = services
        .iter()
        .filter(|s| !pins.pins.contains_key(*s))
        .cloned()
        .collect();
    if !missing.is_empty() {
        lock.release().await?;
        return Err(JournalOpError::NotPinned {
            services: missing,
            pinned: pins.pins.keys().cloned().collect(),
        });
    }
    let (removed, left): (Vec<_>, Vec<_>) = pins
        .pins
        .into_iter()
        .partition(|(s, _)| services.is_empty() || services.contains(s));
    if !removed.is_empty() {
        let write = JournalWrite {
            record: None,
            keep: session.target().journal.history,
            pins: Some(Pins {
                pins: left.into_iter().collect(),
            }),
        };
        lock.record(&write).await?;
    }
    lock.release().await?;
    Ok(Unpinned { removed })
}

/// What `prune` did (or, with `--dry-run`, would do) on a host.
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    pub removed: Vec<PruneStep>,
    /// Images kept.
    pub kept: usize,
}

impl Pruned {
    pub fn bytes(&self) -> i64 {
        self.removed.iter().map(|r| r.size.max(0)).sum()
    }
}

/// Prunes every host's images.
pub fn prune_all(
    targets: Vec<Target>,
    opts: &JournalOptions,
    progress: &Arc<Progress>,
) -> Vec<(String, Result<Pruned, HostFailure>)> {
    for_targets(
        targets,
        opts.forks,
        opts.redactor.clone(),
        progress,
        |r: &Result<Pruned, JournalOpError>| match r {
            Ok(p) => format!("{} images removed, {} kept", p.removed.len(), p.kept),
            Err(e) => format!("FAILED: {e}"),
        },
        |target, phase| async move {
            let work = async |session: &HostSession, engine: &crate::host::engine::DockerEngine| {
                prune(session, engine, opts, &phase).await
            };
            let say = |w: &str| phase.say(w);
            crate::host::with_engine(&target, &opts.ssh, &say, work).await?
        },
    )
}

/// Under the host's lock: removes the images [`crate::plan::journal::prune`] chooses.
pub async fn prune(
    session: &impl Host,
    engine: &impl Engine,
    opts: &JournalOptions,
    phase: &Phase,
) -> Result<Pruned, JournalOpError> {
    phase.say("taking the lock, reading the manifest");
    let (files, lock) = session
        .lock_and_read(&opts.holder, opts.lock_timeout)
        .await?;
    let chosen = async {
        phase.say("reading the deploy journal");
        let history = read_history(session).await?;
        phase.say("reading the engine's images");
        let observed = engine.observe().await?;
        let keep = session.target().journal.keep_deploys;
        let (removed, kept) =
            crate::plan::journal::prune(&observed, &history, keep, &files.journal.pins);
        if !opts.dry_run {
            for image in &removed {
                phase.say(&format!("removing {}", image.id));
                engine.remove_image(&image.id, &image.tags).await?;
            }
        }
        Ok::<_, JournalOpError>(Pruned { removed, kept })
    }
    .await;
    let released = lock.release().await;
    let pruned = chosen?;
    released?;
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::{FakeEngine, FakeHost};

    fn options() -> JournalOptions {
        JournalOptions {
            forks: 1,
            ssh: SshOptions::default(),
            redactor: Default::default(),
            lock_timeout: Duration::from_secs(1),
            holder: "test pid 1".into(),
            dry_run: false,
        }
    }

    fn phase() -> Phase {
        Phase::quiet()
    }

    fn pin(id: &str) -> Pin {
        Pin {
            image_id: id.into(),
            image: "web:main".into(),
            since: "T".into(),
            by: "a@b".into(),
            deploy: 3,
            why: "rollback to deploy 1".into(),
        }
    }

    async fn pinned_host() -> FakeHost {
        let host = FakeHost::new("h1");
        let pins = Pins {
            pins: [
                ("web".to_string(), pin("sha256:v1")),
                ("db".into(), pin("sha256:d1")),
            ]
            .into(),
        };
        let (_, mut lock) = host.lock_and_read("setup", Duration::ZERO).await.unwrap();
        lock.record(&JournalWrite {
            record: None,
            keep: 50,
            pins: Some(pins),
        })
        .await
        .unwrap();
        lock.release().await.unwrap();
        host
    }

    #[tokio::test]
    async fn unpin_removes_the_named_pins_and_refuses_unknown_ones_writing_nothing() {
        let host = pinned_host().await;
        let e = unpin(&host, &["cache".into()], &options(), &phase())
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cache not pinned on this host (pinned: db, web)"
        );
        assert_eq!(host.state().host_files().journal.pins.pins.len(), 2);
        let done = unpin(&host, &["web".into()], &options(), &phase())
            .await
            .unwrap();
        assert_eq!(done.removed.len(), 1);
        let left = host.state().host_files().journal.pins;
        assert_eq!(left.pins.keys().collect::<Vec<_>>(), ["db"]);
        unpin(&host, &[], &options(), &phase()).await.unwrap();
        assert!(host.state().host_files().journal.pins.is_empty());
        assert_eq!(host.state().holder, None, "the lock is released");
    }

    #[tokio::test]
    async fn prune_removes_only_unreferenced_images_and_dry_run_none() {
        let host = pinned_host().await;
        let engine = FakeEngine::new("test");
        // web:main is pinned (its repository nxinfra's); web:0 an older version of it;
        // junk:1 another repository's.
        for (tag, id) in [
            ("docker.io/library/web:main", "sha256:v1"),
            ("docker.io/library/web:0", "sha256:w1"),
            ("docker.io/library/db:1", "sha256:d1"),
            ("docker.io/library/junk:1", "sha256:j1"),
        ] {
            engine.state().images.insert(tag.into(), id.into());
        }
        let mut opts = options();
        opts.dry_run = true;
        let would = prune(&host, &engine, &opts, &phase()).await.unwrap();
        assert_eq!(would.removed.len(), 1);
        assert_eq!(engine.state().images.len(), 4, "a dry run removes nothing");
        let done = prune(&host, &engine, &options(), &phase()).await.unwrap();
        assert_eq!(done.removed[0].id, "sha256:w1");
        assert_eq!(done.kept, 3);
        let left: Vec<String> = engine.state().images.values().cloned().collect();
        assert_eq!(left, ["sha256:d1", "sha256:j1", "sha256:v1"]);
        assert_eq!(host.state().holder, None, "the lock is released");
    }
}

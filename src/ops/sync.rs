//! `nxinfra sync`: rendered trees placed on many hosts over SSH, in parallel (`--forks`), each
//! independent of the others' failures. Per host: connect, take the lock and read the
//! manifest, plan ([`crate::plan::files`]), then upload in one tar stream unpacked with
//! atomic renames ([`crate::host::session`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::host::files::{SyncOptions, split, sync_locked};
use crate::host::runner::HostFailure;
use crate::host::session::{HostSession, SessionError};
use crate::model::target::Target;
use crate::model::tree::OutFile;
use crate::plan::files::SyncPlan;
use crate::util::progress::Progress;

/// The result of one host.
#[derive(Debug)]
pub struct HostOutcome {
    pub host: String,
    pub result: Result<HostSync, HostFailure>,
}

/// What happened on a host that did not fail.
#[derive(Debug)]
pub struct HostSync {
    pub plan: SyncPlan,
    /// With `--diff`: the unified diff, secrets redacted.
    pub diff: Option<String>,
    /// With `--force-unlock`: who held the lock that was broken.
    pub unlocked: Option<String>,
    /// Remote commands run on the host: 1, or 2 with `--diff`.
    pub remote_commands: usize,
    /// From connecting to the end of the host's command.
    pub elapsed: Duration,
}

/// Syncs every host's files; returns one outcome per host, in the given order.
pub fn sync_all(
    hosts: Vec<(Target, BTreeMap<String, OutFile>)>,
    opts: &SyncOptions,
    progress: Arc<Progress>,
) -> Vec<HostOutcome> {
    let opts = Arc::new(opts.clone());
    let items = hosts
        .into_iter()
        .map(|(t, files)| (t.host.clone(), (t, files)))
        .collect();
    crate::host::runner::for_hosts(items, opts.forks, move |i, (target, files)| {
        let opts = opts.clone();
        let progress = progress.clone();
        async move {
            let result = sync_host(&target, files, &opts, |what| progress.phase(i, what)).await;
            let verb = if !opts.mode.changes() {
                "would change"
            } else {
                "changed"
            };
            progress.finish(
                i,
                &match &result {
                    Ok(s) if s.plan.is_noop() => "unchanged".to_string(),
                    Ok(s) => format!("{verb} {}", s.plan.summary()),
                    Err(e) => format!("FAILED: {e}"),
                },
            );
            result
        }
    })
    .into_iter()
    .map(|(host, result)| HostOutcome { host, result })
    .collect()
}

async fn sync_host(
    target: &Target,
    files: BTreeMap<String, OutFile>,
    opts: &SyncOptions,
    phase: impl Fn(&str) + Sync,
) -> Result<HostSync, SessionError> {
    let (files, system) = split(target, files)?;
    let start = std::time::Instant::now();
    phase("connecting");
    let session = HostSession::connect(target, &opts.ssh).await?;
    let result = async {
        let synced = sync_locked(&session, &files, &system, opts, &phase).await?;
        synced.lock.release().await?;
        Ok(HostSync {
            plan: synced.plan,
            diff: synced.diff,
            unlocked: synced.unlocked,
            remote_commands: 0,
            elapsed: Duration::ZERO,
        })
    }
    .await;
    let commands = session.commands_run();
    session.close().await;
    result.map(|s| HostSync {
        remote_commands: commands,
        elapsed: start.elapsed(),
        ..s
    })
}

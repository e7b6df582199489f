//! `nxinfra sync`: rendered trees placed on many hosts over SSH, in parallel (`--forks`), each
//! independent of the others' failures. Per host: connect, take the lock and read the
//! manifest, plan ([`crate::plan::files`]), then upload in one tar stream unpacked with
//! atomic renames ([`crate::host::session`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::host::Host;
use crate::host::files::{SyncOptions, split, sync_locked};
use crate::host::runner::HostFailure;
use crate::host::session::{HostSession, SessionError};
use crate::model::system_files::Placed;
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
    /// The host's hold (`nxinfra_hold`): a sync does not contact it (the plan is empty), a
    /// dry run plans what it would otherwise change.
    pub held: Option<crate::model::hold::Hold>,
}

impl HostSync {
    /// A held host, left as it is without being contacted.
    fn held(hold: &crate::model::hold::Hold) -> HostSync {
        HostSync {
            plan: SyncPlan::default(),
            diff: None,
            unlocked: None,
            remote_commands: 0,
            elapsed: Duration::ZERO,
            held: Some(hold.clone()),
        }
    }
}

/// Syncs every host's files; returns one outcome per host, in the given order.
pub fn sync_all(
    hosts: Vec<(Target, BTreeMap<String, OutFile>)>,
    opts: &SyncOptions,
    progress: Arc<Progress>,
) -> Vec<HostOutcome> {
    let items = hosts
        .into_iter()
        .map(|(t, files)| (t.host.clone(), (t, files)))
        .collect();
    crate::host::runner::for_hosts(
        items,
        opts.forks,
        opts.redactor.clone(),
        |i, (target, files)| {
            let progress = &progress;
            async move {
                let result = sync_host(&target, files, opts, |what| progress.phase(i, what)).await;
                let verb = if !opts.mode.changes() {
                    "would change"
                } else {
                    "changed"
                };
                progress.finish(
                    i,
                    &match &result {
                        Ok(HostSync {
                            held: Some(hold),
                            plan,
                            ..
                        }) => hold.line(&plan.summary(), plan.is_noop()),
                        Ok(s) if s.plan.is_noop() => "unchanged".to_string(),
                        Ok(s) => format!("{verb} {}", s.plan.summary()),
                        Err(e) => format!("FAILED: {e}"),
                    },
                );
                result
            }
        },
    )
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
    if let Some(hold) = &target.holds.host
        && opts.mode.changes()
    {
        return Ok(HostSync::held(hold));
    }
    let (files, system) = split(target, files)?;
    let start = std::time::Instant::now();
    phase("connecting");
    let session = HostSession::connect(target, &opts.ssh).await?;
    let result = sync_on(&session, &files, &system, opts, &phase).await;
    let commands = session.commands_run();
    session.close().await;
    result.map(|s| HostSync {
        remote_commands: commands,
        elapsed: start.elapsed(),
        held: target.holds.host.clone(),
        ..s
    })
}

/// Syncs the files of a host reached: under its lock, released afterwards whatever happened.
async fn sync_on(
    host: &impl Host,
    files: &BTreeMap<String, OutFile>,
    system: &[Placed],
    opts: &SyncOptions,
    phase: &(dyn Fn(&str) + Sync),
) -> Result<HostSync, SessionError> {
    let synced = sync_locked(host, files, system, opts, phase).await?;
    synced.lock.release().await?;
    Ok(HostSync {
        plan: synced.plan,
        diff: synced.diff,
        unlocked: synced.unlocked,
        remote_commands: 0,
        elapsed: Duration::ZERO,
        held: None,
    })
}

#[cfg(test)]
mod tests {
    //! Sync's orchestration on a host in memory ([`crate::host::fake`]); tests/sync_*.rs
    //! show the same on real sshd.

    use super::*;
    use crate::host::fake::FakeHost;
    use crate::host::files::RunMode;

    fn options(mode: RunMode) -> SyncOptions {
        SyncOptions {
            forks: 1,
            mode,
            diff: false,
            force_unlock: false,
            lock_timeout: Duration::from_secs(1),
            ssh: Default::default(),
            holder: "test pid 1".into(),
            source: Default::default(),
            redactor: Default::default(),
        }
    }

    fn tree(files: &[(&str, &str)]) -> BTreeMap<String, OutFile> {
        files
            .iter()
            .map(|(p, d)| (p.to_string(), OutFile::new(*d, 0o644)))
            .collect()
    }

    async fn sync(
        host: &FakeHost,
        files: &[(&str, &str)],
        mode: RunMode,
    ) -> Result<HostSync, SessionError> {
        let (files, system) = split(&host.target, tree(files))?;
        sync_on(host, &files, &system, &options(mode), &|_| {}).await
    }

    #[tokio::test]
    async fn files_are_placed_stale_ones_removed_and_a_second_run_uploads_nothing() {
        let host = FakeHost::new("h1");
        let first = sync(&host, &[("a.conf", "1"), ("old.conf", "x")], RunMode::Apply)
            .await
            .unwrap();
        assert_eq!(first.plan.upload, ["a.conf", "old.conf"]);
        let second = sync(&host, &[("a.conf", "2")], RunMode::Apply)
            .await
            .unwrap();
        assert_eq!(second.plan.upload, ["a.conf"]);
        assert_eq!(second.plan.remove, ["old.conf"]);
        assert_eq!(host.file("a.conf").as_deref(), Some("2"));
        assert_eq!(host.file("old.conf"), None);
        assert!(host.state().manifest.files.contains_key("a.conf"));
        assert!(!host.state().manifest.files.contains_key("old.conf"));
        let uploads = host.state().uploads;
        let third = sync(&host, &[("a.conf", "2")], RunMode::Apply)
            .await
            .unwrap();
        assert!(third.plan.is_noop());
        assert_eq!(host.state().uploads, uploads, "a no-op uploads nothing");
        assert_eq!(host.state().holder, None, "the lock is released each time");
        assert_eq!(host.state().locks_taken, 3);
    }

    #[tokio::test]
    async fn a_dry_run_plans_under_the_lock_and_a_read_only_run_takes_none() {
        let host = FakeHost::new("h1");
        sync(&host, &[("a.conf", "1")], RunMode::Apply)
            .await
            .unwrap();
        for (mode, locks) in [(RunMode::DryRun, 2), (RunMode::ReadOnly, 2)] {
            let planned = sync(&host, &[("a.conf", "2"), ("b.conf", "3")], mode)
                .await
                .unwrap();
            assert_eq!(planned.plan.upload, ["a.conf", "b.conf"], "{mode:?}");
            assert_eq!(host.file("a.conf").as_deref(), Some("1"), "{mode:?}");
            assert_eq!(host.state().uploads, 1, "{mode:?}");
            assert_eq!(host.state().locks_taken, locks, "{mode:?}");
            assert_eq!(host.state().holder, None);
        }
    }

    #[tokio::test]
    async fn a_refused_upload_leaves_the_host_as_it_was_and_unlocked() {
        let host = FakeHost::new("h1");
        sync(&host, &[("a.conf", "1")], RunMode::Apply)
            .await
            .unwrap();
        let manifest = host.state().manifest.clone();
        host.state().refuse_upload = Some(2);
        let error = sync(&host, &[("a.conf", "2")], RunMode::Apply)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "uploading and applying the changes failed: No space left on device"
        );
        assert_eq!(host.file("a.conf").as_deref(), Some("1"));
        assert_eq!(host.state().manifest, manifest);
        assert_eq!(host.state().holder, None);
    }

    #[tokio::test]
    async fn a_held_lock_stops_the_host_and_force_unlock_ends_it() {
        let host = FakeHost::new("h1");
        host.state().holder = Some("alice@laptop pid 7".into());
        let error = sync(&host, &[("a.conf", "1")], RunMode::Apply)
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "locked: held by alice@laptop pid 7");
        assert_eq!(host.state().uploads, 0);

        let (files, system) = split(&host.target, tree(&[("a.conf", "1")])).unwrap();
        let opts = SyncOptions {
            force_unlock: true,
            ..options(RunMode::Apply)
        };
        let synced = sync_on(&host, &files, &system, &opts, &|_| {})
            .await
            .unwrap();
        assert_eq!(synced.unlocked.as_deref(), Some("alice@laptop pid 7"));
        assert_eq!(host.file("a.conf").as_deref(), Some("1"));
    }
}

//! Syncing many hosts: in parallel (`--forks`), each independent of the others' failures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::diff;
use super::manifest::Manifest;
use super::plan::{SyncPlan, plan};
use super::remote;
use super::session::{HostSession, SessionError, SshOptions};
use super::system_files;
use super::target::Target;
use crate::progress::Progress;
use crate::render::OutFile;
use crate::secrets::{Redactor, redact};

#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub forks: usize,
    pub dry_run: bool,
    /// Compute unified diffs of what changes (one more remote command per changed host).
    pub diff: bool,
    /// End whatever holds each host's lock before taking it.
    pub force_unlock: bool,
    pub lock_timeout: Duration,
    pub ssh: SshOptions,
    /// Who holds the lock: `user@machine pid N since TIME`.
    pub holder: String,
}

/// The result of one host.
#[derive(Debug)]
pub struct HostOutcome {
    pub host: String,
    pub result: Result<HostSync, String>,
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
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return hosts
                .into_iter()
                .map(|(t, _)| HostOutcome {
                    host: t.host,
                    result: Err(format!("cannot start the async runtime: {e}")),
                })
                .collect();
        }
    };
    let opts = Arc::new(opts.clone());
    runtime.block_on(async {
        let permits = Arc::new(tokio::sync::Semaphore::new(opts.forks.max(1)));
        let mut set = tokio::task::JoinSet::new();
        let names: Vec<String> = hosts.iter().map(|(t, _)| t.host.clone()).collect();
        for (i, (target, files)) in hosts.into_iter().enumerate() {
            let permits = permits.clone();
            let opts = opts.clone();
            let progress = progress.clone();
            set.spawn(async move {
                let _permit = permits.acquire().await;
                let result = sync_host(&target, files, &opts, |what| progress.phase(i, what))
                    .await
                    .map_err(|e| e.to_string());
                let verb = if opts.dry_run {
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
                (i, result)
            });
        }
        let mut results: Vec<Option<Result<HostSync, String>>> =
            names.iter().map(|_| None).collect();
        while let Some(joined) = set.join_next().await {
            if let Ok((i, r)) = joined {
                results[i] = Some(r);
            }
        }
        names
            .into_iter()
            .zip(results)
            .map(|(host, r)| HostOutcome {
                host,
                result: r.unwrap_or_else(|| Err("the sync task ended abnormally".into())),
            })
            .collect()
    })
}

async fn sync_host(
    target: &Target,
    files: BTreeMap<String, OutFile>,
    opts: &SyncOptions,
    phase: impl Fn(&str),
) -> Result<HostSync, SessionError> {
    let (files, system) =
        system_files::split(&target.host, files, &target.system_files, &target.base_dir).map_err(
            |reason| SessionError::Command {
                what: "placing system files",
                reason,
            },
        )?;
    let (files, system) = (&files, &system[..]);
    let start = std::time::Instant::now();
    phase("connecting");
    let session = HostSession::connect(target, &opts.ssh).await?;
    let result = async {
        let unlocked = if opts.force_unlock {
            let out = session
                .run(&remote::force_unlock(&target.base_dir), "breaking the lock")
                .await?;
            Some(String::from_utf8_lossy(&out).trim().to_string()).filter(|s| !s.is_empty())
        } else {
            None
        };
        phase("taking the lock, reading the manifest");
        let (remote_manifest, lock) = session
            .lock_and_read(&opts.holder, opts.lock_timeout)
            .await?;
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
            let old = session.fetch(&wanted, &wanted_system).await?;
            let none = Redactor::new([]);
            let redactor = redact::global().unwrap_or(&none);
            Some(diff::plan_diff(
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
        if !p.is_noop() && !opts.dry_run {
            let tar = remote::upload_tar(&target.base_dir, files, system, &p, &local).map_err(
                |reason| SessionError::Command {
                    what: "preparing the upload",
                    reason,
                },
            )?;
            phase(&format!(
                "uploading {} ({} KiB), applying",
                p.summary(),
                tar.len().div_ceil(1024)
            ));
            lock.apply(&tar).await?;
        } else {
            lock.release().await?;
        }
        Ok(HostSync {
            plan: p,
            diff,
            unlocked,
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

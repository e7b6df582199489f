//! A restore drill: a backup's newest copy restored into a throwaway container on its host, a
//! check run there, the container removed whatever happened.

use std::path::Path;
use std::time::{Instant, SystemTime};

use crate::host::engine::{DockerEngine, Engine, EngineError};
use crate::host::session::{HostSession, SshOptions};
use crate::model::backup::Backup;
use crate::model::target::Target;
use crate::secrets::age_file::Identities;

use super::dest::Place;
use super::{BackupError, Counted, Opened, shell};

/// What a restore drill found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Drilled {
    pub destination: String,
    /// The copy restored.
    pub file: String,
    pub image: String,
    /// The drill's container (removed afterwards).
    pub container: String,
    pub passed: bool,
    /// Which step decided: `restore` (it failed), `check`, or `timeout`.
    pub step: &'static str,
    /// The check's exit status (or the restore's, when it failed).
    pub code: Option<i64>,
    /// What the deciding step printed, redacted.
    pub output: String,
    /// The dump's bytes fed to the restore.
    pub bytes: u64,
    /// Why the container could not be removed, if it could not.
    pub cleanup_error: Option<String>,
    pub elapsed_ms: u64,
}

/// A restore drill of `backup` on `target`: its newest copy at `place` restored into a
/// throwaway container of the drill's image (no network), the drill's check run in it, the
/// container removed whatever happened. A failed restore or check is a report
/// (`passed: false`), not an error; an error is what kept the drill from running.
#[allow(clippy::too_many_arguments)]
pub async fn drill(
    target: &Target,
    backup: &Backup,
    destination: &str,
    place: &Place,
    identities: &Identities,
    ssh: &SshOptions,
    spool_dir: &Path,
    redactor: &crate::util::redact::Redactor,
) -> Result<Drilled, BackupError> {
    let Some(drill) = &backup.drill else {
        return Err(BackupError::NoDrill {
            host: target.host.clone(),
            name: backup.name.clone(),
        });
    };
    let start = Instant::now();
    let opened = Opened::of(
        place,
        &target.host,
        backup,
        destination,
        None,
        identities,
        spool_dir,
    )
    .await?;
    let (copy, mut reader) = (opened.copy, opened.reader);
    let container = format!(
        "nxinfra-drill-{}-{}",
        backup.name,
        SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    let report = crate::host::with_engine(
        target,
        ssh,
        &|_: &str| {},
        async |_: &HostSession, engine: &DockerEngine| {
            engine
                .start_drill(
                    &container,
                    &drill.image,
                    &drill.env,
                    drill.command.as_deref(),
                    &backup.name,
                )
                .await?;
            let mut counted = Counted {
                inner: &mut reader,
                bytes: 0,
            };
            let steps = async {
                let (code, stderr) = engine
                    .exec(
                        &container,
                        shell(&drill.restore),
                        Some(&mut counted),
                        &mut |_| Ok(()),
                    )
                    .await?;
                if code != 0 {
                    let step: &'static str = "restore";
                    return Ok::<_, EngineError>((step, Some(code), stderr, false));
                }
                let (code, output) = engine.exec_output(&container, shell(&drill.check)).await?;
                Ok(("check", Some(code), output, code == 0))
            };
            let outcome = match tokio::time::timeout(drill.timeout, steps).await {
                Ok(r) => r,
                Err(_) => Ok((
                    "timeout",
                    None,
                    format!(
                        "the drill did not end within {}s (drill: timeout)",
                        drill.timeout.as_secs()
                    ),
                    false,
                )),
            };
            // Whatever happened: the throwaway container goes.
            let cleanup = engine.remove(&container, true).await.err();
            let bytes = counted.bytes;
            Ok::<_, BackupError>((outcome?, cleanup, bytes))
        },
    )
    .await??;
    let ((step, code, output, passed), cleanup, bytes) = report;
    Ok(Drilled {
        destination: destination.to_string(),
        file: copy.file,
        image: drill.image.clone(),
        container,
        passed: passed && cleanup.is_none(),
        step,
        code,
        output: redactor.redact(&output).into_owned(),
        bytes,
        cleanup_error: cleanup.map(|e| redactor.redact(&e.to_string()).into_owned()),
        elapsed_ms: start.elapsed().as_millis() as u64,
    })
}

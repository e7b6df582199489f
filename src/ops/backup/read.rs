//! The reading side of backups, over every destination of every selected backup: the copies
//! listed, the newest judged against its `max_age`, the newest (or every) copy read back
//! through the backup's check. Nothing is written anywhere but a private temporary file for a
//! copy read from elsewhere.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::host::runner::HostFailure;
use crate::model::backup::{Backup, Destination};
use crate::plan::backup::{self as plan, Copy, Freshness};
use crate::secrets::age_file::Identities;

use super::dest::Place;
use super::store::{self, Checked};
use super::{BackupError, Job};

/// One row of a report over destinations: a host's backup at one destination.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row<T> {
    pub host: String,
    pub backup: String,
    pub destination: String,
    /// Where, as messages show it.
    pub location: String,
    #[serde(flatten)]
    pub result: RowResult<T>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum RowResult<T> {
    Ok(T),
    Failed { error: HostFailure },
}

impl<T> RowResult<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            RowResult::Ok(t) => Some(t),
            RowResult::Failed { .. } => None,
        }
    }
}

/// Runs `work` for every destination of every job, hosts `forks` at a time, the
/// destinations of one host in order; each row's error redacted.
fn each_destination<T, F>(
    hosts: Vec<(String, Vec<Job>)>,
    forks: usize,
    redactor: Arc<crate::util::redact::Redactor>,
    work: F,
) -> Vec<Row<T>>
where
    F: AsyncFn(&str, &Backup, &Destination, &Place) -> Result<T, BackupError>,
{
    let work = &work;
    let red = redactor.clone();
    let items = hosts
        .into_iter()
        .map(|(h, jobs)| (h.clone(), (h, jobs)))
        .collect();
    let outcomes = crate::host::runner::for_hosts(items, forks, redactor, |_, (host, jobs)| {
        let red = red.clone();
        async move {
            let mut rows = Vec::new();
            for job in &jobs {
                for (d, place) in &job.places {
                    let result = match work(&host, &job.backup, d, place).await {
                        Ok(t) => RowResult::Ok(t),
                        Err(e) => RowResult::Failed {
                            error: HostFailure::of(&e, &red),
                        },
                    };
                    rows.push(Row {
                        host: host.clone(),
                        backup: job.backup.name.clone(),
                        destination: d.name.clone(),
                        location: place.location(&host, &job.backup.name, None),
                        result,
                    });
                }
            }
            Ok::<_, HostFailure>(rows)
        }
    });
    outcomes
        .into_iter()
        .flat_map(|(_, r)| r.unwrap_or_default())
        .collect()
}

/// The copies at one destination, oldest first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Copies {
    pub copies: Vec<Copy>,
}

/// The copies at every destination.
pub fn list_all(
    hosts: Vec<(String, Vec<Job>)>,
    forks: usize,
    redactor: Arc<crate::util::redact::Redactor>,
) -> Vec<Row<Copies>> {
    each_destination(hosts, forks, redactor, async |host, backup, _, place| {
        Ok(Copies {
            copies: place.list(host, &backup.name).await?,
        })
    })
}

/// The newest copy at a destination and how it stands against its `max_age`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub newest: Option<Copy>,
    pub copies: usize,
    #[serde(flatten)]
    pub freshness: Freshness,
    pub max_age_secs: Option<u64>,
}

/// Every destination's newest copy, judged at `now`.
pub fn status_all(
    hosts: Vec<(String, Vec<Job>)>,
    forks: usize,
    redactor: Arc<crate::util::redact::Redactor>,
    now: SystemTime,
) -> Vec<Row<Status>> {
    each_destination(hosts, forks, redactor, async |host, backup, d, place| {
        let copies = place.list(host, &backup.name).await?;
        Ok(Status {
            freshness: plan::freshness(&copies, d.max_age, now),
            newest: copies.last().cloned(),
            copies: copies.len(),
            max_age_secs: d.max_age.map(|m| m.as_secs()),
        })
    })
}

/// A copy read back through, or why it does not read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    pub file: String,
    pub time: String,
    /// The dump's size and sha256, read back.
    pub bytes: Option<u64>,
    pub sha256: Option<String>,
    /// What the backup's `check` said (output redacted).
    pub check: Option<Checked>,
    /// Why it does not read back (redacted).
    pub error: Option<HostFailure>,
}

impl Verified {
    /// It reads back and its check (if any) passed.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.check.as_ref().is_none_or(Checked::passed)
    }
}

/// The copies read back at one destination.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifiedCopies {
    pub copies: Vec<Verified>,
}

/// Reads back the newest copy (every copy with `all`) at every destination: decrypted,
/// decompressed, and fed to the backup's `check`. A copy read from elsewhere goes through a
/// private temporary file in `spool_dir`.
pub fn verify_all(
    hosts: Vec<(String, Vec<Job>)>,
    forks: usize,
    redactor: Arc<crate::util::redact::Redactor>,
    identities: &Identities,
    spool_dir: &Path,
    all: bool,
) -> Vec<Row<VerifiedCopies>> {
    let red = redactor.clone();
    each_destination(hosts, forks, redactor, async |host, backup, d, place| {
        let copies = place.list(host, &backup.name).await?;
        if copies.is_empty() {
            return Err(BackupError::NoCopy {
                name: backup.name.clone(),
                destination: d.name.clone(),
            });
        }
        let chosen = if all {
            &copies[..]
        } else {
            &copies[copies.len() - 1..]
        };
        let mut out = Vec::new();
        for copy in chosen {
            let read = async {
                let fetched = place
                    .fetch(host, &backup.name, &copy.file, spool_dir)
                    .await?;
                let path = fetched.path();
                let io = |source| BackupError::File {
                    action: "read",
                    file: PathBuf::from(place.location(host, &backup.name, Some(&copy.file))),
                    source,
                };
                let ((bytes, sha256), check) = match &backup.check {
                    Some(check) => {
                        let (sums, mut checked) =
                            store::verify_checked(path, identities, check).map_err(io)?;
                        checked.output = red.redact(&checked.output).into_owned();
                        (sums, Some(checked))
                    }
                    None => (store::verify(path, identities).map_err(io)?, None),
                };
                Ok::<_, BackupError>((bytes, sha256, check))
            };
            let (bytes, sha256, check, error) = match read.await {
                Ok((b, s, c)) => (Some(b), Some(s), c, None),
                Err(e) => (None, None, None, Some(HostFailure::of(&e, &red))),
            };
            out.push(Verified {
                file: copy.file.clone(),
                time: copy.time.clone(),
                bytes,
                sha256,
                check,
                error,
            });
        }
        Ok(VerifiedCopies { copies: out })
    })
}

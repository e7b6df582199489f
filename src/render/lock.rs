//! The local render lock and the staging folders of renders that died.
//!
//! A render that writes `rendered/` holds an exclusive `flock` on `.nxinfra-render.lock`
//! beside it, so two renders of one repository (two terminals, an editor's hook and a
//! `make`) never interleave their writes. The lock goes with the process: a render killed
//! with SIGKILL holds nothing. The file says who holds it (pid, user, since), for the one that
//! waits.
//!
//! Staging folders are named `.nxinfra-render-<pid>-<random>`; under the lock, a render
//! removes those whose process is gone (a render killed mid-way leaves one behind).

use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// The lock file, under the repository root (beside `rendered/`).
pub const LOCK_FILE: &str = ".nxinfra-render.lock";
/// How staging folders' names begin, under the repository root.
pub const STAGING_PREFIX: &str = ".nxinfra-render-";
/// A staging folder without a pid in its name (made by an nxinfra before the lock) counts as
/// abandoned once it is this old.
const LEGACY_STAGING_AGE: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open the render lock {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot take the render lock {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another render of this repository holds {} ({holder}) and did not finish within {}s: \
         wait for it and run again (or --lock-timeout SECONDS to wait longer); if it hangs, end \
         that process",
        path.display(),
        waited.as_secs()
    )]
    Timeout {
        path: PathBuf,
        holder: String,
        waited: Duration,
    },
}

/// The held lock; released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct RenderLock {
    file: std::fs::File,
}

impl Drop for RenderLock {
    fn drop(&mut self) {
        // Who held it is no longer true; the flock itself goes with the file.
        let _ = self.file.set_len(0);
    }
}

/// `root` as a folder to open things in (the empty path is the current folder).
fn dir_of(root: &Path) -> &Path {
    if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    }
}

fn try_flock(file: &std::fs::File) -> std::io::Result<bool> {
    use rustix::{fs::FlockOperation, io::Errno};
    loop {
        match rustix::fs::flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(true),
            Err(Errno::WOULDBLOCK) => return Ok(false),
            Err(Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        }
    }
}

/// Who holds the lock, as its file says.
fn holder(file: &mut std::fs::File) -> String {
    let mut text = String::new();
    let read = file
        .rewind()
        .and_then(|()| file.take(4096).read_to_string(&mut text));
    match read {
        Ok(_) if !text.trim().is_empty() => text.trim().to_string(),
        _ => "a process that has not said who it is yet".to_string(),
    }
}

/// Takes the render lock of the repository at `root`, waiting up to `timeout` for another
/// render to finish; `waiting` is told once who holds it.
pub fn acquire(
    root: &Path,
    timeout: Duration,
    mut waiting: impl FnMut(&str),
) -> Result<RenderLock, LockError> {
    // Relative when `root` is (the repository found in the current folder): messages name
    // files as the operator sees them.
    let path = root.join(LOCK_FILE);
    // Never truncated on open: the holder's line is for the ones that wait.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|source| LockError::Open {
            path: path.clone(),
            source,
        })?;
    let start = Instant::now();
    let mut told = false;
    loop {
        let locked = try_flock(&file).map_err(|source| LockError::Lock {
            path: path.clone(),
            source,
        })?;
        if locked {
            break;
        }
        if start.elapsed() >= timeout {
            return Err(LockError::Timeout {
                holder: holder(&mut file),
                path,
                waited: timeout,
            });
        }
        if !told {
            told = true;
            waiting(&holder(&mut file));
        }
        std::thread::sleep(Duration::from_millis(50).min(timeout.saturating_sub(start.elapsed())));
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let line = format!(
        "pid {}, user {user}, since {}\n",
        std::process::id(),
        humantime::format_rfc3339_seconds(SystemTime::now())
    );
    // What the file says is only for messages: failing to write it does not fail the render.
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(line.as_bytes()));
    Ok(RenderLock { file })
}

/// Whether process `pid` exists (a process of another user counts).
fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // kill(pid, 0): signal 0 checks for the process without sending anything.
    rustix::process::Pid::from_raw(pid).is_some_and(|pid| {
        matches!(
            rustix::process::test_kill_process(pid),
            Ok(()) | Err(rustix::io::Errno::PERM)
        )
    })
}

/// The name of a new staging folder's prefix: [`STAGING_PREFIX`] and this process's pid.
pub fn staging_prefix() -> String {
    format!("{STAGING_PREFIX}{}-", std::process::id())
}

/// Removes the staging folders under `root` that belong to no running process: those whose
/// pid is gone, and those without a pid older than an hour. Call it holding the lock (no
/// render is then between creating its staging folder and removing it, but the holder).
/// Returns the names removed; a folder that cannot be removed is left for the next render.
pub fn remove_abandoned_staging(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir_of(root)) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(STAGING_PREFIX) else {
            continue;
        };
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        let pid = rest
            .split_once('-')
            .and_then(|(pid, _)| pid.parse::<i32>().ok());
        let abandoned = match pid {
            Some(pid) => pid != std::process::id() as i32 && !alive(pid),
            None => meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > LEGACY_STAGING_AGE),
        };
        if abandoned && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed.push(name);
        }
    }
    removed.sort();
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_waits_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = acquire(dir.path(), Duration::ZERO, |_| panic!("free")).unwrap();
        let text = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert!(
            text.starts_with(&format!("pid {}, user ", std::process::id())),
            "{text}"
        );
        let mut told = Vec::new();
        let err = acquire(dir.path(), Duration::from_millis(200), |h| {
            told.push(h.to_string())
        })
        .unwrap_err();
        assert_eq!(told, [text.trim()]);
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id()))
                && msg.contains(LOCK_FILE)
                && msg.contains("within 0s"),
            "{msg}"
        );
        drop(held);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap(),
            ""
        );
        acquire(dir.path(), Duration::ZERO, |_| panic!("released")).unwrap();
    }

    #[test]
    fn only_staging_folders_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A pid that ran and is gone: a child that has exited and been waited for.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let mine = std::process::id();
        for name in [
            format!("{STAGING_PREFIX}{dead}-abc"),
            format!("{STAGING_PREFIX}{mine}-abc"),
            format!("{STAGING_PREFIX}1-abc"),
            format!("{STAGING_PREFIX}young"),
            "rendered".to_string(),
        ] {
            std::fs::create_dir_all(dir.path().join(&name).join("h1")).unwrap();
        }
        std::fs::write(dir.path().join(format!("{STAGING_PREFIX}{dead}-file")), "").unwrap();
        let removed = remove_abandoned_staging(dir.path());
        assert_eq!(removed, [format!("{STAGING_PREFIX}{dead}-abc")]);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expected = [
            format!("{STAGING_PREFIX}1-abc"),
            format!("{STAGING_PREFIX}{dead}-file"),
            format!("{STAGING_PREFIX}{mine}-abc"),
            format!("{STAGING_PREFIX}young"),
            "rendered".to_string(),
        ];
        expected.sort();
        assert_eq!(
            left, expected,
            "live, non-folders and young legacy ones stay"
        );
    }
}

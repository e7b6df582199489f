//! What `nxinfra secrets edit` needs to keep the plaintext safe while an editor has it:
//!
//! - [`Scratch`]: the decrypted copy, in a private folder (0700) holding one 0600 file, in
//!   memory-backed storage (`/dev/shm`) when there is some, removed when dropped: on every
//!   return path, errors included;
//! - [`Signals`]: SIGINT, SIGTERM and SIGHUP caught while the plaintext exists, so that
//!   nxinfra is never killed with the copy still on disk. A signal that arrives while the
//!   editor runs is passed on to the editor, nxinfra waits for it to end, then the edit is
//!   discarded and the command ends with [`Interrupted`] (exit 128 + the signal's number).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicI32, Ordering};

use super::SecretsError;

/// Where the scratch folder goes, first choice first: memory-backed storage, so the plaintext
/// never reaches a disk (unless the system swaps), then the temporary folder.
pub fn scratch_bases() -> Vec<PathBuf> {
    vec![PathBuf::from("/dev/shm"), std::env::temp_dir()]
}

/// The plaintext copy of the secrets, removed (with its folder) when dropped.
pub struct Scratch {
    dir: tempfile::TempDir,
    file: PathBuf,
}

impl Scratch {
    /// Writes `plaintext` to `secrets.yml` in a new private folder under the first of `bases`
    /// where one can be made.
    pub fn new(plaintext: &[u8], bases: &[PathBuf]) -> Result<Scratch, SecretsError> {
        let mut last = None;
        for base in bases.iter().filter(|b| b.is_dir()) {
            match tempfile::Builder::new()
                .prefix("nxinfra-secrets-")
                .permissions(std::fs::Permissions::from_mode(0o700))
                .tempdir_in(base)
            {
                Ok(dir) => return Scratch::fill(dir, plaintext),
                Err(e) => last = Some((base.clone(), e)),
            }
        }
        let (file, source) = last.unwrap_or_else(|| {
            (
                std::env::temp_dir(),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        });
        Err(SecretsError::Io {
            action: "create a private folder for the plaintext in",
            file,
            source,
        })
    }

    fn fill(dir: tempfile::TempDir, plaintext: &[u8]) -> Result<Scratch, SecretsError> {
        let file = dir.path().join("secrets.yml");
        let io = |action| {
            let file = file.clone();
            move |source| SecretsError::Io {
                action,
                file,
                source,
            }
        };
        // Created 0600: the plaintext is never readable by others, even for an instant.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .map_err(io("create"))?;
        f.write_all(plaintext).map_err(io("write"))?;
        Ok(Scratch { dir, file })
    }

    pub fn path(&self) -> &Path {
        &self.file
    }

    /// The folder the copy is in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The command was ended by a signal: the edit is discarded, the plaintext removed.
#[derive(Debug, thiserror::Error)]
#[error(
    "interrupted by {}: the edit is discarded, the secrets file is unchanged and the decrypted \
     copy was removed",
    crate::util::interrupt::name(*signal)
)]
pub struct Interrupted {
    pub signal: i32,
}

impl Interrupted {
    /// The shell's convention: 128 + the signal's number (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
    pub fn exit_code(&self) -> u8 {
        crate::util::interrupt::exit_status(self.signal)
    }
}

/// The first signal caught (0: none).
static CAUGHT: AtomicI32 = AtomicI32::new(0);
/// The editor's process id while it runs (0: none), to pass signals on to.
static CHILD: AtomicI32 = AtomicI32::new(0);

const HANDLED: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(signal: libc::c_int) {
    // Only async-signal-safe work here: atomics and kill(2).
    let _ = CAUGHT.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    let child = CHILD.load(Ordering::SeqCst);
    if child > 0 {
        // SAFETY: kill(2) is async-signal-safe; `child` is our own child while it runs.
        unsafe {
            libc::kill(child, signal);
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP caught while this value lives; the previous handlers come back
/// when it is dropped. Install it before the plaintext exists.
pub struct Signals {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

impl Signals {
    pub fn catch() -> Result<Signals, SecretsError> {
        CAUGHT.store(0, Ordering::SeqCst);
        let mut previous = Vec::new();
        for signal in HANDLED {
            // SAFETY: a zeroed sigaction is valid (empty mask, no flags); the handler only
            // touches atomics and calls kill(2). No SA_RESTART: a prompt's read returns EINTR.
            let installed = unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                (libc::sigaction(signal, &action, &mut old) == 0).then_some(old)
            };
            match installed {
                Some(old) => previous.push((signal, old)),
                None => {
                    return Err(SecretsError::Io {
                        action: "catch signals while editing",
                        file: PathBuf::from("secrets edit"),
                        source: std::io::Error::last_os_error(),
                    });
                }
            }
        }
        Ok(Signals { previous })
    }

    /// The signal caught so far, as an error.
    pub fn check(&self) -> Result<(), Interrupted> {
        match CAUGHT.load(Ordering::SeqCst) {
            0 => Ok(()),
            signal => Err(Interrupted { signal }),
        }
    }

    /// Runs `command` and waits for it; a signal caught meanwhile is passed on to it.
    pub fn run(&self, command: &mut std::process::Command) -> std::io::Result<ExitStatus> {
        let mut child = command.spawn()?;
        CHILD.store(i32::try_from(child.id()).unwrap_or(0), Ordering::SeqCst);
        // A signal that came between spawn and here is passed on now.
        let early = CAUGHT.load(Ordering::SeqCst);
        if early != 0 {
            // SAFETY: the child was just spawned and is not reaped yet.
            unsafe {
                libc::kill(child.id() as libc::pid_t, early);
            }
        }
        let status = child.wait();
        CHILD.store(0, Ordering::SeqCst);
        status
    }

    /// One line from stdin; an interrupt while waiting for it ends the wait.
    pub fn read_line(&self) -> Result<String, Interrupted> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            self.check()?;
            // SAFETY: reads at most one byte into a one-byte buffer.
            let n = unsafe { libc::read(0, byte.as_mut_ptr().cast(), 1) };
            match n {
                1 if byte[0] == b'\n' => break,
                1 => line.push(byte[0]),
                0 => break,
                _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
                _ => break,
            }
        }
        self.check()?;
        Ok(String::from_utf8_lossy(&line).into_owned())
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for (signal, old) in &self.previous {
            // SAFETY: restores the action sigaction gave back for this signal.
            unsafe {
                libc::sigaction(*signal, old, std::ptr::null_mut());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_copy_is_private_and_removed_when_dropped() {
        let base = tempfile::tempdir().unwrap();
        let missing = base.path().join("no-such-dir");
        let scratch = Scratch::new(b"a: 1\n", &[missing, base.path().to_path_buf()]).unwrap();
        assert!(scratch.dir().starts_with(base.path()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(scratch.dir()), 0o700);
        assert_eq!(mode(scratch.path()), 0o600);
        assert_eq!(std::fs::read(scratch.path()).unwrap(), b"a: 1\n");
        let (dir, file) = (scratch.dir().to_path_buf(), scratch.path().to_path_buf());
        // What an editor leaves next to the file (swap, backup) goes too.
        std::fs::write(dir.join(".secrets.yml.swp"), "x").unwrap();
        drop(scratch);
        assert!(!file.exists() && !dir.exists());
    }

    #[test]
    fn memory_backed_storage_comes_first() {
        assert_eq!(scratch_bases()[0], Path::new("/dev/shm"));
        assert!(Scratch::new(b"", &[PathBuf::from("/nonexistent-nxinfra")]).is_err());
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(
            Interrupted {
                signal: libc::SIGINT
            }
            .exit_code(),
            130
        );
        assert_eq!(
            Interrupted {
                signal: libc::SIGTERM
            }
            .exit_code(),
            143
        );
        assert_eq!(
            Interrupted {
                signal: libc::SIGHUP
            }
            .exit_code(),
            129
        );
        assert!(
            Interrupted {
                signal: libc::SIGHUP
            }
            .to_string()
            .starts_with("interrupted by SIGHUP")
        );
    }
}

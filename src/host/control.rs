//! Where the SSH control sockets live, and the masters kept between runs (`--ssh-persist`).
//!
//! Every master's socket is in a private folder (0700, owned by the user): whoever can open a
//! control socket can run commands on the host. The root is `$XDG_RUNTIME_DIR/nxinfra`, else
//! `$TMPDIR/nxinfra-<uid>`. A persistent master lives in `p/<key>/`, where the key is a
//! digest of everything that decides the connection (destination, user, port, ssh config,
//! host-key policy), so a run with other settings never reuses it.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::model::manifest::sha256_hex;

/// Why a control folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot {action} {}: {source}", .dir.display())]
    Io {
        action: &'static str,
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} must be a folder of yours that nobody else can enter (mode 0700): it holds SSH control sockets",
        .0.display()
    )]
    NotPrivate(PathBuf),
    #[error(
        "{} is too long a path for SSH control sockets; set XDG_RUNTIME_DIR or TMPDIR to a shorter folder",
        .0.display()
    )]
    TooLong(PathBuf),
}

/// The root of nxinfra's control folders, created private if missing; refused if another user
/// owns it or others can enter it.
pub fn root() -> Result<PathBuf, ControlError> {
    let uid = rustix::process::getuid().as_raw();
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("nxinfra"),
        None => std::env::temp_dir().join(format!("nxinfra-{uid}")),
    };
    private_dir(&dir, uid)?;
    Ok(dir)
}

/// Removes the engine sockets (`e<pid>-<n>.sock`, [`engine_socket`]) that processes no longer
/// running left in `root`: a killed apply cannot remove its own.
pub fn remove_stale_sockets(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) = socket_pid(&name.to_string_lossy()) else {
            continue;
        };
        if !alive(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The local end of a forwarded engine socket: `e<pid>-<n>.sock` in `root`.
pub fn engine_socket(root: &Path, n: usize) -> PathBuf {
    root.join(format!("e{}-{n}.sock", std::process::id()))
}

/// The pid in an engine socket's name.
fn socket_pid(name: &str) -> Option<i32> {
    let (pid, n) = name
        .strip_prefix('e')?
        .strip_suffix(".sock")?
        .split_once('-')?;
    n.parse::<usize>().ok()?;
    pid.parse().ok().filter(|p| *p > 0)
}

/// Whether process `pid` exists (it may be another user's: then it exists too).
fn alive(pid: i32) -> bool {
    // kill(pid, 0): signal 0 only checks that the process exists.
    rustix::process::Pid::from_raw(pid).is_some_and(|pid| {
        matches!(
            rustix::process::test_kill_process(pid),
            Ok(()) | Err(rustix::io::Errno::PERM)
        )
    })
}

/// The folder of the persistent masters for one connection key.
pub fn persist_dir(root: &Path, key: &str) -> Result<PathBuf, ControlError> {
    let uid = rustix::process::getuid().as_raw();
    // Short names: a unix socket path has at most 107 bytes, and ssh adds
    // `/.ssh-connectionXXXXXX/master.XXXXXXXXXXXXXXXX` (47) to this folder.
    let persist = root.join("p");
    private_dir(&persist, uid)?;
    let dir = persist.join(key);
    private_dir(&dir, uid)?;
    let room = 107usize.saturating_sub(dir.as_os_str().len());
    if room < 47 {
        return Err(ControlError::TooLong(dir));
    }
    Ok(dir)
}

/// The key of a connection: the first 8 bytes of a digest of its settings.
pub fn key(parts: &[&str]) -> String {
    let joined = parts.join("\0");
    sha256_hex(joined.as_bytes())[..16].to_string()
}

/// The masters found in a persist folder: (its folder, control socket, log), newest first.
pub fn masters(dir: &Path) -> Vec<(PathBuf, PathBuf, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".ssh-connection")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found
        .into_iter()
        .map(|(_, d)| (d.clone(), d.join("master"), d.join("log")))
        .collect()
}

fn private_dir(dir: &Path, uid: u32) -> Result<(), ControlError> {
    let io = |action| {
        move |source| ControlError::Io {
            action,
            dir: dir.to_path_buf(),
            source,
        }
    };
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("create")(e)),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(io("read"))?;
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        return Err(ControlError::NotPrivate(dir.to_path_buf()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_sockets_of_dead_processes_are_removed_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        // A process that ran and ended: its pid is free (not reused this soon).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let mine = engine_socket(tmp.path(), 3);
        for name in [
            format!("e{dead}-0.sock"),
            format!("e{dead}-12.sock"),
            "e1-x.sock".to_string(),
            "master.sock".to_string(),
        ] {
            std::fs::write(tmp.path().join(name), "").unwrap();
        }
        std::fs::write(&mine, "").unwrap();
        // pid 1 runs: its socket stays.
        std::fs::write(tmp.path().join("e1-0.sock"), "").unwrap();
        remove_stale_sockets(tmp.path());
        let mut left: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = vec![
            "e1-0.sock".to_string(),
            "e1-x.sock".to_string(),
            mine.file_name().unwrap().to_string_lossy().into_owned(),
            "master.sock".to_string(),
        ];
        want.sort();
        assert_eq!(left, want);
    }

    #[test]
    fn private_folders_are_created_and_open_ones_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let uid = rustix::process::getuid().as_raw();
        let dir = tmp.path().join("ctl");
        private_dir(&dir, uid).unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        private_dir(&dir, uid).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = private_dir(&dir, uid).unwrap_err();
        assert!(err.to_string().contains("nobody else can enter"), "{err}");
        assert!(private_dir(&dir, uid + 1).is_err(), "another user's folder");
    }

    #[test]
    fn keys_differ_with_every_setting_and_masters_are_listed() {
        let a = key(&["h1", "nxtb", "22", "", "accept-new"]);
        assert_eq!(a.len(), 16);
        assert_eq!(a, key(&["h1", "nxtb", "22", "", "accept-new"]));
        assert_ne!(a, key(&["h1", "nxtb", "22", "", "strict"]));
        assert_ne!(a, key(&["h1", "nxtb", "2222", "", "accept-new"]));
        assert_ne!(key(&["h1a", "b"]), key(&["h1", "ab"]));
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join(".ssh-connectionAB")).unwrap();
        std::fs::create_dir(tmp.path().join("other")).unwrap();
        let m = masters(tmp.path());
        assert_eq!(m.len(), 1);
        assert!(m[0].1.ends_with(".ssh-connectionAB/master"));
    }
}

//! Writing a render: files with exact modes into a staging folder, then swapping the staging
//! folder in for `rendered/` (or for each limited host's folder) only when everything succeeded.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Mode of an output file.
pub fn mode_for(out_path: &str, secret: bool) -> u32 {
    match (out_path.ends_with(".sh"), secret) {
        (true, true) => 0o700,
        (true, false) => 0o755,
        (false, true) => 0o600,
        (false, false) => 0o644,
    }
}

/// Writes `data` at `root/rel` with exactly `mode`; `rel` must stay inside `root`.
pub fn write_file(root: &Path, rel: &str, data: &[u8], mode: u32) -> std::io::Result<()> {
    let rel_path = Path::new(rel);
    if !rel_path
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("output path {rel:?} leaves the host's folder"),
        ));
    }
    let path = root.join(rel_path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Created 0600 so a secret is never readable by others, even for an instant.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(data)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// A fresh staging folder next to `rendered/` (same filesystem, so renames are atomic),
/// removed on drop unless installed.
pub fn staging_dir(root: &Path) -> std::io::Result<tempfile::TempDir> {
    let dir = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    tempfile::Builder::new()
        .prefix(".nxinfra-render-")
        .tempdir_in(dir)
}

/// Atomically exchanges two paths (Linux `renameat2(RENAME_EXCHANGE)`); falls back to two
/// renames where the filesystem cannot exchange.
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
        return Err(err);
    }
    let aside = a.with_extension("nxinfra-swap");
    std::fs::rename(b, &aside)?;
    std::fs::rename(a, b)?;
    std::fs::rename(&aside, a)
}

/// Puts `staged` in place of `target`; the previous `target` ends up at `staged`'s path (to be
/// removed with the staging folder).
fn replace(staged: &Path, target: &Path) -> std::io::Result<()> {
    if target.exists() {
        exchange(staged, target)
    } else {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(staged, target)
    }
}

/// Installs a finished render. A full render (`hosts` is `None`) replaces `rendered/` in one
/// exchange, dropping hosts that left the inventory; a limited render replaces each host's
/// folder, leaving the other hosts as they were.
pub fn install(staging: &Path, rendered: &Path, hosts: Option<&[String]>) -> std::io::Result<()> {
    match hosts {
        None => {
            std::fs::set_permissions(staging, std::fs::Permissions::from_mode(0o755))?;
            replace(staging, rendered)
        }
        Some(hosts) => {
            for host in hosts {
                replace(&staging.join(host), &rendered.join(host))?;
            }
            Ok(())
        }
    }
}

/// One file of a tree: its bytes and permission bits.
#[derive(Debug, PartialEq, Eq)]
struct FileState {
    data: Vec<u8>,
    mode: u32,
}

fn read_tree(dir: &Path) -> std::io::Result<BTreeMap<PathBuf, FileState>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        for entry in std::fs::read_dir(&path)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                todo.push(entry.path());
            } else {
                let full = entry.path();
                let meta = std::fs::symlink_metadata(&full)?;
                let rel = full.strip_prefix(dir).unwrap_or(&full).to_path_buf();
                out.insert(
                    rel,
                    FileState {
                        data: std::fs::read(&full)?,
                        mode: meta.permissions().mode() & 0o7777,
                    },
                );
            }
        }
    }
    Ok(out)
}

/// Differences between a fresh render and `rendered/`, as `host/path: what` lines (never file
/// contents). `hosts` limits the comparison to those hosts' folders.
pub fn compare(
    staging: &Path,
    rendered: &Path,
    hosts: Option<&[String]>,
) -> std::io::Result<Vec<String>> {
    let roots: Vec<(PathBuf, PathBuf, String)> = match hosts {
        None => vec![(staging.to_path_buf(), rendered.to_path_buf(), String::new())],
        Some(hosts) => hosts
            .iter()
            .map(|h| (staging.join(h), rendered.join(h), format!("{h}/")))
            .collect(),
    };
    let mut out = Vec::new();
    for (fresh_dir, old_dir, prefix) in roots {
        let fresh = read_tree(&fresh_dir)?;
        let old = read_tree(&old_dir)?;
        for (path, state) in &fresh {
            let name = format!("{prefix}{}", path.display());
            match old.get(path) {
                None => out.push(format!("{name}: missing from rendered/")),
                Some(o) if o.data != state.data => out.push(format!("{name}: content differs")),
                Some(o) if o.mode != state.mode => out.push(format!(
                    "{name}: mode {:04o}, expected {:04o}",
                    o.mode, state.mode
                )),
                Some(_) => {}
            }
        }
        for path in old.keys().filter(|p| !fresh.contains_key(*p)) {
            out.push(format!(
                "{prefix}{}: in rendered/ but not produced by the sources",
                path.display()
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode_for("a/entrypoint.sh", false), 0o755);
        assert_eq!(mode_for("a/entrypoint.sh", true), 0o700);
        assert_eq!(mode_for("wg0.conf", true), 0o600);
        assert_eq!(mode_for("Caddyfile", false), 0o644);
    }

    #[test]
    fn write_refuses_escaping_paths_and_sets_exact_modes() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_file(dir.path(), "../x", b"", 0o644).is_err());
        assert!(write_file(dir.path(), "/etc/x", b"", 0o644).is_err());
        write_file(dir.path(), "a/b.sh", b"#!/bin/sh\n", 0o755).unwrap();
        let mode = std::fs::metadata(dir.path().join("a/b.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755);
    }

    #[test]
    fn install_and_compare() {
        let root = tempfile::tempdir().unwrap();
        let rendered = root.path().join("rendered");
        let s1 = staging_dir(root.path()).unwrap();
        write_file(s1.path(), "h1/a", b"1", 0o644).unwrap();
        write_file(s1.path(), "h2/b", b"2", 0o600).unwrap();
        install(s1.path(), &rendered, None).unwrap();
        assert_eq!(std::fs::read(rendered.join("h1/a")).unwrap(), b"1");

        let s2 = staging_dir(root.path()).unwrap();
        write_file(s2.path(), "h1/a", b"1", 0o644).unwrap();
        write_file(s2.path(), "h2/b", b"2", 0o600).unwrap();
        assert!(compare(s2.path(), &rendered, None).unwrap().is_empty());

        let s3 = staging_dir(root.path()).unwrap();
        write_file(s3.path(), "h1/a", b"changed", 0o644).unwrap();
        write_file(s3.path(), "h2/c", b"new", 0o644).unwrap();
        let diff = compare(s3.path(), &rendered, None).unwrap();
        assert_eq!(
            diff,
            [
                "h1/a: content differs",
                "h2/c: missing from rendered/",
                "h2/b: in rendered/ but not produced by the sources"
            ]
        );
        // A limited install replaces h1 only.
        let hosts = vec!["h1".to_string()];
        install(s3.path(), &rendered, Some(&hosts)).unwrap();
        assert_eq!(std::fs::read(rendered.join("h1/a")).unwrap(), b"changed");
        assert!(rendered.join("h2/b").exists());
        assert!(!rendered.join("h2/c").exists());
    }
}

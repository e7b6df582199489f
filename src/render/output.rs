//! Writing a render: files with exact modes into a staging folder, then swapping the staging
//! folder in for `rendered/` (or for each limited host's folder) only when everything succeeded.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path};

use crate::model::tree::OutFile;

/// A rendered file's bytes, refused past `limit`: a render that would write more stops at the
/// first byte over (with the write error minijinja reports as `WriteFailure`), so a template
/// producing gigabytes never holds more than `limit` in memory.
pub struct Bounded {
    data: Vec<u8>,
    limit: u64,
}

impl Bounded {
    pub fn new(limit: u64) -> Self {
        Bounded {
            data: Vec::new(),
            limit,
        }
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.data
    }
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.data.len() as u64 + buf.len() as u64 > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("more than {} bytes", self.limit),
            ));
        }
        let need = self.data.len() + buf.len();
        if need > self.data.capacity() {
            // Doubling, but never past the limit: a file just under it must not cost twice.
            let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
            let grown = (self.data.capacity() * 2).clamp(need, limit.max(need));
            self.data.reserve_exact(grown - self.data.len());
        }
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

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

/// Writes `data` at `root/rel` like [`write_file`], unless `previous/rel` already holds exactly
/// these bytes with this mode: then that file is hard-linked instead. An unchanged file keeps
/// its inode and mtime, and no inode is allocated or freed (on ext4, allocating thousands of
/// inodes right after freeing thousands dominated the render of large fleets).
pub fn write_or_link(
    previous: &Path,
    root: &Path,
    rel: &str,
    data: &[u8],
    mode: u32,
) -> std::io::Result<()> {
    let old = previous.join(rel);
    let same = std::fs::symlink_metadata(&old).is_ok_and(|m| {
        m.is_file() && m.len() == data.len() as u64 && m.permissions().mode() & 0o7777 == mode
    }) && std::fs::read(&old).is_ok_and(|old_data| old_data == data);
    if same {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
            && std::fs::hard_link(&old, &path).is_ok()
        {
            return Ok(());
        }
    }
    write_file(root, rel, data, mode)
}

/// A fresh staging folder next to `rendered/` (same filesystem, so renames are atomic),
/// removed on drop unless installed. Its name carries this process's pid, so that a later
/// render can tell the folder of a render that was killed ([`super::lock`]).
pub fn staging_dir(root: &Path) -> std::io::Result<tempfile::TempDir> {
    let dir = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    tempfile::Builder::new()
        .prefix(&super::lock::staging_prefix())
        .tempdir_in(dir)
}

/// Atomically exchanges two paths (Linux `renameat2(RENAME_EXCHANGE)`); falls back to two
/// renames where the filesystem cannot exchange.
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::{fs::CWD, fs::RenameFlags, io::Errno};
    // A NUL inside a path is refused here, so that EINVAL below means only that the
    // filesystem cannot exchange.
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    match rustix::fs::renameat_with(CWD, &ca, CWD, &cb, RenameFlags::EXCHANGE) {
        Ok(()) => return Ok(()),
        Err(Errno::INVAL | Errno::NOSYS) => {}
        Err(err) => return Err(err.into()),
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

/// Installs the staged hosts (`staging/<host>`) into `rendered/`, each with one atomic exchange.
/// With `keep` (a full render), entries of `rendered/` that are not hosts to keep are moved into
/// the staging folder, to be removed with it.
pub fn install(
    staging: &Path,
    rendered: &Path,
    hosts: &[String],
    keep: Option<&BTreeSet<String>>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(rendered)?;
    for host in hosts {
        replace(&staging.join(host), &rendered.join(host))?;
    }
    if let Some(keep) = keep {
        let graveyard = staging.join(".removed");
        for stray in strays(rendered, keep)? {
            std::fs::create_dir_all(&graveyard)?;
            std::fs::rename(rendered.join(&stray), graveyard.join(&stray))?;
        }
    }
    Ok(())
}

/// Entries of `rendered/` that are not in `keep`.
pub fn strays(rendered: &Path, keep: &BTreeSet<String>) -> std::io::Result<Vec<String>> {
    if !rendered.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(rendered)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !keep.contains(&name) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Writes a host's files into `staged`, linking those unchanged from `previous`.
pub fn write_host(
    files: &BTreeMap<String, OutFile>,
    previous: &Path,
    staged: &Path,
) -> std::io::Result<()> {
    std::fs::create_dir_all(staged)?;
    for (rel, file) in files {
        write_or_link(previous, staged, rel, &file.data, file.mode)?;
    }
    Ok(())
}

/// Every file under `dir` with its bytes and permission bits, by relative path (empty when `dir`
/// does not exist).
pub fn read_tree(dir: &Path) -> std::io::Result<BTreeMap<String, OutFile>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        for entry in std::fs::read_dir(&path)? {
            let entry = entry?;
            let full = entry.path();
            let meta = std::fs::symlink_metadata(&full)?;
            if meta.is_dir() {
                todo.push(full);
            } else {
                let rel = full
                    .strip_prefix(dir)
                    .unwrap_or(&full)
                    .to_string_lossy()
                    .into_owned();
                let data = if meta.is_file() {
                    std::fs::read(&full)?
                } else {
                    Vec::new()
                };
                out.insert(
                    rel,
                    OutFile {
                        data: data.into(),
                        mode: meta.permissions().mode() & 0o7777,
                    },
                );
            }
        }
    }
    Ok(out)
}

/// How the files on disk under `dir` differ from `files`, as `path: what` lines (never file
/// contents); empty when they are the same.
pub fn differences(files: &BTreeMap<String, OutFile>, dir: &Path) -> std::io::Result<Vec<String>> {
    let old = read_tree(dir)?;
    let mut out = Vec::new();
    for (path, file) in files {
        match old.get(path) {
            None => out.push(format!("{path}: missing from rendered/")),
            Some(o) if o.data != file.data => out.push(format!("{path}: content differs")),
            Some(o) if o.mode != file.mode => out.push(format!(
                "{path}: mode {:04o}, expected {:04o}",
                o.mode, file.mode
            )),
            Some(_) => {}
        }
    }
    for path in old.keys().filter(|p| !files.contains_key(*p)) {
        out.push(format!(
            "{path}: in rendered/ but not produced by the sources"
        ));
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
    fn unchanged_files_are_linked_changed_ones_written() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (dir.path().join("old"), dir.path().join("new"));
        write_file(&old, "a/same", b"x", 0o644).unwrap();
        write_file(&old, "a/changed", b"x", 0o644).unwrap();
        write_file(&old, "a/mode", b"x", 0o644).unwrap();
        write_or_link(&old, &new, "a/same", b"x", 0o644).unwrap();
        write_or_link(&old, &new, "a/changed", b"y", 0o644).unwrap();
        write_or_link(&old, &new, "a/mode", b"x", 0o600).unwrap();
        write_or_link(&old, &new, "a/fresh", b"z", 0o644).unwrap();
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(ino(&old.join("a/same")), ino(&new.join("a/same")));
        assert_ne!(ino(&old.join("a/changed")), ino(&new.join("a/changed")));
        assert_eq!(std::fs::read(new.join("a/changed")).unwrap(), b"y");
        let mode = std::fs::metadata(new.join("a/mode"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(old.join("a/mode")).unwrap(), b"x");
        assert_eq!(
            std::fs::metadata(old.join("a/mode"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o644
        );
        assert!(write_or_link(&old, &new, "../escape", b"x", 0o644).is_err());
    }

    #[test]
    fn differences_install_and_strays() {
        let f = |data: &[u8], mode| OutFile {
            data: data.to_vec().into(),
            mode,
        };
        let root = tempfile::tempdir().unwrap();
        let rendered = root.path().join("rendered");
        let mut h1: BTreeMap<String, OutFile> = BTreeMap::new();
        h1.insert("a".into(), f(b"1", 0o644));
        h1.insert("d/b".into(), f(b"2", 0o600));
        assert_eq!(
            differences(&h1, &rendered.join("h1")).unwrap(),
            ["a: missing from rendered/", "d/b: missing from rendered/"]
        );
        let staging = staging_dir(root.path()).unwrap();
        write_host(&h1, &rendered.join("h1"), &staging.path().join("h1")).unwrap();
        write_file(&rendered, "old-host/x", b"x", 0o644).unwrap();
        let keep: BTreeSet<String> = ["h1".to_string()].into();
        assert_eq!(strays(&rendered, &keep).unwrap(), ["old-host"]);
        install(staging.path(), &rendered, &["h1".to_string()], Some(&keep)).unwrap();
        assert!(differences(&h1, &rendered.join("h1")).unwrap().is_empty());
        assert!(
            !rendered.join("old-host").exists(),
            "strays removed by a full install"
        );

        h1.insert("a".into(), f(b"changed", 0o644));
        h1.insert("d/b".into(), f(b"2", 0o644));
        h1.remove("d/b");
        h1.insert("c".into(), f(b"3", 0o644));
        write_file(&rendered, "h1/extra", b"e", 0o644).unwrap();
        assert_eq!(
            differences(&h1, &rendered.join("h1")).unwrap(),
            [
                "a: content differs",
                "c: missing from rendered/",
                "d/b: in rendered/ but not produced by the sources",
                "extra: in rendered/ but not produced by the sources"
            ]
        );
        let mut modes = BTreeMap::new();
        modes.insert("a".to_string(), f(b"1", 0o600));
        assert_eq!(
            differences(&modes, &rendered.join("h1")).unwrap()[0],
            "a: mode 0644, expected 0600"
        );
    }
}

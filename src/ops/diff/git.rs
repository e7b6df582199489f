//! REV's fleet sources, read from git without touching the working tree or the index:
//! `git archive` of the repository root's folder at REV, unpacked into a temporary folder.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    #[error(
        "{} is not in a git repository ({detail}): nxinfra diff reads REV from git; run it in \
         a clone of the fleet's repository (or pass --root DIR)",
        root.display()
    )]
    NotARepository { root: PathBuf, detail: String },
    #[error("{rev} is not a revision of this repository ({detail})")]
    UnknownRevision { rev: String, detail: String },
    #[error(
        "{rev} is not a revision of this clone, which is shallow (it lacks the history before \
         its newest commits, where {rev} may be): fetch it (`git fetch --unshallow`, or \
         `git fetch origin BRANCH` for a branch), or, in CI, clone with the whole history \
         (GitHub Actions: actions/checkout with `fetch-depth: 0`)"
    )]
    ShallowClone { rev: String },
    #[error("reading {rev} from git: {detail}")]
    Archive { rev: String, detail: String },
}

fn git(root: &Path, args: &[&str]) -> Result<std::process::Output, GitError> {
    Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(GitError::Spawn)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// The commit `rev` names, checked.
pub fn resolve(root: &Path, rev: &str) -> Result<String, GitError> {
    let inside = git(root, &["rev-parse", "--show-prefix"])?;
    if !inside.status.success() {
        return Err(GitError::NotARepository {
            root: shown(root),
            detail: stderr(&inside),
        });
    }
    let out = git(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )?;
    if !out.status.success() {
        let shallow = git(root, &["rev-parse", "--is-shallow-repository"])?;
        if String::from_utf8_lossy(&shallow.stdout).trim() == "true" {
            return Err(GitError::ShallowClone {
                rev: rev.to_string(),
            });
        }
        return Err(GitError::UnknownRevision {
            rev: rev.to_string(),
            detail: "git rev-parse --verify found no such commit".into(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `root` as a message shows it: the current folder's absolute path when `root` is empty (the
/// repository found in the current folder), never a blank.
fn shown(root: &Path) -> PathBuf {
    if root.as_os_str().is_empty() {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
    } else {
        root.to_path_buf()
    }
}

/// Unpacks the fleet root's folder as it is at `commit` into `into`.
pub fn export(root: &Path, commit: &str, into: &Path) -> Result<(), GitError> {
    let prefix = git(root, &["rev-parse", "--show-prefix"])?;
    let prefix = String::from_utf8_lossy(&prefix.stdout).trim().to_string();
    let out = git(
        root,
        &["archive", "--format=tar", &format!("{commit}:{prefix}")],
    )?;
    if !out.status.success() {
        return Err(GitError::Archive {
            rev: commit.to_string(),
            detail: stderr(&out),
        });
    }
    tar::Archive::new(out.stdout.as_slice())
        .unpack(into)
        .map_err(|e| GitError::Archive {
            rev: commit.to_string(),
            detail: e.to_string(),
        })
}

/// The commit checked out at `root` and whether the working tree differs from it (tracked
/// changes or untracked files; ignored ones such as `rendered/` aside); `None` outside a git
/// repository, or without git.
pub fn head(root: &Path) -> Option<(String, bool)> {
    let out = git(root, &["rev-parse", "--verify", "--quiet", "HEAD"]).ok()?;
    if !out.status.success() {
        return None;
    }
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let status = git(root, &["status", "--porcelain"]).ok()?;
    let dirty = !status.status.success() || !status.stdout.is_empty();
    Some((commit, dirty))
}

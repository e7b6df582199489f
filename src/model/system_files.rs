//! `nxinfra_system_files`: rendered files placed outside the base dir through sudo, each with
//! its mode and owner, and a `reload` command run once per sync when one of its files changed.
//!
//! ```yaml
//! nxinfra_system_files:
//!   - src: bird/bird.conf          # a file of rendered/<host>/
//!     dest: /etc/bird/bird.conf    # absolute
//!     mode: "0640"                 # a quoted octal string; default: the rendered file's mode
//!     owner: root:bird             # user[:group]; default root:root
//!     reload: birdc configure      # optional
//! ```
//!
//! A system file's source is not also placed in the base dir: a second copy (of a WireGuard
//! private key, say) would be one more place for a secret, and one that looks live but is not.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::manifest::{PathError, check_path};
use crate::model::tree::OutFile;

pub const VARIABLE: &str = "nxinfra_system_files";

/// One entry of `nxinfra_system_files`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SystemFile {
    /// Path in the host's rendered tree.
    pub src: String,
    /// Absolute path on the host.
    pub dest: String,
    /// Permission bits; `None` keeps the rendered file's mode.
    pub mode: Option<u32>,
    pub owner: String,
    pub group: String,
    pub reload: Option<String>,
}

/// A system file ready to place: its entry, content and final mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub entry: SystemFile,
    pub file: OutFile,
    /// The rendered file read a secret (it was rendered private): its content is never shown.
    pub secret: bool,
}

/// Why `nxinfra_system_files` is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("expected a list of entries, got {0}")]
    NotAList(Value),
    /// Entry `index` (from 1), whose `src` is `src` (`?` when it has none).
    #[error("entry {index} ({src}): {reason}")]
    Entry {
        index: usize,
        src: String,
        reason: EntryError,
    },
    #[error("entry {index} ({src}): dest {dest} is also the dest of {other}")]
    SameDest {
        index: usize,
        src: String,
        dest: String,
        other: String,
    },
}

/// What is wrong with one entry of `nxinfra_system_files`.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("expected a mapping with src and dest, got {0}")]
    NotAMapping(Value),
    #[error("unknown key {0:?} (expected one of {keys})", keys = KEYS.join(", "))]
    UnknownKey(String),
    #[error("{key}: expected a non-empty string, got {got}")]
    NotAString { key: &'static str, got: Value },
    #[error("src is missing")]
    NoSrc,
    #[error("src: {0}")]
    Src(PathError),
    #[error("dest is missing")]
    NoDest,
    #[error("dest: {0:?} must be an absolute path to a file")]
    DestNotAbsolute(String),
    #[error("dest: {0:?} must be normalised (no ., .., //)")]
    DestNotNormalised(String),
    #[error("mode: {0:?} is not an octal mode such as \"0640\"")]
    Mode(String),
    #[error(
        "mode: write it as a quoted octal string such as \"0640\", got {0} (YAML reads an \
         unquoted 0640 as a number)"
    )]
    ModeNotAString(Value),
    #[error("owner: {0:?} is not a user or group name")]
    Owner(String),
    #[error("reload: must be one line")]
    ReloadLines,
}

/// Why a host's rendered tree cannot be split into its base dir's files and its system files.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SplitError {
    #[error(
        "host {host}: {VARIABLE}: {dest} is inside the base dir {base_dir}; place it as an \
         ordinary rendered file instead"
    )]
    InsideBaseDir {
        host: String,
        dest: String,
        base_dir: String,
    },
    #[error(
        "host {host}: {VARIABLE}: src {src} is not a rendered file of {host} (rendered/{host}/{src})"
    )]
    NotRendered { host: String, src: String },
    #[error(
        "host {host}: {VARIABLE}: {dest} holds a secret, so its mode {mode:04o} must not give \
         others access (use 0600 or 0640 with a group)"
    )]
    OpenSecret {
        host: String,
        dest: String,
        mode: u32,
    },
}

/// The keys of an entry.
const KEYS: [&str; 5] = ["src", "dest", "mode", "owner", "reload"];

/// Render gives exactly the files that read a secret a private mode (0600, or 0700 for
/// scripts).
pub fn holds_secret(rendered_mode: u32) -> bool {
    rendered_mode & 0o077 == 0
}

/// Parses `nxinfra_system_files`; the error says which entry and key are wrong.
pub fn parse(value: Option<&Value>) -> Result<Vec<SystemFile>, ParseError> {
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(ParseError::NotAList(other.clone())),
    };
    let mut out: Vec<SystemFile> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let entry = parse_entry(item).map_err(|reason| ParseError::Entry {
            index: i + 1,
            src: item
                .get("src")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string(),
            reason,
        })?;
        if let Some(prev) = out.iter().find(|e| e.dest == entry.dest) {
            return Err(ParseError::SameDest {
                index: i + 1,
                src: entry.src,
                dest: entry.dest,
                other: prev.src.clone(),
            });
        }
        out.push(entry);
    }
    Ok(out)
}

fn parse_entry(item: &Value) -> Result<SystemFile, EntryError> {
    let Value::Object(map) = item else {
        return Err(EntryError::NotAMapping(item.clone()));
    };
    if let Some(unknown) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(EntryError::UnknownKey(unknown.clone()));
    }
    let string = |key: &'static str| -> Result<Option<String>, EntryError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Some(other) => Err(EntryError::NotAString {
                key,
                got: other.clone(),
            }),
        }
    };
    let src = string("src")?.ok_or(EntryError::NoSrc)?;
    check_path(&src).map_err(EntryError::Src)?;
    let dest = string("dest")?.ok_or(EntryError::NoDest)?;
    check_dest(&dest)?;
    let mode = match map.get("mode") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            u32::from_str_radix(s.trim(), 8)
                .ok()
                .filter(|m| *m <= 0o7777 && !s.trim().is_empty())
                .ok_or_else(|| EntryError::Mode(s.clone()))?,
        ),
        Some(other) => return Err(EntryError::ModeNotAString(other.clone())),
    };
    let (owner, group) = match string("owner")? {
        None => ("root".to_string(), "root".to_string()),
        Some(s) => match s.split_once(':') {
            Some((u, g)) => (u.to_string(), g.to_string()),
            None => (s.clone(), s),
        },
    };
    for name in [&owner, &group] {
        if !is_account_name(name) {
            return Err(EntryError::Owner(name.clone()));
        }
    }
    let reload = string("reload")?;
    if let Some(r) = &reload
        && r.contains('\n')
    {
        return Err(EntryError::ReloadLines);
    }
    Ok(SystemFile {
        src,
        dest,
        mode,
        owner,
        group,
        reload,
    })
}

/// A POSIX-portable account name (what `useradd` accepts by default).
fn is_account_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
        && name.len() <= 32
}

/// An absolute, normalised path to a file, without characters a shell would interpret.
fn check_dest(dest: &str) -> Result<(), EntryError> {
    let Some(relative) = dest
        .strip_prefix('/')
        .filter(|r| !r.is_empty() && !r.ends_with('/'))
    else {
        return Err(EntryError::DestNotAbsolute(dest.to_string()));
    };
    check_path(relative).map_err(|_| EntryError::DestNotNormalised(dest.to_string()))
}

/// Splits a host's rendered tree into what goes to the base dir and the system files.
/// `base_dir` is checked too: a dest inside it would be placed twice.
pub fn split(
    host: &str,
    mut files: BTreeMap<String, OutFile>,
    entries: &[SystemFile],
    base_dir: &str,
) -> Result<(BTreeMap<String, OutFile>, Vec<Placed>), SplitError> {
    let mut placed = Vec::new();
    for e in entries {
        let inside = format!("{}/", base_dir.trim_end_matches('/'));
        if e.dest.starts_with(&inside) {
            return Err(SplitError::InsideBaseDir {
                host: host.to_string(),
                dest: e.dest.clone(),
                base_dir: base_dir.to_string(),
            });
        }
        let Some(file) = files.get(&e.src).cloned() else {
            return Err(SplitError::NotRendered {
                host: host.to_string(),
                src: e.src.clone(),
            });
        };
        let mode = e.mode.unwrap_or(file.mode);
        // A file that holds a secret is rendered 0600; its system copy may open it to a group
        // (`root:bird`, 0640), never to everyone.
        if holds_secret(file.mode) && mode & 0o007 != 0 {
            return Err(SplitError::OpenSecret {
                host: host.to_string(),
                dest: e.dest.clone(),
                mode,
            });
        }
        placed.push(Placed {
            entry: e.clone(),
            secret: holds_secret(file.mode),
            file: OutFile {
                data: file.data,
                mode,
            },
        });
    }
    for e in entries {
        files.remove(&e.src);
    }
    Ok((files, placed))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn entries_with_defaults_and_owner_forms() {
        let v = json!([
            {"src": "bird/bird.conf", "dest": "/etc/bird/bird.conf", "mode": "0640",
             "owner": "root:bird", "reload": "birdc configure"},
            {"src": "hsflowd.conf", "dest": "/etc/hsflowd.conf", "owner": "nobody"},
            {"src": "x", "dest": "/etc/x"},
        ]);
        let e = parse(Some(&v)).unwrap();
        assert_eq!(e[0].mode, Some(0o640));
        assert_eq!((e[0].owner.as_str(), e[0].group.as_str()), ("root", "bird"));
        assert_eq!(e[0].reload.as_deref(), Some("birdc configure"));
        assert_eq!(
            (e[1].owner.as_str(), e[1].group.as_str()),
            ("nobody", "nobody")
        );
        assert_eq!(e[2].mode, None);
        assert_eq!((e[2].owner.as_str(), e[2].group.as_str()), ("root", "root"));
        assert_eq!(parse(None).unwrap(), []);
    }

    #[test]
    fn bad_entries_name_the_entry_and_key() {
        let cases = [
            (json!({"src": "a"}), "src: 1"),
            (json!([{"src": "a"}]), "entry 1 (a): dest is missing"),
            (json!([{"dest": "/etc/a"}]), "src is missing"),
            (json!([{"src": "../a", "dest": "/etc/a"}]), "src:"),
            (json!([{"src": "a", "dest": "etc/a"}]), "absolute"),
            (json!([{"src": "a", "dest": "/etc/../a"}]), "normalised"),
            (
                json!([{"src": "a", "dest": "/etc/"}]),
                "absolute path to a file",
            ),
            (
                json!([{"src": "a", "dest": "/etc/a", "mode": 640}]),
                "quoted octal",
            ),
            (
                json!([{"src": "a", "dest": "/etc/a", "mode": "0999"}]),
                "octal mode",
            ),
            (
                json!([{"src": "a", "dest": "/etc/a", "owner": "root:Bad Group"}]),
                "owner",
            ),
            (
                json!([{"src": "a", "dest": "/etc/a", "owner": "$(id)"}]),
                "owner",
            ),
            (
                json!([{"src": "a", "dest": "/etc/a", "reload": "a\nb"}]),
                "one line",
            ),
            (
                json!([{"src": "a", "dest": "/etc/a", "relaod": "x"}]),
                "unknown key \"relaod\"",
            ),
            (
                json!([{"src": "a", "dest": "/etc/a"}, {"src": "b", "dest": "/etc/a"}]),
                "entry 2 (b): dest /etc/a is also the dest of a",
            ),
        ];
        for (v, want) in cases {
            let err = parse(Some(&v)).unwrap_err().to_string();
            let want = if want == "src: 1" {
                "expected a list"
            } else {
                want
            };
            assert!(err.contains(want), "{v}: {err}");
        }
    }

    #[test]
    fn split_moves_system_files_out_of_the_base_dir_tree() {
        let tree: BTreeMap<String, OutFile> = [
            (
                "bird/bird.conf".to_string(),
                OutFile::new("router id 1;", 0o644),
            ),
            (
                "wg/wg0.conf".to_string(),
                OutFile::new("PrivateKey = k", 0o600),
            ),
            (
                "compose.yml".to_string(),
                OutFile::new("services: {}", 0o644),
            ),
        ]
        .into();
        let entries = parse(Some(&json!([
            {"src": "bird/bird.conf", "dest": "/etc/bird/bird.conf", "mode": "0640", "owner": "root:bird"},
            {"src": "wg/wg0.conf", "dest": "/etc/wireguard/wg0.conf"},
        ])))
        .unwrap();
        let (base, placed) = split("h", tree, &entries, "/home/u").unwrap();
        assert_eq!(base.keys().collect::<Vec<_>>(), ["compose.yml"]);
        assert_eq!(placed[0].file.mode, 0o640);
        assert_eq!(placed[1].file.mode, 0o600, "the rendered mode is kept");
        assert_eq!(&placed[1].file.data[..], b"PrivateKey = k");
    }

    #[test]
    fn split_refuses_missing_sources_dests_in_the_base_dir_and_open_secrets() {
        let tree: BTreeMap<String, OutFile> = [(
            "wg0.conf".to_string(),
            OutFile::new("PrivateKey = k", 0o600),
        )]
        .into();
        let cases = [
            (
                json!([{"src": "nope", "dest": "/etc/x"}]),
                "src nope is not a rendered file of h",
            ),
            (
                json!([{"src": "wg0.conf", "dest": "/home/u/wg0.conf"}]),
                "inside the base dir",
            ),
            (
                json!([{"src": "wg0.conf", "dest": "/etc/wg0.conf", "mode": "0644"}]),
                "holds a secret",
            ),
        ];
        for (v, want) in cases {
            let entries = parse(Some(&v)).unwrap();
            let err = split("h", tree.clone(), &entries, "/home/u")
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{v}: {err}");
        }
        let ok = parse(Some(
            &json!([{"src": "wg0.conf", "dest": "/etc/wg0.conf", "mode": "0640"}]),
        ));
        assert!(split("h", tree, &ok.unwrap(), "/home/u").is_ok());
    }

    #[test]
    fn messages_say_the_entry_and_key() {
        let err = |v: Value| parse(Some(&v)).unwrap_err().to_string();
        for (v, want) in [
            (json!(1), "expected a list of entries, got 1"),
            (
                json!([1]),
                "entry 1 (?): expected a mapping with src and dest, got 1",
            ),
            (
                json!([{"src": "a", "dst": "/x"}]),
                "entry 1 (a): unknown key \"dst\" (expected one of src, dest, mode, owner, reload)",
            ),
            (
                json!([{"src": 1}]),
                "entry 1 (?): src: expected a non-empty string, got 1",
            ),
            (
                json!([{"src": "/a", "dest": "/x"}]),
                "entry 1 (/a): src: path \"/a\" is not relative",
            ),
            (
                json!([{"src": "a", "dest": "x"}]),
                "entry 1 (a): dest: \"x\" must be an absolute path to a file",
            ),
            (
                json!([{"src": "a", "dest": "/x", "mode": "9"}]),
                "entry 1 (a): mode: \"9\" is not an octal mode such as \"0640\"",
            ),
            (
                json!([{"src": "a", "dest": "/x", "mode": 640}]),
                "entry 1 (a): mode: write it as a quoted octal string such as \"0640\", got 640 \
                 (YAML reads an unquoted 0640 as a number)",
            ),
            (
                json!([{"src": "a", "dest": "/x", "owner": "A"}]),
                "entry 1 (a): owner: \"A\" is not a user or group name",
            ),
            (
                json!([{"src": "a", "dest": "/x", "reload": "a\nb"}]),
                "entry 1 (a): reload: must be one line",
            ),
            (
                json!([{"src": " a ", "dest": "/x"}, {"src": "b", "dest": "/x"}]),
                "entry 2 (b): dest /x is also the dest of a",
            ),
        ] {
            assert_eq!(err(v.clone()), want, "{v}");
        }
        let tree: BTreeMap<String, OutFile> =
            [("k".to_string(), OutFile::new("secret", 0o600))].into();
        let split_err = |v: Value| {
            let entries = parse(Some(&v)).unwrap();
            split("h", tree.clone(), &entries, "/home/u/")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            split_err(json!([{"src": "k", "dest": "/home/u/k"}])),
            "host h: nxinfra_system_files: /home/u/k is inside the base dir /home/u/; place it \
             as an ordinary rendered file instead"
        );
        assert_eq!(
            split_err(json!([{"src": "x", "dest": "/etc/x"}])),
            "host h: nxinfra_system_files: src x is not a rendered file of h (rendered/h/x)"
        );
        assert_eq!(
            split_err(json!([{"src": "k", "dest": "/etc/k", "mode": "644"}])),
            "host h: nxinfra_system_files: /etc/k holds a secret, so its mode 0644 must not \
             give others access (use 0600 or 0640 with a group)"
        );
    }
}

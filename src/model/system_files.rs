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

use crate::model::manifest::check_path;
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

/// Render gives exactly the files that read a secret a private mode (0600, or 0700 for
/// scripts).
pub fn holds_secret(rendered_mode: u32) -> bool {
    rendered_mode & 0o077 == 0
}

/// Parses `nxinfra_system_files`; the error says which entry and key are wrong.
pub fn parse(value: Option<&Value>) -> Result<Vec<SystemFile>, String> {
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(format!("expected a list of entries, got {other}")),
    };
    let mut out: Vec<SystemFile> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let entry = parse_entry(item).map_err(|reason| {
            let src = item.get("src").and_then(Value::as_str).unwrap_or("?");
            format!("entry {} ({src}): {reason}", i + 1)
        })?;
        if let Some(prev) = out.iter().find(|e| e.dest == entry.dest) {
            return Err(format!(
                "entry {} ({}): dest {} is also the dest of {}",
                i + 1,
                entry.src,
                entry.dest,
                prev.src
            ));
        }
        out.push(entry);
    }
    Ok(out)
}

fn parse_entry(item: &Value) -> Result<SystemFile, String> {
    let Value::Object(map) = item else {
        return Err(format!("expected a mapping with src and dest, got {item}"));
    };
    const KEYS: [&str; 5] = ["src", "dest", "mode", "owner", "reload"];
    if let Some(unknown) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown key {unknown:?} (expected one of {})",
            KEYS.join(", ")
        ));
    }
    let string = |key: &str| -> Result<Option<String>, String> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Some(other) => Err(format!("{key}: expected a non-empty string, got {other}")),
        }
    };
    let src = string("src")?.ok_or("src is missing")?;
    check_path(&src).map_err(|r| format!("src: {r}"))?;
    let dest = string("dest")?.ok_or("dest is missing")?;
    check_dest(&dest)?;
    let mode = match map.get("mode") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            u32::from_str_radix(s.trim(), 8)
                .ok()
                .filter(|m| *m <= 0o7777 && !s.trim().is_empty())
                .ok_or_else(|| format!("mode: {s:?} is not an octal mode such as \"0640\""))?,
        ),
        Some(other) => {
            return Err(format!(
                "mode: write it as a quoted octal string such as \"0640\", got {other} \
                 (YAML reads an unquoted 0640 as a number)"
            ));
        }
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
            return Err(format!("owner: {name:?} is not a user or group name"));
        }
    }
    let reload = string("reload")?;
    if let Some(r) = &reload
        && r.contains('\n')
    {
        return Err("reload: must be one line".into());
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
fn check_dest(dest: &str) -> Result<(), String> {
    if !dest.starts_with('/') || dest.ends_with('/') || dest.len() < 2 {
        return Err(format!("dest: {dest:?} must be an absolute path to a file"));
    }
    check_path(&dest[1..]).map_err(|_| format!("dest: {dest:?} must be normalised (no ., .., //)"))
}

/// Splits a host's rendered tree into what goes to the base dir and the system files.
/// `base_dir` is checked too: a dest inside it would be placed twice.
pub fn split(
    host: &str,
    mut files: BTreeMap<String, OutFile>,
    entries: &[SystemFile],
    base_dir: &str,
) -> Result<(BTreeMap<String, OutFile>, Vec<Placed>), String> {
    let mut placed = Vec::new();
    for e in entries {
        let inside = format!("{}/", base_dir.trim_end_matches('/'));
        if e.dest.starts_with(&inside) {
            return Err(format!(
                "host {host}: {VARIABLE}: {} is inside the base dir {base_dir}; place it as an \
                 ordinary rendered file instead",
                e.dest
            ));
        }
        let Some(file) = files.get(&e.src).cloned() else {
            return Err(format!(
                "host {host}: {VARIABLE}: src {} is not a rendered file of {host} (rendered/{host}/{})",
                e.src, e.src
            ));
        };
        let mode = e.mode.unwrap_or(file.mode);
        // A file that holds a secret is rendered 0600; its system copy may open it to a group
        // (`root:bird`, 0640), never to everyone.
        if holds_secret(file.mode) && mode & 0o007 != 0 {
            return Err(format!(
                "host {host}: {VARIABLE}: {} holds a secret, so its mode {mode:04o} must not \
                 give others access (use 0600 or 0640 with a group)",
                e.dest
            ));
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
            let err = parse(Some(&v)).unwrap_err();
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
        assert_eq!(placed[1].file.data, b"PrivateKey = k");
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
            let err = split("h", tree.clone(), &entries, "/home/u").unwrap_err();
            assert!(err.contains(want), "{v}: {err}");
        }
        let ok = parse(Some(
            &json!([{"src": "wg0.conf", "dest": "/etc/wg0.conf", "mode": "0640"}]),
        ));
        assert!(split("h", tree, &ok.unwrap(), "/home/u").is_ok());
    }
}

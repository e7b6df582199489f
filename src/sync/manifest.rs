//! The manifest of the files nxinfra placed on a host: path, sha256 and mode of each.
//!
//! Text, one file per line, sorted by path, so that it diffs well and a human can read it:
//!
//! ```text
//! # nxinfra manifest v1
//! 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 0644 proxy/config/Caddyfile
//! ```
//!
//! A manifest read back from a host is untrusted input: a path that could leave the base dir
//! (`..`, absolute, empty components) or a malformed line is an error naming the line, never
//! something to act on.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::render::OutFile;

/// First line of every manifest.
pub const HEADER: &str = "# nxinfra manifest v1";

/// What nxinfra knows of one placed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
    /// Permission bits.
    pub mode: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub files: BTreeMap<String, Entry>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("manifest line {line}: {reason}")]
pub struct ManifestError {
    pub line: usize,
    pub reason: String,
}

impl Manifest {
    /// The manifest of a rendered host tree.
    pub fn of_files(files: &BTreeMap<String, OutFile>) -> Self {
        Manifest {
            files: files
                .iter()
                .map(|(path, f)| {
                    let entry = Entry {
                        sha256: hex::encode(Sha256::digest(&f.data)),
                        mode: f.mode,
                    };
                    (path.clone(), entry)
                })
                .collect(),
        }
    }

    /// The text written on the host.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(80 * (self.files.len() + 1));
        out.push_str(HEADER);
        out.push('\n');
        for (path, e) in &self.files {
            out.push_str(&format!("{} {:04o} {path}\n", e.sha256, e.mode));
        }
        out
    }

    /// Parses a manifest read from a host. An empty text is an empty manifest (nothing placed
    /// yet).
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let mut files = BTreeMap::new();
        let mut lines = text.lines().enumerate();
        if text.trim().is_empty() {
            return Ok(Manifest::default());
        }
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => {
                return Err(ManifestError {
                    line: 1,
                    reason: format!(
                        "expected {HEADER:?}: not an nxinfra manifest, or a newer version"
                    ),
                });
            }
        }
        for (idx, line) in lines {
            let bad = |reason: String| ManifestError {
                line: idx + 1,
                reason,
            };
            let mut parts = line.splitn(3, ' ');
            let (Some(sha), Some(mode), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad("expected `SHA256 MODE PATH`".into()));
            };
            if sha.len() != 64
                || !sha
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(bad("not a lower-case hex sha256".into()));
            }
            let mode = u32::from_str_radix(mode, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| bad(format!("invalid mode {mode:?}")))?;
            check_path(path).map_err(bad)?;
            let entry = Entry {
                sha256: sha.to_string(),
                mode,
            };
            if files.insert(path.to_string(), entry).is_some() {
                return Err(bad(format!("{path} is listed twice")));
            }
        }
        Ok(Manifest { files })
    }
}

/// A path nxinfra may place or remove: relative, `/`-separated, no `.`/`..`/empty components.
pub fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.starts_with('/') {
        return Err(format!("path {path:?} is not relative"));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "path {path:?} is not normalised or leaves the base dir"
        ));
    }
    if path.chars().any(|c| c.is_control()) {
        return Err(format!("path {path:?} contains control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> BTreeMap<String, OutFile> {
        let mut m = BTreeMap::new();
        m.insert(
            "proxy/Caddyfile".into(),
            OutFile {
                data: b"test".to_vec(),
                mode: 0o644,
            },
        );
        m.insert(
            "wg/wg0 conf".into(),
            OutFile {
                data: b"".to_vec(),
                mode: 0o600,
            },
        );
        m
    }

    #[test]
    fn round_trip_with_known_digests() {
        let m = Manifest::of_files(&files());
        let text = m.to_text();
        assert_eq!(
            text,
            "# nxinfra manifest v1\n\
             9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 0644 proxy/Caddyfile\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0600 wg/wg0 conf\n"
        );
        assert_eq!(Manifest::parse(&text).unwrap(), m);
        assert_eq!(Manifest::parse("").unwrap(), Manifest::default());
    }

    #[test]
    fn untrusted_manifests_are_rejected_with_the_line() {
        let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let cases = [
            ("garbage\n".to_string(), 1, "not an nxinfra manifest"),
            (
                format!("{HEADER}\n{sha} 0644 ../etc/passwd\n"),
                2,
                "leaves the base dir",
            ),
            (
                format!("{HEADER}\n{sha} 0644 /etc/passwd\n"),
                2,
                "not relative",
            ),
            (format!("{HEADER}\n{sha} 0644 a//b\n"), 2, "not normalised"),
            (format!("{HEADER}\n{sha} 0644 a/./b\n"), 2, "not normalised"),
            (
                format!("{HEADER}\n{sha} 0644 a\n{sha} 0600 a\n"),
                3,
                "listed twice",
            ),
            (format!("{HEADER}\nXYZ 0644 a\n"), 2, "sha256"),
            (format!("{HEADER}\n{sha} 9999 a\n"), 2, "invalid mode"),
            (format!("{HEADER}\n{sha} 0644\n"), 2, "SHA256 MODE PATH"),
        ];
        for (text, line, reason) in cases {
            let err = Manifest::parse(&text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.reason.contains(reason), "{text:?}: {err}");
        }
    }
}

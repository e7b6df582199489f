//! What a host says of the files nxinfra placed there, beside its manifest: the state of each
//! (`stat`) as recorded when it was placed (`<base_dir>/.nxinfra/stat`), and as it is now.
//! The two compared are how drift is found cheaply ([`crate::plan::drift`]): a file whose
//! state is what was recorded is what nxinfra placed; only the others are read and hashed.
//!
//! Each line is `stat --printf` of [`STAT_FORMAT`]:
//!
//! ```text
//! 644 deploy:deploy 1234 5372 2026-12-02 19:01:11.340732227 +0000 proxy/Caddyfile
//! ```
//!
//! mode (octal), owner:group, size, inode, change time (ctime, nanoseconds), path (relative to
//! the base dir, or absolute for a system file). The change time is the one compared rather
//! than the modification time: any write, chmod, chown or rename sets it, and it cannot be set
//! back (`touch -d` sets the modification time only).

use std::collections::BTreeMap;

use crate::model::manifest::Manifest;

/// The format of a system file's state line (GNU `stat --printf`): its owner by name, as the
/// manifest has it.
pub const STAT_FORMAT: &str = "%a %U:%G %s %i %z %n\\n";
/// The format of a base dir file's state line: its owner by number (not compared; no name
/// lookups).
pub const STAT_FORMAT_BASE: &str = "%a %u:%g %s %i %z %n\\n";

/// One placed file's state on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    pub mode: u32,
    /// `owner:group`, by name.
    pub owner: String,
    /// The whole line: equal lines, unchanged file.
    pub line: String,
}

/// A host's placed files: its manifest, their state when placed, their state now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFiles {
    pub manifest: Manifest,
    /// The record made when the files were placed, by path (none before the first sync of a
    /// version that keeps it: every file is then read once).
    pub recorded: BTreeMap<String, String>,
    /// Their state now, by path; a missing file has none.
    pub now: BTreeMap<String, FileStat>,
    /// The deploy journal's last record and the pins, printed in the same command.
    pub journal: crate::model::journal::Journal,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the host's file state, line {line}: {reason}: {text:?}")]
pub struct StatError {
    pub line: usize,
    pub reason: &'static str,
    pub text: String,
}

impl HostFiles {
    /// A host whose files are exactly as recorded (no record and no file state: tests, and a
    /// host with nothing placed).
    pub fn of(manifest: Manifest) -> Self {
        HostFiles {
            manifest,
            ..HostFiles::default()
        }
    }

    /// Parses the two parts the host printed after its manifest. The record is nxinfra's own
    /// cache: a line of it that does not parse is ignored (its file is read and compared). The
    /// state now comes straight from `stat`: a line that does not parse is an error.
    pub fn parse(manifest: Manifest, recorded: &str, now: &str) -> Result<Self, StatError> {
        let recorded = recorded
            .lines()
            .filter_map(|l| parse_line(l).ok())
            .map(|(path, stat)| (path, stat.line))
            .collect();
        let mut states = BTreeMap::new();
        for (idx, text) in now.lines().enumerate() {
            if text.is_empty() {
                continue;
            }
            let (path, stat) = parse_line(text).map_err(|reason| StatError {
                line: idx + 1,
                reason,
                text: text.to_string(),
            })?;
            states.insert(path, stat);
        }
        Ok(HostFiles {
            manifest,
            recorded,
            now: states,
            journal: Default::default(),
        })
    }
}

/// `MODE OWNER:GROUP SIZE INODE DATE TIME ZONE PATH`.
fn parse_line(line: &str) -> Result<(String, FileStat), &'static str> {
    let mut parts = line.splitn(8, ' ');
    let mode = parts.next().ok_or("empty")?;
    let owner = parts.next().ok_or("no owner")?;
    let fields: Vec<&str> = parts.by_ref().take(5).collect();
    let path = parts.next().filter(|p| !p.is_empty()).ok_or("no path")?;
    if fields.len() != 5 || !owner.contains(':') {
        return Err("expected `MODE OWNER:GROUP SIZE INODE CTIME PATH`");
    }
    let mode = u32::from_str_radix(mode, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or("invalid mode")?;
    let stat = FileStat {
        mode,
        owner: owner.to_string(),
        line: line.to_string(),
    };
    Ok((path.to_string(), stat))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "644 deploy:deploy 12 5372 2026-12-02 19:01:11.340732227 +0000 a b/c d";

    #[test]
    fn lines_are_parsed_with_paths_that_hold_spaces() {
        let h = HostFiles::parse(Manifest::default(), LINE, &format!("{LINE}\n")).unwrap();
        assert_eq!(h.recorded["a b/c d"], LINE);
        let s = &h.now["a b/c d"];
        assert_eq!((s.mode, s.owner.as_str()), (0o644, "deploy:deploy"));
    }

    #[test]
    fn a_bad_record_line_is_ignored_and_a_bad_state_line_is_an_error() {
        let h = HostFiles::parse(Manifest::default(), "garbage\n", "").unwrap();
        assert!(h.recorded.is_empty());
        let err = HostFiles::parse(Manifest::default(), "", &format!("{LINE}\n999 x:y 1 2 3"))
            .unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = HostFiles::parse(Manifest::default(), "", &LINE.replace("644", "9z"));
        assert_eq!(err.unwrap_err().reason, "invalid mode");
    }
}

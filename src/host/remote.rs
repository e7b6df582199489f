//! What runs on a host during a sync: ONE shell command per host, built here as text so it can
//! be tested locally with a real `sh`, GNU `tar` and `flock` (Debian's defaults), no SSH needed.
//! The scripts are files of `src/host/scripts/` (shellcheck-clean, `make lint`), whose
//! placeholders [`fill`] replaces with shell-quoted values; only what depends on a plan (the
//! moves, chmods and system files of [`apply`]) is built here, line by line.
//!
//! [`lock_and_read`] takes the host's lock, prints the manifest, then reads one line from its
//! stdin. End of input (a no-op, or `--dry-run`) ends it; `apply N` is followed by the
//! [`upload_tar`] stream of N bytes, which it unpacks into a staging folder beside the tree (same
//! filesystem) and whose `.nxinfra/apply.sh` (built by [`apply`]) it runs: removals, moves
//! (atomic renames), chmods, system files, reloads, and the manifest last. Interrupted at any
//! point, every file is its old or its new version, and the next sync converges (the old
//! manifest makes it redo the work). Then it prints [`APPLIED_MARKER`] and reads again: end of
//! input ends it, `manifest N` replaces the manifest (apply records restarts there). The lock
//! is held by that one shell from start to end: `nxinfra apply` reconciles the containers
//! while it holds it.

use std::collections::BTreeMap;

use crate::model::journal::Journal;
use crate::model::manifest::{self, Manifest};
use crate::model::placed::{HostFiles, STAT_FORMAT, STAT_FORMAT_BASE, StatError};
use crate::model::system_files::Placed;
use crate::model::tree::OutFile;
use crate::plan::files::SyncPlan;
use crate::util::shell::quote;

/// nxinfra's folder in the base dir: manifest, lock, staging.
pub const STATE_DIR: &str = ".nxinfra";
/// Printed after the manifest by [`lock_and_read`].
pub const END_MARKER: &str = "--nxinfra-manifest-end--";
/// Exit status of [`lock_and_read`] when the lock stayed busy.
pub const LOCKED_EXIT: i32 = 75;
/// Where the new manifest travels in the tar stream.
const TAR_MANIFEST: &str = ".nxinfra/manifest";
/// The script of [`apply`] in the tar stream.
const TAR_SCRIPT: &str = ".nxinfra/apply.sh";
/// The placed files' `stat` command ([`stat_script`]) in the tar stream.
const TAR_STAT_SCRIPT: &str = ".nxinfra/stat.sh";
/// Where the N-th system file of `plan.system_install` travels in the tar stream.
const TAR_SYSTEM: &str = ".nxinfra/system";

/// The one command of a sync (`scripts/lock_and_read.sh`). `holder` says who holds the lock
/// (user, machine, pid, time); the remote shell adds its own pid, which `--force-unlock` can
/// kill.
pub fn lock_and_read(base_dir: &str, holder: &str, timeout_secs: u64) -> String {
    fill(
        &LOCK_AND_READ,
        &[
            ("BASE_DIR", Value::Word(base_dir)),
            ("STATE_DIR", Value::Word(STATE_DIR)),
            ("TIMEOUT_SECS", Value::Number(timeout_secs.into())),
            ("LOCKED_EXIT", Value::Number(LOCKED_EXIT.into())),
            ("HOLDER", Value::Word(holder)),
            ("END_MARKER", Value::Word(END_MARKER)),
            ("TAR_SCRIPT", Value::Word(TAR_SCRIPT)),
            ("APPLIED_MARKER", Value::Word(APPLIED_MARKER)),
            ("PLACED", Value::Lines(&placed(base_dir))),
            ("STAT_MARKER", Value::Word(STAT_MARKER)),
            ("NOW_MARKER", Value::Word(NOW_MARKER)),
            ("JOURNAL_MARKER", Value::Word(JOURNAL_MARKER)),
            ("PINS_MARKER", Value::Word(PINS_MARKER)),
        ],
    )
}

/// The functions that print and record the state of the placed files (`scripts/placed.sh`),
/// for [`lock_and_read`] and [`read_manifest`].
fn placed(base_dir: &str) -> String {
    fill(
        &PLACED,
        &[
            ("BASE_DIR", Value::Word(base_dir)),
            ("STAT_FORMAT", Value::Word(STAT_FORMAT)),
            ("STAT_FORMAT_BASE", Value::Word(STAT_FORMAT_BASE)),
        ],
    )
}

/// The lines that print the state of the files `manifest` lists (`scripts/placed.sh` runs
/// them): `stat_placed` with the base dir's files, `stat_system` with the system files, each
/// line at most [`ARGS_PER_LINE`] of them.
pub fn stat_script(manifest: &Manifest) -> String {
    let mut out = String::new();
    batch(
        &mut out,
        "stat_placed",
        manifest.files.keys().map(|p| quote(p)),
        "",
    );
    batch(
        &mut out,
        "stat_system",
        manifest.system.keys().map(|p| quote(p)),
        "",
    );
    out
}

/// Printed after the manifest by [`lock_and_read`] and [`read_manifest`], before the record of
/// the placed files' state (`.nxinfra/stat`).
pub const STAT_MARKER: &str = "--nxinfra-recorded--";
/// Printed after that record, before the placed files' state now.
pub const NOW_MARKER: &str = "--nxinfra-now--";
/// Printed after the placed files' state, before the deploy journal's last record.
pub const JOURNAL_MARKER: &str = "--nxinfra-journal--";
/// Printed after the journal's last record, before the pins.
pub const PINS_MARKER: &str = "--nxinfra-pins--";

/// Prints the host's manifest, if any, and the placed files' state (recorded, and now), and
/// nothing else: no lock, no folder made, nothing written (`scripts/read_manifest.sh`).
pub fn read_manifest(base_dir: &str) -> String {
    fill(
        &READ_MANIFEST,
        &[
            ("BASE_DIR", Value::Word(base_dir)),
            ("STATE_DIR", Value::Word(STATE_DIR)),
            ("PLACED", Value::Lines(&placed(base_dir))),
            ("STAT_MARKER", Value::Word(STAT_MARKER)),
            ("NOW_MARKER", Value::Word(NOW_MARKER)),
            ("JOURNAL_MARKER", Value::Word(JOURNAL_MARKER)),
            ("PINS_MARKER", Value::Word(PINS_MARKER)),
        ],
    )
}

/// Prints the host's facts for `nxinfra status`: the base dir's filesystem (`df -P -k`) and
/// the load (`/proc/loadavg`); reads only (`scripts/facts.sh`, parsed by
/// [`crate::plan::status::HostFacts::parse`]).
pub fn facts(base_dir: &str) -> String {
    fill(&FACTS, &[("BASE_DIR", Value::Word(base_dir))])
}

/// Parses what [`read_manifest`] prints, or [`lock_and_read`] before its end marker: the
/// manifest, then the placed files' state (absent on a host with no manifest), then the
/// deploy journal's last record and the pins.
pub fn host_files(text: &str) -> Result<HostFiles, HostFilesError> {
    let (text, journal) = text
        .split_once(&format!("{JOURNAL_MARKER}\n"))
        .unwrap_or((text, ""));
    let (last, pins) = journal
        .split_once(&format!("{PINS_MARKER}\n"))
        .unwrap_or((journal, ""));
    let journal = Journal::parse(last, pins)?;
    let (manifest, rest) = match text.split_once(&format!("{STAT_MARKER}\n")) {
        Some((manifest, rest)) => (manifest, rest),
        None => (text, ""),
    };
    let (recorded, now) = rest
        .split_once(&format!("{NOW_MARKER}\n"))
        .unwrap_or((rest, ""));
    let manifest = Manifest::parse(manifest)?;
    Ok(HostFiles {
        journal,
        ..HostFiles::parse(manifest, recorded, now)?
    })
}

/// Why what a host printed of its files is not understood.
#[derive(Debug, thiserror::Error)]
pub enum HostFilesError {
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error(transparent)]
    Stat(#[from] StatError),
    #[error(transparent)]
    Journal(#[from] crate::model::journal::StateError),
}

/// The line nxinfra writes on the stdin of [`lock_and_read`] before a tar stream of `len`
/// bytes, to apply it. `head -c` passes exactly that many bytes to tar, so more messages can
/// follow on the same stdin: further applies (apply puts a failed service's files back with
/// one), then at most one manifest, which ends the command.
pub fn apply_line(len: usize) -> String {
    format!("apply {len}\n")
}

/// The line before a new manifest of `len` bytes (the restarts apply records): written over
/// the host's manifest, last.
pub fn manifest_line(len: usize) -> String {
    format!("manifest {len}\n")
}

/// The line before a journal record of `len` bytes (one line), after which the journal keeps
/// its last `keep` records.
pub fn journal_line(len: usize, keep: usize) -> String {
    format!("journal {len} {}\n", keep.max(1))
}

/// The line before the pins' new text of `len` bytes (0: no pin, the file goes).
pub fn pins_line(len: usize) -> String {
    format!("pins {len}\n")
}

/// Printed by [`lock_and_read`] once the files are in place; the lock stays held until its
/// stdin closes.
pub const APPLIED_MARKER: &str = "--nxinfra-applied--";

/// `--force-unlock`: ends the process holding the host's lock (the remote shell whose pid
/// [`lock_and_read`] recorded), and prints who held it. Only that shell holds the lock's file
/// descriptor (its children run with it closed), so the lock is free once it is gone
/// (`scripts/force_unlock.sh`).
pub fn force_unlock(base_dir: &str) -> String {
    fill(
        &FORCE_UNLOCK,
        &[
            ("BASE_DIR", Value::Word(base_dir)),
            ("STATE_DIR", Value::Word(STATE_DIR)),
        ],
    )
}

/// Splits the output of [`lock_and_read`] into the manifest text, or `None` if the end marker
/// is missing (the command did not finish reading).
pub fn manifest_text(output: &str) -> Option<&str> {
    let end = output.find(&format!("{END_MARKER}\n"))?;
    Some(&output[..end])
}

/// A command printing a tar stream of `paths` (relative to `base_dir`) as they are on the host,
/// followed by one of the system files `system` (absolute, read through sudo); files that are
/// missing or unreadable are skipped (`scripts/fetch.sh`). Used by `--diff` only.
pub fn fetch(base_dir: &str, paths: &[String], system: &[String]) -> String {
    fill(
        &FETCH,
        &[
            ("BASE_DIR", Value::Word(base_dir)),
            ("PATHS", Value::Words(paths)),
            ("SYSTEM", Value::Words(system)),
        ],
    )
}

/// Why an upload's tar stream could not be made: a path nxinfra refuses to place (the
/// manifest's rules), or the stream itself.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Path(#[from] crate::model::manifest::PathError),
    #[error("{0}: {STATE_DIR}/ in the base dir is nxinfra's own folder")]
    StateDir(String),
    #[error("{0}: planned for upload but not rendered")]
    NotRendered(String),
    #[error("{0}: planned for install but not a system file")]
    NotSystemFile(String),
    #[error("{0}: not an absolute path")]
    NotAbsolute(String),
    #[error("{path}: cannot add to the upload: {source}")]
    Add {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot finish the upload: {0}")]
    Finish(#[source] std::io::Error),
}

/// Reads the files of a tar stream (from [`fetch`]).
pub fn read_tar(data: &[u8]) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(data);
    // fetch() may print two archives one after the other.
    archive.set_ignore_zeros(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data)?;
        out.insert(path, data);
    }
    Ok(out)
}

/// The tar stream of a sync: every uploaded file with its mode, the system files to install,
/// the new manifest, and the script that applies `plan` ([`apply`]).
pub fn upload_tar(
    base_dir: &str,
    files: &BTreeMap<String, OutFile>,
    system: &[Placed],
    plan: &SyncPlan,
    new_manifest: &Manifest,
) -> Result<Vec<u8>, UploadError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8], mode: u32| -> Result<(), UploadError> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(now);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, data)
            .map_err(|source| UploadError::Add {
                path: path.to_string(),
                source,
            })
    };
    for path in &plan.upload {
        manifest::check_path(path)?;
        if path == STATE_DIR || path.starts_with(&format!("{STATE_DIR}/")) {
            return Err(UploadError::StateDir(path.clone()));
        }
        let file = files
            .get(path)
            .ok_or_else(|| UploadError::NotRendered(path.clone()))?;
        add(path, &file.data, file.mode)?;
    }
    for (i, dest) in plan.system_install.iter().enumerate() {
        let placed = find(system, dest)?;
        // Private in staging whatever its final mode: install sets mode and owner.
        add(&format!("{TAR_SYSTEM}/{i}"), &placed.file.data, 0o600)?;
    }
    // Private: it holds the hash of every file, those of the files with secrets too (a
    // guessable secret in a public template could be found from its file's hash).
    add(TAR_MANIFEST, new_manifest.to_text().as_bytes(), 0o600)?;
    add(TAR_STAT_SCRIPT, stat_script(new_manifest).as_bytes(), 0o600)?;
    add(TAR_SCRIPT, apply(base_dir, plan, system)?.as_bytes(), 0o600)?;
    tar.into_inner().map_err(UploadError::Finish)
}

fn find<'a>(system: &'a [Placed], dest: &str) -> Result<&'a Placed, UploadError> {
    system
        .iter()
        .find(|p| p.entry.dest == dest)
        .ok_or_else(|| UploadError::NotSystemFile(dest.to_string()))
}

/// The script that applies `plan` in `base_dir` (`scripts/apply.sh`), run by [`lock_and_read`]
/// once the tar stream is unpacked in the staging folder. System files are placed through one
/// `sudo -n` (none when the login user is root), which also runs each reload; the manifest is
/// written last, so a failed reload is retried by the next sync.
fn apply(base_dir: &str, plan: &SyncPlan, system: &[Placed]) -> Result<String, UploadError> {
    // Few processes: one `rm`, `rmdir`, `mkdir` for all paths, one `mv` per folder (the
    // staging folder mirrors the tree, and every rename stays atomic), one `chmod` per mode.
    let s = format!("{STATE_DIR}/staging");
    let mut out = String::new();
    // Removals first (their parent folders too, when emptied), so a path can turn from a file
    // into a folder or back.
    batch(
        &mut out,
        "rm -f --",
        plan.remove.iter().map(|p| quote(p)),
        "",
    );
    let mut parents: Vec<&str> = plan.remove.iter().flat_map(|p| ancestors(p)).collect();
    // Deepest first, so a folder emptied by removing its sub-folder goes too.
    parents.sort_unstable_by(|a, b| {
        b.matches('/')
            .count()
            .cmp(&a.matches('/').count())
            .then(a.cmp(b))
    });
    parents.dedup();
    batch(
        &mut out,
        "rmdir --",
        parents.iter().map(|p| quote(p)),
        " 2>/dev/null || true",
    );
    // A folder new to the host moves with one rename (its whole subtree appears at once);
    // should it exist after all (made by hand), its files move one folder at a time.
    let under = |dir: &str, path: &str| {
        path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
    };
    let mut rest: Vec<&str> = Vec::new();
    let mut in_new_dir: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for path in &plan.upload {
        match plan.new_dirs.iter().find(|d| under(d, path)) {
            Some(dir) => in_new_dir.entry(dir).or_default().push(path),
            None => rest.push(path),
        }
    }
    // New folders side by side (all of a first sync's top-level folders) move with one `mv`
    // when none of them exists; otherwise each as above.
    let mut by_parent: BTreeMap<&str, Vec<(&str, &Vec<&str>)>> = BTreeMap::new();
    for (dir, paths) in &in_new_dir {
        let parent = dir.rsplit_once('/').map_or("", |(p, _)| p);
        by_parent.entry(parent).or_default().push((dir, paths));
    }
    for (parent, dirs) in &by_parent {
        if !parent.is_empty() {
            let p = quote(parent);
            out.push_str(&format!("[ -d {p} ] || mkdir -p -- {p}\n"));
        }
        let target = if parent.is_empty() {
            ".".to_string()
        } else {
            quote(parent)
        };
        for chunk in dirs.chunks(ARGS_PER_LINE) {
            let none_exists: Vec<String> = chunk
                .iter()
                .map(|(d, _)| format!("[ ! -e {} ]", quote(d)))
                .collect();
            let sources: Vec<String> = chunk
                .iter()
                .map(|(d, _)| format!("{s}/{}", quote(d)))
                .collect();
            out.push_str(&format!(
                "if {}; then\nmv -f -- {} {target}\nelse\n",
                none_exists.join(" && "),
                sources.join(" ")
            ));
            for (dir, paths) in chunk {
                let d = quote(dir);
                out.push_str(&format!("if [ -e {d} ]; then\n"));
                moves(&mut out, &s, paths);
                out.push_str(&format!("else\nmv -f -- {s}/{d} {d}\nfi\n"));
            }
            out.push_str("fi\n");
        }
    }
    moves(&mut out, &s, &rest);
    let mut by_mode: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for (path, mode) in &plan.chmod {
        by_mode.entry(*mode).or_default().push(path);
    }
    for (mode, paths) in by_mode {
        batch(
            &mut out,
            &format!("chmod {mode:04o} --"),
            paths.iter().map(|p| quote(p)),
            "",
        );
    }
    let system = if plan.system_install.is_empty() && plan.system_remove.is_empty() {
        String::new()
    } else {
        system_script(&s, plan, system)?
    };
    Ok(fill(
        &APPLY,
        &[
            ("BASE_DIR", Value::Word(base_dir)),
            ("PLACE_FILES", Value::Lines(&out)),
            ("PLACE_SYSTEM_FILES", Value::Lines(&system)),
            ("STAGING", Value::Word(&s)),
            ("TAR_MANIFEST", Value::Word(TAR_MANIFEST)),
            ("TAR_STAT_SCRIPT", Value::Word(TAR_STAT_SCRIPT)),
            ("STATE_DIR", Value::Word(STATE_DIR)),
        ],
    ))
}

/// Moves staged files into place: one `mkdir -p` for their folders, one `mv` per folder.
fn moves(out: &mut String, staging: &str, paths: &[&str]) {
    let mut by_dir: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for path in paths {
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        by_dir.entry(dir).or_default().push(path);
    }
    batch(
        out,
        "mkdir -p --",
        by_dir.keys().filter(|d| !d.is_empty()).map(|d| quote(d)),
        "",
    );
    for (dir, paths) in &by_dir {
        let target = if dir.is_empty() {
            ".".into()
        } else {
            quote(dir)
        };
        batch(
            out,
            "mv -f --",
            paths.iter().map(|p| format!("{staging}/{}", quote(p))),
            &format!(" {target}"),
        );
    }
}

/// Appends `command ARGS... suffix` lines, at most [`ARGS_PER_LINE`] arguments each (far below
/// any ARG_MAX); nothing when there are no arguments.
fn batch(out: &mut String, command: &str, args: impl Iterator<Item = String>, suffix: &str) {
    let args: Vec<String> = args.collect();
    for chunk in args.chunks(ARGS_PER_LINE) {
        out.push_str(command);
        for a in chunk {
            out.push(' ');
            out.push_str(a);
        }
        out.push_str(suffix);
        out.push('\n');
    }
}

const ARGS_PER_LINE: usize = 200;

/// `a/b/c` → `a/b`, `a`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut dir = path;
    std::iter::from_fn(move || {
        let (parent, _) = dir.rsplit_once('/')?;
        dir = parent;
        Some(parent)
    })
}

/// The sudo part of [`apply`] (`scripts/system.sh`, running `scripts/system_root.sh` as root):
/// install (mode and owner set on a temporary file beside the destination, then an atomic
/// rename), removals, then each reload once.
fn system_script(staging: &str, plan: &SyncPlan, system: &[Placed]) -> Result<String, UploadError> {
    let mut commands = String::new();
    for (i, dest) in plan.system_install.iter().enumerate() {
        let p = find(system, dest)?;
        if !dest.contains('/') {
            return Err(UploadError::NotAbsolute(dest.clone()));
        }
        commands.push_str(&format!(
            "place {} {} {} {:04o} {}\n",
            quote(&format!("{staging}/{TAR_SYSTEM}/{i}")),
            quote(&p.entry.owner),
            quote(&p.entry.group),
            p.file.mode,
            quote(dest),
        ));
    }
    for dest in &plan.system_remove {
        commands.push_str(&format!("rm -f {}\n", quote(dest)));
    }
    for reload in &plan.reloads {
        commands.push_str(&format!("reload {}\n", quote(reload)));
    }
    let root = fill(
        &SYSTEM_ROOT,
        &[
            ("RELOAD_FAILED", Value::Number(RELOAD_FAILED.into())),
            ("COMMANDS", Value::Lines(&commands)),
        ],
    );
    Ok(fill(
        &SYSTEM,
        &[
            ("ROOT_SCRIPT", Value::Word(&root)),
            ("RELOAD_FAILED", Value::Number(RELOAD_FAILED.into())),
        ],
    ))
}

/// Stores a backup's copy at a host destination (`scripts/backup_put.sh`): its stdin, `size`
/// bytes of sha256 `sha256`, becomes `dir/file` (the folder of one backup) only when complete;
/// then prints the folder's copies as [`backup_list`] does.
pub fn backup_put(dir: &str, file: &str, size: u64, sha256: &str) -> String {
    let parent = dir.rsplit_once('/').map_or(dir, |(p, _)| p);
    fill(
        &BACKUP_PUT,
        &[
            ("DIR", Value::Word(dir)),
            (
                "PARENT",
                Value::Word(if parent.is_empty() { "/" } else { parent }),
            ),
            ("FILE", Value::Word(file)),
            ("SIZE", Value::Number(size.into())),
            ("SHA256", Value::Word(sha256)),
            ("LIST", Value::Lines(&backup_list(dir))),
        ],
    )
}

/// Prints `SIZE FILE` for each copy in `dir` (`scripts/backup_list.sh`).
pub fn backup_list(dir: &str) -> String {
    fill(&BACKUP_LIST, &[("DIR", Value::Word(dir))])
}

/// Prints the copy `dir/file` (`scripts/backup_get.sh`).
pub fn backup_get(dir: &str, file: &str) -> String {
    fill(
        &BACKUP_GET,
        &[("DIR", Value::Word(dir)), ("FILE", Value::Word(file))],
    )
}

/// Removes the copies `files` of `dir` (`scripts/backup_remove.sh`).
pub fn backup_remove(dir: &str, files: &[String]) -> String {
    fill(
        &BACKUP_REMOVE,
        &[("DIR", Value::Word(dir)), ("FILES", Value::Words(files))],
    )
}

/// The copies [`backup_list`] (or [`backup_put`]) printed: (file, size).
pub fn parse_backup_list(out: &str) -> Vec<(String, u64)> {
    out.lines()
        .filter_map(|l| {
            let (size, file) = l.split_once(' ')?;
            Some((file.to_string(), size.parse().ok()?))
        })
        .collect()
}

/// Exit status of the root part of [`apply`] when a reload failed.
const RELOAD_FAILED: i32 = 3;

/// A script of `src/host/scripts/`: its file name and text.
struct Template {
    name: &'static str,
    text: &'static str,
}

macro_rules! template {
    ($name:literal) => {
        Template {
            name: $name,
            text: include_str!(concat!("scripts/", $name)),
        }
    };
}

const LOCK_AND_READ: Template = template!("lock_and_read.sh");
const READ_MANIFEST: Template = template!("read_manifest.sh");
const PLACED: Template = template!("placed.sh");
const FACTS: Template = template!("facts.sh");
const FORCE_UNLOCK: Template = template!("force_unlock.sh");
const FETCH: Template = template!("fetch.sh");
const APPLY: Template = template!("apply.sh");
const SYSTEM: Template = template!("system.sh");
const BACKUP_PUT: Template = template!("backup_put.sh");
const BACKUP_LIST: Template = template!("backup_list.sh");
const BACKUP_GET: Template = template!("backup_get.sh");
const BACKUP_REMOVE: Template = template!("backup_remove.sh");
const SYSTEM_ROOT: Template = template!("system_root.sh");

/// What fills a placeholder of a [`Template`].
enum Value<'a> {
    /// One shell word: quoted.
    Word(&'a str),
    /// Shell words, each quoted, separated by spaces; nothing when there are none.
    Words(&'a [String]),
    /// A number, as it is.
    Number(i128),
    /// Lines of shell built from a plan (every value in them quoted), each ending with a
    /// newline; for a placeholder alone on its line, which they replace (no lines: nothing).
    Lines(&'a str),
}

/// `template` with each placeholder `@NAME@` (capitals, digits, `_`) replaced by its value, in
/// one pass: a value is never searched for placeholders. Every placeholder must have a value
/// and every value a placeholder; a template is fixed text, so a mismatch is a bug (it panics,
/// and the tests fill every template).
fn fill(template: &Template, values: &[(&str, Value)]) -> String {
    let text = template.text;
    let mut out = String::with_capacity(text.len());
    let mut used = vec![false; values.len()];
    let mut rest = text;
    while let Some((before, name, after)) = next_placeholder(rest) {
        out.push_str(before);
        let i = values
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{}: @{name}@ has no value", template.name));
        used[i] = true;
        rest = after;
        match &values[i].1 {
            Value::Word(w) => out.push_str(&quote(w)),
            Value::Words(words) => {
                let quoted: Vec<String> = words.iter().map(|w| quote(w)).collect();
                out.push_str(&quoted.join(" "));
            }
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::Lines(lines) => {
                let alone = (out.is_empty() || out.ends_with('\n')) && after.starts_with('\n');
                assert!(
                    alone && (lines.is_empty() || lines.ends_with('\n')),
                    "{}: @{name}@ is filled with lines, so it stands alone on its line",
                    template.name
                );
                out.push_str(lines);
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    if let Some(i) = used.iter().position(|u| !u) {
        panic!("{}: no placeholder @{}@", template.name, values[i].0);
    }
    out
}

/// The text before the first placeholder of `text`, its name, and the text after it.
fn next_placeholder(text: &str) -> Option<(&str, &str, &str)> {
    let is_name = |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_';
    let mut from = 0;
    while let Some(at) = text[from..].find('@').map(|i| from + i) {
        let name_len = text.as_bytes()[at + 1..]
            .iter()
            .take_while(|c| is_name(**c))
            .count();
        let end = at + 1 + name_len;
        if name_len > 0 && text.as_bytes().get(end) == Some(&b'@') {
            return Some((&text[..at], &text[at + 1..end], &text[end + 1..]));
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};

    use super::*;
    use crate::plan::files::plan;

    fn sh(script: &str, stdin: &[u8]) -> std::process::Output {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    #[test]
    fn a_backup_copy_is_stored_complete_private_or_not_at_all() {
        use sha2::{Digest, Sha256};
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("h1/pg");
        let d = dir.to_str().unwrap();
        let data = b"encrypted bytes, as sent";
        let sha = hex::encode(Sha256::digest(data));
        let name = "pg-20261202T013624.123Z.gz.age";
        let out = sh(&backup_put(d, name, data.len() as u64, &sha), data);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            parse_backup_list(&String::from_utf8_lossy(&out.stdout)),
            [(name.to_string(), data.len() as u64)]
        );
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join(name)), 0o600);
        assert_eq!((mode(&dir), mode(dir.parent().unwrap())), (0o700, 0o700));
        assert_eq!(sh(&backup_get(d, name), b"").stdout, data);

        // Cut short, or other bytes: refused, and nothing is left under any name.
        let other = "pg-20261203T013624.123Z.gz.age";
        let out = sh(&backup_put(d, other, data.len() as u64, &sha), &data[..5]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("received 5 bytes"));
        let out = sh(
            &backup_put(d, other, data.len() as u64, &sha),
            b"ENCRYPTED BYTES, AS SENT",
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("not the one sent"));
        let left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, [name]);
        let listed = sh(&backup_list(d), b"");
        assert_eq!(
            parse_backup_list(&String::from_utf8_lossy(&listed.stdout)).len(),
            1
        );
        assert!(
            sh(&backup_remove(d, &[name.to_string()]), b"")
                .status
                .success()
        );
        assert!(sh(&backup_list(d), b"").stdout.is_empty());
        // A folder that does not exist lists nothing.
        assert!(sh(&backup_list("/nonexistent/x"), b"").status.success());
    }

    fn tree(entries: &[(&str, &str, u32)]) -> BTreeMap<String, OutFile> {
        entries
            .iter()
            .map(|(p, d, m)| {
                (
                    p.to_string(),
                    OutFile {
                        data: d.as_bytes().to_vec().into(),
                        mode: *m,
                    },
                )
            })
            .collect()
    }

    /// Syncs `files` into `base` through the real commands, as a host would run them.
    fn sync(base: &std::path::Path, files: &BTreeMap<String, OutFile>) -> SyncPlan {
        let (p, out) = sync_system(base, files.clone(), &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        p
    }

    /// [`sync`] with system files; returns the plan and the output of the apply command (a
    /// successful empty output for a no-op).
    fn sync_system(
        base: &std::path::Path,
        files: BTreeMap<String, OutFile>,
        entries: &[crate::model::system_files::SystemFile],
    ) -> (SyncPlan, std::process::Output) {
        let b = base.to_str().unwrap().to_string();
        let mut plan_made = None;
        let out = session(&b, |printed| {
            let host = host_files(printed).unwrap();
            // The suspects of drift read as the host layer reads them (fetch.sh).
            let (paths, sys) = crate::plan::drift::suspects(&host);
            let read = read_tar(&sh(&fetch(&b, &paths, &sys), b"").stdout).unwrap();
            let drift = crate::plan::drift::compare(&host, &read);
            let (files, system) =
                crate::model::system_files::split("h", files, entries, &b).unwrap();
            let local = Manifest::of_files(&files).with_system(&system);
            let p = crate::plan::files::plan_with_drift(&local, &host.manifest, &drift, entries);
            let input = if p.is_noop() && !p.stale_record {
                None
            } else {
                Some(upload_tar(&b, &files, &system, &p, &local).unwrap())
            };
            plan_made = Some(p);
            input
        });
        (plan_made.unwrap(), out)
    }

    /// Runs the one sync command as a host would: reads the manifest it prints, then writes
    /// `apply` and the tar stream that `decide` returns, or closes its stdin.
    fn session(base: &str, decide: impl FnOnce(&str) -> Option<Vec<u8>>) -> std::process::Output {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(lock_and_read(base, "test", 5))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut seen = String::new();
        while !seen.contains(&format!("{END_MARKER}\n")) {
            let mut buf = [0u8; 4096];
            let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let Some(manifest) = manifest_text(&seen) else {
            let out = child.wait_with_output().unwrap();
            panic!("no manifest: {}", String::from_utf8_lossy(&out.stderr));
        };
        let mut stdin = child.stdin.take().unwrap();
        if let Some(tar) = decide(manifest) {
            stdin.write_all(apply_line(tar.len()).as_bytes()).unwrap();
            stdin.write_all(&tar).unwrap();
        }
        drop(stdin);
        let mut out = child.wait_with_output().unwrap();
        std::io::Read::read_to_end(&mut stdout, &mut out.stdout).unwrap();
        out
    }

    fn am_root() -> bool {
        // SAFETY: getuid has no preconditions.
        let root = rustix::process::getuid().is_root();
        if !root && std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("under CI=true the system-file tests must run as root");
        }
        root
    }

    pub(super) fn mode(p: &std::path::Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    /// Every file of `src/host/scripts/` is a template here, and each template one of them.
    #[test]
    fn every_script_file_is_a_template() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/host/scripts");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut names: Vec<&str> = TEMPLATES.iter().map(|t| t.name).collect();
        names.sort_unstable();
        assert_eq!(files, names);
    }

    const TEMPLATES: [&Template; 13] = [
        &BACKUP_PUT,
        &BACKUP_LIST,
        &BACKUP_GET,
        &BACKUP_REMOVE,
        &LOCK_AND_READ,
        &READ_MANIFEST,
        &PLACED,
        &FACTS,
        &FORCE_UNLOCK,
        &FETCH,
        &APPLY,
        &SYSTEM,
        &SYSTEM_ROOT,
    ];

    /// Every placeholder of every script is filled (`fill` panics on one without a value, and
    /// on a value without a placeholder), none is left, and what comes out is valid `sh`.
    #[test]
    fn every_placeholder_of_every_script_is_filled() {
        let (files, system) = crate::model::system_files::split(
            "h",
            tree(&[("a/x.conf", "x", 0o644), ("bird.conf", "b", 0o644)]),
            &crate::model::system_files::parse(Some(&serde_json::json!([
                {"src": "bird.conf", "dest": "/etc/bird.conf", "mode": "0640",
                 "owner": "root:daemon", "reload": "birdc configure"},
            ])))
            .unwrap(),
            "/b",
        )
        .unwrap();
        let local = Manifest::of_files(&files).with_system(&system);
        let with_system = SyncPlan {
            upload: vec!["a/x.conf".into()],
            chmod: vec![("run.sh".into(), 0o755)],
            remove: vec!["old/gone".into()],
            system_install: vec!["/etc/bird.conf".into()],
            system_remove: vec!["/etc/old.conf".into()],
            reloads: vec!["birdc configure".into()],
            new_dirs: vec!["a".into()],
            ..SyncPlan::default()
        };
        let paths = ["a b/c".to_string()];
        let scripts = [
            lock_and_read("/b", "alice", 5),
            read_manifest("/b"),
            facts("/b"),
            force_unlock("/b"),
            fetch("/b", &paths, &[]),
            fetch("/b", &paths, &paths),
            apply("/b", &plan(&local, &local, &[]), &system).unwrap(),
            apply("/b", &with_system, &system).unwrap(),
        ];
        // The system part is in the last (SYSTEM and SYSTEM_ROOT filled too).
        assert!(scripts[7].contains("place .nxinfra/staging/.nxinfra/system/0 root daemon 0640"));
        for script in &scripts {
            assert_eq!(next_placeholder(script), None, "{script}");
            let check = Command::new("sh").arg("-n").arg("-c").arg(script).output();
            assert!(check.unwrap().status.success(), "not valid sh:\n{script}");
        }
    }

    fn test_template(text: &'static str) -> Template {
        Template { name: "t.sh", text }
    }

    #[test]
    fn placeholders_are_filled_once_with_quoted_values() {
        let t = test_template("a=@A@ b=@B@\n@L@\nn=@N@ w=@W@ none=@E@ \"$@\" x@y@ @@\n@L2@\n");
        let words = ["a b".to_string(), "c".to_string()];
        let out = fill(
            &t,
            &[
                ("A", Value::Word("@B@ it's")),
                ("B", Value::Word("plain")),
                ("L", Value::Lines("echo 1\necho 2\n")),
                ("N", Value::Number(75)),
                ("W", Value::Words(&words)),
                ("E", Value::Words(&[])),
                ("L2", Value::Lines("")),
            ],
        );
        assert_eq!(
            out,
            "a='@B@ it'\"'\"'s' b=plain\necho 1\necho 2\nn=75 w='a b' c none= \"$@\" x@y@ @@\n"
        );
    }

    #[test]
    #[should_panic(expected = "t.sh: @B@ has no value")]
    fn a_placeholder_without_a_value_is_a_bug() {
        let t = test_template("@A@ @B@\n");
        fill(&t, &[("A", Value::Word("a"))]);
    }

    #[test]
    #[should_panic(expected = "t.sh: no placeholder @B@")]
    fn a_value_without_a_placeholder_is_a_bug() {
        let t = test_template("@A@\n");
        fill(&t, &[("A", Value::Word("a")), ("B", Value::Word("b"))]);
    }

    #[test]
    #[should_panic(expected = "t.sh: @L@ is filled with lines, so it stands alone on its line")]
    fn lines_fill_a_line_of_their_own() {
        let t = test_template("echo @L@\n");
        fill(&t, &[("L", Value::Lines("x\n"))]);
    }

    #[test]
    fn first_sync_changes_removals_and_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("home with space");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(base.join("foreign.txt"), "not ours").unwrap();
        // A folder the manifest does not know, but that exists on the host, made by hand.
        std::fs::create_dir_all(base.join("made/by")).unwrap();
        std::fs::write(base.join("made/by/hand.txt"), "also not ours").unwrap();

        let v1 = tree(&[
            ("a/x.conf", "one", 0o644),
            ("a/secret", "s", 0o600),
            ("gone/b", "b", 0o644),
            ("run.sh", "#!/bin/sh", 0o755),
            ("made/by/nxinfra.conf", "ours", 0o644),
            ("made/new/deep.conf", "ours too", 0o644),
        ]);
        let p = sync(&base, &v1);
        assert_eq!(p.upload.len(), 6);
        assert_eq!(p.new_dirs, ["a", "gone", "made"]);
        assert_eq!(
            std::fs::read_to_string(base.join("made/by/hand.txt")).unwrap(),
            "also not ours"
        );
        assert_eq!(
            std::fs::read_to_string(base.join("made/new/deep.conf")).unwrap(),
            "ours too"
        );
        assert_eq!(
            std::fs::read_to_string(base.join("a/x.conf")).unwrap(),
            "one"
        );
        assert_eq!(mode(&base.join("a/secret")), 0o600);
        assert_eq!(mode(&base.join("run.sh")), 0o755);
        assert!(!base.join(".nxinfra/staging").exists());
        // nxinfra's state is its login user's alone: the manifest has the hashes of the
        // files with secrets.
        assert_eq!(mode(&base.join(".nxinfra")), 0o700);
        assert_eq!(mode(&base.join(".nxinfra/manifest")), 0o600);
        // The folders it makes are readable (containers run as other users).
        assert_eq!(mode(&base.join("made/new")) & 0o005, 0o005);

        // No-op.
        assert!(sync(&base, &v1).is_noop());

        // One change, one removal (its emptied folder goes too), one mode change, a file that
        // becomes a folder.
        let v2 = tree(&[
            ("a/x.conf", "two", 0o644),
            ("a/secret", "s", 0o640),
            ("run.sh/inner", "now a folder", 0o644),
        ]);
        let p = sync(&base, &v2);
        assert_eq!(p.upload, ["a/x.conf", "run.sh/inner"]);
        assert_eq!(p.chmod, [("a/secret".to_string(), 0o640)]);
        assert_eq!(
            p.remove,
            [
                "gone/b",
                "made/by/nxinfra.conf",
                "made/new/deep.conf",
                "run.sh"
            ]
        );
        assert!(!base.join("made/new").exists(), "emptied, so removed");
        assert!(
            base.join("made/by/hand.txt").exists(),
            "foreign: kept, with its folder"
        );
        assert_eq!(
            std::fs::read_to_string(base.join("a/x.conf")).unwrap(),
            "two"
        );
        assert_eq!(mode(&base.join("a/secret")), 0o640);
        assert!(!base.join("gone").exists());
        assert_eq!(
            std::fs::read_to_string(base.join("run.sh/inner")).unwrap(),
            "now a folder"
        );
        // Never touched: the foreign file.
        assert_eq!(
            std::fs::read_to_string(base.join("foreign.txt")).unwrap(),
            "not ours"
        );
        assert!(sync(&base, &v2).is_noop());
    }

    /// What `read_manifest.sh` says of the files in `base`: the suspects of drift.
    fn suspects_in(base: &std::path::Path) -> (Vec<String>, Vec<String>) {
        let out = sh(&read_manifest(base.to_str().unwrap()), b"");
        assert!(out.status.success());
        crate::plan::drift::suspects(&host_files(&String::from_utf8_lossy(&out.stdout)).unwrap())
    }

    #[test]
    fn files_changed_on_the_host_are_found_by_their_state_and_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("b a");
        std::fs::create_dir_all(&base).unwrap();
        let v1 = tree(&[
            ("bird/bird.conf", "router id 1;\n", 0o644),
            ("gone.conf", "g", 0o644),
            ("key", "k", 0o600),
            ("same size", "abc", 0o644),
            ("touched", "t", 0o644),
            ("kept", "k", 0o644),
        ]);
        sync(&base, &v1);
        // Every file is as recorded: nothing to read, on a no-op or on a plan.
        assert_eq!(suspects_in(&base), (vec![], vec![]));
        assert!(sync(&base, &v1).is_noop());
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(base.join("bird/bird.conf"))
            .unwrap();
        f.write_all(b"protocol static {}\n").unwrap();
        std::fs::remove_file(base.join("gone.conf")).unwrap();
        std::fs::set_permissions(base.join("key"), std::fs::Permissions::from_mode(0o644)).unwrap();
        // Same size, same second: the change time still tells.
        std::fs::write(base.join("same size"), "xyz").unwrap();
        std::fs::write(base.join("foreign"), "not ours").unwrap();
        let touched = std::fs::File::options()
            .write(true)
            .open(base.join("touched"))
            .unwrap();
        touched.set_modified(std::time::SystemTime::now()).unwrap();
        let (suspects, _) = suspects_in(&base);
        assert_eq!(
            suspects,
            ["bird/bird.conf", "gone.conf", "key", "same size", "touched"]
        );

        let p = sync(&base, &v1);
        let changed: Vec<String> = p
            .changed_on_host
            .iter()
            .map(|c| format!("{}: {}", c.path, c.change))
            .collect();
        assert_eq!(
            changed,
            [
                "bird/bird.conf: edited",
                "gone.conf: removed",
                "key: mode 0644, placed 0600",
                "same size: edited",
            ]
        );
        assert_eq!(p.upload, ["bird/bird.conf", "gone.conf", "same size"]);
        assert_eq!(p.chmod, [("key".to_string(), 0o600)]);
        assert!(p.added.is_empty(), "nothing new to the manifest");
        for (path, f) in &v1 {
            assert_eq!(
                std::fs::read(base.join(path)).unwrap(),
                &f.data[..],
                "{path}"
            );
            assert_eq!(mode(&base.join(path)), f.mode, "{path}");
        }
        assert_eq!(
            std::fs::read_to_string(base.join("foreign")).unwrap(),
            "not ours"
        );
        // Repaired and recorded again: nothing to read any more.
        assert_eq!(suspects_in(&base), (vec![], vec![]));
        assert!(sync(&base, &v1).is_noop());
    }

    #[test]
    fn a_touched_file_or_a_missing_record_is_read_once_then_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let v1 = tree(&[("a", "1", 0o644), ("b", "2", 0o644)]);
        sync(base, &v1);
        // A host synced by a version that kept no record (nor the command that makes it).
        std::fs::remove_file(base.join(".nxinfra/stat")).unwrap();
        std::fs::remove_file(base.join(".nxinfra/stat.sh")).unwrap();
        assert_eq!(suspects_in(base).0, ["a", "b"]);
        let before = std::fs::read(base.join(".nxinfra/manifest")).unwrap();
        let p = sync(base, &v1);
        assert!(p.is_noop() && p.changed_on_host.is_empty() && p.stale_record);
        assert_eq!(
            std::fs::read(base.join(".nxinfra/manifest")).unwrap(),
            before
        );
        assert_eq!(mode(&base.join(".nxinfra/stat")), 0o600);
        assert_eq!(suspects_in(base), (vec![], vec![]));
        // One `stat` per kind of file, the paths quoted.
        assert_eq!(
            std::fs::read_to_string(base.join(".nxinfra/stat.sh")).unwrap(),
            "stat_placed a b\n"
        );
    }

    #[test]
    fn the_lock_is_held_while_stdin_is_open_and_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().to_str().unwrap().to_string();
        let mut first = Command::new("sh")
            .arg("-c")
            .arg(lock_and_read(&b, "alice@laptop pid 42", 5))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the first holds the lock (it has printed the end marker).
        let mut stdout = first.stdout.take().unwrap();
        let mut seen = String::new();
        while !seen.contains(END_MARKER) {
            let mut buf = [0u8; 256];
            let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
            assert!(n > 0, "first lock holder ended early");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let second = sh(&lock_and_read(&b, "bob", 1), b"");
        assert_eq!(second.status.code(), Some(LOCKED_EXIT));
        let err = String::from_utf8_lossy(&second.stderr);
        assert!(
            err.contains("locked by alice@laptop pid 42 (remote pid"),
            "{err}"
        );
        // Closing stdin releases it; a dead holder leaves no stale lock.
        drop(first.stdin.take());
        assert!(first.wait().unwrap().success());
        let third = sh(&lock_and_read(&b, "carol", 1), b"");
        assert!(third.status.success());
    }

    #[test]
    fn force_unlock_ends_the_holder_and_frees_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().to_str().unwrap().to_string();
        let mut holder = Command::new("sh")
            .arg("-c")
            .arg(lock_and_read(&b, "stuck@host pid 1", 5))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = holder.stdout.take().unwrap();
        let mut seen = String::new();
        while !seen.contains(END_MARKER) {
            let mut buf = [0u8; 256];
            let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
            assert!(n > 0);
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let out = sh(&force_unlock(&b), b"");
        assert!(String::from_utf8_lossy(&out.stdout).contains("stuck@host pid 1"));
        // The lock is free at once, although the holder's stdin is still open.
        let next = sh(&lock_and_read(&b, "next", 1), b"");
        assert!(
            next.status.success(),
            "{}",
            String::from_utf8_lossy(&next.stderr)
        );
        drop(holder.stdin.take());
        let _ = holder.wait();
    }

    #[test]
    fn fetch_returns_existing_files_and_skips_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a b")).unwrap();
        std::fs::write(dir.path().join("a b/c.conf"), "content").unwrap();
        let paths = vec!["a b/c.conf".to_string(), "missing.conf".to_string()];
        let system_file = dir.path().join("system.conf");
        std::fs::write(&system_file, "sys").unwrap();
        let system = vec![
            system_file.to_str().unwrap().to_string(),
            "/nonexistent/x".to_string(),
        ];
        let out = sh(&fetch(dir.path().to_str().unwrap(), &paths, &[]), b"");
        assert!(out.status.success());
        let files = read_tar(&out.stdout).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files["a b/c.conf"], b"content");
        if !am_root() {
            return; // the system part needs root or sudo
        }
        let out = sh(&fetch(dir.path().to_str().unwrap(), &paths, &system), b"");
        let files = read_tar(&out.stdout).unwrap();
        assert_eq!(files.len(), 2, "{:?}", files.keys());
        assert_eq!(files[&system[0]], b"sys");
    }

    #[test]
    fn nxinfra_state_folder_cannot_be_uploaded() {
        let files = tree(&[(".nxinfra/manifest", "x", 0o644)]);
        let p = plan(&Manifest::of_files(&files), &Manifest::default(), &[]);
        let err = upload_tar("/b", &files, &[], &p, &Manifest::of_files(&files)).unwrap_err();
        assert!(err.to_string().contains("nxinfra's own folder"), "{err}");
    }

    #[test]
    fn system_files_are_installed_with_owner_and_mode_and_reload_once_per_change() {
        if !am_root() {
            eprintln!("SKIPPED: system files are placed as root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("home");
        let etc = dir.path().join("etc dir");
        let log = dir.path().join("reload.log");
        std::fs::create_dir_all(&base).unwrap();
        let entries = |reload: &str| {
            crate::model::system_files::parse(Some(&serde_json::json!([
                {"src": "bird/bird.conf", "dest": format!("{}/bird/bird.conf", etc.display()),
                 "mode": "0640", "owner": "root:daemon", "reload": reload},
                {"src": "bird/peers.conf", "dest": format!("{}/bird/peers.conf", etc.display()),
                 "mode": "0640", "owner": "root:daemon", "reload": reload},
            ])))
            .unwrap()
        };
        let reload = format!("echo reloaded >> '{}'", log.display());
        let v1 = tree(&[
            ("bird/bird.conf", "router id 1;", 0o644),
            ("bird/peers.conf", "peers", 0o644),
            ("compose.yml", "services: {}", 0o644),
        ]);
        let (p, out) = sync_system(&base, v1.clone(), &entries(&reload));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(p.system_install.len(), 2);
        let conf = etc.join("bird/bird.conf");
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), "router id 1;");
        let meta = std::os::unix::fs::MetadataExt::gid(&std::fs::metadata(&conf).unwrap());
        assert_eq!(meta, 1, "group daemon (gid 1)");
        assert_eq!(mode(&conf), 0o640);
        assert!(
            !base.join("bird").exists(),
            "system sources are not placed in the base dir"
        );
        assert!(base.join("compose.yml").exists());
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "reloaded\n",
            "once for two files"
        );

        // No-op: no reload.
        let (p, _) = sync_system(&base, v1.clone(), &entries(&reload));
        assert!(p.is_noop());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "reloaded\n");

        // Drift of system files: one edited, one re-owned, found and put back, reloaded once.
        std::fs::write(&conf, "router id 666;").unwrap();
        let peers = etc.join("bird/peers.conf");
        std::os::unix::fs::chown(&peers, Some(0), Some(0)).unwrap();
        let (p, out) = sync_system(&base, v1.clone(), &entries(&reload));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let changed: Vec<String> = p
            .changed_on_host
            .iter()
            .map(|c| format!("{}: {}", c.path.rsplit('/').next().unwrap(), c.change))
            .collect();
        assert_eq!(
            changed,
            [
                "bird.conf: edited",
                "peers.conf: owner root:root, placed root:daemon"
            ]
        );
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), "router id 1;");
        let gid = std::os::unix::fs::MetadataExt::gid(&std::fs::metadata(&peers).unwrap());
        assert_eq!(gid, 1);
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "reloaded\nreloaded\n"
        );
        let (p, _) = sync_system(&base, v1.clone(), &entries(&reload));
        assert!(p.is_noop() && !p.stale_record);

        // A failing reload fails the sync, names the command, and is retried next time: the
        // manifest was not updated.
        let mut v2 = v1.clone();
        v2.insert(
            "bird/bird.conf".into(),
            OutFile {
                data: b"router id 2;".to_vec().into(),
                mode: 0o644,
            },
        );
        let failing = format!("{reload}; echo bird is down >&2; false");
        let (_, out) = sync_system(&base, v2.clone(), &entries(&failing));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains("failed: bird is down") && err.contains("reload `"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), "router id 2;");
        let (p, out) = sync_system(&base, v2.clone(), &entries(&reload));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(p.reloads, std::slice::from_ref(&reload));
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "reloaded\nreloaded\nreloaded\nreloaded\n"
        );
        assert!(!base.join(".nxinfra/staging").exists());

        // A system file no longer listed is removed; no reload for a removal alone.
        let one = entries(&reload)[..1].to_vec();
        let (p, out) = sync_system(&base, v2, &one);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(p.system_remove.len(), 1);
        assert!(p.reloads.is_empty());
        assert!(!etc.join("bird/peers.conf").exists());
        assert!(
            base.join("bird/peers.conf").exists(),
            "now an ordinary file"
        );
    }
}

#[cfg(test)]
mod hold_tests {
    use std::io::{BufRead, Write};
    use std::process::{Command, Stdio};

    use super::*;
    use crate::plan::files::plan;

    #[test]
    fn apply_holds_the_lock_until_the_manifest_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().to_str().unwrap().to_string();
        let files: BTreeMap<String, OutFile> = [(
            "a.conf".to_string(),
            OutFile {
                data: b"one".to_vec().into(),
                mode: 0o644,
            },
        )]
        .into();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(lock_and_read(&b, "holder", 5))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while line.trim_end() != END_MARKER {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0);
        }
        let local = Manifest::of_files(&files);
        let p = plan(&local, &Manifest::default(), &[]);
        let tar = upload_tar(&b, &files, &[], &p, &local).unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(apply_line(tar.len()).as_bytes()).unwrap();
        stdin.write_all(&tar).unwrap();
        stdin.flush().unwrap();
        line.clear();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim_end(), APPLIED_MARKER);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.conf")).unwrap(),
            "one"
        );
        // Still locked: the files are in place, the containers would be reconciled now.
        let other = Command::new("sh")
            .arg("-c")
            .arg(lock_and_read(&b, "other", 0))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(other.status.code(), Some(LOCKED_EXIT));
        let text = format!("{}# extra record\n", local.to_text());
        stdin
            .write_all(manifest_line(text.len()).as_bytes())
            .unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        drop(stdin);
        assert!(child.wait().unwrap().success());
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".nxinfra/manifest")).unwrap(),
            text
        );
        assert_eq!(tests::mode(&dir.path().join(".nxinfra/manifest")), 0o600);
    }
}

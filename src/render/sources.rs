//! The template tree: every file under `templates/`, and which of them each host gets.
//!
//! Reading the tree is the only I/O here; `plan_host_files` and `check_layout` are pure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::model::inventory::Inventory;

/// Folder (under `templates/`) of the files rendered per group and host.
pub const CONFIG_DIR: &str = "config";

/// In `templates/config/`: the folders there that are not nxinfra's (a migrating repository's
/// files that its playbooks install, under names that are not groups), one per line; `#`
/// starts a comment. They are neither read nor rendered, and not refused as typos.
pub const IGNORE_FILE: &str = ".nxinfraignore";

/// A template tree problem, or a file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", file.display())]
pub struct LayoutError {
    pub file: PathBuf,
    pub message: String,
}

/// Every file under `templates/`, by name relative to it (`config/core/coreams01/x.j2`).
#[derive(Debug, Default)]
pub struct TemplateTree {
    pub root: PathBuf,
    /// Shared: each host's output of a static file is this very buffer.
    pub files: BTreeMap<String, std::sync::Arc<[u8]>>,
    /// The folders of `templates/config/` that [`IGNORE_FILE`] lists (not read).
    pub ignored: BTreeSet<String>,
}

/// The folder names [`IGNORE_FILE`] lists; `file` for messages.
pub fn parse_ignore(file: &Path, text: &str) -> Result<BTreeSet<String>, LayoutError> {
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let name = line.split('#').next().unwrap_or_default().trim();
        if name.is_empty() {
            continue;
        }
        let name = name.trim_end_matches('/');
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(LayoutError {
                file: PathBuf::from(format!("{}:{}", file.display(), i + 1)),
                message: format!(
                    "{line:?}: one folder name of templates/config/ per line (not a path)"
                ),
            });
        }
        out.insert(name.to_string());
    }
    Ok(out)
}

impl TemplateTree {
    /// Reads `dir` recursively. Symlinks are refused: they could point outside the repository.
    /// A file larger than `max_bytes` is refused before it is read (a render holds every file
    /// in memory).
    pub fn read(dir: &Path, max_bytes: u64) -> Result<Self, LayoutError> {
        let mut tree = TemplateTree {
            root: dir.to_path_buf(),
            files: BTreeMap::new(),
            ignored: BTreeSet::new(),
        };
        if !dir.exists() {
            return Ok(tree);
        }
        let ignore_file = dir.join(CONFIG_DIR).join(IGNORE_FILE);
        match std::fs::read_to_string(&ignore_file) {
            Ok(text) => tree.ignored = parse_ignore(&ignore_file, &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(LayoutError {
                    file: ignore_file,
                    message: format!("cannot read: {e}"),
                });
            }
        }
        let ignore_rel = format!("{CONFIG_DIR}/{IGNORE_FILE}");
        let mut todo = vec![(dir.to_path_buf(), String::new())];
        while let Some((path, prefix)) = todo.pop() {
            let entries = std::fs::read_dir(&path).map_err(|e| LayoutError {
                file: path.clone(),
                message: format!("cannot read folder: {e}"),
            })?;
            for entry in entries {
                let entry = entry.map_err(|e| LayoutError {
                    file: path.clone(),
                    message: format!("cannot read folder: {e}"),
                })?;
                let full = entry.path();
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    return Err(LayoutError {
                        file: full,
                        message: "file name is not UTF-8".into(),
                    });
                };
                let rel = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                };
                let kind = entry.file_type().map_err(|e| LayoutError {
                    file: full.clone(),
                    message: e.to_string(),
                })?;
                if kind.is_symlink() {
                    return Err(LayoutError {
                        file: full,
                        message: "symlinks are not followed in templates/ (they could point \
                                  outside the repository); copy the file instead"
                            .into(),
                    });
                } else if kind.is_dir() {
                    let not_ours = prefix == CONFIG_DIR
                        && rel
                            .strip_prefix(&format!("{CONFIG_DIR}/"))
                            .is_some_and(|n| tree.ignored.contains(n));
                    if !not_ours {
                        todo.push((full, rel));
                    }
                } else if rel == ignore_rel {
                    continue;
                } else {
                    if !kind.is_file() {
                        return Err(LayoutError {
                            file: full,
                            message: "not a regular file (a pipe, socket or device): \
                                      templates/ holds files only"
                                .into(),
                        });
                    }
                    let data = read_bounded(&full, max_bytes)?;
                    tree.files.insert(rel, data.into());
                }
            }
        }
        Ok(tree)
    }

    /// The path on disk of a template name, for messages.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Names of the files under `templates/config/`, relative to it.
    pub fn config_files(&self) -> impl Iterator<Item = &str> {
        let prefix = format!("{CONFIG_DIR}/");
        self.files
            .keys()
            .filter_map(move |k| k.strip_prefix(prefix.as_str()))
    }
}

/// The bytes of `file`, refused when there are more than `max_bytes` (never more than that
/// read into memory, even if the file grows meanwhile).
fn read_bounded(file: &Path, max_bytes: u64) -> Result<Vec<u8>, LayoutError> {
    use std::io::Read;
    let fail = |e: std::io::Error| LayoutError {
        file: file.to_path_buf(),
        message: format!("cannot read: {e}"),
    };
    let mut data = Vec::new();
    std::fs::File::open(file)
        .map_err(fail)?
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(fail)?;
    if data.len() as u64 > max_bytes {
        let size = std::fs::metadata(file).map_or(data.len() as u64, |m| m.len());
        return Err(LayoutError {
            file: file.to_path_buf(),
            message: format!(
                "{} is larger than the limit of one file, {} (--max-file-mib): templates/ \
                 holds configuration; ship large data another way, or raise the limit",
                crate::util::size::human(size),
                crate::util::size::human(max_bytes)
            ),
        });
    }
    Ok(data)
}

/// Checks the layout of `templates/config/` against the inventory: every top folder is a group,
/// no loose files, and a sub-folder named after a host belongs to a host of that group.
pub fn check_layout<'a>(
    config_files: impl IntoIterator<Item = &'a str>,
    ignored: &BTreeSet<String>,
    inv: &Inventory,
    templates_root: &Path,
) -> Result<(), LayoutError> {
    let error = |rel: &str, message: String| LayoutError {
        file: templates_root.join(CONFIG_DIR).join(rel),
        message,
    };
    if let Some(group) = ignored.iter().find(|g| inv.groups.contains_key(g.as_str())) {
        return Err(error(
            IGNORE_FILE,
            format!(
                "lists {group}, a group of the inventory: its templates would never be \
                 rendered; remove {group} from {IGNORE_FILE}"
            ),
        ));
    }
    let mut members: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for rel in config_files {
        let mut parts = rel.split('/');
        let group = parts.next().unwrap_or_default();
        let Some(second) = parts.next() else {
            return Err(error(
                rel,
                "files directly in templates/config/ belong to no group: move it to \
                 templates/config/<group>/"
                    .into(),
            ));
        };
        if !inv.groups.contains_key(group) {
            return Err(error(
                group,
                format!(
                    "templates/config/{group}/ is not named after a group of the inventory \
                     (groups: {}); a typo? If it is not nxinfra's (files another tool \
                     installs), list it in templates/config/{IGNORE_FILE}: it is then \
                     neither read nor rendered",
                    inv.groups.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let is_dir = parts.next().is_some();
        if is_dir && inv.hosts.contains_key(second) {
            let hosts = members
                .entry(group)
                .or_insert_with(|| inv.hosts_of_group(group));
            if !hosts.contains(second) {
                return Err(error(
                    &format!("{group}/{second}"),
                    format!(
                        "folder named after host {second}, which is not in group {group}: its \
                         files would never be rendered for {second}"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// One output file of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Template name relative to `templates/` (`config/ixp/ixpams01/bird/bird.conf.j2`).
    pub source: String,
    /// Whether the file is rendered (`.j2`) or copied.
    pub render: bool,
}

/// The files of `host`: output path → source. Shared group files, overridden by the host's own
/// folder; two groups giving one output path is an error.
pub fn plan_host_files<'a>(
    config_files: impl IntoIterator<Item = &'a str>,
    inv: &Inventory,
    host: &str,
    templates_root: &Path,
) -> Result<BTreeMap<String, PlannedFile>, LayoutError> {
    let groups = inv.groups_of(host);
    let mut shared: BTreeMap<String, String> = BTreeMap::new();
    let mut own: BTreeMap<String, String> = BTreeMap::new();
    for rel in config_files {
        let Some((group, inner)) = rel.split_once('/') else {
            continue;
        };
        if !groups.contains(group) {
            continue;
        }
        let (target, out) = match inner.split_once('/') {
            Some((first, rest)) if inv.hosts.contains_key(first) => {
                if first != host {
                    continue;
                }
                (&mut own, rest)
            }
            _ => (&mut shared, inner),
        };
        let out = out.strip_suffix(".j2").unwrap_or(out).to_string();
        let source = format!("{CONFIG_DIR}/{rel}");
        if let Some(previous) = target.insert(out.clone(), source.clone()) {
            return Err(LayoutError {
                file: templates_root.join(&source),
                message: format!(
                    "host {host}: output {out} comes from both {previous} and {source}; \
                     nxinfra does not pick one silently"
                ),
            });
        }
    }
    for (out, source) in own {
        shared.insert(out, source);
    }
    Ok(shared
        .into_iter()
        .map(|(out, source)| {
            let render = source.ends_with(".j2");
            (out, PlannedFile { source, render })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Inventory {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("i.yml");
        std::fs::write(
            &f,
            "core:\n  hosts:\n    c1:\nixp:\n  hosts:\n    i1:\n    i2:\nams:\n  hosts:\n    i1:\n",
        )
        .unwrap();
        crate::model::inventory::load(&f).unwrap()
    }

    fn names(files: &BTreeMap<String, PlannedFile>) -> Vec<(&str, &str)> {
        files
            .iter()
            .map(|(o, p)| (o.as_str(), p.source.as_str()))
            .collect()
    }

    #[test]
    fn shared_files_host_folders_and_overrides() {
        let files = [
            "ixp/alloy/config.alloy.j2",
            "ixp/bird/bird.conf.j2",
            "ixp/i1/bird/bird.conf.j2",
            "ixp/i2/only-i2.txt",
            "core/c1/compose.yml.j2",
            "all/motd",
        ];
        let root = Path::new("templates");
        let i1 = plan_host_files(files, &inv(), "i1", root).unwrap();
        assert_eq!(
            names(&i1),
            [
                ("alloy/config.alloy", "config/ixp/alloy/config.alloy.j2"),
                ("bird/bird.conf", "config/ixp/i1/bird/bird.conf.j2"),
                ("motd", "config/all/motd"),
            ]
        );
        assert!(i1["bird/bird.conf"].render);
        assert!(!i1["motd"].render);
        let i2 = plan_host_files(files, &inv(), "i2", root).unwrap();
        assert_eq!(i2["bird/bird.conf"].source, "config/ixp/bird/bird.conf.j2");
        assert!(i2.contains_key("only-i2.txt"));
        let c1 = plan_host_files(files, &inv(), "c1", root).unwrap();
        assert_eq!(c1.keys().collect::<Vec<_>>(), ["compose.yml", "motd"]);
    }

    #[test]
    fn two_groups_giving_one_file_is_an_error() {
        let files = ["ixp/x.conf", "ams/x.conf.j2"];
        let err = plan_host_files(files, &inv(), "i1", Path::new("t"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("host i1: output x.conf comes from both"),
            "{err}"
        );
        // i2 is not in ams: no conflict.
        assert!(plan_host_files(files, &inv(), "i2", Path::new("t")).is_ok());
    }

    #[test]
    fn layout_errors() {
        let root = Path::new("templates");
        let none = BTreeSet::new();
        let err = check_layout(["ixp/c1/x.j2"], &none, &inv(), root)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not in group ixp"), "{err}");
        let err = check_layout(["ipx/x.j2"], &none, &inv(), root)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not named after a group")
                && err.contains("list it in templates/config/.nxinfraignore"),
            "{err}"
        );
        let err = check_layout(["loose.j2"], &none, &inv(), root)
            .unwrap_err()
            .to_string();
        assert!(err.contains("belong to no group"), "{err}");
        assert!(check_layout(["ixp/i1/x.j2", "ixp/i1", "core/c1/y"], &none, &inv(), root).is_ok());
        // Listing a group would silently drop its templates: refused.
        let err = check_layout(["ixp/x.j2"], &["ixp".to_string()].into(), &inv(), root)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(".nxinfraignore: lists ixp, a group of the inventory"),
            "{err}"
        );
    }

    #[test]
    fn ignored_folders_are_not_read_and_the_list_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        for (f, text) in [
            ("config/ixp/x.j2", "{{ 1 }}"),
            ("config/legacy/broken.j2", "{{ unclosed"),
            ("config/legacy/deep/more.conf", "x"),
            (
                "config/.nxinfraignore",
                "# kept for the playbooks\nlegacy/\n\nold-stuff  # gone\n",
            ),
        ] {
            std::fs::create_dir_all(t.join(f).parent().unwrap()).unwrap();
            std::fs::write(t.join(f), text).unwrap();
        }
        let tree = TemplateTree::read(t, u64::MAX).unwrap();
        assert_eq!(tree.files.keys().collect::<Vec<_>>(), ["config/ixp/x.j2"]);
        assert_eq!(
            tree.ignored,
            ["legacy".to_string(), "old-stuff".to_string()].into()
        );
        assert!(check_layout(tree.config_files(), &tree.ignored, &inv(), t).is_ok());
        std::fs::write(t.join("config/.nxinfraignore"), "ok\nlegacy/sub\n").unwrap();
        let err = TemplateTree::read(t, u64::MAX).unwrap_err().to_string();
        assert!(
            err.contains(".nxinfraignore:2: \"legacy/sub\": one folder name"),
            "{err}"
        );
    }
}

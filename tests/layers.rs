//! The direction rule of docs/architecture.md, checked on the sources: each layer uses only
//! the layers below it, the pure layers use no I/O crate, and operations do not use each
//! other. `make lint` runs it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each layer (the top folder or file under src/) and what it may use besides itself and
/// [`ANYONE`].
const LAYERS: &[(&str, &[&str])] = &[
    ("cli", &[]),
    (
        "app",
        &["cli", "ops", "plan", "host", "render", "secrets", "model"],
    ),
    ("ops", &["plan", "host", "render", "secrets", "model"]),
    // The host layer carries plans out (a sync plan's tar stream, a container's create
    // request): it reads their data, never the other way round.
    ("host", &["plan", "model"]),
    ("plan", &["model"]),
    ("render", &["secrets", "model"]),
    ("secrets", &["model"]),
    ("model", &[]),
    ("util", &[]),
];

/// What every layer may use.
const ANYONE: &[&str] = &["util"];

/// Crates that do I/O with hosts and engines: never in the pure layers.
const IO_CRATES: &[&str] = &["tokio", "bollard", "openssh"];
const PURE: &[&str] = &["model", "plan", "render", "secrets"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The layer of a source file: `src/plan/files.rs` → `plan`.
fn layer_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

/// The code of a file without its comments (`//` to the end of the line) and without its
/// unit tests (from `#[cfg(test)]` on: tests may build their inputs with anything).
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `crate::X::Y...` paths used in `code`: (X, X::Y).
fn crate_paths(code: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let mut parts = name.split("::").filter(|p| !p.is_empty());
        if let Some(first) = parts.next() {
            let second = parts.next().unwrap_or("");
            found.insert((first.to_string(), format!("{first}::{second}")));
        }
        rest = after;
    }
    found
}

#[test]
fn dependencies_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        let layer = layer_of(&src, file);
        if layer == "lib" || layer == "main" {
            continue;
        }
        let Some((_, allowed)) = LAYERS.iter().find(|(l, _)| *l == layer) else {
            problems.push(format!(
                "{}: the layer {layer} is not in tests/layers.rs (nor docs/architecture.md)",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read a source");
        let code = code(&text);
        for (used, path) in crate_paths(&code) {
            let ok = used == layer
                || allowed.contains(&used.as_str())
                || ANYONE.contains(&used.as_str());
            if !ok {
                problems.push(format!("{}: {layer} uses crate::{path}", file.display()));
            }
            // Operations do not use each other: what two share belongs below them.
            if layer == "ops" && used == "ops" {
                let own = file
                    .strip_prefix(src.join("ops"))
                    .ok()
                    .and_then(|r| r.components().next())
                    .map(|c| {
                        c.as_os_str()
                            .to_string_lossy()
                            .trim_end_matches(".rs")
                            .to_string()
                    })
                    .unwrap_or_default();
                let other = path.trim_start_matches("ops::");
                if !other.is_empty() && other != own {
                    problems.push(format!(
                        "{}: the operation {own} uses the operation {other}",
                        file.display()
                    ));
                }
            }
        }
        if PURE.contains(&layer.as_str()) {
            for krate in IO_CRATES {
                let uses =
                    code.contains(&format!("{krate}::")) || code.contains(&format!("use {krate}"));
                if uses {
                    problems.push(format!(
                        "{}: {layer} is pure and uses the {krate} crate",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the direction rule of docs/architecture.md is broken:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_checker_sees_what_it_checks() {
    let code = code(
        "use crate::plan::files; // crate::host::x\nfn f() { crate::model::inventory::load(); }\n#[cfg(test)]\nuse crate::ops::x;",
    );
    let paths: Vec<String> = crate_paths(&code).into_iter().map(|(_, p)| p).collect();
    assert_eq!(paths, ["model::inventory", "plan::files"]);
}

//! The fleet this repository ships (inventory/, templates/, secrets/), rendered in a
//! temporary copy with the demo identity.

use std::path::{Path, PathBuf};
use std::process::Command;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The shipped fleet's hosts (NXTHDR.md).
pub const HOSTS: [&str; 6] = [
    "coreams01",
    "ixpams01",
    "ixpams02",
    "ixpfra01",
    "vltatl01",
    "vltcdg01",
];

/// The demo identity that decrypts the shipped secrets.
pub fn demo_identity() -> PathBuf {
    Path::new(REPO).join("demo/identity.DEMO-ONLY.txt")
}

/// A copy of the shipped fleet rendered with the demo identity: the copy and its
/// `rendered/`. Checks that render succeeded and printed no secret value.
pub fn rendered_fleet() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["inventory", "templates", "secrets", "clickhouse-tables"] {
        let status = Command::new("cp")
            .arg("-r")
            .arg(Path::new(REPO).join(sub))
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let out = Command::new(super::bin())
        .arg("--root")
        .arg(dir.path())
        .arg("--identity")
        .arg(demo_identity())
        .arg("render")
        .output()
        .unwrap();
    let (stdout, stderr) = super::texts(&out);
    assert!(out.status.success(), "{stderr}");
    let secrets = nxinfra::secrets::store::load(
        dir.path(),
        &nxinfra::secrets::store::Keys {
            identity: Some(demo_identity()),
            vault_password_file: None,
        },
    )
    .unwrap();
    for (path, value) in secrets.leaves() {
        assert!(
            !stdout.contains(&value) && !stderr.contains(&value),
            "{path} printed"
        );
    }
    let rendered = dir.path().join("rendered");
    (dir, rendered)
}

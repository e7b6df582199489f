//! `lookup('file', PATH)`: the content of a file of the repository, as Ansible's file lookup
//! gives it (trailing whitespace stripped, not rendered as a template). It lets a host's tree
//! carry files kept outside templates/, such as the ClickHouse schemas of
//! `clickhouse-tables/`, without a second copy of them.
//!
//! PATH is relative to the repository root and must stay inside it: no `..`, no absolute
//! path, no symlink, nothing under `.git/` or `rendered/`.
//!
//! A file that holds a private key (an age identity, a PEM or OpenSSH private key) is refused:
//! kept in plain text in the repository, it would be neither encrypted, nor redacted from
//! diffs and errors, nor made 0600. Such keys belong in the secrets.

use std::path::{Component, Path};

/// Why `lookup('file', PATH)` refused: each says which lookup and what to do.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(
        "lookup('file', {0:?}): name a file of the repository by its path from the \
         repository's root, e.g. 'clickhouse-tables/bmp/bmp.sql' (no '..', no absolute path)"
    )]
    NotARepositoryPath(String),
    #[error("lookup('file', {0:?}): .git/ and rendered/ are not sources")]
    NotASource(String),
    #[error("lookup('file', {rel:?}): {link} is a symlink; symlinks are not followed")]
    Symlink { rel: String, link: String },
    #[error("lookup('file', {0:?}): no such file in the repository")]
    Missing(String),
    #[error("lookup('file', {rel:?}): {source}")]
    Read { rel: String, source: std::io::Error },
    #[error("lookup('file', {0:?}): not UTF-8 text")]
    NotText(String),
    #[error(
        "lookup('file', {rel:?}): the file holds {kind}, which is not read from a plain \
         file: keep it in the secrets (`nxinfra secrets set PATH < {rel}`, then remove the \
         file) and read it as {{{{ secrets.PATH }}}}: encrypted in the repository, redacted \
         from every output, and the rendered file made 0600"
    )]
    KeyMaterial { rel: String, kind: &'static str },
}

/// Reads `rel` under `root` for `lookup('file', rel)`; the error says why not.
pub fn file(root: &Path, rel: &str) -> Result<String, LookupError> {
    let path = Path::new(rel);
    let normal = !rel.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if !normal {
        return Err(LookupError::NotARepositoryPath(rel.into()));
    }
    let first = path.components().next().map(|c| c.as_os_str());
    if first.is_some_and(|f| f == ".git" || f == "rendered") {
        return Err(LookupError::NotASource(rel.into()));
    }
    let full = root.join(path);
    // No symlink anywhere on the way: it could lead outside the repository.
    let mut walked = root.to_path_buf();
    for part in path.components() {
        walked.push(part);
        match std::fs::symlink_metadata(&walked) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(LookupError::Symlink {
                    rel: rel.into(),
                    link: walked
                        .strip_prefix(root)
                        .unwrap_or(&walked)
                        .display()
                        .to_string(),
                });
            }
            Ok(_) => {}
            Err(_) => return Err(LookupError::Missing(rel.into())),
        }
    }
    let data = std::fs::read(&full).map_err(|source| LookupError::Read {
        rel: rel.into(),
        source,
    })?;
    let text = String::from_utf8(data).map_err(|_| LookupError::NotText(rel.into()))?;
    if let Some(kind) = key_material(&text) {
        return Err(LookupError::KeyMaterial {
            rel: rel.into(),
            kind,
        });
    }
    Ok(text.trim_end().to_string())
}

/// What private key `text` holds, if any: an age identity, or a PEM / OpenSSH private key
/// block (`-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED ]PRIVATE KEY-----`).
pub fn key_material(text: &str) -> Option<&'static str> {
    if text.contains("AGE-SECRET-KEY-") {
        return Some("an age identity (AGE-SECRET-KEY-...)");
    }
    let pem = text.lines().any(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|label| label.ends_with("PRIVATE KEY"))
    });
    pem.then_some("a private key (-----BEGIN ... PRIVATE KEY-----)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_of_the_repository_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("clickhouse-tables/bmp")).unwrap();
        std::fs::write(root.join("clickhouse-tables/bmp/bmp.sql"), "CREATE x;\n\n").unwrap();
        assert_eq!(
            file(root, "clickhouse-tables/bmp/bmp.sql").unwrap(),
            "CREATE x;"
        );

        for (rel, why) in [
            ("../etc/passwd", "no '..'"),
            ("/etc/passwd", "no '..'"),
            ("clickhouse-tables/../x", "no '..'"),
            ("", "no '..'"),
            ("rendered/h1/a", ".git/ and rendered/ are not sources"),
            (".git/config", ".git/ and rendered/ are not sources"),
            (
                "clickhouse-tables/none.sql",
                "no such file in the repository",
            ),
        ] {
            let e = file(root, rel).unwrap_err().to_string();
            assert!(e.contains(why), "{rel}: {e}");
        }
        std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
        let e = file(root, "etc/hostname").unwrap_err().to_string();
        assert!(e.contains("etc is a symlink"), "{e}");
        for (name, text) in [
            (
                "id.txt",
                "# created: x\n# public key: age1x\nAGE-SECRET-KEY-1QQQ\n",
            ),
            (
                "key.pem",
                "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n",
            ),
            ("rsa.pem", "-----BEGIN RSA PRIVATE KEY-----\nMII\n"),
            ("id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n"),
        ] {
            std::fs::write(root.join(name), text).unwrap();
            let e = file(root, name).unwrap_err().to_string();
            assert!(
                e.contains("holds a") && e.contains("nxinfra secrets set PATH <"),
                "{name}: {e}"
            );
        }
        for text in [
            "-----BEGIN CERTIFICATE-----\nMII\n",
            "-----BEGIN PUBLIC KEY-----\n",
            "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n",
            "ssh-ed25519 AAAAC3 x@y\n",
        ] {
            assert_eq!(key_material(text), None, "{text}");
        }
        std::fs::write(root.join("bin.dat"), [0xff, 0xfe]).unwrap();
        assert!(
            file(root, "bin.dat")
                .unwrap_err()
                .to_string()
                .contains("not UTF-8")
        );
    }
}

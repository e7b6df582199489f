//! `sync --dry-run --diff`: unified diffs of what a sync would change on a host, with every
//! secret value replaced by `<secret:PATH>`.

use std::collections::BTreeMap;

use similar::TextDiff;

use crate::model::manifest::Manifest;
use crate::model::system_files::{Placed, holds_secret};
use crate::model::tree::OutFile;
use crate::plan::files::SyncPlan;
use crate::util::redact::Redactor;

/// The diff of `plan` on `host`: `old` holds the host's current content of the changed and
/// removed files (a file missing there is new; system files by absolute path), `remote` the
/// host's manifest, `new` the rendered files, `system` the system files.
///
/// A file that holds a secret on either side shows no content at all, only that it changed:
/// the redactor knows today's values, not the ones on the host, nor their encodings.
pub fn plan_diff(
    host: &str,
    plan: &SyncPlan,
    old: &BTreeMap<String, Vec<u8>>,
    remote: &Manifest,
    new: &BTreeMap<String, OutFile>,
    system: &[Placed],
    redactor: &Redactor,
) -> String {
    let mut out = String::new();
    let empty: &[u8] = &[];
    let was_secret = |path: &str| remote.files.get(path).is_some_and(|e| holds_secret(e.mode));
    for path in &plan.upload {
        let before = old.get(path).map(Vec::as_slice);
        let file = new.get(path);
        let secret = was_secret(path) || file.is_some_and(|f| holds_secret(f.mode));
        let after = file.map(|f| &f.data[..]).unwrap_or(empty);
        let label = format!("{host}:{path}");
        file_diff(&mut out, &label, before, after, true, secret);
    }
    for path in &plan.remove {
        let before = old.get(path).map(Vec::as_slice).unwrap_or(empty);
        file_diff(
            &mut out,
            &format!("{host}:{path}"),
            Some(before),
            empty,
            false,
            was_secret(path),
        );
    }
    for (path, mode) in &plan.chmod {
        out.push_str(&format!("mode of {host}:{path} becomes {mode:04o}\n"));
    }
    for dest in &plan.system_install {
        let Some(p) = system.iter().find(|p| &p.entry.dest == dest) else {
            continue;
        };
        let secret = p.secret || remote.system.get(dest).is_some_and(|e| e.secret);
        let before = old.get(dest).map(Vec::as_slice);
        file_diff(
            &mut out,
            &format!("{host}:{dest}"),
            before,
            &p.file.data,
            true,
            secret,
        );
        out.push_str(&format!(
            "{host}:{dest} is placed as {}:{} {:04o}\n",
            p.entry.owner, p.entry.group, p.file.mode
        ));
    }
    for dest in &plan.system_remove {
        let before = old.get(dest).map(Vec::as_slice).unwrap_or(empty);
        let secret = remote.system.get(dest).is_none_or(|e| e.secret);
        file_diff(
            &mut out,
            &format!("{host}:{dest}"),
            Some(before),
            empty,
            false,
            secret,
        );
    }
    for reload in &plan.reloads {
        out.push_str(&format!("{host}: reload: {reload}\n"));
    }
    redactor.redact(&out).into_owned()
}

/// One file's diff: `before` is `None` for a new file; `exists` is false for a removal.
pub(crate) fn file_diff(
    out: &mut String,
    label: &str,
    before: Option<&[u8]>,
    after: &[u8],
    exists: bool,
    secret: bool,
) {
    let from = if before.is_some() { label } else { "/dev/null" };
    let to = if exists { label } else { "/dev/null" };
    if secret {
        out.push_str(&format!(
            "--- {from}\n+++ {to}\n# {label} holds secrets: content not shown\n"
        ));
        return;
    }
    let before = before.unwrap_or_default();
    match (std::str::from_utf8(before), std::str::from_utf8(after)) {
        (Ok(a), Ok(b)) => {
            let diff = TextDiff::from_lines(a, b);
            out.push_str(
                &diff
                    .unified_diff()
                    .context_radius(3)
                    .header(from, to)
                    .to_string(),
            );
        }
        _ => out.push_str(&format!("Binary files {from} and {to} differ\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_new_removed_and_chmod_with_known_secrets_redacted() {
        let plan = SyncPlan {
            upload: vec!["a.conf".into(), "new.conf".into(), "blob".into()],
            chmod: vec![("s.conf".into(), 0o600)],
            remove: vec!["old.conf".into()],
            ..Default::default()
        };
        let mut old = BTreeMap::new();
        // A copied (not rendered) file may hold a known value literally.
        old.insert(
            "a.conf".to_string(),
            b"x=1
token=hunter2-value
"
            .to_vec(),
        );
        old.insert(
            "old.conf".to_string(),
            b"bye
"
            .to_vec(),
        );
        old.insert("blob".to_string(), vec![0xff, 0x00]);
        let mut new = BTreeMap::new();
        new.insert(
            "a.conf".to_string(),
            OutFile::new(
                "x=2
token=hunter2-value
",
                0o644,
            ),
        );
        new.insert("new.conf".to_string(), OutFile::new("hello\n", 0o644));
        new.insert(
            "blob".to_string(),
            OutFile {
                data: vec![0xfe].into(),
                mode: 0o644,
            },
        );
        let redactor = Redactor::new([("api.token", "hunter2-value")]);
        let d = plan_diff(
            "h1",
            &plan,
            &old,
            &Manifest::default(),
            &new,
            &[],
            &redactor,
        );
        assert!(d.contains("--- h1:a.conf\n+++ h1:a.conf\n"), "{d}");
        assert!(d.contains("-x=1\n") && d.contains("+x=2\n"), "{d}");
        assert!(d.contains(" token=<secret:api.token>\n"), "{d}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(
            d.contains("--- /dev/null\n+++ h1:new.conf\n") && d.contains("+hello\n"),
            "{d}"
        );
        assert!(
            d.contains("--- h1:old.conf\n+++ /dev/null\n") && d.contains("-bye\n"),
            "{d}"
        );
        assert!(d.contains("Binary files h1:blob and h1:blob differ"), "{d}");
        assert!(d.contains("mode of h1:s.conf becomes 0600"), "{d}");
    }

    #[test]
    fn files_holding_secrets_on_either_side_show_no_content() {
        use crate::model::manifest::{Entry, SystemEntry};
        // Values the redactor cannot know: the host's old ones, and encodings of new ones.
        let plan = SyncPlan {
            upload: vec!["now-secret".into(), "was-secret".into()],
            remove: vec!["gone-secret".into()],
            system_install: vec!["/etc/wg0.conf".into()],
            system_remove: vec!["/etc/old-wg.conf".into()],
            reloads: vec!["systemctl restart wg-quick@wg0".into()],
            ..Default::default()
        };
        let mut old = BTreeMap::new();
        for (path, text) in [
            ("now-secret", "plain\n"),
            ("was-secret", "key=OLD-VALUE-1\n"),
            ("gone-secret", "key=OLD-VALUE-2\n"),
            ("/etc/wg0.conf", "PrivateKey = OLD-VALUE-3\n"),
            ("/etc/old-wg.conf", "PrivateKey = OLD-VALUE-4\n"),
        ] {
            old.insert(path.to_string(), text.as_bytes().to_vec());
        }
        let mut remote = Manifest::default();
        let entry = |mode| Entry {
            sha256: "0".repeat(64),
            mode,
        };
        remote.files.insert("now-secret".into(), entry(0o644));
        remote.files.insert("was-secret".into(), entry(0o600));
        remote.files.insert("gone-secret".into(), entry(0o600));
        remote.system.insert(
            "/etc/old-wg.conf".into(),
            SystemEntry {
                sha256: "0".repeat(64),
                mode: 0o640,
                owner: "root".into(),
                group: "root".into(),
                secret: true,
            },
        );
        let mut new = BTreeMap::new();
        new.insert(
            "now-secret".to_string(),
            OutFile::new("key=TmV3VmFsdWU=\n", 0o600),
        );
        new.insert(
            "was-secret".to_string(),
            OutFile::new("no secret now\n", 0o644),
        );
        let system = crate::model::system_files::parse(Some(&serde_json::json!([
            {"src": "wg0.conf", "dest": "/etc/wg0.conf", "mode": "0640",
             "reload": "systemctl restart wg-quick@wg0"}
        ])))
        .unwrap();
        let tree = [(
            "wg0.conf".to_string(),
            OutFile::new("PrivateKey = TmV3\n", 0o600),
        )]
        .into();
        let (_, system) =
            crate::model::system_files::split("h1", tree, &system, "/home/u").unwrap();
        let d = plan_diff(
            "h1",
            &plan,
            &old,
            &remote,
            &new,
            &system,
            &Redactor::new([]),
        );
        for hidden in ["OLD-VALUE", "TmV3", "plain", "no secret now"] {
            assert!(!d.contains(hidden), "{hidden} shown:\n{d}");
        }
        for label in ["now-secret", "was-secret", "/etc/wg0.conf"] {
            assert!(
                d.contains(&format!(
                    "--- h1:{label}\n+++ h1:{label}\n# h1:{label} holds secrets: content not shown\n"
                )),
                "{d}"
            );
        }
        assert!(
            d.contains("--- h1:gone-secret\n+++ /dev/null\n# h1:gone-secret holds"),
            "{d}"
        );
        assert!(
            d.contains("--- h1:/etc/old-wg.conf\n+++ /dev/null\n"),
            "{d}"
        );
        assert!(
            d.contains("h1:/etc/wg0.conf is placed as root:root 0640\n"),
            "{d}"
        );
        assert!(
            d.contains("h1: reload: systemctl restart wg-quick@wg0\n"),
            "{d}"
        );
    }
}

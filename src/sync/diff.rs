//! `sync --dry-run --diff`: unified diffs of what a sync would change on a host, with every
//! secret value replaced by `<secret:PATH>`.

use std::collections::BTreeMap;

use similar::TextDiff;

use super::plan::SyncPlan;
use super::system_files::Placed;
use crate::render::OutFile;
use crate::secrets::Redactor;

/// The diff of `plan` on `host`: `old` holds the host's current content of the changed and
/// removed files (a file missing there is new; system files by absolute path), `new` the
/// rendered files, `system` the system files.
pub fn plan_diff(
    host: &str,
    plan: &SyncPlan,
    old: &BTreeMap<String, Vec<u8>>,
    new: &BTreeMap<String, OutFile>,
    system: &[Placed],
    redactor: &Redactor,
) -> String {
    let mut out = String::new();
    let empty: &[u8] = &[];
    for path in &plan.upload {
        let before = old.get(path).map(Vec::as_slice);
        let after = new.get(path).map(|f| f.data.as_slice()).unwrap_or(empty);
        let from = if before.is_some() {
            format!("{host}:{path}")
        } else {
            "/dev/null".into()
        };
        file_diff(
            &mut out,
            &from,
            &format!("{host}:{path}"),
            before.unwrap_or(empty),
            after,
        );
    }
    for path in &plan.remove {
        let before = old.get(path).map(Vec::as_slice).unwrap_or(empty);
        file_diff(
            &mut out,
            &format!("{host}:{path}"),
            "/dev/null",
            before,
            empty,
        );
    }
    for (path, mode) in &plan.chmod {
        out.push_str(&format!("mode of {host}:{path} becomes {mode:04o}\n"));
    }
    for dest in &plan.system_install {
        let Some(p) = system.iter().find(|p| &p.entry.dest == dest) else {
            continue;
        };
        let before = old.get(dest).map(Vec::as_slice);
        let from = match before {
            Some(_) => format!("{host}:{dest}"),
            None => "/dev/null".into(),
        };
        file_diff(
            &mut out,
            &from,
            &format!("{host}:{dest}"),
            before.unwrap_or(empty),
            &p.file.data,
        );
        out.push_str(&format!(
            "{host}:{dest} is placed as {}:{} {:04o}\n",
            p.entry.owner, p.entry.group, p.file.mode
        ));
    }
    for dest in &plan.system_remove {
        let before = old.get(dest).map(Vec::as_slice).unwrap_or(empty);
        file_diff(
            &mut out,
            &format!("{host}:{dest}"),
            "/dev/null",
            before,
            empty,
        );
    }
    for reload in &plan.reloads {
        out.push_str(&format!("{host}: reload: {reload}\n"));
    }
    redactor.redact(&out).into_owned()
}

fn file_diff(out: &mut String, from: &str, to: &str, before: &[u8], after: &[u8]) {
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

    fn f(data: &str, mode: u32) -> OutFile {
        OutFile {
            data: data.as_bytes().to_vec(),
            mode,
        }
    }

    #[test]
    fn changed_new_removed_and_chmod_with_secrets_redacted() {
        let plan = SyncPlan {
            upload: vec!["a.conf".into(), "new.conf".into(), "blob".into()],
            chmod: vec![("s.conf".into(), 0o600)],
            remove: vec!["old.conf".into()],
            system_install: vec!["/etc/wg0.conf".into()],
            reloads: vec!["systemctl restart wg-quick@wg0".into()],
            ..Default::default()
        };
        let mut old = BTreeMap::new();
        old.insert(
            "a.conf".to_string(),
            b"x=1\npassword=hunter2-old-value\n".to_vec(),
        );
        old.insert("old.conf".to_string(), b"bye\n".to_vec());
        old.insert("blob".to_string(), vec![0xff, 0x00]);
        let mut new = BTreeMap::new();
        new.insert(
            "a.conf".to_string(),
            f("x=2\npassword=hunter2-new-value\n", 0o600),
        );
        new.insert("new.conf".to_string(), f("hello\n", 0o644));
        new.insert(
            "blob".to_string(),
            OutFile {
                data: vec![0xfe],
                mode: 0o644,
            },
        );
        let redactor = Redactor::new([
            ("db.old", "hunter2-old-value"),
            ("db.new", "hunter2-new-value"),
        ]);
        old.insert(
            "/etc/wg0.conf".to_string(),
            b"PrivateKey = hunter2-old-value\n".to_vec(),
        );
        let system = crate::sync::system_files::parse(Some(&serde_json::json!([
            {"src": "wg0.conf", "dest": "/etc/wg0.conf", "reload": "systemctl restart wg-quick@wg0"}
        ])))
        .unwrap();
        let mut tree = BTreeMap::new();
        tree.insert(
            "wg0.conf".to_string(),
            f("PrivateKey = hunter2-new-value\n", 0o600),
        );
        let (_, system) = crate::sync::system_files::split("h1", tree, &system, "/home/u").unwrap();
        let d = plan_diff("h1", &plan, &old, &new, &system, &redactor);
        assert!(d.contains("--- h1:a.conf\n+++ h1:a.conf\n"), "{d}");
        assert!(d.contains("-x=1\n") && d.contains("+x=2\n"), "{d}");
        assert!(d.contains("-password=<secret:db.old>\n"), "{d}");
        assert!(d.contains("+password=<secret:db.new>\n"), "{d}");
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
        assert!(
            d.contains("--- h1:/etc/wg0.conf\n+++ h1:/etc/wg0.conf\n")
                && d.contains("+PrivateKey = <secret:db.new>\n"),
            "{d}"
        );
        assert!(
            d.contains("h1:/etc/wg0.conf is placed as root:root 0600\n"),
            "{d}"
        );
        assert!(
            d.contains("h1: reload: systemctl restart wg-quick@wg0\n"),
            "{d}"
        );
    }
}

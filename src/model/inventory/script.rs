//! An executable inventory script, as Ansible's `script` plugin runs one: `SCRIPT --list`
//! prints JSON, `{GROUP: {"hosts": [...], "vars": {...}, "children": [...]} or [HOST, ...],
//! "_meta": {"hostvars": {HOST: {...}}}}`. nxinfra needs `_meta` (Ansible would otherwise run
//! `SCRIPT --host H` once per host); the script runs in the repository's root, is killed
//! (with everything it started) after the timeout, and its failure or bad JSON is an error
//! naming it. What it prints is never quoted: host facts may be secret.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use super::load::{At, Builder, invalid};
use super::{ALL, InventoryError, Origin, Vars};

/// A script printing more than this is not an inventory.
const MAX_OUTPUT: u64 = 256 * 1024 * 1024;

/// Runs `script --list` in `cwd` and returns what it printed.
pub fn run(script: &Path, cwd: &Path, timeout: Duration) -> Result<Vec<u8>, InventoryError> {
    use std::os::unix::process::CommandExt;
    let fail = |message: String| InventoryError::Invalid {
        location: script.display().to_string(),
        message,
    };
    let program = std::fs::canonicalize(script)
        .map_err(|e| fail(format!("cannot run the inventory script: {e}")))?;
    let cwd = if cwd.as_os_str().is_empty() {
        Path::new(".")
    } else {
        cwd
    };
    let mut child = Command::new(&program)
        .arg("--list")
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a timeout kills what it started too (terraform, curl).
        .process_group(0)
        .spawn()
        .map_err(|e| fail(format!("cannot run the inventory script: {e}")))?;
    let pid = child.id();
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(fail("cannot read the inventory script's output".into()));
    };
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout
            .take(MAX_OUTPUT + 1)
            .read_to_end(&mut buf)
            .map(|_| buf)
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.take(64 * 1024).read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                kill_group(pid);
                let _ = child.wait();
                return Err(fail(format!(
                    "the inventory script did not finish within {}s: killed (--inventory-timeout \
                     SECONDS gives it longer)",
                    timeout.as_secs_f64()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(fail(format!("cannot wait for the inventory script: {e}"))),
        }
    };
    // What it started may still hold the pipes open: end it, then collect.
    kill_group(pid);
    let stdout = out
        .join()
        .map_err(|_| fail("cannot read the inventory script's output".into()))?
        .map_err(|e| fail(format!("cannot read the inventory script's output: {e}")))?;
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = std::str::from_utf8(&stderr)
            .unwrap_or("")
            .lines()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let said = if tail.is_empty() {
            String::new()
        } else {
            format!(":\n  {}", tail.join("\n  "))
        };
        return Err(fail(format!(
            "the inventory script failed ({} running `{} --list`){said}",
            status,
            script.display()
        )));
    }
    if stdout.len() as u64 > MAX_OUTPUT {
        return Err(fail(format!(
            "the inventory script printed more than {} MiB",
            MAX_OUTPUT >> 20
        )));
    }
    Ok(stdout)
}

fn kill_group(pid: u32) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        // Gone already is fine: the group is what is left of the script, if anything.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawGroup {
    Hosts(Vec<String>),
    Group {
        #[serde(default)]
        hosts: Vec<String>,
        #[serde(default)]
        vars: Vars,
        #[serde(default)]
        children: Vec<String>,
    },
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    hostvars: IndexMap<String, Vars>,
}

/// Reads a script's `--list` output into `builder`.
pub fn read(builder: &mut Builder, file: &Arc<Path>, output: &[u8]) -> Result<(), InventoryError> {
    let at = Origin::new(file, None);
    let bad = |why: String| invalid(&at, format!("the inventory script's --list output {why}"));
    let doc: IndexMap<String, Value> = serde_json::from_slice(output).map_err(|e| {
        // The position only: the text may be secret.
        bad(format!(
            "is not a JSON object (line {}, column {}: {})",
            e.line(),
            e.column(),
            match e.classify() {
                serde_json::error::Category::Eof => "it ends too early",
                serde_json::error::Category::Syntax => "not JSON",
                serde_json::error::Category::Data => "not an object of groups",
                serde_json::error::Category::Io => "unreadable",
            }
        ))
    })?;
    let Some(meta) = doc.get("_meta") else {
        return Err(bad(
            "has no _meta.hostvars: nxinfra does not run the script with --host for every host; \
             print {\"_meta\": {\"hostvars\": {...}}} (empty if no host has variables)"
                .into(),
        ));
    };
    let meta: Meta = serde_json::from_value(meta.clone()).map_err(|e| {
        bad(format!(
            "has a _meta that is not {{\"hostvars\": {{HOST: {{...}}}}}}: {e}"
        ))
    })?;
    let mut children = Vec::new();
    builder.define(ALL, &at)?;
    for (name, group) in doc.iter().filter(|(k, _)| *k != "_meta") {
        let group: RawGroup = serde_json::from_value(group.clone()).map_err(|_| {
            bad(format!(
                "gives group {name:?} as neither a list of hosts nor {{\"hosts\", \"vars\", \
                 \"children\"}}"
            ))
        })?;
        builder.group(name, &at)?;
        builder.defined(name);
        let (hosts, vars, kids) = match group {
            RawGroup::Hosts(hosts) => (hosts, Vars::new(), Vec::new()),
            RawGroup::Group {
                hosts,
                vars,
                children,
            } => (hosts, vars, children),
        };
        for host in &hosts {
            builder.host(name, host, &at)?;
        }
        for (key, value) in &vars {
            builder.group_var(name, key, value, &At::source(at.clone()))?;
        }
        children.extend(kids.into_iter().map(|c| (name.clone(), c)));
    }
    for (parent, child) in &children {
        if !builder.has_group(child) {
            return Err(bad(format!(
                "names {child:?} as a child of {parent:?} but defines no such group"
            )));
        }
        builder.child(parent, child, &at)?;
    }
    for (host, vars) in &meta.hostvars {
        if !builder.has_host(host) {
            // Ansible adds such a host to no group; nxinfra would render it nowhere.
            return Err(bad(format!(
                "gives _meta.hostvars for {host:?}, which no group lists"
            )));
        }
        for (key, value) in vars {
            builder.host_var(host, key, value, &At::source(at.clone()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use serde_json::json;

    use super::super::load::Builder;

    fn read(out: &str) -> Result<super::super::Inventory, super::super::InventoryError> {
        let file: Arc<Path> = Path::new("inventory/tf.sh").into();
        let mut b = Builder::new(&file);
        super::read(&mut b, &file, out.as_bytes())?;
        b.finish()
    }

    #[test]
    fn list_output_with_meta() {
        let inv = read(
            r#"{"probe": {"hosts": ["vlt1"], "vars": {"asn": 1}, "children": ["edge"]},
                "edge": ["vlt2"],
                "_meta": {"hostvars": {"vlt1": {"ip": "192.0.2.1"}}}}"#,
        )
        .unwrap();
        assert_eq!(inv.host_vars("vlt1").unwrap()["ip"], json!("192.0.2.1"));
        assert_eq!(inv.host_vars("vlt2").unwrap()["asn"], json!(1));
        assert_eq!(inv.groups["edge"].parents, ["probe"]);
        assert_eq!(inv.origin("vlt1", "ip"), "inventory/tf.sh");
    }

    #[test]
    fn bad_output_is_an_error_that_quotes_nothing() {
        for (out, what) in [
            (
                "{\"a\": [\"h\"], \"_meta\": {\"hostvars\": {}}",
                "ends too early",
            ),
            ("password=hunter2", "not JSON"),
            ("[1, 2]", "not an object"),
            ("{\"web\": [\"h\"]}", "no _meta"),
            ("{\"web\": 3, \"_meta\": {}}", "neither a list"),
            (
                "{\"web\": {\"children\": [\"x\"]}, \"_meta\": {}}",
                "no such group",
            ),
            ("{\"_meta\": {\"hostvars\": {\"h\": {}}}}", "no group lists"),
        ] {
            let err = read(out).unwrap_err().to_string();
            assert!(err.starts_with("inventory/tf.sh: "), "{err}");
            assert!(err.contains(what), "{out}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}

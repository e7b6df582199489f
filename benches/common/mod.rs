//! Shared by the benchmarks: commands timed in their own process with `wait4` (wall, user+sys
//! CPU of the process and the children it waited for, peak RSS), and fleet copies.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Medians of several runs of one command, and the peak memory of any run.
pub struct Measure {
    pub wall: Duration,
    pub cpu: Duration,
    pub peak_kb: i64,
    /// stdout of the last run.
    pub stdout: String,
    /// stdout of every run, in order.
    pub stdouts: Vec<String>,
}

/// Runs the command `runs` times; medians of wall and CPU, maximum of peak RSS.
pub fn measure(runs: usize, make: impl Fn() -> Command) -> Measure {
    measure_prepared(runs, || {}, make)
}

/// Like [`measure`], running `prepare` (untimed) before each run.
pub fn measure_prepared(runs: usize, prepare: impl Fn(), make: impl Fn() -> Command) -> Measure {
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    let mut peak = 0;
    let mut stdout = String::new();
    let mut stdouts = Vec::new();
    for _ in 0..runs {
        prepare();
        let log = tempfile::tempfile().expect("log file");
        let out = tempfile::tempfile().expect("stdout file");
        let start = Instant::now();
        // Reaped by wait4 below, which also gives its resource usage.
        #[allow(clippy::zombie_processes)]
        let child = make()
            .stdout(out.try_clone().expect("stdout file"))
            .stderr(log.try_clone().expect("log file"))
            .spawn()
            .expect("spawn");
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: plain FFI call with valid pointers; the child is ours and not waited elsewhere.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        let wall = start.elapsed();
        assert_eq!(rc, pid, "wait4 failed");
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            use std::io::{Read, Seek};
            let mut log = log;
            let (mut text, mut output) = (String::new(), String::new());
            let _ = log.rewind().and_then(|_| log.read_to_string(&mut text));
            let mut out = out;
            let _ = out.rewind().and_then(|_| out.read_to_string(&mut output));
            panic!("benchmark command failed: {text}\n{output}");
        }
        walls.push(wall);
        {
            use std::io::{Read, Seek};
            let mut out = out;
            stdout.clear();
            let _ = out.rewind().and_then(|_| out.read_to_string(&mut stdout));
            stdouts.push(stdout.clone());
        }
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        cpus.push(tv(usage.ru_utime) + tv(usage.ru_stime));
        peak = peak.max(usage.ru_maxrss);
    }
    walls.sort();
    cpus.sort();
    Measure {
        wall: walls[runs / 2],
        cpu: cpus[runs / 2],
        peak_kb: peak,
        stdout,
        stdouts,
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

pub fn copy_fleet(root: &Path) {
    for dir in ["inventory", "templates", "secrets", "clickhouse-tables"] {
        copy_dir(&Path::new(REPO).join(dir), &root.join(dir));
    }
}

/// Every file under `dir`, recursively (nothing if it cannot be read).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Ends the SSH masters that `nxinfra --ssh-persist` left under `runtime` (its
/// `XDG_RUNTIME_DIR`).
pub fn stop_persisted_masters(runtime: &Path) {
    for socket in walk(runtime) {
        if socket.file_name().is_some_and(|n| n == "master") {
            let _ = Command::new("ssh")
                .arg("-S")
                .arg(&socket)
                .args(["-O", "exit", "x"])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Gives every clone of an original host (`clones`) a copy of that host's own template folders
/// (`templates/config/GROUP/HOST/`) and of every secrets subtree keyed by its name, the secrets
/// encrypted again to the fleet's recipients: each clone renders what its original renders.
pub fn clone_host_files(
    root: &Path,
    originals: &[String],
    clones: &dyn Fn(&str) -> Vec<String>,
    identity: &Path,
) {
    use nxinfra::secrets::{age_file, store};
    let config = root.join("templates/config");
    for group in std::fs::read_dir(&config).expect("config") {
        let group = group.expect("entry").path();
        for host in originals {
            let own = group.join(host);
            if own.is_dir() {
                for clone in clones(host) {
                    copy_dir(&own, &group.join(clone));
                }
            }
        }
    }

    let keys = store::Keys {
        identity: Some(identity.to_path_buf()),
        vault_password_file: None,
    };
    let secrets = store::load(root, &keys).expect("secrets");
    let mut doc = serde_json::Value::Object(secrets.doc.into_iter().collect());
    clone_keys(&mut doc, originals, clones, false);
    let yaml = serde_norway::to_string(&doc).expect("yaml");
    let recipients =
        age_file::read_recipients(&root.join(store::RECIPIENTS_FILE)).expect("recipients");
    std::fs::write(
        root.join(store::AGE_FILE),
        age_file::encrypt(yaml.as_bytes(), &recipients).expect("encrypt"),
    )
    .expect("write");
}

/// Adds, beside every mapping key that names an original host, its clones with the same value
/// (the fleets grown by the render and scale benchmarks).
pub fn clone_keys(
    value: &mut serde_json::Value,
    hosts: &[String],
    clones: &dyn Fn(&str) -> Vec<String>,
    only_under_hosts: bool,
) {
    match value {
        serde_json::Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if let Some(child) = map.get_mut(&key) {
                    if (key == "hosts" || !only_under_hosts)
                        && let serde_json::Value::Object(inner) = child
                    {
                        let extra: Vec<(String, serde_json::Value)> = inner
                            .iter()
                            .filter(|(k, _)| hosts.contains(k))
                            .flat_map(|(k, v)| clones(k).into_iter().map(move |c| (c, v.clone())))
                            .collect();
                        inner.extend(extra);
                    }
                    clone_keys(child, hosts, clones, only_under_hosts);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                clone_keys(item, hosts, clones, only_under_hosts);
            }
        }
        _ => {}
    }
}

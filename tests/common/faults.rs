//! Helpers of the fault tests (tests/sync_faults.rs, tests/faults_e2e.rs): a fleet of the
//! testbed without templates, `nxinfra sync` run and waited for under a limit, trees of files
//! made and compared (old or new, never partial), a small disk mounted on a host, the network
//! of a host cut.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nxinfra::model::manifest::Manifest;
use nxinfra::model::tree::OutFile;

use super::{Fleet, SECRET, Testbed, snapshot, texts};

/// Where the tests keep their files in the fleet: the `testbed` group's folder.
pub const GROUP_DIR: &str = "templates/config/testbed";

pub type Tree = BTreeMap<String, OutFile>;

// ---------------------------------------------------------------------------------------------
// helpers

/// A fleet whose inventory is the testbed with the base dirs of `test`, without templates, with
/// one secret ([`SECRET`], checked in every run's output); the test's base dirs are removed from
/// every host.
pub fn fleet(tb: &Testbed, test: &str) -> Fleet {
    let fleet = Fleet::new();
    std::fs::remove_dir_all(fleet.path("templates")).unwrap();
    // Without Fleet::new's three-character `db.user`, which every run would warn about.
    fleet.set_secrets(&format!("db:\n  password: {SECRET}\n"));
    fleet.write("inventory/inventory.yml", &tb.inventory(test, ""));
    for (host, _) in &tb.hosts {
        let _ = std::fs::remove_dir_all(tb.base_dir(host, test));
    }
    fleet
}

/// One finished `nxinfra` run.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(out: &Output) -> Run {
        let (stdout, stderr) = texts(out);
        assert!(
            !stdout.contains(SECRET) && !stderr.contains(SECRET),
            "a secret was printed"
        );
        Run {
            code: out.status.code(),
            stdout,
            stderr,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    /// `host=status` of every host in the JSON summary.
    pub fn statuses(&self) -> Vec<String> {
        let json = self.json();
        json["hosts"]
            .as_array()
            .unwrap_or_else(|| panic!("no hosts in {json}"))
            .iter()
            .map(|h| {
                format!(
                    "{}={}",
                    h["host"].as_str().unwrap(),
                    h["status"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// The JSON summary's entry of `host`.
    pub fn host(&self, host: &str) -> serde_json::Value {
        let json = self.json();
        json["hosts"]
            .as_array()
            .and_then(|a| a.iter().find(|h| h["host"] == host).cloned())
            .unwrap_or_else(|| panic!("{host} missing from {json}"))
    }
}

pub fn sync_args<'a>(tb: &'a Testbed, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["sync", "--ssh-config", tb.ssh_config.to_str().unwrap()];
    all.extend_from_slice(args);
    all
}

/// `nxinfra sync --ssh-config <testbed> ARGS`.
pub fn sync(fleet: &Fleet, tb: &Testbed, args: &[&str]) -> Run {
    Run::of(&fleet.nxinfra(&sync_args(tb, args)))
}

/// The same, started in the background.
pub fn spawn_sync(fleet: &Fleet, tb: &Testbed, args: &[&str]) -> Child {
    fleet
        .command(&sync_args(tb, args))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nxinfra")
}

/// Waits for `child` (its output read on the side, so a full pipe never blocks it); kills it
/// and fails after `limit`: a sync must never hang.
pub fn finish(mut child: Child, limit: Duration, what: &str) -> Run {
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = reader(Box::new(child.stdout.take().unwrap()));
    let stderr = reader(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run::of(&Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    })
}

/// Polls `done` until it holds; fails with `what` after `limit`.
pub fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `count` files of `size` bytes in folders of 50, every byte depending on `version` and the
/// path, so that each version of each file is unique.
pub fn tree(count: usize, size: usize, version: &str) -> Tree {
    let mut seed = version.bytes().fold(0x9e37_79b9_7f4a_7c15_u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    (0..count)
        .map(|i| {
            let path = format!("d{:02}/f{i:05}.dat", i / 50);
            let mut data = format!("{version} {path}\n").into_bytes();
            while data.len() < size {
                // xorshift64
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                data.extend_from_slice(&seed.to_le_bytes());
            }
            data.truncate(size);
            (
                path,
                OutFile {
                    data: data.into(),
                    mode: 0o644,
                },
            )
        })
        .collect()
}

/// Puts `tree` in the fleet as plain files (copied byte for byte), instead of what was there.
pub fn put_tree(fleet: &Fleet, tree: &Tree) {
    let _ = std::fs::remove_dir_all(fleet.path(GROUP_DIR));
    for (path, file) in tree {
        fleet.write_bytes(&format!("{GROUP_DIR}/{path}"), &file.data);
    }
}

pub fn total_size(tree: &Tree) -> usize {
    tree.values().map(|f| f.data.len()).sum()
}

/// The files nxinfra manages under `base`: everything but its own `.nxinfra/`.
pub fn host_files(base: &Path) -> Tree {
    snapshot(base)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".nxinfra/"))
        .collect()
}

/// Up to ten lines naming the files that differ (never their contents: trees are large).
pub fn tree_differences(want: &Tree, have: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (path, w) in want {
        match have.get(path) {
            None => out.push(format!("{path}: missing")),
            Some(h) if h.data != w.data => out.push(format!(
                "{path}: other content ({} bytes, {} expected)",
                h.data.len(),
                w.data.len()
            )),
            Some(h) if h.mode != w.mode => out.push(format!(
                "{path}: mode {:04o}, {:04o} expected",
                h.mode, w.mode
            )),
            Some(_) => {}
        }
    }
    for path in have.keys().filter(|p| !want.contains_key(*p)) {
        out.push(format!("{path}: not expected"));
    }
    let n = out.len();
    if n > 10 {
        out.truncate(10);
        out.push(format!("... {} more", n - 10));
    }
    out
}

pub fn staging(base: &Path) -> PathBuf {
    base.join(".nxinfra/staging")
}

/// Waits (at most two minutes) until a sync's upload lands in `base`'s staging folder.
pub fn wait_for_staging(base: &Path) {
    wait_for(
        Duration::from_secs(120),
        "the upload to reach staging",
        || std::fs::read_dir(staging(base)).is_ok_and(|mut d| d.next().is_some()),
    );
}

/// Asserts that `base` holds exactly `want` (content and mode), a manifest of exactly that,
/// and no staging folder.
pub fn assert_synced(base: &Path, want: &Tree, what: &str) {
    let diffs = tree_differences(want, &host_files(base));
    assert!(
        diffs.is_empty(),
        "{what}: the host's tree differs:\n{}",
        diffs.join("\n")
    );
    let manifest = std::fs::read_to_string(base.join(".nxinfra/manifest"))
        .unwrap_or_else(|e| panic!("{what}: manifest: {e}"));
    assert!(
        manifest == Manifest::of_files(want).to_text(),
        "{what}: the manifest does not describe the tree:\n{manifest}"
    );
    assert!(
        !staging(base).exists(),
        "{what}: staging folder left behind"
    );
}

/// Asserts that every file under `base` is exactly its `old` or its `new` version (never
/// partial, never missing, nothing else), and the manifest is the old or the new one. Returns
/// how many files are new and whether the manifest is.
pub fn assert_old_or_new(base: &Path, old: &Tree, new: &Tree, what: &str) -> (usize, bool) {
    let have = host_files(base);
    let mut bad = Vec::new();
    let mut newer = 0;
    for (path, o) in old {
        let n = &new[path];
        match have.get(path) {
            None => bad.push(format!("{path}: missing")),
            Some(h) if h.data == o.data && h.mode == o.mode => {}
            Some(h) if h.data == n.data && h.mode == n.mode => newer += 1,
            Some(h) => bad.push(format!(
                "{path}: neither old nor new ({} bytes, mode {:04o})",
                h.data.len(),
                h.mode
            )),
        }
    }
    for path in have.keys().filter(|p| !old.contains_key(*p)) {
        bad.push(format!("{path}: not expected"));
    }
    assert!(
        bad.is_empty(),
        "{what}:\n{}",
        bad[..bad.len().min(10)].join("\n")
    );
    let manifest = std::fs::read_to_string(base.join(".nxinfra/manifest"))
        .unwrap_or_else(|e| panic!("{what}: manifest: {e}"));
    let manifest_new = manifest == Manifest::of_files(new).to_text();
    assert!(
        manifest_new || manifest == Manifest::of_files(old).to_text(),
        "{what}: the manifest is neither the old nor the new one"
    );
    (newer, manifest_new)
}

/// Pids of live processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Bytes under `dir` (0 when it does not exist).
pub fn du(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => du(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// A small tmpfs mounted on `dir` in a host's mount namespace (the one its sshd runs in: the
/// root namespace's mounts are private here, they would not reach the host), unmounted on drop.
/// The test sees the host's view of it through `/proc/PID/root`.
pub struct HostTmpfs {
    sshd_pid: u32,
    dir: PathBuf,
}

impl HostTmpfs {
    pub fn mount(tb: &Testbed, host: &str, dir: &Path, size: &str) -> HostTmpfs {
        let pid: u32 = std::fs::read_to_string(tb.state.join(host).join("sshd.pid"))
            .expect("sshd.pid")
            .trim()
            .parse()
            .expect("pid");
        // Owned like the host's home: by the login user.
        let home = std::fs::metadata(tb.state.join(host).join("home")).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let disk = HostTmpfs {
            sshd_pid: pid,
            dir: dir.to_path_buf(),
        };
        disk.umount(); // the remains of a killed run, if any
        let out = disk
            .nsenter()
            .args(["mount", "-t", "tmpfs", "-o"])
            .arg(format!(
                "size={size},mode=0755,uid={},gid={}",
                home.uid(),
                home.gid()
            ))
            .arg("nxtb-fault")
            .arg(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "mount: {}", texts(&out).1);
        disk
    }

    pub fn nsenter(&self) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--mount=/proc/{}/ns/mnt", self.sshd_pid));
        cmd
    }

    /// `dir` as the host sees it.
    pub fn view(&self) -> PathBuf {
        Path::new(&format!("/proc/{}/root", self.sshd_pid))
            .join(self.dir.strip_prefix("/").unwrap())
    }

    pub fn mounted(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/mountinfo", self.sshd_pid))
            .unwrap_or_default()
            .lines()
            .any(|l| l.split(' ').nth(4) == self.dir.to_str())
    }

    pub fn umount(&self) {
        for _ in 0..5 {
            if !self.mounted() {
                return;
            }
            let _ = self.nsenter().arg("umount").arg(&self.dir).output();
        }
        if self.mounted() {
            let _ = self
                .nsenter()
                .args(["umount", "-l"])
                .arg(&self.dir)
                .output();
        }
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        self.umount();
        if self.mounted() {
            eprintln!("could not unmount {} on the host", self.dir.display());
        }
    }
}

/// The network of testbed host `host` cut: the root side of its veth (`nxtb-hK`, on the
/// testbed's bridge) down, so nothing reaches the host and nothing it sends arrives, while
/// its sshd, its engine and its containers go on. Restored by [`Cut::restore`] or on drop.
/// The engine's socket is a file, reached from here without the network.
pub struct Cut {
    host: String,
    cut: bool,
}

impl Cut {
    pub fn new(host: &str) -> Cut {
        let mut cut = Cut {
            host: host.to_string(),
            cut: true,
        };
        if let Err(e) = cut.link("down") {
            cut.restore();
            panic!("cutting {host}'s network: {e}");
        }
        cut
    }

    fn link(&self, state: &str) -> Result<(), String> {
        let out = Command::new("ip")
            .args(["link", "set", &format!("nxtb-{}", self.host), state])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(texts(&out).1)
        }
    }

    pub fn restore(&mut self) {
        self.cut = false;
        if let Err(e) = self.link("up") {
            panic!("restoring {}'s network: {e}", self.host);
        }
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        if self.cut {
            self.cut = false;
            if let Err(e) = self.link("up") {
                eprintln!("restoring {}'s network: {e}", self.host);
            }
        }
    }
}

//! `nxinfra backup` on the testbed: a container's data dumped through the host's SSH
//! connection into local age-encrypted gzip files (read back by the real `age` and `gzip`),
//! kept by count, verified, restored into the container; a failing dump keeps nothing.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::engine::{self, docker};
use common::{Fleet, Testbed, texts};

const BACKUPS: &str = "    nxinfra_backups:
      - name: db
        container: nxtb-db
        command: cat /data/db.txt
        restore: cat > /data/db.txt
        keep: 2
      - name: broken
        container: nxtb-db
        command: echo oops >&2; exit 4
      - name: elsewhere
        container: nxtb-nope
        command: cat /data/db.txt
      - name: leaky
        container: nxtb-db
        command: echo connecting with hunter2-Secret-Value >&2; exit 3
      - name: hostfile
        command: cat /tmp/nxtb-backup-test/data.txt
        restore: cat > /tmp/nxtb-backup-test/restored.txt
      - name: hostfail
        command: echo nope >&2; exit 5
      - name: slow
        container: nxtb-db
        command: cat /data/db.txt; if [ -e /tmp/slow ]; then sleep 30; fi
";

fn backup(fleet: &Fleet, tb: &Testbed, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["backup"];
    all.extend_from_slice(args);
    let config = tb.ssh_config.to_str().unwrap();
    if ["run", "restore", "list", "verify", "status", "drill"].contains(&args[0]) {
        all.extend(["--ssh-config", config]);
    }
    let out = fleet.nxinfra(&all);
    let (stdout, stderr) = texts(&out);
    (out.status.code(), stdout, stderr)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `age -d -i IDENTITY FILE | gunzip`, by the real tools.
fn read_with_tools(fleet: &Fleet, file: &Path) -> Vec<u8> {
    let mut age = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&fleet.identity)
        .arg(file)
        .stdout(Stdio::piped())
        .spawn()
        .expect("age");
    let out = Command::new("gzip")
        .arg("-dc")
        .stdin(age.stdout.take().unwrap())
        .output()
        .expect("gzip");
    assert!(age.wait().unwrap().success(), "age -d failed");
    assert!(out.status.success(), "{}", texts(&out).1);
    out.stdout
}

fn data_of(tb: &Testbed, host: &str) -> String {
    docker(tb, host, &["exec", "nxtb-db", "cat", "/data/db.txt"]).1
}

#[test]
fn backups_are_made_kept_verified_and_restored_and_a_failed_one_keeps_nothing() {
    let Some(tb) = Testbed::get() else { return };
    if !common::require_tool("age", "age") {
        return;
    }
    let (host, test) = ("h1", "backup");
    engine::clean_engine(&tb, host, &[]);
    engine::run_sleeper(&tb, host, "nxtb-db", "nxtb-busybox:1", &[]);
    let (ok, out) = docker(
        &tb,
        host,
        &[
            "exec",
            "nxtb-db",
            "sh",
            "-c",
            "mkdir -p /data && seq 1 40000 > /data/db.txt",
        ],
    );
    assert!(ok, "{out}");
    let original = data_of(&tb, host);
    // down1: a host whose sshd does not answer (a closed port).
    let fleet = engine::fleet_with_hosts(
        &tb,
        host,
        test,
        "services: {}\n",
        BACKUPS,
        "    down1:\n      ansible_host: 10.200.0.11\n      ansible_port: 2\n",
    );
    let folder = fleet.path("backups/h1/db");

    // A backup: through SSH and the engine, into one private, encrypted, compressed file.
    let (code, stdout, stderr) = backup(
        &fleet,
        &tb,
        &["run", "--only", "db", "--json", "--limit", "h1"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let made = &json["hosts"][0]["backups"][0];
    assert_eq!(made["verified"], true, "{json}");
    let kept = files(&folder);
    assert_eq!(kept.len(), 1);
    assert_eq!(made["destinations"][0]["name"], "local", "{json}");
    assert_eq!(
        fleet
            .root()
            .join(made["destinations"][0]["location"].as_str().unwrap()),
        kept[0],
        "named from the repository"
    );
    assert_eq!(kept[0].file_name().unwrap().to_str(), made["file"].as_str());
    assert_eq!((mode(&kept[0]), mode(&folder)), (0o600, 0o700));
    let dumped = read_with_tools(&fleet, &kept[0]);
    assert_eq!(String::from_utf8_lossy(&dumped).trim_end(), original);
    assert_eq!(made["bytes"], dumped.len());
    let stored = std::fs::read(&kept[0]).unwrap();
    assert!(
        stored.len() < dumped.len() / 2,
        "compressed: {} of {}",
        stored.len(),
        dumped.len()
    );
    assert!(
        !String::from_utf8_lossy(&stored).contains("39999"),
        "encrypted"
    );

    // An identity that is not a recipient could not read the backup: it is made, not read
    // back, and the run says why.
    let (other, _) = nxinfra::secrets::age_file::generate_identity();
    fleet.write("other.key", &other);
    let config = tb.ssh_config.to_str().unwrap();
    let out = fleet
        .command(&[
            "backup",
            "run",
            "--only",
            "db",
            "--limit",
            "h1",
            "--json",
            "--ssh-config",
            config,
        ])
        .env("NXINFRA_AGE_KEY_FILE", fleet.path("other.key"))
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("is not one of secrets/recipients.txt"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["hosts"][0]["backups"][0]["verified"], false);

    // Two more, with a host that cannot be reached: it fails alone (exit 1, named), h1 is
    // backed up all the same. `keep: 2` keeps the newest two.
    let (code, _, stderr) = backup(&fleet, &tb, &["run", "--only", "db", "--limit", "h1"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stdout, stderr) = backup(&fleet, &tb, &["run", "--only", "db", "--json"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("backup failed on 1 of 2 hosts:\n  down1: "),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        common::host_statuses(&json),
        [
            ("down1".into(), "failed".into()),
            ("h1".into(), "done".into())
        ],
        "{json}"
    );
    assert!(files(&fleet.path("backups/down1/db")).is_empty());
    let now = files(&folder);
    assert_eq!(now.len(), 2);
    assert!(!now.contains(&kept[0]), "the oldest went: {now:?}");
    let (code, stdout, _) = backup(&fleet, &tb, &["list", "--json", "--limit", "h1"]);
    assert_eq!(code, Some(0));
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list["backups"][0]["copies"].as_array().unwrap().len(), 2);
    // verify reads the newest at each destination; --all every copy.
    let (code, stdout, stderr) = backup(&fleet, &tb, &["verify", "--only", "db", "--limit", "h1"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.matches(": reads back (").count(), 1, "{stdout}");
    let (code, stdout, stderr) = backup(
        &fleet,
        &tb,
        &["verify", "--only", "db", "--all", "--limit", "h1"],
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.matches(": reads back (").count(), 2, "{stdout}");

    // Restored into the container, from the newest.
    docker(
        &tb,
        host,
        &["exec", "nxtb-db", "sh", "-c", "echo lost > /data/db.txt"],
    );
    assert_eq!(data_of(&tb, host), "lost");
    let (code, stdout, stderr) = backup(&fleet, &tb, &["restore", "h1", "db"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("db restored from"), "{stdout}");
    assert_eq!(data_of(&tb, host), original);

    // A command on the host itself (no container): its output over SSH, restored through
    // its stdin.
    let shared = Path::new("/tmp/nxtb-backup-test");
    let _ = std::fs::remove_dir_all(shared);
    std::fs::create_dir_all(shared).unwrap();
    std::fs::set_permissions(shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let data: String = (0..5000).map(|i| format!("host line {i}\n")).collect();
    std::fs::write(shared.join("data.txt"), &data).unwrap();
    let (code, _, stderr) = backup(&fleet, &tb, &["run", "--only", "hostfile", "--limit", "h1"]);
    assert_eq!(code, Some(0), "{stderr}");
    let made = files(&fleet.path("backups/h1/hostfile"));
    assert_eq!(made.len(), 1);
    assert_eq!(
        String::from_utf8(read_with_tools(&fleet, &made[0])).unwrap(),
        data
    );
    let (code, _, stderr) = backup(&fleet, &tb, &["restore", "h1", "hostfile"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(shared.join("restored.txt")).unwrap(),
        data
    );
    let _ = std::fs::remove_dir_all(shared);

    // A dump that fails, or a container that is not there: exit 1, named; nothing kept.
    let (code, _, stderr) = backup(&fleet, &tb, &["run", "--limit", "h1"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "h1: backup broken: `echo oops >&2; exit 4` in nxtb-db exited with status 4: oops; \
             no backup was kept"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("h1: backup elsewhere: ") && stderr.contains("nxtb-nope"),
        "{stderr}"
    );
    // What a failing command printed is quoted, its secrets redacted.
    assert!(
        stderr.contains("h1: backup leaky: ")
            && stderr.contains("connecting with <secret:db.password>")
            && !stderr.contains(common::SECRET),
        "{stderr}"
    );
    // The same in --json: each backup's error is redacted like a host's.
    let (code, stdout, stderr) = backup(&fleet, &tb, &["run", "--limit", "h1", "--json"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stdout.contains("connecting with <secret:db.password>")
            && !stdout.contains(common::SECRET)
            && !stderr.contains(common::SECRET),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "h1: backup hostfail: `echo nope >&2; exit 5` on the host exited with status 5: nope"
        ),
        "{stderr}"
    );
    assert!(files(&fleet.path("backups/h1/hostfail")).is_empty());
    assert!(files(&fleet.path("backups/h1/broken")).is_empty());
    assert!(files(&fleet.path("backups/h1/elsewhere")).is_empty());
    assert_eq!(files(&folder).len(), 2, "db itself was backed up, as ever");

    // A damaged file is named by verify.
    let newest = files(&folder).pop().unwrap();
    let mut bytes = std::fs::read(&newest).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 0x5a;
    std::fs::write(&newest, bytes).unwrap();
    let (code, stdout, stderr) = backup(&fleet, &tb, &["verify", "--only", "db", "--limit", "h1"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stderr.contains("verification failed: h1 db at local: ")
            && stderr.contains(&*newest.file_name().unwrap().to_string_lossy()),
        "{stderr}"
    );

    // The container removed while its dump runs (as an apply's recreate would): the backup
    // fails, and nothing of it is kept (the earlier runs made one slow backup already).
    docker(&tb, host, &["exec", "nxtb-db", "touch", "/tmp/slow"]);
    let slow = fleet.path("backups/h1/slow");
    let before = files(&slow);
    let mut all = vec![
        "backup",
        "run",
        "--only",
        "slow",
        "--limit",
        "h1",
        "--ssh-config",
    ];
    all.push(tb.ssh_config.to_str().unwrap());
    let running = fleet
        .command(&all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    // Until its partial file holds more than the age header: dump data is flowing.
    let begun = || {
        files(&slow).iter().any(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".partial-"))
                && std::fs::metadata(f).is_ok_and(|m| m.len() > 1024)
        })
    };
    while !begun() && start.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(begun(), "the slow dump never began");
    docker(&tb, host, &["rm", "-f", "nxtb-db"]);
    let out = running.wait_with_output().unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("h1: backup slow: "), "{stderr}");
    assert_eq!(files(&slow), before, "{stderr}");
    assert!(
        start.elapsed().as_secs() < 25,
        "the cut-off dump ended the backup at once"
    );
    engine::clean_engine(&tb, host, &[]);
}

//! `nxinfra backup` to several destinations, on the testbed (real sshd and dockerd): the
//! machine running nxinfra and another inventory host over SSH, and an S3-compatible bucket
//! (moto's server: a stand-in for the real service, see tests/common/s3.rs). Each copy is
//! read back by the real `age` and `gzip`; retention trims each destination by its own
//! rules; a restore comes from the destination asked for; a destination that is down fails
//! alone; drills restore into a throwaway container; status exits 2 for a stale copy.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::engine::{self, docker};
use common::{Down, Fleet, SECRET, Testbed, texts};

fn backup(fleet: &Fleet, tb: &Testbed, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["backup"];
    all.extend_from_slice(args);
    all.extend(["--ssh-config", tb.ssh_config.to_str().unwrap()]);
    let out = fleet.nxinfra(&all);
    let (stdout, stderr) = texts(&out);
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "a secret in the output: {stdout}{stderr}"
    );
    (out.status.code(), stdout, stderr)
}

/// The copies in a folder (no `.partial-*` or other file), sorted.
fn copies(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `age -d -i IDENTITY | gunzip`, by the real tools, from `data`.
fn read_with_tools(fleet: &Fleet, data: &[u8]) -> Vec<u8> {
    let mut age = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&fleet.identity)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("age");
    let mut stdin = age.stdin.take().unwrap();
    let data = data.to_vec();
    let feed = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let out = Command::new("gzip")
        .arg("-dc")
        .stdin(age.stdout.take().unwrap())
        .output()
        .expect("gzip");
    feed.join().unwrap().unwrap();
    assert!(age.wait().unwrap().success(), "age -d failed");
    assert!(out.status.success(), "{}", texts(&out).1);
    out.stdout
}

fn data_of(tb: &Testbed, host: &str) -> String {
    docker(tb, host, &["exec", "nxtb-db", "cat", "/data/db.txt"]).1
}

fn start_db(tb: &Testbed, host: &str) -> String {
    engine::clean_engine(tb, host, &[]);
    engine::run_sleeper(tb, host, "nxtb-db", "nxtb-busybox:1", &[]);
    let (ok, out) = docker(
        tb,
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
    data_of(tb, host)
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The `backups` rows of a list/verify/status report for `destination`.
fn row<'a>(report: &'a serde_json::Value, destination: &str) -> &'a serde_json::Value {
    report["backups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["destination"] == destination)
        .unwrap_or_else(|| panic!("no row for {destination}: {report}"))
}

#[test]
fn copies_go_to_this_machine_and_another_host_and_come_back_from_either() {
    let Some(tb) = Testbed::get() else { return };
    if !common::require_tool("age", "age") {
        return;
    }
    let (host, other, test) = ("h2", "h3", "backup-dest");
    let original = start_db(&tb, host);
    let other_base = tb.base_dir(other, test);
    let _ = std::fs::remove_dir_all(&other_base);
    // The backups are h2's own (host vars): h3 keeps copies, it makes none.
    let vars = "      nxinfra_backups:
        - name: db
          container: nxtb-db
          command: cat /data/db.txt
          restore: cat > /data/db.txt
          check: test \"$(wc -l)\" -eq 40000
          keep: 2
          max_age: 1h
          to:
            - local
            - host: h3
              keep: 3
          drill:
            image: nxtb-busybox:1
            command: sleep 3600
            restore: cat > /restored.txt
            check: echo \"$(wc -l < /restored.txt) lines\"; test \"$(wc -l < /restored.txt)\" -eq 40000
        - name: bad-drill
          container: nxtb-db
          command: cat /data/db.txt
          to: [local]
          drill:
            image: nxtb-busybox:1
            command: sleep 3600
            restore: cat > /restored.txt
            check: echo only 3 databases, password hunter2-Secret-Value; exit 1
        - name: off
          container: nxtb-db
          command: cat /data/db.txt
          to:
            - local
            - host: h3
              dir: /tmp/nxtb-backup-dest-off
";
    let fleet = engine::fleet_with_hosts(
        &tb,
        host,
        test,
        "services: {}\n",
        "",
        &format!(
            "{vars}    {other}:\n      ansible_host: {}\n      nxinfra_base_dir: {}\n",
            tb.ip(other),
            other_base.display()
        ),
    );
    let local = fleet.path("backups/h2/db");
    let remote = other_base.join(".nxinfra/backups/h2/db");

    // One dump, the same bytes at both destinations, each read back by age and gzip.
    let (code, stdout, stderr) = backup(&fleet, &tb, &["run", "--only", "db", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let made = &json(&stdout)["hosts"][0]["backups"][0];
    assert_eq!(made["verified"], true, "{made}");
    let names: Vec<&str> = made["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["local", "h3"], "{made}");
    let (here, there) = (copies(&local), copies(&remote));
    assert_eq!((here.len(), there.len()), (1, 1), "{made}");
    assert_eq!(here[0].file_name(), there[0].file_name());
    let bytes = std::fs::read(&there[0]).unwrap();
    assert_eq!(std::fs::read(&here[0]).unwrap(), bytes, "the same bytes");
    assert_eq!(
        String::from_utf8(read_with_tools(&fleet, &bytes))
            .unwrap()
            .trim_end(),
        original
    );
    assert_eq!(mode(&there[0]), 0o600);
    assert_eq!(
        (mode(&remote), mode(remote.parent().unwrap())),
        (0o700, 0o700)
    );
    assert!(
        made["destinations"][1]["location"]
            .as_str()
            .unwrap()
            .starts_with("h3:"),
        "{made}"
    );

    // Retention, per destination: three more runs, local keeps 2, h3 keeps 3.
    for _ in 0..3 {
        let (code, _, stderr) = backup(&fleet, &tb, &["run", "--only", "db"]);
        assert_eq!(code, Some(0), "{stderr}");
    }
    assert_eq!(copies(&local).len(), 2);
    assert_eq!(copies(&remote).len(), 3);
    let newest = copies(&local).pop().unwrap();
    assert_eq!(
        copies(&remote).pop().unwrap().file_name(),
        newest.file_name()
    );

    // list shows both destinations; verify reads the newest at each, and runs the check.
    let (code, stdout, stderr) = backup(&fleet, &tb, &["list", "--only", "db", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let list = json(&stdout);
    assert_eq!(row(&list, "local")["copies"].as_array().unwrap().len(), 2);
    assert_eq!(row(&list, "h3")["copies"].as_array().unwrap().len(), 3);
    let (code, stdout, stderr) = backup(&fleet, &tb, &["verify", "--only", "db"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.matches(": reads back (").count(), 2, "{stdout}");
    assert_eq!(stdout.matches("check passed").count(), 2, "{stdout}");

    // status: fresh everywhere (exit 0).
    let (code, stdout, stderr) = backup(&fleet, &tb, &["status", "--only", "db", "--json"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let status = json(&stdout);
    assert_eq!(row(&status, "h3")["state"], "fresh", "{status}");
    assert_eq!(row(&status, "h3")["copies"], 3);

    // The local copies lost: status exits 2 naming local; restore comes from h3.
    for f in copies(&local) {
        std::fs::remove_file(f).unwrap();
    }
    let (code, stdout, stderr) = backup(&fleet, &tb, &["status", "--only", "db"]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains(" local ") && l.ends_with("MISSING")),
        "{stdout}"
    );
    docker(
        &tb,
        host,
        &["exec", "nxtb-db", "sh", "-c", "echo lost > /data/db.txt"],
    );
    let (code, _, stderr) = backup(&fleet, &tb, &["restore", "h2", "db"]);
    assert_eq!(
        code,
        Some(1),
        "the first destination (local) has none: {stderr}"
    );
    assert!(stderr.contains("no copy of db at local"), "{stderr}");
    let (code, stdout, stderr) = backup(&fleet, &tb, &["restore", "h2", "db", "--from", "h3"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("db restored from h3:"), "{stdout}");
    assert_eq!(data_of(&tb, host), original);

    // A stale copy: max_age 1h against a copy named two hours ago.
    let old = remote.join(nxinfra::plan::backup::file_name(
        "db",
        std::time::SystemTime::now() - std::time::Duration::from_secs(7200),
    ));
    for f in copies(&remote) {
        std::fs::remove_file(f).unwrap();
    }
    std::fs::write(&old, &bytes).unwrap();
    let (code, stdout, _) = backup(&fleet, &tb, &["status", "--only", "db", "--from", "h3"]);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(
        stdout.contains("STALE") && stdout.contains("2h 0m"),
        "{stdout}"
    );

    // A drill that passes, and one whose check fails: its output shown, the secret
    // redacted; no drill container is left either way.
    let (code, _, stderr) = backup(&fleet, &tb, &["run", "--only", "db"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stdout, stderr) = backup(&fleet, &tb, &["drill", "db"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("h2 db drill PASSED") && stdout.contains("40000 lines"),
        "{stdout}"
    );
    let (code, _, stderr) = backup(&fleet, &tb, &["run", "--only", "bad-drill"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stdout, stderr) = backup(&fleet, &tb, &["drill", "bad-drill", "--json"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let drilled = &json(&stdout)["drills"][0]["drill"];
    assert_eq!(
        (&drilled["passed"], &drilled["step"], &drilled["code"]),
        (&false.into(), &"check".into(), &1.into()),
        "{drilled}"
    );
    assert!(
        drilled["output"]
            .as_str()
            .unwrap()
            .contains("only 3 databases, password <secret:db.password>"),
        "{drilled}"
    );
    let (_, left) = docker(&tb, host, &["ps", "-aq", "--filter", "label=nxinfra.drill"]);
    assert!(left.trim().is_empty(), "drill containers left: {left}");

    // The destination host down: the local copy is still made, the run names h3 and exits
    // 1; nothing partial on either side.
    let off_remote = Path::new("/tmp/nxtb-backup-dest-off/h2/off");
    let _ = std::fs::remove_dir_all("/tmp/nxtb-backup-dest-off");
    {
        let _down = Down::stop(&tb, "sshd", other);
        let (code, stdout, stderr) = backup(&fleet, &tb, &["run", "--only", "off"]);
        assert_eq!(code, Some(1), "{stdout}{stderr}");
        assert!(
            stderr.contains("h2: backup off: destination h3: "),
            "{stderr}"
        );
        assert!(stdout.contains("  local: "), "{stdout}");
    }
    let here = copies(&fleet.path("backups/h2/off"));
    assert_eq!(here.len(), 1, "only the copy, no partial file: {here:?}");
    assert!(copies(off_remote).is_empty());
    // Back up, the next run stores at both.
    let (code, _, stderr) = backup(&fleet, &tb, &["run", "--only", "off"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(copies(off_remote).len(), 1);
    let _ = std::fs::remove_dir_all("/tmp/nxtb-backup-dest-off");
    engine::clean_engine(&tb, host, &[]);
}

#[test]
fn copies_go_to_an_s3_bucket_with_retention_verify_and_restore() {
    let Some(tb) = Testbed::get() else { return };
    let Some(s3) = common::s3::S3Server::start() else {
        return;
    };
    let (host, test) = ("h4", "backup-s3");
    let original = start_db(&tb, host);
    let vars = format!(
        "    nxinfra_backups:
      - name: db
        container: nxtb-db
        command: cat /data/db.txt
        restore: cat > /data/db.txt
        keep: 5
        to:
          - local
          - s3: {bucket}
            endpoint: {endpoint}
            prefix: fleet
            access_key: backups.s3.id
            secret_key: backups.s3.key
            keep: 2
      - name: wrong
        container: nxtb-db
        command: cat /data/db.txt
        to:
          - local
          - s3: {bucket}
            endpoint: {endpoint}
            access_key: backups.s3.id
            secret_key: backups.wrong
",
        bucket = s3.bucket,
        endpoint = s3.endpoint
    );
    let fleet = engine::fleet_with_hosts(&tb, host, test, "services: {}\n", &vars, "");
    let wrong = "WRONGsecretKEYwrongSECRETkey1234567890ab";
    fleet.set_secrets(&format!(
        "{}backups:\n  s3:\n    id: {}\n    key: {}\n  wrong: {wrong}\n",
        common::SECRETS,
        s3.access_key,
        s3.secret_key
    ));

    for _ in 0..3 {
        let (code, stdout, stderr) = backup(&fleet, &tb, &["run", "--only", "db"]);
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        assert!(stdout.contains("  s3: s3://"), "{stdout}");
    }
    // Retention in the bucket: 2 of 3; locally 3 (keep 5). Same bytes as the local copy.
    let objects = s3.list(&s3.bucket, "fleet/h4/db/");
    assert_eq!(objects.len(), 2, "{objects:?}");
    let local = copies(&fleet.path("backups/h4/db"));
    assert_eq!(local.len(), 3);
    let newest = local.last().unwrap();
    let key = &objects.last().unwrap().0;
    assert!(
        key.ends_with(newest.file_name().unwrap().to_str().unwrap()),
        "{key}"
    );
    let got = s3.get(&s3.bucket, key);
    assert_eq!(got, std::fs::read(newest).unwrap());
    assert_eq!(
        String::from_utf8(read_with_tools(&fleet, &got))
            .unwrap()
            .trim_end(),
        original
    );
    assert!(s3.uploads(&s3.bucket).is_empty(), "no unfinished upload");

    // verify reads the bucket's newest back; restore from it with no local copy left.
    let (code, stdout, stderr) = backup(&fleet, &tb, &["verify", "--only", "db", "--from", "s3"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.matches(": reads back (").count(), 1, "{stdout}");
    for f in local {
        std::fs::remove_file(f).unwrap();
    }
    docker(
        &tb,
        host,
        &["exec", "nxtb-db", "sh", "-c", "echo lost > /data/db.txt"],
    );
    let (code, stdout, stderr) = backup(&fleet, &tb, &["restore", "h4", "db", "--from", "s3"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("db restored from s3://"), "{stdout}");
    assert_eq!(data_of(&tb, host), original);

    // Wrong credentials: a clear error naming the bucket, no secret in the output; the
    // local copy is made all the same.
    let (code, stdout, stderr) = backup(&fleet, &tb, &["run", "--only", "wrong"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("h4: backup wrong: destination s3: s3://nxinfra-test/")
            && stderr.contains("SignatureDoesNotMatch"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(wrong) && !stdout.contains(wrong),
        "{stderr}"
    );
    assert!(!stderr.contains(&s3.secret_key), "{stderr}");
    assert_eq!(copies(&fleet.path("backups/h4/wrong")).len(), 1);
    assert!(s3.list(&s3.bucket, "h4/wrong/").is_empty());
    engine::clean_engine(&tb, host, &[]);
}

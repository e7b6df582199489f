//! `nxinfra sync` end to end on the testbed: real sshd hosts in network namespaces.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use common::{Fleet, SECRET, Testbed, texts};

/// A fleet whose inventory is the testbed, with templates shared by every host.
fn fleet(tb: &Testbed, test: &str, extra_hosts: &str) -> Fleet {
    let fleet = Fleet::new();
    std::fs::remove_dir_all(fleet.path("templates")).unwrap();
    fleet.write("inventory/inventory.yml", &tb.inventory(test, extra_hosts));
    fleet.write(
        "templates/config/testbed/app/app.conf.j2",
        "host={{ inventory_hostname }}\n",
    );
    fleet.write(
        "templates/config/testbed/app/secret.conf.j2",
        "password={{ db.password }}\n",
    );
    fleet.write(
        "templates/config/testbed/bin/run.sh",
        "#!/bin/sh\necho run\n",
    );
    for (host, _) in &tb.hosts {
        let _ = std::fs::remove_dir_all(tb.base_dir(host, test));
    }
    fleet
}

fn sync(fleet: &Fleet, tb: &Testbed, args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let mut all = vec![
        "sync",
        "--json",
        "--ssh-config",
        tb.ssh_config.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = fleet.nxinfra(&all);
    let (stdout, stderr) = texts(&out);
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "a secret was printed"
    );
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), json, stderr)
}

fn statuses(json: &serde_json::Value) -> Vec<String> {
    json["hosts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|h| {
                    format!(
                        "{}={}",
                        h["host"].as_str().unwrap(),
                        h["status"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sync_places_changes_removes_and_never_touches_foreign_files() {
    let Some(tb) = Testbed::get() else { return };
    let test = "sync-basic";
    let fleet = fleet(&tb, test, "");
    let h1 = tb.base_dir("h1", test);

    let (code, json, stderr) = sync(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        statuses(&json).iter().all(|s| s.ends_with("=changed")),
        "{json}"
    );
    assert_eq!(
        std::fs::read_to_string(h1.join("app/app.conf")).unwrap(),
        "host=h1"
    );
    let mode = |p: &str| std::fs::metadata(h1.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode("app/secret.conf"),
        0o600,
        "secret-bearing file private on the host"
    );
    assert_eq!(mode("bin/run.sh"), 0o755);
    std::fs::write(h1.join("app/foreign.txt"), "placed by hand").unwrap();

    // A no-op sync changes nothing anywhere.
    let (code, json, _) = sync(&fleet, &tb, &[]);
    assert_eq!(code, Some(0));
    assert!(
        statuses(&json).iter().all(|s| s.ends_with("=unchanged")),
        "{json}"
    );
    // One remote command per host, whatever the sync does.
    let commands = |json: &serde_json::Value| -> Vec<u64> {
        json["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["remote_commands"].as_u64().unwrap())
            .collect()
    };
    assert!(commands(&json).iter().all(|n| *n == 1), "{json}");

    // One template changes, one file is no longer rendered.
    fleet.write(
        "templates/config/testbed/app/app.conf.j2",
        "host={{ inventory_hostname }} v2\n",
    );
    std::fs::remove_file(fleet.path("templates/config/testbed/bin/run.sh")).unwrap();
    fleet.write(
        "templates/config/testbed/app/secret.conf.j2",
        "password={{ db.password }}\nuser={{ db.user }}\n",
    );
    // --dry-run --diff first: the diff shows the change, secrets redacted, nothing written.
    let (code, json, _) = sync(&fleet, &tb, &["--limit", "h1", "--dry-run", "--diff"]);
    assert_eq!(code, Some(2));
    let diff = json["hosts"][0]["diff"].as_str().unwrap();
    assert!(
        diff.contains("-host=h1\n") && diff.contains("+host=h1 v2\n"),
        "{diff}"
    );
    assert!(
        diff.contains("--- h1:bin/run.sh\n+++ /dev/null\n"),
        "{diff}"
    );
    assert!(
        diff.contains("# h1:app/secret.conf holds secrets: content not shown"),
        "{diff}"
    );
    assert_eq!(
        std::fs::read_to_string(h1.join("app/app.conf")).unwrap(),
        "host=h1"
    );
    assert_eq!(
        commands(&json),
        [2],
        "the sync's command, and one to fetch what to diff"
    );
    let (code, json, _) = sync(&fleet, &tb, &["--limit", "h1"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        commands(&json),
        [1],
        "lock, read, upload and apply: one command"
    );
    assert_eq!(
        json["hosts"][0]["plan"]["upload"],
        serde_json::json!(["app/app.conf", "app/secret.conf"])
    );
    assert_eq!(
        json["hosts"][0]["plan"]["remove"],
        serde_json::json!(["bin/run.sh"])
    );
    assert_eq!(
        std::fs::read_to_string(h1.join("app/app.conf")).unwrap(),
        "host=h1 v2"
    );
    assert!(
        !h1.join("bin").exists(),
        "removed file and its emptied folder"
    );
    assert_eq!(
        std::fs::read_to_string(h1.join("app/foreign.txt")).unwrap(),
        "placed by hand"
    );

    // --dry-run on the other hosts: exit 2, nothing changed.
    let before = std::fs::read(tb.base_dir("h2", test).join(".nxinfra/manifest")).unwrap();
    let (code, _, _) = sync(&fleet, &tb, &["--limit", "h2", "--dry-run"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        std::fs::read(tb.base_dir("h2", test).join(".nxinfra/manifest")).unwrap(),
        before
    );
}

#[test]
fn one_unreachable_host_fails_alone() {
    let Some(tb) = Testbed::get() else { return };
    // 10.200.0.99 is on the testbed bridge's subnet but no host answers there.
    let ghost =
        "    ghost:\n      ansible_host: 10.200.0.99\n      nxinfra_base_dir: /tmp/nxtb/ghost\n";
    let fleet = fleet(&tb, "sync-ghost", ghost);
    let ssh_config = tempfile::NamedTempFile::new().unwrap();
    let base = std::fs::read_to_string(&tb.ssh_config).unwrap();
    std::fs::write(
        ssh_config.path(),
        format!("Host ghost 10.200.0.99\n    ConnectTimeout 2\n{base}"),
    )
    .unwrap();
    let mut all = vec![
        "sync",
        "--json",
        "--ssh-config",
        ssh_config.path().to_str().unwrap(),
    ];
    all.extend_from_slice(&["--limit", "ghost,h3"]);
    let out = fleet.nxinfra(&all);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(statuses(&json), ["ghost=failed", "h3=changed"]);
    assert!(
        stderr.contains("sync failed on 1 of 2 hosts: ghost"),
        "{stderr}"
    );
}

#[test]
fn a_changed_host_key_is_refused() {
    let Some(tb) = Testbed::get() else { return };
    let test = "sync-hostkey";
    let fleet = fleet(&tb, test, "");
    // A known_hosts where h4 has another key, as after a man-in-the-middle or a reinstall.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    assert!(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap()
            .success()
    );
    let other = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let other = other
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let known: String = std::fs::read_to_string(tb.state.join("known_hosts"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut parts = l.split_whitespace();
            let hosts = parts.next().unwrap_or_default();
            if hosts.split(',').any(|h| h == "10.200.0.14" || h == "h4") {
                format!("{hosts} {other}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(dir.path().join("known_hosts"), known).unwrap();
    let config = std::fs::read_to_string(&tb.ssh_config).unwrap().replace(
        &tb.state.join("known_hosts").display().to_string(),
        &dir.path().join("known_hosts").display().to_string(),
    );
    // The user's config switches checking off, as the old toolchain did: nxinfra checks all
    // the same.
    let config = format!("Host *\n    StrictHostKeyChecking no\n\n{config}");
    std::fs::write(dir.path().join("ssh_config"), config).unwrap();
    let out = fleet.nxinfra(&[
        "sync",
        "--limit",
        "h4",
        "--ssh-config",
        dir.path().join("ssh_config").to_str().unwrap(),
    ]);
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("h4") && stderr.to_lowercase().contains("host key"),
        "{stderr}"
    );
    // Said in a line (the progress line, the summary), with what to do; not ssh's banner.
    assert!(
        !stderr.contains("@@@") && stderr.contains("has changed") && stderr.contains("ssh-keygen"),
        "{stderr}"
    );
    let said = stderr.lines().filter(|l| l.contains("host key")).count();
    assert_eq!(said, 2, "the progress line and the summary: {stderr}");
    assert!(
        !tb.base_dir("h4", test).exists(),
        "nothing may be written to a host whose key changed"
    );
}

#[test]
fn a_second_run_waits_for_the_lock_and_names_its_holder() {
    let Some(tb) = Testbed::get() else { return };
    let test = "sync-lock";
    let fleet = fleet(&tb, test, "");
    let base = tb.base_dir("h5", test);
    // Hold h5's lock the way a running sync does, from another "operator".
    let script =
        nxinfra::host::remote::lock_and_read(base.to_str().unwrap(), "alice@laptop pid 4242", 5);
    let mut holder = Command::new("ssh")
        .arg("-F")
        .arg(&tb.ssh_config)
        .arg("h5")
        .arg(format!("sh -c {}", nxinfra::util::shell::quote(&script)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Its shell is killed by --force-unlock, and says so ("Terminated").
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = holder.stdout.take().unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(nxinfra::host::remote::END_MARKER) {
        let mut buf = [0u8; 512];
        let n = std::io::Read::read(&mut out, &mut buf).unwrap();
        assert!(n > 0, "the lock holder ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    let (code, json, _) = sync(&fleet, &tb, &["--limit", "h5", "--lock-timeout", "1"]);
    assert_eq!(code, Some(1));
    let error = json["hosts"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("locked by alice@laptop pid 4242"), "{json}");
    // --force-unlock ends the holder (its stdin is still open) and proceeds.
    let (code, json, _) = sync(
        &fleet,
        &tb,
        &["--limit", "h5", "--force-unlock", "--lock-timeout", "5"],
    );
    assert_eq!(code, Some(0), "{json}");
    assert!(
        json["hosts"][0]["unlocked"]
            .as_str()
            .unwrap_or_default()
            .contains("alice@laptop pid 4242"),
        "{json}"
    );
    holder.stdin.take().unwrap().write_all(b"").unwrap();
    let _ = holder.wait();
    // Later runs take the lock normally.
    let (code, json, _) = sync(&fleet, &tb, &["--limit", "h5"]);
    assert_eq!(code, Some(0), "{json}");
}

#[test]
fn system_files_go_through_sudo_and_reload_once_per_change() {
    let Some(tb) = Testbed::get() else { return };
    let test = "sync-system";
    let fleet = fleet(&tb, test, "");
    // /srv is each testbed host's own folder (tb.state/hK/srv seen from here).
    let dir = format!("/srv/{test}");
    let inventory = tb.inventory(test, "")
        + &format!(
            "    nxinfra_system_files:\n\
             \x20     - src: app/secret.conf\n\
             \x20       dest: {dir}/etc/app.conf\n\
             \x20       mode: \"0640\"\n\
             \x20       owner: root:nxtb\n\
             \x20       reload: echo reloaded >> {dir}/reload.log\n\
             \x20     - src: app/app.conf\n\
             \x20       dest: {dir}/etc/other.conf\n\
             \x20       reload: echo reloaded >> {dir}/reload.log\n"
        );
    fleet.write("inventory/inventory.yml", &inventory);
    let srv = tb.state.join("h2/srv").join(test);
    let _ = std::fs::remove_dir_all(&srv);
    let log = || std::fs::read_to_string(srv.join("reload.log")).unwrap_or_default();

    let (code, json, stderr) = sync(&fleet, &tb, &["--limit", "h2"]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    let placed = srv.join("etc/app.conf");
    let meta = std::fs::metadata(&placed).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&meta),
        0,
        "owned by root"
    );
    let nxtb_gid = std::fs::metadata(tb.base_dir("h2", test)).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::gid(&meta),
        std::os::unix::fs::MetadataExt::gid(&nxtb_gid),
        "group nxtb"
    );
    assert!(
        std::fs::read_to_string(&placed)
            .unwrap()
            .starts_with("password=")
    );
    assert_eq!(log(), "reloaded\n", "one reload for two changed files");
    assert!(
        !tb.base_dir("h2", test).join("app/secret.conf").exists(),
        "a system file's source is not also placed in the base dir"
    );
    assert_eq!(
        json["hosts"][0]["plan"]["reloads"].as_array().map(Vec::len),
        Some(1),
        "{json}"
    );

    // A no-op: no reload.
    let (code, json, _) = sync(&fleet, &tb, &["--limit", "h2"]);
    assert_eq!(code, Some(0));
    assert_eq!(statuses(&json), ["h2=unchanged"]);
    assert_eq!(log(), "reloaded\n");

    // One system file changes: the dry run shows its diff and the reload; then one reload.
    fleet.write(
        "templates/config/testbed/app/app.conf.j2",
        "host={{ inventory_hostname }} v2\n",
    );
    let (code, json, _) = sync(&fleet, &tb, &["--limit", "h2", "--dry-run", "--diff"]);
    assert_eq!(code, Some(2));
    let diff = json["hosts"][0]["diff"].as_str().unwrap_or_default();
    assert!(
        diff.contains(&format!("+++ h2:{dir}/etc/other.conf\n")) && diff.contains("+host=h2 v2"),
        "{diff}"
    );
    assert!(
        diff.contains(&format!("h2: reload: echo reloaded >> {dir}/reload.log")),
        "{diff}"
    );
    assert_eq!(log(), "reloaded\n", "a dry run reloads nothing");
    let (code, _, stderr) = sync(&fleet, &tb, &["--limit", "h2"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(log(), "reloaded\nreloaded\n");
    assert_eq!(
        std::fs::read_to_string(srv.join("etc/other.conf")).unwrap(),
        "host=h2 v2"
    );
    let _ = std::fs::remove_dir_all(&srv);
}

#[test]
fn the_users_ssh_config_is_honoured_proxyjump_included() {
    let Some(tb) = Testbed::get() else { return };
    let test = "sync-proxyjump";
    // `behind-h1` has no ansible_host: ssh resolves the name through the config, which reaches
    // h3 only through h1 (ProxyJump), with the User and IdentityFile of the testbed's config.
    let extra = format!(
        "    behind-h1:\n      nxinfra_base_dir: {}\n",
        tb.base_dir("h3", test).display()
    );
    let fleet = fleet(&tb, test, &extra);
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!(
            "Host behind-h1\n    HostName 10.200.0.13\n    ProxyJump h1\n    User nxtb\n    \
             Port 22\n    IdentityFile {state}/client/id_ed25519\n    IdentitiesOnly yes\n    \
             UserKnownHostsFile {state}/known_hosts\n    StrictHostKeyChecking yes\n    \
             BatchMode yes\n\n{}",
            std::fs::read_to_string(&tb.ssh_config).unwrap(),
            state = tb.state.display()
        ),
    )
    .unwrap();
    let log = tb.state.join("h3/sshd.log");
    let before = std::fs::read_to_string(&log).unwrap_or_default().len();
    let out = fleet.nxinfra(&[
        "sync",
        "--json",
        "--limit",
        "behind-h1",
        "--ssh-config",
        config.path().to_str().unwrap(),
    ]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(statuses(&json), ["behind-h1=changed"]);
    assert_eq!(
        std::fs::read_to_string(tb.base_dir("h3", test).join("app/app.conf")).unwrap(),
        "host=behind-h1"
    );
    let new_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        new_log[before..].contains("Accepted publickey for nxtb from 10.200.0.11 "),
        "h3 saw the connection come from h1:\n{}",
        &new_log[before..]
    );
}

#[test]
fn ssh_persist_keeps_the_connection_for_the_next_run() {
    let Some(tb) = Testbed::get() else { return };
    let test = "sync-persist";
    let fleet = fleet(&tb, test, "");
    let runtime = tempfile::tempdir().unwrap();
    let log = tb.state.join("h6/sshd.log");
    let logins = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("Accepted publickey")
            .count()
    };
    let run = || {
        let out = fleet
            .command(&[
                "sync",
                "--json",
                "--limit",
                "h6",
                "--ssh-persist",
                "30",
                "--ssh-config",
                tb.ssh_config.to_str().unwrap(),
            ])
            .env("XDG_RUNTIME_DIR", runtime.path())
            .output()
            .unwrap();
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}\n{stdout}");
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()
    };
    let before = logins();
    assert_eq!(statuses(&run()), ["h6=changed"]);
    assert_eq!(logins(), before + 1, "the first run logs in");
    assert_eq!(statuses(&run()), ["h6=unchanged"]);
    assert_eq!(logins(), before + 1, "the second run reuses the connection");
    // The control sockets are private; close the masters.
    let persist = runtime.path().join("nxinfra/p");
    let mode = std::fs::metadata(&persist).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    for key in std::fs::read_dir(&persist).unwrap() {
        for master in std::fs::read_dir(key.unwrap().path()).unwrap() {
            let socket = master.unwrap().path().join("master");
            let _ = Command::new("ssh")
                .arg("-S")
                .arg(&socket)
                .args(["-O", "exit", "h6"])
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[test]
fn a_run_killed_while_holding_the_lock_leaves_no_stale_lock() {
    let Some(tb) = Testbed::get() else { return };
    let test = "sync-killed";
    let fleet = fleet(&tb, test, "");
    // Enough data that the upload takes a while: 40 incompressible 1 MB files.
    for i in 0..40 {
        let data: Vec<u8> = (0..1_000_000u32)
            .map(|n| (n.wrapping_mul(2_654_435_761).wrapping_add(i) >> 13) as u8)
            .collect();
        fleet.write_bytes(&format!("templates/config/testbed/blobs/b{i}.bin"), &data);
    }
    let base = tb.base_dir("h4", test);
    let holder = base.join(".nxinfra/lock.holder");
    let mut child = fleet
        .command(&[
            "sync",
            "--limit",
            "h4",
            "--ssh-config",
            tb.ssh_config.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    // Kill it (SIGKILL: no cleanup of any kind) as soon as the host says it holds the lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&holder).unwrap_or_default();
        if text.contains(&format!("pid {pid} ")) {
            child.kill().unwrap();
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync ended before it could be killed holding the lock"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the lock was never taken"
        );
        std::thread::yield_now();
    }
    let _ = child.wait();
    // The next run gets the lock at once (the lock went with the dead run's connection) and
    // converges.
    let (code, json, stderr) = sync(&fleet, &tb, &["--limit", "h4", "--lock-timeout", "5"]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    assert_eq!(statuses(&json), ["h4=changed"]);
    assert_eq!(std::fs::read_dir(base.join("blobs")).unwrap().count(), 40);
    assert!(!base.join(".nxinfra/staging").exists());
}

//! `nxinfra sync` under faults, end to end on the testbed (a real sshd per host in its own
//! network namespace): sshd killed in the middle of a large sync, one host down among six, a
//! full disk, an unwritable base dir, two syncs at once on one host, secrets in every output.
//!
//! Every test uses its own base dirs (`fault-*`), so they run in parallel; the two that stop
//! h6's sshd take [`H6_SSHD`] so that they never overlap, and restart it in a `Drop` guard.

mod common;

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;

use common::faults::*;
use common::{Down, Testbed};

/// Held by the tests that stop h6's sshd.
static H6_SSHD: Mutex<()> = Mutex::new(());

// ---------------------------------------------------------------------------------------------
// 1. sshd killed in the middle of a large sync

/// The tree of the kill test: 3000 files of 10 KiB, 30 MiB per version.
const KILL_FILES: usize = 3000;
const KILL_SIZE: usize = 10 << 10;

#[test]
fn sshd_killed_mid_sync_leaves_each_file_old_or_new_and_the_next_sync_converges() {
    let Some(tb) = Testbed::get() else { return };
    let _h6 = H6_SSHD.lock().unwrap_or_else(|e| e.into_inner());
    let (host, test) = ("h6", "fault-kill");
    let fleet = fleet(&tb, test);
    let base = tb.base_dir(host, test);
    let v1 = tree(KILL_FILES, KILL_SIZE, "v1");
    let v2 = tree(KILL_FILES, KILL_SIZE, "v2");

    put_tree(&fleet, &v1);
    let run = sync(&fleet, &tb, &["--limit", host]);
    assert_eq!(run.code, Some(0), "first sync: {}", run.stderr);
    assert_synced(&base, &v1, "after the first sync");

    // Every file changes; kill the host's sshd as soon as the upload lands in staging.
    put_tree(&fleet, &v2);
    let mut child = spawn_sync(&fleet, &tb, &["--json", "--limit", host]);
    let staging = staging(&base);
    wait_for(
        Duration::from_secs(120),
        "the upload to reach staging",
        || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the sync ended ({status}) before its upload was seen in staging");
            }
            std::fs::read_dir(&staging).is_ok_and(|mut d| d.next().is_some())
        },
    );
    let mut sshd = Down::stop(&tb, "sshd", host);
    let run = finish(child, Duration::from_secs(60), "sync whose sshd was killed");
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.statuses(), [format!("{host}=failed")]);
    let error = run.host(host)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!error.is_empty(), "no reason given: {}", run.stdout);
    assert!(
        run.stderr
            .contains(&format!("sync failed on 1 of 1 hosts: {host}")),
        "{}",
        run.stderr
    );

    // The remote commands of the killed sessions may still run (no tty, no SIGHUP): let them
    // end before judging the host and before the next sync.
    let needle = base.display().to_string();
    wait_for(
        Duration::from_secs(60),
        "the orphaned remote commands to end",
        || processes_mentioning(&needle).is_empty(),
    );
    let (newer, manifest_new) = assert_old_or_new(&base, &v1, &v2, "after the kill");
    eprintln!(
        "after the kill: {newer} of {} files new, manifest {}, staging {} bytes ({error})",
        v1.len(),
        if manifest_new { "new" } else { "old" },
        du(&staging)
    );

    sshd.start();
    let run = sync(&fleet, &tb, &["--json", "--limit", host]);
    assert_eq!(run.code, Some(0), "sync after the restart: {}", run.stderr);
    assert_synced(&base, &v2, "after the sync that followed the restart");
}

// ---------------------------------------------------------------------------------------------
// 2. one host down among six

#[test]
fn one_host_down_fails_alone_and_is_named() {
    let Some(tb) = Testbed::get() else { return };
    let _h6 = H6_SSHD.lock().unwrap_or_else(|e| e.into_inner());
    let test = "fault-down";
    let hosts: Vec<&str> = tb.hosts.iter().map(|(h, _)| h.as_str()).collect();
    assert!(hosts.contains(&"h6"), "the testbed needs h6: {hosts:?}");
    let fleet = fleet(&tb, test);
    fleet.write(
        &format!("{GROUP_DIR}/app/app.conf.j2"),
        "host={{ inventory_hostname }}\n",
    );
    let _down = Down::stop(&tb, "sshd", "h6");

    let run = sync(&fleet, &tb, &["--json"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let want: Vec<String> = hosts
        .iter()
        .map(|h| format!("{h}={}", if *h == "h6" { "failed" } else { "changed" }))
        .collect();
    assert_eq!(run.statuses(), want);
    assert_eq!(run.json()["failed"], 1);
    let error = run.host("h6")["error"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        error.contains("connect") && error.contains("refused"),
        "h6's reason: {error:?}"
    );
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains(&format!("sync failed on 1 of {} hosts: h6", hosts.len())),
        "{}",
        run.stderr
    );
    for h in hosts.iter().filter(|h| **h != "h6") {
        let conf = tb.base_dir(h, test).join("app/app.conf");
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap_or_default(),
            format!("host={h}"),
            "{}",
            conf.display()
        );
    }
    assert!(!tb.base_dir("h6", test).exists());

    // The text summary: the others unchanged now, h6 failed with its reason.
    let run = sync(&fleet, &tb, &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let line = run
        .stderr
        .lines()
        .find(|l| l.trim_start().starts_with("h6 "))
        .unwrap_or_else(|| panic!("no line for h6:\n{}", run.stderr));
    assert!(
        line.contains("FAILED") && line.to_lowercase().contains("refused"),
        "{line}"
    );
    for h in hosts.iter().filter(|h| **h != "h6") {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{h} ")) && l.contains("unchanged")),
            "{h} not reported unchanged:\n{}",
            run.stderr
        );
    }
    assert!(
        run.stderr
            .contains(&format!("{} hosts: 0 changed, 1 failed", hosts.len())),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// 3. a full disk

#[test]
fn a_full_disk_fails_cleanly_and_a_tree_that_fits_then_syncs() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h3", "fault-full");
    let fleet = fleet(&tb, test);
    let disk = HostTmpfs::mount(&tb, host, &tb.base_dir(host, test), "1m");
    let base = disk.view();
    assert!(disk.mounted() && base.is_dir());

    // 256 KiB fit on the 1 MiB disk.
    let v1 = tree(16, 16 << 10, "v1");
    put_tree(&fleet, &v1);
    let run = sync(&fleet, &tb, &["--limit", host]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_synced(&base, &v1, "first sync");

    // 1.5 MiB do not.
    let v2 = tree(16, 96 << 10, "v2");
    assert!(total_size(&v2) > 1 << 20);
    put_tree(&fleet, &v2);
    let run = sync(&fleet, &tb, &["--limit", host]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    // The host's error (it may span several lines: tar's, one per file).
    let block = run
        .stderr
        .split_once(&format!("  {host}"))
        .and_then(|(_, rest)| rest.split_once("\n1 hosts:"))
        .map(|(block, _)| block)
        .unwrap_or_else(|| panic!("no error for {host}:\n{}", run.stderr));
    assert!(
        block.trim_start().starts_with("FAILED") && block.to_lowercase().contains("no space left"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("sync failed on 1 of 1 hosts: {host}")),
        "{}",
        run.stderr
    );
    let (newer, manifest_new) = assert_old_or_new(&base, &v1, &v2, "after the full disk");
    assert_eq!((newer, manifest_new), (0, false), "nothing may be placed");
    let staging_left = du(&staging(&base));

    // 384 KiB fit beside the 256 KiB in place.
    let v3 = tree(16, 24 << 10, "v3");
    put_tree(&fleet, &v3);
    let run = sync(&fleet, &tb, &["--limit", host]);
    assert_eq!(
        run.code,
        Some(0),
        "a tree that fits must sync after the failure (the failed sync left {staging_left} \
         bytes in staging):\n{}",
        run.stderr
    );
    assert_synced(&base, &v3, "after the tree that fits");
    assert_eq!(
        staging_left, 0,
        "the failed sync left {staging_left} bytes of staging on the full disk"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. an unwritable base dir

#[test]
fn an_unwritable_base_dir_fails_clearly_and_creates_nothing() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h4", "fault-readonly");
    let fleet = fleet(&tb, test);
    fleet.write(
        &format!("{GROUP_DIR}/app/app.conf.j2"),
        "host={{ inventory_hostname }}\n",
    );
    // Made by root (the tests run as root), 0755: the login user cannot write.
    let base = tb.base_dir(host, test);
    std::fs::create_dir_all(&base).unwrap();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(
        std::fs::metadata(&base).unwrap().uid(),
        0,
        "the tests run as root"
    );

    let run = sync(&fleet, &tb, &["--limit", host]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let line = run
        .stderr
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{host} ")))
        .unwrap_or_else(|| panic!("no line for {host}:\n{}", run.stderr));
    assert!(
        line.contains("FAILED")
            && line.to_lowercase().contains("permission denied")
            && line.contains(&base.display().to_string()),
        "{line}"
    );
    assert!(
        run.stderr
            .contains(&format!("sync failed on 1 of 1 hosts: {host}")),
        "{}",
        run.stderr
    );
    let run = sync(&fleet, &tb, &["--json", "--limit", host]);
    assert_eq!(run.code, Some(1));
    let error = run.host(host)["error"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(error.contains("permission denied"), "{error}");
    let left: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        left.is_empty(),
        "created in an unwritable base dir: {left:?}"
    );
    assert_eq!(mode(&base), 0o755);
}

// ---------------------------------------------------------------------------------------------
// 5. two syncs at once on one host

/// `flock` processes waiting for the lock of `base`: their parent's command line (the
/// lock-and-read script) names the base dir.
fn lock_waiters(base: &Path) -> usize {
    let needle = format!("{}", base.display());
    let mut n = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "flock\n" {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        else {
            continue;
        };
        let parent = std::fs::read(format!("/proc/{ppid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&parent).contains(&needle) {
            n += 1;
        }
    }
    n
}

#[test]
fn two_syncs_at_once_on_one_host_are_serialised_by_the_lock() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h5", "fault-twice");
    let fleet = fleet(&tb, test);
    let base = tb.base_dir(host, test);
    let files = tree(300, 4 << 10, "v1");
    put_tree(&fleet, &files);

    // The test holds the host's lock first, so that both syncs are certain to be waiting for
    // it at the same time; then it lets go and they race.
    let script = nxinfra::host::remote::lock_and_read(base.to_str().unwrap(), "the test", 30);
    let mut holder = Command::new("ssh")
        .arg("-F")
        .arg(&tb.ssh_config)
        .arg(host)
        .arg(format!("sh -c {}", nxinfra::util::shell::quote(&script)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = holder.stdout.take().unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(nxinfra::host::remote::END_MARKER) {
        let mut buf = [0u8; 512];
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "the test's lock holder ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    let args = ["--json", "--limit", host, "--lock-timeout", "120"];
    let mut a = Some(spawn_sync(&fleet, &tb, &args));
    let mut b = Some(spawn_sync(&fleet, &tb, &args));
    wait_for(
        Duration::from_secs(60),
        "both syncs to wait for the lock",
        || {
            for c in [&mut a, &mut b] {
                if let Ok(Some(status)) = c.as_mut().unwrap().try_wait() {
                    let run = finish(c.take().unwrap(), Duration::from_secs(1), "sync");
                    panic!(
                        "a sync ended ({status}) while the lock was held: {}",
                        run.stderr
                    );
                }
            }
            lock_waiters(&base) == 2
        },
    );
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());

    let a = finish(a.unwrap(), Duration::from_secs(120), "first sync");
    let b = finish(b.unwrap(), Duration::from_secs(120), "second sync");
    assert_eq!(
        (a.code, b.code),
        (Some(0), Some(0)),
        "{}\n{}",
        a.stderr,
        b.stderr
    );
    let mut statuses = [a.statuses(), b.statuses()].concat();
    statuses.sort();
    assert_eq!(
        statuses,
        [format!("{host}=changed"), format!("{host}=unchanged")],
        "the second sync must read the manifest the first wrote"
    );
    for run in [&a, &b] {
        let plan = &run.host(host)["plan"];
        let uploaded = plan["upload"].as_array().map_or(0, |u| u.len());
        let unchanged = plan["unchanged"].as_u64().unwrap_or_default() as usize;
        assert!(
            (uploaded, unchanged) == (files.len(), 0) || (uploaded, unchanged) == (0, files.len()),
            "{plan}"
        );
    }
    assert_synced(&base, &files, "after both syncs");
}

// ---------------------------------------------------------------------------------------------
// 6. secrets never leak

/// Secret values (24 characters: their base64 has no padding) of two generations.
const DB_V1: &str = "Zebra-Quokka-7731-pw-one";
const TOKEN_V1: &str = "Narwhal-Lynx-4417-tk-one";
const DB_V2: &str = "Ibex-Marmot-2958-pw-two!";
const TOKEN_V2: &str = "Okapi-Tapir-6620-tk-two!";

fn secrets_yaml(db: &str, token: &str) -> String {
    format!("db:\n  password: \"{db}\"\napi:\n  token: \"{token}\"\n")
}

/// Every form of every secret value (plain, base64) found in `text`.
fn leaks(what: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for value in [DB_V1, TOKEN_V1, DB_V2, TOKEN_V2] {
        let b64 = base64::engine::general_purpose::STANDARD.encode(value);
        for (form, s) in [("value", value.to_string()), ("base64 of", b64)] {
            if text.contains(&s) {
                out.push(format!("{what}: {form} {value:?}"));
            }
        }
    }
    out
}

fn run_leaks(what: &str, run: &Run) -> Vec<String> {
    [
        leaks(&format!("{what} stdout"), &run.stdout),
        leaks(&format!("{what} stderr"), &run.stderr),
    ]
    .concat()
}

#[test]
fn secret_values_never_reach_any_output_and_secret_files_are_private() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h1", "fault-secrets");
    let fleet = fleet(&tb, test);
    let base = tb.base_dir(host, test);
    fleet.set_secrets(&secrets_yaml(DB_V1, TOKEN_V1));
    fleet.write(
        &format!("{GROUP_DIR}/app/db.conf.j2"),
        "host={{ inventory_hostname }}\npassword={{ secrets.db.password }}\n",
    );
    fleet.write(
        &format!("{GROUP_DIR}/app/token.env.j2"),
        "TOKEN_B64={{ secrets.api.token | b64encode }}\n",
    );
    fleet.write(
        &format!("{GROUP_DIR}/app/plain.conf.j2"),
        "version=1\nhost={{ inventory_hostname }}\n",
    );
    fleet.write(&format!("{GROUP_DIR}/bin/run.sh"), "#!/bin/sh\necho run\n");
    let mut found = Vec::new();
    let check_modes = |when: &str| {
        for (file, want) in [
            ("app/db.conf", 0o600),
            ("app/token.env", 0o600),
            ("app/plain.conf", 0o644),
            ("bin/run.sh", 0o755),
        ] {
            assert_eq!(mode(&base.join(file)), want, "{when}: mode of {file}");
        }
    };

    let run = sync(&fleet, &tb, &["--json", "--limit", host]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    found.extend(run_leaks("first sync --json", &run));
    check_modes("first sync");
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    assert_eq!(
        std::fs::read_to_string(base.join("app/token.env")).unwrap(),
        format!("TOKEN_B64={}", b64(TOKEN_V1)),
        "the host holds the transformed secret"
    );

    // New values, and a visible non-secret change so that the diffs are not empty.
    fleet.set_secrets(&secrets_yaml(DB_V2, TOKEN_V2));
    fleet.write(
        &format!("{GROUP_DIR}/app/plain.conf.j2"),
        "version=2\nhost={{ inventory_hostname }}\n",
    );
    let run = sync(
        &fleet,
        &tb,
        &["--json", "--dry-run", "--diff", "--limit", host],
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    found.extend(run_leaks("--dry-run --diff --json", &run));
    let diff = run.host(host)["diff"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        diff.contains("+version=2\n"),
        "no diff in the JSON: {}",
        run.stdout
    );
    for file in ["app/db.conf", "app/token.env"] {
        assert!(
            diff.contains(&format!("+++ {host}:{file}\n")),
            "{file} not in the diff"
        );
    }

    let run = sync(&fleet, &tb, &["--dry-run", "--diff", "--limit", host]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    found.extend(run_leaks("--dry-run --diff", &run));
    let text_diff_shown = format!("{}{}", run.stdout, run.stderr).contains("+version=2\n");

    let run = sync(&fleet, &tb, &["--limit", host]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    found.extend(run_leaks("sync", &run));
    let run = sync(&fleet, &tb, &["--json", "--diff", "--limit", host]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    found.extend(run_leaks("no-op sync --json --diff", &run));
    check_modes("after the change");
    // The host's state: its login user's alone, and no value in it (hashes only).
    let manifest = base.join(".nxinfra/manifest");
    assert_eq!(
        (mode(&base.join(".nxinfra")), mode(&manifest)),
        (0o700, 0o600)
    );
    found.extend(leaks(
        "the host's manifest",
        &std::fs::read_to_string(&manifest).unwrap(),
    ));
    assert_eq!(
        std::fs::read_to_string(base.join("app/db.conf")).unwrap(),
        format!("host={host}\npassword={DB_V2}")
    );

    if !text_diff_shown {
        found.push("--dry-run --diff without --json printed no diff (nothing to check)".into());
    }
    assert!(found.is_empty(), "secrets:\n{}", found.join("\n"));
}

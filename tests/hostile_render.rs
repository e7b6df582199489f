//! Issue 10, the render side of a hostile pass: the release binary's errors, usage errors'
//! exit status, renders killed or run at once, a symlinked rendered/, key material read by
//! `lookup`, and `diff`'s git errors. Run against `$NXINFRA_BIN` (the release binary under
//! `make test`).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fleet, git, leftovers, snapshot, texts};
use nxinfra::render::lock;

fn run(fleet: &Fleet, args: &[&str]) -> (Option<i32>, String, String) {
    let out = fleet.nxinfra(args);
    let (stdout, stderr) = texts(&out);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code(), stdout, stderr)
}

#[test]
fn the_binary_under_test_names_the_undefined_variable_and_hints_at_wg() {
    // The release build once said only "undefined variable": minijinja kept the template's
    // source in its errors with debug assertions only.
    let fleet = Fleet::new();
    fleet.write(
        "templates/config/ixp/bird/bird.conf.j2",
        "# bird\nrouter id {{ tailnett }};\n",
    );
    let (code, _, stderr) = run(&fleet, &["render"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "templates/config/ixp/bird/bird.conf.j2:2 (host ixp1): undefined variable `tailnett`"
        ),
        "{stderr}"
    );

    fleet.write(
        "templates/config/ixp/wireguard/wg0.conf.j2",
        "[Interface]\nPrivateKey = {{ secrets.wireguard[inventory_hostname].wg0 }}\n",
    );
    fleet.write(
        "templates/config/ixp/bird/bird.conf.j2",
        "router id {{ tailnet }};\n",
    );
    let (code, _, stderr) = run(&fleet, &["render"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("templates/config/ixp/wireguard/wg0.conf.j2:2 (host ixp1): undefined")
            && stderr.contains("secrets.wireguard"),
        "{stderr}"
    );
    assert!(
        stderr.contains("a WireGuard key missing? `nxinfra wg` makes the keys"),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_1_not_the_2_of_differences_found() {
    let fleet = Fleet::new();
    for (args, says) in [
        (&["render", "--check", "--typo"][..], "--typo"),
        (&["diff"], "--base"),
        (&["frobnicate"], "frobnicate"),
        (&["sync", "--forks"], "--forks"),
        (&[], "Usage"),
    ] {
        let (code, stdout, stderr) = run(&fleet, args);
        assert_eq!(code, Some(1), "{args:?}: {stdout}\n{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    // Help and version are not errors; help documents the exit statuses.
    let (code, stdout, _) = run(&fleet, &["--help"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("Exit status: 0 success, 1 error (a usage error too"),
        "{stdout}"
    );
    let (code, stdout, _) = run(&fleet, &["--version"]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("nxinfra "), "{stdout}");
    let (code, stdout, _) = run(&fleet, &["render", "--help"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("Usage: nxinfra render"), "{stdout}");
}

#[test]
fn a_rendered_folder_that_is_a_symlink_is_refused_and_its_target_untouched() {
    let fleet = Fleet::new();
    fleet.write("elsewhere/keep.txt", "precious\n");
    fleet.write("elsewhere/core1/old.conf", "also precious\n");
    std::os::unix::fs::symlink("elsewhere", fleet.path("rendered")).unwrap();
    let before = snapshot(&fleet.path("elsewhere"));
    for args in [
        &["render"][..],
        &["render", "--check"],
        &["render", "--limit", "ixp1"],
    ] {
        let (code, _, stderr) = run(&fleet, args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("rendered is a symbolic link (to elsewhere)")
                && stderr.contains("`rm rendered`"),
            "{args:?}: {stderr}"
        );
        assert_eq!(snapshot(&fleet.path("elsewhere")), before, "{args:?}");
        assert!(leftovers(fleet.root()).is_empty());
    }
}

#[test]
fn lookup_of_a_private_key_is_refused_naming_the_file_and_the_way() {
    let fleet = Fleet::new();
    let identity = fleet.read("test-identity.key");
    let key_line = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    fleet.write("keys/identity.txt", &identity);
    fleet.write(
        "keys/tls.key",
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\n",
    );
    fleet.write(
        "keys/id_ed25519",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    fleet.write(
        "keys/cert.pem",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    for (file, kind) in [
        ("keys/identity.txt", "an age identity"),
        ("keys/tls.key", "a private key"),
        ("keys/id_ed25519", "a private key"),
    ] {
        fleet.write(
            "templates/config/core/core1/key.j2",
            &format!("# key\n{{{{ lookup('file', '{file}') }}}}\n"),
        );
        let (code, stdout, stderr) = run(&fleet, &["render"]);
        assert_eq!(code, Some(1), "{file}: {stderr}");
        assert!(
            stderr.contains("templates/config/core/core1/key.j2:2 (host core1)")
                && stderr.contains(&format!(
                    "lookup('file', \"{file}\"): the file holds {kind}"
                ))
                && stderr.contains("nxinfra secrets set PATH <"),
            "{file}: {stderr}"
        );
        assert!(
            !stderr.contains(&key_line) && !stdout.contains(&key_line),
            "the key itself is never printed: {stderr}"
        );
        assert!(!fleet.path("rendered").exists(), "{file}");
    }
    // A certificate is no secret.
    fleet.write(
        "templates/config/core/core1/key.j2",
        "{{ lookup('file', 'keys/cert.pem') }}\n",
    );
    let (code, _, stderr) = run(&fleet, &["render"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        fleet
            .read("rendered/core1/key")
            .contains("BEGIN CERTIFICATE")
    );
}

#[test]
fn diff_outside_a_git_repository_names_the_folder() {
    if !common::require_tool("git", "git") {
        return;
    }
    let fleet = Fleet::new();
    let parent = fleet.root().parent().unwrap().to_path_buf();
    let out = fleet
        .command(&["diff", "--base", "HEAD"])
        // No repository above the fleet's temporary folder counts.
        .env("GIT_CEILING_DIRECTORIES", &parent)
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let shown = std::fs::canonicalize(fleet.root()).unwrap();
    assert!(
        stderr.contains(&format!(
            "error: {} is not in a git repository",
            shown.display()
        )) && stderr.contains("run it in a clone of the fleet's repository"),
        "{stderr}"
    );
}

#[test]
fn diff_in_a_shallow_clone_says_the_clone_is_shallow_and_how_to_fetch() {
    if !common::require_tool("git", "git") {
        return;
    }
    let fleet = Fleet::new();
    fleet.write(".gitignore", "rendered/\ntest-identity.key\nhome/\n");
    git(fleet.root(), &["init", "-q"]);
    git(fleet.root(), &["add", "-A"]);
    git(fleet.root(), &["commit", "-q", "-m", "one"]);
    fleet.write("templates/config/ixp/extra.conf", "x\n");
    git(fleet.root(), &["add", "-A"]);
    git(fleet.root(), &["commit", "-q", "-m", "two"]);
    let clones = tempfile::tempdir().unwrap();
    let clone = clones.path().join("clone");
    let url = format!("file://{}", fleet.root().display());
    let out = Command::new("git")
        .args(["clone", "-q", "--depth", "1", &url])
        .arg(&clone)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", texts(&out).1);

    let out = fleet
        .command(&["diff", "--base", "HEAD~1"])
        .current_dir(&clone)
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("HEAD~1 is not a revision of this clone, which is shallow")
            && stderr.contains("git fetch --unshallow")
            && stderr.contains("fetch-depth: 0"),
        "{stderr}"
    );
    // In the full repository, the same REV is no error.
    let (code, _, stderr) = run(&fleet, &["diff", "--base", "HEAD~1"]);
    assert_eq!(code, Some(2), "{stderr}");
}

/// A fleet of `hosts` hosts in group `big`, each with `files` copied files: a render that
/// spends a while writing its staging folder.
fn big_fleet(hosts: usize, files: usize) -> Fleet {
    let fleet = Fleet::new();
    let mut inventory = String::from(common::INVENTORY);
    inventory.push_str("big:\n  hosts:\n");
    for h in 0..hosts {
        inventory.push_str(&format!("    big{h:03}:\n"));
    }
    fleet.write("inventory/inventory.yml", &inventory);
    for f in 0..files {
        fleet.write(
            &format!("templates/config/big/d{}/f{f:04}.conf", f % 10),
            &format!("file {f}\n"),
        );
    }
    fleet.write(
        "templates/config/big/host.conf.j2",
        "host {{ inventory_hostname }}\n",
    );
    fleet
}

fn spawn(fleet: &Fleet, args: &[&str]) -> Child {
    fleet
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nxinfra")
}

/// The staging folders of process `pid` at `root`.
fn staging_of(root: &Path, pid: u32) -> Vec<String> {
    let prefix = format!("{}{pid}-", lock::STAGING_PREFIX);
    std::fs::read_dir(root)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

#[test]
fn a_render_killed_mid_way_leaves_a_staging_folder_the_next_render_removes() {
    // Kill a render while it writes its staging folder (retried if it was too quick).
    let mut caught = None;
    for _ in 0..6 {
        let fleet = big_fleet(30, 100);
        let mut child = spawn(&fleet, &["render"]);
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = false;
        while Instant::now() < deadline {
            if staging_of(fleet.root(), pid)
                .iter()
                .any(|s| std::fs::read_dir(fleet.path(s)).is_ok_and(|mut d| d.next().is_some()))
            {
                seen = true;
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if seen && !staging_of(fleet.root(), pid).is_empty() {
            caught = Some((fleet, pid));
            break;
        }
    }
    let (fleet, pid) = caught.expect("a render killed while it wrote its staging folder");
    assert!(
        !fleet.path("rendered").exists(),
        "a killed render installs nothing"
    );
    // A live process's staging folder (this test's) is never removed.
    let live = format!("{}{}-live", lock::STAGING_PREFIX, std::process::id());
    fleet.write(&format!("{live}/core1/x"), "in use\n");

    let (code, _, stderr) = run(&fleet, &["render"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        staging_of(fleet.root(), pid).is_empty(),
        "the killed render's staging folder is removed"
    );
    assert_eq!(leftovers(fleet.root()), std::slice::from_ref(&live));
    assert_eq!(fleet.read(&format!("{live}/core1/x")), "in use\n");
    let (code, _, stderr) = run(&fleet, &["render", "--check"]);
    assert_eq!(code, Some(0), "the render is complete: {stderr}");
}

#[test]
fn renders_started_at_once_all_succeed_and_leave_one_consistent_render() {
    let fleet = big_fleet(30, 100);
    let children: Vec<Child> = (0..4).map(|_| spawn(&fleet, &["render"])).collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
    }
    assert!(leftovers(fleet.root()).is_empty());
    let (code, _, stderr) = run(&fleet, &["render", "--check"]);
    assert_eq!(code, Some(0), "rendered/ is one whole render: {stderr}");
    assert_eq!(
        snapshot(&fleet.path("rendered")).len(),
        2 + 2 * 3 + 30 * 101,
        "every file of every host"
    );
}

#[test]
fn a_render_started_during_another_waits_and_its_result_stands() {
    // A renders every host; while it writes, a template changes and B renders two hosts.
    // Without the lock A installed its older render over B's.
    let fleet = big_fleet(30, 100);
    let a = spawn(&fleet, &["render"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    // Any staging folder: one named after A's pid, or an older nxinfra's.
    while leftovers(fleet.root()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    fleet.write(
        "templates/config/big/host.conf.j2",
        "host {{ inventory_hostname }} v2\n",
    );
    let (code, _, b_err) = run(&fleet, &["render", "--limit", "big000,big001"]);
    let a = a.wait_with_output().unwrap();
    assert_eq!(a.status.code(), Some(0), "{}", texts(&a).1);
    assert_eq!(code, Some(0), "{b_err}");
    assert_eq!(fleet.read("rendered/big000/host.conf"), "host big000 v2");
    let (code, _, stderr) = run(&fleet, &["render", "--check", "--limit", "big000,big001"]);
    assert_eq!(code, Some(0), "B's render stands: {stderr}\nB: {b_err}");
    assert!(leftovers(fleet.root()).is_empty());
}

#[test]
fn a_second_render_waits_for_the_lock_names_its_holder_and_times_out() {
    let fleet = Fleet::new();
    let held = lock::acquire(fleet.root(), Duration::ZERO, |_| {}).unwrap();
    let me = format!("pid {}, user ", std::process::id());

    // A short timeout: an error naming the holder and the lock; nothing written.
    let start = Instant::now();
    let (code, _, stderr) = run(&fleet, &["render", "--lock-timeout", "1"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert!(
        stderr.contains("waiting for another render of this repository (pid")
            && stderr.contains(&format!(
                "another render of this repository holds {} ({me}",
                lock::LOCK_FILE
            ))
            && stderr.contains("within 1s"),
        "{stderr}"
    );
    assert!(!fleet.path("rendered").exists());

    // One that waits renders the sources as they are once it has the lock.
    let child = spawn(&fleet, &["render"]);
    std::thread::sleep(Duration::from_millis(500));
    fleet.write(
        "templates/config/ixp/run.sh.j2",
        "#!/bin/sh\necho changed {{ role }}\n",
    );
    drop(held);
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&me), "{stderr}");
    assert_eq!(
        fleet.read("rendered/ixp1/run.sh"),
        "#!/bin/sh\necho changed ixp"
    );
    let (code, _, stderr) = run(&fleet, &["render", "--check"]);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_template_including_itself_and_a_recursive_macro_stop_with_the_file_and_host() {
    for (template, what) in [
        ("{% include 'config/ixp/loop.conf.j2' %}\n", "include"),
        (
            "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}\n",
            "m(n + 1)",
        ),
    ] {
        let fleet = Fleet::new();
        fleet.write("templates/config/ixp/loop.conf.j2", template);
        let (code, _, stderr) = run(&fleet, &["render"]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains("templates/config/ixp/loop.conf.j2:1 (host ixp1)")
                && stderr.contains("recursion limit exceeded")
                && stderr.contains(what),
            "{stderr}"
        );
        assert!(!fleet.path("rendered").exists(), "nothing rendered");
    }
}

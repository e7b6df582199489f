//! Issue 10, the render side of a hostile pass: the release binary's errors, usage errors'
//! exit status.
//! Run against `$NXINFRA_BIN` (the release binary under `make test`).

mod common;

use common::{Fleet, texts};

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

//! Issue 10, the render side of a hostile pass: the release binary's errors.
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

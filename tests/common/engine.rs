//! Helpers of the apply tests: a one-host fleet on a testbed host, `nxinfra apply --json`, and
//! the host's engine read with the `docker` client (over the engine's socket, not through
//! nxinfra) to check what nxinfra did.

use std::process::Command;

use super::{Fleet, Testbed, texts};

/// A fleet of the testbed host `host` (group `testbed`) whose only template is `compose`
/// (a Jinja template of compose.yml), with the base dir of `test`. `host_vars` are YAML lines
/// (6-space indent) added to the host, `vars` lines (4-space indent) to the group.
pub fn fleet(tb: &Testbed, host: &str, test: &str, compose: &str, vars: &str) -> Fleet {
    fleet_with_hosts(tb, host, test, compose, vars, "")
}

/// [`fleet`] with `more_hosts` (YAML of further hosts, 4-space indent) in the group.
pub fn fleet_with_hosts(
    tb: &Testbed,
    host: &str,
    test: &str,
    compose: &str,
    vars: &str,
    more_hosts: &str,
) -> Fleet {
    let fleet = Fleet::new();
    std::fs::remove_dir_all(fleet.path("templates")).expect("remove templates");
    let ip = tb.ip(host);
    let base = tb.base_dir(host, test);
    let _ = std::fs::remove_dir_all(&base);
    fleet.write(
        "inventory/inventory.yml",
        &format!(
            "testbed:\n  hosts:\n    {host}:\n      ansible_host: {ip}\n      \
             nxinfra_base_dir: {}\n      nxinfra_docker_socket: {}\n{more_hosts}  vars:\n    \
             ansible_user: nxtb\n{vars}",
            base.display(),
            tb.docker_socket(host).display(),
        ),
    );
    fleet.write("templates/config/testbed/compose.yml.j2", compose);
    fleet
}

/// `docker ARGS` against `host`'s engine: (success, stdout trimmed + stderr).
pub fn docker(tb: &Testbed, host: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{}", tb.docker_socket(host).display()))
        .args(args)
        .output()
        .expect("run docker");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string()
            + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Starts a sleeping container `name` of `image` on `host`'s engine, not through nxinfra,
/// with `labels` (`key=value`).
pub fn run_sleeper(tb: &Testbed, host: &str, name: &str, image: &str, labels: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    for label in labels {
        args.extend(["--label", label]);
    }
    args.extend([image, "sleep", "3600"]);
    let (ok, out) = docker(tb, host, &args);
    assert!(ok, "docker run {name}: {out}");
}

/// `docker inspect NAME` as JSON (the first object), `Null` when there is no such container.
pub fn inspect(tb: &Testbed, host: &str, name: &str) -> serde_json::Value {
    let (ok, out) = docker(tb, host, &["inspect", "--type", "container", name]);
    if !ok {
        return serde_json::Value::Null;
    }
    let all: serde_json::Value = serde_json::from_str(&out).expect("docker inspect JSON");
    all[0].clone()
}

/// The id of container `name` ("" when there is none).
pub fn id(tb: &Testbed, host: &str, name: &str) -> String {
    inspect(tb, host, name)["Id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Removes what an earlier run of a test left on `host`'s engine: every container, the
/// networks named in `networks`, and the test image tag `nxtb-app:1` reset to the base image.
pub fn clean_engine(tb: &Testbed, host: &str, networks: &[&str]) {
    let (_, ids) = docker(tb, host, &["ps", "-aq"]);
    for id in ids.split_whitespace() {
        docker(tb, host, &["rm", "-f", id]);
    }
    for n in networks {
        docker(tb, host, &["network", "rm", n]);
    }
    docker(tb, host, &["tag", "nxtb-busybox:1", "nxtb-app:1"]);
}

/// `nxinfra apply --json ARGS` on the testbed: (exit code, JSON on stdout, stderr). Fails the
/// test if the fleet's secret appears in either stream.
pub fn apply(
    fleet: &Fleet,
    tb: &Testbed,
    args: &[&str],
) -> (Option<i32>, serde_json::Value, String) {
    let mut all = vec![
        "apply",
        "--json",
        "--ssh-config",
        tb.ssh_config.to_str().expect("utf-8 path"),
    ];
    all.extend_from_slice(args);
    let out = fleet.nxinfra(&all);
    let (stdout, stderr) = texts(&out);
    assert!(
        !stdout.contains(super::SECRET) && !stderr.contains(super::SECRET),
        "a secret was printed:\n{stdout}\n{stderr}"
    );
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), json, stderr)
}

/// `nxinfra apply --json` of `fleet`, which must succeed (exit 0): its JSON.
pub fn applied(fleet: &Fleet, tb: &Testbed) -> serde_json::Value {
    let (code, json, stderr) = apply(fleet, tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    json
}

/// `name=action reasons` of every container step of the first host.
pub fn steps(json: &serde_json::Value) -> Vec<String> {
    step_lines(&json["hosts"][0]["containers"])
}

/// `name=action reasons` of every network step of the first host.
pub fn network_steps(json: &serde_json::Value) -> Vec<String> {
    step_lines(&json["hosts"][0]["networks"])
}

fn step_lines(steps: &serde_json::Value) -> Vec<String> {
    steps
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    let reasons: Vec<&str> = c["reasons"]
                        .as_array()
                        .expect("reasons")
                        .iter()
                        .map(|r| r.as_str().expect("a reason"))
                        .collect();
                    format!(
                        "{}={} {}",
                        c["name"].as_str().expect("name"),
                        c["action"].as_str().expect("action"),
                        reasons.join("; ")
                    )
                    .trim_end()
                    .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Everything on `host` that a read-only command (plan, status) must not change: the base dir (the manifest, the lock
/// files and every placed file, contents and modes) and the engine (containers with their
/// ids, starts and restart counts; networks; images).
pub fn host_state(tb: &Testbed, host: &str, base: &std::path::Path) -> String {
    let files = if base.exists() {
        format!("{:?}", super::snapshot(base))
    } else {
        "no base dir".into()
    };
    let (_, containers) = docker(tb, host, &["ps", "-aq", "--no-trunc"]);
    let mut engine = String::new();
    for id in containers.split_whitespace() {
        engine.push_str(
            &docker(
                tb,
                host,
                &[
                    "inspect",
                    "-f",
                    "{{.Id}} {{.Name}} {{.State.StartedAt}} {{.RestartCount}} {{.Config.Labels}}",
                    id,
                ],
            )
            .1,
        );
    }
    let networks = docker(tb, host, &["network", "ls", "-q", "--no-trunc"]).1;
    // Sorted: the engine lists images by creation time, in no fixed order for equal times.
    let mut images: Vec<String> = docker(tb, host, &["images", "-q", "--no-trunc"])
        .1
        .split_whitespace()
        .map(str::to_string)
        .collect();
    images.sort();
    format!("{files}\n{engine}\n{networks}\n{}", images.join("\n"))
}

/// Sets the group variable `var` of the fleet's inventory to `value`.
pub fn set(fleet: &Fleet, var: &str, value: &str) {
    let inventory = fleet.read("inventory/inventory.yml");
    let start = inventory
        .find(&format!("    {var}: "))
        .unwrap_or_else(|| panic!("{var} not in the inventory"));
    let end = start + inventory[start..].find('\n').expect("a line");
    let line = format!("    {var}: {value}");
    fleet.write(
        "inventory/inventory.yml",
        &format!("{}{line}{}", &inventory[..start], &inventory[end..]),
    );
}

/// Whether container `name` runs on `host`.
pub fn running(tb: &Testbed, host: &str, name: &str) -> bool {
    inspect(tb, host, name)["State"]["Running"].as_bool() == Some(true)
}

/// The names of the containers on `host` that carry `--nxinfra-`.
pub fn aside(tb: &Testbed, host: &str) -> Vec<String> {
    let (_, names) = docker(tb, host, &["ps", "-a", "--format", "{{.Names}}"]);
    names
        .lines()
        .filter(|n| n.contains("--nxinfra-"))
        .map(str::to_string)
        .collect()
}

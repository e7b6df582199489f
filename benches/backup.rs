//! `make bench`: `nxinfra backup run` of an 80 MiB SQL-like dump from a container on testbed
//! host h1 (real sshd and Docker 20.10 in a network namespace), against the plain pipeline an
//! operator would write: `ssh h1 docker exec db cat dump | gzip | age -r KEY > file`. Each is
//! its own process, timed with `wait4`: wall time, throughput, CPU, peak memory. nxinfra is
//! measured with the read-back (verify, needs the identity) and without it.
//!
//! Then to three destinations at once (this machine, testbed host h2 over SSH, an S3 bucket
//! of moto's server), against `ssh … | gzip | age | tee >(ssh h2 'cat > …') > file`; and the
//! same with a dump three times larger: the peak memory must not grow with the dump.

mod common;
#[path = "../tests/common/s3.rs"]
#[allow(dead_code)]
mod s3;

use std::path::PathBuf;
use std::process::Command;

use common::{cpus, measure, ms};

const BIN: &str = env!("CARGO_BIN_EXE_nxinfra");
const CONTAINER: &str = "nxbench-db";
const LINES: usize = 1_600_000;

fn main() {
    let state = PathBuf::from(std::env::var("NXTB_STATE").unwrap_or_else(|_| "/tmp/nxtb".into()));
    let Ok(env) = std::fs::read_to_string(state.join("env")) else {
        eprintln!("the backup benchmark needs the testbed: tests/testbed/testbed.sh up 6");
        std::process::exit(1);
    };
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(|v| v.trim_matches('\'').to_string())
            .unwrap_or_else(|| panic!("{name} in the testbed's env"))
    };
    let (ip, socket) = (var("NXTB_H1_IP"), var("NXTB_H1_DOCKER_SOCKET"));
    let docker = |args: &[&str]| {
        let out = Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{socket}"))
            .args(args)
            .output()
            .expect("docker");
        assert!(
            out.status.success() || args[0] == "rm",
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    docker(&["rm", "-f", CONTAINER]);
    docker(&[
        "run",
        "-d",
        "--name",
        CONTAINER,
        "nxtb-busybox:1",
        "sleep",
        "3600",
    ]);
    // A dump that looks like one: INSERT lines, each with its own numbers.
    docker(&[
        "exec",
        CONTAINER,
        "sh",
        "-c",
        &format!(
            "mkdir -p /data && seq 1 {LINES} | sed 's/.*/INSERT INTO t VALUES (&, '\\''row &'\\'', now());/' > /data/dump.sql"
        ),
    ]);
    let size: u64 = docker(&["exec", CONTAINER, "sh", "-c", "wc -c < /data/dump.sql"])
        .trim()
        .parse()
        .expect("dump size");

    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("fleet");
    let (identity, public) = nxinfra::secrets::age_file::generate_identity();
    let identity_file = dir.path().join("identity.txt");
    std::fs::write(&identity_file, identity).expect("identity");
    std::fs::create_dir_all(root.join("secrets")).expect("mkdir");
    std::fs::create_dir_all(root.join("inventory")).expect("mkdir");
    std::fs::write(root.join("secrets/recipients.txt"), format!("{public}\n")).expect("write");
    std::fs::write(
        root.join("inventory/inventory.yml"),
        format!(
            "bench:\n  hosts:\n    h1:\n      ansible_host: {ip}\n      ansible_user: nxtb\n      \
             nxinfra_docker_socket: {socket}\n  vars:\n    nxinfra_backups:\n      - name: db\n        \
             container: {CONTAINER}\n        command: cat /data/dump.sql\n        keep: 1\n"
        ),
    )
    .expect("write");
    let ssh_config = state.join("ssh_config");
    let nxinfra = |identity: &std::path::Path| {
        let mut c = Command::new(BIN);
        c.arg("--root")
            .arg(&root)
            .arg("--identity")
            .arg(identity)
            .args(["backup", "run", "--json", "--ssh-config"])
            .arg(&ssh_config);
        c
    };
    let no_identity = dir.path().join("none.txt");
    let out = dir.path().join("baseline.sql.gz.age");
    let baseline = || {
        let mut c = Command::new("bash");
        c.arg("-c").arg(format!(
            "set -eo pipefail; ssh -F '{}' h1 docker -H 'unix://{socket}' exec {CONTAINER} cat /data/dump.sql | gzip -c | age -r '{public}' > '{}'",
            ssh_config.display(),
            out.display()
        ));
        c
    };

    println!(
        "nxinfra backup benchmark: a {:.1} MiB dump from a container on testbed h1 (Docker 20.10, \
         {} CPUs), 3 runs each, medians",
        size as f64 / (1u64 << 20) as f64,
        cpus()
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "scenario", "wall ms", "MiB/s", "cpu ms", "peak MB", "stored MiB"
    );
    let row = |name: &str, m: &common::Measure, stored: u64| {
        println!(
            "{:<34} {:>9.0} {:>9.1} {:>9.0} {:>8.1} {:>10.1}",
            name,
            ms(m.wall),
            size as f64 / (1u64 << 20) as f64 / m.wall.as_secs_f64(),
            ms(m.cpu),
            m.peak_kb as f64 / 1024.0,
            stored as f64 / (1u64 << 20) as f64
        );
    };
    let stored_of = |m: &common::Measure| {
        let json: serde_json::Value = serde_json::from_str(&m.stdout).unwrap_or_default();
        json["hosts"][0]["backups"][0]["stored"]
            .as_u64()
            .unwrap_or_default()
    };
    let verified = measure(3, || nxinfra(&identity_file));
    row(
        "nxinfra backup run (read back)",
        &verified,
        stored_of(&verified),
    );
    let unverified = measure(3, || nxinfra(&no_identity));
    row(
        "nxinfra backup run (no identity)",
        &unverified,
        stored_of(&unverified),
    );
    let have_age = Command::new("age")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if have_age {
        let base = measure(3, baseline);
        row(
            "baseline: ssh docker exec|gzip|age",
            &base,
            std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0),
        );
        println!(
            "ratio nxinfra/baseline, wall: {:.2}x without the read-back, {:.2}x with it",
            unverified.wall.as_secs_f64() / base.wall.as_secs_f64(),
            verified.wall.as_secs_f64() / base.wall.as_secs_f64()
        );
    } else {
        println!("(age is not installed: no baseline; make test installs it)");
    }
    if have_age {
        several(&Several {
            state: &state,
            docker: &docker,
            dir: dir.path(),
            identity: &identity_file,
            public: &public,
            size,
        });
    }
    docker(&["rm", "-f", CONTAINER]);
}

struct Several<'a> {
    state: &'a std::path::Path,
    docker: &'a dyn Fn(&[&str]) -> String,
    dir: &'a std::path::Path,
    identity: &'a std::path::Path,
    public: &'a str,
    size: u64,
}

/// local + h2 + S3 at once, against the tee pipeline, at the dump's size and three times it.
fn several(b: &Several) {
    let Some(server) = s3::S3Server::start() else {
        println!("(moto's S3 server is not installed: tests/s3-server.sh install; no S3 rows)");
        return;
    };
    let env = std::fs::read_to_string(b.state.join("env")).expect("testbed env");
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(|v| v.trim_matches('\'').to_string())
            .unwrap_or_else(|| panic!("{name} in the testbed's env"))
    };
    let (ip1, socket, ip2) = (
        var("NXTB_H1_IP"),
        var("NXTB_H1_DOCKER_SOCKET"),
        var("NXTB_H2_IP"),
    );
    let root = b.dir.join("several");
    let remote = "/tmp/nxbench-backup-dest";
    let _ = std::fs::remove_dir_all(remote);
    std::fs::create_dir_all(root.join("secrets")).expect("mkdir");
    std::fs::create_dir_all(root.join("inventory")).expect("mkdir");
    std::fs::write(
        root.join("secrets/recipients.txt"),
        format!("{}\n", b.public),
    )
    .expect("write");
    nxinfra::secrets::store::write_age(
        &root,
        format!(
            "s3:\n  id: {}\n  key: {}\n",
            server.access_key, server.secret_key
        )
        .as_bytes(),
    )
    .expect("secrets");
    std::fs::write(
        root.join("inventory/inventory.yml"),
        format!(
            "bench:\n  hosts:\n    h1:\n      ansible_host: {ip1}\n      nxinfra_docker_socket: {socket}\n      \
             nxinfra_backups:\n        - name: db\n          container: {CONTAINER}\n          \
             command: cat /data/dump.sql\n          keep: 1\n          to:\n            - local\n            \
             - host: h2\n              dir: {remote}\n            - s3: {}\n              endpoint: {}\n              \
             access_key: s3.id\n              secret_key: s3.key\n    h2:\n      ansible_host: {ip2}\n  \
             vars:\n    ansible_user: nxtb\n",
            server.bucket, server.endpoint
        ),
    )
    .expect("write");
    let ssh_config = b.state.join("ssh_config");
    let nxinfra = || {
        let mut c = Command::new(BIN);
        c.arg("--root")
            .arg(&root)
            .arg("--identity")
            .arg(b.identity)
            .args(["backup", "run", "--json", "--ssh-config"])
            .arg(&ssh_config)
            .env("NO_PROXY", "127.0.0.1");
        c
    };
    let out = b.dir.join("tee.sql.gz.age");
    let tee = || {
        let mut c = Command::new("bash");
        c.arg("-c").arg(format!(
            "set -eo pipefail; ssh -F '{cfg}' h1 docker -H 'unix://{socket}' exec {CONTAINER} cat /data/dump.sql | gzip -c | age -r '{public}' | tee >(ssh -F '{cfg}' h2 'cat > {remote}-tee.gz.age') > '{out}'",
            cfg = ssh_config.display(),
            public = b.public,
            out = out.display()
        ));
        c
    };
    println!();
    println!(
        "{:<40} {:>9} {:>9} {:>9} {:>8}",
        "to local + h2 (ssh) + S3, dump size", "wall ms", "MiB/s", "cpu ms", "peak MB"
    );
    let mut peaks = Vec::new();
    let mut grown = 1;
    for factor in [1u64, 3, 9] {
        if factor > 1 {
            (b.docker)(&[
                "exec",
                CONTAINER,
                "sh",
                "-c",
                &format!(
                    "cp /data/dump.sql /data/one.sql && for i in $(seq 1 {}); do cat /data/one.sql >> /data/dump.sql; done && rm /data/one.sql",
                    factor / grown - 1
                ),
            ]);
        }
        grown = factor;
        let size = b.size * factor;
        let mib = size as f64 / (1u64 << 20) as f64;
        let row = |name: &str, m: &common::Measure| {
            println!(
                "{:<40} {:>9.0} {:>9.1} {:>9.0} {:>8.1}",
                name,
                ms(m.wall),
                mib / m.wall.as_secs_f64(),
                ms(m.cpu),
                m.peak_kb as f64 / 1024.0
            );
        };
        let ours = measure(3, nxinfra);
        let json: serde_json::Value = serde_json::from_str(&ours.stdout).unwrap_or_default();
        let failed = json["hosts"][0]["backups"][0]["destinations"]
            .as_array()
            .map(|d| d.iter().filter(|d| !d["error"].is_null()).count())
            .unwrap_or(99);
        assert_eq!(failed, 0, "a destination failed: {json}");
        row(&format!("nxinfra, {mib:.0} MiB (read back)"), &ours);
        let base = measure(3, tee);
        row(
            &format!("baseline: ssh|gzip|age|tee >(ssh h2), {mib:.0} MiB"),
            &base,
        );
        println!(
            "ratio nxinfra/baseline at {mib:.0} MiB, wall: {:.2}x (nxinfra also stores in S3 and reads back)",
            ours.wall.as_secs_f64() / base.wall.as_secs_f64()
        );
        peaks.push((mib, ours.peak_kb));
    }
    let line: Vec<String> = peaks
        .iter()
        .map(|(mib, kb)| format!("{:.1} MB at {mib:.0} MiB", *kb as f64 / 1024.0))
        .collect();
    println!(
        "peak memory of nxinfra: {} (bounded: the S3 upload holds at most {} parts of {} MiB)",
        line.join(", "),
        3,
        nxinfra::ops::backup::s3::PART >> 20
    );
    let _ = std::fs::remove_dir_all(remote);
    let _ = std::fs::remove_file(format!("{remote}-tee.gz.age"));
}

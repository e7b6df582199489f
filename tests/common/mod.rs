//! Shared helpers of the integration tests: a small fleet in a temporary folder, the nxinfra
//! binary, snapshots of trees.
#![allow(dead_code)]

pub mod engine;
pub mod faults;
pub mod registry;
pub mod s3;
pub mod shipped;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nxinfra::secrets::age_file;

/// The secret value planted in every test fleet; it must never appear in any output.
pub const SECRET: &str = "hunter2-Secret-Value";
pub const WG_KEY: &str = "eHjx7y7NPlZZ7EOsOPE4gEIRhEfYqgRdEbNeqDaa5XQ=";

pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub identity: PathBuf,
}

pub const INVENTORY: &str = "\
all:
  vars:
    asn: 215011
core:
  hosts:
    core1:
      ansible_host: core1.example.net
ixp:
  hosts:
    ixp1:
      tailnet: 100.64.0.1
    ixp2:
      tailnet: 100.64.0.2
  vars:
    role: ixp
";

pub const SECRETS: &str = "db:\n  user: app\n  password: hunter2-Secret-Value\n";

impl Fleet {
    /// A valid fleet: 3 hosts, shared and per-host templates, a partial, a binary file, secrets.
    pub fn new() -> Fleet {
        let dir = tempfile::tempdir().expect("tempdir");
        let fleet = Fleet {
            identity: dir.path().join("test-identity.key"),
            dir,
        };
        fleet.write("inventory/inventory.yml", INVENTORY);
        fleet.write(
            "templates/config/core/core1/app/app.conf.j2",
            "# {{ inventory_hostname }} AS{{ asn }}\nuser={{ db.user }}\npassword={{ secrets.db.password }}\n",
        );
        fleet.write(
            "templates/config/core/core1/app/peers.conf.j2",
            "{% for h in groups.ixp %}\npeer {{ h }} {{ hostvars[h].tailnet }}\n{% endfor %}\n",
        );
        fleet.write(
            "templates/config/ixp/bird/bird.conf.j2",
            "{% import 'partials/bird.j2' as bird %}\nrouter id {{ tailnet }};\n{{ bird.proto(role) }}\n",
        );
        fleet.write(
            "templates/partials/bird.j2",
            "{% macro proto(name) %}protocol device {{ name | upper }} {}{% endmacro %}\n",
        );
        fleet.write(
            "templates/config/ixp/run.sh.j2",
            "#!/bin/sh\necho {{ role }}\n",
        );
        fleet.write_bytes(
            "templates/config/ixp/blob.bin",
            &[0, 159, 146, 150, 255, 10],
        );
        let (identity, public) = age_file::generate_identity();
        fleet.write("test-identity.key", &identity);
        fleet.write("secrets/recipients.txt", &format!("# test\n{public}\n"));
        fleet.set_secrets(SECRETS);
        fleet
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        self.write_bytes(rel, text.as_bytes());
    }

    pub fn write_bytes(&self, rel: &str, data: &[u8]) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, data).expect("write");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Encrypts `yaml` (any text, valid or not) as the fleet's secrets file.
    pub fn set_secrets(&self, yaml: &str) {
        let recipients =
            age_file::read_recipients(&self.path("secrets/recipients.txt")).expect("recipients");
        let armored = age_file::encrypt(yaml.as_bytes(), &recipients).expect("encrypt");
        self.write("secrets/secrets.yml.age", &armored);
    }

    /// `nxinfra ARGS` in the fleet's root with the fleet's identity, no inherited config.
    pub fn nxinfra(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run nxinfra")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.current_dir(self.root())
            .env_remove("NXINFRA_ROOT")
            .env_remove("NXINFRA_VAULT_PASSWORD_FILE")
            .env("HOME", self.root().join("home"))
            .env_remove("XDG_CONFIG_HOME")
            .env("NXINFRA_AGE_KEY_FILE", &self.identity)
            .env("USER", "operator")
            .args(args);
        cmd
    }
}

/// The nxinfra binary the tests run: `$NXINFRA_BIN`, which `make test` sets to the release
/// build it makes first (the binary users run: minijinja, for one, behaves differently without
/// debug assertions). Under `CI=true` it must be set; elsewhere, without it, the debug build
/// cargo made for these tests is used, and the first use says so.
pub fn bin() -> PathBuf {
    static NOTE: std::sync::Once = std::sync::Once::new();
    match std::env::var_os("NXINFRA_BIN").filter(|v| !v.is_empty()) {
        Some(path) => {
            // Relative to the package (cargo runs the tests there), not to a fleet's folder.
            std::fs::canonicalize(&path)
                .ok()
                .filter(|p| p.is_file())
                .unwrap_or_else(|| {
                    panic!(
                        "NXINFRA_BIN={} is not a file: build it (`cargo build --release --locked`) or unset it",
                        Path::new(&path).display()
                    )
                })
        }
        None => {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "NXINFRA_BIN is not set: under CI=true the tests run the release binary; \
                 run them with `make test`, or set NXINFRA_BIN=target/release/nxinfra after \
                 `cargo build --release --locked`"
            );
            NOTE.call_once(|| {
                eprintln!(
                    "note: NXINFRA_BIN is not set: testing the debug build {}; `make test` \
                     tests the release binary",
                    env!("CARGO_BIN_EXE_nxinfra")
                )
            });
            PathBuf::from(env!("CARGO_BIN_EXE_nxinfra"))
        }
    }
}

/// stdout and stderr of a run, as text.
pub fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file under `dir`: relative path → bytes and mode.
pub fn snapshot(dir: &Path) -> BTreeMap<String, nxinfra::model::tree::OutFile> {
    nxinfra::render::output::read_tree(dir).expect("read tree")
}

/// Runs `cmd` with `input` on its stdin.
pub fn run_with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// Files or folders left over from a staging render at the fleet's root (the render lock's
/// file, `.nxinfra-render.lock`, stays by design: it is empty when no render runs).
pub fn leftovers(root: &Path) -> Vec<String> {
    std::fs::read_dir(root)
        .expect("read root")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".nxinfra") && n != nxinfra::render::lock::LOCK_FILE)
        .collect()
}

/// `git -C DIR ARGS` (as user t), which must succeed; its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.net"])
        .args(args)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", texts(&out).1);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether an external tool is available. Missing: under `CI=true` the test fails (a CI run must
/// never skip silently); elsewhere the test prints why and is skipped.
pub fn require_tool(tool: &str, package: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let message = format!(
            "{tool} is missing: install it with `apt-get install -y --no-install-recommends {package}` (make test does)"
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message}");
        }
        eprintln!("SKIPPED: {message}");
    }
    found
}

/// The running testbed (`tests/testbed/testbed.sh up`), from `$NXTB_STATE/env`.
pub struct Testbed {
    pub state: PathBuf,
    /// (name, IPv4 address) of every host.
    pub hosts: Vec<(String, String)>,
    pub ssh_config: PathBuf,
}

impl Testbed {
    /// The testbed, or `None` (test skipped) when it is not up. Under `CI=true` a missing
    /// testbed fails the test: `make test` brings it up.
    pub fn get() -> Option<Testbed> {
        let state =
            PathBuf::from(std::env::var("NXTB_STATE").unwrap_or_else(|_| "/tmp/nxtb".into()));
        let env = std::fs::read_to_string(state.join("env")).ok();
        let Some(env) = env else {
            let message = format!(
                "the testbed is not up ({} missing): run `tests/testbed/testbed.sh up` (make test does)",
                state.join("env").display()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{message}");
            }
            eprintln!("SKIPPED: {message}");
            return None;
        };
        let var = |name: &str| -> Option<String> {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(|v| v.trim_matches('\'').to_string())
        };
        let hosts = var("NXTB_HOSTS")
            .unwrap_or_default()
            .split_whitespace()
            .map(|h| {
                let ip = var(&format!("NXTB_{}_IP", h.to_uppercase())).expect("host ip");
                (h.to_string(), ip)
            })
            .collect();
        Some(Testbed {
            ssh_config: state.join("ssh_config"),
            state,
            hosts,
        })
    }

    /// The IPv4 address of testbed host `host`.
    pub fn ip(&self, host: &str) -> &str {
        &self
            .hosts
            .iter()
            .find(|(h, _)| h == host)
            .unwrap_or_else(|| panic!("{host} is not a testbed host"))
            .1
    }

    /// The base dir a test uses on `host`: its own folder, so tests can run in parallel.
    pub fn base_dir(&self, host: &str, test: &str) -> PathBuf {
        self.state.join(host).join("home").join(test)
    }

    /// The engine socket of `host` (the same path on the host and here: the testbed's hosts
    /// share this machine's file system).
    pub fn docker_socket(&self, host: &str) -> PathBuf {
        self.state.join(host).join("run/docker.sock")
    }

    /// `tests/testbed/testbed.sh ARGS` on this testbed.
    pub fn control(&self, args: &[&str]) -> Output {
        Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/testbed/testbed.sh"
        ))
        .args(args)
        .env("NXTB_STATE", &self.state)
        .output()
        .expect("run testbed.sh")
    }

    /// An inventory of the testbed hosts (group `testbed`) with per-test base dirs.
    pub fn inventory(&self, test: &str, extra_hosts: &str) -> String {
        let mut out = String::from("testbed:\n  hosts:\n");
        for (host, ip) in &self.hosts {
            out.push_str(&format!(
                "    {host}:\n      ansible_host: {ip}\n      nxinfra_base_dir: {}\n",
                self.base_dir(host, test).display()
            ));
        }
        out.push_str(extra_hosts);
        out.push_str("  vars:\n    ansible_user: nxtb\n");
        out
    }
}

/// A testbed host whose daemon (`sshd` or `engine`) is stopped (`testbed.sh stop-DAEMON`)
/// until [`Down::start`] or drop: a failing test still leaves the host up for the others.
pub struct Down<'a> {
    tb: &'a Testbed,
    daemon: &'static str,
    host: &'a str,
    down: bool,
}

impl<'a> Down<'a> {
    pub fn stop(tb: &'a Testbed, daemon: &'static str, host: &'a str) -> Down<'a> {
        let mut guard = Down {
            tb,
            daemon,
            host,
            down: true,
        };
        let out = tb.control(&[&format!("stop-{daemon}"), host]);
        if !out.status.success() {
            guard.start();
            panic!("stop-{daemon} {host}: {}", texts(&out).1);
        }
        guard
    }

    pub fn start(&mut self) {
        let out = self
            .tb
            .control(&[&format!("start-{}", self.daemon), self.host]);
        self.down = false;
        assert!(
            out.status.success(),
            "start-{} {}: {}",
            self.daemon,
            self.host,
            texts(&out).1
        );
    }
}

impl Drop for Down<'_> {
    fn drop(&mut self) {
        if self.down {
            let out = self
                .tb
                .control(&[&format!("start-{}", self.daemon), self.host]);
            if !out.status.success() {
                eprintln!(
                    "start-{} {} failed: {}",
                    self.daemon,
                    self.host,
                    texts(&out).1
                );
            }
        }
    }
}

/// Fails the test unless `json` is valid under the JSON Schema in `docs/SCHEMA` (the documented
/// output of `--json`); `docs/SCHEMA#DEF` names one of its `$defs` (the output of another
/// command that shares its definitions: `plan.schema.json#apply`).
pub fn assert_schema(json: &serde_json::Value, schema: &str) {
    let (file, def) = schema
        .split_once('#')
        .map_or((schema, None), |(f, d)| (f, Some(d)));
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(file);
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read the schema"))
            .expect("the schema is JSON");
    if let Some(def) = def {
        assert!(
            schema["$defs"].get(def).is_some(),
            "{file} has no $defs/{def}"
        );
        schema = serde_json::json!({"$defs": schema["$defs"], "$ref": format!("#/$defs/{def}")});
    }
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(json)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not the schema of {}: {errors:?}\n{json}",
        path.display()
    );
}

/// `(host, status)` of every host of a `--json` report.
pub fn host_statuses(json: &serde_json::Value) -> Vec<(String, String)> {
    json["hosts"]
        .as_array()
        .map(|hosts| {
            hosts
                .iter()
                .map(|h| {
                    let text = |k: &str| h[k].as_str().unwrap_or_default().to_string();
                    (text("host"), text("status"))
                })
                .collect()
        })
        .unwrap_or_default()
}

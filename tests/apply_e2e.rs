//! `nxinfra apply` end to end on the testbed's real Docker engines (Docker 20.10, API 1.41),
//! reached through each host's SSH connection. Services are busybox: httpd with a real
//! healthcheck, and sleepers.

mod common;

use std::process::Command;

use common::{Fleet, Testbed, texts};

const COMPOSE: &str = r#"services:
  web:
    image: nxtb-app:1
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    environment:
      MODE: "{{ mode }}"
      DB_PASSWORD: "{{ db.password }}"
    networks:
      front: {}
    volumes:
      - {{ nxinfra_base_dir }}/web/www:/www:ro
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/{{ health_path }}"]
      interval: 1s
      timeout: 1s
      retries: 2
  worker:
    image: nxtb-app:1
    command: ["sleep", "3600"]
    depends_on: [web]
    networks:
      front:
        ipv4_address: 172.31.{{ subnet }}.20
    volumes:
      - {{ nxinfra_base_dir }}/worker/conf:/conf:ro
    stop_grace_period: 1s
{% if with_extra %}
  extra:
    image: nxtb-app:1
    command: ["sleep", "3600"]
    network_mode: none
    stop_grace_period: 1s
{% endif %}
networks:
  front:
    ipam:
      config:
        - subnet: 172.31.{{ subnet }}.0/24
"#;

/// A fleet of one testbed host with the compose file above; `vars` are extra host vars.
fn fleet(tb: &Testbed, host: &str, test: &str, vars: &str) -> Fleet {
    let fleet = Fleet::new();
    std::fs::remove_dir_all(fleet.path("templates")).unwrap();
    let ip = &tb.hosts.iter().find(|(h, _)| h == host).unwrap().1;
    let base = tb.base_dir(host, test);
    let _ = std::fs::remove_dir_all(&base);
    fleet.write(
        "inventory/inventory.yml",
        &format!(
            "testbed:\n  hosts:\n    {host}:\n      ansible_host: {ip}\n      \
             nxinfra_base_dir: {}\n      nxinfra_docker_socket: {}\n{vars}  vars:\n    \
             ansible_user: nxtb\n    mode: one\n    health_path: index.html\n    \
             with_extra: false\n    subnet: {}\n",
            base.display(),
            tb.state.join(host).join("run/docker.sock").display(),
            &host[1..],
        ),
    );
    fleet.write("templates/config/testbed/compose.yml.j2", COMPOSE);
    fleet.write("templates/config/testbed/web/www/index.html", "hello\n");
    fleet.write("templates/config/testbed/worker/conf/worker.conf", "v=1\n");
    fleet
}

fn docker(tb: &Testbed, host: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .arg("-H")
        .arg(format!(
            "unix://{}",
            tb.state.join(host).join("run/docker.sock").display()
        ))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string()
            + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Removes what an earlier run of a test left on `host`'s engine.
fn clean_engine(tb: &Testbed, host: &str) {
    let (_, ids) = docker(tb, host, &["ps", "-aq"]);
    for id in ids.split_whitespace() {
        docker(tb, host, &["rm", "-f", id]);
    }
    docker(tb, host, &["network", "rm", "front"]);
    docker(tb, host, &["tag", "nxtb-busybox:1", "nxtb-app:1"]);
}

fn apply(fleet: &Fleet, tb: &Testbed, args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let mut all = vec![
        "apply",
        "--json",
        "--ssh-config",
        tb.ssh_config.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = fleet.nxinfra(&all);
    let (stdout, stderr) = texts(&out);
    assert!(
        !stdout.contains(common::SECRET) && !stderr.contains(common::SECRET),
        "a secret was printed:\n{stdout}\n{stderr}"
    );
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), json, stderr)
}

/// `name=action (reasons)` of every container step of the first host.
fn steps(json: &serde_json::Value) -> Vec<String> {
    json["hosts"][0]["containers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    let reasons: Vec<&str> = c["reasons"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap())
                        .collect();
                    format!(
                        "{}={} {}",
                        c["name"].as_str().unwrap(),
                        c["action"].as_str().unwrap(),
                        reasons.join("; ")
                    )
                    .trim_end()
                    .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn id(tb: &Testbed, host: &str, name: &str) -> String {
    docker(tb, host, &["inspect", "-f", "{{.Id}}", name]).1
}

#[test]
fn apply_creates_then_changes_exactly_what_changed_and_never_touches_the_rest() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h1", "apply-main");
    clean_engine(&tb, host);
    let fleet = fleet(&tb, host, test, "");
    // Someone else's container on the same engine.
    let (ok, out) = docker(
        &tb,
        host,
        &[
            "run",
            "-d",
            "--name",
            "foreign",
            "nxtb-busybox:1",
            "sleep",
            "3600",
        ],
    );
    assert!(ok, "{out}");

    // First apply: the network and both containers, in dependency order, healthy.
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    assert_eq!(
        steps(&json),
        ["web=create new service", "worker=create new service"]
    );
    assert_eq!(json["hosts"][0]["networks"][0]["action"], "create");
    assert_eq!(
        docker(
            &tb,
            host,
            &["inspect", "-f", "{{.State.Health.Status}}", "web"]
        )
        .1,
        "healthy"
    );
    let (web, worker) = (id(&tb, host, "web"), id(&tb, host, "worker"));

    // Nothing changed: nothing touched, and no write call to the engine at all.
    let (code, json, _) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(json["hosts"][0]["status"], "unchanged", "{json}");
    assert_eq!(json["hosts"][0]["api_calls"]["writes"], 0, "{json}");
    assert_eq!(json["hosts"][0]["api_calls"]["reads"], 3, "{json}");
    assert_eq!(json["hosts"][0]["api_version"], "1.41");

    // An environment variable: web only.
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace("mode: one", "mode: two"),
    );
    let (code, json, _) = apply(&fleet, &tb, &["--dry-run"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        steps(&json),
        ["web=recreate environment changed", "worker=unchanged"]
    );
    assert_eq!(id(&tb, host, "web"), web, "a dry run changes nothing");
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    assert_ne!(id(&tb, host, "web"), web);
    assert_eq!(id(&tb, host, "worker"), worker);
    let web = id(&tb, host, "web");
    assert!(
        docker(&tb, host, &["inspect", "-f", "{{.Config.Env}}", "web"])
            .1
            .contains("MODE=two")
    );

    // A mounted file: the container that mounts it, only.
    fleet.write("templates/config/testbed/worker/conf/worker.conf", "v=2\n");
    let (code, json, _) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        steps(&json),
        [
            "web=unchanged",
            "worker=recreate mount content changed: worker/conf"
        ]
    );
    assert_eq!(id(&tb, host, "web"), web);
    assert_ne!(id(&tb, host, "worker"), worker);
    let (_, conf) = docker(&tb, host, &["exec", "worker", "cat", "/conf/worker.conf"]);
    assert_eq!(conf.trim(), "v=2");

    // A new image id behind the same tag: both.
    let (ok, out) = docker(&tb, host, &["commit", "foreign", "nxtb-app:1"]);
    assert!(ok, "{out}");
    let (code, json, _) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        steps(&json),
        [
            "web=recreate image changed (another image id)",
            "worker=recreate image changed (another image id)"
        ]
    );

    // A service added, then removed: its container goes; someone else's stays.
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace("with_extra: false", "with_extra: true"),
    );
    let (code, json, _) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0));
    assert!(steps(&json).contains(&"extra=create new service".to_string()));
    fleet.write("inventory/inventory.yml", &inventory);
    let (code, json, _) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0));
    assert!(steps(&json).contains(&"extra=remove no longer in compose.yml".to_string()));
    assert!(!docker(&tb, host, &["inspect", "extra"]).0, "removed");
    assert_eq!(
        docker(
            &tb,
            host,
            &["inspect", "-f", "{{.State.Running}}", "foreign"]
        )
        .1,
        "true",
        "never touched"
    );
    clean_engine(&tb, host);
}

#[test]
fn an_update_that_fails_its_healthcheck_is_rolled_back() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h2", "apply-rollback");
    clean_engine(&tb, host);
    let fleet = fleet(&tb, host, test, "");
    let (code, _, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let web = id(&tb, host, "web");
    // The new web would answer 404 on its health path: it never becomes healthy.
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace("health_path: index.html", "health_path: missing.html"),
    );
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{stderr}\n{json}");
    let error = json["hosts"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("web") && error.contains("restored") && error.contains("unhealthy"),
        "{error}"
    );
    // The previous container is back under its name, and still answers.
    assert_eq!(id(&tb, host, "web"), web);
    let (ok, out) = docker(
        &tb,
        host,
        &[
            "exec",
            "web",
            "wget",
            "-q",
            "-O",
            "-",
            "http://127.0.0.1:8080/index.html",
        ],
    );
    assert!(ok && out.contains("hello"), "{out}");
    assert!(!docker(&tb, host, &["inspect", "web--nxinfra-new"]).0);
    clean_engine(&tb, host);
}

#[test]
fn one_engine_down_fails_its_host_alone() {
    let Some(tb) = Testbed::get() else { return };
    let test = "apply-down";
    clean_engine(&tb, "h5");
    // h6's engine socket points nowhere, as when its dockerd is stopped.
    let ghost = format!(
        "    h6:\n      ansible_host: {}\n      nxinfra_base_dir: {}\n      \
         nxinfra_docker_socket: /nonexistent/docker.sock\n",
        tb.hosts[5].1,
        tb.base_dir("h6", test).display()
    );
    let fleet = fleet(&tb, "h5", test, &ghost);
    let out = fleet.nxinfra(&[
        "apply",
        "--json",
        "--ssh-config",
        tb.ssh_config.to_str().unwrap(),
    ]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let status = |i: usize| {
        json["hosts"][i]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        (status(0), status(1)),
        ("changed".into(), "failed".into()),
        "{json}"
    );
    assert!(
        stderr.contains("apply failed on 1 of 2 hosts: h6"),
        "{stderr}"
    );
    assert_eq!(
        docker(&tb, "h5", &["inspect", "-f", "{{.State.Running}}", "web"]).1,
        "true"
    );
    clean_engine(&tb, "h5");
}

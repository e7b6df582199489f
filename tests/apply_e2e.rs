//! `nxinfra apply` end to end on the testbed's real Docker engines (Docker 20.10, API 1.41),
//! reached through each host's SSH connection. Services are busybox: httpd with a real
//! healthcheck, and sleepers.

mod common;

use common::engine::{self, applied, apply, docker, id, steps};
use common::{Down, Fleet, Testbed, texts};

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
  # A fixed address: the old container steps aside before the new one starts.
  pinned:
    image: nxtb-app:1
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    networks:
      front:
        ipv4_address: 172.31.{{ subnet }}.30
    volumes:
      - {{ nxinfra_base_dir }}/web/www:/www:ro
      - {{ nxinfra_base_dir }}/pinned/conf:/conf:ro
    healthcheck:
      test: ["CMD", "sh", "-c", "test -e /conf/ok && wget -q -O /dev/null http://127.0.0.1:8080/{{ pinned_health }}"]
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
    driver_opts:
      com.docker.network.driver.mtu: "{{ mtu }}"
    ipam:
      config:
        - subnet: 172.31.{{ subnet }}.0/24
"#;

const VARS: &str = "    mode: one\n    health_path: index.html\n    pinned_health: index.html\n    \
                    with_extra: false\n    mtu: 1500\n";

/// A fleet of one testbed host with the compose file above; `host_vars` go to the host.
fn fleet(tb: &Testbed, host: &str, test: &str, more_hosts: &str) -> Fleet {
    let vars = format!("{VARS}    subnet: {}\n", &host[1..]);
    let fleet = engine::fleet_with_hosts(tb, host, test, COMPOSE, &vars, more_hosts);
    fleet.write("templates/config/testbed/web/www/index.html", "hello\n");
    fleet.write("templates/config/testbed/worker/conf/worker.conf", "v=1\n");
    fleet.write("templates/config/testbed/pinned/conf/ok", "yes\n");
    fleet
}

fn clean_engine(tb: &Testbed, host: &str) {
    engine::clean_engine(tb, host, &["front"]);
}

/// Replaces `from` by `to` in the fleet's inventory (a group variable's new value).
fn set_var(fleet: &Fleet, from: &str, to: &str) {
    let inventory = fleet.read("inventory/inventory.yml");
    assert!(inventory.contains(from), "{from} not in the inventory");
    fleet.write("inventory/inventory.yml", &inventory.replacen(from, to, 1));
}

/// Applies `fleet`, which must fail (exit 1) on its one host: that host's error, and stderr.
fn apply_fails(fleet: &Fleet, tb: &Testbed) -> (String, String) {
    let (code, json, stderr) = apply(fleet, tb, &[]);
    assert_eq!(code, Some(1), "{stderr}\n{json}");
    let error = json["hosts"][0]["error"].as_str().unwrap_or_default();
    (error.to_string(), stderr)
}

/// The inventory lines of testbed host `host` as a second host of a test's fleet, its base
/// dir emptied.
fn second_host(tb: &Testbed, host: &str, test: &str) -> String {
    let _ = std::fs::remove_dir_all(tb.base_dir(host, test));
    let ip = tb.ip(host);
    format!(
        "    {host}:\n      ansible_host: {ip}\n      nxinfra_base_dir: {}\n      \
         nxinfra_docker_socket: {}\n",
        tb.base_dir(host, test).display(),
        tb.docker_socket(host).display()
    )
}

/// `docker inspect -f FORMAT NAME` on `host`.
fn field(tb: &Testbed, host: &str, name: &str, format: &str) -> String {
    docker(tb, host, &["inspect", "-f", format, name]).1
}

/// Fetches `path` from the httpd in container `name`, from inside it.
fn answers(tb: &Testbed, host: &str, name: &str, path: &str) -> String {
    let url = format!("http://127.0.0.1:8080/{path}");
    let (ok, out) = docker(tb, host, &["exec", name, "wget", "-q", "-O", "-", &url]);
    assert!(ok, "{name} does not answer: {out}");
    out
}

#[test]
fn apply_creates_then_changes_exactly_what_changed_and_never_touches_the_rest() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h1", "apply-main");
    clean_engine(&tb, host);
    let fleet = fleet(&tb, host, test, "");
    // Someone else's container on the same engine.
    engine::run_sleeper(&tb, host, "foreign", "nxtb-busybox:1", &[]);

    // First apply: the network and the containers, in dependency order, healthy.
    let json = applied(&fleet, &tb);
    assert_eq!(
        steps(&json),
        [
            "pinned=create new service",
            "web=create new service",
            "worker=create new service"
        ]
    );
    assert_eq!(engine::network_steps(&json), ["front=create new network"]);
    for name in ["web", "pinned"] {
        assert_eq!(
            field(&tb, host, name, "{{.State.Health.Status}}"),
            "healthy"
        );
    }
    for (name, label) in [
        ("web", "nxinfra.managed"),
        ("web", "nxinfra.hash"),
        ("worker", "nxinfra.service"),
    ] {
        let value = field(
            &tb,
            host,
            name,
            &format!("{{{{index .Config.Labels \"{label}\"}}}}"),
        );
        assert!(!value.is_empty() && value != "<no value>", "{name} {label}");
    }
    let image = field(&tb, host, "web", "{{.Image}}");
    assert_eq!(
        field(
            &tb,
            host,
            "web",
            "{{index .Config.Labels \"nxinfra.image\"}}"
        ),
        image,
        "the image id that ran is recorded"
    );
    let (web, worker, pinned) = (
        id(&tb, host, "web"),
        id(&tb, host, "worker"),
        id(&tb, host, "pinned"),
    );

    // Nothing changed: nothing touched, and no write call to the engine at all.
    let json = applied(&fleet, &tb);
    assert_eq!(json["hosts"][0]["status"], "unchanged", "{json}");
    assert_eq!(json["hosts"][0]["api_calls"]["writes"], 0, "{json}");
    assert_eq!(json["hosts"][0]["api_calls"]["reads"], 3, "{json}");
    assert_eq!(json["hosts"][0]["api_version"], "1.41");

    // An environment variable: web only.
    set_var(&fleet, "mode: one", "mode: two");
    let (code, json, _) = apply(&fleet, &tb, &["--dry-run", "--diff"]);
    assert_eq!(code, Some(2));
    // compose.yml holds a secret (DB_PASSWORD): its diff shows no content (and `apply`
    // checks that the secret appears nowhere in the output).
    let diff = json["hosts"][0]["diff"].as_str().unwrap_or_default();
    assert!(diff.contains("compose.yml"), "{json}");
    assert_eq!(
        steps(&json),
        [
            "pinned=unchanged",
            "web=recreate environment changed",
            "worker=unchanged"
        ]
    );
    assert_eq!(json["hosts"][0]["api_calls"]["writes"], 0, "{json}");
    assert_eq!(id(&tb, host, "web"), web, "a dry run changes nothing");
    applied(&fleet, &tb);
    assert_ne!(id(&tb, host, "web"), web);
    assert_eq!(
        (id(&tb, host, "worker"), id(&tb, host, "pinned")),
        (worker.clone(), pinned.clone())
    );
    let web = id(&tb, host, "web");
    assert!(field(&tb, host, "web", "{{.Config.Env}}").contains("MODE=two"));

    // A mounted file: the container that mounts it, only.
    fleet.write("templates/config/testbed/worker/conf/worker.conf", "v=2\n");
    let json = applied(&fleet, &tb);
    assert_eq!(
        steps(&json),
        [
            "pinned=unchanged",
            "web=unchanged",
            "worker=recreate mount content changed: worker/conf"
        ]
    );
    assert_eq!(
        (id(&tb, host, "web"), id(&tb, host, "pinned")),
        (web, pinned)
    );
    assert_ne!(id(&tb, host, "worker"), worker);
    let (_, conf) = docker(&tb, host, &["exec", "worker", "cat", "/conf/worker.conf"]);
    assert_eq!(conf.trim(), "v=2");
    assert_eq!(
        field(
            &tb,
            host,
            "worker",
            "{{.NetworkSettings.Networks.front.IPAddress}}"
        ),
        format!("172.31.{}.20", &host[1..]),
        "the recreated container has its fixed address"
    );

    // A file mounted by two services: both.
    fleet.write(
        "templates/config/testbed/web/www/index.html",
        "hello again\n",
    );
    let json = applied(&fleet, &tb);
    assert_eq!(
        steps(&json),
        [
            "pinned=recreate mount content changed: web/www",
            "web=recreate mount content changed: web/www",
            "worker=unchanged"
        ]
    );
    assert_eq!(answers(&tb, host, "pinned", "index.html"), "hello again");

    // A new image id behind the same tag: every service of that image.
    let rootfs = tb.state.join("image/rootfs.tar");
    let (ok, out) = docker(
        &tb,
        host,
        &[
            "import",
            "-c",
            "ENV PATH=/bin",
            "-c",
            "ENV REVISION=2",
            rootfs.to_str().unwrap(),
            "nxtb-app:1",
        ],
    );
    assert!(ok, "{out}");
    let json = applied(&fleet, &tb);
    assert_eq!(
        steps(&json),
        [
            "pinned=recreate image changed (another image id)",
            "web=recreate image changed (another image id)",
            "worker=recreate image changed (another image id)"
        ]
    );

    // The network's settings: it is recreated, and so is every container on it.
    set_var(&fleet, "mtu: 1500", "mtu: 1400");
    let json = applied(&fleet, &tb);
    let networks = engine::network_steps(&json);
    assert_eq!(networks.len(), 1);
    assert!(
        networks[0].starts_with("front=recreate settings changed: ")
            && networks[0].contains("com.docker.network.driver.mtu"),
        "{networks:?}"
    );
    assert_eq!(
        steps(&json),
        [
            "pinned=recreate network front is recreated",
            "web=recreate network front is recreated",
            "worker=recreate network front is recreated"
        ]
    );
    assert_eq!(
        docker(
            &tb,
            host,
            &[
                "network",
                "inspect",
                "-f",
                "{{index .Options \"com.docker.network.driver.mtu\"}}",
                "front"
            ]
        )
        .1,
        "1400"
    );
    assert_eq!(field(&tb, host, "worker", "{{.State.Running}}"), "true");
    let (code, json, _) = apply(&fleet, &tb, &[]);
    assert_eq!(
        (code, json["hosts"][0]["status"].as_str()),
        (Some(0), Some("unchanged")),
        "{json}"
    );

    // A service added, then removed: its container goes; someone else's stays.
    set_var(&fleet, "with_extra: false", "with_extra: true");
    let json = applied(&fleet, &tb);
    assert!(steps(&json).contains(&"extra=create new service".to_string()));
    set_var(&fleet, "with_extra: true", "with_extra: false");
    let json = applied(&fleet, &tb);
    assert!(steps(&json).contains(&"extra=remove no longer in compose.yml".to_string()));
    assert!(engine::inspect(&tb, host, "extra").is_null(), "removed");
    assert_eq!(
        field(&tb, host, "foreign", "{{.State.Running}}"),
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
    let (web, pinned) = (id(&tb, host, "web"), id(&tb, host, "pinned"));

    // Side by side (web has no fixed address): the new web would answer 404 on its health
    // path, it never becomes healthy, and the old one never stopped.
    set_var(
        &fleet,
        "health_path: index.html",
        "health_path: missing.html",
    );
    let (error, stderr) = apply_fails(&fleet, &tb);
    assert!(
        error.contains("web")
            && error.contains("restored")
            && error.contains("unhealthy")
            && error.contains("404"),
        "the error names the service and gives the healthcheck's output: {error}"
    );
    assert!(
        stderr.contains("apply failed on 1 of 1 hosts: h2"),
        "{stderr}"
    );
    assert_eq!(id(&tb, host, "web"), web, "the previous container is back");
    assert_eq!(answers(&tb, host, "web", "index.html"), "hello");
    assert!(engine::inspect(&tb, host, "web--nxinfra-new").is_null());
    // pinned comes after web in start order: never reached.
    assert_eq!(id(&tb, host, "pinned"), pinned);
    set_var(
        &fleet,
        "health_path: missing.html",
        "health_path: index.html",
    );

    // Old one first (pinned has a fixed address): it is stopped, the new one fails, and the
    // old one gets its name and its address back and runs again.
    set_var(
        &fleet,
        "pinned_health: index.html",
        "pinned_health: missing.html",
    );
    let (error, _) = apply_fails(&fleet, &tb);
    assert!(
        error.contains("pinned") && error.contains("restored") && error.contains("404"),
        "{error}"
    );
    assert_eq!(
        id(&tb, host, "pinned"),
        pinned,
        "the previous container is back"
    );
    assert_eq!(field(&tb, host, "pinned", "{{.State.Running}}"), "true");
    assert_eq!(
        field(
            &tb,
            host,
            "pinned",
            "{{.NetworkSettings.Networks.front.IPAddress}}"
        ),
        format!("172.31.{}.30", &host[1..])
    );
    assert_eq!(answers(&tb, host, "pinned", "index.html"), "hello");
    assert!(engine::inspect(&tb, host, "pinned--nxinfra-old").is_null());
    assert_eq!(id(&tb, host, "web"), web, "web was not touched");

    // Fixed, the next apply converges: the files go back (compose.yml), no container moves.
    set_var(
        &fleet,
        "pinned_health: missing.html",
        "pinned_health: index.html",
    );
    let json = applied(&fleet, &tb);
    assert_eq!(
        steps(&json),
        ["pinned=unchanged", "web=unchanged", "worker=unchanged"]
    );
    assert_eq!(json["hosts"][0]["api_calls"]["writes"], 0, "{json}");

    // What a run killed halfway through a replacement leaves (the new container, named
    // aside) is removed by the next one.
    engine::run_sleeper(
        &tb,
        host,
        "web--nxinfra-new",
        "nxtb-app:1",
        &["nxinfra.managed=true", "nxinfra.service=web"],
    );
    let json = applied(&fleet, &tb);
    assert_eq!(
        steps(&json),
        [
            "web--nxinfra-new=remove left by an interrupted apply: it never replaced web, which is kept",
            "pinned=unchanged",
            "web=unchanged",
            "worker=unchanged",
        ]
    );
    assert!(engine::inspect(&tb, host, "web--nxinfra-new").is_null());
    assert_eq!(id(&tb, host, "web"), web);

    // A broken config file (pinned's /conf/ok gone, a new file instead): the new container
    // fails, and the previous one must not come back reading the broken files. They are put
    // back as they were, and it is started again with them.
    let conf = "templates/config/testbed/pinned/conf";
    std::fs::remove_file(fleet.path(&format!("{conf}/ok"))).unwrap();
    fleet.write(&format!("{conf}/note"), "new\n");
    let (error, _) = apply_fails(&fleet, &tb);
    assert!(
        error.contains("pinned: the new container did not become healthy")
            && error.contains("restored")
            && error
                .ends_with("; the previous files were put back (pinned/conf/note, pinned/conf/ok)"),
        "{error}"
    );
    assert_eq!(id(&tb, host, "pinned"), pinned);
    assert_eq!(
        field(&tb, host, "pinned", "{{.State.Health.Status}}"),
        "healthy"
    );
    let (_, files) = docker(&tb, host, &["exec", "pinned", "ls", "/conf"]);
    assert_eq!(files, "ok", "the previous files, exactly");
    // The host's manifest says so too: the next apply tries the change again...
    let (code, json, _) = apply(&fleet, &tb, &["--dry-run"]);
    assert_eq!(code, Some(2), "{json}");
    assert_eq!(
        json["hosts"][0]["files"]["upload"],
        serde_json::json!(["pinned/conf/note"])
    );
    assert_eq!(
        json["hosts"][0]["files"]["remove"],
        serde_json::json!(["pinned/conf/ok"])
    );
    // ... and once the file is fixed, there is nothing to do.
    std::fs::remove_file(fleet.path(&format!("{conf}/note"))).unwrap();
    fleet.write(&format!("{conf}/ok"), "yes\n");
    let json = applied(&fleet, &tb);
    assert_eq!(json["hosts"][0]["status"], "unchanged", "{json}");
    assert_eq!(json["hosts"][0]["api_calls"]["writes"], 0, "{json}");
    clean_engine(&tb, host);
}

#[test]
fn one_engine_down_fails_its_host_alone() {
    let Some(tb) = Testbed::get() else { return };
    let test = "apply-down";
    clean_engine(&tb, "h5");
    let h6 = second_host(&tb, "h6", test);
    let fleet = fleet(&tb, "h5", test, &h6);
    let _down = Down::stop(&tb, "engine", "h6");
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
    let error = json["hosts"][1]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!(
            "the Docker engine at {} does not answer",
            tb.docker_socket("h6").display()
        )),
        "{error}"
    );
    assert!(
        stderr.contains("apply failed on 1 of 2 hosts: h6"),
        "{stderr}"
    );
    assert!(
        !tb.base_dir("h6", test).join("compose.yml").exists(),
        "a host whose engine does not answer gets no files either"
    );
    assert_eq!(field(&tb, "h5", "web", "{{.State.Running}}"), "true");
    clean_engine(&tb, "h5");
}

#[test]
fn a_rolling_apply_stops_at_the_first_failed_batch() {
    let Some(tb) = Testbed::get() else { return };
    let test = "apply-serial";
    clean_engine(&tb, "h3");
    clean_engine(&tb, "h4");
    let h4 = second_host(&tb, "h4", test);
    let fleet = fleet(&tb, "h3", test, &h4);
    // h3 comes first and fails: with --serial 1, h4 is left as it is.
    let down = Down::stop(&tb, "engine", "h3");
    let (code, json, stderr) = apply(&fleet, &tb, &["--serial", "1"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        common::host_statuses(&json),
        [
            ("h3".into(), "failed".into()),
            ("h4".into(), "failed".into())
        ],
        "{json}"
    );
    assert!(
        json["hosts"][1]["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("not run: an earlier batch failed (h3)"),
        "{json}"
    );
    assert!(
        !tb.base_dir("h4", test).exists() && id(&tb, "h4", "web").is_empty(),
        "h4 was not touched: no files, no containers"
    );
    drop(down);
    // h3 back: the same rolling apply goes through both.
    let (code, json, stderr) = apply(&fleet, &tb, &["--serial", "1"]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    assert!(!id(&tb, "h4", "web").is_empty());
    clean_engine(&tb, "h3");
    clean_engine(&tb, "h4");
}

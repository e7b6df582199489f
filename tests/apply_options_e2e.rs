//! `nxinfra apply` end to end: every option the shipped fleet uses, checked on the testbed's
//! engine by inspecting the containers (and where it can be, by using them); per-service
//! `on_config_change`; pull policies.

mod common;

use common::engine::{self, applied, apply, docker, id, inspect, steps};
use common::{Fleet, Testbed};

const OPTIONS: &str = r#"services:
  edge:
    image: nxtb-app:1
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    user: "1001:1001"
    hostname: edge-{{ inventory_hostname }}
    restart: unless-stopped
    networks:
      dmz:
        ipv6_address: "fd00:3:100::c"
      backend:
        ipv6_address: "fd00:3:10::112"
    ports:
      - "18080:8080"
      - "5514:514/udp"
    volumes:
      - {{ nxinfra_base_dir }}/edge/www:/www:ro
    cap_add: [NET_ADMIN, SYS_NICE]
    cap_drop: [MKNOD]
    ulimits:
      nofile:
        soft: {{ nofile // 2 }}
        hard: {{ nofile }}
    dns:
      - "fd42:200::1"
      - 10.200.0.1
    sysctls:
      net.ipv4.ip_unprivileged_port_start: "0"
    logging:
      driver: json-file
      options:
        tag: edge
        max-size: 10m
        max-file: "3"
    labels:
      org.nxthdr.role: edge
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/index.html"]
      interval: 1s
      timeout: 1s
      retries: 3
  agent:
    image: nxtb-app:1
    command: ["sleep", "3600"]
    network_mode: host
    privileged: {{ privileged }}
    pid: host
    devices:
      - /dev/net/tun:/dev/net/tun
    stop_grace_period: 1s
networks:
  dmz:
    enable_ipv6: true
    ipam:
      config:
        - subnet: 172.30.3.0/24
        - subnet: "fd00:3:100::/80"
          gateway: "fd00:3:100::1"
  backend:
    enable_ipv6: true
    ipam:
      config:
        - subnet: "fd00:3:10::/80"
"#;

fn text(v: &serde_json::Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// A plain HTTP/1.0 GET from this machine (outside the host's namespace): the response.
fn http_get(address: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

/// The hard limit of open files of `host`'s engine.
fn engine_nofile(tb: &Testbed, host: &str) -> u64 {
    let pid = std::fs::read_to_string(tb.state.join(host).join("docker/engine.pid"))
        .expect("the engine's pid file");
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", pid.trim())).expect("dockerd limits");
    open_files(&limits)[1]
        .parse()
        .expect("the open files limit")
}

/// The soft and hard open-files limits in the text of a `/proc/PID/limits`.
fn open_files(limits: &str) -> Vec<String> {
    let line = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"));
    let fields = line.map(|l| l.split_whitespace().take(2).map(String::from).collect());
    fields
        .filter(|f: &Vec<String>| f.len() == 2)
        .unwrap_or_else(|| panic!("no open files limits in {limits}"))
}

fn exec(tb: &Testbed, host: &str, name: &str, script: &str) -> (bool, String) {
    docker(tb, host, &["exec", name, "sh", "-c", script])
}

#[test]
fn every_option_of_the_fleet_is_what_the_engine_runs() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h3", "apply-options");
    engine::clean_engine(&tb, host, &["dmz", "backend"]);
    // A privileged container gets every capability; runc fails to start one where the
    // engine's own bounding set lacks some (this sandbox lacks CAP_SYS_RESOURCE).
    let privileged = docker(
        &tb,
        host,
        &["run", "--rm", "--privileged", "nxtb-busybox:1", "true"],
    )
    .0;
    // The fleet asks 262144 open files for clickhouse; without CAP_SYS_RESOURCE a container
    // gets at most the engine's own hard limit, so the test asks for that.
    let nofile = engine_nofile(&tb, host);
    let fleet = engine::fleet(
        &tb,
        host,
        test,
        OPTIONS,
        &format!("    privileged: {privileged}\n    nofile: {nofile}\n"),
    );
    fleet.write("templates/config/testbed/edge/www/index.html", "edge\n");
    let json = applied(&fleet, &tb);
    assert_eq!(
        steps(&json),
        ["agent=create new service", "edge=create new service"]
    );

    let edge = inspect(&tb, host, "edge");
    let (config, hc, nets) = (
        &edge["Config"],
        &edge["HostConfig"],
        &edge["NetworkSettings"]["Networks"],
    );
    // Fixed IPv6 addresses on two networks, and reachable there.
    assert_eq!(text(&nets["dmz"]["GlobalIPv6Address"]), "fd00:3:100::c");
    assert_eq!(
        text(&nets["backend"]["GlobalIPv6Address"]),
        "fd00:3:10::112"
    );
    let (ok, out) = exec(
        &tb,
        host,
        "agent",
        "wget -q -O - 'http://[fd00:3:100::c]:8080/index.html' && \
         wget -q -O - 'http://[fd00:3:10::112]:8080/index.html'",
    );
    assert!(ok && out == "edge\nedge", "over both networks' IPv6: {out}");
    // Published ports, tcp and udp; tcp answers on the host's address from outside.
    assert_eq!(
        text(&hc["PortBindings"]["8080/tcp"][0]["HostPort"]),
        "18080"
    );
    assert_eq!(text(&hc["PortBindings"]["514/udp"][0]["HostPort"]), "5514");
    let ip = &tb.hosts[2].1;
    assert!(
        http_get(&format!("{ip}:18080"), "/index.html").ends_with("\r\n\r\nedge\n"),
        "the published port answers on the host's address"
    );
    // A read-only bind mount: there, and not writable.
    let mount = &edge["Mounts"][0];
    assert_eq!(
        (text(&mount["Destination"]), &mount["RW"]),
        ("/www", &serde_json::Value::Bool(false))
    );
    assert_eq!(
        text(&mount["Source"]),
        tb.base_dir(host, test).join("edge/www").to_str().unwrap()
    );
    let (ok, out) = exec(&tb, host, "edge", "echo x > /www/x");
    assert!(!ok && out.contains("Read-only"), "{out}");
    // Capabilities, ulimits, DNS, user, hostname, sysctls, restart, labels, logging.
    let caps: Vec<&str> = hc["CapAdd"].as_array().unwrap().iter().map(text).collect();
    assert!(
        caps.iter().any(|c| c.ends_with("NET_ADMIN"))
            && caps.iter().any(|c| c.ends_with("SYS_NICE")),
        "{caps:?}"
    );
    assert!(
        text(&hc["CapDrop"][0]).ends_with("MKNOD"),
        "{}",
        hc["CapDrop"]
    );
    assert_eq!(
        hc["Ulimits"],
        serde_json::json!([{"Name": "nofile", "Soft": nofile / 2, "Hard": nofile}])
    );
    // The limits of the container's own process: a `docker exec`'d shell is no witness, as
    // runc before 1.1.13 sets an exec'd process's open-files limit racily (runc#4195).
    let limits = exec(&tb, host, "edge", "cat /proc/1/limits").1;
    assert_eq!(
        open_files(&limits),
        [(nofile / 2).to_string(), nofile.to_string()]
    );
    assert_eq!(hc["Dns"], serde_json::json!(["fd42:200::1", "10.200.0.1"]));
    assert!(
        exec(&tb, host, "edge", "cat /etc/resolv.conf")
            .1
            .contains("nameserver fd42:200::1")
    );
    assert_eq!(text(&config["User"]), "1001:1001");
    assert_eq!(exec(&tb, host, "edge", "id -u").1, "1001");
    assert_eq!(text(&config["Hostname"]), "edge-h3");
    assert_eq!(
        text(&hc["Sysctls"]["net.ipv4.ip_unprivileged_port_start"]),
        "0"
    );
    assert_eq!(text(&hc["RestartPolicy"]["Name"]), "unless-stopped");
    assert_eq!(text(&config["Labels"]["org.nxthdr.role"]), "edge");
    assert_eq!(text(&config["Labels"]["nxinfra.service"]), "edge");
    assert_eq!(
        hc["LogConfig"],
        serde_json::json!({"Type": "json-file", "Config": {"tag": "edge", "max-size": "10m", "max-file": "3"}})
    );
    assert_eq!(
        config["Healthcheck"]["Test"],
        serde_json::json!([
            "CMD",
            "wget",
            "-q",
            "-O",
            "/dev/null",
            "http://127.0.0.1:8080/index.html"
        ])
    );
    assert_eq!(text(&edge["State"]["Health"]["Status"]), "healthy");

    // Host networking, privileged, the host's PID namespace, a device.
    let agent = inspect(&tb, host, "agent");
    let hc = &agent["HostConfig"];
    assert_eq!(text(&hc["NetworkMode"]), "host");
    assert_eq!(hc["Privileged"], serde_json::Value::Bool(privileged));
    assert_eq!(text(&hc["PidMode"]), "host");
    assert_eq!(text(&hc["Devices"][0]["PathOnHost"]), "/dev/net/tun");
    assert_eq!(text(&hc["Devices"][0]["PathInContainer"]), "/dev/net/tun");
    let (_, addresses) = exec(&tb, host, "agent", "ip -o addr show eth0");
    assert!(addresses.contains(ip), "the host's own eth0: {addresses}");
    let (_, ps) = exec(&tb, host, "agent", "ps -o comm");
    assert!(ps.contains("dockerd"), "the host's processes: {ps}");

    // All of it compares equal on the next apply: nothing is touched.
    let json = applied(&fleet, &tb);
    assert_eq!(json["hosts"][0]["api_calls"]["writes"], 0, "{json}");
    assert_eq!(json["hosts"][0]["status"], "unchanged", "{json}");

    if !privileged {
        // Where the engine cannot run privileged containers, asking for one fails the host
        // with the engine's reason, and the agent (host networking: old one first) is back.
        let agent = id(&tb, host, "agent");
        let inventory = fleet.read("inventory/inventory.yml");
        fleet.write(
            "inventory/inventory.yml",
            &inventory.replace("privileged: false", "privileged: true"),
        );
        let (code, json, _) = apply(&fleet, &tb, &[]);
        assert_eq!(code, Some(1), "{json}");
        let error = text(&json["hosts"][0]["error"]);
        assert!(
            error.contains("agent") && error.contains("restored") && error.contains("caps"),
            "{error}"
        );
        assert_eq!(id(&tb, host, "agent"), agent);
        assert_eq!(
            text(&inspect(&tb, host, "agent")["State"]["Status"]),
            "running"
        );
    }
    engine::clean_engine(&tb, host, &["dmz", "backend"]);
}

const ON_CHANGE: &str = r#"services:
  restarted:
    image: nxtb-app:1
    command: ["sleep", "3600"]
    network_mode: none
    volumes:
      - {{ nxinfra_base_dir }}/restarted/conf:/conf:ro
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "grep", "-q", "^v=", "/conf/app.conf"]
      interval: 1s
      timeout: 1s
      retries: 1
    x-nxinfra:
      on_config_change: restart
  ignored:
    image: nxtb-app:1
    command: ["sleep", "3600"]
    network_mode: none
    volumes:
      - {{ nxinfra_base_dir }}/ignored/conf:/conf:ro
    stop_grace_period: 1s
    x-nxinfra:
      on_config_change: ignore
{% if with_missing %}
  missing:
    image: nxtb-missing:1
    command: ["sleep", "3600"]
    network_mode: none
    pull_policy: {{ policy }}
{% endif %}
"#;

fn on_change_fleet(tb: &Testbed, host: &str, test: &str) -> Fleet {
    let fleet = engine::fleet(
        tb,
        host,
        test,
        ON_CHANGE,
        "    with_missing: false\n    policy: never\n",
    );
    fleet.write("templates/config/testbed/restarted/conf/app.conf", "v=1\n");
    fleet.write("templates/config/testbed/ignored/conf/app.conf", "v=1\n");
    fleet
}

fn started_at(tb: &Testbed, host: &str, name: &str) -> String {
    text(&inspect(tb, host, name)["State"]["StartedAt"]).to_string()
}

#[test]
fn on_config_change_restart_keeps_the_container_and_ignore_leaves_it_alone() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h4", "apply-on-change");
    engine::clean_engine(&tb, host, &[]);
    let fleet = on_change_fleet(&tb, host, test);
    applied(&fleet, &tb);
    let (restarted, ignored) = (id(&tb, host, "restarted"), id(&tb, host, "ignored"));
    let started = started_at(&tb, host, "restarted");

    // restart: the same container, started again, reading the new file.
    fleet.write("templates/config/testbed/restarted/conf/app.conf", "v=2\n");
    let json = applied(&fleet, &tb);
    assert_eq!(
        steps(&json),
        [
            "ignored=unchanged",
            "restarted=restart mount content changed: restarted/conf"
        ]
    );
    assert_eq!(id(&tb, host, "restarted"), restarted, "not recreated");
    assert_ne!(started_at(&tb, host, "restarted"), started, "restarted");
    assert_eq!(exec(&tb, host, "restarted", "cat /conf/app.conf").1, "v=2");
    // Its labels still tell the old content: the host's manifest remembers the restart.
    let json = applied(&fleet, &tb);
    assert_eq!(json["hosts"][0]["status"], "unchanged", "{json}");
    assert_eq!(json["hosts"][0]["api_calls"]["writes"], 0, "{json}");

    // ignore: untouched; it sees the new file through its mount.
    fleet.write("templates/config/testbed/ignored/conf/app.conf", "v=2\n");
    let started = started_at(&tb, host, "ignored");
    let json = applied(&fleet, &tb);
    assert_eq!(steps(&json), ["ignored=unchanged", "restarted=unchanged"]);
    assert_eq!(json["hosts"][0]["api_calls"]["writes"], 0, "{json}");
    assert_eq!(
        (id(&tb, host, "ignored"), started_at(&tb, host, "ignored")),
        (ignored, started)
    );
    assert_eq!(exec(&tb, host, "ignored", "cat /conf/app.conf").1, "v=2");

    // restart with a broken file: unhealthy after the restart, so the previous file is put
    // back and the container restarted with it.
    fleet.write(
        "templates/config/testbed/restarted/conf/app.conf",
        "broken\n",
    );
    let (code, json, _) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{json}");
    let error = text(&json["hosts"][0]["error"]);
    assert!(
        error.starts_with("restarted: restarted, but not healthy: ")
            && error.ends_with("; the previous files were put back (restarted/conf/app.conf)"),
        "{error}"
    );
    assert_eq!(id(&tb, host, "restarted"), restarted);
    assert_eq!(exec(&tb, host, "restarted", "cat /conf/app.conf").1, "v=2");
    assert_eq!(
        text(&inspect(&tb, host, "restarted")["State"]["Health"]["Status"]),
        "healthy"
    );
    fleet.write("templates/config/testbed/restarted/conf/app.conf", "v=2\n");

    // pull_policy never, image absent: the host fails before anything is done.
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace("with_missing: false", "with_missing: true"),
    );
    fleet.write("templates/config/testbed/restarted/conf/app.conf", "v=3\n");
    let (code, json, _) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(
        text(&json["hosts"][0]["error"]),
        "image nxtb-missing:1 is not on the host and pull_policy is never"
    );
    assert_eq!(exec(&tb, host, "restarted", "cat /conf/app.conf").1, "v=2");
    // pull_policy missing: it is pulled first; here no registry answers, so the pull fails
    // and the host with it, before any container is touched.
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace("policy: never", "policy: missing"),
    );
    let (code, json, _) = apply(&fleet, &tb, &["--dry-run"]);
    assert_eq!(code, Some(2), "{json}");
    assert_eq!(
        json["hosts"][0]["images"],
        serde_json::json!([{"image": "nxtb-missing:1", "reason": "not on the host"}])
    );
    let (code, json, _) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{json}");
    assert!(
        text(&json["hosts"][0]["error"]).starts_with("pulling nxtb-missing:1: "),
        "{json}"
    );
    assert_eq!(id(&tb, host, "restarted"), restarted);
    assert!(inspect(&tb, host, "missing").is_null());
    engine::clean_engine(&tb, host, &[]);
}

const PULLED: &str = r#"services:
  pinned:
    image: 10.200.0.1:5000/nxtb/pinned:1
    command: ["sleep", "3600"]
    network_mode: none
    stop_grace_period: 1s
  floating:
    image: 10.200.0.1:5000/nxtb/floating:main
    pull_policy: always
    command: ["sleep", "3600"]
    network_mode: none
    stop_grace_period: 1s
"#;

#[test]
fn images_are_pulled_when_missing_and_always_follows_a_moving_tag() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h5", "apply-pull");
    engine::clean_engine(&tb, host, &[]);
    for image in ["pinned:1", "floating:main"] {
        docker(
            &tb,
            host,
            &["rmi", "-f", &format!("10.200.0.1:5000/nxtb/{image}")],
        );
    }
    let registry = common::registry::Registry::start();
    let rootfs = tb.state.join("image/rootfs.tar");
    let pinned = registry.publish("nxtb/pinned", "1", &rootfs, &["PATH=/bin", "REV=1"]);
    let main1 = registry.publish("nxtb/floating", "main", &rootfs, &["PATH=/bin", "MAIN=1"]);
    let fleet = engine::fleet(&tb, host, test, PULLED, "");
    let image_of = |name: &str| text(&inspect(&tb, host, name)["Image"]).to_string();

    // Neither is on the host: the dry run says so and pulls nothing.
    let (code, json, _) = apply(&fleet, &tb, &["--dry-run"]);
    assert_eq!(code, Some(2), "{json}");
    assert_eq!(
        json["hosts"][0]["images"],
        serde_json::json!([
            {"image": "10.200.0.1:5000/nxtb/floating:main", "reason": "not on the host"},
            {"image": "10.200.0.1:5000/nxtb/pinned:1", "reason": "not on the host"}
        ])
    );
    assert_eq!(registry.manifest_requests("nxtb/pinned"), 0);
    // Pulled, then created from exactly the pulled images.
    let json = applied(&fleet, &tb);
    assert_eq!(
        steps(&json),
        ["floating=create new service", "pinned=create new service"]
    );
    assert_eq!(
        (image_of("pinned"), image_of("floating")),
        (pinned.clone(), main1.clone())
    );
    assert_eq!(
        text(&inspect(&tb, host, "floating")["Config"]["Labels"]["nxinfra.image"]),
        main1
    );
    let pinned_pulls = registry.manifest_requests("nxtb/pinned");
    assert!(pinned_pulls > 0);

    // Again: the pinned image is there (no pull); `always` asks the registry, gets the same
    // image, and nothing else happens.
    let floating_pulls = registry.manifest_requests("nxtb/floating");
    let json = applied(&fleet, &tb);
    assert_eq!(json["hosts"][0]["status"], "unchanged", "{json}");
    assert_eq!(
        json["hosts"][0]["images"],
        serde_json::json!([{"image": "10.200.0.1:5000/nxtb/floating:main", "reason": "pull_policy: always"}])
    );
    assert_eq!(
        json["hosts"][0]["api_calls"]["writes"], 1,
        "the pull: {json}"
    );
    assert_eq!(registry.manifest_requests("nxtb/pinned"), pinned_pulls);
    assert!(registry.manifest_requests("nxtb/floating") > floating_pulls);

    // The tag moves (a new :main is pushed): the next apply runs it, and only that service
    // is recreated.
    let main2 = registry.publish("nxtb/floating", "main", &rootfs, &["PATH=/bin", "MAIN=2"]);
    assert_ne!(main1, main2);
    let json = applied(&fleet, &tb);
    assert_eq!(
        steps(&json),
        [
            "floating=recreate image changed (another image id)",
            "pinned=unchanged"
        ]
    );
    assert_eq!((image_of("pinned"), image_of("floating")), (pinned, main2));
    engine::clean_engine(&tb, host, &[]);
}

const JOBS: &str = r#"services:
  schema:
    image: nxtb-app:1
    command:
      - sh
      - -c
      - >-
        if grep -q fail /schema/schema.sql; then
        echo "migration failed, connecting with $$PASSWORD"; exit 3; fi;
        if grep -q slow /schema/schema.sql; then sleep 30; fi;
        cat /schema/schema.sql >> /state/applied.log
    network_mode: none
    environment:
      PASSWORD: "{{ secrets.db.password }}"
    volumes:
      - {{ nxinfra_base_dir }}/schema:/schema:ro
      - {{ state_dir }}:/state
    stop_grace_period: 1s
    x-nxinfra:
      job: true
      timeout: 3s
  app:
    image: nxtb-app:1
    command: ["sleep", "3600"]
    network_mode: none
    stop_grace_period: 1s
    depends_on:
      schema:
        condition: service_completed_successfully
"#;

#[test]
fn a_job_runs_once_per_change_before_what_awaits_it_and_a_failed_one_runs_again() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h6", "apply-jobs");
    engine::clean_engine(&tb, host, &[]);
    let state = tb.base_dir(host, "apply-jobs-state");
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state).unwrap();
    let fleet = engine::fleet(
        &tb,
        host,
        test,
        JOBS,
        &format!("    state_dir: {}\n", state.display()),
    );
    let schema = |text: &str| fleet.write("templates/config/testbed/schema/schema.sql", text);
    let log = || std::fs::read_to_string(state.join("applied.log")).unwrap_or_default();
    let sorted = |json: &serde_json::Value| {
        let mut s = steps(json);
        s.sort();
        s
    };

    // First apply: the job runs to completion, then what awaits it starts.
    schema("v1\n");
    let json = applied(&fleet, &tb);
    assert_eq!(
        sorted(&json),
        ["app=create new service", "schema=create new service"]
    );
    assert_eq!(log(), "v1\n");
    let job = inspect(&tb, host, "schema");
    assert!(
        !job["Config"]["Labels"].to_string().contains(common::SECRET),
        "labels hold hashes, not values: {}",
        job["Config"]["Labels"]
    );
    assert_eq!(
        (&job["State"]["Status"], &job["State"]["ExitCode"]),
        (&serde_json::json!("exited"), &serde_json::json!(0))
    );
    let app_started = text(&inspect(&tb, host, "app")["State"]["StartedAt"]).to_string();
    assert!(
        app_started.as_str() >= text(&job["State"]["FinishedAt"]),
        "app started ({app_started}) after the job finished ({})",
        job["State"]["FinishedAt"]
    );
    let app = id(&tb, host, "app");

    // Nothing changed: the exited job is done; nothing runs, no write call.
    let json = applied(&fleet, &tb);
    assert_eq!(sorted(&json), ["app=unchanged", "schema=unchanged"]);
    assert_eq!(json["hosts"][0]["api_calls"]["writes"], 0, "{json}");
    assert_eq!(log(), "v1\n");

    // Its file changed: it runs again, once; what awaits it is untouched.
    schema("v2\n");
    let json = applied(&fleet, &tb);
    assert_eq!(
        sorted(&json),
        [
            "app=unchanged",
            "schema=recreate mount content changed: schema"
        ]
    );
    assert_eq!(log(), "v1\nv2\n");
    assert_eq!(id(&tb, host, "app"), app);

    // A run that fails: exit 1, with what it printed (its secret redacted); its container is
    // kept; the next plan runs it again.
    schema("v3 fail\n");
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{stderr}\n{json}");
    let error = json["hosts"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(
            "schema: the job failed (exit status 3; it printed: migration failed, connecting \
             with <secret:db.password>)"
        ),
        "{error}"
    );
    assert_eq!(log(), "v1\nv2\n");
    assert_eq!(inspect(&tb, host, "schema")["State"]["ExitCode"], 3);
    assert_eq!(id(&tb, host, "app"), app);
    let (code, json, _) = apply(&fleet, &tb, &["--dry-run"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        sorted(&json),
        [
            "app=unchanged",
            "schema=recreate its last run failed (exit status 3)"
        ]
    );

    // One that does not finish in its timeout is stopped, and fails the host.
    schema("v3 slow\n");
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{stderr}\n{json}");
    let error = json["hosts"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("schema: the job failed (not done after 3 s, stopped"),
        "{error}"
    );
    assert_ne!(inspect(&tb, host, "schema")["State"]["Running"], true);

    // Fixed: it runs, and the fleet converges.
    schema("v4\n");
    applied(&fleet, &tb);
    assert_eq!(log(), "v1\nv2\nv4\n");
    let json = applied(&fleet, &tb);
    assert_eq!(json["hosts"][0]["api_calls"]["writes"], 0, "{json}");
    engine::clean_engine(&tb, host, &[]);
}

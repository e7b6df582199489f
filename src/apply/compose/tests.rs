//! Loader tests: every syntax variant, every error (each naming file, line and key), the
//! normalised form and the helpers.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::*;

const FILE: &str = "rendered/h1/compose.yml";

/// A file with one service `app` (image line 3) and a dual-stack network `net`; `body` goes
/// under the service from line 4.
fn file(body: &str) -> String {
    format!(
        "services:\n  app:\n    image: app:1\n{body}networks:\n  net:\n    enable_ipv6: true\n    \
         ipam:\n      config:\n        - subnet: 10.0.0.0/24\n          gateway: 10.0.0.1\n        \
         - subnet: fd00::/64\n          gateway: fd00::1\n"
    )
}

/// [`file`] with `app` on `net`; `body` from line 5.
fn svc(body: &str) -> String {
    file(&format!("    networks: [net]\n{body}"))
}

fn ok(text: &str) -> Compose {
    parse(Path::new(FILE), text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
}

fn app(text: &str) -> ContainerSpec {
    ok(text).services["app"].spec.clone()
}

fn err(text: &str) -> ComposeError {
    match parse(Path::new(FILE), text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

/// Asserts that one problem's line reads `PREFIX...FRAGMENT...` (PREFIX is file:line: scope:
/// key:).
fn assert_problem(text: &str, prefix: &str, fragment: &str) {
    let e = err(text);
    let file = Path::new(FILE);
    let shown: Vec<String> = e.problems().iter().map(|p| p.display(file)).collect();
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with(prefix) && s.contains(fragment)),
        "want {prefix}…{fragment}\ngot:\n{}\n---\n{text}",
        shown.join("\n")
    );
    // The error's own Display is the same lines.
    assert_eq!(e.to_string(), shown.join("\n"));
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

// ------------------------------------------------------------------------ syntax variants

#[test]
fn command_and_entrypoint_forms() {
    let cases: &[(&str, &[&str])] = &[
        ("[\"serve\", \"--x\"]", &["serve", "--x"]),
        ("serve --x", &["serve", "--x"]),
        ("\"sh -c 'echo a b'\"", &["sh", "-c", "echo a b"]),
        ("\"a $$HOME\"", &["a", "$HOME"]),
        ("[\"-p\", 5]", &["-p", "5"]),
        ("[]", &[]),
    ];
    for (value, want) in cases {
        let spec = app(&svc(&format!(
            "    command: {value}\n    entrypoint: {value}\n"
        )));
        assert_eq!(spec.command, Some(words(want)), "{value}");
        assert_eq!(spec.entrypoint, Some(words(want)), "{value}");
    }
    let spec = app(&svc(""));
    assert_eq!(spec.command, None);
    assert_eq!(spec.entrypoint, None);
}

#[test]
fn environment_labels_sysctls_as_map_or_list() {
    let map = app(&svc(
        "    environment:\n      B: \"2\"\n      A: 1\n      C: \"x$$y\"\n      \
                        D: \"\"\n    labels:\n      l.b: y\n      l.a: x\n    sysctls:\n      \
                        net.core.somaxconn: 1024\n",
    ));
    let list = app(&svc(
        "    environment:\n      - A=1\n      - C=x$$y\n      - B=2\n      \
                         - D=\n    labels: [\"l.a=x\", \"l.b=y\"]\n    sysctls:\n      \
                         - net.core.somaxconn=1024\n",
    ));
    assert_eq!(map, list);
    let env: Vec<(&str, &str)> = map
        .environment
        .0
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(env, [("A", "1"), ("B", "2"), ("C", "x$y"), ("D", "")]);
    assert_eq!(map.labels.keys().collect::<Vec<_>>(), ["l.a", "l.b"]);
    assert_eq!(map.sysctls["net.core.somaxconn"], "1024");
    // A value with "=" in it keeps it.
    let spec = app(&svc("    environment:\n      - URL=a=b\n"));
    assert_eq!(spec.environment.0["URL"], "a=b");
}

#[test]
fn scalar_options() {
    let spec = app(&svc(
        "    user: 1001\n    hostname: web-1\n    privileged: true\n    \
                         pid: host\n    container_name: my-app\n",
    ));
    assert_eq!(spec.user.as_deref(), Some("1001"));
    assert_eq!(spec.hostname.as_deref(), Some("web-1"));
    assert!(spec.privileged);
    assert_eq!(spec.pid, Some(PidMode::Host));
    assert_eq!(spec.container_name, "my-app");
    let spec = app(&svc("    user: \"1001:1001\"\n"));
    assert_eq!(spec.user.as_deref(), Some("1001:1001"));
    // Defaults.
    let spec = app(&svc(""));
    assert_eq!(spec.container_name, "app");
    assert_eq!(spec.image, "app:1");
    assert_eq!(spec.restart, Restart::No);
    assert!(!spec.privileged);
    assert_eq!(spec.pid, None);
    assert_eq!(spec.stop_grace_period, Duration::from_secs(10));
    let c = ok(&svc(""));
    assert_eq!(c.services["app"].pull_policy, PullPolicy::Missing);
    assert_eq!(c.services["app"].on_config_change, OnConfigChange::Recreate);
}

#[test]
fn restart_pull_policy_stop_grace_period() {
    for (value, want) in [
        ("\"no\"", Restart::No),
        ("always", Restart::Always),
        ("unless-stopped", Restart::UnlessStopped),
        ("on-failure", Restart::OnFailure(None)),
        ("on-failure:5", Restart::OnFailure(Some(5))),
    ] {
        assert_eq!(app(&svc(&format!("    restart: {value}\n"))).restart, want);
    }
    for (value, want) in [
        ("missing", PullPolicy::Missing),
        ("if_not_present", PullPolicy::Missing),
        ("always", PullPolicy::Always),
        ("never", PullPolicy::Never),
    ] {
        let c = ok(&svc(&format!("    pull_policy: {value}\n")));
        assert_eq!(c.services["app"].pull_policy, want);
    }
    let spec = app(&svc("    stop_grace_period: 1m30s\n"));
    assert_eq!(spec.stop_grace_period, Duration::from_secs(90));
}

#[test]
fn network_mode_and_networks() {
    let spec = app(&file("    network_mode: host\n"));
    assert_eq!(spec.network_mode, Some(NetworkMode::Host));
    assert!(spec.networks.is_empty());
    let spec = app(&file("    network_mode: none\n"));
    assert_eq!(spec.network_mode, Some(NetworkMode::None));
    let spec = app(&file("    network_mode: bridge\n    ports: [\"80:80\"]\n"));
    assert_eq!(spec.network_mode, Some(NetworkMode::Bridge));

    let list = app(&file("    networks: [net]\n"));
    let map_null = app(&file("    networks:\n      net:\n"));
    let map_empty = app(&file("    networks:\n      net: {}\n"));
    assert_eq!(list, map_null);
    assert_eq!(list, map_empty);
    assert_eq!(list.networks["net"], Attachment::default());

    let spec = app(&file(
        "    networks:\n      net:\n        ipv4_address: 10.0.0.5\n        \
                          ipv6_address: fd00::5\n        aliases: [web, api, web]\n",
    ));
    let a = &spec.networks["net"];
    assert_eq!(a.ipv4_address, Some("10.0.0.5".parse().unwrap()));
    assert_eq!(a.ipv6_address, Some("fd00::5".parse().unwrap()));
    assert_eq!(a.aliases, words(&["api", "web"]));
}

#[test]
fn ports_short_and_long() {
    let spec = app(&svc(
        "    ports:\n      - \"0.0.0.0:443:443/tcp\"\n      - 514:514/udp\n      \
                         - \"[::1]:8080:80\"\n      - 9000\n      - \"127.0.0.1::7000\"\n      \
                         - \"6000-6001:7000-7001\"\n      - target: 53\n        published: 5353\n        \
                         protocol: udp\n        host_ip: 127.0.0.1\n      - target: 81\n        \
                         published: \"8081\"\n        x-note: ignored\n",
    ));
    let shown: Vec<String> = spec
        .ports
        .iter()
        .map(|p| {
            format!(
                "{}:{}->{}/{}",
                p.host_ip.map(|i| i.to_string()).unwrap_or_default(),
                p.host_port.map(|h| h.to_string()).unwrap_or_default(),
                p.container_port,
                p.protocol
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            "127.0.0.1:5353->53/udp",
            "::1:8080->80/tcp",
            ":8081->81/tcp",
            "0.0.0.0:443->443/tcp",
            ":514->514/udp",
            ":6000->7000/tcp",
            "127.0.0.1:->7000/tcp",
            ":6001->7001/tcp",
            ":->9000/tcp",
        ]
    );
}

#[test]
fn volumes_short_and_long() {
    let text = svc(
        "    volumes:\n      - /srv/app/config:/etc/app:ro\n      - data:/var/lib/app\n      \
                    - type: bind\n        source: /srv/app/state/\n        target: /state\n        \
                    read_only: true\n      - type: volume\n        source: cache\n        \
                    target: /cache\nvolumes:\n  data:\n  cache:\n    name: app-cache\n    \
                    driver_opts:\n      type: tmpfs\n      device: tmpfs\n",
    );
    // The volumes block must come after networks in `file`: rebuild the file by hand.
    let text = text.replace("volumes:\n  data:", "x-tmp: 1\nvolumes:\n  data:");
    let c = ok(&text);
    let spec = &c.services["app"].spec;
    let m = |target: &str| spec.mounts.iter().find(|m| m.target == target).unwrap();
    assert_eq!(m("/etc/app").kind, MountKind::Bind);
    assert!(m("/etc/app").read_only);
    assert_eq!(m("/state").source, "/srv/app/state");
    assert!(m("/state").read_only);
    assert_eq!(m("/var/lib/app").kind, MountKind::Volume);
    assert_eq!(m("/var/lib/app").source, "data");
    assert!(!m("/cache").read_only);
    let targets: Vec<&str> = spec.mounts.iter().map(|m| m.target.as_str()).collect();
    assert_eq!(targets, ["/cache", "/etc/app", "/state", "/var/lib/app"]);
    assert_eq!(c.volumes["data"].name, "data");
    assert_eq!(c.volumes["data"].driver, "local");
    assert_eq!(c.volumes["cache"].name, "app-cache");
    assert_eq!(c.volumes["cache"].driver_opts["type"], "tmpfs");
    let binds: Vec<&Path> = c.services["app"].bind_sources().collect();
    assert_eq!(
        binds,
        [Path::new("/srv/app/config"), Path::new("/srv/app/state")]
    );
    let rendered: Vec<&Path> = c.services["app"]
        .rendered_sources(Path::new("/srv/app"))
        .collect();
    assert_eq!(rendered, [Path::new("config"), Path::new("state")]);
}

#[test]
fn capabilities_ulimits_dns_devices_logging() {
    let spec = app(&svc(
        "    cap_add: [sys_nice, CAP_NET_ADMIN, NET_ADMIN]\n    cap_drop: [ALL]\n    \
                         ulimits:\n      nofile:\n        soft: 1024\n        hard: 65536\n      \
                         nproc: 512\n    dns: 2a00:1098:2c::1\n    devices:\n      - /dev/net/tun\n      \
                         - /dev/kmsg:/dev/kmsg:r\n    logging:\n      driver: json-file\n      \
                         options:\n        max-file: 3\n        max-size: 10m\n",
    ));
    assert_eq!(spec.cap_add, words(&["NET_ADMIN", "SYS_NICE"]));
    assert_eq!(spec.cap_drop, words(&["ALL"]));
    assert_eq!(
        spec.ulimits["nofile"],
        Ulimit {
            soft: 1024,
            hard: 65536
        }
    );
    assert_eq!(
        spec.ulimits["nproc"],
        Ulimit {
            soft: 512,
            hard: 512
        }
    );
    assert_eq!(spec.dns, [ip("2a00:1098:2c::1")]);
    assert_eq!(spec.devices[0].container, "/dev/kmsg");
    assert_eq!(spec.devices[0].permissions, "r");
    assert_eq!(spec.devices[1].host, "/dev/net/tun");
    assert_eq!(spec.devices[1].permissions, "rwm");
    let logging = spec.logging.unwrap();
    assert_eq!(logging.driver.as_deref(), Some("json-file"));
    assert_eq!(logging.options["max-file"], "3");
    // dns keeps its order.
    let spec = app(&svc("    dns:\n      - 9.9.9.9\n      - 1.1.1.1\n"));
    assert_eq!(spec.dns, [ip("9.9.9.9"), ip("1.1.1.1")]);
}

#[test]
fn healthcheck_forms() {
    let check = |body: &str| app(&svc(&format!("    healthcheck:\n{body}"))).healthcheck;
    let Some(Healthcheck::Check(c)) = check(
        "      test: [\"CMD\", \"wget\", \"-q\", \"http://localhost/\"]\n      interval: 1m30s\n      \
         timeout: 500ms\n      retries: 5\n      start_period: 30s\n",
    ) else {
        panic!("no check");
    };
    assert_eq!(c.test, words(&["CMD", "wget", "-q", "http://localhost/"]));
    assert_eq!(c.interval, Duration::from_secs(90));
    assert_eq!(c.timeout, Duration::from_millis(500));
    assert_eq!(c.retries, 5);
    assert_eq!(c.start_period, Duration::from_secs(30));

    // A string is a shell command; Docker's defaults fill the rest.
    let Some(Healthcheck::Check(c)) = check("      test: pg_isready -U x\n") else {
        panic!("no check");
    };
    assert_eq!(c.test, words(&["CMD-SHELL", "pg_isready -U x"]));
    assert_eq!(
        (c.interval, c.timeout, c.retries, c.start_period),
        (
            Duration::from_secs(30),
            Duration::from_secs(30),
            3,
            Duration::ZERO
        )
    );
    let Some(Healthcheck::Check(c)) = check("      test: [\"CMD-SHELL\", \"a | b\"]\n") else {
        panic!("no check");
    };
    assert_eq!(c.test, words(&["CMD-SHELL", "a | b"]));

    assert_eq!(
        check("      test: [\"NONE\"]\n"),
        Some(Healthcheck::Disabled)
    );
    assert_eq!(check("      disable: true\n"), Some(Healthcheck::Disabled));
    assert_eq!(
        check("      disable: true\n      test: [\"NONE\"]\n"),
        Some(Healthcheck::Disabled)
    );
    assert_eq!(app(&svc("")).healthcheck, None);
}

#[test]
fn depends_on_forms_and_order() {
    let text = "services:\n  web:\n    image: w:1\n    network_mode: none\n    depends_on:\n      \
                db:\n        condition: service_healthy\n      cache:\n        \
                condition: service_started\n      init:\n        \
                condition: service_completed_successfully\n  db:\n    image: d:1\n    \
                network_mode: none\n  cache:\n    image: c:1\n    network_mode: none\n    \
                depends_on: [db]\n  init:\n    image: i:1\n    network_mode: none\n  \
                sidecar:\n    image: s:1\n    network_mode: \"service:web\"\n  aaa:\n    \
                image: a:1\n    network_mode: none\n";
    let c = ok(text);
    let web = &c.services["web"];
    assert_eq!(web.depends_on["db"], Condition::ServiceHealthy);
    assert_eq!(web.depends_on["cache"], Condition::ServiceStarted);
    assert_eq!(
        web.depends_on["init"],
        Condition::ServiceCompletedSuccessfully
    );
    assert_eq!(
        c.services["cache"].depends_on["db"],
        Condition::ServiceStarted
    );
    let order: Vec<&str> = c.start_order().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["aaa", "db", "cache", "init", "web", "sidecar"]);
    let stop: Vec<&str> = c.stop_order().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(stop, ["sidecar", "web", "init", "cache", "db", "aaa"]);
}

#[test]
fn top_level_networks() {
    let text = "services:\n  app:\n    image: app:1\n    networks: [a, b, c]\nnetworks:\n  a:\n    \
                enable_ipv6: true\n    driver_opts:\n      com.docker.network.bridge.name: br-a\n      \
                mtu: 1400\n    ipam:\n      config:\n        - subnet: \"fd00:1::/64\"\n          \
                gateway: \"fd00:1::1\"\n        - subnet: 172.30.0.0/16\n  b:\n    external: true\n    \
                name: shared-net\n  c:\n    driver: macvlan\n    name: lan\n";
    let c = ok(text);
    let a = &c.networks["a"];
    assert_eq!(a.name, "a");
    assert_eq!(a.driver, "bridge");
    assert!(a.enable_ipv6 && !a.external);
    assert_eq!(a.driver_opts["com.docker.network.bridge.name"], "br-a");
    assert_eq!(a.driver_opts["mtu"], "1400");
    // Sorted: IPv4 first.
    assert_eq!(a.ipam[0].subnet.to_string(), "172.30.0.0/16");
    assert_eq!(a.ipam[0].gateway, None);
    assert_eq!(a.ipam[1].gateway, Some(ip("fd00:1::1")));
    assert!(c.networks["b"].external);
    assert_eq!(c.networks["b"].name, "shared-net");
    assert_eq!(c.networks["c"].driver, "macvlan");
    assert_eq!(c.networks["c"].name, "lan");
}

#[test]
fn extensions_are_ignored_and_x_nxinfra_is_read() {
    let text = "version: \"3.8\"\nx-common: &common\n  restart: always\nservices:\n  app:\n    \
                image: app:1\n    network_mode: host\n    x-whatever: {a: [1, $x]}\n    \
                healthcheck:\n      test: [\"CMD\", \"true\"]\n      x-note: y\n    logging:\n      \
                x-note: y\n    x-nxinfra:\n      on_config_change: restart\nnetworks:\n  n:\n    \
                x-note: y\nvolumes:\n  vol:\n    x-note: y\n";
    let c = ok(text);
    assert_eq!(c.services["app"].on_config_change, OnConfigChange::Restart);
    for (value, want) in [
        ("recreate", OnConfigChange::Recreate),
        ("restart", OnConfigChange::Restart),
        ("ignore", OnConfigChange::Ignore),
    ] {
        let c = ok(&svc(&format!(
            "    x-nxinfra:\n      on_config_change: {value}\n"
        )));
        assert_eq!(c.services["app"].on_config_change, want);
    }
    let c = ok(&svc("    x-nxinfra: {}\n"));
    assert_eq!(c.services["app"].on_config_change, OnConfigChange::Recreate);
}

#[test]
fn an_empty_services_mapping_is_a_host_without_containers() {
    assert!(ok("services: {}\n").services.is_empty());
    assert!(ok("services:\n").services.is_empty());
}

// ------------------------------------------------------------------------ normalised form

#[test]
fn normalised_form_is_independent_of_the_syntax_used() {
    let short = svc(
        "    command: serve --port 80\n    environment:\n      B: \"2\"\n      A: \"1\"\n    \
                     ports: [\"8080:80\", \"53:53/udp\"]\n    volumes: [\"/srv/a:/a:ro\", \"/srv/b:/b\"]\n    \
                     cap_add: [SYS_NICE, NET_ADMIN]\n    dns: 1.1.1.1\n    labels: [\"b=2\", \"a=1\"]\n    \
                     restart: \"no\"\n    healthcheck:\n      test: curl -f http://x/\n",
    );
    let long = svc(
        "    command: [serve, --port, \"80\"]\n    environment: [A=1, B=2]\n    ports:\n      \
                    - target: 53\n        published: 53\n        protocol: udp\n      - target: 80\n        \
                    published: 8080\n    volumes:\n      - type: bind\n        source: /srv/b\n        \
                    target: /b\n      - type: bind\n        source: /srv/a\n        target: /a\n        \
                    read_only: true\n    cap_add: [CAP_NET_ADMIN, sys_nice]\n    dns: [1.1.1.1]\n    \
                    labels:\n      a: \"1\"\n      b: \"2\"\n    healthcheck:\n      \
                    test: [\"CMD-SHELL\", \"curl -f http://x/\"]\n      interval: 30s\n      timeout: 30s\n      \
                    retries: 3\n      start_period: 0s\n",
    );
    let a = app(&short).canonical_json().unwrap();
    let b = app(&long).canonical_json().unwrap();
    assert_eq!(a, b);
    // And it changes with what the container gets.
    let c = app(&short.replace("B: \"2\"", "B: \"3\""))
        .canonical_json()
        .unwrap();
    assert_ne!(a, c);
    // Deterministic: same input, same bytes.
    assert_eq!(a, app(&short).canonical_json().unwrap());
    assert!(a.contains("\"stop_grace_period\":10000000000"), "{a}");
}

#[test]
fn policies_stay_out_of_the_hashed_spec() {
    let base = app(&svc("")).canonical_json().unwrap();
    for body in [
        "    pull_policy: always\n",
        "    x-nxinfra:\n      on_config_change: ignore\n",
    ] {
        assert_eq!(app(&svc(body)).canonical_json().unwrap(), base, "{body}");
    }
}

// ------------------------------------------------------------------------ parse errors

#[test]
fn unknown_and_unsupported_keys_name_file_line_and_key() {
    let cases = [
        (
            svc("    enviroment:\n      A: b\n"),
            "rendered/h1/compose.yml:5: service app: ",
            "unknown key \"enviroment\" (did you mean \"environment\"?)",
        ),
        (
            svc("    healthcheck:\n      test: [\"CMD\", \"x\"]\n      intervall: 5s\n"),
            "rendered/h1/compose.yml:7: service app: healthcheck: ",
            "unknown key \"intervall\" (did you mean \"interval\"?)",
        ),
        (
            svc("    build: .\n"),
            "rendered/h1/compose.yml:5: service app: ",
            "unknown key \"build\" (a Compose key that nxinfra does not support",
        ),
        (
            format!("servics: {{}}\n{}", svc("")),
            "rendered/h1/compose.yml:1: ",
            "unknown key \"servics\" (did you mean \"services\"?)",
        ),
        (
            svc("    ports:\n      - target: 80\n        publshed: 8080\n"),
            "rendered/h1/compose.yml:7: service app: ports[0]: ",
            "unknown key \"publshed\" (did you mean \"published\"?)",
        ),
        (
            svc("    x-nxinfra:\n      on_config_chnage: restart\n"),
            "rendered/h1/compose.yml:6: service app: x-nxinfra: ",
            "unknown key \"on_config_chnage\"",
        ),
        (
            svc("").replace("  net:\n", "  net:\n    x-nxinfra: {}\n"),
            "rendered/h1/compose.yml:7: network net: ",
            "unknown key \"x-nxinfra\" (x-nxinfra is only read on a service)",
        ),
        (
            svc("").replace("    ipam:", "    ipam:\n      driver: default"),
            "rendered/h1/compose.yml:9: network net: ipam: ",
            "unknown key \"driver\"",
        ),
        (
            format!("{}volumes:\n  v:\n    labels: {{}}\n", svc("")),
            "rendered/h1/compose.yml:16: volume v: ",
            "unknown key \"labels\"",
        ),
        (
            svc("    depends_on:\n      x:\n        required: true\n"),
            "rendered/h1/compose.yml:7: service app: depends_on.x: ",
            "unknown key \"required\"",
        ),
        (
            svc("    <<: *x\n").replace("services:", "x-base: &x {}\nservices:"),
            "rendered/h1/compose.yml:6: service app: ",
            "YAML merge keys are not supported",
        ),
        (
            "services:\n  app:\n    networks: [net]\n".to_string(),
            "rendered/h1/compose.yml:3: service app: ",
            "missing key \"image\"",
        ),
        (
            svc("    image: other:1\n"),
            "rendered/h1/compose.yml:5: service app: ",
            "duplicate key \"image\"",
        ),
        (
            "services:\n  app:\n    image: a:1\n    network_mode: host\n  app:\n    image: b:1\n"
                .to_string(),
            "rendered/h1/compose.yml:5: services: ",
            "duplicate key \"app\"",
        ),
    ];
    for (text, prefix, fragment) in cases {
        assert_problem(&text, prefix, fragment);
    }
}

#[test]
fn bad_values_name_file_line_and_key() {
    let l5 = "rendered/h1/compose.yml:5: service app: ";
    let l6 = "rendered/h1/compose.yml:6: service app: ";
    let cases = [
        (
            svc("    ports: [\"80:80/tcpx\"]\n"),
            format!("{l5}ports[0]: "),
            "protocol \"tcpx\"",
        ),
        (
            svc("    ports:\n      - \"::1:80:80\"\n"),
            format!("{l6}ports[0]: "),
            "IPv6 host address goes in brackets",
        ),
        (
            svc("    ports:\n      - target: 80\n        published: 8080-8081\n"),
            format!("{l6}ports[0]: "),
            "differ in length",
        ),
        (
            svc("    volumes:\n      - /a:/b:z\n"),
            format!("{l6}volumes[0]: "),
            "mode \"z\" is not supported",
        ),
        (
            svc("    volumes:\n      - ./config:/etc/x\n"),
            format!("{l6}volumes[0]: "),
            "relative bind-mount source \"./config\"",
        ),
        (
            svc("    volumes:\n      - type: bind\n        source: config\n        target: /x\n"),
            format!("{l6}volumes[0]: "),
            "relative bind-mount source \"config\"",
        ),
        (
            svc("    volumes:\n      - /data\n"),
            format!("{l6}volumes[0]: "),
            "anonymous volume",
        ),
        (
            svc("    volumes:\n      - type: tmpfs\n        target: /x\n"),
            format!("{l6}volumes[0].type: "),
            "unknown value \"tmpfs\" (expected one of: bind, volume)",
        ),
        (
            svc("    stop_grace_period: 10\n"),
            format!("{l5}stop_grace_period: "),
            "needs a unit",
        ),
        (
            svc("    healthcheck:\n      test: [\"CMD\", \"x\"]\n      interval: 1x\n"),
            "rendered/h1/compose.yml:7: service app: healthcheck.interval: ".to_string(),
            "bad duration \"1x\": unknown unit",
        ),
        (
            svc("    healthcheck:\n      test: [\"curl\", \"x\"]\n"),
            format!("{l6}healthcheck.test: "),
            "starts with \"CMD\"",
        ),
        (
            svc("    ulimits:\n      nofiles: 5\n"),
            format!("{l6}ulimits: "),
            "unknown ulimit \"nofiles\"",
        ),
        (
            svc("    ulimits:\n      nofile:\n        soft: 10\n        hard: 5\n"),
            "rendered/h1/compose.yml:7: service app: ulimits.nofile: ".to_string(),
            "above the hard limit",
        ),
        (
            svc("    cap_add: [NET_ADMN]\n"),
            format!("{l5}cap_add[0]: "),
            "unknown capability \"NET_ADMN\"",
        ),
        (
            svc("    restart: sometimes\n"),
            format!("{l5}restart: "),
            "unknown restart policy \"sometimes\"",
        ),
        (
            file("    network_mode: container:x\n"),
            "rendered/h1/compose.yml:4: service app: network_mode: ".to_string(),
            "unsupported network_mode",
        ),
        (
            svc("    pull_policy: daily\n"),
            format!("{l5}pull_policy: "),
            "unknown value \"daily\" (expected one of: if_not_present, missing, always, never)",
        ),
        (
            svc("    pid: container:x\n"),
            format!("{l5}pid: "),
            "unknown value \"container:x\"",
        ),
        (
            svc("    depends_on:\n      db:\n        condition: started\n"),
            "rendered/h1/compose.yml:7: service app: depends_on.db.condition: ".to_string(),
            "unknown value \"started\"",
        ),
        (
            svc("    x-nxinfra:\n      on_config_change: reload\n"),
            format!("{l6}x-nxinfra.on_config_change: "),
            "unknown value \"reload\" (expected one of: recreate, restart, ignore)",
        ),
        (
            svc("    dns: [1.1.1.1, dns.google]\n"),
            format!("{l5}dns[1]: "),
            "\"dns.google\" is not an IP address",
        ),
        (
            svc("    devices: [\"/dev/a:/dev/b:x\"]\n"),
            format!("{l5}devices[0]: "),
            "permissions \"x\"",
        ),
        (
            file("    networks:\n      net:\n        ipv6_address: 10.0.0.5\n"),
            "rendered/h1/compose.yml:6: service app: networks.net.ipv6_address: ".to_string(),
            "\"10.0.0.5\" is not an IPv6 address",
        ),
        (
            svc("").replace("10.0.0.0/24", "10.0.0.1/24"),
            "rendered/h1/compose.yml:10: network net: ipam.config[0].subnet: ".to_string(),
            "host bits are set (the subnet is 10.0.0.0/24)",
        ),
        (
            svc("    privileged: yes\n"),
            format!("{l5}privileged: "),
            "invalid type",
        ),
        (
            svc("    command: \"echo 'unterminated\"\n"),
            format!("{l5}command: "),
            "unbalanced ' quote",
        ),
        (
            svc("    command: [\"echo\", \"$HOME\"]\n"),
            format!("{l5}command[1]: "),
            "must be written \"$$\"",
        ),
        (
            svc("    healthcheck: [\"CMD\", \"true\"]\n"),
            format!("{l5}healthcheck: "),
            "invalid type: sequence",
        ),
        (
            svc("    labels: !tag {a: b}\n"),
            format!("{l5}labels: "),
            "YAML tags",
        ),
        (
            svc("    logging:\n      options:\n        max-size: 1.5\n"),
            "rendered/h1/compose.yml:7: service app: logging.options.max-size: ".to_string(),
            "a floating-point number where a string is expected: quote it",
        ),
    ];
    for (text, prefix, fragment) in cases {
        assert_problem(&text, &prefix, fragment);
    }
}

#[test]
fn yaml_syntax_errors_and_empty_files() {
    let e = err("services:\n  app: [\n");
    let shown = e.to_string();
    assert!(shown.starts_with("rendered/h1/compose.yml:"), "{shown}");
    assert!(e.problems()[0].line.is_some(), "{shown}");
    assert_eq!(
        err("").to_string(),
        "rendered/h1/compose.yml: the file is empty (expected `services:`)"
    );
    assert_eq!(
        err("# nothing\n").problems()[0].message,
        "the file is empty (expected `services:`)"
    );
    let e = err("services: {}\n---\nservices: {}\n");
    assert!(e.to_string().contains("more than one document"), "{e}");
    let e = err("- a\n");
    assert!(e.to_string().contains("invalid type: sequence"), "{e}");
}

// ------------------------------------------------------------------------ secrets in errors

#[test]
fn environment_values_never_appear_in_errors() {
    const SECRET: &str = "hunter2-Secret";
    let cases = [
        (
            svc("    environment:\n      DB_PASSWORD: \"hunter2-Secret$x\"\n"),
            6,
            "environment.DB_PASSWORD: ",
            "must be written \"$$\"",
        ),
        (
            svc("    environment:\n      - DB_PASSWORD=hunter2-Secret$x\n"),
            6,
            "environment[0]: ",
            "variable DB_PASSWORD: a \"$\" must be written",
        ),
        (
            svc("    environment:\n      - DB_PASSWORD=a\n      - DB_PASSWORD=hunter2-Secret\n"),
            7,
            "environment[1]: ",
            "variable DB_PASSWORD is set twice",
        ),
        (
            svc("    environment:\n      DB_PASSWORD: a\n      DB_PASSWORD: hunter2-Secret\n"),
            7,
            "environment: ",
            "duplicate key \"DB_PASSWORD\"",
        ),
        (
            svc("    environment:\n      DB_PASSWORD:\n"),
            6,
            "environment.DB_PASSWORD: ",
            "no value",
        ),
        (
            svc("    environment:\n      - DB_PASSWORD\n"),
            6,
            "environment[0]: ",
            "variable DB_PASSWORD has no value",
        ),
        (
            svc("    environment:\n      DB_PASSWORD: [hunter2-Secret]\n"),
            6,
            "environment.DB_PASSWORD: ",
            "a list where a string is expected",
        ),
        (
            svc("    environment:\n      DB_PASSWORD: 1.5\n"),
            6,
            "environment.DB_PASSWORD: ",
            "a floating-point number",
        ),
        (
            svc("    environment:\n      DB_PASSWORD: true\n"),
            6,
            "environment.DB_PASSWORD: ",
            "a boolean",
        ),
        (
            svc("    environment: \"DB_PASSWORD=hunter2-Secret\"\n"),
            5,
            "environment: ",
            "a string: expected a mapping of variables",
        ),
        (
            svc("    environment:\n      \"DB PASSWORD\": hunter2-Secret\n"),
            6,
            "environment: ",
            "contains \"=\", a space or a NUL",
        ),
        (
            svc("    environment:\n      - \"=hunter2-Secret\"\n"),
            6,
            "environment[0]: ",
            "a variable with an empty name",
        ),
    ];
    for (text, line, key, fragment) in cases {
        let e = err(&text);
        let shown = e.to_string();
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("1.5") && !shown.contains("true"), "{shown}");
        assert_problem(
            &text,
            &format!("rendered/h1/compose.yml:{line}: service app: {key}"),
            fragment,
        );
    }
    // Nor in the Debug output of a loaded service.
    let c = ok(&svc(
        "    environment:\n      DB_PASSWORD: hunter2-Secret\n",
    ));
    let debug = format!("{c:?}");
    assert!(
        debug.contains("DB_PASSWORD") && !debug.contains(SECRET),
        "{debug}"
    );
}

// ------------------------------------------------------------------------ checks after parsing

#[test]
fn references_between_services_networks_and_volumes() {
    let two = |a: &str, b: &str| {
        format!(
            "services:\n  a:\n    image: a:1\n    network_mode: none\n{a}  b:\n    image: b:1\n    \
             network_mode: none\n{b}"
        )
    };
    let cases = [
        (
            svc("    depends_on: [db]\n"),
            "rendered/h1/compose.yml:5: service app: depends_on.db: ",
            "depends on unknown service \"db\"",
        ),
        (
            svc("    depends_on:\n      db:\n        condition: service_healthy\n"),
            "rendered/h1/compose.yml:6: service app: depends_on.db: ",
            "unknown service \"db\"",
        ),
        (
            svc("    depends_on: [app]\n"),
            "rendered/h1/compose.yml:5: service app: depends_on.app: ",
            "depends on itself",
        ),
        (
            two("    depends_on: [b]\n", "    depends_on: [a]\n"),
            "rendered/h1/compose.yml:5: service a: depends_on: ",
            "dependency cycle: a -> b -> a",
        ),
        (
            two("    depends_on: [b]\n", "    network_mode: \"service:a\"\n").replace(
                "    network_mode: none\n    network_mode",
                "    network_mode",
            ),
            "rendered/h1/compose.yml:5: service a: depends_on: ",
            "dependency cycle: a -> b -> a",
        ),
        (
            file("    networks: [net, other]\n"),
            "rendered/h1/compose.yml:4: service app: networks.other: ",
            "network \"other\" is not declared under the top-level `networks`",
        ),
        (
            file("    network_mode: \"service:nope\"\n"),
            "rendered/h1/compose.yml:4: service app: network_mode: ",
            "unknown service \"nope\"",
        ),
        (
            file("    network_mode: \"service:app\"\n"),
            "rendered/h1/compose.yml:4: service app: network_mode: ",
            "names the service itself",
        ),
        (
            svc("    volumes: [\"data:/data\"]\n"),
            "rendered/h1/compose.yml:5: service app: volumes: ",
            "volume \"data\" (mounted on /data) is not declared",
        ),
    ];
    for (text, prefix, fragment) in cases {
        assert_problem(&text, prefix, fragment);
    }
}

#[test]
fn network_mode_conflicts() {
    let l4 = "rendered/h1/compose.yml:4: service app: ";
    let cases = [
        (
            file("    network_mode: host\n    networks: [net]\n"),
            format!("{l4}network_mode: "),
            "network_mode host cannot be combined with `networks`",
        ),
        (
            file("    network_mode: host\n    ports: [\"80:80\"]\n"),
            format!("{l4}network_mode: "),
            "network_mode host cannot be combined with `ports`",
        ),
        (
            file("    network_mode: none\n    ports: [\"80:80\"]\n"),
            format!("{l4}network_mode: "),
            "network_mode none cannot be combined with `ports`",
        ),
        (
            file(
                "    network_mode: \"service:b\"\n    hostname: x\n  b:\n    image: b:1\n    network_mode: none\n",
            ),
            format!("{l4}network_mode: "),
            "network_mode service:b cannot be combined with `hostname`",
        ),
        (
            file(""),
            "rendered/h1/compose.yml:2: service app: ".to_string(),
            "neither `networks` nor `network_mode`",
        ),
    ];
    for (text, prefix, fragment) in cases {
        assert_problem(&text, &prefix, fragment);
    }
}

#[test]
fn fixed_addresses_against_networks() {
    let at = |net: &str, key: &str, value: &str| {
        file(&format!(
            "    networks:\n      {net}:\n        {key}: {value}\n"
        ))
    };
    let prefix = |net: &str, key: &str| {
        format!("rendered/h1/compose.yml:6: service app: networks.{net}.{key}: ")
    };
    let no_v6 = at("net", "ipv6_address", "fd00::5").replace("    enable_ipv6: true\n", "");
    let cases = [
        (
            no_v6,
            prefix("net", "ipv6_address"),
            "ipv6_address fd00::5 on network net, which does not have enable_ipv6: true"
                .to_string(),
        ),
        (
            at("net", "ipv6_address", "fd01::5"),
            prefix("net", "ipv6_address"),
            "address fd01::5 is outside the IPv6 subnet of network net (fd00::/64)".into(),
        ),
        (
            at("net", "ipv4_address", "10.0.1.5"),
            prefix("net", "ipv4_address"),
            "address 10.0.1.5 is outside the IPv4 subnet of network net (10.0.0.0/24)".into(),
        ),
        (
            at("net", "ipv4_address", "10.0.0.1"),
            prefix("net", "ipv4_address"),
            "address 10.0.0.1 is the gateway of network net".into(),
        ),
        (
            at("net", "ipv6_address", "fd00::1"),
            prefix("net", "ipv6_address"),
            "is the gateway".into(),
        ),
        (
            at("net", "ipv4_address", "10.0.0.255"),
            prefix("net", "ipv4_address"),
            "network or broadcast address of 10.0.0.0/24".into(),
        ),
        (
            at("net", "ipv4_address", "10.0.0.5").replace(
                "        - subnet: 10.0.0.0/24\n          gateway: 10.0.0.1\n",
                "",
            ),
            prefix("net", "ipv4_address"),
            "fixed address 10.0.0.5 needs an IPv4 subnet in networks.net.ipam.config".into(),
        ),
        (
            file(
                "    networks:\n      net:\n        ipv4_address: 10.0.0.5\n  b:\n    image: b:1\n    networks:\n      net:\n        ipv4_address: 10.0.0.5\n",
            ),
            "rendered/h1/compose.yml:11: service b: networks.net.ipv4_address: ".to_string(),
            "10.0.0.5 on network net is also the address of app".into(),
        ),
    ];
    for (text, prefix, fragment) in cases {
        assert_problem(&text, &prefix, &fragment);
    }
    // An external network's subnets are unknown: its addresses are not checked.
    ok(&at("ext", "ipv6_address", "fd09::5").replace(
        "networks:\n  net:",
        "networks:\n  ext:\n    external: true\n  net:",
    ));
}

#[test]
fn top_level_network_and_volume_checks() {
    let net = |body: &str| {
        format!("services:\n  app:\n    image: app:1\n    networks: [n]\nnetworks:\n  n:\n{body}")
    };
    let cases = [
        (
            net(
                "    ipam:\n      config:\n        - subnet: 10.1.0.0/16\n          gateway: 10.2.0.1\n",
            ),
            "rendered/h1/compose.yml:8: network n: ipam.config: ",
            "gateway 10.2.0.1 is outside subnet 10.1.0.0/16",
        ),
        (
            net("    ipam:\n      config:\n        - subnet: fd00::/64\n"),
            "rendered/h1/compose.yml:8: network n: ipam.config: ",
            "IPv6 subnet fd00::/64 on a network without enable_ipv6: true",
        ),
        (
            net(
                "    ipam:\n      config:\n        - subnet: 10.0.0.0/8\n        - subnet: 10.1.0.0/16\n",
            ),
            "rendered/h1/compose.yml:8: network n: ipam.config: ",
            "subnets 10.0.0.0/8 and 10.1.0.0/16 overlap",
        ),
        (
            net("    external: true\n    ipam:\n      config: []\n"),
            "rendered/h1/compose.yml:8: network n: ipam: ",
            "an external network is created elsewhere: `ipam` does not apply",
        ),
        (
            net("    name: host\n"),
            "rendered/h1/compose.yml:6: network n: ",
            "network name \"host\" is Docker's own",
        ),
        (
            net("    driver: overlay\n"),
            "rendered/h1/compose.yml:7: network n: driver: ",
            "unsupported network driver \"overlay\"",
        ),
        (
            net(
                "    ipam:\n      config:\n        - subnet: 10.0.0.0/16\n  m:\n    ipam:\n      config:\n        - subnet: 10.0.5.0/24\n",
            ),
            "rendered/h1/compose.yml:8: network n: ipam.config: ",
            "subnet 10.0.0.0/16 overlaps subnet 10.0.5.0/24 of network m",
        ),
        (
            net("    name: x\n  m:\n    name: x\n"),
            "rendered/h1/compose.yml:7: network n: name: ",
            "Docker name \"x\" is also network m's",
        ),
        (
            format!(
                "{}volumes:\n  v:\n    external: true\n    driver: local\n",
                net("")
            ),
            "rendered/h1/compose.yml:10: volume v: driver: ",
            "an external volume is created elsewhere",
        ),
        (
            format!(
                "{}volumes:\n  v:\n    name: x\n  w:\n    name: x\n",
                net("")
            ),
            "rendered/h1/compose.yml:11: volume w: name: ",
            "Docker name \"x\" is also volume v's",
        ),
    ];
    for (text, prefix, fragment) in cases {
        assert_problem(&text, prefix, fragment);
    }
}

#[test]
fn service_level_checks() {
    let l5 = "rendered/h1/compose.yml:5: service app: ";
    let cases = [
        (
            svc("    container_name: \"-x\"\n"),
            format!("{l5}container_name: "),
            "invalid container name \"-x\"",
        ),
        (
            svc("    hostname: a_b\n"),
            format!("{l5}hostname: "),
            "invalid hostname \"a_b\"",
        ),
        (
            svc("    labels:\n      nxinfra.hash: x\n"),
            "rendered/h1/compose.yml:6: service app: labels.nxinfra.hash: ".to_string(),
            "reserved",
        ),
        (
            svc("    cap_add: [NET_ADMIN]\n    cap_drop: [NET_ADMIN]\n"),
            "rendered/h1/compose.yml:6: service app: cap_drop: ".to_string(),
            "NET_ADMIN is both added and dropped",
        ),
        (
            svc("    volumes: [\"/a:/x\", \"/b:/x/\"]\n"),
            format!("{l5}volumes: "),
            "two volumes are mounted on /x",
        ),
        (
            svc("    devices: [\"/dev/a:/dev/x\", \"/dev/b:/dev/x\"]\n"),
            format!("{l5}devices: "),
            "two devices are mapped to /dev/x",
        ),
        (
            svc("    ports: [\"80:80\", \"80:80\"]\n"),
            format!("{l5}ports: "),
            "published twice the same way",
        ),
        (
            svc("    ports: [\"80:80\", \"0.0.0.0:80:81\"]\n"),
            format!("{l5}ports: "),
            "host port 80/tcp is published twice",
        ),
        (
            svc("    healthcheck:\n      disable: true\n      test: [\"CMD\", \"x\"]\n"),
            "rendered/h1/compose.yml:6: service app: healthcheck.disable: ".to_string(),
            "disable: true takes no other healthcheck settings",
        ),
        (
            svc("    healthcheck:\n      interval: 5s\n"),
            format!("{l5}healthcheck: "),
            "a healthcheck needs a `test`",
        ),
        (
            svc("    healthcheck:\n      test: [\"NONE\"]\n      retries: 3\n"),
            "rendered/h1/compose.yml:6: service app: healthcheck.test: ".to_string(),
            "takes no other healthcheck settings",
        ),
        (
            svc("    healthcheck:\n      test: [\"CMD\", \"x\"]\n      timeout: 0s\n"),
            "rendered/h1/compose.yml:7: service app: healthcheck.timeout: ".to_string(),
            "timeout must be at least 1ms",
        ),
        (
            svc("    healthcheck:\n      test: [\"CMD\", \"x\"]\n      interval: 10us\n"),
            "rendered/h1/compose.yml:7: service app: healthcheck.interval: ".to_string(),
            "interval must be 0 or at least 1ms",
        ),
        (
            svc("    image: Caddy:2\n").replace("    image: app:1\n", ""),
            "rendered/h1/compose.yml:4: service app: image: ".to_string(),
            "must be lower case",
        ),
    ];
    for (text, prefix, fragment) in cases {
        assert_problem(&text, &prefix, fragment);
    }
    let two = "services:\n  a:\n    image: a:1\n    network_mode: host\n    container_name: same\n  \
               b:\n    image: b:1\n    network_mode: host\n    container_name: same\n";
    assert_problem(
        two,
        "rendered/h1/compose.yml:9: service b: container_name: ",
        "container name \"same\" is also the container of service a",
    );
    let ports = "services:\n  aa:\n    image: a:1\n    network_mode: bridge\n    ports: [\"443:443\"]\n  \
                 bb:\n    image: b:1\n    network_mode: bridge\n    ports: [\"[::]:443:443\"]\n  \
                 cc:\n    image: c:1\n    network_mode: bridge\n    ports: [\"443:443/udp\", \"127.0.0.1:80:80\", \"127.0.0.2:80:80\"]\n";
    assert_problem(
        ports,
        "rendered/h1/compose.yml:9: service bb: ports: ",
        "host port 443/tcp is published also by service aa",
    );
    assert_eq!(err(ports).problems().len(), 1, "{}", err(ports));
    let names = "services:\n  a:\n    image: a:1\n    network_mode: host\n  bad/name:\n    image: b:1\n    network_mode: host\n";
    assert_problem(
        names,
        "rendered/h1/compose.yml:5: service bad/name: ",
        "invalid service name \"bad/name\"",
    );
}

#[test]
fn every_problem_after_parsing_is_reported_at_once() {
    let text = svc("    depends_on: [db, cache]\n    hostname: a_b\n");
    let e = err(&text);
    let messages: Vec<&str> = e.problems().iter().map(|p| p.message.as_str()).collect();
    assert_eq!(e.problems().len(), 3, "{messages:?}");
}

//! Every syntax form accepted, and the normalised form it gives.

use std::path::Path;
use std::time::Duration;

use super::*;

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
    let waves: Vec<Vec<&str>> = c
        .start_waves()
        .iter()
        .map(|w| w.iter().map(|s| s.name.as_str()).collect())
        .collect();
    assert_eq!(
        waves,
        [
            vec!["aaa", "db", "init"],
            vec!["cache"],
            vec!["web"],
            vec!["sidecar"]
        ]
    );
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

#[test]
fn merge_keys_share_settings_and_own_keys_win() {
    let text = "x-defaults: &defaults\n  network_mode: host\n  restart: always\n  user: \"1000\"\n  environment:\n    A: \
                shared\nservices:\n  app:\n    <<: *defaults\n    image: app:1\n    user: \"0\"\n  \
                other:\n    <<: *defaults\n    image: other:1\n";
    let compose = ok(text);
    let (app, other) = (
        &compose.services["app"].spec,
        &compose.services["other"].spec,
    );
    assert_eq!(app.user.as_deref(), Some("0"));
    assert_eq!(other.user.as_deref(), Some("1000"));
    assert_eq!(app.restart, other.restart);
    assert_eq!(
        format!("{:?}", app.restart),
        format!("{:?}", Restart::Always)
    );
    assert_eq!(app.environment, other.environment);
}

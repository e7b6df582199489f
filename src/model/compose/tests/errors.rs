//! Parse errors: unknown keys, bad values, YAML errors; secrets kept out of messages.

use super::*;

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
            svc("    <<: *x\n").replace("services:", "x-base: &x {imgae: a}\nservices:"),
            "rendered/h1/compose.yml:3: service app: ",
            "unknown key \"imgae\"",
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
            svc(
                "    x-nxinfra:\n      checks:\n        - http: http://127.0.0.1/\n          tiemout: 2s\n",
            ),
            "rendered/h1/compose.yml:8: service app: x-nxinfra.checks[0]: ",
            "unknown key \"tiemout\" (expected one of: name, http, status, body, tcp, from, exec, timeout",
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
        // Bounded at parse time: the health gate's wait never overflows (it panicked).
        (
            svc(
                "    healthcheck:\n      test: [\"CMD\", \"x\"]\n      interval: 2562047h\n      timeout: 2562047h\n",
            ),
            "rendered/h1/compose.yml:7: service app: healthcheck.interval: ".to_string(),
            "interval must be at most 24h",
        ),
        (
            svc("    healthcheck:\n      test: [\"CMD\", \"x\"]\n      retries: 4294967295\n"),
            "rendered/h1/compose.yml:7: service app: healthcheck.retries: ".to_string(),
            "retries must be at most 1000",
        ),
        (
            svc("    stop_grace_period: 25h\n"),
            format!("{l5}stop_grace_period: "),
            "stop_grace_period must be at most 24h",
        ),
        (
            svc("    x-nxinfra:\n      job: true\n      timeout: 169h\n"),
            "rendered/h1/compose.yml:7: service app: x-nxinfra.timeout: ".to_string(),
            "timeout must be at most 168h",
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
            svc("    healthcheck: 5\n"),
            format!("{l5}healthcheck: "),
            "invalid type: integer `5`, expected a mapping",
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
            "services:\n  app:\n".to_string(),
            "rendered/h1/compose.yml:2: service app: ".to_string(),
            "missing key \"image\"",
        ),
        (
            svc("    ports:\n      - target: \"80\"\n"),
            format!("{l6}ports[0].target: "),
            "expected a whole number",
        ),
        (
            svc("    depends_on: [db, db]\n"),
            format!("{l5}depends_on: "),
            "service db is listed twice",
        ),
        (
            file("    networks: [net, net]\n"),
            "rendered/h1/compose.yml:4: service app: networks: ".to_string(),
            "network net is listed twice",
        ),
        (
            svc("    healthcheck:\n      test: \"  \"\n"),
            format!("{l6}healthcheck.test: "),
            "an empty test",
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

#[test]
fn checks_are_checked_and_name_their_key() {
    let check = |yaml: &str| svc(&format!("    x-nxinfra:\n      checks:\n{yaml}"));
    for (yaml, message) in [
        (
            "        - {http: 'http://a/', tcp: 'a:1'}\n",
            "x-nxinfra.checks[0]: a check has exactly one of `http`, `tcp`, `exec`",
        ),
        (
            "        - {exec: 'true'}\n        - {tcp: 'a:1', status: 200}\n",
            "x-nxinfra.checks[1].status: `status` is for an `http` check",
        ),
        (
            "        - {http: 'https://nxthdr.dev/'}\n",
            "x-nxinfra.checks[0].http: \"https://nxthdr.dev/\": only http:// URLs",
        ),
        (
            "        - {tcp: 'clickhouse'}\n",
            "x-nxinfra.checks[0].tcp: \"clickhouse\": expected host:port",
        ),
        (
            "        - {exec: 'true', from: host}\n",
            "x-nxinfra.checks[0].from: `from` is for `http` and `tcp`",
        ),
        (
            "        - {exec: 'true', interval: 2h}\n",
            "x-nxinfra.checks[0].interval: interval must be at most 1h",
        ),
        (
            "        - {exec: []}\n",
            "x-nxinfra.checks[0].exec: an empty command",
        ),
    ] {
        let e = err(&check(yaml)).to_string();
        assert!(e.contains(message), "{yaml}: {e}");
        assert!(e.starts_with("rendered/h1/compose.yml:"), "{e}");
    }
    let c = ok(&check(
        "        - {http: 'http://127.0.0.1:8080/', body: ok, name: web}\n        - exec: \
         clickhouse-client -q 'SELECT 1'\n          retries: 0\n",
    ));
    let checks = &c.services["app"].checks;
    assert_eq!(checks[0].name, "web");
    assert_eq!(
        (checks[0].retries, checks[0].timeout),
        (3, std::time::Duration::from_secs(5)),
        "defaults"
    );
    assert_eq!(
        checks[1].probe,
        crate::model::compose::Probe::Exec {
            command: vec![
                "sh".into(),
                "-c".into(),
                "clickhouse-client -q 'SELECT 1'".into()
            ]
        }
    );
    assert_eq!(checks[1].name, "exec sh -c clickhouse-client -q 'SELECT 1'");
}

//! Checks after parsing: references, network modes, addresses, names, ports.

use super::*;

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
        (
            format!("{}volumes:\n  v:\n", net("")),
            "rendered/h1/compose.yml:8: volume v: ",
            "invalid volume name \"v\": Docker wants [a-zA-Z0-9][a-zA-Z0-9_.-]+",
        ),
        (
            net("").replace("  n:\n", "  n:\n  \"bad net\":\n"),
            "rendered/h1/compose.yml:7: network bad net: ",
            "invalid network name \"bad net\"",
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

#[test]
fn jobs_are_declared_or_awaited_and_must_be_able_to_complete() {
    // Awaited with service_completed_successfully: a job, with the default timeout.
    let awaited = ok(&svc(
        "  web:\n    image: web:1\n    network_mode: none\n    depends_on:\n      app:\n        \
         condition: service_completed_successfully\n",
    ));
    assert_eq!(
        awaited.services["app"].job,
        Some(Job {
            timeout: Job::DEFAULT_TIMEOUT
        })
    );
    assert_eq!(awaited.services["web"].job, None);
    // Declared, with its timeout.
    let declared = ok(&svc(
        "    x-nxinfra:\n      job: true\n      timeout: 90s\n",
    ));
    assert_eq!(
        declared.services["app"].job,
        Some(Job {
            timeout: std::time::Duration::from_secs(90)
        })
    );
    let l = "rendered/h1/compose.yml:";
    let cases = [
        (
            svc("    restart: always\n    x-nxinfra:\n      job: true\n"),
            format!("{l}5: service app: restart: "),
            "a job (x-nxinfra.job, or awaited with service_completed_successfully) must be able to complete",
        ),
        (
            svc(
                "    healthcheck:\n      test: [\"CMD\", \"true\"]\n    x-nxinfra:\n      job: true\n",
            ),
            format!("{l}5: service app: healthcheck: "),
            "a job has no healthcheck",
        ),
        (
            svc("    x-nxinfra:\n      timeout: 10s\n"),
            format!("{l}6: service app: x-nxinfra.timeout: "),
            "timeout is for jobs",
        ),
    ];
    for (text, prefix, fragment) in cases {
        assert_problem(&text, &prefix, fragment);
    }
}

//! Post-deploy checks end to end on the testbed: an http check from the host's point of view
//! (through its SSH connection) gates an update, and the new version that answers 500 is
//! rolled back while the old one answers on; an exec check that fails quotes its output with
//! the secrets redacted; `nxinfra status --checks` runs the services' and the host's checks.

mod common;

use common::engine::{self, apply, docker, id};
use common::{SECRET, Testbed, texts};

const COMPOSE: &str = r#"services:
  site:
    image: nxtb-busybox:1
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: ["18080:8080"]
    networks:
      front: {}
    volumes:
      - {{ nxinfra_base_dir }}/site/www:/www:ro
    environment:
      TOKEN: "{{ db.password }}"
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/index.html"]
      interval: 1s
      timeout: 1s
      retries: 2
    stop_grace_period: 1s
    x-nxinfra:
      checks:
        - name: health page
          http: http://127.0.0.1:18080/cgi-bin/health.sh
          body: ok
          retries: 2
          interval: 300ms
        - name: freshness
          exec: "test -e /www/{{ fresh }} || { echo \"stale: no /www/{{ fresh }} (token $$TOKEN)\"; exit 1; }"
          retries: 0
        - tcp: 127.0.0.1:18080
        - http: http://127.0.0.1:8080/index.html
          from: container
        - {tcp: "127.0.0.1:8080", from: container}
networks:
  front: {}
"#;

const HEALTH_OK: &str = "#!/bin/sh\nprintf 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nok {{ version }}\\n'\n";
const HEALTH_500: &str =
    "#!/bin/sh\nprintf 'HTTP/1.0 500 Internal Server Error\\r\\n\\r\\nboom {{ version }}\\n'\n";

/// The site's health page as the container serves it now.
fn health(tb: &Testbed, host: &str) -> String {
    let url = "http://127.0.0.1:8080/cgi-bin/health.sh";
    docker(tb, host, &["exec", "site", "wget", "-q", "-O", "-", url]).1
}

#[test]
fn a_failing_check_rolls_the_update_back_and_status_runs_the_checks() {
    let Some(tb) = Testbed::get() else { return };
    let (host, test) = ("h5", "checks");
    engine::clean_engine(&tb, host, &["front"]);
    let vars = "    version: 1\n    fresh: index.html\n    nxinfra_checks:\n      - {name: root \
                is there, exec: 'test -d /'}\n      - {disk_max_percent: 100}\n";
    let fleet = engine::fleet(&tb, host, test, COMPOSE, vars);
    fleet.write(
        "templates/config/testbed/site/www/index.html",
        "<h1>site</h1>\n",
    );
    fleet.write(
        "templates/config/testbed/site/www/cgi-bin/health.sh.j2",
        HEALTH_OK,
    );
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    assert_eq!(health(&tb, host), "ok 1");
    // apply --json lists the gate's checks, each passed.
    let gated = json["hosts"][0]["checks"].as_array().unwrap();
    assert_eq!(gated.len(), 5, "{json}");
    assert!(
        gated
            .iter()
            .all(|c| c["passed"] == true && c["container"] == "site")
    );
    let site = id(&tb, host, "site");

    // status --checks: the site's five and the host's two pass.
    let ssh = tb.ssh_config.to_str().unwrap();
    let out = fleet.nxinfra(&["status", "--checks", "--json", "--ssh-config", ssh]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    common::assert_schema(&json, "status.schema.json");
    let runs: Vec<String> = json["hosts"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {} {}", c["service"], c["name"], c["passed"]))
        .collect();
    assert_eq!(
        runs,
        [
            "\"site\" \"health page\" true",
            "\"site\" \"freshness\" true",
            "\"site\" \"tcp 127.0.0.1:18080\" true",
            "\"site\" \"http http://127.0.0.1:8080/index.html\" true",
            "\"site\" \"tcp 127.0.0.1:8080\" true",
            "null \"root is there\" true",
            "null \"disk at most 100%\" true",
        ]
    );

    // The new version answers 500: rolled back, the previous container answers on.
    fleet.write(
        "templates/config/testbed/site/www/cgi-bin/health.sh.j2",
        HEALTH_500,
    );
    let vars2 = vars.replace("version: 1", "version: 2");
    fleet.write(
        "inventory/inventory.yml",
        &fleet.read("inventory/inventory.yml").replace(vars, &vars2),
    );
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{stderr}\n{json}");
    let error = json["hosts"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(
            "check \"health page\" failed after 3 attempts: got 500, expected 200: boom 2"
        ) && error.contains("the previous container was restored and runs"),
        "{error}"
    );
    assert_eq!(
        id(&tb, host, "site"),
        site,
        "the previous container runs on"
    );
    assert_eq!(health(&tb, host), "ok 1", "with its previous files");

    // An exec check that fails: its output quoted, the secret in it redacted.
    fleet.write(
        "templates/config/testbed/site/www/cgi-bin/health.sh.j2",
        HEALTH_OK,
    );
    let vars3 = vars2.replace("fresh: index.html", "fresh: rows.csv");
    fleet.write(
        "inventory/inventory.yml",
        &fleet
            .read("inventory/inventory.yml")
            .replace(&vars2, &vars3),
    );
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{stderr}\n{json}");
    let error = json["hosts"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(
            "check \"freshness\" failed after 1 attempt: exit status 1: stale: no \
             /www/rows.csv (token <secret:db.password>)"
        ),
        "{error}"
    );
    assert!(!stderr.contains(SECRET) && !error.contains(SECRET));
    assert_eq!(id(&tb, host, "site"), site);

    // A host check that fails makes the host not as desired (exit 2), named in the table.
    let vars4 = vars.replace("disk_max_percent: 100", "disk_max_percent: 0");
    fleet.write(
        "inventory/inventory.yml",
        &fleet
            .read("inventory/inventory.yml")
            .replace(&vars3, &vars4),
    );
    let out = fleet.nxinfra(&["status", "--checks", "--ssh-config", ssh]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("! host: check \"disk at most 0%\" failed after 1 attempt: ")
            && stdout.contains("% full, more than 0%"),
        "{stdout}"
    );
    assert!(!stdout.contains(SECRET));
}

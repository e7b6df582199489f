//! `nxinfra apply` on a cluster, end to end: three (then four) testbed engines (Docker 20.10)
//! made a swarm through their SSH connections, labelled, given their roles; a second apply
//! writes nothing; a node of another swarm is refused untouched; the join tokens never
//! printed. Every test leaves the engines out of any swarm, for the other tests.

mod common;

use std::sync::Mutex;

use common::engine::{self, apply, docker};
use common::{Down, Fleet, Testbed, texts};

/// The tests of this file share h1..h4's swarm state: one at a time.
static SWARM: Mutex<()> = Mutex::new(());

const NODES: [&str; 3] = ["h1", "h2", "h3"];

/// The tests' fleet name: what they leave is found and removed by it.
const FLEET: &str = "cluster-e2e";

/// Takes every engine of `hosts` out of any swarm (before a test, and after it on drop).
struct Left<'a> {
    tb: &'a Testbed,
    hosts: Vec<&'static str>,
}

impl<'a> Left<'a> {
    fn new(tb: &'a Testbed, hosts: &[&'static str]) -> Left<'a> {
        let left = Left {
            tb,
            hosts: hosts.to_vec(),
        };
        left.leave();
        left
    }

    /// Out of the swarm, and the fleet's containers gone.
    fn leave(&self) {
        for h in &self.hosts {
            let _ = docker(self.tb, h, &["swarm", "leave", "--force"]);
            let filter = format!("label=nxinfra.fleet={FLEET}");
            let (_, ids) = docker(self.tb, h, &["ps", "-aq", "--filter", &filter]);
            for id in ids.split_whitespace() {
                let _ = docker(self.tb, h, &["rm", "-f", id]);
            }
        }
    }
}

impl Drop for Left<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

/// A fleet whose group `testbed` (a cluster) holds `hosts`, each with a per-host container
/// (a sleeper in compose.yml); `extra` is YAML added to every host (6-space indent, with a
/// `{host}` placeholder).
fn cluster_fleet(
    tb: &Testbed,
    test: &str,
    hosts: &[&str],
    extra: &dyn Fn(&str) -> String,
) -> Fleet {
    let mut more = String::new();
    for h in &hosts[1..] {
        let _ = std::fs::remove_dir_all(tb.base_dir(h, test));
        more.push_str(&format!(
            "    {h}:\n      ansible_host: {}\n      nxinfra_base_dir: {}\n      \
             nxinfra_docker_socket: {}\n{}",
            tb.ip(h),
            tb.base_dir(h, test).display(),
            tb.docker_socket(h).display(),
            extra(h)
        ));
    }
    let compose = "services:\n  cluster-solo:\n    image: nxtb-busybox:1\n    command: [\"sleep\", \"3600\"]\n    \
                   network_mode: none\n    stop_grace_period: 1s\n";
    let fleet = engine::fleet_with_hosts(
        tb,
        hosts[0],
        test,
        compose,
        &format!("    nxinfra_cluster: swarm\n    nxinfra_fleet: {FLEET}\n"),
        &more,
    );
    // The first host's own extra lines go under it (fleet_with_hosts wrote it first).
    let inventory = fleet.read("inventory/inventory.yml");
    let first = format!(
        "nxinfra_docker_socket: {}\n",
        tb.docker_socket(hosts[0]).display()
    );
    let inventory = inventory.replacen(&first, &format!("{first}{}", extra(hosts[0])), 1);
    fleet.write("inventory/inventory.yml", &inventory);
    fleet
}

fn node_of<'a>(json: &'a serde_json::Value, host: &str) -> &'a serde_json::Value {
    json["clusters"][0]["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["host"] == host))
        .unwrap_or_else(|| panic!("{host} not in {json}"))
}

fn actions(json: &serde_json::Value, host: &str) -> Vec<String> {
    node_of(json, host)["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The swarm as `host`'s engine (a manager) lists it: `hostname-independent` lines of
/// `node-address role labels`.
fn swarm_nodes(tb: &Testbed, host: &str) -> Vec<String> {
    let (ok, ids) = docker(tb, host, &["node", "ls", "-q"]);
    assert!(ok, "{ids}");
    let mut out: Vec<String> = ids
        .lines()
        .map(|id| {
            let (ok, line) = docker(
                tb,
                host,
                &[
                    "node",
                    "inspect",
                    "-f",
                    "{{.Status.Addr}} {{.Spec.Role}} {{json .Spec.Labels}}",
                    id,
                ],
            );
            assert!(ok, "{line}");
            line
        })
        .collect();
    out.sort();
    out
}

#[test]
fn apply_builds_the_swarm_labels_its_nodes_and_a_second_apply_writes_nothing() {
    let Some(tb) = Testbed::get() else { return };
    let _one = SWARM.lock().unwrap_or_else(|p| p.into_inner());
    let _left = Left::new(&tb, &["h1", "h2", "h3", "h4"]);
    let test = "cluster-build";
    let labels = |h: &str| {
        if h == "h3" {
            "      nxinfra_swarm_labels: {zone: c}\n".to_string()
        } else {
            String::new()
        }
    };
    let fleet = cluster_fleet(&tb, test, &NODES, &labels);

    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    assert_eq!(
        actions(&json, "h1")[0],
        "initialised the swarm (manager)",
        "{json}"
    );
    assert!(
        actions(&json, "h1").contains(&"label nxinfra.host=h1".to_string()),
        "{json}"
    );
    assert_eq!(actions(&json, "h2")[0], "joined as manager", "{json}");
    assert_eq!(actions(&json, "h3")[0], "joined as manager", "{json}");
    assert!(
        actions(&json, "h3").contains(&"label zone=c".to_string()),
        "{json}"
    );
    // The per-host container of each node runs beside the swarm.
    for (i, h) in NODES.iter().enumerate() {
        assert_eq!(json["hosts"][i]["status"], "changed", "{h}: {json}");
    }
    let nodes = swarm_nodes(&tb, "h1");
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    let h3 = nodes
        .iter()
        .find(|n| n.starts_with(&format!("{} ", tb.ip("h3"))))
        .unwrap_or_else(|| panic!("h3 not in {nodes:?}"));
    assert!(h3.contains("manager"), "{h3}");
    assert!(
        h3.contains(r#""nxinfra.host":"h3""#) && h3.contains(r#""zone":"c""#),
        "{h3}"
    );

    // No join token anywhere in what nxinfra printed.
    let (_, manager_token) = docker(&tb, "h1", &["swarm", "join-token", "-q", "manager"]);
    let (_, worker_token) = docker(&tb, "h1", &["swarm", "join-token", "-q", "worker"]);
    let printed = format!("{json}{stderr}");
    assert!(manager_token.starts_with("SWMTKN-"), "{manager_token}");
    assert!(!printed.contains(&manager_token) && !printed.contains(&worker_token));
    assert!(!printed.contains("SWMTKN-"), "{printed}");

    // Unchanged: one read per node and the node list, no write.
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    for h in NODES {
        assert!(actions(&json, h).is_empty(), "{h}: {json}");
    }
    let calls = &json["clusters"][0]["api_calls"];
    assert_eq!(calls[1], 0, "writes: {json}");
    assert!(calls[0].as_u64().is_some_and(|r| r <= 4), "reads: {json}");

    // h3 declared a worker, its label dropped: demoted, the label removed, h1's kept.
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace(
            "      nxinfra_swarm_labels: {zone: c}\n",
            "      nxinfra_swarm_role: worker\n",
        ),
    );
    let (code, json, stderr) = apply(&fleet, &tb, &["--dry-run"]);
    assert_eq!(
        code,
        Some(2),
        "a dry run with changes exits 2: {stderr}\n{json}"
    );
    assert_eq!(
        actions(&json, "h3"),
        ["demoted to worker", "label zone removed"],
        "{json}"
    );
    assert!(
        swarm_nodes(&tb, "h1")
            .iter()
            .any(|n| n.contains(r#""zone":"c""#)),
        "dry run wrote"
    );
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    let nodes = swarm_nodes(&tb, "h1");
    let h3 = nodes
        .iter()
        .find(|n| n.starts_with(&format!("{} ", tb.ip("h3"))))
        .unwrap_or_else(|| panic!("h3 not in {nodes:?}"));
    assert!(h3.contains("worker") && !h3.contains("zone"), "{h3}");
    assert_eq!(
        engine::docker(&tb, "h2", &["info", "-f", "{{.Swarm.ControlAvailable}}"]).1,
        "true"
    );
}

#[test]
fn a_node_of_another_swarm_is_refused_untouched_and_the_rest_is_applied() {
    let Some(tb) = Testbed::get() else { return };
    let _one = SWARM.lock().unwrap_or_else(|p| p.into_inner());
    let _left = Left::new(&tb, &["h1", "h2", "h3", "h4"]);
    // h4 is the manager of a swarm of its own.
    let (ok, out) = docker(
        &tb,
        "h4",
        &["swarm", "init", "--advertise-addr", tb.ip("h4")],
    );
    assert!(ok, "{out}");
    let (_, theirs) = docker(&tb, "h4", &["info", "-f", "{{.Swarm.Cluster.ID}}"]);
    let fleet = cluster_fleet(&tb, "cluster-other", &["h1", "h2", "h4"], &|_| {
        String::new()
    });

    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{stderr}\n{json}");
    let h4 = node_of(&json, "h4");
    assert!(
        h4["error"]
            .as_str()
            .is_some_and(|e| e.contains("another swarm")),
        "{json}"
    );
    assert_eq!(actions(&json, "h1")[0], "initialised the swarm (manager)");
    assert_eq!(actions(&json, "h2")[0], "joined as manager");
    assert!(stderr.contains("h4 (cluster testbed)"), "{stderr}");
    // h4 is still the only node of its own swarm.
    let (_, still) = docker(
        &tb,
        "h4",
        &["info", "-f", "{{.Swarm.Cluster.ID}} {{.Swarm.Nodes}}"],
    );
    assert_eq!(still, format!("{theirs} 1"));
    assert_eq!(swarm_nodes(&tb, "h1").len(), 2);
}

#[test]
fn bad_cluster_settings_are_refused_before_anything_with_file_line_and_host() {
    let fleet = Fleet::new();
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &format!("{inventory}swarm:\n  vars:\n    nxinfra_cluster: swarm\n  hosts:\n    s1:\n      ansible_host: 10.0.0.1\n      nxinfra_swarm_role: leader\n"),
    );
    let out = fleet.nxinfra(&["render"]);
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("inventory/inventory.yml:")
            && stderr.contains("host s1: nxinfra_swarm_role: \"leader\" is not a role"),
        "{stderr}"
    );
    assert!(!fleet.path("rendered").exists(), "nothing rendered");
}

const STACK: &str = r#"services:
  web:
    image: nxtb-busybox:1
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    networks: [front]
    configs:
      - source: page
        target: /www/index.html
    secrets: [token]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/{{ health_path }}"]
      interval: 1s
      timeout: 1s
      retries: 2
    stop_grace_period: 1s
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      placement: {max_replicas_per_node: 1}
      update_config: {monitor: 3s}
{% if with_worker %}
  worker:
    image: {{ worker_image }}
    command: ["sleep", "3600"]
    networks: [front]
    stop_grace_period: 1s
    deploy:
      endpoint_mode: dnsrr
{% endif %}
networks:
  front: {attachable: true}
configs:
  page: {file: web/index.html}
secrets:
  token: {file: web/token}
"#;

/// `name`'s status, reasons and error in the stack of `json`'s first cluster.
fn service<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["clusters"][0]["stack"]["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("{name} not in {json}"))
}

/// What every running task of service `name` serves at `/`, read inside each task's
/// container on the engine of the node that runs it; sorted.
fn served(tb: &Testbed, name: &str) -> Vec<String> {
    let ids = node_ids(tb);
    let (ok, tasks) = docker(
        tb,
        "h1",
        &[
            "service",
            "ps",
            "-q",
            "--filter",
            "desired-state=running",
            name,
        ],
    );
    assert!(ok, "{tasks}");
    let mut out = Vec::new();
    for task in tasks.lines() {
        let (_, line) = docker(
            tb,
            "h1",
            &[
                "inspect",
                "-f",
                "{{.NodeID}} {{.Status.ContainerStatus.ContainerID}} {{.Status.State}}",
                task,
            ],
        );
        let mut parts = line.split_whitespace();
        let (node, container, state) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        if state != "running" {
            continue;
        }
        let host = ids
            .iter()
            .find(|(id, _)| id == node)
            .map(|(_, h)| *h)
            .unwrap_or_else(|| panic!("node {node} is not h1..h3"));
        let (ok, page) = docker(
            tb,
            host,
            &[
                "exec",
                container,
                "wget",
                "-q",
                "-O",
                "-",
                "http://127.0.0.1:8080/",
            ],
        );
        assert!(ok, "{host} {container}: {page}");
        out.push(format!("{host}:{page}"));
    }
    out.sort();
    out
}

/// A fleet of the cluster h1..h3 whose stack is [`STACK`]: web serving `page`, the worker
/// when `with_worker`, the secret token rendered from the fleet's secret.
fn stack_fleet(tb: &Testbed, test: &str, page: &str, with_worker: bool) -> Fleet {
    let fleet = cluster_fleet(tb, test, &NODES, &|_| String::new());
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &format!(
            "{inventory}    health_path: index.html\n    with_worker: {with_worker}\n    \
             worker_image: nxtb-busybox:1\n"
        ),
    );
    fleet.write("templates/config/testbed/stack.yml.j2", STACK);
    fleet.write("templates/config/testbed/web/index.html", page);
    fleet.write(
        "templates/config/testbed/web/token.j2",
        "{{ secrets.db.password }}\n",
    );
    fleet
}

#[test]
fn the_stack_is_deployed_updated_by_content_rolled_back_on_a_failed_health_and_pruned() {
    let Some(tb) = Testbed::get() else { return };
    let _one = SWARM.lock().unwrap_or_else(|p| p.into_inner());
    let _left = Left::new(&tb, &["h1", "h2", "h3", "h4"]);
    let fleet = stack_fleet(&tb, "cluster-stack", "version one", true);

    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    assert_eq!(service(&json, "testbed_web")["status"], "created", "{json}");
    assert_eq!(
        service(&json, "testbed_worker")["status"],
        "created",
        "{json}"
    );
    let pages = served(&tb, "testbed_web");
    assert_eq!(pages.len(), 2, "two replicas: {pages:?}");
    assert_ne!(
        pages[0].split(':').next(),
        pages[1].split(':').next(),
        "on distinct nodes: {pages:?}"
    );
    assert!(
        pages.iter().all(|p| p.ends_with(":version one")),
        "{pages:?}"
    );
    let solo = |h: &str| docker(&tb, h, &["inspect", "-f", "{{.Id}}", "cluster-solo"]).1;
    let solos: Vec<String> = NODES.iter().map(|h| solo(h)).collect();

    // Unchanged: one read per node and the node list, four for the stack; no write.
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    assert_eq!(json["clusters"][0]["api_calls"][1], 0, "writes: {json}");
    assert_eq!(json["clusters"][0]["api_calls"][0], 8, "reads: {json}");
    assert_eq!(
        service(&json, "testbed_web")["status"],
        "unchanged",
        "{json}"
    );

    // The page changed: `plan` says what would change, and changes nothing.
    fleet.write("templates/config/testbed/web/index.html", "version two");
    let ssh = tb.ssh_config.to_str().expect("utf-8 path");
    let out = fleet.nxinfra(&["plan", "--json", "--ssh-config", ssh]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}\n{stdout}");
    assert!(!stdout.contains(common::SECRET) && !stderr.contains(common::SECRET));
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("plan JSON");
    common::assert_schema(&plan, "plan.schema.json");
    let web = service(&plan, "testbed_web");
    assert_eq!(web["status"], "would update", "{plan}");
    assert_eq!(
        web["reasons"],
        serde_json::json!(["config page changed"]),
        "{plan}"
    );
    assert_eq!(plan["clusters"][0]["api_calls"][1], 0, "plan wrote: {plan}");
    assert!(
        served(&tb, "testbed_web")
            .iter()
            .all(|p| p.ends_with(":version one"))
    );

    // Applied: only web is updated, to a new config; the old version is gone.
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    let web = service(&json, "testbed_web");
    assert_eq!(web["status"], "updated", "{json}");
    assert_eq!(
        web["reasons"],
        serde_json::json!(["config page changed"]),
        "{json}"
    );
    assert_eq!(
        service(&json, "testbed_worker")["status"],
        "unchanged",
        "{json}"
    );
    assert!(
        served(&tb, "testbed_web")
            .iter()
            .all(|p| p.ends_with(":version two"))
    );
    let (_, configs) = docker(&tb, "h1", &["config", "ls", "--format", "{{.Name}}"]);
    assert_eq!(
        configs
            .lines()
            .filter(|c| c.starts_with("testbed_page_"))
            .count(),
        1,
        "{configs}"
    );

    // A new image for the worker: only the worker is updated.
    for h in NODES {
        let (ok, out) = docker(
            &tb,
            h,
            &["tag", "nxtb-busybox:1", "nxtb-busybox:cluster-e2e"],
        );
        assert!(ok, "{out}");
    }
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace(
            "worker_image: nxtb-busybox:1",
            "worker_image: nxtb-busybox:cluster-e2e",
        ),
    );
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    let worker = service(&json, "testbed_worker");
    assert_eq!(worker["status"], "updated", "{json}");
    assert_eq!(
        worker["reasons"],
        serde_json::json!(["image changed"]),
        "{json}"
    );
    assert_eq!(
        service(&json, "testbed_web")["status"],
        "unchanged",
        "{json}"
    );

    // A healthcheck that fails: the swarm rolls the update back, the old version still serves.
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory.replace("health_path: index.html", "health_path: missing.html"),
    );
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{stderr}\n{json}");
    let web = service(&json, "testbed_web");
    assert_eq!(web["status"], "rolled back", "{json}");
    let why = web["error"].as_str().unwrap_or_default();
    assert!(
        why.contains("rolled back") && why.contains("last health check: ") && why.contains("404"),
        "the swarm's message, the tasks' errors and their last health output: {why}"
    );
    assert!(
        stderr.contains("service testbed_web (rolled back)"),
        "{stderr}"
    );
    assert!(
        served(&tb, "testbed_web")
            .iter()
            .all(|p| p.ends_with(":version two"))
    );

    // Fixed again, the worker dropped: web converges, the worker is removed.
    let inventory = fleet.read("inventory/inventory.yml");
    fleet.write(
        "inventory/inventory.yml",
        &inventory
            .replace("health_path: missing.html", "health_path: index.html")
            .replace("with_worker: true", "with_worker: false"),
    );
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");
    assert_eq!(
        service(&json, "testbed_worker")["status"],
        "removed",
        "{json}"
    );
    let (_, services) = docker(&tb, "h1", &["service", "ls", "--format", "{{.Name}}"]);
    assert_eq!(services.trim(), "testbed_web");
    // The per-host containers were never touched.
    let after: Vec<String> = NODES.iter().map(|h| solo(h)).collect();
    assert_eq!(solos, after);
}

/// The node ids of h1..h3's engines (an engine that does not answer: empty).
fn node_ids(tb: &Testbed) -> Vec<(String, &'static str)> {
    NODES
        .iter()
        .map(|h| {
            let (ok, id) = docker(tb, h, &["info", "-f", "{{.Swarm.NodeID}}"]);
            (if ok { id } else { String::new() }, *h)
        })
        .collect()
}

/// The hosts running a task of service `name` (as a manager `via` sees them).
fn running_on(
    tb: &Testbed,
    via: &str,
    name: &str,
    ids: &[(String, &'static str)],
) -> Vec<&'static str> {
    let (_, tasks) = docker(
        tb,
        via,
        &[
            "service",
            "ps",
            "-q",
            "--filter",
            "desired-state=running",
            name,
        ],
    );
    let mut hosts = Vec::new();
    for task in tasks.lines() {
        let (_, line) = docker(
            tb,
            via,
            &["inspect", "-f", "{{.NodeID}} {{.Status.State}}", task],
        );
        if let Some(node) = line.strip_suffix(" running")
            && let Some((_, h)) = ids.iter().find(|(id, _)| id == node)
        {
            hosts.push(*h);
        }
    }
    hosts.sort();
    hosts
}

#[test]
fn with_a_nodes_engine_down_its_replicas_move_and_the_rest_is_applied() {
    let Some(tb) = Testbed::get() else { return };
    let _one = SWARM.lock().unwrap_or_else(|p| p.into_inner());
    let _left = Left::new(&tb, &["h1", "h2", "h3", "h4"]);
    let fleet = stack_fleet(&tb, "cluster-loss", "still here", false);
    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json}");

    let ids = node_ids(&tb);
    let before = running_on(&tb, "h1", "testbed_web", &ids);
    assert_eq!(before.len(), 2, "{before:?}");
    // A node that runs a task, not h1 (the manager the test reads through).
    let victim = *before.iter().find(|h| **h != "h1").unwrap_or(&"h2");
    let mut down = Down::stop(&tb, "engine", victim);
    let start = std::time::Instant::now();
    let moved = loop {
        let now = running_on(&tb, "h1", "testbed_web", &ids);
        if now.len() == 2 && !now.contains(&victim) {
            break now;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(90),
            "not moved in 90 s: {now:?}"
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    };
    eprintln!(
        "replicas moved off {victim} in {:.0} s: {moved:?}",
        start.elapsed().as_secs_f64()
    );

    let (code, json, stderr) = apply(&fleet, &tb, &[]);
    assert_eq!(code, Some(1), "{stderr}\n{json}");
    let down_node = node_of(&json, victim);
    assert!(
        down_node["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("unreachable:")),
        "{json}"
    );
    for h in NODES.iter().filter(|h| **h != victim) {
        assert!(node_of(&json, h)["error"].is_null(), "{h}: {json}");
    }
    assert_eq!(
        service(&json, "testbed_web")["status"],
        "unchanged",
        "{json}"
    );
    assert!(
        stderr.contains(&format!("{victim} (cluster testbed)")),
        "{stderr}"
    );
    down.start();
}

//! The cluster's membership, reconciled on fake engines: a swarm made and joined, then left
//! alone; a join refused fails its node alone; a node down is named; a dry run writes
//! nothing. `tests/cluster_e2e.rs` shows the same on real engines.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::*;
use crate::host::fake::{FakeSwarmNode, SwarmState};
use crate::model::cluster::{HOST_LABEL, Node};

fn cluster() -> Cluster {
    let node = |i: u8, host: &str, role| Node {
        host: host.into(),
        role,
        advertise: IpAddr::from([10, 0, 0, i]),
        labels: BTreeMap::from([(HOST_LABEL.to_string(), host.to_string())]),
    };
    Cluster {
        group: "edge".into(),
        nodes: vec![
            node(1, "a", Role::Manager),
            node(2, "b", Role::Manager),
            node(3, "c", Role::Worker),
        ],
        warnings: vec![],
    }
}

fn nodes() -> (Arc<Mutex<SwarmState>>, Vec<FakeSwarmNode>) {
    let swarm = Arc::new(Mutex::new(SwarmState::default()));
    let nodes = ["a", "b", "c"]
        .iter()
        .map(|h| FakeSwarmNode::new(h, &swarm))
        .collect();
    (swarm, nodes)
}

fn options(dry_run: bool) -> Options {
    Options {
        ssh: Default::default(),
        dry_run,
        redactor: Default::default(),
    }
}

fn run(nodes: &[FakeSwarmNode], down: &[&str], dry_run: bool) -> ClusterOutcome {
    let engines: BTreeMap<String, Result<&FakeSwarmNode, String>> = nodes
        .iter()
        .map(|n| {
            let e = if down.contains(&n.host.as_str()) {
                Err("ssh: connect to host: Connection refused".to_string())
            } else {
                Ok(n)
            };
            (n.host.clone(), e)
        })
        .collect();
    let acted: BTreeSet<String> = nodes.iter().map(|n| n.host.clone()).collect();
    let (cluster, options) = (cluster(), options(dry_run));
    match crate::host::runner::block_on(reconcile(&cluster, &engines, &acted, &options)) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    }
}

fn actions(o: &ClusterOutcome) -> Vec<(String, Vec<String>, Option<String>)> {
    o.nodes
        .iter()
        .map(|n| {
            let error = n.error.as_ref().map(|e| e.message().to_string());
            (n.host.clone(), n.actions.clone(), error)
        })
        .collect()
}

#[test]
fn a_swarm_is_made_joined_and_labelled_then_an_unchanged_one_costs_no_write() {
    let (swarm, nodes) = nodes();
    let first = run(&nodes, &[], false);
    assert_eq!(first.via.as_deref(), Some("a"));
    let got = actions(&first);
    assert_eq!(got[0].1[0], "initialised the swarm (manager)");
    assert_eq!(got[1].1[0], "joined as manager");
    assert_eq!(got[2].1[0], "joined as worker");
    assert!(got.iter().all(|(_, _, e)| e.is_none()), "{got:?}");
    {
        let swarm = swarm.lock().unwrap();
        assert_eq!(
            swarm.labels.get(CLUSTER_LABEL).map(String::as_str),
            Some("edge")
        );
        let labelled: Vec<(&str, Option<&String>)> = swarm
            .nodes
            .iter()
            .map(|n| (n.hostname.as_str(), n.labels.get(HOST_LABEL)))
            .collect();
        assert!(
            labelled
                .iter()
                .all(|(h, l)| l.map(String::as_str) == Some(*h)),
            "{labelled:?}"
        );
    }
    let writes_before: usize = nodes.iter().map(|n| n.calls().1).sum();
    let again = run(&nodes, &[], false);
    assert!(again.is_noop(), "{:?}", actions(&again));
    let writes_after: usize = nodes.iter().map(|n| n.calls().1).sum();
    assert_eq!(
        writes_after, writes_before,
        "an unchanged swarm is written to"
    );
}

#[test]
fn a_refused_join_fails_its_node_alone_and_a_node_down_is_named() {
    let (swarm, nodes) = nodes();
    swarm.lock().unwrap().refuse_join.insert("b".into());
    let o = run(&nodes, &["c"], false);
    let got = actions(&o);
    assert_eq!(got[0].1[0], "initialised the swarm (manager)");
    assert!(
        got[1]
            .2
            .as_deref()
            .is_some_and(|e| e.starts_with("joining the swarm: Timeout")),
        "{got:?}"
    );
    assert_eq!(
        got[2].2.as_deref(),
        Some("unreachable: ssh: connect to host: Connection refused")
    );
    assert_eq!(o.failed().count(), 2);
    // b's join is retried by the next apply, once the swarm takes it.
    swarm.lock().unwrap().refuse_join.clear();
    let o = run(&nodes, &[], false);
    let got = actions(&o);
    assert_eq!(got[1].1[0], "joined as manager", "{got:?}");
    assert_eq!(got[2].1[0], "joined as worker", "{got:?}");
}

#[test]
fn a_dry_run_says_what_would_be_done_and_writes_nothing() {
    let (swarm, nodes) = nodes();
    let o = run(&nodes, &[], true);
    let got = actions(&o);
    assert_eq!(got[0].1, ["initialised the swarm (manager)"]);
    assert_eq!(got[1].1, ["joined as manager"]);
    assert_eq!(got[2].1, ["joined as worker"]);
    assert_eq!(nodes.iter().map(|n| n.calls().1).sum::<usize>(), 0);
    assert!(swarm.lock().unwrap().cluster_id.is_none());
}

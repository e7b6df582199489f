//! compose.yml from text (`model::compose::parse`: the reader, the model, the checks), then
//! what apply computes from a loaded file without an engine: the start and stop orders, each
//! service's canonical JSON and identity, its create request and its networks'.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nxinfra::host::convert;
use nxinfra::model::compose;
use nxinfra::model::manifest::Entry;
use nxinfra::plan::identity::{self, Identity};

const BASE_DIR: &str = "/srv/nxinfra";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = compose::parse(Path::new("rendered/host/compose.yml"), text) else {
        return;
    };
    let _ = c.start_order();
    let _ = c.start_waves();
    let _ = c.stop_order();
    let labels = BTreeMap::from([("nxinfra.fleet".to_string(), "fleet".to_string())]);
    for service in c.services.values() {
        let _ = service.dependencies();
        let _ = service.spec.canonical_json();
        // The host's placed files: each rendered bind source, as a file and as a folder.
        let mut tree = BTreeMap::new();
        for rel in service.rendered_sources(Path::new(BASE_DIR)) {
            let rel = rel.to_string_lossy();
            let entry = Entry {
                sha256: "0".repeat(64),
                mode: 0o644,
            };
            tree.insert(format!("{rel}/file"), entry.clone());
            tree.insert(rel.into_owned(), entry);
        }
        if let Ok(id) = Identity::desired(service, "sha256:0123", &tree, BASE_DIR) {
            let _ = Identity::from_labels(&id.labels("fleet", &service.name, "sha256:0123"));
        }
        let _ = convert::container(&c, service, &labels);
    }
    for net in c.networks.values() {
        let _ = convert::network(net, &labels);
        let _ = identity::network_labels("fleet", net);
    }
});

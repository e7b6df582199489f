//! stack.yml from text (`model::compose::stack::parse`), then each service as the engine's
//! ServiceSpec (`host::stack::service_spec`) and the stack's canonical JSON.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nxinfra::model::compose::stack;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = stack::parse(Path::new("rendered/host/stack.yml"), text) else {
        return;
    };
    let _ = serde_json::to_string(&s);
    let names = |objects: &BTreeMap<String, stack::FileSource>| -> BTreeMap<String, String> {
        objects
            .keys()
            .map(|k| (k.clone(), format!("fleet_{k}_0123")))
            .collect()
    };
    let (configs, secrets) = (names(&s.configs), names(&s.secrets));
    let ids: BTreeMap<String, String> = configs
        .values()
        .chain(secrets.values())
        .map(|n| (n.clone(), format!("id-{n}")))
        .collect();
    let labels = BTreeMap::from([("nxinfra.fleet".to_string(), "fleet".to_string())]);
    for (key, service) in &s.services {
        let _ = service.publishes_host_ports();
        let _ = nxinfra::host::stack::service_spec(
            &format!("fleet_{key}"),
            service,
            &s,
            &labels,
            (&configs, &secrets),
            &ids,
        );
    }
});

//! What follows the reading of an inventory, shared by the `inventory_yaml` and
//! `inventory_ini` targets: everything the commands compute from an [`Inventory`] without
//! touching the filesystem (each host's merged variables, their origins, its spec, the
//! clusters, the template context).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use indexmap::IndexMap;
use nxinfra::model::inventory::Inventory;
use nxinfra::model::target::{Defaults, Target};
use nxinfra::render::context::SharedContext;

pub fn exercise(inv: &Inventory) {
    let defaults = Defaults {
        user: "deploy".into(),
        fleet: "fleet".into(),
    };
    let _ = inv.groups_map();
    let _ = inv.secret_leaves();
    for group in inv.groups.keys() {
        let _ = inv.hosts_of_group(group);
    }
    for host in inv.hosts.keys() {
        let _ = inv.groups_of(host);
        if let Ok(vars) = inv.host_vars(host) {
            for key in vars.keys() {
                let _ = inv.origin(host, key);
                let _ = inv.setting(host, key);
            }
            let _ = Target::from_vars(host, &vars, &defaults);
        }
        let _ = inv.secret_vars(host);
        let _ = Target::of_host(inv, host, &defaults);
    }
    let _ = nxinfra::model::cluster::clusters(inv);
    let _ = nxinfra::model::inventory::limit::select(inv, None);
    if let Ok(shared) = SharedContext::new(inv, &IndexMap::new()) {
        let touched = Arc::new(AtomicBool::new(false));
        for host in inv.hosts.keys() {
            let _ = shared.for_host(inv, host, &touched);
        }
    }
}

//! A YAML (or JSON) inventory file from text, as `load_dir` reads one
//! (`model::inventory::parse`: the builder, `yaml::read`, `finish`), then every host's
//! variables and spec (common/inventory.rs).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

#[path = "common/inventory.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(inv) = nxinfra::model::inventory::parse(Path::new("inventory/inventory.yml"), text) {
        common::exercise(&inv);
    }
});

//! An INI inventory file from text, as `load_dir` reads one (the builder, `ini::read`,
//! `finish`), then every host's variables and spec (common/inventory.rs).
#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use nxinfra::model::inventory::{ini, load::Builder};

#[path = "common/inventory.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file: Arc<Path> = Arc::from(Path::new("inventory/hosts"));
    let mut builder = Builder::new(Path::new("inventory"));
    if ini::read(&mut builder, &file, text).is_err() {
        return;
    }
    builder.sources.push(file.to_path_buf());
    if let Ok(inv) = builder.finish() {
        common::exercise(&inv);
    }
});

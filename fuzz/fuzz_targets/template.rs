//! Arbitrary template source rendered through nxinfra's environment
//! (`render::engine::configure`: Jinja2 syntax settings, strict undefined, minijinja-contrib,
//! nxinfra's filters and tests) with a fixed host context built as `render` builds it
//! (`SharedContext::new` + `for_host` over a small inventory, template_inventory.json, and a
//! secrets document), each render bounded as `render` bounds it: fuel (instructions) and an
//! output limit (`render::output::Bounded`). The fuel here is lower than the default of
//! `--max-template-steps` (100 million, a few seconds) so that a render stopped by fuel stays
//! under libFuzzer's 1 s timeout: a timeout is then work that fuel does not count.
#![no_main]

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use indexmap::IndexMap;
use libfuzzer_sys::fuzz_target;
use minijinja::{Environment, Value};
use nxinfra::render::context::SharedContext;
use nxinfra::render::{engine, output::Bounded};

/// Instructions one render may execute (production: 100 million).
const FUEL: u64 = 5_000_000;
/// Bytes one rendered file may have (production: 256 MiB).
const OUTPUT_LIMIT: u64 = 16 << 20;
/// The inventory of the context: web01 (every variable of tests/jinja2/cases.yml's cases,
/// so that their templates render) and ixp01.
const INVENTORY: &str = include_str!("template_inventory.json");
const HOST: &str = "web01";

/// Templates the fuzzed source may include, import or extend.
fn partial(name: &str) -> Option<&'static str> {
    Some(match name {
        "partials/greet.j2" => "{% macro greet(n) %}hello {{ n }}{% endmacro %}\n",
        "partials/base.j2" => "head\n{% block body %}default{% endblock %}\ntail\n",
        "partials/peers.j2" => {
            "{% for p in peers %}[Peer] # {{ p.name }}\nEndpoint = {{ p.endpoint }}\n{% endfor %}"
        }
        _ => return None,
    })
}

fn setup() -> &'static (Environment<'static>, Value) {
    static SETUP: OnceLock<(Environment<'static>, Value)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let mut env = Environment::new();
        engine::configure(&mut env);
        env.set_fuel(Some(FUEL));
        env.set_loader(|name| Ok(partial(name).map(str::to_string)));
        let inv = nxinfra::model::inventory::parse(Path::new("inventory/inventory.json"), INVENTORY)
            .expect("the template target's inventory parses");
        let secrets: IndexMap<String, serde_json::Value> = serde_json::from_str(
            r#"{"db": {"password": "s3cret-pw", "users": ["a", "b"]}, "api_token": "tok-123"}"#,
        )
        .expect("the template target's secrets parse");
        let shared = SharedContext::new(&inv, &secrets).expect("the context builds");
        let touched = Arc::new(AtomicBool::new(false));
        let ctx = shared
            .for_host(&inv, HOST, &touched)
            .expect("the host's context builds");
        (env, ctx)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let (env, ctx) = setup();
    let Ok(template) = env.template_from_named_str("config/core/web01/fuzz.j2", source) else {
        return;
    };
    let mut out = Bounded::new(OUTPUT_LIMIT);
    let _ = template.render_captured_to(ctx, &mut out);
});

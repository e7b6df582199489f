//! `nxinfra inventory list|show`

use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::cli::InventoryCommand;
use crate::model::inventory::{ALL, limit};
use crate::model::target::Target;

use super::{Ctx, Outcome};

pub fn run(ctx: &Ctx, cmd: InventoryCommand) -> anyhow::Result<Outcome> {
    match cmd {
        InventoryCommand::List { limit: l, json } => list(ctx, l.limit.as_deref(), json),
        InventoryCommand::Show { host, json } => show(ctx, &host, json),
    }
}

fn list(ctx: &Ctx, pattern: Option<&str>, as_json: bool) -> anyhow::Result<Outcome> {
    let inv = ctx.inventory()?;
    let hosts = limit::select(&inv, pattern)?;
    let mut rows = Vec::new();
    let defaults = crate::model::target::Defaults::new(&ctx.root);
    for host in &hosts {
        let groups: Vec<String> = inv
            .groups_of(host)
            .into_iter()
            .filter(|g| g != ALL)
            .collect();
        let t = Target::of_host(&inv, host, &defaults)?;
        rows.push(json!({
            "host": host,
            "groups": groups,
            "address": t.destination,
            "user": t.user,
            "port": t.port,
            "base_dir": t.base_dir,
            "fleet": t.fleet,
        }));
    }
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "hosts": rows }))?
        );
    } else {
        for row in &rows {
            let groups: Vec<&str> = row["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let user = row["user"]
                .as_str()
                .map(|u| format!("{u}@"))
                .unwrap_or_default();
            let port = row["port"]
                .as_u64()
                .map(|p| format!(":{p}"))
                .unwrap_or_default();
            let address = format!(
                "{user}{}{port}",
                row["address"].as_str().unwrap_or_default()
            );
            println!(
                "{:<14} {:<44} {:<16} {}",
                row["host"].as_str().unwrap_or_default(),
                address,
                groups.join(","),
                row["base_dir"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(Outcome::Done)
}

fn show(ctx: &Ctx, host: &str, as_json: bool) -> anyhow::Result<Outcome> {
    let inv = ctx.inventory()?;
    inv.require_host(host)?;
    let secrets = ctx.secrets()?;
    let mut vars: IndexMap<String, Value> = inv.host_vars(host)?.into_iter().collect();
    // A vault-encrypted vars file's values are secrets: shown as where they come from.
    for key in inv.secret_vars(host)? {
        let from = inv.origin(host, &key);
        vars.insert(key.clone(), json!(format!("<secret:{from}:{key}>")));
    }
    let placeholders = secrets.placeholders();
    for (key, value) in &placeholders {
        vars.insert(key.clone(), value.clone());
    }
    vars.insert(
        "secrets".into(),
        Value::Object(placeholders.into_iter().collect()),
    );
    vars.insert("inventory_hostname".into(), json!(host));
    let groups: Vec<String> = inv
        .groups_of(host)
        .into_iter()
        .filter(|g| g != ALL)
        .collect();
    vars.insert("group_names".into(), json!(groups));
    if as_json {
        println!("{}", serde_json::to_string_pretty(&vars)?);
    } else {
        print!("{}", serde_norway::to_string(&vars)?);
    }
    Ok(Outcome::Done)
}

//! `nxinfra wg [--limit P] [--dry-run] [--json]`: the WireGuard private keys the fleet needs
//! and the secrets lack are made and added to the secrets; keys already there are never
//! replaced. What is needed and what is missing: [`crate::secrets::wireguard`].

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde_json::json;

use crate::cli::WgArgs;
use crate::model::inventory::{Inventory, limit};
use crate::model::target::{Defaults, Target};
use crate::render::TEMPLATES_DIR;
use crate::render::sources::{self, TemplateTree};
use crate::secrets::Secrets;
use crate::secrets::store::{self, AGE_FILE, KEYS_FILE, RECIPIENTS_FILE, Source};
use crate::secrets::wireguard::{self, KeyPath};

use super::{Ctx, Outcome};

/// Each selected host's rendered paths and declared peers, as the templates lay them out
/// (nothing is rendered: a render would need the very keys that are missing).
fn needs(
    ctx: &Ctx,
    inventory: &Inventory,
    hosts: &[String],
) -> anyhow::Result<BTreeMap<KeyPath, Vec<String>>> {
    let tree = TemplateTree::read(&ctx.root.join(TEMPLATES_DIR), ctx.render_limits.file_bytes)?;
    let mut files = BTreeMap::new();
    let mut peers = BTreeMap::new();
    let defaults = Defaults::new(&ctx.root);
    for host in hosts {
        let planned = sources::plan_host_files(tree.config_files(), inventory, host, &tree.root)?;
        files.insert(host.clone(), planned.into_keys().collect());
        let spec = Target::of_host(inventory, host, &defaults)?;
        peers.insert(host.clone(), spec.wireguard_peers);
    }
    Ok(wireguard::needed(&files, &peers)?)
}

/// The age secrets as they are (empty when the fleet has none yet).
fn current_secrets(ctx: &Ctx) -> anyhow::Result<Secrets> {
    match store::locate(&ctx.root)? {
        Source::Age(file) => Ok(Secrets::from_yaml(
            &file,
            &store::decrypt_age(&file, &ctx.keys)?,
        )?),
        Source::Vault(file) => bail!(
            "{} is an Ansible Vault file: nxinfra wg writes {AGE_FILE}; convert it first with \
             `nxinfra secrets import-vault {}`",
            file.display(),
            file.display()
        ),
        Source::None => {
            if !ctx.root.join(RECIPIENTS_FILE).exists() {
                bail!(
                    "this fleet has no {AGE_FILE} and no {RECIPIENTS_FILE}: run `nxinfra \
                     secrets init` first"
                );
            }
            Ok(Secrets::default())
        }
    }
}

pub fn run(ctx: &Ctx, args: &WgArgs) -> anyhow::Result<Outcome> {
    let inventory = ctx.inventory()?;
    let pattern = args.limit.limit.as_deref();
    let hosts = limit::select(&inventory, pattern)?;
    let needed = needs(ctx, &inventory, &hosts)?;
    let mut secrets = current_secrets(ctx)?;
    let plan = wireguard::plan(&needed, &secrets.doc)?;

    let made: Vec<(KeyPath, String)> = if args.dry_run {
        Vec::new()
    } else {
        plan.missing
            .iter()
            .map(|k| (k.clone(), wireguard::generate()))
            .collect()
    };
    // Nothing private may reach any output: every value, the new keys too, is redacted.
    let mut leaves = secrets.leaves();
    leaves.extend(made.iter().map(|(k, v)| (k.dotted(), v.clone())));
    ctx.redact(leaves.iter().map(|(p, v)| (p.as_str(), v.as_str())));
    if !made.is_empty() {
        for (key, private) in &made {
            wireguard::insert(&mut secrets.doc, key, private.clone());
        }
        let yaml =
            serde_norway::to_string(&secrets.doc).context("cannot write the secrets as YAML")?;
        store::write_age(&ctx.root, yaml.as_bytes())?;
    }

    let public = |k: &KeyPath| {
        made.iter()
            .find(|(m, _)| m == k)
            .and_then(|(_, private)| wireguard::public_key(private))
    };
    // Keys no selected host needs are only known to be unused when every host was looked at.
    let unused = if pattern.is_none() {
        plan.unused.clone()
    } else {
        Vec::new()
    };
    if args.json {
        let entry = |k: &KeyPath, public: Option<String>| json!({"key": k.dotted(), "public_key": public, "needed_by": needed[k]});
        println!(
            "{}",
            json!({
                "present": plan.present.iter().map(|(k, p)| entry(k, Some(p.clone()))).collect::<Vec<_>>(),
                "missing": plan.missing.iter().map(|k| entry(k, public(k))).collect::<Vec<_>>(),
                "unused": unused.iter().map(KeyPath::dotted).collect::<Vec<_>>(),
                "written": !made.is_empty(),
            })
        );
    } else {
        let width = needed.keys().map(|k| k.dotted().len()).max().unwrap_or(0);
        for (key, public) in &plan.present {
            println!("  present   {:width$}  {public}", key.dotted());
        }
        for key in &plan.missing {
            match public(key) {
                Some(p) => println!("  new       {:width$}  {p}", key.dotted()),
                None => println!(
                    "  missing   {:width$}  ({})",
                    key.dotted(),
                    needed[key].join(", ")
                ),
            }
        }
        for key in &unused {
            println!(
                "  unused    {:width$}  no host needs it; kept (remove it with `nxinfra secrets edit`)",
                key.dotted()
            );
        }
        let summary = format!(
            "{} WireGuard keys needed: {} present, {} {}",
            needed.len(),
            plan.present.len(),
            plan.missing.len(),
            if args.dry_run { "missing" } else { "new" }
        );
        if made.is_empty() {
            println!("{summary}");
        } else {
            println!("{summary}; {AGE_FILE} and {KEYS_FILE} written");
        }
    }
    Ok(if args.dry_run && !plan.missing.is_empty() {
        Outcome::Changes
    } else {
        Outcome::Done
    })
}

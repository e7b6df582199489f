//! `nxinfra diff --base REV [--limit P] [--json]`: the rendered fleet at REV against the
//! working tree, offline: no host is contacted, and no identity is needed (secrets are
//! placeholders either way; with an identity, the secret paths whose values changed are
//! named).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;
use serde_json::json;

use crate::cli::DiffArgs;
use crate::model::inventory::{Inventory, limit};
use crate::ops::diff::{self, HostChanges, Sides, git};
use crate::render::{self, Job};
use crate::secrets::{Redactor, Secrets, SecretsError, store};

use super::{Ctx, Outcome};

/// What is known of one side's secrets.
enum Known {
    Values(Secrets),
    /// Only the key paths, as placeholders (no identity: [`store::KEYS_FILE`]), and why.
    Keys(Secrets, String),
}

impl Known {
    /// The secrets templates see: placeholders either way.
    fn for_render(&self) -> Secrets {
        match self {
            Known::Values(s) => s.as_placeholders(),
            Known::Keys(k, _) => k.clone(),
        }
    }

    /// Leaf paths → values (placeholders when unknown).
    fn leaves(&self) -> BTreeMap<String, String> {
        match self {
            Known::Values(s) | Known::Keys(s, _) => s.leaves().into_iter().collect(),
        }
    }

    fn is_known(&self) -> bool {
        matches!(self, Known::Values(_))
    }
}

/// The working tree's secrets: decrypted if an identity (or vault password) is at hand, else
/// their key paths from the index.
fn head_secrets(ctx: &Ctx) -> anyhow::Result<Known> {
    match store::load(&ctx.root, &ctx.keys) {
        Ok(s) => Ok(Known::Values(s)),
        Err(e @ (SecretsError::NoIdentity { .. } | SecretsError::NoVaultPassword { .. })) => {
            match store::read_keys(&ctx.root)? {
                Some(keys) => Ok(Known::Keys(keys, "no identity".into())),
                None => anyhow::bail!(
                    "{e}; or, for nxinfra diff without one, commit {} (written by every \
                     `nxinfra secrets` change; `nxinfra secrets rekey` writes it once)",
                    store::KEYS_FILE
                ),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// REV's secrets, as far as they can be known; its key paths default to the working tree's.
fn base_secrets(root: &Path, ctx: &Ctx, rev: &str, head: &Known) -> Known {
    if let Known::Values(_) = head
        && let Ok(s) = store::load(root, &ctx.keys)
    {
        return Known::Values(s);
    }
    let fallback = |why: String| Known::Keys(head.for_render(), why);
    match store::read_keys(root) {
        Ok(Some(keys)) => Known::Keys(keys, format!("the values at {rev} are not known")),
        Ok(None) => fallback(format!(
            "{rev} has no {}: its renders use the working tree's key paths",
            store::KEYS_FILE
        )),
        Err(e) => fallback(format!(
            "{rev}'s {} does not load ({}): its renders use the working tree's key paths",
            store::KEYS_FILE,
            at_rev(&e.to_string(), root, rev, &ctx.redactor())
        )),
    }
}

/// An error about REV's checkout, with its files named `REV:path` (not the temporary
/// folder they were exported to).
fn at_rev(message: &str, root: &Path, rev: &str, redactor: &Redactor) -> String {
    let message = message.replace(&format!("{}/", root.display()), &format!("{rev}:"));
    redactor.redact(&message).into_owned()
}

fn load_inventory(ctx: &Ctx, root: &Path) -> anyhow::Result<Option<Inventory>> {
    ctx.inventory_at(root)
}

/// The hosts of `inv` that `--limit` selects; none when it matches none there (it must match
/// on one side at least).
fn selected(inv: Option<&Inventory>, pattern: Option<&str>) -> Vec<String> {
    inv.and_then(|i| limit::select(i, pattern).ok())
        .unwrap_or_default()
}

/// What rendering `hosts` of one side takes.
fn job<'a>(
    (root, limits): (&'a Path, render::Limits),
    inventory: &'a Inventory,
    hosts: &'a [String],
    secrets: &'a Secrets,
) -> Job<'a> {
    Job {
        root,
        inventory,
        secrets,
        hosts,
        limited: true,
        limits,
    }
}

/// The working tree's hosts; any render error there is the command's error.
fn render_head(
    root: (&Path, render::Limits),
    inventory: &Inventory,
    hosts: &[String],
    secrets: &Secrets,
) -> anyhow::Result<BTreeMap<String, BTreeMap<String, render::OutFile>>> {
    if hosts.is_empty() {
        return Ok(BTreeMap::new());
    }
    let trees = render::render_all(&job(root, inventory, hosts, secrets))
        .context("rendering the working tree")?;
    Ok(trees.into_iter().map(|t| (t.host, t.files)).collect())
}

/// REV's rendered hosts: each one's files, or why REV does not render it.
type BaseTrees = BTreeMap<String, Result<BTreeMap<String, render::OutFile>, String>>;

/// Renders REV's side, where nothing is fatal: a REV that does not render (the change under
/// review may be its fix) makes its hosts `unrenderable`, with the reason. When nothing of
/// REV renders (its inventory or its template tree is broken), that reason comes back too,
/// and every host selected on either side is unrenderable.
fn render_base(
    (root, limits): (&Path, render::Limits),
    inventory: &anyhow::Result<Option<Inventory>>,
    hosts: &[String],
    head_hosts: &[String],
    secrets: &Secrets,
    rev: &str,
    redactor: &Redactor,
) -> (BaseTrees, Option<String>) {
    let inventory = match inventory {
        Ok(Some(inventory)) => inventory,
        Ok(None) => return (BTreeMap::new(), None),
        Err(e) => {
            return whole_failure(&format!("{e:#}"), root, rev, redactor, (hosts, head_hosts));
        }
    };
    if hosts.is_empty() {
        return (BTreeMap::new(), None);
    }
    match render::render_each(&job((root, limits), inventory, hosts, secrets)) {
        Ok(results) => {
            let trees = results
                .into_iter()
                .map(|(host, r)| {
                    let r = r.map(|t| t.files).map_err(|e| {
                        at_rev(&render::RenderFailed(e).to_string(), root, rev, redactor)
                    });
                    (host, r)
                })
                .collect();
            (trees, None)
        }
        Err(e) => whole_failure(&e.to_string(), root, rev, redactor, (hosts, head_hosts)),
    }
}

fn whole_failure(
    error: &str,
    root: &Path,
    rev: &str,
    redactor: &Redactor,
    (hosts, head_hosts): (&[String], &[String]),
) -> (BaseTrees, Option<String>) {
    let error = at_rev(error, root, rev, redactor);
    let trees = hosts
        .iter()
        .chain(head_hosts)
        .map(|h| (h.clone(), Err(error.clone())))
        .collect();
    (trees, Some(error))
}

/// The files under `secrets/` of a side: path → content.
fn secrets_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let dir = root.join("secrets");
    let mut out = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            if let Ok(data) = std::fs::read(entry.path()) {
                out.insert(
                    format!("secrets/{}", entry.file_name().to_string_lossy()),
                    data,
                );
            }
        }
    }
    out
}

/// What changed in the secrets, as names only: with both sides' values, the paths whose
/// values changed; otherwise the secrets files that changed and the key paths added or
/// removed.
fn secret_changes(
    base_root: &Path,
    head_root: &Path,
    base: &Known,
    head: &Known,
) -> serde_json::Value {
    // Values are compared only when both sides' are known; otherwise only the key paths
    // (placeholders on both sides).
    let both_known = base.is_known() && head.is_known();
    let leaves = |k: &Known| -> BTreeMap<String, String> {
        if both_known {
            k.leaves()
        } else {
            k.for_render().leaves().into_iter().collect()
        }
    };
    let (b, h) = (leaves(base), leaves(head));
    let keys: BTreeSet<&String> = b.keys().chain(h.keys()).collect();
    let (mut changed, mut added, mut removed) = (vec![], vec![], vec![]);
    for k in keys {
        match (b.get(k), h.get(k)) {
            (Some(x), Some(y)) if x != y => changed.push(k.clone()),
            (None, Some(_)) => added.push(k.clone()),
            (Some(_), None) => removed.push(k.clone()),
            _ => {}
        }
    }
    let notes: Vec<&String> = [base, head]
        .into_iter()
        .filter_map(|k| match k {
            Known::Keys(_, why) => Some(why),
            Known::Values(_) => None,
        })
        .collect();
    if notes.is_empty() {
        return json!({"values_known": true, "changed": changed, "added": added, "removed": removed});
    }
    let (bf, hf) = (secrets_files(base_root), secrets_files(head_root));
    let names: BTreeSet<&String> = bf.keys().chain(hf.keys()).collect();
    let files: Vec<&String> = names
        .into_iter()
        .filter(|n| bf.get(*n) != hf.get(*n))
        .collect();
    json!({
        "values_known": false,
        "why": notes,
        "files_changed": files,
        "added": added,
        "removed": removed,
    })
}

pub fn run(ctx: &Ctx, args: &DiffArgs) -> anyhow::Result<Outcome> {
    let commit = git::resolve(&ctx.root, &args.base)?;
    let checkout = tempfile::tempdir().context("cannot make a temporary folder")?;
    let base_root = checkout.path();
    git::export(&ctx.root, &commit, base_root)?;

    let head_inv = ctx.inventory()?;
    let base_inv = load_inventory(ctx, base_root);
    let head = head_secrets(ctx)?;
    let base = base_secrets(base_root, ctx, &args.base, &head);
    // No value may reach any output, error messages included: both sides' values redacted.
    let leaves: Vec<(String, String)> = [&base, &head]
        .iter()
        .filter_map(|k| match k {
            Known::Values(s) => Some(s.leaves()),
            Known::Keys(..) => None,
        })
        .flatten()
        .collect();
    ctx.redact(leaves.iter().map(|(p, v)| (p.as_str(), v.as_str())));

    let pattern = args.limit.limit.as_deref();
    let head_hosts = selected(Some(&head_inv), pattern);
    let base_hosts = selected(base_inv.as_ref().ok().and_then(Option::as_ref), pattern);
    if head_hosts.is_empty() && base_hosts.is_empty() {
        // Neither side has it: the working tree's error says why.
        limit::select(&head_inv, pattern)?;
    }
    let head_trees = render_head(
        (&ctx.root, ctx.render_limits),
        &head_inv,
        &head_hosts,
        &head.for_render(),
    )?;
    let (base_trees, base_error) = render_base(
        (base_root, ctx.render_limits),
        &base_inv,
        &base_hosts,
        &head_hosts,
        &base.for_render(),
        &args.base,
        &ctx.redactor(),
    );
    let hosts: BTreeSet<&String> = head_trees.keys().chain(base_trees.keys()).collect();
    let changes: Vec<HostChanges> = hosts
        .into_iter()
        .filter_map(|host| match base_trees.get(host) {
            Some(Err(error)) => Some(diff::unrenderable(host, error.clone())),
            base => diff::compare(
                host,
                Sides {
                    base: base.and_then(|b| b.as_ref().ok()),
                    head: head_trees.get(host),
                },
            ),
        })
        .collect();
    let secrets = secret_changes(base_root, &ctx.root, &base, &head);
    let secrets_differ = ["changed", "added", "removed", "files_changed"]
        .iter()
        .any(|k| secrets[k].as_array().is_some_and(|a| !a.is_empty()));

    if args.json {
        println!(
            "{}",
            json!({
                "base": base_json(&args.base, &commit, base_error.as_deref()),
                "changes": !changes.is_empty() || secrets_differ,
                "hosts": changes,
                "secrets": secrets,
            })
        );
    } else {
        print_text(
            &args.base,
            &commit,
            base_error.as_deref(),
            &changes,
            &secrets,
        );
    }
    Ok(if changes.is_empty() && !secrets_differ {
        Outcome::Done
    } else {
        Outcome::Changes
    })
}

fn base_json(rev: &str, commit: &str, error: Option<&str>) -> serde_json::Value {
    let mut base = json!({"rev": rev, "commit": commit});
    if let Some(error) = error {
        base["error"] = json!(error);
    }
    base
}

fn print_text(
    rev: &str,
    commit: &str,
    base_error: Option<&str>,
    changes: &[HostChanges],
    secrets: &serde_json::Value,
) {
    let short = &commit[..commit.len().min(12)];
    println!("nxinfra diff: {rev} ({short}) -> working tree");
    let colour = crate::util::color::stdout_enabled();
    if let Some(error) = base_error {
        println!("\n{rev} does not render, so no host can be compared with it:\n{error}");
    }
    for c in changes {
        if let Some(error) = &c.base_error {
            if base_error.is_some() {
                println!("\n## {} (unrenderable at {rev})", c.host);
            } else {
                println!("\n## {} (unrenderable at {rev}):\n{error}", c.host);
            }
            continue;
        }
        println!(
            "\n## {} ({}): {} added, {} removed, {} changed{}",
            c.host,
            c.status,
            c.added.len(),
            c.removed.len(),
            c.changed.len(),
            if c.mode.is_empty() {
                String::new()
            } else {
                format!(", {} mode", c.mode.len())
            }
        );
        for (file, kind, list) in [
            ("compose.yml", "service", &c.services),
            ("stack.yml", "cluster service", &c.stack_services),
        ] {
            for s in list {
                match s.change {
                    "changed" => println!("{kind} {}: changed: {}", s.service, s.fields.join(", ")),
                    "unreadable" => println!(
                        "{file}: cannot compare services: {}",
                        s.reason.as_deref().unwrap_or_default()
                    ),
                    other => println!("{kind} {}: {other}", s.service),
                }
            }
        }
        print!("{}", crate::util::color::diff(&c.diff, colour));
    }
    let list = |k: &str| -> Vec<String> {
        secrets[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    println!();
    if secrets["values_known"] == true {
        let parts: Vec<String> = [
            ("changed", "values changed"),
            ("added", "added"),
            ("removed", "removed"),
        ]
        .iter()
        .filter(|(k, _)| !list(k).is_empty())
        .map(|(k, what)| format!("{what}: {}", list(k).join(", ")))
        .collect();
        if parts.is_empty() {
            println!("secrets: no change");
        } else {
            println!("secrets: {}", parts.join("; "));
        }
    } else {
        let files = list("files_changed");
        let why: Vec<String> = list("why");
        let keys: Vec<String> = [("added", "keys added"), ("removed", "keys removed")]
            .iter()
            .filter(|(k, _)| !list(k).is_empty())
            .map(|(k, what)| format!("; {what}: {}", list(k).join(", ")))
            .collect();
        if files.is_empty() {
            println!("secrets: files unchanged ({})", why.join("; "));
        } else {
            println!(
                "secrets: {} changed; which values is not known ({}){}",
                files.join(", "),
                why.join("; "),
                keys.concat()
            );
        }
    }
    if changes.is_empty() {
        println!("no host's rendered files differ");
    } else {
        let n = changes.len();
        println!(
            "{n} {}",
            if n == 1 {
                "host differs"
            } else {
                "hosts differ"
            }
        );
    }
}

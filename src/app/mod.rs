//! Command implementations: the edge where library errors get their context (anyhow).

mod apply;
mod backup;
mod diff;
mod inventory;
mod plan;
mod render;
mod secrets;
mod sync;
mod wg;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cli::{Cli, Command, GlobalArgs};
use crate::model::inventory::Inventory;
use crate::secrets::store::Keys;
use crate::secrets::{Secrets, redact};

/// How a successful command ended: nothing to report, or differences found (exit 2).
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Changes,
}

/// The inventory file, relative to the repository root.
pub const INVENTORY_FILE: &str = "inventory/inventory.yml";

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let ctx = Ctx::new(&cli.global)?;
    match cli.command {
        Command::Render(args) => render::run(&ctx, &args),
        Command::Sync(args) => sync::run(&ctx, &args),
        Command::Apply(args) => apply::run(&ctx, &args),
        Command::Plan(args) => plan::run(&ctx, &args),
        Command::Diff(args) => diff::run(&ctx, &args),
        Command::Wg(args) => wg::run(&ctx, &args),
        Command::Backup(cmd) => backup::run(&ctx, cmd),
        Command::Inventory(cmd) => inventory::run(&ctx, cmd),
        Command::Secrets(cmd) => secrets::run(&ctx, cmd),
    }
}

/// What every command needs: where the repository is and how to unlock its secrets.
pub struct Ctx {
    pub root: PathBuf,
    pub keys: Keys,
}

impl Ctx {
    fn new(global: &GlobalArgs) -> anyhow::Result<Self> {
        let root = match &global.root {
            Some(root) => root.clone(),
            None => find_root()?,
        };
        Ok(Ctx {
            root,
            keys: Keys {
                identity: global.identity.clone(),
                vault_password_file: global.vault_password_file.clone(),
            },
        })
    }

    /// Loads the inventory; a fleet without hosts is an error.
    pub fn inventory(&self) -> anyhow::Result<Inventory> {
        let file = self.root.join(INVENTORY_FILE);
        if !file.exists() {
            bail!(
                "{} does not exist: is {} a fleet repository? (use --root)",
                file.display(),
                self.root.display()
            );
        }
        let inv = crate::model::inventory::load(&file)?;
        if inv.hosts.is_empty() {
            bail!("{}: the inventory defines no hosts", file.display());
        }
        Ok(inv)
    }

    /// Loads the secrets and installs their redactor for every later output.
    pub fn secrets(&self) -> anyhow::Result<Secrets> {
        let secrets = crate::secrets::store::load(&self.root, &self.keys)?;
        redact::install(secrets.redactor());
        let short: Vec<String> = secrets
            .leaves()
            .into_iter()
            .filter(|(_, v)| !v.is_empty() && v.len() < redact::MIN_REDACTED_LEN)
            .map(|(p, _)| p)
            .collect();
        if !short.is_empty() {
            eprintln!(
                "warning: secrets shorter than {} characters cannot be redacted from output: {}",
                redact::MIN_REDACTED_LEN,
                short.join(", ")
            );
        }
        Ok(secrets)
    }
}

/// What a render waiting for another's lock on rendered/ says, once.
fn waiting_for_render(holder: &str) {
    eprintln!(
        "waiting for another render of this repository ({holder}; {})",
        crate::render::lock::LOCK_FILE
    );
}

/// The nearest folder at or above the current one that holds `inventory/inventory.yml`, as a
/// relative path (empty for the current folder) so that messages name files the way the
/// operator sees them (`templates/config/...`).
fn find_root() -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let mut dir: &Path = &cwd;
    let mut up = PathBuf::new();
    loop {
        if dir.join(INVENTORY_FILE).exists() {
            return Ok(up);
        }
        up.push("..");
        match dir.parent() {
            Some(parent) => dir = parent,
            None => bail!(
                "no {INVENTORY_FILE} in {} or any folder above it: run nxinfra inside a fleet \
                 repository, or pass --root DIR",
                cwd.display()
            ),
        }
    }
}

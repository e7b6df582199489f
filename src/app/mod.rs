//! Command implementations: the edge where library errors get their context (anyhow).

mod apply;
mod backup;
mod cluster;
mod diff;
mod history;
mod holds;
mod inventory;
mod manual;
mod plan;
mod prune;
mod render;
mod rollback;
mod secrets;
mod status;
mod sync;
mod unpin;
mod wg;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;

use anyhow::{Context, bail};

use crate::cli::{Cli, Command, GlobalArgs};
use crate::model::inventory::Inventory;
use crate::secrets::store::Keys;
use crate::secrets::{Redactor, Secrets, redact};

/// How a successful command ended: nothing to report, or differences found (exit 2).
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Changes,
}

/// The inventory folder, relative to the repository root.
pub const INVENTORY_DIR: &str = "inventory";

fn run(ctx: &Ctx, command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Render(args) => render::run(ctx, &args),
        Command::Sync(args) => sync::run(ctx, &args),
        Command::Apply(args) => apply::run(ctx, &args),
        Command::Plan(args) => plan::run(ctx, &args),
        Command::Status(args) => status::run(ctx, &args),
        Command::History(args) => history::run(ctx, &args),
        Command::Rollback(args) => rollback::run(ctx, &args),
        Command::Unpin(args) => unpin::run(ctx, &args),
        Command::Prune(args) => prune::run(ctx, &args),
        Command::Diff(args) => diff::run(ctx, &args),
        Command::Wg(args) => wg::run(ctx, &args),
        Command::Backup(cmd) => backup::run(ctx, cmd),
        Command::Inventory(cmd) => inventory::run(ctx, cmd),
        Command::Secrets(cmd) => secrets::run(ctx, cmd),
        // Answered in `main`, before a repository is looked for.
        Command::Completions(_) | Command::Man(_) => Ok(Outcome::Done),
    }
}

/// What every command needs: where the repository is, how to unlock its secrets, and the
/// redactor of the secret values it has seen so far (handed to everything that prints).
pub struct Ctx {
    pub root: PathBuf,
    pub keys: Keys,
    /// How long an inventory script may run.
    pub inventory_timeout: std::time::Duration,
    /// The bounds on one rendered file.
    pub render_limits: crate::render::Limits,
    /// Every secret value seen so far (`(path, value)`), and their redactor.
    redactions: Mutex<Redactions>,
}

/// The secret `(path, value)` leaves a command has seen, and the redactor made of them.
type Redactions = (Vec<(String, String)>, Arc<Redactor>);

/// Vault-encrypted vars files opened with `--vault-password-file`.
struct VaultVars<'a>(&'a Keys);

impl crate::model::inventory::Unlock for VaultVars<'_> {
    fn unlock(&self, file: &Path) -> Result<Vec<u8>, String> {
        crate::secrets::store::decrypt_vault(file, self.0).map_err(|e| match e {
            crate::secrets::SecretsError::NoVaultPassword { .. } => {
                "it is encrypted with Ansible Vault: pass --vault-password-file FILE".to_string()
            }
            other => other.to_string(),
        })
    }
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
            inventory_timeout: std::time::Duration::from_secs(global.inventory_timeout),
            render_limits: crate::render::Limits {
                steps: global.max_template_steps,
                file_bytes: global.max_file_mib << 20,
            },
            redactions: Mutex::default(),
        })
    }

    /// The redactor of every secret value loaded so far (none before the secrets are).
    pub fn redactor(&self) -> Arc<Redactor> {
        match self.redactions.lock() {
            Ok(r) => r.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    /// From now on, also redact `(path, value)` leaves (the secrets', those a command made,
    /// both sides of a diff, the vault-encrypted inventory variables).
    pub fn redact<'a>(&self, leaves: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut guard = match self.redactions.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        guard.0.extend(
            leaves
                .into_iter()
                .map(|(p, v)| (p.to_string(), v.to_string())),
        );
        let redactor = Arc::new(Redactor::new(
            guard.0.iter().map(|(p, v)| (p.as_str(), v.as_str())),
        ));
        guard.1 = redactor;
    }

    /// Loads the inventory; a fleet without hosts is an error.
    pub fn inventory(&self) -> anyhow::Result<Inventory> {
        let inv = self.inventory_at(&self.root)?.with_context(|| {
            format!(
                "{} does not exist: is {} a fleet repository? (use --root)",
                self.root.join(INVENTORY_DIR).display(),
                self.root.display()
            )
        })?;
        if inv.hosts.is_empty() {
            let read: Vec<String> = inv
                .sources
                .iter()
                .map(|s| s.display().to_string())
                .collect();
            bail!(
                "{}: the inventory defines no hosts (read: {})",
                self.root.join(INVENTORY_DIR).display(),
                if read.is_empty() {
                    "no inventory file".to_string()
                } else {
                    read.join(", ")
                }
            );
        }
        // Every command refuses bad cluster settings, not only those that act on clusters.
        crate::model::cluster::clusters(&inv)?;
        Ok(inv)
    }

    /// Loads the inventory of the repository at `root` (a checkout of another revision, say),
    /// with this command's vault password and script timeout; none if it has no inventory/.
    /// Its vault-encrypted values are redacted from then on.
    pub fn inventory_at(&self, root: &Path) -> anyhow::Result<Option<Inventory>> {
        let dir = root.join(INVENTORY_DIR);
        if !dir.is_dir() {
            return Ok(None);
        }
        let unlock = VaultVars(&self.keys);
        let opts = crate::model::inventory::Options {
            unlock: Some(&unlock),
            script_timeout: self.inventory_timeout,
        };
        let inv = crate::model::inventory::load_dir(&dir, root, &opts)?;
        self.redact_secrets(&inv.secret_leaves());
        Ok(Some(inv))
    }

    /// Loads the secrets; their values are redacted from every later output.
    pub fn secrets(&self) -> anyhow::Result<Secrets> {
        let secrets = crate::secrets::store::load(&self.root, &self.keys)?;
        self.redact_secrets(&secrets.leaves());
        Ok(secrets)
    }

    /// Redacts secret leaves from now on, and warns of those too short to be.
    fn redact_secrets(&self, leaves: &[(String, String)]) {
        self.redact(leaves.iter().map(|(p, v)| (p.as_str(), v.as_str())));
        let short: Vec<&str> = leaves
            .iter()
            .filter(|(_, v)| !v.is_empty() && v.len() < redact::MIN_REDACTED_LEN)
            .map(|(p, _)| p.as_str())
            .collect();
        if !short.is_empty() {
            eprintln!(
                "warning: secrets shorter than {} characters cannot be redacted from output: {}",
                redact::MIN_REDACTED_LEN,
                short.join(", ")
            );
        }
    }
}

/// What a render waiting for another's lock on rendered/ says, once.
fn waiting_for_render(holder: &str) {
    eprintln!(
        "waiting for another render of this repository ({holder}; {})",
        crate::render::lock::LOCK_FILE
    );
}

/// The nearest folder at or above the current one that holds an `inventory/` folder, as a
/// relative path (empty for the current folder) so that messages name files the way the
/// operator sees them (`templates/config/...`).
fn find_root() -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let mut dir: &Path = &cwd;
    let mut up = PathBuf::new();
    loop {
        if dir.join(INVENTORY_DIR).is_dir() {
            return Ok(up);
        }
        up.push("..");
        match dir.parent() {
            Some(parent) => dir = parent,
            None => bail!(
                "no {INVENTORY_DIR}/ folder in {} or any folder above it: run nxinfra inside a fleet \
                 repository, or pass --root DIR",
                cwd.display()
            ),
        }
    }
}

/// The SSH settings of `--ssh-config`, `--strict-host-keys`, `--ssh-persist`,
/// `--ssh-timeout`; pulls stopped after `--pull-timeout`'s default (apply and rollback set
/// their own).
pub fn ssh_options(a: &crate::cli::SshArgs) -> crate::host::session::SshOptions {
    crate::host::session::SshOptions {
        config_file: a.ssh_config.clone(),
        strict_host_keys: a.strict_host_keys,
        connect_timeout: Some(std::time::Duration::from_secs(10)),
        persist_secs: a.ssh_persist,
        alive_timeout: Some(std::time::Duration::from_secs(a.ssh_timeout)),
        pull_stall: Some(std::time::Duration::from_secs(
            crate::cli::DEFAULT_PULL_TIMEOUT,
        )),
    }
}

/// Exit status of a usage error (unknown option, missing argument): 1, as any error. clap's
/// own is 2, which is nxinfra's "differences found": `render --check --typo` would read as a
/// stale render, and a CI step that accepts 2 would pass.
pub const USAGE_ERROR: u8 = 1;

/// Parses arguments, runs the command, prints errors (redacted), returns the exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_exit(&err),
    };
    // About the command line itself: no repository needed.
    match &cli.command {
        Command::Completions(args) => return manual::completions(args.shell),
        Command::Man(args) => return manual::man(&args.dir),
        _ => {}
    }
    crate::util::interrupt::install();
    let (result, redactor) = match Ctx::new(&cli.global) {
        Ok(ctx) => (run(&ctx, cli.command), ctx.redactor()),
        Err(e) => (Err(e), Arc::default()),
    };
    let code = match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Changes) => ExitCode::from(2),
        Err(err) => {
            // An interrupted command says so and ends as the shell expects (130, 143, 129).
            let code = err
                .downcast_ref::<crate::secrets::edit::Interrupted>()
                .map_or(1, |i| i.exit_code());
            let mut text = format!("error: {err}");
            for cause in err.chain().skip(1) {
                text.push_str(&format!("\n  caused by: {cause}"));
            }
            // Not eprintln!: after SIGHUP the terminal may be gone, and the exit code matters more.
            let _ = writeln!(std::io::stderr(), "{}", redactor.redact(&text));
            ExitCode::from(code)
        }
    };
    // Interrupted during host work: each host finished or undid its step in flight and
    // released its lock; the status says it was interrupted, whatever else happened.
    match crate::util::interrupt::received() {
        Some(signal) => {
            let _ = writeln!(
                std::io::stderr(),
                "interrupted by {}: stopped after the steps in flight (each finished or undone, \
                 the locks released); run it again to finish",
                crate::util::interrupt::name(signal)
            );
            ExitCode::from(crate::util::interrupt::exit_status(signal))
        }
        None => code,
    }
}

/// Prints what clap has to say (`--help`, `--version` on stdout, exit 0; a usage error on
/// stderr, exit [`USAGE_ERROR`]).
fn usage_exit(err: &clap::Error) -> ExitCode {
    // Printing fails only when the stream is closed; the exit status still tells.
    let _ = err.print();
    if err.use_stderr() {
        ExitCode::from(USAGE_ERROR)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn usage_errors_are_errors_and_help_is_not() {
        for args in [
            &["nxinfra", "render", "--check", "--typo"][..],
            &["nxinfra", "diff"],
            &["nxinfra", "nope"],
            &["nxinfra"],
        ] {
            let err = Cli::try_parse_from(args).unwrap_err();
            assert!(err.use_stderr(), "{args:?}: {err}");
        }
        for args in [&["nxinfra", "--help"][..], &["nxinfra", "--version"]] {
            let err = Cli::try_parse_from(args).unwrap_err();
            assert!(!err.use_stderr(), "{args:?}");
        }
        Cli::command().debug_assert();
    }
}

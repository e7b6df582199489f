//! `nxinfra secrets init|view|edit|set|rekey|import-vault`

use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::cli::SecretsCommand;
use crate::secrets::store::{self, AGE_FILE, Keys, RECIPIENTS_FILE};
use crate::secrets::{Secrets, age_file, edit, vault};

use super::{Ctx, Outcome};

pub fn run(ctx: &Ctx, cmd: SecretsCommand) -> anyhow::Result<Outcome> {
    match cmd {
        SecretsCommand::Init => init(ctx),
        SecretsCommand::View => view(ctx),
        SecretsCommand::Edit { allow_empty } => edit(ctx, allow_empty),
        SecretsCommand::Set { path, value } => set(ctx, &path, value),
        SecretsCommand::Rekey => rekey(ctx),
        SecretsCommand::ImportVault { file, force } => import_vault(ctx, &file, force),
    }
}

fn init(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let identity_file = ctx
        .keys
        .identity
        .clone()
        .or_else(store::default_identity_path)
        .context("cannot find a place for the identity: set HOME or pass --identity FILE")?;
    let public = if identity_file.exists() {
        let text = std::fs::read_to_string(&identity_file)
            .with_context(|| format!("cannot read {}", identity_file.display()))?;
        let keys = age_file::public_keys_of(&text);
        let Some(first) = keys.into_iter().next() else {
            bail!(
                "{} exists but holds no age identity (AGE-SECRET-KEY-1…)",
                identity_file.display()
            );
        };
        eprintln!("using the existing identity {}", identity_file.display());
        first
    } else {
        let (contents, public) = age_file::generate_identity();
        store::write_atomic(&identity_file, contents.as_bytes(), 0o600)?;
        if let Some(parent) = identity_file.parent() {
            let _ = std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700));
        }
        eprintln!(
            "created identity {} (mode 0600): back it up, it is the only key",
            identity_file.display()
        );
        public
    };
    let recipients = ctx.root.join(RECIPIENTS_FILE);
    let existing = std::fs::read_to_string(&recipients).unwrap_or_default();
    if existing
        .lines()
        .any(|l| l.split_whitespace().next() == Some(public.as_str()))
    {
        eprintln!("{RECIPIENTS_FILE} already lists {public}");
    } else {
        let mut text = existing.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        let user = std::env::var("USER").unwrap_or_else(|_| "operator".into());
        text.push_str(&format!("# {user}\n{public}\n"));
        store::write_atomic(&recipients, text.as_bytes(), 0o644)?;
        eprintln!("added {public} to {RECIPIENTS_FILE}");
    }
    if ctx.root.join(AGE_FILE).exists() {
        eprintln!(
            "{AGE_FILE} exists: someone who can decrypt it runs `nxinfra secrets rekey` so that \
             your key can read it"
        );
    } else {
        let file = store::write_age(&ctx.root, b"# nxinfra secrets (YAML)\n{}\n")?;
        eprintln!("created {}", file.display());
    }
    Ok(Outcome::Done)
}

/// The current secrets in plaintext, from the age file (the only file these commands edit).
fn read_age(ctx: &Ctx) -> anyhow::Result<Vec<u8>> {
    let file = ctx.root.join(AGE_FILE);
    if !file.exists() {
        bail!(
            "{} does not exist: run `nxinfra secrets init` (or import-vault)",
            file.display()
        );
    }
    Ok(store::decrypt_age(&file, &ctx.keys)?)
}

fn view(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let plaintext = match store::read_plaintext(&ctx.root, &ctx.keys)? {
        Some((_, p)) => p,
        None => bail!("this fleet has no secrets file ({AGE_FILE})"),
    };
    std::io::stdout().write_all(&plaintext)?;
    Ok(Outcome::Done)
}

/// `secrets edit`: the plaintext goes to a [`Scratch`] copy (memory-backed, 0600, removed on
/// every way out) while the editor runs; SIGINT/SIGTERM/SIGHUP meanwhile discard the edit.
fn edit(ctx: &Ctx, allow_empty: bool) -> anyhow::Result<Outcome> {
    // Signals are caught before the plaintext exists, and until its copy is gone (`scratch`
    // is declared after `signals`, so it is dropped first).
    let signals = edit::Signals::catch()?;
    let original = read_age(ctx)?;
    let had_keys = !Secrets::from_yaml(Path::new(AGE_FILE), &original)
        .map(|s| s.doc.is_empty())
        .unwrap_or(true);
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let scratch = edit::Scratch::new(&original, &edit::scratch_bases())?;
    let path = scratch.path();
    loop {
        signals.check()?;
        let status = signals
            .run(
                std::process::Command::new("sh")
                    .arg("-c")
                    // `exec`: the editor is nxinfra's child, so a signal passed on reaches it
                    // (not only a shell that would wait for it).
                    .arg(format!("exec {editor} \"$1\""))
                    .arg("sh")
                    .arg(path),
            )
            .with_context(|| format!("cannot run the editor {editor:?}"))?;
        signals.check()?;
        if !status.success() {
            bail!("the editor {editor:?} failed ({status}); the secrets are unchanged");
        }
        let edited = std::fs::read(path)?;
        if edited == original {
            eprintln!("no change");
            return Ok(Outcome::Done);
        }
        let problem = match Secrets::from_yaml(Path::new("secrets.yml (edited)"), &edited) {
            Ok(s) if s.doc.is_empty() && had_keys && !allow_empty => {
                "the edited secrets hold no key (empty, or comments only): that would remove \
                 every secret; pass --allow-empty if you mean it"
                    .to_string()
            }
            Ok(_) => {
                signals.check()?;
                let file = store::write_age(&ctx.root, &edited)?;
                eprintln!("re-encrypted {}", file.display());
                return Ok(Outcome::Done);
            }
            Err(err) => err.to_string(),
        };
        if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            eprint!("{problem}\nedit again? [Y/n] ");
            let answer = signals.read_line()?;
            if !answer.trim().eq_ignore_ascii_case("n") {
                continue;
            }
        }
        bail!("{problem}; the secrets are unchanged");
    }
}

fn set(ctx: &Ctx, path: &str, value: Option<String>) -> anyhow::Result<Outcome> {
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        bail!("invalid path {path:?}: use dotted keys like postgresql.password");
    }
    let value = match value {
        Some(v) => v,
        None => {
            let mut v = String::new();
            std::io::stdin()
                .read_to_string(&mut v)
                .context("cannot read the value from stdin")?;
            if v.ends_with('\n') {
                v.pop();
                if v.ends_with('\r') {
                    v.pop();
                }
            }
            v
        }
    };
    let file = ctx.root.join(AGE_FILE);
    let doc = if file.exists() {
        Secrets::from_yaml(&file, &read_age(ctx)?)?.doc
    } else {
        Default::default()
    };
    let mut doc: serde_json::Map<String, Value> = doc.into_iter().collect();
    let (last, parents) = keys.split_last().context("empty path")?;
    let mut map = &mut doc;
    for (depth, key) in parents.iter().enumerate() {
        let entry = map
            .entry((*key).to_string())
            .or_insert_with(|| Value::Object(Default::default()));
        let Value::Object(inner) = entry else {
            bail!(
                "{} is a value, not a mapping: cannot set {path}",
                keys[..=depth].join(".")
            );
        };
        map = inner;
    }
    if matches!(map.get(*last), Some(Value::Object(_))) {
        bail!("{path} is a mapping; set its keys instead");
    }
    map.insert((*last).to_string(), Value::String(value));
    let yaml = serde_norway::to_string(&doc)?;
    store::write_age(&ctx.root, yaml.as_bytes())?;
    eprintln!("set {path} in {AGE_FILE}");
    Ok(Outcome::Done)
}

fn rekey(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let plaintext = read_age(ctx)?;
    let recipients = age_file::read_recipients(&ctx.root.join(RECIPIENTS_FILE))?;
    let file = store::write_age(&ctx.root, &plaintext)?;
    eprintln!(
        "re-encrypted {} to {} recipients",
        file.display(),
        recipients.len()
    );
    Ok(Outcome::Done)
}

fn import_vault(ctx: &Ctx, file: &Path, force: bool) -> anyhow::Result<Outcome> {
    let target: PathBuf = ctx.root.join(AGE_FILE);
    if target.exists() && !force {
        bail!("{} exists; pass --force to replace it", target.display());
    }
    let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    if !vault::is_vault(&data) {
        bail!(
            "{} is not an Ansible Vault file (no $ANSIBLE_VAULT header)",
            file.display()
        );
    }
    let keys = Keys {
        identity: None,
        vault_password_file: ctx.keys.vault_password_file.clone(),
    };
    let plaintext = store::decrypt_vault(file, &keys)?;
    Secrets::from_yaml(file, &plaintext)?;
    let written = store::write_age(&ctx.root, &plaintext)?;
    eprintln!(
        "imported {} into {}; check it with `nxinfra secrets view`, then delete the vault file",
        file.display(),
        written.display()
    );
    Ok(Outcome::Done)
}

//! Command-line definitions (clap derive), and nothing else: the command layer ([`crate::app`])
//! turns them into settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "nxinfra",
    version,
    about = "Deploy a fleet from a git repository: inventory + secrets + templates → hosts",
    long_about = "nxinfra turns a repository describing a fleet (inventory/, \
secrets/secrets.yml.age, templates/) into per-host trees under rendered/<host>/ (render), \
places them on the hosts over SSH (sync), and reconciles each host's Docker containers with its \
rendered compose.yml (apply). plan shows what sync and apply would do, touching nothing; diff \
shows offline what a change does to the rendered fleet; wg makes the WireGuard keys the fleet \
lacks.\n\n\
The repository is found by looking for an inventory/ folder in the current folder and its \
parents, or given with --root.",
    after_help = "Examples:\n  nxinfra render                      render every host into rendered/\n  \
nxinfra render --limit ixp --check  exit 2 if rendered/ is stale for the ixp hosts\n  \
nxinfra inventory show coreams01    the variables coreams01's templates see\n  \
nxinfra secrets edit                edit the encrypted secrets in $EDITOR\n  \
nxinfra wg                          make the WireGuard keys new peers need\n  \
nxinfra diff --base origin/main     what this branch changes, offline\n  \
nxinfra plan --limit coreams01      what sync and apply would do there\n  \
nxinfra apply --limit coreams01     render, sync and reconcile its containers\n  \
nxinfra status --checks             each host as it is, its checks run\n  \
source <(nxinfra completions bash)  complete commands and options in bash\n\n\
Exit status: 0 success, 1 error (a usage error too: an unknown option, a missing argument), 2 \
changes found (render --check, --dry-run, plan, diff, wg --dry-run) or a host not as desired (status)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Repository root (default: the nearest folder at or above the current one holding an
    /// inventory/ folder)
    #[arg(long, global = true, env = "NXINFRA_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// age identity file that decrypts secrets/secrets.yml.age
    /// [default: ~/.config/nxinfra/identity.txt]
    #[arg(long, global = true, env = "NXINFRA_AGE_KEY_FILE", value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Password file of Ansible Vault files: the secrets (secrets/secrets.yml) and
    /// vault-encrypted vars files (group_vars/all/vault.yml)
    #[arg(
        long,
        global = true,
        env = "NXINFRA_VAULT_PASSWORD_FILE",
        value_name = "FILE"
    )]
    pub vault_password_file: Option<PathBuf>,
    /// How long an executable inventory script (inventory/*, run with --list) may run before
    /// it is killed and the command fails
    #[arg(
        long,
        global = true,
        env = "NXINFRA_INVENTORY_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub inventory_timeout: u64,
    /// Template instructions one rendered file may execute before its render is stopped with
    /// an error (a loop that never ends). Counted, not timed, so a render that passes on a
    /// laptop passes in CI: 100 million take a few seconds, 30,000 times what the largest
    /// template of the shipped fleet needs (docs/reliability.md)
    #[arg(
        long,
        global = true,
        env = "NXINFRA_MAX_TEMPLATE_STEPS",
        value_name = "N",
        default_value_t = 100_000_000,
        value_parser = clap::value_parser!(u64).range(1000..)
    )]
    pub max_template_steps: u64,
    /// The largest file render makes or copies, in MiB: a larger static file is refused
    /// before it is read, a larger output stops its render (every file is held in memory)
    #[arg(
        long,
        global = true,
        env = "NXINFRA_MAX_FILE_MIB",
        value_name = "MiB",
        default_value_t = 256,
        value_parser = clap::value_parser!(u64).range(1..=1 << 20)
    )]
    pub max_file_mib: u64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render every host's templates into rendered/<host>/
    #[command(
        long_about = "Render every selected host's templates into rendered/<host>/.\n\n\
For each group of a host, templates/config/<group>/ gives the files shared by the group and \
templates/config/<group>/<host>/ the host's own files (a host file wins). *.j2 files are \
rendered with Jinja2 semantics (strict undefined, trim_blocks, lstrip_blocks), other files are \
copied byte for byte. Hosts render in parallel into a staging folder that replaces rendered/ \
only when every host succeeded: on any error rendered/ is left exactly as it was.\n\n\
Files that read a secret are written 0600 (0700 for *.sh); *.sh files are executable.",
        after_help = "Examples:\n  nxinfra render\n  nxinfra render --limit 'ixp,vltatl01'\n  \
nxinfra render --check            # CI: exit 2 when rendered/ is stale"
    )]
    Render(RenderArgs),
    /// Render, then push each host's rendered tree to <base_dir> over SSH
    #[command(
        long_about = "Render, then push each selected host's rendered/<host>/ tree to its \
base dir (nxinfra_base_dir) over one SSH connection per host.\n\n\
The host's manifest (<base_dir>/.nxinfra/manifest: path, sha256, mode of every file nxinfra \
placed) is read under the host's lock; only changed files travel, in one tar stream, and are \
moved into place with atomic renames; files nxinfra placed earlier and no longer renders are \
removed; files it never placed are never touched. Every sync is one remote command per host \
(--diff adds one).\n\n\
nxinfra_system_files entries are placed outside the base dir through `sudo -n` with their mode \
and owner; each `reload` runs once, only when one of its files changed.\n\n\
Host keys are always checked (accept-new at most; --strict-host-keys refuses unknown keys). \
~/.ssh/config applies (User, Port, IdentityFile, ProxyJump...). See docs/sync.md.\n\n\
Holds (docs/operations.md): a host held by nxinfra_hold is not contacted (`held: REASON`); a \
file held by nxinfra_hold_paths stays as the host has it, and the output says what would \
otherwise change; an expired hold is a warning and no longer holds; --ignore-holds overrides.",
        after_help = "Examples:\n  nxinfra sync --limit ixp --dry-run --diff\n  \
nxinfra sync --forks 4 --json\n  nxinfra sync --ssh-config testbed/ssh_config\n  \
nxinfra sync --ssh-persist 300     # keep connections for the next runs\n\n\
Exit status: 0 all hosts synced (or --dry-run found nothing to do), 1 any host failed, 2 \
--dry-run found changes, 130/143 interrupted by Ctrl-C/SIGTERM (each host's upload finished or \
not begun, the locks released)."
    )]
    Sync(SyncArgs),
    /// Render, sync, then reconcile each host's Docker containers with its compose.yml
    #[command(
        long_about = "Render, sync (as `nxinfra sync`), then reconcile each selected host's \
Docker containers with its rendered compose.yml, through the engine's socket forwarded over \
the host's SSH connection, while holding the host's lock.\n\n\
Networks, images and containers are compared with what the engine runs (labels nxinfra.hash: \
the normalised service, the image id, the content of every rendered file it mounts); only \
what differs is touched, in dependency order: created, recreated, restarted (x-nxinfra \
on_config_change: restart) or removed, each with its reason. A service with a healthcheck must \
become healthy, or its previous container is restored and the host fails. Containers nxinfra \
did not create are never touched. See docs/apply.md.\n\n\
Then, for each cluster group (nxinfra_cluster: swarm) with a selected host: its Docker Swarm \
made and kept as declared (the swarm initialised, nodes joined, labelled, given their roles) \
and the services of its stack.yml reconciled through one manager, each rolling update waited \
for and rolled back by the swarm on a failed healthcheck. See docs/cluster.md.\n\n\
Every apply that changes a host appends a record to its deploy journal (`nxinfra history`); \
services pinned by `nxinfra rollback` stay at their image until `nxinfra unpin`. Holds \
(nxinfra_hold, nxinfra_hold_paths) are respected as by sync. Images are never removed \
(`nxinfra prune`). See docs/operations.md.",
        after_help = "Examples:\n  nxinfra apply --limit coreams01 --dry-run\n  \
nxinfra apply --json\n\n\
Exit status: 0 nothing to do or all applied, 1 any host failed, 2 --dry-run found changes, \
130/143 interrupted by Ctrl-C/SIGTERM: the steps in flight were finished or undone (a health \
gate given up, the previous container back), the locks released; a second signal exits at \
once, and the next apply completes or undoes what was left."
    )]
    Apply(SyncArgs),
    /// What sync and apply would do on each host, changing nothing anywhere
    #[command(
        long_about = "Render, then show per host what `nxinfra sync` would do to its files (added, changed, removed; system files and the reloads they would trigger) and what `nxinfra apply` would do to its networks and containers (create, recreate, restart, remove, each with its reason), without changing anything on any host: no lock is taken, no file written, no image pulled. For a cluster (docs/cluster.md): what its swarm's membership and its stack's networks, configs, secrets and services would become. Secret values never appear: diffs and JSON show <secret:PATH>.\n\n--json prints a document of the schema in docs/plan.schema.json (docs/plan.md).",
        after_help = "Examples:\n  nxinfra plan\n  nxinfra plan --limit coreams01 --diff\n  \
nxinfra plan --json | jq '.hosts[] | select(.changes)'\n\n\
Exit status: 0 no changes, 2 changes, 1 any host failed (as terraform plan -detailed-exitcode)."
    )]
    Plan(PlanArgs),
    /// Each host as it is against what it should be, changing nothing anywhere
    #[command(
        long_about = "Render, then read each host without changing anything (no lock, no file written, no image pulled, no container touched) and show: every desired service's container as the engine has it (running, healthy or not; exited with its code; restarting; missing; a container of that name nxinfra did not create), with its image id, repository digests, restart count and start time; the fleet's containers no longer desired; the files nxinfra placed that were changed on the host since the last sync (edited, removed, re-moded); and the host's facts (disk use of the base dir's filesystem, load, engine version). One line per host when all is as desired.\n\nWith --checks, also each running service's checks (x-nxinfra.checks: http, tcp, exec, the ones apply gates a rollout on) and each host's own (nxinfra_checks: a command on the host such as `systemctl is-active bird`, disk_max_percent); a failing check is not as desired.\n\nSecret values never appear: a healthcheck's or a check's output is redacted. --json prints a document of the schema in docs/status.schema.json (docs/status.md).",
        after_help = "Examples:\n  nxinfra status\n  nxinfra status --limit 'ixp*'\n  \
nxinfra status --checks\n  nxinfra status --json | jq '.hosts[] | select(.as_desired | not)'\n\n\
Exit status: 0 every host as desired, 2 something is not, 1 a host could not be read \
(unreachable, its engine down: named with why)."
    )]
    Status(StatusArgs),
    /// Each host's deploys, newest first: who, when, from which commit, what changed
    #[command(
        long_about = "Read each host's deploy journal (<base_dir>/.nxinfra/history: one record per `apply` or `rollback` that changed something there, the last nxinfra_history kept, default 50) and show its deploys, newest first: the deploy's number on that host, when, who (user@machine), the repository's commit (and whether the tree was dirty), how it ended (ok, rolled back by its health gate, failed), and per service it changed the action, the image reference, the image id and the repository digest. Nothing is written, no lock is taken; nothing is rendered.\n\nWith SERVICE names, only the deploys that changed one of them. The journal holds no secret value. --json prints a document of the schema in docs/history.schema.json (docs/operations.md).",
        after_help = "Examples:\n  nxinfra history --limit coreams01\n  nxinfra history --limit coreams01 website\n  \
nxinfra history --json | jq '.hosts[].deploys[0]'\n\n\
Exit status: 0, 1 a host could not be read."
    )]
    History(HistoryArgs),
    /// Recreate services with the image ids of an earlier deploy, and pin them there
    #[command(
        long_about = "Render, then on each selected host recreate the named services (default: those its last deploy changed) with the image ids of deploy N of its journal (--to N, default: the last successful deploy before the last), health-gated like any apply: a new container that fails its healthcheck or its checks is removed and the previous one runs on. A rollback changes images only: when the checkout would change anything else on the host (a file, another service), it refuses and names what; check out the deployed commit (`nxinfra history` shows it).\n\nEach service rolled back is pinned (<base_dir>/.nxinfra/pins: service, image id, since, by whom, why): `apply`, `plan` and `status` keep it at that image and show the pin, whatever its tag now names (a floating `:main` pushed again is not followed), until `nxinfra unpin`. An image no longer on the host (pruned) cannot be rolled back to: refused, nothing changed. The rollback is itself a deploy in the journal. See docs/operations.md.",
        after_help = "Examples:\n  nxinfra rollback --limit coreams01 --dry-run\n  \
nxinfra rollback --limit coreams01 website\n  nxinfra rollback --limit coreams01 --to 12 website\n\n\
Exit status: 0 rolled back, 1 refused or failed (the previous containers run on), 2 --dry-run \
found changes."
    )]
    Rollback(RollbackArgs),
    /// Drop pins: the services follow compose.yml again at the next apply
    #[command(
        long_about = "Remove the pins a rollback put on the named services (default: every pin) of each selected host, under its lock. No container changes now: the next `nxinfra apply` brings them back to what compose.yml names (`nxinfra plan` shows what that would change). Nothing is rendered.",
        after_help = "Examples:\n  nxinfra unpin --limit coreams01 website\n  nxinfra unpin --limit coreams01\n\n\
Exit status: 0, 1 a host failed or a named service is not pinned."
    )]
    Unpin(UnpinArgs),
    /// Remove the images no container uses and no recent deploy references
    #[command(
        long_about = "On each selected host, under its lock, remove the engine's images that no container uses (running or not) and that none of the host's last K deploys references (nxinfra_keep_deploys, default 10), nor a pin: the images a rollback may still go back to stay. `apply` never removes an image; this is the only command that does. Every other image is kept. --dry-run lists what would go.",
        after_help = "Examples:\n  nxinfra prune --dry-run\n  nxinfra prune --limit 'ixp*'\n\n\
Exit status: 0 done (or nothing to remove), 1 a host failed, 2 --dry-run found images to remove."
    )]
    Prune(PruneArgs),
    /// The rendered fleet at a git revision against the working tree, offline
    #[command(
        long_about = "Render the fleet as it is at REV (read from git, without touching the \
working tree or the index) and as it is in the working tree, and print per host the unified \
diffs of the rendered files and a per-service summary of compose.yml changes (service added, \
removed, or which fields changed). Offline: no host is contacted.\n\n\
Secret values never appear: both renders use <secret:PATH> placeholders. Without an identity \
the values are unknown, any name that is not an inventory variable is taken for a secret, and \
the diff says which secrets files changed; with one, it names the secret paths whose values \
changed (never the values). This is the CI view of a pull request (docs/plan.md).",
        after_help = "Examples:\n  nxinfra diff --base origin/main\n  nxinfra diff --base HEAD~1 --limit coreams01\n  \
nxinfra diff --base v1.2 --json\n\n\
Exit status: 0 nothing differs, 2 something differs, 1 error (such as an unknown REV)."
    )]
    Diff(DiffArgs),
    /// Make the WireGuard private keys the fleet lacks, into the secrets
    #[command(
        long_about = "Make the WireGuard private keys the fleet needs and the secrets lack, \
and add them to secrets/secrets.yml.age (re-encrypted to secrets/recipients.txt). Keys already \
there are never replaced, so this can run any time: peers keep their keys and tunnels.\n\n\
A key is needed at wireguard.<peer>.<iface> for every host that gets a rendered file \
wireguard/<iface>.conf, and for every peer a host names in its variable \
nxinfra_wireguard_peers (interface: [peer, ...]; peers that are not inventory hosts, such as \
laptops). Templates read the private key as secrets.wireguard[inventory_hostname][iface] and \
a peer's public key as secrets.wireguard[peer][iface] | wg_pubkey: public keys are derived, \
never stored.\n\n\
Prints every needed key with its public key (never a private key), and the keys of the secrets \
that nothing needs any more (they are kept: remove them with `nxinfra secrets edit`). Needs the \
identity that decrypts the secrets.",
        after_help = "Examples:\n  nxinfra wg --dry-run        # which keys are missing\n  \
nxinfra wg                  # make them\n  nxinfra wg --limit ixpams03 --json\n\n\
Exit status: 0 nothing missing or all made, 1 error, 2 --dry-run found missing keys."
    )]
    Wg(WgArgs),
    /// Back up what hosts declare in nxinfra_backups, to every destination; list, verify,
    /// restore, drill and watch them
    #[command(
        subcommand,
        after_help = "A host declares its backups in the inventory:\n\n  \
nxinfra_backups:\n    - name: postgresql\n      container: postgresql               # without it: on the host\n      \
command: pg_dumpall -U postgres     # its stdout is the backup\n      \
restore: psql -U postgres           # reads a backup on stdin\n      \
check: grep -q '^CREATE ROLE'       # verify feeds it the plaintext\n      \
keep: 7                             # each destination keeps the newest 7\n      \
max_age: 26h                        # backup status exits 2 beyond it\n      \
to: [local, {host: ixpams01}]       # default: local\n\n\
Each backup is dumped once through the host's SSH connection, gzip-compressed and \
age-encrypted once to secrets/recipients.txt, read back, then stored at every destination: \
local (backups/<host>/<name>/, 0600; --dir or NXINFRA_BACKUP_DIR elsewhere; gitignored), \
another inventory host (over its SSH connection), an S3-compatible bucket (keys from the \
secrets). See docs/backup.md.\n\nExamples:\n  nxinfra backup run\n  nxinfra backup run --limit \
coreams01 --only postgresql\n  nxinfra backup list\n  nxinfra backup verify\n  \
nxinfra backup status\n  nxinfra backup restore coreams01 postgresql --from ixpams01\n  \
nxinfra backup drill postgresql"
    )]
    Backup(BackupCommand),
    /// Inspect the inventory: hosts, groups and merged variables
    #[command(
        subcommand,
        after_help = "The inventory is the folder inventory/, read as Ansible reads an inventory \
folder: YAML files (.yml, .yaml, .json), INI files (any other name), executable inventory \
scripts (run with --list, Ansible's JSON with _meta.hostvars); then group_vars/ and host_vars/ \
beside them and at the repository's root (NAME.yml or a folder NAME/; whole-file Ansible Vault \
files read with --vault-password-file, their values secret). Variable precedence: all < parent \
groups < child groups < host vars; two unrelated groups giving one variable different values, \
one group or host given two values in two places, or Ansible's precedence choosing another \
value than the hierarchy is an error.\n\nExamples:\n  nxinfra inventory list --limit 'ixp*'\n  \
nxinfra inventory show vltatl01 --json"
    )]
    Inventory(InventoryCommand),
    /// Manage the encrypted secrets (age; Ansible Vault read for migration)
    #[command(
        subcommand,
        after_help = "Secrets live in secrets/secrets.yml.age (age, armored YAML), encrypted to \
the keys in secrets/recipients.txt. Templates see them at the top level and as secrets.<path>; \
no other command ever prints their values.\n\nExamples:\n  nxinfra secrets init\n  \
printf %s \"$TOKEN\" | nxinfra secrets set dns.cloudflare.api_token\n  nxinfra secrets edit"
    )]
    Secrets(SecretsCommand),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Load it in the current shell, or install it where the shell looks:\n\n  \
source <(nxinfra completions bash)\n  \
nxinfra completions bash > ~/.local/share/bash-completion/completions/nxinfra\n  \
nxinfra completions zsh > ~/.zfunc/_nxinfra     # with fpath+=(~/.zfunc) before compinit\n  \
nxinfra completions fish > ~/.config/fish/completions/nxinfra.fish\n\n\
Works outside a fleet repository."
    )]
    Completions(CompletionsArgs),
    /// Write the manual pages (nxinfra.1, and nxinfra-COMMAND.1 for each command) into DIR
    #[command(
        after_help = "`make man` writes them into target/man/:\n\n  man -l target/man/nxinfra.1\n  \
man -l target/man/nxinfra-backup-run.1\n\nWorks outside a fleet repository."
    )]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The folder the pages are written into (made if missing)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Seconds a run waits for a lock (a host's, the local render's) by default.
pub const DEFAULT_LOCK_TIMEOUT: u64 = 60;

#[derive(Debug, Clone, Args)]
pub struct LimitArg {
    /// Hosts to act on: host or group names, globs (`ixp*`), comma-separated, `!x` excludes;
    /// a pattern that matches nothing is an error
    #[arg(short, long, value_name = "PATTERN")]
    pub limit: Option<String>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub limit: LimitArg,
    /// Do not write; exit 2 when rendered/ differs from what the sources produce, 0 when equal
    #[arg(long)]
    pub check: bool,
    /// Seconds to wait for another render of this repository (its lock,
    /// .nxinfra-render.lock) before failing
    #[arg(long, default_value_t = DEFAULT_LOCK_TIMEOUT, value_name = "SECONDS")]
    pub lock_timeout: u64,
    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub limit: LimitArg,
    /// Show what would change without changing anything
    #[arg(long)]
    pub dry_run: bool,
    /// Print unified diffs of the changes (secret values shown as <secret:PATH>)
    #[arg(long)]
    pub diff: bool,
    /// Hosts synced at once (16: past it, 200 test hosts synced no faster; over a WAN try 32,
    /// docs/reliability.md#scale)
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub forks: usize,
    /// A rolling change: N hosts at a time, in inventory order; after a batch with a failed
    /// host, the remaining hosts are left as they are (as Ansible's `serial`)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub serial: Option<u64>,
    /// Seconds to wait for another run's lock on a host, and for another render's lock on
    /// rendered/ here, before failing
    #[arg(long, default_value_t = DEFAULT_LOCK_TIMEOUT, value_name = "SECONDS")]
    pub lock_timeout: u64,
    /// End the run holding a host's lock first (its remote process is killed); for a run
    /// that hangs. A run that died holds no lock: the lock goes with its connection.
    #[arg(long)]
    pub force_unlock: bool,
    /// apply: stop an image pull that reports no progress for this long (a registry that
    /// stopped answering); nothing is changed on that host then
    #[arg(long, default_value_t = DEFAULT_PULL_TIMEOUT, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub pull_timeout: u64,
    /// Deploy held hosts and files too (nxinfra_hold, nxinfra_hold_paths), naming on stderr
    /// each hold ignored
    #[arg(long)]
    pub ignore_holds: bool,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub limit: LimitArg,
    /// Print unified diffs of the files that would change (secret values shown as
    /// <secret:PATH>; files holding secrets show no content)
    #[arg(long)]
    pub diff: bool,
    /// Hosts read at once
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub forks: usize,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Print the plan as JSON on stdout (docs/plan.schema.json)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub limit: LimitArg,
    /// Only the deploys that changed these services
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Hosts read at once
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub forks: usize,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Print the deploys as JSON on stdout (docs/history.schema.json)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The hosts to roll back (required: a rollback is never fleet-wide by accident)
    #[arg(short, long, value_name = "PATTERN", required = true)]
    pub limit: String,
    /// The services to roll back (default: those the host's last deploy changed)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// The deploy to go back to (its number in `nxinfra history`; default: the last
    /// successful deploy before the last)
    #[arg(long, value_name = "N")]
    pub to: Option<u64>,
    /// Show what would change without changing anything
    #[arg(long)]
    pub dry_run: bool,
    /// Roll back a held host too (nxinfra_hold), naming the hold ignored
    #[arg(long)]
    pub ignore_holds: bool,
    /// Seconds to wait for another run's lock on a host before failing
    #[arg(long, default_value_t = DEFAULT_LOCK_TIMEOUT, value_name = "SECONDS")]
    pub lock_timeout: u64,
    /// Stop an image pull that reports no progress for this long (a registry that stopped
    /// answering); nothing is changed on that host then
    #[arg(long, default_value_t = DEFAULT_PULL_TIMEOUT, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub pull_timeout: u64,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Print a JSON summary on stdout (as apply's)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UnpinArgs {
    #[command(flatten)]
    pub limit: LimitArg,
    /// The services to unpin (default: every pinned service)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Seconds to wait for another run's lock on a host before failing
    #[arg(long, default_value_t = DEFAULT_LOCK_TIMEOUT, value_name = "SECONDS")]
    pub lock_timeout: u64,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub limit: LimitArg,
    /// List what would be removed without removing anything
    #[arg(long)]
    pub dry_run: bool,
    /// Hosts pruned at once
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub forks: usize,
    /// Seconds to wait for another run's lock on a host before failing
    #[arg(long, default_value_t = DEFAULT_LOCK_TIMEOUT, value_name = "SECONDS")]
    pub lock_timeout: u64,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub limit: LimitArg,
    /// Hosts read at once
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub forks: usize,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Print the status as JSON on stdout (docs/status.schema.json)
    #[arg(long)]
    pub json: bool,
    /// Also run the services' checks (x-nxinfra.checks) and the hosts' (nxinfra_checks); a
    /// failing one is not as desired
    #[arg(long)]
    pub checks: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The revision to compare with: a branch, tag or commit (anything `git rev-parse` takes)
    #[arg(long, value_name = "REV")]
    pub base: String,
    #[command(flatten)]
    pub limit: LimitArg,
    /// Print the differences as JSON on stdout (the diffs themselves are left out)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WgArgs {
    #[command(flatten)]
    pub limit: LimitArg,
    /// Show which keys are missing, write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the keys (public keys only) as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Make the declared backups of the selected hosts and store them at every destination
    #[command(
        long_about = "Make every backup the selected hosts declare in nxinfra_backups: the \
command runs in its container (or on the host), its stdout streams through the host's SSH \
connection into one new file, gzip-compressed and age-encrypted to secrets/recipients.txt, in \
the local backups folder. With an identity, it is read back through (and compared with what \
was streamed) before it goes anywhere. Then every destination of the backup gets the same \
bytes at once (the local folder, another host over SSH, an S3 bucket), each complete or not at \
all, and each trims its older copies by its own retention. A command that fails keeps no \
file anywhere; a destination that fails stops no other.",
        after_help = "Exit status: 0 every backup made and stored everywhere, 1 any backup or \
destination failed (each named; the others are still made)."
    )]
    Run(BackupRunArgs),
    /// The copies kept at every destination, per host and name, oldest first
    List(BackupListArgs),
    /// Read back the newest copy at every destination: decrypt, decompress, run the check
    #[command(
        long_about = "Read back the newest copy of every backup at every destination (every \
copy with --all): decrypted with the identity (age authenticates every chunk), decompressed \
(gzip checks its CRC), and fed on stdin to the backup's `check` command, run here (sh -c), \
whose exit status 0 means good. A copy at another host or in a bucket is read into a private \
temporary file in the local backups folder first.",
        after_help = "Exit status: 0 every copy reads and passes its check, 1 any does not (each \
is named)."
    )]
    Verify(BackupVerifyArgs),
    /// Per backup and destination, the age and size of the newest copy, against max_age
    #[command(
        after_help = "Exit status: 0 every destination has a copy younger than its \
max_age, 2 one is older or has none, 1 a destination cannot be read.\n\nExamples:\n  nxinfra \
backup status\n  nxinfra backup status --json"
    )]
    Status(BackupStatusArgs),
    /// Put a backup back: the backup's restore command, in its container, reads it on stdin
    #[command(
        after_help = "The newest copy of NAME at --from (default: the backup's first \
destination) unless --file names one (as `nxinfra backup list` shows it). Needs the \
identity.\n\nExamples:\n  nxinfra backup restore coreams01 postgresql\n  nxinfra backup \
restore coreams01 postgresql --from ixpams01\n  nxinfra backup restore coreams01 postgresql \
--file postgresql-20261202T013624.123Z.gz.age"
    )]
    Restore(BackupRestoreArgs),
    /// Restore the newest backup into a throwaway container on the host and check it
    #[command(
        long_about = "A restore drill: for each selected host that declares backup NAME with a \
`drill` (image, restore, check), the newest copy (at --from, default the first destination) \
is restored into a new container of the drill's image on that host, with no network, by the \
drill's restore command; then its check runs in the container. The container is removed \
whatever happened. The check's output is shown, secrets redacted.",
        after_help = "Exit status: 0 every drill passed, 1 any failed.\n\nExamples:\n  \
nxinfra backup drill postgresql\n  nxinfra backup drill postgresql --limit coreams01 --from s3"
    )]
    Drill(BackupDrillArgs),
}

#[derive(Debug, Clone, Args)]
pub struct BackupDirArg {
    /// The local backups' folder: the local destination, and where new backups are spooled
    /// [default: backups/ in the repository]
    #[arg(long, env = "NXINFRA_BACKUP_DIR", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupRunArgs {
    #[command(flatten)]
    pub limit: LimitArg,
    /// Only the backup of this name
    #[arg(long, value_name = "NAME")]
    pub only: Option<String>,
    #[command(flatten)]
    pub dir: BackupDirArg,
    /// Hosts backed up at once
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub forks: usize,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Print what was made as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

/// Which backups and destinations a reading command looks at.
#[derive(Debug, Clone, Args)]
pub struct BackupSelectArgs {
    #[command(flatten)]
    pub limit: LimitArg,
    /// Only the backup of this name
    #[arg(long, value_name = "NAME")]
    pub only: Option<String>,
    /// Only this destination (local, a host's name, s3, or its `name:`)
    #[arg(long, value_name = "DEST")]
    pub from: Option<String>,
    #[command(flatten)]
    pub dir: BackupDirArg,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Print as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BackupListArgs {
    #[command(flatten)]
    pub select: BackupSelectArgs,
}

#[derive(Debug, Args)]
pub struct BackupVerifyArgs {
    #[command(flatten)]
    pub select: BackupSelectArgs,
    /// Every copy kept, not only the newest at each destination
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct BackupStatusArgs {
    #[command(flatten)]
    pub select: BackupSelectArgs,
}

#[derive(Debug, Args)]
pub struct BackupRestoreArgs {
    /// The host, as the inventory names it
    pub host: String,
    /// The backup's name (nxinfra_backups: name)
    pub name: String,
    /// The destination to restore from (local, a host's name, s3, or its `name:`)
    /// [default: the backup's first destination]
    #[arg(long, value_name = "DEST")]
    pub from: Option<String>,
    /// A copy of that host and name at that destination (its file name); default: the newest
    #[arg(long, value_name = "FILE")]
    pub file: Option<String>,
    #[command(flatten)]
    pub dir: BackupDirArg,
    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Debug, Args)]
pub struct BackupDrillArgs {
    /// The backup's name (nxinfra_backups: name); every selected host declaring it with a
    /// drill is drilled
    pub name: String,
    #[command(flatten)]
    pub limit: LimitArg,
    /// The destination whose newest copy is restored [default: the backup's first]
    #[arg(long, value_name = "DEST")]
    pub from: Option<String>,
    #[command(flatten)]
    pub dir: BackupDirArg,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Print the drills' reports as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

/// How nxinfra reaches hosts (every command that connects).
#[derive(Debug, Clone, Args)]
pub struct SshArgs {
    /// ssh configuration file instead of ~/.ssh/config
    #[arg(long, env = "NXINFRA_SSH_CONFIG", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// Refuse hosts whose key is not already known (default: accept new keys, refuse changed)
    #[arg(long)]
    pub strict_host_keys: bool,
    /// Keep each host's SSH connection open this long after the run, for the next run to reuse
    /// (like Ansible's ControlPersist); 0 closes them at the end
    #[arg(
        long,
        env = "NXINFRA_SSH_PERSIST",
        default_value_t = 0,
        value_name = "SECONDS"
    )]
    pub ssh_persist: u64,
    /// A host that stops answering (network cut, host frozen) fails after about this long
    /// instead of hanging: ssh's keepalive every third of it (ServerAliveInterval), given up
    /// after ssh's ServerAliveCountMax (3) missed answers
    #[arg(
        long,
        env = "NXINFRA_SSH_TIMEOUT",
        default_value_t = DEFAULT_SSH_TIMEOUT,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(3..)
    )]
    pub ssh_timeout: u64,
}

/// `--ssh-timeout`'s default: a host silent for half a minute is treated as gone.
pub const DEFAULT_SSH_TIMEOUT: u64 = 30;

/// `--pull-timeout`'s default: an image pull that reports no progress for two minutes is
/// stopped (the engine reports progress during a download at least every few seconds).
pub const DEFAULT_PULL_TIMEOUT: u64 = 120;

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// List hosts with their groups and connection address
    #[command(
        after_help = "Examples:\n  nxinfra inventory list\n  nxinfra inventory list --limit vlt --json"
    )]
    List {
        #[command(flatten)]
        limit: LimitArg,
        /// Print JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Show the variables a host's templates see (secrets shown as <secret:PATH>)
    #[command(
        after_help = "Examples:\n  nxinfra inventory show coreams01\n  nxinfra inventory show ixpams01 --json | jq .tailnet_address"
    )]
    Show {
        /// Host name
        host: String,
        /// Print JSON on stdout
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Create an identity (if none), add its public key to secrets/recipients.txt, and create an
    /// empty secrets file (if none)
    #[command(after_help = "The identity is written to --identity FILE, else \
~/.config/nxinfra/identity.txt (mode 0600); an existing identity is never overwritten.\n\n\
Example, taking over the shipped demo fleet:\n  nxinfra secrets init\n  \
$EDITOR secrets/recipients.txt          # remove the demo key\n  \
nxinfra secrets rekey --identity demo/identity.DEMO-ONLY.txt")]
    Init,
    /// Print the decrypted secrets (the only command that shows secret values)
    #[command(after_help = "Examples:\n  nxinfra secrets view | less\n  \
nxinfra secrets view --vault-password-file .password   # an Ansible Vault secrets/secrets.yml")]
    View,
    /// Edit the secrets in $EDITOR; re-encrypted only if the result is valid YAML
    #[command(
        after_help = "The plaintext lives in a private folder (0700) in memory-backed storage \
(/dev/shm, else the temporary folder) while the editor runs, and is removed afterwards, also when \
nxinfra gets SIGINT, SIGTERM or SIGHUP (it passes the signal on to the editor, waits for it, \
discards the edit and exits 128 + the signal's number). If the result is not valid YAML, or \
holds no key where the secrets had some, nothing changes: on a terminal you are offered to edit \
again, otherwise the error says what is wrong and where.\n\n\
Examples:\n  nxinfra secrets edit\n  EDITOR='code --wait' nxinfra secrets edit"
    )]
    Edit {
        /// Accept a result with no key left (every secret removed)
        #[arg(long)]
        allow_empty: bool,
    },
    /// Set one value: PATH is dotted (`postgresql.password`), the value comes from the argument
    /// or, safer, from stdin
    #[command(
        after_help = "Examples:\n  printf %s \"$TOKEN\" | nxinfra secrets set dns.api_token\n  \
nxinfra secrets set bird.peering_password 'x'   # visible in shell history: prefer stdin"
    )]
    Set {
        /// Dotted path of the value
        path: String,
        /// The value (default: read stdin; one trailing newline is dropped)
        value: Option<String>,
    },
    /// Re-encrypt the secrets to the keys now in secrets/recipients.txt
    #[command(
        after_help = "Run it after adding or removing a line of secrets/recipients.txt, with an \
identity that can decrypt the current file. A removed key can no longer decrypt new versions of \
the file, but it could read the old ones: rotate the values too.\n\nExample:\n  \
printf '# alice\\nage1...\\n' >> secrets/recipients.txt && nxinfra secrets rekey"
    )]
    Rekey,
    /// Convert an Ansible Vault file into secrets/secrets.yml.age
    #[command(
        after_help = "Example:\n  nxinfra secrets import-vault secrets/secrets.yml --vault-password-file .password"
    )]
    ImportVault {
        /// The vault file ($ANSIBLE_VAULT;1.1 or 1.2)
        file: PathBuf,
        /// Overwrite an existing secrets/secrets.yml.age
        #[arg(long)]
        force: bool,
    },
}

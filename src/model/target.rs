//! A host's spec, parsed once from its inventory variables: where and how to reach it
//! (`ansible_host`, `ansible_user`, `ansible_port`, `nxinfra_base_dir`,
//! `nxinfra_docker_socket`, `nxinfra_fleet`; see docs/inventory.md) and what it declares
//! (`nxinfra_system_files`, `nxinfra_backups`, `nxinfra_wireguard_peers`) and what its
//! deploys leave alone (`nxinfra_hold`, `nxinfra_hold_paths`).

use serde_json::Value;

use crate::model::backup::{self, Backup};
use crate::model::inventory::Vars;
use crate::model::system_files::{self, SystemFile};
use crate::model::wireguard;

/// One host's spec: its connection target and tool settings, and its declarations, each
/// variable parsed and checked once (a bad one is a [`TargetError`] naming the host and the
/// variable). The issue calls it `HostSpec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The inventory name (`coreams01`).
    pub host: String,
    /// What ssh connects to: `ansible_host`, else the inventory name (so `~/.ssh/config` can
    /// map it).
    pub destination: String,
    /// `ansible_user`; `None` lets `~/.ssh/config` (or the current user) decide.
    pub user: Option<String>,
    /// `ansible_port`; `None` lets `~/.ssh/config` (or 22) decide.
    pub port: Option<u16>,
    /// Where the rendered tree lands: `nxinfra_base_dir`, default `/home/<user>`.
    pub base_dir: String,
    /// The engine's socket on the host: `nxinfra_docker_socket`.
    pub docker_socket: String,
    /// Files placed outside the base dir through sudo: `nxinfra_system_files`.
    pub system_files: Vec<SystemFile>,
    /// The fleet this host's engine objects belong to: `nxinfra_fleet`, default the
    /// repository folder's name (as Compose names its projects).
    pub fleet: String,
    /// What `nxinfra backup` dumps: `nxinfra_backups`.
    pub backups: Vec<Backup>,
    /// The host's own checks, run by `nxinfra status --checks`: `nxinfra_checks`.
    pub checks: Vec<crate::model::compose::PostCheck>,
    /// The WireGuard peers that are not hosts, as (interface, peer) pairs:
    /// `nxinfra_wireguard_peers`.
    pub wireguard_peers: Vec<(String, String)>,
    /// How much of its deploy journal the host keeps: `nxinfra_history`,
    /// `nxinfra_keep_deploys`.
    pub journal: JournalSettings,
    /// What deploys leave as it is: `nxinfra_hold` (the whole host), `nxinfra_hold_paths`
    /// (some of its files). As written: which are in force at a moment is
    /// [`Holds::at`](crate::model::hold::Holds::at), decided by the command layer.
    pub holds: crate::model::hold::Holds,
}

/// How much a host keeps of its deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalSettings {
    /// Records its journal keeps (`nxinfra_history`, default 50).
    pub history: usize,
    /// Deploys whose images `nxinfra prune` keeps (`nxinfra_keep_deploys`, default 10).
    pub keep_deploys: usize,
}

impl Default for JournalSettings {
    fn default() -> Self {
        JournalSettings {
            history: crate::model::journal::DEFAULT_HISTORY,
            keep_deploys: crate::model::journal::DEFAULT_KEEP_DEPLOYS,
        }
    }
}

/// What a host's settings default to when its variables leave them out.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// The user nxinfra runs as (`$USER`): the default `ansible_user` for the base dir.
    pub user: String,
    /// The fleet's name when `nxinfra_fleet` is not set: the repository folder's name.
    pub fleet: String,
}

impl Defaults {
    /// The defaults of the repository at `root`, for the user nxinfra runs as.
    pub fn new(root: &std::path::Path) -> Defaults {
        // The root found in the current folder is the empty path.
        let root = if root.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            root
        };
        let folder = std::fs::canonicalize(root)
            .ok()
            .and_then(|r| r.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        Defaults {
            user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
            fleet: fleet_name(&folder),
        }
    }
}

/// `folder` as a fleet name: lower case letters, digits, `-`, `_` and `.`, as Compose makes
/// a project name of a folder's; `fleet` when nothing is left.
pub fn fleet_name(folder: &str) -> String {
    let name: String = folder
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();
    let name = name.trim_start_matches(['-', '_', '.']);
    if name.is_empty() {
        "fleet".into()
    } else {
        name.to_string()
    }
}

/// Whether `name` is a fleet name nxinfra accepts in `nxinfra_fleet`.
fn valid_fleet(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Why a host of the inventory has no spec: its variables cannot be merged, or one of them
/// is refused (with where it is written).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    Inventory(#[from] crate::model::inventory::InventoryError),
    /// `inventory/inventory.yml:130: host coreams01: nxinfra_backups: ...`; the error is
    /// part of the message, not a source (the edge would print it twice).
    #[error("{location}: {error}")]
    Variable {
        location: String,
        error: TargetError,
    },
}

impl Target {
    /// `host`'s spec from the inventory; a refused variable's error says where it is written
    /// (file and line).
    pub fn of_host(
        inventory: &crate::model::inventory::Inventory,
        host: &str,
        defaults: &Defaults,
    ) -> Result<Target, SpecError> {
        let vars = inventory.host_vars(host)?;
        Target::from_vars(host, &vars, defaults).map_err(|error| SpecError::Variable {
            location: inventory.origin(host, error.variable),
            error,
        })
    }
}

/// A tool variable with the wrong type or value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("host {host}: {variable}: {reason}")]
pub struct TargetError {
    pub host: String,
    pub variable: &'static str,
    /// Part of the message, not its `source`: the edge prints each source again as a
    /// `caused by` line, and a host's failure is its message alone. Boxed: a `Result` of a
    /// spec stays small.
    pub reason: Box<Reason>,
}

/// Why a variable of a host is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Reason {
    #[error("expected a non-empty string, got {0}")]
    NotAString(Value),
    #[error("{0:?} is not a host name or address")]
    Destination(String),
    #[error("{0:?} is not a user name")]
    User(String),
    #[error("expected a port 1-65535, got {0}")]
    Port(Value),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(
        "{0:?} is not a fleet name (letters, digits, -, _ and ., starting with a letter or \
         digit, at most 64)"
    )]
    Fleet(String),
    #[error(transparent)]
    SystemFiles(#[from] system_files::ParseError),
    #[error(transparent)]
    Backups(#[from] backup::ParseError),
    #[error(transparent)]
    Checks(#[from] crate::model::host_checks::ParseError),
    #[error(transparent)]
    WireguardPeers(#[from] wireguard::PeersError),
    #[error(transparent)]
    Hold(#[from] crate::model::hold::ParseError),
    #[error("expected a whole number from 1 to {max}, got {value}")]
    Count { value: Value, max: u64 },
}

/// Why `nxinfra_base_dir` or `nxinfra_docker_socket` is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("{0:?} must be an absolute path")]
    NotAbsolute(String),
    #[error("{0:?} must not contain . or ..")]
    Dots(String),
    #[error("{0:?} contains quotes, $, backslashes or control characters")]
    Characters(String),
    #[error("the base dir cannot be /")]
    Root,
}

/// The records a host's journal keeps.
pub const HISTORY_VAR: &str = "nxinfra_history";
/// The deploys whose images `nxinfra prune` keeps.
pub const KEEP_DEPLOYS_VAR: &str = "nxinfra_keep_deploys";

pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";

impl Target {
    /// The target of `host` from its merged variables, with `defaults` for what they leave
    /// out.
    pub fn from_vars(host: &str, vars: &Vars, defaults: &Defaults) -> Result<Target, TargetError> {
        let bad = |variable: &'static str, reason: Reason| TargetError {
            host: host.to_string(),
            variable,
            reason: Box::new(reason),
        };
        let string = |variable: &'static str| -> Result<Option<String>, TargetError> {
            match vars.get(variable) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
                Some(other) => Err(bad(variable, Reason::NotAString(other.clone()))),
            }
        };
        let destination = string("ansible_host")?.unwrap_or_else(|| host.to_string());
        if destination.starts_with('-') || destination.contains(char::is_whitespace) {
            return Err(bad("ansible_host", Reason::Destination(destination)));
        }
        let user = string("ansible_user")?;
        if let Some(u) = &user
            && (u.starts_with('-')
                || u.contains(|c: char| c.is_whitespace() || c == '@' || c == '/'))
        {
            return Err(bad("ansible_user", Reason::User(u.clone())));
        }
        let port = match vars.get("ansible_port") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let n = v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|n| (1..=65535).contains(n))
                    .ok_or_else(|| bad("ansible_port", Reason::Port(v.clone())))?;
                Some(n as u16)
            }
        };
        let base_dir = match string("nxinfra_base_dir")? {
            Some(dir) => dir,
            None => format!("/home/{}", user.as_deref().unwrap_or(&defaults.user)),
        };
        check_absolute(&base_dir).map_err(|r| bad("nxinfra_base_dir", r.into()))?;
        let docker_socket =
            string("nxinfra_docker_socket")?.unwrap_or_else(|| DEFAULT_DOCKER_SOCKET.into());
        check_absolute(&docker_socket).map_err(|r| bad("nxinfra_docker_socket", r.into()))?;
        let system_files = system_files::parse(vars.get(system_files::VARIABLE))
            .map_err(|r| bad(system_files::VARIABLE, r.into()))?;
        let fleet = string("nxinfra_fleet")?.unwrap_or_else(|| defaults.fleet.clone());
        if !valid_fleet(&fleet) {
            return Err(bad("nxinfra_fleet", Reason::Fleet(fleet)));
        }
        let backups = backup::parse(vars.get(backup::VARIABLE))
            .map_err(|r| bad(backup::VARIABLE, r.into()))?;
        let wireguard_peers = wireguard::parse_peers(vars.get(wireguard::PEERS_VAR))
            .map_err(|r| bad(wireguard::PEERS_VAR, r.into()))?;
        let checks =
            crate::model::host_checks::parse(vars.get(crate::model::host_checks::VARIABLE))
                .map_err(|r| bad(crate::model::host_checks::VARIABLE, r.into()))?;
        let count = |variable: &'static str, default: usize, max: u64| match vars.get(variable) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=max).contains(n))
                .map(|n| n as usize)
                .ok_or_else(|| {
                    bad(
                        variable,
                        Reason::Count {
                            value: v.clone(),
                            max,
                        },
                    )
                }),
        };
        let defaults_journal = JournalSettings::default();
        let journal = JournalSettings {
            history: count(HISTORY_VAR, defaults_journal.history, 10_000)?,
            keep_deploys: count(KEEP_DEPLOYS_VAR, defaults_journal.keep_deploys, 10_000)?,
        };
        use crate::model::hold;
        let holds = hold::Holds {
            host: hold::parse_host(vars.get(hold::HOLD_VAR))
                .map_err(|r| bad(hold::HOLD_VAR, r.into()))?,
            paths: hold::parse_paths(vars.get(hold::PATHS_VAR))
                .map_err(|r| bad(hold::PATHS_VAR, r.into()))?,
        };
        Ok(Target {
            holds,
            journal,
            fleet,
            system_files,
            backups,
            checks,
            wireguard_peers,
            host: host.to_string(),
            destination,
            user,
            port,
            base_dir: base_dir.trim_end_matches('/').to_string(),
            docker_socket,
        })
    }
}

/// An absolute, normalised path without characters a remote shell would interpret.
fn check_absolute(path: &str) -> Result<(), PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute(path.to_string()));
    }
    if path.split('/').any(|c| c == "." || c == "..") {
        return Err(PathError::Dots(path.to_string()));
    }
    if path
        .chars()
        .any(|c| c.is_control() || "'\"`$\\".contains(c))
    {
        return Err(PathError::Characters(path.to_string()));
    }
    if path == "/" {
        return Err(PathError::Root);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars(v: serde_json::Value) -> Vars {
        v.as_object().unwrap().clone().into_iter().collect()
    }

    fn user(name: &str) -> Defaults {
        Defaults {
            user: name.into(),
            fleet: "infra".into(),
        }
    }

    #[test]
    fn the_fleet_is_named_by_nxinfra_fleet_or_the_repository_folder() {
        let t = Target::from_vars("h", &Vars::new(), &user("a")).unwrap();
        assert_eq!(t.fleet, "infra");
        let t = Target::from_vars("h", &vars(json!({"nxinfra_fleet": "nxthdr"})), &user("a"));
        assert_eq!(t.unwrap().fleet, "nxthdr");
        assert_eq!(fleet_name("My Infra (copy)"), "myinfracopy");
        assert_eq!(fleet_name(".x"), "x");
        assert_eq!(fleet_name("€"), "fleet");
        // The root found in the current folder is the empty path: the folder's name all the
        // same (it was `fleet` for every repository).
        let cwd = std::env::current_dir().unwrap();
        let here = fleet_name(&cwd.file_name().unwrap().to_string_lossy());
        assert_eq!(Defaults::new(std::path::Path::new("")).fleet, here);
        assert_eq!(Defaults::new(&cwd).fleet, here);
        let err = Target::from_vars("h", &vars(json!({"nxinfra_fleet": "a b"})), &user("a"));
        assert_eq!(err.unwrap_err().variable, "nxinfra_fleet");
    }

    #[test]
    fn defaults_and_overrides() {
        let t = Target::from_vars("coreams01", &Vars::new(), &user("alice")).unwrap();
        assert_eq!(t.destination, "coreams01");
        assert_eq!((t.user.as_deref(), t.port), (None, None));
        assert_eq!(t.base_dir, "/home/alice");
        assert_eq!(t.docker_socket, "/var/run/docker.sock");

        let t = Target::from_vars(
            "coreams01",
            &vars(json!({"ansible_host": "ams01.core.infra.nxthdr.dev", "ansible_user": "nxthdr",
                         "ansible_port": 2222, "nxinfra_docker_socket": "/run/user/1000/docker.sock"})),
            &user("alice"),
        )
        .unwrap();
        assert_eq!(t.destination, "ams01.core.infra.nxthdr.dev");
        assert_eq!(t.user.as_deref(), Some("nxthdr"));
        assert_eq!(t.port, Some(2222));
        assert_eq!(t.base_dir, "/home/nxthdr");
        assert_eq!(t.docker_socket, "/run/user/1000/docker.sock");
        let t = Target::from_vars(
            "h",
            &vars(json!({"ansible_port": "22", "nxinfra_base_dir": "/srv/x/"})),
            &user("a"),
        )
        .unwrap();
        assert_eq!((t.port, t.base_dir.as_str()), (Some(22), "/srv/x"));
    }

    #[test]
    fn bad_values_name_host_and_variable() {
        let cases = [
            (json!({"ansible_port": 0}), "ansible_port"),
            (json!({"nxinfra_fleet": "-x"}), "nxinfra_fleet"),
            (json!({"ansible_port": "ssh"}), "ansible_port"),
            (json!({"ansible_port": 70000}), "ansible_port"),
            (json!({"ansible_host": "-oProxyCommand=x"}), "ansible_host"),
            (json!({"ansible_host": 12}), "ansible_host"),
            (json!({"ansible_user": "a b"}), "ansible_user"),
            (json!({"nxinfra_base_dir": "home/x"}), "nxinfra_base_dir"),
            (
                json!({"nxinfra_base_dir": "/home/../etc"}),
                "nxinfra_base_dir",
            ),
            (
                json!({"nxinfra_base_dir": "/home/$USER"}),
                "nxinfra_base_dir",
            ),
            (json!({"nxinfra_base_dir": "/"}), "nxinfra_base_dir"),
            (
                json!({"nxinfra_docker_socket": "docker.sock"}),
                "nxinfra_docker_socket",
            ),
            (
                json!({"nxinfra_system_files": [{"src": "a"}]}),
                "nxinfra_system_files",
            ),
            (json!({"nxinfra_backups": {"name": "x"}}), "nxinfra_backups"),
            (
                json!({"nxinfra_wireguard_peers": {"wg0": "laptop"}}),
                "nxinfra_wireguard_peers",
            ),
        ];
        for (v, variable) in cases {
            let err = Target::from_vars("vltatl01", &vars(v.clone()), &user("a")).unwrap_err();
            assert_eq!(err.variable, variable, "{v}");
            assert!(
                err.to_string()
                    .starts_with(&format!("host vltatl01: {variable}:")),
                "{err}"
            );
        }
    }

    #[test]
    fn the_spec_carries_its_backups_and_wireguard_peers() {
        let t = Target::from_vars(
            "coreams01",
            &vars(json!({
                "nxinfra_backups": [{"name": "db", "container": "postgresql", "command": "pg_dumpall"}],
                "nxinfra_wireguard_peers": {"wg0": ["laptop", "mon"]},
            })),
            &user("a"),
        )
        .unwrap();
        assert_eq!(t.backups.len(), 1);
        let b: &Backup = &t.backups[0];
        assert_eq!(
            (b.name.as_str(), b.container.as_deref(), b.command.as_str()),
            ("db", Some("postgresql"), "pg_dumpall")
        );
        assert_eq!(b.to[0].retention.keep, backup::DEFAULT_KEEP);
        assert_eq!(
            t.wireguard_peers,
            [
                ("wg0".to_string(), "laptop".to_string()),
                ("wg0".to_string(), "mon".to_string())
            ]
        );
        let t = Target::from_vars("h", &Vars::new(), &user("a")).unwrap();
        assert_eq!((t.backups.len(), t.wireguard_peers.len()), (0, 0));
    }

    #[test]
    fn a_bad_declaration_is_one_error_with_the_host_and_variable() {
        let err = |v: serde_json::Value| {
            Target::from_vars("core1", &vars(v), &user("a"))
                .unwrap_err()
                .to_string()
        };
        // The messages `backup` and `wg` printed when they parsed these themselves.
        assert_eq!(
            err(json!({"nxinfra_backups": [{"name": "a", "container": "c"}]})),
            "host core1: nxinfra_backups: entry 1 (a): command is required"
        );
        assert_eq!(
            err(json!({"nxinfra_backups": [
                {"name": "a", "command": "x"}, {"name": "a", "command": "y"}
            ]})),
            "host core1: nxinfra_backups: entry 2 (a): the name a is used twice"
        );
        assert_eq!(
            err(json!({"nxinfra_backups": ["x"]})),
            "host core1: nxinfra_backups: entry 1: expected a mapping (name, container, \
             command, ...)"
        );
        assert_eq!(
            err(json!({"nxinfra_wireguard_peers": {"wg0": "laptop"}})),
            "host core1: nxinfra_wireguard_peers: wg0: expected a list of peer names, got \
             \"laptop\""
        );
        assert_eq!(
            err(json!({"nxinfra_system_files": [{"src": "a", "dest": "/etc/../a"}]})),
            "host core1: nxinfra_system_files: entry 1 (a): dest: \"/etc/../a\" must be \
             normalised (no ., .., //)"
        );
        assert_eq!(
            err(json!({"nxinfra_base_dir": "/"})),
            "host core1: nxinfra_base_dir: the base dir cannot be /"
        );
        assert_eq!(
            err(json!({"ansible_port": "ssh"})),
            "host core1: ansible_port: expected a port 1-65535, got \"ssh\""
        );
        for (v, want) in [
            (
                json!({"nxinfra_base_dir": "srv"}),
                "nxinfra_base_dir: \"srv\" must be an absolute path",
            ),
            (
                json!({"nxinfra_base_dir": "/srv/./x"}),
                "nxinfra_base_dir: \"/srv/./x\" must not contain . or ..",
            ),
            (
                json!({"nxinfra_docker_socket": "/run/$x"}),
                "nxinfra_docker_socket: \"/run/$x\" contains quotes, $, backslashes or control \
                 characters",
            ),
            (
                json!({"nxinfra_fleet": "-x"}),
                "nxinfra_fleet: \"-x\" is not a fleet name (letters, digits, -, _ and ., \
                 starting with a letter or digit, at most 64)",
            ),
            (
                json!({"ansible_host": "a b"}),
                "ansible_host: \"a b\" is not a host name or address",
            ),
            (
                json!({"ansible_user": "a@b"}),
                "ansible_user: \"a@b\" is not a user name",
            ),
            (
                json!({"ansible_user": ""}),
                "ansible_user: expected a non-empty string, got \"\"",
            ),
        ] {
            assert_eq!(err(v.clone()), format!("host core1: {want}"), "{v}");
        }
        // The reason is the message's part, not a second `caused by` line at the edge.
        let e = Target::from_vars("core1", &vars(json!({"nxinfra_backups": 1})), &user("a"))
            .unwrap_err();
        assert!(std::error::Error::source(&e).is_none());
        assert!(matches!(
            *e.reason,
            Reason::Backups(backup::ParseError::NotAList(_))
        ));
    }
}

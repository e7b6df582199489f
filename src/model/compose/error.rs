//! The loader's error: every problem names the file, the line when known, the service (or
//! network, volume) and the key. Messages never quote environment values.

use std::fmt;
use std::path::PathBuf;

use crate::util::yaml::de::{DeError, Segment};

/// A compose file that cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// Parse errors come one at a time; checks after parsing report every problem found.
    #[error("{}", Problems { file, problems })]
    Invalid {
        file: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ComposeError {
    /// The problems of an invalid file (none for a read error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ComposeError::Read { .. } => &[],
            ComposeError::Invalid { problems, .. } => problems,
        }
    }
}

/// One thing wrong in a compose file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based; `None` when the place is not known (flow-style YAML, a cross-reference).
    pub line: Option<usize>,
    pub scope: Scope,
    /// Key path inside the scope (`healthcheck.interval`, `ports[1]`), empty for the scope
    /// itself.
    pub key: String,
    pub message: String,
}

/// What a problem is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    File,
    Service(String),
    Network(String),
    Volume(String),
    Config(String),
    Secret(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Scope::File => Ok(()),
            Scope::Service(name) => write!(f, "service {name}"),
            Scope::Network(name) => write!(f, "network {name}"),
            Scope::Volume(name) => write!(f, "volume {name}"),
            Scope::Config(name) => write!(f, "config {name}"),
            Scope::Secret(name) => write!(f, "secret {name}"),
        }
    }
}

impl Problem {
    pub fn new(line: Option<usize>, scope: Scope, key: impl Into<String>, message: String) -> Self {
        Problem {
            line,
            scope,
            key: key.into(),
            message,
        }
    }

    /// `FILE[:LINE]: [SCOPE: ][KEY: ]MESSAGE`
    pub fn display(&self, file: &std::path::Path) -> String {
        let mut out = file.display().to_string();
        if let Some(line) = self.line {
            out.push_str(&format!(":{line}"));
        }
        if self.scope != Scope::File {
            out.push_str(&format!(": {}", self.scope));
        }
        if !self.key.is_empty() {
            out.push_str(&format!(": {}", self.key));
        }
        out.push_str(&format!(": {}", self.message));
        out
    }
}

struct Problems<'a> {
    file: &'a PathBuf,
    problems: &'a [Problem],
}

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let lines: Vec<String> = self.problems.iter().map(|p| p.display(self.file)).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// Splits a key path into its scope and the rest, rendered.
pub fn scope_of(path: &[Segment]) -> (Scope, String) {
    if let [Segment::Key(top), Segment::Key(name), rest @ ..] = path {
        let scope = match top.as_str() {
            "services" => Some(Scope::Service(name.clone())),
            "networks" => Some(Scope::Network(name.clone())),
            "volumes" => Some(Scope::Volume(name.clone())),
            _ => None,
        };
        if let Some(scope) = scope {
            return (scope, render_path(rest));
        }
    }
    (Scope::File, render_path(path))
}

/// `a.b[2].c`
pub fn render_path(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Compose keys that nxinfra does not implement, for a clearer message than "unknown".
const UNSUPPORTED: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cgroup",
    "cgroup_parent",
    "configs",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "dns_opt",
    "dns_search",
    "domainname",
    "driver_opts",
    "env_file",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "include",
    "init",
    "ipc",
    "isolation",
    "link_local_ips",
    "links",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "name",
    "oom_kill_disable",
    "oom_score_adj",
    "pids_limit",
    "platform",
    "post_start",
    "pre_stop",
    "priority",
    "profiles",
    "provider",
    "read_only",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "start_interval",
    "stdin_open",
    "stop_signal",
    "storage_opt",
    "tmpfs",
    "tty",
    "use_api_socket",
    "userns_mode",
    "uts",
    "volumes_from",
    "working_dir",
    "attachable",
    "internal",
    "ip_range",
    "aux_addresses",
    "options",
    "bind",
    "volume",
    "consistency",
    "app_protocol",
    "mode",
    "required",
    "restart",
    "labels",
];

/// Turns a deserializer error (with the path recorded while parsing) into a problem.
pub fn from_serde(error: &DeError) -> Problem {
    let (line, path) = (error.line, &error.path[..]);
    let mut message = error.message();
    // serde_norway prefixes the path it knows, in this form.
    let prefix = format!("{}: ", render_path(path));
    if !path.is_empty()
        && let Some(stripped) = message.strip_prefix(&prefix)
    {
        message = stripped.to_string();
    }
    let (scope, key) = scope_of(path);
    Problem::new(line, scope, key, rewrite(&message))
}

/// serde's wording → the loader's: "unknown key", "missing key", with hints.
fn rewrite(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let hint = if name == crate::util::yaml::de::X_NXINFRA {
            " (x-nxinfra is only read on a service)".to_string()
        } else if let Some(close) = crate::util::suggest::closest(name, &candidates) {
            format!(" (did you mean \"{close}\"?)")
        } else if UNSUPPORTED.contains(&name) {
            " (a Compose key that nxinfra does not support here: see docs/compose.md)".to_string()
        } else if candidates.is_empty() {
            String::new()
        } else {
            format!(" (expected one of: {})", candidates.join(", "))
        };
        return format!("unknown key \"{name}\"{hint}");
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.trim_end_matches('`');
        return format!("missing key \"{name}\"");
    }
    if let Some(rest) = message.strip_prefix("duplicate field `") {
        let name = rest.trim_end_matches('`');
        return format!("duplicate key \"{name}\"");
    }
    if message.contains("invalid type: enum") {
        return "YAML tags (`!tag value`) are not supported".to_string();
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        return format!(
            "unknown value \"{name}\" (expected one of: {})",
            candidates.join(", ")
        );
    }
    plain_expectations(message)
}

/// serde names Rust types in "expected ..." (`struct RawService`, `u16`): say what to write.
fn plain_expectations(message: &str) -> String {
    let Some((head, expected)) = message.split_once(", expected ") else {
        return message.to_string();
    };
    let plain = if expected.starts_with("struct ") {
        "a mapping"
    } else if ["u8", "u16", "u32", "u64", "i64"].contains(&expected) {
        "a whole number"
    } else {
        expected
    };
    format!("{head}, expected {plain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_scope_and_key() {
        let k = |s: &str| Segment::Key(s.to_string());
        assert_eq!(
            scope_of(&[k("services"), k("a.b"), k("ports"), Segment::Index(2)]),
            (Scope::Service("a.b".into()), "ports[2]".into())
        );
        assert_eq!(
            scope_of(&[k("networks"), k("n"), k("ipam"), k("config")]),
            (Scope::Network("n".into()), "ipam.config".into())
        );
        assert_eq!(scope_of(&[k("services")]), (Scope::File, "services".into()));
    }

    #[test]
    fn messages_are_rewritten_with_hints() {
        let cases = [
            (
                "unknown field `enviroment`, expected one of `image`, `environment`",
                "unknown key \"enviroment\" (did you mean \"environment\"?)",
            ),
            (
                "unknown field `build`, expected one of `image`, `environment`",
                "unknown key \"build\" (a Compose key that nxinfra does not support here: see docs/compose.md)",
            ),
            (
                "unknown field `zzz`, expected `test`",
                "unknown key \"zzz\" (expected one of: test)",
            ),
            ("missing field `image`", "missing key \"image\""),
            (
                "invalid type: unit value, expected struct RawService",
                "invalid type: unit value, expected a mapping",
            ),
            (
                "invalid type: string \"80\", expected u16",
                "invalid type: string \"80\", expected a whole number",
            ),
            (
                "unknown variant `sometimes`, expected one of `missing`, `always`",
                "unknown value \"sometimes\" (expected one of: missing, always)",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(rewrite(input), want);
        }
    }

    #[test]
    fn problems_render_file_line_scope_key() {
        let p = Problem::new(
            Some(12),
            Scope::Service("proxy".into()),
            "",
            "unknown key \"enviroment\"".into(),
        );
        assert_eq!(
            p.display(std::path::Path::new("rendered/h1/compose.yml")),
            "rendered/h1/compose.yml:12: service proxy: unknown key \"enviroment\""
        );
        let p = Problem::new(None, Scope::File, "", "empty".into());
        assert_eq!(p.display(std::path::Path::new("f.yml")), "f.yml: empty");
    }
}

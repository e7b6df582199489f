//! Problems found after parsing, located by key path (`yaml::KeyLines`).

use super::error::{Problem, Scope};
use crate::util::yaml::KeyLines;

/// Collects problems with the line of their key path.
pub struct Report<'a> {
    lines: &'a KeyLines,
    pub problems: Vec<Problem>,
}

impl<'a> Report<'a> {
    pub fn new(lines: &'a KeyLines) -> Self {
        Report {
            lines,
            problems: Vec::new(),
        }
    }

    /// The line of `path`, or of its nearest written parent.
    fn line(&self, path: &[&str]) -> Option<usize> {
        (1..=path.len())
            .rev()
            .find_map(|n| self.lines.get(&path[..n]))
    }

    fn add(&mut self, top: &str, name: &str, key: &[&str], message: String) {
        let mut path = vec![top, name];
        path.extend_from_slice(key);
        let scope = match top {
            "services" => Scope::Service(name.to_string()),
            "networks" => Scope::Network(name.to_string()),
            "configs" => Scope::Config(name.to_string()),
            "secrets" => Scope::Secret(name.to_string()),
            _ => Scope::Volume(name.to_string()),
        };
        let line = self.line(&path);
        self.problems
            .push(Problem::new(line, scope, key.join("."), message));
    }

    /// A problem of `name` under the top-level key `top` (services, networks, volumes,
    /// configs, secrets).
    pub fn problem(&mut self, top: &str, name: &str, key: &[&str], message: String) {
        self.add(top, name, key, message);
    }

    pub fn service(&mut self, name: &str, key: &[&str], message: String) {
        self.add("services", name, key, message);
    }

    pub fn network(&mut self, name: &str, key: &[&str], message: String) {
        self.add("networks", name, key, message);
    }

    pub fn volume(&mut self, name: &str, key: &[&str], message: String) {
        self.add("volumes", name, key, message);
    }

    pub fn line_of(&self, path: &[&str]) -> Option<usize> {
        self.line(path)
    }
}

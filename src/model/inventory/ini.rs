//! Ansible's INI inventory format, read as `ansible.plugins.inventory.ini` reads it:
//!
//! ```ini
//! coreams01 ansible_host=ams01.core.example   # before any section: group ungrouped
//! [ixp]
//! ixpams01 tailnet_address=100.64.0.1 ansible_port=2222
//! ixp[fra:fra]01                              # host ranges
//! [ixp:vars]
//! bird_router_kind=ixp
//! [edge:children]
//! ixp
//! ```
//!
//! Host lines are split as a shell would (`shlex`), `#` starting a comment; every value (on a
//! host line or in `:vars`) is a Python literal if it reads as one, else text
//! ([`super::pylit`]). Comments start with `#` or `;`. A `[g:vars]` or `[g:children]` entry
//! naming a group defined nowhere is an error, as in Ansible.

use std::path::Path;
use std::sync::Arc;

use super::load::{At, Builder, invalid};
use super::{ALL, InventoryError, Origin};

/// The group of the hosts listed before any section.
pub const UNGROUPED: &str = "ungrouped";

#[derive(Clone, Copy, PartialEq)]
enum State {
    Hosts,
    Vars,
    Children,
}

/// Reads one INI inventory file's text into `builder`.
pub fn read(builder: &mut Builder, file: &Arc<Path>, text: &str) -> Result<(), InventoryError> {
    let mut group = UNGROUPED.to_string();
    let mut state = State::Hosts;
    // `[g:vars]` and `[g:children]` entries of groups not (yet) defined: checked at the end.
    let mut pending: Vec<(String, Origin, &str)> = Vec::new();
    builder.define(ALL, &Origin::new(file, None))?;
    for (n, raw) in text.lines().enumerate() {
        let at = Origin::new(file, Some(n + 1));
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if line.starts_with('[') {
            let (name, kind) = section(line).map_err(|e| invalid(&at, e))?;
            state = match kind {
                None | Some("hosts") => State::Hosts,
                Some("vars") => State::Vars,
                Some("children") => State::Children,
                Some(other) => {
                    return Err(invalid(
                        &at,
                        format!(
                            "section [{name}:{other}] has an unknown type: use [{name}], \
                             [{name}:vars] or [{name}:children]"
                        ),
                    ));
                }
            };
            group = name.to_string();
            if state == State::Vars {
                builder.group(&group, &at)?;
                pending.push((group.clone(), at, "vars"));
            } else {
                builder.define(&group, &at)?;
            }
            continue;
        }
        match state {
            State::Hosts => host_line(builder, &group, line, &at)?,
            State::Vars => {
                let Some((key, value)) = line.split_once('=') else {
                    return Err(invalid(
                        &at,
                        format!("expected key=value in [{group}:vars], got {line:?}"),
                    ));
                };
                let value = super::pylit::value(value.trim());
                builder.group_var(&group, key.trim(), &value, &At::source(at))?;
            }
            State::Children => {
                let child = line
                    .split(['#', ';'])
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                if child.contains(char::is_whitespace) {
                    return Err(invalid(
                        &at,
                        format!("expected a group name in [{group}:children], got {line:?}"),
                    ));
                }
                builder.child(&group, &child, &at)?;
                pending.push((child, at, "children"));
            }
        }
    }
    for (name, at, kind) in pending {
        if !builder.is_defined(&name) {
            let message = match kind {
                "vars" => format!("section [{name}:vars] is for a group defined nowhere"),
                _ => format!(
                    "[..:children] names group {name:?}, defined nowhere (define it with a \
                     [{name}] section, or fix the name)"
                ),
            };
            return Err(invalid(&at, message));
        }
    }
    Ok(())
}

/// `[name]`, `[name:kind]`, a comment allowed after it.
fn section(line: &str) -> Result<(&str, Option<&str>), String> {
    let close = line
        .find(']')
        .ok_or_else(|| format!("invalid section {line:?}: no ']'"))?;
    let rest = line[close + 1..].trim();
    if !(rest.is_empty() || rest.starts_with('#')) {
        return Err(format!("invalid section {line:?}: text after ']'"));
    }
    let inner = &line[1..close];
    let (name, kind) = match inner.split_once(':') {
        Some((name, kind)) => (name, Some(kind)),
        None => (inner, None),
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(format!(
            "invalid section {line:?}: a section is [group] with no spaces"
        ));
    }
    Ok((name, kind))
}

/// `pattern key=value ...`: the hosts of a pattern listed in `group` with their variables.
fn host_line(
    builder: &mut Builder,
    group: &str,
    line: &str,
    at: &Origin,
) -> Result<(), InventoryError> {
    let tokens = shlex(line).map_err(|e| invalid(at, format!("host line {line:?}: {e}")))?;
    let Some((pattern, assignments)) = tokens.split_first() else {
        return Ok(());
    };
    if pattern == "---" {
        return Err(invalid(
            at,
            "'---' starts a YAML document: a YAML inventory file is named .yml or .yaml".into(),
        ));
    }
    let mut vars = Vec::new();
    for token in assignments {
        let Some((key, value)) = token.split_once('=') else {
            return Err(invalid(
                at,
                format!("expected key=value after the host {pattern}, got {token:?}"),
            ));
        };
        vars.push((key, super::pylit::value(value)));
    }
    for host in &builder.hosts(group, pattern, at)? {
        for (key, value) in &vars {
            builder.host_var(host, key, value, &At::source(at.clone()))?;
        }
    }
    Ok(())
}

/// Python's `shlex.split(line, comments=True)`, which Ansible splits host lines with: the
/// `shlex` crate splits the same way (POSIX quoting, `#` at the start of a word a comment).
fn shlex(line: &str) -> Result<Vec<String>, String> {
    shlex::split(line).ok_or_else(|| "no closing quotation, or a '\\' at the end".to_string())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::super::load::Builder;
    use super::super::{Inventory, InventoryError};

    fn ini(text: &str) -> Result<Inventory, InventoryError> {
        let file: std::sync::Arc<Path> = Path::new("hosts").into();
        let mut b = Builder::new(&file);
        super::read(&mut b, &file, text)?;
        b.finish()
    }

    const FLEET: &str = "\
# the fleet
coreams01 ansible_host=ams01.core.example

[ixp]
ixpams01 tailnet=100.64.0.1 ansible_port=2222 note=\"two words\"
ixpfra0[1:1]:2200 # a comment

[ixp:vars]
role = ixp
asn=215011

[edge:children]
ixp
";

    #[test]
    fn groups_hosts_vars_and_children() {
        let inv = ini(FLEET).unwrap();
        assert_eq!(
            inv.hosts.keys().collect::<Vec<_>>(),
            ["coreams01", "ixpams01", "ixpfra01"]
        );
        assert_eq!(inv.hosts["coreams01"].direct_groups, ["ungrouped"]);
        let vars = inv.host_vars("ixpams01").unwrap();
        assert_eq!(vars["ansible_port"], json!(2222));
        assert_eq!(vars["note"], json!("two words"));
        assert_eq!(vars["role"], json!("ixp"));
        assert_eq!(vars["asn"], json!(215011));
        assert_eq!(
            inv.host_vars("ixpfra01").unwrap()["ansible_port"],
            json!(2200)
        );
        assert_eq!(inv.groups["ixp"].parents, ["all", "edge"]);
        assert_eq!(inv.origin("ixpams01", "role"), "hosts:9");
        assert_eq!(inv.origin("ixpams01", "tailnet"), "hosts:5");
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("[web:vars]\nx=1\n", "hosts:1", "defined nowhere"),
            (
                "[web]\nw1\n[web:children]\ndb\n",
                "hosts:4",
                "defined nowhere",
            ),
            ("[web:hots]\n", "hosts:1", "unknown type"),
            ("[web]\nw1 port\n", "hosts:2", "expected key=value"),
            ("[web]\nw1 x='a\n", "hosts:2", "no closing quotation"),
            ("[web]\nw[01:3]\n", "hosts:2", "one width"),
            ("[ web ]\n", "hosts:1", "no spaces"),
            ("---\nall:\n", "hosts:1", "YAML"),
            ("[web]\nw1 x=1\n[db]\nw1 x=2\n", "hosts:4", "hosts:2"),
        ];
        for (text, at, what) in cases {
            let err = ini(text).unwrap_err().to_string();
            assert!(err.starts_with(at) && err.contains(what), "{text:?}: {err}");
        }
    }

    #[test]
    fn shlex_splits_as_python() {
        assert_eq!(
            super::shlex(r#"h a='x y' b="q\"r" c=d\ e # rest"#).unwrap(),
            ["h", "a=x y", r#"b=q"r"#, "c=d e"]
        );
        assert_eq!(super::shlex("h x=a#b").unwrap(), ["h", "x=a#b"]);
    }
}

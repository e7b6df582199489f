//! Ansible's YAML inventory format (also JSON): groups with `hosts`, `vars` and `children`.

use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Deserialize;

use super::load::{At, Builder};
use super::{ALL, InventoryError, Origin, Vars};
use crate::util::yaml;

/// One group as written: everything optional, nothing else allowed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    hosts: Option<IndexMap<String, Option<Vars>>>,
    #[serde(default)]
    vars: Option<Vars>,
    #[serde(default)]
    children: Option<IndexMap<String, Option<RawGroup>>>,
}

/// Reads one YAML inventory file's text into `builder`.
pub fn read(builder: &mut Builder, file: &Arc<Path>, text: &str) -> Result<(), InventoryError> {
    let raw: Option<IndexMap<String, Option<RawGroup>>> = yaml::parse(file, text)?;
    let reader = Reader {
        file,
        lines: yaml::KeyLines::new(text),
    };
    builder.define(ALL, &reader.at(&[ALL.to_string()]))?;
    for (name, body) in raw.iter().flatten() {
        reader.group(
            builder,
            name,
            None,
            body.as_ref(),
            std::slice::from_ref(name),
        )?;
    }
    Ok(())
}

struct Reader<'a> {
    file: &'a Arc<Path>,
    lines: yaml::KeyLines,
}

impl Reader<'_> {
    fn at(&self, path: &[String]) -> Origin {
        Origin::new(self.file, self.lines.get(path))
    }

    fn group(
        &self,
        builder: &mut Builder,
        name: &str,
        parent: Option<&str>,
        body: Option<&RawGroup>,
        path: &[String],
    ) -> Result<(), InventoryError> {
        let at = self.at(path);
        match parent {
            None => builder.define(name, &at)?,
            Some(parent) => builder.child(parent, name, &at)?,
        }
        let Some(body) = body else {
            if parent.is_some() {
                builder.reference(name, &at);
            }
            return Ok(());
        };
        builder.defined(name);
        for (key, value) in body.vars.iter().flatten() {
            let mut var_path = path.to_vec();
            var_path.extend(["vars".to_string(), key.clone()]);
            builder.group_var(name, key, value, &At::source(self.at(&var_path)))?;
        }
        for (pattern, vars) in body.hosts.iter().flatten() {
            let mut host_path = path.to_vec();
            host_path.extend(["hosts".to_string(), pattern.clone()]);
            let at = self.at(&host_path);
            for host in &builder.hosts(name, pattern, &at)? {
                for (key, value) in vars.iter().flatten() {
                    let mut var_path = host_path.clone();
                    var_path.push(key.clone());
                    let var_at = At::source(self.at(&var_path));
                    builder.host_var(host, key, value, &var_at)?;
                }
            }
        }
        for (child, child_body) in body.children.iter().flatten() {
            let mut child_path = path.to_vec();
            child_path.extend(["children".to_string(), child.clone()]);
            self.group(builder, child, Some(name), child_body.as_ref(), &child_path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{ALL, Inventory, InventoryError};

    fn inv(text: &str) -> Result<Inventory, InventoryError> {
        super::super::parse(Path::new("inventory.yml"), text)
    }

    const FLEET: &str = "\
all:
  vars:
    ansible_user: nxthdr
core:
  hosts:
    coreams01:
      ansible_host: ams01.core.example
ixp:
  hosts:
    ixpams01:
    ixpfra01:
      tailnet: 100.64.0.3
  vars:
    role: ixp
edge:
  children:
    ixp:
";

    #[test]
    fn groups_hosts_and_children() {
        let inv = inv(FLEET).unwrap();
        assert_eq!(
            inv.hosts.keys().collect::<Vec<_>>(),
            ["coreams01", "ixpams01", "ixpfra01"]
        );
        assert_eq!(inv.groups["ixp"].parents, ["all", "edge"]);
        assert_eq!(inv.groups["edge"].children, ["ixp"]);
        assert_eq!(
            inv.groups_of("ixpfra01").into_iter().collect::<Vec<_>>(),
            ["all", "edge", "ixp"]
        );
        assert_eq!(
            inv.hosts_of_group("edge").into_iter().collect::<Vec<_>>(),
            ["ixpams01", "ixpfra01"]
        );
        assert_eq!(
            inv.hosts["coreams01"].origin.as_ref().and_then(|o| o.line),
            Some(6)
        );
        assert_eq!(
            inv.groups["ixp"].origin.as_ref().and_then(|o| o.line),
            Some(8)
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_lines() {
        let err = inv("core:\n  hostss:\n    a:\n").unwrap_err().to_string();
        assert!(err.contains("inventory.yml:2"), "{err}");
        assert!(err.contains("hostss"), "{err}");
    }

    #[test]
    fn a_misspelt_nxinfra_variable_is_an_error_with_its_line() {
        let err = inv("core:\n  hosts:\n    a:\n      nxinfra_backup: []\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("inventory.yml:4")
                && err.contains(
                    "unknown nxinfra variable nxinfra_backup (did you mean nxinfra_backups?)"
                ),
            "{err}"
        );
        let err = inv("core:\n  hosts:\n    a:\n  vars:\n    nxinfra_colour: red\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("inventory.yml:5") && err.contains("nxinfra reads nxinfra_base_dir"),
            "{err}"
        );
        // Every variable the tool reads is known.
        for known in [
            crate::model::system_files::VARIABLE,
            crate::model::backup::VARIABLE,
            crate::model::wireguard::PEERS_VAR,
        ] {
            assert!(super::super::TOOL_VARIABLES.contains(&known), "{known}");
        }
        assert!(inv("core:\n  hosts:\n    a:\n      nxinfra_base_dir: /srv\n").is_ok());
    }

    #[test]
    fn unknown_child_group_is_an_error() {
        let err = inv("ixp:\n  hosts:\n    a:\nedge:\n  children:\n    ipx:\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("inventory.yml:6"), "{err}");
        assert!(err.contains("unknown group \"ipx\""), "{err}");
    }

    #[test]
    fn child_defined_later_at_top_level_is_fine() {
        let inv = inv("edge:\n  children:\n    ixp:\nixp:\n  hosts:\n    a:\n").unwrap();
        assert_eq!(inv.groups["ixp"].parents, ["edge", "all"]);
    }

    #[test]
    fn cycles_are_errors() {
        let err = inv("a:\n  hosts:\n    h:\n  children:\n    b:\n      children:\n        a:\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cycle"), "{err}");
    }

    #[test]
    fn bad_host_names_are_errors() {
        for name in ["'..'", "a/b", "'../x'"] {
            let err = inv(&format!("g:\n  hosts:\n    {name}:\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("invalid host name"), "{name}: {err}");
        }
    }

    #[test]
    fn host_listed_twice_with_conflicting_vars() {
        let err = inv("a:\n  hosts:\n    h:\n      x: 1\nb:\n  hosts:\n    h:\n      x: 2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("inventory.yml:8"), "{err}");
        assert!(err.contains("variable x"), "{err}");
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        // A second `ixp:` would silently drop the first one's hosts.
        let err = inv("ixp:\n  hosts:\n    a:\ncore:\n  hosts:\n    c:\nixp:\n  hosts:\n    b:\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("inventory.yml:7: duplicate key \"ixp\" (first written at line 1)"),
            "{err}"
        );
        let err = inv("g:\n  hosts:\n    a:\n      ansible_host: x\n      ansible_host: y\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "inventory.yml:5: g.hosts.a: duplicate key \"ansible_host\" (first written at line 4)"
            ) || err.starts_with(
                "inventory.yml:5: duplicate key \"ansible_host\" (first written at line 4)"
            ),
            "{err}"
        );
    }

    #[test]
    fn merge_keys_are_merged_as_ansible_does() {
        let inv = inv(
            "g:\n  hosts:\n    a: &defaults\n      ansible_user: ops\n      port: 1\n    \
                       b:\n      <<: *defaults\n      port: 2\n",
        )
        .unwrap();
        let b = &inv.hosts["b"].vars;
        assert_eq!(b["ansible_user"], "ops");
        assert_eq!(b["port"], 2);
        assert!(!b.contains_key("<<"), "{b:?}");
    }

    #[test]
    fn special_floats_are_refused_with_their_line() {
        let err = inv("g:\n  hosts:\n    a:\n      ratio: .nan\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("inventory.yml:4"), "{err}");
        assert!(err.contains(".nan, .inf, -.inf"), "{err}");
    }

    #[test]
    fn reserved_variable_names_are_errors() {
        for name in super::super::RESERVED_VARIABLES {
            let err = inv(&format!("g:\n  hosts:\n    a:\n  vars:\n    {name}: x\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("inventory.yml:5") && err.contains(&format!("variable {name} ")),
                "{err}"
            );
        }
    }

    #[test]
    fn empty_inventory_has_no_hosts() {
        let inv = inv("").unwrap();
        assert!(inv.hosts.is_empty());
        assert!(inv.groups.contains_key(ALL));
    }
}

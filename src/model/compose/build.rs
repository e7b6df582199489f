//! Raw model → normalised form: defaults filled, lists sorted, and what is wrong inside one
//! service, network or volume reported (references between them: [`super::validate`]).

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;

use super::model::{RawCompose, RawNetwork, RawVolume};
use super::normal::{Compose, Network, Pool, Volume};
use super::report::Report;
use super::service::service;

/// Normalises every part of the file, reporting what is wrong within a service, network or
/// volume; references between them are checked by [`super::validate`].
pub fn build(file: &Path, raw: RawCompose, report: &mut Report) -> Compose {
    Compose {
        file: file.to_path_buf(),
        networks: each(raw.networks, report, network),
        volumes: each(raw.volumes, report, volume),
        services: each(raw.services, report, service),
    }
}

/// Normalises every entry of one top-level section (reported in the file's order).
fn each<R, N>(
    section: Option<IndexMap<String, R>>,
    report: &mut Report,
    normalise: impl Fn(&str, R, &mut Report) -> N,
) -> BTreeMap<String, N> {
    section
        .unwrap_or_default()
        .into_iter()
        .map(|(key, raw)| {
            let n = normalise(&key, raw, report);
            (key, n)
        })
        .collect()
}

/// Compose's pattern for service, network and volume keys.
pub fn valid_key(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Docker's pattern for container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_container_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// RFC 1123 host name.
pub fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// The image reference with `:latest` added when it has no tag or digest; `Err` says why it
/// cannot be one.
pub fn image_reference(image: &str) -> Result<String, String> {
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{image:?} is not an image reference"));
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let (repository, tag) = match last.split_once(':') {
        Some((_, t)) => (&name[..name.len() - t.len() - 1], Some(t)),
        None => (name, None),
    };
    if repository.is_empty() || tag == Some("") || digest == Some("") {
        return Err(format!("{image:?} is not an image reference"));
    }
    // The registry host (first part with a dot, a colon or "localhost") may have upper case.
    let path = match repository.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repository,
    };
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "image {image:?}: a repository name must be lower case"
        ));
    }
    if tag.is_none() && digest.is_none() {
        return Ok(format!("{image}:latest"));
    }
    Ok(image.to_string())
}

fn network(key: &str, raw: Option<RawNetwork>, report: &mut Report) -> Network {
    let mut problem = |k: &[&str], message: String| report.network(key, k, message);
    if !valid_key(key) {
        problem(
            &[],
            format!("invalid network name {key:?}: use [a-zA-Z0-9._-]"),
        );
    }
    let raw = raw.unwrap_or(RawNetwork {
        driver: None,
        enable_ipv6: None,
        driver_opts: None,
        ipam: None,
        external: None,
        name: None,
    });
    let external = raw.external.unwrap_or(false);
    let name = raw.name.unwrap_or_else(|| key.to_string());
    if external {
        for (k, set) in [
            ("driver", raw.driver.is_some()),
            ("enable_ipv6", raw.enable_ipv6.is_some()),
            ("driver_opts", raw.driver_opts.is_some()),
            ("ipam", raw.ipam.is_some()),
        ] {
            if set {
                problem(
                    &[k],
                    format!("an external network is created elsewhere: `{k}` does not apply"),
                );
            }
        }
    } else if ["bridge", "host", "none", "default"].contains(&name.as_str()) {
        problem(
            &[],
            format!(
                "network name {name:?} is Docker's own: use network_mode for host/none/bridge, \
                 or another name"
            ),
        );
    }
    let driver = raw.driver.unwrap_or_else(|| "bridge".to_string());
    if !["bridge", "macvlan", "ipvlan"].contains(&driver.as_str()) {
        problem(
            &["driver"],
            format!("unsupported network driver {driver:?} (one of: bridge, macvlan, ipvlan)"),
        );
    }
    let enable_ipv6 = raw.enable_ipv6.unwrap_or(false);
    let mut ipam: Vec<Pool> = raw
        .ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .into_iter()
        .map(|p| Pool {
            subnet: p.subnet,
            gateway: p.gateway.map(|g| g.0),
        })
        .collect();
    ipam.sort();
    for pool in &ipam {
        if let Some(gateway) = pool.gateway
            && !pool.subnet.contains(gateway)
        {
            problem(
                &["ipam", "config"],
                format!("gateway {gateway} is outside subnet {}", pool.subnet),
            );
        }
        if pool.subnet.is_ipv6() && !enable_ipv6 {
            problem(
                &["ipam", "config"],
                format!(
                    "IPv6 subnet {} on a network without enable_ipv6: true",
                    pool.subnet
                ),
            );
        }
    }
    for (i, a) in ipam.iter().enumerate() {
        for b in &ipam[i + 1..] {
            if a.subnet.overlaps(&b.subnet) {
                problem(
                    &["ipam", "config"],
                    format!("subnets {} and {} overlap", a.subnet, b.subnet),
                );
            }
        }
    }
    Network {
        name,
        line: report.line_of(&["networks", key]),
        external,
        driver,
        enable_ipv6,
        driver_opts: raw
            .driver_opts
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
        ipam,
    }
}

fn volume(key: &str, raw: Option<RawVolume>, report: &mut Report) -> Volume {
    let mut problem = |k: &[&str], message: String| report.volume(key, k, message);
    let raw = raw.unwrap_or(RawVolume {
        driver: None,
        driver_opts: None,
        external: None,
        name: None,
    });
    let name = raw.name.unwrap_or_else(|| key.to_string());
    if !valid_key(key) {
        problem(
            &[],
            format!("invalid volume key {key:?}: use [a-zA-Z0-9._-]"),
        );
    } else if !valid_container_name(&name) {
        problem(
            &[],
            format!(
                "invalid volume name {name:?}: Docker wants [a-zA-Z0-9][a-zA-Z0-9_.-]+ (set \
                 `name` when the key does not fit)"
            ),
        );
    }
    let external = raw.external.unwrap_or(false);
    if external {
        for (k, set) in [
            ("driver", raw.driver.is_some()),
            ("driver_opts", raw.driver_opts.is_some()),
        ] {
            if set {
                problem(
                    &[k],
                    format!("an external volume is created elsewhere: `{k}` does not apply"),
                );
            }
        }
    }
    Volume {
        name,
        line: report.line_of(&["volumes", key]),
        external,
        driver: raw.driver.unwrap_or_else(|| "local".to_string()),
        driver_opts: raw
            .driver_opts
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        for (image, want) in [
            ("caddy", "caddy:latest"),
            ("caddy:2.8.4", "caddy:2.8.4"),
            (
                "ghcr.io/nxthdr/nxthdr.dev:main",
                "ghcr.io/nxthdr/nxthdr.dev:main",
            ),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("Registry.example.com/app:1", "Registry.example.com/app:1"),
            ("alpine@sha256:abcd", "alpine@sha256:abcd"),
        ] {
            assert_eq!(image_reference(image).as_deref(), Ok(want), "{image}");
        }
        for bad in ["", "a b", "Caddy:2", "caddy:", "ghcr.io/Nx/app"] {
            assert!(image_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(valid_container_name("proxy-ipv4"));
        assert!(valid_container_name("node_exporter"));
        assert!(!valid_container_name("a"));
        assert!(!valid_container_name("-a"));
        assert!(!valid_container_name("a b"));
        assert!(valid_hostname("coreams01"));
        assert!(valid_hostname("a.b-c.d"));
        assert!(!valid_hostname("a_b"));
        assert!(!valid_hostname("-a"));
        assert!(!valid_hostname("a..b"));
    }
}

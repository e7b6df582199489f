//! Checks across the file: references between services, networks and volumes, addresses
//! against subnets, names and host ports that must be unique, dependency cycles.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::mounts::MountKind;
use super::normal::{Attachment, Compose, Network};
use super::options::NetworkMode;
use super::order::find_cycle;
use super::ports::PortBinding;
use super::report::Report;

pub fn check(compose: &Compose, report: &mut Report) {
    references(compose, report);
    addresses(compose, report);
    unique_names(compose, report);
    host_ports(compose, report);
    if let Some(cycle) = find_cycle(compose) {
        let first = &cycle[0];
        report.service(
            first,
            &["depends_on"],
            format!("dependency cycle: {}", cycle.join(" -> ")),
        );
    }
}

fn references(compose: &Compose, report: &mut Report) {
    for (name, service) in &compose.services {
        for dep in service.depends_on.keys() {
            if dep == name {
                report.service(name, &["depends_on", dep], "depends on itself".into());
            } else if !compose.services.contains_key(dep) {
                report.service(
                    name,
                    &["depends_on", dep],
                    format!("depends on unknown service {dep:?}"),
                );
            }
        }
        if let Some(NetworkMode::Service(other)) = &service.spec.network_mode {
            if other == name {
                report.service(
                    name,
                    &["network_mode"],
                    "network_mode service: names the service itself".into(),
                );
            } else if !compose.services.contains_key(other) {
                report.service(
                    name,
                    &["network_mode"],
                    format!("network_mode names unknown service {other:?}"),
                );
            }
        }
        for net in service.spec.networks.keys() {
            if !compose.networks.contains_key(net) {
                report.service(
                    name,
                    &["networks", net],
                    format!("network {net:?} is not declared under the top-level `networks`"),
                );
            }
        }
        for mount in &service.spec.mounts {
            if mount.kind == MountKind::Volume && !compose.volumes.contains_key(&mount.source) {
                report.service(
                    name,
                    &["volumes"],
                    format!(
                        "volume {:?} (mounted on {}) is not declared under the top-level \
                         `volumes`",
                        mount.source, mount.target
                    ),
                );
            }
        }
    }
}

/// Fixed addresses: the network has IPv6 when one is IPv6, the address is inside one of its
/// subnets of that family, is not the gateway (nor the IPv4 network or broadcast address),
/// and no two services share it.
fn addresses(compose: &Compose, report: &mut Report) {
    let mut taken: BTreeMap<(&str, IpAddr), &str> = BTreeMap::new();
    for (name, service) in &compose.services {
        for (net_key, attachment) in &service.spec.networks {
            let Some(network) = compose.networks.get(net_key) else {
                continue;
            };
            for (key, ip) in fixed(attachment) {
                let path = ["networks", net_key.as_str(), key];
                if let Some(why) = address_problem(network, net_key, ip) {
                    report.service(name, &path, why);
                }
                if let Some(other) = taken.insert((net_key, ip), name) {
                    report.service(
                        name,
                        &path,
                        format!("{ip} on network {net_key} is also the address of {other}"),
                    );
                }
            }
        }
    }
}

fn fixed(a: &Attachment) -> Vec<(&'static str, IpAddr)> {
    let mut out = Vec::new();
    if let Some(ip) = a.ipv4_address {
        out.push(("ipv4_address", IpAddr::V4(ip)));
    }
    if let Some(ip) = a.ipv6_address {
        out.push(("ipv6_address", IpAddr::V6(ip)));
    }
    out
}

fn address_problem(network: &Network, key: &str, ip: IpAddr) -> Option<String> {
    if network.external {
        // Its configuration is not in this file.
        return None;
    }
    let family = if ip.is_ipv6() { "IPv6" } else { "IPv4" };
    if ip.is_ipv6() && !network.enable_ipv6 {
        return Some(format!(
            "ipv6_address {ip} on network {key}, which does not have enable_ipv6: true"
        ));
    }
    let pools: Vec<_> = network
        .ipam
        .iter()
        .filter(|p| p.subnet.is_ipv6() == ip.is_ipv6())
        .collect();
    if pools.is_empty() {
        return Some(format!(
            "fixed address {ip} needs an {family} subnet in networks.{key}.ipam.config \
             (Docker assigns fixed addresses only from configured subnets)"
        ));
    }
    let Some(pool) = pools.iter().find(|p| p.subnet.contains(ip)) else {
        let subnets: Vec<String> = pools.iter().map(|p| p.subnet.to_string()).collect();
        return Some(format!(
            "address {ip} is outside the {family} subnet of network {key} ({})",
            subnets.join(", ")
        ));
    };
    if pool.gateway == Some(ip) {
        return Some(format!("address {ip} is the gateway of network {key}"));
    }
    if ip.is_ipv4() && (ip == pool.subnet.addr || Some(ip) == pool.subnet.broadcast()) {
        return Some(format!(
            "address {ip} is the network or broadcast address of {}",
            pool.subnet
        ));
    }
    None
}

fn unique_names(compose: &Compose, report: &mut Report) {
    let mut containers: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, service) in &compose.services {
        if let Some(other) = containers.insert(&service.spec.container_name, name) {
            report.service(
                name,
                &["container_name"],
                format!(
                    "container name {:?} is also the container of service {other}",
                    service.spec.container_name
                ),
            );
        }
    }
    let mut networks: BTreeMap<&str, &str> = BTreeMap::new();
    for (key, network) in &compose.networks {
        if let Some(other) = networks.insert(&network.name, key) {
            report.network(
                key,
                &["name"],
                format!("Docker name {:?} is also network {other}'s", network.name),
            );
        }
    }
    let subnets: Vec<_> = compose
        .networks
        .iter()
        .filter(|(_, n)| !n.external)
        .flat_map(|(k, n)| n.ipam.iter().map(move |p| (k, p.subnet)))
        .collect();
    for (i, (a_key, a)) in subnets.iter().enumerate() {
        for (b_key, b) in &subnets[i + 1..] {
            if a_key != b_key && a.overlaps(b) {
                report.network(
                    b_key,
                    &["ipam", "config"],
                    format!("subnet {b} overlaps subnet {a} of network {a_key}"),
                );
            }
        }
    }
    let mut volumes: BTreeMap<&str, &str> = BTreeMap::new();
    for (key, volume) in &compose.volumes {
        if let Some(other) = volumes.insert(&volume.name, key) {
            report.volume(
                key,
                &["name"],
                format!("Docker name {:?} is also volume {other}'s", volume.name),
            );
        }
    }
}

/// Two bindings of one host port and protocol on overlapping addresses fail at start.
fn host_ports(compose: &Compose, report: &mut Report) {
    let bindings: Vec<(&str, &PortBinding)> = compose
        .services
        .iter()
        .flat_map(|(name, s)| s.spec.ports.iter().map(move |p| (name.as_str(), p)))
        .filter(|(_, p)| p.host_port.is_some())
        .collect();
    for (i, (a_name, a)) in bindings.iter().enumerate() {
        for (b_name, b) in &bindings[i + 1..] {
            if a.host_port == b.host_port
                && a.protocol == b.protocol
                && overlap(a.host_ip, b.host_ip)
            {
                let port = a.host_port.unwrap_or_default();
                let whose = if a_name == b_name {
                    "twice".to_string()
                } else {
                    format!("also by service {a_name}")
                };
                report.service(
                    b_name,
                    &["ports"],
                    format!("host port {port}/{} is published {whose}", a.protocol),
                );
            }
        }
    }
}

fn overlap(a: Option<IpAddr>, b: Option<IpAddr>) -> bool {
    match (a, b) {
        (None, _) | (_, None) => true,
        (Some(a), Some(b)) => {
            a == b || (a.is_ipv6() == b.is_ipv6() && (a.is_unspecified() || b.is_unspecified()))
        }
    }
}

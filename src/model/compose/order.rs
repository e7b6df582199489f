//! Dependency order of services: `depends_on`, and `network_mode: service:NAME` (the network
//! stack must exist first, as in Compose).

use std::collections::{BTreeMap, BTreeSet};

use super::normal::{Compose, Service};
use super::options::NetworkMode;

impl Service {
    /// The services this one needs started first.
    pub fn dependencies(&self) -> BTreeSet<&str> {
        let mut out: BTreeSet<&str> = self.depends_on.keys().map(String::as_str).collect();
        if let Some(NetworkMode::Service(name)) = &self.spec.network_mode {
            out.insert(name);
        }
        out
    }
}

impl Compose {
    /// Every service, each after its dependencies; among the services ready at the same
    /// point, by name. (A loaded file has no cycle; were there one, its services would come
    /// last, by name.)
    pub fn start_order(&self) -> Vec<&Service> {
        let (mut order, rest) = kahn(self);
        order.extend(rest);
        order
            .into_iter()
            .filter_map(|name| self.services.get(name))
            .collect()
    }

    /// The services in waves: the first wave depends on nothing, each later one only on the
    /// waves before it (a service is in the wave after its deepest dependency). Each wave by
    /// name. Services in a cycle come in a last wave of their own.
    pub fn start_waves(&self) -> Vec<Vec<&Service>> {
        let (order, rest) = kahn(self);
        let mut wave_of: BTreeMap<&str, usize> = BTreeMap::new();
        let mut waves: Vec<Vec<&Service>> = Vec::new();
        for name in order {
            let Some(service) = self.services.get(name) else {
                continue;
            };
            let wave = service
                .dependencies()
                .iter()
                .filter_map(|d| wave_of.get(d))
                .map(|w| w + 1)
                .max()
                .unwrap_or(0);
            wave_of.insert(name, wave);
            if waves.len() <= wave {
                waves.resize_with(wave + 1, Vec::new);
            }
            waves[wave].push(service);
        }
        let cycle: Vec<&Service> = rest.iter().filter_map(|n| self.services.get(*n)).collect();
        if !cycle.is_empty() {
            waves.push(cycle);
        }
        for wave in &mut waves {
            wave.sort_by(|a, b| a.name.cmp(&b.name));
        }
        waves
    }

    /// The reverse of [`Compose::start_order`]: dependents stop before what they depend on.
    pub fn stop_order(&self) -> Vec<&Service> {
        let mut order = self.start_order();
        order.reverse();
        order
    }
}

/// (ordered services, services left in or behind a cycle). Unknown dependencies are ignored
/// here (reported by validation).
fn kahn(compose: &Compose) -> (Vec<&str>, Vec<&str>) {
    let deps: BTreeMap<&str, BTreeSet<&str>> = compose
        .services
        .iter()
        .map(|(name, s)| {
            let known = s
                .dependencies()
                .into_iter()
                .filter(|d| compose.services.contains_key(*d))
                .collect();
            (name.as_str(), known)
        })
        .collect();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    loop {
        let next = deps
            .iter()
            .find(|(name, d)| !placed.contains(*name) && d.iter().all(|x| placed.contains(x)))
            .map(|(name, _)| *name);
        let Some(next) = next else { break };
        placed.insert(next);
        order.push(next);
    }
    let rest = deps
        .keys()
        .filter(|n| !placed.contains(*n))
        .copied()
        .collect();
    (order, rest)
}

/// A dependency cycle, as the services along it with the first repeated at the end
/// (`a → b → a`), if there is one.
pub fn find_cycle(compose: &Compose) -> Option<Vec<String>> {
    let (_, rest) = kahn(compose);
    let rest: BTreeSet<&str> = rest.into_iter().collect();
    // Every service left has a dependency left: walking them must loop.
    let mut path: Vec<&str> = vec![*rest.iter().next()?];
    loop {
        let current = *path.last()?;
        let next = compose
            .services
            .get(current)?
            .dependencies()
            .into_iter()
            .find(|d| rest.contains(d))?;
        if let Some(start) = path.iter().position(|p| *p == next) {
            let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
            cycle.push(next.to_string());
            return Some(cycle);
        }
        path.push(next);
    }
}

//! What a host's engine holds, read in three API calls (containers, networks, images) and kept
//! as plain data, so the plan is computed without I/O.

use std::collections::BTreeMap;

/// A container on the engine, managed by nxinfra or not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Container {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub running: bool,
    /// The exit status of a container that ran and exited (`Exited (N) ...`); `None` for one
    /// that runs, or was created and never started.
    pub exit_code: Option<i64>,
    /// The image id it was created from.
    pub image_id: String,
    /// Names of the networks it is attached to.
    pub networks: Vec<String>,
}

/// One container's state now, as a health gate reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerState {
    pub id: String,
    pub running: bool,
    /// Its exit status once it exited (0 while it runs).
    pub exit_code: i64,
    /// Its healthcheck's view, for a container that has one.
    pub health: Option<Health>,
    /// The engine's word for it: `created`, `running`, `paused`, `restarting`, `exited`,
    /// `dead`, `removing`.
    pub status: String,
    /// How many times the engine restarted it (its restart policy).
    pub restart_count: i64,
    /// When it last started, and last stopped (RFC 3339; none when it never did).
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// A container's healthcheck as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    /// `starting`, `healthy`, `unhealthy` (empty: not known yet).
    pub status: String,
    /// The output of the last check run, trimmed; `None` when it printed nothing.
    pub last_output: Option<String>,
    /// Whether the engine has run the check at least once.
    pub ran: bool,
}

/// A network on the engine, as far as the plan compares it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Network {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub driver: String,
    pub enable_ipv6: bool,
    /// Its driver options.
    pub options: BTreeMap<String, String>,
    /// Its address pools: (subnet, gateway).
    pub pools: Vec<(String, Option<String>)>,
}

/// The engine's state, as far as the plan needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub containers: Vec<Container>,
    /// By name.
    pub networks: BTreeMap<String, Network>,
    /// Image reference, in its full form ([`full_reference`]) → image id.
    pub images: BTreeMap<String, String>,
    /// Every image on the engine, tagged or not, by id.
    pub image_list: BTreeMap<String, Image>,
}

/// An image on the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    /// Its tags (`ghcr.io/nxthdr/web:main`), as the engine lists them.
    pub tags: Vec<String>,
    /// Its repository digests (`ghcr.io/nxthdr/web@sha256:…`).
    pub digests: Vec<String>,
    /// Bytes.
    pub size: i64,
}

/// The exit status in the engine's status text of a container: `Exited (137) 2 hours ago`
/// → 137.
pub fn exit_code(status: &str) -> Option<i64> {
    status
        .strip_prefix("Exited (")?
        .split_once(')')?
        .0
        .parse()
        .ok()
}

/// The full form of an image reference, as engines resolve the short ones Docker's way:
/// `nginx:1.27` → `docker.io/library/nginx:1.27`, `grafana/grafana` →
/// `docker.io/grafana/grafana:latest`; one with a registry (`ghcr.io/nxthdr/risotto:main`,
/// `localhost/app:1`) stays as it is, `:latest` added when it has neither tag nor digest.
pub fn full_reference(reference: &str) -> String {
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let has_registry = name
        .split_once('/')
        .is_some_and(|(first, _)| first.contains(['.', ':']) || first == "localhost");
    let mut out = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let last = out.rsplit('/').next().unwrap_or_default();
    if digest.is_none() && !last.contains(':') {
        out.push_str(":latest");
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    out
}

/// The repository of an image reference, in its full form, without tag or digest:
/// `web:1` → `docker.io/library/web`, `10.0.0.1:5000/nxtb/web@sha256:…` → `10.0.0.1:5000/nxtb/web`.
pub fn repository(reference: &str) -> String {
    let full = full_reference(reference);
    let name = full.split_once('@').map_or(full.as_str(), |(n, _)| n);
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo.to_string(),
        _ => name.to_string(),
    }
}

impl Observed {
    pub fn container(&self, name: &str) -> Option<&Container> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// The id of the image `reference` names on the engine. A short name is first the Docker
    /// Hub's (Docker's rule), then the engine's own local image (`localhost/NAME`: how Podman
    /// stores images built, imported or tagged on the host).
    pub fn image_id(&self, reference: &str) -> Option<&String> {
        // An image id (a pinned service's): the image itself, tagged or not.
        if reference.starts_with("sha256:") {
            return self.image_list.get_key_value(reference).map(|(id, _)| id);
        }
        if let Some(id) = self.images.get(&full_reference(reference)) {
            return Some(id);
        }
        if reference.contains('/') {
            return None;
        }
        self.images
            .get(&full_reference(&format!("localhost/{reference}")))
    }

    /// Records that the engine has `reference` as image `id`.
    pub fn insert_image(&mut self, reference: &str, id: &str) {
        self.images
            .insert(full_reference(reference), id.to_string());
        let image = self.image_list.entry(id.to_string()).or_default();
        let list = if reference.contains('@') {
            &mut image.digests
        } else {
            &mut image.tags
        };
        if !list.iter().any(|r| r == reference) {
            list.push(reference.to_string());
        }
    }

    /// A repository digest of the image `id` (the first the engine lists), if it has one.
    pub fn digest(&self, id: &str) -> Option<&String> {
        self.image_list.get(id)?.digests.first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_read_from_the_status_text() {
        assert_eq!(exit_code("Exited (0) 3 seconds ago"), Some(0));
        assert_eq!(exit_code("Exited (137) 2 hours ago"), Some(137));
        assert_eq!(exit_code("Up 5 minutes (healthy)"), None);
        assert_eq!(exit_code("Created"), None);
        assert_eq!(exit_code("Exited (x)"), None);
    }

    #[test]
    fn repositories_drop_the_tag_and_digest() {
        assert_eq!(repository("web:1"), "docker.io/library/web");
        assert_eq!(repository("grafana/grafana"), "docker.io/grafana/grafana");
        assert_eq!(
            repository("10.200.0.1:5000/nxtb/web@sha256:ab"),
            "10.200.0.1:5000/nxtb/web"
        );
        assert_eq!(repository("localhost:5000/web"), "localhost:5000/web");
    }

    #[test]
    fn references_resolve_as_engines_resolve_them() {
        for (short, full) in [
            ("nginx:1.27", "docker.io/library/nginx:1.27"),
            ("nginx", "docker.io/library/nginx:latest"),
            ("grafana/grafana:11.2.0", "docker.io/grafana/grafana:11.2.0"),
            ("docker.io/library/redis:7", "docker.io/library/redis:7"),
            ("ghcr.io/nxthdr/risotto:main", "ghcr.io/nxthdr/risotto:main"),
            ("registry:5000/app", "registry:5000/app:latest"),
            ("localhost/app:1", "localhost/app:1"),
            ("app@sha256:abcd", "docker.io/library/app@sha256:abcd"),
        ] {
            assert_eq!(full_reference(short), full, "{short}");
        }
    }

    #[test]
    fn short_names_find_docker_hub_then_local_images() {
        let mut o = Observed::default();
        o.insert_image("nginx:1.27", "sha256:n");
        o.insert_image("localhost/app:1", "sha256:local");
        o.insert_image("docker.io/library/both:1", "sha256:hub");
        o.insert_image("localhost/both:1", "sha256:local-both");
        assert_eq!(
            o.image_id("docker.io/library/nginx:1.27"),
            Some(&"sha256:n".into())
        );
        assert_eq!(o.image_id("nginx:1.27"), Some(&"sha256:n".into()));
        assert_eq!(o.image_id("app:1"), Some(&"sha256:local".into()));
        assert_eq!(o.image_id("both:1"), Some(&"sha256:hub".into()));
        assert_eq!(o.image_id("other/app:1"), None, "not a short name");
        assert_eq!(o.image_id("nginx:1.28"), None);
    }
}

/// An engine's own view of its swarm membership (`docker info`'s `Swarm`), readable on any
/// engine, in a swarm or not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalNode {
    pub state: LocalState,
    /// The node's id in its swarm (empty outside one).
    pub node_id: String,
    /// The swarm's id: known on managers only.
    pub cluster_id: Option<String>,
    /// The swarm's own labels (its spec's): known on managers only. nxinfra marks the swarms
    /// it initialises with `nxinfra.cluster=<group>`.
    pub cluster_labels: BTreeMap<String, String>,
    /// A manager (it can answer for the swarm).
    pub manager: bool,
    /// The address it reaches the swarm at (empty outside one).
    pub addr: String,
    /// What the engine says is wrong (a failed join), if anything.
    pub error: String,
}

/// `LocalNodeState`: where an engine is in joining a swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LocalState {
    /// In no swarm.
    #[default]
    Inactive,
    /// Joining.
    Pending,
    Active,
    Error,
    /// In a swarm whose keys are locked (autolock): it must be unlocked by hand.
    Locked,
}

/// A node as a swarm manager lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SwarmNode {
    pub id: String,
    /// Its spec's version, sent back with an update.
    pub version: u64,
    pub hostname: String,
    pub manager: bool,
    /// `ready`, `down`, `disconnected`, `unknown`.
    pub status: String,
    /// `active`, `pause`, `drain`.
    pub availability: String,
    pub labels: BTreeMap<String, String>,
}

/// A swarm service as a manager lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedService {
    pub id: String,
    pub name: String,
    /// Its spec's version, sent back with an update.
    pub version: u64,
    pub labels: BTreeMap<String, String>,
    /// `None`: a global service.
    pub replicas: Option<u64>,
    /// `UpdateStatus.State` (`updating`, `completed`, `rollback_completed`, …), if any.
    pub update_state: Option<String>,
    pub update_message: String,
}

/// A swarm config or secret (their content is never read back).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SwarmObject {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// What a swarm holds of a cluster's objects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StackState {
    pub services: Vec<ObservedService>,
    pub configs: Vec<SwarmObject>,
    pub secrets: Vec<SwarmObject>,
    /// Networks of the swarm's scope (overlays).
    pub networks: Vec<SwarmObject>,
}

/// One task of a service, as a manager lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedTask {
    pub node_id: String,
    /// Its container on that node (empty before it has one).
    pub container_id: String,
    /// `running`, `starting`, `failed`, `rejected`, `shutdown`, …
    pub state: String,
    pub desired: String,
    /// What went wrong, if anything (`task: non-zero exit (137): dockerexec: unhealthy container`).
    pub error: String,
}

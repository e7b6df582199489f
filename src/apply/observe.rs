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
    /// The image id it was created from.
    pub image_id: String,
    /// Names of the networks it is attached to.
    pub networks: Vec<String>,
}

impl Container {
    pub fn managed(&self) -> bool {
        self.labels.get(super::hash::MANAGED).map(String::as_str) == Some("true")
    }
}

/// The engine's state, as far as the plan needs it.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub containers: Vec<Container>,
    /// By name.
    pub networks: BTreeMap<String, bollard::models::Network>,
    /// Image reference (`repo:tag`) → image id.
    pub images: BTreeMap<String, String>,
}

impl Observed {
    pub fn container(&self, name: &str) -> Option<&Container> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// From the answers of `list_containers(all)`, `list_networks` and `list_images`.
    pub fn from_engine(
        containers: Vec<bollard::models::ContainerSummary>,
        networks: Vec<bollard::models::Network>,
        images: Vec<bollard::models::ImageSummary>,
    ) -> Observed {
        let containers = containers
            .into_iter()
            .map(|c| Container {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .unwrap_or_default()
                    .first()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                labels: c.labels.unwrap_or_default().into_iter().collect(),
                running: c.state.map(|s| s.to_string() == "running").unwrap_or(false),
                image_id: c.image_id.unwrap_or_default(),
                networks: c
                    .network_settings
                    .and_then(|n| n.networks)
                    .map(|n| n.into_keys().collect())
                    .unwrap_or_default(),
            })
            .collect();
        let networks = networks
            .into_iter()
            .filter_map(|n| Some((n.name.clone()?, n)))
            .collect();
        let mut by_ref = BTreeMap::new();
        for image in images {
            for tag in &image.repo_tags {
                by_ref.insert(tag.clone(), image.id.clone());
            }
        }
        Observed {
            containers,
            networks,
            images: by_ref,
        }
    }
}

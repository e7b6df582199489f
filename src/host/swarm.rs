//! A node's engine in its swarm's part: membership (init, join), the nodes a manager lists,
//! and their labels and roles. The same counted connection as [`super::engine`]: a second
//! apply of an unchanged cluster must make no write call.
//!
//! Join tokens are read from a manager's API over its SSH connection and handed to the
//! joining engine; they are a [`JoinToken`], which neither prints nor reaches an error
//! message (a failed join's text is scrubbed of it).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use bollard::models::{
    LocalNodeState, NodeSpec, NodeSpecAvailabilityEnum, NodeSpecRoleEnum, SwarmInitRequest,
    SwarmJoinRequest,
};
use bollard::query_parameters::{UpdateNodeOptionsBuilder, UpdateSwarmOptionsBuilder};

use crate::host::engine::{DockerEngine, EngineError, fail};
use crate::model::cluster::Role;
use crate::model::observed::{LocalNode, LocalState, SwarmNode};

/// The port managers listen on for the swarm's control plane.
pub const SWARM_PORT: u16 = 2377;

/// A swarm's join token: a secret that lets an engine join as a worker or a manager. Never
/// printed (its `Debug` hides it), never in an error.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken(String);

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinToken(<hidden>)")
    }
}

impl JoinToken {
    pub fn new(token: String) -> JoinToken {
        JoinToken(token)
    }

    /// Whether it is `text` (a fake engine's check).
    pub fn is(&self, text: &str) -> bool {
        self.0 == text
    }

    /// `text` without the token in it.
    fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.0, "<join token>")
        }
    }
}

/// What nxinfra asks of one node's engine about its swarm. [`DockerEngine`] implements it;
/// the cluster's operation is written against it, so that its paths are tested on fakes.
pub trait Swarm: Send + Sync {
    /// (read calls, write calls) so far.
    fn calls(&self) -> (usize, usize);
    /// The engine's own view of its membership (any engine).
    fn local_node(&self) -> impl Future<Output = Result<LocalNode, EngineError>> + Send;
    /// Makes a new swarm with this engine its first manager, the swarm labelled `labels`;
    /// its node id.
    fn init(
        &self,
        advertise: IpAddr,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<String, EngineError>> + Send;
    /// The token that joins an engine as `role` (a manager only).
    fn join_token(&self, role: Role)
    -> impl Future<Output = Result<JoinToken, EngineError>> + Send;
    /// Joins this engine to the swarm whose manager listens at `manager`.
    fn join(
        &self,
        advertise: IpAddr,
        manager: IpAddr,
        token: &JoinToken,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Every node of the swarm (a manager only).
    fn nodes(&self) -> impl Future<Output = Result<Vec<SwarmNode>, EngineError>> + Send;
    /// Sets node `node`'s role and labels (the whole set), its availability kept (a manager
    /// only).
    fn update_node(
        &self,
        node: &SwarmNode,
        role: Role,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
}

fn address(ip: IpAddr) -> String {
    SocketAddr::new(ip, SWARM_PORT).to_string()
}

impl Swarm for DockerEngine {
    fn calls(&self) -> (usize, usize) {
        crate::host::engine::Engine::calls(self)
    }

    async fn local_node(&self) -> Result<LocalNode, EngineError> {
        self.read();
        let info = self
            .docker
            .info()
            .await
            .map_err(fail("reading the engine's swarm state"))?;
        let Some(swarm) = info.swarm else {
            return Ok(LocalNode::default());
        };
        let state = match swarm.local_node_state {
            Some(LocalNodeState::ACTIVE) => LocalState::Active,
            Some(LocalNodeState::PENDING) => LocalState::Pending,
            Some(LocalNodeState::ERROR) => LocalState::Error,
            Some(LocalNodeState::LOCKED) => LocalState::Locked,
            _ => LocalState::Inactive,
        };
        let (cluster_id, cluster_labels) = match swarm.cluster {
            Some(c) => (
                c.id,
                c.spec
                    .and_then(|s| s.labels)
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            ),
            None => (None, BTreeMap::new()),
        };
        Ok(LocalNode {
            state,
            node_id: swarm.node_id.unwrap_or_default(),
            cluster_id,
            cluster_labels,
            manager: swarm.control_available.unwrap_or(false),
            addr: swarm.node_addr.unwrap_or_default(),
            error: swarm.error.unwrap_or_default(),
        })
    }

    async fn init(
        &self,
        advertise: IpAddr,
        labels: &BTreeMap<String, String>,
    ) -> Result<String, EngineError> {
        self.write();
        let listen = SocketAddr::new(
            if advertise.is_ipv6() {
                IpAddr::from([0u16; 8])
            } else {
                IpAddr::from([0u8; 4])
            },
            SWARM_PORT,
        );
        let id = self
            .docker
            .init_swarm(SwarmInitRequest {
                listen_addr: Some(listen.to_string()),
                advertise_addr: Some(address(advertise)),
                ..Default::default()
            })
            .await
            .map_err(fail("initialising the swarm"))?;
        // The labels: read, modified, written back with the version read (an update
        // replaces the whole spec).
        self.read();
        let swarm = self
            .docker
            .inspect_swarm()
            .await
            .map_err(fail("reading the new swarm"))?;
        let mut spec = swarm.spec.unwrap_or_default();
        spec.labels
            .get_or_insert_with(HashMap::new)
            .extend(labels.clone());
        let version = swarm.version.and_then(|v| v.index).unwrap_or(0);
        self.write();
        self.docker
            .update_swarm(
                spec,
                UpdateSwarmOptionsBuilder::new()
                    .version(i64::try_from(version).unwrap_or(i64::MAX))
                    .build(),
            )
            .await
            .map_err(fail("labelling the new swarm"))?;
        Ok(id)
    }

    async fn join_token(&self, role: Role) -> Result<JoinToken, EngineError> {
        self.read();
        let swarm = self
            .docker
            .inspect_swarm()
            .await
            .map_err(fail("reading the swarm's join tokens"))?;
        let tokens = swarm.join_tokens.unwrap_or_default();
        let token = match role {
            Role::Manager => tokens.manager,
            Role::Worker => tokens.worker,
        };
        token.map(JoinToken).ok_or_else(|| EngineError {
            what: "reading the swarm's join tokens".into(),
            reason: "the manager gave none".into(),
        })
    }

    async fn join(
        &self,
        advertise: IpAddr,
        manager: IpAddr,
        token: &JoinToken,
    ) -> Result<(), EngineError> {
        self.write();
        let listen = if advertise.is_ipv6() {
            "[::]"
        } else {
            "0.0.0.0"
        };
        self.docker
            .join_swarm(SwarmJoinRequest {
                listen_addr: Some(format!("{listen}:{SWARM_PORT}")),
                advertise_addr: Some(address(advertise)),
                remote_addrs: Some(vec![address(manager)]),
                join_token: Some(token.0.clone()),
                ..Default::default()
            })
            .await
            .map_err(|e| {
                let e = fail("joining the swarm")(e);
                EngineError {
                    what: e.what,
                    reason: token.scrub(&e.reason),
                }
            })
    }

    async fn nodes(&self) -> Result<Vec<SwarmNode>, EngineError> {
        self.read();
        let nodes = self
            .docker
            .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
            .await
            .map_err(fail("listing the swarm's nodes"))?;
        Ok(nodes
            .into_iter()
            .map(|n| {
                let spec = n.spec.unwrap_or_default();
                SwarmNode {
                    id: n.id.unwrap_or_default(),
                    version: n.version.and_then(|v| v.index).unwrap_or(0),
                    hostname: n.description.and_then(|d| d.hostname).unwrap_or_default(),
                    manager: spec.role == Some(NodeSpecRoleEnum::MANAGER),
                    status: n
                        .status
                        .and_then(|s| s.state)
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    availability: spec.availability.map(|a| a.to_string()).unwrap_or_default(),
                    labels: spec.labels.unwrap_or_default().into_iter().collect(),
                }
            })
            .collect())
    }

    async fn update_node(
        &self,
        node: &SwarmNode,
        role: Role,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        self.write();
        let availability = match node.availability.as_str() {
            "pause" => NodeSpecAvailabilityEnum::PAUSE,
            "drain" => NodeSpecAvailabilityEnum::DRAIN,
            _ => NodeSpecAvailabilityEnum::ACTIVE,
        };
        let spec = NodeSpec {
            labels: Some(labels.clone().into_iter().collect::<HashMap<_, _>>()),
            role: Some(match role {
                Role::Manager => NodeSpecRoleEnum::MANAGER,
                Role::Worker => NodeSpecRoleEnum::WORKER,
            }),
            availability: Some(availability),
            ..Default::default()
        };
        let version = i64::try_from(node.version).unwrap_or(i64::MAX);
        self.docker
            .update_node(
                &node.id,
                spec,
                UpdateNodeOptionsBuilder::new().version(version).build(),
            )
            .await
            .map_err(fail(format!("updating node {}", node.hostname)))
    }
}

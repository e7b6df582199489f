//! A cluster's stack on its swarm, through one manager's engine: what the swarm holds
//! (services, configs, secrets, overlay networks: four reads), and the calls that carry a
//! [`crate::plan::stack::StackPlan`] out. A stack service becomes the engine's
//! `ServiceSpec` here ([`service_spec`]), as a compose service becomes a create request in
//! [`super::convert`].

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use bollard::models::{
    ConfigSpec, EndpointPortConfig, EndpointPortConfigProtocolEnum,
    EndpointPortConfigPublishModeEnum, EndpointSpec, EndpointSpecModeEnum, Limit,
    NetworkAttachmentConfig, NetworkCreateRequest, ResourceObject, SecretSpec, ServiceSpec,
    ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecRollbackConfig,
    ServiceSpecRollbackConfigFailureActionEnum, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, TaskSpec, TaskSpecContainerSpec,
    TaskSpecContainerSpecConfigs, TaskSpecContainerSpecFile, TaskSpecContainerSpecFile1,
    TaskSpecContainerSpecSecrets, TaskSpecPlacement, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};
use bollard::query_parameters::{
    ListNetworksOptionsBuilder, ListTasksOptionsBuilder, UpdateServiceOptionsBuilder,
};

use crate::host::convert::nanos;
use crate::host::engine::{DockerEngine, EngineError, fail};
use crate::model::compose::Protocol;
use crate::model::compose::stack::{
    DeployMode, EndpointMode, FailureAction, Order, Overlay, PublishMode, RestartCondition, Stack,
    StackService, UpdateConfig,
};
use crate::model::observed::{ObservedService, ObservedTask, StackState, SwarmObject};

/// What the cluster's operation asks of a manager's engine about the stack. [`DockerEngine`]
/// implements it.
pub trait StackEngine: Send + Sync {
    /// Services, configs, secrets and swarm-scoped networks (four reads).
    fn stack_state(&self) -> impl Future<Output = Result<StackState, EngineError>> + Send;
    fn create_overlay(
        &self,
        net: &Overlay,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Creates config (`secret`: a secret) `name` holding `data`; its id.
    fn create_object(
        &self,
        secret: bool,
        name: &str,
        data: &[u8],
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<String, EngineError>> + Send;
    fn remove_object(
        &self,
        secret: bool,
        name: &str,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Creates (`version: None`) or updates the service `spec` names.
    fn put_service(
        &self,
        spec: ServiceSpec,
        version: Option<u64>,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    fn remove_service(&self, name: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    fn service(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<ObservedService, EngineError>> + Send;
    /// The tasks of service `name`: those it wants running and the recent ones that ended.
    fn tasks(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<ObservedTask>, EngineError>> + Send;
}

fn labels_of(map: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    map.unwrap_or_default().into_iter().collect()
}

fn object(
    id: Option<String>,
    name: Option<String>,
    labels: Option<HashMap<String, String>>,
) -> SwarmObject {
    SwarmObject {
        id: id.unwrap_or_default(),
        name: name.unwrap_or_default(),
        labels: labels_of(labels),
    }
}

fn observed_service(s: bollard::models::Service) -> ObservedService {
    let spec = s.spec.unwrap_or_default();
    let replicas = spec
        .mode
        .as_ref()
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas)
        .map(|r| r.max(0) as u64);
    ObservedService {
        id: s.id.unwrap_or_default(),
        name: spec.name.clone().unwrap_or_default(),
        version: s.version.and_then(|v| v.index).unwrap_or(0),
        labels: labels_of(spec.labels),
        replicas,
        update_state: s
            .update_status
            .as_ref()
            .and_then(|u| u.state)
            .map(|st| st.to_string()),
        update_message: s.update_status.and_then(|u| u.message).unwrap_or_default(),
    }
}

impl StackEngine for DockerEngine {
    async fn stack_state(&self) -> Result<StackState, EngineError> {
        self.read();
        let services = self
            .docker
            .list_services(None::<bollard::query_parameters::ListServicesOptions>)
            .await
            .map_err(fail("listing the swarm's services"))?;
        self.read();
        let configs = self
            .docker
            .list_configs(None::<bollard::query_parameters::ListConfigsOptions>)
            .await
            .map_err(fail("listing the swarm's configs"))?;
        self.read();
        let secrets = self
            .docker
            .list_secrets(None::<bollard::query_parameters::ListSecretsOptions>)
            .await
            .map_err(fail("listing the swarm's secrets"))?;
        self.read();
        let filters = HashMap::from([("scope", vec!["swarm"])]);
        let networks = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(fail("listing the swarm's networks"))?;
        Ok(StackState {
            services: services.into_iter().map(observed_service).collect(),
            configs: configs
                .into_iter()
                .map(|c| {
                    let spec = c.spec.unwrap_or_default();
                    object(c.id, spec.name, spec.labels)
                })
                .collect(),
            secrets: secrets
                .into_iter()
                .map(|c| {
                    let spec = c.spec.unwrap_or_default();
                    object(c.id, spec.name, spec.labels)
                })
                .collect(),
            networks: networks
                .into_iter()
                .map(|n| object(n.id, n.name, n.labels))
                .collect(),
        })
    }

    async fn create_overlay(
        &self,
        net: &Overlay,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        self.write();
        let config: Vec<bollard::models::IpamConfig> = net
            .subnets
            .iter()
            .map(|s| bollard::models::IpamConfig {
                subnet: Some(s.clone()),
                ..Default::default()
            })
            .collect();
        self.docker
            .create_network(NetworkCreateRequest {
                name: net.name.clone(),
                driver: Some("overlay".into()),
                attachable: Some(net.attachable),
                enable_ipv6: Some(net.enable_ipv6),
                options: Some(net.driver_opts.clone().into_iter().collect()),
                labels: Some(labels.clone().into_iter().collect()),
                ipam: (!config.is_empty()).then(|| bollard::models::Ipam {
                    config: Some(config),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .map_err(fail(format!("creating network {}", net.name)))?;
        Ok(())
    }

    async fn create_object(
        &self,
        secret: bool,
        name: &str,
        data: &[u8],
        labels: &BTreeMap<String, String>,
    ) -> Result<String, EngineError> {
        self.write();
        let encoded = base64::engine::general_purpose::STANDARD.encode(data);
        let labels = Some(labels.clone().into_iter().collect());
        let created = if secret {
            self.docker
                .create_secret(SecretSpec {
                    name: Some(name.to_string()),
                    labels,
                    data: Some(encoded),
                    ..Default::default()
                })
                .await
                .map_err(fail(format!("creating secret {name}")))?
        } else {
            self.docker
                .create_config(ConfigSpec {
                    name: Some(name.to_string()),
                    labels,
                    data: Some(encoded),
                    ..Default::default()
                })
                .await
                .map_err(fail(format!("creating config {name}")))?
        };
        Ok(created.id)
    }

    async fn remove_object(&self, secret: bool, name: &str) -> Result<(), EngineError> {
        self.write();
        if secret {
            self.docker
                .delete_secret(name)
                .await
                .map_err(fail(format!("removing secret {name}")))
        } else {
            self.docker
                .delete_config(name)
                .await
                .map_err(fail(format!("removing config {name}")))
        }
    }

    async fn put_service(
        &self,
        spec: ServiceSpec,
        version: Option<u64>,
    ) -> Result<(), EngineError> {
        self.write();
        let name = spec.name.clone().unwrap_or_default();
        match version {
            None => {
                self.docker
                    .create_service(spec, None)
                    .await
                    .map_err(fail(format!("creating service {name}")))?;
            }
            Some(v) => {
                let options = UpdateServiceOptionsBuilder::new()
                    .version(i32::try_from(v).unwrap_or(i32::MAX))
                    .build();
                self.docker
                    .update_service(&name, spec, options, None)
                    .await
                    .map_err(fail(format!("updating service {name}")))?;
            }
        }
        Ok(())
    }

    async fn remove_service(&self, name: &str) -> Result<(), EngineError> {
        self.write();
        self.docker
            .delete_service(name)
            .await
            .map_err(fail(format!("removing service {name}")))
    }

    async fn service(&self, name: &str) -> Result<ObservedService, EngineError> {
        self.read();
        let s = self
            .docker
            .inspect_service(
                name,
                None::<bollard::query_parameters::InspectServiceOptions>,
            )
            .await
            .map_err(fail(format!("reading service {name}")))?;
        Ok(observed_service(s))
    }

    async fn tasks(&self, name: &str) -> Result<Vec<ObservedTask>, EngineError> {
        self.read();
        let filters = HashMap::from([("service", vec![name])]);
        let tasks = self
            .docker
            .list_tasks(Some(
                ListTasksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(fail(format!("listing the tasks of {name}")))?;
        Ok(tasks
            .into_iter()
            .map(|t| {
                let status = t.status.unwrap_or_default();
                ObservedTask {
                    node_id: t.node_id.unwrap_or_default(),
                    container_id: status
                        .container_status
                        .as_ref()
                        .and_then(|c| c.container_id.clone())
                        .unwrap_or_default(),
                    state: status.state.map(|s| s.to_string()).unwrap_or_default(),
                    desired: t.desired_state.map(|s| s.to_string()).unwrap_or_default(),
                    error: status.err.unwrap_or_default(),
                }
            })
            .collect())
    }
}

/// The engine's spec of `service` (the stack's key `key`), named `name`, with `labels`
/// (its identity), its configs and secrets by engine name → id (`ids`), its networks by the
/// stack's overlay names.
pub fn service_spec(
    name: &str,
    service: &StackService,
    stack: &Stack,
    labels: &BTreeMap<String, String>,
    names: (&BTreeMap<String, String>, &BTreeMap<String, String>),
    ids: &BTreeMap<String, String>,
) -> ServiceSpec {
    let (config_names, secret_names) = names;
    let health_check = service.healthcheck.as_ref().map(super::convert::health);
    let configs = service
        .configs
        .iter()
        .filter_map(|r| {
            let name = config_names.get(&r.source)?;
            Some(TaskSpecContainerSpecConfigs {
                config_id: ids.get(name).cloned(),
                config_name: Some(name.clone()),
                file: Some(TaskSpecContainerSpecFile1 {
                    name: Some(r.target.clone()),
                    uid: Some(r.uid.clone()),
                    gid: Some(r.gid.clone()),
                    mode: Some(r.mode),
                }),
                ..Default::default()
            })
        })
        .collect();
    let secrets = service
        .secrets
        .iter()
        .filter_map(|r| {
            let name = secret_names.get(&r.source)?;
            Some(TaskSpecContainerSpecSecrets {
                secret_id: ids.get(name).cloned(),
                secret_name: Some(name.clone()),
                file: Some(TaskSpecContainerSpecFile {
                    name: Some(r.target.clone()),
                    uid: Some(r.uid.clone()),
                    gid: Some(r.gid.clone()),
                    mode: Some(r.mode),
                }),
            })
        })
        .collect();
    let mounts = service.mounts.iter().map(super::convert::mount).collect();
    let container = TaskSpecContainerSpec {
        image: Some(service.image.clone()),
        labels: Some(service.container_labels.clone().into_iter().collect()),
        command: service.entrypoint.clone(),
        args: service.command.clone(),
        hostname: service.hostname.clone(),
        env: Some(
            service
                .environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        user: service.user.clone(),
        mounts: Some(mounts),
        stop_grace_period: Some(nanos(service.stop_grace_period)),
        health_check,
        configs: Some(configs),
        secrets: Some(secrets),
        ..Default::default()
    };
    let d = &service.deploy;
    let restart = &d.restart_policy;
    let resources = &d.resources;
    let task = TaskSpec {
        container_spec: Some(container),
        restart_policy: Some(TaskSpecRestartPolicy {
            condition: Some(match restart.condition {
                RestartCondition::Any => TaskSpecRestartPolicyConditionEnum::ANY,
                RestartCondition::OnFailure => TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
                RestartCondition::None => TaskSpecRestartPolicyConditionEnum::NONE,
            }),
            delay: Some(nanos(restart.delay)),
            max_attempts: restart.max_attempts.map(|n| n as i64),
            window: Some(nanos(restart.window)),
        }),
        placement: Some(TaskSpecPlacement {
            constraints: Some(d.placement.constraints.clone()),
            max_replicas: d.placement.max_replicas_per_node.map(|n| n as i64),
            ..Default::default()
        }),
        resources: Some(TaskSpecResources {
            limits: Some(Limit {
                nano_cpus: resources.limit_nano_cpus,
                memory_bytes: resources.limit_memory_bytes,
                pids: resources.limit_pids,
            }),
            reservations: Some(ResourceObject {
                nano_cpus: resources.reserve_nano_cpus,
                memory_bytes: resources.reserve_memory_bytes,
                ..Default::default()
            }),
            ..Default::default()
        }),
        networks: Some(
            service
                .networks
                .iter()
                .map(|(key, aliases)| NetworkAttachmentConfig {
                    target: Some(
                        stack
                            .networks
                            .get(key)
                            .map(|n| n.name.clone())
                            .unwrap_or_else(|| key.clone()),
                    ),
                    aliases: Some(aliases.clone()),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    };
    let mode = match d.mode {
        DeployMode::Replicated { replicas } => ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(replicas as i64),
            }),
            ..Default::default()
        },
        DeployMode::Global => ServiceSpecMode {
            global: Some(HashMap::new()),
            ..Default::default()
        },
    };
    let update = |u: &UpdateConfig| {
        (
            u.parallelism as i64,
            nanos(u.delay),
            nanos(u.monitor),
            u.max_failure_ratio,
        )
    };
    let (parallelism, delay, monitor, ratio) = update(&d.update_config);
    let update_config = ServiceSpecUpdateConfig {
        parallelism: Some(parallelism),
        delay: Some(delay),
        monitor: Some(monitor),
        max_failure_ratio: Some(ratio),
        failure_action: Some(match d.update_config.failure_action {
            FailureAction::Rollback => ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK,
            FailureAction::Pause => ServiceSpecUpdateConfigFailureActionEnum::PAUSE,
            FailureAction::Continue => ServiceSpecUpdateConfigFailureActionEnum::CONTINUE,
        }),
        order: Some(match d.update_config.order {
            Order::StartFirst => ServiceSpecUpdateConfigOrderEnum::START_FIRST,
            Order::StopFirst => ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
        }),
    };
    let (parallelism, delay, monitor, ratio) = update(&d.rollback_config);
    let rollback_config = ServiceSpecRollbackConfig {
        parallelism: Some(parallelism),
        delay: Some(delay),
        monitor: Some(monitor),
        max_failure_ratio: Some(ratio),
        failure_action: Some(match d.rollback_config.failure_action {
            FailureAction::Continue => ServiceSpecRollbackConfigFailureActionEnum::CONTINUE,
            _ => ServiceSpecRollbackConfigFailureActionEnum::PAUSE,
        }),
        order: Some(match d.rollback_config.order {
            Order::StartFirst => ServiceSpecRollbackConfigOrderEnum::START_FIRST,
            Order::StopFirst => ServiceSpecRollbackConfigOrderEnum::STOP_FIRST,
        }),
    };
    let ports = service
        .ports
        .iter()
        .map(|p| EndpointPortConfig {
            protocol: Some(match p.protocol {
                Protocol::Tcp => EndpointPortConfigProtocolEnum::TCP,
                Protocol::Udp => EndpointPortConfigProtocolEnum::UDP,
                Protocol::Sctp => EndpointPortConfigProtocolEnum::SCTP,
            }),
            target_port: Some(i64::from(p.target)),
            published_port: p.published.map(i64::from),
            publish_mode: Some(match p.mode {
                PublishMode::Host => EndpointPortConfigPublishModeEnum::HOST,
                PublishMode::Ingress => EndpointPortConfigPublishModeEnum::INGRESS,
            }),
            ..Default::default()
        })
        .collect();
    let mut all_labels: HashMap<String, String> = d.labels.clone().into_iter().collect();
    all_labels.extend(labels.clone());
    ServiceSpec {
        name: Some(name.to_string()),
        labels: Some(all_labels),
        task_template: Some(task),
        mode: Some(mode),
        update_config: Some(update_config),
        rollback_config: Some(rollback_config),
        endpoint_spec: Some(EndpointSpec {
            mode: Some(match d.endpoint_mode {
                EndpointMode::Vip => EndpointSpecModeEnum::VIP,
                EndpointMode::Dnsrr => EndpointSpecModeEnum::DNSRR,
            }),
            ports: Some(ports),
        }),
        ..Default::default()
    }
}

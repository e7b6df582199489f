//! One host's Docker engine, through bollard over the socket forwarded by the host's SSH
//! connection. Every API call goes through here and is counted (reads and writes apart): a
//! second apply of an unchanged fleet must make no write call at all.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, EndpointSettings, NetworkConnectRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder,
    RestartContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::TryStreamExt;

use std::collections::BTreeMap;

use crate::host::convert;
use crate::model::compose::{Compose, Network, Service};
use crate::model::observed::{ContainerState, Health, Observed};
use crate::plan::identity::{Owner, network_labels};

#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct EngineError {
    pub what: String,
    pub reason: String,
}

/// What nxinfra asks of one host's container engine. [`DockerEngine`] is the Docker (or
/// Podman) API reached over the host's SSH connection; operations are written against this
/// trait, so that their failure paths are tested on an engine made to fail
/// (`crate::host::fake`). Removals check ownership: an engine never removes what nxinfra
/// did not create for its fleet.
pub trait Engine: Send + Sync {
    /// The fleet this engine connection acts for.
    fn fleet(&self) -> &str;
    fn api_version(&self) -> String;
    /// The engine's own version (`24.0.7`; Podman's for Podman), for `nxinfra status`.
    fn version(&self) -> impl Future<Output = Result<String, EngineError>> + Send;
    /// (read calls, write calls) so far.
    fn calls(&self) -> (usize, usize);
    /// Containers (all, running or not), networks and images.
    fn observe(&self) -> impl Future<Output = Result<Observed, EngineError>> + Send;
    fn pull(&self, image: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Removes the image `id`: each of its `tags` untagged, then the image itself (`nxinfra
    /// prune`, which checked that no container uses it). Never forced: an image a container
    /// uses is refused by the engine.
    fn remove_image(
        &self,
        id: &str,
        tags: &[String],
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Creates the network of compose.yml's `net`, labelled as the fleet's.
    fn create_network(&self, net: &Network)
    -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Removes the network `name`, if it is the fleet's.
    fn remove_network(&self, name: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Creates the container of `service` as `name`, with nxinfra's `labels`, attached to
    /// all its networks, not started. Nothing is left behind when it fails.
    fn create_container(
        &self,
        name: &str,
        compose: &Compose,
        service: &Service,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    fn start(&self, name: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Stops `name`, given `grace` before it is killed; one already stopped is fine.
    fn stop(
        &self,
        name: &str,
        grace: Duration,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    fn restart(
        &self,
        name: &str,
        grace: Duration,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Removes the container `name` (`force`: even running), if it is the fleet's.
    fn remove(
        &self,
        name: &str,
        force: bool,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// As [`Engine::remove`], with nothing to do when there is no container `name`.
    fn remove_if_present(
        &self,
        name: &str,
        force: bool,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    fn rename(&self, from: &str, to: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Waits until `name` is not running, at most `limit`: its exit status, or `None` when
    /// it still runs then.
    fn wait_exit(
        &self,
        name: &str,
        limit: Duration,
    ) -> impl Future<Output = Result<Option<i64>, EngineError>> + Send;
    /// The last `lines` lines of what `name` printed (stdout and stderr).
    fn logs_tail(
        &self,
        name: &str,
        lines: usize,
    ) -> impl Future<Output = Result<String, EngineError>> + Send;
    /// The state of `name` now.
    /// Runs `cmd` in the running container `name` (a check): its exit status and output
    /// (stdout, then the end of stderr).
    fn exec_output(
        &self,
        name: &str,
        cmd: Vec<String>,
    ) -> impl Future<Output = Result<(i64, String), EngineError>> + Send;

    fn state(&self, name: &str)
    -> impl Future<Output = Result<ContainerState, EngineError>> + Send;
}

/// A Docker (or Podman) engine through bollard, its socket forwarded by the host's SSH
/// connection.
pub struct DockerEngine {
    pub(super) docker: Docker,
    /// The fleet nxinfra acts for: what it creates carries it, what it removes must.
    fleet: String,
    reads: AtomicUsize,
    writes: AtomicUsize,
    /// A pull that reports no progress this long is stopped (`--pull-timeout`).
    pull_stall: Option<std::time::Duration>,
}

/// The engine of `target` at `local_socket` (its socket forwarded here), or why not; its
/// pulls stopped after `pull_stall` without progress.
pub async fn connect_engine(
    local_socket: &str,
    target: &crate::model::target::Target,
    pull_stall: Option<std::time::Duration>,
) -> Result<DockerEngine, EngineError> {
    DockerEngine::connect(local_socket, &target.fleet)
        .await
        .map(|engine| DockerEngine {
            pull_stall,
            ..engine
        })
        .map_err(|e| EngineError {
            what: format!(
                "the Docker engine at {} does not answer through the SSH connection (is it \
                 running, and may the login user use its socket? set nxinfra_docker_socket if \
                 it is elsewhere)",
                target.docker_socket
            ),
            reason: e.to_string(),
        })
}

pub(super) fn fail(what: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> EngineError {
    let what = what.into();
    move |e| EngineError {
        what,
        reason: match e {
            bollard::errors::Error::DockerResponseServerError { message, .. } => message,
            // hyper's own words ("client error (SendRequest)") say little: what broke is the
            // connection, forwarded over SSH, to the engine.
            bollard::errors::Error::HyperLegacyError { err } => format!(
                "the connection to the engine was lost or refused (is the host reachable?): {}",
                super::session::error_chain(&err)
            ),
            other => other.to_string(),
        },
    }
}

impl DockerEngine {
    /// Connects to the engine at the local socket `path` and negotiates the API version (one
    /// call, not counted: it belongs to the connection), to act for the fleet `fleet`.
    pub async fn connect(path: &str, fleet: &str) -> Result<DockerEngine, EngineError> {
        let docker = Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION)
            .map_err(fail("connecting to the Docker engine"))?
            .negotiate_version()
            .await
            .map_err(fail("negotiating the Docker API version"))?;
        Ok(DockerEngine {
            docker,
            fleet: fleet.to_string(),
            reads: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            pull_stall: None,
        })
    }

    pub(super) fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Refuses to remove an object that nxinfra did not make, or made for another fleet: a
    /// container that took a name nxinfra uses is never deleted to make room.
    fn check_removable<'a>(
        &self,
        what: &str,
        label: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<(), EngineError> {
        let refuse = |why: String| EngineError {
            what: what.to_string(),
            reason: format!("refused: {why}; nxinfra only removes what it created"),
        };
        match crate::plan::identity::owner(label, &self.fleet) {
            Owner::Ours | Owner::Unlabelled => Ok(()),
            Owner::Foreign => Err(refuse("it does not carry nxinfra's labels".into())),
            Owner::Fleet(other) => Err(refuse(format!(
                "it belongs to the fleet {other}, not {}",
                self.fleet
            ))),
        }
    }

    async fn connect_network(
        &self,
        container: &str,
        network: &str,
        endpoint: EndpointSettings,
    ) -> Result<(), EngineError> {
        self.write();
        let request = NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: Some(endpoint),
        };
        self.docker
            .connect_network(network, request)
            .await
            .map_err(fail(format!("attaching {container} to network {network}")))
    }

    async fn remove_checked(
        &self,
        name: &str,
        force: bool,
        absent_is_done: bool,
    ) -> Result<(), EngineError> {
        let what = format!("removing {name}");
        self.read();
        let found = match self.docker.inspect_container(name, None).await {
            Ok(found) => found,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) if absent_is_done => return Ok(()),
            Err(e) => return Err(fail(what)(e)),
        };
        let labels = found.config.and_then(|c| c.labels).unwrap_or_default();
        self.check_removable(&what, |k| labels.get(k).map(String::as_str))?;
        let id = found.id.unwrap_or_else(|| name.to_string());
        self.write();
        let options = RemoveContainerOptionsBuilder::new().force(force).build();
        self.docker
            .remove_container(&id, Some(options))
            .await
            .map_err(fail(what))
    }

    /// Creates and starts the throwaway container `name` of a restore drill: `image` (pulled
    /// when the engine lacks it), `env`, no network at all, labelled as the fleet's and as
    /// the drill of `backup` (an apply that finds one left behind removes it).
    pub async fn start_drill(
        &self,
        name: &str,
        image: &str,
        env: &BTreeMap<String, String>,
        command: Option<&str>,
        backup: &str,
    ) -> Result<(), EngineError> {
        self.read();
        match self.docker.inspect_image(image).await {
            Ok(_) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => self.pull(image).await?,
            Err(e) => return Err(fail(format!("inspecting image {image}"))(e)),
        }
        let labels: std::collections::HashMap<String, String> = [
            (
                crate::plan::identity::MANAGED.to_string(),
                "true".to_string(),
            ),
            (crate::plan::identity::FLEET.to_string(), self.fleet.clone()),
            (crate::plan::identity::DRILL.to_string(), backup.to_string()),
        ]
        .into();
        let body = bollard::models::ContainerCreateBody {
            image: Some(image.to_string()),
            env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            cmd: command.map(|c| vec!["sh".into(), "-c".into(), c.into()]),
            labels: Some(labels),
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.write();
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map_err(fail(format!("creating container {name}")))?;
        if let Err(e) = self.start(name).await {
            let _ = self.remove(name, true).await;
            return Err(e);
        }
        Ok(())
    }

    /// Runs `cmd` in the running container `name`: `input` (if any) goes to its stdin, each
    /// chunk of its stdout to `out`. Returns its exit status and the end of its stderr.
    pub async fn exec(
        &self,
        name: &str,
        cmd: Vec<String>,
        input: Option<&mut (dyn std::io::Read + Send)>,
        out: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
    ) -> Result<(i64, String), EngineError> {
        use bollard::exec::{StartExecOptions, StartExecResults};
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let what = format!("running a command in {name}");
        self.write();
        let config = bollard::models::ExecConfig {
            attach_stdin: Some(input.is_some()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(cmd),
            ..Default::default()
        };
        let created = self
            .docker
            .create_exec(name, config)
            .await
            .map_err(fail(what.clone()))?;
        self.write();
        let options = StartExecOptions {
            detach: false,
            tty: false,
            output_capacity: None,
        };
        let StartExecResults::Attached {
            output: mut stream,
            input: mut stdin,
        } = self
            .docker
            .start_exec(&created.id, Some(options))
            .await
            .map_err(fail(what.clone()))?
        else {
            return Err(EngineError {
                what,
                reason: "the engine did not attach to the command".into(),
            });
        };
        // Input and output at once: a command that prints while it reads must not block.
        let feed = async {
            if let Some(input) = input {
                crate::util::pipe::feed(input, &mut stdin).await?;
            }
            stdin.shutdown().await
        };
        let mut stderr = crate::util::pipe::Tail::default();
        let drain = async {
            while let Some(chunk) = stream.next().await {
                match chunk.map_err(|e| std::io::Error::other(e.to_string()))? {
                    bollard::container::LogOutput::StdOut { message } => out(&message)?,
                    bollard::container::LogOutput::StdErr { message } => stderr.push(&message),
                    _ => {}
                }
            }
            Ok::<(), std::io::Error>(())
        };
        let (fed, drained) = tokio::join!(feed, drain);
        let io = |e: std::io::Error| EngineError {
            what: what.clone(),
            reason: e.to_string(),
        };
        drained.map_err(io)?;
        self.read();
        let inspected = self
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(fail(what.clone()))?;
        let code = inspected.exit_code.unwrap_or(-1);
        // A command that stopped reading early fails its feed: its status says why (as
        // [`crate::host::session::HostSession::stream`] has it).
        if let Err(e) = fed
            && code == 0
        {
            return Err(io(e));
        }
        Ok((code, stderr.text()))
    }
}

impl Engine for DockerEngine {
    /// The fleet this engine connection acts for.
    fn fleet(&self) -> &str {
        &self.fleet
    }

    fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    async fn version(&self) -> Result<String, EngineError> {
        self.read();
        let v = self
            .docker
            .version()
            .await
            .map_err(fail("reading the engine's version"))?;
        Ok(v.version.unwrap_or_default())
    }

    /// (read calls, write calls) so far.
    fn calls(&self) -> (usize, usize) {
        (
            self.reads.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }

    /// Containers (all, running or not), networks and images: three calls.
    async fn observe(&self) -> Result<Observed, EngineError> {
        self.read();
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptionsBuilder::new().all(true).build()))
            .await
            .map_err(fail("listing containers"))?;
        self.read();
        let networks = self
            .docker
            .list_networks(None)
            .await
            .map_err(fail("listing networks"))?;
        self.read();
        let images = self
            .docker
            .list_images(None::<bollard::query_parameters::ListImagesOptions>)
            .await
            .map_err(fail("listing images"))?;
        Ok(observed(containers, networks, images))
    }

    async fn pull(&self, image: &str) -> Result<(), EngineError> {
        self.write();
        use futures_util::StreamExt;
        let options = CreateImageOptionsBuilder::new().from_image(image).build();
        let mut progress = self.docker.create_image(Some(options), None, None);
        // The engine streams its progress; a registry that stops answering mid-download
        // leaves the stream silent for ever. Dropping the stream ends the request, and the
        // engine cancels the pull.
        loop {
            let next = match self.pull_stall {
                Some(limit) => match tokio::time::timeout(limit, progress.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        return Err(EngineError {
                            what: format!("pulling {image}"),
                            reason: format!(
                                "no progress for {} s: the registry stopped answering?                                  (--pull-timeout)",
                                limit.as_secs()
                            ),
                        });
                    }
                },
                None => progress.next().await,
            };
            match next {
                None => return Ok(()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(fail(format!("pulling {image}"))(e)),
            }
        }
    }

    async fn remove_image(&self, id: &str, tags: &[String]) -> Result<(), EngineError> {
        let options = || Some(bollard::query_parameters::RemoveImageOptions::default());
        for tag in tags {
            self.write();
            self.docker
                .remove_image(tag, options(), None)
                .await
                .map_err(fail(format!("removing image {tag}")))?;
        }
        self.write();
        match self.docker.remove_image(id, options(), None).await {
            // Its last tag removed it.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            other => other
                .map(|_| ())
                .map_err(fail(format!("removing image {id}"))),
        }
    }

    async fn create_network(&self, net: &Network) -> Result<(), EngineError> {
        let request = convert::network(net, &network_labels(&self.fleet, net));
        self.write();
        let name = request.name.clone();
        self.docker
            .create_network(request)
            .await
            .map_err(fail(format!("creating network {name}")))?;
        Ok(())
    }

    /// Removes the network `name`, if it is nxinfra's and not another fleet's (checked on the
    /// engine first: one read more).
    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        let what = format!("removing network {name}");
        self.read();
        let net = self
            .docker
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .map_err(fail(what.clone()))?;
        let labels = net.labels.unwrap_or_default();
        self.check_removable(&what, |k| labels.get(k).map(String::as_str))?;
        let id = net.id.unwrap_or_else(|| name.to_string());
        self.write();
        self.docker.remove_network(&id).await.map_err(fail(what))
    }

    async fn create_container(
        &self,
        name: &str,
        compose: &Compose,
        service: &Service,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        let request = convert::container(compose, service, labels);
        self.write();
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        self.docker
            .create_container(Some(options), request.body)
            .await
            .map_err(fail(format!("creating container {name}")))?;
        for (network, endpoint) in request.extra_networks {
            if let Err(e) = self.connect_network(name, &network, endpoint).await {
                // Not left behind half made: the next apply starts from what was there.
                let _ = self.remove(name, true).await;
                return Err(e);
            }
        }
        Ok(())
    }

    async fn start(&self, name: &str) -> Result<(), EngineError> {
        self.write();
        self.docker
            .start_container(name, None)
            .await
            .map_err(fail(format!("starting {name}")))
    }

    async fn stop(&self, name: &str, grace: Duration) -> Result<(), EngineError> {
        self.write();
        let options = StopContainerOptionsBuilder::new()
            .t(grace.as_secs().min(i32::MAX as u64) as i32)
            .build();
        match self.docker.stop_container(name, Some(options)).await {
            // 304: already stopped.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            other => other.map_err(fail(format!("stopping {name}"))),
        }
    }

    async fn restart(&self, name: &str, grace: Duration) -> Result<(), EngineError> {
        self.write();
        let options = RestartContainerOptionsBuilder::new()
            .t(grace.as_secs().min(i32::MAX as u64) as i32)
            .build();
        self.docker
            .restart_container(name, Some(options))
            .await
            .map_err(fail(format!("restarting {name}")))
    }

    /// Removes the container `name` (`force`: even running), if it is nxinfra's and not
    /// another fleet's: checked on the engine first (one read more), then removed by id, so
    /// that a container made under that name in between is not the one removed.
    async fn remove(&self, name: &str, force: bool) -> Result<(), EngineError> {
        self.remove_checked(name, force, false).await
    }

    /// As [`Engine::remove`], with nothing to do when there is no container `name` (an undo
    /// whose step never got that far). An engine that does not answer is an error.
    async fn remove_if_present(&self, name: &str, force: bool) -> Result<(), EngineError> {
        self.remove_checked(name, force, true).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), EngineError> {
        self.write();
        let options = RenameContainerOptionsBuilder::new().name(to).build();
        self.docker
            .rename_container(from, options)
            .await
            .map_err(fail(format!("renaming {from} to {to}")))
    }

    /// Waits until container `name` is not running, at most `limit`: its exit status, or
    /// `None` when it still runs then. Through the engine's wait API (Podman's inspect reports
    /// states Docker's schema lacks); each request is kept under the client's timeout.
    async fn wait_exit(
        &self,
        name: &str,
        limit: std::time::Duration,
    ) -> Result<Option<i64>, EngineError> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let slice = (deadline - now).min(std::time::Duration::from_secs(60));
            self.read();
            let options = bollard::query_parameters::WaitContainerOptionsBuilder::new()
                .condition("not-running")
                .build();
            let mut stream = self.docker.wait_container(name, Some(options));
            match tokio::time::timeout(slice, stream.next()).await {
                Err(_) => continue,
                Ok(Some(Ok(response))) => return Ok(Some(response.status_code)),
                Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError {
                    code, ..
                }))) => {
                    return Ok(Some(code));
                }
                Ok(Some(Err(e))) => return Err(fail(format!("waiting for {name}"))(e)),
                Ok(None) => {
                    return Err(EngineError {
                        what: format!("waiting for {name}"),
                        reason: "the engine closed the wait without an exit status".into(),
                    });
                }
            }
        }
    }

    /// The last `lines` lines of what container `name` printed (stdout and stderr).
    async fn logs_tail(&self, name: &str, lines: usize) -> Result<String, EngineError> {
        self.read();
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let chunks: Vec<_> = self
            .docker
            .logs(name, Some(options))
            .try_collect()
            .await
            .map_err(fail(format!("reading the logs of {name}")))?;
        let bytes: Vec<u8> = chunks.into_iter().flat_map(|c| c.into_bytes()).collect();
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn exec_output(
        &self,
        name: &str,
        cmd: Vec<String>,
    ) -> Result<(i64, String), EngineError> {
        let mut stdout = crate::util::pipe::Tail::default();
        let (code, stderr) = self
            .exec(name, cmd, None, &mut |chunk: &[u8]| {
                stdout.push(chunk);
                Ok(())
            })
            .await?;
        let text = format!("{}\n{}", stdout.text().trim(), stderr.trim());
        Ok((code, text.trim().to_string()))
    }

    async fn state(&self, name: &str) -> Result<ContainerState, EngineError> {
        self.read();
        let inspected = self
            .docker
            .inspect_container(name, None)
            .await
            .map_err(fail(format!("inspecting {name}")))?;
        Ok(state(inspected))
    }
}

/// A container's state as a health gate reads it, from the engine's inspection.
fn state(inspected: ContainerInspectResponse) -> ContainerState {
    let state = inspected.state.unwrap_or_default();
    // The engine's zero time (0001-01-01…) for "never".
    let time = |t: Option<String>| t.filter(|t| !t.starts_with("0001-"));
    ContainerState {
        status: state.status.map(|s| s.to_string()).unwrap_or_default(),
        restart_count: inspected.restart_count.unwrap_or_default(),
        started_at: time(state.started_at),
        finished_at: time(state.finished_at),
        id: inspected.id.unwrap_or_default(),
        running: state.running == Some(true),
        exit_code: state.exit_code.unwrap_or_default(),
        health: state.health.map(|h| {
            let log = h.log.unwrap_or_default();
            Health {
                status: h.status.map(|s| s.to_string()).unwrap_or_default(),
                last_output: log
                    .last()
                    .and_then(|r| r.output.as_deref())
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(str::to_string),
                ran: !log.is_empty(),
            }
        }),
    }
}

/// From the answers of `list_containers(all)`, `list_networks` and `list_images`.
pub fn observed(
    containers: Vec<bollard::models::ContainerSummary>,
    networks: Vec<bollard::models::Network>,
    images: Vec<bollard::models::ImageSummary>,
) -> Observed {
    let containers = containers
        .into_iter()
        .map(|c| crate::model::observed::Container {
            id: c.id.unwrap_or_default(),
            name: c
                .names
                .unwrap_or_default()
                .first()
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            labels: c.labels.unwrap_or_default().into_iter().collect(),
            running: c.state.map(|s| s.to_string() == "running").unwrap_or(false),
            exit_code: c
                .status
                .as_deref()
                .and_then(crate::model::observed::exit_code),
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
        .filter_map(|n| {
            let name = n.name.clone()?;
            Some((name.clone(), network(name, n)))
        })
        .collect();
    let mut observed = Observed {
        containers,
        networks,
        ..Observed::default()
    };
    for image in images {
        // `<none>:<none>` and `<none>@<none>`: what older engines list for an untagged image.
        let real = |r: &&String| !r.starts_with("<none>");
        for reference in image
            .repo_tags
            .iter()
            .chain(&image.repo_digests)
            .filter(real)
        {
            observed.insert_image(reference, &image.id);
        }
        observed
            .image_list
            .entry(image.id.clone())
            .or_default()
            .size = image.size;
    }
    observed
}

/// A network as the engine reports it, as the plan compares it.
fn network(name: String, n: bollard::models::Network) -> crate::model::observed::Network {
    crate::model::observed::Network {
        name,
        labels: n.labels.unwrap_or_default().into_iter().collect(),
        driver: n.driver.unwrap_or_default(),
        enable_ipv6: n.enable_ipv6.unwrap_or(false),
        options: n.options.unwrap_or_default().into_iter().collect(),
        pools: n
            .ipam
            .and_then(|i| i.config)
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.subnet.unwrap_or_default(), c.gateway))
            .collect(),
    }
}

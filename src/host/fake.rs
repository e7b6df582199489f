//! A host and an engine in memory, for the unit tests of the operations: what they hold can
//! be read and set, and each can be made to fail where a real one fails (an upload refused,
//! an engine that stops answering, a new image whose containers exit at once). They follow
//! the contracts of [`crate::host::Host`] and [`crate::host::engine::Engine`] as the real
//! ones keep them (the lock is exclusive, an engine removes only the fleet's containers);
//! the end-to-end tests show the real ones keep them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::host::engine::{Engine, EngineError};
use crate::host::session::SessionError;
use crate::host::{Host, HostLock, Upload};
use crate::model::compose::{Compose, Network, Service};
use crate::model::journal;
use crate::model::manifest::Manifest;
use crate::model::observed::{self, ContainerState, Observed};
use crate::model::placed::HostFiles;
use crate::model::target::{Defaults, Target};
use crate::model::tree::OutFile;
use crate::plan::identity::{Owner, network_labels, owner};

/// A target for `host` with its base dir at `/srv/fleet`, of the fleet `test`.
pub fn target(host: &str) -> Target {
    let vars = crate::model::inventory::Vars::from_iter([(
        "nxinfra_base_dir".to_string(),
        serde_json::json!("/srv/fleet"),
    )]);
    let defaults = Defaults {
        user: "deploy".into(),
        fleet: "test".into(),
    };
    match Target::from_vars(host, &vars, &defaults) {
        Ok(t) => t,
        Err(e) => panic!("a test target: {e}"),
    }
}

/// What a [`FakeHost`] holds.
#[derive(Debug, Default)]
pub struct HostState {
    /// The files in the base dir.
    pub files: BTreeMap<String, OutFile>,
    pub manifest: Manifest,
    /// The placed files' state recorded at the last placement ([`HostState::now`] then).
    pub recorded: BTreeMap<String, String>,
    /// Who holds the lock, if anyone.
    pub holder: Option<String>,
    pub locks_taken: usize,
    /// Uploads placed (or refused).
    pub uploads: usize,
    /// The upload (1 for the first) that the host refuses, its lock then released.
    pub refuse_upload: Option<usize>,
    /// What an HTTP GET of a URL answers (status, body); a URL not listed is refused.
    pub http: BTreeMap<String, (u16, String)>,
}

impl HostState {
    /// The state of the placed files now, as `stat` lines: a file's line changes with its
    /// content and mode. System files are not held: they stay as placed.
    fn now(&self) -> BTreeMap<String, String> {
        let base = self.manifest.files.keys().filter_map(|path| {
            let f = self.files.get(path)?;
            let sha = crate::model::manifest::sha256_hex(&f.data);
            let line = format!(
                "{:o} deploy:deploy {} 1 {} 0 +0000 {path}",
                f.mode,
                f.data.len(),
                &sha[..12]
            );
            Some((path.clone(), line))
        });
        let system = self.manifest.system.iter().map(|(dest, e)| {
            let line = format!(
                "{:o} {}:{} 1 1 {} 0 +0000 {dest}",
                e.mode,
                e.owner,
                e.group,
                &e.sha256[..12]
            );
            (dest.clone(), line)
        });
        base.chain(system).collect()
    }

    pub fn host_files(&self) -> HostFiles {
        let text = |lines: &BTreeMap<String, String>| {
            lines.values().map(|l| format!("{l}\n")).collect::<String>()
        };
        let file = |name: &str| {
            self.files
                .get(&format!(".nxinfra/{name}"))
                .map(|f| String::from_utf8_lossy(&f.data).into_owned())
                .unwrap_or_default()
        };
        let last = file(journal::HISTORY_FILE)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        let parsed = HostFiles::parse(
            self.manifest.clone(),
            &text(&self.recorded),
            &text(&self.now()),
        )
        .map_err(|e| e.to_string())
        .and_then(|h| {
            Ok(HostFiles {
                journal: journal::Journal::parse(&last, &file(journal::PINS_FILE))
                    .map_err(|e| e.to_string())?,
                ..h
            })
        });
        match parsed {
            Ok(h) => h,
            Err(e) => panic!("the fake's own state lines: {e}"),
        }
    }

    /// The host's deploy journal, oldest first.
    pub fn history(&self) -> Vec<journal::Record> {
        self.files
            .get(&format!(".nxinfra/{}", journal::HISTORY_FILE))
            .map(|f| journal::parse_history(&String::from_utf8_lossy(&f.data)))
            .transpose()
            .unwrap_or_else(|e| panic!("the fake's journal: {e}"))
            .unwrap_or_default()
    }

    /// Records the placed files' state as a placement does.
    pub fn record(&mut self) {
        self.recorded = self.now();
    }
}

/// A host in memory.
pub struct FakeHost {
    pub target: Target,
    pub state: Mutex<HostState>,
}

impl FakeHost {
    pub fn new(host: &str) -> FakeHost {
        FakeHost {
            target: target(host),
            state: Mutex::default(),
        }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, HostState> {
        match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The content of the file `path` in the base dir.
    pub fn file(&self, path: &str) -> Option<String> {
        let state = self.state();
        let file = state.files.get(path)?;
        Some(String::from_utf8_lossy(&file.data).into_owned())
    }
}

impl Host for FakeHost {
    type Lock<'a> = FakeLock<'a>;

    fn target(&self) -> &Target {
        &self.target
    }

    async fn break_lock(&self) -> Result<Option<String>, SessionError> {
        Ok(self.state().holder.take())
    }

    async fn read_files(&self) -> Result<HostFiles, SessionError> {
        Ok(self.state().host_files())
    }

    async fn lock_and_read(
        &self,
        holder: &str,
        _timeout: Duration,
    ) -> Result<(HostFiles, FakeLock<'_>), SessionError> {
        let mut state = self.state();
        if let Some(other) = &state.holder {
            return Err(SessionError::Locked(format!("held by {other}")));
        }
        state.holder = Some(holder.to_string());
        state.locks_taken += 1;
        Ok((
            state.host_files(),
            FakeLock {
                host: self,
                held: true,
            },
        ))
    }

    async fn http_get(&self, url: &str) -> Result<(u16, Vec<u8>), String> {
        match self.state().http.get(url) {
            Some((status, body)) => Ok((*status, body.clone().into_bytes())),
            None => Err(format!("{url}: connection refused")),
        }
    }

    async fn tcp_connect(&self, address: &str) -> Result<(), String> {
        Err(format!("{address} refused the connection"))
    }

    async fn run_check_command(&self, command: &[String]) -> Result<(i64, String), String> {
        Ok((127, format!("{}: not found", command.join(" "))))
    }

    async fn facts(&self, _path: Option<&str>) -> Result<crate::plan::status::HostFacts, String> {
        Ok(crate::plan::status::HostFacts::default())
    }

    async fn fetch(
        &self,
        paths: &[String],
        _system: &[String],
        _what: &'static str,
    ) -> Result<BTreeMap<String, Vec<u8>>, SessionError> {
        let state = self.state();
        Ok(paths
            .iter()
            .filter_map(|p| Some((p.clone(), state.files.get(p)?.data.to_vec())))
            .collect())
    }
}

/// The lock of a [`FakeHost`]; dropped, it is released (as the real one's remote command
/// ends with its connection).
pub struct FakeLock<'a> {
    host: &'a FakeHost,
    held: bool,
}

impl FakeLock<'_> {
    fn unlock(&mut self) {
        if self.held {
            self.host.state().holder = None;
            self.held = false;
        }
    }
}

impl Drop for FakeLock<'_> {
    fn drop(&mut self) {
        self.unlock();
    }
}

impl HostLock for FakeLock<'_> {
    async fn release(mut self) -> Result<(), SessionError> {
        self.unlock();
        Ok(())
    }

    async fn place(
        &mut self,
        upload: &Upload<'_>,
        _phase: &(dyn Fn(&str) + Sync),
    ) -> Result<(), SessionError> {
        let refused = {
            let mut state = self.host.state();
            state.uploads += 1;
            if state.refuse_upload == Some(state.uploads) {
                true
            } else {
                for path in &upload.plan.remove {
                    state.files.remove(path);
                }
                for path in &upload.plan.upload {
                    if let Some(file) = upload.files.get(path) {
                        state.files.insert(path.clone(), file.clone());
                    }
                }
                for (path, mode) in &upload.plan.chmod {
                    if let Some(file) = state.files.get_mut(path) {
                        file.mode = *mode;
                    }
                }
                state.manifest = upload.manifest.clone();
                state.record();
                false
            }
        };
        if refused {
            self.unlock();
            return Err(SessionError::Command {
                what: "uploading and applying the changes",
                reason: "No space left on device".into(),
            });
        }
        Ok(())
    }

    async fn record(&mut self, write: &journal::JournalWrite) -> Result<(), SessionError> {
        let mut state = self.host.state();
        if let Some(record) = &write.record {
            let mut lines: Vec<String> = state
                .history()
                .iter()
                .map(journal::Record::to_line)
                .collect();
            lines.push(record.to_line());
            let keep = write.keep.max(1);
            let from = lines.len().saturating_sub(keep);
            let text: String = lines[from..].concat();
            state.files.insert(
                format!(".nxinfra/{}", journal::HISTORY_FILE),
                OutFile {
                    data: text.into_bytes().into(),
                    mode: 0o600,
                },
            );
        }
        if let Some(pins) = &write.pins {
            let path = format!(".nxinfra/{}", journal::PINS_FILE);
            if pins.is_empty() {
                state.files.remove(&path);
            } else {
                state.files.insert(
                    path,
                    OutFile {
                        data: pins.to_text().into_bytes().into(),
                        mode: 0o600,
                    },
                );
            }
        }
        Ok(())
    }

    async fn write_manifest_and_release(mut self, manifest: &Manifest) -> Result<(), SessionError> {
        let mut state = self.host.state();
        state.manifest = manifest.clone();
        state.record();
        drop(state);
        self.unlock();
        Ok(())
    }
}

/// A container of a [`FakeEngine`].
#[derive(Debug, Clone, Default)]
pub struct FakeContainer {
    pub id: String,
    pub image: String,
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub networks: Vec<String>,
}

/// What a [`FakeEngine`] holds, and how it fails.
#[derive(Debug, Default)]
pub struct EngineState {
    /// By name.
    pub containers: BTreeMap<String, FakeContainer>,
    pub networks: BTreeMap<String, observed::Network>,
    /// Full reference → image id.
    pub images: BTreeMap<String, String>,
    /// Images (as compose.yml names them) whose containers exit with status 1 once started.
    pub crashing: BTreeSet<String>,
    /// The call (`"rename"`, `"start"`, …) on the container or network of that name from
    /// which the engine stops answering: it and every later call fail.
    pub down_from: Option<(String, String)>,
    pub down: bool,
    /// Every write call made: `"create web--nxinfra-new"`.
    pub log: Vec<String>,
    /// Commands (their words joined by spaces) that exit 1 with that output when run in a
    /// container; every other command exits 0.
    pub failing_exec: BTreeMap<String, String>,
    ids: usize,
}

/// An engine in memory.
pub struct FakeEngine {
    fleet: String,
    pub state: Mutex<EngineState>,
    reads: AtomicUsize,
    writes: AtomicUsize,
}

impl FakeEngine {
    pub fn new(fleet: &str) -> FakeEngine {
        FakeEngine {
            fleet: fleet.into(),
            state: Mutex::default(),
            reads: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
        }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, EngineState> {
        match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn container(&self, name: &str) -> Option<FakeContainer> {
        self.state().containers.get(name).cloned()
    }

    /// The engine's containers' names.
    pub fn names(&self) -> Vec<String> {
        self.state().containers.keys().cloned().collect()
    }

    /// A call `op` on `name`: counted, and refused once the engine is down.
    fn call(&self, op: &str, name: &str, write: bool) -> Result<(), EngineError> {
        let counter = if write { &self.writes } else { &self.reads };
        counter.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        if state
            .down_from
            .as_ref()
            .is_some_and(|(o, n)| o == op && n == name)
        {
            state.down = true;
        }
        if state.down {
            return Err(fail(op, name, "Cannot connect to the Docker daemon"));
        }
        if write {
            state.log.push(format!("{op} {name}"));
        }
        Ok(())
    }

    /// Refuses what nxinfra did not make for this fleet, as [`crate::host::engine`] does.
    fn removable(
        &self,
        op: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        match owner(|k| labels.get(k).map(String::as_str), &self.fleet) {
            Owner::Ours | Owner::Unlabelled => Ok(()),
            Owner::Foreign | Owner::Fleet(_) => Err(fail(op, name, "refused: not the fleet's")),
        }
    }
}

fn fail(op: &str, name: &str, why: &str) -> EngineError {
    EngineError {
        what: format!("{op} {name}"),
        reason: why.into(),
    }
}

/// The id a pulled image gets.
pub fn image_id(image: &str) -> String {
    format!(
        "sha256:{}",
        &crate::model::manifest::sha256_hex(image.as_bytes())[..16]
    )
}

impl Engine for FakeEngine {
    fn fleet(&self) -> &str {
        &self.fleet
    }

    fn api_version(&self) -> String {
        "1.41".into()
    }

    async fn version(&self) -> Result<String, EngineError> {
        self.call("version", "", false)?;
        Ok("fake 1.0".into())
    }

    fn calls(&self) -> (usize, usize) {
        (
            self.reads.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }

    async fn observe(&self) -> Result<Observed, EngineError> {
        self.call("observe", "", false)?;
        let state = self.state();
        let mut observed = Observed::default();
        for (reference, id) in &state.images {
            observed.insert_image(reference, id);
        }
        Ok(Observed {
            containers: state
                .containers
                .iter()
                .map(|(name, c)| observed::Container {
                    id: c.id.clone(),
                    name: name.clone(),
                    labels: c.labels.clone(),
                    running: c.running,
                    exit_code: c.exit_code,
                    image_id: c.image_id.clone(),
                    networks: c.networks.clone(),
                })
                .collect(),
            networks: state.networks.clone(),
            ..observed
        })
    }

    async fn pull(&self, image: &str) -> Result<(), EngineError> {
        self.call("pull", image, true)?;
        self.state()
            .images
            .insert(observed::full_reference(image), image_id(image));
        Ok(())
    }

    async fn remove_image(&self, id: &str, _tags: &[String]) -> Result<(), EngineError> {
        self.call("remove_image", id, true)?;
        let mut state = self.state();
        if state.containers.values().any(|c| c.image_id == id) {
            return Err(fail("remove_image", id, "conflict: image is being used"));
        }
        state.images.retain(|_, i| i != id);
        Ok(())
    }

    async fn create_network(&self, net: &Network) -> Result<(), EngineError> {
        self.call("create-network", &net.name, true)?;
        let network = observed::Network {
            name: net.name.clone(),
            labels: network_labels(&self.fleet, net),
            driver: net.driver.clone(),
            enable_ipv6: net.enable_ipv6,
            options: net.driver_opts.clone(),
            pools: net
                .ipam
                .iter()
                .map(|p| (p.subnet.to_string(), p.gateway.map(|g| g.to_string())))
                .collect(),
        };
        self.state().networks.insert(net.name.clone(), network);
        Ok(())
    }

    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        self.call("remove-network", name, true)?;
        let labels = match self.state().networks.get(name) {
            Some(n) => n.labels.clone(),
            None => return Err(fail("remove-network", name, "No such network")),
        };
        self.removable("remove-network", name, &labels)?;
        self.state().networks.remove(name);
        Ok(())
    }

    async fn create_container(
        &self,
        name: &str,
        compose: &Compose,
        service: &Service,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        self.call("create", name, true)?;
        let mut state = self.state();
        if state.containers.contains_key(name) {
            return Err(fail("create", name, "Conflict: the name is in use"));
        }
        let image = service.spec.image.clone();
        // An image id (a pinned service) names the image itself, tagged or not.
        let by_id = image.starts_with("sha256:") && state.images.values().any(|i| *i == image);
        let found = if by_id {
            Some(image.clone())
        } else {
            state.images.get(&observed::full_reference(&image)).cloned()
        };
        let Some(image_id) = found else {
            return Err(fail("create", name, "No such image"));
        };
        state.ids += 1;
        let id = format!("c{}", state.ids);
        let networks = service
            .spec
            .networks
            .keys()
            .map(|k| {
                compose
                    .networks
                    .get(k)
                    .map_or(k.clone(), |n| n.name.clone())
            })
            .collect();
        state.containers.insert(
            name.to_string(),
            FakeContainer {
                id,
                image,
                image_id,
                labels: labels.clone(),
                running: false,
                exit_code: None,
                networks,
            },
        );
        Ok(())
    }

    async fn start(&self, name: &str) -> Result<(), EngineError> {
        self.call("start", name, true)?;
        let mut state = self.state();
        let crashes = match state.containers.get(name) {
            Some(c) => state.crashing.contains(&c.image),
            None => return Err(fail("start", name, "No such container")),
        };
        if let Some(c) = state.containers.get_mut(name) {
            c.running = !crashes;
            c.exit_code = crashes.then_some(1);
        }
        Ok(())
    }

    async fn stop(&self, name: &str, _grace: Duration) -> Result<(), EngineError> {
        self.call("stop", name, true)?;
        match self.state().containers.get_mut(name) {
            Some(c) => {
                if c.running {
                    c.running = false;
                    c.exit_code = Some(0);
                }
                Ok(())
            }
            None => Err(fail("stop", name, "No such container")),
        }
    }

    async fn restart(&self, name: &str, grace: Duration) -> Result<(), EngineError> {
        self.stop(name, grace).await?;
        self.start(name).await
    }

    async fn remove(&self, name: &str, force: bool) -> Result<(), EngineError> {
        self.call("remove", name, true)?;
        let Some(c) = self.container(name) else {
            return Err(fail("remove", name, "No such container"));
        };
        self.removable("remove", name, &c.labels)?;
        if c.running && !force {
            return Err(fail("remove", name, "cannot remove a running container"));
        }
        self.state().containers.remove(name);
        Ok(())
    }

    async fn remove_if_present(&self, name: &str, force: bool) -> Result<(), EngineError> {
        self.call("inspect", name, false)?;
        if self.container(name).is_none() {
            return Ok(());
        }
        self.remove(name, force).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), EngineError> {
        self.call("rename", from, true)?;
        let mut state = self.state();
        if state.containers.contains_key(to) {
            return Err(fail("rename", from, "Conflict: the name is in use"));
        }
        match state.containers.remove(from) {
            Some(c) => {
                state.containers.insert(to.to_string(), c);
                Ok(())
            }
            None => Err(fail("rename", from, "No such container")),
        }
    }

    async fn wait_exit(&self, name: &str, _limit: Duration) -> Result<Option<i64>, EngineError> {
        self.call("wait", name, false)?;
        let mut state = self.state();
        let Some(c) = state.containers.get_mut(name) else {
            return Err(fail("wait", name, "No such container"));
        };
        // A job that runs exits: 0, or the crash's 1.
        if c.running {
            c.running = false;
            c.exit_code = Some(0);
        }
        Ok(c.exit_code)
    }

    async fn logs_tail(&self, name: &str, _lines: usize) -> Result<String, EngineError> {
        self.call("logs", name, false)?;
        let crashed = self
            .container(name)
            .is_some_and(|c| c.exit_code.is_some_and(|code| code != 0));
        Ok(if crashed {
            "error: cannot read /conf/app.conf\n".into()
        } else {
            String::new()
        })
    }

    async fn exec_output(
        &self,
        name: &str,
        cmd: Vec<String>,
    ) -> Result<(i64, String), EngineError> {
        self.call("exec", name, false)?;
        let failing = self.state().failing_exec.get(&cmd.join(" ")).cloned();
        Ok(match failing {
            Some(output) => (1, output),
            None => (0, String::new()),
        })
    }

    async fn state(&self, name: &str) -> Result<ContainerState, EngineError> {
        self.call("inspect", name, false)?;
        match self.container(name) {
            Some(c) => Ok(ContainerState {
                id: c.id,
                running: c.running,
                exit_code: c.exit_code.unwrap_or_default(),
                health: None,
                status: if c.running { "running" } else { "exited" }.into(),
                ..ContainerState::default()
            }),
            None => Err(fail("inspect", name, "No such container")),
        }
    }
}

/// What the nodes of a [`FakeSwarmNode`] cluster share: the swarm, once one is made.
#[derive(Debug, Default)]
pub struct SwarmState {
    pub cluster_id: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub nodes: Vec<observed::SwarmNode>,
    /// Hosts whose join the swarm refuses.
    pub refuse_join: BTreeSet<String>,
}

/// One node's engine in memory, in the swarm its [`SwarmState`] holds (or none).
pub struct FakeSwarmNode {
    pub host: String,
    pub swarm: std::sync::Arc<Mutex<SwarmState>>,
    pub local: Mutex<observed::LocalNode>,
    reads: AtomicUsize,
    writes: AtomicUsize,
}

/// The join tokens a fake swarm hands out.
pub const MANAGER_TOKEN: &str = "SWMTKN-1-fake-manager";
pub const WORKER_TOKEN: &str = "SWMTKN-1-fake-worker";

impl FakeSwarmNode {
    /// A node of `swarm`, in no swarm yet.
    pub fn new(host: &str, swarm: &std::sync::Arc<Mutex<SwarmState>>) -> FakeSwarmNode {
        FakeSwarmNode {
            host: host.to_string(),
            swarm: swarm.clone(),
            local: Mutex::new(observed::LocalNode::default()),
            reads: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
        }
    }

    fn swarm(&self) -> std::sync::MutexGuard<'_, SwarmState> {
        match self.swarm.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, observed::LocalNode> {
        match self.local.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        }
    }

    /// Makes this engine a member (as `manager` or not) of the shared swarm.
    fn enter(&self, manager: bool) -> String {
        let id = format!("node-{}", self.host);
        let mut swarm = self.swarm();
        swarm.nodes.push(observed::SwarmNode {
            id: id.clone(),
            version: 1,
            hostname: self.host.clone(),
            manager,
            status: "ready".into(),
            availability: "active".into(),
            labels: BTreeMap::new(),
        });
        *self.local() = observed::LocalNode {
            state: observed::LocalState::Active,
            node_id: id.clone(),
            cluster_id: swarm.cluster_id.clone().filter(|_| manager),
            cluster_labels: if manager {
                swarm.labels.clone()
            } else {
                BTreeMap::new()
            },
            manager,
            addr: String::new(),
            error: String::new(),
        };
        id
    }
}

impl crate::host::swarm::Swarm for FakeSwarmNode {
    fn calls(&self) -> (usize, usize) {
        (
            self.reads.load(Ordering::SeqCst),
            self.writes.load(Ordering::SeqCst),
        )
    }

    async fn local_node(&self) -> Result<observed::LocalNode, EngineError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self.local().clone())
    }

    async fn init(
        &self,
        _advertise: std::net::IpAddr,
        labels: &BTreeMap<String, String>,
    ) -> Result<String, EngineError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        {
            let mut swarm = self.swarm();
            swarm.cluster_id = Some(format!("swarm-of-{}", self.host));
            swarm.labels = labels.clone();
        }
        Ok(self.enter(true))
    }

    async fn join_token(
        &self,
        role: crate::model::cluster::Role,
    ) -> Result<crate::host::swarm::JoinToken, EngineError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if !self.local().manager {
            return Err(EngineError {
                what: "reading the swarm's join tokens".into(),
                reason: "This node is not a swarm manager.".into(),
            });
        }
        Ok(crate::host::swarm::JoinToken::new(
            match role {
                crate::model::cluster::Role::Manager => MANAGER_TOKEN,
                crate::model::cluster::Role::Worker => WORKER_TOKEN,
            }
            .into(),
        ))
    }

    async fn join(
        &self,
        _advertise: std::net::IpAddr,
        _manager: std::net::IpAddr,
        token: &crate::host::swarm::JoinToken,
    ) -> Result<(), EngineError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if self.swarm().refuse_join.contains(&self.host) {
            return Err(EngineError {
                what: "joining the swarm".into(),
                reason: "Timeout was reached before node joined.".into(),
            });
        }
        self.enter(token.is(MANAGER_TOKEN));
        Ok(())
    }

    async fn nodes(&self) -> Result<Vec<observed::SwarmNode>, EngineError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self.swarm().nodes.clone())
    }

    async fn update_node(
        &self,
        node: &observed::SwarmNode,
        role: crate::model::cluster::Role,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        let mut swarm = self.swarm();
        match swarm.nodes.iter_mut().find(|n| n.id == node.id) {
            Some(n) if n.version == node.version => {
                n.manager = role == crate::model::cluster::Role::Manager;
                n.labels = labels.clone();
                n.version += 1;
                Ok(())
            }
            _ => Err(EngineError {
                what: format!("updating node {}", node.hostname),
                reason: "update out of sequence".into(),
            }),
        }
    }
}

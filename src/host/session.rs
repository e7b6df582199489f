//! One SSH connection per host (openssh, ControlMaster), and the two sync commands over it.
//!
//! The `ssh` binary does the work, so `~/.ssh/config` (User, Port, IdentityFile, ProxyJump…)
//! is honoured. Host keys are always checked: unknown keys are accepted only under
//! `StrictHostKeyChecking=accept-new`, a changed key is refused. `no` is never used.

use std::collections::BTreeMap;
use std::time::Duration;

use std::num::NonZeroUsize;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::host::control;
use crate::host::remote;
use crate::model::manifest::{Manifest, ManifestError};
use crate::model::placed::HostFiles;
use crate::model::target::Target;

/// How nxinfra connects, beyond each host's target.
#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    /// `ssh -F FILE` instead of `~/.ssh/config`.
    pub config_file: Option<std::path::PathBuf>,
    /// Refuse unknown host keys too (`StrictHostKeyChecking=yes`); default accept-new.
    pub strict_host_keys: bool,
    /// Connect timeout.
    pub connect_timeout: Option<Duration>,
    /// Keep the connection open this many seconds after the run (0: close it).
    pub persist_secs: u64,
    /// A host silent this long is given up: ssh's keepalive every third of it.
    pub alive_timeout: Option<Duration>,
    /// An image pull without progress this long is stopped (the engine reached through the
    /// connection); `None`: never.
    pub pull_stall: Option<Duration>,
}

/// A master without clients ends after this many seconds (it is closed explicitly before).
const IDLE_MASTER: NonZeroUsize = NonZeroUsize::new(60).unwrap();

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot connect to {destination}: {reason}")]
    Connect { destination: String, reason: String },
    #[error("{what} failed: {reason}")]
    Command { what: &'static str, reason: String },
    #[error("locked: {0}")]
    Locked(String),
    #[error("preparing the upload failed: {0}")]
    Upload(#[from] remote::UploadError),
    /// What the host sent back was not the tar stream asked for.
    #[error("{what} failed: {source}")]
    Read {
        what: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Interrupted(#[from] crate::util::interrupt::Interrupted),
    #[error(
        "the manifest on the host is invalid ({0}); fix or remove <base_dir>/.nxinfra/manifest"
    )]
    Manifest(#[from] ManifestError),
    /// The placed files' state, as `stat` printed it, is not understood (not GNU stat?).
    #[error("{0}")]
    Stat(#[from] crate::model::placed::StatError),
    #[error(transparent)]
    Journal(#[from] crate::model::journal::StateError),
}

impl From<remote::HostFilesError> for SessionError {
    fn from(e: remote::HostFilesError) -> Self {
        match e {
            remote::HostFilesError::Manifest(e) => SessionError::Manifest(e),
            remote::HostFilesError::Stat(e) => SessionError::Stat(e),
            remote::HostFilesError::Journal(e) => SessionError::Journal(e),
        }
    }
}

/// The connection to one host.
pub struct HostSession {
    pub target: Target,
    session: Session,
    /// Remote commands started so far (the benchmark and `--json` report it).
    commands: std::sync::atomic::AtomicUsize,
    /// The master outlives the run (`--ssh-persist`).
    persistent: bool,
}

impl HostSession {
    pub async fn connect(target: &Target, opts: &SshOptions) -> Result<Self, SessionError> {
        let mut b = SessionBuilder::default();
        b.known_hosts_check(if opts.strict_host_keys {
            KnownHosts::Strict
        } else {
            KnownHosts::Add
        });
        if let Some(user) = &target.user {
            b.user(user.clone());
        }
        if let Some(port) = target.port {
            b.port(port);
        }
        if let Some(file) = &opts.config_file {
            b.config_file(file);
        }
        if let Some(t) = opts.connect_timeout {
            b.connect_timeout(t);
        }
        if let Some(t) = opts.alive_timeout {
            // ssh gives up after ServerAliveCountMax (default 3) keepalives unanswered.
            b.server_alive_interval((t / 3).max(Duration::from_secs(1)));
        }
        let fail = |reason: String| SessionError::Connect {
            destination: target.destination.clone(),
            reason,
        };
        let root = control::root().map_err(|e| fail(e.to_string()))?;
        let Some(persist) = NonZeroUsize::new(opts.persist_secs as usize) else {
            // Closed at the end of the run; should nxinfra be killed, the master still ends
            // after a minute without use.
            b.control_directory(&root)
                .control_persist(ControlPersist::IdleFor(IDLE_MASTER));
            let session = b
                .connect_mux(&target.destination)
                .await
                .map_err(|e| fail(ssh_reason(&error_chain(&e))))?;
            return Ok(Self::new(target, session, false));
        };
        let key = control::key(&[
            &target.destination,
            target.user.as_deref().unwrap_or(""),
            &target.port.map(|p| p.to_string()).unwrap_or_default(),
            &opts
                .config_file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_default(),
            if opts.strict_host_keys {
                "strict"
            } else {
                "accept-new"
            },
        ]);
        let dir = control::persist_dir(&root, &key).map_err(|e| fail(e.to_string()))?;
        for (folder, socket, log) in control::masters(&dir) {
            // A live master accepts connections on its socket; a dead one left a stale file.
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                let session = Session::resume_mux(socket.into(), Some(log.into()));
                return Ok(Self::new(target, session, true));
            }
            let _ = std::fs::remove_dir_all(folder);
        }
        b.control_directory(&dir)
            .control_persist(ControlPersist::IdleFor(persist));
        let folder = b
            .launch_master(&target.destination)
            .await
            .map_err(|e| fail(ssh_reason(&error_chain(&e))))?
            .keep();
        let session = Session::resume_mux(
            folder.join("master").into(),
            Some(folder.join("log").into()),
        );
        Ok(Self::new(target, session, true))
    }

    fn new(target: &Target, session: Session, persistent: bool) -> Self {
        HostSession {
            target: target.clone(),
            session,
            commands: Default::default(),
            persistent,
        }
    }

    /// Remote commands run so far on this connection.
    pub fn commands_run(&self) -> usize {
        self.commands.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A `sh -c SCRIPT` command on the host, counted.
    fn shell(&self, script: &str) -> openssh::OwningCommand<&Session> {
        self.commands
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut cmd = self.session.command("sh");
        cmd.arg("-c").arg(script);
        cmd
    }

    /// Runs a script; its stdout, or an error with its stderr.
    pub async fn run(&self, script: &str, what: &'static str) -> Result<Vec<u8>, SessionError> {
        let out = self
            .shell(script)
            .output()
            .await
            .map_err(|e| SessionError::Command {
                what,
                reason: error_chain(&e),
            })?;
        if !out.status.success() {
            return Err(SessionError::Command {
                what,
                reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(out.stdout)
    }

    /// Runs `script` on the host: `input` (if any) goes to its stdin, each chunk of its stdout
    /// to `out` as it comes. Its exit status (-1 when killed by a signal) and the end of its
    /// stderr.
    pub async fn stream(
        &self,
        script: &str,
        input: Option<&mut (dyn std::io::Read + Send)>,
        out: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
    ) -> Result<(i64, String), SessionError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let what = "running a command on the host";
        let fail = |reason: String| SessionError::Command { what, reason };
        let mut child = self
            .shell(script)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await
            .map_err(|e| fail(error_chain(&e)))?;
        let mut stdin = child.stdin().take();
        let mut stdout = child
            .stdout()
            .take()
            .ok_or_else(|| fail("no stdout".into()))?;
        let mut stderr_pipe = child
            .stderr()
            .take()
            .ok_or_else(|| fail("no stderr".into()))?;
        // Input, output and errors at once: a command that prints while it reads must not
        // block.
        let feed = async {
            if let (Some(input), Some(pipe)) = (input, stdin.as_mut()) {
                crate::util::pipe::feed(input, pipe).await?;
                pipe.shutdown().await?;
            }
            drop(stdin.take());
            Ok::<(), std::io::Error>(())
        };
        let drain = async {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = stdout.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                out(&buf[..n])?;
            }
            Ok::<(), std::io::Error>(())
        };
        let errors = async {
            let mut tail = crate::util::pipe::Tail::default();
            let mut buf = vec![0u8; 8 * 1024];
            loop {
                let n = stderr_pipe.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, std::io::Error>(tail);
                }
                tail.push(&buf[..n]);
            }
        };
        let (fed, drained, errors) = tokio::join!(feed, drain, errors);
        drained.map_err(|e| fail(e.to_string()))?;
        let errors = errors.map_err(|e| fail(e.to_string()))?;
        let status = child.wait().await.map_err(|e| fail(error_chain(&e)))?;
        // A command that stopped reading early fails its feed: its status says why.
        if let Err(e) = fed
            && status.success()
        {
            return Err(fail(e.to_string()));
        }
        Ok((status.code().map_or(-1, i64::from), errors.text()))
    }

    /// Forwards a unix socket of the host (the Docker engine's) to a private local socket over
    /// this connection; returns the local path. [`Forward::close`] ends it.
    pub async fn forward_unix(&self, remote: &str) -> Result<Forward<'_>, SessionError> {
        let to = openssh::Socket::UnixSocket {
            path: std::path::Path::new(remote).into(),
        };
        let local = self
            .forward_local(to, "forwarding the engine's socket")
            .await?;
        Ok(Forward {
            session: self,
            local,
            remote: remote.to_string(),
        })
    }

    /// Forwards a new local socket of nxinfra's control folder to `to` (as the host reaches
    /// it); its path. The first of a run removes what killed runs left.
    async fn forward_local(
        &self,
        to: openssh::Socket<'_>,
        what: &'static str,
    ) -> Result<std::path::PathBuf, SessionError> {
        let fail = |reason: String| SessionError::Command { what, reason };
        let root = control::root().map_err(|e| fail(e.to_string()))?;
        let n = next_forward();
        if n == 0 {
            // What killed runs left (they could not remove their own).
            control::remove_stale_sockets(&root);
        }
        let local = control::engine_socket(&root, n);
        let _ = std::fs::remove_file(&local);
        self.session
            .request_port_forward(
                openssh::ForwardType::Local,
                openssh::Socket::UnixSocket {
                    path: local.as_path().into(),
                },
                to,
            )
            .await
            .map_err(|e| fail(error_chain(&e)))?;
        Ok(local)
    }

    /// Ends a forwarding of [`HostSession::forward_local`] and removes its local socket.
    async fn close_local(&self, local: &std::path::Path, to: openssh::Socket<'_>) {
        let _ = self
            .session
            .close_port_forward(
                openssh::ForwardType::Local,
                openssh::Socket::UnixSocket { path: local.into() },
                to,
            )
            .await;
        let _ = std::fs::remove_file(local);
    }

    /// Ends the connection, unless it is kept for later runs (`--ssh-persist`).
    pub async fn close(self) {
        if self.persistent {
            drop(self.session.detach());
        } else {
            let _ = self.session.close().await;
        }
    }
}

impl crate::host::Host for HostSession {
    type Lock<'a> = LockGuard<'a>;

    fn target(&self) -> &Target {
        &self.target
    }

    async fn break_lock(&self) -> Result<Option<String>, SessionError> {
        let out = self
            .run(
                &remote::force_unlock(&self.target.base_dir),
                "breaking the lock",
            )
            .await?;
        Ok(Some(String::from_utf8_lossy(&out).trim().to_string()).filter(|s| !s.is_empty()))
    }

    /// No state folder is made on a host that has none.
    async fn read_files(&self) -> Result<HostFiles, SessionError> {
        let out = self
            .run(
                &remote::read_manifest(&self.target.base_dir),
                "reading the manifest",
            )
            .await?;
        Ok(remote::host_files(&String::from_utf8_lossy(&out))?)
    }

    /// The first (and, for a no-op, only) remote
    /// command. The lock is held until the returned guard is released or dropped.
    async fn lock_and_read(
        &self,
        holder: &str,
        timeout: Duration,
    ) -> Result<(HostFiles, LockGuard<'_>), SessionError> {
        let script = remote::lock_and_read(&self.target.base_dir, holder, timeout.as_secs());
        let fail = |reason: String| SessionError::Command {
            what: "locking and reading the manifest",
            reason,
        };
        let mut child = self
            .shell(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await
            .map_err(|e| fail(error_chain(&e)))?;
        let stdout = child
            .stdout()
            .take()
            .ok_or_else(|| fail("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let mut text = String::new();
        let mut complete = false;
        while let Some(line) = lines.next_line().await.map_err(|e| fail(e.to_string()))? {
            if line == remote::END_MARKER {
                complete = true;
                break;
            }
            text.push_str(&line);
            text.push('\n');
        }
        if !complete {
            let out = child
                .wait_with_output()
                .await
                .map_err(|e| fail(error_chain(&e)))?;
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if out.status.code() == Some(remote::LOCKED_EXIT) {
                return Err(SessionError::Locked(stderr));
            }
            return Err(fail(format!("{} ({})", stderr, out.status)));
        }
        let manifest = remote::host_files(&text)?;
        let stderr = child.stderr().take().map(|mut pipe| {
            tokio::spawn(async move {
                let mut text = Vec::new();
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut text).await;
                text
            })
        });
        Ok((
            manifest,
            LockGuard {
                child: Some(child),
                stdout: Some(lines),
                stderr,
                base_dir: self.target.base_dir.clone(),
            },
        ))
    }

    async fn http_get(&self, url: &str) -> Result<(u16, Vec<u8>), String> {
        self.get(url).await
    }

    async fn tcp_connect(&self, address: &str) -> Result<(), String> {
        self.connect_tcp(address).await
    }

    async fn run_check_command(&self, command: &[String]) -> Result<(i64, String), String> {
        self.check_command(command).await
    }

    async fn facts(&self, path: Option<&str>) -> Result<crate::plan::status::HostFacts, String> {
        self.facts_of(path).await.map_err(|e| e.to_string())
    }

    /// The host's current content of `paths` (missing files are absent from the result).
    async fn fetch(
        &self,
        paths: &[String],
        system: &[String],
        what: &'static str,
    ) -> Result<BTreeMap<String, Vec<u8>>, SessionError> {
        if paths.is_empty() && system.is_empty() {
            return Ok(BTreeMap::new());
        }
        let out = self
            .run(&remote::fetch(&self.target.base_dir, paths, system), what)
            .await?;
        remote::read_tar(&out).map_err(|source| SessionError::Read { what, source })
    }
}

/// The number of the next local socket forwarded by this process (0 for the first).
fn next_forward() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A forwarded unix socket (see [`HostSession::forward_unix`]).
pub struct Forward<'s> {
    session: &'s HostSession,
    /// The local end, in nxinfra's private control folder.
    pub local: std::path::PathBuf,
    remote: String,
}

impl Forward<'_> {
    /// Ends the forwarding and removes the local socket.
    pub async fn close(self) {
        self.session.close_forward(&self.local, &self.remote).await;
    }

    /// The forwarding's two ends, kept open without borrowing the session (an owned handle
    /// of a host's engine, [`crate::host::Reached`]); ended by [`HostSession::close_forward`].
    pub fn into_parts(self) -> (std::path::PathBuf, String) {
        (self.local, self.remote)
    }
}

impl HostSession {
    /// Forwards a new local socket to `host:port` as the host reaches it; its local path.
    pub async fn forward_tcp(
        &self,
        host: &str,
        port: u16,
    ) -> Result<std::path::PathBuf, SessionError> {
        let to = openssh::Socket::TcpSocket {
            host: host.into(),
            port,
        };
        self.forward_local(to, "forwarding a connection through the host")
            .await
    }

    /// Ends a [`HostSession::forward_tcp`] and removes its local socket.
    pub async fn close_tcp_forward(&self, local: &std::path::Path, host: &str, port: u16) {
        let to = openssh::Socket::TcpSocket {
            host: host.into(),
            port,
        };
        self.close_local(local, to).await;
    }

    /// Runs `script`: its exit status (-1 when killed by a signal) and its output, stdout
    /// then stderr, trimmed.
    pub async fn command_output(&self, script: &str) -> Result<(i64, String), SessionError> {
        let out = self
            .shell(script)
            .output()
            .await
            .map_err(|e| SessionError::Command {
                what: "running a check",
                reason: error_chain(&e),
            })?;
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok((
            out.status.code().map_or(-1, i64::from),
            text.trim().to_string(),
        ))
    }

    /// Ends the forwarding of `remote` at `local` and removes the local socket.
    pub async fn close_forward(&self, local: &std::path::Path, remote: &str) {
        let to = openssh::Socket::UnixSocket {
            path: std::path::Path::new(remote).into(),
        };
        self.close_local(local, to).await;
    }
}

/// Holds a host's lock (the remote `flock` lives as long as this command's stdin is open).
pub struct LockGuard<'s> {
    child: Option<openssh::Child<&'s Session>>,
    stdout: Option<tokio::io::Lines<BufReader<openssh::ChildStdout>>>,
    /// The command's stderr, read as it comes: a host that complains about every file (a full
    /// disk) must not block on a full pipe while nxinfra is still writing.
    stderr: Option<tokio::task::JoinHandle<Vec<u8>>>,
    /// The host's base dir, where the uploads are applied.
    base_dir: String,
}

impl crate::host::HostLock for LockGuard<'_> {
    /// Waits for the remote command to end.
    async fn release(self) -> Result<(), SessionError> {
        self.finish("releasing the lock", Ok(())).await
    }

    /// In one tar stream ([`remote::upload_tar`]) to the waiting command, which unpacks it
    /// and applies it under the lock.
    async fn place(
        &mut self,
        upload: &crate::host::Upload<'_>,
        phase: &(dyn Fn(&str) + Sync),
    ) -> Result<(), SessionError> {
        let tar = match remote::upload_tar(
            &self.base_dir,
            upload.files,
            upload.system,
            upload.plan,
            upload.manifest,
        ) {
            Ok(tar) => tar,
            Err(e) => {
                let guard = self.take();
                let _ = guard.finish("releasing the lock", Ok(())).await;
                return Err(e.into());
            }
        };
        phase(&format!(
            "uploading {} ({} KiB), applying",
            upload.plan.summary(),
            tar.len().div_ceil(1024)
        ));
        self.apply_and_hold(&tar).await
    }

    async fn record(
        &mut self,
        write: &crate::model::journal::JournalWrite,
    ) -> Result<(), SessionError> {
        let mut sent = Ok(());
        if let Some(record) = &write.record {
            let line = record.to_line();
            sent = self
                .send(
                    &remote::journal_line(line.len(), write.keep),
                    line.as_bytes(),
                )
                .await;
        }
        if let (Ok(()), Some(pins)) = (&sent, &write.pins) {
            let text = pins.to_text();
            sent = self
                .send(&remote::pins_line(text.len()), text.as_bytes())
                .await;
        }
        match sent {
            Ok(()) => Ok(()),
            Err(e) => {
                self.take()
                    .finish("writing the deploy journal", Err(e))
                    .await
            }
        }
    }

    async fn write_manifest_and_release(mut self, manifest: &Manifest) -> Result<(), SessionError> {
        let text = manifest.to_text();
        let written = self
            .send(&remote::manifest_line(text.len()), text.as_bytes())
            .await;
        self.finish("writing the manifest", written).await
    }
}

impl<'s> LockGuard<'s> {
    /// The guard's command, moved out: this one holds nothing afterwards.
    fn take(&mut self) -> LockGuard<'s> {
        LockGuard {
            child: self.child.take(),
            stdout: self.stdout.take(),
            stderr: self.stderr.take(),
            base_dir: std::mem::take(&mut self.base_dir),
        }
    }

    /// Sends `tar` (from [`remote::upload_tar`]) to the waiting command, which unpacks it and
    /// applies it; returns once the files are in place, the lock kept.
    async fn apply_and_hold(&mut self, tar: &[u8]) -> Result<(), SessionError> {
        let what = "uploading and applying the changes";
        let fail = |reason: String| SessionError::Command { what, reason };
        self.send(&remote::apply_line(tar.len()), tar)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if let Some(lines) = &mut self.stdout {
            while let Ok(Some(line)) = lines.next_line().await {
                if line == remote::APPLIED_MARKER {
                    return Ok(());
                }
            }
        }
        // The command ended without applying: its status and stderr say why.
        self.take().finish(what, Ok(())).await?;
        Err(fail("the host did not confirm the changes".into()))
    }

    async fn send(&mut self, header: &str, data: &[u8]) -> std::io::Result<()> {
        let Some(child) = &mut self.child else {
            return Ok(());
        };
        let Some(stdin) = child.stdin() else {
            return Err(std::io::Error::other("no stdin"));
        };
        stdin.write_all(header.as_bytes()).await?;
        stdin.write_all(data).await?;
        stdin.flush().await
    }

    async fn finish(
        mut self,
        what: &'static str,
        written: std::io::Result<()>,
    ) -> Result<(), SessionError> {
        let fail = |reason: String| SessionError::Command { what, reason };
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        drop(child.stdin().take());
        drop(self.stdout.take());
        let status = child.wait().await.map_err(|e| fail(error_chain(&e)))?;
        let errors = match self.stderr.take() {
            Some(task) => task.await.unwrap_or_default(),
            None => Vec::new(),
        };
        let errors = String::from_utf8_lossy(&errors).trim().to_string();
        if !status.success() {
            return Err(fail(if errors.is_empty() {
                format!("the remote command ended with {status}")
            } else {
                last_lines(&errors, 20)
            }));
        }
        written.map_err(|e| fail(e.to_string()))
    }
}

/// The last `n` lines of a long error output, saying how many were left out.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= n {
        return text.to_string();
    }
    format!(
        "({} more lines)\n{}",
        lines.len() - n,
        lines[lines.len() - n..].join("\n")
    )
}
/// What ssh said when it could not connect, in one or two lines: a changed host key, an
/// unknown one under `--strict-host-keys`, a refused login, named with what to do; anything
/// else as ssh said it, its banner lines (`@@@…`) left out.
pub fn ssh_reason(said: &str) -> String {
    let lines: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('@'))
        .collect();
    let find = |needle: &str| lines.iter().find(|l| l.contains(needle)).copied();
    if said.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        let host = find("Host key for ")
            .and_then(|l| l.strip_prefix("Host key for "))
            .and_then(|l| l.split(" has changed").next())
            .unwrap_or("the host");
        let known = find("Offending ")
            .and_then(|l| l.split(" key in ").nth(1))
            .map(|f| format!(" (the key known is at {f})"))
            .unwrap_or_default();
        let fix = find("ssh-keygen ")
            .map(|c| format!("; if the new key is right, remove the old one: {c}"))
            .unwrap_or_default();
        return format!(
            "the host key of {host} has changed{known}: a man-in-the-middle, or a reinstalled \
             host; nxinfra refuses it{fix}"
        );
    }
    if let Some(l) = find("host key is known for") {
        let host = l
            .split("host key is known for ")
            .nth(1)
            .and_then(|r| r.split(" and ").next())
            .unwrap_or("the host");
        return format!(
            "no host key of {host} is known, and --strict-host-keys refuses unknown ones: add \
             it to known_hosts (after checking it), or run once without --strict-host-keys"
        );
    }
    if let Some(l) = find("Permission denied") {
        return format!(
            "the host refused the login ({l}): check ansible_user and the key ssh offers \
             (~/.ssh/config, ssh-agent)"
        );
    }
    let mut out: Vec<&str> = Vec::new();
    for l in lines {
        if !out.contains(&l) {
            out.push(l);
        }
    }
    out.join(" / ")
}

/// An error with its causes, on one line (ssh's own message is usually in a source).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    if out.contains("remote process has terminated") {
        // What openssh says when the channel closes without an exit status.
        out = format!("the connection to the host was lost, or the command killed ({out})");
    }
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGED: &str = "failed to connect to the remote host: @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Someone could be eavesdropping on you right now (man-in-the-middle attack)!
It is also possible that a host key has just been changed.
The fingerprint for the ED25519 key sent by the remote host is
SHA256:FbJXkux/t+DJ10iC52KkIIDf7X+XJ6hsRUIsQOnyB40.
Please contact your system administrator.
Add correct host key in /home/a/.ssh/known_hosts to get rid of this message.
Offending ED25519 key in /home/a/.ssh/known_hosts:4
  remove with:
  ssh-keygen -f \"/home/a/.ssh/known_hosts\" -R \"10.200.0.14\"
Host key for 10.200.0.14 has changed and you have requested strict checking.
Host key verification failed.
";

    #[test]
    fn what_ssh_says_is_said_in_one_line_with_what_to_do() {
        assert_eq!(
            ssh_reason(CHANGED),
            "the host key of 10.200.0.14 has changed (the key known is at \
             /home/a/.ssh/known_hosts:4): a man-in-the-middle, or a reinstalled host; nxinfra \
             refuses it; if the new key is right, remove the old one: ssh-keygen -f \
             \"/home/a/.ssh/known_hosts\" -R \"10.200.0.14\""
        );
        let unknown = "failed to connect to the remote host: No ED25519 host key is known for \
                       10.200.0.14 and you have requested strict checking.\nHost key \
                       verification failed.\n";
        assert!(
            ssh_reason(unknown).starts_with(
                "no host key of 10.200.0.14 is known, and --strict-host-keys refuses unknown ones"
            ),
            "{}",
            ssh_reason(unknown)
        );
        let refused = "failed to connect to the remote host: nxtb@10.200.0.14: Permission \
                       denied (publickey).\n";
        assert_eq!(
            ssh_reason(refused),
            "the host refused the login (failed to connect to the remote host: \
             nxtb@10.200.0.14: Permission denied (publickey).): check ansible_user and the key \
             ssh offers (~/.ssh/config, ssh-agent)"
        );
        // Anything else: as ssh said it, on one line, each line once.
        assert_eq!(
            ssh_reason(
                "ssh: connect to host x port 22: Connection refused\nssh: connect to host x port 22: Connection refused\n"
            ),
            "ssh: connect to host x port 22: Connection refused"
        );
        assert!(!ssh_reason(CHANGED).contains('\n'));
    }
}

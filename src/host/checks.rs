//! Post-deploy checks, run: `x-nxinfra.checks` of a service (its health gate in apply, and
//! `nxinfra status --checks`) and a host's `nxinfra_checks` (status). What an answer means is
//! [`crate::plan::checks`]'s (pure); here each attempt is made, on the host or in the
//! container, within its timeout, and retried.
//!
//! From the host's point of view (`from: host`, the default), nxinfra itself connects: a
//! local socket forwarded through the host's SSH connection to `host:port` as the host
//! resolves and reaches it (the same mechanism as the engine's socket), then HTTP/1.1 with
//! hyper. Nothing is needed on the host. From the container's (`from: container`), the
//! probe is a command run in it: `wget -S` for http, `nc` for tcp (busybox and most base
//! images have both).

use std::time::Duration;

use http_body_util::BodyExt;

use crate::host::Host;
use crate::host::engine::Engine;
use crate::host::session::{HostSession, SessionError, error_chain};
use crate::model::compose::{CheckFrom, PostCheck, Probe};
use crate::plan::checks::{self, Attempt, CheckResult};
use crate::plan::status::HostFacts;
use crate::util::redact::Redactor;

/// How much of an HTTP body is read (a body substring is looked for in it).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Runs `check` of the service whose container is `container` until it passes or its
/// attempts run out; its output redacted. `start_delay` is waited first.
pub async fn run_service_check(
    host: &impl Host,
    engine: &impl Engine,
    container: &str,
    check: &PostCheck,
    redactor: &Redactor,
) -> CheckResult {
    run(check, redactor, async || {
        attempt(host, Some((engine, container)), check).await
    })
    .await
}

/// Runs a host's check (`nxinfra_checks`: an `exec` on the host, `disk_max_percent`, or an
/// http/tcp probe from the host).
pub async fn run_host_check(
    host: &impl Host,
    check: &PostCheck,
    redactor: &Redactor,
) -> CheckResult {
    run(check, redactor, async || {
        attempt::<_, crate::host::engine::DockerEngine>(host, None, check).await
    })
    .await
}

async fn run(
    check: &PostCheck,
    redactor: &Redactor,
    mut once: impl AsyncFnMut() -> Attempt,
) -> CheckResult {
    if !check.start_delay.is_zero() {
        tokio::time::sleep(check.start_delay).await;
    }
    let mut attempts = 0;
    loop {
        attempts += 1;
        let attempt = match tokio::time::timeout(check.timeout, once()).await {
            Ok(a) => a,
            Err(_) => Attempt::fail(format!(
                "no answer within {}",
                humantime::format_duration(check.timeout)
            )),
        };
        if attempt.passed || attempts > check.retries {
            return CheckResult::of(check, attempt, attempts, redactor);
        }
        tokio::time::sleep(check.interval).await;
    }
}

/// One attempt of `check`; `in_container` for a service's check.
async fn attempt<H: Host, E: Engine>(
    host: &H,
    in_container: Option<(&E, &str)>,
    check: &PostCheck,
) -> Attempt {
    match (&check.probe, in_container) {
        (Probe::Exec { command }, Some((engine, container))) => {
            match engine.exec_output(container, command.clone()).await {
                Ok((code, output)) => checks::judge_exec(code, &output),
                Err(e) => Attempt::fail(e.to_string()),
            }
        }
        (Probe::Exec { command }, None) => match host.run_check_command(command).await {
            Ok((code, output)) => checks::judge_exec(code, &output),
            Err(e) => Attempt::fail(e),
        },
        (
            Probe::Http {
                url,
                status,
                body,
                from: CheckFrom::Container,
            },
            Some((engine, container)),
        ) => {
            // -S prints the headers (on stderr; -q would silence them). No -T: the check's
            // timeout bounds the attempt (and busybox 1.35's static wget crashes on -T).
            let cmd = vec![
                "wget".to_string(),
                "-S".into(),
                "-O".into(),
                "-".into(),
                url.clone(),
            ];
            match engine.exec_output(container, cmd).await {
                Ok((code, output)) => checks::judge_wget(code, &output, *status, body.as_deref()),
                Err(e) => Attempt::fail(e.to_string()),
            }
        }
        (
            Probe::Http {
                url, status, body, ..
            },
            _,
        ) => match host.http_get(url).await {
            Ok((got, data)) => checks::judge_http(got, &data, *status, body.as_deref()),
            Err(e) => Attempt::fail(e),
        },
        (
            Probe::Tcp {
                address,
                from: CheckFrom::Container,
            },
            Some((engine, container)),
        ) => {
            let Some((h, p)) = address.rsplit_once(':') else {
                return Attempt::fail(format!("{address}: not host:port"));
            };
            let wait = check.timeout.as_secs().max(1).to_string();
            let nc = |z: bool| {
                let mut cmd = vec!["nc".to_string()];
                if z {
                    cmd.push("-z".into());
                }
                cmd.extend(["-w".to_string(), wait.clone(), h.into(), p.into()]);
                cmd
            };
            let mut answer = engine.exec_output(container, nc(true)).await;
            if let Ok((code, output)) = &answer
                && checks::nc_lacks_z(*code, output)
            {
                // busybox's nc has no -z; with the exec's stdin empty, it connects and exits.
                answer = engine.exec_output(container, nc(false)).await;
            }
            match answer {
                Ok((code, output)) => checks::judge_exec(code, &output),
                Err(e) => Attempt::fail(e.to_string()),
            }
        }
        (Probe::Tcp { address, .. }, _) => match host.tcp_connect(address).await {
            Ok(()) => Attempt::pass(format!("{address} accepted the connection")),
            Err(e) => Attempt::fail(e),
        },
        (Probe::DiskMaxPercent { percent, path }, _) => match host.facts(path.as_deref()).await {
            Ok(facts) => checks::judge_disk(&facts, *percent),
            Err(e) => Attempt::fail(e),
        },
    }
}

impl HostSession {
    /// Forwards a local socket to `address` (`host:port`) as the host reaches it, for the
    /// time of `work` on a connection to it.
    async fn through_forward<T>(
        &self,
        address: &str,
        work: impl AsyncFnOnce(tokio::net::UnixStream) -> Result<T, String>,
    ) -> Result<T, String> {
        let (host, port) = split_address(address)?;
        let local = self
            .forward_tcp(host, port)
            .await
            .map_err(|e| e.to_string())?;
        // An attempt cut by its timeout drops this future here: the local socket goes with it
        // (the forwarding itself then ends with the SSH connection).
        let socket = SocketFile(local);
        let result = match tokio::net::UnixStream::connect(&socket.0).await {
            Ok(stream) => work(stream).await,
            Err(e) => Err(format!("cannot reach {address} through the host: {e}")),
        };
        self.close_tcp_forward(&socket.0, host, port).await;
        result
    }

    /// An HTTP GET of `url` from the host: the status and the start of the body.
    pub async fn get(&self, url: &str) -> Result<(u16, Vec<u8>), String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url}: no host"))?
            .clone();
        let address = match authority.port_u16() {
            Some(_) => authority.to_string(),
            None => format!("{}:80", authority.host()),
        };
        self.through_forward(&address, async |stream| {
            let io = hyper_util::rt::TokioIo::new(stream);
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake::<_, http_body_util::Empty<bytes::Bytes>>(io)
                    .await
                    .map_err(|e| refused(&address, &e))?;
            let driver = tokio::spawn(conn);
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            let request = hyper::Request::get(path)
                .header(hyper::header::HOST, authority.as_str())
                .header(hyper::header::USER_AGENT, "nxinfra-check")
                .body(http_body_util::Empty::new())
                .map_err(|e| e.to_string())?;
            let answer = sender
                .send_request(request)
                .await
                .map_err(|e| refused(&address, &e));
            let result = match answer {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let limited = http_body_util::Limited::new(response.into_body(), BODY_LIMIT);
                    let body = match limited.collect().await {
                        Ok(b) => b.to_bytes().to_vec(),
                        // A body longer than the limit: its start is enough to look in.
                        Err(_) => Vec::new(),
                    };
                    Ok((status, body))
                }
                Err(e) => Err(e),
            };
            driver.abort();
            result
        })
        .await
    }

    /// A TCP connection to `address` from the host. The forwarding's far end is opened by
    /// the host's sshd when nxinfra connects: refused there, the local connection is closed
    /// at once; accepted, it stays open (or the service speaks first).
    pub async fn connect_tcp(&self, address: &str) -> Result<(), String> {
        self.through_forward(address, async |mut stream| {
            use tokio::io::AsyncReadExt;
            let mut byte = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut byte)).await {
                // Silent, still open: the far end accepted.
                Err(_) => Ok(()),
                Ok(Ok(n)) if n > 0 => Ok(()),
                Ok(_) => Err(format!(
                    "{address} refused the connection (or closed it at once)"
                )),
            }
        })
        .await
    }

    /// Runs `command` on the host (its words quoted): exit status and output (stdout, then
    /// stderr, trimmed).
    pub async fn check_command(&self, command: &[String]) -> Result<(i64, String), String> {
        let line: Vec<String> = command
            .iter()
            .map(|w| crate::util::shell::quote(w))
            .collect();
        let out = self
            .command_output(&line.join(" "))
            .await
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// The facts with the filesystem of `path` (default: the base dir).
    pub async fn facts_of(&self, path: Option<&str>) -> Result<HostFacts, SessionError> {
        let out = self
            .run(
                &crate::host::remote::facts(path.unwrap_or(&self.target.base_dir)),
                "reading the host's facts",
            )
            .await?;
        Ok(HostFacts::parse(&String::from_utf8_lossy(&out)))
    }
}

/// A forwarded local socket, removed when dropped.
struct SocketFile(std::path::PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn refused(address: &str, e: &hyper::Error) -> String {
    format!(
        "{address} did not answer HTTP (refused, or closed): {}",
        error_chain(e)
    )
}

/// `host:port` (`[v6]:port` too).
fn split_address(address: &str) -> Result<(&str, u16), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("{address}: expected host:port"))?;
    let port = port
        .parse()
        .map_err(|_| format!("{address}: invalid port"))?;
    Ok((host.trim_start_matches('[').trim_end_matches(']'), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_with_v6_brackets() {
        assert_eq!(split_address("127.0.0.1:80"), Ok(("127.0.0.1", 80)));
        assert_eq!(split_address("[::1]:8123"), Ok(("::1", 8123)));
        assert!(split_address("nohost").is_err());
        assert!(split_address("h:99999").is_err());
    }
}

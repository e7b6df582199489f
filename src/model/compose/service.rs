//! One service, raw → normalised, with the checks that concern it alone.

use std::collections::BTreeMap;
use std::time::Duration;

use super::build::{image_reference, valid_container_name, valid_hostname, valid_key};
use super::model::{RawCheck, RawExec, RawHealthcheck, RawService};
use super::normal::{
    Attachment, Check, ContainerSpec, DEFAULT_INTERVAL, DEFAULT_RETRIES, DEFAULT_STOP_GRACE_PERIOD,
    DEFAULT_TIMEOUT, Environment, Healthcheck, Job, Logging, MAX_DURATION, MAX_JOB_TIMEOUT,
    MAX_RETRIES, PostCheck, Probe, Service,
};
use super::options::NetworkMode;
use super::ports::PortBinding;
use super::report::Report;

/// Normalises one service, reporting what is wrong in it.
pub fn service(name: &str, raw: RawService, report: &mut Report) -> Service {
    let mut problem = |key: &[&str], message: String| report.service(name, key, message);
    if !valid_key(name) {
        problem(
            &[],
            format!("invalid service name {name:?}: use [a-zA-Z0-9._-]"),
        );
    }
    let container_name = raw.container_name.unwrap_or_else(|| name.to_string());
    if !valid_container_name(&container_name) {
        problem(
            &["container_name"],
            format!(
                "invalid container name {container_name:?}: Docker wants \
                 [a-zA-Z0-9][a-zA-Z0-9_.-]+ (set container_name when the service name does \
                 not fit)"
            ),
        );
    }
    let image = image_reference(&raw.image).unwrap_or_else(|why| {
        problem(&["image"], why);
        raw.image.clone()
    });
    if let Some(hostname) = &raw.hostname
        && !valid_hostname(hostname)
    {
        problem(&["hostname"], format!("invalid hostname {hostname:?}"));
    }
    let user = raw.user.map(|u| u.0);
    if user.as_deref() == Some("") {
        problem(&["user"], "empty user".into());
    }

    let networks: BTreeMap<String, Attachment> = raw
        .networks
        .unwrap_or_default()
        .0
        .into_iter()
        .map(|(net, a)| {
            let mut aliases = a.aliases.unwrap_or_default();
            aliases.sort();
            aliases.dedup();
            let attachment = Attachment {
                ipv4_address: a.ipv4_address.map(|ip| ip.0),
                ipv6_address: a.ipv6_address.map(|ip| ip.0),
                aliases,
            };
            (net, attachment)
        })
        .collect();
    let mut ports: Vec<PortBinding> = raw
        .ports
        .unwrap_or_default()
        .iter()
        .flat_map(|p| p.bindings())
        .collect();
    ports.sort();
    let stack_keys = [
        ("hostname", raw.hostname.is_some()),
        ("dns", raw.dns.is_some()),
    ];
    check_network_mode(
        &raw.network_mode,
        &networks,
        &ports,
        stack_keys,
        &mut problem,
    );
    for pair in ports.windows(2) {
        if pair[0] == pair[1] {
            problem(
                &["ports"],
                format!(
                    "container port {}/{} is published twice the same way",
                    pair[0].container_port, pair[0].protocol
                ),
            );
        }
    }
    ports.dedup();

    let mut mounts = raw.volumes.unwrap_or_default();
    mounts.sort();
    for pair in mounts.windows(2) {
        if pair[0].target == pair[1].target {
            problem(
                &["volumes"],
                format!("two volumes are mounted on {}", pair[0].target),
            );
        }
    }
    let mut devices = raw.devices.unwrap_or_default();
    devices.sort_by(|a, b| (&a.container, &a.host).cmp(&(&b.container, &b.host)));
    for pair in devices.windows(2) {
        if pair[0].container == pair[1].container {
            problem(
                &["devices"],
                format!("two devices are mapped to {}", pair[0].container),
            );
        }
    }

    let caps = |list: Option<Vec<super::options::Capability>>| {
        let mut out: Vec<String> = list.unwrap_or_default().into_iter().map(|c| c.0).collect();
        out.sort();
        out.dedup();
        out
    };
    let cap_add = caps(raw.cap_add);
    let cap_drop = caps(raw.cap_drop);
    for cap in cap_add.iter().filter(|c| cap_drop.contains(c)) {
        problem(
            &["cap_drop"],
            format!("capability {cap} is both added and dropped"),
        );
    }

    let labels: BTreeMap<String, String> = raw
        .labels
        .map(|l| l.0.into_iter().collect())
        .unwrap_or_default();
    for label in labels.keys().filter(|l| l.starts_with("nxinfra.")) {
        problem(
            &["labels", label],
            format!("label {label}: the nxinfra. prefix is reserved for nxinfra's own labels"),
        );
    }

    let logging = raw.logging.map(|l| Logging {
        driver: l.driver,
        options: l
            .options
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
    });
    if let Some(Logging {
        driver: Some(driver),
        ..
    }) = &logging
        && (driver.is_empty() || driver.chars().any(char::is_whitespace))
    {
        problem(
            &["logging", "driver"],
            format!("invalid logging driver {driver:?}"),
        );
    }

    let healthcheck = raw
        .healthcheck
        .and_then(|h| healthcheck(h).map_err(|(key, why)| problem(&key, why)).ok());

    let (on_config_change, job, timeout, raw_checks) = match raw.x_nxinfra {
        Some(x) => (
            x.on_config_change.unwrap_or_default(),
            x.job,
            x.timeout,
            x.checks.unwrap_or_default(),
        ),
        None => Default::default(),
    };
    let mut checks = Vec::new();
    for (i, raw) in raw_checks.into_iter().enumerate() {
        let at = format!("checks[{i}]");
        match post_check(raw) {
            Ok(c) => checks.push(c),
            Err((key, why)) => {
                let mut path = vec!["x-nxinfra", at.as_str()];
                path.extend(key);
                problem(&path, why);
            }
        }
    }
    let job = match (job, timeout) {
        (Some(true), Some(t)) if t.0 > MAX_JOB_TIMEOUT => {
            problem(
                &["x-nxinfra", "timeout"],
                format!("timeout must be at most {}", human(MAX_JOB_TIMEOUT)),
            );
            None
        }
        (Some(true), t) => Some(Job {
            timeout: t.map_or(Job::DEFAULT_TIMEOUT, |t| t.0),
        }),
        (_, Some(_)) => {
            problem(
                &["x-nxinfra", "timeout"],
                "timeout is for jobs (x-nxinfra.job: true)".into(),
            );
            None
        }
        _ => None,
    };

    let stop_grace_period = match raw.stop_grace_period {
        Some(d) if d.0 > MAX_DURATION => {
            problem(
                &["stop_grace_period"],
                format!("stop_grace_period must be at most {}", human(MAX_DURATION)),
            );
            DEFAULT_STOP_GRACE_PERIOD
        }
        Some(d) => d.0,
        None => DEFAULT_STOP_GRACE_PERIOD,
    };

    Service {
        name: name.to_string(),
        line: report.line_of(&["services", name]),
        spec: ContainerSpec {
            container_name,
            image,
            command: raw.command.map(|c| c.0),
            entrypoint: raw.entrypoint.map(|c| c.0),
            environment: Environment(
                raw.environment
                    .map(|e| e.0.into_iter().collect())
                    .unwrap_or_default(),
            ),
            user,
            hostname: raw.hostname,
            restart: raw.restart.unwrap_or_default(),
            network_mode: raw.network_mode,
            networks,
            ports,
            mounts,
            devices,
            cap_add,
            cap_drop,
            privileged: raw.privileged.unwrap_or(false),
            pid: raw.pid,
            ulimits: raw
                .ulimits
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.0, v))
                .collect(),
            sysctls: raw
                .sysctls
                .map(|s| s.0.into_iter().collect())
                .unwrap_or_default(),
            dns: raw.dns.map(|d| d.0).unwrap_or_default(),
            logging,
            labels,
            healthcheck,
            stop_grace_period,
        },
        depends_on: raw
            .depends_on
            .map(|d| d.0.into_iter().collect())
            .unwrap_or_default(),
        pull_policy: raw.pull_policy.unwrap_or_default(),
        on_config_change,
        job,
        checks,
    }
}

/// The longest a check may wait (its timeout, interval or start delay).
const MAX_CHECK_WAIT: Duration = Duration::from_secs(3600);
const MAX_CHECK_RETRIES: u32 = 100;

/// One of `x-nxinfra.checks`, checked: exactly one probe, its keys only, bounded waits.
pub fn post_check(raw: RawCheck) -> Result<PostCheck, (Vec<&'static str>, String)> {
    let probes = [raw.http.is_some(), raw.tcp.is_some(), raw.exec.is_some()];
    if probes.iter().filter(|p| **p).count() != 1 {
        return Err((
            vec![],
            "a check has exactly one of `http`, `tcp`, `exec`".into(),
        ));
    }
    let only_http = [
        ("status", raw.status.is_some()),
        ("body", raw.body.is_some()),
    ];
    if raw.http.is_none()
        && let Some((key, _)) = only_http.iter().find(|(_, set)| *set)
    {
        return Err((vec![key], format!("`{key}` is for an `http` check")));
    }
    if raw.exec.is_some() && raw.from.is_some() {
        return Err((
            vec!["from"],
            "`from` is for `http` and `tcp` (an `exec` runs in the container)".into(),
        ));
    }
    let from = raw.from.unwrap_or_default();
    let (probe, what) = if let Some(url) = raw.http {
        if !url.starts_with("http://") {
            return Err((
                vec!["http"],
                format!(
                    "{url:?}: only http:// URLs (nxinfra speaks plain HTTP to the service;                      check a TLS endpoint with an `exec`)"
                ),
            ));
        }
        let status = raw.status.unwrap_or(200);
        if !(100..=599).contains(&status) {
            return Err((vec!["status"], format!("{status} is not an HTTP status")));
        }
        let what = format!("http {url}");
        let probe = Probe::Http {
            url,
            status,
            body: raw.body,
            from,
        };
        (probe, what)
    } else if let Some(address) = raw.tcp {
        let port = address.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
        if !matches!(port, Some(Ok(p)) if p > 0) || address.starts_with(':') {
            return Err((
                vec!["tcp"],
                format!("{address:?}: expected host:port (e.g. 127.0.0.1:9000)"),
            ));
        }
        let what = format!("tcp {address}");
        (Probe::Tcp { address, from }, what)
    } else {
        let command = match raw.exec {
            Some(RawExec::Shell(s)) => vec!["sh".into(), "-c".into(), s],
            Some(RawExec::Words(w)) => w,
            None => Vec::new(),
        };
        if command.is_empty() || command[0].is_empty() {
            return Err((vec!["exec"], "an empty command".into()));
        }
        let what = format!("exec {}", command.join(" "));
        (Probe::Exec { command }, what)
    };
    let timing = check_timing(
        raw.timeout,
        raw.retries,
        raw.interval,
        raw.start_delay,
        PostCheck::DEFAULT_RETRIES,
    )?;
    Ok(PostCheck {
        name: raw.name.unwrap_or(what),
        probe,
        timeout: timing.timeout,
        retries: timing.retries,
        interval: timing.interval,
        start_delay: timing.start_delay,
        gate: raw.gate.unwrap_or(true),
    })
}

/// A check's timing keys, checked: `(timeout, retries, interval, start_delay)`.
pub struct Timing {
    pub timeout: Duration,
    pub retries: u32,
    pub interval: Duration,
    pub start_delay: Duration,
}

/// The timing keys of a check (a service's, or a host's), with their defaults and bounds.
pub fn check_timing(
    timeout: Option<super::duration::ComposeDuration>,
    retries: Option<u32>,
    interval: Option<super::duration::ComposeDuration>,
    start_delay: Option<super::duration::ComposeDuration>,
    default_retries: u32,
) -> Result<Timing, (Vec<&'static str>, String)> {
    let wait = |key: &'static str, d: Option<super::duration::ComposeDuration>, default| {
        let d = d.map_or(default, |d| d.0);
        if d > MAX_CHECK_WAIT {
            return Err((
                vec![key],
                format!("{key} must be at most {}", human(MAX_CHECK_WAIT)),
            ));
        }
        Ok(d)
    };
    let timeout = wait("timeout", timeout, PostCheck::DEFAULT_TIMEOUT)?;
    if timeout.is_zero() {
        return Err((vec!["timeout"], "timeout must be more than 0".into()));
    }
    let retries = retries.unwrap_or(default_retries);
    if retries > MAX_CHECK_RETRIES {
        return Err((
            vec!["retries"],
            format!("retries must be at most {MAX_CHECK_RETRIES}"),
        ));
    }
    Ok(Timing {
        timeout,
        retries,
        interval: wait("interval", interval, PostCheck::DEFAULT_INTERVAL)?,
        start_delay: wait("start_delay", start_delay, Duration::ZERO)?,
    })
}

/// `network_mode` and `networks` exclude each other; one of them says where the container
/// connects (nxinfra has no implicit `default` network: Compose's would be named after the
/// project, which nxinfra does not have).
fn check_network_mode(
    mode: &Option<NetworkMode>,
    networks: &BTreeMap<String, Attachment>,
    ports: &[PortBinding],
    stack_keys: [(&str, bool); 2],
    problem: &mut impl FnMut(&[&str], String),
) {
    let Some(mode) = mode else {
        if networks.is_empty() {
            problem(
                &[],
                "neither `networks` nor `network_mode`: say where the container connects \
                 (nxinfra has no implicit default network)"
                    .into(),
            );
        }
        return;
    };
    if !networks.is_empty() {
        problem(
            &["network_mode"],
            format!("network_mode {mode} cannot be combined with `networks`"),
        );
    }
    let no_ports = matches!(mode, NetworkMode::Host | NetworkMode::None) || !mode.owns_stack();
    if no_ports && !ports.is_empty() {
        problem(
            &["network_mode"],
            format!(
                "network_mode {mode} cannot be combined with `ports` (with host networking \
                 the container's ports are the host's already)"
            ),
        );
    }
    if !mode.owns_stack() {
        for (key, set) in stack_keys {
            if set {
                problem(
                    &["network_mode"],
                    format!("network_mode {mode} cannot be combined with `{key}`"),
                );
            }
        }
    }
}

pub(super) fn healthcheck(raw: RawHealthcheck) -> Result<Healthcheck, (Vec<&'static str>, String)> {
    let has_settings = raw.interval.is_some()
        || raw.timeout.is_some()
        || raw.retries.is_some()
        || raw.start_period.is_some();
    if raw.disable == Some(true) {
        if raw.test.as_ref().is_some_and(|t| !t.is_none()) || has_settings {
            return Err((
                vec!["healthcheck", "disable"],
                "disable: true takes no other healthcheck settings".into(),
            ));
        }
        return Ok(Healthcheck::Disabled);
    }
    let Some(test) = raw.test else {
        return Err((
            vec!["healthcheck"],
            "a healthcheck needs a `test` (nxinfra gates rollouts on it; inheriting the \
             image's test is not supported)"
                .into(),
        ));
    };
    if test.is_none() {
        if has_settings {
            return Err((
                vec!["healthcheck", "test"],
                "test: [\"NONE\"] takes no other healthcheck settings".into(),
            ));
        }
        return Ok(Healthcheck::Disabled);
    }
    let duration = |key: &'static str, d: Option<super::duration::ComposeDuration>, default| {
        let d = d.map(|d| d.0).unwrap_or(default);
        // The Docker API refuses non-zero durations under a millisecond.
        if d != Duration::ZERO && d < Duration::from_millis(1) {
            return Err((
                vec!["healthcheck", key],
                format!("{key} must be 0 or at least 1ms"),
            ));
        }
        if d > MAX_DURATION {
            return Err((
                vec!["healthcheck", key],
                format!("{key} must be at most {}", human(MAX_DURATION)),
            ));
        }
        Ok(d)
    };
    let interval = duration("interval", raw.interval, DEFAULT_INTERVAL)?;
    let timeout = duration("timeout", raw.timeout, DEFAULT_TIMEOUT)?;
    let start_period = duration("start_period", raw.start_period, Duration::ZERO)?;
    for (key, d) in [("interval", interval), ("timeout", timeout)] {
        if d == Duration::ZERO {
            return Err((
                vec!["healthcheck", key],
                format!("{key} must be at least 1ms"),
            ));
        }
    }
    let retries = raw.retries.unwrap_or(DEFAULT_RETRIES);
    if retries > MAX_RETRIES {
        return Err((
            vec!["healthcheck", "retries"],
            format!("retries must be at most {MAX_RETRIES}"),
        ));
    }
    Ok(Healthcheck::Check(Check {
        test: test.0,
        interval,
        timeout,
        retries,
        start_period,
    }))
}

/// `24h`: a bound as a Compose duration (they have no unit above hours).
fn human(d: Duration) -> String {
    format!("{}h", d.as_secs() / 3600)
}

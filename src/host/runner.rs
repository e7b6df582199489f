//! Work on many hosts at once (`--forks` at a time) on one async runtime; one host's failure
//! never stops the others. Results come back in the hosts' order, their errors redacted:
//! every host's error passes here before anything prints it (progress, summary, `--json`).
//! While hosts are worked on, a signal does not end nxinfra: each host finishes or undoes
//! its step in flight ([`crate::util::interrupt`]).

use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::{FutureExt, StreamExt, stream};

use crate::util::redact::Redactor;

/// Why a host failed, as it is reported (progress line, summary, `--json`'s `error`): the
/// error's one-line message, secrets redacted. Made only here, so that no report can show a
/// host's error unredacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{0}")]
#[serde(transparent)]
pub struct HostFailure(String);

impl HostFailure {
    /// `error`'s message, redacted.
    pub fn of(error: &impl Display, redactor: &Redactor) -> HostFailure {
        HostFailure(redactor.redact(&error.to_string()).into_owned())
    }

    pub fn message(&self) -> &str {
        &self.0
    }
}

/// Runs `work(index, item)` for every `(host, item)`, at most `forks` at once; the errors
/// redacted with `redactor`. One host's panic is caught and reported as that host's failure;
/// the others go on.
pub fn for_hosts<I, T, E, F, Fut>(
    items: Vec<(String, I)>,
    forks: usize,
    redactor: Arc<Redactor>,
    work: F,
) -> Vec<(String, Result<T, HostFailure>)>
where
    E: Display,
    F: Fn(usize, I) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let why = format!("cannot start the async runtime: {e}");
            return items
                .into_iter()
                .map(|(h, _)| (h, Err(HostFailure::of(&why, &redactor))))
                .collect();
        }
    };
    let _shield = crate::util::interrupt::Shield::new();
    let redactor = &redactor;
    let work = &work;
    // `buffered`: at most `forks` hosts in flight, the results in the hosts' order.
    let jobs = stream::iter(items.into_iter().enumerate()).map(|(i, (host, item))| async move {
        // A host not started yet when a signal came is not started at all.
        if let Err(e) = crate::util::interrupt::check() {
            return (host, Err(HostFailure::of(&e, redactor)));
        }
        let result = match AssertUnwindSafe(work(i, item)).catch_unwind().await {
            Ok(done) => done.map_err(|e| HostFailure::of(&e, redactor)),
            // The panic's message was printed by the panic hook; nothing of the host's state
            // is used after it (the future is dropped).
            Err(_) => Err(HostFailure::of(
                &"the host's task ended abnormally",
                redactor,
            )),
        };
        (host, result)
    });
    runtime.block_on(jobs.buffered(forks.max(1)).collect())
}

/// [`for_hosts`] on targets with a progress line each: `work(target, phase)` runs every host,
/// `done` says how its line ends.
pub fn for_targets<T, E, Fut>(
    targets: Vec<crate::model::target::Target>,
    forks: usize,
    redactor: Arc<Redactor>,
    progress: &Arc<crate::util::progress::Progress>,
    done: impl Fn(&Result<T, E>) -> String,
    work: impl Fn(crate::model::target::Target, Phase) -> Fut,
) -> Vec<(String, Result<T, HostFailure>)>
where
    E: Display,
    Fut: Future<Output = Result<T, E>>,
{
    let items = targets.into_iter().map(|t| (t.host.clone(), t)).collect();
    let (done, work) = (&done, &work);
    for_hosts(items, forks, redactor, |i, target| {
        let progress = progress.clone();
        let run = work(
            target,
            Phase {
                progress: Some(progress.clone()),
                index: i,
            },
        );
        async move {
            let result = run.await;
            progress.finish(i, &done(&result));
            result
        }
    })
}

/// A host's progress line, as [`for_targets`] hands it to the work: `phase.say(what)`.
#[derive(Clone)]
pub struct Phase {
    progress: Option<Arc<crate::util::progress::Progress>>,
    index: usize,
}

impl Phase {
    pub fn say(&self, what: &str) {
        if let Some(p) = &self.progress {
            p.phase(self.index, what);
        }
    }

    /// A phase that shows nothing (tests).
    pub fn quiet() -> Phase {
        Phase {
            progress: None,
            index: 0,
        }
    }
}

/// Runs `work` to completion on a runtime of its own, signals shielded as for
/// [`for_hosts`]: work that spans several hosts at once (a cluster's nodes).
pub fn block_on<T>(work: impl Future<Output = T>) -> std::io::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _shield = crate::util::interrupt::Shield::new();
    Ok(runtime.block_on(work))
}

/// Runs `run` on `items` in batches of `serial` (all in one batch when `None`), in order: a
/// rolling change. Once a batch has a failed host, the later batches are not run; each of
/// their hosts gets an error that says so.
pub fn in_batches<I, R>(
    items: Vec<(String, I)>,
    serial: Option<usize>,
    redactor: &Redactor,
    mut run: impl FnMut(Vec<(String, I)>) -> Vec<(String, Result<R, HostFailure>)>,
) -> Vec<(String, Result<R, HostFailure>)> {
    let size = serial.unwrap_or(items.len()).max(1);
    let mut out: Vec<(String, Result<R, HostFailure>)> = Vec::with_capacity(items.len());
    let mut items = items.into_iter().peekable();
    let mut failed: Vec<String> = Vec::new();
    while items.peek().is_some() {
        let batch: Vec<(String, I)> = items.by_ref().take(size).collect();
        if !failed.is_empty() {
            let why = format!(
                "not run: an earlier batch failed ({}), and --serial stops at the first \
                 failed batch",
                failed.join(", ")
            );
            let why = HostFailure::of(&why, redactor);
            out.extend(batch.into_iter().map(|(h, _)| (h, Err(why.clone()))));
            continue;
        }
        let results = run(batch);
        failed.extend(
            results
                .iter()
                .filter(|(_, r)| r.is_err())
                .map(|(h, _)| h.clone()),
        );
        out.extend(results);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_run_in_order_and_stop_after_a_failed_one() {
        let items: Vec<(String, u32)> = (1..=5).map(|i| (format!("h{i}"), i)).collect();
        let mut batches = Vec::new();
        let none = Redactor::default();
        let out = in_batches(items.clone(), Some(2), &none, |batch| {
            batches.push(batch.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>());
            batch
                .into_iter()
                .map(|(h, i)| {
                    (
                        h,
                        if i == 3 {
                            Err(HostFailure::of(&"down", &none))
                        } else {
                            Ok(i)
                        },
                    )
                })
                .collect()
        });
        assert_eq!(batches, [vec!["h1", "h2"], vec!["h3", "h4"]]);
        let hosts: Vec<&str> = out.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(hosts, ["h1", "h2", "h3", "h4", "h5"]);
        assert_eq!(out[3].1, Ok(4), "the rest of the failed batch still ran");
        assert!(
            out[4]
                .1
                .as_ref()
                .unwrap_err()
                .message()
                .starts_with("not run: an earlier batch failed (h3)")
        );
        // Without --serial: one batch, everything runs.
        let mut calls = 0;
        let all = in_batches(items, None, &none, |batch| {
            calls += 1;
            batch
                .into_iter()
                .map(|(h, i)| (h, Ok::<_, HostFailure>(i)))
                .collect()
        });
        assert_eq!((calls, all.len()), (1, 5));
        let empty: Vec<(String, u32)> = Vec::new();
        let none: Vec<(String, Result<u32, HostFailure>)> =
            in_batches(empty, Some(1), &none, |_| unreachable!());
        assert!(none.is_empty());
    }

    #[test]
    fn a_hosts_failure_is_its_message_redacted_and_serialises_as_a_string() {
        let redactor = Redactor::new([("db.password", "hunter2")]);
        let failure = HostFailure::of(&"reload failed: password=hunter2", &redactor);
        assert_eq!(
            failure.to_string(),
            "reload failed: password=<secret:db.password>"
        );
        assert_eq!(
            serde_json::to_value(&failure).unwrap(),
            serde_json::json!("reload failed: password=<secret:db.password>")
        );
    }

    #[test]
    fn hosts_run_forks_at_a_time_in_order_and_a_panic_fails_only_its_host() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let redactor = Arc::new(Redactor::new([("k", "hunter2")]));
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let items: Vec<(String, u64)> = (0..6).map(|i| (format!("h{i}"), i)).collect();
        let out = for_hosts(items, 2, redactor, |i, item| {
            let (running, most) = (&running, &most);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // Later hosts finish first: the results still come in the hosts' order.
                tokio::time::sleep(std::time::Duration::from_millis(30 - 5 * item)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                match item {
                    2 => panic!("a bug on h2"),
                    4 => Err("refused: hunter2"),
                    _ => Ok(i),
                }
            }
        });
        assert_eq!(
            most.load(Ordering::SeqCst),
            2,
            "--forks 2: two hosts at a time"
        );
        let hosts: Vec<&str> = out.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(hosts, ["h0", "h1", "h2", "h3", "h4", "h5"]);
        let failure = |i: usize| out[i].1.as_ref().unwrap_err().message().to_string();
        assert_eq!(failure(2), "the host's task ended abnormally");
        assert_eq!(failure(4), "refused: <secret:k>");
        for i in [0, 1, 3, 5] {
            assert_eq!(out[i].1, Ok(i), "h{i}");
        }
    }
}

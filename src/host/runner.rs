//! Work on many hosts at once (`--forks` at a time) on one async runtime; one host's failure
//! never stops the others. Results come back in the hosts' order, their errors redacted:
//! every host's error passes here before anything prints it (progress, summary, `--json`).
//! While hosts are worked on, a signal does not end nxinfra: each host finishes or undoes
//! its step in flight ([`crate::util::interrupt`]).

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

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
/// redacted with `redactor`.
pub fn for_hosts<I, T, E, F, Fut>(
    items: Vec<(String, I)>,
    forks: usize,
    redactor: Arc<Redactor>,
    work: F,
) -> Vec<(String, Result<T, HostFailure>)>
where
    I: Send + 'static,
    T: Send + 'static,
    E: Display + Send + 'static,
    F: Fn(usize, I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    let names: Vec<String> = items.iter().map(|(h, _)| h.clone()).collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return names
                .into_iter()
                .map(|h| {
                    let why = format!("cannot start the async runtime: {e}");
                    (h, Err(HostFailure::of(&why, &redactor)))
                })
                .collect();
        }
    };
    let work = Arc::new(work);
    let _shield = crate::util::interrupt::Shield::new();
    runtime.block_on(async {
        let permits = Arc::new(tokio::sync::Semaphore::new(forks.max(1)));
        let mut set = tokio::task::JoinSet::new();
        for (i, (_, item)) in items.into_iter().enumerate() {
            let permits = permits.clone();
            let work = work.clone();
            let redactor = redactor.clone();
            set.spawn(async move {
                let _permit = permits.acquire().await;
                // A host not started yet when a signal came is not started at all.
                if let Err(e) = crate::util::interrupt::check() {
                    return (i, Err(HostFailure::of(&e, &redactor)));
                }
                let result = work(i, item)
                    .await
                    .map_err(|e| HostFailure::of(&e, &redactor));
                (i, result)
            });
        }
        let mut results: Vec<Option<Result<T, HostFailure>>> = names.iter().map(|_| None).collect();
        while let Some(joined) = set.join_next().await {
            if let Ok((i, r)) = joined {
                results[i] = Some(r);
            }
        }
        names
            .into_iter()
            .zip(results)
            .map(|(host, r)| {
                (
                    host,
                    r.unwrap_or_else(|| {
                        Err(HostFailure::of(
                            &"the host's task ended abnormally",
                            &redactor,
                        ))
                    }),
                )
            })
            .collect()
    })
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
}

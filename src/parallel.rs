//! Work on many hosts at once (`--forks` at a time) on one async runtime; one host's failure
//! never stops the others. Results come back in the hosts' order.

use std::future::Future;
use std::sync::Arc;

/// Runs `work(index, item)` for every `(host, item)`, at most `forks` at once.
pub fn for_hosts<I, T, F, Fut>(
    items: Vec<(String, I)>,
    forks: usize,
    work: F,
) -> Vec<(String, Result<T, String>)>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(usize, I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
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
                .map(|h| (h, Err(format!("cannot start the async runtime: {e}"))))
                .collect();
        }
    };
    let work = Arc::new(work);
    runtime.block_on(async {
        let permits = Arc::new(tokio::sync::Semaphore::new(forks.max(1)));
        let mut set = tokio::task::JoinSet::new();
        for (i, (_, item)) in items.into_iter().enumerate() {
            let permits = permits.clone();
            let work = work.clone();
            set.spawn(async move {
                let _permit = permits.acquire().await;
                (i, work(i, item).await)
            });
        }
        let mut results: Vec<Option<Result<T, String>>> = names.iter().map(|_| None).collect();
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
                    r.unwrap_or_else(|| Err("the host's task ended abnormally".into())),
                )
            })
            .collect()
    })
}

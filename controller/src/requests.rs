//! Requests the leader answers: objects in its namespace that ask for work
//! (`KeyRotation`, `ResealRequest`), each handled once, retried with backoff, and given
//! up with a `Ready=False` status when it keeps failing.
//!
//! ```text
//!  watch ──pending?──▶ handle ──ok──▶ done
//!                         └─fails──▶ retry queue (2 s, 4 s, … 30 s) ──5th failure──▶ Ready=False Failed
//! ```
//!
//! A failing request never holds up the ones after it: it waits in the retry queue while
//! new requests are answered.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::time::Duration;

use futures::TryStreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::warn;

use crate::writes;

/// Attempts before a request is given up.
const ATTEMPTS: u32 = 5;

/// A request waiting for its next attempt.
struct Retry<K> {
    request: K,
    failures: u32,
    at: Instant,
}

/// Calls `handle` for every object of `api` that `pending` says still awaits an answer,
/// until the watch ends. A failed answer is retried with backoff (the watch does not
/// repeat an event that was not acted on); after [`ATTEMPTS`] failures the request gets
/// `Ready=False` with reason `Failed` and the last error.
pub async fn serve<K, F, Fut, E>(api: Api<K>, pending: fn(&K) -> bool, handle: F)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
    F: Fn(K) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let kind = K::kind(&()).into_owned();
    let stream = watcher(api.clone(), watcher::Config::default()).default_backoff().applied_objects();
    let mut stream = std::pin::pin!(stream);
    let mut retries: Vec<Retry<K>> = Vec::new();
    loop {
        let next_retry = retries.iter().map(|r| r.at).min();
        let (request, failures) = tokio::select! {
            event = stream.try_next() => match event {
                Ok(Some(r)) if pending(&r) => {
                    retries.retain(|q| q.request.uid() != r.uid());
                    (r, 0)
                }
                Ok(Some(_)) => continue,
                Ok(None) => return,
                Err(e) => {
                    warn!(error = %e, kind, "watching requests");
                    continue;
                }
            },
            () = sleep_until(next_retry) => {
                let now = Instant::now();
                let Some(i) = retries.iter().position(|r| r.at <= now) else { continue };
                let due = retries.swap_remove(i);
                (due.request, due.failures)
            }
        };
        let Err(e) = handle(request.clone()).await else { continue };
        let failures = failures + 1;
        if failures < ATTEMPTS {
            warn!(error = %e, kind, request = %request.name_any(), failures, "answering a request failed; will retry");
            retries.push(Retry { request, failures, at: Instant::now() + backoff(failures) });
            continue;
        }
        warn!(error = %e, kind, request = %request.name_any(), "answering a request failed {ATTEMPTS} times; giving up");
        if let Err(e) = give_up(&api, &request, &format!("failed {ATTEMPTS} times; last error: {e}")).await {
            warn!(error = %e, kind, request = %request.name_any(), "recording the failure failed");
        }
    }
}

/// 2 s, 4 s, 8 s, … at most 30 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(failures).min(30))
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Writes `Ready=False`, reason `Failed`, so the requester learns the answer will not come.
async fn give_up<K>(api: &Api<K>, request: &K, message: &str) -> kube::Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let condition = writes::answered(false, "Failed", message, request.meta().generation);
    writes::apply_status(api, &request.name_any(), serde_json::json!({ "conditions": [condition] })).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let waits: Vec<u64> = (1..=6).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 30, 30]);
    }
}

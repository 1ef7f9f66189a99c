//! Requests the leader answers: objects in its namespace that ask for work
//! (`KeyRotation`, `ResealRequest`), each handled once and retried until it succeeds.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use futures::TryStreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::warn;

/// Calls `handle` for every object of `api` that `pending` says still awaits an answer,
/// until the watch ends. A failed answer is retried every two seconds: the watch does not
/// repeat an event that was not acted on.
pub async fn serve<K, F, Fut, E>(api: Api<K>, pending: fn(&K) -> bool, handle: F)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
    F: Fn(K) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let stream = watcher(api, watcher::Config::default()).default_backoff().applied_objects();
    let mut stream = std::pin::pin!(stream);
    loop {
        let request = match stream.try_next().await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                warn!(error = %e, kind, "watching requests");
                continue;
            }
        };
        if !pending(&request) {
            continue;
        }
        while let Err(e) = handle(request.clone()).await {
            warn!(error = %e, kind, request = %request.name_any(), "answering a request failed; retrying");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

//! Counting objects on a watch rather than polling lists, which would load the API
//! server the bench measures.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use tokio::sync::watch;

use super::log;
use super::procfs::Measured;
use crate::Error;

/// How long a count may stand still before [`wait_count`] gives up.
const STALL: Duration = Duration::from_secs(300);

/// What a counting watch has seen so far.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// The watch has listed what was there at its start.
    pub synced: bool,
    pub count: usize,
    /// When the count first went above zero, and when it last changed.
    pub first: Option<Instant>,
    pub last_change: Option<Instant>,
    pub error: Option<String>,
}

/// Counts the objects of a watch that satisfy `accept`, by name, from a background task.
pub fn spawn_counter<K>(api: Api<K>, config: watcher::Config, accept: fn(&K) -> bool) -> watch::Receiver<Progress>
where
    K: Resource + Clone + std::fmt::Debug + k8s_openapi::serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let (tx, rx) = watch::channel(Progress::default());
    tokio::spawn(async move {
        let mut names: HashSet<String> = HashSet::new();
        let mut init: Option<HashSet<String>> = None;
        let stream = watcher(api, config).default_backoff();
        let mut stream = std::pin::pin!(stream);
        loop {
            let event = match stream.try_next().await {
                Ok(Some(e)) => e,
                Ok(None) => return,
                Err(e) => {
                    tx.send_modify(|p| p.error = Some(e.to_string()));
                    continue;
                }
            };
            let before = names.len();
            match event {
                watcher::Event::Init => init = Some(HashSet::new()),
                watcher::Event::InitApply(o) => {
                    if accept(&o) {
                        init.get_or_insert_with(HashSet::new).insert(o.name_any());
                    }
                }
                watcher::Event::InitDone => {
                    names = init.take().unwrap_or_default();
                    tx.send_modify(|p| p.synced = true);
                }
                watcher::Event::Apply(o) => {
                    if accept(&o) {
                        names.insert(o.name_any());
                    } else {
                        names.remove(&o.name_any());
                    }
                }
                watcher::Event::Delete(o) => {
                    names.remove(&o.name_any());
                }
            }
            if names.len() != before {
                let now = Instant::now();
                let count = names.len();
                tx.send_modify(|p| {
                    p.count = count;
                    p.last_change = Some(now);
                    if p.first.is_none() && count > 0 {
                        p.first = Some(now);
                    }
                });
            }
        }
    });
    rx
}

/// Waits until the watch behind `rx` has listed what exists.
///
/// # Errors
/// [`Error::WatchNotStarted`] after `timeout`, or when the watch task ended.
pub async fn wait_synced(rx: &watch::Receiver<Progress>, timeout: Duration) -> Result<(), Error> {
    let mut rx = rx.clone();
    match tokio::time::timeout(timeout, rx.wait_for(|p| p.synced)).await {
        Ok(Ok(_)) => Ok(()),
        _ => Err(Error::WatchNotStarted),
    }
}

/// Waits until `rx` counts `n`; returns the time from the controller's start to the last
/// change of the count. The controller is gitseal's or the incumbent's. Notes the controller's RSS when the count first moves, and logs
/// progress every 10 s.
///
/// # Errors
/// [`Error::CountTimedOut`] at `timeout` after the controller started,
/// [`Error::ControllerExited`] when it exits, [`Error::CountStalled`] when the count
/// stands still for 5 minutes.
pub async fn wait_count(
    rx: &watch::Receiver<Progress>,
    n: usize,
    timeout: Duration,
    what: &str,
    controller: &mut impl Measured,
) -> Result<Duration, Error> {
    let start = controller.started();
    let deadline = start + timeout;
    let mut reported = Instant::now();
    loop {
        let p = rx.borrow().clone();
        if p.count >= n {
            return Ok(p.last_change.map_or(Duration::ZERO, |t| t - start));
        }
        if let Some(status) = controller.exited() {
            return Err(Error::ControllerExited { status, during: format!("with {}/{n} {what}", p.count) });
        }
        let now = Instant::now();
        if now > deadline {
            return Err(Error::CountTimedOut { what: what.into(), counted: p.count, expected: n, timeout });
        }
        if p.last_change.is_some_and(|t| now - t > STALL) {
            return Err(Error::CountStalled { what: what.into(), counted: p.count, expected: n, stalled: STALL });
        }
        if controller.rss_at_first_kib().is_none() && p.count > 0 {
            *controller.rss_at_first_kib() = controller.status_field("VmRSS:");
        }
        if now - reported > Duration::from_secs(10) {
            reported = now;
            log(&format!(
                "  {:>6.1} s: {}/{n} {what}; controller RSS {:.0} MiB{}",
                (now - start).as_secs_f64(),
                p.count,
                controller.status_field("VmRSS:").unwrap_or(0) as f64 / 1024.0,
                p.error.map_or(String::new(), |e| format!(" (watch error: {e})"))
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

//! Waiting for what the control plane does asynchronously.

use std::future::Future;
use std::time::Duration;

/// Polls `probe` every 200 ms until it returns true; fails after `limit`, naming `what`
/// was waited for, or with the probe's own error.
///
/// # Errors
/// The timeout, or the first error `probe` returns.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut probe: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !probe().await? {
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {limit:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Polls `probe` every `every` until it gives a value, and returns it; panics naming
/// `what` after `limit`. For tests, which state their expectations by panicking.
///
/// # Panics
/// When `probe` gives nothing within `limit`.
pub async fn poll_until<T>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {limit:?} waiting for: {what}");
        tokio::time::sleep(every).await;
    }
}

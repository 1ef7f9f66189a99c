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

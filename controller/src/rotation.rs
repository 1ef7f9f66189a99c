//! Key rotation, on request and on schedule (leader only).
//!
//! ```text
//!  KeyRotation (no status.key) ──▶ create_key_for("rotation/<uid>") ──▶ status.key, Ready
//!  published key older than the period ──▶ create_key_for("scheduled/<its id>")
//! ```
//!
//! Both name what made the key, so a rotation interrupted after creating its key (a
//! SIGKILL, a lost lease) finds that key on the next attempt instead of making another,
//! and two replicas asked to rotate at once make one key between them. When no name can
//! be claimed (`NameConflict`) a request is answered `Ready=False` at once and the timer
//! backs off; neither retries in a loop.

use std::sync::Arc;
use std::time::Duration;

use gitseal::crds::KeyRotation;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::{Client, ResourceExt};
use tracing::{info, warn};

use crate::keys::{self, KeyError};
use crate::state::Shared;
use crate::writes;

/// Longest wait between scheduled rotation attempts that keep failing.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Why a KeyRotation request could not be answered (it is retried).
#[derive(Debug, thiserror::Error)]
enum Error {
    /// Creating the key failed.
    #[error(transparent)]
    CreateKey(#[from] KeyError),
    /// Recording the answer failed.
    #[error("writing the KeyRotation's status failed: {0}")]
    PatchStatus(#[source] kube::Error),
}

/// Serves KeyRotation requests in the controller's namespace until the watch ends.
pub async fn serve_requests(client: Client, namespace: String, shared: Arc<Shared>) {
    let requests: Api<KeyRotation> = Api::namespaced(client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(client, &namespace);
    // Answered once: with a key, or with Ready=False when it kept failing.
    let pending = |r: &KeyRotation| r.status.as_ref().is_none_or(|s| s.key.is_none() && s.conditions.is_empty());
    crate::requests::serve(requests.clone(), pending, |request| {
        let (requests, secrets, namespace, shared) = (&requests, &secrets, &namespace, &shared);
        async move { rotate(requests, secrets, namespace, shared, &request).await }
    })
    .await;
}

async fn rotate(
    requests: &Api<KeyRotation>,
    secrets: &Api<Secret>,
    namespace: &str,
    shared: &Shared,
    request: &KeyRotation,
) -> Result<(), Error> {
    let made_by = format!("rotation/{}", request.uid().unwrap_or_default());
    let key = match keys::create_key_for(secrets, namespace, &made_by).await {
        Ok(key) => key,
        Err(e) => {
            shared.metrics.key_rotation_failed(&e);
            let KeyError::NameConflict { .. } = e else { return Err(e.into()) };
            // Trying again would meet the same Secret: answer now, so the requester learns why.
            warn!(rotation = %request.name_any(), error = %e, "rotation refused");
            let message = format!("{e}; then file a new KeyRotation");
            let condition = writes::answered(false, e.reason(), &message, request.metadata.generation);
            let answer = serde_json::json!({ "conditions": [condition] });
            writes::apply_status(requests, &request.name_any(), answer).await.map_err(Error::PatchStatus)?;
            return Ok(());
        }
    };
    let (id, name) = (&key.id, &key.secret);
    info!(rotation = %request.name_any(), key = %id, secret = %name, "rotated: new key published");
    let message = format!("created key {id} in Secret {name}; it is now the published key");
    let condition = writes::answered(true, "Rotated", &message, request.metadata.generation);
    let answer = serde_json::json!({ "key": id, "secret": name, "conditions": [condition] });
    writes::apply_status(requests, &request.name_any(), answer).await.map_err(Error::PatchStatus)?;
    Ok(())
}

/// Creates a new key whenever the published one is older than `period`; backs off while
/// that keeps failing.
pub async fn rotate_on_schedule(client: Client, namespace: String, shared: Arc<Shared>, period: Duration) {
    let secrets: Api<Secret> = Api::namespaced(client, &namespace);
    let mut failures = 0;
    loop {
        let wait = match shared.keys().published() {
            None => Duration::from_secs(5),
            Some(key) => match due_in(&key.created, period, Timestamp::now()) {
                Some(wait) => wait.min(Duration::from_secs(60)),
                None => match keys::create_key_for(&secrets, &namespace, &format!("scheduled/{}", key.id)).await {
                    Ok(made) => {
                        failures = 0;
                        info!(secret = %made.secret, replaces = %key.id, "scheduled rotation: new key published");
                        Duration::from_secs(5)
                    }
                    Err(e) => {
                        failures += 1;
                        shared.metrics.key_rotation_failed(&e);
                        let wait = backoff(failures);
                        warn!(error = %e, reason = e.reason(), retry_in_secs = wait.as_secs(), "scheduled rotation failed");
                        wait
                    }
                },
            },
        };
        tokio::time::sleep(wait).await;
    }
}

/// Wait after the `failures`-th scheduled rotation in a row that failed: 5 s, 10 s,
/// 20 s, … at most [`MAX_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    let secs = 5u64.saturating_mul(2u64.saturating_pow(failures.saturating_sub(1)));
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

/// How long until a key created at `created` is due for rotation; `None` when due now
/// (or when its creation time cannot be read, which must not stop rotation).
pub fn due_in(created: &str, period: Duration, now: Timestamp) -> Option<Duration> {
    let created: Timestamp = created.parse().ok()?;
    let due = created.checked_add(k8s_openapi::jiff::SignedDuration::try_from(period).ok()?).ok()?;
    let left = now.duration_until(due);
    (left.is_positive()).then(|| Duration::try_from(left).unwrap_or_default())
}

/// Parses a rotation period: `30d`, `720h`, `45m`, `90s`, or `0` to disable.
pub fn parse_period(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a period like 30d, 720h, 45m or 0"))?;
    let seconds = match unit {
        "d" => n * 86_400,
        "h" => n * 3_600,
        "m" => n * 60,
        "s" => n,
        _ => return Err(format!("{text:?}: the unit must be d, h, m or s")),
    };
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(parse_period("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_period("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_period("0"), Ok(Duration::ZERO));
        assert!(parse_period("30").is_err() && parse_period("d").is_err() && parse_period("3w").is_err());
    }

    #[test]
    fn due_times() {
        let now: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
        let day = Duration::from_secs(86_400);
        assert_eq!(due_in("2026-02-28T12:00:00Z", day, now), Some(Duration::from_secs(43_200)));
        assert_eq!(due_in("2026-02-28T00:00:00Z", day, now), None, "due exactly now");
        assert_eq!(due_in("2026-01-01T00:00:00Z", day, now), None);
        assert_eq!(due_in("not a time", day, now), None, "unreadable creation time rotates");
    }

    #[test]
    fn failed_scheduled_rotations_back_off() {
        let waits: Vec<u64> = [1, 2, 3, 8, 9, 100].map(|n| backoff(n).as_secs()).into();
        assert_eq!(waits, [5, 10, 20, 600, 600, 600]);
    }
}

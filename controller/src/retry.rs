//! When to look again at a SealedSecret whose Secret could not be written, and what the
//! controller remembers of it meanwhile. Pure: the reconciler passes everything in.
//!
//! ```text
//!  reconcile ──SecretNotManaged / SecretWriteFailed──▶ Stuck { inputs, Secret version, failures }
//!      ▲                                                  │ same object, same Secret: failures + 1
//!      └──────── requeue after 10 s, 20 s, 40 s … 5 min ◀─┘ either changed: failures = 1
//! ```
//!
//! Neither reason heals by retrying alone: someone must opt the Secret in, rename, or fix
//! what the API server refused. Retrying every 10 s for ever let a tenant keep the
//! workers busy with objects that can never succeed; backing off bounds that, and a
//! change of the object or of the Secret starts over at once. The record lives in the
//! controller's memory only, never in anything a tenant can write (annotations, status).

use std::time::Duration;

use crate::decide::Reason;
use crate::reconcile::Inputs;

/// First wait after a failure of a reason that is retried.
pub const FIRST_RETRY: Duration = Duration::from_secs(10);
/// Longest wait: an opt-in annotation is still noticed within this.
pub const LONGEST_RETRY: Duration = Duration::from_secs(300);

/// A SealedSecret refused for a reason that is retried, as last seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stuck {
    /// The SealedSecret (uid, generation) refused.
    pub inputs: Inputs,
    /// The resourceVersion of the Secret in the way (or that the write failed on), if any.
    pub secret_version: Option<String>,
    /// Why.
    pub reason: Reason,
    /// Refusals in a row with nothing changed.
    pub failures: u32,
}

impl Stuck {
    /// Whether this SealedSecret, unchanged, was last refused because a Secret of its name
    /// is someone else's: then ownership is checked again before anything is decrypted.
    pub fn not_ours(&self, inputs: &Inputs) -> bool {
        self.reason == Reason::SecretNotManaged && self.inputs == *inputs
    }
}

/// Whether a reason is retried on a timer: the two that depend on a Secret the controller
/// does not watch (someone else's) or on the API server. Every other reason waits for a
/// change of the object, its Secret or the key ring.
pub fn is_retried(reason: Reason) -> bool {
    matches!(reason, Reason::SecretNotManaged | Reason::SecretWriteFailed)
}

/// The record after one more refusal: one more failure when the object, the Secret and
/// the reason are as `previous` saw them, else the first.
pub fn refused_again(previous: Option<&Stuck>, inputs: &Inputs, secret_version: Option<&str>, reason: Reason) -> Stuck {
    let unchanged =
        previous.filter(|p| p.inputs == *inputs && p.secret_version.as_deref() == secret_version && p.reason == reason);
    Stuck {
        inputs: inputs.clone(),
        secret_version: secret_version.map(str::to_owned),
        reason,
        failures: unchanged.map_or(1, |p| p.failures.saturating_add(1)),
    }
}

/// How long to wait after `failures` refusals in a row: 10 s, doubling, at most 5 min.
pub fn retry_after(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(LONGEST_RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(generation: i64) -> Inputs {
        Inputs { uid: Some("u1".into()), generation: Some(generation) }
    }

    #[test]
    fn only_reasons_that_depend_on_someone_else_are_retried() {
        let retried: Vec<_> = Reason::ALL.iter().copied().filter(|r| is_retried(*r)).collect();
        assert_eq!(retried, [Reason::SecretNotManaged, Reason::SecretWriteFailed]);
    }

    #[test]
    fn the_wait_doubles_and_is_capped() {
        let waits: Vec<u64> = (1..=8).map(|n| retry_after(n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(retry_after(0), FIRST_RETRY);
        assert_eq!(retry_after(u32::MAX), LONGEST_RETRY);
    }

    #[test]
    fn failures_count_up_while_nothing_changes_and_start_over_when_anything_does() {
        let first = refused_again(None, &inputs(1), Some("7"), Reason::SecretNotManaged);
        assert_eq!(first.failures, 1);
        let second = refused_again(Some(&first), &inputs(1), Some("7"), Reason::SecretNotManaged);
        let third = refused_again(Some(&second), &inputs(1), Some("7"), Reason::SecretNotManaged);
        assert_eq!(third.failures, 3);
        assert_eq!(refused_again(Some(&third), &inputs(2), Some("7"), Reason::SecretNotManaged).failures, 1, "object");
        assert_eq!(refused_again(Some(&third), &inputs(1), Some("8"), Reason::SecretNotManaged).failures, 1, "Secret");
        assert_eq!(refused_again(Some(&third), &inputs(1), Some("7"), Reason::SecretWriteFailed).failures, 1, "reason");
    }

    #[test]
    fn ownership_is_checked_first_only_for_the_same_object_refused_as_not_ours() {
        let stuck = refused_again(None, &inputs(1), Some("7"), Reason::SecretNotManaged);
        assert!(stuck.not_ours(&inputs(1)));
        assert!(!stuck.not_ours(&inputs(2)), "a new generation starts over");
        let failed = refused_again(None, &inputs(1), None, Reason::SecretWriteFailed);
        assert!(!failed.not_ours(&inputs(1)));
    }
}

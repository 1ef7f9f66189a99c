//! Each namespace's share of the unsealing workers, so one tenant cannot starve the others.
//!
//! ```text
//!  reconcile(ns) ──admit(ns)──▶ debt over burst? ──yes──▶ requeue after the debt drains
//!        │                      a slot of ns free within 50 ms? ──no──▶ requeue in 1 s
//!        ▼ admitted                                                   (holding nothing)
//!  unseal on a worker ──Turn::finish(time spent)──▶ debt(ns), which drains at `rate`
//! ```
//!
//! Two limits per namespace. At most `slots` of its objects wait for or use the decrypt
//! workers at once, so a flood of costly objects never queues ahead of anyone else's by
//! more than `slots` jobs; a reconcile waits briefly for a slot (honest objects hold one
//! for microseconds) and is requeued when the namespace's slots stay busy. And a leaky
//! bucket: the time its unsealing takes is added to its debt, which drains at `rate`
//! seconds per second; over `burst`, its objects are requeued until the debt has drained.
//! Honest namespaces spend microseconds per object and never notice; one full of objects
//! built to cost the most is held to `rate` of the workers, and the others stay free.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::decrypt::DecryptPool;

/// The decrypt pool and each namespace's share of it, as the reconciler and the
/// ResealRequest server both use them: one share per namespace for all its work.
#[derive(Clone)]
pub struct Workers {
    /// Where unsealing and re-sealing run.
    pub decrypt: DecryptPool,
    /// Each namespace's share of the pool.
    pub fairness: Arc<Fairness>,
}

/// Namespaces remembered before settled ones are forgotten.
const REMEMBERED: usize = 256;
/// How long a reconcile waits for one of its namespace's slots before it is requeued.
const SLOT_WAIT: Duration = Duration::from_millis(50);
/// When it is requeued for want of a slot.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// Per-namespace debts of worker time and slots in the pool.
pub struct Fairness {
    rate: f64,
    burst: Duration,
    slots: usize,
    shares: Mutex<HashMap<String, Share>>,
}

/// One namespace's debt and slots.
struct Share {
    debt: f64,
    at: Instant,
    slots: Arc<Semaphore>,
}

impl Share {
    fn debt_at(&self, rate: f64, now: Instant) -> f64 {
        (self.debt - rate * now.saturating_duration_since(self.at).as_secs_f64()).max(0.0)
    }
}

/// One admitted job of a namespace: holds one of its slots until finished or dropped.
#[must_use]
pub struct Turn<'a> {
    fairness: &'a Fairness,
    namespace: String,
    _slot: OwnedSemaphorePermit,
}

impl Turn<'_> {
    /// Ends the job, charging `spent` worker time to its namespace.
    pub fn finish(self, spent: Duration) {
        let now = Instant::now();
        let Ok(mut shares) = self.fairness.shares.lock() else { return };
        if let Some(share) = shares.get_mut(&self.namespace) {
            share.debt = share.debt_at(self.fairness.rate, now) + spent.as_secs_f64();
            share.at = now;
        }
    }
}

impl Fairness {
    /// Each namespace may have `slots` jobs in the pool, and use `rate` worker-seconds per
    /// second once it has spent `burst`.
    pub fn new(rate: f64, burst: Duration, slots: usize) -> Fairness {
        Fairness { rate: rate.max(0.001), burst, slots: slots.max(1), shares: Mutex::new(HashMap::new()) }
    }

    /// Admits one job of `namespace`, or says how long it should wait first.
    pub async fn admit(&self, namespace: &str) -> Result<Turn<'_>, Duration> {
        let slots = {
            let now = Instant::now();
            let Ok(mut shares) = self.shares.lock() else { return Err(BUSY_RETRY) };
            let rate = self.rate;
            if shares.len() >= REMEMBERED {
                shares.retain(|_, s| Arc::strong_count(&s.slots) > 1 || s.debt_at(rate, now) > 0.0);
            }
            let share = shares.entry(namespace.to_owned()).or_insert_with(|| Share {
                debt: 0.0,
                at: now,
                slots: Arc::new(Semaphore::new(self.slots)),
            });
            let over = share.debt_at(rate, now) - self.burst.as_secs_f64();
            if over > 0.0 {
                return Err(Duration::from_secs_f64(over / rate));
            }
            share.slots.clone()
        };
        match tokio::time::timeout(SLOT_WAIT, slots.acquire_owned()).await {
            Ok(Ok(slot)) => Ok(Turn { fairness: self, namespace: namespace.to_owned(), _slot: slot }),
            _ => Err(BUSY_RETRY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_namespace_over_its_burst_waits_others_do_not() {
        let fair = Fairness::new(0.5, Duration::from_secs(1), 4);
        fair.admit("evil").await.unwrap().finish(Duration::from_millis(900));
        fair.admit("evil").await.unwrap().finish(Duration::from_millis(1100));
        assert_eq!(fair.admit("evil").await.err(), Some(Duration::from_secs(2)), "1 s over the burst at 0.5/s");
        assert!(fair.admit("good").await.is_ok());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(fair.admit("evil").await.err(), Some(Duration::from_secs(1)), "the debt drains");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(fair.admit("evil").await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_namespace_waits_briefly_for_a_slot_then_is_requeued() {
        let fair = Fairness::new(1.0, Duration::from_secs(1), 2);
        let (a, b) = (fair.admit("evil").await.unwrap(), fair.admit("evil").await.unwrap());
        assert_eq!(fair.admit("evil").await.err(), Some(BUSY_RETRY), "both slots stay busy");
        assert!(fair.admit("good").await.is_ok(), "another namespace is not held up");
        // A slot freed while waiting is taken: honest objects hold theirs for microseconds.
        let waiting = fair.admit("evil");
        drop(a);
        let c = waiting.await.unwrap();
        b.finish(Duration::ZERO);
        c.finish(Duration::ZERO);
        assert!(fair.admit("evil").await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn settled_namespaces_are_forgotten() {
        let fair = Fairness::new(1.0, Duration::ZERO, 1);
        for i in 0..REMEMBERED {
            fair.admit(&format!("ns-{i}")).await.unwrap().finish(Duration::from_millis(10));
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        let _late = fair.admit("late").await.unwrap();
        assert_eq!(fair.shares.lock().unwrap().len(), 1);
    }
}

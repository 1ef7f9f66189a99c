//! Each namespace's share of the unsealing workers, so one tenant cannot starve the others.
//!
//! ```text
//!  reconcile(ns) ──admit(ns)──▶ debt over burst, or `cap` jobs of ns already in the pool?
//!        │ admitted                 └─yes──▶ requeue after a wait (no work, no worker held)
//!        ▼
//!  unseal on a worker ──Turn::finish(time spent)──▶ debt(ns), which drains at `rate`
//! ```
//!
//! Two limits per namespace. At most `cap` of its objects wait for or use the decrypt
//! workers at once, so a flood of costly objects never queues ahead of anyone else's by
//! more than `cap` jobs. And a leaky bucket: the time its unsealing takes is added to its
//! debt, which drains at `rate` seconds per second; over `burst`, its objects are requeued
//! until the debt has drained back. Honest namespaces spend microseconds per object and
//! never notice; one full of objects built to cost the most is held to `rate` of the
//! workers, and the others stay free for everyone else.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Namespaces remembered before settled debts are forgotten.
const REMEMBERED: usize = 256;

/// How long an object waits when its namespace already has `cap` jobs in the pool.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// Per-namespace debts of worker time and jobs in the pool.
pub struct Fairness {
    rate: f64,
    burst: Duration,
    cap: usize,
    debts: Mutex<HashMap<String, Debt>>,
}

#[derive(Clone, Copy)]
struct Debt {
    seconds: f64,
    at: Instant,
    in_pool: usize,
}

/// One admitted job of a namespace; ends with [`Turn::finish`] (or on drop, uncharged).
#[must_use]
pub struct Turn<'a> {
    fairness: &'a Fairness,
    namespace: String,
}

impl Turn<'_> {
    /// Ends the job, charging `spent` worker time to its namespace.
    pub fn finish(self, spent: Duration) {
        self.fairness.settle(&self.namespace, spent);
        std::mem::forget(self);
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.fairness.settle(&self.namespace, Duration::ZERO);
    }
}

impl Debt {
    fn now(self, rate: f64, now: Instant) -> f64 {
        (self.seconds - rate * now.saturating_duration_since(self.at).as_secs_f64()).max(0.0)
    }
}

impl Fairness {
    /// Each namespace may have `cap` jobs in the pool, and use `rate` worker-seconds per
    /// second once it has spent `burst`.
    pub fn new(rate: f64, burst: Duration, cap: usize) -> Fairness {
        Fairness { rate: rate.max(0.001), burst, cap: cap.max(1), debts: Mutex::new(HashMap::new()) }
    }

    /// Admits one job of `namespace`, or says how long it should wait first.
    pub fn admit(&self, namespace: &str) -> Result<Turn<'_>, Duration> {
        let now = Instant::now();
        let Ok(mut debts) = self.debts.lock() else { return Err(BUSY_RETRY) };
        let rate = self.rate;
        if debts.len() >= REMEMBERED {
            debts.retain(|_, d| d.in_pool > 0 || d.now(rate, now) > 0.0);
        }
        let debt = debts.entry(namespace.to_owned()).or_insert(Debt { seconds: 0.0, at: now, in_pool: 0 });
        let over = debt.now(rate, now) - self.burst.as_secs_f64();
        if over > 0.0 {
            return Err(Duration::from_secs_f64(over / rate));
        }
        if debt.in_pool >= self.cap {
            return Err(BUSY_RETRY);
        }
        debt.in_pool += 1;
        Ok(Turn { fairness: self, namespace: namespace.to_owned() })
    }

    fn settle(&self, namespace: &str, spent: Duration) {
        let now = Instant::now();
        let Ok(mut debts) = self.debts.lock() else { return };
        if let Some(debt) = debts.get_mut(namespace) {
            let seconds = debt.now(self.rate, now) + spent.as_secs_f64();
            *debt = Debt { seconds, at: now, in_pool: debt.in_pool.saturating_sub(1) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_namespace_over_its_burst_waits_others_do_not() {
        let fair = Fairness::new(0.5, Duration::from_secs(1), 4);
        fair.admit("evil").unwrap().finish(Duration::from_millis(900));
        fair.admit("evil").unwrap().finish(Duration::from_millis(1100));
        assert_eq!(fair.admit("evil").err(), Some(Duration::from_secs(2)), "1 s over the burst at 0.5/s");
        assert!(fair.admit("good").is_ok());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(fair.admit("evil").err(), Some(Duration::from_secs(1)), "the debt drains");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(fair.admit("evil").is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_cap_jobs_of_one_namespace_are_in_the_pool() {
        let fair = Fairness::new(1.0, Duration::from_secs(1), 2);
        let (a, b) = (fair.admit("evil").unwrap(), fair.admit("evil").unwrap());
        assert_eq!(fair.admit("evil").err(), Some(BUSY_RETRY));
        assert!(fair.admit("good").is_ok(), "another namespace is not held up");
        drop(a);
        let c = fair.admit("evil").unwrap();
        b.finish(Duration::ZERO);
        c.finish(Duration::ZERO);
        assert!(fair.admit("evil").is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn settled_namespaces_are_forgotten() {
        let fair = Fairness::new(1.0, Duration::ZERO, 1);
        for i in 0..REMEMBERED {
            fair.admit(&format!("ns-{i}")).unwrap().finish(Duration::from_millis(10));
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        let _late = fair.admit("late").unwrap();
        assert_eq!(fair.debts.lock().unwrap().len(), 1);
    }
}

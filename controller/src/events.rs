//! How many Normal Events the controller publishes: a token bucket, so that an applied
//! SealedSecret or a restored Secret gets its Event as before, while a cold start over
//! thousands of objects does not add one API write per object to the two it needs (the
//! Secret and the status, which carries the same news in `Ready`). Warning Events are
//! never held back: they say what went wrong.
//!
//! ```text
//!  tokens: BURST at start, + RATE per second, at most BURST
//!  Normal Event ── a token? ──yes──▶ published
//!                             └─no──▶ counted in gitseal_events_suppressed_total
//! ```

use std::sync::Mutex;
use std::time::Instant;

/// Normal Events published back to back before the rate applies.
pub const BURST: f64 = 100.0;
/// Normal Events per second after the burst.
pub const RATE: f64 = 10.0;

/// The bucket of Normal Events still to publish.
#[derive(Debug)]
pub struct EventBudget {
    state: Mutex<(f64, Instant)>,
}

impl Default for EventBudget {
    fn default() -> Self {
        EventBudget { state: Mutex::new((BURST, Instant::now())) }
    }
}

impl EventBudget {
    /// Whether a Normal Event may be published now; takes a token if so.
    pub fn take(&self) -> bool {
        self.take_at(Instant::now())
    }

    fn take_at(&self, now: Instant) -> bool {
        let Ok(mut state) = self.state.lock() else { return true };
        let (tokens, last) = *state;
        let refilled = (tokens + now.saturating_duration_since(last).as_secs_f64() * RATE).min(BURST);
        let (left, allowed) = if refilled >= 1.0 { (refilled - 1.0, true) } else { (refilled, false) };
        *state = (left, now.max(last));
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate() {
        let budget = EventBudget::default();
        let start = Instant::now();
        let burst = (0..1000).filter(|_| budget.take_at(start)).count();
        assert_eq!(burst, BURST as usize);
        // A second later, RATE more.
        let later = start + Duration::from_secs(1);
        assert_eq!((0..1000).filter(|_| budget.take_at(later)).count(), RATE as usize);
        // Idle for long: never more than the burst.
        let much_later = later + Duration::from_secs(3600);
        assert_eq!((0..1000).filter(|_| budget.take_at(much_later)).count(), BURST as usize);
    }
}

//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it: the
//! holder renews `renewTime`; anyone may take a lease whose renewal is older than its
//! duration. Optimistic concurrency (resourceVersion) makes each take-over atomic.
//!
//! ```text
//!  standby ──lease expired──▶ take over ──renew every period──▶ leader
//!     ▲                                        │ renewal failing past the deadline
//!     └───────────── process exits ◀───────────┘ (the Deployment restarts it)
//! ```

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::Api;

use crate::writes;

/// What to do with the lease as it stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// No lease yet: create it, holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Someone else held it but stopped renewing (or released it): take it.
    TakeOver,
    /// Someone else holds it: wait.
    Standby,
}

/// Decides the next step for `me` given the lease's spec at `now`.
pub fn step(spec: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Step {
    let Some(spec) = spec else { return Step::Create };
    match spec.holder_identity.as_deref() {
        Some(h) if h == me => Step::Renew,
        None | Some("") => Step::TakeOver,
        Some(_) => {
            let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
            match spec.renew_time.as_ref() {
                Some(t) if t.0 + duration > now => Step::Standby,
                _ => Step::TakeOver,
            }
        }
    }
}

/// One replica's view of the lease.
pub struct Elector {
    api: Api<Lease>,
    name: String,
    me: String,
    duration: Duration,
}

impl Elector {
    /// An elector for lease `name` as identity `me`.
    pub fn new(api: Api<Lease>, name: &str, me: &str, duration: Duration) -> Elector {
        Elector { api, name: name.to_owned(), me: me.to_owned(), duration }
    }

    /// Tries once to acquire or renew; `Ok(true)` when we hold the lease afterwards.
    pub async fn try_acquire_or_renew(&self) -> kube::Result<bool> {
        let now = Timestamp::now();
        let current = self.api.get_opt(&self.name).await?;
        let step = step(current.as_ref().and_then(|l| l.spec.as_ref()), &self.me, now);
        let params = writes::post();
        let seconds = i32::try_from(self.duration.as_secs()).unwrap_or(15);
        let result = match (step, current) {
            (Step::Standby, _) => return Ok(false),
            (Step::Create, _) => {
                let lease = Lease {
                    metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
                    spec: Some(self.held(now, seconds, 0, now)),
                };
                self.api.create(&params, &lease).await
            }
            (Step::Renew, Some(mut lease)) => {
                let spec = lease.spec.take().unwrap_or_default();
                let acquired = spec.acquire_time.map_or(now, |t| t.0);
                lease.spec = Some(self.held(acquired, seconds, spec.lease_transitions.unwrap_or(0), now));
                self.api.replace(&self.name, &params, &lease).await
            }
            (Step::TakeOver, Some(mut lease)) => {
                let transitions = lease.spec.as_ref().and_then(|s| s.lease_transitions).unwrap_or(0) + 1;
                lease.spec = Some(self.held(now, seconds, transitions, now));
                self.api.replace(&self.name, &params, &lease).await
            }
            (_, None) => return Ok(false),
        };
        match result {
            Ok(_) => Ok(true),
            // Someone else wrote first: they won this round.
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up so a standby takes over at once (on graceful shutdown).
    pub async fn release(&self) -> kube::Result<()> {
        if let Some(mut lease) = self.api.get_opt(&self.name).await?
            && let Some(spec) = lease.spec.as_mut()
            && spec.holder_identity.as_deref() == Some(self.me.as_str())
        {
            spec.holder_identity = None;
            let params = writes::post();
            self.api.replace(&self.name, &params, &lease).await?;
        }
        Ok(())
    }

    fn held(&self, acquired: Timestamp, seconds: i32, transitions: i32, now: Timestamp) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.me.clone()),
            lease_duration_seconds: Some(seconds),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(holder: &str, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(Timestamp::from_second(renewed).unwrap())),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn election_steps() {
        let now = Timestamp::from_second(1_000).unwrap();
        assert_eq!(step(None, "a", now), Step::Create);
        assert_eq!(step(Some(&held_by("a", 0)), "a", now), Step::Renew, "our own lease, even stale");
        assert_eq!(step(Some(&held_by("b", 990)), "a", now), Step::Standby);
        assert_eq!(step(Some(&held_by("b", 985)), "a", now), Step::TakeOver, "expired exactly at the duration");
        assert_eq!(step(Some(&held_by("", 999)), "a", now), Step::TakeOver, "released");
        let no_renew = LeaseSpec { holder_identity: Some("b".into()), ..LeaseSpec::default() };
        assert_eq!(step(Some(&no_renew), "a", now), Step::TakeOver);
    }
}

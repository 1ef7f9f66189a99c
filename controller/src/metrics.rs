//! Prometheus metrics. Labels come from fixed sets only (result, reason), never from
//! object names or error text.

use k8s_openapi::jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::decide::{Reason, with_all};
use crate::keys::{KeyError, LoadedKeys};

with_all! {
    /// How a reconciliation ended: the `result` of `gitseal_reconciles_total`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum ReconcileResult {
        Unsealed,
        Failed,
        Error,
        Deferred,
        Unchanged,
    }
}

impl ReconcileResult {
    fn as_str(self) -> &'static str {
        match self {
            ReconcileResult::Unsealed => "unsealed",
            ReconcileResult::Failed => "failed",
            ReconcileResult::Error => "error",
            ReconcileResult::Deferred => "deferred",
            ReconcileResult::Unchanged => "unchanged",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    commit: &'static str,
    /// Comma-separated header tags, e.g. `gitseal/v1,gitseal/v2`.
    formats_read: String,
    format_written: &'static str,
    api_version: &'static str,
}

/// The controller's metrics and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    unseal_failures: Family<ReasonLabel, Counter>,
    key_rotation_failures: Family<ReasonLabel, Counter>,
    duration: Histogram,
    keys: Gauge,
    published_key_created: Gauge,
    leader: Gauge,
    events_suppressed: Counter,
    decryptions: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gitseal");
        let reconciles = Family::<ResultLabel, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciliations by result (unsealed, failed, error, deferred, unchanged)",
            reconciles.clone(),
        );
        let unseal_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "unseal_failures",
            "SealedSecrets that could not be unsealed, by reason",
            unseal_failures.clone(),
        );
        let key_rotation_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "key_rotation_failures",
            "Key creations (KeyRotation requests, scheduled rotations) that failed, by reason",
            key_rotation_failures.clone(),
        );
        let duration = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register("reconcile_duration_seconds", "Time to reconcile one SealedSecret", duration.clone());
        let keys = Gauge::default();
        registry.register("keys", "Keys in the ring", keys.clone());
        let published_key_created = Gauge::default();
        registry.register(
            "published_key_created_timestamp_seconds",
            "When the published key (the one new seals use) was created, in Unix seconds; 0 while there is none",
            published_key_created.clone(),
        );
        let leader = Gauge::default();
        registry.register("leader", "1 when this replica is the leader", leader.clone());
        let events_suppressed = Counter::default();
        registry.register(
            "events_suppressed",
            "Normal Events not published because more came at once than the Event budget allows",
            events_suppressed.clone(),
        );
        let decryptions = Counter::default();
        registry.register(
            "decryptions",
            "SealedSecrets handed to the decrypt workers to be unsealed (each one attempt, whatever its outcome)",
            decryptions.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        let info = crate::BUILD;
        build
            .get_or_create(&BuildLabels {
                version: info.version,
                commit: info.commit,
                formats_read: info.formats_read.join(","),
                format_written: info.format_written,
                api_version: info.api_version,
            })
            .set(1);
        registry.register(
            "build_info",
            "Always 1; the labels say which release and commit runs, the sealed-value formats it reads and writes, and the API version it reads",
            build,
        );
        // Every series of the labelled counters exists from the start, at 0, so that
        // increase() and rate() see the first failure as a step from 0.
        for result in ReconcileResult::ALL {
            reconciles.get_or_create_owned(&ResultLabel { result: result.as_str() });
        }
        for reason in Reason::ALL.iter().filter(|r| r.is_unseal_failure()) {
            unseal_failures.get_or_create_owned(&ReasonLabel { reason: reason.as_str() });
        }
        for reason in KeyError::REASONS {
            key_rotation_failures.get_or_create_owned(&ReasonLabel { reason });
        }
        Metrics {
            registry,
            reconciles,
            unseal_failures,
            key_rotation_failures,
            duration,
            keys,
            published_key_created,
            leader,
            events_suppressed,
            decryptions,
        }
    }
}

impl Metrics {
    /// Records one reconciliation that reached a decision.
    pub fn reconciled(&self, reason: Reason, seconds: f64) {
        self.count(if reason == Reason::Unsealed { ReconcileResult::Unsealed } else { ReconcileResult::Failed });
        if reason.is_unseal_failure() {
            self.unseal_failures.get_or_create(&ReasonLabel { reason: reason.as_str() }).inc();
        }
        self.duration.observe(seconds);
    }

    /// Records a reconciliation that ended in an API error (retried with backoff).
    pub fn errored(&self) {
        self.count(ReconcileResult::Error);
    }

    /// Records a reconciliation that found nothing changed since the Secret and status were
    /// written (by this replica, or before it started): nothing unsealed, nothing written.
    pub fn unchanged(&self) {
        self.count(ReconcileResult::Unchanged);
    }

    /// Records a reconciliation put off because its namespace spent its share of the
    /// decrypt workers.
    pub fn deferred(&self) {
        self.count(ReconcileResult::Deferred);
    }

    fn count(&self, result: ReconcileResult) {
        self.reconciles.get_or_create(&ResultLabel { result: result.as_str() }).inc();
    }

    /// Records a key creation that failed, by the error's fixed reason.
    pub fn key_rotation_failed(&self, error: &KeyError) {
        self.key_rotation_failures.get_or_create(&ReasonLabel { reason: error.reason() }).inc();
    }

    /// Records one SealedSecret handed to the decrypt workers: what a tenant makes the
    /// controller spend, whatever the outcome.
    pub fn decrypted(&self) {
        self.decryptions.inc();
    }

    /// Records a Normal Event held back by the Event budget.
    pub fn event_suppressed(&self) {
        self.events_suppressed.inc();
    }

    /// Sets the key gauges from the ring as loaded: its size, and when its published key
    /// was created (the time the scheduled rotation measures the period from).
    pub fn set_keys(&self, keys: &LoadedKeys) {
        self.keys.set(i64::try_from(keys.ring.len()).unwrap_or(i64::MAX));
        let created = keys.published().and_then(|k| k.created.parse::<Timestamp>().ok());
        self.published_key_created.set(created.map_or(0, Timestamp::as_second));
    }

    /// Sets whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The OpenMetrics text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        match prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            Ok(()) => out,
            Err(_) => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::new_key_secret;
    use gitseal::crds::storage::STATE_ANNOTATION;
    use k8s_openapi::api::core::v1::Secret;

    fn key(name: &str, created: &str) -> Secret {
        new_key_secret(name, "ns", created.parse().unwrap())
    }

    fn sample<'a>(text: &'a str, name: &str) -> Option<&'a str> {
        text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
    }

    #[test]
    fn the_published_keys_creation_time_is_exported() {
        let m = Metrics::default();
        let gauge = "gitseal_published_key_created_timestamp_seconds";
        assert_eq!(sample(&m.render(), gauge), Some("0"), "no key yet");
        let (old, new) = (key("gitseal-key-1", "2026-01-01T00:00:00Z"), key("gitseal-key-2", "2026-02-01T00:00:00Z"));
        m.set_keys(&LoadedKeys::from_secrets(&[new.clone(), old.clone()]).0);
        let text = m.render();
        assert_eq!((sample(&text, gauge), sample(&text, "gitseal_keys")), (Some("1769904000"), Some("2")));
        // Retiring the newest key publishes the one before it, and the gauge follows.
        let mut retired = new;
        retired.metadata.annotations.get_or_insert_default().insert(STATE_ANNOTATION.into(), "retired".into());
        m.set_keys(&LoadedKeys::from_secrets(&[old, retired]).0);
        assert_eq!(sample(&m.render(), gauge), Some("1767225600"));
        m.set_keys(&LoadedKeys::default());
        assert_eq!(sample(&m.render(), gauge), Some("0"), "the ring emptied");
    }

    #[test]
    fn renders_fixed_labels() {
        let m = Metrics::default();
        m.reconciled(Reason::Unsealed, 0.01);
        m.reconciled(Reason::ScopeMismatch, 0.01);
        m.errored();
        m.deferred();
        m.unchanged();
        m.key_rotation_failed(&KeyError::NameConflict { secret: "gitseal-key-2".into() });
        m.set_keys(&LoadedKeys::from_secrets(&[key("gitseal-key-1", "2026-01-01T00:00:00Z")]).0);
        m.event_suppressed();
        m.decrypted();
        let text = m.render();
        for expected in [
            "gitseal_reconciles_total{result=\"unsealed\"} 1",
            "gitseal_events_suppressed_total 1",
            "gitseal_decryptions_total 1",
            "gitseal_reconciles_total{result=\"failed\"} 1",
            "gitseal_reconciles_total{result=\"error\"} 1",
            "gitseal_reconciles_total{result=\"deferred\"} 1",
            "gitseal_reconciles_total{result=\"unchanged\"} 1",
            "gitseal_unseal_failures_total{reason=\"ScopeMismatch\"} 1",
            "gitseal_key_rotation_failures_total{reason=\"NameConflict\"} 1",
            "gitseal_keys 1",
            "gitseal_reconcile_duration_seconds_count 2",
            "formats_read=\"gitseal/v1,gitseal/v2\",format_written=\"gitseal/v2\",api_version=\"gitseal.dev/v1\"} 1",
        ] {
            assert!(text.contains(expected), "missing {expected} in\n{text}");
        }
        let build = format!(
            "gitseal_build_info{{version=\"{}\",commit=\"{}\",",
            env!("CARGO_PKG_VERSION"),
            env!("GITSEAL_COMMIT")
        );
        assert!(text.contains(&build), "missing {build} in\n{text}");
    }

    #[test]
    fn every_labelled_series_starts_at_zero() {
        let text = Metrics::default().render();
        let series = [
            (
                "unseal_failures_total",
                "reason",
                &["NoMatchingKey", "ScopeMismatch", "DecryptionFailed", "Malformed", "TemplateRefused"][..],
            ),
            ("key_rotation_failures_total", "reason", &["ApiError", "NameConflict"]),
            ("reconciles_total", "result", &["unsealed", "failed", "error", "deferred", "unchanged"]),
        ];
        for (family, label, values) in series {
            let prefix = format!("gitseal_{family}{{");
            assert_eq!(text.lines().filter(|l| l.starts_with(&prefix)).count(), values.len(), "{family} in\n{text}");
            for value in values {
                let line = format!("gitseal_{family}{{{label}=\"{value}\"}} 0");
                assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
            }
        }
    }
}

//! Which key new seals use after a restore. The ring publishes its newest key that is
//! not retired (`gitseal::key_secrets::order`, which the controller uses too), and a backup
//! says when its keys were made; but age does not say who made a backup, so a forged
//! one dated "now" would take the published place. A restored key never does unless the
//! operator asks: it is dated before the cluster's published key, or after it when asked.
//!
//! ```text
//!  cluster publishes P ── restore ──▶ each key dated min(its time, P - 1s): P stays
//!                      ── --publish ─▶ the newest restored key dated max(now, P + 1s)
//!  cluster publishes none ─────────▶ the backup's order, only with --publish
//! ```

use anyhow::{Result, bail};
use gitseal::{ClusterKey, KeyId, KeyStatus};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// The keys to restore, dated so the ring publishes what the operator chose.
pub struct Placement {
    pub keys: Vec<ClusterKey>,
    /// The key new seals use after the restore, and whether it is a restored one.
    pub published: Option<(KeyId, bool)>,
    /// The restored key that would be published without being asked for (`--publish`).
    unasked: Option<KeyId>,
}

impl Placement {
    /// One line naming the key new seals use after the restore.
    pub fn describe(&self) -> String {
        match &self.published {
            Some((id, true)) => {
                format!("published after the restore: key {id}, restored from the backup: new seals use it")
            }
            Some((id, false)) => format!(
                "published after the restore: key {id}, as now (restored keys never replace it without --publish)"
            ),
            None => "published after the restore: no key (every restored key is retired)".into(),
        }
    }

    /// Ok unless a restored key would become the published one without being asked.
    ///
    /// # Errors
    /// Naming that key.
    pub fn check_asked(&self) -> Result<()> {
        if let Some(id) = &self.unasked {
            bail!(
                "the cluster publishes no key, so restoring would make key {id} the one new seals use; pass --publish if it should be, after checking where this backup came from"
            );
        }
        Ok(())
    }
}

/// Dates `missing` against the cluster's `current` published key; `publish`: the
/// newest restored key that is not retired becomes the published one.
///
/// # Errors
/// `publish` with no restored key that could be published.
pub fn place(
    missing: &[&ClusterKey],
    current: Option<&ClusterKey>,
    publish: bool,
    now: Timestamp,
) -> Result<Placement> {
    let newest = missing.iter().filter(|k| k.status() != KeyStatus::Retired).max_by_key(|k| k.created());
    let chosen = match (newest, publish) {
        (Some(k), true) => Some(k.id().clone()),
        (None, true) => {
            bail!("--publish: every key to restore is retired or already in the cluster; none can be published")
        }
        (_, false) => None,
    };
    let second = SignedDuration::from_secs(1);
    let mut keys = Vec::with_capacity(missing.len());
    for key in missing {
        let created = match (current, chosen.as_ref() == Some(key.id())) {
            (Some(p), true) => now.max(p.created() + second),
            (Some(p), false) => key.created().min(p.created() - second),
            (None, _) => key.created(),
        };
        keys.push(ClusterKey::new(key.identity().clone(), key.secret(), created, key.status())?);
    }
    let published = match (&chosen, current) {
        (Some(id), _) => Some((id.clone(), true)),
        (None, Some(p)) => Some((p.id().clone(), false)),
        (None, None) => None,
    };
    let unasked = match (current, publish) {
        (None, false) => newest.map(|k| k.id().clone()),
        _ => None,
    };
    Ok(Placement { keys, published, unasked })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gitseal::generate_identity;

    fn key(secret: &str, created: &str, status: KeyStatus) -> ClusterKey {
        ClusterKey::new(generate_identity(), secret, created.parse().unwrap(), status).unwrap()
    }

    /// The ring's own order over the cluster's keys and the restored ones.
    fn published_of(current: &ClusterKey, restored: &[ClusterKey]) -> KeyId {
        let mut all: Vec<&ClusterKey> = restored.iter().chain([current]).collect();
        all.sort_by_key(|k| (k.created(), gitseal::crds::storage::key_number(k.secret())));
        all.iter().rev().find(|k| k.status() != KeyStatus::Retired).unwrap().id().clone()
    }

    #[test]
    fn a_restored_key_dated_now_stays_below_the_published_key_unless_asked() {
        let now: Timestamp = "2026-12-07T00:00:00Z".parse().unwrap();
        let mut current = key("gitseal-key-1", "2026-06-01T00:00:00Z", KeyStatus::Active);
        current.set_status(KeyStatus::Published);
        let forged = key("gitseal-key-9", "2026-12-07T00:00:00Z", KeyStatus::Active);
        let old = key("gitseal-key-0", "2026-01-01T00:00:00Z", KeyStatus::Active);

        let placed = place(&[&forged, &old], Some(&current), false, now).unwrap();
        assert_eq!(published_of(&current, &placed.keys), *current.id());
        assert_eq!(placed.keys[1].created(), old.created(), "an older key keeps its time");
        assert!(placed.describe().contains(current.id().as_str()));
        placed.check_asked().unwrap();

        let placed = place(&[&old], Some(&current), true, now).unwrap();
        assert_eq!(published_of(&current, &placed.keys), *old.id());
        assert!(placed.describe().contains(old.id().as_str()) && placed.describe().contains("restored"));

        let placed = place(&[&forged, &old], None, false, now).unwrap();
        let err = placed.check_asked().unwrap_err().to_string();
        assert!(err.contains(forged.id().as_str()) && err.contains("--publish"), "{err}");
        place(&[&forged, &old], None, true, now).unwrap().check_asked().unwrap();
    }
}

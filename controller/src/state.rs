//! State shared by the reconciler, the key watcher and the HTTP server.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use gitseal::KeyRing;

use crate::keys::LoadedKeys;
use crate::metrics::Metrics;

/// Keys, readiness and metrics of this replica.
#[derive(Default)]
pub struct Shared {
    keys: RwLock<LoadedKeys>,
    keys_loaded: AtomicBool,
    ring_generation: AtomicU64,
    controller_synced: AtomicBool,
    leading: AtomicBool,
    failed: AtomicBool,
    /// Prometheus metrics.
    pub metrics: Metrics,
}

impl Shared {
    /// A copy of the private key ring, for one reconciliation.
    pub fn ring(&self) -> KeyRing {
        self.keys.read().map(|k| k.ring.clone()).unwrap_or_default()
    }

    /// The ids of the ring's keys.
    pub fn ring_ids(&self) -> Vec<gitseal::KeyId> {
        self.keys.read().map(|k| k.ring.ids()).unwrap_or_default()
    }

    /// A copy of the whole key state.
    pub fn keys(&self) -> LoadedKeys {
        self.keys.read().map(|k| k.clone()).unwrap_or_default()
    }

    /// Replaces the key state after the key Secrets changed.
    pub fn set_keys(&self, state: LoadedKeys) {
        self.metrics.set_keys(&state);
        let loaded = !state.ring.is_empty();
        if let Ok(mut k) = self.keys.write() {
            *k = state;
        }
        self.keys_loaded.store(loaded, Ordering::SeqCst);
        self.ring_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// A number that changes whenever the key ring does.
    pub fn ring_generation(&self) -> u64 {
        self.ring_generation.load(Ordering::SeqCst)
    }

    /// Marks the controller's caches as synced (leader) — standbys never run it.
    pub fn set_controller_synced(&self) {
        self.controller_synced.store(true, Ordering::SeqCst);
    }

    /// Records whether this replica leads.
    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::SeqCst);
        self.metrics.set_leader(leading);
    }

    /// Marks the replica as failed for good (a background task died; it is exiting).
    pub fn set_failed(&self) {
        self.failed.store(true, Ordering::SeqCst);
    }

    /// Ready: nothing failed, the key ring is loaded and, when leading, the controller's
    /// caches synced.
    pub fn ready(&self) -> bool {
        !self.failed.load(Ordering::SeqCst)
            && self.keys_loaded.load(Ordering::SeqCst)
            && (!self.leading.load(Ordering::SeqCst) || self.controller_synced.load(Ordering::SeqCst))
    }
}

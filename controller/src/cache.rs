//! What the leader keeps of each SealedSecret in memory: what reconciling needs, and no
//! more.
//!
//! ```text
//!  watch event ──parsed as Watched (no managedFields)──trim──▶ cache: metadata (no
//!                               last-applied copy),
//!                               spec (values only while small), status
//!  reconcile ──values trimmed?──yes──▶ GET the object (bounded by the decrypt pool's
//!                                       memory permits)
//! ```
//!
//! The API server accepts objects up to about 1.5 MiB, so a cache of full objects grows
//! with whatever tenants create. Values of objects over [`INLINE_VALUES`] are dropped
//! from the cache and read when reconciled: rare large objects cost one GET each, the
//! common small ones none.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{Stream, TryStreamExt};
use gitseal::crds::SealedSecretStatus;
use gitseal::{SealedSecret, SealedSecretSpec};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::Deserialize;

/// Largest total of sealed values kept in the cache for one object.
pub const INLINE_VALUES: usize = 64 * 1024;
/// Marks a cached object whose values were dropped. Only ever set on the cached copy
/// (the controller never writes a SealedSecret's metadata or spec), and only by
/// [`trim`], which first removes any a tenant wrote: a marker a tenant could set would
/// make every reconcile of a small object read it again, reserve the largest object's
/// memory, and skip the restart check that nothing changed.
const TRIMMED: &str = "gitseal.dev/cache-values-trimmed";
/// kubectl's copy of the whole applied object (client-side apply): twice the memory.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A SealedSecret as the watch reads it: every field but `metadata.managedFields`, which
/// the API server sends with each event (a JSON tree per field manager) and nothing here
/// needs. Skipped while parsing, so never allocated; [`Watched::unwrap_event`] gives the
/// SealedSecrets.
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "WatchedParts")]
pub struct Watched(SealedSecret);

impl Watched {
    /// A watch event of [`Watched`] objects as one of SealedSecrets.
    pub fn unwrap_event(event: watcher::Event<Watched>) -> watcher::Event<SealedSecret> {
        match event {
            watcher::Event::Apply(o) => watcher::Event::Apply(o.0),
            watcher::Event::Delete(o) => watcher::Event::Delete(o.0),
            watcher::Event::Init => watcher::Event::Init,
            watcher::Event::InitApply(o) => watcher::Event::InitApply(o.0),
            watcher::Event::InitDone => watcher::Event::InitDone,
        }
    }
}

/// What [`Watched`] parses: `metadata` without `managedFields`, `spec` and `status`.
#[derive(Deserialize)]
struct WatchedParts {
    #[serde(default)]
    metadata: WatchedMeta,
    spec: SealedSecretSpec,
    #[serde(default)]
    status: Option<SealedSecretStatus>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WatchedMeta {
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    self_link: Option<String>,
    uid: Option<String>,
}

impl From<WatchedParts> for Watched {
    fn from(parts: WatchedParts) -> Watched {
        let m = parts.metadata;
        let metadata = ObjectMeta {
            annotations: m.annotations,
            creation_timestamp: m.creation_timestamp,
            deletion_grace_period_seconds: m.deletion_grace_period_seconds,
            deletion_timestamp: m.deletion_timestamp,
            finalizers: m.finalizers,
            generate_name: m.generate_name,
            generation: m.generation,
            labels: m.labels,
            managed_fields: None,
            name: m.name,
            namespace: m.namespace,
            owner_references: m.owner_references,
            resource_version: m.resource_version,
            self_link: m.self_link,
            uid: m.uid,
        };
        Watched(SealedSecret { metadata, spec: parts.spec, status: parts.status })
    }
}

impl Resource for Watched {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        SealedSecret::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        SealedSecret::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        SealedSecret::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        SealedSecret::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.0.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

/// Total length of an object's sealed values.
pub fn values_len(sealed: &SealedSecret) -> usize {
    sealed.spec.encrypted_data.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// Drops from a watched object what reconciling does not need (its `managedFields` were
/// never parsed: [`Watched`]).
pub fn trim(sealed: &mut SealedSecret) {
    sealed.annotations_mut().remove(LAST_APPLIED);
    sealed.annotations_mut().remove(TRIMMED);
    if values_len(sealed) > INLINE_VALUES {
        sealed.spec.encrypted_data.clear();
        sealed.spec.key_ids.clear();
        sealed.annotations_mut().insert(TRIMMED.into(), "true".into());
    }
}

/// The objects to reconcile from a reflected watch of SealedSecrets: each live change,
/// and, once a list or re-list is complete, every object of the cache as it now is.
///
/// Objects arriving page by page during a list are not passed on one by one: the cache
/// swaps a re-list in only when it is complete, so a reconcile triggered earlier would read
/// the previous list (a new object "not found", an updated one at its old generation), and
/// the generation predicate, having seen the new generation, would never let it through
/// again. Found by `controller/tests/faults.rs` (watches through an API server restart).
pub fn settled<S>(events: S, cache: Store<SealedSecret>) -> impl Stream<Item = Result<SealedSecret, watcher::Error>>
where
    S: Stream<Item = Result<watcher::Event<SealedSecret>, watcher::Error>>,
{
    events
        .map_ok(move |event| {
            let objects = match event {
                watcher::Event::Apply(object) => vec![Arc::new(object)],
                watcher::Event::InitDone => cache.state(),
                watcher::Event::Init | watcher::Event::InitApply(_) | watcher::Event::Delete(_) => Vec::new(),
            };
            // Copied out of the cache one at a time, as the controller takes them: a list of
            // 10,000 objects is never held twice.
            futures::stream::iter(objects.into_iter().map(|o| Ok(Arc::unwrap_or_clone(o))))
        })
        .try_flatten()
}

/// Whether the cached object lacks its values and must be read before reconciling.
pub fn is_trimmed(sealed: &SealedSecret) -> bool {
    sealed.annotations().contains_key(TRIMMED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitseal::SealedSecretSpec;

    fn object(values: usize, value_len: usize) -> SealedSecret {
        let mut spec = SealedSecretSpec::default();
        for i in 0..values {
            spec.encrypted_data.insert(format!("k{i}"), "A".repeat(value_len));
            spec.key_ids.insert(format!("k{i}"), vec!["0123456789abcdef".into()]);
        }
        let mut s = SealedSecret::new("db", spec);
        s.annotations_mut().insert(LAST_APPLIED.into(), "{…the whole object…}".into());
        s.annotations_mut().insert("team".into(), "a".into());
        s
    }

    fn named(name: &str, generation: i64) -> SealedSecret {
        let mut s = SealedSecret::new(name, SealedSecretSpec::default());
        s.metadata.namespace = Some("ns".into());
        s.metadata.generation = Some(generation);
        s
    }

    #[test]
    fn a_watched_object_is_the_sealed_secret_without_its_managed_fields() {
        let json = serde_json::json!({
            "apiVersion": "gitseal.dev/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {
                "name": "db", "namespace": "prod", "uid": "u1", "resourceVersion": "7", "generation": 3,
                "labels": {"app": "db"}, "annotations": {"team": "a"},
                "creationTimestamp": "2026-11-30T00:00:00Z",
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "u2"}],
                "finalizers": ["f"],
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:spec": {"f:encryptedData": {}}}}]
            },
            "spec": {"scope": "strict", "encryptedData": {"k": "v"}, "keyIds": {"k": ["0123456789abcdef"]}},
            "status": {"observedGeneration": 3, "secretResourceVersion": "6"}
        });
        let full: SealedSecret = serde_json::from_value(json.clone()).unwrap();
        assert!(!full.metadata.managed_fields.as_ref().unwrap().is_empty());
        let watched: Watched = serde_json::from_value(json).unwrap();
        let mut expected = full;
        expected.metadata.managed_fields = None;
        assert_eq!(watched.0, expected, "every other field as the full type reads it");
        assert_eq!(Watched::url_path(&(), Some("prod")), SealedSecret::url_path(&(), Some("prod")));
    }

    #[tokio::test]
    async fn reconciles_follow_live_changes_and_complete_lists_only() {
        use kube::runtime::{reflector, watcher::Event};
        let (store, writer) = reflector::store();
        let events = vec![
            Event::Init,
            Event::InitApply(named("a", 1)),
            Event::InitApply(named("gone", 1)),
            Event::InitDone,
            Event::Apply(named("a", 2)),
            // A re-list after the watch expired: nothing until it is complete, then the
            // new list as a whole (the deleted object is not in it; "b" is new).
            Event::Init,
            Event::InitApply(named("a", 3)),
            Event::InitApply(named("b", 1)),
            Event::InitDone,
        ];
        let reflected = reflector::reflector(writer, futures::stream::iter(events.into_iter().map(Ok)));
        let cache = store.clone();
        let seen: Vec<(String, i64)> = settled(reflected, store)
            .map_ok(|s| {
                // What the controller will read when it reconciles: the same object.
                let cached = cache.get(&reflector::ObjectRef::from_obj(&s)).and_then(|c| c.metadata.generation);
                assert_eq!(cached, s.metadata.generation, "{} is triggered before the cache has it", s.name_any());
                (s.name_any(), s.metadata.generation.unwrap_or_default())
            })
            .try_collect()
            .await
            .unwrap();
        let mut first_list = seen[..2].to_vec();
        first_list.sort();
        assert_eq!(first_list, [("a".to_string(), 1), ("gone".to_string(), 1)]);
        assert_eq!(seen[2], ("a".to_string(), 2));
        let mut relist = seen[3..].to_vec();
        relist.sort();
        assert_eq!(relist, [("a".to_string(), 3), ("b".to_string(), 1)]);
    }

    #[test]
    fn small_objects_keep_their_values_large_ones_do_not_whatever_the_tenant_annotates() {
        let mut small = object(3, 500);
        trim(&mut small);
        assert!(!is_trimmed(&small) && small.spec.encrypted_data.len() == 3 && small.spec.key_ids.len() == 3);
        assert_eq!(small.annotations().keys().collect::<Vec<_>>(), ["team"]);

        let mut forged = object(3, 500);
        forged.annotations_mut().insert(TRIMMED.into(), "true".into());
        trim(&mut forged);
        assert!(!is_trimmed(&forged), "a tenant's marker is not the cache's");
        assert_eq!(forged.spec.encrypted_data.len(), 3);

        let mut large = object(2, INLINE_VALUES);
        trim(&mut large);
        assert!(is_trimmed(&large) && large.spec.encrypted_data.is_empty() && large.spec.key_ids.is_empty());
        assert!(!large.annotations().contains_key(LAST_APPLIED));
    }
}

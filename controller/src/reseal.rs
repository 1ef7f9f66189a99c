//! Re-encryption on request (leader only): the answer to `gitseal reseal`.
//!
//! ```text
//!  ResealRequest {recipients, values[ciphertext, keyIds]}
//!     │ namespace's turn (fairness), then one job on the decrypt pool, charged as a whole
//!     └─ each value: open with the ring ─▶ binding + earlier recipients (from the payload)
//!                    seal again to published key + offered earlier recipients
//!                    (key trials from one budget for the whole request)
//!  status.values[i] = {ciphertext, keyIds, dropped, retired} | {error}
//! ```
//!
//! Never plaintext, never a recipient the value did not already have other than the
//! published key, and the scope from the sealed payload only: not an oracle.

use age::x25519;
use gitseal::crds::{ResealRequest, ResealRequestSpec, ResealRequestStatus, ResealResult};
use gitseal::{Budget, KeyId, KeyRing, Recipients, reseal_value};
use kube::api::Api;
use kube::{Client, ResourceExt};
use std::sync::Arc;
use std::time::Instant;
use tracing::info;

use crate::fairness::Workers;
use crate::state::Shared;
use crate::writes;

/// Largest answer written into a ResealRequest: its status and spec together must stay
/// under the API server's object size limit (etcd's 1.5 MiB request limit by default),
/// with room for metadata.
const MAX_ANSWER: usize = 1024 * 1024 + 256 * 1024;

/// Answers ResealRequests in the controller's namespace until the watch ends.
pub async fn serve(client: Client, namespace: String, shared: Arc<Shared>, workers: Workers) {
    let api: Api<ResealRequest> = Api::namespaced(client, &namespace);
    let pending = |r: &ResealRequest| r.status.as_ref().is_none_or(|s| s.conditions.is_empty());
    crate::requests::serve(api.clone(), pending, |request| {
        let (api, shared, workers, namespace) = (&api, &shared, &workers, &namespace);
        async move { respond(api, shared, workers, namespace, request).await }
    })
    .await;
}

/// Runs `work` (one whole request) on the pool once `namespace` has its turn, and charges
/// the time it took to the namespace in one piece: a request of many values is one job,
/// not many, and counts against the same share as the namespace's SealedSecrets.
async fn run_charged<T, F>(workers: &Workers, namespace: &str, work: F) -> Option<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let turn = loop {
        match workers.fairness.admit(namespace).await {
            Ok(turn) => break turn,
            Err(wait) => tokio::time::sleep(wait).await,
        }
    };
    let timed = move || {
        let started = Instant::now();
        (work(), started.elapsed())
    };
    let (result, spent) = workers.decrypt.run(timed).await?;
    turn.finish(spent);
    Some(result)
}

async fn respond(
    api: &Api<ResealRequest>,
    shared: &Shared,
    workers: &Workers,
    namespace: &str,
    request: ResealRequest,
) -> Result<(), String> {
    let keys = shared.keys();
    let published = keys
        .published()
        .and_then(|k| Recipients::parse_each([k.recipient.as_str()]).ok())
        .and_then(|mut r| r.pop())
        .ok_or("no published key yet")?;
    let name = request.name_any();
    let _memory = workers.decrypt.reserve(request.spec.values.iter().map(|v| v.ciphertext.len()).sum()).await;
    let (ring, retired, generation) = (keys.ring.clone(), keys.retired(), request.metadata.generation);
    let work = move || fit(answer(&request, &ring, &published, &retired), &request.spec, generation);
    let status = run_charged(workers, namespace, work)
        .await
        .ok_or("re-encryption failed unexpectedly; see the controller's log")?;
    let failed = status.values.iter().filter(|v| v.error.is_some()).count();
    match writes::apply_status(api, &name, &status).await {
        // Deleted meanwhile: nobody waits for the answer.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.to_string()),
        Ok(_) => {
            info!(request = %name, values = status.values.len(), failed, "resealed");
            Ok(())
        }
    }
}

/// The answer, or when it could never be stored (request and answer together over the
/// object size limit), a `Ready=False` status that says so and what to do.
fn fit(status: ResealRequestStatus, spec: &ResealRequestSpec, generation: Option<i64>) -> ResealRequestStatus {
    let total = json_len(&status) + json_len(spec);
    if total <= MAX_ANSWER {
        return status;
    }
    let message = format!(
        "the answer to {} values would make this object {total} bytes, over the API server's limit; send fewer values per request (gitseal reseal sends {})",
        spec.values.len(),
        gitseal::crds::bounds::RESEAL_BATCH,
    );
    let condition = writes::answered(false, "TooLarge", &message, generation);
    ResealRequestStatus { values: Vec::new(), conditions: vec![condition] }
}

fn json_len<T: serde::Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
}

/// The answer to one request (pure: the ring, the published key and the retired keys
/// are passed in). The whole request shares one budget of key trials, as one
/// SealedSecret's values do: values past it are answered with an error, not opened.
pub fn answer(
    request: &ResealRequest,
    ring: &KeyRing,
    published: &x25519::Recipient,
    retired: &[x25519::Recipient],
) -> ResealRequestStatus {
    let offered: Vec<x25519::Recipient> =
        request.spec.recipients.iter().filter_map(|r| Recipients::parse_each([r.as_str()]).ok()).flatten().collect();
    let mut budget = Budget::default();
    let values = request
        .spec
        .values
        .iter()
        .map(|item| {
            let hints = KeyId::hints(&item.key_ids);
            match reseal_value(&item.ciphertext, ring, &hints, published, &offered, retired, &mut budget) {
                Ok(resealed) => ResealResult {
                    ciphertext: Some(resealed.value.ciphertext),
                    key_ids: resealed.value.key_ids.iter().map(KeyId::to_string).collect(),
                    dropped: resealed.dropped.iter().map(KeyId::to_string).collect(),
                    retired: resealed.retired.iter().map(KeyId::to_string).collect(),
                    error: None,
                },
                Err(e) => ResealResult { error: Some(e.to_string()), ..ResealResult::default() },
            }
        })
        .collect::<Vec<_>>();
    let failed = values.iter().filter(|v| v.error.is_some()).count();
    let reason = if failed == 0 { "Resealed" } else { "PartiallyResealed" };
    let message = format!("{} of {} values re-encrypted", values.len() - failed, values.len());
    let condition = writes::answered(true, reason, &message, request.metadata.generation);
    ResealRequestStatus { values, conditions: vec![condition] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decrypt::DecryptPool;
    use crate::fairness::Fairness;
    use gitseal::crds::ResealItem;
    use gitseal::{Binding, Scope, generate_identity, seal_value, unseal_value};

    /// An attacker's request: 40 values, each sealed to 63 strangers and, last, the
    /// cluster's key, without key ids, so that each costs 64 key trials. Budgeted per value
    /// (as before), all 40 were opened: 2,560 trials, and a request may hold 1,000 values.
    /// One budget for the request stops it where one SealedSecret would stop.
    #[test]
    fn a_request_of_many_values_shares_one_budget_of_key_trials() {
        let cluster = generate_identity();
        let mut ring = KeyRing::new();
        ring.push(cluster.clone());
        let strangers = (1..gitseal::crds::bounds::MAX_KEY_IDS).map(|_| generate_identity().to_public());
        let to = Recipients::new(strangers.chain([cluster.to_public()])).unwrap();
        let b = Binding::new(Scope::NamespaceWide, Some("prod"), None, "k").unwrap();
        let costly = seal_value(b"v", &b, &to).unwrap().ciphertext;
        let values = (0..40).map(|_| ResealItem { ciphertext: costly.clone(), key_ids: vec![] }).collect();
        let request = ResealRequest::new("r", ResealRequestSpec { recipients: vec![], values });
        let status = answer(&request, &ring, &cluster.to_public(), &[]);
        let per_value = to.iter().count();
        let opened = status.values.iter().filter(|v| v.error.is_none()).count();
        assert_eq!(opened, Budget::PER_OBJECT / per_value, "as many as one budget allows");
        let refused = status.values.iter().filter_map(|v| v.error.as_deref()).collect::<Vec<_>>();
        assert!(refused.iter().all(|e| e.contains("key trials")), "{refused:?}");
        assert_eq!(status.conditions[0].reason, "PartiallyResealed");
    }

    /// A request's time is charged to its namespace as one piece: after a request that
    /// took longer than the burst, the namespace waits and another does not.
    #[tokio::test]
    async fn a_request_is_charged_to_its_namespace_as_a_whole() {
        let workers = Workers {
            decrypt: DecryptPool::new(1),
            fairness: Arc::new(Fairness::new(1.0, std::time::Duration::from_millis(200), 1)),
        };
        let slow = || std::thread::sleep(std::time::Duration::from_millis(500));
        assert_eq!(run_charged(&workers, "gitseal-system", slow).await, Some(()));
        assert!(workers.fairness.admit("gitseal-system").await.is_err(), "the request's time was charged");
        assert!(workers.fairness.admit("other").await.is_ok());
    }

    #[test]
    fn an_answer_too_large_to_store_is_a_refusal_not_a_retry() {
        let item = || ResealItem { ciphertext: "A".repeat(2048), key_ids: vec![] };
        let answered = |_| ResealResult { ciphertext: Some("B".repeat(2048)), ..ResealResult::default() };
        let status = |n: usize| ResealRequestStatus { values: (0..n).map(answered).collect(), conditions: vec![] };
        let spec = |n: usize| ResealRequestSpec { recipients: vec![], values: (0..n).map(|_| item()).collect() };

        let small = fit(status(100), &spec(100), Some(1));
        assert_eq!(small.values.len(), 100, "100 values of 2 KiB fit");
        let large = fit(status(400), &spec(400), Some(1));
        assert!(large.values.is_empty());
        let c = &large.conditions[0];
        assert_eq!((c.status.as_str(), c.reason.as_str(), c.observed_generation), ("False", "TooLarge", Some(1)));
        assert!(c.message.contains("400 values") && c.message.contains("100"), "{}", c.message);
    }

    #[test]
    fn answers_each_value_and_never_adds_a_stranger_or_a_retired_key() {
        let (old, new, glass, stranger, leaked) =
            (generate_identity(), generate_identity(), generate_identity(), generate_identity(), generate_identity());
        let mut ring = KeyRing::new();
        ring.push(old.clone());
        ring.push(new.clone());
        let b = Binding::new(Scope::NamespaceWide, Some("prod"), None, "k").unwrap();
        let to = Recipients::new([old.to_public(), glass.to_public(), leaked.to_public()]).unwrap();
        let good = seal_value(b"v", &b, &to).unwrap();
        let foreign = seal_value(b"v", &b, &Recipients::new([stranger.to_public()]).unwrap()).unwrap();
        let request = ResealRequest::new(
            "r",
            ResealRequestSpec {
                recipients: [&glass, &stranger, &leaked].map(|k| k.to_public().to_string()).to_vec(),
                values: vec![
                    ResealItem { ciphertext: good.ciphertext.clone(), key_ids: vec![] },
                    ResealItem { ciphertext: foreign.ciphertext, key_ids: vec![] },
                    ResealItem { ciphertext: "not base64!".into(), key_ids: vec![] },
                ],
            },
        );
        let status = answer(&request, &ring, &new.to_public(), &[leaked.to_public()]);
        assert_eq!(status.values.len(), 3);
        let first = &status.values[0];
        let ids = |rs: &[x25519::Recipient]| rs.iter().map(|r| KeyId::of(r).to_string()).collect::<Vec<_>>();
        assert_eq!(first.key_ids, ids(&[new.to_public(), glass.to_public()]));
        assert_eq!(first.retired, ids(&[leaked.to_public()]), "a retired key is never sealed to again");
        assert!(first.dropped.is_empty());
        let mut glass_ring = KeyRing::new();
        glass_ring.push(glass);
        let opened = unseal_value(first.ciphertext.as_deref().unwrap(), &b, &glass_ring, &[]).unwrap();
        assert_eq!(&opened[..], b"v");
        assert!(status.values[1].error.as_deref().unwrap().contains("no key"));
        assert!(status.values[2].error.as_deref().unwrap().contains("base64"));
        assert_eq!(status.conditions[0].reason, "PartiallyResealed");
    }
}

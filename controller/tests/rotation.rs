//! Key rotation end to end: on request and on schedule, live in every replica, without
//! duplicates when interrupted or raced; retired keys stop unsealing; a Secret that only
//! looks like a key neither blocks rotation nor joins the ring.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

mod support;

use gitseal::SealedSecret;
use gitseal::crds::KeyRotation;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use secrecy::ExposeSecret;
use support::{CONTROLLER_NS, Env, eventually, kubectl, sealed};

/// Label on the look-alike Secrets these tests make, so leftovers can be found.
const LOOK_ALIKE_LABEL: &str = "e2e.gitseal.dev/look-alike";

/// A Secret named and shaped like a key (type, valid identity) but without the key
/// label, as anyone allowed to create Secrets in the controller's namespace could make.
/// Deleted when dropped, so a failing test leaves no Secret in the next one's way.
struct LookAlike {
    name: String,
    recipient: String,
    created: Secret,
}

impl LookAlike {
    async fn create(env: &Env, name: &str) -> LookAlike {
        kubectl(&["delete", "secret", "-n", CONTROLLER_NS, "-l", LOOK_ALIKE_LABEL, "--ignore-not-found"]);
        let identity = gitseal::generate_identity();
        let file = gitseal::identity_file(&identity, "2026-01-01T00:00:00Z");
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": { LOOK_ALIKE_LABEL: "true" } },
            "type": "gitseal.dev/age-key",
            "stringData": { "key.txt": file.expose_secret() },
        }))
        .unwrap();
        let api: Api<Secret> = Api::namespaced(env.client(), CONTROLLER_NS);
        let created = api.create(&PostParams::default(), &secret).await.unwrap();
        LookAlike { name: name.to_owned(), recipient: identity.to_public().to_string(), created }
    }

    /// Asserts nobody changed it: same resourceVersion, still no key label.
    async fn assert_untouched(&self, env: &Env) {
        let api: Api<Secret> = Api::namespaced(env.client(), CONTROLLER_NS);
        let now = api.get(&self.name).await.unwrap();
        assert_eq!(now.resource_version(), self.created.resource_version(), "{} was changed", self.name);
        assert!(!now.labels().contains_key("gitseal.dev/key"));
    }
}

impl Drop for LookAlike {
    fn drop(&mut self) {
        kubectl(&["delete", "secret", "-n", CONTROLLER_NS, &self.name, "--ignore-not-found"]);
    }
}

/// The name the next key would take if only labelled keys counted.
async fn next_key_by_labels(env: &Env) -> String {
    let numbers = env.key_secrets().await.into_iter().filter_map(|n| n.strip_prefix("gitseal-key-")?.parse().ok());
    format!("gitseal-key-{}", numbers.max().unwrap_or(0u64) + 1)
}

async fn ready_condition(api: &Api<KeyRotation>, name: &str) -> Option<(String, String, String)> {
    let c = api.get(name).await.ok()?.status?.conditions.into_iter().find(|c| c.type_ == "Ready")?;
    Some((c.status, c.reason, c.message))
}

fn request() -> KeyRotation {
    let mut r = KeyRotation::new("", gitseal::crds::KeyRotationSpec { reason: Some("e2e".into()) });
    r.metadata.name = None;
    r.metadata.generate_name = Some("rotate-".into());
    r
}

async fn rotated_key(api: &Api<KeyRotation>, name: &str) -> String {
    eventually(&format!("{name} completed"), || async { api.get(name).await.ok()?.status?.key }).await
}

async fn keys_made_by(env: &Env, made_by: &str) -> Vec<String> {
    let api: Api<Secret> = Api::namespaced(env.client(), CONTROLLER_NS);
    let list = api.list_metadata(&ListParams::default().labels("gitseal.dev/key=true")).await.unwrap();
    list.items
        .into_iter()
        .filter(|s| s.annotations().get("gitseal.dev/rotation").is_some_and(|m| m == made_by))
        .map(|s| s.name_any())
        .collect()
}

async fn ready_reason(api: &Api<SealedSecret>, name: &str) -> Option<String> {
    let s = api.get_opt(name).await.ok()??;
    let c = s.status?.conditions.into_iter().find(|c| c.type_ == "Ready")?;
    Some(c.reason)
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn rotate_publish_live_keep_old_values_then_retire() {
    let (env, ctl, first) = Env::with_controller().await;
    let standby = env.start("replica-b");
    standby.wait_ready().await;
    let ns = env.cluster.fresh_namespace("rotate").await.unwrap();
    let sealed_api: Api<SealedSecret> = Api::namespaced(env.client(), &ns);
    let secrets: Api<Secret> = Api::namespaced(env.client(), &ns);
    env.apply(&sealed(&ns, "old", &[("k", "sealed-to-key-1")], &first)).await;
    eventually("old unsealed", || async { (ready_reason(&sealed_api, "old").await? == "Unsealed").then_some(()) })
        .await;

    let requests: Api<KeyRotation> = Api::namespaced(env.client(), CONTROLLER_NS);
    let made = requests.create(&PostParams::default(), &request()).await.unwrap();
    let new_id = rotated_key(&requests, &made.name_any()).await;
    let second = eventually("key 2 published", || async {
        let r = env.recipients().await;
        (r.ids()[0].as_str() == new_id).then_some(r)
    })
    .await;
    // Every replica serves the new key at once, without a restart.
    for replica in [&ctl, &standby] {
        eventually("replica publishes key 2", || async {
            replica.get("/v1/recipients").1.contains(&second.iter().next().unwrap().1.to_string()).then_some(())
        })
        .await;
    }
    // New seals use key 2; values sealed to key 1 still unseal.
    env.apply(&sealed(&ns, "new", &[("k", "sealed-to-key-2")], &second)).await;
    eventually("new unsealed", || async { (ready_reason(&sealed_api, "new").await? == "Unsealed").then_some(()) })
        .await;
    assert_eq!(ready_reason(&sealed_api, "old").await.as_deref(), Some("Unsealed"));

    // Retire key 1: what depends on it alone stops unsealing; its Secret stays.
    let key_secrets: Api<Secret> = Api::namespaced(env.client(), CONTROLLER_NS);
    let first_id = first.ids()[0].to_string();
    let holder = key_secrets
        .list(&ListParams::default().labels("gitseal.dev/key=true"))
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|s| {
            let text = String::from_utf8_lossy(&s.data.as_ref().unwrap()["key.txt"].0).into_owned();
            gitseal::KeyRing::parse_identity_file(&text).unwrap().ids()[0].as_str() == first_id
        })
        .unwrap();
    let retire = serde_json::json!({"metadata": {"annotations": {"gitseal.dev/state": "retired"}}});
    key_secrets.patch(&holder.name_any(), &PatchParams::default(), &Patch::Merge(&retire)).await.unwrap();
    eventually("old refused after retirement", || async {
        (ready_reason(&sealed_api, "old").await? == "NoMatchingKey").then_some(())
    })
    .await;
    let kept = secrets.get("old").await.unwrap();
    assert_eq!(kept.data.unwrap()["k"].0, b"sealed-to-key-1", "the existing Secret is untouched");
    assert_eq!(ready_reason(&sealed_api, "new").await.as_deref(), Some("Unsealed"));
    let keys_json = ctl.get("/v1/keys").1;
    assert!(keys_json.contains("\"retired\"") && keys_json.contains("\"published\""), "{keys_json}");
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn interrupted_and_raced_rotations_make_one_key_each() {
    let env = Env::new().await;
    // A request made while no controller runs; the controller is killed as soon as the
    // key appears, possibly before it recorded the key in the request's status.
    let requests: Api<KeyRotation> = Api::namespaced(env.client(), CONTROLLER_NS);
    let made = requests.create(&PostParams::default(), &request()).await.unwrap();
    let made_by = format!("rotation/{}", made.uid().unwrap());
    let first = env.start("replica-a");
    eventually("key created", || async { (!keys_made_by(&env, &made_by).await.is_empty()).then_some(()) }).await;
    first.kill();
    let again = env.start("replica-a");
    rotated_key(&requests, &made.name_any()).await;
    assert_eq!(keys_made_by(&env, &made_by).await.len(), 1, "no second key after the SIGKILL");

    // Two replicas up, one request: one key.
    let other = env.start("replica-b");
    other.wait_ready().await;
    again.wait_ready().await;
    let raced = requests.create(&PostParams::default(), &request()).await.unwrap();
    rotated_key(&requests, &raced.name_any()).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(keys_made_by(&env, &format!("rotation/{}", raced.uid().unwrap())).await.len(), 1);
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn scheduled_rotation_publishes_a_new_key() {
    let env = Env::new().await;
    let before = env.key_secrets().await.len();
    let ctl = env.start_with("replica-a", &["--key-rotation-period", "4s"]);
    ctl.wait_ready().await;
    let published = env.recipients().await.ids()[0].clone();
    eventually("a scheduled key", || async {
        let now = env.recipients().await.ids()[0].clone();
        (now != published && env.key_secrets().await.len() > before).then_some(())
    })
    .await;
    let made: Vec<_> = {
        let api: Api<Secret> = Api::namespaced(env.client(), CONTROLLER_NS);
        let list = api.list_metadata(&ListParams::default().labels("gitseal.dev/key=true")).await.unwrap();
        list.items.into_iter().filter_map(|s| s.annotations().get("gitseal.dev/rotation").cloned()).collect()
    };
    assert!(made.iter().any(|m| m == &format!("scheduled/{published}")), "{made:?}");
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn a_look_alike_secret_is_stepped_over_and_left_alone() {
    let (env, ctl, _) = Env::with_controller().await;
    let look_alike = LookAlike::create(&env, &next_key_by_labels(&env).await).await;

    let requests: Api<KeyRotation> = Api::namespaced(env.client(), CONTROLLER_NS);
    let made = requests.create(&PostParams::default(), &request()).await.unwrap();
    let new_id = rotated_key(&requests, &made.name_any()).await;
    let answered = requests.get(&made.name_any()).await.unwrap().status.unwrap();
    let secret = answered.secret.unwrap();
    assert_ne!(secret, look_alike.name, "the key took another name");
    assert_eq!(ready_condition(&requests, &made.name_any()).await.unwrap().0, "True");
    eventually("the new key published", || async {
        (env.recipients().await.ids()[0].as_str() == new_id).then_some(())
    })
    .await;

    look_alike.assert_untouched(&env).await;
    let keys_json = ctl.get("/v1/keys").1;
    assert!(keys_json.contains(&secret), "{keys_json}");
    assert!(!keys_json.contains(&look_alike.recipient) && !keys_json.contains(&look_alike.name), "{keys_json}");
    assert!(!env.key_secrets().await.contains(&look_alike.name));
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn a_key_name_that_cannot_be_passed_is_reported_not_retried() {
    let (env, ctl, _) = Env::with_controller().await;
    let look_alike = LookAlike::create(&env, &format!("gitseal-key-{}", u64::MAX)).await;

    let requests: Api<KeyRotation> = Api::namespaced(env.client(), CONTROLLER_NS);
    let made = requests.create(&PostParams::default(), &request()).await.unwrap();
    let name = made.name_any();
    let (status, reason, message) = eventually("the request answered", || ready_condition(&requests, &name)).await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "NameConflict"), "{message}");
    assert!(message.contains(&look_alike.name), "{message}");
    assert!(keys_made_by(&env, &format!("rotation/{}", made.uid().unwrap())).await.is_empty());
    assert!(ctl.get("/metrics").1.contains("gitseal_key_rotation_failures_total{reason=\"NameConflict\"} 1"));
    look_alike.assert_untouched(&env).await;

    // Once the Secret is out of the way, a new request rotates.
    drop(look_alike);
    let again = requests.create(&PostParams::default(), &request()).await.unwrap();
    rotated_key(&requests, &again.name_any()).await;
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn a_look_alike_of_the_first_key_is_stepped_over() {
    let env = Env::new().await;
    env.wipe_keys().await;
    let look_alike = LookAlike::create(&env, "gitseal-key-1").await;
    let ctl = env.start("replica-a");
    ctl.wait_ready().await;
    assert_eq!(env.key_secrets().await, ["gitseal-key-2"]);
    look_alike.assert_untouched(&env).await;
    assert!(!ctl.get("/v1/keys").1.contains(&look_alike.recipient));
}

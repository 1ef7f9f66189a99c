//! Faults end to end, on the local control plane: the API server, etcd or the controller
//! itself goes away mid-work and comes back (`dev/cluster/component` stops and starts one
//! component and keeps its state). The controller runs supervised, restarted whenever it
//! exits, as a kubelet would: losing the lease during an outage ends it by design.
//!
//! ```text
//!  N SealedSecrets ──controller (supervised)──▶ N Secrets
//!                      ▲ fault: API server down 10 s · etcd down 5 s · SIGKILL mid-work
//!  afterwards: each Secret holds the value sealed for it alone, owned by its SealedSecret;
//!  Ready=True for the current generation; the key ring's Secrets are the same (name, uid);
//!  a Secret the controller does not own is untouched
//! ```
//!
//! Watches: stopping the API server (SIGTERM) ends every open watch from the server side,
//! as a watch timeout does, then refuses connections until it is back; kube-runtime's
//! watcher re-watches, backs off and re-lists. The watcher's own server-side timeout
//! (290 s) is not waited for: the restart ends the same watches the same way.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use gitseal::crds::{KeyRotation, KeyRotationSpec, KeyRotationStatus};
use gitseal::{Recipients, SealedSecret};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use support::{CONTROLLER_NS, Env, Supervised, eventually_within, sealed};

/// SealedSecrets of a cold start.
const MANY: usize = 1000;
/// How long that many objects may take to converge after a fault.
const SETTLE: Duration = Duration::from_secs(300);
/// The data key of every test SealedSecret.
const KEY: &str = "v";

/// SealedSecrets `s-<i>` for `range`, each with a value of its own, `<tag>-<i>-<ns>`.
struct Batch(Vec<(SealedSecret, String)>);

impl Batch {
    fn new(ns: &str, range: std::ops::Range<usize>, tag: &str, r: &Recipients) -> Batch {
        Batch(
            range
                .map(|i| {
                    let value = format!("{tag}-{i}-{ns}");
                    (sealed(ns, &format!("s-{i:04}"), &[(KEY, &value)], r), value)
                })
                .collect(),
        )
    }

    /// Applies every object, sixteen at a time.
    async fn apply(&self, env: &Env) {
        let started = Instant::now();
        futures::stream::iter(&self.0).map(|(s, _)| env.apply(s)).buffer_unordered(16).collect::<Vec<()>>().await;
        eprintln!("applied {} SealedSecrets in {:.1}s", self.0.len(), started.elapsed().as_secs_f64());
    }
}

/// Name → the value its Secret must hold; of two batches naming one object, the later wins.
fn want(batches: &[&Batch]) -> BTreeMap<String, String> {
    batches.iter().flat_map(|b| &b.0).map(|(s, v)| (s.name_any(), v.clone())).collect()
}

fn data(secret: &Secret, key: &str) -> Option<String> {
    secret.data.as_ref()?.get(key).map(|b| String::from_utf8_lossy(&b.0).into_owned())
}

/// (status, reason) of Ready, when both it and the status describe the current generation.
fn ready(s: &SealedSecret) -> Option<(&str, &str)> {
    let status = s.status.as_ref()?;
    let c = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    let current = status.observed_generation == s.metadata.generation && c.observed_generation == s.metadata.generation;
    current.then_some((c.status.as_str(), c.reason.as_str()))
}

/// What in `ns` is not yet as it should be, or `None`: every wanted SealedSecret Ready=True
/// with its Secret holding its value and owned by it; every `foreign` Secret (a name not in
/// `want`) still holding `original`, unowned, its SealedSecret refused with SecretNotManaged.
async fn pending(env: &Env, ns: &str, want: &BTreeMap<String, String>, foreign: &[(&str, &str)]) -> Option<String> {
    let list = ListParams::default();
    let (sealed, secrets) = match (
        Api::<SealedSecret>::namespaced(env.client(), ns).list(&list).await,
        Api::<Secret>::namespaced(env.client(), ns).list(&list).await,
    ) {
        (Ok(sealed), Ok(secrets)) => (sealed.items, secrets.items),
        (Err(e), _) | (_, Err(e)) => return Some(format!("listing failed: {e}")),
    };
    let sealed: BTreeMap<_, _> = sealed.into_iter().map(|s| (s.name_any(), s)).collect();
    let secrets: BTreeMap<_, _> = secrets.into_iter().map(|s| (s.name_any(), s)).collect();
    let mut problems = Vec::new();
    for (name, value) in want {
        let Some(s) = sealed.get(name) else { panic!("SealedSecret {name} is gone") };
        let secret = secrets.get(name);
        let owned = secret
            .and_then(|x| x.metadata.owner_references.as_ref())
            .is_some_and(|o| o.len() == 1 && o[0].uid == s.uid().unwrap_or_default() && o[0].controller == Some(true));
        if ready(s) != Some(("True", "Unsealed")) {
            problems.push(format!("{name}: Ready {:?}", ready(s)));
        } else if secret.and_then(|x| data(x, KEY)).as_ref() != Some(value) || !owned {
            problems
                .push(format!("{name}: Secret {:?}, owned by its SealedSecret: {owned}", secret.map(|x| data(x, KEY))));
        }
    }
    for (name, original) in foreign {
        let secret = secrets.get(*name).unwrap_or_else(|| panic!("the unowned Secret {name} was deleted"));
        assert_eq!(data(secret, KEY).as_deref(), Some(*original), "the unowned Secret {name} was overwritten");
        assert!(secret.metadata.owner_references.is_none(), "the unowned Secret {name} was adopted");
        let state = ready(&sealed[*name]);
        if state != Some(("False", "SecretNotManaged")) {
            problems.push(format!("{name}: Ready {state:?}, want SecretNotManaged"));
        }
    }
    let first = problems.first()?;
    Some(format!("{} of {} not converged, e.g. {first}", problems.len(), want.len() + foreign.len()))
}

/// Waits until nothing in `ns` is pending; on timeout, says what is and what `ctl` logged.
async fn settle(env: &Env, ctl: &Supervised, ns: &str, want: &BTreeMap<String, String>, foreign: &[(&str, &str)]) {
    let started = Instant::now();
    while let Some(problem) = pending(env, ns, want, foreign).await {
        if started.elapsed() > SETTLE {
            let log = ctl.log();
            let tail: Vec<_> = log.lines().rev().take(20).collect();
            panic!(
                "not converged after {SETTLE:?}: {problem}\n{} restarts; warnings and errors:\n{}last lines:\n{}",
                ctl.restarts(),
                complaints(&log),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!("{} objects converged in {:.1}s", want.len() + foreign.len(), started.elapsed().as_secs_f64());
}

/// The key ring's Secrets: name → uid.
async fn ring(env: &Env) -> BTreeMap<String, String> {
    let api: Api<Secret> = Api::namespaced(env.client(), CONTROLLER_NS);
    let list = api.list_metadata(&ListParams::default().labels("gitseal.dev/key=true")).await.unwrap();
    list.items.into_iter().map(|s| (s.name_any(), s.uid().unwrap_or_default())).collect()
}

/// The recipients a replica serves on /v1/recipients, once it serves any.
fn recipients_of(ctl: &Supervised) -> Option<Recipients> {
    Recipients::new(Recipients::parse_file(&ctl.get("/v1/recipients").1).ok()?).ok()
}

/// The published key, from a replica that runs only for this: the test's own controller
/// then starts cold.
async fn published_key(env: &Env) -> Recipients {
    let ctl = env.start("replica-a");
    ctl.wait_ready().await;
    let r = Recipients::new(Recipients::parse_file(&ctl.get("/v1/recipients").1).unwrap()).unwrap();
    assert!(ctl.terminate().success());
    r
}

/// How many Secrets the controller wrote in `ns`.
async fn written(env: &Env, ns: &str) -> usize {
    let managed = ListParams::default().labels("app.kubernetes.io/managed-by=gitseal-controller");
    Api::<Secret>::namespaced(env.client(), ns).list_metadata(&managed).await.map_or(0, |l| l.items.len())
}

/// Waits (polling every 100 ms) until the controller wrote more than `than` Secrets in
/// `ns`; returns how many.
async fn written_beyond(env: &Env, ns: &str, than: usize) -> usize {
    let started = Instant::now();
    loop {
        let n = written(env, ns).await;
        if n > than {
            return n;
        }
        assert!(started.elapsed() < SETTLE, "the controller wrote no Secret in {ns}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Files a KeyRotation, as `gitseal rotate` does.
async fn request_rotation(env: &Env) -> KeyRotation {
    let mut request = KeyRotation::new("", KeyRotationSpec { reason: Some("fault test".into()) });
    request.metadata.name = None;
    request.metadata.generate_name = Some("rotate-".into());
    Api::namespaced(env.client(), CONTROLLER_NS).create(&PostParams::default(), &request).await.unwrap()
}

/// The request's status once the controller answered it.
async fn answered(env: &Env, request: &KeyRotation) -> KeyRotationStatus {
    let requests: Api<KeyRotation> = Api::namespaced(env.client(), CONTROLLER_NS);
    eventually_within(Duration::from_secs(120), "the rotation answered", || async {
        let status = requests.get(&request.name_any()).await.ok()?.status?;
        let c = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        (c.status == "True" && c.reason == "Rotated").then_some(status)
    })
    .await
}

/// Stops `component` (it stops serving at once, though it may take 10 s to exit), keeps
/// it down for `outage` in all, starts it again (healthy on return).
async fn outage(env: &Env, component: &str, outage: Duration) {
    let started = Instant::now();
    env.component("stop", component);
    tokio::time::sleep(outage.saturating_sub(started.elapsed())).await;
    env.component("start", component);
}

/// What a passing test leaves: the control plane as `up` made it, its namespace deleted
/// (a failing one keeps it for inspection), and the controller's log summarised.
async fn finish(env: &Env, ns: &str, ctl: Supervised) {
    env.heal_control_plane();
    eprintln!("{} restarted {} times; warnings and errors:\n{}", ctl.name, ctl.restarts(), complaints(&ctl.log()));
    drop(ctl);
    env.cluster.delete_namespace(ns).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(env.client());
    eventually_within(Duration::from_secs(180), "namespace deleted", || async {
        namespaces.get_opt(ns).await.ok()?.is_none().then_some(())
    })
    .await;
}

/// The controller's warnings and errors, counted by message.
fn complaints(log: &str) -> String {
    let mut counts = BTreeMap::<String, usize>::new();
    for line in log.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
        let level = line["level"].as_str().unwrap_or_default();
        if level == "WARN" || level == "ERROR" {
            let message: String = line["fields"]["message"].as_str().unwrap_or_default().chars().take(160).collect();
            *counts.entry(format!("{level} {message}")).or_default() += 1;
        }
    }
    counts.iter().map(|(m, n)| format!("  {n:>4} × {m}\n")).collect()
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn api_server_restart_during_a_cold_start() {
    let env = Env::new().await;
    let r = published_key(&env).await;
    let keys = ring(&env).await;
    let ns = env.cluster.fresh_namespace("fault-apiserver").await.unwrap();
    let objects = Batch::new(&ns, 0..MANY, "cold", &r);
    objects.apply(&env).await;

    let ctl = env.supervise("replica-a", &[]);
    let written = written_beyond(&env, &ns, 0).await;
    outage(&env, "kube-apiserver", Duration::from_secs(10)).await;
    eprintln!("API server stopped with {written} of {MANY} Secrets written");
    settle(&env, &ctl, &ns, &want(&[&objects]), &[]).await;
    assert_eq!(ring(&env).await, keys, "the key ring is the same Secrets");
    finish(&env, &ns, ctl).await;
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn etcd_restart_while_running() {
    let env = Env::new().await;
    let ctl = env.supervise("replica-a", &[]);
    ctl.wait_ready().await;
    let r = recipients_of(&ctl).unwrap();
    let keys = ring(&env).await;
    let ns = env.cluster.fresh_namespace("fault-etcd").await.unwrap();
    let first = Batch::new(&ns, 0..200, "first", &r);
    first.apply(&env).await;
    settle(&env, &ctl, &ns, &want(&[&first]), &[]).await;

    outage(&env, "etcd", Duration::from_secs(5)).await;
    env.component("start", "kube-apiserver"); // its /readyz checks etcd too
    // New objects and new values for old ones (generation 2) after the outage.
    let more = Batch::new(&ns, 200..300, "more", &r);
    let updated = Batch::new(&ns, 0..50, "updated", &r);
    more.apply(&env).await;
    updated.apply(&env).await;
    settle(&env, &ctl, &ns, &want(&[&first, &more, &updated]), &[]).await;
    assert_eq!(ring(&env).await, keys, "the key ring is the same Secrets");
    finish(&env, &ns, ctl).await;
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn controller_killed_mid_cold_start_clobbers_nothing() {
    let env = Env::new().await;
    let r = published_key(&env).await;
    let keys = ring(&env).await;
    let ns = env.cluster.fresh_namespace("fault-kill").await.unwrap();
    let objects = Batch::new(&ns, 0..MANY, "cold", &r);
    // A Secret someone else made, under the name of one of the SealedSecrets.
    let taken = objects.0[MANY / 2].0.name_any();
    let mut theirs = Secret::default();
    theirs.metadata.name = Some(taken.clone());
    theirs.data = Some(BTreeMap::from([(KEY.into(), ByteString(b"theirs".to_vec()))]));
    Api::<Secret>::namespaced(env.client(), &ns).create(&PostParams::default(), &theirs).await.unwrap();
    objects.apply(&env).await;

    let ctl = env.supervise("replica-a", &[]);
    // Killed as soon as it writes, and again once its successor writes (if work is left).
    let (mut before, mut kills) = (0, 0);
    while kills < 2 && before < MANY - 1 {
        let n = written_beyond(&env, &ns, before).await;
        ctl.kill();
        kills += 1;
        eprintln!("SIGKILL {kills} with {n} of {MANY} Secrets written");
        support::eventually("a restart", || async { (ctl.restarts() >= kills).then_some(()) }).await;
        ctl.wait_ready().await;
        before = written(&env, &ns).await;
    }
    let mut want = want(&[&objects]);
    want.remove(&taken);
    settle(&env, &ctl, &ns, &want, &[(&taken, "theirs")]).await;
    assert!(ctl.restarts() >= kills, "restarted after each SIGKILL");
    assert_eq!(ring(&env).await, keys, "the key ring is the same Secrets");
    finish(&env, &ns, ctl).await;
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn controller_killed_right_after_a_rotation_request() {
    let env = Env::new().await;
    let ctl = env.supervise("replica-a", &[]);
    ctl.wait_ready().await;
    let old = recipients_of(&ctl).unwrap();
    let before = ring(&env).await;
    let ns = env.cluster.fresh_namespace("fault-rotate").await.unwrap();
    let sealed_before = Batch::new(&ns, 0..20, "before", &old);
    sealed_before.apply(&env).await;
    settle(&env, &ctl, &ns, &want(&[&sealed_before]), &[]).await;

    let made = request_rotation(&env).await;
    ctl.kill();

    // The request is answered after the restart, by the one key made for it.
    let answered = answered(&env, &made).await;
    let after = ring(&env).await;
    let new: Vec<_> = after.iter().filter(|(name, _)| !before.contains_key(*name)).collect();
    assert!(before.iter().all(|(name, uid)| after.get(name) == Some(uid)), "old keys kept: {before:?} {after:?}");
    assert_eq!(new.len(), 1, "one new key: {new:?}");
    let key_secret = Api::<Secret>::namespaced(env.client(), CONTROLLER_NS).get(new[0].0).await.unwrap();
    let made_by = format!("rotation/{}", made.uid().unwrap());
    assert_eq!(key_secret.annotations().get("gitseal.dev/rotation"), Some(&made_by));
    assert_eq!(answered.secret.as_deref(), Some(new[0].0.as_str()));
    let id =
        gitseal::KeyRing::parse_identity_file(&data(&key_secret, "key.txt").unwrap()).unwrap().ids()[0].to_string();
    assert_eq!(answered.key.as_deref(), Some(id.as_str()));

    // The new key is published; values sealed to the old one still unseal, also new ones.
    let published = eventually_within(Duration::from_secs(60), "the new key published", || async {
        recipients_of(&ctl).filter(|r| r.ids()[0].as_str() == id)
    })
    .await;
    let to_old = Batch::new(&ns, 20..30, "old-key", &old);
    let to_new = Batch::new(&ns, 30..40, "new-key", &published);
    to_old.apply(&env).await;
    to_new.apply(&env).await;
    settle(&env, &ctl, &ns, &want(&[&sealed_before, &to_old, &to_new]), &[]).await;
    finish(&env, &ns, ctl).await;
}

// The API server restart expires the controller's watches (410) and the SealedSecret
// watcher re-lists, in pages. The cache swaps the re-list in only at its end; reconciles
// triggered page by page read the old cache (new objects "not found", updated ones at
// their old generation) and were lost. They are now triggered by the complete re-list
// (controller/src/cache.rs, `settled`); this test is what found the bug.
#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn watches_recover_from_an_api_server_restart_in_one_process() {
    let env = Env::new().await;
    // A lease that outlasts the outage: the same process must see it through.
    let ctl = env.supervise("replica-a", &["--lease-duration-secs", "90"]);
    ctl.wait_ready().await;
    let r = recipients_of(&ctl).unwrap();
    let ns = env.cluster.fresh_namespace("fault-watch").await.unwrap();
    let first = Batch::new(&ns, 0..100, "first", &r);
    first.apply(&env).await;
    settle(&env, &ctl, &ns, &want(&[&first]), &[]).await;

    outage(&env, "kube-apiserver", Duration::from_secs(10)).await;
    // Every watch came back: SealedSecrets (new objects, new generations), owned Secrets
    // (one deleted by hand is restored), requests and key Secrets (a rotation is served).
    let more = Batch::new(&ns, 100..150, "more", &r);
    let updated = Batch::new(&ns, 0..20, "updated", &r);
    more.apply(&env).await;
    updated.apply(&env).await;
    Api::<Secret>::namespaced(env.client(), &ns).delete("s-0050", &Default::default()).await.unwrap();
    settle(&env, &ctl, &ns, &want(&[&first, &more, &updated]), &[]).await;
    let key = answered(&env, &request_rotation(&env).await).await.key.unwrap();
    eventually_within(Duration::from_secs(60), "the new key served", || async {
        recipients_of(&ctl).filter(|r| r.ids()[0].as_str() == key)
    })
    .await;
    assert_eq!(ctl.restarts(), 0, "one process throughout");
    finish(&env, &ns, ctl).await;
}

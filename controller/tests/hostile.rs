//! A tenant acting as an attacker, on the local control plane, against gitseal-controller
//! running under deploy/'s RBAC: SealedSecrets crafted to cost the most (a flood of
//! stanzas, values sealed to 63 strangers, a 1 MiB value) must not delay anyone else's
//! Secret, the probes, the lease or shutdown, and must not touch anything.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gitseal::crds::bounds::MAX_KEY_IDS;
use gitseal::{Recipients, SealedSecret, SealedSecretSpec, generate_identity};
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use support::{CONTROLLER_NS, Env, eventually, sealed};

/// How long an ordinary SealedSecret may take to become a Secret while the hostile set is
/// being refused: a liveness deadline, not a benchmark.
const PROMPTLY: Duration = Duration::from_secs(15);

/// A value that is a well-formed age header of 40,000 empty stanzas (the attack that cost
/// about 4 minutes of CPU before the shape check).
fn stanza_flood() -> String {
    let mut file = b"age-encryption.org/v1\n".to_vec();
    file.extend("-> a\n\n".repeat(40_000).as_bytes());
    file.extend(format!("--- {}\n", "A".repeat(43)).as_bytes());
    file.extend([0u8; 64]);
    STANDARD.encode(file)
}

/// `values` values, each sealed to 62 strangers and, last, the cluster's key: every stanza
/// a real key share, so each value opens only after a key agreement per stanza, and the
/// object is stopped by the per-object budget of key trials. (A value no key opens stops
/// the object at once: unsealing is all or nothing.)
fn strangers_object(ns: &str, name: &str, values: usize, cluster: &Recipients) -> SealedSecret {
    let strangers = (1..MAX_KEY_IDS).map(|_| generate_identity().to_public());
    let to = Recipients::new(strangers.chain(cluster.iter().map(|(_, r)| r.clone()))).unwrap();
    let mut plain = gitseal::PlainSecret { name: Some(name.into()), namespace: Some(ns.into()), ..Default::default() };
    for i in 0..values {
        plain.data.insert(format!("k{i}"), zeroize::Zeroizing::new(vec![b'x'; 8]));
    }
    gitseal::seal_secret(&plain, gitseal::Scope::Strict, None, &to, 1).unwrap()
}

fn raw_object(ns: &str, name: &str, values: &[(&str, String)]) -> SealedSecret {
    let mut spec = SealedSecretSpec::default();
    for (k, v) in values {
        spec.encrypted_data.insert((*k).into(), v.clone());
    }
    let mut s = SealedSecret::new(name, spec);
    s.metadata.namespace = Some(ns.into());
    s
}

async fn create(api: &Api<SealedSecret>, object: &SealedSecret) {
    api.create(&PostParams::default(), object).await.unwrap();
}

/// (status, reason, message) of the Ready condition once it describes the current generation.
async fn ready(api: &Api<SealedSecret>, name: &str) -> Option<(String, String, String)> {
    let s = api.get_opt(name).await.ok()??;
    let status = s.status?;
    let c = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    (status.observed_generation == s.metadata.generation)
        .then(|| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Probes `/healthz` every 100 ms with a 1 s deadline; counts answers and records the
/// slowest, until stopped.
struct HealthProbe {
    stop: Arc<AtomicBool>,
    slowest_ms: Arc<AtomicU64>,
    answered: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HealthProbe {
    fn start(port: u16) -> HealthProbe {
        let stop = Arc::new(AtomicBool::new(false));
        let slowest_ms = Arc::new(AtomicU64::new(0));
        let answered = Arc::new(AtomicU64::new(0));
        let (s, w, a) = (stop.clone(), slowest_ms.clone(), answered.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let started = Instant::now();
                let (status, _) = gitseal_test_support::http_get(port, "/healthz");
                let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                w.fetch_max(if status == 200 { ms } else { u64::MAX }, Ordering::SeqCst);
                a.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        HealthProbe { stop, slowest_ms, answered, thread: Some(thread) }
    }

    /// (answers, slowest in ms; u64::MAX if one failed).
    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        (self.answered.load(Ordering::SeqCst), self.slowest_ms.load(Ordering::SeqCst))
    }
}

async fn renew_time(env: &Env) -> Option<String> {
    let lease = Api::<Lease>::namespaced(env.client(), CONTROLLER_NS).get("gitseal-controller").await.ok()?;
    lease.spec?.renew_time.map(|t| t.0.to_string())
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn a_tenant_cannot_halt_unsealing_probes_the_lease_or_shutdown() {
    let (env, ctl, r) = Env::with_controller().await;
    let evil = env.cluster.fresh_namespace("evil").await.unwrap();
    let good = env.cluster.fresh_namespace("good").await.unwrap();
    let evil_sls: Api<SealedSecret> = Api::namespaced(env.client(), &evil);
    let evil_secrets: Api<Secret> = Api::namespaced(env.client(), &evil);

    // Before the attack: a Secret of the tenant's own that gitseal does not own, and a
    // SealedSecret that unsealed and is about to be overwritten with a hostile value.
    let mine = Secret {
        metadata: kube::api::ObjectMeta { name: Some("flood-0".into()), ..Default::default() },
        data: Some([("keep".to_string(), ByteString(b"untouched".to_vec()))].into()),
        ..Default::default()
    };
    evil_secrets.create(&PostParams::default(), &mine).await.unwrap();
    env.apply(&sealed(&evil, "victim", &[("token", "before")], &r)).await;
    eventually("victim unsealed", || async { ready(&evil_sls, "victim").await.filter(|r| r.1 == "Unsealed") }).await;

    let probe = HealthProbe::start(ctl.port);
    let lease_before = renew_time(&env).await;
    let attack_started = Instant::now();
    let flood = stanza_flood();
    for i in 0..4 {
        create(&evil_sls, &raw_object(&evil, &format!("flood-{i}"), &[("v", flood.clone())])).await;
    }
    for i in 0..4 {
        create(&evil_sls, &strangers_object(&evil, &format!("trials-{i}"), 40, &r)).await;
    }
    env.apply(&raw_object(&evil, "victim", &[("token", flood.clone())])).await;
    // A legitimate 1 MiB value: too large for the cache, read when reconciled.
    let big = gitseal::PlainSecret {
        name: Some("big".into()),
        namespace: Some(evil.clone()),
        data: [("blob".to_string(), zeroize::Zeroizing::new(vec![b'b'; 1024 * 1024 - 64]))].into(),
        ..Default::default()
    };
    env.apply(&gitseal::seal_secret(&big, gitseal::Scope::Strict, None, &r, 1).unwrap()).await;

    // Another tenant's ordinary SealedSecret, created after the attack, is unsealed promptly.
    env.apply(&sealed(&good, "app", &[("password", "ordinary")], &r)).await;
    let good_secrets: Api<Secret> = Api::namespaced(env.client(), &good);
    eventually("the ordinary Secret", || async { good_secrets.get_opt("app").await.ok()? }).await;
    let waited = attack_started.elapsed();
    assert!(waited < PROMPTLY, "an ordinary SealedSecret waited {waited:?} behind the hostile ones");

    // Every hostile object is refused with a reason, and nothing is written for it.
    for name in ["flood-0", "flood-1", "flood-2", "flood-3", "trials-0", "trials-1", "trials-2", "trials-3", "victim"] {
        let (status, reason, message) = eventually(&format!("{name} refused"), || async {
            ready(&evil_sls, name).await.filter(|r| r.0 == "False")
        })
        .await;
        assert_eq!((status.as_str(), reason.as_str()), ("False", "Malformed"), "{name}: {message}");
        assert!(message.contains("stanzas") || message.contains("key trials"), "{name}: {message}");
    }
    let kept = evil_secrets.get("flood-0").await.unwrap();
    assert_eq!(kept.data.unwrap()["keep"].0, b"untouched", "a Secret gitseal does not own is never touched");
    let victim = evil_secrets.get("victim").await.unwrap();
    assert_eq!(victim.data.unwrap()["token"].0, b"before", "a refused update leaves the Secret as it was");
    for name in ["flood-1", "trials-0"] {
        assert!(evil_secrets.get_opt(name).await.unwrap().is_none(), "no Secret for refused {name}");
    }
    let blob = eventually("the 1 MiB Secret", || async { evil_secrets.get_opt("big").await.ok()? }).await;
    assert_eq!(blob.data.unwrap()["blob"].0.len(), 1024 * 1024 - 64);

    // The lease was renewed during the attack (every 1.2 s with the tests' 6 s lease).
    let renewed = eventually("lease renewed", || async {
        let now = renew_time(&env).await;
        (now.is_some() && now != lease_before).then_some(())
    });
    renewed.await;

    // Shutdown while a fresh hostile batch is being chewed: within the 20 s deadline.
    for i in 4..8 {
        create(&evil_sls, &strangers_object(&evil, &format!("trials-{i}"), 40, &r)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (answers, slowest_ms) = probe.finish();
    let asked = Instant::now();
    let status = ctl.terminate();
    let took = asked.elapsed();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert!(took < Duration::from_secs(20), "SIGTERM took {took:?}");
    assert!(answers >= 10, "/healthz was probed {answers} times");
    assert!(slowest_ms < 1000, "/healthz answered in at worst {slowest_ms} ms (u64::MAX: a probe failed)");
    env.cluster.delete_namespace(&evil).await.unwrap();
}

/// Cold start with 150 objects of one namespace each built to run until the per-object
/// trial budget stops it (about 27 s of worker time in all), created before another
/// namespace's ordinary SealedSecret: first come, first served, the ordinary one would
/// wait for all of them; each namespace's share of the workers lets it through at once.
#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn one_namespace_cannot_starve_another() {
    let (env, ctl, r) = Env::with_controller().await;
    assert!(ctl.terminate().success());
    let evil = env.cluster.fresh_namespace("hog").await.unwrap();
    let good = env.cluster.fresh_namespace("fair").await.unwrap();
    // Namespace-wide values open in any object of the namespace: sealed once, used 150 times.
    let strangers = (1..MAX_KEY_IDS).map(|_| generate_identity().to_public());
    let to = Recipients::new(strangers.chain(r.iter().map(|(_, k)| k.clone()))).unwrap();
    let mut plain =
        gitseal::PlainSecret { name: Some("hog".into()), namespace: Some(evil.clone()), ..Default::default() };
    for i in 0..40 {
        plain.data.insert(format!("k{i}"), zeroize::Zeroizing::new(vec![b'x'; 8]));
    }
    let costly = gitseal::seal_secret(&plain, gitseal::Scope::NamespaceWide, None, &to, 1).unwrap();
    let evil_sls: Api<SealedSecret> = Api::namespaced(env.client(), &evil);
    let creates = (0..150).map(|i| {
        let (api, mut object) = (evil_sls.clone(), costly.clone());
        object.metadata.name = Some(format!("hog-{i:03}"));
        async move { api.create(&PostParams::default(), &object).await.map(|_| ()) }
    });
    let created: Vec<_> =
        futures::StreamExt::collect(futures::StreamExt::buffer_unordered(futures::stream::iter(creates), 8)).await;
    assert!(created.iter().all(Result::is_ok), "creating the hostile set: {:?}", created.iter().find(|c| c.is_err()));
    env.apply(&sealed(&good, "app", &[("password", "served")], &r)).await;

    let started = Instant::now();
    let ctl = env.start("replica-fair");
    let good_secrets: Api<Secret> = Api::namespaced(env.client(), &good);
    eventually("the ordinary Secret", || async { good_secrets.get_opt("app").await.ok()? }).await;
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(10), "the ordinary Secret waited {waited:?} behind another namespace");

    let (_, metrics) = ctl.get("/metrics");
    let deferred = metrics.lines().find_map(|l| l.strip_prefix("gitseal_reconciles_total{result=\"deferred\"} "));
    assert!(deferred.is_some_and(|n| n.parse::<f64>().unwrap() > 0.0), "the hog was deferred:\n{metrics}");
    // The hog is still served, at its share: its objects keep being refused.
    eventually("ten of the hog's objects refused", || async {
        let list = evil_sls.list(&Default::default()).await.ok()?;
        let refused = list.items.iter().filter(|s| {
            let c = s.status.as_ref().and_then(|st| st.conditions.iter().find(|c| c.type_ == "Ready"));
            c.is_some_and(|c| c.status == "False" && c.reason == "Malformed")
        });
        (refused.count() >= 10).then_some(())
    })
    .await;
    assert!(ctl.terminate().success());
    // Later cold starts (other tests) need not chew through the hog again.
    env.cluster.delete_namespace(&evil).await.unwrap();
}

/// The CRD's schema bounds: the API server refuses absurd objects before the controller
/// ever sees them.
#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn the_api_server_refuses_objects_over_the_schema_bounds() {
    let env = Env::new().await;
    let ns = env.cluster.fresh_namespace("bounds").await.unwrap();
    let api: Api<SealedSecret> = Api::namespaced(env.client(), &ns);
    let too_long = "A".repeat(gitseal::crds::bounds::MAX_SEALED_BASE64 + 4);
    let too_many: Vec<(String, String)> =
        (0..=gitseal::crds::bounds::MAX_VALUES).map(|i| (format!("k{i}"), "AAAA".to_string())).collect();
    let mut ids = raw_object(&ns, "ids", &[("k", "AAAA".into())]);
    ids.spec.key_ids.insert("k".into(), vec!["0123456789abcdef".into(); MAX_KEY_IDS + 1]);
    let mut labels = raw_object(&ns, "labels", &[("k", "AAAA".into())]);
    let metadata = gitseal::crds::TemplateMetadata {
        labels: (0..=gitseal::crds::bounds::MAX_TEMPLATE_ENTRIES).map(|i| (format!("l{i}"), "v".into())).collect(),
        ..Default::default()
    };
    labels.spec.template = Some(gitseal::SecretTemplate { metadata: Some(metadata), ..Default::default() });
    let cases = [
        ("value", raw_object(&ns, "value", &[("k", too_long)])),
        ("keys", raw_object(&ns, "keys", &too_many.iter().map(|(k, v)| (k.as_str(), v.clone())).collect::<Vec<_>>())),
        ("key ids", ids),
        ("labels", labels),
    ];
    for (what, object) in cases {
        match api.create(&PostParams::default(), &object).await {
            Err(kube::Error::Api(e)) => assert_eq!(e.code, 422, "{what}: {}", e.message),
            other => panic!("{what}: the API server accepted it: {:?}", other.map(|o| o.metadata.name)),
        }
    }
    let within = raw_object(&ns, "within", &[("k", "AAAA".into())]);
    assert!(api.create(&PostParams::default(), &within).await.is_ok(), "an object within the bounds is stored");
}

/// A ResealRequest whose answer could never be stored fails alone, with a clear status,
/// and the next request is answered.
#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn an_unanswerable_reseal_request_fails_alone() {
    use gitseal::crds::{ResealItem, ResealRequest, ResealRequestSpec};
    let (env, ctl, r) = Env::with_controller().await;
    let api: Api<ResealRequest> = Api::namespaced(env.client(), CONTROLLER_NS);
    let b = gitseal::Binding::ClusterWide;
    let request = |name: &str, values: usize, len: usize| {
        let item = gitseal::seal_value(&vec![b'v'; len], &b, &r).unwrap();
        let item = ResealItem { ciphertext: item.ciphertext, key_ids: vec![] };
        ResealRequest::new(name, ResealRequestSpec { recipients: vec![], values: vec![item; values] })
    };
    // 1,000 values of ~1.25 KB: the request fits, request and answer together do not.
    for stale in ["huge", "small"] {
        let _ = api.delete(stale, &Default::default()).await;
        eventually("stale request gone", || async { api.get_opt(stale).await.ok()?.is_none().then_some(()) }).await;
    }
    let huge = request("huge", 1000, 600);
    api.create(&PostParams::default(), &huge).await.unwrap();
    api.create(&PostParams::default(), &request("small", 2, 8)).await.unwrap();
    let condition = |name: &'static str| {
        let api = api.clone();
        async move {
            let status = api.get(name).await.ok()?.status?;
            let c = status.conditions.into_iter().find(|c| c.type_ == "Ready")?;
            Some((c.status, c.reason, c.message, status.values.len()))
        }
    };
    let (status, reason, message, values) = eventually("huge answered", || condition("huge")).await;
    assert_eq!((status.as_str(), reason.as_str(), values), ("False", "TooLarge", 0), "{message}");
    assert!(message.contains("send fewer values"), "{message}");
    let (status, reason, _, values) = eventually("small answered", || condition("small")).await;
    assert_eq!((status.as_str(), reason.as_str(), values), ("True", "Resealed", 2));
    assert!(ctl.terminate().success());
}

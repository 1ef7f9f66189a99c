//! A tenant acting as an attacker with objects that are well-formed but can never be
//! written, or that carry what only the controller should say, on the local control
//! plane, against gitseal-controller under deploy/'s RBAC: each must cost no worker time
//! after its first attempt, and change nothing the controller does.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use gitseal::SealedSecret;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use support::{Controller, Env, eventually, eventually_within, sealed};

/// How long an ordinary SealedSecret may take to become a Secret meanwhile: a liveness
/// deadline, not a benchmark.
const PROMPTLY: Duration = Duration::from_secs(15);

/// The value of an unlabelled metric, or a labelled one given with its labels.
fn metric(ctl: &Controller, series: &str) -> f64 {
    let (_, text) = ctl.get("/metrics");
    let value = text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' '));
    value.unwrap_or_else(|| panic!("no {series} in\n{text}")).parse().unwrap()
}

/// (status, reason) of each SealedSecret's Ready condition for its current generation.
async fn readiness(api: &Api<SealedSecret>) -> Vec<(String, String)> {
    let list = api.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
    list.into_iter()
        .filter_map(|s| {
            let status = s.status?;
            let c = status.conditions.into_iter().find(|c| c.type_ == "Ready")?;
            (status.observed_generation == s.metadata.generation).then_some((c.status, c.reason))
        })
        .collect()
}

/// 200 SealedSecrets in one namespace, each named after a Secret the tenant made and
/// gitseal does not own (`SecretNotManaged`): retried every 10 s for ever, and decrypted
/// each time, they kept the workers busy. After each one's first attempt they must cost no
/// decryption, while another namespace's SealedSecret becomes its Secret promptly.
#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn objects_whose_secret_is_someone_elses_cost_no_decryption_after_the_first_attempt() {
    let env = Env::new().await;
    let squat = env.cluster.fresh_namespace("squat").await.unwrap();
    let other = env.cluster.fresh_namespace("bystander").await.unwrap();
    // Only these two namespaces count: what earlier tests left on the shared cluster (a
    // namespace being deleted takes its Secrets first, which the controller restores, and
    // so decrypts) must not blur the count.
    let ctl = env.start_with("replica-a", &["--watch-namespaces", &format!("{squat},{other}")]);
    ctl.wait_ready().await;
    let r = env.recipients().await;
    let secrets: Api<Secret> = Api::namespaced(env.client(), &squat);
    let names: Vec<String> = (0..200).map(|i| format!("taken-{i:03}")).collect();
    let creates = names.iter().map(|name| {
        let (secrets, env, r, squat) = (&secrets, &env, &r, &squat);
        async move {
            let mine = Secret {
                metadata: kube::api::ObjectMeta { name: Some(name.clone()), ..Default::default() },
                data: Some([("keep".to_string(), ByteString(b"mine".to_vec()))].into()),
                ..Default::default()
            };
            secrets.create(&PostParams::default(), &mine).await.unwrap();
            env.apply(&sealed(squat, name, &[("token", "never written")], r)).await;
        }
    });
    futures::stream::iter(creates).buffer_unordered(8).collect::<Vec<()>>().await;
    let sls: Api<SealedSecret> = Api::namespaced(env.client(), &squat);
    eventually_within(Duration::from_secs(120), "200 refused as SecretNotManaged", || async {
        let refused = readiness(&sls).await.into_iter().filter(|(s, r)| s == "False" && r == "SecretNotManaged");
        (refused.count() == names.len()).then_some(())
    })
    .await;

    // The window: 30 s after every first attempt, in which each object used to be
    // retried (and decrypted) at least twice.
    let before = metric(&ctl, "gitseal_decryptions_total");
    let window = Instant::now();
    env.apply(&sealed(&other, "app", &[("password", "ordinary")], &r)).await;
    let bystander: Api<Secret> = Api::namespaced(env.client(), &other);
    eventually("the other namespace's Secret", || async { bystander.get_opt("app").await.ok()? }).await;
    let waited = window.elapsed();
    assert!(waited < PROMPTLY, "another namespace's SealedSecret waited {waited:?}");
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(window.elapsed())).await;
    let spent = metric(&ctl, "gitseal_decryptions_total") - before;
    assert!(spent <= 1.0, "{spent} decryptions in 30 s: only the other namespace's object may cost one");

    let untouched = secrets.get("taken-000").await.unwrap();
    assert_eq!(untouched.data.unwrap()["keep"].0, b"mine", "a Secret gitseal does not own is never touched");
    assert!(ctl.terminate().success());
    env.cluster.delete_namespace(&squat).await.unwrap();
    env.cluster.delete_namespace(&other).await.unwrap();
}

/// The cache marks objects whose values it left out with `gitseal.dev/cache-values-trimmed`;
/// a tenant who sets it on a small object made every reconcile read the object again and
/// reserve the largest object's memory, and a restarted controller decrypt and apply it
/// again instead of finding it in place. It must change nothing: after a restart the
/// marked objects, Ready and in place, cost no decryption.
#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn a_tenants_cache_marker_changes_nothing() {
    let env = Env::new().await;
    let ns = env.cluster.fresh_namespace("marker").await.unwrap();
    // Only this namespace counts: the other tests of this file run at the same time on
    // the shared cluster, with objects that are not Ready and so decrypted at a start.
    let watch = ["--watch-namespaces", ns.as_str()];
    let ctl = env.start_with("replica-marker", &watch);
    ctl.wait_ready().await;
    let r = env.recipients().await;
    let sls: Api<SealedSecret> = Api::namespaced(env.client(), &ns);
    for i in 0..10 {
        let mut object = sealed(&ns, &format!("marked-{i}"), &[("k", "v")], &r);
        object.metadata.annotations = Some([("gitseal.dev/cache-values-trimmed".into(), "true".into())].into());
        env.apply(&object).await;
    }
    eventually("10 unsealed", || async {
        (readiness(&sls).await.iter().filter(|(s, _)| s == "True").count() == 10).then_some(())
    })
    .await;
    assert!(ctl.terminate().success());

    // An object not Ready is decrypted at a start (that is what a start is for); one
    // Ready and in place is not, marked or not. One more, unmarked and new, shows the
    // restarted controller is at work when its count is read.
    let ctl = env.start_with("replica-marker-restarted", &watch);
    ctl.wait_ready().await;
    env.apply(&sealed(&ns, "new", &[("k", "v")], &r)).await;
    let secrets: Api<Secret> = Api::namespaced(env.client(), &ns);
    eventually("the new object unsealed", || async { secrets.get_opt("new").await.ok()? }).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let spent = metric(&ctl, "gitseal_decryptions_total");
    assert_eq!(spent, 1.0, "decryptions at a start over 10 marked objects Ready in place, and one new");
    assert!(ctl.terminate().success());
    env.cluster.delete_namespace(&ns).await.unwrap();
}

/// A SealedSecret for `ns/name` whose template carries `annotations` and `type_`.
fn templated(
    ns: &str,
    name: &str,
    annotations: &[(&str, &str)],
    type_: Option<&str>,
    r: &gitseal::Recipients,
) -> SealedSecret {
    let mut plain = gitseal::PlainSecret { name: Some(name.into()), namespace: Some(ns.into()), ..Default::default() };
    plain.annotations = annotations.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    plain.type_ = type_.map(str::to_owned);
    plain.data.insert("password".into(), zeroize::Zeroizing::new(b"after".to_vec()));
    gitseal::seal_secret(&plain, gitseal::Scope::Strict, None, r, 1).unwrap()
}

/// A template that would carry the plaintext out of its scope: a replicator's annotation
/// (the replicator copies the Secret into other namespaces), a ServiceAccount token type
/// (the cluster mints a token into it), or a prefix the operator refuses. Each is refused
/// with `Ready=False TemplateRefused` and a Warning Event naming the field, never its
/// value, and the Secret already in place is left as it was.
#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn templates_that_would_carry_plaintext_out_of_scope_are_refused() {
    use k8s_openapi::api::events::v1::Event;
    let env = Env::new().await;
    let ctl = env.start_with("replica-policy", &["--refuse-annotation-prefix", "copier.example.com/"]);
    ctl.wait_ready().await;
    let r = env.recipients().await;
    let ns = env.cluster.fresh_namespace("policy").await.unwrap();
    let sls: Api<SealedSecret> = Api::namespaced(env.client(), &ns);
    let secrets: Api<Secret> = Api::namespaced(env.client(), &ns);
    env.apply(&sealed(&ns, "db", &[("password", "before")], &r)).await;
    eventually("db unsealed", || async { secrets.get_opt("db").await.ok()? }).await;

    const VALUE: &str = "every-namespace-value-canary";
    env.apply(&templated(&ns, "db", &[("replicator.v1.mittwald.de/replicate-to", VALUE)], None, &r)).await;
    let token = templated(&ns, "token", &[], Some("kubernetes.io/service-account-token"), &r);
    env.apply(&token).await;
    env.apply(&templated(&ns, "copied", &[("copier.example.com/to", "all")], None, &r)).await;
    let refused = |name: &'static str| {
        let sls = sls.clone();
        async move {
            let s = sls.get_opt(name).await.ok()??;
            let c = s.status?.conditions.into_iter().find(|c| c.type_ == "Ready")?;
            (c.status == "False" && c.reason == "TemplateRefused").then_some(c.message)
        }
    };
    let message = eventually("db refused", || refused("db")).await;
    assert!(
        message.contains("spec.template.metadata.annotations[replicator.v1.mittwald.de/replicate-to]"),
        "{message}"
    );
    assert!(!message.contains(VALUE), "never a value: {message}");
    let message = eventually("token refused", || refused("token")).await;
    assert!(message.contains("kubernetes.io/service-account-token"), "{message}");
    eventually("copied refused by the operator's prefix", || refused("copied")).await;

    let kept = secrets.get("db").await.unwrap();
    assert_eq!(kept.data.unwrap()["password"].0, b"before", "the Secret in place is left as it was");
    assert!(kept.metadata.annotations.unwrap_or_default().keys().all(|k| !k.starts_with("replicator.")));
    assert!(secrets.get_opt("token").await.unwrap().is_none(), "no token Secret");
    assert!(secrets.get_opt("copied").await.unwrap().is_none());

    let events: Api<Event> = Api::namespaced(env.client(), &ns);
    let warning = eventually("a Warning Event for db", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| {
            e.reason.as_deref() == Some("TemplateRefused")
                && e.regarding.as_ref().and_then(|o| o.name.as_deref()) == Some("db")
        })
    })
    .await;
    let note = warning.note.unwrap_or_default();
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    assert!(note.contains("replicator.v1.mittwald.de/replicate-to") && !note.contains(VALUE), "{note}");
    assert!(ctl.terminate().success());
    env.cluster.delete_namespace(&ns).await.unwrap();
}

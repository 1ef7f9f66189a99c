//! Steady state on the real control plane, under deploy/'s RBAC: a cold start over many
//! SealedSecrets publishes Normal Events only within its budget; a restart over objects
//! already in place looks at each and writes nothing (no Secret, no status, no Event) and
//! unseals nothing;
//! a Secret edited while no controller ran is still restored; one changed SealedSecret
//! among them is still picked up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Instant;

use gitseal::SealedSecret;
use gitseal_test_support::{delta, request_counts, scrape_apiserver, sealing_writes};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use support::{Env, eventually_within, kubectl, sealed};

/// More objects than the Event budget lets through at once (100, then 10 a second).
const N: usize = 300;

fn metric(text: &str, name: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or(0.0)
}

/// resourceVersion of every Secret and SealedSecret in `ns`, by kind and name.
async fn versions(env: &Env, ns: &str) -> BTreeMap<String, String> {
    let secrets: Api<Secret> = Api::namespaced(env.client(), ns);
    let sealed: Api<SealedSecret> = Api::namespaced(env.client(), ns);
    let mut out = BTreeMap::new();
    for s in secrets.list_metadata(&ListParams::default()).await.unwrap().items {
        out.insert(format!("Secret {}", s.metadata.name.unwrap()), s.metadata.resource_version.unwrap());
    }
    for s in sealed.list_metadata(&ListParams::default()).await.unwrap().items {
        out.insert(format!("SealedSecret {}", s.metadata.name.unwrap()), s.metadata.resource_version.unwrap());
    }
    out
}

async fn all_ready(api: &Api<SealedSecret>) -> Option<()> {
    let list = api.list(&ListParams::default()).await.ok()?;
    let ready = list.items.iter().filter(|s| {
        let status = s.status.as_ref();
        let ready = status.and_then(|st| st.conditions.iter().find(|c| c.type_ == "Ready"));
        ready.is_some_and(|c| c.status == "True" && c.observed_generation == s.metadata.generation)
    });
    (list.items.len() == N && ready.count() == N).then_some(())
}

/// What a controller started over objects in place did, once settled.
struct Restart {
    controller: support::Controller,
    /// Objects of the namespace whose resourceVersion moved.
    changed: Vec<String>,
    /// Writes to Secrets, SealedSecrets and Events the API server counted, by (verb,
    /// resource, code).
    writes: Vec<((String, String, String), f64)>,
    /// Events published in the namespace.
    events: usize,
    /// Reconciles that unsealed, and that found nothing changed.
    unsealed: f64,
    unchanged: f64,
}

/// Starts a controller; waits until every object was looked at (and `restored`, if any,
/// holds its value again), then reports what it did.
async fn restart(env: &Env, ns: &str, name: &str, restored: Option<&str>) -> Restart {
    let secrets: Api<Secret> = Api::namespaced(env.client(), ns);
    let events: Api<Event> = Api::namespaced(env.client(), ns);
    let before = versions(env, ns).await;
    let events_before = events.list_metadata(&ListParams::default()).await.unwrap().items.len();
    let requests_before = scrape_apiserver(&env.client()).await.unwrap();
    let controller = env.start(name);
    controller.wait_ready().await;
    let counted = |result: &str| {
        metric(&controller.get("/metrics").1, &format!("gitseal_reconciles_total{{result=\"{result}\"}}"))
    };
    eventually_within(std::time::Duration::from_secs(120), "every object looked at", || async {
        let done = counted("unchanged") + counted("unsealed") >= N as f64;
        let healed = match restored {
            Some(name) => secrets.get(name).await.ok()?.data?.get("a")?.0 == b"x",
            None => true,
        };
        (done && healed).then_some(())
    })
    .await;
    let requests = request_counts(&delta(&requests_before, &scrape_apiserver(&env.client()).await.unwrap()));
    let after = versions(env, ns).await;
    let writes = sealing_writes(&requests);
    Restart {
        changed: after.iter().filter(|(k, v)| before.get(*k) != Some(v)).map(|(k, _)| k.clone()).collect(),
        writes,
        events: events.list_metadata(&ListParams::default()).await.unwrap().items.len() - events_before,
        unsealed: counted("unsealed"),
        unchanged: counted("unchanged"),
        controller,
    }
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn a_restart_over_objects_in_place_writes_nothing() {
    let (env, first, recipients) = Env::with_controller().await;
    first.terminate();
    // Only this test's objects: what other test binaries left would be reconciled too.
    kubectl(&["delete", "sealedsecrets.gitseal.dev", "--all", "--all-namespaces", "--wait=true"]);
    let ns = env.cluster.fresh_namespace("steady").await.unwrap();
    let sealed_api: Api<SealedSecret> = Api::namespaced(env.client(), &ns);
    for i in 0..N {
        let object = sealed(&ns, &format!("s{i:03}"), &[("a", "x"), ("b", "y"), ("c", "z")], &recipients);
        sealed_api.create(&PostParams::default(), &object).await.unwrap();
    }

    // Cold start: every Secret, and Normal Events only within the budget.
    let started = Instant::now();
    let cold = env.start("steady-cold");
    eventually_within(std::time::Duration::from_secs(180), "all Ready", || all_ready(&sealed_api)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let events: Api<Event> = Api::namespaced(env.client(), &ns);
    let published = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Unsealed"))
        .count();
    let suppressed = metric(&cold.get("/metrics").1, "gitseal_events_suppressed_total");
    eprintln!("cold start of {N}: {elapsed:.1} s, {published} Normal Events, {suppressed} held back");
    assert_eq!(published + suppressed as usize, N, "one Normal Event per new Secret, published or counted");
    assert!(published as f64 <= 100.0 + 10.0 * elapsed + 1.0, "{published} Events in {elapsed:.1} s");
    cold.terminate();

    // A restart over all of it in place: every object looked at, none unsealed, nothing
    // written.
    let secrets: Api<Secret> = Api::namespaced(env.client(), &ns);
    let quiet = restart(&env, &ns, "steady-restart", None).await;
    assert_eq!((quiet.unchanged, quiet.unsealed), (N as f64, 0.0), "every object found in place, none unsealed");
    assert!(quiet.changed.is_empty(), "the restart changed {:?}", quiet.changed);
    assert!(quiet.writes.is_empty(), "the restart wrote: {:?}", quiet.writes);
    assert_eq!(quiet.events, 0, "the restart published Events");
    quiet.controller.terminate();

    // A Secret edited while no controller runs: the next start restores it, and only it.
    let mut edited = secrets.get("s007").await.unwrap();
    edited.data.as_mut().unwrap().insert("a".into(), ByteString(b"tampered".to_vec()));
    secrets.replace("s007", &PostParams::default(), &edited).await.unwrap();
    let healed = restart(&env, &ns, "steady-heal", Some("s007")).await;
    // (The restore's own write brings that object round once more, unchanged.)
    assert_eq!(healed.unsealed, 1.0, "only the edited one unsealed again");
    assert!(healed.unchanged >= (N - 1) as f64, "every other one found in place");
    // The restored Secret, and its SealedSecret's status recording the Secret's new version.
    assert_eq!(healed.changed, ["SealedSecret s007", "Secret s007"]);
    let count: f64 = healed.writes.iter().map(|(_, n)| n).sum();
    assert!(count <= 3.0, "the restored Secret and its status only (and an Event): {:?}", healed.writes);
    let restarted = healed.controller;

    // One changed SealedSecret among them is still picked up.
    let changed_at = Instant::now();
    let mut one = sealed(&ns, "s123", &[("a", "new"), ("b", "y"), ("c", "z")], &recipients);
    one.metadata.resource_version = sealed_api.get("s123").await.unwrap().metadata.resource_version;
    sealed_api.replace("s123", &PostParams::default(), &one).await.unwrap();
    eventually_within(std::time::Duration::from_secs(60), "s123 updated", || async {
        (secrets.get("s123").await.ok()?.data?.get("a")?.0 == b"new").then_some(())
    })
    .await;
    eprintln!("one change among {N} reflected in {:.2} s (polled each second)", changed_at.elapsed().as_secs_f64());
    restarted.terminate();
}

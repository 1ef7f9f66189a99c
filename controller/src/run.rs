//! Wiring: every replica watches the key ring and serves HTTP; the leader also creates
//! the first key, publishes the public keys and runs the SealedSecret controller.
//!
//! ```text
//!            ┌─ key watcher ──▶ Shared (ring, readiness, metrics) ◀── HTTP server
//!  replica ──┤
//!            └─ elector ──leader──▶ first key ─▶ publisher (ConfigMap)
//!                                          └──▶ Controller<SealedSecret>, one per scope:
//!                                                 every namespace, or each of
//!                                                 --watch-namespaces (a watch covers
//!                                                 one namespace or all)
//!                                                 owns: Secret metadata (label-selected)
//!                                                 reconcile all on: key changes
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use gitseal::key_secrets::{Read, StoredKey};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, WatchStreamExt, predicates, reflector, watcher};
use kube::{Client, Resource};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::args::Args;
use crate::cache;
use crate::decide::MANAGED_SELECTOR;
use crate::decrypt::DecryptPool;
use crate::events::EventBudget;
use crate::fairness::{Fairness, Workers};
use crate::keys::{self, KEY_SELECTOR, LoadedKeys};
use crate::leader::Elector;
use crate::reconcile::{Context, error_policy, reconcile};
use crate::state::Shared;
use crate::supervise::Tasks;
use crate::{LEASE_NAME, http, reseal, rotation, served};

/// Longest a graceful shutdown may take: less than the Deployment's 30 s grace period.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// SealedSecrets per page of the initial list.
const LIST_PAGE: u32 = 50;

/// Runs the controller until SIGTERM/SIGINT, or until leadership is lost or a background
/// task dies (then the process exits non-zero and its Deployment restarts it).
pub async fn run(args: Args) -> anyhow::Result<()> {
    let client = Client::try_default().await?;
    served::check(&client).await?;
    let shared = Arc::new(Shared::default());
    let decrypt = DecryptPool::per_core();
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutting down");
        let _ = stop_tx.send(true);
        // Whatever hangs (an API call that never returns), stop before the kubelet's
        // grace period ends; the lease then expires for a standby to take over.
        tokio::time::sleep(SHUTDOWN_GRACE).await;
        tracing::error!("graceful shutdown took longer than {SHUTDOWN_GRACE:?}; exiting");
        std::process::exit(1);
    });
    let mut tasks = Tasks::default();
    let (addr, http_shared, http_stop) = (args.http_addr, shared.clone(), stop_rx.clone());
    tasks.spawn("HTTP server", async move {
        match http::serve(addr, http_shared, http_stop).await {
            // Stopped on request: the process is ending, not failing.
            Ok(()) => std::future::pending().await,
            Err(e) => tracing::error!(error = %e, "HTTP server failed"),
        }
    });
    let (keys_tx, keys_rx) = watch::channel(0u64);
    tasks.spawn("key watcher", watch_keys(Api::namespaced(client.clone(), &args.namespace), shared.clone(), keys_tx));

    let me = args.identity();
    let elector =
        Elector::new(Api::<Lease>::namespaced(client.clone(), &args.namespace), LEASE_NAME, &me, args.lease_duration());
    info!(identity = %me, namespace = %args.namespace, "waiting for leadership");
    let leading = tokio::select! {
        leading = acquire(&elector, args.retry_period(), stop_rx.clone()) => leading,
        died = tasks.died() => return failed(&shared, died),
    };
    if !leading {
        return Ok(());
    }
    shared.set_leading(true);
    info!(identity = %me, "became leader");

    let (lost_tx, lost_rx) = watch::channel(false);
    let renewer =
        tokio::spawn(keep_leading(elector, args.retry_period(), args.renew_deadline(), lost_tx, stop_rx.clone()));

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &args.namespace);
    if keys::ensure_first_key(&secrets, &args.namespace).await? {
        info!("created the first key");
    }
    let mut loaded = keys_rx.clone();
    tokio::select! {
        ready = loaded.wait_for(|_| !shared.ring().is_empty()) => { ready?; }
        died = tasks.died() => return failed(&shared, died),
    }
    let ns = &args.namespace;
    tasks.spawn("key publisher", publish_keys(Api::namespaced(client.clone(), ns), shared.clone(), keys_rx.clone()));
    tasks.spawn("KeyRotation server", rotation::serve_requests(client.clone(), ns.clone(), shared.clone()));
    // Per namespace: as many jobs in the pool as there are workers, and half the workers'
    // time once it has spent 2 s: the rest stay free for other namespaces. Shared by
    // SealedSecrets and ResealRequests.
    let workers = DecryptPool::cores();
    let fairness = Arc::new(Fairness::new(workers as f64 / 2.0, Duration::from_secs(2), workers));
    let workers = Workers { decrypt, fairness };
    tasks.spawn("ResealRequest server", reseal::serve(client.clone(), ns.clone(), shared.clone(), workers.clone()));
    if !args.key_rotation_period.is_zero() {
        let period = args.key_rotation_period;
        tasks.spawn(
            "scheduled rotation",
            rotation::rotate_on_schedule(client.clone(), ns.clone(), shared.clone(), period),
        );
    }

    let scopes = scopes(&args);
    match scopes.as_slice() {
        [None] => info!("watching SealedSecrets in every namespace"),
        _ => {
            info!(namespaces = ?scopes.iter().flatten().collect::<Vec<_>>(), "watching SealedSecrets only in these namespaces")
        }
    }
    let unsynced = Arc::new(AtomicUsize::new(scopes.len()));
    let controllers = scopes.into_iter().map(|namespace| {
        let scope = Scope { namespace, unsynced: unsynced.clone() };
        let stop = stopped(stop_rx.clone(), lost_rx.clone());
        run_controller(client.clone(), &args, scope, shared.clone(), workers.clone(), keys_rx.clone(), stop)
    });
    tokio::select! {
        _ = futures::future::join_all(controllers) => {}
        died = tasks.died() => return failed(&shared, died),
    }

    let lost = *lost_rx.borrow();
    let elector = renewer.await?;
    if lost {
        anyhow::bail!("lost the leader lease; exiting so a standby takes over");
    }
    match tokio::time::timeout(args.retry_period(), elector.release()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "releasing the lease failed; a standby takes over when it expires"),
        Err(_) => warn!("releasing the lease timed out; a standby takes over when it expires"),
    }
    Ok(())
}

/// A background task died: fail readiness and stop, so the replica restarts whole.
fn failed(shared: &Shared, died: String) -> anyhow::Result<()> {
    shared.set_failed();
    anyhow::bail!("{died}; exiting rather than running without it")
}

/// Where one SealedSecret controller looks.
struct Scope {
    /// One namespace, or `None` for every namespace.
    namespace: Option<String>,
    /// Controllers whose caches have not synced yet: the replica is ready at zero.
    unsynced: Arc<AtomicUsize>,
}

/// Every namespace, or each namespace of --watch-namespaces once: in namespace-scoped
/// mode the controller's Roles grant nothing elsewhere, so it must never watch all.
fn scopes(args: &Args) -> Vec<Option<String>> {
    let mut named: Vec<String> =
        args.watch_namespaces.iter().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect();
    named.sort();
    named.dedup();
    if named.is_empty() { vec![None] } else { named.into_iter().map(Some).collect() }
}

/// The API of `K` in `namespace`, or in every namespace.
fn api_in<K>(client: Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}

/// Resolves when asked to stop or when leadership is lost.
async fn stopped(mut stop_rx: watch::Receiver<bool>, mut lost_rx: watch::Receiver<bool>) {
    tokio::select! {
        _ = stop_rx.wait_for(|s| *s) => {},
        _ = lost_rx.wait_for(|l| *l) => {},
    }
}

async fn run_controller(
    client: Client,
    args: &Args,
    scope: Scope,
    shared: Arc<Shared>,
    Workers { decrypt, fairness }: Workers,
    keys_rx: watch::Receiver<u64>,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let namespace = scope.namespace.as_deref();
    let (managed, writer) = reflector::store();
    let owned = watcher(
        api_in::<PartialObjectMeta<Secret>>(client.clone(), namespace),
        watcher::Config::default().labels(MANAGED_SELECTOR),
    )
    .default_backoff()
    // Which Secret, which version, whose: ownership and up-to-date checks need no more.
    .modify(|secret| secret.metadata.managed_fields = None)
    .reflect(writer)
    .touched_objects();
    let key_changes = futures::stream::unfold(keys_rx, |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    });
    let (sealed_store, sealed_writer) = reflector::store();
    // One object at a time (a streaming list), or small pages where the API server cannot
    // stream; the cache then keeps only what reconciling needs (crate::cache).
    let config = watcher::Config { page_size: Some(LIST_PAGE), ..watcher::Config::default() };
    let config = if args.streaming_lists { config.streaming_lists() } else { config };
    let events = watcher(api_in::<cache::Watched>(client.clone(), namespace), config)
        .default_backoff()
        .map_ok(cache::Watched::unwrap_event)
        .modify(cache::trim)
        .reflect(sealed_writer);
    // Status writes (our own) do not change the generation: no reconcile for them.
    let sealed =
        cache::settled(events, sealed_store.clone()).predicate_filter(predicates::generation, Default::default());
    // Not one SealedSecret before the Secrets are listed: reconciled earlier, an object in
    // place looks as if its Secret were missing, and is decrypted again for nothing. The
    // controller holds its runner until the SealedSecret cache is complete, so this holds
    // every reconcile; the Secrets' watch runs meanwhile, as one of its triggers.
    let managed_listed = managed.clone();
    let sealed = futures::stream::once(async move {
        listed(&managed_listed).await;
        sealed
    })
    .flatten();
    let controller = Controller::for_stream(sealed, sealed_store.clone())
        .owns_stream(owned)
        .reconcile_all_on(key_changes)
        .with_config(kube::runtime::controller::Config::default().concurrency(args.concurrency))
        .graceful_shutdown_on(stop);
    let synced = shared.clone();
    let managed_ready = managed.clone();
    tokio::spawn(async move {
        listed(&sealed_store).await;
        listed(&managed_ready).await;
        if scope.unsynced.fetch_sub(1, Ordering::SeqCst) == 1 {
            info!("caches synced");
            synced.set_controller_synced();
        }
    });
    let recorder = Recorder::new(
        client.clone(),
        Reporter { controller: "gitseal-controller".into(), instance: Some(args.identity()) },
    );
    let ctx = Arc::new(Context {
        client,
        shared,
        recorder,
        events: EventBudget::default(),
        managed,
        decrypt,
        fairness,
        written: Default::default(),
        stuck: Default::default(),
        policy: args.template_policy(),
    });
    controller
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "controller");
            }
        })
        .await;
}

/// Resolves once `store` holds its first complete list. The controller waits on the
/// SealedSecret store too, and a store wakes only its latest waiter, so this polls in
/// short rounds rather than park on it.
async fn listed<K>(store: &reflector::Store<K>)
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let round = Duration::from_millis(200);
    while !matches!(tokio::time::timeout(round, store.wait_until_ready()).await, Ok(Ok(()))) {}
}

/// Loads the key ring from its Secrets and keeps it current. Each key Secret is read
/// once, as it arrives, and its data zeroized: the private keys are kept only in the
/// ring's zeroize-on-drop identities, not in a cache of Secrets.
async fn watch_keys(api: Api<Secret>, shared: Arc<Shared>, changed: watch::Sender<u64>) {
    let stream = watcher(api, watcher::Config::default().labels(KEY_SELECTOR)).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut keys: BTreeMap<String, Read> = BTreeMap::new();
    let mut relisted: Option<BTreeMap<String, Read>> = None;
    let read = |mut secret: Secret| {
        let key = StoredKey::read(&secret);
        gitseal::manifest::wipe(&mut secret);
        (secret.metadata.name.unwrap_or_default(), key)
    };
    loop {
        let settled = match stream.try_next().await {
            Ok(Some(watcher::Event::Init)) => {
                relisted = Some(BTreeMap::new());
                false
            }
            Ok(Some(watcher::Event::InitApply(secret))) => {
                let (name, key) = read(secret);
                relisted.get_or_insert_default().insert(name, key);
                false
            }
            Ok(Some(watcher::Event::InitDone)) => {
                keys = relisted.take().unwrap_or_default();
                true
            }
            Ok(Some(watcher::Event::Apply(secret))) => {
                let (name, key) = read(secret);
                keys.insert(name, key);
                true
            }
            Ok(Some(watcher::Event::Delete(secret))) => {
                keys.remove(&read(secret).0);
                true
            }
            Ok(None) => return,
            Err(e) => {
                warn!(error = %e, "watching key Secrets");
                false
            }
        };
        if settled {
            let (state, skipped) = LoadedKeys::from_read(keys.values());
            for name in skipped {
                warn!(secret = %name, "key Secret holds no valid identity; skipped");
            }
            info!(keys = state.ring.len(), "key ring loaded");
            shared.set_keys(state);
            changed.send_modify(|generation| *generation += 1);
        }
    }
}

/// Keeps the public-keys ConfigMap in step with the ring (leader only).
async fn publish_keys(api: Api<ConfigMap>, shared: Arc<Shared>, mut changed: watch::Receiver<u64>) {
    loop {
        let state = shared.keys();
        if !state.ring.is_empty()
            && let Err(e) = keys::publish(&api, &state).await
        {
            warn!(error = %e, "publishing public keys failed; retrying");
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        if changed.changed().await.is_err() {
            return;
        }
    }
}

/// One acquire-or-renew, bounded by `limit`: `None` when it failed or took too long.
async fn attempt(elector: &Elector, limit: Duration) -> Option<bool> {
    match tokio::time::timeout(limit, elector.try_acquire_or_renew()).await {
        Ok(Ok(held)) => Some(held),
        Ok(Err(e)) => {
            warn!(error = %e, "leader election");
            None
        }
        Err(_) => {
            warn!("leader election: the API server did not answer in time");
            None
        }
    }
}

/// Waits for the lease; false when asked to stop first.
async fn acquire(elector: &Elector, period: Duration, mut stop: watch::Receiver<bool>) -> bool {
    loop {
        if attempt(elector, period).await == Some(true) {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {},
            _ = stop.wait_for(|s| *s) => return false,
        }
    }
}

/// Renews the lease every `period`; flags `lost` when no renewal succeeded for `deadline`.
async fn keep_leading(
    elector: Elector,
    period: Duration,
    deadline: Duration,
    lost: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) -> Elector {
    let mut last_renewal = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {},
            _ = stop.wait_for(|s| *s) => return elector,
        }
        match attempt(&elector, period).await {
            Some(true) => last_renewal = Instant::now(),
            Some(false) => {
                warn!("another replica holds the lease");
                let _ = lost.send(true);
                return elector;
            }
            None => {}
        }
        if last_renewal.elapsed() > deadline {
            let _ = lost.send(true);
            return elector;
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn scopes_of(flags: &[&str]) -> Vec<Option<String>> {
        scopes(&Args::parse_from([&["gitseal-controller"], flags].concat()))
    }

    #[test]
    fn every_namespace_unless_some_are_named_then_each_once() {
        assert_eq!(scopes_of(&[]), [None]);
        assert_eq!(scopes_of(&["--watch-namespaces", ""]), [None], "an empty value is no namespace");
        let named = scopes_of(&["--watch-namespaces", "b,a, b", "--watch-namespaces", "c"]);
        assert_eq!(named, ["a", "b", "c"].map(|n| Some(n.to_owned())));
    }
}

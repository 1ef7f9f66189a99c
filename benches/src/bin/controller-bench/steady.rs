//! gitseal's steady state after its cold start at N: one SealedSecret changed among the N
//! (time until its Secret holds the new values, the controller still running), then a
//! restart over all N in place (time until the new process has looked at every object,
//! and what it unsealed and wrote meanwhile).

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use gitseal::{PlainSecret, Recipients, Scope, SealedSecret, seal_secret};
use gitseal_bench::{
    Controller, KEYS, Launch, Measured, delta, log, name, parse_metrics, request_counts, scrape_apiserver,
    sealing_writes, value,
};
use gitseal_test_support::Cluster;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};
use zeroize::Zeroizing;

/// What the steady state measured.
pub struct Steady {
    /// From replacing one SealedSecret to its Secret holding the new values.
    pub change: Duration,
    pub restart: Restarted,
}

/// A restart over everything in place.
pub struct Restarted {
    /// From starting the controller again to its `/readyz`.
    pub ready: Duration,
    /// From starting it again until it has looked at every object.
    pub all_seen: Duration,
    /// Objects it unsealed meanwhile.
    pub unsealed: f64,
    /// Its writes to Secrets, SealedSecrets and Events.
    pub writes: f64,
}

/// Changes object `n / 2` (new values) while `controller` runs; returns how long until its
/// Secret holds them (polled every 10 ms).
pub async fn one_change(
    admin: &Client,
    ns: &str,
    n: usize,
    recipients: &Recipients,
    timeout: Duration,
) -> Result<Duration> {
    let i = n / 2;
    let mut plain = PlainSecret { name: Some(name(i)), namespace: Some(ns.to_owned()), ..PlainSecret::default() };
    for (k, key) in KEYS.iter().enumerate() {
        plain.data.insert((*key).to_owned(), Zeroizing::new(value(i + n, k)));
    }
    let mut changed = seal_secret(&plain, Scope::Strict, None, recipients, 1)?;
    let sealed: Api<SealedSecret> = Api::namespaced(admin.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), ns);
    changed.metadata.resource_version = sealed.get(&name(i)).await?.metadata.resource_version;
    let started = Instant::now();
    sealed.replace(&name(i), &PostParams::default(), &changed).await?;
    let expected = value(i + n, 0);
    loop {
        let secret = secrets.get(&name(i)).await?;
        if secret.data.as_ref().and_then(|d| d.get(KEYS[0])).is_some_and(|v| v.0 == expected) {
            return Ok(started.elapsed());
        }
        ensure!(started.elapsed() < timeout, "Secret {ns}/{} not updated within {timeout:?}", name(i));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts the controller over the `n` objects in place and measures until it has looked
/// at each (`gitseal_reconciles_total` unchanged + unsealed reaching `n`); stops it.
pub async fn restart(cluster: &Cluster, launch: &Launch, n: usize, timeout: Duration) -> Result<Restarted> {
    let admin = cluster.client();
    let before = scrape_apiserver(&admin).await?;
    let log_path = launch.work_dir.join(format!("controller-{n}-restart.log"));
    let mut controller = Controller::start(cluster, launch, &log_path).await?;
    let started = controller.started();
    let mut ready = None;
    let reconciles = |controller: &Controller, result: &str| -> f64 {
        parse_metrics(&controller.metrics())
            .into_iter()
            .filter(|s| s.name == "gitseal_reconciles_total" && s.labels.get("result").is_some_and(|r| r == result))
            .map(|s| s.value)
            .sum()
    };
    let all_seen = loop {
        if ready.is_none() && gitseal_test_support::http_get(controller.port, "/readyz").0 == 200 {
            ready = Some(started.elapsed());
        }
        if reconciles(&controller, "unchanged") + reconciles(&controller, "unsealed") >= n as f64 {
            break started.elapsed();
        }
        ensure!(controller.exited().is_none(), "the restarted controller exited; see {}", log_path.display());
        ensure!(
            started.elapsed() < timeout,
            "the restarted controller did not look at all {n} objects within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let unsealed = reconciles(&controller, "unsealed");
    controller.stop();
    let requests = request_counts(&delta(&before, &scrape_apiserver(&admin).await?));
    let writes = sealing_writes(&requests).iter().map(|(_, count)| count).sum();
    log(&format!(
        "restart over {n} in place: ready after {:.2} s, every object looked at after {:.2} s; {} unsealed, {} writes to Secrets, SealedSecrets and Events",
        ready.unwrap_or(all_seen).as_secs_f64(),
        all_seen.as_secs_f64(),
        unsealed as u64,
        writes as u64
    ));
    Ok(Restarted { ready: ready.unwrap_or(all_seen), all_seen, unsealed, writes })
}

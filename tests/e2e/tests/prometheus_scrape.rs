//! A real Prometheus (tests/prometheus/build), run on the host, scrapes gitseal-controller
//! through its Service on the node cluster and has its metrics to query. Needs
//! `$GITSEAL_NODE_KUBECONFIG` and the controller deployed in gitseal-system there
//! (`kubectl apply -R -f deploy/`, as cli/tests/node.rs does); without the variable the test
//! skips with a note. It only reads the cluster. `#[ignore]`d: run it with `--ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use gitseal_e2e::Cluster;
use gitseal_e2e::node::NODE_KUBECONFIG_ENV;
use gitseal_e2e::prometheus::build_dir;
use gitseal_e2e::prometheus_server::PrometheusServer;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use serde_json::json;

const NAMESPACE: &str = "gitseal-system";

/// The Service's ClusterIP and its port 8080 (probes, /metrics, keys).
async fn service_address(cluster: &Cluster) -> anyhow::Result<SocketAddr> {
    let services: Api<Service> = Api::namespaced(cluster.client(), NAMESPACE);
    let service = services.get_opt("gitseal-controller").await?.with_context(|| {
        format!("no Service {NAMESPACE}/gitseal-controller on the node cluster: deploy the controller first (kubectl apply -R -f deploy/)")
    })?;
    let spec = service.spec.context("Service without spec")?;
    let ip: IpAddr = spec.cluster_ip.context("Service without a ClusterIP")?.parse()?;
    let port = spec.ports.unwrap_or_default().iter().map(|p| p.port).find(|p| *p == 8080).context("no port 8080")?;
    Ok(SocketAddr::new(ip, u16::try_from(port)?))
}

// Ignored until it is wired: tests/run sets $GITSEAL_NODE_KUBECONFIG for the whole
// workspace, while cli/tests/node.rs removes gitseal-system when it is done.
#[ignore = "needs the controller deployed on the node cluster; run with --ignored (tests/prometheus/README.md)"]
#[tokio::test]
async fn prometheus_scrapes_the_controller_through_its_service() -> anyhow::Result<()> {
    if std::env::var_os(NODE_KUBECONFIG_ENV).is_none_or(|v| v.is_empty()) {
        eprintln!("note: {NODE_KUBECONFIG_ENV} not set; the scrape through the node cluster's Service not checked");
        return Ok(());
    }
    let Some(bin) = build_dir()? else {
        eprintln!("note: Go not installed; prometheus was not built, the scrape not checked");
        return Ok(());
    };
    let cluster = Cluster::connect_node().await?;
    let target = service_address(&cluster).await?;
    // The label a ServiceMonitor adds, which the chart's alerts and dashboard select on.
    let server = PrometheusServer::start(&bin, "gitseal-controller", &[target], &json!({ "namespace": NAMESPACE }))?;

    let up = format!(r#"up{{job="gitseal-controller",instance="{target}"}}"#);
    server.wait_for(&format!("{up} == 1"), Duration::from_secs(60), |s| {
        Ok(s.query(&up)?.first().is_some_and(|r| r["value"][1] == "1"))
    })?;
    let leader = format!(r#"gitseal_leader{{namespace="{NAMESPACE}"}}"#);
    let mut values = Vec::new();
    server.wait_for(&format!("{leader} to have a sample"), Duration::from_secs(30), |s| {
        values = s.query(&leader)?;
        Ok(!values.is_empty())
    })?;
    // Through the Service each scrape reaches one replica or the other: 1 from the
    // leader, 0 from a follower; either is a value the alert can sum.
    let value = values[0]["value"][1].as_str().context("no value")?;
    assert!(value == "0" || value == "1", "gitseal_leader = {value}: {values:?}");
    let build = server.query(r#"gitseal_build_info{namespace="gitseal-system"}"#)?;
    assert_eq!(build.len(), 1, "{build:?}");
    Ok(())
}

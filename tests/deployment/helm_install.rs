//! charts/gitseal installed, upgraded and uninstalled by the real helm (dev/tools/helm/build)
//! on the local control plane (dev/cluster/up), beside deploy/'s objects that other
//! tests apply in gitseal-system. This control plane has no node: Pods are created and
//! admitted (Pod Security `restricted`), never run; tests/deployment/node_tier.rs installs the chart on
//! the node cluster, where they do.
//!
//! Each run installs a new release in a fresh namespace, named after it, so its
//! cluster-scoped names (`<release>-gitseal-…`) differ from deploy/'s and from every other
//! run's. The CRDs already installed by other tests are left alone by helm (it skips CRDs
//! that exist) and kept by `helm uninstall`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by unwrapping

use std::time::Duration;

use anyhow::{Context as _, ensure};
use gitseal_test_support::helm::{Helm, chart_dir};
use gitseal_test_support::{Cluster, eventually};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

/// Upper bound for what the controller manager does asynchronously.
const EVENTUALLY: Duration = Duration::from_secs(60);

/// Whether the controller's ServiceAccount in `namespace` may `verb` `resource`, as the
/// API server's authorizer answers (`ns` None: cluster-wide).
async fn allowed(
    cluster: &Cluster,
    namespace: &str,
    (verb, group, resource, ns): (&str, &str, &str, Option<&str>),
) -> anyhow::Result<bool> {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(format!("system:serviceaccount:{namespace}:gitseal-controller")),
            groups: Some(vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{namespace}")]),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                namespace: ns.map(Into::into),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let api = Api::<SubjectAccessReview>::all(cluster.client());
    let answer = api.create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

#[gitseal_test_support::needs_cluster]
#[tokio::test]
async fn installs_upgrades_and_uninstalls_beside_deploy() -> anyhow::Result<()> {
    let Some(helm) = Helm::build()? else {
        eprintln!("note: Go not installed; helm was not built, charts/gitseal not installed");
        return Ok(());
    };
    let cluster = Cluster::connect().await?;
    let ns = cluster.fresh_namespace("helm").await?;
    let release = ns.clone();
    let fullname = format!("{release}-gitseal");
    // As the READMEs say: the release namespace enforces the restricted Pod Security Standard.
    let labels = json!({ "metadata": { "labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    } } });
    Api::<Namespace>::all(cluster.client()).patch(&ns, &PatchParams::default(), &Patch::Merge(&labels)).await?;

    let kubeconfig = cluster.kubeconfig_path().to_str().context("kubeconfig path")?.to_owned();
    let chart = chart_dir().to_str().context("chart path")?.to_owned();
    let common = ["--namespace", &ns, "--kubeconfig", &kubeconfig];
    let mut install = vec!["install", &release, &chart];
    install.extend(common);
    install.extend(["--set", "networkPolicy.enabled=true,grafanaDashboard.enabled=true"]);
    helm.run(&install)?;

    // Every object the chart renders is there, in the release namespace or cluster-wide.
    let client = cluster.client();
    let deployment = Api::<Deployment>::namespaced(client.clone(), &ns).get("gitseal-controller").await?;
    let spec = deployment.spec.context("Deployment without spec")?;
    ensure!(spec.replicas == Some(2), "replicas {:?}", spec.replicas);
    Api::<ServiceAccount>::namespaced(client.clone(), &ns).get("gitseal-controller").await?;
    Api::<Service>::namespaced(client.clone(), &ns).get("gitseal-controller").await?;
    Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns).get("gitseal-controller").await?;
    Api::<NetworkPolicy>::namespaced(client.clone(), &ns).get("gitseal-controller").await?;
    Api::<ConfigMap>::namespaced(client.clone(), &ns).get(&format!("{fullname}-dashboard")).await?;
    let roles = Api::<Role>::namespaced(client.clone(), &ns);
    let task_roles = ["gitseal-key-rotator", "gitseal-resealer", "gitseal-key-custodian"];
    for name in ["gitseal-controller", "gitseal-public-keys-reader"].into_iter().chain(task_roles) {
        roles.get(name).await.with_context(|| format!("Role {name}"))?;
    }
    let bindings = Api::<RoleBinding>::namespaced(client.clone(), &ns);
    bindings.get("gitseal-controller").await?;
    bindings.get("gitseal-public-keys-reader").await?;
    let cluster_roles = Api::<ClusterRole>::all(client.clone());
    for suffix in ["controller", "sealedsecrets-edit", "sealedsecrets-view", "key-dependents-reader"] {
        cluster_roles.get(&format!("{fullname}-{suffix}")).await.with_context(|| format!("ClusterRole {suffix}"))?;
    }
    let binding = Api::<ClusterRoleBinding>::all(client.clone()).get(&format!("{fullname}-controller")).await?;
    let subject = &binding.subjects.context("no subjects")?[0];
    ensure!(subject.namespace.as_deref() == Some(ns.as_str()), "ClusterRoleBinding subject {subject:?}");
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in ["sealedsecrets.gitseal.dev", "keyrotations.gitseal.dev", "resealrequests.gitseal.dev"] {
        crds.get(crd).await.with_context(|| format!("CRD {crd}"))?;
    }

    // The bindings grant the controller's ServiceAccount what it needs, here and everywhere.
    let needs = [
        ("watch", "gitseal.dev", "sealedsecrets", None),
        ("patch", "", "secrets", Some("default")),
        ("create", "coordination.k8s.io", "leases", Some(ns.as_str())),
        ("watch", "gitseal.dev", "keyrotations", Some(ns.as_str())),
    ];
    for need in needs {
        eventually(&format!("the controller may {need:?}"), EVENTUALLY, || allowed(&cluster, &ns, need)).await?;
    }

    // Pod Security admits the pods the ReplicaSet makes (they stay Pending: no nodes).
    let pods = Api::<Pod>::namespaced(client.clone(), &ns);
    let selector = ListParams::default().labels("app.kubernetes.io/name=gitseal-controller");
    eventually("the ReplicaSet's 2 pods are admitted", EVENTUALLY, || async {
        Ok(pods.list(&selector).await?.items.len() == 2)
    })
    .await?;

    // Upgrade: values reach the Deployment.
    let mut upgrade = vec!["upgrade", &release, &chart];
    upgrade.extend(common);
    upgrade.extend(["--reuse-values", "--set", "replicas=3,keyRotationPeriod=7d"]);
    helm.run(&upgrade)?;
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns);
    let spec = deployments.get("gitseal-controller").await?.spec.context("Deployment without spec")?;
    let args = spec.template.spec.and_then(|s| s.containers.into_iter().next()).and_then(|c| c.args);
    ensure!(spec.replicas == Some(3), "replicas after upgrade {:?}", spec.replicas);
    ensure!(args == Some(vec!["--key-rotation-period=7d".into()]), "args after upgrade {args:?}");

    // Uninstall: the release's objects go, the CRDs stay (and with them every SealedSecret).
    let mut uninstall = vec!["uninstall", &release];
    uninstall.extend(common);
    helm.run(&uninstall)?;
    ensure!(cluster_roles.get_opt(&format!("{fullname}-controller")).await?.is_none(), "ClusterRole left behind");
    ensure!(deployments.get_opt("gitseal-controller").await?.is_none(), "Deployment left behind");
    ensure!(roles.get_opt("gitseal-resealer").await?.is_none(), "Role left behind");
    for crd in ["sealedsecrets.gitseal.dev", "keyrotations.gitseal.dev", "resealrequests.gitseal.dev"] {
        ensure!(crds.get_opt(crd).await?.is_some(), "helm uninstall deleted CRD {crd}");
    }
    Ok(())
}

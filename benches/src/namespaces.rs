//! The bench's namespaces: all named `NS_PREFIX…`, all deleted before and after a run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::{Client, ResourceExt};

use super::{NS_PREFIX, log};
use crate::{E2E_LABEL, Error};

/// Creates namespace `name` (labelled as the e2e tests' are) and returns its name.
///
/// # Errors
/// [`Error::CreateBenchNamespace`], e.g. when it exists.
pub async fn create_namespace(admin: &Client, name: &str) -> Result<String, Error> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([(E2E_LABEL.into(), "true".into())])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &ns)
        .await
        .map_err(|source| Error::CreateBenchNamespace { name: name.to_owned(), source })?;
    Ok(name.to_owned())
}

/// Deletes every namespace a bench made ([`NS_PREFIX`]) and waits until they are gone.
///
/// # Errors
/// [`Error::ListNamespaces`], [`Error::DeleteNamespace`], or [`Error::NamespacesRemain`]
/// after `timeout`.
pub async fn delete_bench_namespaces(admin: &Client, timeout: Duration) -> Result<(), Error> {
    let api: Api<Namespace> = Api::all(admin.clone());
    let ours = |list: kube::core::ObjectList<PartialObjectMeta<Namespace>>| -> Vec<String> {
        list.items.into_iter().map(|n| n.name_any()).filter(|n| n.starts_with(NS_PREFIX)).collect()
    };
    let names = ours(api.list_metadata(&ListParams::default()).await.map_err(Error::ListNamespaces)?);
    if names.is_empty() {
        return Ok(());
    }
    let start = Instant::now();
    for name in &names {
        match api.delete(name, &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(source) => return Err(Error::DeleteNamespace { name: name.clone(), source }),
        }
    }
    log(&format!("deleting namespaces {}", names.join(", ")));
    loop {
        let left = ours(api.list_metadata(&ListParams::default()).await.map_err(Error::ListNamespaces)?);
        if left.is_empty() {
            log(&format!("namespaces deleted in {:.1} s", start.elapsed().as_secs_f64()));
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(Error::NamespacesRemain { names: left.join(", "), timeout });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

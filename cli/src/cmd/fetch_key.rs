//! `gitseal fetch-key`: the cluster's public recipients, read from the ConfigMap the
//! controller publishes (readable by every authenticated user; no service proxy).

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::cli::ClusterArgs;
use crate::io;

/// Name and data key of the published ConfigMap (see the controller's `keys` module).
const CONFIGMAP: &str = "gitseal-public-keys";
const RECIPIENTS_FILE: &str = "recipients.txt";

pub fn fetch_key(args: &ClusterArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let text = runtime.block_on(fetch(args))?;
    io::emit(&text, None)
}

async fn fetch(args: &ClusterArgs) -> Result<String> {
    let client = Client::try_from(config(args).await?)?;
    let api: Api<ConfigMap> = Api::namespaced(client, &args.controller_namespace);
    let cm = api
        .get_opt(CONFIGMAP)
        .await
        .with_context(|| format!("cannot read ConfigMap {}/{CONFIGMAP}", args.controller_namespace))?;
    let cm = cm.with_context(|| {
        format!(
            "ConfigMap {}/{CONFIGMAP} does not exist: is gitseal-controller running in namespace {}? (--controller-namespace)",
            args.controller_namespace, args.controller_namespace
        )
    })?;
    let text = cm.data.and_then(|mut d| d.remove(RECIPIENTS_FILE)).unwrap_or_default();
    let recipients = gitseal::Recipients::parse_file(&text).context("the published recipients are malformed")?;
    if recipients.is_empty() {
        anyhow::bail!("the controller has published no key yet; try again in a few seconds");
    }
    Ok(text)
}

async fn config(args: &ClusterArgs) -> Result<Config> {
    let options = KubeConfigOptions { context: args.context.clone(), ..KubeConfigOptions::default() };
    match &args.kubeconfig {
        Some(path) => {
            let kubeconfig =
                Kubeconfig::read_from(path).with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            Ok(Config::from_custom_kubeconfig(kubeconfig, &options).await?)
        }
        None if args.context.is_some() => Ok(Config::from_kubeconfig(&options).await?),
        None => Ok(Config::infer().await?),
    }
}

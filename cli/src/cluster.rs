//! The CLI's contact with a cluster: kubeconfig rules, one small runtime per command, and
//! the names gitseal-controller uses for what it keeps in its namespace.
//!
//! ```text
//!  ClusterArgs ──config──▶ kube::Client ──▶ controller namespace
//!                                            ├─ Secrets gitseal-key-<n>   (private keys; admins)
//!                                            ├─ ConfigMap gitseal-public-keys (everyone)
//!                                            └─ KeyRotation rotate-…       (rotation requests)
//! ```

use std::fmt;
use std::future::Future;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::cli::ClusterArgs;

/// Field manager of every write the CLI makes.
pub const FIELD_MANAGER: &str = "gitseal-cli";
pub use gitseal::crds::storage::{KEY_SELECTOR, KEYS_JSON, PUBLIC_KEYS_CONFIGMAP, RECIPIENTS_FILE, STATE_ANNOTATION};

/// Runs one command's cluster work on a single-threaded runtime.
pub fn block_on<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(work)
}

/// Which cluster this run talks to (context and server), once a client was made: errors
/// that came from the cluster name it (see `main`).
static TARGET: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// `context NAME, server URL`, when a client was made.
pub fn target() -> Option<&'static str> {
    TARGET.get().map(String::as_str)
}

/// The kubeconfig context of the cluster reached, once [`client`] has run.
static CONTEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// See [`CONTEXT`].
pub fn context() -> Option<&'static str> {
    CONTEXT.get().map(String::as_str)
}

/// A client for the cluster the arguments name, with `--request-timeout` on every request.
pub async fn client(args: &ClusterArgs) -> Result<Client> {
    let (mut config, context) = config(args).await?;
    let _ = TARGET.set(format!("context {context}, server {}", config.cluster_url));
    let _ = CONTEXT.set(context);
    let limit = (!args.request_timeout.is_zero()).then_some(args.request_timeout);
    (config.connect_timeout, config.read_timeout, config.write_timeout) = (limit, limit, limit);
    Ok(Client::try_from(config)?)
}

/// The client configuration and the name of the kubeconfig context it comes from.
async fn config(args: &ClusterArgs) -> Result<(Config, String)> {
    let options = KubeConfigOptions { context: args.context.clone(), ..KubeConfigOptions::default() };
    let kubeconfig = match &args.kubeconfig {
        Some(path) => {
            Some(Kubeconfig::read_from(path).with_context(|| format!("cannot read kubeconfig {}", path.display()))?)
        }
        None => Kubeconfig::read().ok(),
    };
    let context = args
        .context
        .clone()
        .or_else(|| kubeconfig.as_ref().and_then(|k| k.current_context.clone()))
        .unwrap_or_else(|| "in-cluster".to_owned());
    let config = match (&args.kubeconfig, kubeconfig) {
        (Some(_), Some(kubeconfig)) => Config::from_custom_kubeconfig(kubeconfig, &options).await?,
        _ if args.context.is_some() => Config::from_kubeconfig(&options).await?,
        _ => Config::infer().await?,
    };
    Ok((config, context))
}

/// The namespace of the current kubeconfig context, as kubectl would use for an object
/// that names none ("default" when the context names none); `None` without a kubeconfig.
/// Offline: reads the file only.
pub fn kubeconfig_namespace() -> Option<Chosen> {
    let kubeconfig = Kubeconfig::read().ok()?;
    let current = kubeconfig.current_context.as_deref()?;
    let context = kubeconfig.contexts.iter().find(|c| c.name == current)?.context.as_ref()?;
    let namespace = context.namespace.clone().unwrap_or_else(|| "default".to_owned());
    Some(Chosen { namespace, source: format!("the kubeconfig context {current}") })
}

/// A namespace gitseal chose for a Secret that names none, and where it came from.
#[derive(Clone, Debug)]
pub struct Chosen {
    pub namespace: String,
    pub source: String,
}

impl Chosen {
    /// The one line on stderr that says so.
    pub fn say(&self, what: &str) {
        eprintln!(
            "gitseal: {what}: namespace {} (from {}); -n or metadata.namespace chooses another",
            self.namespace, self.source
        );
    }
}

/// The HTTP status of an API error, if the API server answered.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// The Roles and ClusterRoles in deploy/30-rbac.yaml that give the key-lifecycle commands
/// their rights, one per task; a refusal names the one to bind.
#[derive(Clone, Copy, Debug)]
pub enum Grant {
    KeyRotator,
    Resealer,
    KeyCustodian,
    KeyDependentsReader,
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Grant::KeyRotator => "the Role gitseal-key-rotator",
            Grant::Resealer => "the Role gitseal-resealer",
            Grant::KeyCustodian => "the Role gitseal-key-custodian",
            Grant::KeyDependentsReader => "the ClusterRole gitseal-key-dependents-reader",
        })
    }
}

/// A failed API call as the user reads it: what the command was doing and, when the API
/// server refused (403), which permission that needs and which role grants it.
pub fn api_error(e: kube::Error, doing: String, needs: &str, grant: Grant) -> anyhow::Error {
    let context = match status_code(&e) {
        Some(403) => format!("{doing}: not allowed; this needs {needs} (deploy/30-rbac.yaml: bind {grant})"),
        _ => doing,
    };
    anyhow::Error::new(e).context(context)
}

/// The ConfigMap of published keys.
///
/// # Errors
/// When it cannot be read, or does not exist (with a hint that the controller may not run).
pub async fn public_keys(client: Client, namespace: &str) -> Result<ConfigMap> {
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let cm = api
        .get_opt(PUBLIC_KEYS_CONFIGMAP)
        .await
        .with_context(|| format!("cannot read ConfigMap {namespace}/{PUBLIC_KEYS_CONFIGMAP}"))?;
    cm.with_context(|| {
        format!(
            "ConfigMap {namespace}/{PUBLIC_KEYS_CONFIGMAP} does not exist: is gitseal-controller running in namespace {namespace}? (--controller-namespace)"
        )
    })
}

/// Every key the controller publishes, oldest first, from `keys.json`.
///
/// # Errors
/// As [`public_keys`], or when `keys.json` is missing or malformed.
pub async fn published_keys(client: Client, namespace: &str) -> Result<Vec<gitseal::crds::storage::PublishedKey>> {
    let cm = public_keys(client, namespace).await?;
    let json = cm.data.and_then(|mut d| d.remove(KEYS_JSON)).with_context(|| {
        format!("ConfigMap {namespace}/{PUBLIC_KEYS_CONFIGMAP} has no {KEYS_JSON}: upgrade gitseal-controller")
    })?;
    serde_json::from_str(&json)
        .with_context(|| format!("{namespace}/{PUBLIC_KEYS_CONFIGMAP}: {KEYS_JSON} is malformed"))
}

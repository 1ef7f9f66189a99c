use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::Error;

/// Environment variable naming the admin kubeconfig to use instead of the default one.
pub const KUBECONFIG_ENV: &str = "GITSEAL_KUBECONFIG";

/// Label set to `"true"` on every namespace made by [`Cluster::fresh_namespace`].
pub const E2E_LABEL: &str = "gitseal.dev/e2e";

/// Field manager of the server-side applies made by this crate.
pub const FIELD_MANAGER: &str = "gitseal-test-support";

/// How long [`Cluster::connect`] waits for the API server to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The admin kubeconfig that `dev/cluster/up` writes in this workspace.
pub fn default_kubeconfig_path() -> PathBuf {
    crate::workspace_root().join("dev/cluster/.state/kubeconfig")
}

/// The local control plane, reached with admin (`system:masters`) credentials.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    kubeconfig: Kubeconfig,
    kubeconfig_path: PathBuf,
}

impl Cluster {
    /// Connects to the control plane named by `$GITSEAL_KUBECONFIG`, or else by
    /// [`default_kubeconfig_path`], and checks that its API server answers.
    ///
    /// # Errors
    /// [`Error::ClusterUnavailable`] when the kubeconfig is missing or the API server does
    /// not answer; its message tells how to start the control plane.
    pub async fn connect() -> Result<Self, Error> {
        let path = match std::env::var_os(KUBECONFIG_ENV) {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => default_kubeconfig_path(),
        };
        Self::connect_to(&path).await
    }

    /// Like [`Cluster::connect`], with an explicit admin kubeconfig.
    ///
    /// # Errors
    /// As [`Cluster::connect`].
    pub async fn connect_to(kubeconfig_path: &Path) -> Result<Self, Error> {
        let unavailable = |reason: String| Error::ClusterUnavailable { kubeconfig: kubeconfig_path.to_owned(), reason };
        if !kubeconfig_path.exists() {
            return Err(unavailable("its kubeconfig does not exist".into()));
        }
        let kubeconfig = Kubeconfig::read_from(kubeconfig_path)
            .map_err(|source| Error::LoadKubeconfig { path: kubeconfig_path.to_owned(), source })?;
        let client = client_for(kubeconfig.clone(), kubeconfig_path).await?;
        match tokio::time::timeout(PROBE_TIMEOUT, client.apiserver_version()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(unavailable(format!("the API server did not answer: {}", error_chain(&e))));
            }
            Err(_) => {
                return Err(unavailable(format!("the API server did not answer within {PROBE_TIMEOUT:?}")));
            }
        }
        Ok(Self { client, kubeconfig, kubeconfig_path: kubeconfig_path.to_owned() })
    }

    /// An admin client (member of `system:masters`, so RBAC never refuses it).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The admin kubeconfig this cluster was reached with, e.g. for `kubectl` or a CLI
    /// under test.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The parsed admin kubeconfig.
    pub fn kubeconfig(&self) -> &Kubeconfig {
        &self.kubeconfig
    }

    /// Creates a namespace named `<prefix>-<random suffix>` (the API server picks the
    /// suffix through `generateName`, so names never collide) and returns its name.
    ///
    /// The namespace is **not** deleted when the test ends: it stays for inspection and
    /// carries the label [`E2E_LABEL`]`=true`. Call [`Cluster::delete_namespace`] to
    /// remove it early; `dev/cluster/down` removes everything.
    ///
    /// # Errors
    /// [`Error::CreateNamespace`], e.g. when `prefix` is not a valid DNS label.
    pub async fn fresh_namespace(&self, prefix: &str) -> Result<String, Error> {
        let namespace = Namespace {
            metadata: ObjectMeta {
                generate_name: Some(format!("{prefix}-")),
                labels: Some(BTreeMap::from([(E2E_LABEL.into(), "true".into())])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let created = Api::<Namespace>::all(self.client())
            .create(&PostParams::default(), &namespace)
            .await
            .map_err(|source| Error::CreateNamespace { prefix: prefix.into(), source })?;
        Ok(created.metadata.name.unwrap_or_default())
    }

    /// Starts deleting a namespace; the namespace controller removes its contents and then
    /// the namespace itself, asynchronously.
    ///
    /// # Errors
    /// [`Error::DeleteNamespace`]; a namespace that is already gone is not an error.
    pub async fn delete_namespace(&self, name: &str) -> Result<(), Error> {
        match Api::<Namespace>::all(self.client()).delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(source) => Err(Error::DeleteNamespace { name: name.into(), source }),
        }
    }
}

/// A client for `kubeconfig`'s current context; `path` is only for error messages.
pub(crate) async fn client_for(kubeconfig: Kubeconfig, path: &Path) -> Result<Client, Error> {
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|source| Error::LoadKubeconfig { path: path.to_owned(), source })?;
    Client::try_from(config).map_err(Error::CreateClient)
}

/// `error: cause: cause…`, for messages that must stand on their own.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    let mut last = text.clone();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if cause_text != last {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        last = cause_text;
        source = cause.source();
    }
    text
}

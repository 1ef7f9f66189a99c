//! Clients that authenticate as a ServiceAccount, with a token from the TokenRequest API,
//! so a test (or a controller process under test) runs under exactly that account's RBAC.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, PostParams};
use kube::config::{AuthInfo, Context, Kubeconfig, NamedAuthInfo, NamedContext};
use secrecy::SecretString;

use crate::cluster::client_for;
use crate::{Cluster, Error};

/// Lifetime requested for service-account tokens: longer than any test run.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

impl Cluster {
    /// Creates the ServiceAccount `namespace/name` unless it exists, and requests a token
    /// for it (audience: the API server's own, lifetime [`TOKEN_LIFETIME`]).
    ///
    /// # Errors
    /// [`Error::CreateServiceAccount`], [`Error::RequestToken`] or [`Error::EmptyToken`].
    pub async fn service_account_token(&self, namespace: &str, name: &str) -> Result<SecretString, Error> {
        let api = Api::<ServiceAccount>::namespaced(self.client(), namespace);
        let account = ServiceAccount {
            metadata: ObjectMeta { name: Some(name.into()), ..ObjectMeta::default() },
            ..ServiceAccount::default()
        };
        match api.create(&PostParams::default(), &account).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {} // already there
            Err(source) => {
                return Err(Error::CreateServiceAccount { namespace: namespace.into(), name: name.into(), source });
            }
        }
        let request = TokenRequest {
            spec: TokenRequestSpec {
                expiration_seconds: i64::try_from(TOKEN_LIFETIME.as_secs()).ok(),
                ..TokenRequestSpec::default()
            },
            ..TokenRequest::default()
        };
        let issued = api
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .map_err(|source| Error::RequestToken { namespace: namespace.into(), name: name.into(), source })?;
        match issued.status {
            Some(status) if !status.token.is_empty() => Ok(status.token.into()),
            _ => Err(Error::EmptyToken { namespace: namespace.into(), name: name.into() }),
        }
    }

    /// A kubeconfig for the same server and CA as the admin one, authenticating as the
    /// ServiceAccount `namespace/name` (created if missing) with a fresh bearer token, and
    /// with `namespace` as its default namespace.
    ///
    /// # Errors
    /// As [`Cluster::service_account_token`], and [`Error::KubeconfigWithoutCluster`].
    pub async fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> Result<Kubeconfig, Error> {
        let token = self.service_account_token(namespace, name).await?;
        let cluster = self.current_cluster()?;
        let user = format!("system:serviceaccount:{namespace}:{name}");
        let context = format!("{user}@{}", cluster.name);
        Ok(Kubeconfig {
            clusters: vec![cluster.clone()],
            auth_infos: vec![NamedAuthInfo {
                name: user.clone(),
                auth_info: Some(AuthInfo { token: Some(token), ..AuthInfo::default() }),
                ..NamedAuthInfo::default()
            }],
            contexts: vec![NamedContext {
                name: context.clone(),
                context: Some(Context {
                    cluster: cluster.name,
                    user: Some(user),
                    namespace: Some(namespace.into()),
                    ..Context::default()
                }),
                ..NamedContext::default()
            }],
            current_context: Some(context),
            api_version: Some("v1".into()),
            kind: Some("Config".into()),
            ..Kubeconfig::default()
        })
    }

    /// A client authenticating as the ServiceAccount `namespace/name` (created if missing),
    /// so every request it makes is subject to that account's RBAC.
    ///
    /// # Errors
    /// As [`Cluster::service_account_kubeconfig`], and [`Error::CreateClient`].
    pub async fn service_account_client(&self, namespace: &str, name: &str) -> Result<Client, Error> {
        let kubeconfig = self.service_account_kubeconfig(namespace, name).await?;
        client_for(kubeconfig, self.kubeconfig_path()).await
    }

    /// Writes [`Cluster::service_account_kubeconfig`] to `path` (mode 0600), for a process
    /// under test such as the controller: `KUBECONFIG=<path> gitseal-controller`.
    ///
    /// # Errors
    /// As [`Cluster::service_account_kubeconfig`], and [`Error::WriteKubeconfig`].
    pub async fn write_service_account_kubeconfig(
        &self,
        namespace: &str,
        name: &str,
        path: &Path,
    ) -> Result<(), Error> {
        let kubeconfig = self.service_account_kubeconfig(namespace, name).await?;
        let yaml = serde_saphyr::to_string(&kubeconfig).map_err(Error::SerializeKubeconfig)?;
        let write_error = |source| Error::WriteKubeconfig { path: path.to_owned(), source };
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut file| file.write_all(yaml.as_bytes()))
            .map_err(write_error)
    }

    /// The cluster entry of the admin kubeconfig's current context.
    pub(crate) fn current_cluster(&self) -> Result<kube::config::NamedCluster, Error> {
        let kubeconfig = self.kubeconfig();
        let context = kubeconfig.current_context.as_deref().and_then(|current| {
            kubeconfig.contexts.iter().find(|c| c.name == current).and_then(|c| c.context.as_ref())
        });
        context
            .and_then(|c| kubeconfig.clusters.iter().find(|n| n.name == c.cluster))
            .cloned()
            .ok_or_else(|| Error::KubeconfigWithoutCluster { path: self.kubeconfig_path().to_owned() })
    }
}

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};

use crate::{Cluster, Error, FIELD_MANAGER};

/// How long [`Cluster::install_crd`] waits for the CRD to become Established.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace root (where `crds/`, `deploy/` and `tests/` live).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR")); // <root>/tests/support
    manifest_dir.ancestors().nth(2).unwrap_or(manifest_dir).to_owned()
}

impl Cluster {
    /// Server-side applies the CustomResourceDefinition in the YAML file at `path` and
    /// waits until the API server reports it Established (serving its resources).
    /// Applying the same file again, even from concurrent tests, is harmless.
    ///
    /// # Errors
    /// [`Error::ReadCrd`], [`Error::ParseCrd`], [`Error::ApplyCrd`], [`Error::WatchCrd`],
    /// or [`Error::CrdNotEstablished`] after a minute.
    pub async fn install_crd(&self, path: &Path) -> Result<CustomResourceDefinition, Error> {
        let yaml = std::fs::read_to_string(path).map_err(|source| Error::ReadCrd { path: path.to_owned(), source })?;
        let crd: CustomResourceDefinition = serde_saphyr::from_str(&yaml)
            .map_err(|source| Error::ParseCrd { path: path.to_owned(), source: Box::new(source) })?;
        let name = crd.metadata.name.clone().unwrap_or_default();
        let api = Api::<CustomResourceDefinition>::all(self.client());
        api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&crd))
            .await
            .map_err(|source| Error::ApplyCrd { name: name.clone(), source })?;
        let established = await_condition(api, &name, conditions::is_crd_established());
        match tokio::time::timeout(ESTABLISH_TIMEOUT, established).await {
            Ok(Ok(Some(crd))) => Ok(crd),
            Ok(Ok(None)) | Err(_) => Err(Error::CrdNotEstablished { name, timeout: ESTABLISH_TIMEOUT }),
            Ok(Err(source)) => Err(Error::WatchCrd { name, source }),
        }
    }
}

//! The incumbent's keys: listed, backed up as its users do, and renewed as they do.

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};

use super::{Incumbent, KEY_LABEL, NAMESPACE, launch};
use crate::command::succeeded;
use crate::{Cluster, Error};

impl Incumbent {
    /// Renews the key as the incumbent's users do ("Early key renewal" in its README):
    /// restarts the controller with `--key-cutoff-time` set to now (`date -R`), so that it
    /// writes a new key Secret at start-up. Returns once there is one key more than before
    /// and the controller serves the new key's certificate, which `kubeseal` then seals
    /// with; the old keys still unseal what was sealed before.
    ///
    /// # Errors
    /// As [`Incumbent::start`], and [`Error::IncumbentKeys`] when the controller came
    /// back without a new key, or serving another.
    pub async fn rotate(&mut self) -> Result<(), Error> {
        let before = self.keys().await?;
        // The cutoff has a resolution of one second, and the controller renews only when
        // its newest key is strictly older than it.
        let newest = before.iter().filter_map(|s| s.metadata.creation_timestamp.as_ref()).map(|t| t.0.as_second());
        let newest = newest.max().unwrap_or_default();
        while unix_seconds() <= newest {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let cutoff = date_r()?;

        self.process.kill();
        let (process, port) = launch(&self.bin, &self.identity, self.dir.path(), &["--key-cutoff-time", &cutoff])?;
        (self.process, self.port) = (process, port);
        let after = self.wait_ready(before.len() + 1, "restarting with --key-cutoff-time").await?;

        let old: Vec<_> = before.iter().map(|s| s.metadata.name.as_deref()).collect();
        let new: Vec<_> = after.iter().filter(|s| !old.contains(&s.metadata.name.as_deref())).collect();
        let [new] = new[..] else {
            let reason = format!("{} keys before, {} after", before.len(), after.len());
            return Err(Error::IncumbentKeys { reason, log: self.keep_log() });
        };
        let new_cert = new.data.as_ref().and_then(|d| d.get("tls.crt")).map(|c| c.0.as_slice()).unwrap_or_default();
        if std::fs::read(self.cert()?).ok().as_deref() != Some(new_cert) {
            let name = new.metadata.name.as_deref().unwrap_or_default();
            let reason = format!("/v1/cert.pem is not the certificate of the new key Secret {name}");
            return Err(Error::IncumbentKeys { reason, log: self.keep_log() });
        }
        Ok(())
    }

    /// The incumbent's key Secrets, oldest first.
    ///
    /// # Errors
    /// [`Error::ListIncumbentKeys`].
    pub async fn keys(&self) -> Result<Vec<Secret>, Error> {
        let list = key_secrets(&self.cluster)
            .list(&ListParams::default().labels(KEY_LABEL))
            .await
            .map_err(Error::ListIncumbentKeys)?;
        let mut keys = list.items;
        keys.sort_by(|a, b| {
            let at = |s: &Secret| (s.metadata.creation_timestamp.as_ref().map(|t| t.0), s.metadata.name.clone());
            at(a).cmp(&at(b))
        });
        Ok(keys)
    }

    /// Exactly what the incumbent's users back up: the output of
    /// `kubectl get secret -n sealed-secrets -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml`,
    /// a `List` of `kubernetes.io/tls` Secrets holding `tls.crt` and `tls.key`.
    ///
    /// # Errors
    /// [`Error::RunCommand`], [`Error::CommandFailed`].
    pub fn keys_backup(&self) -> Result<String, Error> {
        let args = ["get", "secret", "-n", NAMESPACE, "-l", KEY_LABEL, "-o", "yaml"];
        let out = succeeded(&format!("kubectl {}", args.join(" ")), self.cluster.kubectl(&args, b"")?)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

pub(super) fn key_secrets(cluster: &Cluster) -> Api<Secret> {
    Api::namespaced(cluster.client(), NAMESPACE)
}

/// Now, as `date -R` prints it (RFC 1123 with a numeric zone): what the incumbent's README
/// tells its users to pass as `--key-cutoff-time`.
fn date_r() -> Result<String, Error> {
    let date = Command::new("date").args(["-u", "-R"]).env("LC_ALL", "C").output();
    let date = date.map_err(|source| Error::RunCommand { program: "date".into(), source })?;
    Ok(String::from_utf8_lossy(&succeeded("date -u -R", date)?.stdout).trim().to_owned())
}

fn unix_seconds() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}

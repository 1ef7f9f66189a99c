//! The API this controller reads must be served before it starts: after an upgrade whose
//! CRDs were not applied (Helm never upgrades a chart's `crds/`), the API server still
//! serves only the older versions, every watch would fail, and the controller would sit
//! Ready doing nothing. Refusing to start instead keeps the new Pod from becoming Ready,
//! so a rolling update stops with the previous replicas still serving, and the Pod's log
//! says what to apply.

use anyhow::bail;
use kube::Client;
use tracing::warn;

/// Fails when the API server answers that it does not serve `gitseal.dev/v1`
/// SealedSecrets; any other failure (the API server unreachable at this moment) is left to
/// the watches' own retries.
pub async fn check(client: &Client) -> anyhow::Result<()> {
    let api = gitseal::crds::API_VERSION;
    match client.list_api_group_resources(api).await {
        Ok(list) if list.resources.iter().any(|r| r.name == "sealedsecrets") => Ok(()),
        Ok(_) => bail!("{}", not_served(api)),
        Err(kube::Error::Api(s)) if s.code == 404 => bail!("{}", not_served(api)),
        Err(e) => {
            warn!(error = %e, "cannot tell whether {api} is served; going on");
            Ok(())
        }
    }
}

fn not_served(api: &str) -> String {
    format!(
        "the API server does not serve {api} SealedSecrets: the CRDs are an earlier release's. Apply this release's CRDs first \
         (`kubectl apply --server-side -f gitseal.yaml` applies them with the rest; for the Helm chart, \
         `helm show crds gitseal-VERSION.tgz | kubectl apply --server-side --force-conflicts -f -` before `helm upgrade`, which never upgrades CRDs)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::client::Body;

    /// A client whose API server answers one request with `code` and `body`.
    async fn answered(code: u16, body: serde_json::Value) -> anyhow::Result<()> {
        let (service, handle) = tower_test::mock::pair::<hyper::Request<Body>, hyper::Response<Body>>();
        let server = tokio::spawn(async move {
            let mut handle = std::pin::pin!(handle);
            let (request, respond) = handle.next_request().await.expect("a request");
            assert_eq!(request.uri().path(), "/apis/gitseal.dev/v1");
            let body = Body::from(serde_json::to_vec(&body).unwrap());
            respond.send_response(hyper::Response::builder().status(code).body(body).unwrap());
        });
        let result = check(&Client::new(service, "ns")).await;
        server.await.unwrap();
        result
    }

    fn resources(names: &[&str]) -> serde_json::Value {
        let resources: Vec<_> = names
            .iter()
            .map(|n| serde_json::json!({"name": n, "singularName": "", "namespaced": true, "kind": "K", "verbs": ["get"]}))
            .collect();
        serde_json::json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "gitseal.dev/v1", "resources": resources})
    }

    #[tokio::test]
    async fn an_api_server_with_the_earlier_crds_is_refused_naming_what_to_apply() {
        let not_found = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "the server could not find the requested resource"});
        let e = answered(404, not_found).await.unwrap_err().to_string();
        assert!(e.contains("does not serve gitseal.dev/v1 SealedSecrets") && e.contains("helm show crds"), "{e}");
        let e = answered(200, resources(&["keyrotations"])).await.unwrap_err().to_string();
        assert!(e.contains("does not serve gitseal.dev/v1 SealedSecrets"), "{e}");
    }

    #[tokio::test]
    async fn the_served_api_or_an_unreachable_server_lets_it_start() {
        answered(200, resources(&["sealedsecrets", "sealedsecrets/status"])).await.unwrap();
        let unavailable = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "ServiceUnavailable", "code": 503, "message": "etcd"});
        answered(503, unavailable).await.unwrap();
    }
}

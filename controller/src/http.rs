//! The HTTP endpoints: probes, metrics and the public keys.
//!
//! ```text
//!  GET /healthz         200 while the process serves
//!  GET /readyz          200 once keys are loaded (and, on the leader, caches synced)
//!  GET /metrics         Prometheus text
//!  GET /v1/recipients   age recipients file for new seals
//!  GET /v1/keys         every key's public facts, JSON
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::warn;

use crate::state::Shared;

/// Answers one request.
pub fn route(shared: &Shared, method: &Method, path: &str) -> (StatusCode, &'static str, String) {
    if method != Method::GET {
        return (StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET\n".into());
    }
    match path {
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" if shared.ready() => (StatusCode::OK, "text/plain", "ready\n".into()),
        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "text/plain", "not ready\n".into()),
        "/metrics" => {
            (StatusCode::OK, "application/openmetrics-text; version=1.0.0; charset=utf-8", shared.metrics.render())
        }
        "/v1/recipients" => (StatusCode::OK, "text/plain", shared.keys().recipients_file()),
        "/v1/keys" => (StatusCode::OK, "application/json", shared.keys().keys_json()),
        _ => (StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

/// Serves until `shutdown` turns true.
pub async fn serve(addr: SocketAddr, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (status, content_type, body) = route(&shared, req.method(), req.uri().path());
                let response = Response::builder()
                    .status(status)
                    .header("content-type", content_type)
                    .body(Full::new(Bytes::from(body)))
                    .unwrap_or_default();
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(e) =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await
            {
                warn!(error = %e, "HTTP connection failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{LoadedKeys, new_key_secret};

    #[test]
    fn routes_and_readiness() {
        let shared = Shared::default();
        assert_eq!(route(&shared, &Method::GET, "/healthz").0, StatusCode::OK);
        assert_eq!(route(&shared, &Method::GET, "/readyz").0, StatusCode::SERVICE_UNAVAILABLE);
        let (state, _) =
            LoadedKeys::from_secrets(&[new_key_secret("gitseal-key-1", "ns", "2026-01-01T00:00:00Z".parse().unwrap())]);
        let recipient = state.public[0].recipient.clone();
        shared.set_keys(state);
        assert_eq!(route(&shared, &Method::GET, "/readyz").0, StatusCode::OK, "a standby is ready with keys");
        shared.set_leading(true);
        assert_eq!(
            route(&shared, &Method::GET, "/readyz").0,
            StatusCode::SERVICE_UNAVAILABLE,
            "a leader waits for its caches"
        );
        shared.set_controller_synced();
        assert_eq!(route(&shared, &Method::GET, "/readyz").0, StatusCode::OK);
        assert!(route(&shared, &Method::GET, "/v1/recipients").2.contains(&recipient));
        assert!(route(&shared, &Method::GET, "/metrics").2.contains("gitseal_keys 1"));
        assert!(!route(&shared, &Method::GET, "/v1/keys").2.contains("AGE-SECRET-KEY"));
        assert_eq!(route(&shared, &Method::POST, "/healthz").0, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(route(&shared, &Method::GET, "/nope").0, StatusCode::NOT_FOUND);
    }
}

//! What the API server saw: deltas of its request, etcd and API priority-and-fairness
//! counters between two scrapes of its `/metrics`.

use std::collections::BTreeMap;

use kube::Client;

use crate::Error;
use crate::metrics_text::{Sample, parse_metrics};

/// Counters by (name, sorted labels).
pub type Samples = BTreeMap<(String, Vec<(String, String)>), f64>;

/// The API server's request, etcd and APF counters, now.
///
/// # Errors
/// [`Error::ScrapeMetrics`].
pub async fn scrape_apiserver(admin: &Client) -> Result<Samples, Error> {
    let request =
        http::Request::get("/metrics").body(Vec::new()).map_err(|e| Error::ScrapeMetrics(kube::Error::HttpError(e)))?;
    let text = admin.request_text(request).await.map_err(Error::ScrapeMetrics)?;
    Ok(parse_metrics(&text)
        .into_iter()
        .filter(|s| {
            s.name == "apiserver_request_total"
                || s.name == "etcd_requests_total"
                || s.name.starts_with("apiserver_flowcontrol_request_wait_duration_seconds_")
                || s.name == "apiserver_flowcontrol_rejected_requests_total"
                || s.name == "apiserver_flowcontrol_dispatched_requests_total"
        })
        .map(|s| ((s.name, s.labels.into_iter().collect()), s.value))
        .collect())
}

/// The counters that grew from `before` to `after`, by how much.
pub fn delta(before: &Samples, after: &Samples) -> Vec<Sample> {
    after
        .iter()
        .map(|((name, labels), v)| Sample {
            name: name.clone(),
            labels: labels.iter().cloned().collect(),
            value: v - before.get(&(name.clone(), labels.clone())).copied().unwrap_or(0.0),
        })
        .filter(|s| s.value > 0.0)
        .collect()
}

/// (verb, group/resource[/subresource], code) → requests.
pub fn request_counts(delta: &[Sample]) -> BTreeMap<(String, String, String), f64> {
    let mut out = BTreeMap::new();
    for s in delta.iter().filter(|s| s.name == "apiserver_request_total") {
        let get = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
        let mut resource = get("resource");
        if resource.is_empty() {
            resource = "(non-resource)".into();
        }
        let group = get("group");
        if !group.is_empty() {
            resource = format!("{resource}.{group}");
        }
        let sub = get("subresource");
        if !sub.is_empty() {
            resource = format!("{resource}/{sub}");
        }
        *out.entry((get("verb"), resource, get("code"))).or_insert(0.0) += s.value;
    }
    out
}

/// How many of `requests` ([`request_counts`]) were writes.
pub fn writes(requests: &BTreeMap<(String, String, String), f64>) -> f64 {
    requests.iter().filter(|((verb, _, _), _)| is_write(verb)).map(|(_, v)| v).sum()
}

/// The writes among `requests` ([`request_counts`]) to what a gitseal-controller writes
/// for its SealedSecrets: Secrets, SealedSecrets (and their status) and Events.
pub fn sealing_writes(requests: &BTreeMap<(String, String, String), f64>) -> Vec<((String, String, String), f64)> {
    requests
        .iter()
        .filter(|((verb, resource, _), _)| {
            is_write(verb)
                && (resource == "secrets"
                    || resource.starts_with("sealedsecrets.gitseal.dev")
                    || resource.starts_with("events"))
        })
        .map(|(request, n)| (request.clone(), *n))
        .collect()
}

fn is_write(verb: &str) -> bool {
    matches!(verb, "POST" | "PUT" | "PATCH" | "APPLY" | "DELETE")
}

/// `operation resource` → etcd writes (create, update, delete), from `etcd_requests_total`.
pub fn etcd_writes(delta: &[Sample]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for s in delta.iter().filter(|s| s.name == "etcd_requests_total") {
        let op = s.labels.get("operation").map_or("", String::as_str);
        if matches!(op, "create" | "update" | "delete") {
            let resource =
                s.labels.get("resource").cloned().or_else(|| s.labels.get("type").cloned()).unwrap_or_default();
            *out.entry(format!("{op} {resource}")).or_insert(0.0) += s.value;
        }
    }
    out
}

/// Priority level → (requests, seconds queued), from the APF wait histogram.
pub fn apf_waits(delta: &[Sample]) -> BTreeMap<String, (f64, f64)> {
    let mut out: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for s in delta {
        let level = s.labels.get("priority_level").cloned().unwrap_or_default();
        match s.name.as_str() {
            "apiserver_flowcontrol_request_wait_duration_seconds_count" => out.entry(level).or_default().0 += s.value,
            "apiserver_flowcontrol_request_wait_duration_seconds_sum" => out.entry(level).or_default().1 += s.value,
            "apiserver_flowcontrol_dispatched_requests_total" => {
                let schema = s.labels.get("flow_schema").cloned().unwrap_or_default();
                out.entry(format!("{level} (flow schema {schema}) dispatched")).or_default().0 += s.value;
            }
            "apiserver_flowcontrol_rejected_requests_total" => {
                out.entry(format!("{level} REJECTED")).or_default().0 += s.value;
            }
            _ => {}
        }
    }
    out
}

//! How the controller writes to the API server: every create and server-side apply under
//! its one field manager, objects and status patches with their `apiVersion` and `kind`,
//! and the `Ready` condition that answers a request (KeyRotation, ResealRequest).
//!
//! ```text
//!  create ──post()──────────────────────────▶ POST, fieldManager gitseal-controller
//!         └─create(api, object): only the answer's resourceVersion read
//!  object ──with_kind──▶ apply()───────────▶ PATCH (apply, force)
//!  status ──apply_status(api, name, status)──▶ PATCH …/status {apiVersion, kind, status}
//! ```

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::Resource;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::Request;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::FIELD_MANAGER;

/// Parameters of every create.
pub fn post() -> PostParams {
    PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() }
}

/// Parameters of every server-side apply: the controller owns the fields it writes.
pub fn apply() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// `object` as an apply patch body: serialized, with its `apiVersion` and `kind`.
pub fn with_kind<K: Resource<DynamicType = ()> + Serialize>(object: &K) -> serde_json::Value {
    let mut value = serde_json::to_value(object).unwrap_or_default();
    value["apiVersion"] = K::api_version(&()).into();
    value["kind"] = K::kind(&()).into();
    value
}

/// Creates `object`; returns the resourceVersion it was created at. The API server
/// answers with the whole object again (for a Secret, its values): only the version is
/// parsed out of it, and the text is zeroized.
pub async fn create<K>(api: &Api<K>, object: &K) -> kube::Result<Option<String>>
where
    K: Resource<DynamicType = ()> + Clone + Serialize,
{
    let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
    let request = Request::new(api.resource_url()).create(&post(), body).map_err(kube::Error::BuildRequest)?;
    let answer = Zeroizing::new(api.clone().into_client().request_text(request).await?);
    Ok(serde_json::from_str::<Answer>(&answer).ok().and_then(|a| a.metadata.resource_version))
}

/// What the controller reads of the API server's answer to a write.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    metadata: AnswerMeta,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnswerMeta {
    resource_version: Option<String>,
}

/// Writes `status` into the status subresource of object `name` by server-side apply, as
/// the controller's field manager (forcing, so the controller owns its status fields).
/// The answer, the whole object again, is not parsed: nothing in it is needed.
pub async fn apply_status<K>(api: &Api<K>, name: &str, status: impl Serialize) -> kube::Result<()>
where
    K: Resource<DynamicType = ()> + Clone,
{
    let patch = serde_json::json!({ "apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status });
    let request = Request::new(api.resource_url())
        .patch_subresource("status", name, &apply(), &Patch::Apply(&patch))
        .map_err(kube::Error::BuildRequest)?;
    api.clone().into_client().request_text(request).await.map(drop)
}

/// The `Ready` condition answering a request of generation `generation`, set now.
pub fn answered(ready: bool, reason: &str, message: &str, generation: Option<i64>) -> Condition {
    crate::decide::ready(ready, reason, message, generation, None, Time(k8s_openapi::jiff::Timestamp::now()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::MAX_MESSAGE;

    #[test]
    fn answered_conditions_are_bounded() {
        let c = answered(false, "Failed", &"x".repeat(5000), Some(3));
        assert_eq!((c.type_.as_str(), c.status.as_str(), c.reason.as_str()), ("Ready", "False", "Failed"));
        assert_eq!((c.message.len(), c.observed_generation), (MAX_MESSAGE, Some(3)));
        assert_eq!(answered(true, "Rotated", "ok", None).status, "True");
    }
}

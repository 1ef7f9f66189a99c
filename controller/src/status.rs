//! Writing the status of gitseal's objects: one server-side apply, one field manager, and
//! the `Ready` condition of a request (KeyRotation, ResealRequest).
//!
//! ```text
//!  reconcile / request servers ──status (serializable)──▶ apply(api, name, status)
//!                                  ──▶ PATCH …/status {apiVersion, kind, status}
//! ```

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::FIELD_MANAGER;

/// Writes `status` into the status subresource of object `name` by server-side apply, as
/// the controller's field manager (forcing, so the controller owns its status fields).
pub async fn apply<K>(api: &Api<K>, name: &str, status: impl Serialize) -> kube::Result<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({ "apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status });
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await
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

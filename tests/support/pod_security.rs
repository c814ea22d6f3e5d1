//! Pod Security admission on the test control plane: the apiserver's `PodSecurity` plugin is on
//! by default (the harness disables only `ServiceAccount`) and enforces a namespace's
//! `pod-security.kubernetes.io/enforce` label on every Pod created there, dry runs included.

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::{Api, Client, api::PostParams};
use serde_json::json;

/// Creates namespace `name` enforcing the `restricted` Pod Security standard.
pub async fn restricted_namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest"
            }
        }
    }))
    .expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create the restricted namespace");
}

/// Asks the apiserver to admit a Pod with `spec` (a PodSpec as JSON) in `ns`, without creating
/// it (server-side dry run: every admission plugin runs). Err holds the apiserver's refusal.
pub async fn admit_pod(client: &Client, ns: &str, spec: serde_json::Value) -> Result<(), String> {
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "admission-check-", "namespace": ns},
        "spec": spec,
    }))
    .map_err(|e| format!("not a PodSpec: {e}"))?;
    let params = PostParams {
        dry_run: true,
        ..Default::default()
    };
    Api::<Pod>::namespaced(client.clone(), ns)
        .create(&params, &pod)
        .await
        .map(|_| ())
        .map_err(|e| match e {
            kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
            other => other.to_string(),
        })
}

/// A PodSpec `restricted` refuses (no security context at all): proves enforcement is on.
pub fn unrestricted_pod_spec() -> serde_json::Value {
    json!({"containers": [{"name": "c", "image": "busybox"}]})
}

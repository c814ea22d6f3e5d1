//! Several orgs on one simulator (`SimConfig::with_orgs`): starting them with every tenant's
//! store, and the Secrets and DigitalRecovery of one org.

use std::sync::{Arc, OnceLock};

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{Api, Client, api::PostParams};
use serde_json::json;

use digital_recovery::api::DigitalRecovery;
use digital_recovery::sim::recording::{RecordingSimConfig, RecordingStore, factory_with_stores};
use digital_recovery::sim::{self, OrgConfig, SimConfig, SimHandles};

/// Starts the simulators for every org of `config` and hands out each org's recording-side
/// store (ground truth), in the orgs' order.
pub async fn start_org_simulators(
    config: SimConfig,
    recording: RecordingSimConfig,
) -> (SimHandles, Vec<Arc<RecordingStore>>) {
    let slot = Arc::new(OnceLock::new());
    let handles = sim::start(config, Some(factory_with_stores(recording, slot.clone())))
        .await
        .expect("simulators");
    let stores = slot.get().expect("stores").clone();
    (handles, stores)
}

/// Creates in namespace `ns` the two credential Secrets `org_recovery` names, holding `org`'s
/// client (one client serves an org's Genesys org and its recording-side tenant).
pub async fn org_credentials(client: &Client, ns: &str, org: &OrgConfig) {
    for name in ["genesys-oauth", "verint-api"] {
        let mut secret = Secret::default();
        secret.metadata.name = Some(name.into());
        secret.data = Some(
            [
                ("clientId", org.client_id.as_str()),
                ("clientSecret", org.client_secret.as_str()),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect(),
        );
        Api::<Secret>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &secret)
            .await
            .expect("secret");
    }
}

/// A DigitalRecovery of `org`'s tenant over the whole simulated window, every text media type,
/// otherwise defaulted.
pub fn org_recovery(name: &str, sims: &SimHandles, org: &OrgConfig) -> DigitalRecovery {
    serde_json::from_value(json!({
        "apiVersion": "recovery.cxops.io/v1alpha1",
        "kind": "DigitalRecovery",
        "metadata": {"name": name},
        "spec": {
            "tenant": org.tenant,
            "genesys": {"apiBaseUrl": sims.genesys_url, "credentialsSecret": "genesys-oauth"},
            "recordingSide": {
                "dasUrl": sims.das_url,
                "captureUrl": sims.capture_url,
                "credentialsSecret": "verint-api"
            },
            "window": {"start": sims.config.window.start.to_string(), "end": sims.config.window.end.to_string()},
            "mediaTypes": ["chat", "email", "social"]
        }
    }))
    .expect("recovery")
}

//! A tenant namespace, simulators with their ground truth, and DigitalRecovery objects pointing at
//! them: what the end-to-end and fault-matrix tests share.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use k8s_openapi::{
    ByteString,
    api::core::v1::{Namespace, Secret},
};
use kube::{Api, Client, api::PostParams};
use serde_json::{Value, json};

use digital_recovery::api::{DigitalRecovery, DigitalRecoverySchedule, Phase};
use digital_recovery::sim::recording::{RecordingSimConfig, RecordingStore, factory_with_store};
use digital_recovery::sim::{self, SimConfig, SimHandles};

/// Creates namespace `ns` with the two credential Secrets the recoveries name.
pub async fn tenant_namespace(client: &Client, ns: &str) {
    namespace(client, ns).await;
    credentials(client, ns).await;
}

/// Creates namespace `ns`, empty.
pub async fn namespace(client: &Client, ns: &str) {
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace");
}

/// Creates the two credential Secrets the recoveries name in namespace `ns`.
pub async fn credentials(client: &Client, ns: &str) {
    for name in ["genesys-oauth", "verint-api"] {
        let mut s = Secret::default();
        s.metadata.name = Some(name.into());
        s.data = Some(
            [("clientId", "sim-client"), ("clientSecret", "sim-secret")]
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        );
        Api::<Secret>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &s)
            .await
            .expect("secret");
    }
}

/// A simulation of `conversations` (seed 11, 8 % missing, 5 % partial, no rate limit).
pub fn sim_config(conversations: usize, latency_ms: u64) -> SimConfig {
    let mut config = SimConfig::new(conversations);
    config.seed = 11;
    config.missing_rate = 0.08;
    config.partial_rate = 0.05;
    config.rate_limit = None;
    config.latency = Duration::from_millis(latency_ms);
    config
}

/// The recording side's defaults for these tests: a short ingest lag.
pub fn recording_config() -> RecordingSimConfig {
    RecordingSimConfig {
        ingest_lag: Duration::from_millis(300),
        ..RecordingSimConfig::default()
    }
}

/// Starts the three simulators and hands out the recording side's store (the ground truth).
pub async fn start_simulators(
    config: SimConfig,
    recording: RecordingSimConfig,
) -> (SimHandles, Arc<RecordingStore>) {
    let slot = Arc::new(OnceLock::new());
    let handles = sim::start(config, Some(factory_with_store(recording, slot.clone())))
        .await
        .expect("simulators");
    let store = slot.get().expect("store").clone();
    (handles, store)
}

/// A DigitalRecovery of the whole simulated window, every text media type.
pub fn recovery(name: &str, sims: &SimHandles, parallelism: u32) -> DigitalRecovery {
    serde_json::from_value(json!({
        "apiVersion": "recovery.cxops.io/v1alpha1",
        "kind": "DigitalRecovery",
        "metadata": {"name": name},
        "spec": {
            "tenant": sims.config.tenant,
            "genesys": {"apiBaseUrl": sims.genesys_url, "credentialsSecret": "genesys-oauth"},
            "recordingSide": {
                "dasUrl": sims.das_url,
                "captureUrl": sims.capture_url,
                "credentialsSecret": "verint-api"
            },
            "window": {"start": sims.config.window.start.to_string(), "end": sims.config.window.end.to_string()},
            "mediaTypes": ["chat", "email", "social"],
            "parallelism": parallelism
        }
    }))
    .expect("recovery")
}

/// A DigitalRecoverySchedule `name` in `ns` over `sims`: the template of [`recovery`] (chat,
/// email and social, the test credentials) with the fields of `template` on top, and the
/// schedule fields of `spec`.
pub fn schedule(
    name: &str,
    ns: &str,
    sims: &SimHandles,
    template: Value,
    spec: Value,
) -> DigitalRecoverySchedule {
    let mut full_template = json!({
        "tenant": sims.config.tenant,
        "genesys": {"apiBaseUrl": sims.genesys_url, "credentialsSecret": "genesys-oauth"},
        "recordingSide": {
            "dasUrl": sims.das_url,
            "captureUrl": sims.capture_url,
            "credentialsSecret": "verint-api"
        },
        "mediaTypes": ["chat", "email", "social"]
    });
    let mut full_spec = json!({});
    for (to, from) in [(&mut full_template, template), (&mut full_spec, spec)] {
        for (k, v) in from.as_object().expect("an object of fields") {
            to[k] = v.clone();
        }
    }
    full_spec["template"] = full_template;
    serde_json::from_value(json!({
        "apiVersion": "recovery.cxops.io/v1alpha1",
        "kind": "DigitalRecoverySchedule",
        "metadata": {"name": name, "namespace": ns},
        "spec": full_spec,
    }))
    .expect("schedule")
}

/// True for the phases a recovery ends in.
pub fn finished(phase: Phase) -> bool {
    matches!(
        phase,
        Phase::Succeeded | Phase::PartiallySucceeded | Phase::Failed | Phase::Cancelled
    )
}

/// Polls `name` until its phase satisfies `done` (panics after `secs`). Read errors (an
/// apiserver restarting) are waited out like any other delay.
pub async fn wait_phase(
    api: &Api<DigitalRecovery>,
    name: &str,
    secs: u64,
    done: impl Fn(Phase) -> bool,
) -> DigitalRecovery {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(dr) = api.get(name).await
            && dr.status.as_ref().and_then(|s| s.phase).is_some_and(&done)
        {
            return dr;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: phase not reached in {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

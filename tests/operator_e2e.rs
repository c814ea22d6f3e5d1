//! End to end on a real kube-apiserver: a DigitalRecovery pointing at the simulators -> the real
//! controller creates the Job -> the job stand-in runs the real worker binary per index with the
//! worker ServiceAccount's token -> status ends Succeeded with the simulators' ground truth.

mod support;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use k8s_openapi::{
    ByteString,
    api::core::v1::{Namespace, Secret},
};
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use support::{ControlPlane, jobs::JobRunner, operator::Operator};

use digital_recovery::api::{DigitalRecovery, Phase};
use digital_recovery::sim::recording::{RecordingSimConfig, RecordingStore, factory_with_store};
use digital_recovery::sim::{self, SimConfig, SimHandles};

async fn setup(client: &Client, ns: &str) {
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace");
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

async fn simulators(conversations: usize, latency_ms: u64) -> (SimHandles, Arc<RecordingStore>) {
    let mut config = SimConfig::new(conversations);
    config.seed = 11;
    config.missing_rate = 0.08;
    config.partial_rate = 0.05;
    config.rate_limit = None;
    config.latency = Duration::from_millis(latency_ms);
    let slot = Arc::new(OnceLock::new());
    let recording = RecordingSimConfig {
        ingest_lag: Duration::from_millis(300),
        ..RecordingSimConfig::default()
    };
    let handles = sim::start(config, Some(factory_with_store(recording, slot.clone())))
        .await
        .expect("simulators");
    let store = slot.get().expect("store").clone();
    (handles, store)
}

fn recovery(name: &str, sims: &SimHandles, parallelism: u32) -> DigitalRecovery {
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

async fn wait_phase(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_runs_through_jobs_and_workers_to_succeeded() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    setup(&client, "tenant-demo").await;
    let (sims, store) = simulators(2000, 0).await;
    let _runner = JobRunner::start(&cp, client.clone());
    let _operator = Operator::start(&cp, "replica-a").await;

    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), "tenant-demo");
    api.create(&PostParams::default(), &recovery("demo-e2e", &sims, 2))
        .await
        .expect("create");
    let dr = wait_phase(&api, "demo-e2e", 240, |p| {
        matches!(
            p,
            Phase::Succeeded | Phase::PartiallySucceeded | Phase::Failed
        )
    })
    .await;
    let status = dr.status.expect("status");
    let truth = store.report();
    assert_eq!(truth.still_missing, 0, "{truth:?} {status:?}");
    assert_eq!(truth.duplicates, 0);
    assert_eq!(truth.conflicts, 0);
    let progress = status.progress.expect("progress");
    // Archived/deleted recordings fail with a reason: that is PartiallySucceeded, and the truth
    // counts only what has a text recording.
    assert_eq!(progress.recovered, truth.ingested, "{progress:?} {truth:?}");
    assert_eq!(progress.verified, truth.ingested);
    assert_eq!(status.shards.len(), 2);
    let m = status.match_counts.expect("match");
    assert_eq!(m.genesys, m.matched + m.missing + m.partial + m.skipped);
    assert_eq!(status.observed_generation, dr.metadata.generation);
    let expected_phase = if progress.failed == 0 {
        Phase::Succeeded
    } else {
        Phase::PartiallySucceeded
    };
    assert_eq!(status.phase, Some(expected_phase));

    // A real kubectl shows the printer columns with the numbers.
    let out = cp
        .kubectl()
        .args(["get", "dr", "-n", "tenant-demo"])
        .output()
        .expect("kubectl");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("TENANT") && table.contains("RECOVERED"),
        "{table}"
    );
    assert!(table.contains(&truth.ingested.to_string()), "{table}");

    // A finished recovery is never run again: deleting its Job does not bring a new one.
    let jobs: Api<k8s_openapi::api::batch::v1::Job> =
        Api::namespaced(client.clone(), "tenant-demo");
    let _ = jobs.delete("demo-e2e", &DeleteParams::background()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(store.report().ingested, truth.ingested);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_is_retried_without_duplicates_and_cancel_stops_a_run() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    setup(&client, "tenant-demo").await;
    // Slow simulators so the workers are still running when we kill one.
    let (sims, store) = simulators(2000, 20).await;
    let runner = JobRunner::start(&cp, client.clone());
    let _operator = Operator::start(&cp, "replica-a").await;

    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), "tenant-demo");
    api.create(&PostParams::default(), &recovery("killed", &sims, 1))
        .await
        .expect("create");
    // Kill the worker once it has ingested something; the stand-in retries the index.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while store.report().ingested == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "worker never ingested"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        runner.kill("tenant-demo", "killed", 0),
        "worker was running"
    );
    let dr = wait_phase(&api, "killed", 300, |p| {
        matches!(
            p,
            Phase::Succeeded | Phase::PartiallySucceeded | Phase::Failed
        )
    })
    .await;
    let truth = store.report();
    assert_eq!(truth.still_missing, 0, "{truth:?} {:?}", dr.status);
    assert_eq!(truth.duplicates, 0, "{truth:?}");
    assert_ne!(dr.status.and_then(|s| s.phase), Some(Phase::Failed));

    // Cancel: a second recovery (other window half) is cancelled while it runs.
    let mut second = recovery("cancelled", &sims, 1);
    second.spec.mode = digital_recovery::api::Mode::DryRun;
    api.create(&PostParams::default(), &second)
        .await
        .expect("create");
    wait_phase(&api, "cancelled", 60, |p| p == Phase::Running).await;
    api.patch(
        "cancelled",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"cancel": true}})),
    )
    .await
    .expect("cancel");
    let dr = wait_phase(&api, "cancelled", 60, |p| p == Phase::Cancelled).await;
    assert!(dr.status.and_then(|s| s.completion_time).is_some());
}

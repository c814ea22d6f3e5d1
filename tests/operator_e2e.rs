//! End to end on a real kube-apiserver: a DigitalRecovery pointing at the simulators -> the real
//! controller creates the Job -> the job stand-in runs the real worker binary per index with the
//! worker ServiceAccount's token -> status ends Succeeded with the simulators' ground truth.

mod support;

use std::sync::Arc;
use std::time::Duration;

use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use support::recovery::{self, finished, recovery, wait_phase};
use support::{ControlPlane, jobs::JobRunner, operator::Operator};

use digital_recovery::api::{DigitalRecovery, Parallelism, Phase, ShardPhase};
use digital_recovery::pipeline::balance::CONVERSATIONS_PER_AUTO_SHARD;
use digital_recovery::sim::SimHandles;
use digital_recovery::sim::recording::{RecordingStore, SimReport};

async fn setup(client: &Client, ns: &str) {
    recovery::tenant_namespace(client, ns).await;
}

async fn simulators(conversations: usize, latency_ms: u64) -> (SimHandles, Arc<RecordingStore>) {
    recovery::start_simulators(
        recovery::sim_config(conversations, latency_ms),
        recovery::recording_config(),
    )
    .await
}

/// Creates `dr`, waits until it ends and checks the recording side's ground truth: nothing
/// missing, nothing twice, no conflict. Returns the finished recovery and that truth.
async fn recover_to_the_end(
    api: &Api<DigitalRecovery>,
    dr: &DigitalRecovery,
    store: &RecordingStore,
) -> (DigitalRecovery, SimReport) {
    api.create(&PostParams::default(), dr)
        .await
        .expect("create");
    let name = dr.metadata.name.as_deref().expect("a named recovery");
    let dr = wait_phase(api, name, 240, finished).await;
    let truth = store.report();
    assert_eq!(truth.still_missing, 0, "{truth:?} {:?}", dr.status);
    assert_eq!(truth.duplicates, 0, "{truth:?}");
    assert_eq!(truth.conflicts, 0, "{truth:?}");
    (dr, truth)
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
    let (dr, truth) = recover_to_the_end(&api, &recovery("demo-e2e", &sims, 2), &store).await;
    let status = dr.status.expect("status");
    let progress = status.progress.expect("progress");
    // Archived/deleted recordings fail with a reason: that is PartiallySucceeded, and the truth
    // counts only what has a text recording.
    assert_eq!(progress.recovered, truth.ingested, "{progress:?} {truth:?}");
    assert_eq!(progress.verified, truth.ingested);
    assert_eq!(status.shards.len(), 2);
    // Each shard's 429s by service come through the API server's schema (an unknown field
    // would be pruned).
    for shard in &status.shards {
        let by_service = shard.throttled_by.expect("throttledBy");
        assert_eq!(by_service.total(), shard.throttled, "{shard:?}");
    }
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
async fn auto_parallelism_runs_only_the_shards_the_windows_conversations_need() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    setup(&client, "tenant-auto").await;
    let (sims, store) = simulators(1_500, 0).await;
    let _runner = JobRunner::start(&cp, client.clone());
    let _operator = Operator::start(&cp, "replica-a").await;

    // The default budgets feed 8 shards; the window holds too few conversations for them.
    let mut auto = recovery("auto-shards", &sims, 1);
    auto.spec.parallelism = Parallelism::Auto;
    assert_eq!(auto.spec.shards(), 8);
    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), "tenant-auto");
    let (dr, truth) = recover_to_the_end(&api, &auto, &store).await;
    let status = dr.status.expect("status");
    assert_ne!(status.phase, Some(Phase::Failed), "{status:?}");
    let listed = status.match_counts.expect("match").genesys;
    let needed = listed.div_ceil(CONVERSATIONS_PER_AUTO_SHARD).clamp(1, 8) as usize;
    assert!(needed < 8, "{listed} conversations");

    // Every index of the Job ran; the ones the plan had no slice for ended at once, saying why.
    assert_eq!(status.shards.len(), 8, "{status:?}");
    let (working, idle): (Vec<_>, Vec<_>) = status.shards.iter().partition(|s| s.slice.is_some());
    assert_eq!(working.len(), needed, "{status:?}");
    for shard in &idle {
        assert_eq!(shard.phase, Some(ShardPhase::Succeeded), "{shard:?}");
        assert_eq!(shard.reason.as_deref(), Some("NotNeeded"), "{shard:?}");
        assert_eq!(shard.api_calls.map(|c| c.genesys), Some(0), "{shard:?}");
        assert!(shard.index as usize >= needed, "{shard:?}");
    }
    // The working shards' slices tile the window.
    let mut slices: Vec<_> = working.iter().filter_map(|s| s.slice).collect();
    slices.sort_by_key(|s| s.start);
    assert_eq!(slices[0].start, dr.spec.window.start);
    assert_eq!(slices[slices.len() - 1].end, dr.spec.window.end);
    for pair in slices.windows(2) {
        assert_eq!(pair[0].end, pair[1].start, "{slices:?}");
    }
    let progress = status.progress.expect("progress");
    assert_eq!(progress.recovered, truth.ingested, "{progress:?} {truth:?}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_controller_finishes_the_run_and_an_unreachable_das_fails_with_a_reason() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    setup(&client, "tenant-demo").await;
    let (sims, store) = simulators(2000, 20).await;
    let _runner = JobRunner::start(&cp, client.clone());
    let operator = Operator::start(&cp, "replica-a").await;

    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), "tenant-demo");
    api.create(&PostParams::default(), &recovery("restart", &sims, 2))
        .await
        .expect("create");
    wait_phase(&api, "restart", 60, |p| p == Phase::Running).await;
    // The controller dies mid-run (SIGKILL) and a new one takes over the Lease.
    drop(operator);
    let _operator = Operator::start(&cp, "replica-b").await;
    let dr = wait_phase(&api, "restart", 300, |p| {
        !matches!(p, Phase::Pending | Phase::Running)
    })
    .await;
    let status = dr.status.expect("status");
    assert!(
        matches!(
            status.phase,
            Some(Phase::Succeeded | Phase::PartiallySucceeded)
        ),
        "{status:?}"
    );
    assert!(status.completion_time.is_some());
    let truth = store.report();
    assert_eq!(truth.still_missing, 0, "{truth:?}");
    assert_eq!(truth.duplicates, 0, "{truth:?}");

    // DAS unreachable: nothing listens on that port. The shard fails with a reason in status.
    let dead = support::control_plane::free_port();
    let mut unreachable = recovery("no-das", &sims, 1);
    unreachable.spec.recording_side.das_url = format!("http://127.0.0.1:{dead}");
    api.create(&PostParams::default(), &unreachable)
        .await
        .expect("create");
    let dr = wait_phase(&api, "no-das", 300, |p| p == Phase::Failed).await;
    let status = dr.status.expect("status");
    let shard = status.shards.first().expect("shard status");
    let reason = format!("{:?} {:?}", shard.reason, shard.message);
    assert!(
        reason.contains("RecordingSide") && reason.contains(&dead.to_string()),
        "the shard says why: {reason}"
    );
}

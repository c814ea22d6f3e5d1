//! Verification's load on DAS, measured against the in-process simulators (the DAS timeline
//! of `sim::recording`): the reads verification makes once the last interaction is sent.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use digital_recovery::cli::demo::{client_credentials, demo_recovery};
use digital_recovery::cli::recover::run_recovery;
use digital_recovery::pipeline::{Credentials, PipelineOptions};
use digital_recovery::sim::recording::{
    RecordingSimConfig, RecordingStore, SimRequest, SimRequestKind, factory_with_store,
};
use digital_recovery::sim::{self, SimConfig, SimHandles};

struct Sims {
    handles: SimHandles,
    store: Arc<RecordingStore>,
}

async fn sims(conversations: usize, rate_limit: Option<u32>, ingest_lag: Duration) -> Sims {
    let mut config = SimConfig::new(conversations);
    config.seed = 11;
    config.missing_rate = 0.05;
    config.partial_rate = 0.0;
    config.rate_limit = rate_limit;
    let recording = RecordingSimConfig {
        ingest_lag,
        ..RecordingSimConfig::default()
    };
    let slot = Arc::new(OnceLock::new());
    let handles = sim::start(config, Some(factory_with_store(recording, slot.clone())))
        .await
        .expect("simulators start");
    let store = slot.get().expect("recording store built").clone();
    Sims { handles, store }
}

/// The DAS contacts reads made after the last Capture PUT: in a one-shard run, verification's.
fn verification_reads(timeline: &[SimRequest]) -> Vec<SimRequest> {
    let last_put = timeline
        .iter()
        .filter(|r| matches!(r.kind, SimRequestKind::CapturePut { .. }))
        .map(|r| r.at)
        .max()
        .expect("something was sent to Capture");
    timeline
        .iter()
        .filter(|r| r.at > last_put && matches!(r.kind, SimRequestKind::DasContacts { .. }))
        .cloned()
        .collect()
}

/// The figures of docs/benchmarks.md "Verification load": 4,000 conversations, 5 % missing, one
/// shard, DAS showing an ingested interaction 10 s after Capture took it, production
/// verification timing (`PipelineOptions::default()`); Genesys paced at `genesys_rpm` (and the
/// simulator limiting at the same rate). Prints the DAS requests and contacts verification
/// read, per recovered conversation.
async fn measure_verification_load(genesys_rpm: u32) {
    let s = sims(4000, Some(genesys_rpm), Duration::from_secs(10)).await;
    let recovery = demo_recovery(&s.handles, 1, false).expect("recovery");
    let credentials = Credentials {
        genesys: client_credentials(&s.handles),
        recording_side: client_credentials(&s.handles),
    };
    let summary = run_recovery(&recovery, credentials, PipelineOptions::default())
        .await
        .expect("recovery runs");
    let truth = s.store.report();
    assert_eq!(truth.still_missing, 0, "{truth:?}");
    assert_eq!(summary.outcomes.verified, truth.ingested, "{summary:?}");
    let (timeline, dropped) = s.store.timeline();
    assert_eq!(dropped, 0);
    let reads = verification_reads(&timeline);
    let contacts: usize = reads
        .iter()
        .map(|r| match r.kind {
            SimRequestKind::DasContacts { returned, .. } => returned,
            SimRequestKind::CapturePut { .. } => 0,
        })
        .sum();
    let span = match (reads.first(), reads.last()) {
        (Some(first), Some(last)) => last.at - first.at,
        _ => Duration::ZERO,
    };
    let recovered = truth.ingested as f64;
    println!(
        "genesys {genesys_rpm}/min: verification made {} DAS requests, read {} contacts, over \
         {:.1} s, for {} recovered: {:.3} requests and {:.1} contacts per recovered conversation",
        reads.len(),
        contacts,
        span.as_secs_f64(),
        truth.ingested,
        reads.len() as f64 / recovered,
        contacts as f64 / recovered,
    );
}

/// The pool done quickly (Genesys at 3000 calls a minute): most interactions are still behind
/// DAS's lag when verification starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (about 20 s): run by hand for docs/benchmarks.md"]
async fn measure_verification_load_after_a_quick_pool() {
    measure_verification_load(3000).await;
}

/// Genesys at its per-token default, 300 calls a minute, as a shard runs by default: the pool
/// takes over a minute, so verification starts with only the last ones ingested still behind
/// DAS's lag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (about two minutes): run by hand for docs/benchmarks.md"]
async fn measure_verification_load_at_the_default_genesys_pace() {
    measure_verification_load(300).await;
}

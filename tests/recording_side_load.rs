//! The load a recovery puts on the recording side, against the in-process simulators and in
//! their own record of requests (`sim::recording`'s timeline): verification's DAS reads, the
//! pacing of `spec.recordingSide.requestsPerMinute`, and the per-pod cap on Capture writers.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use digital_recovery::api::Window;
use digital_recovery::cli::demo::{client_credentials, demo_options, demo_recovery};
use digital_recovery::cli::recover::run_recovery;
use digital_recovery::cli::summary::RunSummary;
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
    let recording = RecordingSimConfig {
        ingest_lag,
        ..RecordingSimConfig::default()
    };
    sims_with(conversations, rate_limit, recording).await
}

async fn sims_with(
    conversations: usize,
    rate_limit: Option<u32>,
    recording: RecordingSimConfig,
) -> Sims {
    let mut config = SimConfig::new(conversations);
    config.seed = 11;
    config.missing_rate = 0.05;
    config.partial_rate = 0.0;
    config.rate_limit = rate_limit;
    let slot = Arc::new(OnceLock::new());
    let handles = sim::start(config, Some(factory_with_store(recording, slot.clone())))
        .await
        .expect("simulators start");
    let store = slot.get().expect("recording store built").clone();
    Sims { handles, store }
}

/// Runs one recovery of the simulators' window, its recording side paced at `recording_rpm`.
async fn recover(
    s: &Sims,
    parallelism: u32,
    recording_rpm: Option<u32>,
    options: PipelineOptions,
) -> RunSummary {
    let mut recovery = demo_recovery(&s.handles, parallelism, false).expect("recovery");
    recovery.spec.recording_side.requests_per_minute = recording_rpm;
    let credentials = Credentials {
        genesys: client_credentials(&s.handles),
        recording_side: client_credentials(&s.handles),
    };
    run_recovery(&recovery, credentials, options)
        .await
        .expect("recovery runs")
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

/// A DAS read as the simulator saw it.
#[derive(Clone, Copy, Debug)]
struct Read {
    at: Duration,
    range: Window,
}

/// Verification's reads split into rounds: reads closer than `gap` to the previous one belong
/// to its round (rounds are at least the first verify pause apart).
fn rounds(reads: &[SimRequest], gap: Duration) -> Vec<Vec<Read>> {
    let mut rounds: Vec<Vec<Read>> = Vec::new();
    for request in reads {
        let SimRequestKind::DasContacts { from, to, .. } = request.kind else {
            continue;
        };
        let read = Read {
            at: request.at,
            range: Window {
                start: from,
                end: to,
            },
        };
        match rounds.last_mut() {
            Some(round) if round.last().is_some_and(|last| read.at - last.at < gap) => {
                round.push(read)
            }
            _ => rounds.push(vec![read]),
        }
    }
    rounds
}

/// Verification reads DAS only around the conversations still waiting (each one's start +/-
/// the tolerance, plus the second that keeps its own start inside the exclusive end), and stops
/// with the round that sees the last one. Ground truth is the simulator's: when each
/// conversation became visible in DAS and when each read arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_reads_only_around_waiting_conversations_and_stops_when_all_are_seen() {
    let s = sims(1500, None, Duration::from_secs(1)).await;
    let options = PipelineOptions {
        verify_interval: Duration::from_millis(200),
        verify_max_interval: Duration::from_millis(800),
        ..demo_options()
    };
    let tolerance = options.tolerance;
    // Capture paced at 20 a second, so that the interactions arrive in DAS over a few seconds
    // and verification has rounds to shrink over.
    let summary = recover(&s, 1, Some(1200), options).await;
    let truth = s.store.report();
    assert_eq!(truth.still_missing, 0, "{truth:?}");
    assert!(truth.ingested > 30, "{truth:?}");
    assert_eq!(summary.outcomes.verified, truth.ingested, "{summary:?}");

    let (timeline, _) = s.store.timeline();
    let starts: HashMap<Uuid, Timestamp> = s
        .handles
        .dataset
        .conversations
        .iter()
        .map(|c| (c.id, c.start))
        .collect();
    // Every conversation sent, with its start and when DAS began to show it.
    let sent: Vec<(Timestamp, Duration)> = timeline
        .iter()
        .filter_map(|r| match r.kind {
            SimRequestKind::CapturePut { conversation } => Some(conversation),
            SimRequestKind::DasContacts { .. } => None,
        })
        .map(|id| {
            let visible = s.store.visible_at(id).expect("held once sent");
            (starts[&id], visible)
        })
        .collect();
    assert_eq!(sent.len() as u64, truth.ingested, "one PUT each, no faults");
    let reads = verification_reads(&timeline);
    let rounds = rounds(&reads, Duration::from_millis(100));
    assert!(
        rounds.len() >= 2,
        "DAS's lag takes several rounds: {rounds:?}"
    );

    let margin = SignedDuration::from_secs(1);
    // A little slack for the instant the simulator judged visibility, just before noting the
    // read.
    let slack = Duration::from_millis(20);
    let mut read_then_after = Vec::new();
    for (k, round) in rounds.iter().enumerate() {
        // Not seen by the rounds before (possibly waiting), and certainly waiting.
        let (possibly, certainly): (Vec<Timestamp>, Vec<Timestamp>) = match k {
            0 => (
                sent.iter().map(|c| c.0).collect(),
                sent.iter().map(|c| c.0).collect(),
            ),
            _ => {
                let before = &rounds[k - 1];
                let (first, last) = (before[0].at, before[before.len() - 1].at);
                (
                    sent.iter()
                        .filter(|c| c.1 + slack > first)
                        .map(|c| c.0)
                        .collect(),
                    sent.iter().filter(|c| c.1 > last).map(|c| c.0).collect(),
                )
            }
        };
        for read in round {
            assert!(
                possibly.iter().any(|s| *s - tolerance == read.range.start),
                "round {k} starts a read at {} where no waiting conversation's range starts",
                read.range.start
            );
            assert!(
                possibly
                    .iter()
                    .any(|s| *s + tolerance + margin == read.range.end),
                "round {k} ends a read at {} where no waiting conversation's range ends",
                read.range.end
            );
        }
        for start in &certainly {
            assert!(
                round
                    .iter()
                    .any(|r| r.range.start <= *start && *start < r.range.end),
                "round {k} did not read around {start}, still waiting"
            );
        }
        let span: SignedDuration = round
            .iter()
            .map(|r| r.range.end.duration_since(r.range.start))
            .sum();
        read_then_after.push((certainly.len(), span));
    }
    // It stops as soon as all are seen: at most one round starts once the last one is visible.
    let all_visible = sent.iter().map(|c| c.1).max().expect("sent");
    let after_all_visible = rounds.iter().filter(|r| r[0].at > all_visible).count();
    assert!(
        after_all_visible <= 1,
        "{after_all_visible} rounds after all were visible"
    );
    assert!(
        rounds
            .last()
            .and_then(|r| r.last())
            .is_some_and(|r| r.at + slack >= all_visible),
        "the last round saw the last conversation"
    );
    // And the reads shrank as conversations arrived.
    let (first, last) = (
        read_then_after[0],
        read_then_after[read_then_after.len() - 1],
    );
    assert!(last.0 < first.0, "{read_then_after:?}");
    assert!(last.1 < first.1, "{read_then_after:?}");
}

/// `spec.recordingSide.requestsPerMinute` paces DAS and Capture, each on its own budget: in the
/// simulator's own arrival times, no window of `t` seconds holds more than the budget's burst
/// (a GCRA with one second of tolerance: one second's worth plus the request at its start) plus
/// `t` seconds' worth. The same run unpaced breaks that bound, so the check can fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_side_requests_per_minute_paces_das_and_capture() {
    const RPM: u32 = 120;
    let rate = f64::from(RPM) / 60.0;
    let burst = f64::from(RPM.div_ceil(60) + 1);
    // Verification re-reading every 10 ms while DAS lags 2 s: unpaced, a flood of reads.
    let options = || PipelineOptions {
        verify_interval: Duration::from_millis(10),
        verify_max_interval: Duration::from_millis(20),
        ..demo_options()
    };
    // The most requests some window held beyond what the budget allows it.
    let excess = |times: &[Duration]| -> f64 {
        let mut worst = f64::MIN;
        for i in 0..times.len() {
            for j in i..times.len() {
                let allowed = burst + rate * (times[j] - times[i]).as_secs_f64();
                worst = worst.max((j - i + 1) as f64 - allowed);
            }
        }
        worst
    };
    let arrivals = |s: &Sims| -> (Vec<Duration>, Vec<Duration>) {
        let (timeline, _) = s.store.timeline();
        let das = timeline
            .iter()
            .filter(|r| matches!(r.kind, SimRequestKind::DasContacts { .. }))
            .map(|r| r.at)
            .collect();
        let capture = timeline
            .iter()
            .filter(|r| matches!(r.kind, SimRequestKind::CapturePut { .. }))
            .map(|r| r.at)
            .collect();
        (das, capture)
    };

    let paced = sims(400, None, Duration::from_secs(2)).await;
    let summary = recover(&paced, 1, Some(RPM), options()).await;
    assert_eq!(paced.store.report().still_missing, 0);
    assert_eq!(summary.outcomes.unverified, 0, "{summary:?}");
    let (das, capture) = arrivals(&paced);
    assert!(das.len() >= 6 && capture.len() >= 6, "{das:?} {capture:?}");
    // A twentieth of a request of slack for when a request is noted after its send.
    assert!(excess(&das) <= 0.05, "DAS: {das:?}");
    assert!(excess(&capture) <= 0.05, "Capture: {capture:?}");

    let unpaced = sims(400, None, Duration::from_secs(2)).await;
    recover(&unpaced, 1, None, options()).await;
    let (das, capture) = arrivals(&unpaced);
    assert!(excess(&das) > 1.0, "unpaced DAS reads: {das:?}");
    assert!(excess(&capture) > 1.0, "unpaced PUTs: {capture:?}");
}

/// `worker.captureWriters` bounds the Capture writes in flight: with one writer, a PUT waiting
/// out Capture's back-pressure (429 + Retry-After, retried by the client) keeps every other
/// conversation from being sent, so each conversation's attempts arrive as one unbroken run. With
/// eight, the attempts of different conversations interleave, so the check can fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_writers_bound_the_puts_in_flight() {
    // A buffer of two draining two a second: most PUTs meet back-pressure.
    let busy = || RecordingSimConfig {
        ingest_lag: Duration::from_millis(200),
        buffer_capacity: 2,
        drain_per_second: 2.0,
        ..RecordingSimConfig::default()
    };
    let options = |writers: usize| PipelineOptions {
        capture_writers: writers,
        verify_interval: Duration::from_millis(200),
        ..demo_options()
    };
    // Conversations whose attempts another conversation's PUT interrupted.
    let interrupted = |s: &Sims| -> (usize, usize) {
        let (timeline, _) = s.store.timeline();
        let puts: Vec<Uuid> = timeline
            .iter()
            .filter_map(|r| match r.kind {
                SimRequestKind::CapturePut { conversation } => Some(conversation),
                SimRequestKind::DasContacts { .. } => None,
            })
            .collect();
        let mut runs: HashMap<Uuid, usize> = HashMap::new();
        for (i, id) in puts.iter().enumerate() {
            if i == 0 || puts[i - 1] != *id {
                *runs.entry(*id).or_default() += 1;
            }
        }
        (runs.values().filter(|n| **n > 1).count(), puts.len())
    };

    let one = sims_with(300, None, busy()).await;
    let summary = recover(&one, 1, None, options(1)).await;
    let truth = one.store.report();
    assert_eq!(truth.still_missing, 0, "{truth:?} {summary:?}");
    assert!(one.store.stats().throttled > 0, "back-pressure was met");
    let (broken, puts) = interrupted(&one);
    assert!(puts as u64 > truth.ingested, "some PUTs were retried");
    assert_eq!(
        broken, 0,
        "one writer: every conversation's attempts in one run"
    );

    let eight = sims_with(300, None, busy()).await;
    recover(&eight, 1, None, options(8)).await;
    let (broken, _) = interrupted(&eight);
    assert!(broken > 0, "eight writers interleave their attempts");
}

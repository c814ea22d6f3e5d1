//! Targeted re-drive (`spec.conversationIds`) against the three in-process simulators: only the
//! named conversations are read, fetched and ingested, counted from the simulators' own request
//! logs and ground truth; a second identical re-drive ingests nothing.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use digital_recovery::api::{DigitalRecovery, Window};
use digital_recovery::cli::demo::{client_credentials, demo_options, demo_recovery};
use digital_recovery::cli::recover::run_recovery;
use digital_recovery::pipeline::{
    self, Credentials, Outcome, OutcomeRecord, PipelineOptions, ProgressReporter, RecoveryRef,
    ShardProgress, ShardRun,
};
use digital_recovery::sim::dataset::{RecordingSideState, SimConversation};
use digital_recovery::sim::recording::{RecordingSimConfig, RecordingStore, factory_with_store};
use digital_recovery::sim::{self, SimConfig, SimHandles};

/// Routes as the simulators' request logs name them (from the contracts, not our client).
const LOOKUP: &str = "GET /api/v2/analytics/conversations/details";
const QUERY: &str = "POST /api/v2/analytics/conversations/details/query";
const JOBS: &str = "POST /api/v2/analytics/conversations/details/jobs";
const RECORDINGS: &str = "GET /api/v2/conversations/{id}/recordings";
const PUT: &str = "PUT /api/v1/tenants/demo/interactions/{id}";

struct Sims {
    handles: SimHandles,
    store: Arc<RecordingStore>,
}

async fn sims(conversations: usize) -> Sims {
    let mut config = SimConfig::new(conversations);
    config.seed = 5;
    config.missing_rate = 0.1;
    config.partial_rate = 0.05;
    config.rate_limit = None;
    let slot = Arc::new(OnceLock::new());
    let recording = RecordingSimConfig {
        ingest_lag: Duration::from_millis(300),
        ..RecordingSimConfig::default()
    };
    let handles = sim::start(config, Some(factory_with_store(recording, slot.clone())))
        .await
        .expect("simulators start");
    let store = slot.get().expect("recording store built").clone();
    Sims { handles, store }
}

fn options() -> PipelineOptions {
    PipelineOptions {
        retry_interval: Duration::from_millis(300),
        verify_interval: Duration::from_millis(300),
        ..demo_options()
    }
}

fn credentials(s: &Sims) -> Credentials {
    Credentials {
        genesys: client_credentials(&s.handles),
        recording_side: client_credentials(&s.handles),
    }
}

/// The first half of the simulated window: the re-drive's window.
fn first_half(s: &Sims) -> Window {
    let full = s.handles.config.window;
    Window {
        start: full.start,
        end: full.start + full.end.duration_since(full.start) / 2,
    }
}

fn in_window(window: Window) -> impl Fn(&&SimConversation) -> bool {
    move |c| c.start >= window.start && c.start < window.end
}

fn redrive(s: &Sims, window: Window, parallelism: u32, ids: &[Uuid]) -> DigitalRecovery {
    let mut recovery = demo_recovery(&s.handles, parallelism, false).expect("recovery");
    recovery.spec.window = window;
    recovery.spec.conversation_ids = Some(ids.iter().map(Uuid::to_string).collect());
    recovery
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_drive_by_ids_touches_exactly_the_named_conversations_and_a_second_ingests_nothing() {
    let s = sims(600).await;
    let window = first_half(&s);
    let conversations = &s.handles.dataset.conversations;
    // Named: withheld conversations (missing or partial) and held ones of the window, one of
    // the other half, and one Genesys does not know. The window's other withheld conversations
    // are not named and must stay withheld.
    let missing: BTreeSet<Uuid> = conversations
        .iter()
        .filter(in_window(window))
        .filter(|c| c.is_expected_missing())
        .map(|c| c.id)
        .take(8)
        .collect();
    let held: BTreeSet<Uuid> = conversations
        .iter()
        .filter(in_window(window))
        .filter(|c| c.is_text() && c.end.is_some())
        .filter(|c| matches!(c.recording_side, RecordingSideState::Held))
        .map(|c| c.id)
        .take(4)
        .collect();
    let outside = conversations
        .iter()
        .find(|c| c.is_expected_missing() && c.start >= window.end)
        .map(|c| c.id)
        .expect("a withheld conversation after the window");
    let unknown = Uuid::new_v4();
    assert_eq!((missing.len(), held.len()), (8, 4));
    let named: BTreeSet<Uuid> = missing
        .iter()
        .chain(&held)
        .copied()
        .chain([outside, unknown])
        .collect();
    let ids: Vec<Uuid> = named.iter().copied().collect();

    // Recordings one GET each, so the request log names every conversation whose recordings
    // were read (it names none of a batch download's; batches in a re-drive are tested below).
    // With one queue for both shards the 8 would otherwise make a batch.
    let one_by_one = PipelineOptions {
        recordings_in_batches: false,
        ..options()
    };
    let first = run_recovery(&redrive(&s, window, 2, &ids), credentials(&s), one_by_one)
        .await
        .expect("re-drive runs");
    let genesys = s.handles.genesys.requests();
    let capture = s.store.capture_requests();
    let truth = s.store.report();

    // No listing of the window (no query, no estimate, no job): Genesys heard only of the
    // named conversations, each looked up once.
    assert!(!genesys.routes.contains_key(QUERY), "{:?}", genesys.routes);
    assert!(!genesys.routes.contains_key(JOBS), "{:?}", genesys.routes);
    let heard: BTreeSet<Uuid> = genesys.conversations.keys().copied().collect();
    assert_eq!(heard, named);
    for id in &named {
        assert_eq!(genesys.of(*id, LOOKUP), 1, "{id}");
    }
    // Recordings: exactly the named conversations of the window the recording side lacks.
    let fetched: BTreeSet<Uuid> = genesys.named_by(RECORDINGS).into_iter().collect();
    assert_eq!(fetched, missing);
    for id in &missing {
        assert_eq!(genesys.of(*id, RECORDINGS), 1, "{id}");
    }
    // Capture: only named conversations, once each; what the store took in is what was sent.
    let sent: BTreeSet<Uuid> = capture.named_by(PUT).into_iter().collect();
    assert!(sent.is_subset(&missing), "{sent:?}");
    for id in &sent {
        assert_eq!(capture.of(*id, PUT), 1, "{id}");
    }
    assert!(truth.ingested > 0, "{truth:?}");
    assert_eq!(truth.ingested, sent.len() as u64, "{truth:?}");
    assert_eq!((truth.duplicates, truth.conflicts), (0, 0), "{truth:?}");
    // Everything withheld and not named is still withheld.
    assert_eq!(truth.still_missing, truth.expected_missing - truth.ingested);
    // Reported on: the named conversations only; no extras.
    assert_eq!(first.match_counts.extra, 0, "{first:?}");
    assert_eq!(
        first.match_counts.genesys,
        (missing.len() + held.len()) as u64
    );
    assert_eq!(first.match_counts.matched, held.len() as u64);
    assert_eq!(
        first.failure_reasons.get("conversationNotFound"),
        Some(&1),
        "{first:?}"
    );
    assert_eq!(first.outcomes.verified, truth.ingested);

    // The same re-drive again: what it recovered is held now; nothing is ingested or sent.
    let second = run_recovery(&redrive(&s, window, 2, &ids), credentials(&s), options())
        .await
        .expect("second re-drive runs");
    let again = s.store.report();
    assert_eq!(again.ingested, truth.ingested, "{again:?}");
    assert_eq!(again.resent, truth.resent, "{again:?}");
    assert_eq!(
        s.store.capture_requests().routes.get(PUT),
        capture.routes.get(PUT)
    );
    let genesys_again = s.handles.genesys.requests();
    for id in &sent {
        assert_eq!(genesys_again.of(*id, RECORDINGS), 1, "{id} fetched again");
    }
    assert_eq!(second.outcomes.recovered, 0, "{second:?}");
    assert_eq!(
        second.match_counts.matched,
        (held.len() + sent.len()) as u64,
        "{second:?}"
    );
}

/// Collects every outcome record.
#[derive(Default)]
struct Records(Mutex<Vec<OutcomeRecord>>);

impl ProgressReporter for Records {
    fn progress(&self, _snapshot: &ShardProgress) {}
    fn outcome(&self, record: &OutcomeRecord) {
        self.0.lock().push(record.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_id_and_one_outside_the_window_end_with_their_own_reasons() {
    let s = sims(300).await;
    let window = first_half(&s);
    let outside = s
        .handles
        .dataset
        .conversations
        .iter()
        .find(|c| c.is_expected_missing() && c.start >= window.end)
        .expect("a withheld conversation after the window");
    let unknown = Uuid::new_v4();
    let mut ids = vec![outside.id, unknown];
    ids.sort_unstable();
    let recovery = redrive(&s, window, 1, &ids);
    let spec = recovery.spec.validate().expect("valid spec");
    let run = ShardRun {
        spec,
        recovery: RecoveryRef {
            namespace: "default".into(),
            name: "redo".into(),
        },
        slice: window,
        shard: 0,
        credentials: credentials(&s),
        targets: Some(ids),
    };
    let records = Arc::new(Records::default());
    pipeline::run_shard_with(run, options(), records.clone(), CancellationToken::new())
        .await
        .expect("shard runs");
    let records = records.0.lock().clone();
    let of = |id: Uuid| {
        records
            .iter()
            .find(|r| r.conversation_id == Some(id))
            .map(|r| (r.outcome, r.reason.clone()))
    };
    assert_eq!(
        of(outside.id),
        Some((Outcome::Skipped, Some("outsideWindow".into())))
    );
    assert_eq!(
        of(unknown),
        Some((Outcome::Failed, Some("conversationNotFound".into())))
    );
    assert_eq!(records.len(), 2, "{records:?}");
    // Neither was fetched nor sent.
    assert!(s.handles.genesys.requests().named_by(RECORDINGS).is_empty());
    assert!(s.store.capture_requests().named_by(PUT).is_empty());
}

#[tokio::test]
async fn recover_without_a_cluster_says_how_to_re_drive_a_report_or_a_config_map() {
    let s = sims(10).await;
    let mut recovery = demo_recovery(&s.handles, 1, false).expect("recovery");
    recovery.spec.retry_of = Some("last-night".into());
    let err = run_recovery(&recovery, credentials(&s), options())
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("report --output ids"), "{err}");
    recovery.spec.retry_of = None;
    recovery.spec.conversation_ids_from =
        serde_json::from_value(serde_json::json!({"configMapName": "ids"})).expect("source");
    let err = run_recovery(&recovery, credentials(&s), options())
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("spec.conversationIds"), "{err}");
    // Nothing was asked of Genesys.
    assert!(s.handles.genesys.requests().routes.is_empty());
}

#[test]
fn the_example_re_drive_is_valid_and_names_its_config_map() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/redrive.yaml");
    let recovery = digital_recovery::manifest::load(&path).expect("example loads");
    let spec = recovery.spec.validate().expect("example is valid");
    assert_eq!(
        spec.targets(),
        Some(&digital_recovery::api::Targets::ConfigMap {
            name: "acme-redo-ids".into(),
            key: "ids".into()
        })
    );
}

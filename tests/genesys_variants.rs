//! The variant matrix: the Genesys client and the whole pipeline against every reading of the
//! Genesys contract that the public docs leave open (shared/genesys-api.md, UNCONFIRMED items),
//! as the simulator serves them behind `--genesys-variant`. Each reading gets a test that fails
//! when the client handles only the other one; docs/testing.md lists what each guards against.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use digital_recovery::api::{MediaType, Window};
use digital_recovery::cli::demo::{client_credentials, demo_options, demo_recovery};
use digital_recovery::cli::recover::run_recovery;
use digital_recovery::cli::summary::RunSummary;
use digital_recovery::genesys::{CollectQuery, GenesysClient, GenesysConfig, GenesysError};
use digital_recovery::http::{RetryPolicy, Secret};
use digital_recovery::pipeline::shard;
use digital_recovery::pipeline::{Credentials, PipelineOptions};
use digital_recovery::sim::dataset::{Dataset, FileState, SimMedia};
use digital_recovery::sim::genesys::{EmptyPage, GenesysVariant, IntervalEnd, MessagingMedia};
use digital_recovery::sim::recording::{RecordingSimConfig, RecordingStore, factory_with_store};
use digital_recovery::sim::{self, SimConfig, SimHandles};
use futures::StreamExt;

/// Shards of the matrix runs: boundaries every 3 hours of the 24-hour window.
const SHARDS: u32 = 8;

struct Sims {
    handles: SimHandles,
    store: Arc<RecordingStore>,
}

async fn sims(conversations: usize, variant: GenesysVariant, faults: &str) -> Sims {
    let mut config = SimConfig::new(conversations);
    config.seed = 11;
    config.missing_rate = 0.08;
    config.partial_rate = 0.05;
    config.rate_limit = None;
    // Many starts on whole minutes, so that shard and query boundaries hold conversations.
    config.aligned_start_rate = 0.5;
    config.genesys_variant = variant;
    config.faults = faults.parse().expect("fault spec");
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

async fn recover(s: &Sims, trust_recording_flag: bool) -> RunSummary {
    let mut recovery = demo_recovery(&s.handles, SHARDS, false).expect("recovery");
    recovery.spec.genesys.trust_recording_flag = trust_recording_flag;
    let credentials = Credentials {
        genesys: client_credentials(&s.handles),
        recording_side: client_credentials(&s.handles),
    };
    run_recovery(&recovery, credentials, options())
        .await
        .expect("recovery runs")
}

/// Text conversations of the dataset, completed and open: what the collection must count, each
/// once.
fn listed_text(dataset: &Dataset) -> u64 {
    dataset.conversations.iter().filter(|c| c.is_text()).count() as u64
}

/// Text conversations starting exactly on a shard boundary: the ones an interval read the wrong
/// way would lose or count twice. The matrix is only meaningful with some.
fn on_shard_boundaries(dataset: &Dataset, window: Window) -> usize {
    let boundaries: BTreeSet<_> = shard::slices(window, SHARDS)
        .iter()
        .skip(1)
        .map(|slice| slice.start)
        .collect();
    dataset
        .conversations
        .iter()
        .filter(|c| c.is_text() && boundaries.contains(&c.start))
        .count()
}

/// Runs the pipeline under `variant` and checks it against the simulators' ground truth:
/// every withheld conversation with a text recording recovered once, every one Genesys never
/// recorded ended `notRecorded` after exactly one recordings call, every conversation counted
/// once, and a second run changes nothing.
async fn recovers_exactly_the_withheld_conversations(
    name: &str,
    variant: GenesysVariant,
    faults: &str,
) {
    let s = sims(2500, variant, faults).await;
    let dataset = s.handles.dataset.clone();
    let before = s.store.report();
    assert!(before.expected_missing > 50, "{name}: {before:?}");
    assert!(before.expected_not_recorded > 5, "{name}: {before:?}");
    assert!(
        on_shard_boundaries(&dataset, s.handles.config.window) > 0,
        "{name}: no conversation starts on a shard boundary; raise aligned_start_rate"
    );

    let first = recover(&s, false).await;
    let truth = s.store.report();
    let stats = s.handles.genesys.stats();
    assert_eq!(truth.still_missing, 0, "{name}: {truth:?} {first:?}");
    assert_eq!(truth.duplicates, 0, "{name}: {truth:?}");
    assert_eq!(truth.conflicts, 0, "{name}: {truth:?}");
    assert_eq!(truth.ingested, truth.expected_missing, "{name}: {truth:?}");
    assert_eq!(first.outcomes.verified, truth.ingested, "{name}: {first:?}");
    assert_eq!(
        first.outcomes.not_recorded, truth.expected_not_recorded,
        "{name}: {first:?} {truth:?}"
    );
    assert_eq!(
        (
            stats.unrecorded_conversations_fetched,
            stats.unrecorded_recordings_calls
        ),
        (truth.expected_not_recorded, truth.expected_not_recorded),
        "{name}: one recordings call per conversation Genesys never recorded: {stats:?}"
    );
    let m = first.match_counts;
    assert_eq!(
        m.genesys,
        listed_text(&dataset),
        "{name}: every text conversation counted exactly once: {m:?}"
    );
    assert_eq!(
        m.genesys,
        m.matched + m.missing + m.partial + m.skipped,
        "{name}: {m:?}"
    );
    // Failures are only conversations whose lacking recordings are archived or deleted.
    assert!(
        first
            .failures
            .iter()
            .all(|f| matches!(f.reason.as_deref(), Some("archived" | "deleted"))),
        "{name}: {:?}",
        first.failures
    );

    let second = recover(&s, false).await;
    let after = s.store.report();
    assert_eq!(second.outcomes.recovered, 0, "{name}: {second:?}");
    assert_eq!(
        after.ingested, truth.ingested,
        "{name}: nothing ingested again"
    );
    assert_eq!(after.duplicates, 0, "{name}: {after:?}");
    assert_eq!(
        second.outcomes.not_recorded, first.outcomes.not_recorded,
        "{name}"
    );
    s.handles.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_contract() {
    recovers_exactly_the_withheld_conversations("documented", GenesysVariant::default(), "").await;
}

/// Every single departure from the documented contract, one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_single_variant() {
    let variants = GenesysVariant::all_single();
    assert!(variants.len() >= 6, "{variants:?}");
    for (name, variant) in variants {
        // 202s only happen while recordings transcode.
        let faults = if variant.retry_after_202 {
            "transcode=0.2,transcode-time=1s"
        } else {
            ""
        };
        recovers_exactly_the_withheld_conversations(&name, variant, faults).await;
    }
}

/// Every departure at once (and transcoding, so that 202s are served).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_variant_at_once() {
    let variant: GenesysVariant =
        "recording-flag,media=messaging,empty-page=bare,retry-after-202,interval-end=inclusive,oauth-error=both"
            .parse()
            .expect("variant");
    recovers_exactly_the_withheld_conversations("all", variant, "transcode=0.2,transcode-time=1s")
        .await;
}

/// Why the flag is not trusted by default: against the documented contract (no flag on text),
/// trusting it recovers nothing while looking healthy; against an org that sets it, trusting it
/// recovers everything and saves exactly the calls for conversations never recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusting_the_recording_flag_is_safe_only_where_genesys_sets_it() {
    let documented = sims(1500, GenesysVariant::default(), "").await;
    let summary = recover(&documented, true).await;
    let truth = documented.store.report();
    assert_eq!(summary.outcomes.recovered, 0, "{summary:?}");
    assert_eq!(truth.still_missing, truth.expected_missing, "{truth:?}");
    assert_eq!(documented.handles.genesys.stats().recordings_calls, 0);
    assert_eq!(summary.match_counts.skipped, summary.match_counts.genesys);
    documented.handles.shutdown().await;

    let flagged = GenesysVariant {
        recording_flag: true,
        ..GenesysVariant::default()
    };
    let s = sims(1500, flagged, "").await;
    let summary = recover(&s, true).await;
    let truth = s.store.report();
    let stats = s.handles.genesys.stats();
    assert_eq!(truth.still_missing, 0, "{truth:?}");
    assert_eq!(truth.ingested, truth.expected_missing, "{truth:?}");
    assert_eq!(summary.outcomes.not_recorded, 0, "{summary:?}");
    assert_eq!(stats.unrecorded_recordings_calls, 0, "{stats:?}");
    assert!(summary.match_counts.skipped >= truth.expected_not_recorded);
    s.handles.shutdown().await;
}

fn client(handles: &SimHandles, secret: &str) -> GenesysConfig {
    let mut config =
        GenesysConfig::for_base_url(&handles.genesys_url, "sim-client", Secret::new(secret))
            .expect("config");
    config.requests_per_minute = 0;
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    config
}

/// A recorded, available conversation of `media` with one recording.
fn recorded(handles: &SimHandles, media: SimMedia) -> String {
    handles
        .dataset
        .conversations
        .iter()
        .find(|c| {
            c.media_type == media
                && c.recordings.len() == 1
                && c.recordings[0].file_state == FileState::Available
        })
        .map(|c| c.id.to_string())
        .expect("a recorded conversation")
}

/// A 202 with Retry-After is waited out (the next poll succeeds); without one the client falls
/// back to its own delay. A client that ignored the header would give up here after three quick
/// polls; one that required it would never poll again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcoding_202_is_polled_again_when_its_retry_after_says() {
    for retry_after_202 in [true, false] {
        let variant = GenesysVariant {
            retry_after_202,
            ..GenesysVariant::default()
        };
        let s = sims(300, variant, "transcode=1.0,transcode-time=1500ms").await;
        let mut config = client(&s.handles, "sim-secret");
        config.transcode_polls = 3;
        config.transcode_poll_delay = Duration::from_millis(50);
        config.transcode_max_wait = Duration::ZERO;
        let genesys = GenesysClient::new(config).expect("client");
        let id = recorded(&s.handles, SimMedia::Chat);
        let result = genesys.fetch_recordings(&id).await;
        if retry_after_202 {
            let fetch = result.expect("recordings once the Retry-After has passed");
            assert_eq!(fetch.outcomes.len(), 1, "{fetch:?}");
            assert_eq!(s.handles.genesys.stats().recordings_calls, 2);
        } else {
            match result {
                Err(GenesysError::StillTranscoding {
                    attempts: 3,
                    retry_after: None,
                    ..
                }) => {}
                other => panic!("without Retry-After: {other:?}"),
            }
        }
        s.handles.shutdown().await;
    }
}

/// Each shape of an empty detail-query page is an empty slice, found with one query call (a
/// short page without totalHits is the whole answer), never an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_empty_page_shape_is_an_empty_slice_after_one_call() {
    for empty_page in [EmptyPage::TotalHits, EmptyPage::Bare, EmptyPage::EmptyList] {
        let variant = GenesysVariant {
            empty_page,
            ..GenesysVariant::default()
        };
        let s = sims(300, variant, "").await;
        let genesys = GenesysClient::new(client(&s.handles, "sim-secret")).expect("client");
        // A minute before the seeded window: nothing there.
        let start = s.handles.config.window.start - jiff::SignedDuration::from_mins(10);
        let slice = Window {
            start,
            end: start + jiff::SignedDuration::from_mins(1),
        };
        let query = CollectQuery {
            slice,
            media_types: MediaType::ALL.to_vec(),
            message_types: Vec::new(),
        };
        let before = s.handles.genesys.stats().api_requests;
        let items: Vec<_> = genesys.conversations(query.clone()).collect().await;
        assert!(items.is_empty(), "{empty_page:?}: {items:?}");
        assert_eq!(
            s.handles.genesys.stats().api_requests - before,
            1,
            "{empty_page:?}: one query call"
        );
        assert_eq!(
            genesys
                .estimate_conversations(&query)
                .await
                .expect("estimate"),
            Some(0),
            "{empty_page:?}"
        );
        s.handles.shutdown().await;
    }
}

/// A conversation starting exactly at a slice's end belongs to the next slice only, whether
/// Genesys' interval end is exclusive or inclusive: adjacent slices return it once in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_on_a_slice_boundary_is_collected_once_under_either_interval_end() {
    for interval_end in [IntervalEnd::Exclusive, IntervalEnd::Inclusive] {
        let variant = GenesysVariant {
            interval_end,
            ..GenesysVariant::default()
        };
        let s = sims(2500, variant, "").await;
        let on_boundary = s
            .handles
            .dataset
            .conversations
            .iter()
            .find(|c| c.is_text() && c.is_completed() && c.start.as_millisecond() % 60_000 == 0)
            .expect("a completed text conversation on a whole minute");
        let boundary = on_boundary.start;
        let genesys = GenesysClient::new(client(&s.handles, "sim-secret")).expect("client");
        let mut seen = 0;
        for slice in [
            Window {
                start: boundary - jiff::SignedDuration::from_mins(30),
                end: boundary,
            },
            Window {
                start: boundary,
                end: boundary + jiff::SignedDuration::from_mins(30),
            },
        ] {
            let mut stream = Box::pin(genesys.conversations(CollectQuery {
                slice,
                media_types: MediaType::ALL.to_vec(),
                message_types: Vec::new(),
            }));
            while let Some(item) = stream.next().await {
                let conversation = item.expect("conversation");
                seen += usize::from(conversation.id == on_boundary.id.to_string());
            }
        }
        assert_eq!(seen, 1, "{interval_end:?}");
        s.handles.shutdown().await;
    }
}

/// Both spellings of a messaging recording's `media` are text: an archived messaging stub is
/// reported archived (not taken for "not recorded"), an available one is recovered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_spellings_of_messaging_media_are_text() {
    for media in [MessagingMedia::Message, MessagingMedia::Messaging] {
        let variant = GenesysVariant {
            media,
            ..GenesysVariant::default()
        };
        let s = sims(3000, variant, "").await;
        let genesys = GenesysClient::new(client(&s.handles, "sim-secret")).expect("client");
        let archived = s
            .handles
            .dataset
            .conversations
            .iter()
            .find(|c| {
                c.media_type == SimMedia::Message
                    && c.recordings
                        .first()
                        .is_some_and(|r| r.file_state == FileState::Archived)
            })
            .expect("an archived messaging conversation");
        let fetch = genesys
            .fetch_recordings(&archived.id.to_string())
            .await
            .expect("recordings");
        assert_eq!(
            fetch.outcomes.len(),
            archived.recordings.len(),
            "{media:?}: {fetch:?}"
        );
        assert_eq!(fetch.non_text, 0, "{media:?}");
        let available = recorded(&s.handles, SimMedia::Message);
        let fetch = genesys
            .fetch_recordings(&available)
            .await
            .expect("recordings");
        assert_eq!(fetch.outcomes.len(), 1, "{media:?}: {fetch:?}");
        s.handles.shutdown().await;
    }
}

/// A rejected token request names its cause whichever field Genesys puts it in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_error_names_its_cause_under_every_oauth_error_shape() {
    for name in [
        "oauth-error=description",
        "oauth-error=error_description",
        "oauth-error=both",
    ] {
        let variant: GenesysVariant = name.parse().expect("variant");
        let s = sims(100, variant, "").await;
        let genesys = GenesysClient::new(client(&s.handles, "wrong-secret")).expect("client");
        let id = recorded(&s.handles, SimMedia::Chat);
        let err = genesys
            .fetch_recordings(&id)
            .await
            .expect_err("bad credentials");
        let text = err.to_string();
        assert!(text.contains("authentication failed"), "{name}: {text}");
        assert!(
            !text.contains("wrong-secret"),
            "{name}: the secret leaked: {text}"
        );
        s.handles.shutdown().await;
    }
}

/// The jobs path (202s while a job runs, cursor pages, the sync tail past the data lake) under
/// the documented contract and under every variant at once: each completed text conversation of
/// the window collected exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_path_collects_each_conversation_once_under_every_reading() {
    let all: GenesysVariant =
        "recording-flag,media=messaging,empty-page=empty-list,retry-after-202,interval-end=inclusive"
            .parse()
            .expect("variant");
    for variant in [GenesysVariant::default(), all] {
        let s = sims(2500, variant, "").await;
        let mut config = client(&s.handles, "sim-secret");
        config.jobs = digital_recovery::genesys::JobsMode::Always;
        config.max_slice = Duration::from_secs(3 * 3600);
        let genesys = GenesysClient::new(config).expect("client");
        let mut ids = BTreeSet::new();
        let mut total = 0u64;
        let mut stream = Box::pin(genesys.conversations(CollectQuery {
            slice: s.handles.config.window,
            media_types: MediaType::ALL.to_vec(),
            message_types: Vec::new(),
        }));
        while let Some(item) = stream.next().await {
            ids.insert(item.expect("conversation").id);
            total += 1;
        }
        assert_eq!(
            total,
            ids.len() as u64,
            "{variant:?}: a conversation came twice"
        );
        assert_eq!(total, listed_text(&s.handles.dataset), "{variant:?}");
        s.handles.shutdown().await;
    }
}

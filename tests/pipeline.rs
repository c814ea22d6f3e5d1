//! The whole pipeline against the three in-process simulators: nothing lost, nothing twice.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use digital_recovery::api::{ArchivedRecordings, MatchCounts};
use digital_recovery::cli::demo::{client_credentials, demo_options, demo_recovery};
use digital_recovery::cli::recover::run_recovery;
use digital_recovery::cli::summary::RunSummary;
use digital_recovery::pipeline::journal::MemoryJournal;
use digital_recovery::pipeline::progress::OutcomeCounts;
use digital_recovery::pipeline::{Credentials, PipelineOptions};
use digital_recovery::sim::dataset::{FileState, RecordingSideState};
use digital_recovery::sim::recording::{
    RecordingSimConfig, RecordingStore, SimReport, factory_with_store,
};
use digital_recovery::sim::{self, SimConfig, SimHandles};

struct Sims {
    handles: SimHandles,
    store: Arc<RecordingStore>,
}

async fn sims(conversations: usize, faults: &str, recording: RecordingSimConfig) -> Sims {
    sims_with(conversations, faults, recording, |_| {}).await
}

/// [`sims`] with the simulation's configuration changed by `tweak` first.
async fn sims_with(
    conversations: usize,
    faults: &str,
    recording: RecordingSimConfig,
    tweak: impl FnOnce(&mut SimConfig),
) -> Sims {
    let mut config = SimConfig::new(conversations);
    config.seed = 7;
    config.missing_rate = 0.08;
    config.partial_rate = 0.05;
    config.rate_limit = None;
    config.faults = faults.parse().expect("fault spec");
    tweak(&mut config);
    let slot = Arc::new(OnceLock::new());
    let handles = sim::start(config, Some(factory_with_store(recording, slot.clone())))
        .await
        .expect("simulators start");
    let store = slot.get().expect("recording store built").clone();
    Sims { handles, store }
}

fn quick() -> RecordingSimConfig {
    RecordingSimConfig {
        ingest_lag: Duration::from_millis(300),
        ..RecordingSimConfig::default()
    }
}

fn options() -> PipelineOptions {
    PipelineOptions {
        retry_interval: Duration::from_millis(300),
        verify_interval: Duration::from_millis(300),
        ..demo_options()
    }
}

async fn recover(s: &Sims, parallelism: u32, dry_run: bool) -> RunSummary {
    recover_with(s, parallelism, dry_run, options()).await
}

async fn recover_with(
    s: &Sims,
    parallelism: u32,
    dry_run: bool,
    options: PipelineOptions,
) -> RunSummary {
    let recovery = demo_recovery(&s.handles, parallelism, dry_run).expect("recovery");
    let creds = Credentials {
        genesys: client_credentials(&s.handles),
        recording_side: client_credentials(&s.handles),
    };
    run_recovery(&recovery, creds, options)
        .await
        .expect("recovery runs")
}

/// A retried shard (its first attempt killed after ingesting) reads the journal the first attempt
/// wrote: what DAS now holds because of that attempt still counts as missing/partial and as
/// recovered, so the status describes the whole recovery, not only the last attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_counts_what_an_earlier_attempt_recovered() {
    let s = sims(1500, "", quick()).await;
    let journal = Arc::new(MemoryJournal::default());
    let first = recover_with(
        &s,
        1,
        false,
        PipelineOptions {
            journal: journal.clone(),
            ..options()
        },
    )
    .await;
    let truth = s.store.report();
    assert_eq!(truth.still_missing, 0, "{truth:?}");
    let recorded: std::collections::HashMap<_, _> =
        journal.recorded.lock().iter().copied().collect();
    // Everything sent to Capture was journaled first (plus the archived ones, which were tried).
    assert_eq!(
        recorded.len() as u64,
        first.match_counts.missing + first.match_counts.partial
    );
    assert_eq!(
        recorded.values().filter(|partial| **partial).count() as u64,
        first.match_counts.partial
    );
    // Journaled a batch at a time (one write before the batch is sent), not one write per
    // conversation: at fleet scale those writes were most of the apiserver's work.
    let writes = journal.writes.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "journal: {} conversations in {writes} writes",
        recorded.len()
    );
    assert!(
        writes * 4 <= recorded.len(),
        "{writes} writes for {} conversations",
        recorded.len()
    );

    let retry = recover_with(
        &s,
        1,
        false,
        PipelineOptions {
            journal: Arc::new(MemoryJournal::with_earlier(recorded)),
            ..options()
        },
    )
    .await;
    assert_eq!(
        s.store.report().ingested,
        truth.ingested,
        "nothing sent again"
    );
    assert_eq!(retry.match_counts.missing, first.match_counts.missing);
    assert_eq!(retry.match_counts.partial, first.match_counts.partial);
    assert_eq!(retry.match_counts.matched, first.match_counts.matched);
    assert_eq!(retry.match_counts.genesys, first.match_counts.genesys);
    assert_eq!(
        retry.outcomes.verified, first.outcomes.verified,
        "{retry:?}"
    );
    assert_eq!(retry.outcomes.failed, first.outcomes.failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_every_missing_conversation_once_and_a_second_run_is_a_no_op() {
    let s = sims(3000, "", quick()).await;
    let before = s.store.report();
    assert!(before.expected_missing > 50, "{before:?}");

    let first = recover(&s, 3, false).await;
    let truth = s.store.report();
    assert_eq!(truth.still_missing, 0, "{truth:?}");
    assert_eq!(truth.duplicates, 0, "{truth:?}");
    assert_eq!(truth.conflicts, 0, "{truth:?}");
    // What the run says it did is what the recording side saw.
    assert_eq!(first.outcomes.recovered, truth.ingested, "{first:?}");
    assert_eq!(first.outcomes.verified, truth.ingested);
    assert_eq!(truth.ingested, truth.expected_missing);
    assert_eq!(first.outcomes.unverified, 0);
    // Withheld conversations Genesys never recorded: asked of the recordings API (no analytics
    // flag on text, as documented), each ends notRecorded, never failed or skipped unasked.
    assert!(truth.expected_not_recorded > 0, "{truth:?}");
    assert_eq!(
        first.outcomes.not_recorded, truth.expected_not_recorded,
        "{first:?}"
    );
    let m = first.match_counts;
    assert_eq!(m.genesys, m.matched + m.missing + m.partial + m.skipped);
    // Failures are only conversations whose lacking recordings are archived or deleted.
    assert!(
        first
            .failures
            .iter()
            .all(|f| matches!(f.reason.as_deref(), Some("archived" | "deleted"))),
        "{:?}",
        first.failures
    );

    let second = recover(&s, 3, false).await;
    let after = s.store.report();
    assert_eq!(second.outcomes.recovered, 0, "{second:?}");
    assert_eq!(after.ingested, truth.ingested, "nothing ingested again");
    assert_eq!(after.resent, 0);
    assert_eq!(after.duplicates, 0);
    assert_eq!(second.match_counts.genesys, m.genesys);
    assert_eq!(second.outcomes.failed, first.outcomes.failed);
}

/// The recordings of the queued conversations come in batch downloads: the same outcomes, to
/// the conversation and reason, as one `GET .../recordings` each, for far fewer Genesys calls;
/// only the conversations a batch did not answer in full (no recording, archived, deleted) are
/// asked one by one, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_in_batches_give_the_same_outcomes_for_fewer_calls() {
    const RECORDINGS: &str = "GET /api/v2/conversations/{id}/recordings";
    const BATCH: &str = "POST /api/v2/recording/batchrequests";
    let run = |in_batches: bool, batches_forbidden: bool| async move {
        let s = sims(3000, "", quick()).await;
        if batches_forbidden {
            // A client without the batch route's permission.
            s.handles.genesys.faults().refuse(
                axum::http::Method::POST,
                "/api/v2/recording/batchrequests",
                403,
            );
        }
        let summary = recover_with(
            &s,
            2,
            false,
            PipelineOptions {
                recordings_in_batches: in_batches,
                ..options()
            },
        )
        .await;
        let truth = s.store.report();
        assert_eq!(truth.still_missing, 0, "{truth:?}");
        assert_eq!(truth.duplicates, 0, "{truth:?}");
        let failures: std::collections::BTreeSet<_> = summary
            .failures
            .iter()
            .map(|f| (f.conversation_id, f.reason.clone()))
            .collect();
        (summary, failures, s.handles.genesys.requests())
    };
    let (one_by_one, one_by_one_failures, one_by_one_requests) = run(false, false).await;
    let (batched, batched_failures, batched_requests) = run(true, false).await;
    let (forbidden, forbidden_failures, forbidden_requests) = run(true, true).await;

    assert_eq!(batched.outcomes, one_by_one.outcomes, "{batched:?}");
    assert_eq!(batched.match_counts, one_by_one.match_counts);
    assert_eq!(batched_failures, one_by_one_failures);
    assert!(batched.outcomes.recovered > 100, "{batched:?}");
    assert!(batched.outcomes.not_recorded > 0, "{batched:?}");

    assert_eq!(one_by_one_requests.routes.get(BATCH), None);
    assert!(batched_requests.routes.get(BATCH).is_some_and(|n| *n > 0));
    let asked_alone = batched_requests.named_by(RECORDINGS);
    assert!(
        asked_alone
            .iter()
            .all(|id| batched_requests.of(*id, RECORDINGS) == 1)
    );
    // Asked alone: those a batch cannot settle (notRecorded and failed ones), and no more than
    // the few conversations of a batch too small to send.
    let unsettled = batched.outcomes.not_recorded + batched.outcomes.failed;
    assert!(asked_alone.len() as u64 >= unsettled, "{batched:?}");
    assert!(
        (asked_alone.len() as u64) < unsettled + 2 * 8,
        "{} asked alone, {unsettled} not settled by a batch",
        asked_alone.len()
    );
    assert!(
        batched.api_calls.genesys * 2 < one_by_one.api_calls.genesys,
        "{:?} vs {:?}",
        batched.api_calls,
        one_by_one.api_calls
    );

    // Batches refused for good (403): each shard stops asking after the first refusal (having
    // asked at most the batches it fetches ahead: 2), then fetches one by one, with the same
    // outcomes and no conversation asked alone twice.
    assert_eq!(forbidden.outcomes, one_by_one.outcomes, "{forbidden:?}");
    assert_eq!(forbidden.match_counts, one_by_one.match_counts);
    assert_eq!(forbidden_failures, one_by_one_failures);
    let submits = forbidden_requests.routes.get(BATCH).copied().unwrap_or(0);
    assert!((1..=4).contains(&submits), "{submits} batch submits");
    let asked_alone = forbidden_requests.named_by(RECORDINGS);
    assert_eq!(
        asked_alone.len(),
        one_by_one_requests.named_by(RECORDINGS).len()
    );
    assert!(
        asked_alone
            .iter()
            .all(|id| forbidden_requests.of(*id, RECORDINGS) == 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_the_fault_mix_without_loss_or_duplicates() {
    let s = sims(
        1500,
        "429=0.02,5xx=0.05,timeout=0.01,truncate=0.01,token-expiry=20s,transcode=0.3",
        quick(),
    )
    .await;
    let summary = recover(&s, 2, false).await;
    let truth = s.store.report();
    assert_eq!(truth.still_missing, 0, "{truth:?} {summary:?}");
    assert_eq!(truth.duplicates, 0, "{truth:?}");
    assert_eq!(truth.conflicts, 0, "{truth:?}");
    // A 201 whose answer was lost is sent again under the same Idempotency-Key and gets the 201
    // replayed (counted by the simulator as resent): each conversation counts once, as recovered
    // or (a 200: identical content already held) as already present, however many times it was
    // resent (a resend can lose its answer too).
    assert_eq!(
        summary.outcomes.recovered + summary.outcomes.already_present,
        truth.ingested,
        "{summary:?} {truth:?}"
    );
    assert!(summary.outcomes.already_present <= truth.resent);
    assert_eq!(
        summary.outcomes.verified,
        truth.ingested - summary.outcomes.already_present
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_items_are_reported_and_the_rest_recovered() {
    let s = sims(
        3000,
        "",
        RecordingSimConfig {
            reject_rate: 0.2,
            ..quick()
        },
    )
    .await;
    let summary = recover(&s, 1, false).await;
    let truth = s.store.report();
    let rejected = summary
        .failure_reasons
        .get("rejected")
        .copied()
        .unwrap_or_default();
    assert!(rejected > 0, "a 20% reject rate rejected nothing");
    assert!(
        summary
            .failures
            .iter()
            .filter(|f| f.reason.as_deref() == Some("rejected"))
            .all(|f| f.detail.as_deref().is_some_and(|d| d.contains("422")))
    );
    // Exactly the rejected ones are still missing; everything else arrived.
    assert_eq!(truth.still_missing, rejected, "{truth:?}");
    assert_eq!(truth.ingested + rejected, truth.expected_missing);
    assert_eq!(truth.duplicates, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_matches_and_changes_nothing() {
    let s = sims(2000, "", quick()).await;
    // Settling is judged against a fixed instant, so the counts below are exact: the window's
    // end, so that the conversations of its last half hour are not settled yet.
    let now = s.handles.config.window.end;
    // The demo recovery's settleDelay.
    let settled_by = now - SignedDuration::from_mins(30);
    // What the dataset says the match must find: Genesys returns the text conversations,
    // completed and open; DAS holds every one not withheld entirely; each settled one is
    // matched, missing or partial as the recording side was seeded, the others (open ones
    // included) skipped as not settled.
    let mut expected = MatchCounts::default();
    let (mut expected_missing_found, mut expected_missing_unsettled) = (0, 0);
    for conversation in &s.handles.dataset.conversations {
        if !conversation.is_text() {
            continue;
        }
        expected.genesys += 1;
        if conversation.recording_side != RecordingSideState::Missing {
            expected.recording_side += 1;
        }
        if conversation.end.is_none_or(|end| end > settled_by) {
            expected.skipped += 1;
            expected_missing_unsettled += u64::from(conversation.is_expected_missing());
            continue;
        }
        match conversation.recording_side {
            RecordingSideState::Held => expected.matched += 1,
            RecordingSideState::Missing => expected.missing += 1,
            RecordingSideState::Partial { .. } => expected.partial += 1,
        }
        expected_missing_found += u64::from(conversation.is_expected_missing());
    }
    assert!(
        expected.missing > 0 && expected.partial > 0 && expected.skipped > 0,
        "{expected:?}"
    );

    let summary = recover_with(
        &s,
        2,
        true,
        PipelineOptions {
            now: Some(now),
            ..options()
        },
    )
    .await;
    assert_eq!(summary.match_counts, expected);
    assert_eq!(
        summary.outcomes,
        OutcomeCounts::default(),
        "a DryRun fetches and sends nothing"
    );
    assert!(summary.failure_reasons.is_empty(), "{summary:?}");
    assert_eq!(summary.api_calls.capture, 0, "DryRun never calls Capture");

    let truth = s.store.report();
    // Every conversation the simulator counts as recoverably missing was found missing or
    // partial, or is not settled yet; and nothing changed on the recording side.
    assert_eq!(
        expected_missing_found + expected_missing_unsettled,
        truth.expected_missing
    );
    assert_eq!(
        truth,
        SimReport {
            still_missing: truth.expected_missing,
            ingested: 0,
            resent: 0,
            duplicates: 0,
            conflicts: 0,
            ..truth
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_in_time_chunks_counts_as_whole_and_recovers_everything_once() {
    let s = sims(3000, "", quick()).await;
    // About 200 conversations per chunk: a dozen chunks, each edge a chance to misclassify.
    let chunked = || PipelineOptions {
        chunk_conversations: 200,
        ..options()
    };
    let whole = || PipelineOptions {
        chunk_conversations: 0,
        ..options()
    };
    let dry_whole = recover_with(&s, 1, true, whole()).await;
    let dry_chunked = recover_with(&s, 1, true, chunked()).await;
    assert_eq!(dry_chunked.match_counts, dry_whole.match_counts);
    assert_eq!(dry_chunked.outcomes, dry_whole.outcomes);

    let first = recover_with(&s, 1, false, chunked()).await;
    let truth = s.store.report();
    assert_eq!(truth.still_missing, 0, "{truth:?}");
    assert_eq!(truth.duplicates, 0, "{truth:?}");
    assert_eq!(truth.resent, 0, "{truth:?}");
    assert_eq!(truth.ingested, truth.expected_missing);
    assert_eq!(first.outcomes.verified, truth.ingested);
    assert_eq!(first.match_counts, dry_whole.match_counts);
}

/// The shards of a run share one recovery queue: when one shard's slice holds every missing
/// conversation, the other shards' pools (their own clients and tokens) recover some of them.
/// Each conversation is still its own shard's: counted in its totals and verified by it, whose
/// slice alone its DAS reads cover; nothing is lost or sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shards_share_their_missing_conversations() {
    let s = sims(3000, "", quick()).await;
    // The window widened to three times the data, in equal-time slices: the first two shards
    // own empty slices, the last one every conversation.
    let mut recovery = demo_recovery(&s.handles, 3, false).expect("recovery");
    let data = recovery.spec.window;
    let length = data.end.duration_since(data.start);
    recovery.spec.window.start = data.start.checked_sub(length * 2).expect("earlier start");
    let equal_time = || PipelineOptions {
        equal_time_slices: true,
        ..options()
    };
    let creds = || Credentials {
        genesys: client_credentials(&s.handles),
        recording_side: client_credentials(&s.handles),
    };
    let mut dry_run = recovery.clone();
    dry_run.spec.mode = digital_recovery::api::Mode::DryRun;
    let matching_only = run_recovery(&dry_run, creds(), equal_time())
        .await
        .expect("dry run");
    let run = run_recovery(&recovery, creds(), equal_time())
        .await
        .expect("recovery runs");

    let truth = s.store.report();
    assert_eq!(truth.still_missing, 0, "{truth:?}");
    assert_eq!(truth.duplicates, 0, "{truth:?}");
    assert_eq!(truth.resent, 0, "{truth:?}");
    assert_eq!(truth.ingested, truth.expected_missing);
    assert_eq!(run.outcomes.verified, truth.ingested, "{run:?}");
    let [empty_a, empty_b, full] = run.shards[..] else {
        panic!("three shards: {:?}", run.shards);
    };
    assert_eq!(full.conversations, run.match_counts.genesys);
    assert_eq!(full.recovered, truth.ingested, "{:?}", run.shards);
    for (empty, alone) in [empty_a, empty_b].iter().zip(&matching_only.shards) {
        assert_eq!((empty.conversations, empty.recovered), (0, 0));
        assert!(
            empty.genesys_calls > alone.genesys_calls,
            "an empty shard's pool fetched recordings of the full one's conversations: {empty:?} vs {alone:?} when matching only"
        );
    }
}

/// One conversation Genesys sends malformed (a `conversationId` that is no UUID, or a body that
/// cannot be parsed: the simulator's `malformed` fault) fails only itself, as
/// `malformedConversation`; the shard goes on and recovers everything else. Checked against the
/// simulators' ground truth: the recording side still lacks exactly the withheld conversations
/// the Genesys simulator spoiled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_conversation_fails_only_itself() {
    let s = sims(1500, "malformed=0.03", quick()).await;
    let faults = &s.handles.faults;
    // What the Genesys simulator spoils among the text conversations it serves (open ones too).
    let spoiled: Vec<_> = s
        .handles
        .dataset
        .conversations
        .iter()
        .filter(|c| c.is_text())
        .filter_map(|c| Some((c, faults.malforms(c.id)?)))
        .collect();
    let kinds: std::collections::HashSet<_> = spoiled.iter().map(|(_, m)| *m).collect();
    assert_eq!(kinds.len(), 2, "both kinds of malformation: {kinds:?}");
    let spoiled_withheld = spoiled
        .iter()
        .filter(|(c, _)| c.is_expected_missing())
        .count() as u64;
    assert!(spoiled_withheld > 0, "a withheld conversation is spoiled");

    let summary = recover(&s, 2, false).await;
    let truth = s.store.report();
    assert_eq!(
        summary
            .failure_reasons
            .get("malformedConversation")
            .copied(),
        Some(spoiled.len() as u64),
        "{summary:?}"
    );
    // Every other withheld conversation was recovered, once.
    assert_eq!(truth.still_missing, spoiled_withheld, "{truth:?}");
    assert_eq!(truth.ingested, truth.expected_missing - spoiled_withheld);
    assert_eq!(truth.duplicates, 0, "{truth:?}");
    assert_eq!(summary.outcomes.verified, truth.ingested);
    // The only other failures are the dataset's archived and deleted recordings.
    assert!(
        summary.failures.iter().all(|f| matches!(
            f.reason.as_deref(),
            Some("archived" | "deleted" | "malformedConversation")
        )),
        "{:?}",
        summary.failures
    );
}

/// Conversations not settled yet are carried over, and the run says from where a later one must
/// resume: the earliest start among them (checked against the dataset, not our own counts). With
/// `giveUpBefore` past them all they are given up instead: final, nothing to resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsettled_conversations_are_carried_from_the_earliest_start_or_given_up() {
    let s = sims(1000, "", quick()).await;
    // Settling judged at the window's end: its last half hour is not settled yet.
    let window = s.handles.config.window;
    let now = window.end;
    let settled_by = now - SignedDuration::from_mins(30);
    let unsettled: Vec<Timestamp> = s
        .handles
        .dataset
        .conversations
        .iter()
        .filter(|c| c.is_text() && c.start >= window.start && c.start < window.end)
        // Open ones too: Genesys lists them, and they are carried like the others.
        .filter(|c| c.end.is_none_or(|end| end > settled_by))
        .map(|c| c.start)
        .collect();
    assert!(
        s.handles
            .dataset
            .conversations
            .iter()
            .any(|c| c.is_text() && c.end.is_none()),
        "the dataset has open conversations"
    );
    assert!(unsettled.len() > 3, "{}", unsettled.len());
    let at_now = || PipelineOptions {
        now: Some(now),
        ..options()
    };
    let creds = || Credentials {
        genesys: client_credentials(&s.handles),
        recording_side: client_credentials(&s.handles),
    };

    let recovery = demo_recovery(&s.handles, 2, true).expect("recovery");
    let carried = run_recovery(&recovery, creds(), at_now())
        .await
        .expect("recovery runs");
    assert_eq!(carried.carried, unsettled.len() as u64, "{carried:?}");
    assert_eq!(carried.resume_from, unsettled.iter().min().copied());
    assert_eq!(carried.gave_up, 0);
    let json = carried.to_json();
    assert_eq!(
        json["resumeFrom"].as_str(),
        unsettled.iter().min().map(|t| t.to_string()).as_deref()
    );

    let mut giving_up = recovery.clone();
    giving_up.spec.give_up_before = Some(now);
    let gave_up = run_recovery(&giving_up, creds(), at_now())
        .await
        .expect("recovery runs");
    assert_eq!(gave_up.gave_up, unsettled.len() as u64, "{gave_up:?}");
    assert_eq!((gave_up.carried, gave_up.resume_from), (0, None));
    assert_eq!(gave_up.to_json()["resumeFrom"], serde_json::Value::Null);
}

/// Simulators where a fifth of the recorded conversations have archived recordings, restored
/// after `restore_delay` once asked.
async fn archived_sims(faults: &str, restore_delay: Duration) -> Sims {
    sims_with(1500, faults, quick(), |config| {
        // No open conversations: what these runs carry is archived ones only.
        config.open_rate = 0.0;
        config.archived_rate = 0.2;
        config.restore_delay = restore_delay;
    })
    .await
}

/// The demo recovery of `s`, archived recordings handled as `policy`.
async fn recover_archived(
    s: &Sims,
    policy: ArchivedRecordings,
    options: PipelineOptions,
) -> RunSummary {
    let mut recovery = demo_recovery(&s.handles, 2, false).expect("recovery");
    recovery.spec.archived_recordings = policy;
    let creds = Credentials {
        genesys: client_credentials(&s.handles),
        recording_side: client_credentials(&s.handles),
    };
    run_recovery(&recovery, creds, options)
        .await
        .expect("recovery runs")
}

/// The archived recordings a recovery with `Restore` must ask Genesys to restore, from the
/// dataset: every archived recording of the conversations withheld with archived recordings
/// (an archived stub does not name its session, so any of them may be the lacking one).
fn archived_recordings_to_restore(s: &Sims) -> u64 {
    s.handles
        .dataset
        .conversations
        .iter()
        .filter(|c| c.is_expected_archived())
        .flat_map(|c| &c.recordings)
        .filter(|r| r.file_state == FileState::Archived)
        .count() as u64
}

fn reason_count(summary: &RunSummary, reason: &str) -> u64 {
    summary.failure_reasons.get(reason).copied().unwrap_or(0)
}

/// By default archived recordings are reported: each conversation withheld with archived
/// recordings ends `archived` (final), and Genesys is never asked to restore anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_recordings_are_reported_by_default() {
    let s = archived_sims("", Duration::ZERO).await;
    let before = s.store.report();
    assert!(before.expected_archived >= 10, "{before:?}");
    let summary = recover_archived(&s, ArchivedRecordings::Report, options()).await;
    let truth = s.store.report();
    assert_eq!(reason_count(&summary, "archived"), truth.expected_archived);
    assert_eq!(truth.archived_still_missing, truth.expected_archived);
    assert_eq!((truth.restore_requested, truth.restored), (0, 0));
    assert_eq!(truth.still_missing, 0, "{truth:?}");
    assert_eq!(truth.duplicates, 0);
    assert_eq!(summary.carried, 0, "archived is final: {summary:?}");
    let archived = summary
        .failures
        .iter()
        .find(|f| f.reason.as_deref() == Some("archived"))
        .expect("an archived conversation in the report");
    assert!(
        archived
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("archived on")),
        "{archived:?}"
    );
}

/// With `Restore` the worker asks Genesys to restore each archived recording, waits while they
/// are RESTORING, and recovers the conversations once RESTORED, in the same run: nothing is
/// left archived, nothing is sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_recordings_are_restored_and_recovered_with_restore() {
    let s = archived_sims("", Duration::from_millis(500)).await;
    let to_restore = archived_recordings_to_restore(&s);
    let summary = recover_archived(&s, ArchivedRecordings::Restore, options()).await;
    let truth = s.store.report();
    assert!(truth.expected_archived >= 10, "{truth:?}");
    assert_eq!(truth.archived_still_missing, 0, "{truth:?} {summary:?}");
    assert_eq!(truth.still_missing, 0, "{truth:?}");
    assert_eq!(truth.duplicates, 0, "{truth:?}");
    assert_eq!(
        truth.ingested,
        truth.expected_missing + truth.expected_archived
    );
    assert_eq!(
        (truth.restore_requested, truth.restored),
        (to_restore, to_restore)
    );
    assert_eq!(
        s.handles.genesys.stats().restore_requests,
        to_restore,
        "each recording asked for once"
    );
    assert_eq!(summary.outcomes.verified, truth.ingested, "{summary:?}");
    assert_eq!(reason_count(&summary, "archived"), 0, "{summary:?}");
    assert_eq!(summary.carried, 0, "{summary:?}");
}

/// A restoration not done by the run's retry deadline is carried as `restoring` (the run resumes
/// from the earliest of those conversations); a later run, once Genesys restored the
/// recordings, recovers them without asking again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restoration_still_running_is_carried_and_recovered_by_a_later_run() {
    // Restorations take an hour until the test says otherwise.
    let s = archived_sims("", Duration::from_secs(3600)).await;
    let to_restore = archived_recordings_to_restore(&s);
    let earliest_archived = s
        .handles
        .dataset
        .conversations
        .iter()
        .filter(|c| c.is_expected_archived())
        .map(|c| c.start)
        .min();
    let short = PipelineOptions {
        retry_deadline: Duration::from_secs(1),
        ..options()
    };
    let first = recover_archived(&s, ArchivedRecordings::Restore, short).await;
    let truth = s.store.report();
    assert_eq!(reason_count(&first, "restoring"), truth.expected_archived);
    assert_eq!(first.carried, truth.expected_archived, "{first:?}");
    assert_eq!(first.resume_from, earliest_archived);
    assert_eq!(truth.archived_still_missing, truth.expected_archived);
    assert_eq!((truth.restore_requested, truth.restored), (to_restore, 0));
    let asked = s.handles.genesys.stats().restore_requests;
    assert_eq!(asked, to_restore, "each recording asked for once");

    s.handles.genesys.restorations().set_delay(Duration::ZERO);
    let later = recover_archived(&s, ArchivedRecordings::Restore, options()).await;
    let truth = s.store.report();
    assert_eq!(truth.archived_still_missing, 0, "{truth:?} {later:?}");
    assert_eq!(truth.duplicates, 0);
    assert_eq!(truth.restored, to_restore);
    assert_eq!(
        s.handles.genesys.stats().restore_requests,
        asked,
        "a RESTORED recording is not asked for again"
    );
    assert_eq!(
        later.outcomes.verified, truth.expected_archived,
        "{later:?}"
    );
    assert_eq!((later.carried, later.resume_from), (0, None));
}

/// Without the permission Genesys answers the restore request 403: the conversation ends final
/// with reason `restoreForbidden`, its detail naming the permission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_restoration_is_final_and_names_the_permission() {
    let s = archived_sims("restore-forbidden=1", Duration::ZERO).await;
    let summary = recover_archived(&s, ArchivedRecordings::Restore, options()).await;
    let truth = s.store.report();
    assert!(truth.expected_archived >= 10, "{truth:?}");
    assert_eq!(
        reason_count(&summary, "restoreForbidden"),
        truth.expected_archived
    );
    // One refused request per conversation: the first refusal settles it.
    assert_eq!(truth.restore_forbidden, truth.expected_archived);
    assert_eq!((truth.restore_requested, truth.restored), (0, 0));
    assert_eq!(truth.archived_still_missing, truth.expected_archived);
    assert_eq!(truth.still_missing, 0, "the rest is recovered: {truth:?}");
    assert_eq!(summary.carried, 0, "final, not carried: {summary:?}");
    let forbidden = summary
        .failures
        .iter()
        .find(|f| f.reason.as_deref() == Some("restoreForbidden"))
        .expect("a refused restoration in the report");
    let detail = forbidden.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("recording:recording:editRetention") && detail.contains("403"),
        "{detail}"
    );
}

/// `messageTypes: [sms]` narrows social end to end: only SMS social conversations are listed
/// (the analytics filter), recovered, and counted; social contacts of other channels the
/// recording side holds are not taken for extras; chat and email go on as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_types_narrow_social_end_to_end() {
    use digital_recovery::api::MediaType;
    use digital_recovery::sim::dataset::{MessageType, SimConversation, SimMedia};

    let s = sims(3000, "", quick()).await;
    let withheld: Vec<(uuid::Uuid, usize, Option<Vec<String>>)> = s
        .store
        .expected()
        .into_iter()
        .map(|(id, recoverable)| (id, recoverable, s.store.held_sessions(id)))
        .collect();
    let mut recovery = demo_recovery(&s.handles, 2, false).expect("recovery");
    recovery.spec.message_types = vec!["sms".into()];
    let creds = Credentials {
        genesys: client_credentials(&s.handles),
        recording_side: client_credentials(&s.handles),
    };
    let run = run_recovery(&recovery, creds, options())
        .await
        .expect("recovery runs");

    let dataset = &s.handles.dataset;
    let wanted = |c: &SimConversation| match c.media_type {
        SimMedia::Chat | SimMedia::Email => true,
        SimMedia::Message => c.message_type == Some(MessageType::Sms),
        _ => false,
    };
    // The query lists the wanted conversations, completed and open.
    let listed = dataset.conversations.iter().filter(|c| wanted(c)).count() as u64;
    assert_eq!(run.match_counts.genesys, listed, "{:?}", run.match_counts);
    let sms = dataset
        .conversations
        .iter()
        .filter(|c| c.message_type == Some(MessageType::Sms))
        .count() as u64;
    assert!(sms > 0);
    let social = run
        .by_media_type
        .get(&MediaType::Social)
        .map(|(m, _)| m.genesys);
    assert_eq!(social, Some(sms));
    assert_eq!(run.match_counts.extra, 0, "{:?}", run.match_counts);

    // Ground truth: every recoverable withheld conversation of a wanted channel is now held in
    // full, and every one of another social channel is held exactly as before.
    let by_id: std::collections::HashMap<_, _> =
        dataset.conversations.iter().map(|c| (c.id, c)).collect();
    let (mut recovered, mut left) = (0, 0);
    for (id, recoverable, before) in withheld {
        let conversation = by_id
            .get(&id)
            .expect("withheld conversation in the dataset");
        let after = s.store.held_sessions(id);
        if !wanted(conversation) {
            assert_eq!(after, before, "{id} of another channel was touched");
            left += u64::from(recoverable > 0);
        } else if recoverable > 0 {
            assert_ne!(after, before, "{id} of a wanted channel was not recovered");
            recovered += 1;
        }
    }
    assert!(
        recovered > 0 && left > 0,
        "recovered {recovered}, left {left}"
    );
    let truth = s.store.report();
    assert_eq!(truth.duplicates, 0);
    assert_eq!(truth.still_missing, left, "{truth:?}");
}

/// A conversation still open when its window ran is recovered by the next window, which starts
/// where the first run said to resume (`resumeFrom`) with no overlap, as a schedule with
/// `overlap: 0` picks it: open conversations are listed and carried, not left out and
/// forgotten. The simulator shows a conversation whose end is still ahead as open (no
/// conversationEnd), so ending the data 19 minutes ago (conversations end at most 20 minutes
/// past it) leaves the longest of its last ones open for up to a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_open_when_its_window_ran_is_recovered_by_the_next_window() {
    use digital_recovery::api::Window;

    let now = Timestamp::now();
    let window = Window {
        start: now - SignedDuration::from_mins(50),
        end: now - SignedDuration::from_mins(19),
    };
    let s = sims_with(1500, "", quick(), |config| {
        config.window = window;
        // Every conversation ends (some only after the first run): nothing else is carried.
        config.open_rate = 0.0;
    })
    .await;
    // Missing, recoverable, and open while the first run lists them (they end a minute from
    // now; the margin is for the simulators' and the run's start).
    let open_at_first = now + SignedDuration::from_secs(30);
    let closing: Vec<_> = s
        .handles
        .dataset
        .conversations
        .iter()
        .filter(|c| {
            c.is_expected_missing()
                && c.recording_side == RecordingSideState::Missing
                && c.end.is_some_and(|end| end > open_at_first)
        })
        .collect();
    assert!(closing.len() >= 3, "{} closing", closing.len());
    let closes_at = closing.iter().filter_map(|c| c.end).max().expect("an end");
    let creds = || Credentials {
        genesys: client_credentials(&s.handles),
        recording_side: client_credentials(&s.handles),
    };

    let mut first = demo_recovery(&s.handles, 2, false).expect("recovery");
    first.spec.window = window;
    first.spec.settle_delay = "1s".into();
    let before = run_recovery(&first, creds(), options())
        .await
        .expect("first run");
    assert!(
        closing
            .iter()
            .all(|c| s.store.held_sessions(c.id).is_none()),
        "open conversations cannot be recovered yet"
    );
    let earliest_open = closing.iter().map(|c| c.start).min().expect("a start");
    assert!(before.carried >= closing.len() as u64, "{before:?}");
    let resume_from = before
        .resume_from
        .expect("the first run carries the open ones");
    assert!(
        resume_from <= earliest_open,
        "{resume_from} > {earliest_open}"
    );

    // Once they have ended: the next window, from resumeFrom (overlap 0) to now.
    let wait = closes_at.duration_since(Timestamp::now()) + SignedDuration::from_secs(2);
    if wait.is_positive() {
        tokio::time::sleep(wait.unsigned_abs()).await;
    }
    let mut next = first.clone();
    next.spec.window = Window {
        start: resume_from,
        end: Timestamp::now(),
    };
    let after = run_recovery(&next, creds(), options())
        .await
        .expect("next run");
    assert_eq!((after.carried, after.resume_from), (0, None), "{after:?}");
    for c in &closing {
        assert!(
            s.store.held_sessions(c.id).is_some(),
            "{} (open until {:?}) was recovered by the next window",
            c.id,
            c.end
        );
    }
    let truth = s.store.report();
    assert_eq!((truth.still_missing, truth.duplicates), (0, 0), "{truth:?}");
}

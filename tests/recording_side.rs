//! The DAS and Capture clients against their simulators, in process on port 0.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use digital_recovery::api::MatchCounts;
use digital_recovery::api::{MediaType, Window};
use digital_recovery::http::{RetryPolicy, Secret};
use digital_recovery::pipeline::matcher::{
    Category, Classified, ContactIndex, ConversationSummary, DEFAULT_TOLERANCE, MatchConfig,
    Matcher, SessionSummary, SkipReason,
};
use digital_recovery::sim::dataset::{
    Dataset, DatasetConfig, FileState, RecordingSideState, SimConversation,
};
use digital_recovery::sim::faults::{FaultKind, Faults};
use digital_recovery::sim::recording::{
    RecordingSimConfig, RecordingStore, SimReport, capture_router, das_router,
};
use digital_recovery::verint::capture::{
    CaptureInteraction, CaptureOutcome, CaptureSession, CaptureTranscript,
};
use digital_recovery::verint::das::{Contact, ContactQuery};
use digital_recovery::verint::{RecordingSide, RecordingSideError, RecordingSideSettings};
use futures::TryStreamExt;
use jiff::SignedDuration;
use uuid::Uuid;

fn window() -> Window {
    Window {
        start: "2026-11-20T00:00:00Z".parse().unwrap(),
        end: "2026-11-21T00:00:00Z".parse().unwrap(),
    }
}

fn dataset(conversations: usize) -> Dataset {
    let mut config = DatasetConfig::new(7, conversations, window());
    config.missing_rate = 0.1;
    config.partial_rate = 0.3;
    Dataset::generate(&config)
}

fn sim_config() -> RecordingSimConfig {
    RecordingSimConfig {
        ingest_lag: Duration::ZERO,
        ..RecordingSimConfig::default()
    }
}

struct Sim {
    store: Arc<RecordingStore>,
    das: String,
    capture: String,
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

async fn start(store: RecordingStore) -> Sim {
    let store = Arc::new(store);
    Sim {
        das: serve(das_router(store.clone())).await,
        capture: serve(capture_router(store.clone())).await,
        store,
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

fn settings(sim: &Sim, secret: &str) -> RecordingSideSettings {
    let mut settings = RecordingSideSettings::new(
        &sim.das,
        &sim.capture,
        "demo",
        "sim-client",
        Secret::new(secret),
    );
    settings.retry = fast_retry();
    settings
}

fn connect(sim: &Sim) -> RecordingSide {
    RecordingSide::connect(&settings(sim, "sim-secret")).unwrap()
}

async fn all_contacts(
    side: &RecordingSide,
    query: ContactQuery,
) -> Result<(Vec<Contact>, usize), RecordingSideError> {
    let pages: Vec<_> = side.das.contact_pages(query).try_collect().await?;
    let count = pages.len();
    Ok((pages.into_iter().flat_map(|p| p.contacts).collect(), count))
}

/// What a recovery would send for a conversation: its sessions with an available recording and
/// their transcripts.
fn interaction_for(data: &Dataset, conversation: &SimConversation) -> CaptureInteraction {
    let media_type = conversation.media_type.spec_media_type().unwrap();
    let available: Vec<_> = conversation
        .recordings
        .iter()
        .filter(|r| r.file_state == FileState::Available)
        .collect();
    let sessions = available
        .iter()
        .map(|r| CaptureSession {
            session_id: r.session_id.to_string(),
            media_type,
            message_type: conversation.message_type.map(|m| m.as_str().to_string()),
        })
        .collect();
    let transcripts = available
        .iter()
        .map(|r| CaptureTranscript {
            recording_id: r.id.to_string(),
            media: r.media.recording_media().to_string(),
            messages: data.transcript(conversation, r),
        })
        .collect();
    CaptureInteraction::new(
        conversation.id.to_string(),
        media_type,
        conversation.start,
        conversation.end,
        sessions,
        transcripts,
    )
}

fn expected_missing(data: &Dataset) -> Vec<&SimConversation> {
    data.conversations
        .iter()
        .filter(|c| c.is_expected_missing())
        .collect()
}

async fn report(sim: &Sim) -> SimReport {
    reqwest::get(format!("{}/sim/report", sim.capture))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn das_pages_through_every_held_contact_once() {
    let data = dataset(2500);
    let sim = start(RecordingStore::seeded(&data, &sim_config())).await;
    let side = connect(&sim);
    let mut query = ContactQuery::new(window(), MediaType::ALL.to_vec());
    query.limit = 97;
    let (contacts, pages) = all_contacts(&side, query).await.unwrap();
    // One token request, then one call per page.
    assert_eq!(side.das_counters.calls(), pages as u64 + 1);

    let held: HashSet<String> = data
        .conversations
        .iter()
        .filter(|c| c.is_text() && c.is_completed() && !c.held_sessions().is_empty())
        .map(|c| c.id.to_string())
        .collect();
    let ids: Vec<String> = contacts
        .iter()
        .filter_map(|c| c.external_id.clone())
        .collect();
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "no contact twice");
    assert_eq!(unique, held);
    assert_eq!(pages, held.len().div_ceil(97), "pages of 97");
    for c in &contacts {
        let start = c.start().unwrap();
        assert!(start >= window().start && start < window().end);
        let conversation = data
            .find(c.external_id.as_deref().unwrap().parse().unwrap())
            .unwrap();
        let sessions: Vec<String> = conversation
            .held_sessions()
            .iter()
            .map(|s| s.id.to_string())
            .collect();
        assert_eq!(c.session_ids, sessions);
    }
    // Narrowing by media type and time.
    let half = Window {
        start: window().start,
        end: window().start + SignedDuration::from_hours(12),
    };
    let (chats, _) = all_contacts(&side, ContactQuery::new(half, vec![MediaType::Chat]))
        .await
        .unwrap();
    assert!(!chats.is_empty());
    assert!(chats.len() < contacts.len());
    assert!(chats.iter().all(
        |c| c.media_type.as_deref() == Some("chat") && c.start().is_some_and(|s| s < half.end)
    ));
}

#[tokio::test]
async fn das_errors_are_typed() {
    let sim = start(RecordingStore::seeded(&dataset(50), &sim_config())).await;
    let mut settings = settings(&sim, "sim-secret");
    settings.tenant = "other".into();
    let side = RecordingSide::connect(&settings).unwrap();
    let err = all_contacts(&side, ContactQuery::new(window(), vec![]))
        .await
        .unwrap_err();
    match err {
        RecordingSideError::Api { status, code, .. } => {
            assert_eq!((status, code.as_str()), (404, "not.found"));
        }
        other => panic!("unexpected {other:?}"),
    }
    // A bad cursor is a 400 naming it.
    let side = connect(&sim);
    let err = side
        .das
        .page(&ContactQuery::new(window(), vec![]), Some("zz"))
        .await
        .unwrap_err();
    match err {
        RecordingSideError::Api {
            status, message, ..
        } => {
            assert_eq!(status, 400);
            assert!(message.contains("cursor"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn auth_failures_are_reported_and_tokens_are_checked() {
    let sim = start(RecordingStore::seeded(&dataset(50), &sim_config())).await;
    let side = RecordingSide::connect(&settings(&sim, "wrong-secret")).unwrap();
    let err = all_contacts(&side, ContactQuery::new(window(), vec![]))
        .await
        .unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("invalid_client"), "{text}");
    assert!(
        !text.contains("wrong-secret"),
        "the secret never shows: {text}"
    );

    // Every API route checks the bearer token, answering in the error shape.
    let http = reqwest::Client::new();
    let url = format!(
        "{}/api/v1/tenants/demo/contacts?from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z",
        sim.das
    );
    let missing = http.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "authentication.required");
    let bad = http.get(&url).bearer_auth("forged").send().await.unwrap();
    assert_eq!(bad.status(), 401);
    let put = http
        .put(format!(
            "{}/api/v1/tenants/demo/interactions/x",
            sim.capture
        ))
        .bearer_auth("forged")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 401);
}

#[tokio::test]
async fn a_revoked_token_is_replaced_and_5xx_are_retried() {
    let faults = Arc::new(Faults::none());
    let store = RecordingStore::seeded(&dataset(200), &sim_config()).with_faults(faults.clone());
    let sim = start(store).await;
    let side = connect(&sim);
    let (before, _) = all_contacts(&side, ContactQuery::new(window(), vec![]))
        .await
        .unwrap();
    faults.force(FaultKind::TokenRevoke, 1);
    faults.force(FaultKind::Status(503), 1);
    faults.force(FaultKind::Status(500), 1);
    faults.force(FaultKind::TooManyRequests, 1);
    let (after, _) = all_contacts(&side, ContactQuery::new(window(), vec![]))
        .await
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(faults.injected(), 4);
    assert_eq!(
        side.das_counters.throttled(),
        1,
        "the 429 was waited out, not failed"
    );
}

/// Our client's key is its content identity, so sending the same content twice is the same key
/// twice: Capture replays the first answer (201), whoever the second PUT says sent it.
#[tokio::test]
async fn the_same_put_twice_is_one_interaction_and_the_first_answer_replayed() {
    let data = dataset(300);
    let sim = start(RecordingStore::seeded(&data, &sim_config())).await;
    let side = connect(&sim);
    let lost = expected_missing(&data)
        .into_iter()
        .find(|c| c.held_sessions().is_empty())
        .unwrap();
    let interaction = interaction_for(&data, lost);
    let first = side.capture.put(&interaction).await.unwrap();
    assert_eq!(first.outcome, CaptureOutcome::Ingested);
    // Who sent it does not change the content.
    let mut again = interaction.clone();
    again.recovery = Some(digital_recovery::verint::capture::RecoveryRef {
        namespace: "ns".into(),
        name: "second-run".into(),
    });
    let second = side.capture.put(&again).await.unwrap();
    assert_eq!(second.outcome, CaptureOutcome::Ingested, "the 201 replayed");
    assert_eq!(first.idempotency_key, second.idempotency_key);
    let r = report(&sim).await;
    assert_eq!(
        (r.ingested, r.resent, r.duplicates, r.conflicts),
        (1, 1, 0, 0)
    );
    let (contacts, _) = all_contacts(&side, ContactQuery::new(window(), vec![]))
        .await
        .unwrap();
    let lost_id = lost.id.to_string();
    assert_eq!(
        contacts
            .iter()
            .filter(|c| c.external_id.as_deref() == Some(lost_id.as_str()))
            .count(),
        1
    );
}

/// A bearer token for hand-made requests, as any client of the contract gets one.
async fn token(sim: &Sim) -> String {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/oauth/token", sim.das))
        .basic_auth("sim-client", Some("sim-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// A PUT as another client (an operator's script, a second tool) would make it: its own key, or
/// none. Returns the status and the body's bytes.
async fn put_as_other_client(
    sim: &Sim,
    token: &str,
    body: &serde_json::Value,
    key: Option<&str>,
) -> (u16, Vec<u8>) {
    let id = body["conversationId"].as_str().unwrap();
    let mut request = reqwest::Client::new()
        .put(format!(
            "{}/api/v1/tenants/demo/interactions/{id}",
            sim.capture
        ))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

fn error_message(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap();
    value["error"]["message"].as_str().unwrap().to_string()
}

/// `Idempotency-Key` is the client's opaque choice (design.md section 8): a random UUID works,
/// the same key with the same content replays the first answer byte for byte, and whether
/// content is already held is decided on the content, not the key.
#[tokio::test]
async fn any_idempotency_key_works_and_the_same_key_replays_the_first_answer() {
    let data = dataset(300);
    let sim = start(RecordingStore::seeded(&data, &sim_config())).await;
    let token = token(&sim).await;
    let lost = expected_missing(&data)
        .into_iter()
        .find(|c| c.held_sessions().is_empty())
        .unwrap();
    let body = serde_json::to_value(interaction_for(&data, lost)).unwrap();
    let key = Uuid::new_v4().to_string();

    let (status, first) = put_as_other_client(&sim, &token, &body, Some(&key)).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&first));
    assert_eq!(
        sim.store.held_sessions(lost.id).map(|s| s.len()),
        Some(interaction_for(&data, lost).sessions.len())
    );
    // A retry after a lost answer: the same key, the same content (another `recovery` and field
    // order do not change the content).
    let mut retry = body.clone();
    retry["recovery"] = serde_json::json!({"namespace": "ops", "name": "script"});
    let (status, replayed) = put_as_other_client(&sim, &token, &retry, Some(&key)).await;
    assert_eq!(
        (status, &replayed),
        (201, &first),
        "the first answer, replayed"
    );
    // The same content under another key: content identity says it is held already.
    let other_key = Uuid::new_v4().to_string();
    let (status, _) = put_as_other_client(&sim, &token, &body, Some(&other_key)).await;
    assert_eq!(status, 200);
    // Different content under a new key: a conflict, never an overwrite.
    let mut altered = body.clone();
    altered["transcripts"][0]["messages"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"body": "a message Genesys never had"}));
    let (status, _) = put_as_other_client(&sim, &token, &altered, Some("yet-another-key")).await;
    assert_eq!(status, 409);
    let r = report(&sim).await;
    assert_eq!(
        (r.ingested, r.resent, r.duplicates, r.conflicts),
        (1, 2, 0, 1),
        "{r:?}"
    );
    // Our own client sending the same content (with its own key) is told it is held.
    let receipt = connect(&sim)
        .capture
        .put(&interaction_for(&data, lost))
        .await
        .unwrap();
    assert_eq!(receipt.outcome, CaptureOutcome::AlreadyPresent);
}

#[tokio::test]
async fn reusing_a_key_for_other_content_is_a_422_naming_the_header() {
    let data = dataset(300);
    let sim = start(RecordingStore::seeded(&data, &sim_config())).await;
    let token = token(&sim).await;
    let lost: Vec<_> = expected_missing(&data)
        .into_iter()
        .filter(|c| c.held_sessions().is_empty())
        .take(2)
        .collect();
    let key = Uuid::new_v4().to_string();
    let first = serde_json::to_value(interaction_for(&data, lost[0])).unwrap();
    assert_eq!(
        put_as_other_client(&sim, &token, &first, Some(&key))
            .await
            .0,
        201
    );

    // The same key for another conversation, and for other content of the same one.
    let other = serde_json::to_value(interaction_for(&data, lost[1])).unwrap();
    let mut altered = first.clone();
    altered["transcripts"][0]["messages"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"body": "more"}));
    for body in [&other, &altered] {
        let (status, answer) = put_as_other_client(&sim, &token, body, Some(&key)).await;
        assert_eq!(status, 422);
        let message = error_message(&answer);
        assert!(message.starts_with("Idempotency-Key"), "{message}");
    }
    assert_eq!(
        sim.store.held_sessions(lost[1].id),
        None,
        "nothing ingested"
    );
    let r = report(&sim).await;
    assert_eq!((r.ingested, r.resent, r.conflicts), (1, 0, 0), "{r:?}");
    assert_eq!(sim.store.stats().rejected, 2);
}

#[tokio::test]
async fn a_put_without_a_usable_idempotency_key_is_a_400_naming_the_header() {
    let data = dataset(300);
    let sim = start(RecordingStore::seeded(&data, &sim_config())).await;
    let token = token(&sim).await;
    let lost = expected_missing(&data)[0];
    let body = serde_json::to_value(interaction_for(&data, lost)).unwrap();
    let too_long = "k".repeat(256);
    for key in [None, Some(""), Some(too_long.as_str())] {
        let (status, answer) = put_as_other_client(&sim, &token, &body, key).await;
        assert_eq!(status, 400, "{key:?}");
        let message = error_message(&answer);
        assert!(message.starts_with("Idempotency-Key"), "{key:?}: {message}");
    }
    // 255 characters is the contract's limit, and fine.
    let longest = "k".repeat(255);
    let (status, _) = put_as_other_client(&sim, &token, &body, Some(&longest)).await;
    assert_eq!(status, 201);
    assert_eq!(report(&sim).await.ingested, 1);
    assert_eq!(sim.store.stats().rejected, 3);
}

/// The contacts page carries exactly the fields design.md section 8 names, each always present.
#[tokio::test]
async fn das_contacts_carry_exactly_the_contracts_fields() {
    let data = dataset(200);
    let sim = start(RecordingStore::seeded(&data, &sim_config())).await;
    let token = token(&sim).await;
    let page: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/tenants/demo/contacts?from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z&limit=5",
            sim.das
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&page), ["contacts", "nextCursor"]);
    assert!(page["nextCursor"].is_string());
    let contacts = page["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 5);
    for contact in contacts {
        assert_eq!(
            keys(contact),
            [
                "contactId",
                "endTime",
                "externalId",
                "mediaType",
                "messageType",
                "sessionIds",
                "source",
                "startTime"
            ]
        );
        assert_eq!(contact["source"], "genesys-cloud");
        assert!(contact["sessionIds"].is_array());
    }
}

#[tokio::test]
async fn different_content_for_a_held_interaction_is_a_conflict_and_never_overwrites() {
    let data = dataset(300);
    let sim = start(RecordingStore::seeded(&data, &sim_config())).await;
    let side = connect(&sim);
    let lost = expected_missing(&data)[0];
    let interaction = interaction_for(&data, lost);
    side.capture.put(&interaction).await.unwrap();
    let held_before = sim.store.held_sessions(lost.id);
    let mut altered = interaction.clone();
    altered.transcripts[0]
        .messages
        .push(serde_json::json!({"body": "a message Genesys never had"}));
    let receipt = side.capture.put(&altered).await.unwrap();
    assert!(
        matches!(receipt.outcome, CaptureOutcome::Conflict { .. }),
        "{receipt:?}"
    );
    assert_eq!(sim.store.held_sessions(lost.id), held_before);
    assert_eq!(report(&sim).await.conflicts, 1);
}

#[tokio::test]
async fn rejected_items_carry_the_servers_reason() {
    let data = dataset(300);
    let config = RecordingSimConfig {
        max_body_bytes: 64 * 1024,
        ..sim_config()
    };
    let sim = start(RecordingStore::seeded(&data, &config)).await;
    let side = connect(&sim);
    let lost = expected_missing(&data)[0];

    let mut no_transcripts = interaction_for(&data, lost);
    no_transcripts.transcripts.clear();
    match side.capture.put(&no_transcripts).await.unwrap().outcome {
        CaptureOutcome::Rejected {
            status, message, ..
        } => {
            assert_eq!(status, 422);
            assert!(message.starts_with("transcripts"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }

    let mut wrong_id = interaction_for(&data, lost);
    wrong_id.sessions.clear();
    match side.capture.put(&wrong_id).await.unwrap().outcome {
        CaptureOutcome::Rejected { message, .. } => {
            assert!(message.starts_with("sessions"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }

    let mut huge = interaction_for(&data, lost);
    huge.transcripts[0]
        .messages
        .push(serde_json::json!({"body": "x".repeat(100_000)}));
    match side.capture.put(&huge).await.unwrap().outcome {
        CaptureOutcome::Rejected { status, .. } => assert_eq!(status, 413),
        other => panic!("unexpected {other:?}"),
    }
    // Nothing of it was ingested.
    assert_eq!(report(&sim).await.ingested, 0);
    assert_eq!(sim.store.stats().rejected, 3);
}

#[tokio::test]
async fn the_reject_policy_refuses_chosen_conversations_only() {
    let data = dataset(600);
    let config = RecordingSimConfig {
        reject_rate: 0.5,
        ..sim_config()
    };
    let sim = start(RecordingStore::seeded(&data, &config)).await;
    let side = connect(&sim);
    let mut outcomes = Vec::new();
    for conversation in expected_missing(&data) {
        let receipt = side
            .capture
            .put(&interaction_for(&data, conversation))
            .await
            .unwrap();
        outcomes.push((conversation.id, receipt.outcome));
    }
    let rejected: Vec<Uuid> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, CaptureOutcome::Rejected { status: 422, .. }))
        .map(|(id, _)| *id)
        .collect();
    let ingested = outcomes
        .iter()
        .filter(|(_, o)| *o == CaptureOutcome::Ingested)
        .count();
    assert!(!rejected.is_empty() && ingested > 0, "{outcomes:?}");
    assert_eq!(rejected.len() + ingested, outcomes.len());
    // The same ones again: the choice is deterministic.
    let again = data.find(rejected[0]).unwrap();
    assert!(matches!(
        side.capture
            .put(&interaction_for(&data, again))
            .await
            .unwrap()
            .outcome,
        CaptureOutcome::Rejected { .. }
    ));
    assert_eq!(report(&sim).await.still_missing, rejected.len() as u64);
}

#[tokio::test]
async fn back_pressure_slows_puts_but_does_not_fail_them() {
    back_pressure_with(429).await;
}

#[tokio::test]
async fn a_503_with_retry_after_is_back_pressure_too() {
    back_pressure_with(503).await;
}

async fn back_pressure_with(busy_status: u16) {
    let data = dataset(400);
    let config = RecordingSimConfig {
        buffer_capacity: 2,
        drain_per_second: 4.0,
        busy_status,
        ..sim_config()
    };
    let sim = start(RecordingStore::seeded(&data, &config)).await;
    let side = connect(&sim);
    let lost: Vec<_> = expected_missing(&data).into_iter().take(8).collect();
    assert_eq!(lost.len(), 8);
    let puts = lost.iter().map(|c| {
        let capture = side.capture.clone();
        let interaction = interaction_for(&data, c);
        async move { capture.put(&interaction).await }
    });
    let receipts = futures::future::join_all(puts).await;
    for receipt in &receipts {
        let receipt = receipt.as_ref().unwrap();
        assert_eq!(receipt.outcome, CaptureOutcome::Ingested);
    }
    assert!(sim.store.stats().throttled > 0, "the buffer filled up");
    // The client counts 429s only (design.md's "throttled"), not 503s.
    assert_eq!(side.capture_counters.throttled() > 0, busy_status == 429);
    assert_eq!(report(&sim).await.ingested, 8);
}

#[tokio::test]
async fn back_pressure_is_bounded_in_time() {
    let data = dataset(300);
    let config = RecordingSimConfig {
        buffer_capacity: 1,
        drain_per_second: 0.01, // one slot every 100 s
        ..sim_config()
    };
    let sim = start(RecordingStore::seeded(&data, &config)).await;
    let mut settings = settings(&sim, "sim-secret");
    settings.retry.max_retry_after = Duration::from_secs(5);
    settings.back_pressure_limit = Duration::from_secs(30);
    let side = RecordingSide::connect(&settings).unwrap();
    let lost = expected_missing(&data);
    let first = side
        .capture
        .put(&interaction_for(&data, lost[0]))
        .await
        .unwrap();
    assert_eq!(first.outcome, CaptureOutcome::Ingested);
    let err = side
        .capture
        .put(&interaction_for(&data, lost[1]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RecordingSideError::BackPressureTimeout { status: 429, .. }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn ingested_interactions_appear_in_das_after_the_lag() {
    let data = dataset(300);
    let config = RecordingSimConfig {
        ingest_lag: Duration::from_millis(700),
        ..sim_config()
    };
    let sim = start(RecordingStore::seeded(&data, &config)).await;
    let side = connect(&sim);
    let lost = expected_missing(&data)
        .into_iter()
        .find(|c| c.held_sessions().is_empty())
        .unwrap();
    let id = lost.id.to_string();
    let visible = |contacts: &[Contact]| {
        contacts
            .iter()
            .any(|c| c.external_id.as_deref() == Some(id.as_str()))
    };
    let (before, _) = all_contacts(&side, ContactQuery::new(window(), vec![]))
        .await
        .unwrap();
    assert!(!visible(&before));
    side.capture
        .put(&interaction_for(&data, lost))
        .await
        .unwrap();
    let (during, _) = all_contacts(&side, ContactQuery::new(window(), vec![]))
        .await
        .unwrap();
    assert!(!visible(&during), "not before the lag");
    // Held already: the report counts it as recovered.
    assert_eq!(report(&sim).await.ingested, 1);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (after, _) = all_contacts(&side, ContactQuery::new(window(), vec![]))
        .await
        .unwrap();
    assert!(visible(&after), "visible after the lag");
}

fn summary(conversation: &SimConversation) -> ConversationSummary {
    ConversationSummary {
        conversation_id: conversation.id,
        start: conversation.start,
        end: conversation.end,
        sessions: conversation
            .sessions
            .iter()
            .map(|s| SessionSummary {
                session_id: s.id,
                media_type: s.media_type.spec_media_type(),
                message_type: s.message_type.map(|m| m.as_str().to_string()),
                // The documented contract: text sessions carry no analytics `recording` flag.
                recording_flag: None,
            })
            .collect(),
    }
}

/// What the matcher must say of a conversation, from what the simulator seeded: open ones are
/// not settled, other non-text ones not requested, and a completed text conversation is matched,
/// missing or partial (lacking exactly the withheld sessions) as the recording side was seeded.
fn seeded_category(conversation: &SimConversation) -> Category {
    if !conversation.is_completed() {
        Category::Skipped(SkipReason::NotSettled)
    } else if !conversation.is_text() {
        Category::Skipped(SkipReason::MediaTypeNotRequested)
    } else {
        match &conversation.recording_side {
            RecordingSideState::Held => Category::Matched,
            RecordingSideState::Missing => Category::Missing,
            RecordingSideState::Partial { lacking_sessions } => Category::Partial {
                lacking: lacking_sessions.clone(),
            },
        }
    }
}

/// DAS inventory -> matcher -> Capture for what it finds -> the simulator's ground truth says
/// nothing is missing any more, and nothing was sent twice.
#[tokio::test]
async fn matcher_over_das_finds_exactly_what_the_simulator_withheld() {
    let data = dataset(3000);
    let sim = start(RecordingStore::seeded(&data, &sim_config())).await;
    let side = connect(&sim);
    let initial = report(&sim).await;
    assert_eq!(initial.expected_missing, data.expected_missing() as u64);
    assert_eq!(initial.still_missing, initial.expected_missing);

    let config = MatchConfig {
        slice: window(),
        media_types: MediaType::ALL.to_vec(),
        message_types: Vec::new(),
        settle_delay: SignedDuration::from_mins(30),
        // A day after the window: every completed conversation of it is settled, whatever the
        // clock says.
        now: window().end + SignedDuration::from_hours(24),
        tolerance: DEFAULT_TOLERANCE,
        trust_recording_flag: false,
    };
    let mut index = ContactIndex::new(window(), DEFAULT_TOLERANCE);
    let mut pages = side.das.contact_pages(ContactQuery::new(
        index.query_range(),
        MediaType::ALL.to_vec(),
    ));
    while let Some(page) = pages.try_next().await.unwrap() {
        index.insert_page(page.contacts.iter().map(Contact::record));
    }
    let mut matcher = Matcher::new(config, index);
    let mut to_recover = Vec::new();
    let mut expected_totals = MatchCounts::default();
    for conversation in &data.conversations {
        let Classified::Owned(verdict) = matcher.classify(&summary(conversation)) else {
            panic!("{} is in the window and seen once", conversation.id);
        };
        let expected = seeded_category(conversation);
        expected_totals.count(expected.kind());
        assert_eq!(verdict.category, expected, "{}", conversation.id);
        if verdict.needs_recovery() {
            to_recover.push(conversation);
        }
    }
    let report_m = matcher.finish();
    // The recording side holds a contact for every completed text conversation not missing.
    expected_totals.recording_side = data
        .conversations
        .iter()
        .filter(|c| {
            c.is_text() && c.is_completed() && c.recording_side != RecordingSideState::Missing
        })
        .count() as u64;
    assert_eq!(report_m.totals, expected_totals);
    // The dataset exercises every category.
    let t = expected_totals;
    assert!(
        t.matched > 0 && t.missing > 0 && t.partial > 0 && t.skipped > 0,
        "{t:?}"
    );
    assert_eq!(report_m.extras, Vec::<Uuid>::new());
    assert_eq!(report_m.anomalies.total(), 0);

    // Found: exactly the withheld conversations, of which those with a recording to fetch for
    // what the recording side lacks are the report's expectedMissing; the others have none
    // (never recorded, or archived/deleted).
    let withheld: HashSet<Uuid> = data
        .conversations
        .iter()
        .filter(|c| c.is_text() && c.is_completed() && c.recording_side != RecordingSideState::Held)
        .map(|c| c.id)
        .collect();
    let found: HashSet<Uuid> = to_recover.iter().map(|c| c.id).collect();
    assert_eq!(found, withheld);
    let expected: HashSet<Uuid> = expected_missing(&data).iter().map(|c| c.id).collect();
    assert_eq!(expected.len() as u64, initial.expected_missing);
    assert!(
        expected.len() < withheld.len(),
        "some withheld conversations have nothing to fetch"
    );
    for conversation in &to_recover {
        let recoverable = conversation.recordings.iter().any(|r| {
            r.file_state == FileState::Available
                && match &conversation.recording_side {
                    RecordingSideState::Partial { lacking_sessions } => {
                        lacking_sessions.contains(&r.session_id)
                    }
                    _ => true,
                }
        });
        assert_eq!(
            expected.contains(&conversation.id),
            recoverable,
            "{}",
            conversation.id
        );
    }

    for conversation in &to_recover {
        if expected.contains(&conversation.id) {
            let receipt = side
                .capture
                .put(&interaction_for(&data, conversation))
                .await
                .unwrap();
            assert_eq!(
                receipt.outcome,
                CaptureOutcome::Ingested,
                "{}",
                conversation.id
            );
        }
    }
    let after = report(&sim).await;
    assert_eq!(
        after,
        SimReport {
            still_missing: 0,
            ingested: initial.expected_missing,
            ..initial
        }
    );

    // Sending a conversation the recording side held all along is a duplicate.
    let held = data
        .conversations
        .iter()
        .find(|c| {
            c.is_text()
                && c.is_completed()
                && c.has_available_recording()
                && !withheld.contains(&c.id)
        })
        .unwrap();
    let receipt = side
        .capture
        .put(&interaction_for(&data, held))
        .await
        .unwrap();
    assert_eq!(receipt.outcome, CaptureOutcome::AlreadyPresent);
    assert_eq!(report(&sim).await.duplicates, 1);
}

/// The hook `sim::start` takes: DAS and Capture come up on their own ports, seeded from the same
/// dataset as the Genesys simulator.
#[tokio::test]
async fn plugs_into_sim_start() {
    let mut config = digital_recovery::sim::SimConfig::new(400);
    config.window = window();
    config.missing_rate = 0.2;
    let slot = Arc::new(std::sync::OnceLock::new());
    let handles = digital_recovery::sim::start(
        config,
        Some(digital_recovery::sim::recording::factory_with_store(
            sim_config(),
            slot.clone(),
        )),
    )
    .await
    .unwrap();
    let line: serde_json::Value = serde_json::from_str(&handles.address_line()).unwrap();
    let das = line["das"].as_str().unwrap().to_string();
    let capture = line["capture"].as_str().unwrap().to_string();
    let sim = Sim {
        store: slot.get().unwrap().clone(),
        das,
        capture,
    };
    let r = report(&sim).await;
    assert_eq!(
        r.expected_missing,
        handles.dataset.expected_missing() as u64
    );
    assert!(r.expected_missing > 0);
    let side = connect(&sim);
    let (contacts, _) = all_contacts(&side, ContactQuery::new(window(), vec![]))
        .await
        .unwrap();
    assert_eq!(contacts.len(), sim.store.contacts_held());
    handles.shutdown().await;
}

/// A DAS that answers with hand-written pages, to show malformed upstream data fails one item.
async fn fake_das(pages: Vec<serde_json::Value>) -> Sim {
    use axum::routing::{get, post};
    let pages = Arc::new(pages);
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let router = axum::Router::new()
        .route(
            "/oauth/token",
            post(|| async {
                axum::Json(serde_json::json!({"access_token": "t", "token_type": "bearer", "expires_in": 3600}))
            }),
        )
        .route(
            "/api/v1/tenants/demo/contacts",
            get(move || {
                let pages = pages.clone();
                let counter = counter.clone();
                async move {
                    let i = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    axum::Json(pages[i.min(pages.len() - 1)].clone())
                }
            }),
        );
    let das = serve(router).await;
    Sim {
        store: Arc::new(RecordingStore::empty(sim_config())),
        capture: das.clone(),
        das,
    }
}

#[tokio::test]
async fn a_malformed_contact_fails_alone_and_a_looping_cursor_is_an_error() {
    let id = Uuid::new_v4().to_string();
    let sim = fake_das(vec![
        serde_json::json!({
            "contacts": [
                {"contactId": "a", "externalId": id, "startTime": "2026-11-20T01:00:00Z", "sessionIds": []},
                {"contactId": "b", "sessionIds": 5},
                "not a contact",
                {"contactId": "c", "startTime": "yesterday", "unknownField": true}
            ],
            "nextCursor": "p2"
        }),
        serde_json::json!({"contacts": [], "nextCursor": "p2"}),
    ])
    .await;
    let side = connect(&sim);
    let query = ContactQuery::new(window(), vec![]);
    let (page, next) = side.das.page(&query, None).await.unwrap();
    assert_eq!(page.contacts.len(), 2);
    assert_eq!(
        page.invalid.iter().map(|i| i.position).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(next.as_deref(), Some("p2"));
    assert_eq!(
        page.contacts[1].start(),
        None,
        "an unparsable time is left to the matcher"
    );
    // Page 2 hands back the cursor it was given: following it would loop forever.
    let err = all_contacts(&side, query).await.unwrap_err();
    assert!(
        matches!(err, RecordingSideError::Malformed { .. }),
        "{err:?}"
    );
}

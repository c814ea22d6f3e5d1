//! The Interaction Capture simulator: `PUT /api/v1/tenants/{tenant}/interactions/{id}` with a
//! bounded buffer (429 + Retry-After when full), 413 over the size limit, 422 naming the
//! offending field, 200/409 by content identity, and `GET /sim/report`.
//!
//! `Idempotency-Key` is an opaque string the client chooses (design.md section 8); Capture derives
//! nothing from it. It keeps the first answer given under each key and replays it (same status,
//! same body) when the key comes again with the same content; the same key with other content is
//! a 422 naming the header; a PUT without a key, or with one over 255 characters, is a 400 naming
//! it. Whether a new key's content is already held (200) or conflicts with what is held (409) is
//! decided on conversationId + sessions + transcripts, never on the key or on `recovery`.
//!
//! The body is read into this module's own types, written from the contract's text, not the
//! client's (`crate::verint`).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use uuid::Uuid;

use super::{
    RecordingStore, SimRequestKind, StoreInner, StoredContact, error_bytes, error_response,
    json_answer, service_routes,
};
use crate::api::MediaType;
use crate::sim::faults::Service;
use crate::sim::requests::{record_requests, serve_requests};

/// The header carrying the client's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// Longest idempotency key the contract allows, in characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// The only `source` the contract knows.
const GENESYS_SOURCE: &str = "genesys-cloud";

/// The Capture simulator's routes over `store` (`/sim/report` included, without auth or faults).
pub fn capture_router(store: Arc<RecordingStore>) -> Router {
    let api = Router::new().route(
        "/api/v1/tenants/{tenant}/interactions/{conversation_id}",
        put(put_interaction),
    );
    let requests = store.capture_requests.clone();
    service_routes(&store, Service::Capture, api)
        .layer(axum::middleware::from_fn_with_state(
            requests.clone(),
            record_requests,
        ))
        .route("/sim/report", get(report))
        .with_state(store)
        .merge(
            Router::new()
                .route("/sim/requests", get(serve_requests))
                .with_state(requests),
        )
}

async fn report(State(store): State<Arc<RecordingStore>>) -> Response {
    Json(store.report()).into_response()
}

fn unprocessable(message: &str) -> Response {
    error_response(StatusCode::UNPROCESSABLE_ENTITY, "invalid.field", message)
}

/// The PUT body of design.md section 8:
/// `{"conversationId","source":"genesys-cloud","mediaType","messageType","startTime","endTime",
/// "participants":[..],"sessions":[..],"transcripts":[..],"recovery":{"namespace","name"}}`.
/// Every field is optional here so that a missing one is answered with a 422 naming it rather
/// than a parse error; a field of the wrong type is a 422 naming its path; unknown fields are
/// ignored.
#[derive(Debug, Deserialize)]
struct InteractionBody {
    #[serde(rename = "conversationId")]
    conversation_id: Option<String>,
    #[serde(rename = "source")]
    source: Option<String>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    #[serde(rename = "messageType")]
    message_type: Option<String>,
    #[serde(rename = "startTime")]
    start_time: Option<String>,
    #[serde(rename = "endTime")]
    end_time: Option<String>,
    /// Read only to check its shape; the store keeps no participants.
    #[serde(rename = "participants")]
    #[allow(dead_code)]
    participants: Option<Vec<Participant>>,
    #[serde(rename = "sessions")]
    sessions: Option<Vec<Session>>,
    #[serde(rename = "transcripts")]
    transcripts: Option<Vec<Transcript>>,
    /// Read only to check its shape; never part of the content's identity.
    #[serde(rename = "recovery")]
    #[allow(dead_code)]
    recovery: Option<Recovery>,
}

/// `{"participantId","purpose","name"}`.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // read only to check the shape
struct Participant {
    #[serde(rename = "participantId")]
    participant_id: Option<String>,
    #[serde(rename = "purpose")]
    purpose: Option<String>,
    #[serde(rename = "name")]
    name: Option<String>,
}

/// `{"sessionId","mediaType","messageType"}`.
#[derive(Debug, Deserialize)]
struct Session {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    #[serde(rename = "messageType")]
    message_type: Option<String>,
}

/// `{"recordingId","media","messages":[<Genesys transcript entries as received>]}`.
#[derive(Debug, Deserialize)]
struct Transcript {
    #[serde(rename = "recordingId")]
    recording_id: Option<String>,
    #[serde(rename = "media")]
    media: Option<String>,
    #[serde(rename = "messages")]
    messages: Option<Vec<Value>>,
}

/// `{"namespace","name"}`.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // read only to check the shape
struct Recovery {
    #[serde(rename = "namespace")]
    namespace: Option<String>,
    #[serde(rename = "name")]
    name: Option<String>,
}

/// What a successful PUT answers: `{"conversationId","outcome"}`.
#[derive(Debug, Serialize)]
struct PutAnswer<'a> {
    #[serde(rename = "conversationId")]
    conversation_id: &'a str,
    #[serde(rename = "outcome")]
    outcome: &'a str,
}

/// A valid PUT, as the store needs it.
pub(super) struct Validated {
    conversation_id: Uuid,
    media_type: MediaType,
    message_type: Option<String>,
    start: Timestamp,
    end: Option<Timestamp>,
    sessions: Vec<String>,
    /// Digest of conversationId + sessions + transcripts (see [`content_identity`]).
    identity: [u8; 32],
}

fn parse_media_type(value: &str) -> Option<MediaType> {
    match value {
        "chat" => Some(MediaType::Chat),
        "email" => Some(MediaType::Email),
        "social" => Some(MediaType::Social),
        _ => None,
    }
}

fn timestamp(field: &str, value: &str) -> Result<Timestamp, String> {
    value
        .parse::<Timestamp>()
        .map_err(|_| format!("{field}: not an RFC 3339 timestamp"))
}

/// Where the contract has a JSON object: the body, `recovery`, and each entry of `participants`,
/// `sessions` and `transcripts`. serde's derived structs also read arrays (as a sequence of
/// fields), which the contract does not allow, so the shape is checked first.
fn check_objects(body: &Value) -> Result<(), String> {
    let Some(object) = body.as_object() else {
        return Err("body: must be a JSON object".into());
    };
    if object
        .get("recovery")
        .is_some_and(|r| !r.is_object() && !r.is_null())
    {
        return Err("recovery: must be an object".into());
    }
    for list in ["participants", "sessions", "transcripts"] {
        if let Some(Value::Array(items)) = object.get(list)
            && let Some(i) = items.iter().position(|item| !item.is_object())
        {
            return Err(format!("{list}[{i}]: must be an object"));
        }
    }
    Ok(())
}

/// Reads and checks a PUT body against the contract; the error names the field.
fn validate(bytes: &[u8], path_id: &str) -> Result<Validated, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|err| format!("body: not valid JSON: {err}"))?;
    check_objects(&value)?;
    let body: InteractionBody = serde_path_to_error::deserialize(&value)
        .map_err(|err| format!("{}: {}", err.path(), err.inner()))?;

    let conversation_id = body
        .conversation_id
        .as_deref()
        .ok_or("conversationId: required string")?;
    if conversation_id != path_id {
        return Err("conversationId: must equal the path's conversation id".into());
    }
    let uuid = Uuid::try_parse(conversation_id).map_err(|_| "conversationId: not a UUID")?;
    if body.source.as_deref().is_some_and(|s| s != GENESYS_SOURCE) {
        return Err(format!("source: must be {GENESYS_SOURCE}"));
    }
    let media_type = body
        .media_type
        .as_deref()
        .and_then(parse_media_type)
        .ok_or("mediaType: required, one of chat, email, social")?;
    let start = timestamp(
        "startTime",
        body.start_time.as_deref().ok_or("startTime: required")?,
    )?;
    let end = match body.end_time.as_deref() {
        None => None,
        Some(text) => Some(timestamp("endTime", text)?),
    };
    let sessions = body
        .sessions
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or("sessions: required non-empty list")?;
    let mut session_ids = Vec::with_capacity(sessions.len());
    for (i, session) in sessions.iter().enumerate() {
        let id = session
            .session_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .ok_or(format!("sessions[{i}].sessionId: required string"))?;
        if session
            .media_type
            .as_deref()
            .is_some_and(|m| parse_media_type(m).is_none())
        {
            return Err(format!(
                "sessions[{i}].mediaType: one of chat, email, social"
            ));
        }
        session_ids.push(id.to_string());
    }
    let transcripts = body
        .transcripts
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or("transcripts: required non-empty list")?;
    for (i, transcript) in transcripts.iter().enumerate() {
        if transcript.recording_id.is_none() {
            return Err(format!("transcripts[{i}].recordingId: required string"));
        }
        if transcript.messages.is_none() {
            return Err(format!("transcripts[{i}].messages: required list"));
        }
    }
    Ok(Validated {
        conversation_id: uuid,
        media_type,
        message_type: body.message_type,
        start,
        end,
        sessions: session_ids,
        identity: content_identity(conversation_id, sessions, transcripts),
    })
}

/// The identity of a PUT's content, on which 200 (identical content held) and 409 (different
/// content held) are decided, and against which a repeated `Idempotency-Key` is checked: a
/// SHA-256 over conversationId and the contract's fields of every session and transcript, in
/// order. Unknown fields, `participants` and `recovery` do not count; the keys of the transcript
/// messages are sorted first, since a JSON object's fields have no order.
fn content_identity(
    conversation_id: &str,
    sessions: &[Session],
    transcripts: &[Transcript],
) -> [u8; 32] {
    let sessions: Vec<Value> = sessions
        .iter()
        .map(|s| serde_json::json!([s.session_id, s.media_type, s.message_type]))
        .collect();
    let transcripts: Vec<Value> = transcripts
        .iter()
        .map(|t| {
            let messages: Vec<Value> = t.messages.iter().flatten().map(sorted_keys).collect();
            serde_json::json!([t.recording_id, t.media, messages])
        })
        .collect();
    let identity = serde_json::json!([conversation_id, sessions, transcripts]);
    Sha256::digest(identity.to_string().as_bytes()).into()
}

/// `value` with every object's keys in sorted order.
fn sorted_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key.clone(), sorted_keys(value)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        scalar => scalar.clone(),
    }
}

/// The client's `Idempotency-Key`, or the 400 message naming the header.
fn idempotency_key(headers: &HeaderMap) -> Result<String, String> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(format!("{IDEMPOTENCY_KEY}: required, exactly once"));
    };
    let key = value
        .to_str()
        .map_err(|_| format!("{IDEMPOTENCY_KEY}: must be visible ASCII"))?;
    if key.is_empty() {
        return Err(format!("{IDEMPOTENCY_KEY}: must not be empty"));
    }
    if key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(format!(
            "{IDEMPOTENCY_KEY}: at most {MAX_IDEMPOTENCY_KEY_CHARS} characters"
        ));
    }
    Ok(key.to_string())
}

/// Whether the seeded reject policy refuses this conversation: a hash of seed and id, so the
/// same conversations are refused on every run.
fn rejected_by_policy(seed: u64, conversation_id: Uuid, rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    let digest = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(conversation_id.as_bytes())
        .finalize();
    let mut word = [0u8; 8];
    word.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(word) as f64 / u64::MAX as f64) < rate
}

async fn put_interaction(
    State(store): State<Arc<RecordingStore>>,
    Path((tenant, conversation_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Ok(conversation) = Uuid::parse_str(&conversation_id) {
        store
            .timeline
            .note(SimRequestKind::CapturePut { conversation });
    }
    let config = store.config().clone();
    if tenant != config.tenant {
        return error_response(StatusCode::NOT_FOUND, "not.found", "unknown tenant");
    }
    let key = match idempotency_key(&headers) {
        Ok(key) => key,
        Err(message) => {
            store.count_rejected();
            return error_response(StatusCode::BAD_REQUEST, "invalid.header", &message);
        }
    };
    let Ok(bytes) = axum::body::to_bytes(body, config.max_body_bytes).await else {
        store.count_rejected();
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload.too.large",
            &format!("body: larger than {} bytes", config.max_body_bytes),
        );
    };
    if let Err(retry_after) = store.admit_to_buffer() {
        let status = if config.busy_status == 503 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        let mut response = error_response(
            status,
            "buffer.full",
            "the capture buffer is full; retry later",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return response;
    }
    let validated = match validate(&bytes, &conversation_id) {
        Ok(v) => v,
        Err(message) => {
            store.count_rejected();
            return unprocessable(&message);
        }
    };
    let refused = rejected_by_policy(config.seed, validated.conversation_id, config.reject_rate);
    store.put(validated, key, refused)
}

/// The answer given under one idempotency key, replayed when the key comes again.
#[derive(Debug)]
pub(super) struct KeyedAnswer {
    identity: [u8; 32],
    status: StatusCode,
    body: Bytes,
}

impl RecordingStore {
    /// Takes one slot of the buffer, or says how many seconds until one frees up.
    fn admit_to_buffer(&self) -> Result<(), u64> {
        let capacity = f64::from(self.config.buffer_capacity.max(1));
        let rate = self.config.drain_per_second.max(0.001);
        let now = Instant::now();
        let mut inner = self.lock();
        let drained = inner
            .buffer_drained_at
            .map(|at| now.duration_since(at).as_secs_f64() * rate)
            .unwrap_or(0.0);
        inner.buffer_level = (inner.buffer_level - drained).max(0.0);
        inner.buffer_drained_at = Some(now);
        if inner.buffer_level + 1.0 > capacity {
            inner.stats.throttled += 1;
            let wait = ((inner.buffer_level + 1.0 - capacity) / rate).ceil();
            return Err((wait as u64).max(1));
        }
        inner.buffer_level += 1.0;
        Ok(())
    }

    fn count_rejected(&self) {
        self.lock().stats.rejected += 1;
    }

    /// Applies a valid PUT under `key`: the first answer again for a key already used with the
    /// same content, 422 for a key used with other content, else a new answer (see
    /// [`StoreInner::answer`]) kept under the key.
    fn put(&self, put: Validated, key: String, refused_by_policy: bool) -> Response {
        let visible_at = Instant::now() + self.config.ingest_lag;
        let mut inner = self.lock();
        if let Some(first) = inner.keys.get(&key) {
            if first.identity != put.identity {
                inner.stats.rejected += 1;
                return error_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency.key.reused",
                    &format!("{IDEMPOTENCY_KEY}: already used for different content"),
                );
            }
            let (status, body) = (first.status, first.body.clone());
            // A replay is a PUT like any other for the counters: identical content sent again,
            // and a duplicate if the store held the conversation in full before its first PUT.
            if inner.first_put_full.get(&put.conversation_id) == Some(&true) {
                inner.stats.duplicates += 1;
            }
            match status {
                StatusCode::OK | StatusCode::CREATED => inner.stats.resent += 1,
                StatusCode::CONFLICT => inner.stats.conflicts += 1,
                _ => inner.stats.rejected += 1,
            }
            return json_answer(status, body);
        }
        let identity = put.identity;
        let (status, body) = if refused_by_policy {
            inner.stats.rejected += 1;
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                error_bytes(
                    "rejected",
                    "transcripts: refused by the capture content policy",
                ),
            )
        } else {
            inner.answer(put, visible_at)
        };
        inner.keys.insert(
            key,
            KeyedAnswer {
                identity,
                status,
                body: body.clone(),
            },
        );
        json_answer(status, body)
    }
}

impl StoreInner {
    /// What a valid PUT under a new key does: 201 ingested, 200 identical content already held,
    /// 409 different content held.
    fn answer(&mut self, put: Validated, visible_at: Instant) -> (StatusCode, Bytes) {
        let id = put.conversation_id;
        let existing = self.contacts.get(&id).cloned();
        let held_in_full = existing
            .as_ref()
            .is_some_and(|c| c.identity.is_none() && c.holds_all(&put.sessions));
        let was_full = *self.first_put_full.entry(id).or_insert(held_in_full);
        if was_full {
            self.stats.duplicates += 1;
        }
        let text_id = id.to_string();
        let success = |outcome: &str| {
            Bytes::from(
                serde_json::to_vec(&PutAnswer {
                    conversation_id: &text_id,
                    outcome,
                })
                .unwrap_or_default(),
            )
        };
        match existing {
            Some(contact) if contact.identity == Some(put.identity) => {
                self.stats.resent += 1;
                (StatusCode::OK, success("alreadyPresent"))
            }
            Some(contact) if contact.identity.is_some() => {
                self.stats.conflicts += 1;
                (
                    StatusCode::CONFLICT,
                    error_bytes(
                        "conflict",
                        "different content is already held for this conversation",
                    ),
                )
            }
            // A seeded contact already holding every session sent: nothing to add.
            Some(_) if held_in_full => (StatusCode::OK, success("alreadyPresent")),
            Some(mut contact) => {
                // A partial contact: add the missing sessions.
                let mut sessions = contact.held_sessions().to_vec();
                for s in put.sessions {
                    if !sessions.contains(&s) {
                        sessions.push(s);
                    }
                }
                contact.versions.push((visible_at, sessions));
                contact.identity = Some(put.identity);
                self.insert_contact(id, contact);
                self.stats.ingested += 1;
                (StatusCode::CREATED, success("ingested"))
            }
            None => {
                self.insert_contact(
                    id,
                    StoredContact {
                        contact_id: String::new(),
                        media_type: put.media_type,
                        message_type: put.message_type,
                        start: put.start,
                        end: put.end,
                        versions: vec![(visible_at, put.sessions)],
                        identity: Some(put.identity),
                    },
                );
                self.stats.ingested += 1;
                (StatusCode::CREATED, success("ingested"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str) -> Session {
        Session {
            session_id: Some(id.into()),
            media_type: Some("chat".into()),
            message_type: None,
        }
    }

    fn transcript(messages: Vec<Value>) -> Transcript {
        Transcript {
            recording_id: Some("r1".into()),
            media: Some("chat".into()),
            messages: Some(messages),
        }
    }

    #[test]
    fn identity_ignores_the_order_of_message_fields_but_not_of_messages() {
        let a = serde_json::json!({"id": "m1", "body": "hi", "from": {"a": 1, "b": 2}});
        let b = serde_json::json!({"from": {"b": 2, "a": 1}, "body": "hi", "id": "m1"});
        let c = serde_json::json!({"id": "m2", "body": "bye"});
        let id = |messages| content_identity("c1", &[session("s1")], &[transcript(messages)]);
        assert_eq!(
            id(vec![a.clone(), c.clone()]),
            id(vec![b.clone(), c.clone()])
        );
        assert_ne!(id(vec![a.clone(), c.clone()]), id(vec![c, a.clone()]));
        assert_ne!(
            id(vec![a.clone()]),
            content_identity("c1", &[session("s2")], &[transcript(vec![a.clone()])])
        );
        assert_ne!(
            id(vec![a.clone()]),
            content_identity("c2", &[session("s1")], &[transcript(vec![a])])
        );
    }

    #[test]
    fn a_wrong_type_is_named_by_its_path() {
        let body = br#"{"conversationId":"x","sessions":[{"sessionId":5}]}"#;
        let message = validate(body, "x").err().unwrap_or_default();
        assert!(message.starts_with("sessions[0].sessionId: "), "{message}");
        // serde would read an array as the struct's fields in order; the contract wants objects.
        let message = validate(br#"["x"]"#, "x").err().unwrap_or_default();
        assert!(
            message.starts_with("body: must be a JSON object"),
            "{message}"
        );
        let body = br#"{"conversationId":"x","sessions":[["s1"]]}"#;
        let message = validate(body, "x").err().unwrap_or_default();
        assert!(
            message.starts_with("sessions[0]: must be an object"),
            "{message}"
        );
        let message = validate(b"{} x", "x").err().unwrap_or_default();
        assert!(message.starts_with("body: not valid JSON"), "{message}");
    }

    #[test]
    fn the_key_is_required_once_and_at_most_255_characters() {
        let with = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append(IDEMPOTENCY_KEY, HeaderValue::from_str(v).unwrap());
            }
            idempotency_key(&headers)
        };
        let (longest, too_long) = ("k".repeat(255), "k".repeat(256));
        assert_eq!(with(&["any opaque key"]), Ok("any opaque key".to_string()));
        assert_eq!(with(&[longest.as_str()]), Ok(longest.clone()));
        let bad: [&[&str]; 4] = [&[], &[""], &["a", "b"], &[too_long.as_str()]];
        for bad in bad {
            let message = with(bad).err().unwrap_or_default();
            assert!(
                message.starts_with("Idempotency-Key: "),
                "{bad:?}: {message}"
            );
        }
    }
}

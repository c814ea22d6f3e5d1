//! The Interaction Capture simulator: idempotent `PUT /api/v1/tenants/{tenant}/interactions/{id}`
//! with a bounded buffer (429 + Retry-After when full), 413 over the size limit, 422 naming the
//! offending field, 200/409 by content identity, and `GET /sim/report`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use jiff::Timestamp;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use uuid::Uuid;

use super::{RecordingStore, StoredContact, auth, error_response, render_error};
use crate::api::MediaType;
use crate::sim::faults::{FaultLayer, Service, fault_middleware};
use crate::verint::capture::{IDEMPOTENCY_KEY, content_identity};

/// The Capture simulator's routes over `store` (`/sim/report` included, without auth or faults).
pub fn capture_router(store: Arc<RecordingStore>) -> Router {
    let faults = FaultLayer {
        faults: store.faults().clone(),
        render: render_error,
        service: Service::Capture,
    };
    let api = Router::new()
        .route(
            "/api/v1/tenants/{tenant}/interactions/{conversation_id}",
            put(put_interaction),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            store.clone(),
            auth::require_token,
        ));
    Router::new()
        .merge(api)
        .route("/oauth/token", post(auth::token))
        .layer(axum::middleware::from_fn_with_state(
            faults,
            fault_middleware,
        ))
        .route("/sim/report", get(report))
        .with_state(store)
}

async fn report(State(store): State<Arc<RecordingStore>>) -> Response {
    Json(store.report()).into_response()
}

fn unprocessable(message: &str) -> Response {
    error_response(StatusCode::UNPROCESSABLE_ENTITY, "invalid.field", message)
}

/// The fields Capture needs, checked against the contract; the error names the field.
struct Validated {
    conversation_id: Uuid,
    media_type: MediaType,
    message_type: Option<String>,
    start: Timestamp,
    end: Option<Timestamp>,
    sessions: Vec<String>,
}

fn validate(body: &Value, path_id: &str) -> Result<Validated, String> {
    let object = body.as_object().ok_or("body: must be a JSON object")?;
    let conversation_id = object
        .get("conversationId")
        .and_then(Value::as_str)
        .ok_or("conversationId: required string")?;
    if conversation_id != path_id {
        return Err("conversationId: must equal the path's conversation id".into());
    }
    let conversation_id =
        Uuid::try_parse(conversation_id).map_err(|_| "conversationId: not a UUID")?;
    let media_type = match object.get("mediaType").and_then(Value::as_str) {
        Some("chat") => MediaType::Chat,
        Some("email") => MediaType::Email,
        Some("social") => MediaType::Social,
        _ => return Err("mediaType: required, one of chat, email, social".into()),
    };
    let message_type = match object.get("messageType") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.clone()),
        Some(_) => return Err("messageType: must be a string or null".into()),
    };
    let start = match object.get("startTime").and_then(Value::as_str) {
        Some(text) => text
            .parse::<Timestamp>()
            .map_err(|_| "startTime: not an RFC 3339 timestamp")?,
        None => return Err("startTime: required".into()),
    };
    let end = match object.get("endTime") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_str()
                .and_then(|t| t.parse::<Timestamp>().ok())
                .ok_or("endTime: not an RFC 3339 timestamp")?,
        ),
    };
    let sessions = object
        .get("sessions")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
        .ok_or("sessions: required non-empty list")?;
    let mut session_ids = Vec::with_capacity(sessions.len());
    for (i, session) in sessions.iter().enumerate() {
        let id = session
            .get("sessionId")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or(format!("sessions[{i}].sessionId: required string"))?;
        session_ids.push(id.to_string());
    }
    let transcripts = object
        .get("transcripts")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
        .ok_or("transcripts: required non-empty list")?;
    for (i, transcript) in transcripts.iter().enumerate() {
        if transcript
            .get("recordingId")
            .and_then(Value::as_str)
            .is_none()
        {
            return Err(format!("transcripts[{i}].recordingId: required string"));
        }
        if transcript
            .get("messages")
            .and_then(Value::as_array)
            .is_none()
        {
            return Err(format!("transcripts[{i}].messages: required list"));
        }
    }
    Ok(Validated {
        conversation_id,
        media_type,
        message_type,
        start,
        end,
        sessions: session_ids,
    })
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
    let config = store.config().clone();
    if tenant != config.tenant {
        return error_response(StatusCode::NOT_FOUND, "not.found", "unknown tenant");
    }
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
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(err) => {
            store.count_rejected();
            return unprocessable(&format!("body: not valid JSON: {err}"));
        }
    };
    let validated = match validate(&value, &conversation_id) {
        Ok(v) => v,
        Err(message) => {
            store.count_rejected();
            return unprocessable(&message);
        }
    };
    let identity = content_identity(&value).unwrap_or_default();
    let sent_key = headers.get(IDEMPOTENCY_KEY).and_then(|v| v.to_str().ok());
    if sent_key != Some(identity.as_str()) {
        store.count_rejected();
        return unprocessable("Idempotency-Key: missing or not the content's identity");
    }
    if rejected_by_policy(config.seed, validated.conversation_id, config.reject_rate) {
        store.count_rejected();
        return error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected",
            "transcripts: refused by the capture content policy",
        );
    }
    store.ingest(validated, identity)
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

    /// Applies a valid PUT: 201 ingested, 200 already held, 409 different content held.
    fn ingest(&self, put: Validated, identity: String) -> Response {
        let visible_at = Instant::now() + self.config.ingest_lag;
        let mut inner = self.lock();
        let id = put.conversation_id;
        let existing = inner.contacts.get(&id).cloned();
        let held_in_full = existing
            .as_ref()
            .is_some_and(|c| c.identity.is_none() && c.holds_all(&put.sessions));
        let was_full = *inner.first_put_full.entry(id).or_insert(held_in_full);
        if was_full {
            inner.stats.duplicates += 1;
        }
        let answer = |status: StatusCode, outcome: &str| {
            (
                status,
                Json(json!({ "conversationId": id.to_string(), "outcome": outcome })),
            )
                .into_response()
        };
        match existing {
            Some(contact) if contact.identity.as_deref() == Some(identity.as_str()) => {
                inner.stats.resent += 1;
                answer(StatusCode::OK, "alreadyPresent")
            }
            Some(contact) if contact.identity.is_some() => {
                inner.stats.conflicts += 1;
                error_response(
                    StatusCode::CONFLICT,
                    "conflict",
                    "different content is already held for this conversation",
                )
            }
            // A seeded contact already holding every session sent: nothing to add.
            Some(_) if held_in_full => answer(StatusCode::OK, "alreadyPresent"),
            Some(mut contact) => {
                // A partial contact: add the missing sessions.
                let mut sessions = contact.held_sessions().to_vec();
                for s in put.sessions {
                    if !sessions.contains(&s) {
                        sessions.push(s);
                    }
                }
                contact.versions.push((visible_at, sessions));
                contact.identity = Some(identity);
                inner.insert_contact(id, contact);
                inner.stats.ingested += 1;
                answer(StatusCode::CREATED, "ingested")
            }
            None => {
                inner.insert_contact(
                    id,
                    StoredContact {
                        contact_id: String::new(),
                        media_type: put.media_type,
                        message_type: put.message_type,
                        start: put.start,
                        end: put.end,
                        versions: vec![(visible_at, put.sessions)],
                        identity: Some(identity),
                    },
                );
                inner.stats.ingested += 1;
                answer(StatusCode::CREATED, "ingested")
            }
        }
    }
}

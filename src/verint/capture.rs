//! Interaction Capture client: hands one recovered interaction to the recording side.
//!
//! `PUT {captureUrl}/api/v1/tenants/{tenant}/interactions/{conversationId}` with an
//! `Idempotency-Key` derived from the content. Every answer maps to a [`CaptureOutcome`]; a full
//! buffer (429/503 with Retry-After) only slows the caller down, up to a bounded total wait.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::das::GENESYS_SOURCE;
use super::{RecordingSideError, endpoint, parse_error_body};
use crate::api::MediaType;
use crate::http::{ApiTransport, parse_retry_after};

/// Header carrying the content identity.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// One interaction to ingest (design.md section 8). The pipeline builds it from Genesys data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureInteraction {
    /// Genesys conversation id (must equal the path's).
    pub conversation_id: String,
    /// Always `genesys-cloud`.
    pub source: String,
    /// Primary media type.
    pub media_type: MediaType,
    /// Genesys message type for social interactions.
    pub message_type: Option<String>,
    /// Conversation start.
    pub start_time: Timestamp,
    /// Conversation end.
    pub end_time: Option<Timestamp>,
    /// Participants.
    pub participants: Vec<CaptureParticipant>,
    /// The text sessions recovered (non-empty).
    pub sessions: Vec<CaptureSession>,
    /// Their transcripts (non-empty).
    pub transcripts: Vec<CaptureTranscript>,
    /// Which recovery sent it (not part of the content identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryRef>,
}

impl CaptureInteraction {
    /// An interaction with `source` set to `genesys-cloud` and no participants or recovery yet.
    pub fn new(
        conversation_id: impl Into<String>,
        media_type: MediaType,
        start_time: Timestamp,
        end_time: Option<Timestamp>,
        sessions: Vec<CaptureSession>,
        transcripts: Vec<CaptureTranscript>,
    ) -> Self {
        CaptureInteraction {
            conversation_id: conversation_id.into(),
            source: GENESYS_SOURCE.to_string(),
            media_type,
            message_type: None,
            start_time,
            end_time,
            participants: Vec::new(),
            sessions,
            transcripts,
            recovery: None,
        }
    }
}

/// A participant of the interaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureParticipant {
    /// Genesys participant id.
    pub participant_id: String,
    /// Genesys purpose (customer, agent, ...).
    pub purpose: String,
    /// Display name, if any.
    pub name: Option<String>,
}

/// A session of the interaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureSession {
    /// Genesys session id.
    pub session_id: String,
    /// Media type of the session.
    pub media_type: MediaType,
    /// Genesys message type for social sessions.
    pub message_type: Option<String>,
}

/// One recording's transcript.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureTranscript {
    /// Genesys recording id.
    pub recording_id: String,
    /// Genesys recording `media` (`chat`, `email`, `message`).
    pub media: String,
    /// The Genesys transcript entries, exactly as received.
    pub messages: Vec<Value>,
}

/// The recovery that sent an interaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryRef {
    /// Namespace of the DigitalRecovery.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// The content identity of an interaction body, which this client sends as its
/// `Idempotency-Key` (the key is the client's choice; Capture treats it as opaque): sha256, hex,
/// over a canonical JSON (sorted keys) of `conversationId` and the contract fields of `sessions`
/// and `transcripts`. Unknown fields and `recovery` do not count, so a resend of the same content
/// by another run is the same key, and Capture replays its first answer. `None` when `body` is
/// not an object.
pub fn content_identity(body: &Value) -> Option<String> {
    let object = body.as_object()?;
    let project = |list: Option<&Value>, fields: &[&str]| -> Value {
        let items = list.and_then(Value::as_array).map(|items| {
            items
                .iter()
                .map(|item| {
                    let mut projected = serde_json::Map::new();
                    for field in fields {
                        let value = item.get(*field).cloned().unwrap_or(Value::Null);
                        projected.insert((*field).to_string(), value);
                    }
                    Value::Object(projected)
                })
                .collect()
        });
        items.map(Value::Array).unwrap_or(Value::Null)
    };
    let mut identity = serde_json::Map::new();
    identity.insert(
        "conversationId".into(),
        object.get("conversationId").cloned().unwrap_or(Value::Null),
    );
    identity.insert(
        "sessions".into(),
        project(
            object.get("sessions"),
            &["sessionId", "mediaType", "messageType"],
        ),
    );
    identity.insert(
        "transcripts".into(),
        project(
            object.get("transcripts"),
            &["recordingId", "media", "messages"],
        ),
    );
    let mut canonical = Vec::new();
    write_canonical(&Value::Object(identity), &mut canonical);
    Some(hex::encode(Sha256::digest(&canonical)))
}

/// JSON with object keys sorted at every level, so both ends hash the same bytes whatever
/// order the fields were written in.
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(&Value::String(key.clone()), out);
                out.push(b':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        // Scalars have one serialisation in serde_json.
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

/// What Capture did with one PUT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureOutcome {
    /// 201: ingested now.
    Ingested,
    /// 200: identical content was already held, sent under another key (a no-op). A retry with
    /// the same key gets the first answer again instead, e.g. 201.
    AlreadyPresent,
    /// 409: different content is already held; never overwritten, reported.
    Conflict {
        /// Capture's message.
        message: String,
    },
    /// 413 or 422: this item was refused; reported, the run goes on.
    Rejected {
        /// 413 or 422.
        status: u16,
        /// Capture's error code.
        code: String,
        /// Capture's message (for 422 it names the field).
        message: String,
    },
}

/// A PUT's outcome plus how much back-pressure it met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureReceipt {
    /// The outcome.
    pub outcome: CaptureOutcome,
    /// The idempotency key sent.
    pub idempotency_key: String,
    /// Times Capture answered "busy" beyond the transport's own retries.
    pub back_pressure_waits: u32,
}

/// Client of one tenant's Interaction Capture API.
#[derive(Clone, Debug)]
pub struct CaptureClient {
    transport: ApiTransport,
    interactions_url: reqwest::Url,
    back_pressure_limit: Duration,
}

impl CaptureClient {
    /// A client of `{capture_url}/api/v1/tenants/{tenant}/interactions`; a PUT may wait out
    /// back-pressure for up to `back_pressure_limit` in total.
    pub fn new(
        transport: ApiTransport,
        capture_url: &str,
        tenant: &str,
        back_pressure_limit: Duration,
    ) -> Result<Self, RecordingSideError> {
        let interactions_url = endpoint(
            capture_url,
            &["api", "v1", "tenants", tenant, "interactions"],
        )?;
        Ok(CaptureClient {
            transport,
            interactions_url,
            back_pressure_limit,
        })
    }

    /// Sends one interaction. Safe to repeat: the same content gives 200 the second time.
    pub async fn put(
        &self,
        interaction: &CaptureInteraction,
    ) -> Result<CaptureReceipt, RecordingSideError> {
        let body = serde_json::to_vec(interaction)
            .map_err(|source| RecordingSideError::Encode { source })?;
        let as_value = serde_json::to_value(interaction)
            .map_err(|source| RecordingSideError::Encode { source })?;
        let idempotency_key = content_identity(&as_value).unwrap_or_default();
        let mut url = self.interactions_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.push(&interaction.conversation_id);
        }
        let endpoint = url.to_string();
        let body = bytes::Bytes::from(body);
        let started = Instant::now();
        let mut back_pressure_waits = 0;
        loop {
            let response = self
                .transport
                .send(&endpoint, |http| {
                    http.put(url.clone())
                        .header(IDEMPOTENCY_KEY, &idempotency_key)
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(body.clone())
                })
                .await?;
            let status = response.status.as_u16();
            let outcome = match status {
                201 => CaptureOutcome::Ingested,
                200 => CaptureOutcome::AlreadyPresent,
                409 => CaptureOutcome::Conflict {
                    message: parse_error_body(&response.body).1,
                },
                413 | 422 => {
                    let (code, message) = parse_error_body(&response.body);
                    CaptureOutcome::Rejected {
                        status,
                        code,
                        message,
                    }
                }
                429 | 503 => {
                    // Busy: the transport already retried; keep waiting while the server asks
                    // us to and the total wait stays within the limit.
                    let Some(wait) = parse_retry_after(&response.headers) else {
                        return Err(api_error(&endpoint, status, &response.body));
                    };
                    let waited = started.elapsed();
                    if waited + wait > self.back_pressure_limit {
                        return Err(RecordingSideError::BackPressureTimeout {
                            endpoint,
                            waited_secs: waited.as_secs(),
                            status,
                        });
                    }
                    back_pressure_waits += 1;
                    tracing::debug!(%endpoint, status, ?wait, "capture busy; backing off");
                    self.transport.budget.pause_for(wait);
                    tokio::time::sleep(wait).await;
                    continue;
                }
                _ => return Err(api_error(&endpoint, status, &response.body)),
            };
            return Ok(CaptureReceipt {
                outcome,
                idempotency_key,
                back_pressure_waits,
            });
        }
    }
}

fn api_error(endpoint: &str, status: u16, body: &[u8]) -> RecordingSideError {
    let (code, message) = parse_error_body(body);
    RecordingSideError::Api {
        endpoint: endpoint.to_string(),
        status,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn interaction() -> CaptureInteraction {
        let mut i = CaptureInteraction::new(
            "c1",
            MediaType::Chat,
            Timestamp::UNIX_EPOCH,
            None,
            vec![CaptureSession {
                session_id: "s1".into(),
                media_type: MediaType::Chat,
                message_type: None,
            }],
            vec![CaptureTranscript {
                recording_id: "r1".into(),
                media: "chat".into(),
                messages: vec![json!({"body": "hi", "id": "m1"})],
            }],
        );
        i.recovery = Some(RecoveryRef {
            namespace: "ns".into(),
            name: "a".into(),
        });
        i
    }

    fn key(i: &CaptureInteraction) -> Option<String> {
        content_identity(&serde_json::to_value(i).ok()?)
    }

    #[test]
    fn identity_ignores_recovery_order_and_unknown_fields() {
        let a = interaction();
        let mut b = a.clone();
        b.recovery = None;
        b.participants.push(CaptureParticipant {
            participant_id: "p".into(),
            purpose: "agent".into(),
            name: None,
        });
        assert_eq!(key(&a), key(&b));
        // The same content written with other key order and an unknown field.
        let reordered = json!({
            "transcripts": [{"messages": [{"id": "m1", "body": "hi"}], "media": "chat", "recordingId": "r1", "extra": 1}],
            "sessions": [{"messageType": null, "mediaType": "chat", "sessionId": "s1"}],
            "conversationId": "c1",
            "unknown": true
        });
        assert_eq!(key(&a), content_identity(&reordered));
    }

    #[test]
    fn identity_changes_with_content() {
        let a = interaction();
        let mut b = a.clone();
        b.transcripts[0].messages.push(json!({"body": "more"}));
        let mut c = a.clone();
        c.sessions[0].session_id = "s2".into();
        assert_ne!(key(&a), key(&b));
        assert_ne!(key(&a), key(&c));
        assert_eq!(content_identity(&json!([1])), None);
    }
}

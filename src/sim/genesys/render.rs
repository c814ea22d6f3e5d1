//! The dataset in Genesys JSON: analytics conversations and recordings. Nulls and empty lists are
//! left out, as the real API does.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use super::restore::LiveFile;
use super::variant::GenesysVariant;
use crate::sim::dataset::{
    Dataset, FileState, SimConversation, SimMedia, SimRecording, SimSession,
};

pub use crate::genesys::models::format_timestamp as iso_ms;

fn object(pairs: Vec<(&'static str, Value)>) -> Value {
    let mut map = Map::new();
    for (key, value) in pairs {
        let empty = match &value {
            Value::Null => true,
            Value::Array(items) => items.is_empty(),
            _ => false,
        };
        if !empty {
            map.insert(key.to_string(), value);
        }
    }
    Value::Object(map)
}

fn opt_ts(ts: Option<Timestamp>) -> Value {
    ts.map(|t| Value::String(iso_ms(t))).unwrap_or(Value::Null)
}

fn segment(
    start: Timestamp,
    end: Option<Timestamp>,
    segment_type: &str,
    queue_id: Option<&str>,
    disconnect: Option<&str>,
) -> Value {
    object(vec![
        ("segmentStart", json!(iso_ms(start))),
        ("segmentEnd", opt_ts(end)),
        ("segmentType", json!(segment_type)),
        ("queueId", queue_id.map(Value::from).unwrap_or(Value::Null)),
        (
            "disconnectType",
            disconnect.map(Value::from).unwrap_or(Value::Null),
        ),
    ])
}

fn session_base(
    conversation: &SimConversation,
    session_id: String,
    extra: Vec<(&'static str, Value)>,
) -> Vec<(&'static str, Value)> {
    let mut fields: Vec<(&'static str, Value)> = vec![
        ("sessionId", json!(session_id)),
        (
            "mediaType",
            json!(conversation.media_type.genesys_media_type()),
        ),
        (
            "messageType",
            conversation
                .message_type
                .map(|m| json!(m.as_str()))
                .unwrap_or(Value::Null),
        ),
        ("direction", json!(conversation.direction.as_str())),
        ("provider", json!("PureCloud")),
    ];
    fields.extend(extra);
    fields
}

fn agent_session(
    dataset: &Dataset,
    conversation: &SimConversation,
    session: &SimSession,
    last: bool,
    variant: &GenesysVariant,
) -> Value {
    let queue_id = dataset
        .queues
        .get(conversation.queue as usize)
        .map(|q| q.0.to_string());
    let alert_end = session.start + SignedDuration::from_secs(8);
    let mut segments = vec![segment(
        session.start,
        Some(alert_end),
        "alert",
        queue_id.as_deref(),
        None,
    )];
    let wrapup = session.end.map(|end| end + SignedDuration::from_secs(30));
    segments.push(segment(
        alert_end,
        session.end,
        "interact",
        queue_id.as_deref(),
        session
            .end
            .map(|_| if last { "client" } else { "transfer" }),
    ));
    if let (Some(end), Some(wrap_end)) = (session.end, wrapup) {
        segments.push(segment(
            end,
            Some(wrap_end),
            "wrapup",
            queue_id.as_deref(),
            None,
        ));
    }
    let mut metrics = vec![json!({"name": "tAlert", "value": 8000, "emitDate": iso_ms(alert_end)})];
    if let Some(end) = session.end {
        let handle = end.duration_since(alert_end).as_millis() as i64 + 30_000;
        metrics.push(json!({"name": "tHandle", "value": handle, "emitDate": iso_ms(end)}));
        metrics.push(json!({"name": "tAcw", "value": 30_000, "emitDate": iso_ms(end)}));
    }
    metrics.push(json!({"name": "nConnected", "value": 1, "emitDate": iso_ms(alert_end)}));
    object(session_base(
        conversation,
        session.id.to_string(),
        vec![
            // Documented as "an audio recording was started"; set on text only by the variant.
            (
                "recording",
                if variant.recording_flag && session.recorded {
                    json!(true)
                } else {
                    Value::Null
                },
            ),
            ("segments", json!(segments)),
            ("metrics", json!(metrics)),
        ],
    ))
}

/// One analytics conversation (`AnalyticsConversationWithoutAttributes`, or the job variant with
/// participant `attributes` when `with_attributes`).
pub fn conversation(
    dataset: &Dataset,
    conversation: &SimConversation,
    with_attributes: bool,
    variant: &GenesysVariant,
) -> Value {
    let participants = dataset.participants(conversation);
    let queue_id = dataset
        .queues
        .get(conversation.queue as usize)
        .map(|q| q.0.to_string());
    let agent_start = conversation
        .sessions
        .first()
        .map(|s| s.start)
        .unwrap_or(conversation.start);
    let mut rendered = Vec::with_capacity(participants.len());
    for participant in &participants {
        let sessions = match participant.agent_session {
            Some(position) => {
                let last = position + 1 == conversation.sessions.len();
                vec![agent_session(
                    dataset,
                    conversation,
                    &conversation.sessions[position],
                    last,
                    variant,
                )]
            }
            None => {
                let (segment_end, queue) = match participant.purpose {
                    "acd" => (Some(agent_start), queue_id.as_deref()),
                    "workflow" => (
                        Some(conversation.start + SignedDuration::from_secs(3)),
                        None,
                    ),
                    _ => (conversation.end, None),
                };
                let segments = vec![segment(
                    conversation.start,
                    segment_end,
                    "interact",
                    queue,
                    None,
                )];
                vec![object(session_base(
                    conversation,
                    participant
                        .own_session
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    vec![("segments", json!(segments))],
                ))]
            }
        };
        let attributes = if with_attributes && participant.purpose == "customer" {
            // Job results carry participant attributes, values truncated to 1024 characters.
            let long_note: String = "Customer history note. "
                .repeat(60)
                .chars()
                .take(1024)
                .collect();
            json!({"channel": conversation.media_type.genesys_media_type(), "crmNote": long_note})
        } else {
            Value::Null
        };
        rendered.push(object(vec![
            ("participantId", json!(participant.id.to_string())),
            ("participantName", json!(participant.name)),
            ("purpose", json!(participant.purpose)),
            (
                "userId",
                participant
                    .user_id
                    .map(|u| json!(u.to_string()))
                    .unwrap_or(Value::Null),
            ),
            ("sessions", json!(sessions)),
            ("attributes", attributes),
        ]));
    }
    object(vec![
        ("conversationId", json!(conversation.id.to_string())),
        ("conversationStart", json!(iso_ms(conversation.start))),
        ("conversationEnd", opt_ts(conversation.end)),
        (
            "originatingDirection",
            json!(conversation.direction.as_str()),
        ),
        (
            "conversationInitiator",
            json!(super::filters::initiator(conversation)),
        ),
        ("customerParticipation", json!(true)),
        (
            "divisionIds",
            json!([dataset
                .divisions
                .get(conversation.division as usize)
                .map(|d| d.to_string())]),
        ),
        ("participants", json!(rendered)),
    ])
}

/// The Recording `media` value; the spelling for messaging is a variant knob.
fn recording_media(recording: &SimRecording, variant: &GenesysVariant) -> &'static str {
    match recording.media {
        SimMedia::Message => variant.media.as_str(),
        other => other.recording_media(),
    }
}

/// RecordingMetadata (no transcript, no media URIs) of `recording`, its file as `live` says.
pub fn recording_metadata(
    conversation: &SimConversation,
    recording: &SimRecording,
    live: LiveFile,
    variant: &GenesysVariant,
) -> Value {
    let available = live.has_media();
    let archive_date = live.restored_until().or(recording.archive_date);
    object(vec![
        ("id", json!(recording.id.to_string())),
        ("conversationId", json!(conversation.id.to_string())),
        // An archived stub may come without its sessionId (design.md section 7).
        (
            "sessionId",
            if live == LiveFile::Seeded(FileState::Archived) {
                Value::Null
            } else {
                json!(recording.session_id.to_string())
            },
        ),
        ("media", json!(recording_media(recording, variant))),
        ("fileState", json!(live.file_state())),
        (
            "startTime",
            if available {
                json!(iso_ms(recording.start))
            } else {
                Value::Null
            },
        ),
        (
            "endTime",
            if available {
                json!(iso_ms(recording.end))
            } else {
                Value::Null
            },
        ),
        ("archiveDate", opt_ts(archive_date)),
        (
            "archiveMedium",
            if archive_date.is_some() {
                json!("CLOUDARCHIVE")
            } else {
                Value::Null
            },
        ),
        ("deleteDate", opt_ts(recording.delete_date)),
        ("restoreExpirationTime", opt_ts(live.restored_until())),
        ("region", json!("eu-west-1")),
        (
            "selfUri",
            json!(format!(
                "/api/v2/conversations/{}/recordings/{}",
                conversation.id, recording.id
            )),
        ),
    ])
}

/// A full Recording: metadata plus the transcript of its media and `mediaUris`.
pub fn recording(
    dataset: &Dataset,
    conversation: &SimConversation,
    recording: &SimRecording,
    live: LiveFile,
    origin: &str,
    variant: &GenesysVariant,
) -> Value {
    let mut value = recording_metadata(conversation, recording, live, variant);
    if let Value::Object(map) = &mut value {
        map.remove("region");
        if live.has_media() {
            if let Some(field) = recording.media.transcript_field() {
                map.insert(
                    field.to_string(),
                    Value::Array(dataset.recorded_transcript(conversation, recording)),
                );
            }
            map.insert(
                "mediaUris".to_string(),
                json!({"S": {"mediaUri": format!("{origin}/sim/media/{}/{}", conversation.id, recording.id)}}),
            );
        }
        map.insert("maxAllowedRestorationsForOrg".to_string(), json!(10000));
        map.insert(
            "remainingRestorationsAllowedForOrg".to_string(),
            json!(10000),
        );
    }
    value
}

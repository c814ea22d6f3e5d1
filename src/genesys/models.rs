//! Genesys Cloud JSON models the client reads. Every field is optional, unknown fields are
//! ignored and enums are kept as strings, because the API omits nulls and empty lists and adds
//! enum values often (genesys-api.md section 8).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One conversation of a detail query or job (`AnalyticsConversation[WithoutAttributes]`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsConversation {
    /// Conversation id.
    pub conversation_id: Option<String>,
    /// Start.
    pub conversation_start: Option<Timestamp>,
    /// End; absent while the conversation is active.
    pub conversation_end: Option<Timestamp>,
    /// inbound / outbound.
    pub originating_direction: Option<String>,
    /// Divisions.
    #[serde(default)]
    pub division_ids: Vec<String>,
    /// Who started it.
    pub conversation_initiator: Option<String>,
    /// Whether a customer took part.
    pub customer_participation: Option<bool>,
    /// External tag.
    pub external_tag: Option<String>,
    /// Participants.
    #[serde(default)]
    pub participants: Vec<Participant>,
}

/// A participant.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    /// Participant id.
    pub participant_id: Option<String>,
    /// Display name.
    pub participant_name: Option<String>,
    /// User id (agents).
    pub user_id: Option<String>,
    /// customer, agent, acd, workflow, ... (open set).
    pub purpose: Option<String>,
    /// Sessions.
    #[serde(default)]
    pub sessions: Vec<Session>,
    /// Participant attributes (job results only).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// A session (about 90 optional fields upstream; the ones the pipeline uses).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Session id.
    pub session_id: Option<String>,
    /// voice, chat, email, message, ... (open set).
    pub media_type: Option<String>,
    /// sms, whatsapp, facebook, ... for `message`.
    pub message_type: Option<String>,
    /// inbound / outbound.
    pub direction: Option<String>,
    /// Documented as "an audio recording was started"; whether it is ever set on text
    /// sessions is not documented, so its absence never means "not recorded" (design.md 7).
    pub recording: Option<bool>,
    /// Provider.
    pub provider: Option<String>,
    /// Segments.
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// Metrics.
    #[serde(default)]
    pub metrics: Vec<Metric>,
}

/// A segment.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    /// Start.
    pub segment_start: Option<Timestamp>,
    /// End.
    pub segment_end: Option<Timestamp>,
    /// interact, alert, wrapup, ... (open set).
    pub segment_type: Option<String>,
    /// Queue.
    pub queue_id: Option<String>,
    /// How it ended.
    pub disconnect_type: Option<String>,
}

/// A metric.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    /// Name, e.g. tHandle.
    pub name: Option<String>,
    /// Value (ms for durations).
    pub value: Option<i64>,
    /// When it was emitted.
    pub emit_date: Option<Timestamp>,
}

/// Status of an async detail job.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AsyncQueryStatus {
    /// QUEUED, PENDING, FAILED, CANCELLED, FULFILLED, EXPIRED (open set).
    pub state: Option<String>,
    /// Why it failed.
    pub error_message: Option<String>,
}

/// A recording's file state as a closed enum with a catch-all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Downloadable.
    Available,
    /// In cloud archive: a stub, no transcript.
    Archived,
    /// Deleted.
    Deleted,
    /// Restored from archive.
    Restored,
    /// Being restored.
    Restoring,
    /// Being uploaded.
    Uploading,
    /// Error.
    Error,
    /// A value this client does not know.
    Other(String),
}

impl FileState {
    /// Parses a `fileState` value (unknown values are kept).
    pub fn parse(value: &str) -> FileState {
        match value {
            "AVAILABLE" => FileState::Available,
            "ARCHIVED" => FileState::Archived,
            "DELETED" => FileState::Deleted,
            "RESTORED" => FileState::Restored,
            "RESTORING" => FileState::Restoring,
            "UPLOADING" => FileState::Uploading,
            "ERROR" => FileState::Error,
            other => FileState::Other(other.to_string()),
        }
    }
}

/// Recording `media` values that are not text (Genesys lists "audio, chat, messaging, email, or
/// screen"; video for safety).
const NON_TEXT_MEDIA: [&str; 3] = ["audio", "screen", "video"];

/// A recording (or its metadata: same fields minus transcripts and media URIs).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    /// Recording id.
    pub id: Option<String>,
    /// Conversation id.
    pub conversation_id: Option<String>,
    /// The session it records (an archived stub may lack it).
    pub session_id: Option<String>,
    /// audio, chat, email, message or messaging (spelling unconfirmed), screen (open set).
    pub media: Option<String>,
    /// AVAILABLE, ARCHIVED, DELETED, ... (see [`Recording::file_state`]).
    #[serde(rename = "fileState")]
    pub file_state_raw: Option<String>,
    /// Start of playable media.
    pub start_time: Option<String>,
    /// End of playable media.
    pub end_time: Option<String>,
    /// When it was archived.
    pub archive_date: Option<String>,
    /// CLOUDARCHIVE.
    pub archive_medium: Option<String>,
    /// When it is (or was) deleted.
    pub delete_date: Option<String>,
    /// Legacy chat transcript (ChatMessage entries), kept as received.
    pub transcript: Option<Vec<Value>>,
    /// Email transcript (RecordingEmailMessage entries), kept as received.
    pub email_transcript: Option<Vec<Value>>,
    /// Messaging transcript (RecordingMessagingMessage entries), kept as received.
    pub messaging_transcript: Option<Vec<Value>>,
    /// Media URIs.
    pub media_uris: Option<BTreeMap<String, Value>>,
}

impl Recording {
    /// The file state; a missing one counts as AVAILABLE only if a transcript is present.
    pub fn file_state(&self) -> FileState {
        match self.file_state_raw.as_deref() {
            Some(value) => FileState::parse(value),
            None if self.transcript_entries().is_some() => FileState::Available,
            None => FileState::Other("missing".to_string()),
        }
    }

    /// Whether this is a text recording (a chat, email or messaging transcript). `media` is a
    /// free string whose spelling for messaging is not settled (`message` in RecordingMetadata's
    /// docs, `messaging` in Recording's), so text is everything but the known non-text media;
    /// a transcript makes it text whatever `media` says, and a stub without `media` counts as
    /// text (better reported archived than silently taken for not recorded).
    pub fn is_text(&self) -> bool {
        if self.transcript_entries().is_some() {
            return true;
        }
        self.media.as_deref().is_none_or(|media| {
            !NON_TEXT_MEDIA
                .iter()
                .any(|other| other.eq_ignore_ascii_case(media.trim()))
        })
    }

    /// The transcript entries of whichever media this recording holds.
    pub fn transcript_entries(&self) -> Option<&Vec<Value>> {
        self.messaging_transcript
            .as_ref()
            .or(self.email_transcript.as_ref())
            .or(self.transcript.as_ref())
    }
}

/// `2026-11-20T10:15:00.000Z`: ISO-8601 with milliseconds and Z, as Genesys writes dates.
pub fn format_timestamp(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

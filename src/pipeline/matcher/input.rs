//! What the matcher reads: Genesys conversations and DAS contacts reduced to what matching needs,
//! and the slice and rules of one recovery ([`MatchConfig`]).

use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use crate::api::{MediaType, Window};

/// Default widening of the DAS query around a slice (design.md section 7).
pub const DEFAULT_TOLERANCE: SignedDuration = SignedDuration::from_mins(5);

/// One Genesys analytics session, reduced to what matching needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    /// Genesys session id.
    pub session_id: Uuid,
    /// The text media type of the session, `None` for non-text media (voice, callback, ...).
    pub media_type: Option<MediaType>,
    /// Genesys `messageType` of messaging sessions (`sms`, `whatsapp`, ...).
    pub message_type: Option<String>,
    /// The analytics `recording` flag as received (documented for audio; see
    /// [`MatchConfig::trust_recording_flag`]).
    pub recording_flag: Option<bool>,
}

/// One Genesys conversation, reduced to what matching needs. The pipeline fills it from the
/// Genesys client's models; it is deliberately independent of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationSummary {
    /// Genesys conversation id (the recording side's `externalId`).
    pub conversation_id: Uuid,
    /// `conversationStart`.
    pub start: Timestamp,
    /// `conversationEnd`; `None` while the conversation is open.
    pub end: Option<Timestamp>,
    /// The text sessions of its agent legs (purpose agent or user): what the recording side
    /// holds per contact.
    pub sessions: Vec<SessionSummary>,
}

/// One DAS contact as the matcher reads it. Borrowed, so a DAS page can be dropped as soon as it
/// is indexed.
#[derive(Clone, Copy, Debug)]
pub struct ContactRecord<'a> {
    /// The recording side's own id (only used to name anomalies).
    pub contact_id: &'a str,
    /// The Genesys conversation id this contact was recorded from.
    pub external_id: Option<&'a str>,
    /// Contact start; `None` when DAS sent none or an unparsable one.
    pub start_time: Option<Timestamp>,
    /// Genesys session ids the recording side holds for the contact.
    pub session_ids: &'a [String],
    /// The contact's media type, when it names one of ours (counts extras per media type).
    pub media_type: Option<MediaType>,
}

/// What matching needs to know about the slice and the recovery.
#[derive(Clone, Debug)]
pub struct MatchConfig {
    /// The slice this matcher owns: conversations starting in [start, end).
    pub slice: Window,
    /// Requested text media types.
    pub media_types: Vec<MediaType>,
    /// Narrows `social` to these Genesys message types (lower case); empty means all.
    pub message_types: Vec<String>,
    /// Conversations that ended less than this before `now` are skipped as not settled.
    pub settle_delay: SignedDuration,
    /// The current time, passed in so matching stays pure.
    pub now: Timestamp,
    /// How far the DAS query was widened around the slice; contacts beyond it are anomalies.
    pub tolerance: SignedDuration,
    /// Believe the analytics `recording` flag on text sessions: skip conversations none of
    /// whose requested sessions carries it, and expect of the recording side only the flagged
    /// ones. Off by default (`spec.genesys.trustRecordingFlag`): Genesys documents the flag for
    /// audio, so a missing flag must not read as "not recorded".
    pub trust_recording_flag: bool,
}

/// Whether `at` lies in `window`, start included, end excluded: how a slice owns a conversation
/// and how a chunk places a contact.
pub(super) fn in_window(window: Window, at: Timestamp) -> bool {
    at >= window.start && at < window.end
}

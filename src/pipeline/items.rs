//! What passes between the stages: a conversation to recover (from the matcher to the recovery
//! pool) and an interaction Capture accepted (from ingestion to verification).

use jiff::Timestamp;
use uuid::Uuid;

use crate::api::MediaType;
use crate::genesys::Conversation;

/// A conversation the recording side lacks (all of it, or the `lacking` sessions).
#[derive(Debug, Clone)]
pub struct RecoveryItem {
    /// Conversation id.
    pub id: Uuid,
    /// The analytics record (participants, sessions).
    pub conversation: Conversation,
    /// Sessions the recording side lacks; empty when it lacks the whole conversation.
    pub lacking: Vec<Uuid>,
}

/// An interaction Capture accepted, waiting for DAS to show it.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// Conversation id.
    pub id: Uuid,
    /// Its `conversationStart`.
    pub start: Timestamp,
    /// Media type.
    pub media_type: MediaType,
    /// Session ids sent.
    pub sessions: Vec<String>,
    /// Capture answered 200: identical content was already held.
    pub already_present: bool,
}

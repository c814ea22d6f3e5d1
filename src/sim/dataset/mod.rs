//! The seeded dataset every simulator serves: Genesys conversations (with sessions, participants,
//! recordings and transcripts) and, per conversation, what the recording side holds of it.
//!
//! Same `DatasetConfig` (seed included), same data, byte for byte. Memory: a conversation keeps
//! only what identifies it (ids, times, media, sessions, recordings, recording-side state), about
//! 400 bytes, so 200,000 conversations stay under 100 MB. Transcripts are NOT stored: they are
//! generated on demand from the seed and the conversation's index ([`Dataset::transcript`]), which
//! is deterministic, so every simulator (Genesys serving them, Capture comparing them) sees the
//! same content.
//!
//! Vocabulary: a conversation's "sessions" ([`SimConversation::sessions`]) are its *agent* text
//! sessions, one per agent that handled it (a transfer makes two). Each recorded one has its own
//! recording. Customer, ACD and workflow participants have sessions too (in the analytics view),
//! but those are never recorded and never matched.
//!
//! Files: `config.rs` says what to make and `model.rs` names what is made; `generate.rs` draws
//! it (`profile.rs` spreading the starts over the window), with `holdings.rs` deciding what the
//! recording side holds; `participants.rs` and `transcript.rs` draw the content on demand
//! (`draw.rs` has the draws they share); and `expectations.rs` states what a recovery over the
//! dataset must find.

mod config;
mod draw;
mod expectations;
mod generate;
mod holdings;
mod model;
mod participants;
mod profile;
mod transcript;

use uuid::Uuid;

pub use self::config::DatasetConfig;
pub use self::holdings::RecordingSideState;
pub use self::model::{
    Direction, FileState, MessageType, SimConversation, SimMedia, SimParticipant, SimRecording,
    SimSession,
};
pub use self::profile::{
    BUSINESS_HOURS_DENSITY, BUSINESS_HOURS_UTC, ProfileParseError, StartProfile, in_business_hours,
};

/// A generated dataset.
#[derive(Debug)]
pub struct Dataset {
    /// The configuration it was generated from.
    pub config: DatasetConfig,
    /// Division ids.
    pub divisions: Vec<Uuid>,
    /// Queues (id, name).
    pub queues: Vec<(Uuid, String)>,
    /// Agents (user id, name).
    pub agents: Vec<(Uuid, String)>,
    /// Inbound message / chat flows (id, name).
    pub flows: Vec<(Uuid, String)>,
    /// Conversations sorted by start.
    pub conversations: Vec<SimConversation>,
}

impl Dataset {
    /// The conversation with this id (binary search is impossible: ids are random; linear scan
    /// is fine for tests; simulators keep their own index).
    pub fn find(&self, id: Uuid) -> Option<&SimConversation> {
        self.conversations.iter().find(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests;

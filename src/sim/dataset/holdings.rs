//! What the recording side holds of each conversation: the seed-time state, the draw that
//! withholds some conversations (all of one, or the later session of a transfer), and the
//! sessions a held contact carries.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::{DatasetConfig, SimConversation, SimMedia, SimRecording, SimSession};

/// What the recording side holds of a conversation at seed time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordingSideState {
    /// A contact with every session.
    Held,
    /// No contact at all.
    Missing,
    /// A contact lacking these sessions (always the later session of a transfer).
    Partial {
        /// Session ids the contact lacks.
        lacking_sessions: Vec<Uuid>,
    },
}

/// Draws what the recording side holds of a freshly generated conversation. The draws happen in
/// the same order whatever the outcome, so the rest of a seed's data does not depend on it.
pub(super) fn draw_holding(
    config: &DatasetConfig,
    rng: &mut ChaCha8Rng,
    open: bool,
    media_type: SimMedia,
    sessions: &[SimSession],
    recordings: &[SimRecording],
) -> RecordingSideState {
    let roll: f64 = rng.random();
    let recording_side = if open {
        // The recording side only ever sees finished interactions.
        RecordingSideState::Missing
    } else if !media_type.is_text() {
        RecordingSideState::Held
    } else if roll < config.missing_rate {
        RecordingSideState::Missing
    } else if sessions.len() > 1
        && rng.random_bool(
            (config.partial_rate / config.transfer_rate.max(f64::EPSILON)).clamp(0.0, 1.0),
        )
    {
        RecordingSideState::Partial {
            lacking_sessions: vec![sessions[sessions.len() - 1].id],
        }
    } else {
        RecordingSideState::Held
    };
    // Nothing recorded, nothing captured: the draws above still happen so the sequence (and the
    // rest of the seed's data) stays the same.
    if media_type.is_text() && recordings.is_empty() {
        RecordingSideState::Missing
    } else {
        recording_side
    }
}

impl SimConversation {
    /// Sessions the recording side holds at seed time (empty when missing).
    pub fn held_sessions(&self) -> Vec<&SimSession> {
        match &self.recording_side {
            RecordingSideState::Held => self.sessions.iter().collect(),
            RecordingSideState::Missing => Vec::new(),
            RecordingSideState::Partial { lacking_sessions } => self
                .sessions
                .iter()
                .filter(|s| !lacking_sessions.contains(&s.id))
                .collect(),
        }
    }
}

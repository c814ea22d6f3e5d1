//! The matching rules of design.md section 7, pure: which conversations a slice owns, which
//! sessions are requested, and the category of an owned conversation given the sessions its
//! contact holds.

use jiff::Timestamp;
use uuid::Uuid;

use super::input::in_window;
use super::keys::IdKey;
use super::{Category, ConversationSummary, MatchConfig, SessionSummary, SkipReason};
use crate::api::MediaType;

/// The rules of one slice.
pub(super) struct Rules {
    pub(super) config: MatchConfig,
    /// A conversation is settled when it ended at or before this instant.
    settled_by: Option<Timestamp>,
}

impl Rules {
    pub(super) fn new(config: MatchConfig) -> Self {
        let settled_by = config.now.checked_sub(config.settle_delay).ok();
        Rules { config, settled_by }
    }

    /// Whether the slice owns the conversation: it starts in the slice.
    pub(super) fn owns(&self, conversation: &ConversationSummary) -> bool {
        in_window(self.config.slice, conversation.start)
    }

    fn is_requested(&self, session: &SessionSummary) -> bool {
        let Some(media_type) = session.media_type else {
            return false;
        };
        if !self.config.media_types.contains(&media_type) {
            return false;
        }
        if media_type == MediaType::Social && !self.config.message_types.is_empty() {
            return session.message_type.as_deref().is_some_and(|wanted| {
                self.config
                    .message_types
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(wanted))
            });
        }
        true
    }

    /// The media type a conversation is counted under: its first requested text session's, or
    /// else its first text session's.
    pub(super) fn primary_media_type(
        &self,
        conversation: &ConversationSummary,
    ) -> Option<MediaType> {
        conversation
            .sessions
            .iter()
            .find(|s| self.is_requested(s))
            .or_else(|| {
                conversation
                    .sessions
                    .iter()
                    .find(|s| s.media_type.is_some())
            })
            .and_then(|s| s.media_type)
    }

    /// The category of an owned conversation; `held` are the sorted session ids of its contact,
    /// `None` when the recording side holds no contact for it.
    pub(super) fn categorise(
        &self,
        conversation: &ConversationSummary,
        held: Option<&[IdKey]>,
    ) -> Category {
        let settled = match (conversation.end, self.settled_by) {
            (Some(end), Some(by)) => end <= by,
            _ => false,
        };
        if !settled {
            return Category::Skipped(SkipReason::NotSettled);
        }
        let mut requested = conversation
            .sessions
            .iter()
            .filter(|s| self.is_requested(s))
            .peekable();
        if requested.peek().is_none() {
            return Category::Skipped(SkipReason::MediaTypeNotRequested);
        }
        let trust_flag = self.config.trust_recording_flag;
        // The sessions the recording side should hold: every requested agent text session, or
        // only the flagged ones when the org's flag is trusted.
        let mut expected = requested
            .filter(|s| !trust_flag || s.recording_flag == Some(true))
            .peekable();
        if expected.peek().is_none() {
            return Category::Skipped(SkipReason::NoRecordingFlag);
        }
        let Some(held) = held else {
            return Category::Missing;
        };
        let mut lacking: Vec<Uuid> = Vec::new();
        for session in expected {
            let key = IdKey::from_uuid(session.session_id);
            if held.binary_search(&key).is_err() && !lacking.contains(&session.session_id) {
                lacking.push(session.session_id);
            }
        }
        if lacking.is_empty() {
            Category::Matched
        } else {
            Category::Partial { lacking }
        }
    }
}

//! Collect: the completed Genesys conversations of a chunk, streamed page by page after the
//! chunk's inventory was read, and turned into the compact summaries the matcher classifies. The
//! full analytics record travels on only for conversations that need recovery.

use futures::Stream;
use uuid::Uuid;

use crate::api::{MediaType, Window};
use crate::genesys::{CollectQuery, Conversation, GenesysClient, GenesysError};
use crate::pipeline::matcher::{ConversationSummary, SessionSummary};

/// The query for the conversations whose start lies in `slice`, of the requested media types,
/// social narrowed to `message_types` when any (also what the chunk plan asks Genesys to
/// estimate).
pub fn query(slice: Window, media_types: &[MediaType], message_types: &[String]) -> CollectQuery {
    CollectQuery {
        slice,
        media_types: media_types.to_vec(),
        message_types: message_types.to_vec(),
    }
}

/// Streams the conversations of [`query`].
pub fn conversations(
    genesys: &GenesysClient,
    slice: Window,
    media_types: &[MediaType],
    message_types: &[String],
) -> impl Stream<Item = Result<Conversation, GenesysError>> + Send + 'static {
    genesys.conversations(query(slice, media_types, message_types))
}

/// Why a conversation cannot be matched at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SummaryError {
    #[error("conversationId {0:?} is not a UUID")]
    ConversationId(String),
}

/// The matcher's view of a conversation. Sessions whose id is not a UUID cannot be compared with
/// the recording side's session ids; they are left out (and so never count as held or lacking).
pub fn summarize(conversation: &Conversation) -> Result<ConversationSummary, SummaryError> {
    let conversation_id = Uuid::parse_str(&conversation.id)
        .map_err(|_| SummaryError::ConversationId(conversation.id.clone()))?;
    let sessions = conversation
        .text_sessions()
        .into_iter()
        .filter_map(|s| {
            Some(SessionSummary {
                session_id: Uuid::parse_str(&s.session_id).ok()?,
                media_type: Some(s.media_type),
                message_type: s.message_type,
                recording_flag: s.recording_flag,
            })
        })
        .collect();
    Ok(ConversationSummary {
        conversation_id,
        start: conversation.start,
        end: conversation.end,
        sessions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conversation(value: serde_json::Value) -> Conversation {
        let detail: crate::genesys::models::AnalyticsConversation =
            serde_json::from_value(value).unwrap();
        Conversation {
            id: detail.conversation_id.clone().unwrap(),
            start: detail.conversation_start.unwrap(),
            end: detail.conversation_end,
            detail,
        }
    }

    #[test]
    fn summary_keeps_agent_and_user_text_sessions_with_recording_flags() {
        let c = conversation(json!({
            "conversationId": "5b3c2f4e-1d2a-4f6b-9a8c-0e1f2a3b4c5d",
            "conversationStart": "2026-11-20T10:00:00.000Z",
            "conversationEnd": "2026-11-20T10:05:00.000Z",
            "participants": [
                {"purpose": "customer", "sessions": [{"sessionId": "00000000-0000-4000-8000-000000000001", "mediaType": "chat"}]},
                {"purpose": "acd", "sessions": [{"sessionId": "00000000-0000-4000-8000-000000000005", "mediaType": "chat"}]},
                {"purpose": "agent", "participantId": "p1", "sessions": [
                    {"sessionId": "00000000-0000-4000-8000-000000000002", "mediaType": "chat", "recording": true},
                    {"sessionId": "not-a-uuid", "mediaType": "chat", "recording": true}
                ]},
                {"purpose": "user", "participantId": "p2", "sessions": [
                    {"sessionId": "00000000-0000-4000-8000-000000000003", "mediaType": "chat"}
                ]}
            ]
        }));
        let summary = summarize(&c).unwrap();
        assert_eq!(summary.sessions.len(), 2);
        assert_eq!(summary.sessions[0].recording_flag, Some(true));
        assert_eq!(summary.sessions[0].media_type, Some(MediaType::Chat));
        // A `user` leg is an agent's leg too; its missing flag stays missing, not false.
        assert_eq!(summary.sessions[1].recording_flag, None);
    }

    #[test]
    fn a_non_uuid_conversation_id_is_an_error_not_a_panic() {
        let c = conversation(json!({
            "conversationId": "abc",
            "conversationStart": "2026-11-20T10:00:00.000Z"
        }));
        assert_eq!(
            summarize(&c),
            Err(SummaryError::ConversationId("abc".into()))
        );
    }
}

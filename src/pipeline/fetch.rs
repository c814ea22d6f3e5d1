//! Stages 5 and 7, fetch: one `GET .../recordings` per conversation carries every recording with
//! its transcript; this module turns the answer into the interaction Capture ingests, or into a
//! reason why the conversation cannot be recovered (archived, deleted, not available).

use std::collections::HashMap;

use uuid::Uuid;

use crate::api::MediaType;
use crate::genesys::{Conversation, RecordingOutcome, RecordingsFetch};
use crate::verint::capture::{
    CaptureInteraction, CaptureParticipant, CaptureSession, CaptureTranscript, RecoveryRef,
};

/// What the recordings of one conversation allow.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// An interaction to ingest. `left_out` names sessions whose recording was not usable
    /// (archived, deleted, ...), for the report.
    Ready {
        interaction: Box<CaptureInteraction>,
        left_out: Vec<String>,
    },
    /// Nothing the recording side lacks can be recovered.
    Unrecoverable {
        reason: &'static str,
        detail: String,
    },
}

/// Builds the interaction for `conversation` from its recordings. `lacking` are the sessions the
/// recording side lacks (every recorded text session for a missing conversation): when none of
/// them has a usable transcript, there is nothing to send.
pub fn build_interaction(
    conversation: &Conversation,
    lacking: &[Uuid],
    recordings: RecordingsFetch,
    recovery: &RecoveryRef,
) -> Fetched {
    let text_sessions = conversation.text_sessions();
    let recorded: Vec<_> = text_sessions.iter().filter(|s| s.recorded).collect();
    let by_id: HashMap<&str, _> = text_sessions
        .iter()
        .map(|s| (s.session_id.as_str(), s))
        .collect();
    // A recording without a session id can only be placed when there is one recorded session.
    let lone_session = (recorded.len() == 1).then(|| recorded[0].session_id.clone());

    let mut sessions: Vec<CaptureSession> = Vec::new();
    let mut transcripts = Vec::new();
    let mut left_out = Vec::new();
    let mut unusable: Vec<(&'static str, String)> = Vec::new();
    for outcome in recordings.outcomes {
        match outcome {
            RecordingOutcome::Available {
                recording_id,
                session_id,
                media,
                transcript,
            } => {
                let session_id = session_id.or_else(|| lone_session.clone());
                let Some(session) = session_id.as_deref().and_then(|id| by_id.get(id)) else {
                    left_out.push(format!(
                        "recording {recording_id}: no matching text session"
                    ));
                    continue;
                };
                if !sessions.iter().any(|s| s.session_id == session.session_id) {
                    sessions.push(CaptureSession {
                        session_id: session.session_id.clone(),
                        media_type: session.media_type,
                        message_type: session.message_type.clone(),
                    });
                }
                transcripts.push(CaptureTranscript {
                    recording_id,
                    media: media
                        .unwrap_or_else(|| genesys_recording_media(session.media_type).to_string()),
                    messages: transcript,
                });
            }
            RecordingOutcome::Archived {
                recording_id,
                archive_date,
                archive_medium,
                ..
            } => {
                let detail = format!(
                    "recording {recording_id} archived{}{}",
                    archive_date.map(|d| format!(" on {d}")).unwrap_or_default(),
                    archive_medium
                        .map(|m| format!(" to {m}"))
                        .unwrap_or_default()
                );
                left_out.push(detail.clone());
                unusable.push(("archived", detail));
            }
            RecordingOutcome::Deleted {
                recording_id,
                delete_date,
                ..
            } => {
                let detail = format!(
                    "recording {recording_id} deleted{}",
                    delete_date.map(|d| format!(" on {d}")).unwrap_or_default()
                );
                left_out.push(detail.clone());
                unusable.push(("deleted", detail));
            }
            RecordingOutcome::Unavailable {
                recording_id,
                state,
                ..
            } => {
                let detail = format!("recording {recording_id}: {state}");
                left_out.push(detail.clone());
                unusable.push(("recordingUnavailable", detail));
            }
            RecordingOutcome::Invalid { reason } => {
                left_out.push(reason.clone());
                unusable.push(("invalidRecording", reason));
            }
        }
    }

    let recovers_something = sessions.iter().any(|s| {
        Uuid::parse_str(&s.session_id).is_ok_and(|id| lacking.is_empty() || lacking.contains(&id))
    });
    if !recovers_something {
        let (reason, detail) = unusable.into_iter().next().unwrap_or((
            "noRecording",
            "Genesys returned no usable recording for the sessions the recording side lacks"
                .to_string(),
        ));
        return Fetched::Unrecoverable { reason, detail };
    }

    let media_type = sessions
        .first()
        .map(|s| s.media_type)
        .or_else(|| conversation.media_type())
        .unwrap_or(MediaType::Chat);
    let mut interaction = CaptureInteraction::new(
        conversation.id.clone(),
        media_type,
        conversation.start,
        conversation.end,
        sessions,
        transcripts,
    );
    interaction.message_type = conversation.message_type().map(str::to_string);
    interaction.participants = conversation
        .detail
        .participants
        .iter()
        .filter_map(|p| {
            Some(CaptureParticipant {
                participant_id: p.participant_id.clone()?,
                purpose: p.purpose.clone().unwrap_or_else(|| "unknown".into()),
                name: p.participant_name.clone(),
            })
        })
        .collect();
    interaction.recovery = Some(recovery.clone());
    Fetched::Ready {
        interaction: Box::new(interaction),
        left_out,
    }
}

/// The Genesys recording `media` for a text media type (used when a recording omits it).
fn genesys_recording_media(media_type: MediaType) -> &'static str {
    match media_type {
        MediaType::Chat => "chat",
        MediaType::Email => "email",
        MediaType::Social => "message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const S1: &str = "00000000-0000-4000-8000-000000000001";
    const S2: &str = "00000000-0000-4000-8000-000000000002";

    fn transfer() -> Conversation {
        let detail: crate::genesys::models::AnalyticsConversation = serde_json::from_value(json!({
            "conversationId": "5b3c2f4e-1d2a-4f6b-9a8c-0e1f2a3b4c5d",
            "conversationStart": "2026-11-20T10:00:00.000Z",
            "conversationEnd": "2026-11-20T10:05:00.000Z",
            "participants": [
                {"purpose": "customer", "participantId": "c", "participantName": "Ann"},
                {"purpose": "agent", "participantId": "a1", "sessions": [{"sessionId": S1, "mediaType": "message", "messageType": "sms", "recording": true}]},
                {"purpose": "agent", "participantId": "a2", "sessions": [{"sessionId": S2, "mediaType": "message", "messageType": "sms", "recording": true}]}
            ]
        }))
        .unwrap();
        Conversation {
            id: detail.conversation_id.clone().unwrap(),
            start: detail.conversation_start.unwrap(),
            end: detail.conversation_end,
            detail,
        }
    }

    fn available(rid: &str, sid: Option<&str>) -> RecordingOutcome {
        RecordingOutcome::Available {
            recording_id: rid.into(),
            session_id: sid.map(str::to_string),
            media: Some("message".into()),
            transcript: vec![json!({"messageText": "hi"})],
        }
    }

    fn recovery() -> RecoveryRef {
        RecoveryRef {
            namespace: "ns".into(),
            name: "r".into(),
        }
    }

    fn fetch(outcomes: Vec<RecordingOutcome>) -> RecordingsFetch {
        RecordingsFetch {
            conversation_id: "x".into(),
            outcomes,
        }
    }

    #[test]
    fn both_sessions_of_a_transfer_are_sent() {
        let out = build_interaction(
            &transfer(),
            &[],
            fetch(vec![available("r1", Some(S1)), available("r2", Some(S2))]),
            &recovery(),
        );
        let Fetched::Ready {
            interaction,
            left_out,
        } = out
        else {
            panic!("{out:?}")
        };
        assert_eq!(interaction.sessions.len(), 2);
        assert_eq!(interaction.transcripts.len(), 2);
        assert_eq!(interaction.media_type, MediaType::Social);
        assert_eq!(interaction.message_type.as_deref(), Some("sms"));
        assert_eq!(interaction.participants.len(), 3);
        assert!(left_out.is_empty());
    }

    #[test]
    fn an_archived_lacking_session_is_unrecoverable_with_its_date() {
        let lacking = [Uuid::parse_str(S2).unwrap()];
        let out = build_interaction(
            &transfer(),
            &lacking,
            fetch(vec![
                available("r1", Some(S1)),
                RecordingOutcome::Archived {
                    recording_id: "r2".into(),
                    session_id: None,
                    archive_date: Some("2026-11-21T00:00:00Z".into()),
                    archive_medium: Some("CLOUDARCHIVE".into()),
                },
            ]),
            &recovery(),
        );
        match out {
            Fetched::Unrecoverable { reason, detail } => {
                assert_eq!(reason, "archived");
                assert!(detail.contains("2026-11-21"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn partly_archived_missing_conversation_sends_what_is_available() {
        let out = build_interaction(
            &transfer(),
            &[],
            fetch(vec![
                available("r1", Some(S1)),
                RecordingOutcome::Deleted {
                    recording_id: "r2".into(),
                    session_id: Some(S2.into()),
                    delete_date: None,
                },
            ]),
            &recovery(),
        );
        let Fetched::Ready {
            interaction,
            left_out,
        } = out
        else {
            panic!("{out:?}")
        };
        assert_eq!(interaction.sessions.len(), 1);
        assert_eq!(left_out.len(), 1);
    }

    #[test]
    fn no_recordings_at_all_is_unrecoverable() {
        let out = build_interaction(&transfer(), &[], fetch(vec![]), &recovery());
        assert!(matches!(
            out,
            Fetched::Unrecoverable {
                reason: "noRecording",
                ..
            }
        ));
    }
}

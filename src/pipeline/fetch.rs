//! Fetch, the answer's side: one `GET .../recordings` per conversation (made by
//! [`crate::pipeline::ingest`]) carries every recording with its transcript; this module turns
//! the answer into the interaction Capture ingests, or into the final word on why there is
//! none: Genesys holds no text recording of what the recording side lacks (`notRecorded`,
//! learned from the recordings API, never from the analytics flag), or the recordings are
//! archived, deleted or otherwise unusable.

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
    /// Genesys holds no text recording of the sessions the recording side lacks: nothing to
    /// recover, and nothing a retry would change (final outcome `notRecorded`).
    NotRecorded { detail: String },
    /// Genesys holds a recording of what is lacking, but it cannot be recovered.
    Unrecoverable {
        reason: &'static str,
        detail: String,
        /// The recording's archiveDate, when the reason is `archived` and Genesys gives it.
        archive_date: Option<jiff::Timestamp>,
    },
}

/// Builds the interaction for `conversation` from its text recordings. `lacking` are the
/// sessions the recording side lacks (empty: the whole conversation is missing): when none of
/// them has a usable transcript, there is nothing to send.
pub fn build_interaction(
    conversation: &Conversation,
    lacking: &[Uuid],
    recordings: RecordingsFetch,
    recovery: &RecoveryRef,
) -> Fetched {
    if recordings.outcomes.is_empty() {
        return Fetched::NotRecorded {
            detail: match recordings.non_text {
                0 => "Genesys holds no recording of this conversation".to_string(),
                n => format!("Genesys holds {n} recording(s) of this conversation, none of text"),
            },
        };
    }
    let text_sessions = conversation.text_sessions();
    let by_id: HashMap<&str, _> = text_sessions
        .iter()
        .map(|s| (s.session_id.as_str(), s))
        .collect();
    // A recording without a session id (an archived stub may lack it) can only be placed when
    // the conversation has one agent text session.
    let lone_session = (text_sessions.len() == 1).then(|| text_sessions[0].session_id.clone());

    let mut sessions: Vec<CaptureSession> = Vec::new();
    let mut transcripts = Vec::new();
    let mut left_out = Vec::new();
    // (reason, detail, session): why a recording could not be used, and whose it is.
    let mut unusable: Vec<(&'static str, String, Option<String>)> = Vec::new();
    // The archiveDate of each archived recording in `unusable`, by its index there.
    let mut archived_on: HashMap<usize, jiff::Timestamp> = HashMap::new();
    for outcome in recordings.outcomes {
        // Why a recording cannot be used, for the report; a usable one joins the interaction.
        let (reason, detail, session_id) = match outcome {
            RecordingOutcome::Available {
                recording_id,
                session_id,
                media,
                transcript,
            } => {
                let session_id = session_id.or_else(|| lone_session.clone());
                match session_id.as_deref().and_then(|id| by_id.get(id)) {
                    Some(session) => {
                        if !sessions.iter().any(|s| s.session_id == session.session_id) {
                            sessions.push(CaptureSession {
                                session_id: session.session_id.clone(),
                                media_type: session.media_type,
                                message_type: session.message_type.clone(),
                            });
                        }
                        transcripts.push(CaptureTranscript {
                            recording_id,
                            media: media.unwrap_or_else(|| {
                                genesys_recording_media(session.media_type).to_string()
                            }),
                            messages: transcript,
                        });
                        continue;
                    }
                    None => (
                        "recordingWithoutSession",
                        format!(
                            "recording {recording_id}: its session {} is no agent text session of the conversation",
                            session_id.as_deref().unwrap_or("(none given)")
                        ),
                        None,
                    ),
                }
            }
            RecordingOutcome::Archived {
                recording_id,
                session_id,
                archive_date,
                archive_medium,
            } => {
                if let Some(date) = archive_date.as_deref().and_then(|d| d.parse().ok()) {
                    archived_on.insert(unusable.len(), date);
                }
                (
                    "archived",
                    format!(
                        "recording {recording_id} archived{}{}",
                        archive_date.map(|d| format!(" on {d}")).unwrap_or_default(),
                        archive_medium
                            .map(|m| format!(" to {m}"))
                            .unwrap_or_default()
                    ),
                    session_id,
                )
            }
            RecordingOutcome::Deleted {
                recording_id,
                session_id,
                delete_date,
            } => (
                "deleted",
                format!(
                    "recording {recording_id} deleted{}",
                    delete_date.map(|d| format!(" on {d}")).unwrap_or_default()
                ),
                session_id,
            ),
            RecordingOutcome::Restoring {
                recording_id,
                session_id,
            } => (
                "restoring",
                format!("recording {recording_id} is being restored from the archive"),
                session_id,
            ),
            RecordingOutcome::Unavailable {
                recording_id,
                session_id,
                state,
            } => (
                "recordingUnavailable",
                format!("recording {recording_id}: {state}"),
                session_id,
            ),
            RecordingOutcome::Invalid { reason } => ("invalidRecording", reason, None),
        };
        left_out.push(detail.clone());
        unusable.push((reason, detail, session_id));
    }

    let recovers_something = sessions.iter().any(|s| is_lacking(&s.session_id, lacking));
    if !recovers_something {
        // The recording of a lacking session (or of an unknown one) says why; one of a session
        // the recording side already holds does not.
        let why = unusable
            .into_iter()
            .enumerate()
            .find(|(_, (_, _, session))| concerns_lacking(session.as_deref(), lacking));
        return match why {
            Some((at, (reason, detail, _))) => Fetched::Unrecoverable {
                reason,
                detail,
                archive_date: archived_on.remove(&at),
            },
            None => Fetched::NotRecorded {
                detail: "Genesys holds no text recording of the sessions the recording side lacks"
                    .to_string(),
            },
        };
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

/// Whether `session` is one the recording side lacks (`lacking` empty: the whole conversation
/// is missing).
fn is_lacking(session: &str, lacking: &[Uuid]) -> bool {
    lacking.is_empty() || Uuid::parse_str(session).is_ok_and(|id| lacking.contains(&id))
}

/// Whether a recording of `session` (None: a stub that does not say) may be what the
/// recording side lacks.
pub(crate) fn concerns_lacking(session: Option<&str>, lacking: &[Uuid]) -> bool {
    session.is_none_or(|session| is_lacking(session, lacking))
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
                // As documented for text: no analytics `recording` flag. The second leg is a
                // non-ACD `user` leg.
                {"purpose": "agent", "participantId": "a1", "sessions": [{"sessionId": S1, "mediaType": "message", "messageType": "sms"}]},
                {"purpose": "user", "participantId": "a2", "sessions": [{"sessionId": S2, "mediaType": "message", "messageType": "sms"}]}
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
            non_text: 0,
        }
    }

    /// The interaction of [`transfer`] whose recording side lacks `lacking`, from `outcomes`.
    fn build(lacking: &[Uuid], outcomes: Vec<RecordingOutcome>) -> Fetched {
        build_interaction(&transfer(), lacking, fetch(outcomes), &recovery())
    }

    fn ready(out: Fetched) -> (Box<CaptureInteraction>, Vec<String>) {
        match out {
            Fetched::Ready {
                interaction,
                left_out,
            } => (interaction, left_out),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn both_sessions_of_a_transfer_are_sent() {
        let out = build(
            &[],
            vec![available("r1", Some(S1)), available("r2", Some(S2))],
        );
        let (interaction, left_out) = ready(out);
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
        let out = build(
            &lacking,
            vec![
                available("r1", Some(S1)),
                RecordingOutcome::Archived {
                    recording_id: "r2".into(),
                    session_id: None,
                    archive_date: Some("2026-11-21T00:00:00Z".into()),
                    archive_medium: Some("CLOUDARCHIVE".into()),
                },
            ],
        );
        match out {
            Fetched::Unrecoverable {
                reason,
                detail,
                archive_date,
            } => {
                assert_eq!(reason, "archived");
                assert!(detail.contains("2026-11-21"), "{detail}");
                assert_eq!(archive_date, "2026-11-21T00:00:00Z".parse().ok());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn partly_archived_missing_conversation_sends_what_is_available() {
        let out = build(
            &[],
            vec![
                available("r1", Some(S1)),
                RecordingOutcome::Deleted {
                    recording_id: "r2".into(),
                    session_id: Some(S2.into()),
                    delete_date: None,
                },
            ],
        );
        let (interaction, left_out) = ready(out);
        assert_eq!(interaction.sessions.len(), 1);
        assert_eq!(left_out.len(), 1);
    }

    #[test]
    fn no_text_recording_at_all_is_not_recorded() {
        let out = build(&[], vec![]);
        assert!(matches!(out, Fetched::NotRecorded { .. }), "{out:?}");
        let mut screen_only = fetch(vec![]);
        screen_only.non_text = 1;
        match build_interaction(&transfer(), &[], screen_only, &recovery()) {
            Fetched::NotRecorded { detail } => assert!(detail.contains("none of text"), "{detail}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_lacking_session_without_recording_is_not_recorded() {
        // The recording side holds S1; Genesys recorded only S1.
        let lacking = [Uuid::parse_str(S2).unwrap()];
        let out = build(&lacking, vec![available("r1", Some(S1))]);
        assert!(matches!(out, Fetched::NotRecorded { .. }), "{out:?}");
    }

    #[test]
    fn an_archived_recording_of_a_held_session_does_not_explain_a_lacking_one() {
        let lacking = [Uuid::parse_str(S2).unwrap()];
        let out = build(
            &lacking,
            vec![RecordingOutcome::Archived {
                recording_id: "r1".into(),
                session_id: Some(S1.into()),
                archive_date: None,
                archive_medium: None,
            }],
        );
        assert!(matches!(out, Fetched::NotRecorded { .. }), "{out:?}");
    }

    #[test]
    fn a_recording_of_no_agent_session_is_reported_not_taken_for_not_recorded() {
        let out = build(
            &[],
            vec![available(
                "r9",
                Some("00000000-0000-4000-8000-00000000000f"),
            )],
        );
        assert!(
            matches!(
                out,
                Fetched::Unrecoverable {
                    reason: "recordingWithoutSession",
                    ..
                }
            ),
            "{out:?}"
        );
    }
}

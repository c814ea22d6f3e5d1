//! Archived recordings under `spec.archivedRecordings: Restore`, and recordings being restored
//! under either setting: before a conversation's interaction is built, the recordings of its
//! lacking sessions that are ARCHIVED are asked to be restored (once per run) and the
//! conversation waits, like one still transcoding, while any of them is ARCHIVED or RESTORING.
//! At the run's retry deadline it is carried as `restoring`, so a later run picks it up; once
//! every one is RESTORED the interaction is built and ingested as usual.

use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};
use parking_lot::Mutex;
use uuid::Uuid;

use super::fetch::concerns_lacking;
use crate::api::ArchivedRecordings;
use crate::genesys::{
    Conversation, GenesysClient, GenesysError, RecordingOutcome, RecordingsFetch,
};

/// The reason of a conversation waiting for a restoration (carried, see
/// [`super::settle`]).
pub const RESTORING: &str = "restoring";
/// The reason of a conversation whose restoration Genesys refused (403; final).
pub const RESTORE_FORBIDDEN: &str = "restoreForbidden";
/// How long a restored recording stays restored: the `archiveDate` sent is now plus this. A
/// week leaves room for a restoration that takes hours and for the next scheduled runs.
pub const RESTORE_FOR: SignedDuration = SignedDuration::from_hours(7 * 24);

/// The recordings of a conversation's lacking sessions that are not there yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotYetThere {
    /// ARCHIVED: a restoration must be asked for.
    pub archived: Vec<String>,
    /// RESTORING: asked for, not done.
    pub restoring: Vec<String>,
}

impl NotYetThere {
    /// The archived and restoring recordings among those of `recordings` that may be what the
    /// recording side lacks (`lacking` empty: all of them).
    pub fn of(recordings: &RecordingsFetch, lacking: &[Uuid]) -> NotYetThere {
        let mut found = NotYetThere::default();
        for outcome in &recordings.outcomes {
            match outcome {
                RecordingOutcome::Archived {
                    recording_id,
                    session_id,
                    ..
                } if concerns_lacking(session_id.as_deref(), lacking) => {
                    found.archived.push(recording_id.clone());
                }
                RecordingOutcome::Restoring {
                    recording_id,
                    session_id,
                } if concerns_lacking(session_id.as_deref(), lacking) => {
                    found.restoring.push(recording_id.clone());
                }
                _ => {}
            }
        }
        found
    }
}

/// What to do with a conversation before building its interaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreStep {
    /// Nothing to wait for (or, under `Report`, nothing worth waiting for): build it.
    Proceed,
    /// Wait for a restoration; try again later in the run (carried as `restoring` at the
    /// retry deadline).
    Wait { detail: String },
}

/// The restorations of one shard's run: the policy, and the recordings already asked for, so
/// that one still shown ARCHIVED right after the request is not asked for again and again.
#[derive(Debug)]
pub struct Restorer {
    policy: ArchivedRecordings,
    requested: Mutex<HashSet<String>>,
}

impl Restorer {
    /// A restorer following `policy`.
    pub fn new(policy: ArchivedRecordings) -> Restorer {
        Restorer {
            policy,
            requested: Mutex::default(),
        }
    }

    /// Asks Genesys to restore the archived recordings of `conversation`'s lacking sessions
    /// (under `Restore`, each once per run) and says whether to wait. An error is the failure
    /// of a restore request (a 403 is [`GenesysError::RestoreForbidden`]).
    pub async fn step(
        &self,
        genesys: &GenesysClient,
        conversation: &Conversation,
        lacking: &[Uuid],
        recordings: &RecordingsFetch,
    ) -> Result<RestoreStep, GenesysError> {
        let pending = NotYetThere::of(recordings, lacking);
        match self.policy {
            // An archived recording ends the conversation `archived`; waiting for another one
            // being restored (by someone else) would change nothing.
            ArchivedRecordings::Report if !pending.archived.is_empty() => {
                return Ok(RestoreStep::Proceed);
            }
            ArchivedRecordings::Report => {}
            ArchivedRecordings::Restore => {
                let until = Timestamp::now() + RESTORE_FOR;
                for recording_id in &pending.archived {
                    if self.requested.lock().contains(recording_id) {
                        continue;
                    }
                    let state = genesys
                        .restore_recording(&conversation.id, recording_id, until)
                        .await?;
                    tracing::info!(conversation = %conversation.id, recording = %recording_id, ?state, %until, "asked Genesys to restore an archived recording");
                    self.requested.lock().insert(recording_id.clone());
                }
            }
        }
        if pending.archived.is_empty() && pending.restoring.is_empty() {
            return Ok(RestoreStep::Proceed);
        }
        let waiting: Vec<&str> = pending
            .archived
            .iter()
            .chain(&pending.restoring)
            .map(String::as_str)
            .collect();
        Ok(RestoreStep::Wait {
            detail: format!(
                "waiting for Genesys to restore recording(s) {} from the archive",
                waiting.join(", ")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S1: &str = "00000000-0000-4000-8000-000000000001";
    const S2: &str = "00000000-0000-4000-8000-000000000002";

    fn fetch(outcomes: Vec<RecordingOutcome>) -> RecordingsFetch {
        RecordingsFetch {
            conversation_id: "c".into(),
            outcomes,
            non_text: 0,
        }
    }

    fn archived(id: &str, session: Option<&str>) -> RecordingOutcome {
        RecordingOutcome::Archived {
            recording_id: id.into(),
            session_id: session.map(str::to_string),
            archive_date: None,
            archive_medium: None,
        }
    }

    fn restoring(id: &str, session: Option<&str>) -> RecordingOutcome {
        RecordingOutcome::Restoring {
            recording_id: id.into(),
            session_id: session.map(str::to_string),
        }
    }

    #[test]
    fn only_recordings_of_lacking_sessions_are_waited_for() {
        let recordings = fetch(vec![
            archived("r1", Some(S1)),
            restoring("r2", Some(S2)),
            // A stub that does not name its session may be the lacking one.
            archived("r3", None),
            RecordingOutcome::Deleted {
                recording_id: "r4".into(),
                session_id: Some(S2.into()),
                delete_date: None,
            },
        ]);
        let lacking = [Uuid::parse_str(S2).unwrap_or_default()];
        assert_eq!(
            NotYetThere::of(&recordings, &lacking),
            NotYetThere {
                archived: vec!["r3".into()],
                restoring: vec!["r2".into()],
            }
        );
        // A missing conversation lacks every session.
        assert_eq!(
            NotYetThere::of(&recordings, &[]),
            NotYetThere {
                archived: vec!["r1".into(), "r3".into()],
                restoring: vec!["r2".into()],
            }
        );
    }
}

//! What the ledger holds and what a run's outcome says to it: a conversation enters the ledger
//! when a run's final word on it is "not recovered", and leaves it when a run finds it in the
//! recording side.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::MediaType;
use crate::pipeline::progress::{Outcome, OutcomeRecord};
use crate::pipeline::settle::{Settlement, settlement};

/// One conversation a schedule's runs could not recover, as the latest run that had a final
/// word on it said.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    /// Genesys conversation id.
    pub conversation_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    /// The conversation's `conversationStart` (its ledger day), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_start: Option<Timestamp>,
    /// `failed`, `conflict`, `notRecorded`, `skipped` (given up) or `wouldRecover` (DryRun).
    pub outcome: Outcome,
    /// Why, as in the report (`archived`, `deleted`, `differentContentHeld`, `gaveUp`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Details for a person; never credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// When the recording was archived (reason `archived`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_date: Option<Timestamp>,
    /// The run (DigitalRecovery) whose word this is.
    pub recovery: String,
    /// When that run's worker reached it; a later word replaces an earlier one.
    pub recorded_at: Timestamp,
}

/// What one run says about one conversation to the ledger.
#[derive(Clone, Debug, PartialEq)]
pub enum Word {
    /// Final and not recovered: the conversation is (or stays) in the ledger with this entry.
    Enter(LedgerEntry),
    /// The recording side holds it now (or a rule excludes it): out of the ledger.
    Leave {
        conversation_id: Uuid,
        conversation_start: Option<Timestamp>,
        at: Timestamp,
    },
}

impl Word {
    pub fn conversation_id(&self) -> Uuid {
        match self {
            Word::Enter(e) => e.conversation_id,
            Word::Leave {
                conversation_id, ..
            } => *conversation_id,
        }
    }

    pub fn conversation_start(&self) -> Option<Timestamp> {
        match self {
            Word::Enter(e) => e.conversation_start,
            Word::Leave {
                conversation_start, ..
            } => *conversation_start,
        }
    }

    pub fn at(&self) -> Timestamp {
        match self {
            Word::Enter(e) => e.recorded_at,
            Word::Leave { at, .. } => *at,
        }
    }
}

/// Whether a run's (settled) outcome puts the conversation in the ledger, takes it out, or
/// leaves the ledger as it is (`None`: an extra contact, or a carried outcome that says nothing
/// final; the earlier final word stands until a later run has one).
pub fn word_of(record: &OutcomeRecord, recovery: &str, at: Timestamp) -> Option<Word> {
    let conversation_id = record.conversation_id?;
    let leave = Word::Leave {
        conversation_id,
        conversation_start: record.conversation_start,
        at,
    };
    let carried = settlement(record.outcome, record.reason.as_deref()) == Settlement::Carried;
    match record.outcome {
        Outcome::Extra => None,
        // Recovered: ingested (Recovered and Unverified are carried only until DAS shows it).
        Outcome::Verified | Outcome::AlreadyPresent | Outcome::Recovered | Outcome::Unverified => {
            Some(leave)
        }
        _ if carried => None,
        // Skipped by a rule (media type not requested, no recording flag): not a loss.
        Outcome::Skipped if record.reason.as_deref() != Some(crate::pipeline::settle::GAVE_UP) => {
            Some(leave)
        }
        Outcome::Failed
        | Outcome::Conflict
        | Outcome::NotRecorded
        | Outcome::WouldRecover
        | Outcome::Skipped => Some(Word::Enter(LedgerEntry {
            conversation_id,
            media_type: record.media_type,
            conversation_start: record.conversation_start,
            outcome: record.outcome,
            reason: record.reason.clone(),
            detail: record.detail.clone(),
            archive_date: record.archive_date,
            recovery: recovery.to_string(),
            recorded_at: at,
        })),
    }
}

/// The words of one shard of one run, the latest per conversation, gathered while it runs and
/// merged into the ledger when it ends.
#[derive(Debug, Default)]
pub struct ShardWords {
    recovery: String,
    words: HashMap<Uuid, Word>,
}

impl ShardWords {
    pub fn new(recovery: &str) -> ShardWords {
        ShardWords {
            recovery: recovery.to_string(),
            words: HashMap::new(),
        }
    }

    /// Notes what `record` says to the ledger, now.
    pub fn note(&mut self, record: &OutcomeRecord) {
        if let Some(word) = word_of(record, &self.recovery, Timestamp::now()) {
            self.words.insert(word.conversation_id(), word);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn into_words(self) -> Vec<Word> {
        self.words.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(outcome: Outcome, reason: Option<&str>) -> OutcomeRecord {
        OutcomeRecord {
            conversation_id: Some(Uuid::from_u128(7)),
            media_type: Some(MediaType::Email),
            conversation_start: "2026-11-20T10:00:00Z".parse().ok(),
            outcome,
            reason: reason.map(str::to_string),
            detail: Some("why".into()),
            archive_date: None,
        }
    }

    fn kind(outcome: Outcome, reason: Option<&str>) -> &'static str {
        match word_of(&record(outcome, reason), "run-1", Timestamp::UNIX_EPOCH) {
            Some(Word::Enter(_)) => "enter",
            Some(Word::Leave { .. }) => "leave",
            None => "none",
        }
    }

    #[test]
    fn final_losses_enter_recoveries_leave_and_carried_outcomes_say_nothing() {
        let cases: &[(Outcome, Option<&str>, &str)] = &[
            (Outcome::Failed, Some("archived"), "enter"),
            (Outcome::Failed, Some("deleted"), "enter"),
            (Outcome::Failed, Some("rejected"), "enter"),
            (Outcome::Failed, Some("malformedConversation"), "enter"),
            (Outcome::Failed, Some("gaveUp"), "enter"),
            (Outcome::Skipped, Some("gaveUp"), "enter"),
            (Outcome::Conflict, Some("differentContentHeld"), "enter"),
            (Outcome::NotRecorded, Some("notRecorded"), "enter"),
            (Outcome::WouldRecover, Some("missing"), "enter"),
            (Outcome::Verified, None, "leave"),
            (
                Outcome::Verified,
                Some("recoveredByEarlierAttempt"),
                "leave",
            ),
            (Outcome::AlreadyPresent, None, "leave"),
            (Outcome::Recovered, None, "leave"),
            (Outcome::Unverified, Some("notVisibleInDas"), "leave"),
            (Outcome::Skipped, Some("mediaTypeNotRequested"), "leave"),
            (Outcome::Skipped, Some("noRecordingFlag"), "leave"),
            (Outcome::Skipped, Some("notSettled"), "none"),
            (Outcome::Failed, Some("transcoding"), "none"),
            (Outcome::Failed, Some("genesysUnavailable"), "none"),
            (Outcome::Failed, Some("somethingNew"), "none"),
            (Outcome::Extra, Some("noGenesysConversation"), "none"),
        ];
        for (outcome, reason, expected) in cases {
            assert_eq!(kind(*outcome, *reason), *expected, "{outcome:?} {reason:?}");
        }
        let mut without_id = record(Outcome::Failed, Some("deleted"));
        without_id.conversation_id = None;
        assert_eq!(word_of(&without_id, "r", Timestamp::UNIX_EPOCH), None);
    }

    #[test]
    fn an_entry_keeps_what_the_report_says_and_names_the_run() {
        let mut archived = record(Outcome::Failed, Some("archived"));
        archived.archive_date = "2026-11-21T00:00:00Z".parse().ok();
        let Some(Word::Enter(entry)) =
            word_of(&archived, "acme-202611201000", Timestamp::UNIX_EPOCH)
        else {
            panic!("an archived conversation enters the ledger");
        };
        assert_eq!(entry.archive_date, archived.archive_date);
        assert_eq!(entry.reason.as_deref(), Some("archived"));
        assert_eq!(entry.recovery, "acme-202611201000");
        let json = serde_json::to_value(&entry).expect("json");
        assert_eq!(json["archiveDate"], "2026-11-21T00:00:00Z");
        assert_eq!(json["conversationId"], Uuid::from_u128(7).to_string());
        // A shard keeps its latest word per conversation.
        let mut words = ShardWords::new("r");
        words.note(&archived);
        words.note(&record(Outcome::Verified, None));
        let words = words.into_words();
        assert_eq!(words.len(), 1);
        assert!(matches!(words[0], Word::Leave { .. }));
    }
}

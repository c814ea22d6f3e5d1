//! Final or carried: the one place that says whether a conversation's outcome in this run is its
//! last word (design.md section 7), pure and unit-tested.
//!
//! - **Final**: recovered and verified, already present, a conflict (409), extra, skipped by rule
//!   (media type not requested, no recording flag), not recorded, found in DryRun, or permanently
//!   unrecoverable with its reason (archived, deleted, a restoration Genesys refused, rejected
//!   by Capture with 413/422, a recording Genesys says does not exist, a malformed conversation
//!   or recording, a re-drive's conversation Genesys does not know or that started outside the
//!   window).
//! - **Carried**: not settled yet, still transcoding or restoring, ingested but not (yet) seen
//!   in DAS, or failed
//!   in a way a later attempt may get past (an outage, throttling or timeouts that outlived the
//!   retries, an unexpected error). A reason this module does not know is carried: a later run
//!   looks at the conversation again rather than skip it for good.
//!
//! A run reports the earliest `conversationStart` among its carried conversations as
//! `resumeFrom`. A conversation carried although it started before the recovery's
//! `giveUpBefore` ends final instead, with reason [`GAVE_UP`].

use jiff::Timestamp;

use super::progress::{Outcome, OutcomeRecord};
use super::restore::RESTORE_FORBIDDEN;

/// The reason of a conversation given up on.
pub const GAVE_UP: &str = "gaveUp";

/// Whether an outcome is the conversation's last word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Nothing a later run would change.
    Final,
    /// A later run should look at it again.
    Carried,
}

/// The settlement of `outcome` with `reason` (as written in the report).
pub fn settlement(outcome: Outcome, reason: Option<&str>) -> Settlement {
    use Settlement::{Carried, Final};
    match outcome {
        Outcome::Verified
        | Outcome::AlreadyPresent
        | Outcome::Conflict
        | Outcome::NotRecorded
        | Outcome::WouldRecover
        | Outcome::Extra => Final,
        // Ingested but not confirmed: a later run finds it held, or sends it again.
        Outcome::Recovered | Outcome::Unverified => Carried,
        Outcome::Skipped => match reason {
            // outsideWindow: a re-drive named it, but it started outside the window; only a
            // person (with another window) can change that.
            Some("mediaTypeNotRequested" | "noRecordingFlag" | "outsideWindow") | Some(GAVE_UP) => {
                Final
            }
            // notSettled, and anything unknown.
            _ => Carried,
        },
        Outcome::Failed => match reason {
            Some(reason) if FINAL_FAILURES.contains(&reason) => Final,
            // transcoding, restoring (asked of Genesys, not done yet), genesysUnavailable,
            // captureUnavailable (retries exhausted on 5xx, 429, timeouts), genesysError and
            // captureError (e.g. credentials a person can fix), recordingUnavailable (a file
            // state that may pass), and anything unknown.
            _ => Carried,
        },
    }
}

/// The reasons of a `failed` conversation that no later attempt gets past: final.
const FINAL_FAILURES: [&str; 10] = [
    "archived",
    "deleted",
    RESTORE_FORBIDDEN,
    "rejected",
    "recordingNotFound",
    "recordingWithoutSession",
    "invalidRecording",
    "malformedConversation",
    "conversationNotFound",
    GAVE_UP,
];

/// What [`bounded_reason`] answers for a 409.
const CONFLICT: &str = "conflict";

/// Why a settled record (after [`settle`]) ended final without the conversation being
/// recovered, as [`bounded_reason`] names it; None when it was recovered, is held, needs
/// nothing, or is carried.
pub fn unrecoverable_reason(outcome: Outcome, reason: Option<&str>) -> Option<&'static str> {
    if settlement(outcome, reason) == Settlement::Carried {
        return None;
    }
    match (outcome, reason) {
        (Outcome::Conflict, _) => Some(CONFLICT),
        (Outcome::Failed, reason) | (Outcome::Skipped, reason @ Some(GAVE_UP)) => {
            Some(bounded_reason(reason.unwrap_or("other")))
        }
        _ => None,
    }
}

/// `reason` if it is a final failure reason or `conflict`, else `other`: a bounded set, fit for
/// a metric's label, even from a status written by someone else.
pub fn bounded_reason(reason: &str) -> &'static str {
    FINAL_FAILURES
        .iter()
        .chain([&CONFLICT])
        .find(|r| **r == reason)
        .copied()
        .unwrap_or("other")
}

/// What became of one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Final as it came.
    Final,
    /// Carried over to a later run; its start, when the record has one.
    Carried(Option<Timestamp>),
    /// Carried, but it started before `giveUpBefore`: now final with reason [`GAVE_UP`].
    GaveUp,
}

/// Settles `record`: a carried record that started before `give_up_before` is rewritten to
/// reason [`GAVE_UP`] (its former reason kept in the detail) and becomes final.
pub fn settle(record: &mut OutcomeRecord, give_up_before: Option<Timestamp>) -> Settled {
    if settlement(record.outcome, record.reason.as_deref()) == Settlement::Final {
        return Settled::Final;
    }
    let start = record.conversation_start;
    match (start, give_up_before) {
        (Some(start), Some(limit)) if start < limit => {
            let was = record.reason.take().unwrap_or_else(|| "unknown".into());
            let detail = match record.detail.take() {
                Some(detail) => format!("{was}: {detail}"),
                None => was,
            };
            record.detail = Some(format!(
                "given up: started {start}, before giveUpBefore {limit}; carried as {detail}"
            ));
            record.reason = Some(GAVE_UP.into());
            Settled::GaveUp
        }
        _ => Settled::Carried(start),
    }
}

/// The earlier of two optional instants.
pub fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::restore::RESTORING;
    use uuid::Uuid;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn unrecoverable_reasons_are_the_final_failures_and_stay_bounded() {
        assert_eq!(
            unrecoverable_reason(Outcome::Failed, Some("archived")),
            Some("archived")
        );
        assert_eq!(
            unrecoverable_reason(Outcome::Conflict, Some("differentContentHeld")),
            Some("conflict")
        );
        assert_eq!(
            unrecoverable_reason(Outcome::Skipped, Some(GAVE_UP)),
            Some(GAVE_UP)
        );
        assert_eq!(
            unrecoverable_reason(Outcome::Failed, Some(GAVE_UP)),
            Some(GAVE_UP)
        );
        // Carried, recovered, or nothing to recover: not unrecoverable.
        assert_eq!(
            unrecoverable_reason(Outcome::Failed, Some("transcoding")),
            None
        );
        assert_eq!(
            unrecoverable_reason(Outcome::Skipped, Some("notSettled")),
            None
        );
        assert_eq!(unrecoverable_reason(Outcome::Verified, None), None);
        assert_eq!(
            unrecoverable_reason(Outcome::NotRecorded, Some("notRecorded")),
            None
        );
        assert_eq!(bounded_reason("somethingNew"), "other");
        assert_eq!(bounded_reason("deleted"), "deleted");
    }

    #[test]
    fn a_re_drives_own_reasons_are_final() {
        assert_eq!(
            settlement(Outcome::Skipped, Some("outsideWindow")),
            Settlement::Final
        );
        assert_eq!(
            settlement(Outcome::Failed, Some("conversationNotFound")),
            Settlement::Final
        );
    }

    #[test]
    fn every_reason_the_pipeline_writes_is_classified() {
        use Settlement::{Carried, Final};
        let cases: &[(Outcome, Option<&str>, Settlement)] = &[
            (Outcome::Verified, None, Final),
            (Outcome::Verified, Some("recoveredByEarlierAttempt"), Final),
            (Outcome::AlreadyPresent, Some("identicalContentHeld"), Final),
            (Outcome::Conflict, Some("differentContentHeld"), Final),
            (Outcome::NotRecorded, Some("notRecorded"), Final),
            (Outcome::WouldRecover, Some("missing"), Final),
            (Outcome::Extra, Some("noGenesysConversation"), Final),
            (Outcome::Skipped, Some("mediaTypeNotRequested"), Final),
            (Outcome::Skipped, Some("noRecordingFlag"), Final),
            (Outcome::Skipped, Some("notSettled"), Carried),
            (Outcome::Failed, Some("archived"), Final),
            (Outcome::Failed, Some("deleted"), Final),
            (Outcome::Failed, Some("rejected"), Final),
            (Outcome::Failed, Some("recordingNotFound"), Final),
            (Outcome::Failed, Some("recordingWithoutSession"), Final),
            (Outcome::Failed, Some("invalidRecording"), Final),
            (Outcome::Failed, Some("malformedConversation"), Final),
            (Outcome::Failed, Some(GAVE_UP), Final),
            (Outcome::Failed, Some("transcoding"), Carried),
            (Outcome::Failed, Some(RESTORING), Carried),
            (Outcome::Failed, Some(RESTORE_FORBIDDEN), Final),
            (Outcome::Failed, Some("genesysUnavailable"), Carried),
            (Outcome::Failed, Some("captureUnavailable"), Carried),
            (Outcome::Failed, Some("genesysError"), Carried),
            (Outcome::Failed, Some("captureError"), Carried),
            (Outcome::Failed, Some("recordingUnavailable"), Carried),
            (Outcome::Unverified, Some("notVisibleInDas"), Carried),
            (Outcome::Recovered, None, Carried),
        ];
        for (outcome, reason, expected) in cases {
            assert_eq!(
                settlement(*outcome, *reason),
                *expected,
                "{outcome:?} {reason:?}"
            );
        }
    }

    #[test]
    fn an_unknown_reason_is_carried_so_nothing_is_skipped_for_good() {
        assert_eq!(
            settlement(Outcome::Failed, Some("somethingNew")),
            Settlement::Carried
        );
        assert_eq!(settlement(Outcome::Failed, None), Settlement::Carried);
        assert_eq!(settlement(Outcome::Skipped, None), Settlement::Carried);
    }

    fn record(outcome: Outcome, reason: &str, start: Option<&str>) -> OutcomeRecord {
        OutcomeRecord {
            conversation_id: Some(Uuid::from_u128(1)),
            media_type: None,
            conversation_start: start.map(ts),
            outcome,
            reason: Some(reason.into()),
            detail: Some("503".into()),
            archive_date: None,
        }
    }

    #[test]
    fn a_carried_conversation_older_than_the_limit_is_given_up() {
        let limit = Some(ts("2026-11-20T00:00:00Z"));
        let mut old = record(
            Outcome::Failed,
            "genesysUnavailable",
            Some("2026-11-19T23:59:59Z"),
        );
        assert_eq!(settle(&mut old, limit), Settled::GaveUp);
        assert_eq!(old.reason.as_deref(), Some(GAVE_UP));
        assert_eq!(old.outcome, Outcome::Failed);
        let detail = old.detail.unwrap_or_default();
        assert!(detail.contains("genesysUnavailable: 503"), "{detail}");
        // Now final: settling it again changes nothing.
        let mut young = record(Outcome::Skipped, "notSettled", Some("2026-11-20T00:00:00Z"));
        assert_eq!(
            settle(&mut young, limit),
            Settled::Carried(Some(ts("2026-11-20T00:00:00Z")))
        );
        assert_eq!(young.reason.as_deref(), Some("notSettled"));
        // Without a limit nothing is given up; a final record is never rewritten.
        let mut any = record(Outcome::Skipped, "notSettled", Some("2000-01-01T00:00:00Z"));
        assert!(matches!(settle(&mut any, None), Settled::Carried(Some(_))));
        let mut deleted = record(Outcome::Failed, "deleted", Some("2000-01-01T00:00:00Z"));
        assert_eq!(settle(&mut deleted, limit), Settled::Final);
        assert_eq!(deleted.reason.as_deref(), Some("deleted"));
    }

    #[test]
    fn earliest_of_optional_instants() {
        let (a, b) = (ts("2026-11-20T00:00:00Z"), ts("2026-11-21T00:00:00Z"));
        assert_eq!(earliest(Some(b), Some(a)), Some(a));
        assert_eq!(earliest(None, Some(b)), Some(b));
        assert_eq!(earliest(Some(a), None), Some(a));
        assert_eq!(earliest(None, None), None);
    }
}

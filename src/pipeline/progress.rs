//! What the pipeline tells the outside world while it runs: per-conversation outcome records and
//! progress snapshots, behind one small trait so a terminal (recover/demo) and a status writer
//! (worker) can both listen.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{ApiCalls, MatchCounts, MediaType, Progress};

/// The stages of the pipeline, in the order they are reported (inventory and collect take turns,
/// once per time chunk).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// Listing the contacts the recording side holds for a chunk.
    Inventory,
    /// Listing a chunk's completed Genesys conversations, classifying each as it arrives.
    Collect,
    /// Classifying every conversation. Not reported today: conversations are classified as they
    /// are collected, under `Collect`.
    Match,
    /// Reading recordings and transcripts, handing them to Interaction Capture.
    Recover,
    /// Confirming through DAS that ingested interactions arrived.
    Verify,
    /// Finished.
    Done,
}

/// The final word on one conversation (or one extra contact).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Ingested by Capture but not (yet) confirmed in DAS. Only final when verification ran out.
    Recovered,
    /// Ingested and seen in DAS.
    Verified,
    /// Capture already held identical content (200; e.g. a resend after a lost answer), and DAS
    /// shows it.
    AlreadyPresent,
    /// Capture holds different content for this conversation (409); left untouched.
    Conflict,
    /// Could not be recovered; `reason` says why.
    Failed,
    /// The recording side lacks it, and the recordings API holds no text recording of it (or
    /// of the sessions lacking): nothing to recover. Final, found by asking Genesys.
    NotRecorded,
    /// Ingested, but DAS did not show it before the verify deadline.
    Unverified,
    /// Not considered; `reason` says why (notSettled, mediaTypeNotRequested, or noRecordingFlag
    /// when `trustRecordingFlag` is set and no session carries the analytics flag).
    Skipped,
    /// Missing or partial, found in DryRun mode: reported, nothing changed.
    WouldRecover,
    /// A recording-side contact with no Genesys conversation; reported, never touched.
    Extra,
}

/// One per-conversation line of a recovery's report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeRecord {
    /// Genesys conversation id (for `extra`, the contact's externalId when it parsed).
    pub conversation_id: Option<Uuid>,
    /// Media type, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    /// The conversation's `conversationStart`, when known (not for extras).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_start: Option<Timestamp>,
    /// What happened.
    pub outcome: Outcome,
    /// Why, in a short camelCase word (e.g. `archived`, `transcoding`, `rejected`, `notSettled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Details for a person (an upstream message, an archive date). Never holds credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// When the recording that made it unrecoverable was archived (reason `archived`, when
    /// Genesys gives the date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_date: Option<Timestamp>,
}

/// Totals of the per-conversation outcomes, as `recover --output json` prints them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeCounts {
    pub recovered: u64,
    pub verified: u64,
    pub already_present: u64,
    pub conflict: u64,
    pub failed: u64,
    pub unverified: u64,
    pub not_recorded: u64,
}

impl std::ops::AddAssign for OutcomeCounts {
    fn add_assign(&mut self, o: Self) {
        self.recovered += o.recovered;
        self.verified += o.verified;
        self.already_present += o.already_present;
        self.conflict += o.conflict;
        self.failed += o.failed;
        self.unverified += o.unverified;
        self.not_recorded += o.not_recorded;
    }
}

impl OutcomeCounts {
    /// Counts one final outcome.
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Recovered => self.recovered += 1,
            Outcome::Verified => self.verified += 1,
            Outcome::AlreadyPresent => self.already_present += 1,
            Outcome::Conflict => self.conflict += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Unverified => self.unverified += 1,
            Outcome::NotRecorded => self.not_recorded += 1,
            Outcome::Skipped | Outcome::WouldRecover | Outcome::Extra => {}
        }
    }
}

/// Match counts per media type, in an array so that a [`ShardProgress`] stays `Copy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchByMedia([MatchCounts; 3]);

impl MatchByMedia {
    fn slot(media_type: MediaType) -> usize {
        match media_type {
            MediaType::Chat => 0,
            MediaType::Email => 1,
            MediaType::Social => 2,
        }
    }

    /// The counts of `media_type`.
    pub fn get(&self, media_type: MediaType) -> MatchCounts {
        self.0[Self::slot(media_type)]
    }

    /// The counts of `media_type`, to change.
    pub fn get_mut(&mut self, media_type: MediaType) -> &mut MatchCounts {
        &mut self.0[Self::slot(media_type)]
    }
}

/// A point-in-time view of one shard, cheap to copy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardProgress {
    /// Stage now running (None before the first).
    pub stage: Option<Stage>,
    /// Match totals so far (final once the match stage is over).
    pub match_counts: MatchCounts,
    /// The same per primary media type (conversations without a text session, and contacts of
    /// no known media type, are only in the totals).
    #[serde(default)]
    pub match_by_media: MatchByMedia,
    /// Recovery totals so far.
    pub progress: Progress,
    /// API calls so far.
    pub api_calls: ApiCalls,
    /// 429 responses received so far.
    pub throttled: u64,
    /// The same by service.
    #[serde(default)]
    pub throttled_by: ApiCalls,
    /// The earliest `conversationStart` among the conversations carried over to a later run so
    /// far (see [`crate::pipeline::settle`]); None while none is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_from: Option<Timestamp>,
}

/// Listens to a running pipeline. Calls come from the pipeline's tasks and must not block for long;
/// implementations throttle their own output (a worker writes status at most about once a second).
pub trait ProgressReporter: Send + Sync {
    /// Called whenever counts change, and at every stage change.
    fn progress(&self, snapshot: &ShardProgress);
    /// Called once per final per-conversation outcome.
    fn outcome(&self, record: &OutcomeRecord);
}

/// A reporter that ignores everything (tests, benchmarks).
pub struct NoProgress;

impl ProgressReporter for NoProgress {
    fn progress(&self, _snapshot: &ShardProgress) {}
    fn outcome(&self, _record: &OutcomeRecord) {}
}

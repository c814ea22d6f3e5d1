//! What the matcher says of one conversation: its category (matched, missing, partial, or
//! skipped with a reason), and whether the slice owns it at all.

use serde::Serialize;
use uuid::Uuid;

use crate::api::{MatchCategory, MediaType};

/// Why a conversation is not considered for recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SkipReason {
    /// Open, or ended less than `settleDelay` before now.
    NotSettled,
    /// No session of a requested text media type (or message type).
    MediaTypeNotRequested,
    /// None of its requested text sessions carries the analytics `recording` flag, and
    /// [`MatchConfig::trust_recording_flag`] is set (never otherwise: without it, whether a
    /// recording exists is asked of the recordings API, and the answer "none" is the outcome
    /// `notRecorded`).
    NoRecordingFlag,
}

impl SkipReason {
    /// The reason as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::NotSettled => "notSettled",
            SkipReason::MediaTypeNotRequested => "mediaTypeNotRequested",
            SkipReason::NoRecordingFlag => "noRecordingFlag",
        }
    }
}

/// The category of one conversation owned by the slice. Exactly one per conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Category {
    /// The recording side holds every requested text session of its agent legs.
    Matched,
    /// The recording side holds no contact for it.
    Missing,
    /// A contact exists but lacks these text sessions of its agent legs.
    Partial {
        /// Session ids the contact lacks, in the conversation's order.
        lacking: Vec<Uuid>,
    },
    /// Not considered.
    Skipped(SkipReason),
}

impl Category {
    /// The category without its details, for counting.
    pub fn kind(&self) -> MatchCategory {
        match self {
            Category::Matched => MatchCategory::Matched,
            Category::Missing => MatchCategory::Missing,
            Category::Partial { .. } => MatchCategory::Partial,
            Category::Skipped(_) => MatchCategory::Skipped,
        }
    }
}

/// The matcher's decision for one conversation of the slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The conversation.
    pub conversation_id: Uuid,
    /// Its primary text media type (first requested text session), if it has one.
    pub media_type: Option<MediaType>,
    /// Its category.
    pub category: Category,
}

impl Verdict {
    /// Whether the pipeline should recover this conversation (missing or partial).
    pub fn needs_recovery(&self) -> bool {
        matches!(self.category, Category::Missing | Category::Partial { .. })
    }
}

/// Result of offering one conversation to the matcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classified {
    /// The conversation belongs to this slice and got a category (counted).
    Owned(Verdict),
    /// It started outside the slice (the Genesys interval semantics return such conversations);
    /// another slice owns it. Not counted.
    NotOwned,
    /// The same conversation id was offered before; counted as an anomaly only.
    Duplicate,
}

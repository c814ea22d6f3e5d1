//! What matching a slice found: totals, per media type and per skip reason, the extras and the
//! anomalies; chunk reports add up to the slice's.

use std::collections::BTreeMap;

use serde::Serialize;
use uuid::Uuid;

use super::{Anomalies, Category, SkipReason};
use crate::api::{MatchCounts, MediaType};

/// Totals of a slice's matching, plus extras and anomalies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchReport {
    /// Totals (`genesys` = conversations owned by the slice; `recordingSide` = distinct contacts
    /// starting in the slice).
    pub totals: MatchCounts,
    /// The same counts per primary media type (conversations without a text session are only
    /// in the totals).
    pub by_media_type: BTreeMap<MediaType, MatchCounts>,
    /// Skipped conversations by reason.
    pub skipped_by_reason: BTreeMap<SkipReason, u64>,
    /// Conversation ids of contacts starting in the slice that no Genesys conversation claimed,
    /// sorted.
    pub extras: Vec<Uuid>,
    /// Contacts DAS returned (before deduplication).
    pub contacts_received: u64,
    /// Conversations offered that another slice owns.
    pub not_owned: u64,
    /// Malformed or surprising input.
    pub anomalies: Anomalies,
}

impl MatchReport {
    /// Adds the report of the next chunk of the same slice.
    pub fn merge(&mut self, other: MatchReport) {
        self.totals += other.totals;
        for (media_type, counts) in other.by_media_type {
            *self.by_media_type.entry(media_type).or_default() += counts;
        }
        for (reason, n) in other.skipped_by_reason {
            *self.skipped_by_reason.entry(reason).or_default() += n;
        }
        self.extras.extend(other.extras);
        self.extras.sort_unstable();
        self.contacts_received += other.contacts_received;
        self.not_owned += other.not_owned;
        self.anomalies.merge(other.anomalies);
    }

    /// Counts one owned conversation under its category, its primary media type and, when
    /// skipped, its reason.
    pub(super) fn count(&mut self, media_type: Option<MediaType>, category: &Category) {
        self.totals.count(category.kind());
        if let Some(media_type) = media_type {
            self.by_media_type
                .entry(media_type)
                .or_default()
                .count(category.kind());
        }
        if let Category::Skipped(reason) = category {
            *self.skipped_by_reason.entry(*reason).or_default() += 1;
        }
    }
}

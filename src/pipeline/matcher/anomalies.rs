//! Malformed or surprising input, counted by kind with a bounded list of examples, never a
//! panic.

use std::collections::BTreeMap;

use serde::Serialize;

/// How many anomaly examples a report keeps (the counts are always complete).
pub const MAX_ANOMALY_SAMPLES: usize = 100;
/// Longest subject (contact or conversation id as received) kept in an anomaly example.
const MAX_SUBJECT_CHARS: usize = 80;

/// Kinds of malformed or surprising input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AnomalyKind {
    /// A contact without `externalId`: cannot be matched, ignored.
    ContactWithoutExternalId,
    /// A contact whose `externalId` is not a UUID: cannot be a Genesys conversation, ignored.
    InvalidExternalId,
    /// Several contacts with the same `externalId`: their session sets are merged.
    DuplicateContact,
    /// A contact starting far outside the queried (widened) range: indexed anyway, since
    /// matching is by id, but DAS did not honour the query.
    ContactOutsideWindow,
    /// A contact without a usable `startTime`: indexed, but never reported as extra.
    ContactWithoutStartTime,
    /// A contact session id that is not a UUID: dropped from the contact's session set.
    InvalidSessionId,
    /// The same conversation offered twice: the later copies are ignored.
    DuplicateConversation,
}

/// One example of an anomaly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Anomaly {
    /// What was wrong.
    pub kind: AnomalyKind,
    /// The contact or conversation id as received (truncated).
    pub subject: String,
}

/// Anomaly counts by kind plus a bounded list of examples.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Anomalies {
    /// How many of each kind.
    pub counts: BTreeMap<AnomalyKind, u64>,
    /// The first [`MAX_ANOMALY_SAMPLES`] examples.
    pub samples: Vec<Anomaly>,
}

impl Anomalies {
    pub(super) fn record(&mut self, kind: AnomalyKind, subject: &str) {
        *self.counts.entry(kind).or_default() += 1;
        if self.samples.len() < MAX_ANOMALY_SAMPLES {
            self.samples.push(Anomaly {
                kind,
                subject: subject.chars().take(MAX_SUBJECT_CHARS).collect(),
            });
        }
    }

    /// Count of one kind.
    pub fn count(&self, kind: AnomalyKind) -> u64 {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    /// Total of every kind.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub(super) fn merge(&mut self, other: Anomalies) {
        for (kind, n) in other.counts {
            *self.counts.entry(kind).or_default() += n;
        }
        let room = MAX_ANOMALY_SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
    }
}

//! Matching Genesys conversations against recording-side contacts (design.md section 7).
//!
//! Pure code: no I/O and no clock (`now` is passed in). Memory stays proportional to one chunk
//! of a slice. In the order a chunk runs:
//! 1. a [`ContactIndex`] (`index.rs`, over `keys.rs` and `table.rs`) folds the contacts DAS
//!    returns for the chunk's widened range into a compact index (16-byte id -> packed
//!    session-id set) as pages stream in;
//! 2. a [`Matcher`] (`classify.rs`) takes over what the previous chunk carried (`chunk.rs`),
//!    then classifies the chunk's conversations one at a time as Genesys pages stream in, by the
//!    rules of `rules.rs`, into [`Verdict`]s (`verdict.rs`) counted in a [`MatchReport`]
//!    (`report.rs`);
//! 3. [`Matcher::finish_chunk`] reports the contacts no conversation claimed as extras and hands
//!    the unclaimed ones near the chunk's end to the next chunk (`chunk.rs`).
//!
//! What the matcher reads is in `input.rs`. The pipeline offers contacts and conversations one
//! at a time; `pages.rs` has page-at-a-time forms with the same results. [`match_all`] runs the
//! whole sequence in one call.
//!
//! Bad input (contacts without or with malformed `externalId`, duplicated contacts or
//! conversations, contacts far outside the queried range) is counted as an anomaly
//! (`anomalies.rs`), never a panic.

mod anomalies;
mod chunk;
mod classify;
mod index;
mod input;
mod keys;
mod pages;
mod report;
mod rules;
mod table;
mod verdict;

pub use self::anomalies::{Anomalies, Anomaly, AnomalyKind, MAX_ANOMALY_SAMPLES};
pub use self::chunk::{ChunkCarry, ChunkPosition};
pub use self::classify::Matcher;
pub use self::index::ContactIndex;
pub use self::input::{
    ContactRecord, ConversationSummary, DEFAULT_TOLERANCE, MatchConfig, SessionSummary,
};
pub use self::report::MatchReport;
pub use self::verdict::{Category, Classified, SkipReason, Verdict};

/// Matches whole collections in one call (tests, small runs): indexes `contacts`, classifies
/// `conversations` in order and returns the verdicts of the owned ones plus the report.
pub fn match_all<'a, 'c>(
    config: MatchConfig,
    contacts: impl IntoIterator<Item = ContactRecord<'a>>,
    conversations: impl IntoIterator<Item = &'c ConversationSummary>,
) -> (Vec<Verdict>, MatchReport) {
    let mut index = ContactIndex::new(config.slice, config.tolerance);
    for contact in contacts {
        index.insert(contact);
    }
    let mut matcher = Matcher::new(config, index);
    let verdicts = conversations
        .into_iter()
        .filter_map(|c| match matcher.classify(c) {
            Classified::Owned(verdict) => Some(verdict),
            Classified::NotOwned | Classified::Duplicate => None,
        })
        .collect();
    (verdicts, matcher.finish())
}

#[cfg(test)]
mod tests;

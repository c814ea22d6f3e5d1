//! The matcher: offers a chunk's conversations one at a time to its contact index (ownership,
//! duplicates, claims), counts each verdict, and ends the chunk with its report.

use std::collections::HashSet;

use super::chunk::{self, ChunkCarry};
use super::index::{CLAIMED, CLASSIFIED};
use super::keys::{IdHasherBuilder, IdKey};
use super::rules::Rules;
use super::{
    AnomalyKind, Classified, ContactIndex, ConversationSummary, MatchConfig, MatchReport, Verdict,
};

/// Classifies the conversations of one slice against a [`ContactIndex`].
pub struct Matcher {
    pub(super) rules: Rules,
    pub(super) index: ContactIndex,
    /// Owned conversations without a contact seen so far (to spot duplicates).
    seen_without_contact: HashSet<IdKey, IdHasherBuilder>,
    /// Unclaimed contacts near the end of the previous chunk: extras unless a conversation of
    /// this chunk claims them.
    carried_unclaimed: Vec<(IdKey, u8)>,
    report: MatchReport,
}

impl Matcher {
    /// A matcher for `config.slice` over the contacts in `index`.
    pub fn new(config: MatchConfig, index: ContactIndex) -> Self {
        Self::for_chunk(config, index, ChunkCarry::default())
    }

    /// A matcher for one chunk of a shard's slice (`config.slice` is the chunk, `index` built by
    /// [`ContactIndex::for_chunk`]), taking over what the previous chunk carried.
    pub fn for_chunk(config: MatchConfig, mut index: ContactIndex, carry: ChunkCarry) -> Self {
        let carried_unclaimed = carry.take_over(&mut index);
        Matcher {
            rules: Rules::new(config),
            index,
            seen_without_contact: HashSet::with_hasher(IdHasherBuilder::new()),
            carried_unclaimed,
            report: MatchReport::default(),
        }
    }

    /// Classifies one conversation and counts it.
    pub fn classify(&mut self, conversation: &ConversationSummary) -> Classified {
        let key = IdKey::from_uuid(conversation.conversation_id);
        if !self.rules.owns(conversation) {
            // Another slice owns it, but its contact is no extra of ours either.
            self.index.entries.add_flags(key, CLAIMED);
            self.report.not_owned += 1;
            return Classified::NotOwned;
        }
        // Duplicate detection rides on the contact entry when there is one, so the common case
        // costs no second hash table; only conversations without a contact need `seen`.
        let (contact, duplicate) = match self.index.entries.add_flags(key, CLAIMED | CLASSIFIED) {
            Some(before) => (Some(before), before.flags & CLASSIFIED != 0),
            None => (None, !self.seen_without_contact.insert(key)),
        };
        if duplicate {
            self.report.anomalies.record(
                AnomalyKind::DuplicateConversation,
                &conversation.conversation_id.to_string(),
            );
            return Classified::Duplicate;
        }
        let media_type = self.rules.primary_media_type(conversation);
        let held = contact.map(|entry| self.index.sessions(entry));
        let category = self.rules.categorise(conversation, held);
        self.report.count(media_type, &category);
        Classified::Owned(Verdict {
            conversation_id: conversation.conversation_id,
            media_type,
            category,
        })
    }

    /// Ends matching: counts the recording side, lists extras (sorted) and returns the report.
    pub fn finish(self) -> MatchReport {
        self.finish_chunk(true).0
    }

    /// Ends matching of one chunk: its report and what the next chunk must take over (nothing
    /// when `last`).
    pub fn finish_chunk(self, last: bool) -> (MatchReport, ChunkCarry) {
        let Matcher {
            index,
            mut report,
            carried_unclaimed,
            ..
        } = self;
        let settled = chunk::settle(&index, carried_unclaimed, last);
        report.totals.recording_side = settled.in_slice;
        report.totals.extra = settled.extras.len() as u64;
        for (media_type, n) in settled.extras_by_media {
            report.by_media_type.entry(media_type).or_default().extra += n;
        }
        report.extras = settled.extras;
        report.contacts_received = index.contacts_received;
        let mut anomalies = index.anomalies;
        anomalies.merge(std::mem::take(&mut report.anomalies));
        report.anomalies = anomalies;
        (report, settled.carry)
    }
}

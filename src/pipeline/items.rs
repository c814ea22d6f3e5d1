//! What passes between the stages: a conversation to recover (from the matcher to the recovery
//! pool) and an interaction Capture accepted (from ingestion to verification).

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use jiff::Timestamp;
use parking_lot::Mutex;
use uuid::Uuid;

use super::{OutcomeRecord, Tracker};
use crate::api::MediaType;
use crate::genesys::Conversation;

/// A conversation the recording side lacks (all of it, or the `lacking` sessions).
#[derive(Debug, Clone)]
pub struct RecoveryItem {
    /// Conversation id.
    pub id: Uuid,
    /// The analytics record (participants, sessions).
    pub conversation: Conversation,
    /// Sessions the recording side lacks; empty when it lacks the whole conversation.
    pub lacking: Vec<Uuid>,
    /// The shard whose slice holds it, whichever pool recovers it.
    pub(crate) owner: Arc<Owner>,
}

/// The shard a queued conversation belongs to. Whichever shard's pool recovers it (pools may
/// share one queue, see [`super::shared_queue`]), its outcome is counted in this shard's totals
/// and, once Capture accepted it, it waits here for this shard's verification.
pub(crate) struct Owner {
    tracker: Arc<Tracker>,
    ingested: Mutex<Vec<Ingested>>,
}

impl Owner {
    pub(crate) fn new(tracker: Arc<Tracker>) -> Self {
        Owner {
            tracker,
            ingested: Mutex::default(),
        }
    }

    /// The final outcome of one of the shard's conversations.
    pub(crate) fn finish_item(&self, record: OutcomeRecord) {
        self.tracker.finish_item(record);
    }

    /// Capture accepted one of the shard's conversations; it waits for verification.
    pub(crate) fn ingested(&self, done: Ingested) {
        self.tracker.ingested(done.already_present);
        self.ingested.lock().push(done);
    }

    /// What Capture accepted of the shard's conversations so far, taken for verification.
    pub(crate) fn take_ingested(&self) -> Vec<Ingested> {
        std::mem::take(&mut *self.ingested.lock())
    }
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Owner")
            .field("ingested", &self.ingested.lock().len())
            .finish_non_exhaustive()
    }
}

/// An interaction Capture accepted, waiting for DAS to show it.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// Conversation id.
    pub id: Uuid,
    /// Its `conversationStart`.
    pub start: Timestamp,
    /// Media type.
    pub media_type: MediaType,
    /// The sessions sent.
    pub sessions: SentSessions,
    /// Capture answered 200: identical content was already held.
    pub already_present: bool,
}

/// The sessions of an ingested interaction, each as a 64-bit digest of its id. Verification only
/// asks whether DAS holds every one of them, and every ingested conversation waits for it until
/// the end of the shard: a `String` per session was a third of what that wait held (10x the
/// window, 12,266 conversations: 0.53 of 1.58 MB, of a 12.66 MB heap peak). One session, the
/// usual case, needs no allocation at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentSessions {
    One(u64),
    Many(Box<[u64]>),
}

impl SentSessions {
    /// The digests of `ids`.
    pub fn of<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let mut digests: Vec<u64> = ids.into_iter().map(digest).collect();
        match digests.as_slice() {
            [one] => SentSessions::One(*one),
            _ => {
                digests.sort_unstable();
                digests.dedup();
                SentSessions::Many(digests.into_boxed_slice())
            }
        }
    }

    /// Whether every session sent is among `held` (session ids as DAS lists them).
    pub fn all_among(&self, held: &[String]) -> bool {
        let is_held = |sent: &u64| held.iter().any(|id| digest(id) == *sent);
        match self {
            SentSessions::One(one) => is_held(one),
            SentSessions::Many(many) => many.iter().all(is_held),
        }
    }
}

/// A session id's digest: the same within a process (the hasher's keys are fixed), which is as
/// long as a digest lives. Two different ids of one conversation colliding in 64 bits is not a
/// practical concern.
fn digest(id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_sent_session_must_be_held() {
        let one = SentSessions::of(["a"]);
        assert_eq!(one, SentSessions::One(digest("a")));
        assert!(one.all_among(&held(&["b", "a"])));
        assert!(!one.all_among(&held(&["b"])));
        assert!(!one.all_among(&[]));

        let two = SentSessions::of(["b", "a", "b"]);
        assert!(matches!(&two, SentSessions::Many(d) if d.len() == 2));
        assert!(two.all_among(&held(&["c", "a", "b"])));
        assert!(!two.all_among(&held(&["a", "c"])));

        // Nothing sent is held by any contact, as before (an interaction has sessions).
        assert!(SentSessions::of([]).all_among(&[]));
    }

    #[test]
    fn an_ingested_conversation_stays_small() {
        // Id, start, media type, flag and one session inline: no heap per conversation.
        assert!(std::mem::size_of::<Ingested>() <= 64);
    }
}

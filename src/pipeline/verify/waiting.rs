//! The ingested conversations verification still waits for: a list sorted by id, with a mark
//! on each one found. Every ingested conversation of the shard waits here until DAS shows it, so
//! at 10x the window this is the largest thing verification holds; a hash map made from the
//! pool's list held twice that list's memory while both were alive.

use uuid::Uuid;

use crate::pipeline::Ingested;

pub(super) struct Waiting {
    /// Sorted by id.
    items: Vec<Ingested>,
    found: Vec<bool>,
    left: usize,
}

impl Waiting {
    /// Waits for each of `ingested` (a conversation listed twice, once).
    pub(super) fn new(mut ingested: Vec<Ingested>) -> Self {
        ingested.sort_unstable_by_key(|item| item.id);
        ingested.dedup_by_key(|item| item.id);
        ingested.shrink_to_fit();
        let left = ingested.len();
        Waiting {
            found: vec![false; left],
            items: ingested,
            left,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.left == 0
    }

    /// `id`, if it is still waited for.
    pub(super) fn get(&self, id: &Uuid) -> Option<&Ingested> {
        self.position(id).map(|at| &self.items[at])
    }

    /// Stops waiting for `id`.
    pub(super) fn remove(&mut self, id: &Uuid) {
        if let Some(at) = self.position(id) {
            self.found[at] = true;
            self.left -= 1;
        }
    }

    /// The conversations still waited for, by id.
    pub(super) fn values(&self) -> impl Iterator<Item = &Ingested> {
        self.items
            .iter()
            .zip(&self.found)
            .filter_map(|(item, found)| (!found).then_some(item))
    }

    pub(super) fn into_values(self) -> impl Iterator<Item = Ingested> {
        self.items
            .into_iter()
            .zip(self.found)
            .filter_map(|(item, found)| (!found).then_some(item))
    }

    fn position(&self, id: &Uuid) -> Option<usize> {
        self.items
            .binary_search_by_key(id, |item| item.id)
            .ok()
            .filter(|&at| !self.found[at])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MediaType;
    use crate::pipeline::SentSessions;

    fn ingested(n: u128) -> Ingested {
        Ingested {
            id: Uuid::from_u128(n),
            start: jiff::Timestamp::UNIX_EPOCH,
            media_type: MediaType::Chat,
            sessions: SentSessions::of(["s"]),
            already_present: false,
        }
    }

    #[test]
    fn a_found_conversation_is_waited_for_no_more() {
        let mut waiting = Waiting::new(vec![ingested(3), ingested(1), ingested(2), ingested(1)]);
        let ids = |w: &Waiting| w.values().map(|i| i.id.as_u128()).collect::<Vec<_>>();
        assert_eq!(ids(&waiting), [1, 2, 3]);
        assert!(waiting.get(&Uuid::from_u128(4)).is_none());

        waiting.remove(&Uuid::from_u128(2));
        assert!(waiting.get(&Uuid::from_u128(2)).is_none());
        assert_eq!(ids(&waiting), [1, 3]);
        // Found twice (two contacts of one conversation) is found once.
        waiting.remove(&Uuid::from_u128(2));
        assert!(!waiting.is_empty());

        waiting.remove(&Uuid::from_u128(1));
        waiting.remove(&Uuid::from_u128(3));
        assert!(waiting.is_empty());
        assert_eq!(waiting.into_values().count(), 0);
    }
}

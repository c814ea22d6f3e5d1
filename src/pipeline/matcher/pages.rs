//! Page-at-a-time forms of indexing and classifying: the same results as one at a time, but the
//! table slots of a whole page are touched first, so their cache misses overlap instead of
//! queueing (a large index is far bigger than the caches).

use super::keys::{IdKey, contact_key};
use super::{Classified, ContactIndex, ContactRecord, ConversationSummary, Matcher};

impl ContactIndex {
    /// Adds a page of contacts (e.g. `page.contacts.iter().map(Contact::record)`). Same result
    /// as inserting them one by one, but faster on a large index.
    pub fn insert_page<'a, I>(&mut self, contacts: I)
    where
        I: IntoIterator<Item = ContactRecord<'a>>,
        I::IntoIter: Clone,
    {
        let contacts = contacts.into_iter();
        self.keys.clear();
        self.keys.extend(contacts.clone().map(|c| contact_key(&c)));
        std::hint::black_box(self.entries.warm(self.keys.iter().flatten().copied()));
        for (i, contact) in contacts.enumerate() {
            let key = self.keys.get(i).copied().flatten();
            self.insert_keyed(contact, key);
        }
    }
}

impl Matcher {
    /// Classifies a page of conversations; the results are in input order. Same as calling
    /// [`Matcher::classify`] on each.
    pub fn classify_page<'c, I>(&mut self, conversations: I) -> Vec<Classified>
    where
        I: IntoIterator<Item = &'c ConversationSummary>,
        I::IntoIter: Clone,
    {
        let conversations = conversations.into_iter();
        std::hint::black_box(
            self.index.entries.warm(
                conversations
                    .clone()
                    .map(|c| IdKey::from_uuid(c.conversation_id)),
            ),
        );
        conversations.map(|c| self.classify(c)).collect()
    }
}

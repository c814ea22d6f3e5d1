//! The compact index of the contacts DAS holds for one (widened) chunk: Genesys conversation id
//! -> the contact's sorted session ids plus flags, folded in contact by contact as pages arrive.

use jiff::{SignedDuration, Timestamp};

use super::input::in_window;
use super::keys::{IdKey, contact_key, parse_uuid};
use super::table::{ContactTable, Probe};
use super::{Anomalies, AnomalyKind, ChunkPosition, ContactRecord};
use crate::api::{MediaType, Window};

/// Flag: a conversation of this matcher (owned or not) claimed the contact.
pub(super) const CLAIMED: u8 = 1;
/// Flag: the contact starts inside the slice, so this shard reports it if unclaimed.
pub(super) const IN_SLICE: u8 = 2;
/// Flag: the contact's conversation was classified (owned) already; a second one is a duplicate.
pub(super) const CLASSIFIED: u8 = 4;
/// Flag: the contact starts in the slice's last `tolerance`, so a conversation of the next chunk
/// may still claim it (see [`super::ChunkCarry`]).
pub(super) const NEAR_END: u8 = 8;
/// Flag: the contact starts at or after the slice's end (in the widening); the next chunk owns it.
pub(super) const AFTER_END: u8 = 16;

/// A contact in the index: a range of the shared session arena plus flags.
#[derive(Clone, Copy)]
pub(super) struct ContactEntry {
    pub(super) sessions_at: u32,
    pub(super) sessions_len: u16,
    pub(super) flags: u8,
    /// The contact's media type ([`media_code`]), 0 when unknown.
    pub(super) media: u8,
}

/// A media type as one byte of a packed entry (0: unknown).
pub(super) fn media_code(media_type: Option<MediaType>) -> u8 {
    match media_type {
        None => 0,
        Some(MediaType::Chat) => 1,
        Some(MediaType::Email) => 2,
        Some(MediaType::Social) => 3,
    }
}

/// The media type of a [`media_code`].
pub(super) fn media_of(code: u8) -> Option<MediaType> {
    match code {
        1 => Some(MediaType::Chat),
        2 => Some(MediaType::Email),
        3 => Some(MediaType::Social),
        _ => None,
    }
}

impl ContactEntry {
    /// The contact's session ids, sorted.
    fn sessions(self, arena: &[IdKey]) -> &[IdKey] {
        let start = self.sessions_at as usize;
        &arena[start..start + self.sessions_len as usize]
    }
}

/// Compact index of the contacts DAS holds for one (widened) slice, keyed by Genesys
/// conversation id. About 60 bytes per contact plus 16 per session id.
pub struct ContactIndex {
    slice: Window,
    widened: Window,
    /// Contacts starting here are counted (received, anomalies) by this index; the rest of
    /// `widened` is accounted for by the neighbouring chunk.
    accounted: Window,
    tolerance: SignedDuration,
    pub(super) entries: ContactTable,
    /// Session ids of every contact, each contact's run sorted.
    arena: Vec<IdKey>,
    pub(super) contacts_received: u64,
    pub(super) anomalies: Anomalies,
    scratch: Vec<IdKey>,
    /// Keys of the page being inserted.
    pub(super) keys: Vec<Option<IdKey>>,
}

impl ContactIndex {
    /// An empty index for `slice`, whose DAS query was widened by `tolerance` on both sides.
    pub fn new(slice: Window, tolerance: SignedDuration) -> Self {
        Self::with_capacity(slice, tolerance, 0)
    }

    /// Same as [`ContactIndex::new`], reserving room for `contacts` contacts.
    pub fn with_capacity(slice: Window, tolerance: SignedDuration, contacts: usize) -> Self {
        Self::for_chunk(slice, tolerance, ChunkPosition::WHOLE, contacts)
    }

    /// An index for one chunk of a shard's slice (`slice` is the chunk), reserving room for
    /// `contacts` contacts. See [`ChunkPosition`] and [`super::ChunkCarry`].
    pub fn for_chunk(
        slice: Window,
        tolerance: SignedDuration,
        position: ChunkPosition,
        contacts: usize,
    ) -> Self {
        let widened = Window {
            start: slice.start.checked_sub(tolerance).unwrap_or(slice.start),
            end: slice.end.checked_add(tolerance).unwrap_or(slice.end),
        };
        ContactIndex {
            slice,
            widened,
            accounted: position.accounted(slice, widened),
            tolerance,
            entries: ContactTable::with_capacity(contacts, rand::random()),
            arena: Vec::with_capacity(contacts),
            contacts_received: 0,
            anomalies: Anomalies::default(),
            scratch: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// The widened range the DAS query for this slice should use.
    pub fn query_range(&self) -> Window {
        self.widened
    }

    /// Adds one contact. Malformed contacts are counted as anomalies and skipped or repaired.
    pub fn insert(&mut self, contact: ContactRecord<'_>) {
        let key = contact_key(&contact);
        self.insert_keyed(contact, key);
    }

    /// Adds one contact whose key was parsed already (`None`: no usable external id).
    pub(super) fn insert_keyed(&mut self, contact: ContactRecord<'_>, key: Option<IdKey>) {
        // A contact of the overlap with a neighbouring chunk is indexed by both, but counted
        // (received, anomalies) by one; one far outside the range (DAS did not honour the query)
        // or without a start time is counted wherever it shows up.
        let counted = contact.start_time.is_none_or(|start| {
            in_window(self.accounted, start) || !in_window(self.widened, start)
        });
        let mut flags = contact
            .start_time
            .map_or(0, |start| self.position_flags(start));
        let anomalies = if counted {
            &mut self.anomalies
        } else {
            &mut Anomalies::default()
        };
        if counted {
            self.contacts_received += 1;
        }
        let Some(external_id) = contact.external_id else {
            anomalies.record(AnomalyKind::ContactWithoutExternalId, contact.contact_id);
            return;
        };
        let Some(key) = key else {
            anomalies.record(AnomalyKind::InvalidExternalId, external_id);
            return;
        };
        match contact.start_time {
            None => anomalies.record(AnomalyKind::ContactWithoutStartTime, external_id),
            Some(start) if !in_window(self.widened, start) => {
                anomalies.record(AnomalyKind::ContactOutsideWindow, external_id);
            }
            Some(_) => {}
        }

        self.scratch.clear();
        for session in contact.session_ids {
            match parse_uuid(session) {
                Some(id) => self.scratch.push(IdKey::from_uuid(id)),
                None => anomalies.record(AnomalyKind::InvalidSessionId, external_id),
            }
        }

        // One probe per contact: the slot found is reused for the store.
        let probe = self.entries.probe(key);
        let mut media = media_code(contact.media_type);
        if let Probe::Found(at) = probe {
            // A duplicated contact: the recording side holds the union of both.
            anomalies.record(AnomalyKind::DuplicateContact, external_id);
            let existing = self.entries.entry_at(at);
            self.scratch
                .extend_from_slice(existing.sessions(&self.arena));
            flags = merged_flags(existing.flags, flags);
            if media == 0 {
                media = existing.media;
            }
        }
        if let Some(entry) = append_sessions(
            &mut self.arena,
            &mut self.scratch,
            anomalies,
            flags,
            external_id,
        ) {
            let entry = ContactEntry { media, ..entry };
            self.entries.put(key, probe, entry);
        }
    }

    /// Where a contact starting at `start` lies relative to the slice, as flags.
    fn position_flags(&self, start: Timestamp) -> u8 {
        if in_window(self.slice, start) {
            let near_end = self
                .slice
                .end
                .checked_sub(self.tolerance)
                .is_ok_and(|near| start >= near);
            if near_end {
                IN_SLICE | NEAR_END
            } else {
                IN_SLICE
            }
        } else if start >= self.slice.end {
            AFTER_END
        } else {
            0
        }
    }

    /// Distinct contacts indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no contact is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// The session ids the recording side holds for the contact `entry`, sorted.
    pub(super) fn sessions(&self, entry: ContactEntry) -> &[IdKey] {
        entry.sessions(&self.arena)
    }
}

/// Appends the scratch session set (sorted, deduplicated) to the arena and returns its entry.
fn append_sessions(
    arena: &mut Vec<IdKey>,
    scratch: &mut Vec<IdKey>,
    anomalies: &mut Anomalies,
    flags: u8,
    subject: &str,
) -> Option<ContactEntry> {
    scratch.sort_unstable();
    scratch.dedup();
    let len = scratch.len().min(u16::MAX as usize);
    if len < scratch.len() {
        // Beyond any real conversation: keep what fits, the rest reads as "lacking", which at
        // worst re-sends an interaction Capture answers with 200.
        anomalies.record(AnomalyKind::InvalidSessionId, subject);
    }
    let Ok(at) = u32::try_from(arena.len()) else {
        anomalies.record(AnomalyKind::InvalidSessionId, subject);
        return None;
    };
    arena.extend_from_slice(&scratch[..len]);
    Some(ContactEntry {
        sessions_at: at,
        sessions_len: len as u16,
        flags,
        media: 0,
    })
}

/// The flags of where a contact lies relative to the slice.
const POSITION: u8 = IN_SLICE | NEAR_END | AFTER_END;

/// The flags of a contact listed twice: everything either copy has, but the position of the
/// earlier copy, so that of two copies on both sides of a chunk boundary only one chunk counts
/// the contact as its own (as matching the slice whole counts it once).
fn merged_flags(existing: u8, new: u8) -> u8 {
    // Positions in time order: before the slice, in it, near its end, after it.
    let rank = |flags: u8| match flags & POSITION {
        0 => 0,
        IN_SLICE => 1,
        p if p & AFTER_END == 0 => 2,
        _ => 3,
    };
    let earlier = if rank(new) < rank(existing) {
        new
    } else {
        existing
    };
    ((existing | new) & !POSITION) | (earlier & POSITION)
}

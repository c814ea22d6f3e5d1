//! Matching Genesys conversations against recording-side contacts (design.md section 7).
//!
//! Pure code: no I/O and no clock (`now` is passed in). Memory stays proportional to one slice:
//! contacts are folded into a compact [`ContactIndex`] (16-byte id -> packed session-id set) as DAS
//! pages stream in, then conversations are classified one at a time as Genesys pages stream in, and
//! the contacts no conversation claimed are reported as extras by [`Matcher::finish`].
//!
//! Bad input (contacts without or with malformed `externalId`, duplicated contacts or
//! conversations, contacts far outside the queried range) is counted as an anomaly, never a panic.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use uuid::Uuid;

use crate::api::{MatchCounts, MediaType, Window};

/// How many anomaly examples a report keeps (the counts are always complete).
pub const MAX_ANOMALY_SAMPLES: usize = 100;
/// Longest subject (contact or conversation id as received) kept in an anomaly example.
const MAX_SUBJECT_CHARS: usize = 80;
/// Default widening of the DAS query around a slice (design.md section 7).
pub const DEFAULT_TOLERANCE: SignedDuration = SignedDuration::from_mins(5);

/// One Genesys analytics session, reduced to what matching needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    /// Genesys session id.
    pub session_id: Uuid,
    /// The text media type of the session, `None` for non-text media (voice, callback, ...).
    pub media_type: Option<MediaType>,
    /// Genesys `messageType` of messaging sessions (`sms`, `whatsapp`, ...).
    pub message_type: Option<String>,
    /// The analytics `recording` flag as received (documented for audio; see
    /// [`MatchConfig::trust_recording_flag`]).
    pub recording_flag: Option<bool>,
}

/// One Genesys conversation, reduced to what matching needs. The pipeline fills it from the
/// Genesys client's models; it is deliberately independent of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationSummary {
    /// Genesys conversation id (the recording side's `externalId`).
    pub conversation_id: Uuid,
    /// `conversationStart`.
    pub start: Timestamp,
    /// `conversationEnd`; `None` while the conversation is open.
    pub end: Option<Timestamp>,
    /// The text sessions of its agent legs (purpose agent or user): what the recording side
    /// holds per contact.
    pub sessions: Vec<SessionSummary>,
}

/// One DAS contact as the matcher reads it. Borrowed, so a DAS page can be dropped as soon as it
/// is indexed.
#[derive(Clone, Copy, Debug)]
pub struct ContactRecord<'a> {
    /// The recording side's own id (only used to name anomalies).
    pub contact_id: &'a str,
    /// The Genesys conversation id this contact was recorded from.
    pub external_id: Option<&'a str>,
    /// Contact start; `None` when DAS sent none or an unparsable one.
    pub start_time: Option<Timestamp>,
    /// Genesys session ids the recording side holds for the contact.
    pub session_ids: &'a [String],
}

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
    pub fn kind(&self) -> crate::api::MatchCategory {
        use crate::api::MatchCategory;
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
    fn record(&mut self, kind: AnomalyKind, subject: &str) {
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

    fn merge(&mut self, other: Anomalies) {
        for (kind, n) in other.counts {
            *self.counts.entry(kind).or_default() += n;
        }
        let room = MAX_ANOMALY_SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
    }
}

/// What matching needs to know about the slice and the recovery.
#[derive(Clone, Debug)]
pub struct MatchConfig {
    /// The slice this matcher owns: conversations starting in [start, end).
    pub slice: Window,
    /// Requested text media types.
    pub media_types: Vec<MediaType>,
    /// Narrows `social` to these Genesys message types (lower case); empty means all.
    pub message_types: Vec<String>,
    /// Conversations that ended less than this before `now` are skipped as not settled.
    pub settle_delay: SignedDuration,
    /// The current time, passed in so matching stays pure.
    pub now: Timestamp,
    /// How far the DAS query was widened around the slice; contacts beyond it are anomalies.
    pub tolerance: SignedDuration,
    /// Believe the analytics `recording` flag on text sessions: skip conversations none of
    /// whose requested sessions carries it, and expect of the recording side only the flagged
    /// ones. Off by default (`spec.genesys.trustRecordingFlag`): Genesys documents the flag for
    /// audio, so a missing flag must not read as "not recorded".
    pub trust_recording_flag: bool,
}

/// The index key of a contact: its external id, if that is a UUID other than nil.
fn contact_key(contact: &ContactRecord<'_>) -> Option<IdKey> {
    contact
        .external_id
        .and_then(parse_uuid)
        .filter(|id| !id.is_nil())
        .map(IdKey::from_uuid)
}

/// Value of each ASCII hex digit, 0xFF for anything else.
const HEX: [u8; 256] = {
    let mut table = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Parses a UUID. The canonical hyphenated form DAS sends takes a table-driven fast path
/// (parsing ids is a large share of indexing a million contacts); other forms fall back to the
/// `uuid` crate.
fn parse_uuid(text: &str) -> Option<Uuid> {
    let text = text.trim();
    let bytes = text.as_bytes();
    if bytes.len() == 36
        && bytes[8] == b'-'
        && bytes[13] == b'-'
        && bytes[18] == b'-'
        && bytes[23] == b'-'
    {
        let mut value: u128 = 0;
        let mut bad = 0u8;
        for (i, &b) in bytes.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                continue;
            }
            let digit = HEX[b as usize];
            bad |= digit;
            value = (value << 4) | u128::from(digit & 0x0F);
        }
        // Any invalid digit sets the high bits of `bad`.
        return (bad & 0xF0 == 0).then(|| Uuid::from_u128(value));
    }
    Uuid::try_parse(text).ok()
}

/// A 128-bit id split in two words: 8-byte alignment keeps index entries at 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct IdKey(u64, u64);

impl IdKey {
    fn from_uuid(id: Uuid) -> Self {
        let (hi, lo) = id.as_u64_pair();
        IdKey(hi, lo)
    }

    fn to_uuid(self) -> Uuid {
        Uuid::from_u64_pair(self.0, self.1)
    }

    /// The nil UUID: never a Genesys id, and the contact table's empty marker.
    fn is_zero(self) -> bool {
        self.0 == 0 && self.1 == 0
    }
}

impl Hash for IdKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
        state.write_u64(self.1);
    }
}

/// A cheap seeded hasher for 128-bit ids: ids are mostly random already, so SipHash's cost buys
/// little; the per-index random seed plus a full 64-bit finaliser keeps crafted collisions hard.
#[derive(Clone, Copy)]
struct IdHasherBuilder {
    seed: u64,
}

impl IdHasherBuilder {
    fn new() -> Self {
        IdHasherBuilder {
            seed: rand::random(),
        }
    }
}

impl BuildHasher for IdHasherBuilder {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher { state: self.seed }
    }
}

struct IdHasher {
    state: u64,
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.state = (self.state ^ value)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(31);
    }

    fn finish(&self) -> u64 {
        // murmur3 fmix64: every input bit affects every output bit.
        let mut h = self.state;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Flag: a conversation of this matcher (owned or not) claimed the contact.
const CLAIMED: u8 = 1;
/// Flag: the contact starts inside the slice, so this shard reports it if unclaimed.
const IN_SLICE: u8 = 2;
/// Flag: the contact's conversation was classified (owned) already; a second one is a duplicate.
const CLASSIFIED: u8 = 4;
/// Flag: the contact starts in the slice's last `tolerance`, so a conversation of the next chunk
/// may still claim it (see [`ChunkCarry`]).
const NEAR_END: u8 = 8;
/// Flag: the contact starts at or after the slice's end (in the widening); the next chunk owns it.
const AFTER_END: u8 = 16;

/// Where a [`ContactIndex`] lies in a shard's sequence of time chunks. A shard may match its slice
/// as consecutive chunks, each with its own (small) index, so that memory does not grow with the
/// window; neighbouring chunks' DAS ranges overlap by twice the tolerance. The position decides
/// which contacts of the overlap a chunk accounts for (each is counted by exactly one chunk) and
/// whether unclaimed contacts near the end are reported now or handed to the next chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkPosition {
    /// No chunk before this one: it also accounts for the widening before its start.
    pub first: bool,
    /// No chunk after this one: it also accounts for the widening after its end, and reports
    /// every unclaimed contact of its slice.
    pub last: bool,
}

impl ChunkPosition {
    /// The whole slice in one chunk.
    pub const WHOLE: ChunkPosition = ChunkPosition {
        first: true,
        last: true,
    };

    /// Position of chunk `index` of `count`.
    pub fn of(index: usize, count: usize) -> ChunkPosition {
        ChunkPosition {
            first: index == 0,
            last: index + 1 >= count,
        }
    }
}

/// What one chunk hands to the next, so that contacts near a chunk edge are judged as if the
/// slice had been matched whole (with contacts within `tolerance` of their conversation's start,
/// the rule the widened DAS query already relies on):
/// - contacts starting in the last `tolerance` of the chunk that no conversation of the chunk
///   claimed: a conversation of the next chunk may claim them; they are extras only if none does;
/// - contacts starting after the chunk's end (in its widening) that a conversation of the chunk
///   claimed: the next chunk owns them and must not report them as extras.
///
/// Both sets hold only contacts of a `2 x tolerance` band, not of the window.
#[derive(Clone, Debug, Default)]
pub struct ChunkCarry {
    unclaimed_near_end: Vec<IdKey>,
    claimed_after_end: Vec<IdKey>,
}

impl ChunkCarry {
    /// Contacts carried over (both sets).
    pub fn len(&self) -> usize {
        self.unclaimed_near_end.len() + self.claimed_after_end.len()
    }

    /// Whether nothing is carried over.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A contact in the index: a range of the shared session arena plus flags.
#[derive(Clone, Copy)]
struct ContactEntry {
    sessions_at: u32,
    sessions_len: u16,
    flags: u8,
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
    entries: table::ContactTable,
    /// Session ids of every contact, each contact's run sorted.
    arena: Vec<IdKey>,
    contacts_received: u64,
    anomalies: Anomalies,
    scratch: Vec<IdKey>,
    /// Keys of the page being inserted.
    keys: Vec<Option<IdKey>>,
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
    /// `contacts` contacts. See [`ChunkPosition`] and [`ChunkCarry`].
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
        let accounted = Window {
            start: if position.first {
                widened.start
            } else {
                slice.start
            },
            end: if position.last {
                widened.end
            } else {
                slice.end
            },
        };
        ContactIndex {
            slice,
            widened,
            accounted,
            tolerance,
            entries: table::ContactTable::with_capacity(contacts, rand::random()),
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

    /// Adds a page of contacts (e.g. `page.contacts.iter().map(Contact::record)`). Same result
    /// as inserting them one by one, but faster on a large index: the table slots of the whole
    /// page are touched first, so their cache misses overlap instead of queueing.
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

    /// Adds one contact whose key was parsed already (`None`: no usable external id).
    fn insert_keyed(&mut self, contact: ContactRecord<'_>, key: Option<IdKey>) {
        // A contact of the overlap with a neighbouring chunk is indexed by both, but counted
        // (received, anomalies) by one; one far outside the range (DAS did not honour the query)
        // or without a start time is counted wherever it shows up.
        let counted = contact.start_time.is_none_or(|start| {
            (start >= self.accounted.start && start < self.accounted.end)
                || start < self.widened.start
                || start >= self.widened.end
        });
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
        let mut flags = 0;
        match contact.start_time {
            None => anomalies.record(AnomalyKind::ContactWithoutStartTime, external_id),
            Some(start) => {
                if start < self.widened.start || start >= self.widened.end {
                    anomalies.record(AnomalyKind::ContactOutsideWindow, external_id);
                }
                if start >= self.slice.start && start < self.slice.end {
                    flags |= IN_SLICE;
                    if self
                        .slice
                        .end
                        .checked_sub(self.tolerance)
                        .is_ok_and(|near| start >= near)
                    {
                        flags |= NEAR_END;
                    }
                } else if start >= self.slice.end {
                    flags |= AFTER_END;
                }
            }
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
        if let table::Probe::Found(at) = probe {
            // A duplicated contact: the recording side holds the union of both.
            anomalies.record(AnomalyKind::DuplicateContact, external_id);
            let existing = self.entries.entry_at(at);
            let start = existing.sessions_at as usize;
            let end = start + existing.sessions_len as usize;
            self.scratch.extend_from_slice(&self.arena[start..end]);
            flags |= existing.flags;
        }
        if let Some(entry) = append_sessions(
            &mut self.arena,
            &mut self.scratch,
            anomalies,
            flags,
            external_id,
        ) {
            self.entries.put(key, probe, entry);
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

    fn sessions(&self, entry: ContactEntry) -> &[IdKey] {
        let start = entry.sessions_at as usize;
        &self.arena[start..start + entry.sessions_len as usize]
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
    })
}

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

/// Classifies the conversations of one slice against a [`ContactIndex`].
pub struct Matcher {
    config: MatchConfig,
    settled_by: Option<Timestamp>,
    index: ContactIndex,
    /// Owned conversations without a contact seen so far (to spot duplicates).
    seen_without_contact: HashSet<IdKey, IdHasherBuilder>,
    /// Unclaimed contacts near the end of the previous chunk: extras unless a conversation of
    /// this chunk claims them.
    carried_unclaimed: Vec<IdKey>,
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
        // A conversation is settled when it ended at or before this instant.
        let settled_by = config.now.checked_sub(config.settle_delay).ok();
        for key in carry.claimed_after_end {
            // Claimed by a conversation of the previous chunk: no extra of ours.
            index.entries.add_flags(key, CLAIMED);
        }
        Matcher {
            config,
            settled_by,
            index,
            seen_without_contact: HashSet::with_hasher(IdHasherBuilder::new()),
            carried_unclaimed: carry.unclaimed_near_end,
            report: MatchReport::default(),
        }
    }

    /// Classifies one conversation and counts it.
    pub fn classify(&mut self, conversation: &ConversationSummary) -> Classified {
        let key = IdKey::from_uuid(conversation.conversation_id);
        let owned = conversation.start >= self.config.slice.start
            && conversation.start < self.config.slice.end;
        if !owned {
            // Another slice owns it, but its contact is no extra of ours either.
            self.claim(key);
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
        let media_type = self.primary_media_type(conversation);
        let category = self.categorise(conversation, contact);
        self.count(media_type, &category);
        Classified::Owned(Verdict {
            conversation_id: conversation.conversation_id,
            media_type,
            category,
        })
    }

    /// Classifies a page of conversations; the results are in input order. Same as calling
    /// [`Matcher::classify`] on each, but the index slots of the page are touched first so the
    /// cache misses overlap.
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

    /// Marks the contact of a conversation as claimed and returns it.
    fn claim(&mut self, key: IdKey) -> Option<ContactEntry> {
        self.index.entries.add_flags(key, CLAIMED)
    }

    fn is_requested(&self, session: &SessionSummary) -> bool {
        let Some(media_type) = session.media_type else {
            return false;
        };
        if !self.config.media_types.contains(&media_type) {
            return false;
        }
        if media_type == MediaType::Social && !self.config.message_types.is_empty() {
            return session.message_type.as_deref().is_some_and(|wanted| {
                self.config
                    .message_types
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(wanted))
            });
        }
        true
    }

    fn primary_media_type(&self, conversation: &ConversationSummary) -> Option<MediaType> {
        conversation
            .sessions
            .iter()
            .find(|s| self.is_requested(s))
            .or_else(|| {
                conversation
                    .sessions
                    .iter()
                    .find(|s| s.media_type.is_some())
            })
            .and_then(|s| s.media_type)
    }

    fn categorise(
        &self,
        conversation: &ConversationSummary,
        contact: Option<ContactEntry>,
    ) -> Category {
        let settled = match (conversation.end, self.settled_by) {
            (Some(end), Some(by)) => end <= by,
            _ => false,
        };
        if !settled {
            return Category::Skipped(SkipReason::NotSettled);
        }
        let mut requested = conversation
            .sessions
            .iter()
            .filter(|s| self.is_requested(s))
            .peekable();
        if requested.peek().is_none() {
            return Category::Skipped(SkipReason::MediaTypeNotRequested);
        }
        let trust_flag = self.config.trust_recording_flag;
        // The sessions the recording side should hold: every requested agent text session, or
        // only the flagged ones when the org's flag is trusted.
        let mut expected = requested
            .filter(|s| !trust_flag || s.recording_flag == Some(true))
            .peekable();
        if expected.peek().is_none() {
            return Category::Skipped(SkipReason::NoRecordingFlag);
        }
        let Some(contact) = contact else {
            return Category::Missing;
        };
        let held = self.index.sessions(contact);
        let mut lacking: Vec<Uuid> = Vec::new();
        for session in expected {
            let key = IdKey::from_uuid(session.session_id);
            if held.binary_search(&key).is_err() && !lacking.contains(&session.session_id) {
                lacking.push(session.session_id);
            }
        }
        if lacking.is_empty() {
            Category::Matched
        } else {
            Category::Partial { lacking }
        }
    }

    fn count(&mut self, media_type: Option<MediaType>, category: &Category) {
        self.report.totals.count(category.kind());
        if let Some(media_type) = media_type {
            self.report
                .by_media_type
                .entry(media_type)
                .or_default()
                .count(category.kind());
        }
        if let Category::Skipped(reason) = category {
            *self.report.skipped_by_reason.entry(*reason).or_default() += 1;
        }
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
        let mut carry = ChunkCarry::default();
        let mut extras = Vec::new();
        let mut in_slice = 0u64;
        for (key, entry) in index.entries.iter() {
            if entry.flags & IN_SLICE != 0 {
                in_slice += 1;
                if entry.flags & CLAIMED == 0 {
                    if !last && entry.flags & NEAR_END != 0 {
                        carry.unclaimed_near_end.push(key);
                    } else {
                        extras.push(key.to_uuid());
                    }
                }
            } else if !last && entry.flags & (AFTER_END | CLAIMED) == AFTER_END | CLAIMED {
                carry.claimed_after_end.push(key);
            }
        }
        for key in carried_unclaimed {
            // Counted by the previous chunk; still unclaimed after this one: an extra.
            if index
                .entries
                .get(key)
                .is_none_or(|entry| entry.flags & CLAIMED == 0)
            {
                extras.push(key.to_uuid());
            }
        }
        extras.sort_unstable();
        report.totals.recording_side = in_slice;
        report.totals.extra = extras.len() as u64;
        report.extras = extras;
        report.contacts_received = index.contacts_received;
        let mut anomalies = index.anomalies;
        anomalies.merge(std::mem::take(&mut report.anomalies));
        report.anomalies = anomalies;
        (report, carry)
    }
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
}

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

mod table;

#[cfg(test)]
mod tests;

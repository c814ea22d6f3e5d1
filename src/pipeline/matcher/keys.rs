//! Ids as the index keys them: a fast parser for the UUIDs DAS sends, the two-word key, and a
//! cheap seeded hasher for it.

use std::hash::{BuildHasher, Hash, Hasher};

use uuid::Uuid;

use super::ContactRecord;

/// The index key of a contact: its external id, if that is a UUID other than nil.
pub(super) fn contact_key(contact: &ContactRecord<'_>) -> Option<IdKey> {
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
pub(super) fn parse_uuid(text: &str) -> Option<Uuid> {
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
pub(super) struct IdKey(pub(super) u64, pub(super) u64);

impl IdKey {
    pub(super) fn from_uuid(id: Uuid) -> Self {
        let (hi, lo) = id.as_u64_pair();
        IdKey(hi, lo)
    }

    pub(super) fn to_uuid(self) -> Uuid {
        Uuid::from_u64_pair(self.0, self.1)
    }

    /// The nil UUID: never a Genesys id, and the contact table's empty marker.
    pub(super) fn is_zero(self) -> bool {
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
pub(super) struct IdHasherBuilder {
    seed: u64,
}

impl IdHasherBuilder {
    pub(super) fn new() -> Self {
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

pub(super) struct IdHasher {
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
        fmix64(self.state)
    }
}

/// murmur3's 64-bit finaliser: every input bit affects every output bit.
pub(super) fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

//! An open-addressing hash table from 128-bit id to a packed contact entry.
//!
//! Why not `HashMap`: with a million contacts the table is far larger than the caches, and a
//! SwissTable probe touches two cache lines (control bytes, then the slot). Here key and value
//! share one 24-byte slot and linear probing stays on adjacent lines, so an insert or lookup is
//! about one cache miss. The all-zero key marks an empty slot; the nil UUID is therefore not
//! storable (it is no Genesys conversation id: the index refuses it as an invalid id).

use super::index::ContactEntry;
use super::keys::{IdKey, fmix64};

/// Slots are kept at most half full: short probe runs.
const MAX_LOAD_NUMERATOR: usize = 1;
const MAX_LOAD_DENOMINATOR: usize = 2;

/// `[key hi, key lo, packed entry]`; all zero = empty. An array of u64 so a fresh table is
/// zero-allocated (pages are mapped lazily).
type Slot = [u64; 3];

pub(super) struct ContactTable {
    slots: Vec<Slot>,
    len: usize,
    seed: u64,
}

/// Where a key is, or where it would go.
pub(super) enum Probe {
    Found(usize),
    Vacant(usize),
}

impl ContactTable {
    pub(super) fn with_capacity(capacity: usize, seed: u64) -> Self {
        let slots =
            (capacity.max(8) * MAX_LOAD_DENOMINATOR / MAX_LOAD_NUMERATOR).next_power_of_two();
        ContactTable {
            slots: vec![[0; 3]; slots],
            len: 0,
            seed,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn home(&self, key: IdKey) -> usize {
        // Both words and the per-index seed, mixed so every bit reaches the slot index.
        let h = fmix64((key.0 ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ key.1);
        (h as usize) & (self.slots.len() - 1)
    }

    /// Finds `key` or the empty slot where it belongs. `key` must not be all zero.
    pub(super) fn probe(&self, key: IdKey) -> Probe {
        let mask = self.slots.len() - 1;
        let mut at = self.home(key);
        loop {
            let slot = &self.slots[at];
            if slot[0] == key.0 && slot[1] == key.1 {
                return Probe::Found(at);
            }
            if slot[0] == 0 && slot[1] == 0 {
                return Probe::Vacant(at);
            }
            at = (at + 1) & mask;
        }
    }

    /// Reads the home slot of every key, so that a following pass over the same keys finds
    /// their slots in cache: independent loads overlap their misses. Returns a value to feed
    /// `black_box`, so the loads are not optimised away.
    pub(super) fn warm(&self, keys: impl Iterator<Item = IdKey>) -> u64 {
        let mut sink = 0;
        for key in keys {
            sink ^= self.slots[self.home(key)][0];
        }
        sink
    }

    /// The entry in slot `at` (from [`ContactTable::probe`]).
    pub(super) fn entry_at(&self, at: usize) -> ContactEntry {
        unpack(self.slots[at][2])
    }

    pub(super) fn get(&self, key: IdKey) -> Option<ContactEntry> {
        if key.is_zero() {
            return None;
        }
        match self.probe(key) {
            Probe::Found(at) => Some(unpack(self.slots[at][2])),
            Probe::Vacant(_) => None,
        }
    }

    /// Sets `flags` on the entry of `key` and returns the entry as it was before.
    pub(super) fn add_flags(&mut self, key: IdKey, flags: u8) -> Option<ContactEntry> {
        if key.is_zero() {
            return None;
        }
        match self.probe(key) {
            Probe::Found(at) => {
                let before = unpack(self.slots[at][2]);
                let mut after = before;
                after.flags |= flags;
                self.slots[at][2] = pack(after);
                Some(before)
            }
            Probe::Vacant(_) => None,
        }
    }

    /// Stores `entry` at a slot `probe` returned (Found: replace; Vacant: insert). Grows first
    /// when an insert would pass the load limit, so the slot index is recomputed then.
    pub(super) fn put(&mut self, key: IdKey, probe: Probe, entry: ContactEntry) {
        let at = match probe {
            Probe::Found(at) => at,
            Probe::Vacant(at) => {
                if (self.len + 1) * MAX_LOAD_DENOMINATOR > self.slots.len() * MAX_LOAD_NUMERATOR {
                    self.grow();
                    match self.probe(key) {
                        Probe::Found(at) | Probe::Vacant(at) => at,
                    }
                } else {
                    at
                }
            }
        };
        if self.slots[at][0] == 0 && self.slots[at][1] == 0 {
            self.len += 1;
        }
        self.slots[at] = [key.0, key.1, pack(entry)];
    }

    fn grow(&mut self) {
        let doubled = vec![[0; 3]; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        for slot in old {
            if slot[0] != 0 || slot[1] != 0 {
                let key = IdKey(slot[0], slot[1]);
                match self.probe(key) {
                    Probe::Found(at) | Probe::Vacant(at) => self.slots[at] = slot,
                }
            }
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (IdKey, ContactEntry)> + '_ {
        self.slots
            .iter()
            .filter(|slot| slot[0] != 0 || slot[1] != 0)
            .map(|slot| (IdKey(slot[0], slot[1]), unpack(slot[2])))
    }
}

fn pack(entry: ContactEntry) -> u64 {
    u64::from(entry.sessions_at)
        | u64::from(entry.sessions_len) << 32
        | u64::from(entry.flags) << 48
        | u64::from(entry.media) << 56
}

fn unpack(value: u64) -> ContactEntry {
    ContactEntry {
        sessions_at: value as u32,
        sessions_len: (value >> 32) as u16,
        flags: (value >> 48) as u8,
        media: (value >> 56) as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_keeps_every_entry() {
        let mut table = ContactTable::with_capacity(1, 7);
        for i in 1..=5000u64 {
            let key = IdKey(i.wrapping_mul(0x1234_5678_9ABC_DEF1), i);
            let probe = table.probe(key);
            assert!(matches!(probe, Probe::Vacant(_)));
            let entry = ContactEntry {
                sessions_at: i as u32,
                sessions_len: (i % 7) as u16,
                flags: (i % 3) as u8,
                media: (i % 4) as u8,
            };
            table.put(key, probe, entry);
        }
        assert_eq!(table.len(), 5000);
        assert_eq!(table.iter().count(), 5000);
        for i in 1..=5000u64 {
            let key = IdKey(i.wrapping_mul(0x1234_5678_9ABC_DEF1), i);
            let entry = table
                .get(key)
                .map(|e| (e.sessions_at, e.sessions_len, e.flags, e.media));
            assert_eq!(
                entry,
                Some((i as u32, (i % 7) as u16, (i % 3) as u8, (i % 4) as u8))
            );
        }
        assert!(table.get(IdKey(0, 0)).is_none());
        assert!(table.get(IdKey(1, 1)).is_none());
    }
}

//! Time chunks of a shard's slice: where a chunk lies, which contacts of the overlap it
//! accounts for, and what it hands the next chunk, so that matching in chunks gives exactly what
//! matching the slice whole gives.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::ContactIndex;
use super::index::{AFTER_END, CLAIMED, IN_SLICE, NEAR_END, media_of};
use super::keys::IdKey;
use crate::api::{MediaType, Window};

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

    /// The part of `widened` (the chunk `slice` widened by the tolerance) whose contacts this
    /// chunk counts: the widening before a first chunk and after a last one are theirs alone;
    /// the overlap with a neighbour is the neighbour's on its side of the edge.
    pub(super) fn accounted(self, slice: Window, widened: Window) -> Window {
        Window {
            start: if self.first {
                widened.start
            } else {
                slice.start
            },
            end: if self.last { widened.end } else { slice.end },
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
    /// With each contact's media type code (see [`super::index::media_code`]).
    unclaimed_near_end: Vec<(IdKey, u8)>,
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

    /// Takes over what the previous chunk carried: the contacts it claimed after its end are no
    /// extras of `index`'s chunk; the unclaimed ones near its end are returned, to be judged
    /// when this chunk ends ([`settle`]).
    pub(super) fn take_over(self, index: &mut ContactIndex) -> Vec<(IdKey, u8)> {
        for key in self.claimed_after_end {
            index.entries.add_flags(key, CLAIMED);
        }
        self.unclaimed_near_end
    }
}

/// How a chunk's contacts ended.
pub(super) struct Settled {
    /// Distinct contacts starting in the chunk.
    pub(super) in_slice: u64,
    /// Contacts no conversation claimed, sorted.
    pub(super) extras: Vec<Uuid>,
    /// How many of `extras` are of each media type (those of unknown type are not counted).
    pub(super) extras_by_media: BTreeMap<MediaType, u64>,
    /// What the next chunk takes over (nothing after the `last`).
    pub(super) carry: ChunkCarry,
}

/// Settles the contacts of a chunk whose conversations were all classified: an unclaimed one
/// starting in the chunk is an extra, unless it lies near the end and a next chunk may still
/// claim it; `carried_unclaimed` (from the previous chunk) are extras if still unclaimed.
pub(super) fn settle(
    index: &ContactIndex,
    carried_unclaimed: Vec<(IdKey, u8)>,
    last: bool,
) -> Settled {
    let mut carry = ChunkCarry::default();
    let mut extras = Vec::new();
    let mut extras_by_media = BTreeMap::new();
    let mut extra = |key: IdKey, media: u8| {
        extras.push(key.to_uuid());
        if let Some(media_type) = media_of(media) {
            *extras_by_media.entry(media_type).or_insert(0) += 1;
        }
    };
    let mut in_slice = 0u64;
    for (key, entry) in index.entries.iter() {
        if entry.flags & IN_SLICE != 0 {
            in_slice += 1;
            if entry.flags & CLAIMED == 0 {
                if !last && entry.flags & NEAR_END != 0 {
                    carry.unclaimed_near_end.push((key, entry.media));
                } else {
                    extra(key, entry.media);
                }
            }
        } else if !last && entry.flags & (AFTER_END | CLAIMED) == AFTER_END | CLAIMED {
            carry.claimed_after_end.push(key);
        }
    }
    for (key, media) in carried_unclaimed {
        // Counted by the previous chunk; still unclaimed after this one: an extra.
        if index
            .entries
            .get(key)
            .is_none_or(|entry| entry.flags & CLAIMED == 0)
        {
            extra(key, media);
        }
    }
    extras.sort_unstable();
    Settled {
        in_slice,
        extras,
        extras_by_media,
        carry,
    }
}

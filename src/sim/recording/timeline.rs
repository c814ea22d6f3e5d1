//! When each API request reached DAS or Capture and, for a DAS contacts read, which range it
//! asked for and how many contacts it returned: ground truth for tests of pacing and of
//! verification's load, read in-process with [`super::RecordingStore::timeline`]. Times are
//! offsets from the store's creation, on the simulator's own clock. Bounded: past
//! [`TIMELINE_CAPACITY`] entries the oldest are dropped (and counted).

use std::collections::VecDeque;
use std::time::Duration;

use jiff::Timestamp;
use parking_lot::Mutex;
use tokio::time::Instant;
use uuid::Uuid;

/// Entries kept; a long `simulate` run keeps the latest ones.
pub const TIMELINE_CAPACITY: usize = 200_000;

/// One request the recording side served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRequest {
    /// When it arrived, from the store's creation.
    pub at: Duration,
    /// What it was.
    pub kind: SimRequestKind,
}

/// What a request was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimRequestKind {
    /// A DAS contacts page over [from, to).
    DasContacts {
        /// Inclusive start of the range read.
        from: Timestamp,
        /// Exclusive end of the range read.
        to: Timestamp,
        /// A later page of the range (the request carried a cursor).
        cursor: bool,
        /// Contacts the page returned.
        returned: usize,
    },
    /// A Capture PUT of one interaction (whatever it was answered).
    CapturePut {
        /// The conversation of the path.
        conversation: Uuid,
    },
}

/// The requests so far.
#[derive(Debug)]
pub(super) struct Timeline {
    origin: Instant,
    entries: Mutex<(VecDeque<SimRequest>, u64)>,
}

impl Timeline {
    pub(super) fn new(origin: Instant) -> Self {
        Timeline {
            origin,
            entries: Mutex::new((VecDeque::new(), 0)),
        }
    }

    /// The offset of `instant` from the origin (zero before it).
    pub(super) fn offset(&self, instant: Instant) -> Duration {
        instant.saturating_duration_since(self.origin)
    }

    /// Notes `kind` as arriving now.
    pub(super) fn note(&self, kind: SimRequestKind) {
        let at = self.offset(Instant::now());
        let mut entries = self.entries.lock();
        if entries.0.len() == TIMELINE_CAPACITY {
            entries.0.pop_front();
            entries.1 += 1;
        }
        entries.0.push_back(SimRequest { at, kind });
    }

    /// The entries kept, oldest first, and how many older ones were dropped.
    pub(super) fn snapshot(&self) -> (Vec<SimRequest>, u64) {
        let entries = self.entries.lock();
        (entries.0.iter().cloned().collect(), entries.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_their_order_and_the_oldest_go_first() {
        let timeline = Timeline::new(Instant::now());
        let put = |n: u128| SimRequestKind::CapturePut {
            conversation: Uuid::from_u128(n),
        };
        for n in 0..(TIMELINE_CAPACITY as u128 + 2) {
            timeline.note(put(n));
        }
        let (entries, dropped) = timeline.snapshot();
        assert_eq!(dropped, 2);
        assert_eq!(entries.len(), TIMELINE_CAPACITY);
        assert_eq!(entries[0].kind, put(2));
        assert!(entries.windows(2).all(|w| w[0].at <= w[1].at));
    }
}

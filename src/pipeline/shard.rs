//! Splitting a recovery's window into the contiguous slices its shards own (and a shard's slice
//! into its time chunks).

use jiff::{SignedDuration, Timestamp};

use crate::api::Window;

/// The `index`-th of `count` contiguous slices of `window`. The slices cover the window exactly,
/// without overlap, so every conversation start belongs to exactly one shard. Returns None when
/// `index >= count` or `count == 0`.
pub fn slice_of(window: Window, index: u32, count: u32) -> Option<Window> {
    if count == 0 || index >= count {
        return None;
    }
    let span = window.end.duration_since(window.start).as_nanos();
    let bound = |i: u32| -> Option<Timestamp> {
        if i == count {
            return Some(window.end);
        }
        // i128 arithmetic: a 31-day span in nanoseconds times 64 shards fits easily.
        let offset = span * i128::from(i) / i128::from(count);
        let offset = i64::try_from(offset).ok()?;
        window
            .start
            .checked_add(SignedDuration::from_nanos(offset))
            .ok()
    };
    Some(Window {
        start: bound(index)?,
        end: bound(index + 1)?,
    })
}

/// All `count` slices of `window`, in order (one slice when `count` is 0).
pub fn slices(window: Window, count: u32) -> Vec<Window> {
    let count = count.max(1);
    (0..count)
        .filter_map(|i| slice_of(window, i, count))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: &str, end: &str) -> Window {
        Window {
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
        }
    }

    #[test]
    fn slices_tile_the_window_without_gaps_or_overlap() {
        let w = window("2026-11-20T00:00:00Z", "2026-11-21T00:00:00.000000007Z");
        for count in 1..=7 {
            let slices: Vec<Window> = (0..count).map(|i| slice_of(w, i, count).unwrap()).collect();
            assert_eq!(slices[0].start, w.start);
            assert_eq!(slices.last().unwrap().end, w.end);
            for pair in slices.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert!(pair[0].start < pair[0].end);
            }
        }
    }

    #[test]
    fn out_of_range_index_has_no_slice() {
        let w = window("2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z");
        assert_eq!(slice_of(w, 2, 2), None);
        assert_eq!(slice_of(w, 0, 0), None);
        assert_eq!(
            slice_of(w, 1, 4).unwrap().start.to_string(),
            "2026-11-20T06:00:00Z"
        );
    }
}

//! The time ranges one verification round reads: around each conversation still waiting,
//! `[start - tolerance, start + tolerance + 1 s)`, merged where they overlap, and also where the
//! gap between two is cheaper to read through than to skip (fewer contacts than one page, so a
//! read of its own would cost a request more than reading across it).

use jiff::{SignedDuration, Timestamp};

use crate::api::Window;
use crate::verint::das::MAX_PAGE_SIZE;

/// Added to the end of a conversation's range: the read's end is exclusive, and this keeps the
/// conversation's own start inside even with no tolerance.
const END_MARGIN: SignedDuration = SignedDuration::from_secs(1);

/// The range read for a conversation starting at `start`: where its contact can start.
pub fn range_around(start: Timestamp, tolerance: SignedDuration) -> Window {
    let tolerance = tolerance.abs();
    Window {
        start: start.checked_sub(tolerance).unwrap_or(Timestamp::MIN),
        end: start
            .checked_add(tolerance)
            .and_then(|end| end.checked_add(END_MARGIN))
            .unwrap_or(Timestamp::MAX),
    }
}

/// The largest gap between two ranges that is read through rather than skipped: the span that
/// holds one page of contacts at the slice's average density (`contacts` in `slice`, as the
/// inventory counted them). With a page or less in the whole slice, every gap.
pub fn read_through_gap(slice: Window, contacts: u64) -> SignedDuration {
    let span = slice.end.duration_since(slice.start).abs();
    if contacts <= u64::from(MAX_PAGE_SIZE) {
        return span;
    }
    let nanos = span.as_nanos() * i128::from(MAX_PAGE_SIZE) / i128::from(contacts);
    SignedDuration::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
}

/// The ranges to read for conversations starting at `starts` (any order): each one's
/// [`range_around`], sorted, merged where they overlap or lie at most `gap` apart.
pub fn read_ranges(
    starts: impl IntoIterator<Item = Timestamp>,
    tolerance: SignedDuration,
    gap: SignedDuration,
) -> Vec<Window> {
    let mut ranges: Vec<Window> = starts
        .into_iter()
        .map(|start| range_around(start, tolerance))
        .collect();
    ranges.sort_unstable_by_key(|range| range.start);
    let mut merged: Vec<Window> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start.duration_since(last.end) <= gap => {
                last.end = last.end.max(range.end);
            }
            _ => merged.push(range),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_mins(minute)
    }

    fn window(start: Timestamp, end: Timestamp) -> Window {
        Window { start, end }
    }

    const TOLERANCE: SignedDuration = SignedDuration::from_mins(5);

    #[test]
    fn a_range_holds_every_start_its_contact_may_have() {
        let range = range_around(at(60), TOLERANCE);
        assert_eq!(range.start, at(55));
        assert_eq!(range.end, at(65) + END_MARGIN);
        // Without tolerance the conversation's own start is still read.
        let exact = range_around(at(60), SignedDuration::ZERO);
        assert!(exact.start <= at(60) && at(60) < exact.end);
    }

    #[test]
    fn overlapping_ranges_merge_and_distant_ones_stay_apart() {
        // 60 and 68 overlap (55..65 and 63..73); 200 is far from both; order does not matter.
        let ranges = read_ranges([at(200), at(68), at(60)], TOLERANCE, SignedDuration::ZERO);
        assert_eq!(
            ranges,
            vec![
                window(at(55), at(73) + END_MARGIN),
                window(at(195), at(205) + END_MARGIN),
            ]
        );
    }

    #[test]
    fn a_gap_up_to_the_read_through_gap_is_read_through() {
        let starts = [at(0), at(100)];
        // The ranges are 90 minutes (less the margin) apart.
        let gap = at(95).duration_since(at(5) + END_MARGIN);
        assert_eq!(read_ranges(starts, TOLERANCE, gap).len(), 1);
        let just_below = gap - SignedDuration::from_nanos(1);
        assert_eq!(read_ranges(starts, TOLERANCE, just_below).len(), 2);
    }

    #[test]
    fn one_range_inside_another_leaves_the_outer() {
        let ranges = read_ranges([at(60), at(60), at(61)], TOLERANCE, SignedDuration::ZERO);
        assert_eq!(ranges, vec![window(at(55), at(66) + END_MARGIN)]);
        assert!(read_ranges([], TOLERANCE, SignedDuration::ZERO).is_empty());
    }

    #[test]
    fn the_read_through_gap_holds_one_page_at_the_slice_density() {
        let day = window(at(0), at(24 * 60));
        // 4,000 contacts a day: a page is six hours of them.
        assert_eq!(read_through_gap(day, 4000), SignedDuration::from_hours(6));
        assert_eq!(read_through_gap(day, 24_000), SignedDuration::from_hours(1));
        // One page or less in the whole slice: never worth a request of its own.
        assert_eq!(read_through_gap(day, 1000), SignedDuration::from_hours(24));
        assert_eq!(read_through_gap(day, 0), SignedDuration::from_hours(24));
    }
}

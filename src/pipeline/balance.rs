//! Balanced shard slices: the window cut so that every shard gets about the same number of
//! conversations, not the same length of time. Genesys counts the conversations of equal time
//! bins cheaply (`totalHits` of a one-conversation page each); the cut interpolates within a
//! bin. A day whose business hours are ten times denser than its nights then ends with every
//! shard finishing at about the same time instead of the afternoon's shard straggling.

use futures::{StreamExt, TryStreamExt};
use jiff::{SignedDuration, Timestamp};
use tracing::{info, warn};

use crate::api::{MediaType, Window};
use crate::genesys::{GenesysClient, GenesysError};

use super::{collect, shard};

/// Bins counted per shard: enough that a shard's edge can fall inside a busy hour.
const BINS_PER_SHARD: u32 = 6;
/// Most bins counted (one call each).
const MAX_BINS: u32 = 96;
/// Count calls in flight at once per counting client (they share its rate budget).
const COUNT_CONCURRENCY: usize = 8;
/// Slice boundaries fall on whole seconds, and no slice is narrower.
const MIN_SLICE: SignedDuration = SignedDuration::from_secs(1);

/// How the slices were cut, for the log and the plan's readers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Cut {
    /// By conversation counts.
    Balanced,
    /// Equal lengths of time (one shard, no counts, or a window too short to cut finer).
    EqualTime,
}

/// The `shards` slices of `window`, balanced by Genesys' counts; equal time slices when there
/// is one shard or the counts cannot be had (the reason is logged). The bins are spread over
/// the `counters` (one token each; the shards' own, which wait for the slices anyway), so the
/// counting takes the time of a few calls at the shards' rate, not of all of them at one's.
pub async fn slices(
    counters: &[GenesysClient],
    window: Window,
    media_types: &[MediaType],
    message_types: &[String],
    shards: u32,
) -> (Vec<Window>, Cut) {
    let shards = shards.max(1);
    if shards == 1 {
        return (shard::slices(window, 1), Cut::EqualTime);
    }
    if counters.is_empty() {
        return (shard::slices(window, shards), Cut::EqualTime);
    }
    let bins = shard::slices(window, (shards * BINS_PER_SHARD).min(MAX_BINS));
    let counts: Result<Vec<Option<u64>>, GenesysError> =
        futures::stream::iter(bins.clone().into_iter().enumerate())
            .map(|(i, bin)| async move {
                counters[i % counters.len()]
                    .estimate_conversations(&collect::query(bin, media_types, message_types))
                    .await
            })
            .buffered(COUNT_CONCURRENCY * counters.len())
            .try_collect()
            .await;
    let counted: Option<Vec<(Window, u64)>> = match counts {
        Ok(counts) => counts
            .into_iter()
            .zip(bins)
            .map(|(count, bin)| count.map(|c| (bin, c)))
            .collect(),
        Err(err) => {
            warn!(error = %err, "cannot count the window's conversations; equal time slices");
            None
        }
    };
    match counted.and_then(|counted| balanced(window, &counted, shards)) {
        Some(slices) => {
            info!(shards, "slices balanced by conversation counts");
            (slices, Cut::Balanced)
        }
        None => (shard::slices(window, shards), Cut::EqualTime),
    }
}

/// `window` cut into `shards` contiguous slices holding about equal shares of the conversations
/// `counts` gives per bin (bins tiling the window in order), the count of a bin taken as spread
/// evenly over it. Boundaries fall on whole seconds. None when there is nothing to balance
/// (no conversations) or the window is too short for `shards` slices of a second.
pub fn balanced(window: Window, counts: &[(Window, u64)], shards: u32) -> Option<Vec<Window>> {
    let total: u64 = counts.iter().map(|(_, c)| c).sum();
    if total == 0 || shards == 0 {
        return None;
    }
    let mut bounds = vec![window.start];
    let (mut bin, mut before) = (0usize, 0u64);
    for k in 1..shards {
        // The k-th boundary leaves k/shards of the conversations before it.
        let target = total as f64 * f64::from(k) / f64::from(shards);
        while bin < counts.len() && (before + counts[bin].1) as f64 <= target {
            before += counts[bin].1;
            bin += 1;
        }
        let at = match counts.get(bin) {
            Some((range, count)) if *count > 0 => {
                let fraction = (target - before as f64) / *count as f64;
                let span = range.end.duration_since(range.start).as_secs_f64();
                range
                    .start
                    .checked_add(SignedDuration::from_secs_f64(span * fraction))
                    .ok()?
            }
            Some((range, _)) => range.start,
            None => window.end,
        };
        bounds.push(whole_second(at));
    }
    bounds.push(window.end);
    // Strictly increasing by at least MIN_SLICE, else the window is too short to cut so.
    for pair in bounds.windows(2) {
        if pair[1].duration_since(pair[0]) < MIN_SLICE {
            return None;
        }
    }
    Some(
        bounds
            .windows(2)
            .map(|pair| Window {
                start: pair[0],
                end: pair[1],
            })
            .collect(),
    )
}

fn whole_second(at: Timestamp) -> Timestamp {
    Timestamp::from_second(at.as_second()).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(hours: i64) -> Window {
        let start: Timestamp = "2026-11-20T00:00:00Z".parse().unwrap();
        Window {
            start,
            end: start + SignedDuration::from_hours(hours),
        }
    }

    /// Conversations of one bin whose start lies in `slice`, the bin's count spread evenly.
    fn share_of(slice: &Window, bin: &Window, count: u64) -> f64 {
        let lo = slice.start.max(bin.start);
        let hi = slice.end.min(bin.end);
        if hi <= lo {
            return 0.0;
        }
        count as f64 * hi.duration_since(lo).as_secs_f64()
            / bin.end.duration_since(bin.start).as_secs_f64()
    }

    #[test]
    fn a_business_hours_day_is_cut_into_equal_shares_of_conversations() {
        let day = window(24);
        let bins = shard::slices(day, 48);
        // Ten times denser from 08:00 to 18:00.
        let counts: Vec<(Window, u64)> = bins
            .iter()
            .enumerate()
            .map(|(i, b)| (*b, if (16..36).contains(&i) { 500 } else { 50 }))
            .collect();
        let total: u64 = counts.iter().map(|(_, c)| c).sum();
        let slices = balanced(day, &counts, 8).unwrap();
        assert_eq!(slices.len(), 8);
        assert_eq!(slices[0].start, day.start);
        assert_eq!(slices[7].end, day.end);
        for pair in slices.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "slices tile the window");
        }
        let ideal = total as f64 / 8.0;
        for slice in &slices {
            let held: f64 = counts.iter().map(|(b, c)| share_of(slice, b, *c)).sum();
            assert!(
                (held - ideal).abs() / ideal < 0.01,
                "{slice:?} holds {held}, ideal {ideal}"
            );
        }
        // Equal time would give the busiest shard about 2.3x the ideal.
        let equal = shard::slices(day, 8);
        let worst = equal
            .iter()
            .map(|s| counts.iter().map(|(b, c)| share_of(s, b, *c)).sum::<f64>())
            .fold(0.0, f64::max);
        assert!(worst / ideal > 2.0, "{worst} vs {ideal}");
    }

    #[test]
    fn empty_bins_and_an_empty_window_are_handled() {
        let day = window(24);
        let bins = shard::slices(day, 24);
        // Everything in the last hour.
        let counts: Vec<(Window, u64)> = bins
            .iter()
            .enumerate()
            .map(|(i, b)| (*b, if i == 23 { 400 } else { 0 }))
            .collect();
        let slices = balanced(day, &counts, 4).unwrap();
        assert_eq!(slices[0].start, day.start);
        assert_eq!(slices[3].end, day.end);
        assert!(slices[1].start >= bins[23].start, "{slices:?}");
        let none: Vec<(Window, u64)> = bins.iter().map(|b| (*b, 0)).collect();
        assert_eq!(balanced(day, &none, 4), None);
    }

    #[test]
    fn a_window_too_short_for_the_shards_is_not_balanced() {
        let start: Timestamp = "2026-11-20T00:00:00Z".parse().unwrap();
        let tiny = Window {
            start,
            end: start + SignedDuration::from_secs(2),
        };
        assert_eq!(balanced(tiny, &[(tiny, 100)], 8), None);
    }
}

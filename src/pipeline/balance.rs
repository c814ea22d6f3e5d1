//! Balanced shard slices: the window cut so that every shard gets about the same number of
//! conversations, not the same length of time. Genesys counts the conversations of equal time
//! bins cheaply (`totalHits` of a one-conversation page each); the cut interpolates within a
//! bin. The bins a cut falls in are then counted again in finer parts, because a day's density
//! changes in steps (business hours start at 08:00, not at a bin's edge) that interpolation over
//! a whole bin misplaces. A day whose business hours are ten times denser than its nights then
//! ends with every shard finishing at about the same time instead of the afternoon's shard
//! straggling.

use futures::{StreamExt, TryStreamExt};
use jiff::{SignedDuration, Timestamp};
use tracing::{info, warn};

use crate::api::{MediaType, Parallelism, Window};
use crate::genesys::{GenesysClient, GenesysError};

use super::{collect, shard};

/// Bins counted per shard: enough that a shard's edge can fall inside a busy hour.
const BINS_PER_SHARD: u32 = 6;
/// Most bins counted (one call each).
const MAX_BINS: u32 = 96;
/// Parts a bin holding a cut is counted in again (one call each, at most shards - 1 bins).
const REFINE_PARTS: u32 = 4;
/// Count calls in flight at once per counting client (they share its rate budget).
const COUNT_CONCURRENCY: usize = 8;
/// Slice boundaries fall on whole seconds, and no slice is narrower.
const MIN_SLICE: SignedDuration = SignedDuration::from_secs(1);
/// Conversations a shard is worth starting for under `parallelism: auto`. A shard costs a pod,
/// a token, the recording side's inventory and verification reads and a share of the org budget
/// held while it runs; fewer conversations than this are about ten query pages and their
/// recovery calls, seconds of work at the per-token rate, which the other shards take on sooner
/// than a new shard would be ready.
pub const CONVERSATIONS_PER_AUTO_SHARD: u64 = 1_000;

/// How many slices to cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardCount {
    /// Exactly this many (`parallelism` a number).
    Exactly(u32),
    /// Up to this many: fewer when the window's conversations do not need them, one per
    /// [`CONVERSATIONS_PER_AUTO_SHARD`] (`parallelism: auto`, whose budget-fed count this is).
    AtMost(u32),
}

impl ShardCount {
    /// What a recovery's `parallelism` makes of the `shards` its Job runs.
    pub fn of(parallelism: Parallelism, shards: u32) -> Self {
        match parallelism {
            Parallelism::Auto => ShardCount::AtMost(shards),
            Parallelism::Shards(_) => ShardCount::Exactly(shards),
        }
    }

    /// The most slices this allows.
    pub fn most(self) -> u32 {
        match self {
            ShardCount::Exactly(n) | ShardCount::AtMost(n) => n.max(1),
        }
    }

    /// The slices to cut for a window holding `conversations`.
    pub fn for_conversations(self, conversations: u64) -> u32 {
        match self {
            ShardCount::Exactly(n) => n.max(1),
            ShardCount::AtMost(n) => {
                let needed = conversations.div_ceil(CONVERSATIONS_PER_AUTO_SHARD);
                u32::try_from(needed).unwrap_or(u32::MAX).clamp(1, n.max(1))
            }
        }
    }
}

/// How the slices were cut, for the log and the plan's readers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Cut {
    /// By conversation counts.
    Balanced,
    /// Equal lengths of time (one shard, no counts, or a window too short to cut finer).
    EqualTime,
}

/// The slices of `window` for `count` shards, balanced by Genesys' counts; equal time slices
/// (as many as `count` allows) when there is one shard or the counts cannot be had (the reason
/// is logged). Under [`ShardCount::AtMost`] the counts also decide how many slices: the window's
/// conversations over [`CONVERSATIONS_PER_AUTO_SHARD`]. The bins are spread over the `counters`
/// (one token each; the shards' own, which wait for the slices anyway), so the counting takes
/// the time of a few calls at the shards' rate, not of all of them at one's.
pub async fn slices(
    counters: &[GenesysClient],
    window: Window,
    media_types: &[MediaType],
    message_types: &[String],
    count: ShardCount,
) -> (Vec<Window>, Cut) {
    let most = count.most();
    let equal_time = |shards| (shard::slices(window, shards), Cut::EqualTime);
    if most == 1 || counters.is_empty() {
        return equal_time(most);
    }
    let count_of = |bins: Vec<Window>| count_bins(counters, bins, media_types, message_types);
    let bins = shard::slices(window, (most * BINS_PER_SHARD).min(MAX_BINS));
    let Some(counted) = count_of(bins).await else {
        return equal_time(most);
    };
    let conversations: u64 = counted.iter().map(|(_, c)| c).sum();
    let shards = count.for_conversations(conversations);
    if shards < most {
        info!(
            conversations,
            shards, most, "auto parallelism: the window's conversations need fewer shards"
        );
    }
    if shards == 1 {
        return (vec![window], Cut::Balanced);
    }
    let Some(first) = balanced(window, &counted, shards) else {
        return equal_time(shards);
    };
    let cut_bins = bins_holding_cuts(&counted, &first);
    let parts: Vec<Window> = cut_bins
        .iter()
        .flat_map(|&i| shard::slices(counted[i].0, REFINE_PARTS))
        .collect();
    let slices = match count_of(parts).await {
        Some(parts) => {
            balanced(window, &with_parts(&counted, &cut_bins, &parts), shards).unwrap_or(first)
        }
        None => first,
    };
    info!(shards, "slices balanced by conversation counts");
    (slices, Cut::Balanced)
}

/// Genesys' count of each bin, or None (the reason logged) when one cannot be had.
async fn count_bins(
    counters: &[GenesysClient],
    bins: Vec<Window>,
    media_types: &[MediaType],
    message_types: &[String],
) -> Option<Vec<(Window, u64)>> {
    let counts: Result<Vec<Option<u64>>, GenesysError> =
        futures::stream::iter(bins.iter().copied().enumerate())
            .map(|(i, bin)| async move {
                counters[i % counters.len()]
                    .estimate_conversations(&collect::query(bin, media_types, message_types))
                    .await
            })
            .buffered(COUNT_CONCURRENCY * counters.len())
            .try_collect()
            .await;
    match counts {
        Ok(counts) => counts
            .into_iter()
            .zip(bins)
            .map(|(count, bin)| count.map(|c| (bin, c)))
            .collect(),
        Err(err) => {
            warn!(error = %err, "cannot count the window's conversations; equal time slices");
            None
        }
    }
}

/// The indexes of the bins (tiling the window in order) that a cut between two of `slices`
/// falls strictly inside, each once.
pub fn bins_holding_cuts(counts: &[(Window, u64)], slices: &[Window]) -> Vec<usize> {
    let mut held: Vec<usize> = slices
        .iter()
        .skip(1)
        .filter_map(|slice| {
            counts
                .iter()
                .position(|(bin, _)| bin.start < slice.start && slice.start < bin.end)
        })
        .collect();
    held.dedup();
    held
}

/// `counts` with each bin of `cut_bins` replaced by the counted `parts` that tile it.
pub fn with_parts(
    counts: &[(Window, u64)],
    cut_bins: &[usize],
    parts: &[(Window, u64)],
) -> Vec<(Window, u64)> {
    counts
        .iter()
        .enumerate()
        .flat_map(|(i, &(bin, count))| {
            if cut_bins.contains(&i) {
                parts
                    .iter()
                    .filter(|(part, _)| bin.start <= part.start && part.end <= bin.end)
                    .copied()
                    .collect()
            } else {
                vec![(bin, count)]
            }
        })
        .collect()
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
    fn auto_gives_a_shard_per_thousand_conversations_up_to_what_the_budgets_feed() {
        let auto = ShardCount::AtMost(8);
        assert_eq!(auto.for_conversations(0), 1);
        assert_eq!(auto.for_conversations(1), 1);
        assert_eq!(auto.for_conversations(1_000), 1);
        assert_eq!(auto.for_conversations(1_001), 2);
        assert_eq!(auto.for_conversations(5_500), 6);
        assert_eq!(auto.for_conversations(8_000), 8);
        assert_eq!(auto.for_conversations(u64::MAX), 8);
        // A number is a number, whatever the window holds.
        assert_eq!(ShardCount::Exactly(8).for_conversations(10), 8);
        assert_eq!(ShardCount::of(Parallelism::Auto, 8), ShardCount::AtMost(8));
        assert_eq!(
            ShardCount::of(Parallelism::Shards(3), 3),
            ShardCount::Exactly(3)
        );
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

    /// Conversations starting per minute of days whose business hours (08:00-18:00) are ten
    /// times as dense, counted over `bin`.
    fn business_count(day: &Window, bin: &Window) -> u64 {
        let minute = |t: Timestamp| t.duration_since(day.start).as_secs().div_euclid(60);
        (minute(bin.start)..minute(bin.end))
            .map(|m| {
                if (480..1080).contains(&m.rem_euclid(1440)) {
                    10
                } else {
                    1
                }
            })
            .sum()
    }

    /// The most conversations a slice of `slices` holds, over the ideal share, and the same
    /// after the bins holding cuts are counted in parts: for a window of a day starting `shift`
    /// before midnight (the steps at 08:00 and 18:00 then fall anywhere in their bins).
    fn worst_before_and_after_parts(shift: SignedDuration) -> (f64, f64) {
        let day = window(24);
        let shifted = Window {
            start: day.start - shift,
            end: day.end - shift,
        };
        let counts: Vec<(Window, u64)> = shard::slices(shifted, 48)
            .into_iter()
            .map(|b| (b, business_count(&day, &b)))
            .collect();
        let total: u64 = counts.iter().map(|(_, c)| c).sum();
        let ideal = total as f64 / 8.0;
        let worst = |slices: &[Window]| {
            slices
                .iter()
                .map(|s| business_count(&day, s) as f64 / ideal)
                .fold(0.0, f64::max)
        };
        let first = balanced(shifted, &counts, 8).unwrap();
        let cut_bins = bins_holding_cuts(&counts, &first);
        assert!(cut_bins.len() <= 7, "{cut_bins:?}");
        assert!(cut_bins.windows(2).all(|p| p[0] < p[1]), "{cut_bins:?}");
        let parts: Vec<(Window, u64)> = cut_bins
            .iter()
            .flat_map(|&i| shard::slices(counts[i].0, REFINE_PARTS))
            .map(|p| (p, business_count(&day, &p)))
            .collect();
        let refined = with_parts(&counts, &cut_bins, &parts);
        assert_eq!(
            refined.len(),
            counts.len() + cut_bins.len() * (REFINE_PARTS as usize - 1)
        );
        assert_eq!(refined.iter().map(|(_, c)| c).sum::<u64>(), total);
        for pair in refined.windows(2) {
            assert_eq!(pair[0].0.end, pair[1].0.start, "parts tile the window");
        }
        let second = balanced(shifted, &refined, 8).unwrap();
        (worst(&first), worst(&second))
    }

    #[test]
    fn a_step_inside_a_bin_is_placed_by_counting_that_bin_in_parts() {
        // Windows starting every 7 minutes of a day: some put a cut in a bin holding a step.
        let shifts: Vec<(f64, f64)> = (0..24 * 60 / 7)
            .map(|k| worst_before_and_after_parts(SignedDuration::from_mins(7 * k)))
            .collect();
        // Interpolating over a bin that holds the step misplaces a cut for some shifts...
        let first = shifts.iter().map(|s| s.0).fold(0.0, f64::max);
        assert!(first > 1.04, "first pass at worst {first}");
        // ...its parts place it for every one.
        let refined = shifts.iter().map(|s| s.1).fold(0.0, f64::max);
        assert!(refined < 1.02, "refined at worst {refined}");
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

//! Per-second counts of one OAuth client's `/api/v2` requests, for fairness checks: how many its
//! rate limits let through, and how many 429s each limit sent, per UTC second. Kept for the last
//! [`RATE_HISTORY_SECONDS`] seconds, so memory stays bounded however long the simulator runs.
//! Served as `GET /sim/rates` and [`GenesysSim::client_rates`](super::GenesysSim::client_rates).

use std::collections::{BTreeMap, VecDeque};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Seconds of history kept (one hour).
pub const RATE_HISTORY_SECONDS: usize = 3600;

/// One client's per-second counts, from `start` to the second the snapshot was taken.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateSeries {
    /// Unix second of the first count: when the simulator started, or the oldest second kept.
    pub start: i64,
    /// Requests both rate limits let through, per second.
    pub accepted: Vec<u32>,
    /// 429s of the per-token limit, per second.
    pub token_limited: Vec<u32>,
    /// 429s of the per-client (org) limit, per second.
    pub org_limited: Vec<u32>,
}

/// Per OAuth client id, its series (`GET /sim/rates`).
pub type ClientRates = BTreeMap<String, RateSeries>;

impl RateSeries {
    /// The most requests let through in any `seconds` consecutive seconds (the whole series if
    /// it is shorter).
    pub fn max_accepted_in(&self, seconds: usize) -> u64 {
        let seconds = seconds.max(1);
        let mut sum: u64 = 0;
        let mut most = 0;
        for (at, count) in self.accepted.iter().enumerate() {
            sum += u64::from(*count);
            if at >= seconds {
                sum -= u64::from(self.accepted[at - seconds]);
            }
            most = most.max(sum);
        }
        most
    }

    /// 429s of either limit in the seconds at or after unix second `from`.
    pub fn limited_since(&self, from: i64) -> u64 {
        let skip = usize::try_from(from - self.start).unwrap_or(0);
        self.token_limited
            .iter()
            .zip(&self.org_limited)
            .skip(skip)
            .map(|(token, org)| u64::from(*token) + u64::from(*org))
            .sum()
    }

    /// Requests let through in all.
    pub fn accepted_total(&self) -> u64 {
        self.accepted.iter().map(|c| u64::from(*c)).sum()
    }
}

/// What became of one request at the rate limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Accepted,
    TokenLimited,
    OrgLimited,
}

/// The log: one bucket of counts per second, oldest first.
#[derive(Debug)]
pub(super) struct RateLog {
    inner: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    /// Unix second of the front bucket.
    start: i64,
    /// Per second: accepted, token-limited, org-limited.
    counts: VecDeque<[u32; 3]>,
}

impl RateLog {
    /// An empty log starting at unix second `start`.
    pub fn new(start: i64) -> Self {
        RateLog {
            inner: Mutex::new(Buckets {
                start,
                counts: VecDeque::new(),
            }),
        }
    }

    /// Counts one request's `outcome` at unix second `second`. A second older than the history
    /// kept (a clock step back) is not counted.
    pub fn record(&self, second: i64, outcome: Outcome) {
        let mut buckets = self.inner.lock();
        let Some(slot) = buckets.slot(second) else {
            return;
        };
        let column = match outcome {
            Outcome::Accepted => 0,
            Outcome::TokenLimited => 1,
            Outcome::OrgLimited => 2,
        };
        slot[column] = slot[column].saturating_add(1);
    }

    /// The counts up to and including unix second `now`.
    pub fn snapshot(&self, now: i64) -> RateSeries {
        let mut buckets = self.inner.lock();
        // Extends the series to now with empty seconds (and drops what is older than the window).
        let _ = buckets.slot(now);
        RateSeries {
            start: buckets.start,
            accepted: buckets.counts.iter().map(|c| c[0]).collect(),
            token_limited: buckets.counts.iter().map(|c| c[1]).collect(),
            org_limited: buckets.counts.iter().map(|c| c[2]).collect(),
        }
    }
}

impl Buckets {
    /// The bucket of `second`, creating the empty seconds up to it and forgetting those that
    /// fall out of the history ending at it. None for a second before the oldest kept.
    fn slot(&mut self, second: i64) -> Option<&mut [u32; 3]> {
        let oldest_kept = second - RATE_HISTORY_SECONDS as i64 + 1;
        if oldest_kept > self.start {
            let gone = usize::try_from(oldest_kept - self.start).unwrap_or(usize::MAX);
            self.counts.drain(..gone.min(self.counts.len()));
            self.start = oldest_kept;
        }
        let offset = usize::try_from(second - self.start).ok()?;
        if self.counts.len() <= offset {
            self.counts.resize(offset + 1, [0; 3]);
        }
        self.counts.get_mut(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_second_and_empty_seconds_are_zero() {
        let log = RateLog::new(1000);
        log.record(1000, Outcome::Accepted);
        log.record(1000, Outcome::Accepted);
        log.record(1002, Outcome::OrgLimited);
        log.record(1003, Outcome::TokenLimited);
        log.record(1003, Outcome::Accepted);
        let series = log.snapshot(1005);
        assert_eq!(series.start, 1000);
        assert_eq!(series.accepted, vec![2, 0, 0, 1, 0, 0]);
        assert_eq!(series.token_limited, vec![0, 0, 0, 1, 0, 0]);
        assert_eq!(series.org_limited, vec![0, 0, 1, 0, 0, 0]);
        assert_eq!(series.accepted_total(), 3);
        assert_eq!(series.limited_since(1000), 2);
        assert_eq!(series.limited_since(1003), 1);
        assert_eq!(series.limited_since(1004), 0);
        // A second before the start is not counted.
        log.record(999, Outcome::Accepted);
        assert_eq!(log.snapshot(1005).accepted_total(), 3);
    }

    #[test]
    fn the_history_is_bounded_and_keeps_the_latest_seconds() {
        let log = RateLog::new(0);
        for second in 0..(RATE_HISTORY_SECONDS as i64 + 10) {
            log.record(second, Outcome::Accepted);
        }
        let series = log.snapshot(RATE_HISTORY_SECONDS as i64 + 9);
        assert_eq!(series.accepted.len(), RATE_HISTORY_SECONDS);
        assert_eq!(series.start, 10);
        // A long idle gap: only the history's length is kept, ending at now.
        log.record(100_000, Outcome::OrgLimited);
        let series = log.snapshot(100_001);
        assert_eq!(series.accepted.len(), RATE_HISTORY_SECONDS);
        assert_eq!(series.start, 100_001 - RATE_HISTORY_SECONDS as i64 + 1);
        assert_eq!(series.accepted_total(), 0);
        assert_eq!(series.org_limited[RATE_HISTORY_SECONDS - 2], 1);
    }

    #[test]
    fn the_busiest_window_is_found_wherever_it_lies() {
        let series = RateSeries {
            start: 0,
            accepted: vec![1, 5, 5, 1, 0, 9, 0, 0],
            ..RateSeries::default()
        };
        assert_eq!(series.max_accepted_in(1), 9);
        assert_eq!(series.max_accepted_in(2), 10);
        assert_eq!(series.max_accepted_in(3), 11);
        assert_eq!(series.max_accepted_in(60), 21);
    }
}

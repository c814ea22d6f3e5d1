//! Counters of API calls and throttling answers, shared by every request of one service.

use std::sync::atomic::{AtomicU64, Ordering};

/// Calls made and 429s received. Cheap to share (`Arc<ApiCounters>`) across tasks.
#[derive(Debug, Default)]
pub struct ApiCounters {
    calls: AtomicU64,
    throttled: AtomicU64,
}

/// A point-in-time copy of [`ApiCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// HTTP requests sent (token requests and retries included).
    pub calls: u64,
    /// 429 answers received.
    pub throttled: u64,
}

impl ApiCounters {
    /// Records one HTTP request sent.
    pub fn record_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one 429 answer.
    pub fn record_throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests sent so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// 429s received so far.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Both counters at once.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            calls: self.calls(),
            throttled: self.throttled(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_and_throttles_independently() {
        let counters = ApiCounters::default();
        counters.record_call();
        counters.record_call();
        counters.record_throttled();
        assert_eq!(
            counters.snapshot(),
            CounterSnapshot {
                calls: 2,
                throttled: 1
            }
        );
    }
}

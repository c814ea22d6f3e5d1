//! A request budget per access token: a GCRA token bucket (governor) at `requestsPerMinute`, plus
//! a shared pause that a 429's `Retry-After` (or an exhausted `inin-ratelimit-*` window) imposes on
//! every client of the same token.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parking_lot::Mutex;
use tokio::time::Instant;

/// Cloneable handle on one token's budget; clones share the bucket and the pause.
#[derive(Clone, Debug)]
pub struct RateBudget {
    inner: Arc<BudgetInner>,
}

#[derive(Debug)]
struct BudgetInner {
    limiter: Option<DefaultDirectRateLimiter>,
    paused_until: Mutex<Option<Instant>>,
    per_minute: Option<u32>,
}

impl RateBudget {
    /// A budget of `per_minute` requests a minute. The burst is one second's worth so that the
    /// rate stays smooth: a server counting over a sliding window never sees a spike.
    pub fn per_minute(per_minute: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|rate| {
            let burst = NonZeroU32::new(per_minute.div_ceil(60)).unwrap_or(NonZeroU32::MIN);
            RateLimiter::direct(Quota::per_minute(rate).allow_burst(burst))
        });
        RateBudget {
            inner: Arc::new(BudgetInner {
                limiter,
                paused_until: Mutex::new(None),
                per_minute: (per_minute > 0).then_some(per_minute),
            }),
        }
    }

    /// No limit at all (tests, benchmarks of the simulator's own speed).
    pub fn unlimited() -> Self {
        Self::per_minute(0)
    }

    /// The configured rate, if any.
    pub fn requests_per_minute(&self) -> Option<u32> {
        self.inner.per_minute
    }

    /// Waits until a request may be sent: first any server-imposed pause, then the bucket.
    pub async fn acquire(&self) {
        loop {
            let pause = *self.lock_pause();
            match pause {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        if let Some(limiter) = &self.inner.limiter {
            limiter.until_ready().await;
        }
    }

    /// Holds every request of this budget for `duration` (a 429's Retry-After). A longer pause
    /// already in force is kept.
    pub fn pause_for(&self, duration: Duration) {
        let until = Instant::now() + duration;
        let mut pause = self.lock_pause();
        if pause.is_none_or(|current| current < until) {
            *pause = Some(until);
        }
    }

    fn lock_pause(&self) -> parking_lot::MutexGuard<'_, Option<Instant>> {
        self.inner.paused_until.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unlimited_budget_never_waits() {
        let budget = RateBudget::unlimited();
        let start = std::time::Instant::now();
        for _ in 0..1000 {
            budget.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn limited_budget_spaces_requests_after_the_burst() {
        // 600/min = one every 100 ms, burst 10: the 11th..13th requests must wait ~300 ms total.
        let budget = RateBudget::per_minute(600);
        let start = std::time::Instant::now();
        for _ in 0..13 {
            budget.acquire().await;
        }
        assert!(
            start.elapsed() >= Duration::from_millis(250),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_pause_holds_every_clone() {
        let budget = RateBudget::unlimited();
        let clone = budget.clone();
        budget.pause_for(Duration::from_millis(200));
        let start = std::time::Instant::now();
        clone.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(180));
    }
}

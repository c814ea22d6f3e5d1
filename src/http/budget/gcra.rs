//! The schedule of one budget: a GCRA (theoretical arrival time + interval) whose interval and
//! burst tolerance may change between requests.
//!
//! governor's quota is fixed when the limiter is built, and the budget changes its rate on every
//! 429 and every `set_limit`; a GCRA is two numbers, so it lives under the budget's own lock.

use std::time::Duration;

use tokio::time::Instant;

/// Theoretical arrival time of the next request and how far ahead of it a request may go.
#[derive(Debug)]
pub(super) struct Gcra {
    /// When the next request is due if requests came exactly one interval apart.
    tat: Instant,
    /// How far before `tat` a request is still let through: the burst, in time.
    tolerance: Duration,
}

impl Gcra {
    /// A schedule that lets `tolerance / interval + 1` requests through at once from `now`.
    pub(super) fn new(now: Instant, tolerance: Duration) -> Self {
        Gcra {
            tat: now,
            tolerance,
        }
    }

    /// Takes a slot for a request at `now` spaced by `interval`, or says when one frees up.
    pub(super) fn try_reserve(&mut self, now: Instant, interval: Duration) -> Result<(), Instant> {
        let allowed_at = self.tat.checked_sub(self.tolerance).unwrap_or(now);
        if now < allowed_at {
            return Err(allowed_at);
        }
        self.tat = self.tat.max(now) + interval;
        Ok(())
    }

    /// Starts over at `at` with a burst of `tolerance`, forgetting how far ahead of the old
    /// schedule the requests went (the server has said when it takes the next one).
    pub(super) fn restart_at(&mut self, at: Instant, tolerance: Duration) {
        self.tolerance = tolerance;
        self.tat = at + tolerance;
    }

    /// From `now` on, lets at most `tolerance` of burst through (a larger one is cut to it), and
    /// of what is saved up now at most `burst` at once.
    pub(super) fn cap(&mut self, now: Instant, tolerance: Duration, burst: Duration) {
        self.tolerance = self.tolerance.min(tolerance);
        let burst = burst.min(self.tolerance);
        self.tat = self.tat.max(now + (self.tolerance - burst));
    }

    /// No request before `at`, and none of the burst saved up before it: the server said when to
    /// come back, so requests resume at `at` one interval apart rather than all at once.
    pub(super) fn resume_at(&mut self, at: Instant) {
        self.tat = self.tat.max(at + self.tolerance);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_the_burst_through_then_spaces_requests() {
        let start = Instant::now();
        let interval = Duration::from_millis(100);
        let mut gcra = Gcra::new(start, Duration::from_millis(300));
        for _ in 0..4 {
            assert_eq!(gcra.try_reserve(start, interval), Ok(()));
        }
        assert_eq!(
            gcra.try_reserve(start, interval),
            Err(start + Duration::from_millis(100))
        );
        let later = start + Duration::from_millis(100);
        assert_eq!(gcra.try_reserve(later, interval), Ok(()));
        assert!(gcra.try_reserve(later, interval).is_err());
    }

    #[test]
    fn resuming_forgets_the_saved_burst() {
        let start = Instant::now();
        let interval = Duration::from_millis(100);
        let mut gcra = Gcra::new(start, Duration::from_secs(1));
        let resume = start + Duration::from_secs(5);
        gcra.resume_at(resume);
        assert_eq!(gcra.try_reserve(start, interval), Err(resume));
        assert_eq!(gcra.try_reserve(resume, interval), Ok(()));
        assert_eq!(gcra.try_reserve(resume, interval), Err(resume + interval));
    }

    #[test]
    fn restarting_forgets_the_debt_of_a_long_burst() {
        let start = Instant::now();
        let interval = Duration::from_millis(100);
        let mut gcra = Gcra::new(start, Duration::from_secs(60));
        for _ in 0..300 {
            assert_eq!(gcra.try_reserve(start, interval), Ok(()));
        }
        let resume = start + Duration::from_secs(1);
        gcra.restart_at(resume, Duration::from_millis(200));
        assert_eq!(gcra.try_reserve(start, interval), Err(resume));
        assert_eq!(gcra.try_reserve(resume, interval), Ok(()));
        assert_eq!(gcra.try_reserve(resume, interval), Err(resume + interval));
    }
}

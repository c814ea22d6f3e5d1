//! A model of a server's rate limiter on tokio time, written from the contract (a per-minute
//! limit with some burst; a refused request gets 429 and a whole-seconds Retry-After), for the
//! budget's tests. It shares nothing with the budget's own schedule.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// A GCRA limiter: `per_minute` with `burst` requests at once. Clones share the limiter (one
/// server-side limit that several clients draw on).
#[derive(Clone, Debug)]
pub(super) struct ServerLimiter {
    inner: Arc<Mutex<ServerState>>,
    /// Where each admitted request is also counted (an org's tally over its tokens).
    tally: Option<Arc<Mutex<ServerState>>>,
}

#[derive(Debug)]
struct ServerState {
    interval: Duration,
    tolerance: Duration,
    tat: Instant,
    /// When each admitted request arrived, and each refused one.
    admitted: Vec<Instant>,
    refused: Vec<Instant>,
}

impl ServerLimiter {
    pub(super) fn gcra(per_minute: u32, burst: u32) -> Self {
        let interval = Duration::from_secs(60) / per_minute;
        ServerLimiter {
            inner: Arc::new(Mutex::new(ServerState {
                interval,
                tolerance: interval * burst.saturating_sub(1),
                tat: Instant::now(),
                admitted: Vec::new(),
                refused: Vec::new(),
            })),
            tally: None,
        }
    }

    /// A limiter that admits everything and counts what arrives (with [`Self::counted_in`]).
    pub(super) fn tally() -> Self {
        Self::gcra(u32::MAX, u32::MAX)
    }

    /// This limiter, also counting every request it admits in `tally`.
    pub(super) fn counted_in(mut self, tally: &ServerLimiter) -> Self {
        self.tally = Some(tally.inner.clone());
        self
    }

    /// Admits the request arriving now, or refuses it with a Retry-After in whole seconds
    /// (rounded up, at least 1, as Genesys sends it).
    pub(super) fn arrive(&self) -> Result<(), Duration> {
        let mut state = self.inner.lock();
        let now = Instant::now();
        let allowed_at = state.tat.checked_sub(state.tolerance).unwrap_or(now);
        if now < allowed_at {
            state.refused.push(now);
            let wait = (allowed_at - now).as_secs_f64().ceil().max(1.0);
            return Err(Duration::from_secs_f64(wait));
        }
        state.tat = state.tat.max(now) + state.interval;
        state.admitted.push(now);
        if let Some(tally) = &self.tally {
            tally.lock().admitted.push(now);
        }
        Ok(())
    }

    /// Admitted requests that arrived in `[from, to)`.
    pub(super) fn admitted_between(&self, from: Instant, to: Instant) -> usize {
        let state = self.inner.lock();
        state
            .admitted
            .iter()
            .filter(|at| **at >= from && **at < to)
            .count()
    }

    /// The most requests admitted in any `window` within `[from, to)`.
    pub(super) fn admitted_window_max(
        &self,
        from: Instant,
        to: Instant,
        window: Duration,
    ) -> usize {
        let state = self.inner.lock();
        let admitted: Vec<Instant> = state
            .admitted
            .iter()
            .copied()
            .filter(|at| *at >= from && *at < to)
            .collect();
        let mut first = 0;
        let mut most = 0;
        for (last, at) in admitted.iter().enumerate() {
            while *at - admitted[first] >= window {
                first += 1;
            }
            most = most.max(last + 1 - first);
        }
        most
    }

    /// When the 429s were sent.
    pub(super) fn refused(&self) -> Vec<Instant> {
        self.inner.lock().refused.clone()
    }
}

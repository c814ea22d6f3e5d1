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
        }
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

    /// When the 429s were sent.
    pub(super) fn refused(&self) -> Vec<Instant> {
        self.inner.lock().refused.clone()
    }
}

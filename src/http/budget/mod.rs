//! A request budget per access token, shared by every clone of a client.
//!
//! - [`RateBudget::per_minute_bursting`] (Genesys) starts optimistic: until the first 429 it lets
//!   up to a minute's worth of requests go at once (the most a per-minute limit can allow), so a
//!   run uses the burst the server grants. [`RateBudget::per_minute`] (our own recording side,
//!   paced to spare it) allows a second's worth from the start.
//! - A 429 (or an exhausted `inin-ratelimit-*` window) pauses every request of the budget for the
//!   server's wait, after which requests resume one interval apart.
//! - From the first 429 on it paces at the rate [`aimd`] keeps: the configured limit, x0.7 on each
//!   later 429, +5 % of the limit every 2 s without one, and after a 429 at rate R no higher than
//!   about 0.95 R for ten minutes (the exact ceiling rules are in [`aimd`]). The first 429 only
//!   ends the burst: it says the burst is spent, not that the limit is lower. Several 429s to
//!   requests sent before the budget reacted count as one.
//! - [`RateBudget::set_limit`] changes the configured limit while requests run (a worker's share
//!   of its Genesys org's budget). From then on the budget learns no ceiling of its own: the
//!   controller lowers the org's budget on its shards' 429s and holds that under a ceiling.

mod aimd;
mod gcra;
#[cfg(test)]
mod server_model;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use aimd::Aimd;
use gcra::Gcra;

/// The burst of a bursting budget before the first 429: a minute's worth of the limit.
const OPENING_BURST: Duration = Duration::from_secs(60);
/// The burst once paced: a second's worth, so a server counting over a sliding window never sees
/// a spike, yet a request that waited on something else does not lose its slot.
const PACED_BURST: Duration = Duration::from_secs(1);

/// Cloneable handle on one token's budget; clones share the schedule, the rate and the pause.
#[derive(Clone, Debug)]
pub struct RateBudget {
    inner: Arc<Mutex<Pacer>>,
}

#[derive(Debug)]
struct Pacer {
    /// None: no limit at all.
    limit: Option<Limited>,
    paused_until: Option<Instant>,
}

#[derive(Debug)]
struct Limited {
    aimd: Aimd,
    schedule: Gcra,
    /// No 429 yet: the opening burst is still allowed.
    opening: bool,
}

impl Limited {
    fn new(per_minute: u32, opening_burst: Duration, now: Instant) -> Self {
        Limited {
            aimd: Aimd::new(per_minute, now),
            schedule: Gcra::new(now, opening_burst),
            opening: true,
        }
    }
}

impl RateBudget {
    /// A budget of `per_minute` requests a minute (0 = no limit), smooth from the start: a
    /// second's worth at once at most. For services of our own that pacing is meant to spare.
    pub fn per_minute(per_minute: u32) -> Self {
        Self::with_opening_burst(per_minute, PACED_BURST)
    }

    /// A budget of `per_minute` requests a minute (0 = no limit) that lets up to a minute's worth
    /// go at once until the first 429: for a server whose limiter grants a burst (Genesys), so
    /// that a run uses it instead of pacing below what is allowed.
    pub fn per_minute_bursting(per_minute: u32) -> Self {
        Self::with_opening_burst(per_minute, OPENING_BURST)
    }

    fn with_opening_burst(per_minute: u32, opening_burst: Duration) -> Self {
        let limit =
            (per_minute > 0).then(|| Limited::new(per_minute, opening_burst, Instant::now()));
        RateBudget {
            inner: Arc::new(Mutex::new(Pacer {
                limit,
                paused_until: None,
            })),
        }
    }

    /// No limit at all (tests, benchmarks of the simulator's own speed).
    pub fn unlimited() -> Self {
        Self::per_minute(0)
    }

    /// The configured limit, if any (as built, or as [`Self::set_limit`] last set it).
    pub fn requests_per_minute(&self) -> Option<u32> {
        let pacer = self.inner.lock();
        pacer
            .limit
            .as_ref()
            .map(|limited| limited.aimd.limit().round() as u32)
    }

    /// The rate requests are paced at now, if limited: the limit, or less after 429s.
    pub fn current_per_minute(&self) -> Option<u32> {
        let mut pacer = self.inner.lock();
        let now = Instant::now();
        pacer
            .limit
            .as_mut()
            .map(|limited| limited.aimd.rate(now).round() as u32)
    }

    /// Changes the configured limit of every clone while requests run (at least 1/min; an
    /// unlimited budget becomes limited): a share of an org's budget, which the controller
    /// lowers on 429s, so from then on no ceiling is learned here and one learned before is
    /// dropped. A lower limit applies to the next request. A higher one applies at once too,
    /// unless the rate is still climbing back from a 429: then it climbs on to it.
    pub fn set_limit(&self, per_minute: u32) {
        let mut pacer = self.inner.lock();
        let now = Instant::now();
        match &mut pacer.limit {
            Some(limited) => {
                limited.aimd.set_limit(per_minute, now);
                tracing::debug!(
                    limit = per_minute,
                    per_minute = limited.aimd.rate(now).round(),
                    "new limit"
                );
            }
            None => pacer.limit = Some(Limited::new(per_minute, PACED_BURST, now)),
        }
    }

    /// Caps what the opening burst still allows at `requests` sent at once above the paced rate
    /// (none: paced from the next request on, one interval apart; what it saves up later while
    /// idle still goes at once, up to a second's worth). Only shrinks it, and only before the
    /// first 429: a shard whose org budget is shared with other shards spends only the org's
    /// spare requests in its burst, so the org stays within its budget in every minute. Capped
    /// at none, the budget is paced from then on: its first 429 lowers the rate like any later
    /// one (there is no burst for it to end).
    pub fn cap_opening_burst(&self, requests: u32) {
        let mut pacer = self.inner.lock();
        let now = Instant::now();
        if let Some(limited) = &mut pacer.limit
            && limited.opening
        {
            let interval = Duration::from_secs(60).div_f64(limited.aimd.rate(now));
            let burst = interval * requests;
            limited.schedule.cap(now, burst.max(PACED_BURST), burst);
            // With no burst to end, the first 429 says what later ones do: the limit is lower.
            if requests == 0 {
                limited.opening = false;
            }
        }
    }

    /// Waits until a request may be sent: first any server-imposed pause, then the schedule.
    pub async fn acquire(&self) {
        loop {
            let ready_at = {
                let mut pacer = self.inner.lock();
                match pacer.try_reserve(Instant::now()) {
                    Ok(()) => return,
                    Err(at) => at,
                }
            };
            tokio::time::sleep_until(ready_at).await;
        }
    }

    /// Holds every request of this budget for `duration` (a server's wait hint). A longer pause
    /// already in force is kept.
    pub fn pause_for(&self, duration: Duration) {
        self.inner.lock().pause(Instant::now(), duration);
    }

    /// A 429 answered a request sent (let through by [`Self::acquire`]) at `sent_at`: every
    /// request pauses for the server's `wait` if it gave one, and the rate adapts. The first 429
    /// ends the opening burst; a later one on a request sent after the previous reaction lowers
    /// the rate.
    pub fn throttled(&self, sent_at: Instant, wait: Option<Duration>) {
        let mut pacer = self.inner.lock();
        let now = Instant::now();
        let wait = wait.unwrap_or(Duration::ZERO);
        if let Some(limited) = &mut pacer.limit
            && limited.opening
        {
            limited.opening = false;
            limited.schedule.restart_at(now + wait, PACED_BURST);
            limited.aimd.ignore_until(now + wait);
            tracing::debug!(?wait, "first 429: the opening burst is spent; pacing");
            pacer.pause(now, wait);
            return;
        }
        pacer.pause(now, wait);
        if let Some(limited) = &mut pacer.limit
            && limited.aimd.throttled(sent_at, now, wait)
        {
            tracing::debug!(
                ?wait,
                per_minute = limited.aimd.rate(now).round(),
                ceiling = limited.aimd.learned_ceiling().map(f64::round),
                "429: rate lowered"
            );
        }
    }
}

impl Pacer {
    fn try_reserve(&mut self, now: Instant) -> Result<(), Instant> {
        if let Some(until) = self.paused_until
            && until > now
        {
            return Err(until);
        }
        let Some(limited) = &mut self.limit else {
            return Ok(());
        };
        let interval = Duration::from_secs(60).div_f64(limited.aimd.rate(now));
        limited.schedule.try_reserve(now, interval)?;
        limited.aimd.sent(now);
        Ok(())
    }

    fn pause(&mut self, now: Instant, duration: Duration) {
        if duration.is_zero() {
            return;
        }
        let until = now + duration;
        if self.paused_until.is_none_or(|current| current < until) {
            self.paused_until = Some(until);
        }
        if let Some(limited) = &mut self.limit {
            limited.schedule.resume_at(until);
        }
    }
}

//! The two rate limits an `/api/v2` request must pass (genesys-api.md section 6.1): its access
//! token's (`token.rate.per.minute`, 300 by default) and its OAuth client's across all the
//! client's tokens (`org.app.user.rate.per.minute`, 3000 by default).
//!
//! Each is a GCRA (the algorithm governor implements), written out here because governor cannot
//! take back a request it let through: a request must be charged to a limit only when it passes
//! both, so that one refused by the org limit does not use up its token's budget and one refused by
//! its token's limit does not use up the org's.
//!
//! Burst: a limit of R per minute lets through B = ceil(R / 6) requests at once (ten seconds' worth
//! of its rate, at least 1), then one every 60/R s. So any 60 s window holds at most R + B - 1
//! accepted requests, and a client that starts idle may spend its burst at once, as a real limiter
//! counting per minute would allow. Genesys documents no burst; ten seconds' worth is the slack
//! the simulator has always given its per-token limit.

use std::num::NonZeroU32;
use std::time::Duration;

use tokio::time::Instant;

/// Seconds of a limit's rate it lets through at once.
pub const BURST_SECONDS: u32 = 10;

/// One GCRA limit: `per_minute` requests a minute with a burst of [`BURST_SECONDS`] of them.
#[derive(Debug)]
pub(super) struct RateLimit {
    per_minute: u32,
    /// Time one request uses up (60 s / per_minute).
    interval: Duration,
    /// How far ahead of now the theoretical arrival time may run: (burst - 1) intervals.
    tolerance: Duration,
    /// Theoretical arrival time of the next request (None: never charged, so idle).
    next_arrival: Option<Instant>,
}

/// Which limit refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Limit {
    /// The access token's.
    Token,
    /// The OAuth client's, across all its tokens.
    Org,
}

/// Why a request was refused: the limit, its requests per minute and how long until it would
/// conform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Refusal {
    pub limit: Limit,
    pub per_minute: u32,
    pub wait: Duration,
}

impl Refusal {
    /// `Retry-After` in whole seconds, as Genesys sends it: the wait rounded up, at least 1.
    pub fn retry_after_seconds(&self) -> u64 {
        self.wait.as_secs_f64().ceil().max(1.0) as u64
    }
}

impl RateLimit {
    /// `per_minute` requests a minute (burst: [`burst`]).
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        let interval = Duration::from_secs(60) / per_minute.get();
        RateLimit {
            per_minute: per_minute.get(),
            interval,
            tolerance: interval * (burst(per_minute) - 1),
            next_arrival: None,
        }
    }

    /// How long until a request at `now` would conform (None: it conforms now).
    fn wait(&self, now: Instant) -> Option<Duration> {
        let next = self.next_arrival?.max(now);
        let earliest = next.checked_sub(self.tolerance).unwrap_or(now);
        (earliest > now).then(|| earliest - now)
    }

    /// Charges one request at `now`.
    fn charge(&mut self, now: Instant) {
        let next = self.next_arrival.map_or(now, |at| at.max(now));
        self.next_arrival = Some(next + self.interval);
    }

    fn refusal(&self, limit: Limit, now: Instant) -> Option<Refusal> {
        self.wait(now).map(|wait| Refusal {
            limit,
            per_minute: self.per_minute,
            wait,
        })
    }
}

/// Requests a limit of `per_minute` lets through at once: ten seconds' worth, at least 1.
pub fn burst(per_minute: NonZeroU32) -> u32 {
    (per_minute.get() * BURST_SECONDS).div_ceil(60).max(1)
}

/// Admits a request at `now` when it passes both limits given, charging it to both; otherwise
/// charges neither and names the limit that refused (the token's first).
pub(super) fn admit(
    token: Option<&mut RateLimit>,
    org: Option<&mut RateLimit>,
    now: Instant,
) -> Result<(), Refusal> {
    if let Some(refusal) = token.as_ref().and_then(|t| t.refusal(Limit::Token, now)) {
        return Err(refusal);
    }
    if let Some(refusal) = org.as_ref().and_then(|o| o.refusal(Limit::Org, now)) {
        return Err(refusal);
    }
    for limit in [token, org].into_iter().flatten() {
        limit.charge(now);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_minute: u32) -> RateLimit {
        RateLimit::per_minute(NonZeroU32::new(per_minute).unwrap_or_else(|| panic!("zero")))
    }

    /// Requests admitted at `at` (one try each) until the first refusal, at most `tries`.
    fn admitted_at(
        token: &mut Option<RateLimit>,
        org: &mut Option<RateLimit>,
        at: Instant,
        tries: u32,
    ) -> (u32, Option<Refusal>) {
        for admitted in 0..tries {
            if let Err(refusal) = admit(token.as_mut(), org.as_mut(), at) {
                return (admitted, Some(refusal));
            }
        }
        (tries, None)
    }

    #[test]
    fn the_burst_is_ten_seconds_of_the_rate() {
        let n = |v| NonZeroU32::new(v).unwrap_or_else(|| panic!("zero"));
        assert_eq!(burst(n(300)), 50);
        assert_eq!(burst(n(3000)), 500);
        assert_eq!(burst(n(2100)), 350);
        assert_eq!(burst(n(7)), 2);
        assert_eq!(burst(n(1)), 1);
    }

    #[test]
    fn an_idle_limit_lets_its_burst_through_then_one_per_interval() {
        let start = Instant::now();
        let (mut token, mut org) = (Some(limit(300)), None);
        let (admitted, refusal) = admitted_at(&mut token, &mut org, start, 1000);
        assert_eq!(admitted, 50);
        let refusal = refusal.unwrap_or_else(|| panic!("never refused"));
        assert_eq!(refusal.limit, Limit::Token);
        assert_eq!(refusal.per_minute, 300);
        assert_eq!(refusal.wait, Duration::from_millis(200));
        assert_eq!(refusal.retry_after_seconds(), 1);
        // One interval (200 ms) later exactly one more conforms.
        let later = start + Duration::from_millis(200);
        assert_eq!(admitted_at(&mut token, &mut org, later, 10).0, 1);
        // A minute of steady requests: 300 of them, one every 200 ms.
        let mut accepted = 0;
        for step in 1..=300u32 {
            let at = later + Duration::from_millis(200) * step;
            accepted += admitted_at(&mut token, &mut org, at, 5).0;
        }
        assert_eq!(accepted, 300);
    }

    #[test]
    fn a_request_refused_by_one_limit_is_not_charged_to_the_other() {
        let start = Instant::now();
        // The org limit (60/min: burst 10) is the tighter one.
        let (mut token, mut org) = (Some(limit(300)), Some(limit(60)));
        let (admitted, refusal) = admitted_at(&mut token, &mut org, start, 1000);
        assert_eq!(admitted, 10);
        let refusal = refusal.unwrap_or_else(|| panic!("never refused"));
        assert_eq!(refusal.limit, Limit::Org);
        assert_eq!(refusal.wait, Duration::from_secs(1));
        // Hammering the org limit does not use up the token's budget: 990 refusals later, a
        // fresh org limit lets the token's remaining 40 of its burst of 50 through.
        for _ in 0..990 {
            assert!(admit(token.as_mut(), org.as_mut(), start).is_err());
        }
        let mut fresh_org = Some(limit(6000));
        assert_eq!(admitted_at(&mut token, &mut fresh_org, start, 1000).0, 40);

        // The other way round: the token's refusals leave the org's budget alone.
        let (mut token, mut org) = (Some(limit(6)), Some(limit(60)));
        assert_eq!(admitted_at(&mut token, &mut org, start, 1000).0, 1);
        for _ in 0..100 {
            let refusal = admit(token.as_mut(), org.as_mut(), start);
            assert_eq!(refusal.map_err(|r| r.limit), Err(Limit::Token));
        }
        let mut other_token = Some(limit(6000));
        assert_eq!(admitted_at(&mut other_token, &mut org, start, 1000).0, 9);
    }

    #[test]
    fn retry_after_rounds_the_wait_up_to_whole_seconds() {
        let start = Instant::now();
        let (mut token, mut org) = (Some(limit(2)), None);
        assert_eq!(admitted_at(&mut token, &mut org, start, 5).0, 1);
        let refusal = admit(
            token.as_mut(),
            org.as_mut(),
            start + Duration::from_millis(100),
        );
        let refusal = refusal.err().unwrap_or_else(|| panic!("admitted"));
        assert_eq!(refusal.wait, Duration::from_millis(29_900));
        assert_eq!(refusal.retry_after_seconds(), 30);
    }
}

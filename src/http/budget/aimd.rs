//! The rate a budget paces at: the configured limit, lowered multiplicatively on 429s and raised
//! additively while none come (AIMD), under a ceiling learned from the last 429.
//!
//! Why a learned ceiling: plain AIMD climbs back over a real limit lower than the configured one
//! and saw-tooths into 429s for ever. After a 429 at rate R the rate stays under
//! [`Aimd::CEILING_MARGIN`] x R, so it settles under the real limit; the ceiling is forgotten after
//! [`Aimd::CEILING_HOLD`] without a 429 (the limit may have been a passing neighbour), and the
//! additive increase then probes upwards slowly again.
//!
//! The ceiling also heeds what the server let through since the previous 429: a ceiling just
//! over the real limit drains the server's slack so slowly that its 429 can come minutes later,
//! but then the requests sent meanwhile measure the limit (or this client's share of it, when
//! others draw on it too) closely. So the ceiling is also kept under
//! [`Aimd::CEILING_MARGIN`] x that rate, though never under the decreased rate.
//!
//! A budget whose limit is a share of its org's budget ([`Aimd::set_limit`]) learns no ceiling:
//! the controller lowers the org's budget on the 429s of any of its shards, under a ceiling of
//! its own (`controller::org_throttle`), and divides what is left. A ceiling here too would
//! count the same 429s twice, and being in requests a minute it would hold a shard far under
//! its share once the share grows (other shards finished) or the org's budget climbs back.

use std::time::Duration;

use tokio::time::Instant;

/// Rates are requests per minute, as `requestsPerMinute` is.
#[derive(Debug)]
pub(super) struct Aimd {
    /// The configured ceiling (`requestsPerMinute`, or the share `set_limit` gave).
    limit: f64,
    /// The rate in force.
    rate: f64,
    /// Learned from the last 429: no higher than this until it is forgotten.
    learned_ceiling: Option<f64>,
    /// When the rate was last lowered (by a 429).
    last_decrease: Option<Instant>,
    /// Additive steps are counted from here.
    last_step: Instant,
    /// A 429 on a request sent before this carries no news: it was sent before the last
    /// decrease took effect (one burst of concurrent 429s counts once).
    news_after: Instant,
    /// Requests sent since `news_after`.
    sent_since_news: u64,
    /// The limit is a share of an org's budget that its 429s already lower: no ceiling is
    /// learned here.
    follows_share: bool,
}

impl Aimd {
    /// The rate after a 429: x0.7.
    pub(super) const DECREASE: f64 = 0.7;
    /// After a 429 at rate R, no higher than this x R for a while.
    pub(super) const CEILING_MARGIN: f64 = 0.95;
    /// The same after a 429 at or under a ceiling learned before: that ceiling was still over
    /// the real limit, so the next one is set further under (each round trip to the ceiling
    /// takes longer as it nears the limit; a coarser step keeps the rounds few).
    pub(super) const REPEAT_CEILING_MARGIN: f64 = 0.9;
    /// What was let through is measured over at least this long (a short window is mostly the
    /// server's slack, not its rate).
    pub(super) const MIN_MEASURED_WINDOW: Duration = Duration::from_secs(5);
    /// The slack a server has after a pause, in time at its rate: a Retry-After rounded up to
    /// whole seconds, and what its bucket refilled during the pause. Counted into the window, so
    /// that the slack spent in it does not read as rate.
    pub(super) const SLACK_ALLOWANCE: Duration = Duration::from_secs(2);
    /// How long a learned ceiling holds without a 429.
    pub(super) const CEILING_HOLD: Duration = Duration::from_secs(600);
    /// One additive step, as a share of the limit...
    pub(super) const INCREASE_SHARE: f64 = 0.05;
    /// ...every this long without a 429.
    pub(super) const INCREASE_EVERY: Duration = Duration::from_secs(2);
    /// Two decreases are at least this far apart (or the server's wait, if longer): a lower rate
    /// takes a moment to drain the server's count, and a client that happens to arrive when it
    /// is empty must not collapse while others sharing the limit keep their rate.
    pub(super) const MIN_REACTION_GAP: Duration = Duration::from_secs(3);
    /// A learned ceiling never goes under this share of the limit: a server that refuses at
    /// random (or in a storm, whatever the rate) must not pin the rate near nothing for the
    /// ceiling's hold; four clients unaware of each other can still settle under one limit
    /// (with the controller, each one's limit is its share already).
    pub(super) const LOWEST_CEILING_SHARE: f64 = 0.15;
    /// The rate never goes under this share of the limit (nor under 1/min): a floor that still
    /// makes progress however many 429s come.
    pub(super) const FLOOR_SHARE: f64 = 0.05;

    pub(super) fn new(limit: u32, now: Instant) -> Self {
        let limit = f64::from(limit.max(1));
        Aimd {
            limit,
            rate: limit,
            learned_ceiling: None,
            last_decrease: None,
            last_step: now,
            news_after: now,
            sent_since_news: 0,
            follows_share: false,
        }
    }

    /// The configured limit.
    pub(super) fn limit(&self) -> f64 {
        self.limit
    }

    /// The rate in force at `now`, after the additive steps due since the last call.
    pub(super) fn rate(&mut self, now: Instant) -> f64 {
        if self
            .last_decrease
            .is_some_and(|at| now.saturating_duration_since(at) >= Self::CEILING_HOLD)
        {
            self.learned_ceiling = None;
            self.last_decrease = None;
        }
        let steps = (now.saturating_duration_since(self.last_step).as_secs_f64()
            / Self::INCREASE_EVERY.as_secs_f64())
        .floor();
        if steps >= 1.0 {
            self.rate += steps * Self::INCREASE_SHARE * self.limit;
            self.last_step += Self::INCREASE_EVERY.mul_f64(steps);
        }
        self.rate = self.rate.min(self.ceiling());
        self.rate
    }

    /// A 429 on a request sent at `sent_at`, seen at `now`, with the server's wait (if any).
    /// Returns whether the rate was lowered.
    pub(super) fn throttled(&mut self, sent_at: Instant, now: Instant, wait: Duration) -> bool {
        if sent_at < self.news_after {
            return false;
        }
        let rate = self.rate(now);
        let decreased = (Self::DECREASE * rate).max(self.floor());
        if !self.follows_share {
            self.learned_ceiling = Some(self.ceiling_after_429(rate, decreased, now));
        }
        self.rate = decreased;
        self.sent_since_news = 0;
        self.last_decrease = Some(now);
        self.last_step = now;
        self.news_after = now + wait.max(Self::MIN_REACTION_GAP);
        true
    }

    /// The ceiling a 429 at `rate` teaches, seen at `now`, the rate being lowered to
    /// `decreased`: a margin under `rate`, and under what the server let through since the
    /// previous 429 when that was measured long enough.
    fn ceiling_after_429(&self, rate: f64, decreased: f64, now: Instant) -> f64 {
        let margin = if self.learned_ceiling.is_some() {
            Self::REPEAT_CEILING_MARGIN
        } else {
            Self::CEILING_MARGIN
        };
        let window = now.saturating_duration_since(self.news_after);
        let let_through = (window >= Self::MIN_MEASURED_WINDOW).then(|| {
            self.sent_since_news as f64 * 60.0 / (window + Self::SLACK_ALLOWANCE).as_secs_f64()
        });
        let ceiling = let_through.map_or(margin * rate, |measured| {
            (margin * rate).min(Self::CEILING_MARGIN * measured)
        });
        ceiling.max(decreased).max(self.lowest_ceiling())
    }

    /// A request was let through by the schedule at `now`.
    pub(super) fn sent(&mut self, now: Instant) {
        if now >= self.news_after {
            self.sent_since_news += 1;
        }
    }

    /// 429s on requests sent before `at` carry no news (they were sent before the server's
    /// wait was known).
    pub(super) fn ignore_until(&mut self, at: Instant) {
        if at > self.news_after {
            self.news_after = at;
            self.sent_since_news = 0;
        }
    }

    /// A new limit: this budget's share of its org's budget, which the controller lowers on
    /// 429s (from then on no ceiling is learned here, and one learned before is dropped). A lower
    /// one applies at once. A higher one applies at once too when the rate was at the old
    /// limit; a rate still climbing back from a 429 climbs on to it by the additive steps.
    pub(super) fn set_limit(&mut self, limit: u32, now: Instant) {
        let limit = f64::from(limit.max(1));
        let current = self.rate(now);
        self.follows_share = true;
        self.learned_ceiling = None;
        if limit == self.limit {
            return;
        }
        let at_limit = current >= self.limit;
        self.limit = limit;
        self.rate = if at_limit { limit } else { current.min(limit) };
    }

    /// The ceiling learned from the last 429, if one holds (for logs).
    pub(super) fn learned_ceiling(&self) -> Option<f64> {
        self.learned_ceiling
    }

    fn ceiling(&self) -> f64 {
        self.learned_ceiling
            .map_or(self.limit, |ceiling| ceiling.min(self.limit))
            .max(self.floor())
    }

    fn lowest_ceiling(&self) -> f64 {
        Self::LOWEST_CEILING_SHARE * self.limit
    }

    fn floor(&self) -> f64 {
        (Self::FLOOR_SHARE * self.limit).max(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_429_cuts_the_rate_and_caps_the_climb_under_the_rate_it_came_at() {
        let start = Instant::now();
        let mut aimd = Aimd::new(300, start);
        assert_eq!(aimd.rate(start), 300.0);
        assert!(aimd.throttled(start, start, secs(1)));
        assert_eq!(aimd.rate(start), 210.0);
        // +15/min every 2 s, up to 0.95 x 300 = 285 and no further.
        assert_eq!(aimd.rate(start + secs(2)), 225.0);
        assert_eq!(aimd.rate(start + secs(9)), 270.0);
        assert_eq!(aimd.rate(start + secs(60)), 285.0);
        assert_eq!(aimd.rate(start + secs(599)), 285.0);
        // Forgotten after the hold: the climb goes on to the limit.
        assert_eq!(aimd.rate(start + secs(601)), 300.0);
    }

    #[test]
    fn a_storm_lowers_the_rate_far_but_the_ceiling_only_to_its_lowest_share() {
        let start = Instant::now();
        let mut aimd = Aimd::new(300, start);
        let mut now = start;
        for _ in 0..10 {
            aimd.sent(now);
            assert!(aimd.throttled(now, now, secs(1)));
            now += Aimd::MIN_REACTION_GAP;
        }
        assert!(aimd.rate(now) < 60.0, "{}", aimd.rate(now));
        // It climbs back to the ceiling the last 429 taught, which is low, but not under 15 %
        // of the limit.
        let settled = aimd.rate(now + secs(60));
        assert!((45.0..80.0).contains(&settled), "{settled}");
    }

    #[test]
    fn a_burst_of_429s_on_requests_sent_before_the_reaction_counts_once() {
        let start = Instant::now();
        let mut aimd = Aimd::new(300, start);
        assert!(aimd.throttled(start, start, secs(3)));
        let now = start + Duration::from_millis(500);
        assert!(!aimd.throttled(start, now, secs(3)));
        assert!(!aimd.throttled(start + secs(2), now, secs(3)));
        assert_eq!(aimd.rate(now), 210.0);
        // A request sent after the wait that is refused again is news.
        assert!(aimd.throttled(start + secs(3), start + secs(3), secs(1)));
        assert_eq!(aimd.rate(start + secs(3)), 0.7 * 225.0);
    }

    #[test]
    fn a_lower_share_applies_at_once_and_a_higher_one_at_once_unless_climbing_back() {
        let start = Instant::now();
        let mut aimd = Aimd::new(300, start);
        aimd.set_limit(100, start);
        assert_eq!(aimd.rate(start), 100.0);
        aimd.set_limit(250, start);
        assert_eq!(aimd.rate(start), 250.0);
        // After a 429 at 250 the rate climbs back (+5 % of the share every 2 s), to the whole
        // share: the org's budget, not this share, carries what the 429 taught.
        assert!(aimd.throttled(start, start, secs(1)));
        assert_eq!(aimd.rate(start), 175.0);
        aimd.set_limit(300, start);
        assert_eq!(aimd.rate(start), 175.0);
        assert_eq!(aimd.rate(start + secs(2)), 190.0);
        assert_eq!(aimd.rate(start + secs(60)), 300.0);
        // A lower share, then a higher one again: at the share each time.
        aimd.set_limit(50, start + secs(60));
        assert_eq!(aimd.rate(start + secs(60)), 50.0);
        aimd.set_limit(200, start + secs(61));
        assert_eq!(aimd.rate(start + secs(61)), 200.0);
    }

    #[test]
    fn a_share_drops_the_ceiling_learned_before_and_learns_none() {
        let start = Instant::now();
        let mut aimd = Aimd::new(300, start);
        // Alone, a 429 at 300 teaches a ceiling of 285.
        assert!(aimd.throttled(start, start, secs(1)));
        assert_eq!(aimd.rate(start + secs(60)), 285.0);
        // Given the same limit as its share, it climbs to all of it.
        aimd.set_limit(300, start + secs(60));
        assert_eq!(aimd.rate(start + secs(70)), 300.0);
        // Shares of 60 while 429s come: each lowers the rate, none sets a ceiling, so a share
        // that grows (other shards finished) is reached in full.
        aimd.set_limit(60, start + secs(70));
        let mut now = start + secs(70);
        for _ in 0..3 {
            assert!(aimd.throttled(now, now, secs(1)));
            now += Aimd::MIN_REACTION_GAP;
        }
        assert!(aimd.rate(now) < 30.0, "{}", aimd.rate(now));
        aimd.set_limit(300, now);
        assert_eq!(aimd.rate(now + secs(40)), 300.0);
    }
}

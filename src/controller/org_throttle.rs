//! An org's budget lowered after Genesys 429s, for all its shards at once: the workers count
//! their 429s into their shard status, and a rise anywhere in the org lowers the whole org's
//! division (x0.7), which then climbs back additively under a ceiling learned from the rise.
//!
//! Why at the org and not only per shard: each shard's own pacing also backs off on its 429s,
//! but an org whose real limit is under its configured budget (another client draws on it, or
//! the limit was set lower) refuses whichever shards happen to ask at the wrong moment. Those
//! back off alone while the rest keep their share, so the org finds its limit one shard at a
//! time, with a 429 each. Pure: the caller hands in the counts and the time.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// One org's state; a new one (no 429 seen) leaves the budget whole.
#[derive(Debug)]
pub struct OrgThrottle {
    /// The share of the configured budget in force.
    factor: f64,
    /// No higher than this until it is forgotten (set by the last decrease).
    ceiling: Option<f64>,
    decreased_at: Option<Instant>,
    /// Additive steps are counted from here.
    stepped_at: Instant,
    /// The 429 count each running recovery showed when last seen.
    counts: HashMap<String, u64>,
}

impl OrgThrottle {
    /// The budget after a rise in 429s: x0.7.
    pub const DECREASE: f64 = 0.7;
    /// After a decrease from factor F, no higher than this x F for a while.
    pub const CEILING_MARGIN: f64 = 0.95;
    /// The same after a rise while a ceiling holds: that ceiling was still over the real
    /// limit, so the next one is set further under. Further than it seems: each shard's pacing
    /// tolerance (a second's worth, plus a request) rides on the division, so 0.9 left an org
    /// 423 requests in a minute against a real limit of 420 (benches/fleet_orgs.rs, `lower`).
    pub const REPEAT_CEILING_MARGIN: f64 = 0.85;
    /// How long a ceiling holds without another rise.
    pub const CEILING_HOLD: Duration = Duration::from_secs(600);
    /// Two decreases are at least this far apart: a lower division takes a few seconds to
    /// reach the workers (a status write, their watch), and the 429s of requests sent before
    /// it did carry no news.
    pub const MIN_REACTION_GAP: Duration = Duration::from_secs(10);
    /// One additive step, as a share of the configured budget...
    pub const INCREASE_SHARE: f64 = 0.05;
    /// ...every this long without a rise.
    pub const INCREASE_EVERY: Duration = Duration::from_secs(10);
    /// Never under this share of the budget: the org keeps making progress.
    pub const FLOOR: f64 = 0.1;

    pub fn new(now: Instant) -> Self {
        OrgThrottle {
            factor: 1.0,
            ceiling: None,
            decreased_at: None,
            stepped_at: now,
            counts: HashMap::new(),
        }
    }

    /// Takes the 429 counts of the org's running recoveries (by any stable key) seen at
    /// `now`; returns whether they rose since the last look, which lowers the factor unless
    /// the last decrease is too recent. A recovery seen for the first time with 429s counts as
    /// a rise; one no longer running is forgotten.
    pub fn observe<'a>(
        &mut self,
        counts: impl IntoIterator<Item = (&'a str, u64)>,
        now: Instant,
    ) -> bool {
        let mut rose = false;
        let mut seen = HashMap::new();
        for (key, count) in counts {
            let before = self.counts.get(key).copied().unwrap_or(0);
            rose |= count > before;
            seen.insert(key.to_string(), count.max(before));
        }
        self.counts = seen;
        if rose
            && self
                .decreased_at
                .is_none_or(|at| now.saturating_duration_since(at) >= Self::MIN_REACTION_GAP)
        {
            let factor = self.factor(now);
            let margin = if self.ceiling.is_some() {
                Self::REPEAT_CEILING_MARGIN
            } else {
                Self::CEILING_MARGIN
            };
            self.ceiling = Some((margin * factor).max(Self::FLOOR));
            self.factor = (Self::DECREASE * factor).max(Self::FLOOR);
            self.decreased_at = Some(now);
            self.stepped_at = now;
        }
        rose
    }

    /// The share of the configured budget in force at `now`, after the additive steps due.
    pub fn factor(&mut self, now: Instant) -> f64 {
        if self
            .decreased_at
            .is_some_and(|at| now.saturating_duration_since(at) >= Self::CEILING_HOLD)
        {
            self.ceiling = None;
        }
        let steps = (now.saturating_duration_since(self.stepped_at).as_secs_f64()
            / Self::INCREASE_EVERY.as_secs_f64())
        .floor();
        if steps >= 1.0 {
            self.factor += steps * Self::INCREASE_SHARE;
            self.stepped_at += Self::INCREASE_EVERY.mul_f64(steps);
        }
        self.factor = self.factor.min(self.ceiling.unwrap_or(1.0)).min(1.0);
        self.factor
    }

    /// `budget` (requests a minute) at the factor in force: at least 1.
    pub fn lowered(&mut self, budget: u32, now: Instant) -> u32 {
        ((f64::from(budget) * self.factor(now)).floor() as u32).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn without_429s_the_budget_stays_whole() {
        let start = Instant::now();
        let mut org = OrgThrottle::new(start);
        assert!(!org.observe([("a", 0), ("b", 0)], start));
        assert_eq!(org.lowered(600, start + secs(60)), 600);
    }

    #[test]
    fn a_rise_anywhere_lowers_the_whole_org_once_per_reaction() {
        let start = Instant::now();
        let mut org = OrgThrottle::new(start);
        org.observe([("a", 0), ("b", 0)], start);
        assert!(org.observe([("a", 3), ("b", 0)], start + secs(1)));
        assert_eq!(org.lowered(600, start + secs(1)), 420);
        // More 429s from requests sent before the division reached the workers: no news.
        assert!(org.observe([("a", 5), ("b", 2)], start + secs(5)));
        assert_eq!(org.lowered(600, start + secs(5)), 420);
        // Still more after the reaction gap: lower again (from 0.75, one step taken), and
        // this time keep under 0.85 x that.
        assert!(org.observe([("a", 6), ("b", 2)], start + secs(12)));
        assert_eq!(org.lowered(600, start + secs(12)), 314);
        assert_eq!(org.lowered(600, start + secs(300)), 382);
    }

    #[test]
    fn the_budget_climbs_back_under_the_learned_ceiling_then_forgets_it() {
        let start = Instant::now();
        let mut org = OrgThrottle::new(start);
        org.observe([("a", 1)], start);
        assert_eq!(org.lowered(1000, start), 700);
        // +5 % of the budget every 10 s, up to 0.95 x the 1000 the rise came at.
        assert_eq!(org.lowered(1000, start + secs(10)), 750);
        assert_eq!(org.lowered(1000, start + secs(120)), 950);
        // After the hold without another rise, whole again.
        assert_eq!(org.lowered(1000, start + secs(600)), 1000);
    }

    #[test]
    fn finished_recoveries_leave_without_counting_as_news() {
        let start = Instant::now();
        let mut org = OrgThrottle::new(start);
        org.observe([("a", 4), ("b", 1)], start);
        let lowered = org.lowered(600, start);
        // b finished: gone from the counts; a new recovery without 429s is no rise.
        assert!(!org.observe([("a", 4), ("c", 0)], start + secs(20)));
        assert!(org.lowered(600, start + secs(20)) > lowered);
    }

    #[test]
    fn a_rise_at_every_reaction_keeps_the_org_low_but_moving() {
        let start = Instant::now();
        let mut org = OrgThrottle::new(start);
        for i in 0..30 {
            org.observe(
                [("a", i + 1)],
                start + OrgThrottle::MIN_REACTION_GAP * i as u32,
            );
        }
        // x0.7 each gap, each ceiling under the last: down to the floor, not under it.
        let factor = org.factor(start + OrgThrottle::MIN_REACTION_GAP * 29);
        assert!((OrgThrottle::FLOOR..0.11).contains(&factor), "{factor}");
    }
}

//! How far behind now a schedule's watermark is, and how far it may be: the watermark normally
//! trails now by the settle delay plus up to one period (the window of the next run); it falls
//! further behind only when runs fail or keep carrying conversations over. Pure: no clock read.

use jiff::{SignedDuration, Timestamp};

use crate::api::ValidSchedule;

/// A watermark's lag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lag {
    /// Now minus the watermark.
    pub behind: SignedDuration,
    /// The most `behind` may be: settle delay plus `maxLagPeriods` periods.
    pub allowed: SignedDuration,
    /// The period it was measured in.
    pub period: SignedDuration,
}

impl Lag {
    /// Whether the watermark is further behind than allowed.
    pub fn too_far(&self) -> bool {
        self.behind > self.allowed
    }

    /// What a person reads in the schedule's conditions.
    pub fn message(&self, watermark: Timestamp, settings: &ValidSchedule) -> String {
        format!(
            "the watermark {watermark} is {} behind now, more than settleDelay ({}) plus \
             maxLagPeriods ({}) periods of {}: recent runs failed or carried conversations over; \
             see their status (kubectl get dr -l recovery.cxops.io/schedule=<name>)",
            minutes(self.behind),
            minutes(settings.settle_delay),
            settings.max_lag_periods,
            minutes(self.period),
        )
    }
}

/// The lag of `watermark` at `now` (None without a watermark or a period).
pub fn lag(settings: &ValidSchedule, watermark: Option<Timestamp>, now: Timestamp) -> Option<Lag> {
    let watermark = watermark?;
    let period = settings.trigger.period_at(now)?;
    let allowed = period
        .checked_mul(i32::try_from(settings.max_lag_periods).unwrap_or(i32::MAX))
        .and_then(|p| p.checked_add(settings.settle_delay))
        .unwrap_or(SignedDuration::MAX);
    Some(Lag {
        behind: now.duration_since(watermark),
        allowed,
        period,
    })
}

/// `d` rounded down to the minute, as jiff writes it (e.g. `5h 30m`).
fn minutes(d: SignedDuration) -> String {
    let whole = SignedDuration::from_mins(d.as_mins());
    if whole.is_zero() {
        format!("{}s", d.as_secs())
    } else {
        format!("{whole:#}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DigitalRecoveryScheduleSpec;

    fn settings(trigger: &str, max_lag_periods: u32) -> ValidSchedule {
        let mut spec: DigitalRecoveryScheduleSpec = serde_json::from_value(serde_json::json!({
            "template": {
                "tenant": "acme",
                "genesys": {"region": "mypurecloud.ie", "credentialsSecret": "g"},
                "recordingSide": {"dasUrl": "https://das", "captureUrl": "https://capture",
                                  "credentialsSecret": "v"},
                "mediaTypes": ["chat"]
            },
            "settleDelay": "30m"
        }))
        .expect("spec");
        if trigger.starts_with(['0', '*', '@']) {
            spec.schedule = Some(trigger.into());
        } else {
            spec.every = Some(trigger.into());
        }
        spec.max_lag_periods = max_lag_periods;
        spec.validate().expect("valid")
    }

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn a_watermark_is_too_far_behind_past_settle_delay_plus_the_periods() {
        let hourly = settings("1h", 3);
        let now = at("2026-11-20T12:00:00Z");
        // 30m settle + 3 x 1h = 3h30m allowed.
        let within = lag(&hourly, Some(at("2026-11-20T08:30:00Z")), now).expect("lag");
        assert_eq!(within.allowed, SignedDuration::from_mins(210));
        assert!(!within.too_far());
        let beyond = lag(&hourly, Some(at("2026-11-20T08:29:00Z")), now).expect("lag");
        assert!(beyond.too_far());
        assert!(
            beyond
                .message(at("2026-11-20T08:29:00Z"), &hourly)
                .contains("is 3h 31m behind now"),
            "{}",
            beyond.message(at("2026-11-20T08:29:00Z"), &hourly)
        );
        // More periods allowed, not too far.
        let patient = settings("1h", 4);
        assert!(
            !lag(&patient, Some(at("2026-11-20T08:29:00Z")), now)
                .expect("lag")
                .too_far()
        );
        // No watermark yet: nothing to be behind.
        assert_eq!(lag(&hourly, None, now), None);
    }

    #[test]
    fn a_cron_schedule_measures_in_the_period_around_now() {
        // Daily at 02:00: a day's period.
        let daily = settings("0 2 * * *", 2);
        let lag = lag(
            &daily,
            Some(at("2026-11-18T01:00:00Z")),
            at("2026-11-20T12:00:00Z"),
        )
        .expect("lag");
        assert_eq!(lag.period, SignedDuration::from_hours(24));
        assert_eq!(lag.allowed, SignedDuration::from_mins(48 * 60 + 30));
        assert!(lag.too_far());
    }
}

//! The one validation of a DigitalRecoverySchedule's spec: [`DigitalRecoveryScheduleSpec::validate`]
//! turns it into a [`ValidSchedule`] (its trigger, durations and limits parsed), which the
//! schedule controller plans with. The template is checked with the rules of a recovery's spec.

use jiff::{SignedDuration, Timestamp, tz::TimeZone};

use super::schedule::{ConcurrencyPolicy, DigitalRecoveryScheduleSpec, DigitalRecoveryTemplate};
use super::validate::{
    InvalidSpec, MAX_WINDOW, validate_genesys, validate_message_types, validate_parallelism,
    validate_recording_side,
};

/// When runs are due.
#[derive(Clone, Debug)]
pub enum Trigger {
    /// A cron expression evaluated in a time zone.
    Cron {
        cron: Box<croner::Cron>,
        tz: TimeZone,
    },
    /// Multiples of a duration since the Unix epoch.
    Every(SignedDuration),
}

impl Trigger {
    /// The latest schedule time at or before `now`.
    pub fn last_at_or_before(&self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Trigger::Cron { cron, tz } => cron
                .find_previous_occurrence(&now.to_zoned(tz.clone()), true)
                .ok()
                .map(|z| z.timestamp()),
            Trigger::Every(every) => {
                let step = every.as_secs().max(1);
                let secs = now.as_second().div_euclid(step) * step;
                Timestamp::from_second(secs).ok()
            }
        }
    }

    /// The length of the period `now` falls in: `every`, or the time between the cron times
    /// around `now`.
    pub fn period_at(&self, now: Timestamp) -> Option<SignedDuration> {
        match self {
            Trigger::Every(every) => Some(*every),
            Trigger::Cron { .. } => {
                let (last, next) = (self.last_at_or_before(now)?, self.next_after(now)?);
                Some(next.duration_since(last))
            }
        }
    }

    /// The first schedule time after `now`.
    pub fn next_after(&self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Trigger::Cron { cron, tz } => cron
                .find_next_occurrence(&now.to_zoned(tz.clone()), false)
                .ok()
                .map(|z| z.timestamp()),
            Trigger::Every(every) => {
                let step = every.as_secs().max(1);
                let secs = (now.as_second().div_euclid(step) + 1) * step;
                Timestamp::from_second(secs).ok()
            }
        }
    }
}

/// A schedule's spec that passed [`DigitalRecoveryScheduleSpec::validate`], parsed.
#[derive(Clone, Debug)]
pub struct ValidSchedule {
    pub trigger: Trigger,
    pub settle_delay: SignedDuration,
    pub overlap: SignedDuration,
    pub initial_lookback: SignedDuration,
    pub max_window: SignedDuration,
    /// Carried conversations that started longer than this before a run are given up on.
    pub give_up_after: SignedDuration,
    /// Ledger days all of whose conversations started longer ago than this are removed.
    pub ledger_retention: SignedDuration,
    pub policy: ConcurrencyPolicy,
    pub suspend: bool,
    /// The watermark is too far behind beyond this many periods (past the settle delay).
    pub max_lag_periods: u32,
    pub starting_deadline: Option<SignedDuration>,
    pub successful_history_limit: usize,
    pub failed_history_limit: usize,
}

/// Why a spec cannot be followed (the schema catches most of these first).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidSchedule {
    #[error("set exactly one of schedule and every")]
    Trigger,
    #[error("schedule {0:?} is not a valid 5-field cron expression: {1}")]
    Cron(String, String),
    #[error("schedule {0:?} never fires")]
    NeverFires(String),
    #[error("timeZone {0:?} is not a known IANA time zone")]
    TimeZone(String),
    #[error("{0} {1:?} is not a positive duration (units h, m, s, ms)")]
    Duration(&'static str, String),
    #[error("maxWindow must be at most 31 days (744h)")]
    MaxWindow,
    #[error("template: {0}")]
    Template(InvalidSpec),
}

/// A positive duration, in the units a recovery's settle delay takes.
fn duration(field: &'static str, value: &str) -> Result<SignedDuration, InvalidSchedule> {
    match super::validate::duration(field, value) {
        Ok(d) if d > SignedDuration::ZERO => Ok(d),
        _ => Err(InvalidSchedule::Duration(field, value.to_string())),
    }
}

impl DigitalRecoveryScheduleSpec {
    /// Checks every rule a schedule must meet to be followed, its template included; the first
    /// broken one is the error.
    pub fn validate(&self) -> Result<ValidSchedule, InvalidSchedule> {
        let spec = self;
        validate_template(&spec.template).map_err(InvalidSchedule::Template)?;
        let trigger = match (&spec.schedule, &spec.every) {
            (Some(expr), None) => {
                let cron = croner::parser::CronParser::builder()
                    .seconds(croner::parser::Seconds::Disallowed)
                    .year(croner::parser::Year::Disallowed)
                    .build()
                    .parse(expr)
                    .map_err(|e| InvalidSchedule::Cron(expr.clone(), e.to_string()))?;
                let tz = match spec.time_zone.as_deref() {
                    None | Some("UTC") => TimeZone::UTC,
                    Some(name) => TimeZone::get(name)
                        .map_err(|_| InvalidSchedule::TimeZone(name.to_string()))?,
                };
                let trigger = Trigger::Cron {
                    cron: Box::new(cron),
                    tz,
                };
                // A pattern such as `0 0 30 2 *` parses but never matches.
                if trigger.next_after(Timestamp::UNIX_EPOCH).is_none() {
                    return Err(InvalidSchedule::NeverFires(expr.clone()));
                }
                trigger
            }
            (None, Some(every)) => Trigger::Every(duration("every", every)?),
            _ => return Err(InvalidSchedule::Trigger),
        };
        let max_window = duration("maxWindow", &spec.max_window)?;
        if max_window > MAX_WINDOW {
            return Err(InvalidSchedule::MaxWindow);
        }
        Ok(ValidSchedule {
            trigger,
            settle_delay: duration("settleDelay", &spec.settle_delay)?,
            overlap: super::validate::duration("overlap", &spec.overlap)
                .ok()
                .filter(|d| !d.is_negative())
                .ok_or_else(|| InvalidSchedule::Duration("overlap", spec.overlap.clone()))?,
            initial_lookback: duration("initialLookback", &spec.initial_lookback)?,
            max_window,
            give_up_after: duration("giveUpAfter", &spec.give_up_after)?,
            ledger_retention: duration("ledgerRetention", &spec.ledger_retention)?,
            policy: spec.concurrency_policy,
            suspend: spec.suspend,
            max_lag_periods: spec.max_lag_periods.max(1),
            starting_deadline: spec
                .starting_deadline_seconds
                .filter(|s| *s > 0)
                .map(SignedDuration::from_secs),
            successful_history_limit: spec.successful_history_limit as usize,
            failed_history_limit: spec.failed_history_limit as usize,
        })
    }
}

/// A template must be a recovery spec but for its window and settle delay.
fn validate_template(t: &DigitalRecoveryTemplate) -> Result<(), InvalidSpec> {
    if t.tenant.trim().is_empty() {
        return Err(InvalidSpec {
            field: "spec.template.tenant",
            message: "must not be empty".into(),
        });
    }
    if t.media_types.is_empty() {
        return Err(InvalidSpec {
            field: "spec.template.mediaTypes",
            message: "name at least one of chat, email, social".into(),
        });
    }
    validate_message_types(
        "spec.template.messageTypes",
        &t.media_types,
        &t.message_types,
    )?;
    validate_parallelism(t.parallelism)?;
    validate_genesys(&t.genesys)?;
    validate_recording_side(&t.recording_side)
}

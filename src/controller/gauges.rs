//! The gauges read from the controllers' caches at scrape time: recoveries by phase, each
//! schedule's watermark and its lag, the deadline of each recovery still running. Per-object
//! series are rebuilt at every scrape, so those of a deleted object disappear with it (a gauge
//! set in a reconcile would stay exported: no reconcile runs for an object that is gone).

use std::collections::HashMap;

use jiff::Timestamp;
use kube::{ResourceExt, runtime::reflector::Store};

use super::fold::is_final;
use super::metrics::{Metrics, PhaseLabels, RecoveryLabels, ScheduleLabels};
use super::schedule::lag;
use crate::api::{DigitalRecovery, DigitalRecoverySchedule};

/// Every phase a recovery can be counted in ("New": no status yet).
const PHASES: [&str; 7] = [
    "New",
    "Pending",
    "Running",
    "Succeeded",
    "PartiallySucceeded",
    "Failed",
    "Cancelled",
];

/// What the gauges are read from.
pub struct Caches<'a> {
    pub recoveries: &'a [Store<DigitalRecovery>],
    pub schedules: &'a [Store<DigitalRecoverySchedule>],
    /// The worker Jobs' activeDeadlineSeconds.
    pub job_deadline_seconds: i64,
}

/// Sets every gauge from `caches` as of `now`. The caller serialises calls (one scrape at a
/// time), or two scrapes could see each other's half-filled families.
pub fn refresh(metrics: &Metrics, caches: &Caches<'_>, now: Timestamp) {
    let recoveries: Vec<_> = caches.recoveries.iter().flat_map(Store::state).collect();
    let mut counts: HashMap<String, i64> = HashMap::new();
    metrics.recovery_deadline.clear();
    for dr in &recoveries {
        let status = dr.status.as_ref();
        let phase = status.and_then(|s| s.phase);
        let name = phase
            .map(|p| format!("{p:?}"))
            .unwrap_or_else(|| "New".into());
        *counts.entry(name).or_default() += 1;
        let started = status
            .and_then(|s| s.start_time.as_deref())
            .and_then(|t| t.parse::<Timestamp>().ok());
        if let (false, Some(started)) = (is_final(phase), started) {
            let deadline = started
                .as_second()
                .saturating_add(caches.job_deadline_seconds);
            metrics
                .recovery_deadline
                .get_or_create(&RecoveryLabels {
                    namespace: dr.namespace().unwrap_or_default(),
                    recovery: dr.name_any(),
                })
                .set(deadline as f64);
        }
    }
    for phase in PHASES {
        metrics
            .recoveries
            .get_or_create(&PhaseLabels {
                phase: phase.to_string(),
            })
            .set(counts.get(phase).copied().unwrap_or(0));
    }

    metrics.schedule_watermark.clear();
    metrics.schedule_lag.clear();
    metrics.schedule_max_lag.clear();
    for schedule in caches.schedules.iter().flat_map(Store::state) {
        let watermark = schedule
            .status
            .as_ref()
            .and_then(|s| s.watermark.as_deref())
            .and_then(|w| w.parse::<Timestamp>().ok());
        let Some(watermark) = watermark else { continue };
        let labels = ScheduleLabels {
            namespace: schedule.namespace().unwrap_or_default(),
            schedule: schedule.name_any(),
        };
        metrics
            .schedule_watermark
            .get_or_create(&labels)
            .set(watermark.as_millisecond() as f64 / 1000.0);
        metrics
            .schedule_lag
            .get_or_create(&labels)
            .set(now.duration_since(watermark).as_secs_f64());
        // The limit the schedule's conditions use; none while suspended or invalid.
        let settings = schedule.spec.validate().ok().filter(|s| !s.suspend);
        if let Some(lag) = settings.and_then(|s| lag::lag(&s, Some(watermark), now)) {
            metrics
                .schedule_max_lag
                .get_or_create(&labels)
                .set(lag.allowed.as_secs_f64());
        }
    }
}

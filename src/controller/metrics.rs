//! Prometheus metrics of the controller, served on `/metrics`.

use std::sync::atomic::AtomicU64;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabels {
    pub tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    pub tenant: String,
    pub service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub tenant: String,
    /// As [`crate::pipeline::settle::bounded_reason`] names it.
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecoveryLabels {
    pub namespace: String,
    pub recovery: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScheduleLabels {
    pub namespace: String,
    pub schedule: String,
}

/// Every metric the controller exports.
pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Counter,
    pub failures: Family<ErrorLabels, Counter>,
    pub duration: Histogram,
    pub recoveries: Family<PhaseLabels, Gauge>,
    pub recovered: Family<TenantLabels, Counter>,
    pub gave_up: Family<TenantLabels, Counter>,
    pub unrecoverable: Family<ReasonLabels, Counter>,
    pub last_success: Family<TenantLabels, Gauge<f64, AtomicU64>>,
    pub leader: Gauge,
    pub api_calls: Family<ServiceLabels, Counter>,
    pub throttled: Family<TenantLabels, Counter>,
    // Per object, refilled from the controllers' caches at every scrape (see `gauges`), so
    // the series of a deleted object disappear with it.
    pub schedule_watermark: Family<ScheduleLabels, Gauge<f64, AtomicU64>>,
    pub schedule_lag: Family<ScheduleLabels, Gauge<f64, AtomicU64>>,
    pub schedule_max_lag: Family<ScheduleLabels, Gauge<f64, AtomicU64>>,
    pub recovery_deadline: Family<RecoveryLabels, Gauge<f64, AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("digital_recovery");
        let reconciles = Counter::default();
        registry.register("reconciles", "Reconciliations run", reconciles.clone());
        let failures = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_failures",
            "Reconciliations that ended in an error, by error kind",
            failures.clone(),
        );
        let duration = Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]);
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconciliation took",
            duration.clone(),
        );
        let recoveries = Family::<PhaseLabels, Gauge>::default();
        registry.register(
            "recoveries",
            "DigitalRecovery objects known to the controller, by phase",
            recoveries.clone(),
        );
        let recovered = Family::<TenantLabels, Counter>::default();
        registry.register(
            "conversations_recovered",
            "Conversations recovered by finished recoveries, by tenant",
            recovered.clone(),
        );
        let gave_up = Family::<TenantLabels, Counter>::default();
        registry.register(
            "conversations_gave_up",
            "Conversations finished recoveries gave up on (carried past spec.giveUpBefore, reason gaveUp), by tenant",
            gave_up.clone(),
        );
        let unrecoverable = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "conversations_unrecoverable",
            "Conversations finished recoveries ended final without recovering them, by tenant and reason (archived, deleted, rejected, recordingNotFound, recordingWithoutSession, invalidRecording, malformedConversation, conflict, gaveUp, other)",
            unrecoverable.clone(),
        );
        let last_success = Family::<TenantLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "last_successful_recovery_timestamp_seconds",
            "Unix time at which a recovery of the tenant last finished Succeeded",
            last_success.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the Lease",
            leader.clone(),
        );
        let api_calls = Family::<ServiceLabels, Counter>::default();
        registry.register(
            "api_calls",
            "API calls made by finished recoveries, by tenant and service (genesys, das, capture)",
            api_calls.clone(),
        );
        let throttled = Family::<TenantLabels, Counter>::default();
        registry.register(
            "api_throttled",
            "429 answers received by finished recoveries, by tenant",
            throttled.clone(),
        );
        let schedule_watermark = Family::<ScheduleLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "schedule_watermark_timestamp_seconds",
            "Unix time of the schedule's watermark: every conversation that started before it ended final in a finished run",
            schedule_watermark.clone(),
        );
        let schedule_lag = Family::<ScheduleLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "schedule_watermark_lag_seconds",
            "How far behind now the schedule's watermark is, at scrape time",
            schedule_lag.clone(),
        );
        let schedule_max_lag = Family::<ScheduleLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "schedule_watermark_max_lag_seconds",
            "The lag beyond which the schedule reports itself behind (settleDelay plus maxLagPeriods periods); absent while suspended",
            schedule_max_lag.clone(),
        );
        let recovery_deadline = Family::<RecoveryLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "recovery_deadline_timestamp_seconds",
            "Unix time at which the worker Job of a recovery still Pending or Running reaches its activeDeadlineSeconds",
            recovery_deadline.clone(),
        );
        Metrics {
            api_calls,
            throttled,
            registry,
            reconciles,
            failures,
            duration,
            recoveries,
            recovered,
            gave_up,
            unrecoverable,
            last_success,
            leader,
            schedule_watermark,
            schedule_lag,
            schedule_max_lag,
            recovery_deadline,
        }
    }
}

impl Metrics {
    /// The registry in the Prometheus text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

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
    pub last_success: Family<TenantLabels, Gauge<f64, AtomicU64>>,
    pub leader: Gauge,
    pub api_calls: Family<ServiceLabels, Counter>,
    pub throttled: Family<TenantLabels, Counter>,
    pub schedule_watermark: Family<ScheduleLabels, Gauge<f64, AtomicU64>>,
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
            "Unix time of the end of the schedule's last window whose recovery Succeeded (the watermark); alert on time() minus this",
            schedule_watermark.clone(),
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
            last_success,
            leader,
            schedule_watermark,
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

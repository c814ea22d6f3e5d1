//! What the recovery controller tells people and Prometheus: an Event and metrics when a
//! recovery changes phase, and a reconcile error on the recovery's conditions and as a Warning
//! Event, once per distinct error.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use jiff::Timestamp;
use kube::{
    Resource, ResourceExt,
    runtime::{events::EventType, reflector::ObjectRef},
};
use parking_lot::Mutex;
use tracing::{info, warn};

use super::{
    fold::{self, is_final},
    metrics::{ReasonLabels, ServiceLabels, TenantLabels},
    reconcile::{Context, ERROR_MESSAGE_CHARS, Error, write_status},
};
use crate::api::{DigitalRecovery, DigitalRecoveryStatus, Phase};
use crate::pipeline::settle::bounded_reason;

/// How often a reconcile error that stays the same is announced again (status and Event).
const ERROR_REPEAT_INTERVAL: Duration = Duration::from_secs(600);

/// The reconcile error last announced on each recovery and when, so a failure retried with
/// backoff writes one status and one Event per distinct error (repeated every
/// [`ERROR_REPEAT_INTERVAL`] while it lasts), not one per attempt.
#[derive(Default)]
pub struct Announced(Mutex<HashMap<ObjectRef<DigitalRecovery>, (String, Instant)>>);

impl Announced {
    /// Whether `message` is news for `dr`; notes it as announced now if so.
    fn is_news(&self, dr: &DigitalRecovery, message: &str) -> bool {
        let mut announced = self.0.lock();
        let key = ObjectRef::from_obj(dr);
        if let Some((last, at)) = announced.get(&key)
            && last == message
            && at.elapsed() < ERROR_REPEAT_INTERVAL
        {
            return false;
        }
        announced.insert(key, (message.to_string(), Instant::now()));
        true
    }

    /// Forgets `dr`'s error (its reconcile succeeded).
    pub fn forget(&self, dr: &DigitalRecovery) {
        self.0.lock().remove(&ObjectRef::from_obj(dr));
    }
}

/// Puts a reconcile error where the user looks: the recovery's conditions (`Stalled=True`,
/// reason `ReconcileError`) and a Warning Event. Best effort: when the apiserver refuses these
/// too, the log and the failure metric still have it.
pub async fn reconcile_error(dr: &DigitalRecovery, ctx: &Context, error: &Error) {
    let message: String = error
        .to_string()
        .chars()
        .take(ERROR_MESSAGE_CHARS)
        .collect();
    if !ctx.announced.is_news(dr, &message) {
        return;
    }
    // A finished recovery keeps its final conditions; the Event still tells.
    let old_phase = dr.status.as_ref().and_then(|s| s.phase);
    if !is_final(old_phase)
        && let Some(ns) = dr.namespace()
    {
        let status = fold::with_reconcile_error(dr, &message, Timestamp::now());
        if let Err(e) = write_status(ctx, dr, &ns, &status).await {
            warn!(error = %e, "cannot write the reconcile error to the status");
        }
    }
    ctx.events
        .publish(
            dr.object_ref(&()),
            EventType::Warning,
            "ReconcileError",
            "Reconcile",
            &message,
        )
        .await;
}

/// Announces a phase change: an Event (Warning for Failed) with the condition's message, and on
/// a final phase the recovery's totals in the metrics.
pub async fn transition(
    dr: &DigitalRecovery,
    ctx: &Context,
    from: Option<Phase>,
    to: Phase,
    status: &DigitalRecoveryStatus,
) {
    let explaining = if to == Phase::Failed {
        "Stalled"
    } else {
        "Ready"
    };
    let message = status
        .conditions
        .iter()
        .find(|c| c.type_ == explaining)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    info!(from = ?from, to = ?to, %message, "phase changed");
    let type_ = if to == Phase::Failed {
        EventType::Warning
    } else {
        EventType::Normal
    };
    ctx.events
        .publish(
            dr.object_ref(&()),
            type_,
            &format!("{to:?}"),
            "Reconcile",
            &message,
        )
        .await;
    if is_final(Some(to)) {
        count_final(dr, ctx, to, status);
    }
}

/// Adds a finished recovery's totals to the per-tenant metrics.
fn count_final(dr: &DigitalRecovery, ctx: &Context, to: Phase, status: &DigitalRecoveryStatus) {
    let tenant = TenantLabels {
        tenant: dr.spec.tenant.clone(),
    };
    let recovered = status.progress.map(|p| p.recovered).unwrap_or(0);
    ctx.metrics
        .recovered
        .get_or_create(&tenant)
        .inc_by(recovered);
    let gave_up = status.progress.map(|p| p.gave_up).unwrap_or(0);
    ctx.metrics.gave_up.get_or_create(&tenant).inc_by(gave_up);
    for r in &status.unrecoverable {
        ctx.metrics
            .unrecoverable
            .get_or_create(&ReasonLabels {
                tenant: tenant.tenant.clone(),
                reason: bounded_reason(&r.reason),
            })
            .inc_by(r.count);
    }
    if let Some(calls) = status.api_calls {
        for (service, n) in [
            ("genesys", calls.genesys),
            ("das", calls.das),
            ("capture", calls.capture),
        ] {
            ctx.metrics
                .api_calls
                .get_or_create(&ServiceLabels {
                    tenant: tenant.tenant.clone(),
                    service: service.into(),
                })
                .inc_by(n);
        }
    }
    let throttled: u64 = status.shards.iter().map(|s| s.throttled).sum();
    ctx.metrics
        .throttled
        .get_or_create(&tenant)
        .inc_by(throttled);
    if to == Phase::Succeeded {
        ctx.metrics
            .last_success
            .get_or_create(&tenant)
            .set(Timestamp::now().as_millisecond() as f64 / 1000.0);
    }
}

//! The DigitalRecoverySchedule controller: automatic recovery. Each reconcile reads the schedule
//! and the DigitalRecoveries it made (label [`SCHEDULE_LABEL`]), decides with the pure
//! [`plan::plan`] what to do at the clock's `now`, then cancels, creates, writes the status (by
//! server-side apply), prunes history and, with each run it creates, removes ledger days past
//! `ledgerRetention` (see [`crate::ledger`]).
//!
//! The clock is injectable ([`Clock`]) so that tests can move time instead of sleeping.

pub mod lag;
pub mod plan;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy},
    runtime::{controller::Action, events::EventType},
};
use tracing::{Instrument, info, info_span, warn};

use crate::api::{
    ActiveRun, DigitalRecovery, DigitalRecoverySchedule, DigitalRecoveryScheduleStatus,
    DigitalRecoverySpec, Phase, SCHEDULE_LABEL, SCHEDULED_TIME_ANNOTATION, ValidSchedule, Window,
};
use crate::contract::{SCHEDULE_MANAGER, label_value};
use crate::controller::metrics::Metrics;
use crate::kubeapi::{Events, apply_status, condition};
use crate::ledger::prune_ledger;
use plan::{Observed, Plan, Run};

/// Where the schedule controller reads the time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Errors of one schedule reconciliation (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("the schedule has no namespace")]
    NoNamespace,
    #[error("the schedule has no uid yet")]
    NoUid,
}

/// Shared state of the schedule reconciliations.
pub struct Context {
    pub client: Client,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// Where Events go (None: no Events, as in the planning tests).
    pub events: Option<Events>,
}

fn parse_time(s: Option<&str>) -> Option<Timestamp> {
    s.and_then(|s| s.parse().ok())
}

fn run_of(dr: &DigitalRecovery) -> Run {
    let status = dr.status.as_ref();
    Run {
        name: dr.name_any(),
        window: dr.spec.window,
        phase: status.and_then(|s| s.phase),
        cancel: dr.spec.cancel,
        scheduled: parse_time(
            dr.annotations()
                .get(SCHEDULED_TIME_ANNOTATION)
                .map(String::as_str),
        ),
        completion: parse_time(status.and_then(|s| s.completion_time.as_deref())),
        resume_from: resume_from(dr),
    }
}

/// Where a later run must resume after `dr`. An instant that does not parse resumes at the
/// window's start, and so does a PartiallySucceeded run that an earlier version of the
/// schedule controller created (it has no `giveUpBefore`, and its workers did not tell carried
/// from final conversations): nothing is skipped.
fn resume_from(dr: &DigitalRecovery) -> Option<Timestamp> {
    let status = dr.status.as_ref()?;
    let start = dr.spec.window.start;
    match status.resume_from.as_deref() {
        Some(at) => Some(at.parse().unwrap_or(start)),
        None if status.phase == Some(Phase::PartiallySucceeded)
            && dr.spec.give_up_before.is_none() =>
        {
            Some(start)
        }
        None => None,
    }
}

/// The recovery a run is, built from the template.
/// `give_up_before` is the run's creation time minus the schedule's `giveUpAfter`.
pub fn recovery_for(
    schedule: &DigitalRecoverySchedule,
    name: &str,
    window: Window,
    scheduled: Timestamp,
    give_up_before: Option<Timestamp>,
) -> Option<DigitalRecovery> {
    let t = &schedule.spec.template;
    let spec = DigitalRecoverySpec {
        tenant: t.tenant.clone(),
        genesys: t.genesys.clone(),
        recording_side: t.recording_side.clone(),
        window,
        media_types: t.media_types.clone(),
        message_types: t.message_types.clone(),
        mode: t.mode,
        parallelism: t.parallelism,
        settle_delay: schedule.spec.settle_delay.clone(),
        archived_recordings: t.archived_recordings,
        give_up_before,
        cancel: false,
        worker: t.worker.clone(),
        conversation_ids: None,
        conversation_ids_from: None,
        retry_of: None,
    };
    let mut dr = DigitalRecovery::new(name, spec);
    dr.metadata.namespace = schedule.namespace();
    dr.metadata.labels = Some(BTreeMap::from([
        // A schedule's name may be up to 253 characters, a label value only 63.
        (
            SCHEDULE_LABEL.to_string(),
            label_value(&schedule.name_any()),
        ),
        (
            "app.kubernetes.io/managed-by".to_string(),
            SCHEDULE_MANAGER.to_string(),
        ),
    ]));
    dr.metadata.annotations = Some(BTreeMap::from([(
        SCHEDULED_TIME_ANNOTATION.to_string(),
        scheduled.to_string(),
    )]));
    dr.metadata.owner_references = Some(vec![OwnerReference {
        api_version: DigitalRecoverySchedule::api_version(&()).into_owned(),
        kind: DigitalRecoverySchedule::kind(&()).into_owned(),
        name: schedule.name_any(),
        uid: schedule.meta().uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    Some(dr)
}

/// Reconciles one schedule at the context clock's time.
pub async fn reconcile(
    schedule: Arc<DigitalRecoverySchedule>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let span = info_span!("schedule", schedule = %schedule.name_any(), namespace = schedule.namespace().unwrap_or_default());
    reconcile_inner(&schedule, &ctx).instrument(span).await
}

async fn reconcile_inner(
    schedule: &DigitalRecoverySchedule,
    ctx: &Context,
) -> Result<Action, Error> {
    let ns = schedule.namespace().ok_or(Error::NoNamespace)?;
    let name = schedule.name_any();
    let now = ctx.clock.now();
    let schedules: Api<DigitalRecoverySchedule> = Api::namespaced(ctx.client.clone(), &ns);
    let recoveries: Api<DigitalRecovery> = Api::namespaced(ctx.client.clone(), &ns);
    let old = schedule.status.clone().unwrap_or_default();

    // Validate.
    let settings = match schedule.spec.validate() {
        Ok(s) => s,
        Err(invalid) => {
            warn!(%invalid, "the schedule cannot be followed");
            let mut status = old.clone();
            status.observed_generation = schedule.metadata.generation;
            status.next_schedule_time = None;
            status.conditions = conditions(
                &old.conditions,
                schedule.metadata.generation,
                now,
                false,
                "Invalid",
                &invalid.to_string(),
                true,
            );
            write_status(&schedules, &name, &status).await?;
            return Ok(Action::await_change());
        }
    };

    // Dereference.
    let owned = recoveries
        .list(&ListParams::default().labels(&format!("{SCHEDULE_LABEL}={}", label_value(&name))))
        .await?;
    let runs: Vec<Run> = owned.items.iter().map(run_of).collect();
    let observed = Observed {
        last_schedule_time: parse_time(old.last_schedule_time.as_deref()),
        watermark: parse_time(old.watermark.as_deref()),
        coverage_start: parse_time(old.coverage_start.as_deref()),
        last_successful_time: parse_time(old.last_successful_time.as_deref()),
        runs: runs.clone(),
    };

    // Build.
    let plan = plan::plan(&name, &settings, &observed, now);

    // Apply.
    for victim in &plan.cancel {
        info!(recovery = %victim, "concurrencyPolicy Replace: cancelling the active run");
        recoveries
            .patch(
                victim,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"cancel": true}})),
            )
            .await?;
    }
    let mut active: Vec<ActiveRun> = runs
        .iter()
        .filter(|r| r.is_active())
        .map(|r| ActiveRun {
            name: r.name.clone(),
            window: r.window,
        })
        .collect();
    if let Some(new) = &plan.create {
        let give_up_before = now.checked_sub(settings.give_up_after).ok();
        let dr = recovery_for(
            schedule,
            &new.name,
            new.window,
            new.scheduled,
            give_up_before,
        )
        .ok_or(Error::NoUid)?;
        match recoveries.create(&PostParams::default(), &dr).await {
            Ok(_) => {
                info!(recovery = %new.name, start = %new.window.start, end = %new.window.end, catch_up = new.catch_up, "created a run");
                publish(
                    ctx,
                    schedule,
                    EventType::Normal,
                    "RunCreated",
                    format!(
                        "created {} for [{}, {}){}",
                        new.name,
                        new.window.start,
                        new.window.end,
                        if new.catch_up { " (catching up)" } else { "" }
                    ),
                )
                .await;
            }
            // Made by an earlier reconcile whose status write was lost.
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        active.push(ActiveRun {
            name: new.name.clone(),
            window: new.window,
        });
    }
    if let Some(skipped) = &plan.skipped
        && old.last_skipped.as_ref() != Some(skipped)
    {
        info!(reason = %skipped.reason, message = %skipped.message, "skipped a run");
        publish(
            ctx,
            schedule,
            EventType::Normal,
            &skipped.reason,
            skipped.message.clone(),
        )
        .await;
    }

    // Update status.
    let status = status_of(schedule, &old, &plan, active, now, &settings);
    write_status(&schedules, &name, &status).await?;

    // Prune history (after the status holds the watermark they contributed to).
    for victim in &plan.prune {
        info!(recovery = %victim, "pruning history");
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        };
        match recoveries.delete(victim, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }

    // Ledger retention, once per run created (not on every status change of a running one).
    if plan.create.is_some()
        && let Err(e) = prune_ledger(&ctx.client, &ns, &name, now, settings.ledger_retention).await
    {
        warn!(error = %e, "cannot remove ledger days past retention; will try at the next run");
    }

    // Come back at the next schedule time (watches of the runs bring us back sooner).
    let wait = plan
        .next_schedule_time
        .map(|t| t.duration_since(now).as_secs().clamp(1, 900))
        .unwrap_or(900);
    Ok(Action::requeue(Duration::from_secs(wait.unsigned_abs())))
}

fn status_of(
    schedule: &DigitalRecoverySchedule,
    old: &DigitalRecoveryScheduleStatus,
    plan: &Plan,
    active: Vec<ActiveRun>,
    now: Timestamp,
    settings: &ValidSchedule,
) -> DigitalRecoveryScheduleStatus {
    // Suspended on purpose: its lag is no news.
    let behind = plan
        .watermark
        .zip(lag::lag(settings, plan.watermark, now))
        .filter(|(_, lag)| !settings.suspend && lag.too_far())
        .map(|(watermark, lag)| lag.message(watermark, settings));
    let (reason, message) = if settings.suspend {
        (
            "Suspended",
            "suspended: no new runs are created".to_string(),
        )
    } else if let Some(behind) = behind.clone() {
        ("WatermarkBehind", behind)
    } else {
        (
            "Scheduled",
            match (plan.watermark, plan.next_schedule_time) {
                (Some(w), Some(n)) => format!("recovered up to {w}; next run at {n}"),
                (None, Some(n)) => format!("no run has succeeded yet; next run at {n}"),
                _ => "following the schedule".to_string(),
            },
        )
    };
    DigitalRecoveryScheduleStatus {
        observed_generation: schedule.metadata.generation,
        watermark: plan.watermark.map(|t| t.to_string()),
        coverage_start: plan.coverage_start.map(|t| t.to_string()),
        last_schedule_time: plan.last_schedule_time.map(|t| t.to_string()),
        last_successful_time: plan.last_successful_time.map(|t| t.to_string()),
        next_schedule_time: plan.next_schedule_time.map(|t| t.to_string()),
        active,
        last_skipped: plan.skipped.clone().or_else(|| old.last_skipped.clone()),
        conditions: conditions(
            &old.conditions,
            schedule.metadata.generation,
            now,
            behind.is_none(),
            reason,
            &message,
            behind.is_some(),
        ),
    }
}

/// kstatus conditions: Ready, Reconciling (always False: a schedule is current once observed)
/// and Stalled.
fn conditions(
    old: &[Condition],
    generation: Option<i64>,
    now: Timestamp,
    ready: bool,
    reason: &str,
    message: &str,
    stalled: bool,
) -> Vec<Condition> {
    let make = |type_: &str, status: bool, message: &str| {
        condition(old, type_, status, reason, message, generation, now)
    };
    vec![
        make("Ready", ready, message),
        make("Reconciling", false, ""),
        make("Stalled", stalled, if stalled { message } else { "" }),
    ]
}

async fn write_status(
    api: &Api<DigitalRecoverySchedule>,
    name: &str,
    status: &DigitalRecoveryScheduleStatus,
) -> Result<(), Error> {
    Ok(apply_status(api, name, SCHEDULE_MANAGER, status).await?)
}

async fn publish(
    ctx: &Context,
    schedule: &DigitalRecoverySchedule,
    type_: EventType,
    reason: &str,
    note: String,
) {
    if let Some(events) = &ctx.events {
        events
            .publish(schedule.object_ref(&()), type_, reason, "Schedule", &note)
            .await;
    }
}

/// Backoff after a failed reconcile.
pub fn error_policy(
    schedule: Arc<DigitalRecoverySchedule>,
    error: &Error,
    _ctx: Arc<Context>,
) -> Action {
    warn!(schedule = %schedule.name_any(), namespace = schedule.namespace().unwrap_or_default(), %error, "schedule reconcile failed");
    Action::requeue(Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(spec_extra: serde_json::Value, status: serde_json::Value) -> DigitalRecovery {
        let mut spec = json!({
            "tenant": "acme",
            "genesys": {"region": "mypurecloud.ie", "credentialsSecret": "g"},
            "recordingSide": {"dasUrl": "https://das", "captureUrl": "https://capture",
                              "credentialsSecret": "v"},
            "window": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T01:00:00Z"},
            "mediaTypes": ["chat"]
        });
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
            spec.extend(extra.clone());
        }
        serde_json::from_value(json!({
            "apiVersion": "recovery.cxops.io/v1alpha1", "kind": "DigitalRecovery",
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": spec, "status": status
        }))
        .expect("recovery")
    }

    #[test]
    fn a_run_keeps_the_templates_recording_side_pacing() {
        let schedule: DigitalRecoverySchedule = serde_json::from_value(json!({
            "apiVersion": "recovery.cxops.io/v1alpha1", "kind": "DigitalRecoverySchedule",
            "metadata": {"name": "s", "namespace": "ns", "uid": "u-1"},
            "spec": {"every": "1h", "template": {
                "tenant": "acme",
                "genesys": {"region": "mypurecloud.ie", "credentialsSecret": "g"},
                "recordingSide": {"dasUrl": "https://das", "captureUrl": "https://capture",
                                  "credentialsSecret": "v", "requestsPerMinute": 900},
                "mediaTypes": ["chat"]
            }}
        }))
        .expect("schedule");
        let window = Window {
            start: "2026-11-20T00:00:00Z".parse().expect("start"),
            end: "2026-11-20T01:00:00Z".parse().expect("end"),
        };
        let dr = recovery_for(&schedule, "s-1", window, window.end, None).expect("run");
        assert_eq!(dr.spec.recording_side.requests_per_minute, Some(900));
    }

    #[test]
    fn where_a_later_run_resumes() {
        let start: Timestamp = "2026-11-20T00:00:00Z".parse().expect("start");
        let new = json!({"giveUpBefore": "2026-11-19T00:00:00Z"});
        let partial = json!({"phase": "PartiallySucceeded"});
        // A run of this version that carried nothing: nothing to resume.
        assert_eq!(resume_from(&run(new.clone(), partial.clone())), None);
        // One that carried some: from its resumeFrom; an unreadable one from its start.
        let carried = json!({"phase": "PartiallySucceeded", "resumeFrom": "2026-11-20T00:30:00Z"});
        assert_eq!(
            resume_from(&run(new.clone(), carried)),
            Some("2026-11-20T00:30:00Z".parse().expect("t"))
        );
        let garbled = json!({"phase": "PartiallySucceeded", "resumeFrom": "soon"});
        assert_eq!(resume_from(&run(new.clone(), garbled)), Some(start));
        // A PartiallySucceeded run of an earlier version (no giveUpBefore): its failures may be
        // carried ones, so its window is looked at again.
        assert_eq!(resume_from(&run(json!({}), partial)), Some(start));
        assert_eq!(
            resume_from(&run(json!({}), json!({"phase": "Succeeded"}))),
            None
        );
    }
}

//! The recovery controller's reconcile, as the state machine it implements:
//! observe (read the Job and what explains it) -> validate (the spec) -> fold (the status) ->
//! decide (which children to create or delete) -> apply children -> write status -> announce.
//! Validate, fold and decide are pure and unit-tested; only observe, apply, write and announce
//! call the API.

use std::{collections::HashMap, sync::Arc, time::Duration};

use jiff::Timestamp;
use k8s_openapi::api::{
    batch::v1::Job,
    core::v1::{Event as CoreEvent, Pod, ServiceAccount},
    rbac::v1::{Role, RoleBinding},
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, PropagationPolicy},
    runtime::{controller::Action, reflector::ObjectRef},
};
use parking_lot::Mutex;
use tracing::{Instrument, debug, info, info_span, warn};

use super::totals_pace::TotalsPace;
use super::{
    admission::Admission,
    announce,
    fleet::Fleet,
    fold::{self, Observed, fold, is_final},
    metrics::{ErrorLabels, Metrics},
    resources::{self, JobSettings},
    worker_exits::{self, WorkerExit},
};
use crate::api::{DigitalRecovery, DigitalRecoveryStatus, Phase};
use crate::contract::{CONTROLLER_MANAGER, job_name};
use crate::kubeapi::{self, ApplyError, Events, api_message, apply_status, owned_by};

/// Errors of one reconciliation (retried with per-object exponential backoff). Their messages
/// reach the recovery's status and Events, so they say what the controller tried and never hold
/// more than the apiserver's answer (the controller holds no credentials).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {action}: {}", api_message(.source))]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot serialize an object: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("the object has no namespace")]
    NoNamespace,
    #[error("cannot build the worker Job (missing uid or parallelism out of range)")]
    BuildJob,
}

impl Error {
    /// The `error` label of the failure metric.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "kube",
            Error::Serialize(_) => "serialize",
            Error::NoNamespace => "no_namespace",
            Error::BuildJob => "build_job",
        }
    }
}

/// Wraps a failed API call with what the controller was doing.
fn failed(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let action = action.into();
    move |source| Error::Kube { action, source }
}

/// Wraps a failed server-side apply with what the controller was applying.
fn failed_apply(action: impl Into<String>) -> impl FnOnce(ApplyError) -> Error {
    let action = action.into();
    move |error| match error {
        ApplyError::Serialize(e) => Error::Serialize(e),
        ApplyError::Kube(source) => Error::Kube { action, source },
    }
}

/// Longest message of a reconcile error or Job Event written to a condition or an Event note
/// (Events take at most 1 kB).
pub(super) const ERROR_MESSAGE_CHARS: usize = 900;
/// Requeue of a recovery waiting for its first worker: the reasons pods are not created (Pod
/// Security, quota) come as Events, which do not trigger a reconcile.
const PENDING_RECHECK: Duration = Duration::from_secs(30);
/// Requeue of a recovery waiting for the Job of an earlier object of its name to go.
const JOB_NAME_TAKEN_RECHECK: Duration = Duration::from_secs(10);
/// Requeue of a queued recovery, to refresh its position: a finished recovery wakes the next
/// ones at once, so this only keeps the positions shown current.
const QUEUED_RECHECK: Duration = Duration::from_secs(30);
/// Requeue of a running recovery (its Job's and shards' changes bring it back sooner).
const RUNNING_RECHECK: Duration = Duration::from_secs(300);

/// Shared state of all reconciliations.
pub struct Context {
    pub client: Client,
    pub jobs: JobSettings,
    pub metrics: Arc<Metrics>,
    pub events: Events,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<ObjectRef<DigitalRecovery>, u32>>,
    /// What was last told about each recovery's reconcile error (see [`announce::Announced`]).
    pub(super) announced: announce::Announced,
    /// Admission and org budgets, across every recovery.
    pub fleet: Arc<Fleet>,
    /// When each running recovery's status was last written, to space out totals-only writes.
    totals_pace: TotalsPace,
}

impl Context {
    pub fn new(
        client: Client,
        jobs: JobSettings,
        metrics: Arc<Metrics>,
        identity: &str,
        fleet: Arc<Fleet>,
    ) -> Self {
        Context {
            fleet,
            events: Events::new(client.clone(), CONTROLLER_MANAGER, identity),
            client,
            jobs,
            metrics,
            failures: Mutex::new(HashMap::new()),
            announced: announce::Announced::default(),
            totals_pace: TotalsPace::default(),
        }
    }
}

/// What the controller read about one recovery before deciding anything.
struct Observation {
    /// The recovery, re-read from the apiserver when its Job has finished (the cache may lag
    /// behind the workers' final status entries).
    recovery: Arc<DigitalRecovery>,
    /// Its Job, if this recovery owns one.
    job: Option<Job>,
    /// A Job of its Job name exists but another object owns it (an earlier recovery of the
    /// same name, deleted but not yet garbage-collected): not ours to fold, delete or replace.
    job_name_taken: bool,
    /// Why the job controller cannot create the Job's pods, while none exists.
    pods_not_created: Option<String>,
    /// How the Job's failed worker pods ended.
    worker_exits: Vec<WorkerExit>,
}

/// What to do to the recovery's children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Children {
    /// Delete the worker Job (the recovery was cancelled).
    delete_job: bool,
    /// Apply the worker identity and create the worker Job.
    create_job: bool,
}

/// Reconciles one recovery: the entry point kube-runtime's Controller calls.
pub async fn reconcile(dr: Arc<DigitalRecovery>, ctx: Arc<Context>) -> Result<Action, Error> {
    let span = info_span!("reconcile", recovery = %dr.name_any(), namespace = dr.namespace().unwrap_or_default());
    let started = std::time::Instant::now();
    ctx.metrics.reconciles.inc();
    let result = reconcile_steps(dr.clone(), &ctx)
        .instrument(span.clone())
        .await;
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    match &result {
        Ok(_) => {
            ctx.failures
                .lock()
                .remove(&ObjectRef::from_obj(dr.as_ref()));
            ctx.announced.forget(&dr);
        }
        Err(error) => {
            announce::reconcile_error(&dr, &ctx, error)
                .instrument(span)
                .await
        }
    }
    result
}

async fn reconcile_steps(dr: Arc<DigitalRecovery>, ctx: &Context) -> Result<Action, Error> {
    let namespace = dr.namespace().ok_or(Error::NoNamespace)?;
    let old_phase = dr.status.as_ref().and_then(|s| s.phase);
    let seen = observe(ctx, dr, &namespace).await?;
    let invalid = validate(&seen.recovery);
    let queued = admit(ctx, &seen, old_phase, invalid.is_some());
    let now = Timestamp::now();
    let observed = |job| Observed {
        job_name_taken: seen.job_name_taken,
        pods_not_created: seen.pods_not_created.clone(),
        worker_exits: seen.worker_exits.clone(),
        invalid: invalid.clone(),
        queued: queued.clone(),
        ..Observed::new(&seen.recovery, job, now)
    };
    let planned = fold(&observed(seen.job.as_ref()));
    let phase = planned.phase.unwrap_or(Phase::Pending);
    let children = decide(
        old_phase,
        phase,
        seen.job.is_some(),
        seen.job_name_taken || queued.is_some(),
    );
    let created = apply_children(ctx, &seen.recovery, &namespace, children).await?;
    // The status written says what is there now: a Job just created included, so that the
    // Job's own watch event finds nothing left to write.
    let mut status = match &created {
        Some(job) => fold(&observed(Some(job))),
        None => planned,
    };
    let phase = status.phase.unwrap_or(Phase::Pending);
    status.genesys_budget = ctx.fleet.share(&seen.recovery, &status);
    let mut totals_wait = None;
    if !shows(&seen.recovery, &status) {
        let now = std::time::Instant::now();
        totals_wait = ctx.totals_pace.wait(&seen.recovery, &status, now);
        if totals_wait.is_none() {
            write_status(ctx, &seen.recovery, &namespace, &status).await?;
            ctx.totals_pace.wrote(&seen.recovery, now);
        }
    }
    if is_final(Some(phase)) {
        ctx.totals_pace.forget(&seen.recovery);
    }
    if is_final(Some(phase)) && !is_final(old_phase) {
        ctx.fleet.release(&seen.recovery);
    }
    if old_phase != Some(phase) {
        announce::transition(&seen.recovery, ctx, old_phase, phase, &status).await;
    }
    // Totals held back are written when their wait is over (sooner than any other recheck of
    // a running recovery), or with the next change that cannot wait.
    if let Some(wait) = totals_wait {
        return Ok(Action::requeue(wait));
    }
    Ok(requeue(
        phase,
        seen.job.is_some() || created.is_some(),
        seen.job_name_taken,
        queued.is_some(),
    ))
}

/// Admission, for a recovery that has no Job: None when it may create it (the slot is then
/// its own), else its place in the queue and the cap that holds it. A recovery with a Job
/// holds its slot already.
fn admit(
    ctx: &Context,
    seen: &Observation,
    old_phase: Option<Phase>,
    invalid: bool,
) -> Option<(u32, String)> {
    if is_final(old_phase) || invalid || seen.recovery.spec.cancel {
        return None;
    }
    if seen.job.is_some() {
        ctx.fleet.hold(&seen.recovery);
        return None;
    }
    if seen.job_name_taken {
        return None;
    }
    match ctx.fleet.admit(&seen.recovery) {
        Admission::Start => None,
        Admission::Queued { position, cap } => Some((position, cap)),
    }
}

/// Reads the recovery's Job, and what explains a Job that has no pods.
async fn observe(
    ctx: &Context,
    dr: Arc<DigitalRecovery>,
    namespace: &str,
) -> Result<Observation, Error> {
    let name = job_name(&dr.name_any());
    let job = Api::<Job>::namespaced(ctx.client.clone(), namespace)
        .get_opt(&name)
        .await
        .map_err(failed(format!("read the Job {name}")))?;
    let (job, job_name_taken) = match job {
        Some(j) if !owned_by(&j, dr.as_ref()) => (None, true),
        job => (job, false),
    };
    let old_phase = dr.status.as_ref().and_then(|s| s.phase);
    let recovery = if job.as_ref().is_some_and(fold::job_finished) && !is_final(old_phase) {
        Arc::new(
            Api::<DigitalRecovery>::namespaced(ctx.client.clone(), namespace)
                .get(&dr.name_any())
                .await
                .map_err(failed("read the recovery"))?,
        )
    } else {
        dr
    };
    let no_shard_yet = recovery.status.as_ref().is_none_or(|s| s.shards.is_empty());
    let pods_not_created = match &job {
        Some(j) if no_shard_yet && !is_final(old_phase) && waiting_for_pods(j) => {
            pod_creation_failure(ctx, j).await
        }
        _ => None,
    };
    // Read only where fold uses them (a failed Job, or workers that never reported), not on
    // every reconcile of a running recovery whose pod was once retried.
    let worker_exits = match &job {
        Some(j)
            if !is_final(old_phase)
                && has_failed_pods(j)
                && (fold::job_finished(j) || no_shard_yet) =>
        {
            failed_workers(ctx, j).await
        }
        _ => Vec::new(),
    };
    Ok(Observation {
        recovery,
        job,
        job_name_taken,
        pods_not_created,
        worker_exits,
    })
}

/// Why the spec cannot run, if it cannot (the rules the schema does not express).
fn validate(dr: &DigitalRecovery) -> Option<String> {
    dr.spec.validate().err().map(|e| e.to_string())
}

/// Which children to change, from the phase before and after folding and what exists.
/// `held_back`: the Job name is taken, or admission queues the recovery.
fn decide(old_phase: Option<Phase>, phase: Phase, has_job: bool, held_back: bool) -> Children {
    Children {
        delete_job: phase == Phase::Cancelled && has_job,
        create_job: !has_job && !held_back && phase == Phase::Pending && !is_final(old_phase),
    }
}

/// When to look again: a final recovery only on a change, one waiting for something that
/// triggers no watch event sooner.
fn requeue(phase: Phase, has_job: bool, job_name_taken: bool, queued: bool) -> Action {
    if is_final(Some(phase)) {
        Action::await_change()
    } else if queued {
        Action::requeue(QUEUED_RECHECK)
    } else if job_name_taken {
        Action::requeue(JOB_NAME_TAKEN_RECHECK)
    } else if phase == Phase::Pending && has_job {
        Action::requeue(PENDING_RECHECK)
    } else {
        Action::requeue(RUNNING_RECHECK)
    }
}

/// Deletes or creates the worker Job (with its identity first) as decided; returns the Job it
/// created.
async fn apply_children(
    ctx: &Context,
    dr: &DigitalRecovery,
    namespace: &str,
    children: Children,
) -> Result<Option<Job>, Error> {
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    let name = job_name(&dr.name_any());
    if children.delete_job {
        info!("cancelling: deleting the worker Job");
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        };
        match jobs.delete(&name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(failed(format!("delete the Job {name}"))(e)),
        }
    }
    if children.create_job {
        apply_worker_identity(ctx, dr, namespace).await?;
        let job = resources::worker_job(dr, &ctx.jobs).ok_or(Error::BuildJob)?;
        info!(job = %name, shards = dr.spec.shards(), "creating the worker Job");
        let created = kubeapi::apply(&jobs, &name, CONTROLLER_MANAGER, &job)
            .await
            .map_err(failed_apply(format!("create the Job {name}")))?;
        return Ok(Some(created));
    }
    Ok(None)
}

/// The worker identity of `dr` (ServiceAccount, Role naming only `dr`, RoleBinding), applied
/// before its Job is created. Applied every time, never remembered: a recovery deleted and
/// created again under the same name needs them again once the garbage collector has removed
/// the first one's, and server-side apply makes a repeat a no-op.
async fn apply_worker_identity(
    ctx: &Context,
    dr: &DigitalRecovery,
    namespace: &str,
) -> Result<(), Error> {
    let name = resources::worker_account(dr);
    let account = resources::worker_service_account(dr).ok_or(Error::BuildJob)?;
    let api = Api::<ServiceAccount>::namespaced(ctx.client.clone(), namespace);
    kubeapi::apply(&api, &name, CONTROLLER_MANAGER, &account)
        .await
        .map_err(failed_apply(format!(
            "apply the worker ServiceAccount {name}"
        )))?;
    let role = resources::worker_role(dr).ok_or(Error::BuildJob)?;
    let api = Api::<Role>::namespaced(ctx.client.clone(), namespace);
    kubeapi::apply(&api, &name, CONTROLLER_MANAGER, &role)
        .await
        .map_err(failed_apply(format!("apply the worker Role {name}")))?;
    let binding = resources::worker_role_binding(dr).ok_or(Error::BuildJob)?;
    let api = Api::<RoleBinding>::namespaced(ctx.client.clone(), namespace);
    kubeapi::apply(&api, &name, CONTROLLER_MANAGER, &binding)
        .await
        .map_err(failed_apply(format!("apply the worker RoleBinding {name}")))?;
    Ok(())
}

/// Whether `dr`'s status shows `status` (the controller's part) already: a reconcile with
/// nothing new to say writes nothing, which spares the API server a request and the
/// controller the watch event it would cause. A cache that lags only delays a write: the
/// event that updates it reconciles again.
fn shows(dr: &DigitalRecovery, status: &DigitalRecoveryStatus) -> bool {
    dr.status.as_ref().is_some_and(|shown| {
        let controller_part = DigitalRecoveryStatus {
            shards: Vec::new(),
            ..shown.clone()
        };
        &controller_part == status
    })
}

/// Writes the controller's part of the status (server-side apply; the workers own `shards`).
pub(super) async fn write_status(
    ctx: &Context,
    dr: &DigitalRecovery,
    namespace: &str,
    status: &DigitalRecoveryStatus,
) -> Result<(), Error> {
    let api = Api::<DigitalRecovery>::namespaced(ctx.client.clone(), namespace);
    apply_status(&api, &dr.name_any(), CONTROLLER_MANAGER, status)
        .await
        .map_err(failed("write the status"))
}

/// Whether no pod of `job` exists while it has not finished: the job controller may be failing
/// to create them.
fn waiting_for_pods(job: &Job) -> bool {
    !fold::job_finished(job) && job.status.as_ref().and_then(|s| s.active).unwrap_or(0) == 0
}

/// Why the job controller cannot create `job`'s pods (Pod Security admission, a quota, a missing
/// ServiceAccount), from its latest `FailedCreate` Event. None when there is none, or when the
/// controller may not list Events (then the status only says it waits).
async fn pod_creation_failure(ctx: &Context, job: &Job) -> Option<String> {
    let (uid, ns) = (job.uid()?, job.namespace()?);
    let events: Api<CoreEvent> = Api::namespaced(ctx.client.clone(), &ns);
    let params =
        ListParams::default().fields(&format!("involvedObject.uid={uid},reason=FailedCreate"));
    match events.list(&params).await {
        Ok(list) => list
            .items
            .into_iter()
            .max_by_key(last_seen)
            .and_then(|e| e.message)
            .map(|m| m.chars().take(ERROR_MESSAGE_CHARS).collect()),
        Err(e) => {
            debug!(error = %e, "cannot read the worker Job's Events");
            None
        }
    }
}

/// Whether the job controller counts failed pods for `job`.
fn has_failed_pods(job: &Job) -> bool {
    job.status.as_ref().and_then(|s| s.failed).unwrap_or(0) > 0
}

/// How `job`'s failed worker pods ended. Empty when the controller may not list pods (the
/// status then says only what the Job says).
async fn failed_workers(ctx: &Context, job: &Job) -> Vec<WorkerExit> {
    let (Some(uid), Some(ns)) = (job.uid(), job.namespace()) else {
        return Vec::new();
    };
    let params = ListParams::default()
        .labels(&format!("batch.kubernetes.io/controller-uid={uid}"))
        .fields("status.phase=Failed");
    match Api::<Pod>::namespaced(ctx.client.clone(), &ns)
        .list(&params)
        .await
    {
        Ok(list) => list
            .items
            .iter()
            .filter_map(worker_exits::exit_of)
            .collect(),
        Err(e) => {
            debug!(error = %e, "cannot list the worker Job's pods");
            Vec::new()
        }
    }
}

/// When an Event last happened, whichever way its writer recorded it.
fn last_seen(event: &CoreEvent) -> Option<Timestamp> {
    event
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or_else(|| event.last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
        .or_else(|| event.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// Backoff after a failed reconcile: 1 s doubling per consecutive failure of the object, at
/// most 5 minutes.
pub fn error_policy(dr: Arc<DigitalRecovery>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .failures
        .get_or_create(&ErrorLabels {
            error: error.kind().to_string(),
        })
        .inc();
    let attempt = {
        let mut failures = ctx.failures.lock();
        let n = failures
            .entry(ObjectRef::from_obj(dr.as_ref()))
            .or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    let delay = backoff(attempt);
    warn!(recovery = %dr.name_any(), namespace = dr.namespace().unwrap_or_default(), %error, attempt, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// The wait before attempt `attempt + 1`.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.min(10))).min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_recovery_gets_its_job_once() {
        assert_eq!(
            decide(None, Phase::Pending, false, false),
            Children {
                delete_job: false,
                create_job: true
            }
        );
        // Its Job exists: nothing to create again.
        assert!(!decide(Some(Phase::Pending), Phase::Pending, true, false).create_job);
        // Another object's Job holds the name: wait, create nothing.
        assert!(!decide(None, Phase::Pending, false, true).create_job);
        // A recovery that already finished never starts again, also when its Job is gone.
        for old in [Phase::Succeeded, Phase::Failed, Phase::Cancelled] {
            assert!(!decide(Some(old), Phase::Pending, false, false).create_job);
        }
    }

    #[test]
    fn a_cancel_deletes_the_job_and_creates_nothing() {
        let children = decide(Some(Phase::Running), Phase::Cancelled, true, false);
        assert!(children.delete_job && !children.create_job);
        // Cancelled with no Job (or another object's): nothing to delete.
        assert!(!decide(Some(Phase::Running), Phase::Cancelled, false, true).delete_job);
    }

    #[test]
    fn requeues_follow_what_no_watch_reports() {
        assert_eq!(
            requeue(Phase::Succeeded, true, false, false),
            Action::await_change()
        );
        assert_eq!(
            requeue(Phase::Pending, false, true, false),
            Action::requeue(JOB_NAME_TAKEN_RECHECK)
        );
        assert_eq!(
            requeue(Phase::Pending, true, false, false),
            Action::requeue(PENDING_RECHECK)
        );
        assert_eq!(
            requeue(Phase::Running, true, false, false),
            Action::requeue(RUNNING_RECHECK)
        );
        assert_eq!(
            requeue(Phase::Pending, false, false, true),
            Action::requeue(QUEUED_RECHECK)
        );
    }

    #[test]
    fn a_status_written_with_the_new_job_needs_no_second_write() {
        let mut dr: DigitalRecovery = serde_json::from_value(serde_json::json!({
            "apiVersion": "recovery.cxops.io/v1alpha1",
            "kind": "DigitalRecovery",
            "metadata": {"name": "r", "namespace": "ops", "uid": "u", "generation": 1},
            "spec": {
                "tenant": "acme",
                "genesys": {"region": "mypurecloud.ie", "credentialsSecret": "genesys-oauth"},
                "recordingSide": {"dasUrl": "https://das", "captureUrl": "https://capture",
                                  "credentialsSecret": "verint-api"},
                "window": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
                "mediaTypes": ["chat"]
            }
        }))
        .expect("recovery");
        assert!(
            !shows(&dr, &DigitalRecoveryStatus::default()),
            "no status yet"
        );
        let job = Job::default();
        let first: Timestamp = "2026-11-21T01:00:00Z".parse().expect("time");
        let written = fold(&Observed::new(&dr, Some(&job), first));
        dr.status = Some(written);
        // The Job's watch event, a minute later: the same status, nothing to write.
        let later: Timestamp = "2026-11-21T01:01:00Z".parse().expect("time");
        let again = fold(&Observed::new(&dr, Some(&job), later));
        assert!(shows(&dr, &again));
        // The workers' part of the status is theirs: it is no difference.
        if let Some(shown) = dr.status.as_mut() {
            shown.shards = vec![crate::api::ShardStatus::default()];
        }
        assert!(shows(&dr, &again));
        // Whereas a changed message is written.
        let mut changed = again.clone();
        changed.conditions[0].message = "something else".into();
        assert!(!shows(&dr, &changed));
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(8), Duration::from_secs(128));
        assert_eq!(backoff(9), Duration::from_secs(256));
        assert_eq!(backoff(10), Duration::from_secs(300));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn validation_explains_a_spec_that_cannot_run() {
        let dr: DigitalRecovery = serde_json::from_value(serde_json::json!({
            "apiVersion": "recovery.cxops.io/v1alpha1",
            "kind": "DigitalRecovery",
            "metadata": {"name": "x", "namespace": "n"},
            "spec": {
                "tenant": "acme",
                "genesys": {"region": "mypurecloud.ie", "apiBaseUrl": "https://proxy",
                            "credentialsSecret": "g"},
                "recordingSide": {"dasUrl": "https://das", "captureUrl": "https://capture",
                                  "credentialsSecret": "v"},
                "window": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
                "mediaTypes": ["chat"]
            }
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            validate(&dr).as_deref(),
            Some("spec.genesys: set exactly one of region and apiBaseUrl")
        );
    }
}

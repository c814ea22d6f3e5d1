//! The operator: leader-elected through a Lease, it reconciles every DigitalRecovery into one
//! Indexed Job of workers and folds the Job's state and the shards' status entries into the
//! recovery's phase, totals, kstatus conditions and Events.
//!
//! A reconcile reads like a state machine: dereference (read the Job) -> validate -> build
//! (fold the status, build the Job; no API calls) -> apply (RBAC, Job, cancel) -> update_status.

pub mod fold;
pub mod metrics;
pub mod resources;
pub mod schedule;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::{
    api::{
        batch::v1::Job,
        core::v1::{Event as CoreEvent, ObjectReference, ServiceAccount},
        events::v1::Event as EventObject,
        rbac::v1::{Role, RoleBinding},
    },
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy},
    runtime::{
        Controller,
        controller::{Action, Config as ControllerConfig},
        events::{Event, EventType, Recorder, Reporter},
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::api::{DigitalRecovery, DigitalRecoverySchedule, DigitalRecoverySpec, Phase};
use fold::{Observed, fold, is_final};
use metrics::{ErrorLabels, Metrics, PhaseLabels, ServiceLabels, TenantLabels};
use resources::JobSettings;

/// Field manager of everything the controller applies.
pub const FIELD_MANAGER: &str = "digital-recovery-controller";

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
    fn kind(&self) -> &'static str {
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

/// The apiserver's own words for a refused request (kube's Display adds a Debug dump).
fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}

/// Longest message of a reconcile error written to a condition or an Event note (Events take at
/// most 1 kB).
const ERROR_MESSAGE_CHARS: usize = 900;
/// How often a reconcile error that stays the same is announced again (status and Event).
const ERROR_REPEAT_INTERVAL: Duration = Duration::from_secs(600);
/// Requeue of a recovery waiting for its first worker: the reasons pods are not created (Pod
/// Security, quota) come as Events, which do not trigger a reconcile.
const PENDING_RECHECK: Duration = Duration::from_secs(30);
/// Requeue of a recovery waiting for the Job of an earlier object of its name to go.
const JOB_NAME_TAKEN_RECHECK: Duration = Duration::from_secs(10);
/// Longest recovery name kube's event Recorder can name an Event after (it names it
/// `<object>.<hex time>`, and object names hold at most 253 characters).
const LONGEST_NAME_FOR_RECORDER: usize = 253 - 17;

/// Errors that stop the controller process.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[from] kube::Error),
    #[error("leader election failed: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("cannot serve metrics/health on {addr}: {source}")]
    Serve {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("lost the Lease; exiting so a fresh replica can take over")]
    LostLease,
}

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub jobs: JobSettings,
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub listen: SocketAddr,
    /// Lease name and namespace.
    pub lease_name: String,
    pub lease_namespace: String,
    /// This replica's identity in the Lease.
    pub identity: String,
    /// Lease duration and renewal grace, seconds.
    pub lease_duration: u64,
    pub lease_grace: u64,
}

/// Shared state of all reconciliations.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    recorder: Recorder,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<ObjectRef<DigitalRecovery>, u32>>,
    /// The reconcile error last announced on each recovery and when, so a failure retried with
    /// backoff writes one status and one Event per distinct error (repeated every
    /// [`ERROR_REPEAT_INTERVAL`] while it lasts), not one per attempt.
    announced_errors: Mutex<HashMap<ObjectRef<DigitalRecovery>, (String, Instant)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Semantic checks the schema cannot express. None when the spec can run.
pub fn validate(spec: &DigitalRecoverySpec) -> Option<String> {
    if spec.settle_delay.parse::<jiff::Span>().is_err() {
        return Some(format!(
            "settleDelay {:?} is not a duration",
            spec.settle_delay
        ));
    }
    if spec.genesys.region.is_some() == spec.genesys.api_base_url.is_some() {
        return Some("set exactly one of genesys.region and genesys.apiBaseUrl".into());
    }
    if !(1..=64).contains(&spec.parallelism) {
        return Some("parallelism must be between 1 and 64".into());
    }
    None
}

async fn reconcile(dr: Arc<DigitalRecovery>, ctx: Arc<Context>) -> Result<Action, Error> {
    let span = info_span!("reconcile", recovery = %dr.name_any(), namespace = dr.namespace().unwrap_or_default());
    let started = Instant::now();
    ctx.metrics.reconciles.inc();
    let result = reconcile_inner(&dr, &ctx).instrument(span.clone()).await;
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    match &result {
        Ok(_) => {
            let key = ObjectRef::from_obj(dr.as_ref());
            lock(&ctx.failures).remove(&key);
            lock(&ctx.announced_errors).remove(&key);
        }
        Err(error) => announce_error(&dr, &ctx, error).instrument(span).await,
    }
    result
}

/// Puts a reconcile error where the user looks: the recovery's conditions (`Stalled=True`,
/// reason `ReconcileError`) and a Warning Event. Best effort: when the apiserver refuses these
/// too, the log and the failure metric still have it.
async fn announce_error(dr: &DigitalRecovery, ctx: &Context, error: &Error) {
    let message: String = error
        .to_string()
        .chars()
        .take(ERROR_MESSAGE_CHARS)
        .collect();
    let key = ObjectRef::from_obj(dr);
    {
        let mut announced = lock(&ctx.announced_errors);
        if let Some((last, at)) = announced.get(&key)
            && *last == message
            && at.elapsed() < ERROR_REPEAT_INTERVAL
        {
            return;
        }
        announced.insert(key, (message.clone(), Instant::now()));
    }
    // A finished recovery keeps its final conditions; the Event still tells.
    let old_phase = dr.status.as_ref().and_then(|s| s.phase);
    if !is_final(old_phase)
        && let Some(ns) = dr.namespace()
    {
        let status = fold::with_reconcile_error(dr, &message, Timestamp::now());
        if let Err(e) = apply_status(ctx, &ns, &dr.name_any(), &status).await {
            warn!(error = %e, "cannot write the reconcile error to the status");
        }
    }
    let event = Event {
        type_: EventType::Warning,
        reason: "ReconcileError".into(),
        note: Some(message),
        action: "Reconcile".into(),
        secondary: None,
    };
    publish(ctx, dr, &event).await;
}

async fn apply_status(
    ctx: &Context,
    ns: &str,
    name: &str,
    status: &crate::api::DigitalRecoveryStatus,
) -> Result<(), kube::Error> {
    let body = serde_json::json!({
        "apiVersion": DigitalRecovery::api_version(&()),
        "kind": DigitalRecovery::kind(&()),
        "status": status,
    });
    Api::<DigitalRecovery>::namespaced(ctx.client.clone(), ns)
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map(|_| ())
}

/// Publishes `event` about `dr`, logging (not failing) when the apiserver refuses it.
async fn publish(ctx: &Context, dr: &DigitalRecovery, event: &Event) {
    let reference = dr.object_ref(&());
    let result = if dr.name_any().len() <= LONGEST_NAME_FOR_RECORDER {
        ctx.recorder.publish(event, &reference).await
    } else {
        publish_under_short_name(ctx, event, reference).await
    };
    if let Err(e) = result {
        warn!(error = %e, "cannot publish an Event");
    }
}

/// An Event about an object whose name is too long to name the Event after (what kube's
/// Recorder does): the same Event under a shortened name.
async fn publish_under_short_name(
    ctx: &Context,
    event: &Event,
    regarding: ObjectReference,
) -> Result<(), kube::Error> {
    let now = Timestamp::now();
    let object = regarding.name.as_deref().unwrap_or(FIELD_MANAGER);
    let name = format!(
        "{}.{:x}",
        resources::shorten(object, LONGEST_NAME_FOR_RECORDER),
        now.as_nanosecond()
    );
    let namespace = regarding.namespace.clone();
    let body = EventObject {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: namespace.clone(),
            ..Default::default()
        },
        action: Some(event.action.clone()),
        reason: Some(event.reason.clone()),
        note: event.note.clone(),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding),
        reporting_controller: Some(FIELD_MANAGER.into()),
        reporting_instance: Some(ctx.settings.identity.clone()),
        type_: Some(
            match event.type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .into(),
        ),
        ..Default::default()
    };
    Api::<EventObject>::namespaced(
        ctx.client.clone(),
        namespace.as_deref().unwrap_or("default"),
    )
    .create(&PostParams::default(), &body)
    .await
    .map(|_| ())
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

async fn reconcile_inner(dr: &DigitalRecovery, ctx: &Context) -> Result<Action, Error> {
    let ns = dr.namespace().ok_or(Error::NoNamespace)?;
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let job_name = resources::job_name(&dr.name_any());
    let old_phase = dr.status.as_ref().and_then(|s| s.phase);

    // Dereference.
    let job = jobs
        .get_opt(&job_name)
        .await
        .map_err(failed(format!("read the Job {job_name}")))?;
    // A Job of this name that another object owns (an earlier recovery of the same name, deleted
    // but not yet garbage-collected) is not ours to fold, delete or replace: wait for it to go.
    let (job, job_name_taken) = match job {
        Some(j) if !owned_by(&j, dr) => (None, true),
        job => (job, false),
    };
    // A finished Job is folded against a fresh read of the recovery: the cache may lag behind
    // the workers' final status entries (e.g. while its watch recovers from an apiserver restart).
    let fresh;
    let dr = if job.as_ref().is_some_and(fold::job_finished) && !is_final(old_phase) {
        fresh = Api::<DigitalRecovery>::namespaced(ctx.client.clone(), &ns)
            .get(&dr.name_any())
            .await
            .map_err(failed("read the recovery"))?;
        &fresh
    } else {
        dr
    };
    let no_shard_yet = dr.status.as_ref().is_none_or(|s| s.shards.is_empty());
    let pods_not_created = match &job {
        Some(j) if no_shard_yet && !is_final(old_phase) && waiting_for_pods(j) => {
            pod_creation_failure(ctx, j).await
        }
        _ => None,
    };
    // Validate.
    let invalid = validate(&dr.spec);
    // Build.
    let status = fold(&Observed {
        job_name_taken,
        pods_not_created,
        invalid,
        ..Observed::new(dr, job.as_ref(), Timestamp::now())
    });
    let phase = status.phase.unwrap_or(Phase::Pending);

    // Apply.
    if phase == Phase::Cancelled && job.is_some() {
        info!("cancelling: deleting the worker Job");
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        };
        match jobs.delete(&job_name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(failed(format!("delete the Job {job_name}"))(e)),
        }
    }
    if job.is_none() && !job_name_taken && phase == Phase::Pending && !is_final(old_phase) {
        ensure_worker_rbac(ctx, dr).await?;
        let job = resources::worker_job(dr, &ctx.settings.jobs).ok_or(Error::BuildJob)?;
        info!(job = %job_name, shards = dr.spec.parallelism, "creating the worker Job");
        jobs.patch(
            &job_name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(resources::apply_body(&job)?),
        )
        .await
        .map_err(failed(format!("create the Job {job_name}")))?;
    }

    // Update status.
    apply_status(ctx, &ns, &dr.name_any(), &status)
        .await
        .map_err(failed("write the status"))?;

    if old_phase != Some(phase) {
        on_transition(dr, ctx, old_phase, phase, &status).await;
    }
    Ok(if is_final(Some(phase)) {
        Action::await_change()
    } else if job_name_taken {
        Action::requeue(JOB_NAME_TAKEN_RECHECK)
    } else if phase == Phase::Pending && job.is_some() {
        Action::requeue(PENDING_RECHECK)
    } else {
        Action::requeue(Duration::from_secs(300))
    })
}

/// Whether `dr` (this very object, by uid) owns `obj`.
fn owned_by(obj: &impl Resource, dr: &DigitalRecovery) -> bool {
    obj.meta()
        .owner_references
        .iter()
        .flatten()
        .any(|o| Some(&o.uid) == dr.meta().uid.as_ref())
}

/// Whether no pod of `job` exists while it has not finished: the job controller may be failing
/// to create them.
fn waiting_for_pods(job: &Job) -> bool {
    !fold::job_finished(job) && job.status.as_ref().and_then(|s| s.active).unwrap_or(0) == 0
}

async fn on_transition(
    dr: &DigitalRecovery,
    ctx: &Context,
    from: Option<Phase>,
    to: Phase,
    status: &crate::api::DigitalRecoveryStatus,
) {
    let message = status
        .conditions
        .iter()
        .find(|c| {
            c.type_
                == if to == Phase::Failed {
                    "Stalled"
                } else {
                    "Ready"
                }
        })
        .map(|c| c.message.clone())
        .unwrap_or_default();
    info!(from = ?from, to = ?to, %message, "phase changed");
    let event = Event {
        type_: if matches!(to, Phase::Failed) {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: format!("{to:?}"),
        note: Some(message.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    publish(ctx, dr, &event).await;
    if is_final(Some(to)) {
        let tenant = TenantLabels {
            tenant: dr.spec.tenant.clone(),
        };
        let recovered = status.progress.map(|p| p.recovered).unwrap_or(0);
        ctx.metrics
            .recovered
            .get_or_create(&tenant)
            .inc_by(recovered);
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
}

/// The worker identity of `dr` (ServiceAccount, Role naming only `dr`, RoleBinding), applied
/// before its Job is created. Applied every time, never remembered: a recovery deleted and
/// created again under the same name needs them again once the garbage collector has removed
/// the first one's, and server-side apply makes a repeat a no-op.
async fn ensure_worker_rbac(ctx: &Context, dr: &DigitalRecovery) -> Result<(), Error> {
    let ns = dr.namespace().unwrap_or_default();
    let name = resources::worker_account(dr);
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let sa = resources::worker_service_account(dr).ok_or(Error::BuildJob)?;
    Api::<ServiceAccount>::namespaced(ctx.client.clone(), &ns)
        .patch(&name, &pp, &Patch::Apply(resources::apply_body(&sa)?))
        .await
        .map_err(failed(format!("apply the worker ServiceAccount {name}")))?;
    let role = resources::worker_role(dr).ok_or(Error::BuildJob)?;
    Api::<Role>::namespaced(ctx.client.clone(), &ns)
        .patch(&name, &pp, &Patch::Apply(resources::apply_body(&role)?))
        .await
        .map_err(failed(format!("apply the worker Role {name}")))?;
    let binding = resources::worker_role_binding(dr).ok_or(Error::BuildJob)?;
    Api::<RoleBinding>::namespaced(ctx.client.clone(), &ns)
        .patch(&name, &pp, &Patch::Apply(resources::apply_body(&binding)?))
        .await
        .map_err(failed(format!("apply the worker RoleBinding {name}")))?;
    Ok(())
}

fn error_policy(dr: Arc<DigitalRecovery>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .failures
        .get_or_create(&ErrorLabels {
            error: error.kind().to_string(),
        })
        .inc();
    let mut failures = lock(&ctx.failures);
    let n = failures
        .entry(ObjectRef::from_obj(dr.as_ref()))
        .or_insert(0);
    *n = n.saturating_add(1);
    let delay = Duration::from_millis(500u64.saturating_mul(1 << (*n).min(10)))
        .min(Duration::from_secs(300));
    warn!(recovery = %dr.name_any(), namespace = dr.namespace().unwrap_or_default(), %error, attempt = *n, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

#[derive(Clone)]
struct HttpState {
    metrics: Arc<Metrics>,
    stores: Arc<Mutex<Vec<Store<DigitalRecovery>>>>,
    ready: Arc<AtomicBool>,
}

async fn metrics_handler(State(state): State<HttpState>) -> impl IntoResponse {
    // Recoveries by phase, counted from the controllers' caches at scrape time.
    let mut counts: HashMap<String, i64> = HashMap::new();
    for store in lock(&state.stores).iter() {
        for dr in store.state() {
            let phase = dr
                .status
                .as_ref()
                .and_then(|s| s.phase)
                .map(|p| format!("{p:?}"))
                .unwrap_or_else(|| "New".into());
            *counts.entry(phase).or_default() += 1;
        }
    }
    for phase in [
        "New",
        "Pending",
        "Running",
        "Succeeded",
        "PartiallySucceeded",
        "Failed",
        "Cancelled",
    ] {
        state
            .metrics
            .recoveries
            .get_or_create(&PhaseLabels {
                phase: phase.to_string(),
            })
            .set(counts.get(phase).copied().unwrap_or(0));
    }
    match state.metrics.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// Runs the controller until SIGTERM/SIGINT (Ok) or the loss of the Lease (Err).
pub async fn run(client: Client, settings: Settings) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let stores = Arc::new(Mutex::new(Vec::new()));
    let ready = Arc::new(AtomicBool::new(false));
    let state = HttpState {
        metrics: metrics.clone(),
        stores: stores.clone(),
        ready: ready.clone(),
    };
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| RunError::Serve {
            addr: settings.listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(settings.listen);
    info!(%addr, "serving /metrics, /healthz and /readyz");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            error!(error = %e, "metrics server stopped");
        }
    });

    // Leader election.
    let params = kube_lease_manager::LeaseParams::new(
        settings.identity.clone(),
        settings.lease_duration,
        settings.lease_grace,
    );
    let manager = kube_lease_manager::LeaseManager::new(
        client.clone(),
        &settings.lease_name,
        &settings.lease_namespace,
        params,
        kube_lease_manager::LeaseCreateMode::AutoCreate,
    )
    .await?;
    let (mut leader, lease_task) = manager.watch().await;
    // A standby replica is healthy and ready: it only waits for the Lease.
    ready.store(true, Ordering::Relaxed);
    info!(identity = %settings.identity, lease = %settings.lease_name, "waiting for the Lease");
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        if *leader.borrow_and_update() {
            break;
        }
        tokio::select! {
            changed = leader.changed() => if changed.is_err() {
                return Err(lease_error(lease_task).await);
            },
            _ = &mut shutdown => return Ok(()),
        }
    }
    info!(identity = %settings.identity, "acquired the Lease; reconciling");
    metrics.leader.set(1);

    let reporter = Reporter {
        controller: FIELD_MANAGER.into(),
        instance: Some(settings.identity.clone()),
    };
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client: client.clone(),
        settings: settings.clone(),
        metrics: metrics.clone(),
        failures: Mutex::new(HashMap::new()),
        announced_errors: Mutex::new(HashMap::new()),
    });
    let schedule_ctx = Arc::new(schedule::Context {
        client: client.clone(),
        clock: Arc::new(schedule::SystemClock),
        metrics: metrics.clone(),
        recorder: Some(Recorder::new(
            client.clone(),
            Reporter {
                controller: schedule::FIELD_MANAGER.into(),
                instance: Some(settings.identity.clone()),
            },
        )),
    });
    let scopes: Vec<Option<String>> = if settings.namespaces.is_empty() {
        vec![None]
    } else {
        settings.namespaces.iter().cloned().map(Some).collect()
    };
    let mut controllers: Vec<futures::future::BoxFuture<'static, ()>> = Vec::new();
    for scope in scopes {
        let (recoveries, jobs): (Api<DigitalRecovery>, Api<Job>) = match &scope {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
            ),
            None => (Api::all(client.clone()), Api::all(client.clone())),
        };
        let controller = Controller::new(recoveries, watcher::Config::default().any_semantic())
            .owns(
                jobs,
                watcher::Config::default()
                    .labels("app.kubernetes.io/managed-by=digital-recovery-controller"),
            )
            .with_config(
                ControllerConfig::default()
                    .debounce(Duration::from_millis(300))
                    .concurrency(16),
            );
        lock(&stores).push(controller.store());
        let ctx = ctx.clone();
        // Schedules, under the same Lease: each run is a DigitalRecovery the schedule owns.
        let (schedules, runs): (Api<DigitalRecoverySchedule>, Api<DigitalRecovery>) = match &scope {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
            ),
            None => (Api::all(client.clone()), Api::all(client.clone())),
        };
        let schedule_controller =
            Controller::new(schedules, watcher::Config::default().any_semantic())
                .owns(
                    runs,
                    watcher::Config::default().labels(crate::api::SCHEDULE_LABEL),
                )
                .with_config(
                    ControllerConfig::default()
                        .debounce(Duration::from_millis(300))
                        .concurrency(4),
                );
        let sctx = schedule_ctx.clone();
        controllers.push(Box::pin(
            schedule_controller
                .run(schedule::reconcile, schedule::error_policy, sctx)
                .for_each(|result| async move {
                    if let Err(e) = result {
                        debug!(error = %e, "schedule controller event");
                    }
                }),
        ));
        controllers.push(Box::pin(
            controller
                .run(reconcile, error_policy, ctx)
                .for_each(|result| async move {
                    if let Err(e) = result {
                        debug!(error = %e, "controller event");
                    }
                }),
        ));
    }
    let all = futures::future::join_all(controllers);
    tokio::select! {
        _ = all => Ok(()),
        _ = &mut shutdown => {
            info!("shutting down");
            Ok(())
        }
        () = wait_lost(&mut leader) => {
            metrics.leader.set(0);
            Err(RunError::LostLease)
        }
    }
}

async fn wait_lost(leader: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        if leader.changed().await.is_err() || !*leader.borrow_and_update() {
            return;
        }
    }
}

async fn lease_error(
    task: tokio::task::JoinHandle<
        Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>,
    >,
) -> RunError {
    match task.await {
        Ok(Err(e)) => RunError::Lease(e),
        _ => RunError::LostLease,
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

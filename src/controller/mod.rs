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
    collections::{HashMap, HashSet},
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
use k8s_openapi::api::{
    batch::v1::Job,
    core::v1::ServiceAccount,
    rbac::v1::{Role, RoleBinding},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PropagationPolicy},
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

/// Errors of one reconciliation (retried with per-object exponential backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),
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
            Error::Kube(_) => "kube",
            Error::Serialize(_) => "serialize",
            Error::NoNamespace => "no_namespace",
            Error::BuildJob => "build_job",
        }
    }
}

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
    /// Namespaces whose worker ServiceAccount/Role/RoleBinding are in place.
    rbac_done: Mutex<HashSet<String>>,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<ObjectRef<DigitalRecovery>, u32>>,
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
    let result = reconcile_inner(&dr, &ctx).instrument(span).await;
    ctx.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    if result.is_ok() {
        lock(&ctx.failures).remove(&ObjectRef::from_obj(dr.as_ref()));
    }
    result
}

async fn reconcile_inner(dr: &DigitalRecovery, ctx: &Context) -> Result<Action, Error> {
    let ns = dr.namespace().ok_or(Error::NoNamespace)?;
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let job_name = resources::job_name(&dr.name_any());
    let old_phase = dr.status.as_ref().and_then(|s| s.phase);

    // Dereference.
    let job = jobs.get_opt(&job_name).await?;
    // A finished Job is folded against a fresh read of the recovery: the cache may lag behind
    // the workers' final status entries (e.g. while its watch recovers from an apiserver restart).
    let fresh;
    let dr = if job.as_ref().is_some_and(fold::job_finished) && !is_final(old_phase) {
        fresh = Api::<DigitalRecovery>::namespaced(ctx.client.clone(), &ns)
            .get(&dr.name_any())
            .await?;
        &fresh
    } else {
        dr
    };
    // Validate.
    let invalid = validate(&dr.spec);
    // Build.
    let status = fold(&Observed {
        dr,
        job: job.as_ref(),
        invalid,
        now: Timestamp::now(),
    });
    let phase = status.phase.unwrap_or(Phase::Pending);

    // Apply.
    let owned_job = job.as_ref().is_some_and(|j| {
        j.owner_references()
            .iter()
            .any(|o| Some(&o.uid) == dr.meta().uid.as_ref())
    });
    if phase == Phase::Cancelled && owned_job {
        info!("cancelling: deleting the worker Job");
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        };
        match jobs.delete(&job_name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    if job.is_none() && phase == Phase::Pending && !is_final(old_phase) {
        ensure_worker_rbac(ctx, dr).await?;
        let job = resources::worker_job(dr, &ctx.settings.jobs).ok_or(Error::BuildJob)?;
        info!(job = %job_name, shards = dr.spec.parallelism, "creating the worker Job");
        jobs.patch(
            &job_name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(resources::apply_body(&job)?),
        )
        .await?;
    }

    // Update status.
    let api: Api<DigitalRecovery> = Api::namespaced(ctx.client.clone(), &ns);
    let body = serde_json::json!({
        "apiVersion": DigitalRecovery::api_version(&()),
        "kind": DigitalRecovery::kind(&()),
        "status": status,
    });
    api.patch_status(
        &dr.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;

    if old_phase != Some(phase) {
        on_transition(dr, ctx, old_phase, phase, &status).await;
    }
    Ok(if is_final(Some(phase)) {
        Action::await_change()
    } else {
        Action::requeue(Duration::from_secs(300))
    })
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
    if let Err(e) = ctx.recorder.publish(&event, &dr.object_ref(&())).await {
        warn!(error = %e, "cannot publish an Event");
    }
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
/// before its Job is created.
async fn ensure_worker_rbac(ctx: &Context, dr: &DigitalRecovery) -> Result<(), Error> {
    let ns = dr.namespace().unwrap_or_default();
    let name = resources::worker_account(dr);
    let key = format!("{ns}/{name}");
    if lock(&ctx.rbac_done).contains(&key) {
        return Ok(());
    }
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let sa = resources::worker_service_account(dr).ok_or(Error::BuildJob)?;
    Api::<ServiceAccount>::namespaced(ctx.client.clone(), &ns)
        .patch(&name, &pp, &Patch::Apply(resources::apply_body(&sa)?))
        .await?;
    let role = resources::worker_role(dr).ok_or(Error::BuildJob)?;
    Api::<Role>::namespaced(ctx.client.clone(), &ns)
        .patch(&name, &pp, &Patch::Apply(resources::apply_body(&role)?))
        .await?;
    let binding = resources::worker_role_binding(dr).ok_or(Error::BuildJob)?;
    Api::<RoleBinding>::namespaced(ctx.client.clone(), &ns)
        .patch(&name, &pp, &Patch::Apply(resources::apply_body(&binding)?))
        .await?;
    lock(&ctx.rbac_done).insert(key);
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
        rbac_done: Mutex::new(HashSet::new()),
        failures: Mutex::new(HashMap::new()),
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

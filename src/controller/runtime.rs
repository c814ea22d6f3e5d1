//! How the operator process runs: its HTTP endpoints, leader election through a Lease, one
//! recovery controller and one schedule controller per watched namespace scope, and shutdown
//! (kube-runtime's graceful shutdown on SIGTERM/SIGINT: in-flight reconciles finish first).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{StreamExt, future::BoxFuture};
use k8s_openapi::api::batch::v1::Job;
use kube::{
    Api, Client, Resource,
    runtime::{
        Controller, WatchStreamExt,
        controller::{Config as ControllerConfig, Error as ControllerError},
        reflector, watcher,
    },
};
use parking_lot::Mutex;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::{
    admission::AdmissionLimits,
    fleet::Fleet,
    http::{self, HttpState},
    metrics::Metrics,
    reconcile::{self, Context},
    resources::JobSettings,
    schedule,
};
use crate::api::{DigitalRecovery, DigitalRecoverySchedule, SCHEDULE_LABEL};
use crate::contract::{MANAGED_BY_CONTROLLER, SCHEDULE_MANAGER};
use crate::kubeapi::Events;

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
    /// Caps on running recoveries (chart `maxConcurrentRecoveries*`).
    pub admission: AdmissionLimits,
}

/// Reconciles at once per controller: recoveries are many and quick, schedules few.
const RECOVERY_CONCURRENCY: u16 = 16;
const SCHEDULE_CONCURRENCY: u16 = 4;
/// Watch events closer together than this make one reconcile.
const DEBOUNCE: Duration = Duration::from_millis(300);
/// How long a replica shutting down waits for its Lease to be released.
const LEASE_RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

type LeaseTask = tokio::task::JoinHandle<
    Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>,
>;

/// Runs the operator until SIGTERM/SIGINT (Ok, after in-flight reconciles finish) or the loss
/// of the Lease (Err: the process exits so that a fresh replica takes over).
pub async fn run(client: Client, settings: Settings) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let state = HttpState {
        metrics: metrics.clone(),
        stores: Arc::new(Mutex::new(Vec::new())),
        schedule_stores: Arc::new(Mutex::new(Vec::new())),
        job_deadline_seconds: settings.jobs.deadline_seconds,
        scrape: Arc::new(Mutex::new(())),
        ready: Arc::new(AtomicBool::new(false)),
    };
    http::serve(settings.listen, state.clone())
        .await
        .map_err(|source| RunError::Serve {
            addr: settings.listen,
            source,
        })?;
    let (mut leader, lease_task) = join_lease_election(&client, &settings).await?;
    // A standby replica is healthy and ready: it only waits for the Lease.
    state.ready.store(true, Ordering::Relaxed);
    info!(identity = %settings.identity, lease = %settings.lease_name, "waiting for the Lease");
    tokio::select! {
        won = wait_until(&mut leader, true) => if !won {
            return Err(lease_error(lease_task).await);
        },
        () = crate::signals::shutdown() => return Ok(()),
    }
    info!(identity = %settings.identity, "acquired the Lease; reconciling");
    metrics.leader.set(1);

    let controllers = start_controllers(&client, &settings, &metrics, &state);
    tokio::select! {
        _ = futures::future::join_all(controllers) => {}
        _ = wait_until(&mut leader, false) => {
            metrics.leader.set(0);
            return Err(RunError::LostLease);
        }
    }
    info!("controllers shut down; releasing the Lease");
    metrics.leader.set(0);
    release_lease(leader, lease_task).await;
    Ok(())
}

/// Gives the Lease up (the election task releases it once its receiver is gone): a standby
/// then finds it free when it next looks, rather than an expired lock to break.
async fn release_lease(leader: watch::Receiver<bool>, task: LeaseTask) {
    drop(leader);
    match tokio::time::timeout(LEASE_RELEASE_TIMEOUT, task).await {
        Ok(Ok(Ok(_))) => info!("released the Lease"),
        Ok(Ok(Err(e))) => warn!(error = %e, "cannot release the Lease; it expires by itself"),
        Ok(Err(e)) => warn!(error = %e, "the Lease task failed"),
        Err(_) => warn!("the Lease was not released in time; it expires by itself"),
    }
}

/// Joins the election for the Lease; the receiver says whether this replica holds it.
async fn join_lease_election(
    client: &Client,
    settings: &Settings,
) -> Result<(watch::Receiver<bool>, LeaseTask), RunError> {
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
    Ok(manager.watch().await)
}

/// Waits until leadership is `wanted`; false when the election ended first.
async fn wait_until(leader: &mut watch::Receiver<bool>, wanted: bool) -> bool {
    loop {
        if *leader.borrow_and_update() == wanted {
            return true;
        }
        if leader.changed().await.is_err() {
            return false;
        }
    }
}

async fn lease_error(task: LeaseTask) -> RunError {
    match task.await {
        Ok(Err(e)) => RunError::Lease(e),
        _ => RunError::LostLease,
    }
}

/// The recovery and schedule controllers of every namespace scope, each shutting down
/// gracefully on SIGTERM/SIGINT.
fn start_controllers(
    client: &Client,
    settings: &Settings,
    metrics: &Arc<Metrics>,
    state: &HttpState,
) -> Vec<BoxFuture<'static, ()>> {
    let fleet = Arc::new(Fleet::new(settings.admission));
    let ctx = Arc::new(Context::new(
        client.clone(),
        settings.jobs.clone(),
        metrics.clone(),
        &settings.identity,
        fleet.clone(),
    ));
    let schedule_ctx = Arc::new(schedule::Context {
        client: client.clone(),
        clock: Arc::new(schedule::SystemClock),
        metrics: metrics.clone(),
        events: Some(Events::new(
            client.clone(),
            SCHEDULE_MANAGER,
            &settings.identity,
        )),
    });
    let scopes: Vec<Option<&str>> = if settings.namespaces.is_empty() {
        vec![None]
    } else {
        settings
            .namespaces
            .iter()
            .map(|n| Some(n.as_str()))
            .collect()
    };
    let mut controllers: Vec<BoxFuture<'static, ()>> = Vec::new();
    for scope in scopes {
        let (store, writer) = reflector::store();
        let recoveries = Controller::for_stream(
            trimmed(
                api::<DigitalRecovery>(client, scope),
                watcher::Config::default().any_semantic(),
                writer,
            ),
            store,
        )
        .owns(
            api::<Job>(client, scope),
            watcher::Config::default().labels(MANAGED_BY_CONTROLLER),
        )
        .reconcile_on(fleet.wakeups())
        .with_config(
            ControllerConfig::default()
                .debounce(DEBOUNCE)
                .concurrency(RECOVERY_CONCURRENCY),
        )
        .shutdown_on_signal();
        state.stores.lock().push(recoveries.store());
        fleet.watch(recoveries.store());
        controllers.push(Box::pin(
            recoveries
                .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
                .for_each(log_outcome),
        ));
        // Schedules, under the same Lease: each run is a DigitalRecovery the schedule owns.
        let (store, writer) = reflector::store();
        let schedules = Controller::for_stream(
            trimmed(
                api::<DigitalRecoverySchedule>(client, scope),
                watcher::Config::default().any_semantic(),
                writer,
            ),
            store,
        )
        .owns(
            api::<DigitalRecovery>(client, scope),
            watcher::Config::default().labels(SCHEDULE_LABEL),
        )
        .with_config(
            ControllerConfig::default()
                .debounce(DEBOUNCE)
                .concurrency(SCHEDULE_CONCURRENCY),
        )
        .shutdown_on_signal();
        state.schedule_stores.lock().push(schedules.store());
        controllers.push(Box::pin(
            schedules
                .run(
                    schedule::reconcile,
                    schedule::error_policy,
                    schedule_ctx.clone(),
                )
                .for_each(log_outcome),
        ));
    }
    controllers
}

/// The watch of a controller's own kind, cached without what no reconcile reads: managed
/// fields (a parsed JSON tree per field manager, often larger than the object's spec and status)
/// and kubectl's last-applied copy of the object. With 1,000 recoveries this is most of the
/// cache (docs/benchmarks.md).
fn trimmed<K>(
    api: Api<K>,
    config: watcher::Config,
    writer: reflector::store::Writer<K>,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    watcher(api, config)
        .default_backoff()
        .modify(trim)
        .reflect(writer)
        .applied_objects()
}

/// Drops what [`trimmed`] leaves out of the cache.
fn trim<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// kubectl's client-side apply copy of the whole object.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// An API of `K` in `scope` (a namespace, or all).
fn api<K>(client: &Client, scope: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>,
    <K as Resource>::DynamicType: Default,
{
    match scope {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Each reconcile's outcome, as kube-runtime reports it (errors are already handled by the
/// error policy; this only logs them for debugging).
async fn log_outcome<T: std::fmt::Debug, E: std::error::Error, Q: std::error::Error>(
    result: Result<T, ControllerError<E, Q>>,
) {
    if let Err(e) = result {
        debug!(error = %e, "controller event");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    use super::*;

    #[test]
    fn the_cache_keeps_neither_managed_fields_nor_the_last_applied_copy() {
        let mut job = Job::default();
        job.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some("kubectl".into()),
            ..ManagedFieldsEntry::default()
        }]);
        job.metadata.annotations = Some(BTreeMap::from([
            (LAST_APPLIED.to_string(), "{\"spec\":{}}".to_string()),
            (
                "recovery.cxops.io/scheduled-time".to_string(),
                "x".to_string(),
            ),
        ]));
        trim(&mut job);
        assert_eq!(job.metadata.managed_fields, None);
        assert_eq!(
            job.metadata.annotations,
            Some(BTreeMap::from([(
                "recovery.cxops.io/scheduled-time".to_string(),
                "x".to_string()
            )]))
        );
    }
}

//! The controller's HTTP endpoints: `/metrics` (OpenMetrics; the per-object gauges read from
//! the controllers' caches at scrape time, see [`super::gauges`]), `/healthz` and `/readyz`.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use kube::runtime::reflector::Store;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tracing::{error, info};

use super::gauges::{self, Caches};
use super::metrics::Metrics;
use crate::api::{DigitalRecovery, DigitalRecoverySchedule};

/// What the endpoints read.
#[derive(Clone)]
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    /// The recovery caches of the running controllers (one per watched namespace scope).
    pub stores: Arc<Mutex<Vec<Store<DigitalRecovery>>>>,
    /// The schedule caches, likewise.
    pub schedule_stores: Arc<Mutex<Vec<Store<DigitalRecoverySchedule>>>>,
    /// The worker Jobs' activeDeadlineSeconds.
    pub job_deadline_seconds: i64,
    /// Held while a scrape refills the gauges and encodes them.
    pub scrape: Arc<Mutex<()>>,
    pub ready: Arc<AtomicBool>,
}

/// Binds `listen` and serves the endpoints in the background; returns the bound address.
pub async fn serve(listen: SocketAddr, state: HttpState) -> std::io::Result<SocketAddr> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state);
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr().unwrap_or(listen);
    info!(%addr, "serving /metrics, /healthz and /readyz");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            error!(error = %e, "metrics server stopped");
        }
    });
    Ok(addr)
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    let encoded = {
        let _one_scrape_at_a_time = state.scrape.lock();
        let recoveries = state.stores.lock().clone();
        let schedules = state.schedule_stores.lock().clone();
        let caches = Caches {
            recoveries: &recoveries,
            schedules: &schedules,
            job_deadline_seconds: state.job_deadline_seconds,
        };
        gauges::refresh(&state.metrics, &caches, jiff::Timestamp::now());
        state.metrics.encode()
    };
    match encoded {
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

//! The controller's HTTP endpoints: `/metrics` (OpenMetrics; recoveries by phase counted from
//! the controllers' caches at scrape time), `/healthz` and `/readyz`.

use std::{
    collections::HashMap,
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

use super::metrics::{Metrics, PhaseLabels};
use crate::api::DigitalRecovery;

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

/// What the endpoints read.
#[derive(Clone)]
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    /// The recovery caches of the running controllers (one per watched namespace scope).
    pub stores: Arc<Mutex<Vec<Store<DigitalRecovery>>>>,
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
    let mut counts: HashMap<String, i64> = HashMap::new();
    for store in state.stores.lock().iter() {
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
    for phase in PHASES {
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

//! Several tenants' recording side on one DAS and one Capture port, as one recording platform
//! serves many tenants: each tenant (a Genesys org) has its own store, credentials and routers.
//! An API request goes to the store of the tenant its path names (`/api/v1/tenants/{tenant}/`),
//! a token request to the store of the client id it names; an unknown one goes to the first
//! store, which refuses it. `GET /sim/report` on the Capture port sums the tenants' reports
//! (`?tenant=T`: that tenant's alone) and `GET /sim/requests` merges their request counts.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{RecordingStore, SimReport, capture_router, das_router, error_response};
use crate::sim::dispatch::{forward, token_client};
use crate::sim::requests::RequestCounts;

/// The tenants' stores and their DAS and Capture routers, in order.
#[derive(Clone)]
pub struct RecordingTenants {
    tenants: Arc<Vec<Tenant>>,
}

struct Tenant {
    store: Arc<RecordingStore>,
    das: Router,
    capture: Router,
}

#[derive(Clone, Copy)]
enum Side {
    Das,
    Capture,
}

#[derive(Deserialize)]
struct ReportQuery {
    tenant: Option<String>,
}

impl RecordingTenants {
    /// One DAS and one Capture origin for `stores` (at least one).
    pub fn new(stores: Vec<Arc<RecordingStore>>) -> Self {
        let tenants = stores
            .into_iter()
            .map(|store| Tenant {
                das: das_router(store.clone()),
                capture: capture_router(store.clone()),
                store,
            })
            .collect();
        RecordingTenants {
            tenants: Arc::new(tenants),
        }
    }

    /// The stores, in order.
    pub fn stores(&self) -> Vec<Arc<RecordingStore>> {
        self.tenants.iter().map(|t| t.store.clone()).collect()
    }

    /// The DAS routes of every tenant.
    pub fn das_router(&self) -> Router {
        Router::new()
            .fallback(dispatch_das)
            .with_state(self.clone())
    }

    /// The Capture routes of every tenant, with the summed `/sim/report`.
    pub fn capture_router(&self) -> Router {
        Router::new()
            .route("/sim/report", get(report))
            .route("/sim/requests", get(requests))
            .fallback(dispatch_capture)
            .with_state(self.clone())
    }

    /// The tenants' reports summed.
    pub fn report(&self) -> SimReport {
        self.tenants
            .iter()
            .map(|t| t.store.report())
            .fold(SimReport::default(), SimReport::plus)
    }

    fn find(&self, tenant: &str) -> Option<&Tenant> {
        self.tenants
            .iter()
            .find(|t| t.store.config().tenant == tenant)
    }

    async fn dispatch(&self, side: Side, request: Request) -> Response {
        let path = request.uri().path().to_string();
        let (tenant, request) = if path == "/oauth/token" {
            let (client, request) = match token_client(request).await {
                Ok(found) => found,
                Err(answer) => return answer,
            };
            let tenant = client.and_then(|id| {
                self.tenants
                    .iter()
                    .find(|t| t.store.config().client_id == id)
            });
            (tenant, request)
        } else {
            let named = path
                .strip_prefix("/api/v1/tenants/")
                .and_then(|rest| rest.split('/').next())
                .and_then(|name| self.find(name));
            (named, request)
        };
        let Some(tenant) = tenant.or_else(|| self.tenants.first()) else {
            return error_response(
                axum::http::StatusCode::NOT_FOUND,
                "not.found",
                "unknown tenant",
            );
        };
        let router = match side {
            Side::Das => &tenant.das,
            Side::Capture => &tenant.capture,
        };
        forward(router, request).await
    }
}

async fn dispatch_das(State(tenants): State<RecordingTenants>, request: Request) -> Response {
    tenants.dispatch(Side::Das, request).await
}

async fn dispatch_capture(State(tenants): State<RecordingTenants>, request: Request) -> Response {
    tenants.dispatch(Side::Capture, request).await
}

async fn report(
    State(tenants): State<RecordingTenants>,
    Query(query): Query<ReportQuery>,
) -> Response {
    match query.tenant {
        None => axum::Json(tenants.report()).into_response(),
        Some(name) => match tenants.find(&name) {
            Some(tenant) => axum::Json(tenant.store.report()).into_response(),
            None => error_response(
                axum::http::StatusCode::NOT_FOUND,
                "not.found",
                "unknown tenant",
            ),
        },
    }
}

async fn requests(State(tenants): State<RecordingTenants>) -> Response {
    let mut all = RequestCounts::default();
    for tenant in tenants.tenants.iter() {
        all.merge(tenant.store.capture_requests());
    }
    axum::Json(all).into_response()
}

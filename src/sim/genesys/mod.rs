//! A faithful Genesys Cloud CX simulator (genesys-api.md section 9): OAuth client credentials,
//! bearer checks, per-token and per-client (org) rate limits with the normalised 429 and a
//! per-second record of them (`/sim/rates`), the analytics detail query and
//! jobs with their interval semantics and paging cap, recordings with transcripts, transcoding
//! 202s, batch downloads and fault injection. Plain http, token endpoint on the same origin, so
//! the official Python SDK works against it with only `configuration.host` changed.
//!
//! It serves the documented contract by default; [`GenesysVariant`] switches each UNCONFIRMED
//! item to another plausible reading. One simulator is one org; [`GenesysOrgs`] serves several
//! behind one origin.

// Validation helpers return the ready-made error Response; it is a cold path, boxing buys nothing.
#![allow(clippy::result_large_err)]

mod admin;
mod analytics;
mod auth;
mod filters;
#[cfg(test)]
mod limit_tests;
mod limits;
mod orgs;
mod rates;
mod recordings;
mod render;
mod restore;
#[cfg(test)]
mod restore_tests;
#[cfg(test)]
mod tests;
mod variant;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp, ToSpan};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

use self::admin::*;
use self::analytics::*;
use self::auth::*;
use self::filters::Filters;
pub use self::limits::{BURST_SECONDS, burst};
use self::limits::{Limit, RateLimit};
pub use self::orgs::GenesysOrgs;
pub use self::rates::{ClientRates, RATE_HISTORY_SECONDS, RateSeries};
use self::rates::{Outcome, RateLog};
use self::recordings::*;
pub use self::render::iso_ms;
use self::restore::recording_update;
pub use self::restore::{LiveFile, Restorations, RestoreCounts};
pub use self::variant::{
    EmptyPage, GenesysVariant, IntervalEnd, MessagingMedia, OAuthError, VariantParseError,
};
use super::dataset::{Dataset, FileState, SimConversation, SimRecording};
use super::faults::{FaultLayer, Faults, RevokeToken, Service, fault_middleware};
use super::requests::{RequestCounts, RequestLog, record_requests, serve_requests};

/// Largest result offset the detail query pages to.
pub const PAGING_CAP: usize = 100_000;
/// Largest request body the API accepts (`request.bytes.max`).
pub const MAX_REQUEST_BYTES: usize = 512_000;

/// How the Genesys simulator behaves.
#[derive(Clone, Debug)]
pub struct GenesysSimConfig {
    /// Accepted OAuth client id.
    pub client_id: String,
    /// Accepted OAuth client secret.
    pub client_secret: String,
    /// `expires_in` of issued tokens (the faults' `token-expiry` overrides it).
    pub token_lifetime: Duration,
    /// Requests per minute per token; None means unlimited.
    pub rate_limit: Option<u32>,
    /// Requests per minute of this OAuth client across all its tokens (Genesys'
    /// `org.app.user.rate.per.minute`, 3000 by default there); None means unlimited.
    pub org_rate_limit: Option<u32>,
    /// Added to every response.
    pub latency: Duration,
    /// How far the jobs' data lake trails now (`dataAvailabilityDate = now - data_lag`).
    pub data_lag: Duration,
    /// How long a job takes from submission to FULFILLED.
    pub job_run_time: Duration,
    /// Largest result offset the detail query pages to (Genesys: 100,000; smaller in tests).
    pub paging_cap: usize,
    /// Which reading of the UNCONFIRMED items to serve (default: the documented contract).
    pub variant: GenesysVariant,
    /// How long an archived recording stays RESTORING once its restoration is asked for.
    pub restore_delay: Duration,
}

impl Default for GenesysSimConfig {
    fn default() -> Self {
        GenesysSimConfig {
            client_id: "sim-client".to_string(),
            client_secret: "sim-secret".to_string(),
            token_lifetime: Duration::from_secs(86_399),
            rate_limit: Some(300),
            org_rate_limit: None,
            latency: Duration::ZERO,
            data_lag: Duration::from_secs(90 * 60),
            job_run_time: Duration::from_millis(400),
            paging_cap: PAGING_CAP,
            variant: GenesysVariant::default(),
            restore_delay: DEFAULT_RESTORE_DELAY,
        }
    }
}

/// Default of [`GenesysSimConfig::restore_delay`] (and of `simulate --restore-delay`).
pub const DEFAULT_RESTORE_DELAY: Duration = Duration::from_secs(2);

/// Counters of what the simulator saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenesysSimStats {
    /// Requests to `/api/v2/*` (rejected ones included).
    pub api_requests: u64,
    /// Tokens issued.
    pub tokens_issued: u64,
    /// 429s sent because a token exceeded its rate.
    pub rate_limited: u64,
    /// 429s sent because the OAuth client exceeded its rate across all its tokens.
    pub org_rate_limited: u64,
    /// Faults injected.
    pub faults_injected: u64,
    /// GETs of `/api/v2/conversations/{id}/recordings` (the list route).
    pub recordings_calls: u64,
    /// Of those, the ones for conversations with no recording at all.
    pub unrecorded_recordings_calls: u64,
    /// Distinct conversations with no recording at all whose recordings list was fetched.
    pub unrecorded_conversations_fetched: u64,
    /// PUTs that asked for (or confirmed) the restoration of an archived recording.
    pub restore_requests: u64,
    /// Distinct recordings a restoration was asked for.
    pub restore_requested: u64,
    /// Of those, the ones RESTORED now.
    pub restored: u64,
    /// Restore PUTs refused with 403 (fault `restore-forbidden`).
    pub restore_forbidden: u64,
}

impl GenesysSimStats {
    /// Both counts added, field by field (several orgs' together).
    pub fn plus(self, other: Self) -> Self {
        GenesysSimStats {
            api_requests: self.api_requests + other.api_requests,
            tokens_issued: self.tokens_issued + other.tokens_issued,
            rate_limited: self.rate_limited + other.rate_limited,
            org_rate_limited: self.org_rate_limited + other.org_rate_limited,
            faults_injected: self.faults_injected + other.faults_injected,
            recordings_calls: self.recordings_calls + other.recordings_calls,
            unrecorded_recordings_calls: self.unrecorded_recordings_calls
                + other.unrecorded_recordings_calls,
            unrecorded_conversations_fetched: self.unrecorded_conversations_fetched
                + other.unrecorded_conversations_fetched,
            restore_requests: self.restore_requests + other.restore_requests,
            restore_requested: self.restore_requested + other.restore_requested,
            restored: self.restored + other.restored,
            restore_forbidden: self.restore_forbidden + other.restore_forbidden,
        }
    }
}

struct TokenEntry {
    expires_at: Instant,
    limiter: Option<RateLimit>,
}

struct Job {
    submitted: Instant,
    results: Arc<Vec<u32>>,
    cancelled: bool,
    data_availability: Timestamp,
}

struct Batch {
    submitted: Instant,
    items: Vec<(String, Option<String>)>,
}

struct SimState {
    dataset: Arc<Dataset>,
    by_id: HashMap<Uuid, u32>,
    config: GenesysSimConfig,
    faults: Arc<Faults>,
    tokens: Mutex<HashMap<String, TokenEntry>>,
    jobs: Mutex<HashMap<String, Job>>,
    batches: Mutex<HashMap<String, Batch>>,
    transcoding: Mutex<HashMap<Uuid, Instant>>,
    query_cache: Mutex<HashMap<String, Arc<Vec<u32>>>>,
    api_requests: AtomicU64,
    tokens_issued: AtomicU64,
    rate_limited: AtomicU64,
    org_rate_limited: AtomicU64,
    /// The OAuth client's limit across all its tokens (locked after `tokens`).
    org_limit: Option<Mutex<RateLimit>>,
    /// Per second: requests the limits let through and 429s (`/sim/rates`).
    rates: RateLog,
    recordings_calls: AtomicU64,
    unrecorded_recordings_calls: AtomicU64,
    unrecorded_fetched: Mutex<HashSet<Uuid>>,
    restorations: Arc<Restorations>,
    /// Every request received (`/sim/requests`).
    requests: Arc<RequestLog>,
}

impl SimState {
    /// `recording` as served now (a restoration may have changed its seeded state).
    fn live(&self, recording: &SimRecording) -> LiveFile {
        self.restorations.live(recording)
    }
}

/// The Genesys simulator: build it, take its [`router`](GenesysSim::router), serve that.
#[derive(Clone)]
pub struct GenesysSim {
    state: Arc<SimState>,
}

/// A Genesys `ErrorBody` response with a fresh correlation id in the body and the header.
pub fn genesys_error(status: StatusCode, code: &str, message: &str) -> Response {
    let context_id = Uuid::new_v4().to_string();
    let body = json!({
        "message": message,
        "code": code,
        "status": status.as_u16(),
        "contextId": context_id,
        "details": [],
        "errors": [],
    });
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&context_id) {
        response.headers_mut().insert("ININ-Correlation-Id", value);
    }
    response
}

fn bad_request(message: &str) -> Response {
    genesys_error(StatusCode::BAD_REQUEST, "bad.request", message)
}

fn not_found(message: &str) -> Response {
    genesys_error(StatusCode::NOT_FOUND, "not.found", message)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Under `retry-after-202`, tells the client when to come back: whole seconds until ready,
/// rounded up, at least 1. No Retry-After on 202s is documented, so the default sends none.
fn accepted(state: &SimState, mut response: Response, remaining: Duration) -> Response {
    if state.config.variant.retry_after_202 {
        let seconds = remaining.as_secs_f64().ceil().max(1.0) as u64;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// A token-endpoint error (400) in the variant's shape: `description` (observed),
/// `error_description` (RFC 6749) or both.
fn oauth_error(state: &SimState, error: &str, description: &str) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("error".into(), json!(error));
    let (plain, rfc) = match state.config.variant.oauth_error {
        OAuthError::Description => (true, false),
        OAuthError::ErrorDescription => (false, true),
        OAuthError::Both => (true, true),
    };
    if plain {
        body.insert("description".into(), json!(description));
    }
    if rfc {
        body.insert("error_description".into(), json!(description));
    }
    json_response(StatusCode::BAD_REQUEST, Value::Object(body))
}

/// The body of a page without conversations, in the variant's shape. `total_hits` is None where
/// the endpoint has no such field (job results, lookups by id).
fn empty_page(state: &SimState, total_hits: Option<usize>) -> serde_json::Map<String, Value> {
    let mut body = serde_json::Map::new();
    match state.config.variant.empty_page {
        EmptyPage::TotalHits => {
            if let Some(total) = total_hits {
                body.insert("totalHits".into(), json!(total));
            }
        }
        EmptyPage::Bare => {}
        EmptyPage::EmptyList => {
            body.insert("conversations".into(), json!([]));
        }
    }
    body
}

impl GenesysSim {
    /// A simulator serving `dataset`.
    pub fn new(dataset: Arc<Dataset>, config: GenesysSimConfig, faults: Arc<Faults>) -> Self {
        let by_id = dataset
            .conversations
            .iter()
            .map(|c| (c.id, c.index))
            .collect();
        let restorations = Arc::new(Restorations::new(config.restore_delay));
        let org_limit = config
            .org_rate_limit
            .and_then(NonZeroU32::new)
            .map(|rpm| Mutex::new(RateLimit::per_minute(rpm)));
        GenesysSim {
            state: Arc::new(SimState {
                dataset,
                by_id,
                config,
                faults,
                tokens: Mutex::default(),
                jobs: Mutex::default(),
                batches: Mutex::default(),
                transcoding: Mutex::default(),
                query_cache: Mutex::default(),
                api_requests: AtomicU64::new(0),
                tokens_issued: AtomicU64::new(0),
                rate_limited: AtomicU64::new(0),
                org_rate_limited: AtomicU64::new(0),
                org_limit,
                rates: RateLog::new(Timestamp::now().as_second()),
                recordings_calls: AtomicU64::new(0),
                unrecorded_recordings_calls: AtomicU64::new(0),
                unrecorded_fetched: Mutex::default(),
                restorations,
                requests: Arc::default(),
            }),
        }
    }

    /// What the simulator has seen so far.
    pub fn stats(&self) -> GenesysSimStats {
        let restore = self.state.restorations.counts();
        GenesysSimStats {
            api_requests: self.state.api_requests.load(Ordering::Relaxed),
            tokens_issued: self.state.tokens_issued.load(Ordering::Relaxed),
            rate_limited: self.state.rate_limited.load(Ordering::Relaxed),
            org_rate_limited: self.state.org_rate_limited.load(Ordering::Relaxed),
            faults_injected: self.state.faults.injected(),
            recordings_calls: self.state.recordings_calls.load(Ordering::Relaxed),
            unrecorded_recordings_calls: self
                .state
                .unrecorded_recordings_calls
                .load(Ordering::Relaxed),
            unrecorded_conversations_fetched: self.state.unrecorded_fetched.lock().len() as u64,
            restore_requests: restore.requests,
            restore_requested: restore.requested,
            restored: restore.restored,
            restore_forbidden: restore.forbidden,
        }
    }

    /// Per second since it started (the last hour at most), what its OAuth client's requests met
    /// at the rate limits.
    pub fn rates(&self) -> RateSeries {
        self.state.rates.snapshot(Timestamp::now().as_second())
    }

    /// [`rates`](Self::rates) keyed by the client id, as `GET /sim/rates` serves them.
    pub fn client_rates(&self) -> ClientRates {
        ClientRates::from([(self.state.config.client_id.clone(), self.rates())])
    }

    /// The OAuth client id it accepts (its org's).
    pub fn client_id(&self) -> &str {
        &self.state.config.client_id
    }

    /// The dataset it serves.
    pub fn dataset(&self) -> &Arc<Dataset> {
        &self.state.dataset
    }

    /// Whether it issued `token` (expired or not).
    fn holds_token(&self, token: &str) -> bool {
        self.state.tokens.lock().contains_key(token)
    }

    /// Whether the conversation `id` is in its dataset.
    fn serves(&self, id: Uuid) -> bool {
        self.state.by_id.contains_key(&id)
    }

    /// The restorations asked of it (ground truth of what was restored).
    pub fn restorations(&self) -> &Arc<Restorations> {
        &self.state.restorations
    }

    /// The requests received so far, per route and per conversation named.
    pub fn requests(&self) -> RequestCounts {
        self.state.requests.snapshot()
    }

    /// The fault state (tests force faults through it).
    pub fn faults(&self) -> &Arc<Faults> {
        &self.state.faults
    }

    /// All routes: `/oauth/token`, `/api/v2/...` and the simulator's own `/sim/...`.
    pub fn router(&self) -> Router {
        let state = self.state.clone();
        let api = Router::new()
            .route("/api/v2/tokens/me", get(tokens_me))
            .route(
                "/api/v2/analytics/conversations/details/query",
                post(details_query),
            )
            .route(
                "/api/v2/analytics/conversations/details",
                get(details_by_ids),
            )
            .route(
                "/api/v2/analytics/conversations/{conversation_id}/details",
                get(details_one),
            )
            .route(
                "/api/v2/analytics/conversations/details/jobs",
                post(job_submit),
            )
            .route(
                "/api/v2/analytics/conversations/details/jobs/availability",
                get(job_availability),
            )
            .route(
                "/api/v2/analytics/conversations/details/jobs/{job_id}",
                get(job_status).delete(job_cancel),
            )
            .route(
                "/api/v2/analytics/conversations/details/jobs/{job_id}/results",
                get(job_results),
            )
            .route(
                "/api/v2/conversations/{conversation_id}/recordingmetadata",
                get(metadata_list),
            )
            .route(
                "/api/v2/conversations/{conversation_id}/recordingmetadata/{recording_id}",
                get(metadata_one),
            )
            .route(
                "/api/v2/conversations/{conversation_id}/recordings",
                get(recordings_list),
            )
            .route(
                "/api/v2/conversations/{conversation_id}/recordings/{recording_id}",
                get(recording_one).put(recording_update),
            )
            .route("/api/v2/recording/batchrequests", post(batch_submit))
            .route(
                "/api/v2/recording/batchrequests/{batch_id}",
                get(batch_status),
            )
            .fallback(|| async { not_found("The requested resource was not found.") })
            .route_layer(middleware::from_fn_with_state(
                state.clone(),
                require_bearer,
            ));
        let faulty = Router::new()
            .route("/oauth/token", post(token))
            .merge(api)
            .layer(middleware::from_fn_with_state(
                FaultLayer {
                    faults: state.faults.clone(),
                    render: genesys_error,
                    service: Service::Genesys,
                },
                fault_middleware,
            ))
            .layer(middleware::from_fn_with_state(
                state.requests.clone(),
                record_requests,
            ));
        let requests = Router::new()
            .route("/sim/requests", get(serve_requests))
            .with_state(state.requests.clone());
        Router::new()
            .merge(faulty)
            .route(
                "/sim/media/{conversation_id}/{recording_id}",
                get(media_download),
            )
            .route("/sim/faults", post(force_faults).delete(clear_faults))
            .route("/sim/genesys/stats", get(sim_stats))
            .route("/sim/rates", get(sim_rates))
            .merge(requests)
            .layer(middleware::from_fn_with_state(
                state.clone(),
                common_headers,
            ))
            .with_state(state)
    }
}

//! A faithful Genesys Cloud CX simulator (genesys-api.md section 9): OAuth client credentials,
//! bearer checks, per-token rate limits with the normalised 429, the analytics detail query and
//! jobs with their interval semantics and paging cap, recordings with transcripts, transcoding
//! 202s, batch downloads and fault injection. Plain http, token endpoint on the same origin, so
//! the official Python SDK works against it with only `configuration.host` changed.
//!
//! It serves the documented contract by default; [`GenesysVariant`] switches each UNCONFIRMED
//! item to another plausible reading.

// Validation helpers return the ready-made error Response; it is a cold path, boxing buys nothing.
#![allow(clippy::result_large_err)]

mod filters;
mod render;
#[cfg(test)]
mod tests;
mod variant;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

use self::filters::Filters;
pub use self::render::iso_ms;
pub use self::variant::{
    EmptyPage, GenesysVariant, IntervalEnd, MessagingMedia, OAuthError, VariantParseError,
};
use super::dataset::{Dataset, FileState, SimConversation};
use super::faults::{FaultLayer, Faults, RevokeToken, Service, fault_middleware};

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
}

impl Default for GenesysSimConfig {
    fn default() -> Self {
        GenesysSimConfig {
            client_id: "sim-client".to_string(),
            client_secret: "sim-secret".to_string(),
            token_lifetime: Duration::from_secs(86_399),
            rate_limit: Some(300),
            latency: Duration::ZERO,
            data_lag: Duration::from_secs(90 * 60),
            job_run_time: Duration::from_millis(400),
            paging_cap: PAGING_CAP,
            variant: GenesysVariant::default(),
        }
    }
}

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
    /// Faults injected.
    pub faults_injected: u64,
    /// GETs of `/api/v2/conversations/{id}/recordings` (the list route).
    pub recordings_calls: u64,
    /// Of those, the ones for conversations with no recording at all.
    pub unrecorded_recordings_calls: u64,
    /// Distinct conversations with no recording at all whose recordings list was fetched.
    pub unrecorded_conversations_fetched: u64,
}

struct TokenEntry {
    expires_at: Instant,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
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
    recordings_calls: AtomicU64,
    unrecorded_recordings_calls: AtomicU64,
    unrecorded_fetched: Mutex<HashSet<Uuid>>,
}

/// The Genesys simulator: build it, take its [`router`](GenesysSim::router), serve that.
#[derive(Clone)]
pub struct GenesysSim {
    state: Arc<SimState>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
                recordings_calls: AtomicU64::new(0),
                unrecorded_recordings_calls: AtomicU64::new(0),
                unrecorded_fetched: Mutex::default(),
            }),
        }
    }

    /// What the simulator has seen so far.
    pub fn stats(&self) -> GenesysSimStats {
        GenesysSimStats {
            api_requests: self.state.api_requests.load(Ordering::Relaxed),
            tokens_issued: self.state.tokens_issued.load(Ordering::Relaxed),
            rate_limited: self.state.rate_limited.load(Ordering::Relaxed),
            faults_injected: self.state.faults.injected(),
            recordings_calls: self.state.recordings_calls.load(Ordering::Relaxed),
            unrecorded_recordings_calls: self
                .state
                .unrecorded_recordings_calls
                .load(Ordering::Relaxed),
            unrecorded_conversations_fetched: lock(&self.state.unrecorded_fetched).len() as u64,
        }
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
                get(recording_one),
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
            ));
        Router::new()
            .merge(faulty)
            .route(
                "/sim/media/{conversation_id}/{recording_id}",
                get(media_download),
            )
            .route("/sim/faults", post(force_faults).delete(clear_faults))
            .route("/sim/genesys/stats", get(sim_stats))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                common_headers,
            ))
            .with_state(state)
    }
}

/// Latency, `ININ-Correlation-Id` and `Content-Type` on every response.
async fn common_headers(
    State(state): State<Arc<SimState>>,
    request: Request,
    next: Next,
) -> Response {
    if !state.config.latency.is_zero() {
        tokio::time::sleep(state.config.latency).await;
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key("ININ-Correlation-Id")
        && let Ok(value) = HeaderValue::from_str(&Uuid::new_v4().to_string())
    {
        headers.insert("ININ-Correlation-Id", value);
    }
    if response.status() != StatusCode::NO_CONTENT
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    response
}

/// Bearer check and per-token rate limit for `/api/v2/*`.
async fn require_bearer(
    State(state): State<Arc<SimState>>,
    request: Request,
    next: Next,
) -> Response {
    state.api_requests.fetch_add(1, Ordering::Relaxed);
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let Some(bearer) = bearer else {
        return genesys_error(
            StatusCode::UNAUTHORIZED,
            "authentication.required",
            "No authentication bearer token specified in authorization header.",
        );
    };
    let revoke = request.extensions().get::<RevokeToken>().is_some();
    let limiter = {
        let mut tokens = lock(&state.tokens);
        let valid = tokens
            .get(&bearer)
            .is_some_and(|t| t.expires_at > Instant::now());
        if !valid || revoke {
            tokens.remove(&bearer);
            return genesys_error(
                StatusCode::UNAUTHORIZED,
                "bad.credentials",
                "Invalid login credentials.",
            );
        }
        tokens.get(&bearer).and_then(|t| t.limiter.clone())
    };
    if let Some(limiter) = limiter
        && let Err(not_until) = limiter.check()
    {
        state.rate_limited.fetch_add(1, Ordering::Relaxed);
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut response = genesys_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too.many.requests.retry.after",
            &format!("Rate limit exceeded the maximum. Retry the request in [{seconds}] seconds"),
        );
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        if let Some(rpm) = state.config.rate_limit {
            headers.insert("inin-ratelimit-allowed", HeaderValue::from(rpm));
            headers.insert("inin-ratelimit-count", HeaderValue::from(rpm));
            headers.insert("inin-ratelimit-reset", HeaderValue::from(seconds));
        }
        return response;
    }
    next.run(request).await
}

#[derive(Deserialize, Default)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// `POST /oauth/token`: Basic auth or body credentials, form-encoded client_credentials grant.
async fn token(
    State(state): State<Arc<SimState>>,
    Query(query): Query<TokenForm>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: TokenForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let grant = form.grant_type.clone().or(query.grant_type);
    if grant.as_deref() != Some("client_credentials") {
        return oauth_error(&state, "unsupported_grant_type", "grant type not supported");
    }
    let credentials =
        basic_credentials(&headers).or_else(|| Some((form.client_id?, form.client_secret?)));
    let Some((id, secret)) = credentials else {
        return oauth_error(&state, "invalid_client", "client not found");
    };
    if id != state.config.client_id || secret != state.config.client_secret {
        return oauth_error(&state, "invalid_client", "authentication failed");
    }
    let lifetime = state
        .faults
        .token_expiry()
        .unwrap_or(state.config.token_lifetime);
    let access_token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let limiter = state
        .config
        .rate_limit
        .and_then(NonZeroU32::new)
        .map(|rpm| {
            // Some slack over the steady rate, as a real limiter counting per minute would allow.
            let burst = NonZeroU32::new(rpm.get().div_ceil(6)).unwrap_or(NonZeroU32::MIN);
            Arc::new(RateLimiter::direct(
                Quota::per_minute(rpm).allow_burst(burst),
            ))
        });
    lock(&state.tokens).insert(
        access_token.clone(),
        TokenEntry {
            expires_at: Instant::now() + lifetime,
            limiter,
        },
    );
    state.tokens_issued.fetch_add(1, Ordering::Relaxed);
    json_response(
        StatusCode::OK,
        json!({"access_token": access_token, "token_type": "bearer", "expires_in": lifetime.as_secs()}),
    )
}

async fn tokens_me(State(state): State<Arc<SimState>>) -> Response {
    json_response(
        StatusCode::OK,
        json!({"name": state.config.client_id, "organization": {"name": state.dataset.config.tenant}}),
    )
}

/// Parses `start/end`; the end must be after the start.
fn parse_interval(value: Option<&Value>) -> Result<(Timestamp, Timestamp), Response> {
    let text = value
        .and_then(Value::as_str)
        .ok_or_else(|| bad_request("interval is required"))?;
    let (start, end) = text.split_once('/').ok_or_else(|| {
        genesys_error(StatusCode::BAD_REQUEST, "invalid.date", "Invalid interval")
    })?;
    let start: Timestamp = start.parse().map_err(|_| {
        genesys_error(
            StatusCode::BAD_REQUEST,
            "invalid.date",
            "Invalid interval start",
        )
    })?;
    let end: Timestamp = end.parse().map_err(|_| {
        genesys_error(
            StatusCode::BAD_REQUEST,
            "invalid.date",
            "Invalid interval end",
        )
    })?;
    if start >= end {
        return Err(genesys_error(
            StatusCode::BAD_REQUEST,
            "invalid.date",
            "Interval start must be before its end",
        ));
    }
    Ok((start, end))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Matching {
    /// The query's rule: started on a UTC day the interval touches, and alive in the interval.
    StartDayAndOverlap,
    /// The jobs' default rule: alive in the interval.
    Overlap,
}

struct ParsedQuery {
    interval: (Timestamp, Timestamp),
    filters: Filters,
    descending: bool,
    by_end: bool,
    cache_key: String,
}

fn parse_query(body: &Value) -> Result<ParsedQuery, Response> {
    if !body.is_object() {
        return Err(bad_request("The request body must be a JSON object"));
    }
    let interval = parse_interval(body.get("interval"))?;
    let filters = Filters::parse(body).map_err(|err| bad_request(&err.0))?;
    let descending = match body.get("order").and_then(Value::as_str) {
        None | Some("asc") | Some("unordered") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(genesys_error(
                StatusCode::BAD_REQUEST,
                "invalid.value",
                &format!("Invalid value for order: {other}"),
            ));
        }
    };
    let by_end = match body.get("orderBy").and_then(Value::as_str) {
        None | Some("conversationStart") | Some("segmentStart") => false,
        Some("conversationEnd") | Some("segmentEnd") => true,
        Some(other) => {
            return Err(genesys_error(
                StatusCode::BAD_REQUEST,
                "invalid.value",
                &format!("Invalid value for orderBy: {other}"),
            ));
        }
    };
    let cache_key = format!(
        "{}|{}|{}|{}|{descending}|{by_end}",
        interval.0,
        interval.1,
        body.get("conversationFilters")
            .map(Value::to_string)
            .unwrap_or_default(),
        body.get("segmentFilters")
            .map(Value::to_string)
            .unwrap_or_default(),
    );
    Ok(ParsedQuery {
        interval,
        filters,
        descending,
        by_end,
        cache_key,
    })
}

fn day_start(ts: Timestamp) -> Timestamp {
    let zoned = ts.to_zoned(jiff::tz::TimeZone::UTC);
    zoned.start_of_day().map(|z| z.timestamp()).unwrap_or(ts)
}

impl SimState {
    /// Indexes of the conversations a query or job matches, sorted as asked.
    fn matching(
        &self,
        query: &ParsedQuery,
        matching: Matching,
        lake_cutoff: Option<Timestamp>,
    ) -> Vec<u32> {
        let conversations = &self.dataset.conversations;
        let (start, end) = query.interval;
        let now = Timestamp::now();
        let variant = &self.config.variant;
        let inclusive = variant.interval_end == IntervalEnd::Inclusive;
        let low = match matching {
            Matching::StartDayAndOverlap => {
                conversations.partition_point(|c| c.start < day_start(start))
            }
            Matching::Overlap => 0,
        };
        let high = if inclusive {
            conversations.partition_point(|c| c.start <= end)
        } else {
            conversations.partition_point(|c| c.start < end)
        };
        let mut found: Vec<u32> = conversations[low.min(high)..high]
            .iter()
            .filter(|c| {
                let lifetime_end = c.end.unwrap_or(now);
                if inclusive {
                    lifetime_end >= start
                } else {
                    lifetime_end > start
                }
            })
            .filter(|c| match lake_cutoff {
                // The data lake has only conversations that were over by its availability date.
                Some(cutoff) => c.start < cutoff && c.end.is_some_and(|e| e <= cutoff),
                None => true,
            })
            .filter(|c| query.filters.matches(&self.dataset, c, variant))
            .map(|c| c.index)
            .collect();
        if query.by_end {
            found.sort_by_key(|i| conversations[*i as usize].end.unwrap_or(Timestamp::MAX));
        }
        if query.descending {
            found.reverse();
        }
        found
    }

    fn cached_matching(&self, query: &ParsedQuery) -> Arc<Vec<u32>> {
        if let Some(hit) = lock(&self.query_cache).get(&query.cache_key) {
            return hit.clone();
        }
        let found = Arc::new(self.matching(query, Matching::StartDayAndOverlap, None));
        let mut cache = lock(&self.query_cache);
        if cache.len() >= 256 {
            cache.clear();
        }
        cache.insert(query.cache_key.clone(), found.clone());
        found
    }

    fn conversation(&self, id: &str) -> Option<&SimConversation> {
        let id: Uuid = id.parse().ok()?;
        self.by_id
            .get(&id)
            .map(|i| &self.dataset.conversations[*i as usize])
    }

    fn data_availability(&self) -> Timestamp {
        let lag = SignedDuration::try_from(self.config.data_lag).unwrap_or(SignedDuration::ZERO);
        Timestamp::now() - lag
    }
}

fn parse_body(body: &Bytes) -> Result<Value, Response> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(genesys_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.entity.too.large",
            &format!("The request is too large. Maximum bytes: {MAX_REQUEST_BYTES}"),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|err| bad_request(&format!("Unable to parse the request body: {err}")))
}

/// `POST /api/v2/analytics/conversations/details/query`.
async fn details_query(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let query = match parse_query(&body) {
        Ok(query) => query,
        Err(response) => return response,
    };
    let paging = body.get("paging");
    let page_size = paging
        .and_then(|p| p.get("pageSize"))
        .map(|v| v.as_i64().unwrap_or(-1))
        .unwrap_or(25);
    let page_number = paging
        .and_then(|p| p.get("pageNumber"))
        .map(|v| v.as_i64().unwrap_or(-1))
        .unwrap_or(1);
    if !(1..=100).contains(&page_size) {
        return bad_request("pageSize must be between 1 and 100");
    }
    if page_number < 1 {
        return bad_request("pageNumber must be 1 or more");
    }
    let (page_size, page_number) = (page_size as usize, page_number as usize);
    if page_number * page_size > state.config.paging_cap {
        return bad_request(&format!(
            "Pagination may not exceed {} results.",
            state.config.paging_cap
        ));
    }
    let found = state.cached_matching(&query);
    let from = (page_number - 1) * page_size;
    let page: Vec<Value> = found
        .iter()
        .skip(from)
        .take(page_size)
        .map(|i| {
            render::conversation(
                &state.dataset,
                &state.dataset.conversations[*i as usize],
                false,
                &state.config.variant,
            )
        })
        .collect();
    if page.is_empty() {
        return json_response(
            StatusCode::OK,
            Value::Object(empty_page(&state, Some(found.len()))),
        );
    }
    json_response(
        StatusCode::OK,
        json!({"conversations": page, "totalHits": found.len()}),
    )
}

async fn details_one(
    State(state): State<Arc<SimState>>,
    Path(conversation_id): Path<String>,
) -> Response {
    match state.conversation(&conversation_id) {
        Some(c) => json_response(
            StatusCode::OK,
            render::conversation(&state.dataset, c, false, &state.config.variant),
        ),
        None => not_found(&format!("Conversation {conversation_id} not found")),
    }
}

#[derive(Deserialize)]
struct IdsQuery {
    id: Option<String>,
}

async fn details_by_ids(
    State(state): State<Arc<SimState>>,
    Query(query): Query<IdsQuery>,
) -> Response {
    let ids = query.id.unwrap_or_default();
    let conversations: Vec<Value> = ids
        .split(',')
        .filter_map(|id| state.conversation(id.trim()))
        .map(|c| render::conversation(&state.dataset, c, false, &state.config.variant))
        .collect();
    if conversations.is_empty() {
        return json_response(StatusCode::OK, Value::Object(empty_page(&state, None)));
    }
    json_response(StatusCode::OK, json!({"conversations": conversations}))
}

/// `POST .../details/jobs`: results are fixed at submission, from the data lake's view.
async fn job_submit(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let query = match parse_query(&body) {
        Ok(query) => query,
        Err(response) => return response,
    };
    let start_of_day = body
        .get("startOfDayIntervalMatching")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let matching = if start_of_day {
        Matching::StartDayAndOverlap
    } else {
        Matching::Overlap
    };
    let cutoff = state.data_availability();
    let mut results = state.matching(&query, matching, Some(cutoff));
    if let Some(limit) = body.get("limit").and_then(Value::as_u64) {
        results.truncate(limit as usize);
    }
    let job_id = Uuid::new_v4().to_string();
    let run_time = state.config.job_run_time;
    lock(&state.jobs).insert(
        job_id.clone(),
        Job {
            submitted: Instant::now(),
            results: Arc::new(results),
            cancelled: false,
            data_availability: cutoff,
        },
    );
    accepted(
        &state,
        json_response(StatusCode::ACCEPTED, json!({"jobId": job_id})),
        run_time,
    )
}

fn job_state(state: &SimState, job: &Job) -> &'static str {
    if job.cancelled {
        return "CANCELLED";
    }
    let elapsed = job.submitted.elapsed();
    if elapsed < state.config.job_run_time / 3 {
        "QUEUED"
    } else if elapsed < state.config.job_run_time {
        "PENDING"
    } else if elapsed > Duration::from_secs(3600) {
        "EXPIRED"
    } else {
        "FULFILLED"
    }
}

async fn job_status(State(state): State<Arc<SimState>>, Path(job_id): Path<String>) -> Response {
    let jobs = lock(&state.jobs);
    let Some(job) = jobs.get(&job_id) else {
        return not_found(&format!("Job {job_id} not found"));
    };
    let job_state = job_state(&state, job);
    let submitted = Timestamp::now()
        - SignedDuration::try_from(job.submitted.elapsed()).unwrap_or(SignedDuration::ZERO);
    let mut body = json!({
        "state": job_state,
        "submissionDate": iso_ms(submitted),
        "expirationDate": iso_ms(submitted + 1.hour()),
    });
    if job_state == "FULFILLED"
        && let Some(map) = body.as_object_mut()
    {
        let run =
            SignedDuration::try_from(state.config.job_run_time).unwrap_or(SignedDuration::ZERO);
        map.insert("completionDate".into(), json!(iso_ms(submitted + run)));
    }
    if matches!(job_state, "QUEUED" | "PENDING") {
        let remaining = state
            .config
            .job_run_time
            .saturating_sub(job.submitted.elapsed());
        return accepted(&state, json_response(StatusCode::ACCEPTED, body), remaining);
    }
    json_response(StatusCode::OK, body)
}

async fn job_cancel(State(state): State<Arc<SimState>>, Path(job_id): Path<String>) -> Response {
    match lock(&state.jobs).get_mut(&job_id) {
        Some(job) => {
            job.cancelled = true;
            StatusCode::NO_CONTENT.into_response()
        }
        None => not_found(&format!("Job {job_id} not found")),
    }
}

async fn job_availability(State(state): State<Arc<SimState>>) -> Response {
    json_response(
        StatusCode::OK,
        json!({"dataAvailabilityDate": iso_ms(state.data_availability())}),
    )
}

#[derive(Deserialize)]
struct ResultsQuery {
    cursor: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<String>,
}

async fn job_results(
    State(state): State<Arc<SimState>>,
    Path(job_id): Path<String>,
    Query(query): Query<ResultsQuery>,
) -> Response {
    let (results, availability) = {
        let jobs = lock(&state.jobs);
        let Some(job) = jobs.get(&job_id) else {
            return not_found(&format!("Job {job_id} not found"));
        };
        let job_state = job_state(&state, job);
        if job_state != "FULFILLED" {
            return bad_request(&format!(
                "Job {job_id} is {job_state}; results are available once it is FULFILLED"
            ));
        }
        (job.results.clone(), job.data_availability)
    };
    let page_size = match query.page_size.as_deref().map(str::parse::<usize>) {
        None => 1000,
        Some(Ok(size)) if (1..=1000).contains(&size) => size,
        Some(_) => return bad_request("pageSize must be between 1 and 1000"),
    };
    let offset = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => 0,
        Some(cursor) => match cursor
            .strip_prefix("c1.")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(offset) => offset,
            None => return bad_request("Invalid cursor"),
        },
    };
    let page: Vec<Value> = results
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|i| {
            render::conversation(
                &state.dataset,
                &state.dataset.conversations[*i as usize],
                true,
                &state.config.variant,
            )
        })
        .collect();
    let next = offset + page.len();
    let mut body = if page.is_empty() {
        // Job results have no totalHits; only the empty-list reading adds a key.
        empty_page(&state, None)
    } else {
        let mut body = serde_json::Map::new();
        body.insert("conversations".into(), Value::Array(page));
        body
    };
    if next < results.len() {
        body.insert("cursor".into(), json!(format!("c1.{next}")));
    }
    body.insert("dataAvailabilityDate".into(), json!(iso_ms(availability)));
    json_response(StatusCode::OK, Value::Object(body))
}

async fn metadata_list(
    State(state): State<Arc<SimState>>,
    Path(conversation_id): Path<String>,
) -> Response {
    let Some(c) = state.conversation(&conversation_id) else {
        return not_found(&format!("Conversation {conversation_id} not found"));
    };
    let list: Vec<Value> = c
        .recordings
        .iter()
        .map(|r| render::recording_metadata(c, r, &state.config.variant))
        .collect();
    json_response(StatusCode::OK, Value::Array(list))
}

async fn metadata_one(
    State(state): State<Arc<SimState>>,
    Path((conversation_id, recording_id)): Path<(String, String)>,
) -> Response {
    let Some(c) = state.conversation(&conversation_id) else {
        return not_found(&format!("Conversation {conversation_id} not found"));
    };
    match c
        .recordings
        .iter()
        .find(|r| r.id.to_string() == recording_id)
    {
        Some(r) => json_response(
            StatusCode::OK,
            render::recording_metadata(c, r, &state.config.variant),
        ),
        None => not_found(&format!("Recording {recording_id} not found")),
    }
}

#[derive(Deserialize)]
struct RecordingsQuery {
    #[serde(rename = "maxWaitMs")]
    max_wait_ms: Option<String>,
}

/// Whether the conversation's recordings are ready, waiting up to `max_wait` for them: `Err`
/// holds how long transcoding still takes.
async fn transcoded(
    state: &SimState,
    conversation: Uuid,
    max_wait: Duration,
) -> Result<(), Duration> {
    let ready_at = {
        let mut transcoding = lock(&state.transcoding);
        *transcoding.entry(conversation).or_insert_with(|| {
            if state.faults.roll_transcode() {
                Instant::now() + state.faults.transcode_time()
            } else {
                Instant::now()
            }
        })
    };
    let now = Instant::now();
    if ready_at <= now {
        return Ok(());
    }
    let remaining = ready_at - now;
    if max_wait >= remaining {
        tokio::time::sleep(remaining).await;
        Ok(())
    } else {
        tokio::time::sleep(max_wait).await;
        Err(ready_at.saturating_duration_since(Instant::now()))
    }
}

fn max_wait(query: &RecordingsQuery) -> Duration {
    let ms = query
        .max_wait_ms
        .as_deref()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(5000);
    Duration::from_millis(ms.min(10_000))
}

fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

async fn recordings_list(
    State(state): State<Arc<SimState>>,
    Path(conversation_id): Path<String>,
    Query(query): Query<RecordingsQuery>,
    headers: HeaderMap,
) -> Response {
    state.recordings_calls.fetch_add(1, Ordering::Relaxed);
    let Some(c) = state.conversation(&conversation_id) else {
        return not_found(&format!("Conversation {conversation_id} not found"));
    };
    if c.recordings.is_empty() {
        // Ground truth for the client's cost of asking about unrecorded conversations.
        state
            .unrecorded_recordings_calls
            .fetch_add(1, Ordering::Relaxed);
        lock(&state.unrecorded_fetched).insert(c.id);
        return json_response(StatusCode::OK, json!([]));
    }
    if let Err(remaining) = transcoded(&state, c.id, max_wait(&query)).await {
        // "Success - recording is transcoding": no body schema.
        return accepted(&state, StatusCode::ACCEPTED.into_response(), remaining);
    }
    let origin = origin(&headers);
    let list: Vec<Value> = c
        .recordings
        .iter()
        .map(|r| render::recording(&state.dataset, c, r, &origin, &state.config.variant))
        .collect();
    json_response(StatusCode::OK, Value::Array(list))
}

async fn recording_one(
    State(state): State<Arc<SimState>>,
    Path((conversation_id, recording_id)): Path<(String, String)>,
    Query(query): Query<RecordingsQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(c) = state.conversation(&conversation_id) else {
        return not_found(&format!("Conversation {conversation_id} not found"));
    };
    let Some(r) = c
        .recordings
        .iter()
        .find(|r| r.id.to_string() == recording_id)
    else {
        return not_found(&format!("Recording {recording_id} not found"));
    };
    if let Err(remaining) = transcoded(&state, c.id, max_wait(&query)).await {
        return accepted(
            &state,
            json_response(
                StatusCode::ACCEPTED,
                json!({"id": r.id.to_string(), "conversationId": c.id.to_string()}),
            ),
            remaining,
        );
    }
    json_response(
        StatusCode::OK,
        render::recording(
            &state.dataset,
            c,
            r,
            &origin(&headers),
            &state.config.variant,
        ),
    )
}

async fn batch_submit(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(list) = body
        .get("batchDownloadRequestList")
        .and_then(Value::as_array)
    else {
        return bad_request("batchDownloadRequestList is required");
    };
    if list.is_empty() || list.len() > 100 {
        return bad_request("batchDownloadRequestList must hold 1 to 100 items");
    }
    let mut items = Vec::with_capacity(list.len());
    for item in list {
        let Some(conversation_id) = item.get("conversationId").and_then(Value::as_str) else {
            return bad_request("Every item needs a conversationId");
        };
        items.push((
            conversation_id.to_string(),
            item.get("recordingId")
                .and_then(Value::as_str)
                .map(str::to_string),
        ));
    }
    let id = Uuid::new_v4().to_string();
    lock(&state.batches).insert(
        id.clone(),
        Batch {
            submitted: Instant::now(),
            items,
        },
    );
    json_response(
        StatusCode::OK,
        json!({"id": id, "selfUri": format!("/api/v2/recording/batchrequests/{id}")}),
    )
}

async fn batch_status(
    State(state): State<Arc<SimState>>,
    Path(batch_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (submitted, items) = {
        let batches = lock(&state.batches);
        let Some(batch) = batches.get(&batch_id) else {
            return not_found(&format!("Batch request {batch_id} not found"));
        };
        (batch.submitted, batch.items.clone())
    };
    let origin = origin(&headers);
    let mut results = Vec::new();
    let mut errors = 0;
    for (conversation_id, recording_id) in &items {
        let Some(c) = state.conversation(conversation_id) else {
            errors += 1;
            results.push(json!({"conversationId": conversation_id, "recordingId": recording_id, "errorMsg": "Conversation not found"}));
            continue;
        };
        for r in c.recordings.iter().filter(|r| {
            recording_id
                .as_ref()
                .is_none_or(|id| *id == r.id.to_string())
        }) {
            if r.file_state == FileState::Available {
                results.push(json!({
                    "conversationId": c.id.to_string(),
                    "recordingId": r.id.to_string(),
                    "resultUrl": format!("{origin}/sim/media/{}/{}", c.id, r.id),
                    "contentType": "application/json",
                }));
            } else {
                errors += 1;
                results.push(json!({"conversationId": c.id.to_string(), "recordingId": r.id.to_string(), "errorMsg": format!("Recording is {}", r.file_state.as_str())}));
            }
        }
    }
    let expected = results.len();
    let completed = submitted.elapsed() >= state.config.job_run_time;
    let shown: Vec<Value> = if completed { results } else { Vec::new() };
    json_response(
        StatusCode::OK,
        json!({
            "id": batch_id,
            "jobId": batch_id,
            "expectedResultCount": expected,
            "resultCount": shown.len(),
            "errorCount": if completed { errors } else { 0 },
            "status": if completed { "Completed" } else { "InProgress" },
            "results": shown,
            "selfUri": format!("/api/v2/recording/batchrequests/{batch_id}"),
        }),
    )
}

/// The "pre-signed" download URL of a batch result or a `mediaUris` entry: the recording as JSON.
async fn media_download(
    State(state): State<Arc<SimState>>,
    Path((conversation_id, recording_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(c) = state.conversation(&conversation_id) else {
        return not_found("Not found");
    };
    match c
        .recordings
        .iter()
        .find(|r| r.id.to_string() == recording_id && r.file_state == FileState::Available)
    {
        Some(r) => json_response(
            StatusCode::OK,
            render::recording(
                &state.dataset,
                c,
                r,
                &origin(&headers),
                &state.config.variant,
            ),
        ),
        None => not_found("Not found"),
    }
}

#[derive(Deserialize)]
struct ForceFaults {
    kind: String,
    count: Option<u32>,
}

/// `POST /sim/faults {"kind":"429","count":2}`: the next requests fail that way (tests).
async fn force_faults(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<ForceFaults>(&body) else {
        return bad_request("expected {\"kind\": \"429\", \"count\": 1}");
    };
    let Some(kind) = super::faults::FaultKind::parse(&request.kind) else {
        return bad_request(&format!("unknown fault kind {}", request.kind));
    };
    state.faults.force(kind, request.count.unwrap_or(1));
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(state): State<Arc<SimState>>) -> Response {
    state.faults.clear_forced();
    StatusCode::NO_CONTENT.into_response()
}

async fn sim_stats(State(state): State<Arc<SimState>>) -> Response {
    let sim = GenesysSim { state };
    json_response(StatusCode::OK, json!(sim.stats()))
}

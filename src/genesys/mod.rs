//! Genesys Cloud CX client: OAuth client credentials, the analytics detail query and jobs, and
//! recordings with transcripts. One client = one token = one rate budget.
//!
//! Pipeline entry points:
//! - [`GenesysConfig::from_spec`] and [`GenesysClient::new`] build a client;
//! - [`GenesysClient::conversations`] streams the conversations of a slice (see [`analytics`]);
//! - [`GenesysClient::fetch_recordings`] gets a conversation's recordings as typed outcomes;
//! - [`GenesysClient::restore_recording`] asks Genesys to restore an archived recording;
//! - [`GenesysClient::counters`] gives `apiCalls.genesys` and `throttled`;
//! - [`GenesysClient::budget`] is the token's adaptive rate budget (live `set_limit`).

pub mod analytics;
mod error;
pub mod jobs;
pub mod lookup;
pub mod models;
pub mod recordings;
pub mod restore;

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method};
use serde::de::DeserializeOwned;

pub use analytics::{CollectQuery, Conversation, JobsMode, TextSession};
pub use error::GenesysError;
pub use recordings::{RecordingFile, RecordingOutcome, RecordingsFetch};

use crate::api::{GenesysBudget, GenesysEndpoint, ValidSpec};
use crate::http::{
    ApiCounters, ApiTransport, CounterSnapshot, RateBudget, RawResponse, RetryPolicy, Secret,
    TokenSource, build_client,
};

pub use crate::api::regions::{REGIONS, region_domain};

/// Everything a client needs.
#[derive(Clone, Debug)]
pub struct GenesysConfig {
    /// REST base, e.g. `https://api.mypurecloud.ie` or `http://127.0.0.1:PORT`.
    pub api_base: String,
    /// Token URL, e.g. `https://login.mypurecloud.ie/oauth/token`.
    pub token_url: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: Secret,
    /// Request budget of this client's token (Genesys default 300/min); 0 = unlimited.
    pub requests_per_minute: u32,
    /// Only conversations of these divisions (empty = all).
    pub division_ids: Vec<String>,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Retry rules.
    pub retry: RetryPolicy,
    /// Detail-query pages fetched concurrently within one slice.
    pub page_concurrency: usize,
    /// Longest interval of one detail query (Genesys advises small intervals).
    pub max_slice: Duration,
    /// When to use async jobs instead of sync paging.
    pub jobs: JobsMode,
    /// Results the detail query pages through (Genesys: 100,000); a slice over it is split.
    pub paging_cap: u64,
    /// In `Auto`, a slice with more hits than this goes to a job (if the data lake has it).
    pub jobs_threshold: u64,
    /// How long to wait for a job before giving up.
    pub job_timeout: Duration,
    /// Recordings polls while they are transcoding (202).
    pub transcode_polls: u32,
    /// `maxWaitMs` sent with recordings requests.
    pub transcode_max_wait: Duration,
    /// Pause between transcoding polls.
    pub transcode_poll_delay: Duration,
}

impl GenesysConfig {
    fn with_urls(
        api_base: String,
        token_url: String,
        client_id: String,
        client_secret: Secret,
    ) -> Self {
        GenesysConfig {
            api_base,
            token_url,
            client_id,
            client_secret,
            requests_per_minute: 300,
            division_ids: Vec::new(),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            page_concurrency: 4,
            max_slice: Duration::from_secs(6 * 3600),
            jobs: JobsMode::Auto,
            paging_cap: analytics::PAGING_CAP,
            jobs_threshold: 10_000,
            job_timeout: Duration::from_secs(600),
            transcode_polls: 6,
            transcode_max_wait: Duration::from_millis(2000),
            transcode_poll_delay: Duration::from_millis(500),
        }
    }

    /// A client of a Genesys region (domain such as `mypurecloud.ie`, or SDK key `eu_west_1`).
    pub fn for_region(
        region: &str,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Result<Self, GenesysError> {
        let domain = region_domain(region)
            .ok_or_else(|| GenesysError::Config(format!("unknown Genesys region `{region}`")))?;
        Ok(Self::with_urls(
            format!("https://api.{domain}"),
            format!("https://login.{domain}/oauth/token"),
            client_id.into(),
            client_secret,
        ))
    }

    /// A client of an explicit API base URL (simulator, proxy); the token comes from
    /// `{base}/oauth/token`.
    pub fn for_base_url(
        base: &str,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Result<Self, GenesysError> {
        let base = base.trim().trim_end_matches('/');
        let parsed = reqwest::Url::parse(base)
            .map_err(|err| GenesysError::Config(format!("bad apiBaseUrl `{base}`: {err}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(GenesysError::Config(format!(
                "apiBaseUrl `{base}` must be http or https"
            )));
        }
        Ok(Self::with_urls(
            base.to_string(),
            format!("{base}/oauth/token"),
            client_id.into(),
            client_secret,
        ))
    }

    /// From a validated DigitalRecovery spec (its `genesys` part) and the credentials of its
    /// Secret.
    pub fn from_spec(
        spec: &ValidSpec,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Result<Self, GenesysError> {
        let mut config = match spec.genesys_endpoint() {
            GenesysEndpoint::Region(domain) => Self::for_region(domain, client_id, client_secret)?,
            GenesysEndpoint::BaseUrl(base) => Self::for_base_url(base, client_id, client_secret)?,
        };
        if config.client_id.is_empty() || config.client_secret.is_empty() {
            return Err(GenesysError::Config(
                "clientId and clientSecret must not be empty".into(),
            ));
        }
        config.division_ids = spec.genesys.division_ids.clone();
        if let Some(rpm) = spec.genesys.requests_per_minute {
            config.requests_per_minute = rpm;
        }
        Ok(config)
    }
}

struct Inner {
    config: GenesysConfig,
    transport: ApiTransport,
}

/// A Genesys Cloud client. Cheap to clone; clones share the token, budget and counters.
#[derive(Clone)]
pub struct GenesysClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GenesysClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenesysClient")
            .field("api_base", &self.inner.config.api_base)
            .field("client_id", &self.inner.config.client_id)
            .finish()
    }
}

/// Genesys' own wait hints: an exhausted `inin-ratelimit-*` window on any answer, or `[N] seconds`
/// in a 429's message when Retry-After is missing.
fn genesys_wait_hint(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let (Some(count), Some(allowed), Some(reset)) = (
        header("inin-ratelimit-count"),
        header("inin-ratelimit-allowed"),
        header("inin-ratelimit-reset"),
    ) && allowed > 0
        && count >= allowed
    {
        return Some(Duration::from_secs(reset.min(180)));
    }
    let text = std::str::from_utf8(body.get(..body.len().min(2048))?).ok()?;
    let message_pos = text.find("Retry the request in [")?;
    let rest = &text[message_pos + "Retry the request in [".len()..];
    let seconds: u64 = rest.split(']').next()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// A short printable excerpt of a body for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    message: Option<String>,
    code: Option<String>,
    context_id: Option<String>,
}

impl GenesysClient {
    /// Builds a client (no request is made until the first call).
    pub fn new(config: GenesysConfig) -> Result<Self, GenesysError> {
        let http = build_client(config.request_timeout)
            .map_err(|err| GenesysError::Config(format!("cannot build the HTTP client: {err}")))?;
        let counters = Arc::new(ApiCounters::default());
        let tokens = Arc::new(
            TokenSource::new(
                http.clone(),
                config.token_url.clone(),
                config.client_id.clone(),
                config.client_secret.clone(),
                counters.clone(),
            )
            .with_retry(config.retry.clone()),
        );
        let transport = ApiTransport {
            http,
            tokens,
            budget: RateBudget::per_minute_bursting(config.requests_per_minute),
            retry: config.retry.clone(),
            counters,
            hint: Some(genesys_wait_hint),
        };
        Ok(GenesysClient {
            inner: Arc::new(Inner { config, transport }),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &GenesysConfig {
        &self.inner.config
    }

    /// API calls made (token requests and retries included) and 429s received so far.
    pub fn counters(&self) -> CounterSnapshot {
        self.inner.transport.counters.snapshot()
    }

    /// The token's rate budget, shared by every clone: [`RateBudget::set_limit`] changes this
    /// client's rate while it runs (a worker's share of its org's budget) and
    /// [`RateBudget::current_per_minute`] shows the rate in force.
    pub fn budget(&self) -> &RateBudget {
        &self.inner.transport.budget
    }

    /// Spends a shard's share of its org's budget (`division`): the share becomes this client's
    /// limit and its opening burst is cut to the org's spare requests. Without one (not yet
    /// known) it keeps its rate but sends no opening burst: other shards of the org may be
    /// spending the budget.
    pub fn take_share(&self, division: Option<GenesysBudget>) {
        let budget = self.budget();
        match division {
            Some(division) => {
                budget.set_limit(division.shard_requests_per_minute);
                budget.cap_opening_burst(division.opening_burst());
            }
            None => budget.cap_opening_burst(0),
        }
    }

    /// The live counters, to share with a progress reporter.
    pub fn counters_handle(&self) -> Arc<ApiCounters> {
        self.inner.transport.counters.clone()
    }

    /// Sends one API request; non-2xx answers become [`GenesysError::Api`].
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<RawResponse, GenesysError> {
        let endpoint = format!("{method} {}", endpoint_template(path));
        let url = format!("{}{path}", self.inner.config.api_base);
        let response = self
            .inner
            .transport
            .send(&endpoint, |http| {
                let mut request = http
                    .request(method.clone(), &url)
                    .header(http::header::ACCEPT, "application/json");
                if !query.is_empty() {
                    request = request.query(query);
                }
                if let Some(body) = body {
                    request = request.json(body);
                }
                request
            })
            .await?;
        if response.status.is_success() {
            return Ok(response);
        }
        let parsed: Option<ErrorBody> = serde_json::from_slice(&response.body).ok();
        let header_context = response
            .headers
            .get("inin-correlation-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (message, code, context_id) = match parsed {
            Some(body) => (
                body.message.or_else(|| Some(excerpt(&response.body))),
                body.code,
                body.context_id.or(header_context),
            ),
            None => (Some(excerpt(&response.body)), None, header_context),
        };
        Err(GenesysError::Api {
            endpoint,
            status: response.status.as_u16(),
            code,
            message,
            context_id,
        })
    }

    /// Sends and decodes a JSON answer.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<(http::StatusCode, T), GenesysError> {
        let response = self.send(method.clone(), path, query, body).await?;
        let endpoint = format!("{method} {}", endpoint_template(path));
        Ok((response.status, decode(&endpoint, &response.body)?))
    }
}

/// Decodes a JSON body, with a typed error naming the endpoint for anything else. Public so that
/// the response parsers can be fuzzed.
pub fn decode<'a, T: serde::Deserialize<'a>>(
    endpoint: &str,
    body: &'a [u8],
) -> Result<T, GenesysError> {
    let trimmed = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| &body[i..])
        .unwrap_or_default();
    if trimmed.first() == Some(&b'<') {
        return Err(GenesysError::InvalidResponse {
            endpoint: endpoint.to_string(),
            reason: format!("HTML instead of JSON: {}", excerpt(trimmed)),
        });
    }
    serde_json::from_slice(body).map_err(|err| GenesysError::InvalidResponse {
        endpoint: endpoint.to_string(),
        reason: format!("{err}; body starts: {}", excerpt(body)),
    })
}

/// `/api/v2/conversations/<uuid>/recordings` -> `/api/v2/conversations/{id}/recordings`, so that
/// error messages and logs name the endpoint, not the id.
fn endpoint_template(path: &str) -> String {
    path.split('/')
        .map(|part| {
            if part.len() >= 32 && part.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                "{id}"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_region_resolves_by_key_and_domain() {
        for (key, domain) in REGIONS {
            assert_eq!(region_domain(key), Some(domain));
            assert_eq!(region_domain(domain), Some(domain));
        }
        assert_eq!(region_domain("api.mypurecloud.ie"), Some("mypurecloud.ie"));
        assert_eq!(region_domain("moon_1"), None);
        let config = GenesysConfig::for_region("eu_west_1", "id", Secret::new("s"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.api_base, "https://api.mypurecloud.ie");
        assert_eq!(config.token_url, "https://login.mypurecloud.ie/oauth/token");
    }

    #[test]
    fn a_valid_spec_gives_its_endpoint_and_budget() {
        let spec = |genesys: serde_json::Value| -> crate::api::DigitalRecoverySpec {
            serde_json::from_value(serde_json::json!({
                "tenant": "acme",
                "genesys": genesys,
                "recordingSide": {"dasUrl": "https://das", "captureUrl": "https://capture",
                                  "credentialsSecret": "v"},
                "window": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
                "mediaTypes": ["chat"]
            }))
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let valid = spec(serde_json::json!({"apiBaseUrl": "http://127.0.0.1:8080/",
                                            "credentialsSecret": "g", "requestsPerMinute": 600}))
        .validate()
        .unwrap_or_else(|e| panic!("{e}"));
        let config = GenesysConfig::from_spec(&valid, "id", Secret::new("x"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.token_url, "http://127.0.0.1:8080/oauth/token");
        assert_eq!(config.requests_per_minute, 600);
        let valid = spec(serde_json::json!({"region": "eu_west_1", "credentialsSecret": "g"}))
            .validate()
            .unwrap_or_else(|e| panic!("{e}"));
        let config = GenesysConfig::from_spec(&valid, "id", Secret::new("x"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.api_base, "https://api.mypurecloud.ie");
        assert_eq!(config.requests_per_minute, 300);
        // Empty credentials are refused before any request.
        assert!(GenesysConfig::from_spec(&valid, "", Secret::new("x")).is_err());
    }

    #[test]
    fn wait_hints() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "inin-ratelimit-count",
            "180".parse().unwrap_or_else(|e| panic!("{e}")),
        );
        headers.insert(
            "inin-ratelimit-allowed",
            "180".parse().unwrap_or_else(|e| panic!("{e}")),
        );
        headers.insert(
            "inin-ratelimit-reset",
            "12".parse().unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(
            genesys_wait_hint(&headers, b""),
            Some(Duration::from_secs(12))
        );
        let body =
            br#"{"message":"Rate limit exceeded the maximum. Retry the request in [42] seconds"}"#;
        assert_eq!(
            genesys_wait_hint(&HeaderMap::new(), body),
            Some(Duration::from_secs(42))
        );
        assert_eq!(genesys_wait_hint(&HeaderMap::new(), b"{}"), None);
    }

    #[test]
    fn endpoint_names_hide_ids() {
        assert_eq!(
            endpoint_template(
                "/api/v2/conversations/0b5c4f3e-8a1d-4c2b-9f00-1234567890ab/recordings"
            ),
            "/api/v2/conversations/{id}/recordings"
        );
    }

    #[test]
    fn decode_names_html_and_garbage() {
        let html =
            decode::<serde_json::Value>("GET /x", b"  <html><body>502</body></html>").unwrap_err();
        assert!(html.to_string().contains("GET /x") && html.to_string().contains("HTML"));
        let cut =
            decode::<serde_json::Value>("GET /x", br#"{"conversations":[{"conv"#).unwrap_err();
        assert!(matches!(cut, GenesysError::InvalidResponse { .. }));
    }
}

//! Clients of the recording side (design.md section 8): Data Access Services (what the recording
//! side holds) and Interaction Capture (ingestion). Both authenticate with one client-credentials
//! token from `{dasUrl}/oauth/token`, and are built on the shared [`crate::http`] plumbing.

pub mod capture;
pub mod das;
mod error;

use std::sync::Arc;
use std::time::Duration;

pub use error::{ErrorBody, RecordingSideError, parse_error_body};

use crate::http::{self, ApiCounters, ApiTransport, RateBudget, RetryPolicy, Secret, TokenSource};

/// Everything needed to talk to one tenant's recording side.
#[derive(Clone, Debug)]
pub struct RecordingSideSettings {
    /// Base URL of Data Access Services (also serves `/oauth/token`).
    pub das_url: String,
    /// Base URL of Interaction Capture.
    pub capture_url: String,
    /// Tenant path segment.
    pub tenant: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: Secret,
    /// Request budget per service and minute (`spec.recordingSide.requestsPerMinute`); `None` =
    /// unlimited. DAS and Capture each get a budget of this size rather than sharing one: they
    /// are separate services with their own capacity, a Capture back-pressure pause (429/503
    /// with Retry-After) must not hold the DAS reads of the next chunk's inventory or of
    /// verification, and DAS reads must not slow ingestion.
    pub requests_per_minute: Option<u32>,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Retries of transport errors, 408 and 5xx.
    pub retry: RetryPolicy,
    /// How long Capture back-pressure (429/503 with Retry-After) may hold one PUT in total.
    pub back_pressure_limit: Duration,
}

impl RecordingSideSettings {
    /// Settings with the defaults: no own rate limit, 30 s requests, default retries and up to
    /// 10 minutes of back-pressure per PUT.
    pub fn new(
        das_url: impl Into<String>,
        capture_url: impl Into<String>,
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Self {
        RecordingSideSettings {
            das_url: das_url.into(),
            capture_url: capture_url.into(),
            tenant: tenant.into(),
            client_id: client_id.into(),
            client_secret,
            requests_per_minute: None,
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            back_pressure_limit: Duration::from_secs(600),
        }
    }
}

/// Both clients, sharing one token. `das_counters` include the token requests.
#[derive(Clone, Debug)]
pub struct RecordingSide {
    /// Data Access Services.
    pub das: das::DasClient,
    /// Interaction Capture.
    pub capture: capture::CaptureClient,
    /// Calls to DAS (token requests included).
    pub das_counters: Arc<ApiCounters>,
    /// Calls to Capture.
    pub capture_counters: Arc<ApiCounters>,
}

impl RecordingSide {
    /// Builds both clients from `settings`.
    pub fn connect(settings: &RecordingSideSettings) -> Result<Self, RecordingSideError> {
        let client = http::build_client(settings.request_timeout)
            .map_err(|source| RecordingSideError::Client { source })?;
        let das_counters = Arc::new(ApiCounters::default());
        let capture_counters = Arc::new(ApiCounters::default());
        let token_url = endpoint(&settings.das_url, &["oauth", "token"])?;
        let tokens = Arc::new(
            TokenSource::new(
                client.clone(),
                token_url.as_str(),
                settings.client_id.clone(),
                settings.client_secret.clone(),
                das_counters.clone(),
            )
            .with_retry(settings.retry.clone()),
        );
        // One budget per service (see `requests_per_minute`); the token requests are not paced.
        let budget = || match settings.requests_per_minute {
            Some(rpm) => RateBudget::per_minute(rpm),
            None => RateBudget::unlimited(),
        };
        let transport = |counters: &Arc<ApiCounters>| ApiTransport {
            http: client.clone(),
            tokens: tokens.clone(),
            budget: budget(),
            retry: settings.retry.clone(),
            counters: counters.clone(),
            hint: None,
        };
        let das = das::DasClient::new(
            transport(&das_counters),
            &settings.das_url,
            &settings.tenant,
        )?;
        let capture = capture::CaptureClient::new(
            transport(&capture_counters),
            &settings.capture_url,
            &settings.tenant,
            settings.back_pressure_limit,
        )?;
        Ok(RecordingSide {
            das,
            capture,
            das_counters,
            capture_counters,
        })
    }
}

/// `base` with `segments` appended as escaped path segments.
pub(crate) fn endpoint(base: &str, segments: &[&str]) -> Result<reqwest::Url, RecordingSideError> {
    let invalid = |reason: &str| RecordingSideError::InvalidUrl {
        url: base.to_string(),
        reason: reason.to_string(),
    };
    let mut url = reqwest::Url::parse(base).map_err(|err| invalid(&err.to_string()))?;
    {
        let mut path = url
            .path_segments_mut()
            .map_err(|()| invalid("cannot be a base URL"))?;
        path.pop_if_empty();
        path.extend(segments);
    }
    Ok(url)
}

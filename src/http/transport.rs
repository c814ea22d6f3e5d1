//! Sending one authenticated API request with the budget, token and retry rules applied.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use tokio::time::Instant;

use super::{
    ApiCounters, RateBudget, RetryPolicy, TokenError, TokenSource, is_retryable_status,
    parse_retry_after,
};

/// The final answer to a request: whatever status it has, with the body read in full. Each client
/// turns non-2xx answers into its own typed error.
#[derive(Clone, Debug)]
pub struct RawResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// Why a request produced no HTTP answer at all.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No token could be had.
    #[error("{endpoint}: {source}")]
    Token {
        /// Endpoint the request was for.
        endpoint: String,
        /// Why the token failed.
        #[source]
        source: TokenError,
    },
    /// Connection, timeout or body errors on every attempt.
    #[error("{endpoint}: no usable answer after {attempts} attempt(s): {source}")]
    Transport {
        /// Endpoint the request was for.
        endpoint: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        #[source]
        source: reqwest::Error,
    },
}

/// Extra service-specific wait hints read from a response (e.g. Genesys' `inin-ratelimit-*`
/// headers or `[N] seconds` in a 429 message). Returns how long the whole token should pause.
pub type RetryHint = fn(&HeaderMap, &[u8]) -> Option<Duration>;

/// Everything needed to send requests for one token: the HTTP client, the token source, the
/// Fresh tokens one request may ask for after 401s before the 401 is returned.
pub const MAX_REAUTHENTICATIONS: u32 = 3;

/// token's rate budget, the retry policy and the counters.
#[derive(Clone, Debug)]
pub struct ApiTransport {
    /// The HTTP client.
    pub http: reqwest::Client,
    /// Token source for the bearer header.
    pub tokens: Arc<TokenSource>,
    /// Rate budget of that token.
    pub budget: RateBudget,
    /// Retry rules.
    pub retry: RetryPolicy,
    /// Call and throttle counters.
    pub counters: Arc<ApiCounters>,
    /// Optional service-specific wait hint.
    pub hint: Option<RetryHint>,
}

impl ApiTransport {
    /// Sends the request `build` makes (called again for each attempt) with a bearer token.
    ///
    /// - waits for the rate budget before every attempt;
    /// - on 401 drops the token and retries with a fresh one (at most [`MAX_REAUTHENTICATIONS`]
    ///   times per request);
    /// - on 408/429/5xx and connection/timeout/body errors retries with backoff, honouring
    ///   Retry-After (which also pauses every other request of this token); a 429 that states its
    ///   wait does not use up an attempt, only time (`max_elapsed`), and is reported to the budget,
    ///   which paces this token's requests by them (see [`RateBudget::throttled`]);
    /// - any other status is returned as is for the caller to interpret.
    pub async fn send(
        &self,
        endpoint: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<RawResponse, SendError> {
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let mut reauthentications = 0;
        loop {
            attempt += 1;
            self.budget.acquire().await;
            let sent_at = Instant::now();
            let token = self
                .tokens
                .token()
                .await
                .map_err(|source| SendError::Token {
                    endpoint: endpoint.to_string(),
                    source,
                })?;
            self.counters.record_call();
            let may_retry =
                attempt < self.retry.max_attempts && started.elapsed() < self.retry.max_elapsed;
            let outcome = match build(&self.http)
                .bearer_auth(token.value.expose())
                .send()
                .await
            {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    response.bytes().await.map(|body| RawResponse {
                        status,
                        headers,
                        body,
                    })
                }
                Err(err) => Err(err),
            };
            let response = match outcome {
                Ok(response) => response,
                Err(source) => {
                    if may_retry && is_retryable_transport_error(&source) {
                        let wait = self.retry.backoff(attempt);
                        tracing::debug!(endpoint, attempt, error = %source, ?wait, "transport error; retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(SendError::Transport {
                        endpoint: endpoint.to_string(),
                        attempts: attempt,
                        source,
                    });
                }
            };
            let status = response.status.as_u16();
            if let Some(hint) = self.hint
                && let Some(pause) = hint(&response.headers, &response.body)
                && status != 429
            {
                self.budget.pause_for(pause);
            }
            if status == 401 && reauthentications < MAX_REAUTHENTICATIONS {
                // Expired or revoked token: a fresh token, one more try (a few times: a token can
                // expire or be revoked again while the request waits for its turn).
                reauthentications += 1;
                self.tokens.invalidate(&token);
                attempt -= 1;
                continue;
            }
            let retry_after = parse_retry_after(&response.headers).or_else(|| {
                if status == 429 {
                    self.hint
                        .and_then(|hint| hint(&response.headers, &response.body))
                } else {
                    None
                }
            });
            let honoured_wait = retry_after.filter(|wait| *wait <= self.retry.max_retry_after);
            if status == 429 {
                self.counters.record_throttled();
                // A 429 that states its wait is the server's rate limiter (Genesys sends
                // Retry-After on every one): it pauses every request of the token and adapts the
                // rate, whether or not this request is tried again. One without is retried with
                // backoff and teaches the budget nothing.
                if retry_after.is_some() {
                    self.budget.throttled(sent_at, honoured_wait);
                }
            }
            if is_retryable_status(status) && may_retry {
                if let Some(wait) = retry_after {
                    if wait > self.retry.max_retry_after {
                        return Ok(response);
                    }
                    if status != 429 {
                        self.budget.pause_for(wait);
                    }
                }
                let wait = self.retry.delay(attempt, retry_after);
                tracing::debug!(
                    endpoint,
                    attempt,
                    status,
                    ?wait,
                    "retryable status; retrying"
                );
                tokio::time::sleep(wait).await;
                // Throttling with a stated wait is the server pacing us, not a failure: it costs
                // time (bounded by max_elapsed), not one of the attempts.
                if status == 429 && retry_after.is_some() {
                    attempt -= 1;
                }
                continue;
            }
            return Ok(response);
        }
    }
}

fn is_retryable_transport_error(err: &reqwest::Error) -> bool {
    // Builder errors (a bad URL) will fail the same way again; everything on the wire may not.
    !err.is_builder() && !err.is_redirect()
}

//! OAuth client-credentials tokens: requested with HTTP Basic auth and a form body, cached, renewed
//! shortly before `expires_in` runs out, and dropped when a server rejects them (401).
//!
//! No async lock is held while a token is fetched: the fetch runs on a task of its own and every
//! caller awaits its shared result. A caller's future that stops being polled (one of a stream's
//! buffered requests while the stream's consumer waits on something else) then holds nothing
//! up; with an async mutex around the cache it could be handed the lock and, never polled again,
//! keep it from every other request of the token for good (a "futurelock").

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use parking_lot::Mutex;
use serde::Deserialize;
use tokio::time::Instant;

use super::{ApiCounters, RetryPolicy, Secret, is_retryable_status, parse_retry_after};

/// Why no token could be had.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint answered with an error status (bad credentials, unknown client, ...).
    #[error("token endpoint {url} rejected the request with HTTP {status} ({code}): {description}")]
    Rejected {
        /// Token endpoint.
        url: String,
        /// HTTP status.
        status: u16,
        /// OAuth `error` (or `error.code`) from the body, `unknown` when the body had none.
        code: String,
        /// Human description from the body.
        description: String,
    },
    /// The token endpoint could not be reached (after retries).
    #[error("token endpoint {url} could not be reached: {source}")]
    Transport {
        /// Token endpoint.
        url: String,
        /// Underlying error (never carries credentials: they travel in a header); shared, since
        /// every caller waiting on the fetch gets it.
        #[source]
        source: Arc<reqwest::Error>,
    },
    /// The token endpoint answered 2xx with a body that is not a token.
    #[error("token endpoint {url} answered with an unusable body: {reason}")]
    InvalidResponse {
        /// Token endpoint.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The task fetching the token ended without an answer (the runtime shutting down).
    #[error("the request to token endpoint {url} was interrupted")]
    Interrupted {
        /// Token endpoint.
        url: String,
    },
}

/// A bearer token and the generation it belongs to (used to invalidate exactly this one).
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// The bearer value.
    pub value: Secret,
    /// Increments each time a new token is fetched.
    pub generation: u64,
}

#[derive(Debug)]
struct CachedToken {
    token: AccessToken,
    renew_at: Instant,
}

/// Fetches and caches client-credentials tokens for one OAuth client at one token URL.
#[derive(Debug)]
pub struct TokenSource {
    endpoint: Arc<TokenEndpoint>,
    /// Shared with the fetch task, which stores what it fetched.
    state: Arc<Mutex<TokenState>>,
}

impl std::fmt::Debug for TokenState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenState")
            .field("cached", &self.cached)
            .field("fetching", &self.fetching.is_some())
            .field("generation", &self.generation)
            .finish()
    }
}

/// Where and how tokens are requested.
#[derive(Clone, Debug)]
struct TokenEndpoint {
    http: reqwest::Client,
    url: String,
    client_id: String,
    client_secret: Secret,
    counters: Arc<ApiCounters>,
    retry: RetryPolicy,
}

/// A fetch in flight, awaited by every caller that found no valid token.
type Fetching = Shared<BoxFuture<'static, Result<AccessToken, TokenError>>>;

#[derive(Default)]
struct TokenState {
    cached: Option<CachedToken>,
    fetching: Option<Fetching>,
    /// The last generation handed out.
    generation: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    #[allow(dead_code)]
    token_type: Option<String>,
    expires_in: Option<u64>,
}

/// Both error body shapes in use: Genesys' `{"error":"invalid_client","description":..}` and the
/// recording side's `{"error":{"code":..,"message":..}}`.
#[derive(Deserialize)]
struct TokenErrorBody {
    error: Option<serde_json::Value>,
    description: Option<String>,
    error_description: Option<String>,
}

impl TokenSource {
    /// A token source for `url` (e.g. `https://login.mypurecloud.ie/oauth/token`). Every request
    /// it sends is counted in `counters`.
    pub fn new(
        http: reqwest::Client,
        url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
        counters: Arc<ApiCounters>,
    ) -> Self {
        TokenSource {
            endpoint: Arc::new(TokenEndpoint {
                http,
                url: url.into(),
                client_id: client_id.into(),
                client_secret,
                counters,
                retry: RetryPolicy::default(),
            }),
            state: Arc::default(),
        }
    }

    /// Replaces the retry policy used for token requests.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        Arc::make_mut(&mut self.endpoint).retry = retry;
        self
    }

    /// The token endpoint URL.
    pub fn url(&self) -> &str {
        &self.endpoint.url
    }

    /// The OAuth client id (not secret).
    pub fn client_id(&self) -> &str {
        &self.endpoint.client_id
    }

    /// A valid token: the cached one unless it is due for renewal, else a fresh one. Concurrent
    /// callers share one fetch (and its error) instead of each fetching.
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        let fetching = {
            let mut state = self.state.lock();
            if let Some(cached) = &state.cached
                && Instant::now() < cached.renew_at
            {
                return Ok(cached.token.clone());
            }
            match &state.fetching {
                Some(fetching) => fetching.clone(),
                None => {
                    let fetching = self.start_fetch();
                    state.fetching = Some(fetching.clone());
                    fetching
                }
            }
        };
        fetching.await
    }

    /// Spawns the fetch: it goes on whoever awaits it, and stores its token (or clears the way
    /// for the next attempt) before its waiters see the result.
    fn start_fetch(&self) -> Fetching {
        let endpoint = self.endpoint.clone();
        let state = self.state.clone();
        let url = endpoint.url.clone();
        let task = tokio::spawn(async move {
            let fetched = endpoint.fetch().await;
            let mut state = state.lock();
            state.fetching = None;
            let (value, expires_in) = fetched?;
            state.generation += 1;
            let token = AccessToken {
                value,
                generation: state.generation,
            };
            state.cached = Some(CachedToken {
                token: token.clone(),
                renew_at: Instant::now() + renew_after(expires_in),
            });
            Ok(token)
        });
        async move {
            task.await
                .unwrap_or_else(|_| Err(TokenError::Interrupted { url }))
        }
        .boxed()
        .shared()
    }

    /// Drops `token` from the cache (a server answered 401 for it). A newer token fetched by
    /// another task meanwhile is kept.
    pub fn invalidate(&self, token: &AccessToken) {
        let mut state = self.state.lock();
        if state
            .cached
            .as_ref()
            .is_some_and(|cached| cached.token.generation == token.generation)
        {
            state.cached = None;
        }
    }
}

impl TokenEndpoint {
    async fn fetch(&self) -> Result<(Secret, Duration), TokenError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.counters.record_call();
            let sent = self
                .http
                .post(&self.url)
                .basic_auth(&self.client_id, Some(self.client_secret.expose()))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await;
            let may_retry =
                attempt < self.retry.max_attempts && started.elapsed() < self.retry.max_elapsed;
            let response = match sent {
                Ok(response) => response,
                Err(source) => {
                    if may_retry {
                        tracing::warn!(url = %self.url, attempt, error = %source, "token request failed; retrying");
                        tokio::time::sleep(self.retry.backoff(attempt)).await;
                        continue;
                    }
                    return Err(TokenError::Transport {
                        url: self.url.clone(),
                        source: Arc::new(source),
                    });
                }
            };
            let status = response.status().as_u16();
            let retry_after = parse_retry_after(response.headers());
            if status == 429 {
                self.counters.record_throttled();
            }
            let body = match response.bytes().await {
                Ok(body) => body,
                Err(source) => {
                    if may_retry {
                        tokio::time::sleep(self.retry.backoff(attempt)).await;
                        continue;
                    }
                    return Err(TokenError::Transport {
                        url: self.url.clone(),
                        source: Arc::new(source),
                    });
                }
            };
            if (200..300).contains(&status) {
                return self.parse_token(&body);
            }
            if is_retryable_status(status) && may_retry {
                tokio::time::sleep(self.retry.delay(attempt, retry_after)).await;
                // A 429 with a stated wait costs time (max_elapsed), not an attempt.
                if status == 429 && retry_after.is_some() {
                    attempt -= 1;
                }
                continue;
            }
            return Err(self.rejection(status, &body));
        }
    }

    fn parse_token(&self, body: &[u8]) -> Result<(Secret, Duration), TokenError> {
        let invalid = |reason: String| TokenError::InvalidResponse {
            url: self.url.clone(),
            reason,
        };
        let parsed: TokenResponse = serde_json::from_slice(body)
            .map_err(|err| invalid(format!("not a token response: {err}")))?;
        let value = parsed
            .access_token
            .filter(|token| !token.is_empty())
            .ok_or_else(|| invalid("no access_token".to_string()))?;
        // Without expires_in assume the shortest lifetime Genesys allows (5 min).
        let expires_in = Duration::from_secs(parsed.expires_in.unwrap_or(300));
        Ok((Secret::new(value), expires_in))
    }

    fn rejection(&self, status: u16, body: &[u8]) -> TokenError {
        let parsed: Option<TokenErrorBody> = serde_json::from_slice(body).ok();
        let (mut code, mut description) = ("unknown".to_string(), String::new());
        if let Some(parsed) = parsed {
            match parsed.error {
                Some(serde_json::Value::String(error)) => code = error,
                Some(serde_json::Value::Object(error)) => {
                    if let Some(c) = error.get("code").and_then(|v| v.as_str()) {
                        code = c.to_string();
                    }
                    if let Some(m) = error.get("message").and_then(|v| v.as_str()) {
                        description = m.to_string();
                    }
                }
                _ => {}
            }
            if let Some(d) = parsed.description.or(parsed.error_description) {
                description = d;
            }
        }
        TokenError::Rejected {
            url: self.url.clone(),
            status,
            code,
            description,
        }
    }
}

/// Renew a little before expiry: a tenth of the lifetime, at least 5 s and at most 5 min early.
fn renew_after(expires_in: Duration) -> Duration {
    let margin = (expires_in / 10).clamp(Duration::from_secs(5), Duration::from_secs(300));
    expires_in.saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_before_expiry() {
        assert_eq!(
            renew_after(Duration::from_secs(86400)),
            Duration::from_secs(86100)
        );
        assert_eq!(
            renew_after(Duration::from_secs(60)),
            Duration::from_secs(54)
        );
        assert_eq!(renew_after(Duration::from_secs(3)), Duration::ZERO);
    }

    fn source() -> TokenSource {
        TokenSource::new(
            super::super::build_client(Duration::from_secs(1))
                .unwrap_or_else(|err| panic!("{err}")),
            "http://127.0.0.1:1/oauth/token",
            "id",
            Secret::new("shh"),
            Arc::default(),
        )
    }

    #[test]
    fn parses_both_error_shapes() {
        let source = source();
        let genesys = source.endpoint.rejection(
            400,
            br#"{"error":"invalid_client","description":"authentication failed"}"#,
        );
        assert!(
            matches!(&genesys, TokenError::Rejected { code, description, .. }
            if code == "invalid_client" && description == "authentication failed")
        );
        let das = source.endpoint.rejection(
            401,
            br#"{"error":{"code":"unauthorized","message":"bad client"}}"#,
        );
        assert!(
            matches!(&das, TokenError::Rejected { code, description, .. }
            if code == "unauthorized" && description == "bad client")
        );
        let html = source.endpoint.rejection(502, b"<html>bad gateway</html>");
        assert!(
            matches!(&html, TokenError::Rejected { status: 502, code, .. } if code == "unknown")
        );
    }

    #[test]
    fn rejects_a_body_without_a_token() {
        let source = source();
        assert!(matches!(
            source.endpoint.parse_token(br#"{"token_type":"bearer"}"#),
            Err(TokenError::InvalidResponse { .. })
        ));
        assert!(matches!(
            source.endpoint.parse_token(b"<html>"),
            Err(TokenError::InvalidResponse { .. })
        ));
        let (token, lifetime) = match source
            .endpoint
            .parse_token(br#"{"access_token":"abc","expires_in":60,"extra":1}"#)
        {
            Ok(ok) => ok,
            Err(err) => panic!("{err}"),
        };
        assert_eq!(token.expose(), "abc");
        assert_eq!(lifetime, Duration::from_secs(60));
    }

    #[test]
    fn debug_does_not_show_the_client_secret() {
        assert!(!format!("{:?}", source()).contains("shh"));
    }
}

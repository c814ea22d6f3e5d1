//! OAuth client credentials and what every `/api/v2` request passes first: response headers
//! and latency, bearer checks, per-token and per-client (org) rate limits with the normalised
//! 429, injected faults.

use super::*;

/// Latency, `ININ-Correlation-Id` and `Content-Type` on every response.
pub(super) async fn common_headers(
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

/// Bearer check and the token's and the OAuth client's rate limits for `/api/v2/*`.
pub(super) async fn require_bearer(
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
    let admitted = {
        let mut tokens = state.tokens.lock();
        let entry = tokens
            .get_mut(&bearer)
            .filter(|t| t.expires_at > Instant::now() && !revoke);
        let Some(entry) = entry else {
            tokens.remove(&bearer);
            return genesys_error(
                StatusCode::UNAUTHORIZED,
                "bad.credentials",
                "Invalid login credentials.",
            );
        };
        let mut org = state.org_limit.as_ref().map(|limit| limit.lock());
        limits::admit(entry.limiter.as_mut(), org.as_deref_mut(), Instant::now())
    };
    let second = Timestamp::now().as_second();
    if let Err(refusal) = admitted {
        let (counter, outcome) = match refusal.limit {
            Limit::Token => (&state.rate_limited, Outcome::TokenLimited),
            Limit::Org => (&state.org_rate_limited, Outcome::OrgLimited),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        state.rates.record(second, outcome);
        return too_many_requests(&refusal);
    }
    state.rates.record(second, Outcome::Accepted);
    next.run(request).await
}

/// Genesys' normalised 429 (genesys-api.md section 6.2): Retry-After in whole seconds, the same
/// figure in the message, and the optional `inin-ratelimit-*` headers of the limit that refused.
fn too_many_requests(refusal: &limits::Refusal) -> Response {
    let seconds = refusal.retry_after_seconds();
    let mut response = genesys_error(
        StatusCode::TOO_MANY_REQUESTS,
        "too.many.requests.retry.after",
        &format!("Rate limit exceeded the maximum. Retry the request in [{seconds}] seconds"),
    );
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    headers.insert(
        "inin-ratelimit-allowed",
        HeaderValue::from(refusal.per_minute),
    );
    headers.insert(
        "inin-ratelimit-count",
        HeaderValue::from(refusal.per_minute),
    );
    headers.insert("inin-ratelimit-reset", HeaderValue::from(seconds));
    response
}

#[derive(Deserialize, Default)]
pub(super) struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `POST /oauth/token`: Basic auth or body credentials, form-encoded client_credentials grant.
pub(super) async fn token(
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
    let credentials = crate::sim::basic_credentials(&headers)
        .or_else(|| Some((form.client_id?, form.client_secret?)));
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
        .map(RateLimit::per_minute);
    state.tokens.lock().insert(
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

pub(super) async fn tokens_me(State(state): State<Arc<SimState>>) -> Response {
    json_response(
        StatusCode::OK,
        json!({"name": state.config.client_id, "organization": {"name": state.dataset.config.tenant}}),
    )
}

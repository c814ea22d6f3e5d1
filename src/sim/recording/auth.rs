//! Client-credentials tokens of the recording-side simulators: `POST /oauth/token` and a bearer
//! check on every API route. One registry serves DAS and Capture, as one token serves both.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::FormRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::{RecordingStore, error_response};
use crate::sim::faults::RevokeToken;

/// Issued tokens and their expiry.
#[derive(Debug, Default)]
pub(super) struct TokenRegistry {
    tokens: Mutex<HashMap<String, Instant>>,
}

/// Why a bearer token was refused.
enum TokenCheck {
    Valid,
    Missing,
    Invalid,
}

impl TokenRegistry {
    fn issue(&self, lifetime: Duration) -> String {
        let token = hex::encode(rand::random::<[u8; 24]>());
        let mut tokens = self.tokens.lock();
        let now = Instant::now();
        // Forget expired tokens so a long run does not accumulate them.
        tokens.retain(|_, expiry| *expiry > now);
        tokens.insert(token.clone(), now + lifetime);
        token
    }

    fn check(&self, token: &str) -> bool {
        self.tokens
            .lock()
            .get(token)
            .is_some_and(|expiry| *expiry > Instant::now())
    }

    fn revoke(&self, token: &str) {
        self.tokens.lock().remove(token);
    }
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `POST /oauth/token`: Basic auth or form fields, `grant_type=client_credentials`.
pub(super) async fn token(
    State(store): State<Arc<RecordingStore>>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let form = form.ok().map(|Form(f)| f);
    let (grant_type, body_id, body_secret) = match form {
        Some(f) => (f.grant_type, f.client_id, f.client_secret),
        None => (None, None, None),
    };
    if grant_type.as_deref() != Some("client_credentials") {
        return error_response(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        );
    }
    let (id, secret) = crate::sim::basic_credentials(&headers)
        .unwrap_or((body_id.unwrap_or_default(), body_secret.unwrap_or_default()));
    let config = store.config();
    if id != config.client_id || secret != config.client_secret {
        return error_response(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "authentication failed",
        );
    }
    let lifetime = store
        .faults()
        .token_expiry()
        .unwrap_or(config.token_lifetime);
    let token = store.tokens().issue(lifetime);
    Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": lifetime.as_secs().max(1),
    }))
    .into_response()
}

/// Middleware: 401 in the recording side's error shape unless a valid bearer token is sent.
pub(super) async fn require_token(
    State(store): State<Arc<RecordingStore>>,
    request: Request,
    next: Next,
) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let check = match bearer {
        None => TokenCheck::Missing,
        Some(token) if request.extensions().get::<RevokeToken>().is_some() => {
            store.tokens().revoke(token);
            TokenCheck::Invalid
        }
        Some(token) if store.tokens().check(token) => TokenCheck::Valid,
        Some(_) => TokenCheck::Invalid,
    };
    match check {
        TokenCheck::Valid => next.run(request).await,
        TokenCheck::Missing => error_response(
            StatusCode::UNAUTHORIZED,
            "authentication.required",
            "a bearer token is required",
        ),
        TokenCheck::Invalid => error_response(
            StatusCode::UNAUTHORIZED,
            "bad.credentials",
            "the bearer token is unknown or expired",
        ),
    }
}

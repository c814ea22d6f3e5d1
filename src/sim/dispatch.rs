//! Serving several orgs on one port: handing a request to the router of the org it belongs to,
//! and telling from a token request which OAuth client asks.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Largest token-request body read to find its client id (a client-credentials form is tiny).
const TOKEN_BODY_LIMIT: usize = 64 * 1024;

/// `request` answered by `router`.
pub(crate) async fn forward(router: &Router, request: Request) -> Response {
    call(router.clone(), request).await
}

/// Through `axum::ServiceExt`, whose supertrait is tower's `Service`, so no direct tower
/// dependency is needed to call a router.
async fn call<S>(mut service: S, request: Request) -> Response
where
    S: axum::ServiceExt<Request, Response = Response, Error = Infallible>,
{
    if let Err(never) = std::future::poll_fn(|cx| service.poll_ready(cx)).await {
        match never {}
    }
    match service.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The client id a `POST /oauth/token` names (Basic header first, then the form body's
/// `client_id`), and the request rebuilt around the body read for it. An unreadable body is
/// answered at once (413).
pub(crate) async fn token_client(request: Request) -> Result<(Option<String>, Request), Response> {
    if let Some((id, _)) = super::basic_credentials(request.headers()) {
        return Ok((Some(id), request));
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, TOKEN_BODY_LIMIT).await else {
        return Err(StatusCode::PAYLOAD_TOO_LARGE.into_response());
    };
    let id = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(key, _)| key == "client_id"))
        .map(|(_, id)| id);
    Ok((id, Request::from_parts(parts, Body::from(bytes))))
}

/// The bearer token of `request`, if any.
pub(crate) fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

//! The shared HTTP plumbing against a scripted local server: token caching, 401 re-auth, 429 with
//! Retry-After, 5xx backoff, no retry on other 4xx, counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use digital_recovery::http::{
    ApiCounters, ApiTransport, RateBudget, RetryPolicy, Secret, SendError, TokenError, TokenSource,
    build_client,
};

#[derive(Default)]
struct Script {
    tokens_issued: AtomicU32,
    hits: AtomicU32,
}

async fn token(
    State(script): State<Arc<Script>>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // base64("id:secret")
    if auth != "Basic aWQ6c2VjcmV0" || body != "grant_type=client_credentials" {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid_client","description":"authentication failed"}"#,
        )
            .into_response();
    }
    let n = script.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    format!(r#"{{"access_token":"tok{n}","token_type":"bearer","expires_in":86400}}"#)
        .into_response()
}

/// The token endpoint, answering after 300 ms.
async fn slow_token(
    State(script): State<Arc<Script>>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    tokio::time::sleep(Duration::from_millis(300)).await;
    token(State(script), headers, body).await.into_response()
}

/// 1st call: 401; 2nd: 429 Retry-After 1; 3rd: 503; 4th: 200 (only for token tok2).
async fn flaky(State(script): State<Arc<Script>>, headers: HeaderMap) -> impl IntoResponse {
    let hit = script.hits.fetch_add(1, Ordering::SeqCst) + 1;
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    match hit {
        1 => (StatusCode::UNAUTHORIZED, HeaderMap::new(), "{}".to_string()),
        2 => {
            let mut h = HeaderMap::new();
            h.insert("retry-after", "1".parse().unwrap());
            (StatusCode::TOO_MANY_REQUESTS, h, "{}".to_string())
        }
        3 => (
            StatusCode::SERVICE_UNAVAILABLE,
            HeaderMap::new(),
            "{}".to_string(),
        ),
        _ => (
            StatusCode::OK,
            HeaderMap::new(),
            format!(r#"{{"auth":"{auth}"}}"#),
        ),
    }
}

/// Answers 429 with `Retry-After: 0` to the first 12 calls, then 200.
async fn storm(State(script): State<Arc<Script>>) -> impl IntoResponse {
    let hit = script.hits.fetch_add(1, Ordering::SeqCst) + 1;
    if hit <= 12 {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "0".parse().unwrap());
        return (StatusCode::TOO_MANY_REQUESTS, h, "{}").into_response();
    }
    (StatusCode::OK, "{}").into_response()
}

async fn not_found(State(script): State<Arc<Script>>) -> impl IntoResponse {
    script.hits.fetch_add(1, Ordering::SeqCst);
    (StatusCode::NOT_FOUND, "{}")
}

async fn serve(script: Arc<Script>) -> String {
    let app = Router::new()
        .route("/oauth/token", post(token))
        .route("/slow/oauth/token", post(slow_token))
        .route("/flaky", get(flaky))
        .route("/missing", get(not_found))
        .route("/storm", get(storm))
        .with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn transport(base: &str, secret: &str) -> (ApiTransport, Arc<ApiCounters>) {
    let http = build_client(Duration::from_secs(5)).unwrap();
    let counters = Arc::new(ApiCounters::default());
    let tokens = Arc::new(TokenSource::new(
        http.clone(),
        format!("{base}/oauth/token"),
        "id",
        Secret::new(secret),
        counters.clone(),
    ));
    let retry = RetryPolicy {
        base_delay: Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    (
        ApiTransport {
            http,
            tokens,
            budget: RateBudget::unlimited(),
            retry,
            counters: counters.clone(),
            hint: None,
        },
        counters,
    )
}

/// A caller whose wait for the token stops being polled (one of a stream's buffered requests
/// while the stream's consumer waits on something else) must hold up no other request of the
/// token. With an async mutex around the cache it was handed the lock and kept it: every later
/// request waited for ever (a whole shard stalled in `demo` this way).
#[tokio::test]
async fn a_token_wait_left_unpolled_holds_up_no_other_request() {
    let script = Arc::new(Script::default());
    let base = serve(script.clone()).await;
    let tokens = Arc::new(TokenSource::new(
        build_client(Duration::from_secs(5)).unwrap(),
        format!("{base}/slow/oauth/token"),
        "id",
        Secret::new("secret"),
        Arc::default(),
    ));
    // A first caller starts the fetch, which takes 300 ms.
    let first = tokio::spawn({
        let tokens = tokens.clone();
        async move { tokens.token().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A second one is polled once while the fetch runs, then never again.
    let mut left_unpolled = Box::pin(tokens.token());
    assert!(futures::poll!(left_unpolled.as_mut()).is_pending());
    assert_eq!(first.await.unwrap().unwrap().value.expose(), "tok1");
    let next = tokio::time::timeout(Duration::from_secs(5), tokens.token())
        .await
        .expect("a token wait left unpolled held up the next caller")
        .unwrap();
    assert_eq!(next.value.expose(), "tok1");
    // Still one fetch for all of them.
    assert_eq!(script.tokens_issued.load(Ordering::SeqCst), 1);
    // The one left behind gets the same token when it is polled again.
    assert_eq!(left_unpolled.await.unwrap().value.expose(), "tok1");
}

#[tokio::test]
async fn retries_through_401_429_and_503() {
    let script = Arc::new(Script::default());
    let base = serve(script.clone()).await;
    let (transport, counters) = transport(&base, "secret");
    let url = format!("{base}/flaky");
    let response = transport
        .send("GET /flaky", |http| http.get(&url))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    // The 401 dropped tok1; every later attempt used tok2.
    assert_eq!(
        std::str::from_utf8(&response.body).unwrap(),
        r#"{"auth":"Bearer tok2"}"#
    );
    assert_eq!(script.tokens_issued.load(Ordering::SeqCst), 2);
    let snapshot = counters.snapshot();
    assert_eq!(
        snapshot.calls,
        2 + 4,
        "two token requests and four API attempts"
    );
    assert_eq!(snapshot.throttled, 1);
}

#[tokio::test]
async fn a_429_storm_with_retry_after_costs_time_not_attempts() {
    let script = Arc::new(Script::default());
    let base = serve(script.clone()).await;
    let (mut transport, counters) = transport(&base, "secret");
    transport.retry.max_attempts = 3;
    let url = format!("{base}/storm");
    let response = transport
        .send("GET /storm", |http| http.get(&url))
        .await
        .unwrap();
    assert_eq!(response.status, 200, "12 paced 429s outlast 3 attempts");
    assert_eq!(counters.snapshot().throttled, 12);
}

#[tokio::test]
async fn does_not_retry_a_404() {
    let script = Arc::new(Script::default());
    let base = serve(script.clone()).await;
    let (transport, _) = transport(&base, "secret");
    let url = format!("{base}/missing");
    let response = transport
        .send("GET /missing", |http| http.get(&url))
        .await
        .unwrap();
    assert_eq!(response.status, 404);
    assert_eq!(script.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bad_credentials_are_a_typed_token_error_without_the_secret() {
    let script = Arc::new(Script::default());
    let base = serve(script.clone()).await;
    let (transport, _) = transport(&base, "wrong-secret");
    let url = format!("{base}/flaky");
    let err = transport
        .send("GET /flaky", |http| http.get(&url))
        .await
        .unwrap_err();
    match &err {
        SendError::Token {
            source: TokenError::Rejected {
                status: 400, code, ..
            },
            ..
        } => assert_eq!(code, "invalid_client"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains("wrong-secret"));
    assert_eq!(script.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_after_bounded_attempts() {
    let http = build_client(Duration::from_secs(1)).unwrap();
    let counters = Arc::new(ApiCounters::default());
    // A token endpoint that answers, an API host that does not exist.
    let script = Arc::new(Script::default());
    let base = serve(script).await;
    let tokens = Arc::new(TokenSource::new(
        http.clone(),
        format!("{base}/oauth/token"),
        "id",
        Secret::new("secret"),
        counters.clone(),
    ));
    let retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let transport = ApiTransport {
        http,
        tokens,
        budget: RateBudget::unlimited(),
        retry,
        counters: counters.clone(),
        hint: None,
    };
    let err = transport
        .send("GET /nowhere", |http| {
            http.get("http://127.0.0.1:1/nowhere")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, SendError::Transport { attempts: 3, .. }),
        "{err:?}"
    );
}

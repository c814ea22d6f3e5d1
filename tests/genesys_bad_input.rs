//! The Genesys client against a server that misbehaves: every bad answer is a typed error naming
//! the endpoint, one bad conversation fails only itself, nothing panics.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use digital_recovery::api::{MediaType, Window};
use digital_recovery::genesys::{
    CollectQuery, GenesysClient, GenesysConfig, GenesysError, JobsMode,
};
use digital_recovery::http::{RetryPolicy, Secret};
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};

const QUERY: &str = "/api/v2/analytics/conversations/details/query";

async fn serve(query_body: &'static str, content_type: &'static str) -> GenesysClient {
    let app = Router::new()
        .route("/oauth/token", post(|| async { r#"{"access_token":"t","token_type":"bearer","expires_in":3600}"# }))
        .route(QUERY, post(move || async move { (StatusCode::OK, [("content-type", content_type)], query_body).into_response() }))
        .route(
            "/api/v2/conversations/{id}/recordings",
            get(|| async { (StatusCode::OK, [("content-type", "application/json")], r#"[{"fileState":"AVAILABLE","messagingTranscript":[]}, {"id":"r2","fileState":"SHREDDED"}]"#) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut config = GenesysConfig::for_base_url(&url, "id", Secret::new("secret")).unwrap();
    config.requests_per_minute = 0;
    config.jobs = JobsMode::Never;
    config.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    GenesysClient::new(config).unwrap()
}

fn query() -> CollectQuery {
    let start: Timestamp = "2026-11-20T00:00:00Z".parse().unwrap();
    CollectQuery {
        slice: Window {
            start,
            end: start + SignedDuration::from_hours(1),
        },
        media_types: MediaType::ALL.to_vec(),
        message_types: vec![],
    }
}

async fn items(client: &GenesysClient) -> Vec<Result<String, GenesysError>> {
    client
        .conversations(query())
        .map(|item| item.map(|c| c.id))
        .collect()
        .await
}

fn assert_names_query(err: &GenesysError) {
    assert!(
        matches!(err, GenesysError::InvalidResponse { .. }),
        "{err:?}"
    );
    assert_eq!(err.endpoint(), Some(format!("POST {QUERY}").as_str()));
    assert!(err.to_string().contains(QUERY));
}

#[tokio::test]
async fn malformed_json() {
    let client = serve(
        r#"{"conversations": [ {"conversationId": "#,
        "application/json",
    )
    .await;
    let items = items(&client).await;
    assert_eq!(items.len(), 1);
    assert_names_query(items[0].as_ref().unwrap_err());
}

#[tokio::test]
async fn html_with_status_200() {
    let client = serve("<html><body>Gateway says hi</body></html>", "text/html").await;
    let items = items(&client).await;
    let err = items[0].as_ref().unwrap_err();
    assert_names_query(err);
    assert!(err.to_string().contains("HTML"));
}

#[tokio::test]
async fn absurd_total_hits() {
    for body in [r#"{"totalHits": -3}"#, r#"{"totalHits": 999999999999}"#] {
        let client = serve(body, "application/json").await;
        let items = items(&client).await;
        assert_eq!(items.len(), 1, "{body}");
        let err = items[0].as_ref().unwrap_err();
        assert_names_query(err);
        assert!(err.to_string().contains("totalHits"));
    }
}

#[tokio::test]
async fn missing_ids_fail_only_their_conversation() {
    let body = r#"{"totalHits": 3, "conversations": [
        {"conversationStart": "2026-11-20T00:10:00.000Z"},
        {"conversationId": "good", "conversationStart": "2026-11-20T00:20:00.000Z", "conversationEnd": "2026-11-20T00:30:00.000Z", "someNewField": {"x": 1}, "participants": [{"purpose": "brandNewPurpose", "sessions": [{"mediaType": "hologram"}]}]},
        {"conversationId": "no-start"}
    ]}"#;
    let client = serve(body, "application/json").await;
    let items = items(&client).await;
    assert_eq!(items.len(), 3);
    assert!(
        items[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("without conversationId")
    );
    assert_eq!(items[1].as_ref().unwrap(), "good");
    assert!(
        items[2]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("without conversationStart")
    );
}

#[tokio::test]
async fn a_recording_without_id_is_an_invalid_outcome_and_unknown_states_are_kept() {
    let client = serve("{}", "application/json").await;
    let fetch = client.fetch_recordings("c1").await.unwrap();
    use digital_recovery::genesys::RecordingOutcome;
    assert!(matches!(
        &fetch.outcomes[0],
        RecordingOutcome::Invalid { .. }
    ));
    assert!(
        matches!(&fetch.outcomes[1], RecordingOutcome::Unavailable { state, .. } if state == "SHREDDED")
    );
}

#[tokio::test]
async fn truncated_body_is_a_transport_error_after_retries() {
    // A server that promises 1000 bytes and closes after 10.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let reply = if request.starts_with("POST /oauth/token") {
                    let body = r#"{"access_token":"t","expires_in":3600}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"totalHit".to_string()
                };
                let _ = socket.write_all(reply.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    let mut config =
        GenesysConfig::for_base_url(&format!("http://{addr}"), "id", Secret::new("s")).unwrap();
    config.requests_per_minute = 0;
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let client = GenesysClient::new(config).unwrap();
    let items = items(&client).await;
    let err = items[0].as_ref().unwrap_err();
    assert!(
        matches!(err, GenesysError::Transport { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(QUERY));
}

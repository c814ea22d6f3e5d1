//! Each variant knob against the default: the outputs differ exactly as the knob describes.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::*;
use crate::api::Window;
use crate::sim::dataset::{Dataset, DatasetConfig, Direction, SimMedia};
use crate::sim::faults::{FaultKind, Faults};

fn window() -> Window {
    // Two days back, so the jobs' data lake (now - 90 min) holds every conversation.
    crate::sim::default_window(Timestamp::now() - SignedDuration::from_hours(48))
}

fn dataset() -> Arc<Dataset> {
    Arc::new(Dataset::generate(&DatasetConfig::new(21, 600, window())))
}

fn sim(variant: GenesysVariant) -> GenesysSim {
    sim_with(dataset(), variant, GenesysSimConfig::default())
}

fn sim_with(
    dataset: Arc<Dataset>,
    variant: GenesysVariant,
    config: GenesysSimConfig,
) -> GenesysSim {
    GenesysSim::new(
        dataset,
        GenesysSimConfig {
            rate_limit: None,
            variant,
            ..config
        },
        Arc::new(Faults::none()),
    )
}

fn variant(text: &str) -> GenesysVariant {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// Serves the simulator on a free loopback port; the server stops with the test's runtime.
pub(super) async fn serve(sim: &GenesysSim) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let router = sim.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

pub(super) fn client() -> reqwest::Client {
    crate::http::build_client(Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) async fn token(http: &reqwest::Client, base: &str) -> String {
    let response = http
        .post(format!("{base}/oauth/token"))
        .basic_auth("sim-client", Some("sim-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let body: Value = response.json().await.unwrap_or_else(|e| panic!("{e}"));
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {body}"))
        .to_string()
}

fn recorded_chat(dataset: &Dataset) -> &SimConversation {
    dataset
        .conversations
        .iter()
        .find(|c| c.media_type == SimMedia::Chat && c.sessions.iter().all(|s| s.recorded))
        .unwrap_or_else(|| panic!("no recorded chat"))
}

fn agent_sessions(rendered: &Value) -> Vec<Value> {
    rendered["participants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| matches!(p["purpose"].as_str(), Some("agent" | "user")))
        .flat_map(|p| p["sessions"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn recording_flag_only_under_the_variant() {
    let ds = dataset();
    let chat = recorded_chat(&ds);
    let plain = render::conversation(&ds, chat, false, &GenesysVariant::default());
    let flagged = render::conversation(&ds, chat, false, &variant("recording-flag"));
    let plain_sessions = agent_sessions(&plain);
    let flagged_sessions = agent_sessions(&flagged);
    assert!(!plain_sessions.is_empty());
    assert!(plain_sessions.iter().all(|s| s.get("recording").is_none()));
    assert!(
        flagged_sessions
            .iter()
            .all(|s| s["recording"] == json!(true))
    );
    // Nothing else changes.
    let strip = |mut v: Value| {
        for p in v["participants"].as_array_mut().into_iter().flatten() {
            for s in p["sessions"].as_array_mut().into_iter().flatten() {
                if let Some(map) = s.as_object_mut() {
                    map.remove("recording");
                }
            }
        }
        v
    };
    assert_eq!(strip(flagged), plain);
    // An unrecorded text conversation carries no flag either way.
    let unrecorded = ds
        .conversations
        .iter()
        .find(|c| c.is_text() && c.is_completed() && c.recordings.is_empty())
        .unwrap_or_else(|| panic!("no unrecorded conversation"));
    let rendered = render::conversation(&ds, unrecorded, false, &variant("recording-flag"));
    assert!(
        agent_sessions(&rendered)
            .iter()
            .all(|s| s.get("recording").is_none())
    );
}

#[test]
fn outbound_agent_legs_have_purpose_user() {
    let ds = dataset();
    for c in ds.conversations.iter().take(200) {
        let rendered = render::conversation(&ds, c, false, &GenesysVariant::default());
        let purposes: Vec<&str> = rendered["participants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["purpose"].as_str())
            .collect();
        let (leg, other) = match c.direction {
            Direction::Inbound => ("agent", "user"),
            Direction::Outbound => ("user", "agent"),
        };
        assert_eq!(
            purposes.iter().filter(|p| **p == leg).count(),
            c.sessions.len()
        );
        assert!(!purposes.contains(&other));
    }
}

#[test]
fn messaging_media_spelling_follows_the_variant() {
    let ds = dataset();
    let message = ds
        .conversations
        .iter()
        .find(|c| c.media_type == SimMedia::Message && !c.recordings.is_empty())
        .unwrap_or_else(|| panic!("no messaging recording"));
    let chat = recorded_chat(&ds);
    let messaging = variant("media=messaging");
    for (v, spelled) in [
        (GenesysVariant::default(), "message"),
        (messaging, "messaging"),
    ] {
        let r = &message.recordings[0];
        assert_eq!(
            render::recording_metadata(message, r, LiveFile::Seeded(r.file_state), &v)["media"],
            json!(spelled)
        );
        assert_eq!(
            render::recording(
                &ds,
                message,
                r,
                LiveFile::Seeded(r.file_state),
                "http://x",
                &v
            )["media"],
            json!(spelled)
        );
        // Other media are not affected.
        assert_eq!(
            render::recording_metadata(
                chat,
                &chat.recordings[0],
                LiveFile::Seeded(chat.recordings[0].file_state),
                &v
            )["media"],
            json!("chat")
        );
    }
}

fn query_body(interval: &str, page_number: u32) -> Value {
    json!({"interval": interval, "paging": {"pageSize": 100, "pageNumber": page_number}})
}

fn interval_of(w: Window) -> String {
    format!("{}/{}", iso_ms(w.start), iso_ms(w.end))
}

#[tokio::test]
async fn empty_pages_have_the_variants_shape() {
    let ds = dataset();
    let interval = interval_of(ds.config.window);
    let config = GenesysSimConfig {
        job_run_time: Duration::ZERO,
        ..GenesysSimConfig::default()
    };
    let http = client();
    for (text, expected_empty) in [
        ("", None),
        ("empty-page=bare", Some(json!({}))),
        ("empty-page=empty-list", Some(json!({"conversations": []}))),
    ] {
        let sim = sim_with(ds.clone(), variant(text), config.clone());
        let base = serve(&sim).await;
        let bearer = token(&http, &base).await;
        let query = |page: u32| {
            http.post(format!(
                "{base}/api/v2/analytics/conversations/details/query"
            ))
            .bearer_auth(&bearer)
            .json(&query_body(&interval, page))
            .send()
        };
        let first: Value = query(1)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let total = first["totalHits"]
            .as_u64()
            .unwrap_or_else(|| panic!("{text}: non-empty page without totalHits"));
        assert_eq!(
            first["conversations"].as_array().map(Vec::len),
            Some(100),
            "{text}"
        );
        let last = total.div_ceil(100) as u32 + 1;
        let empty: Value = query(last)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let expected = expected_empty.unwrap_or_else(|| json!({"totalHits": total}));
        assert_eq!(empty, expected, "{text}");

        // An async job with no results: only empty-list adds `conversations`.
        let nothing = "2001-01-01T00:00:00.000Z/2001-01-02T00:00:00.000Z";
        let submitted: Value = http
            .post(format!(
                "{base}/api/v2/analytics/conversations/details/jobs"
            ))
            .bearer_auth(&bearer)
            .json(&json!({"interval": nothing}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let job = submitted["jobId"].as_str().unwrap_or_default();
        let results: Value = http
            .get(format!(
                "{base}/api/v2/analytics/conversations/details/jobs/{job}/results"
            ))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(results.get("dataAvailabilityDate").is_some(), "{results}");
        assert!(results.get("cursor").is_none(), "{results}");
        assert_eq!(
            results.get("conversations"),
            (text == "empty-page=empty-list").then_some(&json!([])),
            "{text}: {results}"
        );
    }
}

#[tokio::test]
async fn retry_after_on_202s_only_under_the_variant() {
    let ds = dataset();
    let config = GenesysSimConfig {
        job_run_time: Duration::from_secs(30),
        ..GenesysSimConfig::default()
    };
    let http = client();
    let chat = recorded_chat(&ds);
    for (text, wanted) in [("", false), ("retry-after-202", true)] {
        let sim = sim_with(ds.clone(), variant(text), config.clone());
        let base = serve(&sim).await;
        let bearer = token(&http, &base).await;
        // A transcoding recordings list (transcode-time 2 s by default).
        sim.faults().force(FaultKind::Transcode, 1);
        let response = http
            .get(format!(
                "{base}/api/v2/conversations/{}/recordings?maxWaitMs=0",
                chat.id
            ))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let retry_after = |r: &reqwest::Response| {
            r.headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        match retry_after(&response) {
            Some(seconds) => assert!(wanted && (1..=2).contains(&seconds), "{seconds}"),
            None => assert!(!wanted, "{text}: no Retry-After"),
        }
        // The single recording, still transcoding.
        let one = http
            .get(format!(
                "{base}/api/v2/conversations/{}/recordings/{}?maxWaitMs=0",
                chat.id, chat.recordings[0].id
            ))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(one.status(), StatusCode::ACCEPTED);
        assert_eq!(retry_after(&one).is_some(), wanted, "{text}");
        // A running job: submission and status are 202s.
        let submitted = http
            .post(format!(
                "{base}/api/v2/analytics/conversations/details/jobs"
            ))
            .bearer_auth(&bearer)
            .json(&json!({"interval": interval_of(ds.config.window)}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(submitted.status(), StatusCode::ACCEPTED);
        assert_eq!(retry_after(&submitted), wanted.then_some(30), "{text}");
        let body: Value = submitted.json().await.unwrap_or_else(|e| panic!("{e}"));
        let job = body["jobId"].as_str().unwrap_or_default();
        let status = http
            .get(format!(
                "{base}/api/v2/analytics/conversations/details/jobs/{job}"
            ))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status.status(), StatusCode::ACCEPTED);
        match retry_after(&status) {
            Some(seconds) => assert!(wanted && (29..=30).contains(&seconds), "{seconds}"),
            None => assert!(!wanted, "{text}: no Retry-After on the job status"),
        }
    }
}

#[tokio::test]
async fn oauth_errors_have_the_variants_fields() {
    let http = client();
    for (text, expected) in [
        (
            "",
            json!({"error": "invalid_client", "description": "authentication failed"}),
        ),
        (
            "oauth-error=error_description",
            json!({"error": "invalid_client", "error_description": "authentication failed"}),
        ),
        (
            "oauth-error=both",
            json!({"error": "invalid_client", "description": "authentication failed",
                   "error_description": "authentication failed"}),
        ),
    ] {
        let sim = sim(variant(text));
        let base = serve(&sim).await;
        let response = http
            .post(format!("{base}/oauth/token"))
            .basic_auth("sim-client", Some("wrong"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body, expected, "{text}");
    }
}

/// Matches of one interval, through the query's and the jobs' rules.
fn matched(sim: &GenesysSim, interval: (Timestamp, Timestamp), id: Uuid) -> [bool; 2] {
    let body = json!({
        "interval": format!("{}/{}", iso_ms(interval.0), iso_ms(interval.1)),
        "conversationFilters": [{"predicates": [{"dimension": "conversationId", "value": id.to_string()}]}],
    });
    let query = parse_query(&body).unwrap_or_else(|_| panic!("bad query"));
    [Matching::StartDayAndOverlap, Matching::Overlap]
        .map(|rule| !sim.state.matching(&query, rule, None).is_empty())
}

#[test]
fn interval_end_exclusivity_follows_the_variant() {
    let ds = dataset();
    let c = ds
        .conversations
        .iter()
        .find(|c| c.is_completed() && c.start.as_second() % 86_400 > 3600)
        .unwrap_or_else(|| panic!("no conversation"));
    let Some(end) = c.end else { unreachable!() };
    let exclusive = sim_with(
        ds.clone(),
        GenesysVariant::default(),
        GenesysSimConfig::default(),
    );
    let inclusive = sim_with(
        ds.clone(),
        variant("interval-end=inclusive"),
        GenesysSimConfig::default(),
    );
    let minutes = SignedDuration::from_mins(10);
    // The interval ends exactly at the conversation's start.
    let ends_at_start = (c.start - minutes, c.start);
    assert_eq!(matched(&exclusive, ends_at_start, c.id), [false, false]);
    assert_eq!(matched(&inclusive, ends_at_start, c.id), [true, true]);
    // The interval starts exactly at the conversation's end (lifetime overlap).
    let starts_at_end = (end, end + minutes);
    assert!(!matched(&exclusive, starts_at_end, c.id)[1]);
    assert!(matched(&inclusive, starts_at_end, c.id)[1]);
    // Strictly inside: both readings agree.
    let around = (c.start - minutes, c.start + SignedDuration::from_secs(1));
    assert_eq!(matched(&exclusive, around, c.id), [true, true]);
    assert_eq!(matched(&inclusive, around, c.id), [true, true]);
}

#[tokio::test]
async fn recordings_calls_are_counted_and_unrecorded_answer_an_empty_list() {
    let ds = dataset();
    let sim = sim_with(
        ds.clone(),
        GenesysVariant::default(),
        GenesysSimConfig::default(),
    );
    let base = serve(&sim).await;
    let http = client();
    let bearer = token(&http, &base).await;
    let unrecorded: Vec<&SimConversation> = ds
        .conversations
        .iter()
        .filter(|c| c.is_text() && c.recordings.is_empty())
        .take(2)
        .collect();
    assert_eq!(unrecorded.len(), 2);
    let chat = recorded_chat(&ds);
    let mut ids = vec![
        unrecorded[0].id,
        unrecorded[0].id,
        unrecorded[1].id,
        chat.id,
    ];
    ids.push(Uuid::nil());
    for id in ids {
        let response = http
            .get(format!("{base}/api/v2/conversations/{id}/recordings"))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if unrecorded.iter().any(|c| c.id == id) {
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(body, json!([]));
        }
    }
    // The single-recording route is not the list route.
    let _ = http
        .get(format!(
            "{base}/api/v2/conversations/{}/recordings/{}",
            chat.id, chat.recordings[0].id
        ))
        .bearer_auth(&bearer)
        .send()
        .await;
    let stats = sim.stats();
    assert_eq!(stats.recordings_calls, 5);
    assert_eq!(stats.unrecorded_recordings_calls, 3);
    assert_eq!(stats.unrecorded_conversations_fetched, 2);
    let served: Value = http
        .get(format!("{base}/sim/genesys/stats"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served["recordingsCalls"], json!(5));
    assert_eq!(served["unrecordedRecordingsCalls"], json!(3));
    assert_eq!(served["unrecordedConversationsFetched"], json!(2));
}

//! Restoring archived recordings over HTTP: ARCHIVED -> RESTORING -> RESTORED with a transcript,
//! asking again changes nothing, bad dates and deleted recordings are refused, and the fault
//! `restore-forbidden` answers 403 as Genesys does without the permission.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::tests::{client, serve, token};
use super::*;
use crate::sim::dataset::{Dataset, DatasetConfig};
use crate::sim::faults::Faults;

fn dataset() -> Arc<Dataset> {
    let window = crate::sim::default_window(Timestamp::now() - SignedDuration::from_hours(48));
    Arc::new(Dataset::generate(&DatasetConfig {
        archived_rate: 0.3,
        deleted_rate: 0.1,
        ..DatasetConfig::new(33, 300, window)
    }))
}

fn sim(dataset: Arc<Dataset>, restore_delay: Duration, faults: &str) -> GenesysSim {
    let spec = faults.parse().unwrap_or_else(|e| panic!("{e}"));
    GenesysSim::new(
        dataset,
        GenesysSimConfig {
            rate_limit: None,
            restore_delay,
            ..GenesysSimConfig::default()
        },
        Arc::new(Faults::new(spec, 1)),
    )
}

/// A text conversation whose (first) recording has `state`, and that recording's id.
fn with_recording(ds: &Dataset, state: FileState) -> (String, String) {
    ds.conversations
        .iter()
        .filter(|c| c.is_text())
        .find_map(|c| {
            c.recordings
                .first()
                .filter(|r| r.file_state == state)
                .map(|r| (c.id.to_string(), r.id.to_string()))
        })
        .unwrap_or_else(|| panic!("no {state:?} recording"))
}

struct Api {
    http: reqwest::Client,
    base: String,
    bearer: String,
}

impl Api {
    async fn new(sim: &GenesysSim) -> Api {
        let http = client();
        let base = serve(sim).await;
        let bearer = token(&http, &base).await;
        Api { http, base, bearer }
    }

    async fn put(&self, cid: &str, rid: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .put(format!(
                "{}/api/v2/conversations/{cid}/recordings/{rid}",
                self.base
            ))
            .bearer_auth(&self.bearer)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or_else(|e| panic!("{e}")),
        )
    }

    /// The recording as `GET .../recordings` lists it.
    async fn listed(&self, cid: &str, rid: &str) -> Value {
        let list: Value = self
            .http
            .get(format!(
                "{}/api/v2/conversations/{cid}/recordings",
                self.base
            ))
            .bearer_auth(&self.bearer)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        list.as_array()
            .into_iter()
            .flatten()
            .find(|r| r["id"] == json!(rid))
            .cloned()
            .unwrap_or_else(|| panic!("{rid} not listed in {list}"))
    }
}

fn has_transcript(recording: &Value) -> bool {
    ["transcript", "emailTranscript", "messagingTranscript"]
        .iter()
        .any(|field| recording[*field].as_array().is_some_and(|t| !t.is_empty()))
}

fn in_a_week() -> String {
    iso_ms(Timestamp::now() + SignedDuration::from_hours(7 * 24))
}

#[tokio::test]
async fn an_archived_recording_restores_once_and_then_serves_its_transcript() {
    let ds = dataset();
    let (cid, rid) = with_recording(&ds, FileState::Archived);
    // Restoring takes longer than the test: the recording stays RESTORING.
    let slow = sim(ds.clone(), Duration::from_secs(3600), "");
    let api = Api::new(&slow).await;
    let before = api.listed(&cid, &rid).await;
    assert_eq!(before["fileState"], "ARCHIVED");
    assert!(!has_transcript(&before) && before.get("sessionId").is_none());

    let until = in_a_week();
    let (status, answer) = api.put(&cid, &rid, json!({"archiveDate": until})).await;
    assert_eq!((status, &answer["fileState"]), (200, &json!("RESTORING")));
    assert_eq!(answer["restoreExpirationTime"], json!(until));
    let restoring = api.listed(&cid, &rid).await;
    assert_eq!(restoring["fileState"], "RESTORING");
    assert!(!has_transcript(&restoring));
    // Asking again (a retry after a lost answer, a later run) changes nothing.
    let (status, again) = api.put(&cid, &rid, json!({"archiveDate": until})).await;
    assert_eq!((status, &again["fileState"]), (200, &json!("RESTORING")));
    let stats = slow.stats();
    assert_eq!(
        (
            stats.restore_requests,
            stats.restore_requested,
            stats.restored
        ),
        (2, 1, 0)
    );

    // Without a delay the restoration is done at once: RESTORED, transcript and session back.
    let quick = sim(ds, Duration::ZERO, "");
    let api = Api::new(&quick).await;
    let (status, answer) = api.put(&cid, &rid, json!({"archiveDate": until})).await;
    assert_eq!((status, &answer["fileState"]), (200, &json!("RESTORED")));
    let restored = api.listed(&cid, &rid).await;
    assert_eq!(restored["fileState"], "RESTORED");
    assert!(has_transcript(&restored), "{restored}");
    assert!(restored["sessionId"].is_string());
    assert_eq!(restored["archiveDate"], json!(until));
    assert_eq!(quick.restorations().restored().len(), 1);
    assert_eq!(quick.stats().restored, 1);
}

#[tokio::test]
async fn bad_restore_requests_are_refused_and_change_nothing() {
    let ds = dataset();
    let (cid, rid) = with_recording(&ds, FileState::Archived);
    let sim = sim(ds.clone(), Duration::ZERO, "");
    let api = Api::new(&sim).await;
    let yesterday = iso_ms(Timestamp::now() - SignedDuration::from_hours(24));
    for (body, code) in [
        (json!({}), "bad.request"),
        (json!({"archiveDate": "soon"}), "invalid.date"),
        (json!({"archiveDate": yesterday}), "invalid.date"),
    ] {
        let (status, answer) = api.put(&cid, &rid, body.clone()).await;
        assert_eq!((status, &answer["code"]), (400, &json!(code)), "{body}");
    }
    let (deleted_cid, deleted_rid) = with_recording(&ds, FileState::Deleted);
    let (status, _) = api
        .put(
            &deleted_cid,
            &deleted_rid,
            json!({"archiveDate": in_a_week()}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, answer) = api
        .put(
            &cid,
            "no-such-recording",
            json!({"archiveDate": in_a_week()}),
        )
        .await;
    assert_eq!((status, &answer["code"]), (404, &json!("not.found")));
    assert_eq!(api.listed(&cid, &rid).await["fileState"], "ARCHIVED");
    assert_eq!(sim.stats().restore_requested, 0);
}

#[tokio::test]
async fn without_the_permission_a_restore_is_a_403() {
    let ds = dataset();
    let (cid, rid) = with_recording(&ds, FileState::Archived);
    let sim = sim(ds, Duration::ZERO, "restore-forbidden=1");
    let api = Api::new(&sim).await;
    let (status, answer) = api
        .put(&cid, &rid, json!({"archiveDate": in_a_week()}))
        .await;
    assert_eq!(status, 403);
    assert_eq!(answer["code"], "missing.permissions");
    assert_eq!(answer["status"], 403);
    assert!(answer["contextId"].is_string());
    assert_eq!(api.listed(&cid, &rid).await["fileState"], "ARCHIVED");
    let stats = sim.stats();
    assert_eq!((stats.restore_forbidden, stats.restore_requested), (1, 0));
}

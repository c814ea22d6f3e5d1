//! The Genesys client against the in-process Genesys simulator: every endpoint, every fault kind.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use digital_recovery::api::{MediaType, Window};
use digital_recovery::genesys::{
    CollectQuery, GenesysClient, GenesysConfig, GenesysError, JobsMode, RecordingFile,
    RecordingOutcome,
};
use digital_recovery::http::{RetryPolicy, Secret};
use digital_recovery::pipeline::balance::{CONVERSATIONS_PER_AUTO_SHARD, ShardCount};
use digital_recovery::sim::dataset::{
    Dataset, DatasetConfig, FileState, SimConversation, SimMedia,
};
use digital_recovery::sim::faults::{FaultKind, FaultSpec, Faults};
use digital_recovery::sim::genesys::{GenesysSim, GenesysSimConfig};
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};

struct Harness {
    url: String,
    sim: GenesysSim,
    dataset: Arc<Dataset>,
    window: Window,
}

fn window() -> Window {
    let end = Timestamp::now() - SignedDuration::from_hours(1);
    let end = Timestamp::from_second(end.as_second() - end.as_second().rem_euclid(60)).unwrap();
    Window {
        start: end - SignedDuration::from_hours(24),
        end,
    }
}

async fn harness_with(
    conversations: usize,
    sim_config: GenesysSimConfig,
    spec: FaultSpec,
) -> Harness {
    let window = window();
    let dataset = Arc::new(Dataset::generate(&DatasetConfig::new(
        42,
        conversations,
        window,
    )));
    let sim = GenesysSim::new(dataset.clone(), sim_config, Arc::new(Faults::new(spec, 42)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Harness {
        url,
        sim,
        dataset,
        window,
    }
}

async fn harness(conversations: usize) -> Harness {
    harness_with(
        conversations,
        GenesysSimConfig {
            rate_limit: None,
            ..GenesysSimConfig::default()
        },
        FaultSpec::default(),
    )
    .await
}

fn config(h: &Harness) -> GenesysConfig {
    let mut config =
        GenesysConfig::for_base_url(&h.url, "sim-client", Secret::new("sim-secret")).unwrap();
    config.requests_per_minute = 0;
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    config.transcode_poll_delay = Duration::from_millis(50);
    config
}

fn client(h: &Harness) -> GenesysClient {
    GenesysClient::new(config(h)).unwrap()
}

fn all_media(window: Window) -> CollectQuery {
    CollectQuery {
        slice: window,
        media_types: MediaType::ALL.to_vec(),
        message_types: Vec::new(),
    }
}

fn expected(
    h: &Harness,
    slice: &Window,
    keep: impl Fn(&SimConversation) -> bool,
) -> HashSet<String> {
    h.dataset
        .conversations
        .iter()
        // Open ones too: the collection lists them for the matcher to carry.
        .filter(|c| c.is_text() && c.start >= slice.start && c.start < slice.end && keep(c))
        .map(|c| c.id.to_string())
        .collect()
}

async fn collect(client: &GenesysClient, query: CollectQuery) -> (Vec<String>, Vec<GenesysError>) {
    let mut ids = Vec::new();
    let mut errors = Vec::new();
    let mut stream = Box::pin(client.conversations(query));
    while let Some(item) = stream.next().await {
        match item {
            Ok(c) => ids.push(c.id),
            Err(e) => errors.push(e),
        }
    }
    (ids, errors)
}

fn assert_exactly(ids: &[String], expected: &HashSet<String>) {
    let got: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(got.len(), ids.len(), "duplicates in the stream");
    assert_eq!(&got, expected);
}

#[tokio::test]
async fn sync_collection_returns_exactly_the_text_conversations_of_the_slice() {
    let h = harness(3000).await;
    let mut config = config(&h);
    config.jobs = JobsMode::Never;
    config.max_slice = Duration::from_secs(5 * 3600); // slices that don't align with days
    let client = GenesysClient::new(config).unwrap();
    // A slice in the middle of the window: neighbours returned by the interval rule are dropped.
    let slice = Window {
        start: h.window.start + SignedDuration::from_hours(3),
        end: h.window.start + SignedDuration::from_hours(20),
    };
    let (ids, errors) = collect(&client, all_media(slice)).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_exactly(&ids, &expected(&h, &slice, |_| true));
    let counters = client.counters();
    assert!(counters.calls > 1 && counters.throttled == 0);
}

#[tokio::test]
async fn media_division_and_message_type_filters() {
    let h = harness(3000).await;
    let mut config = config(&h);
    config.jobs = JobsMode::Never;
    config.division_ids = vec![h.dataset.divisions[0].to_string()];
    let client = GenesysClient::new(config).unwrap();
    let query = CollectQuery {
        slice: h.window,
        media_types: vec![MediaType::Email, MediaType::Social],
        message_types: vec!["sms".into(), "whatsapp".into()],
    };
    let (ids, errors) = collect(&client, query).await;
    assert!(errors.is_empty(), "{errors:?}");
    let want = expected(&h, &h.window, |c| {
        c.division == 0
            && (c.media_type == SimMedia::Email
                || c.message_type
                    .is_some_and(|m| matches!(m.as_str(), "sms" | "whatsapp")))
    });
    assert!(!want.is_empty());
    assert_exactly(&ids, &want);
}

#[tokio::test]
async fn a_slice_over_the_paging_cap_is_split() {
    let h = harness_with(
        2000,
        GenesysSimConfig {
            rate_limit: None,
            paging_cap: 300,
            ..GenesysSimConfig::default()
        },
        FaultSpec::default(),
    )
    .await;
    let mut config = config(&h);
    config.jobs = JobsMode::Never;
    config.paging_cap = 300;
    let client = GenesysClient::new(config).unwrap();
    let (ids, errors) = collect(&client, all_media(h.window)).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_exactly(&ids, &expected(&h, &h.window, |_| true));
}

#[tokio::test]
async fn the_sim_refuses_to_page_past_the_cap() {
    let h = harness_with(
        200,
        GenesysSimConfig {
            rate_limit: None,
            paging_cap: 100,
            ..GenesysSimConfig::default()
        },
        FaultSpec::default(),
    )
    .await;
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/oauth/token", h.url))
        .basic_auth("sim-client", Some("sim-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["access_token"].as_str().unwrap().to_string();
    let interval = format!("{}/{}", h.window.start, h.window.end);
    let response = http
        .post(format!("{}/api/v2/analytics/conversations/details/query", h.url))
        .bearer_auth(&bearer)
        .json(&serde_json::json!({"interval": interval, "paging": {"pageSize": 100, "pageNumber": 2}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let header = response
        .headers()
        .get("inin-correlation-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Pagination may not exceed 100 results.");
    assert_eq!(body["code"], "bad.request");
    assert_eq!(body["contextId"], header.as_str());
    assert_eq!(body["details"], serde_json::json!([]));
}

#[tokio::test]
async fn jobs_cover_the_lake_and_the_sync_query_covers_the_rest() {
    // dataAvailabilityDate 10 h ago: the job serves the older part, a sync query the newer.
    let h = harness_with(
        3000,
        GenesysSimConfig {
            rate_limit: None,
            data_lag: Duration::from_secs(10 * 3600),
            job_run_time: Duration::from_millis(200),
            ..GenesysSimConfig::default()
        },
        FaultSpec::default(),
    )
    .await;
    for mode in [JobsMode::Always, JobsMode::Auto] {
        let mut config = config(&h);
        config.jobs = mode;
        config.jobs_threshold = 50;
        config.max_slice = Duration::from_secs(24 * 3600);
        let client = GenesysClient::new(config).unwrap();
        let before = h.sim.stats().api_requests;
        let (ids, errors) = collect(&client, all_media(h.window)).await;
        assert!(errors.is_empty(), "{errors:?}");
        assert_exactly(&ids, &expected(&h, &h.window, |_| true));
        // ~2850 text conversations by sync paging would take 29+ requests; a job takes a
        // handful, plus the sync tail (about 13 pages: the ~1,250 that ended within the 10 h
        // the lake lacks, and the open ones).
        assert!(
            h.sim.stats().api_requests - before < 25,
            "{mode:?}: jobs were not used"
        );
    }
}

#[tokio::test]
async fn job_endpoints_directly() {
    let h = harness_with(
        500,
        GenesysSimConfig {
            rate_limit: None,
            job_run_time: Duration::from_millis(300),
            ..GenesysSimConfig::default()
        },
        FaultSpec::default(),
    )
    .await;
    let client = client(&h);
    let availability = client.data_availability().await.unwrap();
    assert!(availability < Timestamp::now());
    let job = client
        .submit_job(&all_media(h.window), &h.window)
        .await
        .unwrap();
    let status = client.job_status(&job).await.unwrap();
    assert!(matches!(
        status.state.as_deref(),
        Some("QUEUED" | "PENDING")
    ));
    // Results before FULFILLED are refused.
    let early = client.job_results_page(&job, None).await.unwrap_err();
    assert_eq!(early.status(), Some(400));
    client.wait_for_job(&job).await.unwrap();
    let page = client.job_results_page(&job, None).await.unwrap();
    assert!(page.data_availability_date.is_some());
    assert!(!page.conversations.is_empty());
    // Participant attributes are truncated to 1024 characters.
    let attrs = &page.conversations[0]["participants"][0]["attributes"];
    assert!(attrs["crmNote"].as_str().unwrap().len() <= 1024);
    client.cancel_job(&job).await.unwrap();
    assert_eq!(
        client.job_status(&job).await.unwrap().state.as_deref(),
        Some("CANCELLED")
    );
    let missing = client.job_status("no-such-job").await.unwrap_err();
    assert_eq!(
        (missing.status(), missing.code()),
        (Some(404), Some("not.found"))
    );
}

fn find(h: &Harness, f: impl Fn(&SimConversation) -> bool) -> &SimConversation {
    h.dataset
        .conversations
        .iter()
        .find(|c| f(c))
        .expect("the dataset has such a conversation")
}

#[tokio::test]
async fn recordings_with_transcripts_of_every_text_media() {
    let h = harness(3000).await;
    let client = client(&h);
    for (media, field_check) in [
        (SimMedia::Chat, "body"),
        (SimMedia::Email, "textBody"),
        (SimMedia::Message, "messageText"),
    ] {
        let c = find(&h, |c| {
            c.media_type == media
                && c.recordings.len() == 1
                && c.recordings[0].file_state == FileState::Available
        });
        let id = c.id.to_string();
        let metadata = client.recording_metadata(&id).await.unwrap();
        assert_eq!(metadata.len(), 1);
        assert!(
            metadata[0].transcript_entries().is_none(),
            "metadata carries no transcript"
        );
        let one = client
            .recording_metadata_one(&id, metadata[0].id.as_deref().unwrap())
            .await
            .unwrap();
        assert_eq!(one.id, metadata[0].id);
        let fetch = client.fetch_recordings(&id).await.unwrap();
        match &fetch.outcomes[..] {
            [
                RecordingOutcome::Available {
                    transcript,
                    session_id,
                    ..
                },
            ] => {
                assert!(!transcript.is_empty());
                assert!(transcript.iter().all(|e| e.get(field_check).is_some()));
                assert_eq!(
                    session_id.as_deref(),
                    Some(c.sessions[0].id.to_string().as_str())
                );
                // Same content the dataset says.
                assert_eq!(transcript, &h.dataset.transcript(c, &c.recordings[0]));
            }
            other => panic!("{other:?}"),
        }
        let single = client
            .recording(&id, &c.recordings[0].id.to_string())
            .await
            .unwrap();
        assert!(single.transcript_entries().is_some());
    }
    // A transfer: two sessions, two recordings.
    let transfer = find(&h, |c| {
        c.recordings.len() == 2
            && c.recordings
                .iter()
                .all(|r| r.file_state == FileState::Available)
    });
    let fetch = client
        .fetch_recordings(&transfer.id.to_string())
        .await
        .unwrap();
    assert_eq!(fetch.outcomes.len(), 2);
}

#[tokio::test]
async fn archived_deleted_unrecorded_and_unknown() {
    let h = harness(5000).await;
    let client = client(&h);
    let archived = find(&h, |c| {
        c.is_text()
            && c.recordings
                .first()
                .is_some_and(|r| r.file_state == FileState::Archived)
    });
    let fetch = client
        .fetch_recordings(&archived.id.to_string())
        .await
        .unwrap();
    assert!(fetch.outcomes.iter().all(|o| matches!(o, RecordingOutcome::Archived { archive_date: Some(_), archive_medium: Some(m), session_id: None, .. } if m == "CLOUDARCHIVE")), "{fetch:?}");
    let deleted = find(&h, |c| {
        c.is_text()
            && c.recordings
                .first()
                .is_some_and(|r| r.file_state == FileState::Deleted)
    });
    let fetch = client
        .fetch_recordings(&deleted.id.to_string())
        .await
        .unwrap();
    assert!(
        fetch.outcomes.iter().all(|o| matches!(
            o,
            RecordingOutcome::Deleted {
                delete_date: Some(_),
                ..
            }
        )),
        "{fetch:?}"
    );
    let unrecorded = find(&h, |c| {
        c.is_text() && c.end.is_some() && c.recordings.is_empty()
    });
    assert!(
        client
            .fetch_recordings(&unrecorded.id.to_string())
            .await
            .unwrap()
            .outcomes
            .is_empty()
    );
    let unknown = client
        .fetch_recordings("00000000-0000-4000-8000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(
        (unknown.status(), unknown.code()),
        (Some(404), Some("not.found"))
    );
    assert!(
        unknown
            .to_string()
            .contains("/api/v2/conversations/{id}/recordings"),
        "{unknown}"
    );
}

/// A batch answers only the conversations all of whose recordings it prepared as files, which
/// hold what `GET .../recordings` gives; the rest (archived, never recorded, unknown) are left
/// to that GET. A file that is not the recording the batch named is refused.
#[tokio::test]
async fn batch_recording_files_hold_what_the_recordings_api_gives() {
    let h = harness(2000).await;
    let client = client(&h);
    let available: Vec<String> = h
        .dataset
        .conversations
        .iter()
        .filter(|c| {
            c.is_text()
                && !c.recordings.is_empty()
                && c.recordings
                    .iter()
                    .all(|r| r.file_state == FileState::Available)
        })
        .take(5)
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(available.len(), 5);
    let archived = find(&h, |c| {
        c.is_text()
            && c.recordings
                .iter()
                .any(|r| r.file_state == FileState::Archived)
    });
    let unrecorded = find(&h, |c| c.is_text() && c.recordings.is_empty());
    let unknown = "00000000-0000-4000-8000-000000000000".to_string();
    let mut ids = available.clone();
    ids.extend([
        archived.id.to_string(),
        unrecorded.id.to_string(),
        unknown.clone(),
    ]);
    let files = client.batch_recording_files(&ids).await.unwrap();
    let mut answered: Vec<&String> = files.keys().collect();
    answered.sort();
    let mut expected: Vec<&String> = available.iter().collect();
    expected.sort();
    assert_eq!(answered, expected);
    for id in &available {
        let mut single = client.fetch_recordings(id).await.unwrap();
        let mut batched = client.download_recordings(id, &files[id]).await.unwrap();
        let key = |o: &RecordingOutcome| format!("{o:?}");
        single.outcomes.sort_by_key(key);
        batched.outcomes.sort_by_key(key);
        assert_eq!(batched.outcomes, single.outcomes, "{id}");
        assert!(!batched.outcomes.is_empty());
    }
    // The files of one conversation offered for another's recording ids: refused.
    let (first, second) = (&available[0], &available[1]);
    let swapped: Vec<RecordingFile> = files[first]
        .iter()
        .map(|file| RecordingFile {
            recording_id: files[second][0].recording_id.clone(),
            url: file.url.clone(),
        })
        .collect();
    assert!(client.download_recordings(first, &swapped).await.is_err());
    assert!(client.download_recordings(first, &[]).await.is_err());
    // Genesys takes 1 to 100 conversations a batch: the client asks for no other size.
    for size in [0, 101] {
        let ids = vec![first.clone(); size];
        let refused = client.batch_recording_files(&ids).await.unwrap_err();
        assert!(refused.to_string().contains("1 to 100"), "{refused}");
    }
}

#[tokio::test]
async fn transcoding_is_polled_through_or_reported() {
    let h = harness(2000).await;
    let mut config = config(&h);
    config.transcode_max_wait = Duration::from_millis(100);
    config.transcode_polls = 3;
    let client = GenesysClient::new(config.clone()).unwrap();
    let mut available = h
        .dataset
        .conversations
        .iter()
        .filter(|c| c.is_text() && c.has_available_recording());
    // Transcoding for 2 s by default; 3 polls of 100 ms + 50 ms pauses give up: a typed failure.
    h.sim.faults().force(FaultKind::Transcode, 1);
    let first = available.next().unwrap();
    let err = client
        .fetch_recordings(&first.id.to_string())
        .await
        .unwrap_err();
    assert!(
        matches!(err, GenesysError::StillTranscoding { attempts: 3, .. }),
        "{err:?}"
    );
    // With a longer maxWaitMs the server waits the transcoding out (honours maxWaitMs).
    let mut patient = config;
    patient.transcode_max_wait = Duration::from_millis(2500);
    let client = GenesysClient::new(patient).unwrap();
    h.sim.faults().force(FaultKind::Transcode, 1);
    let second = available.next().unwrap();
    let fetch = client
        .fetch_recordings(&second.id.to_string())
        .await
        .unwrap();
    assert!(!fetch.outcomes.is_empty());
}

#[tokio::test]
async fn every_request_fault_kind_is_survived() {
    let h = harness_with(
        1500,
        GenesysSimConfig {
            rate_limit: None,
            ..GenesysSimConfig::default()
        },
        FaultSpec {
            hang: Duration::from_millis(1500),
            ..FaultSpec::default()
        },
    )
    .await;
    let mut config = config(&h);
    config.jobs = JobsMode::Never;
    config.request_timeout = Duration::from_millis(700);
    let client = GenesysClient::new(config).unwrap();
    let want = expected(&h, &h.window, |_| true);
    let kinds = [
        FaultKind::TooManyRequests,
        FaultKind::TooManyRequestsBare,
        FaultKind::Status(500),
        FaultKind::Status(502),
        FaultKind::Status(503),
        FaultKind::Status(504),
        FaultKind::Status(408),
        FaultKind::Timeout,
        FaultKind::Truncate,
        FaultKind::TokenRevoke,
    ];
    for kind in kinds {
        let before = client.counters();
        let injected = h.sim.stats().faults_injected;
        h.sim.faults().force(kind, 2);
        let (ids, errors) = collect(&client, all_media(h.window)).await;
        assert!(errors.is_empty(), "{kind:?}: {errors:?}");
        assert_exactly(&ids, &want);
        assert_eq!(
            h.sim.stats().faults_injected,
            injected + 2,
            "{kind:?} was injected twice"
        );
        let after = client.counters();
        if matches!(
            kind,
            FaultKind::TooManyRequests | FaultKind::TooManyRequestsBare
        ) {
            assert_eq!(after.throttled - before.throttled, 2, "{kind:?}");
        }
        assert!(after.calls >= before.calls + 2);
    }
    // token-revoke made the client fetch a new token.
    assert!(h.sim.stats().tokens_issued >= 2);
}

#[tokio::test]
async fn random_fault_mix_still_yields_the_exact_set() {
    let spec: FaultSpec = "429=0.03,5xx=0.05,truncate=0.03,token-revoke=0.02"
        .parse()
        .unwrap();
    let h = harness_with(
        3000,
        GenesysSimConfig {
            rate_limit: None,
            ..GenesysSimConfig::default()
        },
        spec,
    )
    .await;
    let mut config = config(&h);
    config.jobs = JobsMode::Never;
    let client = GenesysClient::new(config).unwrap();
    let (ids, errors) = collect(&client, all_media(h.window)).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_exactly(&ids, &expected(&h, &h.window, |_| true));
    assert!(h.sim.stats().faults_injected > 0);
}

#[tokio::test]
async fn short_token_expiry_is_renewed() {
    let spec: FaultSpec = "token-expiry=6s".parse().unwrap();
    let h = harness_with(
        300,
        GenesysSimConfig {
            rate_limit: None,
            ..GenesysSimConfig::default()
        },
        spec,
    )
    .await;
    let client = client(&h);
    let c = find(&h, |c| c.is_text()).id.to_string();
    client.recording_metadata(&c).await.unwrap();
    // Renewal happens 5 s before expiry: after 1.2 s the client renews proactively.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    client.recording_metadata(&c).await.unwrap();
    assert_eq!(h.sim.stats().tokens_issued, 2);
}

#[tokio::test]
async fn per_token_rate_limit_answers_429_with_retry_after_and_the_client_waits() {
    // A 120/min token: the simulator lets it burst a tenth of a minute's worth (20 requests),
    // then one request every 500 ms.
    const PER_MINUTE: u32 = 120;
    let burst = PER_MINUTE.div_ceil(6);
    let interval = Duration::from_secs(60) / PER_MINUTE;
    let beyond_burst = 6;
    let requests = burst + beyond_burst;
    let h = harness_with(
        300,
        GenesysSimConfig {
            rate_limit: Some(PER_MINUTE),
            ..GenesysSimConfig::default()
        },
        FaultSpec::default(),
    )
    .await;
    // An unthrottled client hammers the token: it must get 429s and retry through.
    let client = client(&h);
    let c = find(&h, |c| c.is_text()).id.to_string();
    let started = std::time::Instant::now();
    for _ in 0..requests {
        client.recording_metadata(&c).await.unwrap();
    }
    let elapsed = started.elapsed();
    let throttled = client.counters().throttled;
    let sim = h.sim.stats();
    // Every 429 the simulator sent was seen, and each cost exactly one more request.
    assert_eq!(sim.rate_limited, throttled);
    assert_eq!(sim.api_requests, u64::from(requests) + throttled);
    assert_eq!(sim.tokens_issued, 1);
    assert_eq!(client.counters().calls, 1 + u64::from(requests) + throttled);
    // Lower bound: at least one 429 (without one, the 26 local requests would have to take over
    // 3 s, the limiter refilling as fast as they come).
    assert!(throttled >= 1, "never throttled");
    // Upper bound: waiting the Retry-After (whole seconds, rounded up from the limiter's own
    // wait) always earns the retried request its slot, so no request is refused twice, and the
    // requests within the burst never are. A slow machine only means fewer 429s.
    assert!(
        throttled <= u64::from(beyond_burst),
        "{throttled} 429s for {beyond_burst} requests beyond the burst"
    );
    // And the client did wait: the rate allows no more than `burst` requests at once, then one
    // per interval.
    assert!(
        elapsed >= interval * (beyond_burst - 1),
        "{requests} requests in {elapsed:?}"
    );
}

#[tokio::test]
async fn a_paced_client_uses_the_burst_then_keeps_to_the_limit_with_one_round_of_429s() {
    // A 600/min token: the simulator lets it burst 100 requests, then one every 100 ms. A client
    // configured at the same limit with four requests in flight sends the burst at once, is told
    // to wait at its end (one 429 per request then in flight), and is never refused again.
    const PER_MINUTE: u32 = 600;
    const IN_FLIGHT: usize = 4;
    let requests = 160;
    let h = harness_with(
        300,
        GenesysSimConfig {
            rate_limit: Some(PER_MINUTE),
            ..GenesysSimConfig::default()
        },
        FaultSpec::default(),
    )
    .await;
    let mut config = config(&h);
    config.requests_per_minute = PER_MINUTE;
    let client = GenesysClient::new(config).unwrap();
    let c = find(&h, |c| c.is_text()).id.to_string();
    let outcomes: Vec<_> = futures::stream::iter(0..requests)
        .map(|_| client.recording_metadata(&c))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    assert!(outcomes.iter().all(Result::is_ok));
    let sim = h.sim.stats();
    assert_eq!(sim.rate_limited, client.counters().throttled);
    assert_eq!(sim.api_requests, requests as u64 + sim.rate_limited);
    // Without the burst there would be no 429 at all; without pacing after it, one every time
    // a request comes before the limiter refilled.
    assert!(
        (1..=IN_FLIGHT as u64).contains(&sim.rate_limited),
        "{} 429s",
        sim.rate_limited
    );
    // The first 429 only ended the burst: the client still paces at the configured limit.
    assert_eq!(client.budget().current_per_minute(), Some(PER_MINUTE));
}

#[tokio::test]
async fn bad_credentials_fail_typed_and_do_not_leak() {
    let h = harness(100).await;
    let mut config = config(&h);
    config.client_secret = Secret::new("not-the-secret");
    let client = GenesysClient::new(config).unwrap();
    let err = client.data_availability().await.unwrap_err();
    assert!(matches!(err, GenesysError::Auth { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("invalid_client") && text.contains("authentication failed"));
    assert!(!text.contains("not-the-secret"));
    assert!(!format!("{client:?}").contains("sim-secret"));
}

#[tokio::test]
async fn bearer_checks_and_token_styles() {
    let h = harness(10).await;
    let http = reqwest::Client::new();
    let api = format!(
        "{}/api/v2/analytics/conversations/details/jobs/availability",
        h.url
    );
    let none = http.get(&api).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["content-type"], "application/json");
    assert_eq!(
        none.json::<serde_json::Value>().await.unwrap()["code"],
        "authentication.required"
    );
    let bad = http.get(&api).bearer_auth("forged").send().await.unwrap();
    assert_eq!(
        bad.json::<serde_json::Value>().await.unwrap()["code"],
        "bad.credentials"
    );
    // Body credentials instead of Basic auth are accepted too.
    let token: HashMap<String, serde_json::Value> = http
        .post(format!("{}/oauth/token", h.url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-client"),
            ("client_secret", "sim-secret"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["token_type"], "bearer");
    assert!(token["expires_in"].as_u64().unwrap() > 80_000);
    let ok = http
        .get(&api)
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let bad_secret = http
        .post(format!("{}/oauth/token", h.url))
        .basic_auth("sim-client", Some("x"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_secret.status(), 400);
    assert_eq!(
        bad_secret.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"error":"invalid_client","description":"authentication failed"})
    );
}

#[tokio::test]
async fn text_sessions_of_a_collected_conversation() {
    let h = harness(100).await;
    let client = client(&h);
    let c = find(&h, |c| {
        c.is_text() && c.end.is_some() && c.sessions.len() == 2
    });
    let mut stream = Box::pin(client.conversations(CollectQuery {
        slice: Window {
            start: c.start,
            end: c.start + SignedDuration::from_millis(1),
        },
        media_types: vec![],
        message_types: vec![],
    }));
    let got = stream.next().await.unwrap().unwrap();
    assert_eq!(got.id, c.id.to_string());
    let sessions = got.text_sessions();
    assert_eq!(sessions.len(), 2);
    assert!(
        sessions
            .iter()
            .zip(&c.sessions)
            .all(|(a, b)| a.session_id == b.id.to_string()
                && Some(a.media_type) == b.media_type.spec_media_type())
    );
    // The documented contract: no analytics `recording` flag on text sessions.
    assert!(
        sessions.iter().all(|s| s.recording_flag.is_none()),
        "{sessions:?}"
    );
}

/// Shards of a business-hours day cut by Genesys' counts hold about equal shares of the
/// conversations (ground truth from the dataset), where equal time slices do not.
#[tokio::test]
async fn balanced_slices_hold_equal_shares_of_a_business_hours_day() {
    let window = window();
    let mut config = DatasetConfig::new(42, 20_000, window);
    config.profile = digital_recovery::sim::dataset::StartProfile::BusinessHours;
    let dataset = Arc::new(Dataset::generate(&config));
    let sim = GenesysSim::new(
        dataset.clone(),
        GenesysSimConfig::default(),
        Arc::new(Faults::new(FaultSpec::default(), 42)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let h = Harness {
        url,
        sim,
        dataset,
        window,
    };
    let genesys = client(&h);
    let held = |slices: &[Window]| -> Vec<usize> {
        slices
            .iter()
            .map(|s| expected(&h, s, |_| true).len())
            .collect()
    };
    let (balanced, cut) = digital_recovery::pipeline::balance::slices(
        std::slice::from_ref(&genesys),
        window,
        &MediaType::ALL,
        &[],
        ShardCount::Exactly(8),
    )
    .await;
    assert_eq!(cut, digital_recovery::pipeline::balance::Cut::Balanced);
    // The estimate counts starts in its slice, as the collection lists them.
    for bin in digital_recovery::pipeline::shard::slices(window, 12) {
        let estimate = genesys
            .estimate_conversations(&all_media(bin))
            .await
            .unwrap();
        assert_eq!(
            estimate,
            Some(expected(&h, &bin, |_| true).len() as u64),
            "{bin:?}"
        );
    }
    let counts = held(&balanced);
    let total: usize = counts.iter().sum();
    let ideal = total as f64 / 8.0;
    let worst = *counts.iter().max().unwrap() as f64;
    assert!(worst / ideal < 1.05, "balanced: {counts:?}");
    let equal = held(&digital_recovery::pipeline::shard::slices(window, 8));
    let equal_worst = *equal.iter().max().unwrap() as f64;
    assert!(equal_worst / ideal > 1.5, "equal time: {equal:?}");

    // `parallelism: auto`: the counts also decide how many slices, one per
    // CONVERSATIONS_PER_AUTO_SHARD, up to what the budgets feed; balanced all the same.
    for (part, most) in [(window_part(window, 0, 6), 8), (window, 8), (window, 64)] {
        let (auto, _) = digital_recovery::pipeline::balance::slices(
            std::slice::from_ref(&genesys),
            part,
            &MediaType::ALL,
            &[],
            ShardCount::AtMost(most),
        )
        .await;
        let counts = held(&auto);
        let total = counts.iter().sum::<usize>() as u64;
        assert_eq!(total, expected(&h, &part, |_| true).len() as u64);
        let wanted = total
            .div_ceil(CONVERSATIONS_PER_AUTO_SHARD)
            .clamp(1, most.into());
        assert_eq!(
            auto.len() as u64,
            wanted,
            "{total} conversations, at most {most}"
        );
        assert_eq!(auto[0].start, part.start);
        assert_eq!(auto[auto.len() - 1].end, part.end);
        let ideal = total as f64 / auto.len() as f64;
        let worst = *counts.iter().max().unwrap() as f64;
        assert!(worst / ideal < 1.05, "auto: {counts:?}");
    }
}

/// Hours `from` to `to` of `window`.
fn window_part(window: Window, from: i64, to: i64) -> Window {
    Window {
        start: window.start + SignedDuration::from_hours(from),
        end: window.start + SignedDuration::from_hours(to),
    }
}

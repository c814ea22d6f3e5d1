//! Recordings of text media: metadata, recordings with transcripts (transcoding 202s), batch
//! downloads and the download route their result URLs point at. A recording's file is served as
//! [`Restorations::live`] says (a restored archive serves its transcript).

use super::*;

pub(super) async fn metadata_list(
    State(state): State<Arc<SimState>>,
    Path(conversation_id): Path<String>,
) -> Response {
    let Some(c) = state.conversation(&conversation_id) else {
        return not_found(&format!("Conversation {conversation_id} not found"));
    };
    let list: Vec<Value> = c
        .recordings
        .iter()
        .map(|r| render::recording_metadata(c, r, state.live(r), &state.config.variant))
        .collect();
    json_response(StatusCode::OK, Value::Array(list))
}

pub(super) async fn metadata_one(
    State(state): State<Arc<SimState>>,
    Path((conversation_id, recording_id)): Path<(String, String)>,
) -> Response {
    match state.recording(&conversation_id, &recording_id) {
        Ok((c, r)) => json_response(
            StatusCode::OK,
            render::recording_metadata(c, r, state.live(r), &state.config.variant),
        ),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
pub(super) struct RecordingsQuery {
    #[serde(rename = "maxWaitMs")]
    max_wait_ms: Option<String>,
}

/// Whether the conversation's recordings are ready, waiting up to `max_wait` for them: `Err`
/// holds how long transcoding still takes.
pub(super) async fn transcoded(
    state: &SimState,
    conversation: Uuid,
    max_wait: Duration,
) -> Result<(), Duration> {
    let ready_at = {
        let mut transcoding = state.transcoding.lock();
        *transcoding.entry(conversation).or_insert_with(|| {
            if state.faults.roll_transcode() {
                Instant::now() + state.faults.transcode_time()
            } else {
                Instant::now()
            }
        })
    };
    let now = Instant::now();
    if ready_at <= now {
        return Ok(());
    }
    let remaining = ready_at - now;
    if max_wait >= remaining {
        tokio::time::sleep(remaining).await;
        Ok(())
    } else {
        tokio::time::sleep(max_wait).await;
        Err(ready_at.saturating_duration_since(Instant::now()))
    }
}

pub(super) fn max_wait(query: &RecordingsQuery) -> Duration {
    let ms = query
        .max_wait_ms
        .as_deref()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(5000);
    Duration::from_millis(ms.min(10_000))
}

pub(super) fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

pub(super) async fn recordings_list(
    State(state): State<Arc<SimState>>,
    Path(conversation_id): Path<String>,
    Query(query): Query<RecordingsQuery>,
    headers: HeaderMap,
) -> Response {
    state.recordings_calls.fetch_add(1, Ordering::Relaxed);
    let Some(c) = state.conversation(&conversation_id) else {
        return not_found(&format!("Conversation {conversation_id} not found"));
    };
    if c.recordings.is_empty() {
        // Ground truth for the client's cost of asking about unrecorded conversations.
        state
            .unrecorded_recordings_calls
            .fetch_add(1, Ordering::Relaxed);
        state.unrecorded_fetched.lock().insert(c.id);
        return json_response(StatusCode::OK, json!([]));
    }
    if let Err(remaining) = transcoded(&state, c.id, max_wait(&query)).await {
        // "Success - recording is transcoding": no body schema.
        return accepted(&state, StatusCode::ACCEPTED.into_response(), remaining);
    }
    let origin = origin(&headers);
    let list: Vec<Value> = c
        .recordings
        .iter()
        .map(|r| {
            render::recording(
                &state.dataset,
                c,
                r,
                state.live(r),
                &origin,
                &state.config.variant,
            )
        })
        .collect();
    json_response(StatusCode::OK, Value::Array(list))
}

pub(super) async fn recording_one(
    State(state): State<Arc<SimState>>,
    Path((conversation_id, recording_id)): Path<(String, String)>,
    Query(query): Query<RecordingsQuery>,
    headers: HeaderMap,
) -> Response {
    let (c, r) = match state.recording(&conversation_id, &recording_id) {
        Ok(found) => found,
        Err(response) => return response,
    };
    if let Err(remaining) = transcoded(&state, c.id, max_wait(&query)).await {
        return accepted(
            &state,
            json_response(
                StatusCode::ACCEPTED,
                json!({"id": r.id.to_string(), "conversationId": c.id.to_string()}),
            ),
            remaining,
        );
    }
    json_response(
        StatusCode::OK,
        render::recording(
            &state.dataset,
            c,
            r,
            state.live(r),
            &origin(&headers),
            &state.config.variant,
        ),
    )
}

pub(super) async fn batch_submit(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(list) = body
        .get("batchDownloadRequestList")
        .and_then(Value::as_array)
    else {
        return bad_request("batchDownloadRequestList is required");
    };
    if list.is_empty() || list.len() > 100 {
        return bad_request("batchDownloadRequestList must hold 1 to 100 items");
    }
    let mut items = Vec::with_capacity(list.len());
    for item in list {
        let Some(conversation_id) = item.get("conversationId").and_then(Value::as_str) else {
            return bad_request("Every item needs a conversationId");
        };
        items.push((
            conversation_id.to_string(),
            item.get("recordingId")
                .and_then(Value::as_str)
                .map(str::to_string),
        ));
    }
    let id = Uuid::new_v4().to_string();
    state.batches.lock().insert(
        id.clone(),
        Batch {
            submitted: Instant::now(),
            items,
        },
    );
    json_response(
        StatusCode::OK,
        json!({"id": id, "selfUri": format!("/api/v2/recording/batchrequests/{id}")}),
    )
}

pub(super) async fn batch_status(
    State(state): State<Arc<SimState>>,
    Path(batch_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (submitted, items) = {
        let batches = state.batches.lock();
        let Some(batch) = batches.get(&batch_id) else {
            return not_found(&format!("Batch request {batch_id} not found"));
        };
        (batch.submitted, batch.items.clone())
    };
    let origin = origin(&headers);
    let mut results = Vec::new();
    let mut errors = 0;
    for (conversation_id, recording_id) in &items {
        let Some(c) = state.conversation(conversation_id) else {
            errors += 1;
            results.push(json!({"conversationId": conversation_id, "recordingId": recording_id, "errorMsg": "Conversation not found"}));
            continue;
        };
        for r in c.recordings.iter().filter(|r| {
            recording_id
                .as_ref()
                .is_none_or(|id| *id == r.id.to_string())
        }) {
            let live = state.live(r);
            if live.has_media() {
                results.push(json!({
                    "conversationId": c.id.to_string(),
                    "recordingId": r.id.to_string(),
                    "resultUrl": format!("{origin}/sim/media/{}/{}", c.id, r.id),
                    "contentType": "application/json",
                }));
            } else {
                errors += 1;
                results.push(json!({"conversationId": c.id.to_string(), "recordingId": r.id.to_string(), "errorMsg": format!("Recording is {}", live.file_state())}));
            }
        }
    }
    let expected = results.len();
    let completed = submitted.elapsed() >= state.config.job_run_time;
    let shown: Vec<Value> = if completed { results } else { Vec::new() };
    json_response(
        StatusCode::OK,
        json!({
            "id": batch_id,
            "jobId": batch_id,
            "expectedResultCount": expected,
            "resultCount": shown.len(),
            "errorCount": if completed { errors } else { 0 },
            "status": if completed { "Completed" } else { "InProgress" },
            "results": shown,
            "selfUri": format!("/api/v2/recording/batchrequests/{batch_id}"),
        }),
    )
}

/// The "pre-signed" download URL of a batch result or a `mediaUris` entry: the recording as JSON.
pub(super) async fn media_download(
    State(state): State<Arc<SimState>>,
    Path((conversation_id, recording_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(c) = state.conversation(&conversation_id) else {
        return not_found("Not found");
    };
    match c
        .recordings
        .iter()
        .find(|r| r.id.to_string() == recording_id && state.live(r).has_media())
    {
        Some(r) => json_response(
            StatusCode::OK,
            render::recording(
                &state.dataset,
                c,
                r,
                state.live(r),
                &origin(&headers),
                &state.config.variant,
            ),
        ),
        None => not_found("Not found"),
    }
}

//! The analytics API: the conversation detail query (interval semantics, filters, paging cap)
//! and the asynchronous detail jobs (states, cursor pages, the data lake's lag).

use super::*;

/// Parses `start/end`; the end must be after the start.
pub(super) fn parse_interval(value: Option<&Value>) -> Result<(Timestamp, Timestamp), Response> {
    let text = value
        .and_then(Value::as_str)
        .ok_or_else(|| bad_request("interval is required"))?;
    let (start, end) = text.split_once('/').ok_or_else(|| {
        genesys_error(StatusCode::BAD_REQUEST, "invalid.date", "Invalid interval")
    })?;
    let start: Timestamp = start.parse().map_err(|_| {
        genesys_error(
            StatusCode::BAD_REQUEST,
            "invalid.date",
            "Invalid interval start",
        )
    })?;
    let end: Timestamp = end.parse().map_err(|_| {
        genesys_error(
            StatusCode::BAD_REQUEST,
            "invalid.date",
            "Invalid interval end",
        )
    })?;
    if start >= end {
        return Err(genesys_error(
            StatusCode::BAD_REQUEST,
            "invalid.date",
            "Interval start must be before its end",
        ));
    }
    Ok((start, end))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Matching {
    /// The query's rule: started on a UTC day the interval touches, and alive in the interval.
    StartDayAndOverlap,
    /// The jobs' default rule: alive in the interval.
    Overlap,
}

pub(super) struct ParsedQuery {
    interval: (Timestamp, Timestamp),
    filters: Filters,
    descending: bool,
    by_end: bool,
    cache_key: String,
}

pub(super) fn parse_query(body: &Value) -> Result<ParsedQuery, Response> {
    if !body.is_object() {
        return Err(bad_request("The request body must be a JSON object"));
    }
    let interval = parse_interval(body.get("interval"))?;
    let filters = Filters::parse(body).map_err(|err| bad_request(&err.0))?;
    let descending = match body.get("order").and_then(Value::as_str) {
        None | Some("asc") | Some("unordered") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(genesys_error(
                StatusCode::BAD_REQUEST,
                "invalid.value",
                &format!("Invalid value for order: {other}"),
            ));
        }
    };
    let by_end = match body.get("orderBy").and_then(Value::as_str) {
        None | Some("conversationStart") | Some("segmentStart") => false,
        Some("conversationEnd") | Some("segmentEnd") => true,
        Some(other) => {
            return Err(genesys_error(
                StatusCode::BAD_REQUEST,
                "invalid.value",
                &format!("Invalid value for orderBy: {other}"),
            ));
        }
    };
    let cache_key = format!(
        "{}|{}|{}|{}|{descending}|{by_end}",
        interval.0,
        interval.1,
        body.get("conversationFilters")
            .map(Value::to_string)
            .unwrap_or_default(),
        body.get("segmentFilters")
            .map(Value::to_string)
            .unwrap_or_default(),
    );
    Ok(ParsedQuery {
        interval,
        filters,
        descending,
        by_end,
        cache_key,
    })
}

pub(super) fn day_start(ts: Timestamp) -> Timestamp {
    let zoned = ts.to_zoned(jiff::tz::TimeZone::UTC);
    zoned.start_of_day().map(|z| z.timestamp()).unwrap_or(ts)
}

impl SimState {
    /// Indexes of the conversations a query or job matches, sorted as asked.
    pub(super) fn matching(
        &self,
        query: &ParsedQuery,
        matching: Matching,
        lake_cutoff: Option<Timestamp>,
    ) -> Vec<u32> {
        let conversations = &self.dataset.conversations;
        let (start, end) = query.interval;
        let now = Timestamp::now();
        let variant = &self.config.variant;
        let inclusive = variant.interval_end == IntervalEnd::Inclusive;
        let low = match matching {
            Matching::StartDayAndOverlap => {
                conversations.partition_point(|c| c.start < day_start(start))
            }
            Matching::Overlap => 0,
        };
        let high = if inclusive {
            conversations.partition_point(|c| c.start <= end)
        } else {
            conversations.partition_point(|c| c.start < end)
        };
        let mut found: Vec<u32> = conversations[low.min(high)..high]
            .iter()
            .filter(|c| {
                let lifetime_end = c.end_as_of(now).unwrap_or(now);
                if inclusive {
                    lifetime_end >= start
                } else {
                    lifetime_end > start
                }
            })
            .filter(|c| match lake_cutoff {
                // The data lake has only conversations that were over by its availability date.
                Some(cutoff) => c.start < cutoff && c.end.is_some_and(|e| e <= cutoff),
                None => true,
            })
            .filter(|c| query.filters.matches(&self.dataset, c, variant))
            .map(|c| c.index)
            .collect();
        if query.by_end {
            found.sort_by_key(|i| conversations[*i as usize].end.unwrap_or(Timestamp::MAX));
        }
        if query.descending {
            found.reverse();
        }
        found
    }

    pub(super) fn cached_matching(&self, query: &ParsedQuery) -> Arc<Vec<u32>> {
        if let Some(hit) = self.query_cache.lock().get(&query.cache_key) {
            return hit.clone();
        }
        let found = Arc::new(self.matching(query, Matching::StartDayAndOverlap, None));
        let mut cache = self.query_cache.lock();
        if cache.len() >= 256 {
            cache.clear();
        }
        cache.insert(query.cache_key.clone(), found.clone());
        found
    }

    /// The conversation and recording a path names, or the 404 Genesys answers.
    pub(super) fn recording(
        &self,
        conversation_id: &str,
        recording_id: &str,
    ) -> Result<(&SimConversation, &SimRecording), Response> {
        let Some(c) = self.conversation(conversation_id) else {
            return Err(not_found(&format!(
                "Conversation {conversation_id} not found"
            )));
        };
        match c
            .recordings
            .iter()
            .find(|r| r.id.to_string() == recording_id)
        {
            Some(r) => Ok((c, r)),
            None => Err(not_found(&format!("Recording {recording_id} not found"))),
        }
    }

    pub(super) fn conversation(&self, id: &str) -> Option<&SimConversation> {
        let id: Uuid = id.parse().ok()?;
        self.by_id
            .get(&id)
            .map(|i| &self.dataset.conversations[*i as usize])
    }

    pub(super) fn data_availability(&self) -> Timestamp {
        let lag = SignedDuration::try_from(self.config.data_lag).unwrap_or(SignedDuration::ZERO);
        Timestamp::now() - lag
    }
}

pub(super) fn parse_body(body: &Bytes) -> Result<Value, Response> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(genesys_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.entity.too.large",
            &format!("The request is too large. Maximum bytes: {MAX_REQUEST_BYTES}"),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|err| bad_request(&format!("Unable to parse the request body: {err}")))
}

/// The JSON body of an analytics request and the query it holds; an error answer otherwise.
fn parse_request(body: &Bytes) -> Result<(Value, ParsedQuery), Response> {
    let body = parse_body(body)?;
    let query = parse_query(&body)?;
    Ok((body, query))
}

/// One conversation as an analytics answer shows it, spoiled when the `malformed` fault picks it.
fn rendered(state: &SimState, conversation: &SimConversation, job: bool) -> Value {
    let now = Timestamp::now();
    let mut value = render::conversation(
        &state.dataset,
        &conversation.as_of(now),
        job,
        &state.config.variant,
    );
    if let Some(malformation) = state.faults.malforms(conversation.id) {
        malformation.apply(&mut value);
    }
    value
}

/// `POST /api/v2/analytics/conversations/details/query`.
pub(super) async fn details_query(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let (body, query) = match parse_request(&body) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    let paging = body.get("paging");
    let page_size = paging
        .and_then(|p| p.get("pageSize"))
        .map(|v| v.as_i64().unwrap_or(-1))
        .unwrap_or(25);
    let page_number = paging
        .and_then(|p| p.get("pageNumber"))
        .map(|v| v.as_i64().unwrap_or(-1))
        .unwrap_or(1);
    if !(1..=100).contains(&page_size) {
        return bad_request("pageSize must be between 1 and 100");
    }
    if page_number < 1 {
        return bad_request("pageNumber must be 1 or more");
    }
    let (page_size, page_number) = (page_size as usize, page_number as usize);
    if page_number * page_size > state.config.paging_cap {
        return bad_request(&format!(
            "Pagination may not exceed {} results.",
            state.config.paging_cap
        ));
    }
    let found = state.cached_matching(&query);
    let from = (page_number - 1) * page_size;
    let page: Vec<Value> = found
        .iter()
        .skip(from)
        .take(page_size)
        .map(|i| rendered(&state, &state.dataset.conversations[*i as usize], false))
        .collect();
    if page.is_empty() {
        return json_response(
            StatusCode::OK,
            Value::Object(empty_page(&state, Some(found.len()))),
        );
    }
    json_response(
        StatusCode::OK,
        json!({"conversations": page, "totalHits": found.len()}),
    )
}

pub(super) async fn details_one(
    State(state): State<Arc<SimState>>,
    Path(conversation_id): Path<String>,
) -> Response {
    match state.conversation(&conversation_id) {
        Some(c) => json_response(StatusCode::OK, rendered(&state, c, false)),
        None => not_found(&format!("Conversation {conversation_id} not found")),
    }
}

#[derive(Deserialize)]
pub(super) struct IdsQuery {
    id: Option<String>,
}

pub(super) async fn details_by_ids(
    State(state): State<Arc<SimState>>,
    Query(query): Query<IdsQuery>,
) -> Response {
    let ids = query.id.unwrap_or_default();
    let conversations: Vec<Value> = ids
        .split(',')
        .filter_map(|id| state.conversation(id.trim()))
        .map(|c| rendered(&state, c, false))
        .collect();
    if conversations.is_empty() {
        return json_response(StatusCode::OK, Value::Object(empty_page(&state, None)));
    }
    json_response(StatusCode::OK, json!({"conversations": conversations}))
}

/// `POST .../details/jobs`: results are fixed at submission, from the data lake's view.
pub(super) async fn job_submit(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let (body, query) = match parse_request(&body) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    let start_of_day = body
        .get("startOfDayIntervalMatching")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let matching = if start_of_day {
        Matching::StartDayAndOverlap
    } else {
        Matching::Overlap
    };
    let cutoff = state.data_availability();
    let mut results = state.matching(&query, matching, Some(cutoff));
    if let Some(limit) = body.get("limit").and_then(Value::as_u64) {
        results.truncate(limit as usize);
    }
    let job_id = Uuid::new_v4().to_string();
    let run_time = state.config.job_run_time;
    state.jobs.lock().insert(
        job_id.clone(),
        Job {
            submitted: Instant::now(),
            results: Arc::new(results),
            cancelled: false,
            data_availability: cutoff,
        },
    );
    accepted(
        &state,
        json_response(StatusCode::ACCEPTED, json!({"jobId": job_id})),
        run_time,
    )
}

pub(super) fn job_state(state: &SimState, job: &Job) -> &'static str {
    if job.cancelled {
        return "CANCELLED";
    }
    let elapsed = job.submitted.elapsed();
    if elapsed < state.config.job_run_time / 3 {
        "QUEUED"
    } else if elapsed < state.config.job_run_time {
        "PENDING"
    } else if elapsed > Duration::from_secs(3600) {
        "EXPIRED"
    } else {
        "FULFILLED"
    }
}

pub(super) async fn job_status(
    State(state): State<Arc<SimState>>,
    Path(job_id): Path<String>,
) -> Response {
    let jobs = state.jobs.lock();
    let Some(job) = jobs.get(&job_id) else {
        return not_found(&format!("Job {job_id} not found"));
    };
    let job_state = job_state(&state, job);
    let submitted = Timestamp::now()
        - SignedDuration::try_from(job.submitted.elapsed()).unwrap_or(SignedDuration::ZERO);
    let mut body = json!({
        "state": job_state,
        "submissionDate": iso_ms(submitted),
        "expirationDate": iso_ms(submitted + 1.hour()),
    });
    if job_state == "FULFILLED"
        && let Some(map) = body.as_object_mut()
    {
        let run =
            SignedDuration::try_from(state.config.job_run_time).unwrap_or(SignedDuration::ZERO);
        map.insert("completionDate".into(), json!(iso_ms(submitted + run)));
    }
    if matches!(job_state, "QUEUED" | "PENDING") {
        let remaining = state
            .config
            .job_run_time
            .saturating_sub(job.submitted.elapsed());
        return accepted(&state, json_response(StatusCode::ACCEPTED, body), remaining);
    }
    json_response(StatusCode::OK, body)
}

pub(super) async fn job_cancel(
    State(state): State<Arc<SimState>>,
    Path(job_id): Path<String>,
) -> Response {
    match state.jobs.lock().get_mut(&job_id) {
        Some(job) => {
            job.cancelled = true;
            StatusCode::NO_CONTENT.into_response()
        }
        None => not_found(&format!("Job {job_id} not found")),
    }
}

pub(super) async fn job_availability(State(state): State<Arc<SimState>>) -> Response {
    json_response(
        StatusCode::OK,
        json!({"dataAvailabilityDate": iso_ms(state.data_availability())}),
    )
}

#[derive(Deserialize)]
pub(super) struct ResultsQuery {
    cursor: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<String>,
}

pub(super) async fn job_results(
    State(state): State<Arc<SimState>>,
    Path(job_id): Path<String>,
    Query(query): Query<ResultsQuery>,
) -> Response {
    let (results, availability) = {
        let jobs = state.jobs.lock();
        let Some(job) = jobs.get(&job_id) else {
            return not_found(&format!("Job {job_id} not found"));
        };
        let job_state = job_state(&state, job);
        if job_state != "FULFILLED" {
            return bad_request(&format!(
                "Job {job_id} is {job_state}; results are available once it is FULFILLED"
            ));
        }
        (job.results.clone(), job.data_availability)
    };
    let page_size = match query.page_size.as_deref().map(str::parse::<usize>) {
        None => 1000,
        Some(Ok(size)) if (1..=1000).contains(&size) => size,
        Some(_) => return bad_request("pageSize must be between 1 and 1000"),
    };
    let offset = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => 0,
        Some(cursor) => match cursor
            .strip_prefix("c1.")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(offset) => offset,
            None => return bad_request("Invalid cursor"),
        },
    };
    let page: Vec<Value> = results
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|i| rendered(&state, &state.dataset.conversations[*i as usize], true))
        .collect();
    let next = offset + page.len();
    let mut body = if page.is_empty() {
        // Job results have no totalHits; only the empty-list reading adds a key.
        empty_page(&state, None)
    } else {
        let mut body = serde_json::Map::new();
        body.insert("conversations".into(), Value::Array(page));
        body
    };
    if next < results.len() {
        body.insert("cursor".into(), json!(format!("c1.{next}")));
    }
    body.insert("dataAvailabilityDate".into(), json!(iso_ms(availability)));
    json_response(StatusCode::OK, Value::Object(body))
}

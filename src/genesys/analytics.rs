//! Streaming the conversations of a time slice (completed and still open) out of the analytics
//! API.
//!
//! - The window is cut into slices of at most `max_slice`; a slice whose `totalHits` exceeds the
//!   100,000-result paging cap is halved until it fits.
//! - Pages of one slice are fetched `page_concurrency` at a time, in order.
//! - In `JobsMode::Auto` a slice with more than `jobs_threshold` hits that the data lake already
//!   covers is fetched with an async job (1,000 per page instead of 100); conversations the lake
//!   does not have yet (ended after `dataAvailabilityDate`, or still open) come from a sync query
//!   narrowed to `conversationEnd > dataAvailabilityDate` or `conversationEnd notExists`.
//! - Only conversations whose conversationStart lies in the slice's [start, end) are yielded
//!   (design.md section 7): the query's interval semantics return neighbours too.
//! - A malformed conversation is one `Err` item ([`GenesysError::MalformedConversation`]); the
//!   stream goes on.

use std::collections::HashSet;
use std::time::Duration;

use futures::{Stream, StreamExt};
use http::Method;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

use super::models::AnalyticsConversation;
use super::{GenesysClient, GenesysError};
use crate::api::{MediaType, Window};

/// Results the detail query can page through.
pub const PAGING_CAP: u64 = 100_000;
/// Page size of the detail query (its maximum).
pub const PAGE_SIZE: u64 = 100;
/// A totalHits above this is not believed.
const ABSURD_HITS: u64 = 50_000_000;
/// Slices are not split below this.
const MIN_SLICE: SignedDuration = SignedDuration::from_secs(60);
const QUERY_ENDPOINT: &str = "POST /api/v2/analytics/conversations/details/query";

/// When the async jobs API is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JobsMode {
    /// For slices with many hits that the data lake covers.
    #[default]
    Auto,
    /// Never: sync paging only.
    Never,
    /// For every slice the data lake covers.
    Always,
}

/// What to collect.
#[derive(Clone, Debug)]
pub struct CollectQuery {
    /// The slice: conversations whose start lies in [start, end).
    pub slice: Window,
    /// Media types wanted (empty means all three).
    pub media_types: Vec<MediaType>,
    /// For social: only these messageTypes (empty means every channel).
    pub message_types: Vec<String>,
}

/// A text session of a conversation's agent leg (purpose `agent` or `user`): the legs a
/// recording belongs to, and what the recording side holds per contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextSession {
    /// Session id.
    pub session_id: String,
    /// chat, email or social.
    pub media_type: MediaType,
    /// Messaging channel, for social.
    pub message_type: Option<String>,
    /// The analytics `recording` flag as received. Genesys documents it for audio only; it is
    /// trusted only when `trustRecordingFlag` says so (whether a text recording exists is
    /// learned from the recordings API).
    pub recording_flag: Option<bool>,
    /// The agent participant's id.
    pub participant_id: Option<String>,
}

/// A conversation with the fields every later stage relies on checked to be present.
#[derive(Clone, Debug, PartialEq)]
pub struct Conversation {
    /// conversationId.
    pub id: String,
    /// conversationStart.
    pub start: Timestamp,
    /// conversationEnd.
    pub end: Option<Timestamp>,
    /// The whole analytics record.
    pub detail: AnalyticsConversation,
}

impl Conversation {
    fn from_value(endpoint: &str, value: Value) -> Result<Conversation, GenesysError> {
        let hint = Hint {
            id: value
                .get("conversationId")
                .and_then(Value::as_str)
                .map(str::to_string),
            start: value
                .get("conversationStart")
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        Self::checked(endpoint, serde_json::from_value(value), || hint)
    }

    /// The same from the conversation's JSON text (what the client keeps of a page: a `Value`
    /// tree of a 1,000-conversation job page is several times the size of its text).
    fn from_json(endpoint: &str, text: &str) -> Result<Conversation, GenesysError> {
        Self::checked(endpoint, serde_json::from_str(text), || {
            serde_json::from_str::<Hint>(text).unwrap_or_default()
        })
    }

    /// Checks the fields every later stage relies on; what does not pass is one malformed
    /// conversation, named by what could be read of it.
    fn checked(
        endpoint: &str,
        detail: Result<AnalyticsConversation, serde_json::Error>,
        hint: impl FnOnce() -> Hint,
    ) -> Result<Conversation, GenesysError> {
        let malformed = |id: Option<String>, start: Option<Timestamp>, reason: String| {
            GenesysError::MalformedConversation {
                endpoint: endpoint.to_string(),
                conversation_id: id,
                conversation_start: start,
                reason,
            }
        };
        let detail = match detail {
            Ok(detail) => detail,
            Err(err) => {
                let hint = hint();
                let start = hint.start.as_deref().and_then(|s| s.parse().ok());
                let name = hint.id.clone().unwrap_or_else(|| "<no id>".into());
                return Err(malformed(
                    hint.id,
                    start,
                    format!("conversation {name}: {err}"),
                ));
            }
        };
        let Some(id) = detail
            .conversation_id
            .clone()
            .filter(|id| !id.trim().is_empty())
        else {
            return Err(malformed(
                None,
                detail.conversation_start,
                "a conversation without conversationId".into(),
            ));
        };
        let Some(start) = detail.conversation_start else {
            return Err(malformed(
                Some(id.clone()),
                None,
                format!("conversation {id} without conversationStart"),
            ));
        };
        Ok(Conversation {
            id,
            start,
            end: detail.conversation_end,
            detail,
        })
    }

    /// The text sessions of the agent legs (what recordings and the recording side are keyed
    /// by), in the conversation's order.
    pub fn text_sessions(&self) -> Vec<TextSession> {
        let mut sessions = Vec::new();
        for participant in &self.detail.participants {
            if !is_agent_leg(participant.purpose.as_deref()) {
                continue;
            }
            for session in &participant.sessions {
                let (Some(id), Some(media)) = (
                    &session.session_id,
                    session
                        .media_type
                        .as_deref()
                        .and_then(MediaType::from_genesys),
                ) else {
                    continue;
                };
                if sessions.iter().any(|s: &TextSession| &s.session_id == id) {
                    continue;
                }
                sessions.push(TextSession {
                    session_id: id.clone(),
                    media_type: media,
                    message_type: session.message_type.clone(),
                    recording_flag: session.recording,
                    participant_id: participant.participant_id.clone(),
                });
            }
        }
        sessions
    }

    /// The conversation's text media type (from its first text session of any participant).
    pub fn media_type(&self) -> Option<MediaType> {
        self.detail
            .participants
            .iter()
            .flat_map(|p| &p.sessions)
            .find_map(|s| s.media_type.as_deref().and_then(MediaType::from_genesys))
    }

    /// Messaging channel, for social.
    pub fn message_type(&self) -> Option<&str> {
        self.detail
            .participants
            .iter()
            .flat_map(|p| &p.sessions)
            .find_map(|s| s.message_type.as_deref())
    }
}

/// What can be read of a conversation that does not parse: its id and start, as text.
#[derive(Debug, Default, Deserialize)]
struct Hint {
    #[serde(rename = "conversationId", default)]
    id: Option<String>,
    #[serde(rename = "conversationStart", default)]
    start: Option<String>,
}

/// Whether a participant `purpose` is an agent's leg: `agent` when routed by ACD, `user` when
/// not (e.g. an agent-initiated outbound interaction). Case-insensitive: enums grow and their
/// spelling is not ours to fix.
pub fn is_agent_leg(purpose: Option<&str>) -> bool {
    purpose.is_some_and(|p| p.eq_ignore_ascii_case("agent") || p.eq_ignore_ascii_case("user"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPage {
    #[serde(default)]
    conversations: Vec<Value>,
    total_hits: Option<i64>,
}

impl RawPage {
    /// The page's raw conversations and its believable `totalHits`.
    fn checked(self) -> Result<(Vec<Value>, Option<u64>), GenesysError> {
        Ok((self.conversations, believable_hits(self.total_hits)?))
    }
}

/// A detail query page as the client keeps it: each conversation as its JSON text, parsed
/// one at a time as it is emitted ([`RawPage`]'s `Value`s take several times the memory).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TextPage {
    #[serde(default)]
    conversations: Vec<Box<RawValue>>,
    total_hits: Option<i64>,
}

fn believable_hits(hits: Option<i64>) -> Result<Option<u64>, GenesysError> {
    match hits {
        None => Ok(None),
        Some(hits) if hits < 0 || hits as u64 > ABSURD_HITS => Err(GenesysError::InvalidResponse {
            endpoint: QUERY_ENDPOINT.into(),
            reason: format!("absurd totalHits {hits}"),
        }),
        Some(hits) => Ok(Some(hits as u64)),
    }
}

/// Parses a detail query response body the way the client does: the page's raw conversations
/// (parse each with [`parse_conversation`]) and its `totalHits`. Public so that it can be fuzzed.
pub fn parse_query_page(body: &[u8]) -> Result<(Vec<Value>, Option<u64>), GenesysError> {
    super::decode::<RawPage>(QUERY_ENDPOINT, body)?.checked()
}

fn interval(window: &Window) -> String {
    format!(
        "{}/{}",
        super::models::format_timestamp(window.start),
        super::models::format_timestamp(window.end)
    )
}

/// `body` with `conversationFilters` when there are any (an empty list is left out rather than
/// sent).
pub(crate) fn with_conversation_filters(mut body: Value, filters: Vec<Value>) -> Value {
    if let (Some(fields), false) = (body.as_object_mut(), filters.is_empty()) {
        fields.insert("conversationFilters".into(), Value::Array(filters));
    }
    body
}

impl GenesysClient {
    /// The filters of a collection: the requested media (social narrowed by messageType),
    /// optionally the configured divisions; plus `extra` conversation filters.
    ///
    /// Open conversations are listed too: the matcher skips them as `notSettled`, which carries
    /// them (a run's `resumeFrom` holds the schedule's watermark at their start), so a later run
    /// recovers them once they end. Asking for completed ones only would let a schedule move past
    /// a conversation that was open when its window ran and never look at it again.
    pub(crate) fn filters(
        &self,
        query: &CollectQuery,
        extra: Vec<Value>,
    ) -> (Vec<Value>, Vec<Value>) {
        let mut conversation_filters = extra;
        if !self.config().division_ids.is_empty() {
            let divisions: Vec<Value> = self
                .config()
                .division_ids
                .iter()
                .map(|d| json!({"type": "dimension", "dimension": "divisionId", "value": d}))
                .collect();
            conversation_filters.push(json!({"type": "or", "predicates": divisions}));
        }
        let media = if query.media_types.is_empty() {
            MediaType::ALL.to_vec()
        } else {
            query.media_types.clone()
        };
        let mut clauses = Vec::new();
        for media_type in media {
            let media_predicate = json!({"type": "dimension", "dimension": "mediaType", "value": media_type.genesys_media_type()});
            if media_type == MediaType::Social && !query.message_types.is_empty() {
                for message_type in &query.message_types {
                    clauses.push(json!({"type": "and", "predicates": [
                        media_predicate.clone(),
                        {"type": "dimension", "dimension": "messageType", "value": message_type}
                    ]}));
                }
            } else {
                clauses.push(json!({"type": "and", "predicates": [media_predicate]}));
            }
        }
        (
            conversation_filters,
            vec![json!({"type": "or", "clauses": clauses})],
        )
    }

    /// The body of a conversation detail query over `window`, oldest first.
    fn detail_query(
        &self,
        query: &CollectQuery,
        window: &Window,
        extra: &[Value],
        page_size: u64,
        page: u64,
    ) -> Value {
        let (conversation_filters, segment_filters) = self.filters(query, extra.to_vec());
        with_conversation_filters(
            json!({
                "interval": interval(window),
                "order": "asc",
                "orderBy": "conversationStart",
                "paging": {"pageSize": page_size, "pageNumber": page},
                "segmentFilters": segment_filters,
            }),
            conversation_filters,
        )
    }

    async fn query_page(
        &self,
        query: &CollectQuery,
        window: &Window,
        extra: &[Value],
        page: u64,
    ) -> Result<(Vec<Box<RawValue>>, Option<u64>), GenesysError> {
        let body = self.detail_query(query, window, extra, PAGE_SIZE, page);
        let page: TextPage = self.post_detail_query(&body).await?;
        Ok((page.conversations, believable_hits(page.total_hits)?))
    }

    /// [`Self::query_page`] on a task of its own (aborted when dropped), so that its answer is
    /// read as it comes, also while the caller waits for its consumer to take an earlier page:
    /// a request left unpolled meanwhile would hold its answer unread until its timeout and be
    /// sent again.
    fn spawn_query_page(
        &self,
        query: &CollectQuery,
        window: &Window,
        extra: &[Value],
        page: u64,
    ) -> impl Future<Output = Result<(Vec<Box<RawValue>>, Option<u64>), GenesysError>> + use<> {
        let (client, query, window, extra) = (self.clone(), query.clone(), *window, extra.to_vec());
        let task = AbortOnDropHandle::new(tokio::spawn(async move {
            client.query_page(&query, &window, &extra, page).await
        }));
        async move {
            task.await.unwrap_or_else(|err| {
                Err(GenesysError::InvalidResponse {
                    endpoint: QUERY_ENDPOINT.into(),
                    reason: format!("the request for page {page} ended abnormally: {err}"),
                })
            })
        }
    }

    /// One call of the detail query with `body`.
    async fn post_detail_query<T: serde::de::DeserializeOwned>(
        &self,
        body: &Value,
    ) -> Result<T, GenesysError> {
        let (_, page) = self
            .send_json(
                Method::POST,
                "/api/v2/analytics/conversations/details/query",
                &[],
                Some(body),
            )
            .await?;
        Ok(page)
    }

    /// Page 1 of a query and the query's total. A page may come without `totalHits` (an empty
    /// one as `{}` or `{"conversations":[]}`: the empty shape is not documented); then a short
    /// first page is the whole answer, so it is not paged further.
    async fn first_page(
        &self,
        query: &CollectQuery,
        window: &Window,
        extra: &[Value],
    ) -> Result<(Vec<Box<RawValue>>, Option<u64>), GenesysError> {
        let (page, hits) = self.query_page(query, window, extra, 1).await?;
        let hits = hits.or_else(|| (page.len() < PAGE_SIZE as usize).then_some(page.len() as u64));
        Ok((page, hits))
    }

    /// How many conversations of `query` started in its slice (`totalHits` of a one-row page:
    /// one API call). The interval alone matches every conversation whose lifetime overlaps the
    /// slice (genesys-api.md 2.3), which in a slice after a busy hour counts the busy hour's
    /// long-lived conversations again; a `conversationStart` range keeps the starts only. An
    /// estimate for planning, not a count to report.
    pub async fn estimate_conversations(
        &self,
        query: &CollectQuery,
    ) -> Result<Option<u64>, GenesysError> {
        let started_in_slice = [json!({"type": "and", "predicates": [
            {"type": "dimension", "dimension": "conversationStart", "range": {
                "gte": super::models::format_timestamp(query.slice.start),
                "lt": super::models::format_timestamp(query.slice.end),
            }},
        ]})];
        let body = self.detail_query(query, &query.slice, &started_in_slice, 1, 1);
        let raw: RawPage = self.post_detail_query(&body).await?;
        let (page, hits) = raw.checked()?;
        // An empty page without totalHits: nothing there.
        Ok(hits.or_else(|| page.is_empty().then_some(0)))
    }

    /// Streams the completed conversations whose start lies in `query.slice`. The stream is
    /// lazy and bounded: pages are fetched as it is consumed; dropping it stops the work.
    pub fn conversations(
        &self,
        query: CollectQuery,
    ) -> impl Stream<Item = Result<Conversation, GenesysError>> + Send + 'static {
        let (sender, receiver) = mpsc::channel(2 * PAGE_SIZE as usize);
        let client = self.clone();
        tokio::spawn(async move { client.collect(query, Emitter { sender }).await });
        futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        })
    }

    async fn collect(&self, query: CollectQuery, out: Emitter) {
        let max_slice = SignedDuration::try_from(self.config().max_slice)
            .unwrap_or(SignedDuration::from_hours(6))
            .max(MIN_SLICE);
        let mut slices = Vec::new();
        let mut cursor = query.slice.start;
        while cursor < query.slice.end {
            let end = (cursor + max_slice).min(query.slice.end);
            slices.push(Window { start: cursor, end });
            cursor = end;
        }
        slices.reverse();
        let mut availability: Option<Option<Timestamp>> = None;
        while let Some(slice) = slices.pop() {
            if out.closed() {
                return;
            }
            let (first, hits) = match self.first_page(&query, &slice, &[]).await {
                Ok(page) => page,
                Err(err) => {
                    out.send(Err(err)).await;
                    continue;
                }
            };
            let cap = self.config().paging_cap;
            if hits.is_some_and(|h| h > cap) {
                if slice.end.duration_since(slice.start) < MIN_SLICE * 2 {
                    out.send(Err(GenesysError::PagingCap {
                        endpoint: QUERY_ENDPOINT.into(),
                        cap: PAGING_CAP,
                        start: slice.start,
                        end: slice.end,
                    }))
                    .await;
                    continue;
                }
                let mid = slice.start
                    + SignedDuration::from_millis(
                        slice.end.duration_since(slice.start).as_millis() as i64 / 2,
                    );
                tracing::debug!(start = %slice.start, end = %slice.end, ?hits, "slice over the paging cap; splitting");
                slices.push(Window {
                    start: mid,
                    end: slice.end,
                });
                slices.push(Window {
                    start: slice.start,
                    end: mid,
                });
                continue;
            }
            let wants_job = match self.config().jobs {
                JobsMode::Never => false,
                JobsMode::Always => true,
                JobsMode::Auto => hits.is_some_and(|h| h > self.config().jobs_threshold),
            };
            if wants_job {
                if availability.is_none() {
                    availability = Some(self.data_availability().await.ok());
                }
                if let Some(Some(available)) = availability
                    && available > slice.start
                {
                    self.collect_with_job(&query, &slice, available, &out).await;
                    continue;
                }
            }
            if !out.emit_page(QUERY_ENDPOINT, first, &slice, None).await {
                return;
            }
            self.page_rest(&query, &slice, &[], hits, &slice, None, &out)
                .await;
        }
    }

    /// Pages 2.. of a sync query over `interval`, keeping conversations started in `keep`.
    #[allow(clippy::too_many_arguments)]
    async fn page_rest(
        &self,
        query: &CollectQuery,
        interval: &Window,
        extra: &[Value],
        hits: Option<u64>,
        keep: &Window,
        exclude: Option<&IdSet>,
        out: &Emitter,
    ) {
        match hits {
            Some(hits) => {
                let pages = hits
                    .div_ceil(PAGE_SIZE)
                    .min(self.config().paging_cap / PAGE_SIZE);
                let mut results = futures::stream::iter(2..=pages)
                    .map(|page| self.spawn_query_page(query, interval, extra, page))
                    .buffered(self.config().page_concurrency.max(1));
                while let Some(result) = results.next().await {
                    match result {
                        // An empty page ends the query whatever totalHits said.
                        Ok((page, _)) if page.is_empty() => break,
                        Ok((page, _)) => {
                            if !out.emit_page(QUERY_ENDPOINT, page, keep, exclude).await {
                                return;
                            }
                        }
                        Err(err) => {
                            out.send(Err(err)).await;
                        }
                    }
                }
            }
            None => {
                // No totalHits: page until a short or empty page.
                for page in 2..=self.config().paging_cap / PAGE_SIZE {
                    match self.query_page(query, interval, extra, page).await {
                        Ok((items, _)) => {
                            let last = (items.len() as u64) < PAGE_SIZE;
                            if !out.emit_page(QUERY_ENDPOINT, items, keep, exclude).await || last {
                                return;
                            }
                        }
                        Err(err) => {
                            out.send(Err(err)).await;
                            return;
                        }
                    }
                }
            }
        }
    }

    /// A slice the data lake covers (up to `available`): a job for what the lake has, and a sync
    /// query for conversations that ended after `available`.
    async fn collect_with_job(
        &self,
        query: &CollectQuery,
        slice: &Window,
        available: Timestamp,
        out: &Emitter,
    ) {
        let cut = available.min(slice.end);
        let mut from_job = IdSet::default();
        let job_window = Window {
            start: slice.start,
            end: cut,
        };
        let job_result = self
            .run_job(
                query,
                &job_window,
                |conversation| {
                    if conversation.start >= slice.start && conversation.start < slice.end {
                        from_job.insert(&conversation.id);
                        true
                    } else {
                        false
                    }
                },
                out,
            )
            .await;
        if let Err(err) = job_result {
            // The job failed: fall back to sync paging for the whole slice.
            tracing::warn!(error = %err, "analytics job failed; falling back to the detail query");
            from_job.clear();
            match self.first_page(query, slice, &[]).await {
                Ok((first, hits)) if hits.is_none_or(|h| h <= self.config().paging_cap) => {
                    if out.emit_page(QUERY_ENDPOINT, first, slice, None).await {
                        self.page_rest(query, slice, &[], hits, slice, None, out)
                            .await;
                    }
                }
                Ok(_) => {
                    out.send(Err(err)).await;
                }
                Err(sync_err) => {
                    out.send(Err(sync_err)).await;
                }
            }
            return;
        }
        // What the job could not hold: conversations that ended after its data availability
        // date, and those still open.
        let tail = [json!({"type": "or", "predicates": [
            {"type": "dimension", "dimension": "conversationEnd", "range": {"gt": super::models::format_timestamp(available)}},
            {"type": "dimension", "dimension": "conversationEnd", "operator": "notExists"},
        ]})];
        match self.first_page(query, slice, &tail).await {
            Ok((first, hits)) => {
                if out
                    .emit_page(QUERY_ENDPOINT, first, slice, Some(&from_job))
                    .await
                {
                    self.page_rest(query, slice, &tail, hits, slice, Some(&from_job), out)
                        .await;
                }
            }
            Err(err) => {
                out.send(Err(err)).await;
            }
        }
    }
}

/// Conversation ids, as 16 bytes each when they are UUIDs (as Genesys' are): a slice's job can
/// return tens of thousands, and a set of `String`s of them took about 80 bytes each.
#[derive(Debug, Default)]
pub(crate) struct IdSet {
    uuids: HashSet<u128>,
    others: HashSet<String>,
}

impl IdSet {
    /// The id as a number when it is a UUID in canonical form (so that two spellings of one
    /// UUID stay two ids, as they were as strings).
    fn canonical(id: &str) -> Option<u128> {
        let uuid = uuid::Uuid::try_parse(id).ok()?;
        let mut buffer = uuid::Uuid::encode_buffer();
        (uuid.hyphenated().encode_lower(&mut buffer) == id).then(|| uuid.as_u128())
    }

    fn insert(&mut self, id: &str) {
        match Self::canonical(id) {
            Some(uuid) => {
                self.uuids.insert(uuid);
            }
            None => {
                self.others.insert(id.to_string());
            }
        }
    }

    fn contains(&self, id: &str) -> bool {
        match Self::canonical(id) {
            Some(uuid) => self.uuids.contains(&uuid),
            None => self.others.contains(id),
        }
    }

    fn clear(&mut self) {
        self.uuids.clear();
        self.others.clear();
    }
}

/// The sending half of a collection stream.
pub(crate) struct Emitter {
    sender: mpsc::Sender<Result<Conversation, GenesysError>>,
}

impl Emitter {
    pub(crate) fn closed(&self) -> bool {
        self.sender.is_closed()
    }

    pub(crate) async fn send(&self, item: Result<Conversation, GenesysError>) -> bool {
        self.sender.send(item).await.is_ok()
    }

    /// Sends the page's conversations that started in `keep` and are not in `exclude`;
    /// false once the consumer is gone.
    pub(crate) async fn emit_page(
        &self,
        endpoint: &str,
        page: Vec<Box<RawValue>>,
        keep: &Window,
        exclude: Option<&IdSet>,
    ) -> bool {
        for text in page {
            let item = match Conversation::from_json(endpoint, text.get()) {
                Ok(conversation) => {
                    if conversation.start < keep.start || conversation.start >= keep.end {
                        continue;
                    }
                    if exclude.is_some_and(|ids| ids.contains(&conversation.id)) {
                        continue;
                    }
                    Ok(conversation)
                }
                // One that started outside `keep` belongs to a neighbour, malformed or not; one
                // whose start cannot be read is reported here (it may be reported twice).
                Err(GenesysError::MalformedConversation {
                    conversation_start: Some(start),
                    ..
                }) if start < keep.start || start >= keep.end => continue,
                Err(err) => Err(err),
            };
            if !self.send(item).await {
                return false;
            }
        }
        true
    }

    pub(crate) async fn emit_one(&self, conversation: Conversation) -> bool {
        self.send(Ok(conversation)).await
    }
}

/// Parses one detail query or job result conversation (the client's own check of the fields
/// later stages rely on). Public so that it can be fuzzed.
pub fn parse_conversation(endpoint: &str, value: Value) -> Result<Conversation, GenesysError> {
    Conversation::from_value(endpoint, value)
}

/// The same from the conversation's JSON text, as the client parses pages.
pub fn parse_conversation_json(endpoint: &str, text: &str) -> Result<Conversation, GenesysError> {
    Conversation::from_json(endpoint, text)
}

/// Waiting schedule while a job runs.
pub(crate) fn job_poll_delay(poll: u32) -> Duration {
    Duration::from_millis((100u64 << poll.min(5)).min(2000))
}

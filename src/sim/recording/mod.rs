//! The recording side's simulators: Data Access Services ([`das_router`]) and Interaction Capture
//! ([`capture_router`]) over one shared [`RecordingStore`].
//!
//! The store is seeded from the shared [`Dataset`]: every completed text conversation except those
//! marked missing, partial ones without their withheld sessions. Capture ingests into it; DAS shows
//! an ingested interaction only after `ingest_lag`. `GET /sim/report` (capture port) gives the
//! ground truth of design.md section 9.
//!
//! The wire types (contacts page, interaction body, error body) are the simulators' own, written
//! from design.md section 8; nothing here uses the clients in `crate::verint`, so a client that
//! drifts from the contract fails against these simulators instead of agreeing with itself.

mod auth;
mod capture;
mod das;
mod tenants;
mod timeline;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use parking_lot::{Mutex, MutexGuard};
use serde::Serialize;
use tokio::time::Instant;
use uuid::Uuid;

pub use capture::capture_router;
pub use das::das_router;
pub use tenants::RecordingTenants;
pub use timeline::{SimRequest, SimRequestKind, TIMELINE_CAPACITY};

use crate::api::MediaType;
use crate::sim::dataset::{Dataset, FileState, RecordingSideState};
use crate::sim::faults::{FaultLayer, Faults, Service, fault_middleware};
use crate::sim::requests::{RequestCounts, RequestLog};

/// How the recording-side simulators behave.
#[derive(Clone, Debug)]
pub struct RecordingSimConfig {
    /// Tenant served (other tenants get 404).
    pub tenant: String,
    /// Accepted OAuth client id.
    pub client_id: String,
    /// Accepted OAuth client secret.
    pub client_secret: String,
    /// Lifetime of issued tokens (a `token-expiry` fault overrides it).
    pub token_lifetime: Duration,
    /// Delay between Capture ingesting an interaction and DAS showing it.
    pub ingest_lag: Duration,
    /// Capture's buffer: interactions it holds before answering 429.
    pub buffer_capacity: u32,
    /// Interactions per second the buffer drains.
    pub drain_per_second: f64,
    /// How a full buffer answers: 429 (default) or 503, with Retry-After either way.
    pub busy_status: u16,
    /// Largest PUT body Capture accepts (413 beyond).
    pub max_body_bytes: usize,
    /// Share of conversations Capture refuses with 422 (chosen by a seeded hash of the id, so the
    /// same conversations every time).
    pub reject_rate: f64,
    /// Seed of the reject choice.
    pub seed: u64,
}

impl Default for RecordingSimConfig {
    fn default() -> Self {
        RecordingSimConfig {
            tenant: "demo".to_string(),
            client_id: "sim-client".to_string(),
            client_secret: "sim-secret".to_string(),
            token_lifetime: Duration::from_secs(3600),
            ingest_lag: Duration::from_secs(2),
            buffer_capacity: 200,
            drain_per_second: 500.0,
            busy_status: 429,
            max_body_bytes: 2 * 1024 * 1024,
            reject_rate: 0.0,
            seed: 1,
        }
    }
}

/// One contact as the store keeps it.
#[derive(Clone, Debug)]
struct StoredContact {
    contact_id: String,
    media_type: MediaType,
    message_type: Option<String>,
    start: Timestamp,
    end: Option<Timestamp>,
    /// Session sets over time, oldest first: DAS shows the newest whose instant has passed
    /// (ingestion lag); the last one is what the store holds.
    versions: Vec<(Instant, Vec<String>)>,
    /// Content identity of the interaction Capture ingested (`None` for seeded contacts).
    identity: Option<[u8; 32]>,
}

impl StoredContact {
    fn visible_sessions(&self, now: Instant) -> Option<&[String]> {
        self.versions
            .iter()
            .rev()
            .find(|(since, _)| *since <= now)
            .map(|(_, sessions)| sessions.as_slice())
    }

    fn held_sessions(&self) -> &[String] {
        self.versions
            .last()
            .map(|(_, sessions)| sessions.as_slice())
            .unwrap_or(&[])
    }

    fn holds_all(&self, sessions: &[String]) -> bool {
        let held = self.held_sessions();
        sessions.iter().all(|s| held.contains(s))
    }
}

/// Counters of Capture's answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureStats {
    /// 201s.
    pub ingested: u64,
    /// Content already ingested by an earlier PUT, sent again: 200s, and replays of a 200 or
    /// 201 under the same `Idempotency-Key`.
    pub resent: u64,
    /// PUTs of conversations held in full before their first PUT.
    pub duplicates: u64,
    /// 409s.
    pub conflicts: u64,
    /// 400s (no usable `Idempotency-Key`), 413s and 422s.
    pub rejected: u64,
    /// 429s (or 503s) for a full buffer.
    pub throttled: u64,
}

/// `GET /sim/report`, exactly the fields of design.md section 9.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimReport {
    /// Conversations withheld at seed time (missing or partial) that have a text recording.
    pub expected_missing: u64,
    /// Of those, how many the store still lacks in full.
    pub still_missing: u64,
    /// 201s.
    pub ingested: u64,
    /// Identical content sent again: 200s for content an earlier PUT ingested, and replays of
    /// a first answer under the same `Idempotency-Key` (e.g. a retry after a lost response).
    pub resent: u64,
    /// PUTs of a conversation the store held in full before the first PUT of it.
    pub duplicates: u64,
    /// 409s.
    pub conflicts: u64,
    /// Completed text conversations with no recording at all, which the recording side does not
    /// hold either: a correct run ends each of them `notRecorded` and ingests none.
    pub expected_not_recorded: u64,
    /// Conversations withheld at seed time whose withheld sessions' recordings are archived
    /// (not counted in expectedMissing): `archivedRecordings: Report` ends each `archived`,
    /// `Restore` recovers them once Genesys restored them.
    #[serde(default)]
    pub expected_archived: u64,
    /// Of those, how many the store still lacks in full.
    #[serde(default)]
    pub archived_still_missing: u64,
    /// Distinct recordings the Genesys simulator was asked to restore (and did not refuse).
    #[serde(default)]
    pub restore_requested: u64,
    /// Of those, the ones RESTORED now.
    #[serde(default)]
    pub restored: u64,
    /// Restore requests the Genesys simulator refused with 403 (fault `restore-forbidden`).
    #[serde(default)]
    pub restore_forbidden: u64,
}

impl SimReport {
    /// Both reports added, field by field (several tenants' together).
    pub fn plus(self, other: Self) -> Self {
        SimReport {
            expected_missing: self.expected_missing + other.expected_missing,
            still_missing: self.still_missing + other.still_missing,
            ingested: self.ingested + other.ingested,
            resent: self.resent + other.resent,
            duplicates: self.duplicates + other.duplicates,
            conflicts: self.conflicts + other.conflicts,
            expected_not_recorded: self.expected_not_recorded + other.expected_not_recorded,
            expected_archived: self.expected_archived + other.expected_archived,
            archived_still_missing: self.archived_still_missing + other.archived_still_missing,
            restore_requested: self.restore_requested + other.restore_requested,
            restored: self.restored + other.restored,
            restore_forbidden: self.restore_forbidden + other.restore_forbidden,
        }
    }
}

#[derive(Debug, Default)]
struct StoreInner {
    contacts: HashMap<Uuid, StoredContact>,
    /// (start in ns, external id), the DAS paging order.
    by_start: BTreeSet<(i128, Uuid)>,
    /// Expected-missing conversations and the session ids a recovery can restore.
    expected: HashMap<Uuid, Vec<String>>,
    /// Expected-archived conversations and their archived withheld session ids.
    expected_archived: HashMap<Uuid, Vec<String>>,
    /// Conversations PUT at least once, and whether the store held them in full before.
    first_put_full: HashMap<Uuid, bool>,
    /// The first answer given under each `Idempotency-Key`.
    keys: HashMap<String, capture::KeyedAnswer>,
    /// The dataset's expectedNotRecorded, fixed at seeding.
    expected_not_recorded: u64,
    stats: CaptureStats,
    /// Leaky bucket of Capture's buffer: current fill and when it was last drained.
    buffer_level: f64,
    buffer_drained_at: Option<Instant>,
    next_contact: u64,
}

/// What DAS and Capture share: contacts, counters, tokens and faults.
#[derive(Debug)]
pub struct RecordingStore {
    config: RecordingSimConfig,
    inner: Mutex<StoreInner>,
    tokens: auth::TokenRegistry,
    faults: Arc<Faults>,
    /// The Genesys simulator's restorations, when it shares them (ground truth of what was
    /// restored).
    restorations: Option<Arc<crate::sim::genesys::Restorations>>,
    /// Every request Capture received (`/sim/requests` on its port).
    capture_requests: Arc<RequestLog>,
    /// When DAS reads and Capture PUTs arrived (in-process ground truth).
    timeline: timeline::Timeline,
}

impl RecordingStore {
    /// The requests Capture received so far, per route and per conversation named.
    pub fn capture_requests(&self) -> RequestCounts {
        self.capture_requests.snapshot()
    }

    /// The DAS contacts reads and Capture PUTs served so far, oldest first, with how many older
    /// ones were dropped (see [`TIMELINE_CAPACITY`]).
    pub fn timeline(&self) -> (Vec<SimRequest>, u64) {
        self.timeline.snapshot()
    }

    /// When DAS started to show what the store holds for `conversation_id` (its latest
    /// version), on the timeline's clock; `None` when nothing is held.
    pub fn visible_at(&self, conversation_id: Uuid) -> Option<Duration> {
        let inner = self.lock();
        let (since, _) = inner.contacts.get(&conversation_id)?.versions.last()?;
        Some(self.timeline.offset(*since))
    }

    /// An empty store (nothing held, nothing expected).
    pub fn empty(config: RecordingSimConfig) -> Self {
        RecordingStore {
            config,
            inner: Mutex::new(StoreInner::default()),
            tokens: auth::TokenRegistry::default(),
            faults: Arc::new(Faults::none()),
            restorations: None,
            capture_requests: Arc::default(),
            timeline: timeline::Timeline::new(Instant::now()),
        }
    }

    /// The store for `dataset`: every completed text conversation except those marked missing,
    /// partial ones without their withheld sessions. Visible in DAS at once.
    pub fn seeded(dataset: &Dataset, config: &RecordingSimConfig) -> Self {
        let store = Self::empty(config.clone());
        let now = Instant::now();
        {
            let mut inner = store.lock();
            inner.expected_not_recorded = dataset.expected_not_recorded() as u64;
            for conversation in &dataset.conversations {
                let Some(media_type) = conversation.media_type.spec_media_type() else {
                    continue;
                };
                if conversation.end.is_none() {
                    continue;
                }
                if conversation.is_expected_missing() {
                    let lacking: Vec<Uuid> = match &conversation.recording_side {
                        RecordingSideState::Partial { lacking_sessions } => {
                            lacking_sessions.clone()
                        }
                        _ => conversation.sessions.iter().map(|s| s.id).collect(),
                    };
                    let recoverable = conversation
                        .recordings
                        .iter()
                        .filter(|r| {
                            r.file_state == FileState::Available && lacking.contains(&r.session_id)
                        })
                        .map(|r| r.session_id.to_string())
                        .collect();
                    inner.expected.insert(conversation.id, recoverable);
                }
                if conversation.is_expected_archived() {
                    let archived = conversation
                        .archived_withheld_sessions()
                        .iter()
                        .map(Uuid::to_string)
                        .collect();
                    inner.expected_archived.insert(conversation.id, archived);
                }
                let held = conversation.held_sessions();
                if matches!(conversation.recording_side, RecordingSideState::Missing) {
                    continue;
                }
                let sessions = held.iter().map(|s| s.id.to_string()).collect();
                inner.insert_contact(
                    conversation.id,
                    StoredContact {
                        contact_id: String::new(),
                        media_type,
                        message_type: conversation.message_type.map(|m| m.as_str().to_string()),
                        start: conversation.start,
                        end: conversation.end,
                        versions: vec![(now, sessions)],
                        identity: None,
                    },
                );
            }
        }
        store
    }

    /// Reports the Genesys simulator's `restorations` in `/sim/report`.
    pub fn with_restorations(
        mut self,
        restorations: Arc<crate::sim::genesys::Restorations>,
    ) -> Self {
        self.restorations = Some(restorations);
        self
    }

    /// Uses `faults` for both simulators (the shared `--faults` model).
    pub fn with_faults(mut self, faults: Arc<Faults>) -> Self {
        self.faults = faults;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &RecordingSimConfig {
        &self.config
    }

    /// The fault state.
    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }

    fn tokens(&self) -> &auth::TokenRegistry {
        &self.tokens
    }

    fn lock(&self) -> MutexGuard<'_, StoreInner> {
        self.inner.lock()
    }

    /// Capture's counters so far.
    pub fn stats(&self) -> CaptureStats {
        self.lock().stats
    }

    /// Contacts held (seeded and ingested, visible or not).
    pub fn contacts_held(&self) -> usize {
        self.lock().contacts.len()
    }

    /// Session ids held for a conversation, visible in DAS or not.
    pub fn held_sessions(&self, conversation_id: Uuid) -> Option<Vec<String>> {
        self.lock()
            .contacts
            .get(&conversation_id)
            .map(|c| c.held_sessions().to_vec())
    }

    /// The conversations withheld at seed time, each with the number of its lacking sessions that
    /// have a downloadable recording (0: nothing can be recovered, e.g. archived or deleted).
    pub fn expected(&self) -> Vec<(Uuid, usize)> {
        self.lock()
            .expected
            .iter()
            .map(|(id, recoverable)| (*id, recoverable.len()))
            .collect()
    }

    /// The ground truth report of design.md section 9.
    pub fn report(&self) -> SimReport {
        let inner = self.lock();
        let lacking = |expected: &HashMap<Uuid, Vec<String>>| {
            expected
                .iter()
                .filter(|(id, sessions)| {
                    !inner
                        .contacts
                        .get(id)
                        .is_some_and(|c| c.holds_all(sessions))
                })
                .count()
        };
        let still_missing = lacking(&inner.expected);
        let restore = self
            .restorations
            .as_ref()
            .map(|r| r.counts())
            .unwrap_or_default();
        SimReport {
            expected_missing: inner.expected.len() as u64,
            still_missing: still_missing as u64,
            ingested: inner.stats.ingested,
            resent: inner.stats.resent,
            duplicates: inner.stats.duplicates,
            conflicts: inner.stats.conflicts,
            expected_not_recorded: inner.expected_not_recorded,
            expected_archived: inner.expected_archived.len() as u64,
            archived_still_missing: lacking(&inner.expected_archived) as u64,
            restore_requested: restore.requested,
            restored: restore.restored,
            restore_forbidden: restore.forbidden,
        }
    }
}

impl StoreInner {
    fn insert_contact(&mut self, id: Uuid, mut contact: StoredContact) {
        self.next_contact += 1;
        if contact.contact_id.is_empty() {
            contact.contact_id = format!("vc-{:08}", self.next_contact);
        }
        if let Some(old) = self.contacts.get(&id) {
            self.by_start.remove(&(old.start.as_nanosecond(), id));
        }
        self.by_start.insert((contact.start.as_nanosecond(), id));
        self.contacts.insert(id, contact);
    }
}

/// The hook for [`crate::sim::start`]: builds the DAS and Capture routers over one store per
/// org, seeded from the org's dataset, with the shared faults and the org's tenant, credentials
/// and seed (several orgs: [`RecordingTenants`] serves them all on one DAS and one Capture port).
/// The other knobs (ingest lag, buffer, drain rate, size limit, reject rate) come from
/// `options`. Keep the stores with [`factory_with_store`] or [`factory_with_stores`] when the
/// caller needs them afterwards.
pub fn factory(options: RecordingSimConfig) -> crate::sim::RecordingSideFactory {
    factory_with_stores(options, Arc::new(std::sync::OnceLock::new()))
}

/// Same as [`factory`], also handing the (first org's) store out through `slot` once `start`
/// built it (counters and ground truth in-process, e.g. for `demo`).
pub fn factory_with_store(
    options: RecordingSimConfig,
    slot: Arc<std::sync::OnceLock<Arc<RecordingStore>>>,
) -> crate::sim::RecordingSideFactory {
    let all = Arc::new(std::sync::OnceLock::new());
    let inner = factory_with_stores(options, all.clone());
    Box::new(move |context: &crate::sim::RecordingSideContext| {
        let routers = inner(context);
        if let Some(first) = all.get().and_then(|stores| stores.first()) {
            let _ = slot.set(first.clone());
        }
        routers
    })
}

/// Same as [`factory`], handing every org's store out through `slot`, in the orgs' order.
pub fn factory_with_stores(
    options: RecordingSimConfig,
    slot: Arc<std::sync::OnceLock<Vec<Arc<RecordingStore>>>>,
) -> crate::sim::RecordingSideFactory {
    Box::new(move |context: &crate::sim::RecordingSideContext| {
        let stores: Vec<Arc<RecordingStore>> = context
            .orgs
            .iter()
            .map(|org| {
                let config = RecordingSimConfig {
                    tenant: org.config.tenant.clone(),
                    client_id: org.config.client_id.clone(),
                    client_secret: org.config.client_secret.clone(),
                    seed: org.config.seed,
                    ..options.clone()
                };
                Arc::new(
                    RecordingStore::seeded(&org.dataset, &config)
                        .with_faults(context.faults.clone())
                        .with_restorations(org.restorations.clone()),
                )
            })
            .collect();
        let _ = slot.set(stores.clone());
        match stores.as_slice() {
            [only] => crate::sim::RecordingSideRouters {
                das: das_router(only.clone()),
                capture: capture_router(only.clone()),
            },
            _ => {
                let tenants = RecordingTenants::new(stores);
                crate::sim::RecordingSideRouters {
                    das: tenants.das_router(),
                    capture: tenants.capture_router(),
                }
            }
        }
    })
}

/// The recording side's error body: `{"error":{"code","message"}}`.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "error")]
    error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorDetail<'a> {
    #[serde(rename = "code")]
    code: &'a str,
    #[serde(rename = "message")]
    message: &'a str,
}

/// An error body in the recording side's shape: `{"error":{"code","message"}}`.
fn error_bytes(code: &str, message: &str) -> Bytes {
    let body = ErrorBody {
        error: ErrorDetail { code, message },
    };
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

/// A JSON answer of `body`, as given (so a replay is byte for byte the first answer).
fn json_answer(status: StatusCode, body: Bytes) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// An error in the recording side's shape: `{"error":{"code","message"}}`.
pub(crate) fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    json_answer(status, error_bytes(code, message))
}

/// The fault middleware's renderer for the recording side's error shape.
fn render_error(status: StatusCode, code: &str, message: &str) -> Response {
    error_response(status, code, message)
}

/// One recording-side service's routes: `api` behind a bearer token, `POST /oauth/token`, and
/// `service`'s injected faults in front of both.
fn service_routes(
    store: &Arc<RecordingStore>,
    service: Service,
    api: Router<Arc<RecordingStore>>,
) -> Router<Arc<RecordingStore>> {
    let faults = FaultLayer {
        faults: store.faults().clone(),
        render: render_error,
        service,
    };
    Router::new()
        .merge(api.route_layer(axum::middleware::from_fn_with_state(
            store.clone(),
            auth::require_token,
        )))
        .route("/oauth/token", axum::routing::post(auth::token))
        .layer(axum::middleware::from_fn_with_state(
            faults,
            fault_middleware,
        ))
}

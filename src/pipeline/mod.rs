//! The recovery pipeline, in the order the code runs it: inventory (DAS) -> collect (Genesys)
//! -> match -> decide -> fetch (Genesys recordings) -> ingest (Capture) -> verify (DAS).
//!
//! One shard runs the stages for its slice of the window, as consecutive time chunks of about
//! `chunk_conversations` conversations each: for each chunk the DAS inventory is read first into
//! a compact index, then the chunk's Genesys conversations stream through the matcher one by one,
//! and those the recording side lacks go over a bounded channel to a pool of recovery tasks
//! (fetch + ingest) that runs across chunks. Memory therefore stays proportional to one chunk's
//! index plus what is in flight, however large the window. Items that are still transcoding, or
//! met a passing error, are retried later in the run until a deadline. Verification re-reads DAS
//! until every ingested conversation shows up or the verify deadline passes.

pub mod collect;
pub mod decide;
pub mod fetch;
pub mod ingest;
pub mod inventory;
pub mod journal;
pub mod matcher;
mod pool;
pub mod progress;
pub mod shard;
mod tracker;
pub mod verify;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};
use uuid::Uuid;

use crate::api::{ApiCalls, MatchCounts, Mode, ValidSpec, Window};
use crate::genesys::{CollectQuery, Conversation, GenesysClient, GenesysConfig, GenesysError};
use crate::http::ClientCredentials;
use crate::verint::{RecordingSide, RecordingSideError, RecordingSideSettings};

use self::decide::{Decision, decide};
use self::journal::{Journal, NoJournal};
use self::matcher::{
    Category, ChunkCarry, ChunkPosition, Classified, ContactIndex, MatchConfig, MatchReport,
    Matcher,
};
use self::pool::RecoveryPool;
pub use self::progress::{
    NoProgress, Outcome, OutcomeCounts, OutcomeRecord, ProgressReporter, ShardProgress, Stage,
};
pub(crate) use self::tracker::Tracker;
pub use crate::verint::capture::RecoveryRef;

/// The credentials of both sides.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// Genesys Cloud OAuth client.
    pub genesys: ClientCredentials,
    /// Recording side (DAS and Capture) OAuth client.
    pub recording_side: ClientCredentials,
}

/// One shard of one recovery.
#[derive(Clone, Debug)]
pub struct ShardRun {
    /// What to recover.
    pub spec: ValidSpec,
    /// Which DigitalRecovery this is (sent to Capture, named in logs).
    pub recovery: RecoveryRef,
    /// The slice of the window this shard owns.
    pub slice: Window,
    /// Shard index.
    pub shard: u32,
    /// Credentials of both sides.
    pub credentials: Credentials,
}

/// Default conversations per time chunk: a contact index of about 2 MB.
pub const DEFAULT_CHUNK_CONVERSATIONS: usize = 25_000;

/// Knobs with sensible defaults; tests and the demo shorten the deadlines.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// The current time (None = the clock). Settling is judged against it.
    pub now: Option<Timestamp>,
    /// How far the DAS query is widened around the slice.
    pub tolerance: SignedDuration,
    /// Conversations fetched and ingested at once.
    pub recovery_concurrency: usize,
    /// How long transcoding or passing failures are retried, from the end of the first pass.
    pub retry_deadline: Duration,
    /// Pause between retry rounds.
    pub retry_interval: Duration,
    /// How long to wait for ingested interactions to show up in DAS.
    pub verify_deadline: Duration,
    /// Pause between verification reads.
    pub verify_interval: Duration,
    /// Where the shard notes what it is about to ingest, and what earlier attempts did.
    pub journal: Arc<dyn Journal>,
    /// About how many conversations one time chunk of the slice holds (0 = the slice in one
    /// chunk). Each chunk has its own contact index, so this bounds the index's memory.
    pub chunk_conversations: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            now: None,
            tolerance: matcher::DEFAULT_TOLERANCE,
            recovery_concurrency: 8,
            retry_deadline: Duration::from_secs(300),
            retry_interval: Duration::from_secs(5),
            verify_deadline: Duration::from_secs(300),
            verify_interval: Duration::from_secs(5),
            journal: Arc::new(NoJournal::default()),
            chunk_conversations: DEFAULT_CHUNK_CONVERSATIONS,
        }
    }
}

/// The result of one shard.
#[derive(Clone, Debug, Default)]
pub struct ShardSummary {
    /// Final counts.
    pub progress: ShardProgress,
    /// Final per-conversation outcome totals.
    pub outcomes: OutcomeCounts,
    /// Match details: per media type, skip reasons, anomalies.
    pub match_report: Option<MatchReport>,
}

/// Why a shard could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("invalid recovery: {0}")]
    Invalid(String),
    #[error("Genesys Cloud: {0}")]
    Genesys(#[from] GenesysError),
    #[error("recording side: {0}")]
    RecordingSide(#[from] RecordingSideError),
    #[error("cancelled")]
    Cancelled,
}

impl PipelineError {
    /// Whether running the shard again may succeed (a Job retry is worth it). Configuration and
    /// credential problems and cancellation are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            PipelineError::Invalid(_) | PipelineError::Cancelled => false,
            PipelineError::Genesys(err) => {
                !matches!(err, GenesysError::Config(_) | GenesysError::Auth { .. })
                    && !matches!(err.status(), Some(400 | 401 | 403 | 404))
            }
            PipelineError::RecordingSide(err) => {
                !err.is_auth()
                    && !matches!(
                        err,
                        RecordingSideError::InvalidUrl { .. } | RecordingSideError::Client { .. }
                    )
            }
        }
    }
}

/// The clients one shard uses. Built once; their counters feed `apiCalls`.
#[derive(Clone, Debug)]
pub struct Clients {
    /// Genesys Cloud (one token, one rate budget shared by every stage).
    pub genesys: GenesysClient,
    /// DAS and Capture.
    pub recording_side: RecordingSide,
}

impl Clients {
    /// Builds both clients for `spec` with `credentials`.
    pub fn connect(spec: &ValidSpec, credentials: &Credentials) -> Result<Clients, PipelineError> {
        let mut genesys = GenesysConfig::from_spec(
            spec,
            credentials.genesys.client_id.clone(),
            credentials.genesys.client_secret.clone(),
        )?;
        // Transcoding is retried later in the run rather than held in a recovery slot.
        genesys.transcode_polls = 2;
        let recording_side = RecordingSide::connect(&RecordingSideSettings::new(
            spec.recording_side.das_url.clone(),
            spec.recording_side.capture_url.clone(),
            spec.tenant.clone(),
            credentials.recording_side.client_id.clone(),
            credentials.recording_side.client_secret.clone(),
        ))?;
        Ok(Clients {
            genesys: GenesysClient::new(genesys)?,
            recording_side,
        })
    }

    /// Calls so far, by service, and 429s received.
    pub fn api_calls(&self) -> (ApiCalls, u64) {
        let genesys = self.genesys.counters();
        let das = self.recording_side.das_counters.snapshot();
        let capture = self.recording_side.capture_counters.snapshot();
        (
            ApiCalls {
                genesys: genesys.calls,
                das: das.calls,
                capture: capture.calls,
            },
            genesys.throttled + das.throttled + capture.throttled,
        )
    }
}

/// Runs one shard with default options.
pub async fn run_shard(
    run: ShardRun,
    reporter: Arc<dyn ProgressReporter>,
    cancel: CancellationToken,
) -> Result<ShardSummary, PipelineError> {
    run_shard_with(run, PipelineOptions::default(), reporter, cancel).await
}

/// Runs one shard.
pub async fn run_shard_with(
    run: ShardRun,
    options: PipelineOptions,
    reporter: Arc<dyn ProgressReporter>,
    cancel: CancellationToken,
) -> Result<ShardSummary, PipelineError> {
    let clients = Clients::connect(&run.spec, &run.credentials)?;
    execute(&clients, &run, &options, reporter, cancel).await
}

/// Runs the stages of one shard with the given clients.
pub async fn execute(
    clients: &Clients,
    run: &ShardRun,
    options: &PipelineOptions,
    reporter: Arc<dyn ProgressReporter>,
    cancel: CancellationToken,
) -> Result<ShardSummary, PipelineError> {
    let span = info_span!(
        "shard",
        recovery = %format!("{}/{}", run.recovery.namespace, run.recovery.name),
        shard = run.shard
    );
    async move {
        let settle_delay = run.spec.settle_delay();
        let tracker = Arc::new(Tracker::new(clients.clone(), reporter));
        let media_types = run.spec.media_types.clone();
        let chunks = plan_chunks(&clients.genesys, run.slice, &media_types, options).await;
        info!(chunks = chunks.len(), "matching the slice in time chunks");

        // Missing conversations go to the recovery pool as the matcher finds them, chunk after
        // chunk; the pool runs across chunks.
        let recover = run.spec.mode == Mode::Recover;
        let (to_recover, queue) = mpsc::channel::<RecoveryItem>(options.recovery_concurrency * 4);
        let pool = RecoveryPool {
            clients: clients.clone(),
            recovery: run.recovery.clone(),
            tracker: tracker.clone(),
            options: options.clone(),
            cancel: cancel.clone(),
        };
        let pool = tokio::spawn(pool.run(queue).in_current_span());
        // Conversations the matcher finds held because an earlier attempt recovered them.
        let recovered_earlier = Mutex::new(MatchCounts::default());
        let context = ChunkContext {
            clients,
            options,
            tracker: &tracker,
            media_types: &media_types,
            settle_delay,
            now: options.now.unwrap_or_else(Timestamp::now),
            trust_recording_flag: run.spec.genesys.trust_recording_flag,
            recover,
            to_recover: &to_recover,
            cancel: &cancel,
            recovered_earlier: &recovered_earlier,
        };
        let mut report = MatchReport::default();
        let mut carry = ChunkCarry::default();
        let mut failure = None;
        for (i, chunk) in chunks.iter().enumerate() {
            let position = ChunkPosition::of(i, chunks.len());
            let held_before = report.totals.recording_side;
            match context
                .match_chunk(*chunk, position, carry, held_before)
                .await
            {
                Ok((chunk_report, next)) => {
                    report.merge(chunk_report);
                    carry = next;
                }
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
            if cancel.is_cancelled() || to_recover.is_closed() {
                break;
            }
        }
        drop(to_recover);
        // Collection is over; the pool finishes what is queued and retries what was deferred.
        tracker.stage(Stage::Recover);
        let ingested = pool.await.unwrap_or_else(|err| {
            warn!(error = %err, "recovery pool ended abnormally");
            Vec::new()
        });
        check_cancel(&cancel)?;
        if let Some(err) = failure {
            return Err(err);
        }
        let recovered_earlier = *lock(&recovered_earlier);
        tracker.update(|p| {
            p.match_counts = report.totals;
            // The matcher saw earlier attempts' recoveries as held.
            p.match_counts.matched = p
                .match_counts
                .matched
                .saturating_sub(recovered_earlier.genesys);
            p.match_counts.missing += recovered_earlier.missing;
            p.match_counts.partial += recovered_earlier.partial;
        });
        for extra in &report.extras {
            tracker.record(OutcomeRecord {
                conversation_id: Some(*extra),
                media_type: None,
                outcome: Outcome::Extra,
                reason: Some("noGenesysConversation".into()),
                detail: None,
            });
        }

        // Verify: the ingested interactions show up in DAS.
        if !ingested.is_empty() {
            tracker.stage(Stage::Verify);
            verify::verify(
                &clients.recording_side.das,
                matcher_range(run.slice, options.tolerance),
                &media_types,
                ingested,
                options,
                &tracker,
                &cancel,
            )
            .await;
        }
        check_cancel(&cancel)?;
        tracker.stage(Stage::Done);
        let summary = tracker.summary(report);
        info!(
            missing = summary.progress.match_counts.missing,
            partial = summary.progress.match_counts.partial,
            recovered = summary.outcomes.recovered,
            verified = summary.outcomes.verified,
            failed = summary.outcomes.failed,
            "shard finished"
        );
        Ok(summary)
    }
    .instrument(span)
    .await
}

fn check_cancel(cancel: &CancellationToken) -> Result<(), PipelineError> {
    if cancel.is_cancelled() {
        Err(PipelineError::Cancelled)
    } else {
        Ok(())
    }
}

/// Cuts the shard's slice into consecutive chunks of about `options.chunk_conversations`
/// conversations each (Genesys' estimate for the slice, one API call), so that each chunk's
/// contact index, and with it the shard's memory, stays about the same size however large the
/// window. Chunks are at least [`MIN_CHUNK_TOLERANCES`] tolerances wide, so what a chunk carries
/// over (contacts within a tolerance of its end) only concerns its neighbour. Without an
/// estimate the slice is matched whole.
async fn plan_chunks(
    genesys: &GenesysClient,
    slice: Window,
    media_types: &[crate::api::MediaType],
    options: &PipelineOptions,
) -> Vec<Window> {
    if options.chunk_conversations == 0 {
        return vec![slice];
    }
    let query = CollectQuery {
        slice,
        media_types: media_types.to_vec(),
        message_types: Vec::new(),
    };
    let estimate = match genesys.estimate_conversations(&query).await {
        Ok(Some(estimate)) => estimate,
        Ok(None) => return vec![slice],
        Err(err) => {
            warn!(error = %err, "no estimate of the slice's conversations; matching it whole");
            return vec![slice];
        }
    };
    let wanted = estimate.div_ceil(options.chunk_conversations as u64).max(1);
    let min_width = options
        .tolerance
        .abs()
        .checked_mul(MIN_CHUNK_TOLERANCES)
        .unwrap_or(SignedDuration::MAX)
        .max(SignedDuration::from_secs(60));
    let span = slice.end.duration_since(slice.start);
    let widest = (span.as_secs_f64() / min_width.as_secs_f64())
        .floor()
        .max(1.0) as u64;
    let count = u32::try_from(wanted.min(widest)).unwrap_or(u32::MAX);
    shard::slices(slice, count)
}

/// A chunk is at least this many tolerances wide.
pub const MIN_CHUNK_TOLERANCES: i32 = 4;

/// What every chunk of a shard shares.
struct ChunkContext<'a> {
    clients: &'a Clients,
    options: &'a PipelineOptions,
    tracker: &'a Arc<Tracker>,
    media_types: &'a [crate::api::MediaType],
    settle_delay: SignedDuration,
    now: Timestamp,
    trust_recording_flag: bool,
    recover: bool,
    to_recover: &'a mpsc::Sender<RecoveryItem>,
    cancel: &'a CancellationToken,
    /// What earlier attempts of the shard recovered (see [`journal`]), counted as it is found.
    recovered_earlier: &'a Mutex<MatchCounts>,
}

impl ChunkContext<'_> {
    /// Inventory, collect and match of one chunk; queues what it lacks for recovery. Returns
    /// the chunk's match report and what the next chunk takes over.
    async fn match_chunk(
        &self,
        chunk: Window,
        position: ChunkPosition,
        carry: ChunkCarry,
        held_before: u64,
    ) -> Result<(MatchReport, ChunkCarry), PipelineError> {
        let (clients, options, tracker) = (self.clients, self.options, self.tracker);

        // Inventory: what the recording side holds for the (widened) chunk.
        tracker.stage(Stage::Inventory);
        let mut index = ContactIndex::for_chunk(chunk, options.tolerance, position, 0);
        let stats = inventory::load_contacts(
            &clients.recording_side.das,
            &mut index,
            self.media_types,
            |held| tracker.update(|p| p.match_counts.recording_side = held_before + held),
        )
        .await?;
        info!(
            chunk_start = %chunk.start,
            chunk_end = %chunk.end,
            contacts = index.len(),
            pages = stats.pages,
            "inventory read"
        );
        check_cancel(self.cancel)?;

        // Collect + match, feeding the recovery pool as missing conversations appear.
        tracker.stage(Stage::Collect);
        let mut matcher = Matcher::for_chunk(
            MatchConfig {
                slice: chunk,
                media_types: self.media_types.to_vec(),
                message_types: Vec::new(),
                settle_delay: self.settle_delay,
                now: self.now,
                tolerance: options.tolerance,
                trust_recording_flag: self.trust_recording_flag,
            },
            index,
            carry,
        );
        let mut conversations = Box::pin(collect::conversations(
            &clients.genesys,
            chunk,
            self.media_types,
        ));
        while let Some(item) = conversations.next().await {
            if self.cancel.is_cancelled() {
                break;
            }
            let conversation = item?;
            let summary = match collect::summarize(&conversation) {
                Ok(summary) => summary,
                Err(err) => {
                    tracker.record(OutcomeRecord {
                        conversation_id: None,
                        media_type: conversation.media_type(),
                        outcome: Outcome::Failed,
                        reason: Some("invalidConversation".into()),
                        detail: Some(err.to_string()),
                    });
                    continue;
                }
            };
            let Classified::Owned(verdict) = matcher.classify(&summary) else {
                continue;
            };
            // Held now because an earlier attempt of this shard recovered it?
            let earlier = match verdict.category {
                Category::Matched => options
                    .journal
                    .earlier()
                    .get(&verdict.conversation_id)
                    .copied(),
                _ => None,
            };
            let matched_as = verdict.category.kind();
            let decision = decide(verdict.category, earlier, self.recover);
            tracker.update(|p| {
                p.match_counts.count(decision.counted_as(matched_as));
                if decision.is_to_recover() {
                    p.progress.to_recover += 1;
                }
                if matches!(decision, Decision::Recover { .. }) {
                    p.progress.pending += 1;
                }
            });
            let (id, media_type) = (verdict.conversation_id, verdict.media_type);
            match decision {
                Decision::Held => {}
                Decision::RecoveredEarlier(then) => {
                    lock(self.recovered_earlier).count(then);
                    tracker.recovered_earlier(id, media_type);
                }
                Decision::Skip(reason) => tracker.record(OutcomeRecord {
                    conversation_id: Some(id),
                    media_type,
                    outcome: Outcome::Skipped,
                    reason: Some(reason.as_str().into()),
                    detail: None,
                }),
                Decision::WouldRecover { partial } => tracker.record(OutcomeRecord {
                    conversation_id: Some(id),
                    media_type,
                    outcome: Outcome::WouldRecover,
                    reason: Some(if partial { "partial" } else { "missing" }.into()),
                    detail: None,
                }),
                Decision::Recover { lacking } => {
                    let item = RecoveryItem {
                        id,
                        conversation,
                        lacking,
                    };
                    if self.to_recover.send(item).await.is_err() {
                        break; // the pool stopped (cancelled)
                    }
                }
            }
        }
        Ok(matcher.finish_chunk(position.last))
    }
}

fn matcher_range(slice: Window, tolerance: SignedDuration) -> Window {
    ContactIndex::new(slice, tolerance).query_range()
}

/// A conversation the recording side lacks (all of it, or the `lacking` sessions).
#[derive(Debug, Clone)]
pub struct RecoveryItem {
    /// Conversation id.
    pub id: Uuid,
    /// The analytics record (participants, sessions).
    pub conversation: Conversation,
    /// Sessions the recording side lacks; empty when it lacks the whole conversation.
    pub lacking: Vec<Uuid>,
}

/// An interaction Capture accepted, waiting for DAS to show it.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// Conversation id.
    pub id: Uuid,
    /// Media type.
    pub media_type: crate::api::MediaType,
    /// Session ids sent.
    pub sessions: Vec<String>,
    /// Capture answered 200: identical content was already held.
    pub already_present: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these short locks cannot leave the data half-written.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

//! The recovery pipeline of one shard. In the order the code runs (see [`execute`]):
//!
//! 1. the **recovery pool** (`pool.rs`) starts, waiting for conversations to recover (on the
//!    shard's own queue, or on one queue all shards of a `recover` run share:
//!    `shared_queue.rs`);
//! 2. **plan** (`plan.rs`): one Genesys estimate cuts the shard's slice into time chunks of about
//!    `chunk_conversations` conversations each, so memory stays that of one chunk's contact
//!    index plus what is in flight, however large the window;
//! 3. for each chunk, in order (`chunks.rs`):
//!    - **inventory** (`inventory.rs`): the contacts DAS holds for the chunk, widened by the
//!      tolerance, folded page by page into the matcher's compact index;
//!    - **collect** (`collect.rs`): the chunk's completed Genesys conversations, streamed;
//!    - **match** (`matcher/`): each conversation classified as it arrives, against the index;
//!    - **decide** (`decide.rs`): what to do with it, given the journal of earlier attempts
//!      (`journal.rs`) and the mode;
//!    - **route** (`route.rs`): counted, recorded (skipped, DryRun, recovered earlier) or queued;
//! 4. meanwhile the pool **fetches** each queued conversation's recordings and **ingests** the
//!    interaction into Capture (`ingest.rs`, `fetch.rs`), several at once, noting each in the
//!    journal before it is sent; archived recordings are restored first under
//!    `archivedRecordings: Restore` (`restore.rs`); once matching is over it retries what was
//!    transcoding, restoring or met a passing error, until the retry deadline;
//! 5. the final match counts and the extras are recorded (`tracker.rs`);
//! 6. once every pool on the queue is done, **verify** (`verify/`) the shard's own
//!    conversations, wherever they were ingested: DAS is read again, only around the ones
//!    still waiting and at growing intervals, until every ingested conversation shows up or
//!    the verify deadline passes.
//!
//! A re-drive (the spec names its conversations; `targets.rs` resolves and shares them) replaces
//! steps 2 and 3 by `targeted.rs`: the named conversations are read by id and matched against
//! the window's contacts of those conversations only; steps 4 to 6 are the same.
//!
//! Running totals go to a [`ProgressReporter`] as they change (`tracker.rs`, `progress.rs`).

pub mod balance;
pub mod collect;
pub mod decide;
pub mod fetch;
pub mod ingest;
pub mod inventory;
pub mod journal;
pub mod matcher;
pub mod plan;
pub mod progress;
pub mod restore;
pub mod settle;
pub mod shard;
pub mod shared_queue;
pub mod targets;
pub mod verify;

mod chunks;
mod clients;
mod error;
mod items;
mod options;
mod pool;
mod route;
mod targeted;
mod tracker;

use std::sync::Arc;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::{Instrument, info, info_span};
use uuid::Uuid;

use crate::api::{Mode, ValidSpec, Window};

use self::chunks::Matching;
use self::items::Owner;
use self::matcher::{MatchConfig, MatchReport};
use self::pool::RecoveryPool;
use self::route::Router;

pub use self::clients::{Clients, Credentials};
pub use self::error::PipelineError;
pub(crate) use self::error::check_cancel;
pub use self::items::{Ingested, RecoveryItem, SentSessions};
pub use self::options::{DEFAULT_CHUNK_CONVERSATIONS, PipelineOptions};
pub use self::plan::MIN_CHUNK_TOLERANCES;
pub use self::progress::{
    NoProgress, Outcome, OutcomeCounts, OutcomeRecord, ProgressReporter, ShardProgress, Stage,
};
pub use self::shared_queue::{ShardQueue, shared_queues};
pub use self::targeted::{NOT_FOUND, OUTSIDE_WINDOW};
pub(crate) use self::tracker::Tracker;
pub use crate::verint::capture::RecoveryRef;

/// One shard of one recovery.
#[derive(Clone, Debug)]
pub struct ShardRun {
    /// What to recover.
    pub spec: ValidSpec,
    /// Which DigitalRecovery this is (sent to Capture, named in logs).
    pub recovery: RecoveryRef,
    /// The slice of the window this shard owns (the whole window in a re-drive).
    pub slice: Window,
    /// Shard index.
    pub shard: u32,
    /// Credentials of both sides.
    pub credentials: Credentials,
    /// In a re-drive, this shard's share of the named conversations (sorted, without
    /// duplicates): only they are matched and recovered. `None`: the whole slice.
    pub targets: Option<Vec<Uuid>>,
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
    let follower = options
        .genesys_share
        .clone()
        .map(|share| clients.follow_share(share));
    let result = execute(&clients, &run, &options, reporter, cancel).await;
    if let Some(follower) = follower {
        follower.abort();
    }
    result
}

/// Runs the stages of one shard with the given clients, on a recovery queue of its own.
pub async fn execute(
    clients: &Clients,
    run: &ShardRun,
    options: &PipelineOptions,
    reporter: Arc<dyn ProgressReporter>,
    cancel: CancellationToken,
) -> Result<ShardSummary, PipelineError> {
    let queue = ShardQueue::own(queue_capacity(options));
    execute_on(clients, run, options, queue, reporter, cancel).await
}

/// Runs the stages of one shard with the given clients, on `queue` (see [`shared_queues`]: its
/// pool may recover other shards' conversations, and other pools the shard's).
pub async fn execute_on(
    clients: &Clients,
    run: &ShardRun,
    options: &PipelineOptions,
    queue: ShardQueue,
    reporter: Arc<dyn ProgressReporter>,
    cancel: CancellationToken,
) -> Result<ShardSummary, PipelineError> {
    let span = info_span!(
        "shard",
        recovery = %format!("{}/{}", run.recovery.namespace, run.recovery.name),
        shard = run.shard
    );
    async move {
        let tracker = Arc::new(Tracker::new(
            clients.clone(),
            reporter,
            tracker::Settling {
                slice_start: run.slice.start,
                give_up_before: run.spec.give_up_before,
            },
        ));
        let _reporting_429s =
            AbortOnDropHandle::new(tokio::spawn(tracker.clone().report_429s_while_running()));
        let media_types = &run.spec.media_types;

        // Fetch + ingest: the recovery pool, fed while matching goes on.
        let ShardQueue {
            to_recover,
            pool: pool_ends,
            pool_running,
            pools_running,
        } = queue;
        let pool = RecoveryPool {
            clients: clients.clone(),
            recovery: run.recovery.clone(),
            options: options.clone(),
            cancel: cancel.clone(),
            restorer: Arc::new(restore::Restorer::new(run.spec.archived_recordings)),
        }
        .spawn(pool_ends, pool_running);
        let owner = Arc::new(Owner::new(tracker.clone()));
        let router = Router {
            tracker: &tracker,
            owner: owner.clone(),
            to_recover,
        };
        let matching = Matching {
            clients,
            options,
            tracker: &tracker,
            config: match_config(run, options),
            recover: run.spec.mode == Mode::Recover,
            router,
            cancel: &cancel,
        };

        let matched = match &run.targets {
            // A re-drive: only the named conversations, read by id.
            Some(ids) => {
                info!(
                    conversations = ids.len(),
                    "re-driving the named conversations"
                );
                matching.over_targets(ids).await
            }
            // Plan: the slice in time chunks; then inventory -> collect -> match -> decide ->
            // route, chunk after chunk.
            None => {
                let chunks = plan::chunks(
                    &clients.genesys,
                    run.slice,
                    media_types,
                    &run.spec.message_types,
                    options,
                )
                .await;
                info!(chunks = chunks.len(), "matching the slice in time chunks");
                matching.over_chunks(&chunks).await
            }
        };

        // Matching is over and the shard queues no more; the pool finishes what is queued and
        // retries what was deferred. The shard's conversations taken by other pools are done
        // when every pool is. Then the final match counts and the extras.
        tracker.stage(Stage::Recover);
        info!("matching done; recovering what is queued");
        pool.finish().await;
        tokio::select! {
            _ = shared_queue::every_pool_finished(pools_running) => {}
            _ = cancel.cancelled() => {}
        }
        check_cancel(&cancel)?;
        let ingested = owner.take_ingested();
        info!(ingested = ingested.len(), "recovery done; verifying");
        let report = matched?;
        tracker.matched(&report);

        // Verify: the ingested interactions show up in DAS.
        if !ingested.is_empty() {
            tracker.stage(Stage::Verify);
            verify::verify(
                &clients.recording_side.das,
                verify::VerifyScope {
                    slice: run.slice,
                    media_types,
                    contacts_in_slice: report.totals.recording_side,
                },
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
            carried = summary.progress.progress.carried,
            resume_from = ?summary.progress.resume_from,
            "shard finished"
        );
        Ok(summary)
    }
    .instrument(span)
    .await
}

/// Conversations a shard's queue holds at most: a few rounds of its pool's concurrency, so
/// matching stays just ahead of recovery.
pub fn queue_capacity(options: &PipelineOptions) -> usize {
    pool::concurrency(options) * 4
}

/// The shard's match configuration; each chunk narrows its slice. `now` is read here, once
/// matching starts.
fn match_config(run: &ShardRun, options: &PipelineOptions) -> MatchConfig {
    MatchConfig {
        slice: run.slice,
        media_types: run.spec.media_types.clone(),
        message_types: run.spec.message_types.clone(),
        settle_delay: run.spec.settle_delay(),
        now: options.now.unwrap_or_else(Timestamp::now),
        tolerance: options.tolerance,
        trust_recording_flag: run.spec.genesys.trust_recording_flag,
    }
}

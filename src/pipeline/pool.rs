//! The recovery pool: fetches and ingests the conversations the matcher queues, several at once,
//! across the shard's chunks (or any shard's, from a shared queue), noting each in the journal
//! before it is sent; retries the deferred ones (transcoding, restoring, passing failures) in
//! rounds until the retry deadline. Each outcome, and what Capture accepted for verification,
//! goes to the conversation's own shard ([`super::items::Owner`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt};
use parking_lot::Mutex;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::{Instrument, debug, info, warn};
use uuid::Uuid;

use super::ingest::{self, ItemResult};
use super::restore::Restorer;
use super::shared_queue::{PoolEnds, PoolRunning, SharedReceiver};
use super::{Clients, Outcome, OutcomeRecord, PipelineOptions, RecoveryItem, RecoveryRef};
use crate::genesys::{GenesysError, RecordingFile};

/// Everything the pool's tasks share.
pub(crate) struct RecoveryPool {
    /// Both sides' clients.
    pub clients: Clients,
    /// The recovery, named in what is sent to Capture.
    pub recovery: RecoveryRef,
    /// Concurrency, retry deadline and interval, journal.
    pub options: PipelineOptions,
    /// Stops the pool.
    pub cancel: CancellationToken,
    /// What becomes of archived recordings (`spec.archivedRecordings`).
    pub restorer: Arc<Restorer>,
}

/// What the pool gathers while it runs.
struct PoolState {
    /// One permit per Capture write allowed in flight.
    capture_writers: Semaphore,
    /// Items to try again, and not before when.
    deferred: Mutex<Vec<(RecoveryItem, Instant)>>,
    /// The journal failed once (warned about once).
    journal_failed: AtomicBool,
    /// Genesys refused a batch download for good: no more are asked for.
    batches_refused: Arc<AtomicBool>,
}

/// A pool running on its own task.
pub(crate) struct RunningPool(JoinHandle<()>);

impl RunningPool {
    /// Waits until the pool has done what it took from the queue and what it deferred.
    pub(crate) async fn finish(self) {
        if let Err(err) = self.0.await {
            warn!(error = %err, "recovery pool ended abnormally");
        }
    }
}

/// Conversations a pool fetches and ingests at once when the options name none (a channel of 0
/// cannot be made, and to `for_each_concurrent` 0 means no limit at all).
pub(crate) fn concurrency(options: &PipelineOptions) -> usize {
    options.recovery_concurrency.max(1)
}

impl RecoveryPool {
    /// Starts the pool on its own task, in the current span, taking conversations from its
    /// intake until it is closed (every router feeding it dropped). `running` is dropped when
    /// the pool has finished.
    pub(crate) fn spawn(self, ends: PoolEnds, running: PoolRunning) -> RunningPool {
        let pool = tokio::spawn(
            async move {
                self.run(ends).await;
                drop(running);
            }
            .in_current_span(),
        );
        RunningPool(pool)
    }

    /// Runs until the queue is closed and the deferred items are done or given up.
    async fn run(self, ends: PoolEnds) {
        let state = PoolState {
            capture_writers: Semaphore::new(self.options.capture_writers.max(1)),
            deferred: Mutex::default(),
            journal_failed: AtomicBool::default(),
            batches_refused: Arc::default(),
        };
        let concurrency = concurrency(&self.options);
        // The first pass: the conversations a batch answered, and any pool's conversations to
        // fetch one by one, as they come.
        let (answered, from_batches) = mpsc::channel(concurrency);
        let batching = self.batch_stage(&state, ends.intake, answered, ends.to_fetch_alone);
        let handling = futures::stream::select(
            futures::stream::unfold(from_batches, |mut from_batches| async move {
                let next = from_batches.recv().await?;
                Some((next, from_batches))
            }),
            singles(ends.singles).map(|item| (item, None)),
        )
        .for_each_concurrent(concurrency, |(item, files)| {
            self.handle(&state, item, false, files)
        })
        // Boxed: without it the compiler cannot prove the pool's future `Send` for every
        // lifetime its closures borrow with.
        .boxed();
        futures::join!(batching, handling);

        info!(
            deferred = state.deferred.lock().len(),
            "recovery pool: first pass done"
        );
        let deadline = Instant::now() + self.options.retry_deadline;
        loop {
            if state.deferred.lock().is_empty() || self.cancel.is_cancelled() {
                break;
            }
            let last_round = Instant::now() + self.options.retry_interval >= deadline;
            tokio::select! {
                _ = tokio::time::sleep(self.options.retry_interval) => {}
                _ = self.cancel.cancelled() => break,
            }
            let round = due_items(&state.deferred, Instant::now(), last_round);
            info!(
                items = round.len(),
                last_round, "retrying deferred conversations"
            );
            futures::stream::iter(round)
                .for_each_concurrent(concurrency, |item| {
                    self.handle(&state, item, last_round, None)
                })
                .await;
        }
    }

    /// Takes the queue in batches whose recordings are asked for together (the next batch is
    /// fetched while this one is sent to Capture); hands the conversations a batch answered to
    /// this pool, the rest to any pool. Returns, dropping both senders, once the queue is
    /// closed and its batches are done.
    async fn batch_stage(
        &self,
        state: &PoolState,
        intake: SharedReceiver,
        answered: mpsc::Sender<(RecoveryItem, Option<Vec<RecordingFile>>)>,
        to_fetch_alone: mpsc::Sender<RecoveryItem>,
    ) {
        gather(intake, BATCH_SIZE, BATCH_GATHER)
            .map(|batch| self.batch_files(state, batch))
            .buffered(BATCHES_AHEAD)
            .then(|batch| self.journal_batch(batch))
            .flat_map(futures::stream::iter)
            .for_each(|(item, files)| {
                let (answered, to_fetch_alone) = (answered.clone(), to_fetch_alone.clone());
                async move {
                    // Either send fails only when every pool stopped taking work (cancelled).
                    let _ = match files {
                        Some(files) => answered.send((item, Some(files))).await.map_err(drop),
                        None => to_fetch_alone.send(item).await.map_err(drop),
                    };
                }
            })
            .await;
    }

    /// `batch` with the recording files one batch download prepared for each (None: the item
    /// fetches its recordings itself). Small batches are not worth a submit and its polls, and
    /// a batch refused for good (no permission, no such endpoint) ends batching for the shard.
    fn batch_files(
        &self,
        state: &PoolState,
        batch: Vec<RecoveryItem>,
    ) -> impl Future<Output = Vec<(RecoveryItem, Option<Vec<RecordingFile>>)>> + use<> {
        let unfetched = |batch: Vec<RecoveryItem>| batch.into_iter().map(|i| (i, None)).collect();
        let wanted = self.options.recordings_in_batches
            && batch.len() >= MIN_BATCH
            && !state.batches_refused.load(Ordering::Relaxed)
            && !self.cancel.is_cancelled();
        // On its own task: `buffered` polls a batch ahead only while the pool takes items.
        let task = wanted.then(|| {
            let genesys = self.clients.genesys.clone();
            let ids: Vec<String> = batch.iter().map(|i| i.conversation.id.clone()).collect();
            AbortOnDropHandle::new(tokio::spawn(
                async move { genesys.batch_recording_files(&ids).await }.in_current_span(),
            ))
        });
        let refused = state.batches_refused.clone();
        async move {
            let Some(task) = task else {
                return unfetched(batch);
            };
            let mut files = match task.await {
                Ok(Ok(files)) => files,
                Ok(Err(err)) => {
                    if batch_refused_for_good(&err) && !refused.swap(true, Ordering::Relaxed) {
                        warn!(error = %err, "Genesys refused a batch download; recordings are fetched one conversation at a time");
                    } else {
                        info!(error = %err, "a batch download failed; its conversations are fetched one at a time");
                    }
                    return unfetched(batch);
                }
                Err(err) => {
                    warn!(error = %err, "a batch download task ended abnormally");
                    return unfetched(batch);
                }
            };
            batch
                .into_iter()
                .map(|item| {
                    let item_files = files.remove(&item.conversation.id);
                    (item, item_files)
                })
                .collect()
        }
    }

    /// Journals the conversations of `batch` in one write before any of them is sent. Each is
    /// journaled again as it is taken (`handle`), at no cost then; should this write fail, that
    /// one writes it and warns.
    async fn journal_batch<F>(&self, batch: Vec<(RecoveryItem, F)>) -> Vec<(RecoveryItem, F)> {
        let entries: Vec<(Uuid, bool)> = batch
            .iter()
            .map(|(item, _)| (item.id, !item.lacking.is_empty()))
            .collect();
        if let Err(err) = self.options.journal.record_all(&entries).await {
            debug!(error = %err, "cannot journal a batch; its conversations are journaled one at a time");
        }
        batch
    }

    /// One attempt at one item (its recording files prepared by a batch, or not); in the last
    /// round a passing failure becomes final.
    async fn handle(
        &self,
        state: &PoolState,
        item: RecoveryItem,
        last_round: bool,
        batch_files: Option<Vec<RecordingFile>>,
    ) {
        if self.cancel.is_cancelled() {
            return;
        }
        // Noted before anything is sent, so a later attempt can count it (accounting only: a
        // journal that cannot be written does not stop the recovery).
        if let Err(err) = self
            .options
            .journal
            .record(item.id, !item.lacking.is_empty())
            .await
            && !state.journal_failed.swap(true, Ordering::Relaxed)
        {
            warn!(error = %err, "the journal is not kept; a retry of this shard would undercount");
        }
        let recovered = ingest::recover_one(
            &self.clients,
            &self.recovery,
            &self.restorer,
            &state.capture_writers,
            &item,
            batch_files,
        )
        .await;
        match recovered {
            ItemResult::Final(record) => item.owner.finish_item(record),
            ItemResult::Ingested(done) => item.owner.ingested(done),
            ItemResult::RetryLater { retry_after, .. } if !last_round => {
                let due = Instant::now() + retry_after.unwrap_or_default();
                state.deferred.lock().push((item, due));
            }
            ItemResult::RetryLater { reason, detail, .. } => {
                item.owner.finish_item(OutcomeRecord {
                    conversation_id: Some(item.id),
                    media_type: item.conversation.media_type(),
                    conversation_start: Some(item.conversation.start),
                    outcome: Outcome::Failed,
                    reason: Some(reason.into()),
                    detail: Some(format!(
                        "not done by this run's retry deadline, left to a later run: {detail}"
                    )),
                    archive_date: None,
                });
            }
        }
    }
}

/// Conversations in one batch download (Genesys takes at most 100).
const BATCH_SIZE: usize = 100;
/// How long a batch waits for more conversations after its first one was queued.
const BATCH_GATHER: Duration = Duration::from_secs(1);
/// Fewer conversations than this are fetched one by one: a batch costs a submit and at least
/// one poll, and its conversations wait for the whole batch.
const MIN_BATCH: usize = 8;
/// Batches fetched ahead of the one being sent to Capture.
const BATCHES_AHEAD: usize = 2;

/// The queue in batches of up to `size` items; a batch is closed `wait` after its first item
/// came, or when the queue is closed. A pool gathers with the queue to itself, so that pools
/// sharing it take whole batches in turn.
fn gather(
    intake: SharedReceiver,
    size: usize,
    wait: Duration,
) -> impl Stream<Item = Vec<RecoveryItem>> {
    futures::stream::unfold(intake, move |intake| async move {
        let mut queue = intake.lock().await;
        let first = queue.recv().await?;
        let until = Instant::now() + wait;
        let mut batch = vec![first];
        while batch.len() < size {
            match tokio::time::timeout_at(until, queue.recv()).await {
                Ok(Some(item)) => batch.push(item),
                Ok(None) | Err(_) => break,
            }
        }
        drop(queue);
        Some((batch, intake))
    })
}

/// The conversations to fetch one by one, taken one at a time by whichever pool is free; ends
/// when every pool's batches are done.
fn singles(singles: SharedReceiver) -> impl Stream<Item = RecoveryItem> {
    futures::stream::unfold(singles, |singles| async move {
        let item = singles.lock().await.recv().await?;
        Some((item, singles))
    })
}

/// A batch error no retry changes: the client may not use batch downloads (403), or the API
/// has none (404, 405), or it rejects the request (400).
fn batch_refused_for_good(err: &GenesysError) -> bool {
    matches!(err.status(), Some(400 | 401 | 403 | 404 | 405))
}

/// Takes the deferred items whose time has come (all of them in the last round): the server may
/// have asked for a later try (a 202's Retry-After).
fn due_items(
    deferred: &Mutex<Vec<(RecoveryItem, Instant)>>,
    now: Instant,
    last_round: bool,
) -> Vec<RecoveryItem> {
    let mut waiting = deferred.lock();
    let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut *waiting)
        .into_iter()
        .partition(|(_, due)| last_round || *due <= now);
    *waiting = later;
    due.into_iter().map(|(item, _)| item).collect()
}

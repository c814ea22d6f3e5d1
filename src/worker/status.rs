//! A shard's status entry: what the pipeline reports is collected here, and a writer task
//! publishes it as `status.shards[index]` (server-side apply under the shard's own field
//! manager) at most once a second, so the pipeline's tasks never wait for the apiserver; the same
//! task writes the report's parts as they fill. The task is stopped by cancelling it and joining
//! it, so no `Running` write can land after the shard's final entry.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use jiff::Timestamp;
use kube::Api;
use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::report::{ReportEncoder, ReportWriter};
use crate::api::{
    DigitalRecovery, FailureRecord, MAX_SHARD_FAILURES, MediaType, MediaTypeCounts, ReasonCount,
    ShardPhase, ShardStatus, Window,
};
use crate::contract::worker_manager;
use crate::kubeapi::{apply_status, is_transient, patiently};
use crate::ledger::ShardWords;
use crate::pipeline::progress::{Outcome, OutcomeRecord, ProgressReporter, ShardProgress};
use crate::pipeline::settle::unrecoverable_reason;

/// How often the shard looks whether its status entry should be written: at once when its 429
/// count rose (the controller lowers its org's budget on them) or its stage changed.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);
/// Least time between two writes of mere progress. Every write is a reconcile of the recovery
/// and a status write of the controller, sent to every watcher: at one a second per shard, a
/// fleet's shards kept the controller a minute behind (on 2 cores, 80 shards).
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);
/// How long the worker keeps retrying an apiserver call that failed transiently (apiserver
/// restarting, overloaded) before giving up. Finished work must not be redone because the
/// apiserver was away for a minute when the shard wanted to write its result.
pub const APISERVER_PATIENCE: Duration = Duration::from_secs(180);

/// Per-shard state the reporter accumulates and the status writer publishes.
#[derive(Default)]
pub struct Collected {
    pub progress: ShardProgress,
    /// The shard's report, encoded as outcomes come; full parts are written while it runs.
    pub report: ReportEncoder,
    /// What the outcomes say to the schedule's ledger (runs made by a schedule only).
    pub ledger: Option<ShardWords>,
    by_media: BTreeMap<MediaType, MediaTypeCounts>,
    failures: Vec<FailureRecord>,
    /// Conversations that ended final without being recovered, by reason.
    unrecoverable: BTreeMap<&'static str, u64>,
    /// Changed since the last status write.
    dirty: bool,
}

impl Collected {
    fn add(&mut self, record: &OutcomeRecord) {
        if let Some(mt) = record.media_type {
            let c = self
                .by_media
                .entry(mt)
                .or_insert_with(|| MediaTypeCounts::new(mt));
            match record.outcome {
                Outcome::Recovered => {
                    c.to_recover += 1;
                    c.recovered += 1;
                }
                // Final once DAS shows it, like Verified.
                Outcome::Verified | Outcome::AlreadyPresent => {
                    c.to_recover += 1;
                    c.recovered += 1;
                    c.verified += 1;
                }
                Outcome::Failed | Outcome::Conflict | Outcome::Unverified => {
                    c.to_recover += 1;
                    c.failed += 1;
                }
                Outcome::NotRecorded => {
                    c.to_recover += 1;
                    c.not_recorded += 1;
                }
                Outcome::WouldRecover => c.to_recover += 1,
                Outcome::Skipped => c.skipped += 1,
                Outcome::Extra => {}
            }
        }
        if let Some(reason) = unrecoverable_reason(record.outcome, record.reason.as_deref()) {
            *self.unrecoverable.entry(reason).or_insert(0) += 1;
        }
        if matches!(
            record.outcome,
            Outcome::Failed | Outcome::Conflict | Outcome::Unverified
        ) && self.failures.len() < MAX_SHARD_FAILURES
        {
            self.failures.push(FailureRecord {
                conversation_id: record.conversation_id.map(|u| u.to_string()),
                shard: None,
                outcome: serde_json::to_value(record.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                reason: record.reason.clone(),
                detail: record.detail.clone(),
            });
        }
        if let Some(ledger) = &mut self.ledger {
            ledger.note(record);
        }
        if let Err(e) = self.report.push(record) {
            warn!(error = %e, "cannot add an outcome to the report");
        }
        self.dirty = true;
    }
}

/// Per media type: the match counts with the outcomes; a type with nothing counted is left out.
fn by_media_type(c: &Collected) -> Vec<MediaTypeCounts> {
    MediaType::ALL
        .into_iter()
        .filter_map(|media_type| {
            let matched = c.progress.match_by_media.get(media_type);
            let mut counts = c
                .by_media
                .get(&media_type)
                .copied()
                .unwrap_or_else(|| MediaTypeCounts::new(media_type));
            counts.matched = matched.matched;
            counts.missing = matched.missing;
            counts.partial = matched.partial;
            counts.extra = matched.extra;
            (counts != MediaTypeCounts::new(media_type)).then_some(counts)
        })
        .collect()
}

/// A [`ProgressReporter`] that only records.
#[derive(Default)]
pub struct ShardReporter {
    state: Mutex<Collected>,
}

impl ShardReporter {
    /// A reporter that also gathers the words of `recovery`'s outcomes for its schedule's
    /// ledger.
    pub fn with_ledger(recovery: &str) -> ShardReporter {
        let reporter = ShardReporter::default();
        reporter.state.lock().ledger = Some(ShardWords::new(recovery));
        reporter
    }

    /// The collected state (held briefly: the pipeline's tasks report under the same lock).
    pub fn lock(&self) -> parking_lot::MutexGuard<'_, Collected> {
        self.state.lock()
    }
}

impl ProgressReporter for ShardReporter {
    fn progress(&self, snapshot: &ShardProgress) {
        let mut s = self.state.lock();
        s.progress = *snapshot;
        s.dirty = true;
    }

    fn outcome(&self, record: &OutcomeRecord) {
        self.state.lock().add(record);
    }
}

/// Writes one shard's status entry.
pub struct StatusWriter {
    api: Api<DigitalRecovery>,
    name: String,
    shard: u32,
    /// None until the shard knows its slice (an error before that is written without one).
    slice: Option<Window>,
    start_time: String,
}

impl StatusWriter {
    pub fn new(api: Api<DigitalRecovery>, name: String, shard: u32, slice: Option<Window>) -> Self {
        StatusWriter {
            api,
            name,
            shard,
            slice,
            start_time: Timestamp::now().to_string(),
        }
    }

    /// The entry for `phase` from what was collected.
    pub fn entry(&self, phase: ShardPhase, c: &Collected) -> ShardStatus {
        let stage = c.progress.stage.and_then(|s| {
            serde_json::to_value(s)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
        });
        ShardStatus {
            index: self.shard,
            phase: Some(phase),
            stage,
            slice: self.slice,
            match_counts: Some(c.progress.match_counts),
            progress: Some(c.progress.progress),
            api_calls: Some(c.progress.api_calls),
            throttled: c.progress.throttled,
            throttled_by: Some(c.progress.throttled_by),
            by_media_type: by_media_type(c),
            reason: None,
            message: None,
            start_time: Some(self.start_time.clone()),
            update_time: Some(Timestamp::now().to_string()),
            report_parts: None,
            failures: c.failures.clone(),
            unrecoverable: c
                .unrecoverable
                .iter()
                .map(|(reason, count)| ReasonCount {
                    reason: (*reason).to_string(),
                    count: *count,
                })
                .collect(),
            resume_from: c.progress.resume_from.map(|t| t.to_string()),
        }
    }

    /// Writes `entry` once.
    pub async fn apply(&self, entry: &ShardStatus) -> Result<(), kube::Error> {
        let status = serde_json::json!({"shards": [entry]});
        apply_status(&self.api, &self.name, &worker_manager(self.shard), &status).await
    }

    /// [`Self::apply`], retried while the apiserver is unavailable.
    pub async fn apply_patiently(&self, entry: &ShardStatus) -> Result<(), kube::Error> {
        patiently(
            "write the shard status",
            APISERVER_PATIENCE,
            is_transient,
            || self.apply(entry),
        )
        .await
    }
}

/// The background task writing `Running` entries while the pipeline runs.
pub struct StatusTicker {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl StatusTicker {
    /// Starts writing what `reporter` collects, whenever it changed, at most once a
    /// [`STATUS_INTERVAL`], and the report's full parts through `report`.
    pub fn start(
        reporter: Arc<ShardReporter>,
        writer: Arc<StatusWriter>,
        report: Arc<ReportWriter>,
    ) -> StatusTicker {
        let stop = CancellationToken::new();
        let task = tokio::spawn(tick(reporter, writer, report, stop.clone()));
        StatusTicker { stop, task }
    }

    /// Stops the task and waits for it: a write in flight finishes (or is dropped between
    /// writes) before this returns, so the caller's final entry is the last one written.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            warn!(error = %e, "the status writer task failed");
        }
    }
}

async fn tick(
    reporter: Arc<ShardReporter>,
    writer: Arc<StatusWriter>,
    report: Arc<ReportWriter>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(STATUS_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut written: Option<Written> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        write_full_parts(&reporter, &report).await;
        let now = tokio::time::Instant::now();
        let (entry, this) = {
            let mut s = reporter.lock();
            let this = Written {
                at: now,
                stage: s.progress.stage,
                throttled: s.progress.throttled,
            };
            if !s.dirty || written.as_ref().is_some_and(|w| !w.due(&this)) {
                continue;
            }
            s.dirty = false;
            (writer.entry(ShardPhase::Running, &s), this)
        };
        // A write already sent completes even when the stop comes meanwhile: it is joined.
        match writer.apply(&entry).await {
            Ok(()) => written = Some(this),
            Err(e) => {
                warn!(error = %e, "cannot write the shard status; will retry");
                reporter.lock().dirty = true;
            }
        }
    }
}

/// What the last `Running` entry written showed.
struct Written {
    at: tokio::time::Instant,
    stage: Option<crate::pipeline::Stage>,
    throttled: u64,
}

impl Written {
    /// Whether an entry showing `next` is written now, this one written before: a new stage
    /// or more 429s at once, mere progress every [`PROGRESS_INTERVAL`].
    fn due(&self, next: &Written) -> bool {
        next.stage != self.stage
            || next.throttled > self.throttled
            || next.at.saturating_duration_since(self.at) >= PROGRESS_INTERVAL
    }
}

/// Writes the report parts that filled since the last tick; what cannot be written now waits
/// for the next tick (or the shard's end).
async fn write_full_parts(reporter: &ShardReporter, report: &ReportWriter) {
    let mut parts = reporter.lock().report.take_full();
    while let Some((number, bytes)) = parts.first() {
        if let Err(e) = report.write_part(*number, bytes).await {
            warn!(error = %e, part = number, "cannot write a report part; will retry");
            reporter.lock().report.restore(parts);
            return;
        }
        parts.remove(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn record(outcome: Outcome) -> OutcomeRecord {
        OutcomeRecord {
            conversation_id: Some(Uuid::new_v4()),
            media_type: Some(MediaType::Chat),
            conversation_start: None,
            outcome,
            reason: None,
            detail: None,
            archive_date: None,
        }
    }

    #[test]
    fn progress_is_written_every_5_s_but_a_new_stage_or_more_429s_at_once() {
        use crate::pipeline::Stage;
        let start = tokio::time::Instant::now();
        let last = Written {
            at: start,
            stage: Some(Stage::Collect),
            throttled: 2,
        };
        let at = |secs: u64, stage: Stage, throttled: u64| Written {
            at: start + Duration::from_secs(secs),
            stage: Some(stage),
            throttled,
        };
        assert!(!last.due(&at(1, Stage::Collect, 2)));
        assert!(!last.due(&at(4, Stage::Collect, 2)));
        assert!(last.due(&at(5, Stage::Collect, 2)));
        assert!(last.due(&at(1, Stage::Recover, 2)));
        assert!(last.due(&at(1, Stage::Collect, 3)));
    }

    #[test]
    fn outcomes_count_by_media_type_and_failures_are_listed() {
        let reporter = ShardReporter::default();
        for outcome in [
            Outcome::Verified,
            Outcome::Recovered,
            Outcome::AlreadyPresent,
            Outcome::Failed,
            Outcome::Conflict,
            Outcome::NotRecorded,
            Outcome::Skipped,
            Outcome::Extra,
        ] {
            reporter.outcome(&record(outcome));
        }
        let s = reporter.lock();
        let chat = s.by_media.get(&MediaType::Chat).copied();
        assert_eq!(
            chat.map(|c| (
                c.to_recover,
                c.recovered,
                c.verified,
                c.failed,
                c.not_recorded,
                c.skipped
            )),
            Some((6, 3, 2, 2, 1, 1))
        );
        let listed: Vec<&str> = s.failures.iter().map(|f| f.outcome.as_str()).collect();
        assert_eq!(listed, ["failed", "conflict"]);
        assert_eq!(s.report.records(), 8);
        assert!(s.dirty);
    }

    #[tokio::test]
    async fn the_entry_carries_match_counts_per_media_type_and_unrecoverable_reasons() {
        let reporter = ShardReporter::default();
        let mut snapshot = ShardProgress::default();
        let email = snapshot.match_by_media.get_mut(MediaType::Email);
        (email.matched, email.missing, email.partial, email.extra) = (5, 2, 1, 3);
        reporter.progress(&snapshot);
        for (outcome, reason) in [
            (Outcome::Failed, "archived"),
            (Outcome::Failed, "archived"),
            (Outcome::Failed, "transcoding"),
            (Outcome::Conflict, "differentContentHeld"),
            (Outcome::Skipped, "gaveUp"),
        ] {
            reporter.outcome(&OutcomeRecord {
                reason: Some(reason.into()),
                ..record(outcome)
            });
        }
        let slice = Window {
            start: Timestamp::UNIX_EPOCH,
            end: Timestamp::UNIX_EPOCH,
        };
        let api: Api<DigitalRecovery> = Api::all(kube_client_for_tests());
        let writer = StatusWriter::new(api, "r".into(), 0, Some(slice));
        let entry = writer.entry(ShardPhase::Running, &reporter.lock());
        let by_type: Vec<(MediaType, u64, u64, u64, u64, u64)> = entry
            .by_media_type
            .iter()
            .map(|m| {
                (
                    m.media_type,
                    m.matched,
                    m.missing,
                    m.partial,
                    m.extra,
                    m.failed,
                )
            })
            .collect();
        // Chat has only outcomes (the failures), email only match counts; social nothing.
        assert_eq!(
            by_type,
            [
                (MediaType::Chat, 0, 0, 0, 0, 4),
                (MediaType::Email, 5, 2, 1, 3, 0)
            ]
        );
        let reasons: Vec<(&str, u64)> = entry
            .unrecoverable
            .iter()
            .map(|r| (r.reason.as_str(), r.count))
            .collect();
        // transcoding is carried, not unrecoverable.
        assert_eq!(reasons, [("archived", 2), ("conflict", 1), ("gaveUp", 1)]);
    }

    /// A client that is never used: building an entry makes no call (a client needs a runtime).
    fn kube_client_for_tests() -> kube::Client {
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("url"));
        kube::Client::try_from(config).expect("client")
    }
}

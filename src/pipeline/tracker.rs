//! The shard's running totals: match counts, recovery progress and outcome totals, told to the
//! [`ProgressReporter`] (a terminal or the worker's status writer) as they change.

use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::matcher::MatchReport;
use super::{
    Clients, Outcome, OutcomeCounts, OutcomeRecord, ProgressReporter, ShardProgress, ShardSummary,
    Stage, lock,
};

/// Keeps the shard's running totals and tells the reporter.
pub(crate) struct Tracker {
    clients: Clients,
    reporter: Arc<dyn ProgressReporter>,
    state: Mutex<(ShardProgress, OutcomeCounts)>,
}

impl Tracker {
    pub(crate) fn new(clients: Clients, reporter: Arc<dyn ProgressReporter>) -> Self {
        Tracker {
            clients,
            reporter,
            state: Mutex::new(Default::default()),
        }
    }

    pub(crate) fn stage(&self, stage: Stage) {
        self.update(|p| p.stage = Some(stage));
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut ShardProgress)) {
        let snapshot = {
            let mut state = lock(&self.state);
            change(&mut state.0);
            let (calls, throttled) = self.clients.api_calls();
            state.0.api_calls = calls;
            state.0.throttled = throttled;
            state.0
        };
        self.reporter.progress(&snapshot);
    }

    /// Capture accepted a conversation (201, or 200 for identical content already held);
    /// verification decides its final outcome.
    pub(crate) fn ingested(&self, already_present: bool) {
        self.update(|p| {
            p.progress.recovered += 1;
            p.progress.pending = p.progress.pending.saturating_sub(1);
        });
        if !already_present {
            lock(&self.state).1.recovered += 1;
        }
    }

    /// A record that changes no recovery totals (skipped, extra, dry-run).
    pub(crate) fn record(&self, record: OutcomeRecord) {
        lock(&self.state).1.add(record.outcome);
        self.reporter.outcome(&record);
    }

    /// The final outcome of a conversation that was queued for recovery.
    pub(crate) fn finish_item(&self, record: OutcomeRecord) {
        self.update(|p| {
            p.progress.pending = p.progress.pending.saturating_sub(1);
            match record.outcome {
                Outcome::Verified => p.progress.verified += 1,
                Outcome::AlreadyPresent => p.progress.recovered += 1,
                Outcome::Failed | Outcome::Conflict | Outcome::Unverified => p.progress.failed += 1,
                Outcome::NotRecorded => p.progress.not_recorded += 1,
                _ => {}
            }
        });
        self.record(record);
    }

    /// A conversation an earlier attempt of the shard recovered, which DAS now shows.
    pub(crate) fn recovered_earlier(&self, id: Uuid, media_type: Option<crate::api::MediaType>) {
        self.update(|p| {
            p.progress.to_recover += 1;
            p.progress.recovered += 1;
            p.progress.verified += 1;
        });
        self.record(OutcomeRecord {
            conversation_id: Some(id),
            media_type,
            outcome: Outcome::Verified,
            reason: Some("recoveredByEarlierAttempt".into()),
            detail: None,
        });
    }

    /// Final outcome of an ingested conversation after verification (it is no longer pending).
    pub(crate) fn verified(&self, record: OutcomeRecord) {
        self.update(|p| match record.outcome {
            Outcome::Verified | Outcome::AlreadyPresent => p.progress.verified += 1,
            _ => p.progress.failed += 1,
        });
        self.record(record);
    }

    pub(crate) fn summary(&self, report: MatchReport) -> ShardSummary {
        self.update(|_| {});
        let state = lock(&self.state);
        ShardSummary {
            progress: state.0,
            outcomes: state.1,
            match_report: Some(report),
        }
    }
}

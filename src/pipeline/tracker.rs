//! The shard's running totals: match counts, recovery progress and outcome totals, told to the
//! [`ProgressReporter`] (a terminal or the worker's status writer) as they change.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use parking_lot::Mutex;

use uuid::Uuid;

use super::decide::Decision;
use super::matcher::MatchReport;
use super::progress::MatchByMedia;
use super::settle::{Settled, earliest, settle};
use super::{
    Clients, Outcome, OutcomeCounts, OutcomeRecord, ProgressReporter, ShardProgress, ShardSummary,
    Stage,
};
use crate::api::{MatchCategory, MatchCounts, MediaType};

/// Keeps the shard's running totals and tells the reporter.
pub(crate) struct Tracker {
    clients: Clients,
    reporter: Arc<dyn ProgressReporter>,
    settling: Settling,
    state: Mutex<Totals>,
}

/// How the shard settles its conversations (see [`super::settle`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settling {
    /// The start of the shard's slice: where a carried conversation of unknown start resumes.
    pub(crate) slice_start: Timestamp,
    /// The recovery's `giveUpBefore`.
    pub(crate) give_up_before: Option<Timestamp>,
}

#[derive(Default)]
struct Totals {
    progress: ShardProgress,
    outcomes: OutcomeCounts,
    /// Conversations the matcher found held because an earlier attempt of the shard recovered
    /// them (see [`super::journal`]), by what they were then.
    recovered_earlier: MatchCounts,
    /// The same per media type.
    recovered_earlier_by_media: MatchByMedia,
}

impl Tracker {
    pub(crate) fn new(
        clients: Clients,
        reporter: Arc<dyn ProgressReporter>,
        settling: Settling,
    ) -> Self {
        Tracker {
            clients,
            reporter,
            settling,
            state: Mutex::new(Totals::default()),
        }
    }

    /// How often [`Self::report_429s_while_running`] looks at the 429 count.
    pub(crate) const THROTTLED_CHECK: Duration = Duration::from_secs(1);

    /// Reports the shard's totals again whenever its 429 count rose, until dropped: the
    /// controller lowers the org's budget on them, so they must not wait for the next change of
    /// progress (a long query stage reports none, and a shard paced low changes slowly).
    pub(crate) async fn report_429s_while_running(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Self::THROTTLED_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (_, throttled) = self.clients.api_calls();
            if throttled != self.state.lock().progress.throttled_by {
                self.update(|_| {});
            }
        }
    }

    pub(crate) fn stage(&self, stage: Stage) {
        self.update(|p| p.stage = Some(stage));
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut ShardProgress)) {
        let snapshot = {
            let mut state = self.state.lock();
            change(&mut state.progress);
            let (calls, throttled) = self.clients.api_calls();
            state.progress.api_calls = calls;
            state.progress.throttled = throttled.total();
            state.progress.throttled_by = throttled;
            state.progress
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
            self.state.lock().outcomes.recovered += 1;
        }
    }

    /// A record that changes no recovery totals but `carried` and `gaveUp` (skipped, extra,
    /// dry-run); every other kind of record ends here too. A carried record moves the shard's
    /// `resume_from`; one older than `giveUpBefore` is given up (final, reason `gaveUp`).
    pub(crate) fn record(&self, mut record: OutcomeRecord) {
        match settle(&mut record, self.settling.give_up_before) {
            Settled::Final => {}
            Settled::Carried(start) => {
                let from = start.unwrap_or(self.settling.slice_start);
                self.update(|p| {
                    p.progress.carried += 1;
                    p.resume_from = earliest(p.resume_from, Some(from));
                });
            }
            Settled::GaveUp => self.update(|p| p.progress.gave_up += 1),
        }
        self.state.lock().outcomes.add(record.outcome);
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

    /// A conversation Genesys sent malformed (cannot be parsed, invalid id): never matched,
    /// counted as to recover and failed (final), so one bad conversation fails one item.
    pub(crate) fn malformed(&self, record: OutcomeRecord) {
        self.update(|p| {
            p.progress.to_recover += 1;
            p.progress.failed += 1;
        });
        self.record(record);
    }

    /// The matcher classified a conversation of `media_type` `matched_as` and the pipeline
    /// decided `decision`.
    pub(crate) fn decided(
        &self,
        decision: &Decision,
        matched_as: MatchCategory,
        media_type: Option<MediaType>,
    ) {
        self.update(|p| {
            let counted_as = decision.counted_as(matched_as);
            p.match_counts.count(counted_as);
            if let Some(media_type) = media_type {
                p.match_by_media.get_mut(media_type).count(counted_as);
            }
            if decision.is_to_recover() {
                p.progress.to_recover += 1;
            }
            if matches!(decision, Decision::Recover { .. }) {
                p.progress.pending += 1;
            }
        });
    }

    /// A conversation an earlier attempt of the shard recovered from what it was `then`
    /// (missing or partial), which DAS now shows.
    pub(crate) fn recovered_earlier(
        &self,
        id: Uuid,
        media_type: Option<MediaType>,
        conversation_start: Timestamp,
        then: MatchCategory,
    ) {
        {
            let mut state = self.state.lock();
            state.recovered_earlier.count(then);
            if let Some(media_type) = media_type {
                state
                    .recovered_earlier_by_media
                    .get_mut(media_type)
                    .count(then);
            }
        }
        self.update(|p| {
            p.progress.to_recover += 1;
            p.progress.recovered += 1;
            p.progress.verified += 1;
        });
        self.record(OutcomeRecord {
            conversation_id: Some(id),
            media_type,
            conversation_start: Some(conversation_start),
            outcome: Outcome::Verified,
            reason: Some("recoveredByEarlierAttempt".into()),
            detail: None,
            archive_date: None,
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

    /// Matching is over: the match counts become the matcher's totals, with what earlier
    /// attempts recovered counted as what it was then rather than as matched, and every contact
    /// no conversation claimed is recorded as an extra.
    pub(crate) fn matched(&self, report: &MatchReport) {
        let (earlier, earlier_by_media) = {
            let state = self.state.lock();
            (state.recovered_earlier, state.recovered_earlier_by_media)
        };
        // Held now, but recovered by an earlier attempt: counted as what it was then.
        let as_then = |mut counts: MatchCounts, earlier: MatchCounts| {
            counts.matched = counts.matched.saturating_sub(earlier.genesys);
            counts.missing += earlier.missing;
            counts.partial += earlier.partial;
            counts
        };
        self.update(|p| {
            p.match_counts = as_then(report.totals, earlier);
            for media_type in MediaType::ALL {
                let counts = report
                    .by_media_type
                    .get(&media_type)
                    .copied()
                    .unwrap_or_default();
                *p.match_by_media.get_mut(media_type) =
                    as_then(counts, earlier_by_media.get(media_type));
            }
        });
        for extra in &report.extras {
            self.record(OutcomeRecord {
                conversation_id: Some(*extra),
                media_type: None,
                conversation_start: None,
                outcome: Outcome::Extra,
                reason: Some("noGenesysConversation".into()),
                detail: None,
                archive_date: None,
            });
        }
    }

    pub(crate) fn summary(&self, report: MatchReport) -> ShardSummary {
        self.update(|_| {});
        let state = self.state.lock();
        ShardSummary {
            progress: state.progress,
            outcomes: state.outcomes,
            match_report: Some(report),
        }
    }
}

//! Carrying out each conversation's decision: counted in the shard's totals, then recorded
//! (skipped, would-recover in DryRun, recovered by an earlier attempt) or queued for the
//! recovery pool.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::decide::Decision;
use super::items::Owner;
use super::matcher::Verdict;
use super::{Outcome, OutcomeRecord, RecoveryItem, Tracker};
use crate::genesys::Conversation;

/// The recovery pool stopped taking conversations (it was cancelled).
#[derive(Debug)]
pub(crate) struct PoolStopped;

/// Where decided conversations go.
pub(crate) struct Router<'a> {
    pub(crate) tracker: &'a Tracker,
    /// The shard, named on every conversation it queues.
    pub(crate) owner: Arc<Owner>,
    /// The recovery pools' queue; dropping every router that feeds it closes it.
    pub(crate) to_recover: mpsc::Sender<RecoveryItem>,
}

impl Router<'_> {
    /// Counts `decision` for the conversation of `verdict` and carries it out; `conversation`
    /// (the full analytics record) travels on only when it is queued for recovery.
    pub(crate) async fn route(
        &self,
        verdict: &Verdict,
        decision: Decision,
        conversation: Conversation,
    ) -> Result<(), PoolStopped> {
        self.tracker
            .decided(&decision, verdict.category.kind(), verdict.media_type);
        let (id, media_type) = (verdict.conversation_id, verdict.media_type);
        let start = conversation.start;
        let record = |outcome: Outcome, reason: &str| OutcomeRecord {
            conversation_id: Some(id),
            media_type,
            conversation_start: Some(start),
            outcome,
            reason: Some(reason.into()),
            detail: None,
            archive_date: None,
        };
        match decision {
            Decision::Held => {}
            Decision::RecoveredEarlier(then) => {
                self.tracker.recovered_earlier(id, media_type, start, then);
            }
            Decision::Skip(reason) => self
                .tracker
                .record(record(Outcome::Skipped, reason.as_str())),
            Decision::WouldRecover { partial } => self.tracker.record(record(
                Outcome::WouldRecover,
                if partial { "partial" } else { "missing" },
            )),
            Decision::Recover { lacking } => {
                let item = RecoveryItem {
                    id,
                    conversation,
                    lacking,
                    owner: self.owner.clone(),
                };
                self.to_recover.send(item).await.map_err(|_| PoolStopped)?;
            }
        }
        Ok(())
    }

    /// Whether the pool stopped taking conversations.
    pub(crate) fn is_closed(&self) -> bool {
        self.to_recover.is_closed()
    }
}

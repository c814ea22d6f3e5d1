//! Matching the shard's chunks one after the other. For each chunk: inventory (DAS, into a
//! fresh contact index) -> collect (Genesys, streamed) -> match -> decide (with the journal) ->
//! route; the matcher carries the contacts near a chunk's edge over to the next chunk.

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

use super::decide::decide;
use super::matcher::{
    ChunkCarry, ChunkPosition, Classified, ContactIndex, ConversationSummary, MatchConfig,
    MatchReport, Matcher,
};
use super::route::Router;
use super::{
    Clients, Outcome, OutcomeRecord, PipelineError, PipelineOptions, Stage, Tracker, check_cancel,
    collect, inventory,
};
use crate::api::Window;
use crate::genesys::{Conversation, GenesysError};

/// The reason of a conversation Genesys sent that cannot be parsed or has an invalid id.
pub(super) const MALFORMED: &str = "malformedConversation";

/// What matching a shard shares, by time chunks (here) or by named conversations (a re-drive,
/// `targeted.rs`).
pub(crate) struct Matching<'a> {
    pub(crate) clients: &'a Clients,
    pub(crate) options: &'a PipelineOptions,
    pub(crate) tracker: &'a Tracker,
    /// The shard's match configuration; each chunk narrows its slice (a re-drive keeps the
    /// whole window).
    pub(crate) config: MatchConfig,
    /// False in DryRun: nothing is queued.
    pub(crate) recover: bool,
    pub(crate) router: Router<'a>,
    pub(crate) cancel: &'a CancellationToken,
}

impl Matching<'_> {
    /// Matches `chunks` in order and returns the slice's match report. Consumes the runner, so
    /// the recovery queue closes once matching ends, whether it succeeded or not.
    pub(crate) async fn over_chunks(self, chunks: &[Window]) -> Result<MatchReport, PipelineError> {
        let mut report = MatchReport::default();
        let mut carry = ChunkCarry::default();
        for (i, chunk) in chunks.iter().enumerate() {
            let position = ChunkPosition::of(i, chunks.len());
            let index = self
                .inventory(*chunk, position, report.totals.recording_side)
                .await?;
            check_cancel(self.cancel)?;
            let (chunk_report, next) = self
                .collect_and_match(*chunk, position, index, carry)
                .await?;
            report.merge(chunk_report);
            carry = next;
            if self.cancel.is_cancelled() || self.router.is_closed() {
                break;
            }
        }
        Ok(report)
    }

    /// Inventory: what the recording side holds for the (widened) chunk. `held_before` are the
    /// contacts earlier chunks counted, so the live count keeps growing.
    async fn inventory(
        &self,
        chunk: Window,
        position: ChunkPosition,
        held_before: u64,
    ) -> Result<ContactIndex, PipelineError> {
        let tracker = self.tracker;
        tracker.stage(Stage::Inventory);
        let mut index = ContactIndex::for_chunk(chunk, self.options.tolerance, position, 0);
        let stats = inventory::load_contacts(
            &self.clients.recording_side.das,
            &mut index,
            &self.config.media_types,
            &self.config.message_types,
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
        Ok(index)
    }

    /// Collect and match: the chunk's conversations, each classified as it streams in, decided
    /// and routed (the missing ones reach the recovery pool while collection goes on). Returns
    /// the chunk's match report and what the next chunk takes over.
    async fn collect_and_match(
        &self,
        chunk: Window,
        position: ChunkPosition,
        index: ContactIndex,
        carry: ChunkCarry,
    ) -> Result<(MatchReport, ChunkCarry), PipelineError> {
        self.tracker.stage(Stage::Collect);
        let config = MatchConfig {
            slice: chunk,
            ..self.config.clone()
        };
        let mut matcher = Matcher::for_chunk(config, index, carry);
        let mut conversations = Box::pin(collect::conversations(
            &self.clients.genesys,
            chunk,
            &self.config.media_types,
            &self.config.message_types,
        ));
        while let Some(item) = conversations.next().await {
            if self.cancel.is_cancelled() {
                break;
            }
            let conversation = match item {
                Ok(conversation) => conversation,
                // One bad conversation fails one item; the chunk goes on.
                Err(GenesysError::MalformedConversation {
                    conversation_id,
                    conversation_start,
                    reason,
                    ..
                }) => {
                    warn!(conversation = ?conversation_id, %reason, "a malformed conversation fails alone");
                    self.tracker.malformed(OutcomeRecord {
                        conversation_id: conversation_id.and_then(|id| Uuid::parse_str(&id).ok()),
                        media_type: None,
                        conversation_start,
                        outcome: Outcome::Failed,
                        reason: Some(MALFORMED.into()),
                        detail: Some(reason),
                        archive_date: None,
                    });
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            let Some(summary) = self.summarize(&conversation) else {
                continue;
            };
            let Classified::Owned(verdict) = matcher.classify(&summary) else {
                continue;
            };
            // Held now because an earlier attempt of this shard recovered it?
            let earlier = self
                .options
                .journal
                .earlier()
                .get(&verdict.conversation_id)
                .copied();
            let decision = decide(&verdict.category, earlier, self.recover);
            if self
                .router
                .route(&verdict, decision, conversation)
                .await
                .is_err()
            {
                break; // the pool stopped (cancelled)
            }
        }
        Ok(matcher.finish_chunk(position.last))
    }

    /// The matcher's view of `conversation`, or `None` (recorded as a failed item,
    /// `malformedConversation`) when it has none.
    fn summarize(&self, conversation: &Conversation) -> Option<ConversationSummary> {
        collect::summarize(conversation)
            .map_err(|err| {
                self.tracker.malformed(OutcomeRecord {
                    conversation_id: None,
                    media_type: conversation.media_type(),
                    conversation_start: Some(conversation.start),
                    outcome: Outcome::Failed,
                    reason: Some(MALFORMED.into()),
                    detail: Some(err.to_string()),
                    archive_date: None,
                });
            })
            .ok()
    }
}

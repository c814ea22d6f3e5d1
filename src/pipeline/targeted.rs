//! A re-drive's matching: instead of the time chunks of a slice, the conversations the recovery
//! names. Inventory reads DAS over the window (widened by the tolerance) but indexes only the
//! named conversations' contacts; collect reads only the named conversations, by id, in batches
//! ([`crate::genesys::lookup`]); each is matched, decided and routed as in a whole-window run.
//! Nothing else is reported: no extras, no other conversations. A named id Genesys does not know
//! ends `failed` with reason [`NOT_FOUND`]; one that started outside the window ends `skipped`
//! with reason [`OUTSIDE_WINDOW`].

use std::collections::HashSet;

use tracing::{info, warn};
use uuid::Uuid;

use super::chunks::{MALFORMED, Matching};
use super::decide::decide;
use super::matcher::{ChunkPosition, Classified, ContactIndex, MatchReport, Matcher};
use super::{Outcome, OutcomeRecord, PipelineError, Stage, check_cancel, collect, inventory};
use crate::genesys::lookup::IDS_PER_LOOKUP;
use crate::genesys::{Conversation, GenesysError};

/// The reason of a named conversation Genesys does not know.
pub const NOT_FOUND: &str = "conversationNotFound";
/// The reason of a named conversation that started outside the recovery's window.
pub const OUTSIDE_WINDOW: &str = "outsideWindow";

impl Matching<'_> {
    /// Matches the conversations `ids` (this shard's share, sorted, without duplicates) and
    /// returns the match report. Consumes the runner, so the recovery queue closes once
    /// matching ends.
    pub(crate) async fn over_targets(self, ids: &[Uuid]) -> Result<MatchReport, PipelineError> {
        let index = self.named_inventory(ids).await?;
        check_cancel(self.cancel)?;
        self.tracker.stage(Stage::Collect);
        let mut matcher = Matcher::new(self.config.clone(), index);
        for batch in ids.chunks(IDS_PER_LOOKUP) {
            if self.cancel.is_cancelled() || self.router.is_closed() {
                break;
            }
            let asked: Vec<String> = batch.iter().map(Uuid::to_string).collect();
            let answer = self.clients.genesys.conversations_by_id(&asked).await?;
            let mut found = HashSet::new();
            for item in answer {
                match item {
                    Ok(conversation) => {
                        let Ok(id) = Uuid::parse_str(&conversation.id) else {
                            continue;
                        };
                        // Only what was asked, once.
                        if batch.binary_search(&id).is_err() || !found.insert(id) {
                            continue;
                        }
                        if self.classify(&mut matcher, conversation).await.is_err() {
                            return Ok(matcher.finish());
                        }
                    }
                    Err(GenesysError::MalformedConversation {
                        conversation_id,
                        conversation_start,
                        reason,
                        ..
                    }) => {
                        let id = conversation_id.and_then(|id| Uuid::parse_str(&id).ok());
                        if let Some(id) = id {
                            found.insert(id);
                        }
                        warn!(conversation = ?id, %reason, "a malformed conversation fails alone");
                        self.tracker.malformed(OutcomeRecord {
                            conversation_id: id,
                            media_type: None,
                            conversation_start,
                            outcome: Outcome::Failed,
                            reason: Some(MALFORMED.into()),
                            archive_date: None,
                            detail: Some(reason),
                        });
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            for id in batch.iter().filter(|id| !found.contains(id)) {
                self.tracker.malformed(OutcomeRecord {
                    conversation_id: Some(*id),
                    media_type: None,
                    conversation_start: None,
                    outcome: Outcome::Failed,
                    reason: Some(NOT_FOUND.into()),
                    archive_date: None,
                    detail: Some("Genesys Cloud does not know this conversation id".into()),
                });
            }
        }
        let mut report = matcher.finish();
        // Contacts of named conversations that did not claim them are no extras: only the
        // named conversations are reported on.
        report.totals.extra = 0;
        report.extras.clear();
        Ok(report)
    }

    /// The contacts of the named conversations among those DAS holds for the window.
    async fn named_inventory(&self, ids: &[Uuid]) -> Result<ContactIndex, PipelineError> {
        let tracker = self.tracker;
        tracker.stage(Stage::Inventory);
        let wanted: HashSet<Uuid> = ids.iter().copied().collect();
        let mut index = ContactIndex::for_chunk(
            self.config.slice,
            self.options.tolerance,
            ChunkPosition::WHOLE,
            0,
        );
        let stats = inventory::load_contacts_where(
            &self.clients.recording_side.das,
            &mut index,
            &self.config.media_types,
            &self.config.message_types,
            |contact| {
                contact
                    .external_id
                    .and_then(|id| Uuid::parse_str(id).ok())
                    .is_some_and(|id| wanted.contains(&id))
            },
            |held| tracker.update(|p| p.match_counts.recording_side = held),
        )
        .await?;
        info!(
            named = ids.len(),
            contacts = index.len(),
            pages = stats.pages,
            "inventory of the named conversations read"
        );
        Ok(index)
    }

    /// Matches one named conversation and carries out the decision; `Err` when the recovery
    /// pool stopped (cancelled).
    async fn classify(&self, matcher: &mut Matcher, conversation: Conversation) -> Result<(), ()> {
        let summary = match collect::summarize(&conversation) {
            Ok(summary) => summary,
            Err(err) => {
                self.tracker.malformed(OutcomeRecord {
                    conversation_id: None,
                    media_type: conversation.media_type(),
                    conversation_start: Some(conversation.start),
                    outcome: Outcome::Failed,
                    reason: Some(MALFORMED.into()),
                    archive_date: None,
                    detail: Some(err.to_string()),
                });
                return Ok(());
            }
        };
        let verdict = match matcher.classify(&summary) {
            Classified::Owned(verdict) => verdict,
            Classified::NotOwned => {
                let window = self.config.slice;
                self.tracker.record(OutcomeRecord {
                    conversation_id: Some(summary.conversation_id),
                    media_type: conversation.media_type(),
                    conversation_start: Some(conversation.start),
                    outcome: Outcome::Skipped,
                    reason: Some(OUTSIDE_WINDOW.into()),
                    archive_date: None,
                    detail: Some(format!(
                        "started {}, outside the window [{}, {}): re-drive it with a window that covers it",
                        conversation.start, window.start, window.end
                    )),
                });
                return Ok(());
            }
            Classified::Duplicate => return Ok(()),
        };
        let earlier = self
            .options
            .journal
            .earlier()
            .get(&verdict.conversation_id)
            .copied();
        let decision = decide(&verdict.category, earlier, self.recover);
        self.router
            .route(&verdict, decision, conversation)
            .await
            .map_err(|_| ())
    }
}

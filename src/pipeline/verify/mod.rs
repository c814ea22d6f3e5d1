//! Verify, the last stage: once the recovery pool is done, DAS is read again for the shard's
//! slice until every ingested conversation shows up holding every session sent, or the verify
//! deadline passes; the rest are reported `unverified` with a reason.

use std::collections::HashMap;

use futures::TryStreamExt;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::api::{MediaType, Window};
use crate::pipeline::matcher::ContactIndex;
use crate::pipeline::{Ingested, Outcome, OutcomeRecord, PipelineOptions, Tracker};
use crate::verint::RecordingSideError;
use crate::verint::das::{ContactQuery, DasClient};

/// Whether a contact holding `held` sessions shows `item` in full: every session sent is among
/// them.
pub fn arrived(item: &Ingested, held: &[String]) -> bool {
    item.sessions.iter().all(|s| held.contains(s))
}

/// Waits until DAS shows every `ingested` interaction of `slice` or the verify deadline passes;
/// records each one's final outcome.
pub(crate) async fn verify(
    das: &DasClient,
    slice: Window,
    media_types: &[MediaType],
    ingested: Vec<Ingested>,
    options: &PipelineOptions,
    tracker: &Tracker,
    cancel: &CancellationToken,
) {
    // The range the inventory read: a contact may start up to a tolerance away from its
    // conversation.
    let range = ContactIndex::new(slice, options.tolerance).query_range();
    let deadline = tokio::time::Instant::now() + options.verify_deadline;
    // Keyed by conversation, so that each DAS page is checked as it arrives, without a map of
    // everything DAS shows (which would grow with the window).
    let mut waiting: HashMap<Uuid, Ingested> = ingested.into_iter().map(|i| (i.id, i)).collect();
    let mut last_error: Option<String> = None;
    while !waiting.is_empty() && !cancel.is_cancelled() {
        match check_pages(das, range, media_types, &mut waiting, tracker).await {
            Ok(()) => last_error = None,
            Err(err) => last_error = Some(err.to_string()),
        }
        if waiting.is_empty() || tokio::time::Instant::now() + options.verify_interval > deadline {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(options.verify_interval) => {}
            _ = cancel.cancelled() => break,
        }
    }
    for item in waiting.into_values() {
        tracker.verified(OutcomeRecord {
            conversation_id: Some(item.id),
            media_type: Some(item.media_type),
            conversation_start: Some(item.start),
            outcome: Outcome::Unverified,
            reason: Some("notVisibleInDas".into()),
            detail: Some(match &last_error {
                Some(err) => format!("DAS could not be read at the verify deadline: {err}"),
                None => format!(
                    "ingested, but DAS did not show it within {} s",
                    options.verify_deadline.as_secs()
                ),
            }),
            archive_date: None,
        });
    }
}

/// One read of DAS over `range`: every waiting item a contact shows in full is verified and
/// leaves `waiting`. A read error ends the round; what was verified before it stays verified.
async fn check_pages(
    das: &DasClient,
    range: Window,
    media_types: &[MediaType],
    waiting: &mut HashMap<Uuid, Ingested>,
    tracker: &Tracker,
) -> Result<(), RecordingSideError> {
    let mut pages = das.contact_pages(ContactQuery::new(range, media_types.to_vec()));
    while let Some(page) = pages.try_next().await? {
        for contact in page.contacts {
            let Some(id) = contact
                .external_id
                .as_deref()
                .and_then(|e| Uuid::parse_str(e).ok())
            else {
                continue;
            };
            let Some(item) = waiting.get(&id) else {
                continue;
            };
            if !arrived(item, &contact.session_ids) {
                continue;
            }
            let (outcome, reason) = if item.already_present {
                (Outcome::AlreadyPresent, Some("identicalContentHeld".into()))
            } else {
                (Outcome::Verified, None)
            };
            tracker.verified(OutcomeRecord {
                conversation_id: Some(item.id),
                media_type: Some(item.media_type),
                conversation_start: Some(item.start),
                outcome,
                reason,
                detail: None,
                archive_date: None,
            });
            waiting.remove(&id);
        }
        if waiting.is_empty() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_needs_every_sent_session() {
        let id = Uuid::from_u128(7);
        let item = Ingested {
            id,
            start: jiff::Timestamp::UNIX_EPOCH,
            media_type: MediaType::Email,
            sessions: vec!["a".into(), "b".into()],
            already_present: false,
        };
        assert!(!arrived(&item, &[]));
        assert!(!arrived(&item, &["a".to_string()]));
        assert!(arrived(
            &item,
            &["b".to_string(), "a".to_string(), "c".to_string()]
        ));
    }
}

//! Verification: after ingestion, DAS is read again for the slice until every ingested
//! conversation shows up holding every session sent, or the verify deadline passes; the rest are
//! reported `unverified` with a reason.

use std::collections::{HashMap, HashSet};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::api::{MediaType, Window};
use crate::pipeline::{Ingested, Outcome, OutcomeRecord, PipelineOptions, Tracker, inventory};
use crate::verint::das::DasClient;

/// Whether DAS shows `item` in full: every session sent is among the contact's sessions.
pub fn arrived(item: &Ingested, held: &HashMap<Uuid, Vec<String>>) -> bool {
    held.get(&item.id)
        .is_some_and(|sessions| item.sessions.iter().all(|s| sessions.contains(s)))
}

pub(crate) async fn verify(
    das: &DasClient,
    range: Window,
    media_types: &[MediaType],
    ingested: Vec<Ingested>,
    options: &PipelineOptions,
    tracker: &Tracker,
    cancel: &CancellationToken,
) {
    let deadline = tokio::time::Instant::now() + options.verify_deadline;
    let mut waiting = ingested;
    let mut last_error: Option<String> = None;
    while !waiting.is_empty() && !cancel.is_cancelled() {
        let wanted: HashSet<Uuid> = waiting.iter().map(|i| i.id).collect();
        match inventory::held_sessions(das, range, media_types, &wanted).await {
            Ok(held) => {
                last_error = None;
                waiting.retain(|item| {
                    if !arrived(item, &held) {
                        return true;
                    }
                    let (outcome, reason) = if item.already_present {
                        (Outcome::AlreadyPresent, Some("identicalContentHeld".into()))
                    } else {
                        (Outcome::Verified, None)
                    };
                    tracker.verified(OutcomeRecord {
                        conversation_id: Some(item.id),
                        media_type: Some(item.media_type),
                        outcome,
                        reason,
                        detail: None,
                    });
                    false
                });
            }
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
    for item in waiting {
        tracker.verified(OutcomeRecord {
            conversation_id: Some(item.id),
            media_type: Some(item.media_type),
            outcome: Outcome::Unverified,
            reason: Some("notVisibleInDas".into()),
            detail: Some(match &last_error {
                Some(err) => format!("DAS could not be read at the verify deadline: {err}"),
                None => format!(
                    "ingested, but DAS did not show it within {} s",
                    options.verify_deadline.as_secs()
                ),
            }),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_needs_every_sent_session() {
        let id = Uuid::from_u128(7);
        let item = Ingested {
            id,
            media_type: MediaType::Email,
            sessions: vec!["a".into(), "b".into()],
            already_present: false,
        };
        let mut held = HashMap::new();
        assert!(!arrived(&item, &held));
        held.insert(id, vec!["a".to_string()]);
        assert!(!arrived(&item, &held));
        held.insert(id, vec!["b".to_string(), "a".to_string(), "c".to_string()]);
        assert!(arrived(&item, &held));
    }
}

//! Verify, the last stage: once the recovery pool is done, DAS is read again until every
//! ingested conversation shows up holding every session sent, or the verify deadline passes; the
//! rest are reported `unverified` with a reason.
//!
//! A round reads only the time ranges of the conversations still waiting ([`ranges`]), so the
//! reads shrink as conversations arrive, and rounds grow apart ([`schedule`]): this is load on
//! the tenant's own recording side, at fleet scale once per shard.

pub mod ranges;
pub mod schedule;
mod waiting;

use futures::TryStreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::api::{MediaType, Window};
use crate::pipeline::{Ingested, Outcome, OutcomeRecord, PipelineOptions, Tracker};
use crate::verint::RecordingSideError;
use crate::verint::das::{ContactQuery, DasClient};

use self::waiting::Waiting;

pub use self::ranges::{range_around, read_ranges, read_through_gap};
pub use self::schedule::verify_pause;

/// Whether a contact holding `held` sessions shows `item` in full: every session sent is among
/// them.
pub fn arrived(item: &Ingested, held: &[String]) -> bool {
    item.sessions.all_among(held)
}

/// Where verification reads.
pub(crate) struct VerifyScope<'a> {
    /// The shard's slice: the reads never leave it (widened by the tolerance).
    pub slice: Window,
    /// The media types recovered.
    pub media_types: &'a [MediaType],
    /// Contacts the inventory counted in the slice: how dense DAS is there, which decides
    /// whether a gap between two ranges is read through.
    pub contacts_in_slice: u64,
}

/// Waits until DAS shows every `ingested` interaction of the scope or the verify deadline
/// passes; records each one's final outcome.
pub(crate) async fn verify(
    das: &DasClient,
    scope: VerifyScope<'_>,
    ingested: Vec<Ingested>,
    options: &PipelineOptions,
    tracker: &Tracker,
    cancel: &CancellationToken,
) {
    let deadline = Instant::now() + options.verify_deadline;
    let gap = read_through_gap(scope.slice, scope.contacts_in_slice);
    // Looked up by conversation, so that each DAS page is checked as it arrives, without a map
    // of everything DAS shows (which would grow with the window).
    let mut waiting = Waiting::new(ingested);
    let mut last_error: Option<String> = None;
    let mut round = 0;
    while !waiting.is_empty() {
        // A pause comes first: what was sent last cannot show up before DAS's lag has passed,
        // so a read at once could only end verification for a recording side with no lag. The
        // last pause ends at the deadline, so the last read is made there.
        let pause = verify_pause(options.verify_interval, options.verify_max_interval, round)
            .min(deadline.saturating_duration_since(Instant::now()));
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
        match check_round(das, &scope, gap, options, &mut waiting, tracker).await {
            Ok(()) => last_error = None,
            Err(err) => last_error = Some(err.to_string()),
        }
        if Instant::now() >= deadline {
            break;
        }
        round = round.saturating_add(1);
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

/// One round: DAS read over the ranges of the conversations still waiting, in time order. A
/// read error ends the round; what was verified before it stays verified.
async fn check_round(
    das: &DasClient,
    scope: &VerifyScope<'_>,
    gap: jiff::SignedDuration,
    options: &PipelineOptions,
    waiting: &mut Waiting,
    tracker: &Tracker,
) -> Result<(), RecordingSideError> {
    let ranges = read_ranges(
        waiting.values().map(|item| item.start),
        options.tolerance,
        gap,
    );
    for range in ranges {
        if waiting.is_empty() {
            break;
        }
        check_pages(das, range, scope.media_types, options, waiting, tracker).await?;
    }
    Ok(())
}

/// Reads `range` page by page: every waiting item a contact shows in full is verified and
/// leaves `waiting`. Stops once no conversation the range was read for is still waiting.
async fn check_pages(
    das: &DasClient,
    range: Window,
    media_types: &[MediaType],
    options: &PipelineOptions,
    waiting: &mut Waiting,
    tracker: &Tracker,
) -> Result<(), RecordingSideError> {
    let read_for = |item: &Ingested| {
        let own = range_around(item.start, options.tolerance);
        range.start <= own.start && own.end <= range.end
    };
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
        if !waiting.values().any(read_for) {
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
            sessions: crate::pipeline::SentSessions::of(["a", "b"]),
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

//! Fetch and ingest, one attempt for one conversation (the recovery pool's unit of work): fetch
//! its text recordings, build the interaction ([`crate::pipeline::fetch`]) and hand it to
//! Interaction Capture, mapping every answer to an outcome. Capture's idempotency (the same
//! `Idempotency-Key` with the same content replays the first answer; identical content under
//! another key is a 200) makes a retry after a lost answer harmless; a 409 is reported and never
//! overwritten.

use std::time::Duration;

use tokio::sync::Semaphore;

use crate::genesys::{GenesysError, RecordingFile};
use crate::pipeline::fetch::{Fetched, build_interaction};
use crate::pipeline::restore::{RESTORE_FORBIDDEN, RESTORING, RestoreStep, Restorer};
use crate::pipeline::{
    Clients, Ingested, Outcome, OutcomeRecord, RecoveryItem, RecoveryRef, SentSessions,
};
use crate::verint::RecordingSideError;
use crate::verint::capture::CaptureOutcome;

/// What became of one conversation in one attempt.
#[derive(Debug)]
pub enum ItemResult {
    /// Capture accepted it (201); verification decides the final outcome.
    Ingested(Ingested),
    /// Final: already present, conflict, rejected, unrecoverable.
    Final(OutcomeRecord),
    /// A passing condition (transcoding, restoring, an outage); try again later in the run, not
    /// before `retry_after` when the server said so.
    RetryLater {
        reason: &'static str,
        detail: String,
        retry_after: Option<Duration>,
    },
}

/// One attempt at recovering `item`, whose recordings are downloaded from the `batch_files` a
/// batch download prepared or else fetched here (also when a batch file is not usable);
/// archived recordings are dealt with by `restorer`. The PUT to Capture
/// waits for one of `capture_writers`' permits (the per-pod cap on concurrent writers), held
/// until Capture answered, back-pressure included.
pub async fn recover_one(
    clients: &Clients,
    recovery: &RecoveryRef,
    restorer: &Restorer,
    capture_writers: &Semaphore,
    item: &RecoveryItem,
    batch_files: Option<Vec<RecordingFile>>,
) -> ItemResult {
    let media_type = item.conversation.media_type();
    let final_record = |outcome: Outcome, reason: &str, detail: Option<String>| {
        ItemResult::Final(OutcomeRecord {
            conversation_id: Some(item.id),
            media_type,
            conversation_start: Some(item.conversation.start),
            outcome,
            reason: Some(reason.to_string()),
            detail,
            archive_date: None,
        })
    };
    let genesys_failed = |err: GenesysError| match genesys_failure(&err) {
        GenesysFailure::Passing {
            reason,
            retry_after,
        } => ItemResult::RetryLater {
            reason,
            detail: err.to_string(),
            retry_after,
        },
        GenesysFailure::Final(reason) => {
            final_record(Outcome::Failed, reason, Some(err.to_string()))
        }
    };
    let batched = match batch_files {
        Some(files) => clients
            .genesys
            .download_recordings(&item.conversation.id, &files)
            .await
            .inspect_err(|reason| {
                tracing::debug!(conversation = %item.id, reason, "batch files not used; fetching the recordings");
            })
            .ok(),
        None => None,
    };
    let recordings = match batched {
        Some(recordings) => recordings,
        None => match clients
            .genesys
            .fetch_recordings(&item.conversation.id)
            .await
        {
            Ok(recordings) => recordings,
            Err(err) => return genesys_failed(err),
        },
    };
    match restorer
        .step(
            &clients.genesys,
            &item.conversation,
            &item.lacking,
            &recordings,
        )
        .await
    {
        Ok(RestoreStep::Proceed) => {}
        Ok(RestoreStep::Wait { detail }) => {
            return ItemResult::RetryLater {
                reason: RESTORING,
                detail,
                retry_after: None,
            };
        }
        Err(err) => return genesys_failed(err),
    }
    let (interaction, left_out) =
        match build_interaction(&item.conversation, &item.lacking, recordings, recovery) {
            Fetched::Ready {
                interaction,
                left_out,
            } => (interaction, left_out),
            Fetched::NotRecorded { detail } => {
                return final_record(Outcome::NotRecorded, "notRecorded", Some(detail));
            }
            Fetched::Unrecoverable {
                reason,
                detail,
                archive_date,
            } => {
                let mut result = final_record(Outcome::Failed, reason, Some(detail));
                if let ItemResult::Final(record) = &mut result {
                    record.archive_date = archive_date;
                }
                return result;
            }
        };
    let sent = |already_present: bool| {
        ItemResult::Ingested(Ingested {
            id: item.id,
            start: item.conversation.start,
            media_type: interaction.media_type,
            sessions: SentSessions::of(interaction.sessions.iter().map(|s| s.session_id.as_str())),
            already_present,
        })
    };
    let answer = {
        // A closed semaphore (never closed here) would only lift the cap.
        let _writer = capture_writers.acquire().await.ok();
        clients.recording_side.capture.put(&interaction).await
    };
    match answer {
        Ok(receipt) => match receipt.outcome {
            CaptureOutcome::Ingested => {
                if !left_out.is_empty() {
                    tracing::info!(conversation = %item.id, left_out = ?left_out, "ingested without some recordings");
                }
                sent(false)
            }
            // Identical content is held: ours from an earlier try whose answer was lost, or an
            // earlier attempt's. Either way it must show up in DAS like a fresh ingestion.
            CaptureOutcome::AlreadyPresent => sent(true),
            CaptureOutcome::Conflict { message } => {
                final_record(Outcome::Conflict, "differentContentHeld", Some(message))
            }
            CaptureOutcome::Rejected {
                status,
                code,
                message,
            } => final_record(
                Outcome::Failed,
                "rejected",
                Some(format!("Capture answered {status} ({code}): {message}")),
            ),
        },
        Err(err) if is_passing_capture(&err) => ItemResult::RetryLater {
            reason: "captureUnavailable",
            detail: err.to_string(),
            retry_after: None,
        },
        Err(err) => final_record(Outcome::Failed, "captureError", Some(err.to_string())),
    }
}

/// What a failed Genesys call means for the conversation.
enum GenesysFailure {
    /// Try again later in the run (carried at the retry deadline).
    Passing {
        reason: &'static str,
        retry_after: Option<Duration>,
    },
    /// Its outcome, with this reason.
    Final(&'static str),
}

fn genesys_failure(err: &GenesysError) -> GenesysFailure {
    match err {
        GenesysError::StillTranscoding { retry_after, .. } => GenesysFailure::Passing {
            reason: "transcoding",
            retry_after: *retry_after,
        },
        err if is_passing_genesys(err) => GenesysFailure::Passing {
            reason: "genesysUnavailable",
            retry_after: None,
        },
        GenesysError::RestoreForbidden { .. } => GenesysFailure::Final(RESTORE_FORBIDDEN),
        err if err.status() == Some(404) => GenesysFailure::Final("recordingNotFound"),
        _ => GenesysFailure::Final("genesysError"),
    }
}

/// Transport failures, timeouts, throttling and 5xx that outlived the client's own retries.
fn is_passing_genesys(err: &GenesysError) -> bool {
    match err {
        GenesysError::Transport { .. } => true,
        GenesysError::Api { status, .. } => matches!(status, 408 | 429 | 500..=599),
        // A truncated or garbled body is usually a passing network fault.
        GenesysError::InvalidResponse { .. } => true,
        _ => false,
    }
}

fn is_passing_capture(err: &RecordingSideError) -> bool {
    match err {
        RecordingSideError::Send(_) => !err.is_auth(),
        RecordingSideError::Api { status, .. } => matches!(status, 408 | 429 | 500..=599),
        RecordingSideError::BackPressureTimeout { .. } | RecordingSideError::Malformed { .. } => {
            true
        }
        _ => false,
    }
}

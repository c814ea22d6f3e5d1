//! Planning a shard: its slice cut into consecutive time chunks of about
//! `chunk_conversations` conversations each, from one Genesys estimate, so that each chunk's
//! contact index, and with it the shard's memory, stays about the same size however large the
//! window.

use jiff::SignedDuration;
use tracing::warn;

use crate::api::{MediaType, Window};
use crate::genesys::GenesysClient;

use super::{PipelineOptions, collect, shard};

/// A chunk is at least this many tolerances wide.
pub const MIN_CHUNK_TOLERANCES: i32 = 4;

/// The chunks of `slice`. Chunks are at least [`MIN_CHUNK_TOLERANCES`] tolerances wide, so what
/// a chunk carries over (contacts within a tolerance of its end) only concerns its neighbour.
/// Without an estimate the slice is matched whole.
pub(crate) async fn chunks(
    genesys: &GenesysClient,
    slice: Window,
    media_types: &[MediaType],
    message_types: &[String],
    options: &PipelineOptions,
) -> Vec<Window> {
    if options.chunk_conversations == 0 {
        return vec![slice];
    }
    let query = collect::query(slice, media_types, message_types);
    let estimate = match genesys.estimate_conversations(&query).await {
        Ok(Some(estimate)) => estimate,
        Ok(None) => return vec![slice],
        Err(err) => {
            warn!(error = %err, "no estimate of the slice's conversations; matching it whole");
            return vec![slice];
        }
    };
    cut(
        slice,
        estimate,
        options.chunk_conversations,
        options.tolerance,
    )
}

/// `slice` cut for an estimate of `estimate` conversations: as many chunks of about
/// `chunk_conversations` as needed, none narrower than [`MIN_CHUNK_TOLERANCES`] tolerances (nor a
/// minute). Pure, so the matcher bench cuts its slice the same way.
pub fn cut(
    slice: Window,
    estimate: u64,
    chunk_conversations: usize,
    tolerance: SignedDuration,
) -> Vec<Window> {
    let wanted = estimate.div_ceil(chunk_conversations.max(1) as u64).max(1);
    let min_width = tolerance
        .abs()
        .checked_mul(MIN_CHUNK_TOLERANCES)
        .unwrap_or(SignedDuration::MAX)
        .max(SignedDuration::from_secs(60));
    let span = slice.end.duration_since(slice.start);
    let widest = (span.as_secs_f64() / min_width.as_secs_f64())
        .floor()
        .max(1.0) as u64;
    let count = u32::try_from(wanted.min(widest)).unwrap_or(u32::MAX);
    shard::slices(slice, count)
}

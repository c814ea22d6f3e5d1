//! The pipeline's knobs (deadlines, concurrency, chunk size, journal, budget share) and their
//! defaults; tests
//! and the demo shorten the deadlines.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

use crate::api::GenesysBudget;

use super::journal::{Journal, NoJournal};
use super::matcher;

/// Default conversations per time chunk: a contact index of about 2 MB.
pub const DEFAULT_CHUNK_CONVERSATIONS: usize = 25_000;

/// Knobs with sensible defaults; tests and the demo shorten the deadlines.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// The current time (None = the clock). Settling is judged against it.
    pub now: Option<Timestamp>,
    /// How far the DAS query is widened around the slice.
    pub tolerance: SignedDuration,
    /// Conversations fetched and ingested at once.
    pub recovery_concurrency: usize,
    /// Of those, most sent to Capture at once (the chart's `worker.captureWriters`, per worker
    /// pod); above `recovery_concurrency` it changes nothing.
    pub capture_writers: usize,
    /// How long transcoding or passing failures are retried, from the end of the first pass.
    pub retry_deadline: Duration,
    /// Pause between retry rounds.
    pub retry_interval: Duration,
    /// How long to wait for ingested interactions to show up in DAS.
    pub verify_deadline: Duration,
    /// First pause between verification reads; each later one doubles, up to
    /// `verify_max_interval` (see `verify::verify_pause`).
    pub verify_interval: Duration,
    /// Longest pause between verification reads.
    pub verify_max_interval: Duration,
    /// Where the shard notes what it is about to ingest, and what earlier attempts did.
    pub journal: Arc<dyn Journal>,
    /// About how many conversations one time chunk of the slice holds (0 = the slice in one
    /// chunk). Each chunk has its own contact index, so this bounds the index's memory.
    pub chunk_conversations: usize,
    /// How the controller divides the shard's org Genesys request budget, as it publishes it
    /// (workers only); the Genesys client's rate and opening burst follow it.
    pub genesys_share: Option<watch::Receiver<Option<GenesysBudget>>>,
    /// `recover` cuts the window into equal lengths of time instead of balancing the shards by
    /// conversation counts (benchmarks compare the two).
    pub equal_time_slices: bool,
    /// The first pass asks for the recordings of the queued conversations in batch downloads
    /// (one submit and a few polls for up to 100) instead of one `GET .../recordings` each; the
    /// conversations a batch does not answer in full, and every retry, still get their own GET.
    pub recordings_in_batches: bool,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            now: None,
            tolerance: matcher::DEFAULT_TOLERANCE,
            recovery_concurrency: 8,
            capture_writers: crate::contract::DEFAULT_CAPTURE_WRITERS as usize,
            retry_deadline: Duration::from_secs(300),
            retry_interval: Duration::from_secs(5),
            verify_deadline: Duration::from_secs(300),
            verify_interval: Duration::from_secs(2),
            verify_max_interval: Duration::from_secs(30),
            journal: Arc::new(NoJournal::default()),
            chunk_conversations: DEFAULT_CHUNK_CONVERSATIONS,
            genesys_share: None,
            equal_time_slices: false,
            recordings_in_batches: true,
        }
    }
}

//! The pipeline's knobs (deadlines, concurrency, chunk size, journal, budget share) and their
//! defaults; tests
//! and the demo shorten the deadlines.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

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
    /// How long transcoding or passing failures are retried, from the end of the first pass.
    pub retry_deadline: Duration,
    /// Pause between retry rounds.
    pub retry_interval: Duration,
    /// How long to wait for ingested interactions to show up in DAS.
    pub verify_deadline: Duration,
    /// Pause between verification reads.
    pub verify_interval: Duration,
    /// Where the shard notes what it is about to ingest, and what earlier attempts did.
    pub journal: Arc<dyn Journal>,
    /// About how many conversations one time chunk of the slice holds (0 = the slice in one
    /// chunk). Each chunk has its own contact index, so this bounds the index's memory.
    pub chunk_conversations: usize,
    /// The shard's share of its org's Genesys request budget, requests per minute, as the
    /// controller publishes it (workers only); the Genesys client's rate follows it.
    pub genesys_share: Option<watch::Receiver<Option<u32>>>,
    /// `recover` cuts the window into equal lengths of time instead of balancing the shards by
    /// conversation counts (benchmarks compare the two).
    pub equal_time_slices: bool,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            now: None,
            tolerance: matcher::DEFAULT_TOLERANCE,
            recovery_concurrency: 8,
            retry_deadline: Duration::from_secs(300),
            retry_interval: Duration::from_secs(5),
            verify_deadline: Duration::from_secs(300),
            verify_interval: Duration::from_secs(5),
            journal: Arc::new(NoJournal::default()),
            chunk_conversations: DEFAULT_CHUNK_CONVERSATIONS,
            genesys_share: None,
            equal_time_slices: false,
        }
    }
}

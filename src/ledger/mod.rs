//! The ledger of a schedule: every conversation its runs could not recover (a final word that is
//! not "recovered": archived, deleted, a conflict, not recorded, given up, ...), one entry per
//! conversation, kept in ConfigMaps the schedule owns, so pruning old runs (and their reports)
//! leaves it. Each shard of a run merges its words in when it ends, success or not; a later
//! word replaces an earlier one and a conversation later recovered leaves. Days older than the
//! schedule's `ledgerRetention` are removed by the schedule controller.
//!
//! - [`entry`]: what an entry is, and what an outcome says to the ledger;
//! - [`day`]: one day, pure (merge, parts, retention);
//! - [`store`]: the ConfigMaps (merge with optimistic concurrency, read, prune).

pub mod day;
pub mod entry;
pub mod store;

pub use entry::{LedgerEntry, ShardWords, Word, word_of};
pub use store::{LedgerWriter, prune_ledger, read_ledger};

/// Why the ledger could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("Kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot encode or decode a ledger entry: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot compress or decompress the ledger: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "ledger day {day} kept changing: {attempts} attempts to merge into it lost to other writers"
    )]
    Contended { day: String, attempts: u32 },
}

impl LedgerError {
    /// Whether trying again later may succeed (the apiserver away, or busy writers).
    pub fn is_transient(&self) -> bool {
        match self {
            LedgerError::Kube(e) => crate::kubeapi::is_transient(e),
            LedgerError::Contended { .. } => true,
            _ => false,
        }
    }
}

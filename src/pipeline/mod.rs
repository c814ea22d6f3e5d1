//! The recovery pipeline: collect (Genesys) -> inventory (DAS) -> match -> fetch -> ingest
//! (Capture) -> verify (DAS).

pub mod matcher;
pub mod progress;
pub mod shard;

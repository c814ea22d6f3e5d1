//! The recovery pipeline: collect -> inventory -> match -> fetch -> ingest -> verify.

pub mod progress;
pub mod shard;

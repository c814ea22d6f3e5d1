//! digital-recovery: finds the text interactions (chat, email, social messaging) that a recording
//! platform failed to capture from Genesys Cloud CX, and recovers them.
//!
//! The crate is organised by concern: `api` (the custom resources), `controller` (the operator),
//! `worker` (one shard of one recovery inside a Job), `pipeline` (query -> match -> fetch -> ingest ->
//! verify), `genesys` and `verint` (clients of the outside services) and `sim` (faithful simulators of
//! those services, for tests and the demo).

pub mod api;
pub mod cli;
pub mod contract;
pub mod controller;
pub mod crd;
pub mod genesys;
pub mod http;
pub mod kubeapi;
pub mod ledger;
pub mod manifest;
pub mod pipeline;
pub mod signals;
pub mod sim;
pub mod telemetry;
pub mod verint;
pub mod worker;

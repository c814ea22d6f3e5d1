//! Faithful local simulators of the services digital-recovery talks to: Genesys Cloud (this
//! module's `genesys`), and the recording side (DAS, Interaction Capture). They share one seeded
//! [`dataset::Dataset`] and one fault-injection model ([`faults`]).

pub mod dataset;
pub mod faults;
pub mod recording;

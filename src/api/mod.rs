//! The custom resources of API group `recovery.cxops.io`, version `v1alpha1`.

pub mod recovery;
pub mod regions;
pub mod schedule;
pub mod validate;
pub mod validate_schedule;
pub mod validate_targets;

pub use recovery::*;
pub use schedule::*;
pub use validate::{GenesysEndpoint, InvalidSpec, MAX_WINDOW, ValidSpec};
pub use validate_schedule::{InvalidSchedule, Trigger, ValidSchedule};
pub use validate_targets::Targets;

/// API group of every kind this operator serves.
pub const GROUP: &str = "recovery.cxops.io";
/// API version of every kind this operator serves.
pub const VERSION: &str = "v1alpha1";

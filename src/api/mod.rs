//! The custom resources of API group `recovery.cxops.io`, version `v1alpha1`.

pub mod recovery;
pub mod schedule;

pub use recovery::*;
pub use schedule::*;

/// API group of every kind this operator serves.
pub const GROUP: &str = "recovery.cxops.io";
/// API version of every kind this operator serves.
pub const VERSION: &str = "v1alpha1";

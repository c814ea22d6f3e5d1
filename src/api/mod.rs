//! The custom resources of API group `recovery.cxops.io`, version `v1alpha1`.

pub mod recovery;

pub use recovery::*;

/// API group of every kind this operator serves.
pub const GROUP: &str = "recovery.cxops.io";
/// API version of every kind this operator serves.
pub const VERSION: &str = "v1alpha1";

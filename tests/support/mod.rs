//! Shared support for the integration tests: a real control plane, and (later) the stand-ins for
//! kubelet and the job controller.
#![allow(dead_code)]

pub mod control_plane;

pub use control_plane::ControlPlane;

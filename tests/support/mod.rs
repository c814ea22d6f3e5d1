//! Shared support for the integration tests: a real control plane, the operator's CRDs, and the
//! stand-in for kubelet and the job controller.
#![allow(dead_code)]

pub mod cargo_env;
pub mod control_plane;
pub mod crds;
pub mod health;
pub mod helm;
pub mod jobs;
pub mod operator;
pub mod orgs;
pub mod pod_security;
pub mod recovery;

pub use control_plane::ControlPlane;

//! The real-node tier (docs/testing.md, "Real node"): a single-node cluster with a real kubelet,
//! job controller, scheduler, kube-proxy and containerd running the image built from the
//! Dockerfile's `local` target. It needs root, takes minutes on a cold machine and changes the host
//! (a bridge, an address on `lo`, iptables rules; all removed at the end), so it runs only with
//! `DR_CLUSTER_TESTS=1` and `--ignored` (so `make test` lists it as ignored, not as passed):
//!
//! ```sh
//! DR_CLUSTER_TESTS=1 cargo test --test real_cluster -- --ignored --nocapture
//! ```

#[path = "support/cargo_env.rs"]
mod cargo_env_support;

use std::{path::Path, process::Command};

fn enabled() -> bool {
    if std::env::var("DR_CLUSTER_TESTS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("skipped: set DR_CLUSTER_TESTS=1 to run the real-node tier (root, minutes)");
    false
}

/// scripts/cluster-smoke.sh: cluster up, image, restricted Pods, an Indexed Job, the `kubernetes`
/// Service from a pod, teardown leaving nothing behind.
#[test]
#[ignore = "real-node tier: needs root and minutes; DR_CLUSTER_TESTS=1 cargo test --test real_cluster -- --ignored"]
fn smoke() {
    if !enabled() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster-smoke.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script);
    // The script runs `cargo build --release`: without cargo's per-test variables it reuses
    // what `make image` built.
    cargo_env_support::clean_env(&mut cmd);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        status.success(),
        "{} failed (its output is above)",
        script.display()
    );
}

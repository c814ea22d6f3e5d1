//! `crds/` holds the generated CRDs; this fails when they no longer match the Rust types.

use std::path::Path;

#[test]
fn crds_directory_matches_the_generated_crds() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/digital-recovery.yaml");
    let generated = digital_recovery::crd::all_crds_yaml().expect("render CRDs");
    let on_disk = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        on_disk == generated,
        "{} is stale: regenerate it with `cargo run -- crd > crds/digital-recovery.yaml`",
        path.display()
    );
}

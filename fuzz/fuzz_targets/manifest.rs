//! DigitalRecovery manifests (YAML) for `digital-recovery recover`.
#![no_main]

use std::path::Path;

use digital_recovery::manifest::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(recovery) = parse(Path::new("fuzz.yaml"), text) {
        assert!(
            recovery.spec.validate().is_ok(),
            "parse accepted an invalid spec"
        );
    }
});

//! Running scripts from a test without the variables cargo gives the test.

use std::process::Command;

/// `cmd` without the variables cargo sets for a test (CARGO_PKG_*, CARGO_MANIFEST_DIR, ...).
/// Some build scripts (ring's) track them, so a nested `cargo build --release` with them would
/// rebuild ring, rustls, kube and the binary, and `make image` would rebuild them back; and the
/// scripts' `go build` and buildah should not look like a cargo build step either.
pub fn clean_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_BIN_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
            ]
            .contains(&key.as_str())
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

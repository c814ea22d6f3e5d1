//! The Python venv with the official Genesys SDK (tests/python/requirements.txt), shared by
//! tests/python_sdk.rs and benches/fleet_naive.rs (both include this file by path). It lives in
//! `target/pyvenv` of the source tree and is rebuilt only when requirements.txt changes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The venv's python under `root` (the crate's directory), created or refreshed if needed.
pub fn ensure_venv(root: &Path) -> PathBuf {
    let venv = root.join("target/pyvenv");
    let python = venv.join("bin/python");
    let requirements = root.join("tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("tests/python/requirements.txt");
    let stamp = venv.join("requirements.stamp");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 -m venv");
    assert!(status.success(), "python3 -m venv failed");
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements)
        .status()
        .expect("pip install");
    assert!(
        status.success(),
        "pip install -r tests/python/requirements.txt failed"
    );
    std::fs::write(&stamp, wanted).expect("write the venv stamp");
    python
}

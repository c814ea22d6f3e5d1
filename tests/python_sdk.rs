//! Runs the official Genesys Cloud Python SDK (tests/python) against the in-process simulator.
//! The venv lives in `target/pyvenv` and is rebuilt only when requirements.txt changes.

use std::path::{Path, PathBuf};
use std::process::Command;

use digital_recovery::sim::dataset::{FileState, SimMedia};
use digital_recovery::sim::{self, SimConfig};

fn ensure_venv(root: &Path) -> PathBuf {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_works_against_the_simulator() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = tokio::task::spawn_blocking({
        let root = root.clone();
        move || ensure_venv(&root)
    })
    .await
    .unwrap();
    let mut config = SimConfig::new(800);
    config.rate_limit = Some(3000);
    let handles = sim::start(config, None).await.unwrap();
    let ds = &handles.dataset;
    let window = handles.config.window;
    let completed_text: Vec<String> = ds
        .conversations
        .iter()
        .filter(|c| c.is_text() && c.end.is_some())
        .map(|c| c.id.to_string())
        .collect();
    let recorded = |media: SimMedia| {
        ds.conversations
            .iter()
            .find(|c| {
                c.media_type == media
                    && c.recordings.len() == 1
                    && c.recordings[0].file_state == FileState::Available
            })
            .map(|c| c.id.to_string())
            .expect("a recorded conversation of each media")
    };
    let archived = ds
        .conversations
        .iter()
        .find(|c| {
            c.is_text()
                && c.recordings
                    .first()
                    .is_some_and(|r| r.file_state == FileState::Archived)
        })
        .map(|c| c.id.to_string())
        .unwrap_or_default();
    let expected = serde_json::json!({
        "completedText": completed_text,
        "recordedByMedia": {"chat": recorded(SimMedia::Chat), "email": recorded(SimMedia::Email), "message": recorded(SimMedia::Message)},
        "archived": archived,
    });
    let dir = tempfile::tempdir().unwrap();
    let expected_path = dir.path().join("expected.json");
    std::fs::write(&expected_path, expected.to_string()).unwrap();
    let interval = format!(
        "{}/{}",
        digital_recovery::sim::genesys::iso_ms(window.start),
        digital_recovery::sim::genesys::iso_ms(window.end)
    );
    let url = handles.genesys_url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args([
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/python/test_genesys_sdk.py",
            ])
            .current_dir(&root)
            .env("GENESYS_SIM_URL", url)
            .env("GENESYS_SIM_WINDOW", interval)
            .env("GENESYS_SIM_EXPECTED", &expected_path)
            // Keep the SDK away from any user config file.
            .env("HOME", dir.path())
            .output()
            .expect("run pytest")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "pytest failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("4 passed"),
        "pytest did not run the four SDK tests:\n{stdout}"
    );
}

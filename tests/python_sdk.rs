//! Runs the official Genesys Cloud Python SDK (tests/python) against the in-process simulator,
//! once for the documented contract and once for every single Genesys variant.
//! The venv lives in `target/pyvenv` and is rebuilt only when requirements.txt changes
//! (tests/support/pyvenv.rs).

use std::path::{Path, PathBuf};
use std::process::Command;

use futures::StreamExt;

use digital_recovery::sim::dataset::{Direction, FileState, SimConversation, SimMedia};
use digital_recovery::sim::genesys::{GenesysVariant, iso_ms};
use digital_recovery::sim::{self, SimConfig};

#[path = "support/pyvenv.rs"]
mod pyvenv;

use pyvenv::ensure_venv;

/// The ground truth one pytest run checks against (the dataset is the same for every variant).
fn expected(handles: &sim::SimHandles) -> serde_json::Value {
    let ds = &handles.dataset;
    let completed_text: Vec<String> = ds
        .conversations
        .iter()
        .filter(|c| c.is_text() && c.end.is_some())
        .map(|c| c.id.to_string())
        .collect();
    let single_available = |c: &&SimConversation| {
        c.recordings.len() == 1 && c.recordings[0].file_state == FileState::Available
    };
    let recorded = |media: SimMedia| {
        ds.conversations
            .iter()
            .filter(single_available)
            .find(|c| c.media_type == media && c.direction == Direction::Inbound)
            .map(|c| c.id.to_string())
            .expect("a recorded conversation of each media")
    };
    let mut archived = ds
        .conversations
        .iter()
        .filter(|c| {
            c.is_text()
                && c.recordings
                    .first()
                    .is_some_and(|r| r.file_state == FileState::Archived)
        })
        .map(|c| c.id.to_string());
    // One archived conversation stays archived; the SDK restores another.
    let (archived, restore_target) = (
        archived.next().expect("an archived conversation"),
        archived.next().expect("a second archived conversation"),
    );
    let unrecorded = ds
        .conversations
        .iter()
        .find(|c| c.is_expected_not_recorded())
        .map(|c| c.id.to_string())
        .expect("an unrecorded conversation");
    let outbound = ds
        .conversations
        .iter()
        .find(|c| c.is_text() && c.direction == Direction::Outbound)
        .map(|c| c.id.to_string())
        .expect("an outbound conversation");
    // Recorded, but no other test fetches its recordings: its first fetch can be made to transcode.
    let transcode_target = ds
        .conversations
        .iter()
        .filter(single_available)
        .filter(|c| c.is_text() && c.direction == Direction::Outbound)
        .map(|c| c.id.to_string())
        .next()
        .expect("a second recorded conversation");
    // A completed text conversation starting on a whole minute, well inside the window.
    let boundary = ds
        .conversations
        .iter()
        .filter(|c| c.is_text() && c.end.is_some())
        .filter(|c| c.start > handles.config.window.start + jiff::SignedDuration::from_hours(1))
        .find(|c| c.start.as_millisecond() % 60_000 == 0)
        .expect("a conversation starting on a whole minute");
    serde_json::json!({
        "completedText": completed_text,
        "recordedByMedia": {"chat": recorded(SimMedia::Chat), "email": recorded(SimMedia::Email), "message": recorded(SimMedia::Message)},
        "archived": archived,
        "restoreTarget": restore_target,
        "unrecorded": unrecorded,
        "outbound": outbound,
        "transcodeTarget": transcode_target,
        "boundary": {"id": boundary.id.to_string(), "start": iso_ms(boundary.start)},
    })
}

/// Starts a simulator serving `variant` and runs the SDK tests against it; Err holds the output.
async fn run_variant(python: &Path, root: &Path, variant: GenesysVariant) -> Result<(), String> {
    let mut config = SimConfig::new(800);
    config.rate_limit = Some(3000);
    config.genesys_variant = variant;
    config.archived_rate = 0.03;
    config.restore_delay = std::time::Duration::from_millis(300);
    let handles = sim::start(config, None).await.unwrap();
    let expected = expected(&handles);
    let dir = tempfile::tempdir().unwrap();
    let expected_path = dir.path().join("expected.json");
    std::fs::write(&expected_path, expected.to_string()).unwrap();
    let window = handles.config.window;
    let interval = format!("{}/{}", iso_ms(window.start), iso_ms(window.end));
    let url = handles.genesys_url.clone();
    let (python, root) = (python.to_path_buf(), root.to_path_buf());
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
            .env("GENESYS_SIM_VARIANT", variant.to_string())
            // Keep the SDK away from any user config file.
            .env("HOME", dir.path())
            .output()
            .expect("run pytest")
    })
    .await
    .unwrap();
    handles.shutdown().await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("pytest failed:\n{stdout}\n{stderr}"));
    }
    if !stdout.contains(&format!("{SDK_TESTS} passed")) {
        return Err(format!(
            "pytest did not run the {SDK_TESTS} SDK tests:\n{stdout}"
        ));
    }
    Ok(())
}

/// Tests in tests/python/test_genesys_sdk.py.
const SDK_TESTS: usize = 11;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_works_against_every_variant_of_the_simulator() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = tokio::task::spawn_blocking({
        let root = root.clone();
        move || ensure_venv(&root)
    })
    .await
    .unwrap();
    let mut variants = vec![("default".to_string(), GenesysVariant::default())];
    variants.extend(GenesysVariant::all_single());
    // A few at a time: each run is mostly the SDK's import and deliberate sleeps (Retry-After).
    let failures: Vec<String> = futures::stream::iter(variants)
        .map(|(name, variant)| {
            let (python, root) = (python.clone(), root.clone());
            async move {
                run_variant(&python, &root, variant)
                    .await
                    .err()
                    .map(|output| format!("=== variant `{name}` ===\n{output}"))
            }
        })
        .buffered(2)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

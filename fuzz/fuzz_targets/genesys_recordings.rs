//! Recording lists and single recordings, then their classification.
#![no_main]

use digital_recovery::genesys::RecordingOutcome;
use digital_recovery::genesys::decode;
use digital_recovery::genesys::models::{FileState, Recording};
use libfuzzer_sys::fuzz_target;

fn check(recording: Recording) {
    let had_id = recording.id.as_deref().is_some_and(|id| !id.is_empty());
    let _ = recording.file_state();
    let outcome = RecordingOutcome::classify(recording);
    assert_eq!(
        had_id,
        !matches!(outcome, RecordingOutcome::Invalid { .. }),
        "a recording is Invalid exactly when it has no id"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = decode::<Vec<Recording>>("GET fuzz", data) {
        list.into_iter().for_each(check);
    }
    if let Ok(one) = decode::<Recording>("GET fuzz", data) {
        check(one);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = FileState::parse(text);
    }
});

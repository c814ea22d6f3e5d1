//! Async job status and job results pages (each conversation parsed as the client does).
#![no_main]

use digital_recovery::genesys::analytics::parse_conversation;
use digital_recovery::genesys::decode;
use digital_recovery::genesys::jobs::JobPage;
use digital_recovery::genesys::models::AsyncQueryStatus;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode::<AsyncQueryStatus>("GET fuzz", data);
    if let Ok(page) = decode::<JobPage>("GET fuzz", data) {
        for value in page.conversations.into_iter().take(2000) {
            let _ = parse_conversation("fuzz", value).map(|c| c.text_sessions());
        }
    }
});

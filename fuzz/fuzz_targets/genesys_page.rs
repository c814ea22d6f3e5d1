//! Detail query pages: the page envelope, then every conversation as the client checks it.
#![no_main]

use digital_recovery::genesys::analytics::{PAGE_SIZE, parse_conversation, parse_query_page};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((conversations, hits)) = parse_query_page(data) else {
        return;
    };
    if let Some(hits) = hits {
        assert!(hits <= 50_000_000, "an absurd totalHits was believed");
    }
    for value in conversations.into_iter().take(4 * PAGE_SIZE as usize) {
        if let Ok(conversation) = parse_conversation("fuzz", value) {
            assert!(!conversation.id.trim().is_empty());
            let sessions = conversation.text_sessions();
            let _ = conversation.media_type();
            let _ = conversation.message_type();
            for (i, session) in sessions.iter().enumerate() {
                assert!(
                    sessions[..i]
                        .iter()
                        .all(|s| s.session_id != session.session_id),
                    "text_sessions repeats a session"
                );
            }
        }
    }
});

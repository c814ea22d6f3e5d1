//! DAS contacts pages.
#![no_main]

use digital_recovery::verint::das::parse_page;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((page, next)) = parse_page("fuzz", data) else {
        return;
    };
    // Only where the body is also a valid JSON value: serde_json skips unknown fields without
    // checking their strings are UTF-8, so a page can parse while a Value of it does not.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    // And only for an object: serde's derived Deserialize also takes the array form
    // `[contacts, nextCursor]` of the page (same fields by position).
    if !value.is_object() {
        return;
    }
    let entries = value
        .get("contacts")
        .and_then(|c| c.as_array())
        .map_or(0, Vec::len);
    assert_eq!(
        page.contacts.len() + page.invalid.len(),
        entries,
        "every entry is a contact or an invalid entry"
    );
    assert!(next.as_deref() != Some(""), "an empty cursor is no cursor");
    for contact in &page.contacts {
        let _ = contact.record();
    }
});

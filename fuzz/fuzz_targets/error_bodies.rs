//! Recording-side error bodies, Retry-After headers and the simulators' fault spec.
#![no_main]

use digital_recovery::http::{RetryPolicy, parse_retry_after};
use digital_recovery::sim::faults::{FaultSpec, parse_duration};
use digital_recovery::verint::parse_error_body;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (code, message) = parse_error_body(data);
    assert!(
        !code.is_empty() || !message.is_empty(),
        "an error body gives a code or a message"
    );

    if let Ok(value) = http::HeaderValue::from_bytes(data) {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, value);
        // The parsed wait must be usable as the clients use it.
        let _ = RetryPolicy::default().delay(1, parse_retry_after(&headers));
    }

    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_duration(text);
        if let Ok(spec) = text.parse::<FaultSpec>() {
            let total: f64 = spec.rates.iter().map(|(_, r)| r).sum();
            assert!(total <= 1.0 + 1e-9);
            assert!((0.0..=1.0).contains(&spec.transcode_rate));
        }
    }
});

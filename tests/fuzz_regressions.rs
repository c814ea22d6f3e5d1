//! Inputs that crashed a parser of outside data under `fuzz/run.sh` (docs/testing.md, "Fuzzing"),
//! kept as ordinary tests; and every committed seed of `fuzz/corpus/` run through its parser, so
//! that the seeds stay a regression suite without a nightly toolchain.

use std::path::Path;
use std::time::Duration;

use digital_recovery::genesys::RecordingOutcome;
use digital_recovery::genesys::analytics::{parse_conversation, parse_query_page};
use digital_recovery::genesys::decode;
use digital_recovery::genesys::jobs::JobPage;
use digital_recovery::genesys::models::{AsyncQueryStatus, Recording};
use digital_recovery::http::{RetryPolicy, parse_retry_after};
use digital_recovery::sim::faults::{FaultSpec, parse_duration};
use digital_recovery::verint::das::parse_page;
use digital_recovery::verint::parse_error_body;

fn retry_after(value: &str) -> Option<Duration> {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_str(value).unwrap(),
    );
    parse_retry_after(&headers)
}

/// The same calls as the fuzz targets, minus their libFuzzer harness.
fn run_target(target: &str, data: &[u8]) {
    let text = std::str::from_utf8(data).ok();
    match target {
        "genesys_page" => {
            if let Ok((conversations, _)) = parse_query_page(data) {
                for value in conversations {
                    let _ = parse_conversation("test", value).map(|c| c.text_sessions());
                }
            }
        }
        "genesys_recordings" => {
            for recording in decode::<Vec<Recording>>("test", data).unwrap_or_default() {
                let _ = RecordingOutcome::classify(recording);
            }
            if let Ok(recording) = decode::<Recording>("test", data) {
                let _ = RecordingOutcome::classify(recording);
            }
        }
        "genesys_job" => {
            let _ = decode::<AsyncQueryStatus>("test", data);
            if let Ok(page) = decode::<JobPage>("test", data) {
                for value in page.conversations {
                    let _ = parse_conversation("test", value);
                }
            }
        }
        "das_page" => {
            let _ = parse_page("test", data);
        }
        "manifest" => {
            if let Some(text) = text {
                let _ = digital_recovery::manifest::parse(Path::new("seed.yaml"), text);
            }
        }
        "error_bodies" => {
            let _ = parse_error_body(data);
            if let Some(text) = text {
                if http::HeaderValue::from_str(text).is_ok() {
                    let _ = RetryPolicy::default().delay(1, retry_after(text));
                }
                let _ = parse_duration(text);
                let _ = text.parse::<FaultSpec>();
            }
        }
        other => panic!("fuzz/corpus/{other}: no such fuzz target"),
    }
}

#[test]
fn every_committed_seed_parses_without_panicking() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut seeds = 0;
    for target in std::fs::read_dir(&corpus).unwrap() {
        let target = target.unwrap().path();
        let name = target.file_name().unwrap().to_str().unwrap().to_string();
        for seed in std::fs::read_dir(&target).unwrap() {
            let seed = seed.unwrap().path();
            run_target(&name, &std::fs::read(&seed).unwrap());
            seeds += 1;
        }
    }
    assert!(seeds >= 12, "only {seeds} seeds under {}", corpus.display());
}

/// fuzz/run.sh error_bodies, crash-f51e2b28: a 22-digit duration in a fault spec made
/// `Duration::from_secs_f64` panic (value beyond `Duration::MAX`).
#[test]
fn an_enormous_fault_spec_duration_is_refused_not_a_panic() {
    assert_eq!(parse_duration("0111111111111111111111"), None);
    assert_eq!(parse_duration("99999999999999999999999h"), None);
    assert!("hang=0111111111111111111111".parse::<FaultSpec>().is_err());
    assert_eq!(parse_duration("60s"), Some(Duration::from_secs(60)));
}

/// Suspected while writing the error_bodies target, not a bug: `Retry-After:
/// 18446744073709551615` parses to `u64::MAX` seconds and the jitter (< 1 s) added to it never
/// carries into the seconds, so `delay` cannot overflow. Pinned here.
#[test]
fn a_retry_after_of_u64_max_seconds_does_not_overflow_the_delay() {
    let wait = retry_after("18446744073709551615");
    assert_eq!(wait, Some(Duration::from_secs(u64::MAX)));
    assert!(RetryPolicy::default().delay(1, wait) >= Duration::from_secs(u64::MAX));
}

/// fuzz/run.sh das_page, crash-8bc6fac8: invalid UTF-8 inside an unknown field. Not a parser bug
/// (the page is read, the field ignored) but the fuzz property's own re-parse refused it; kept so
/// the behaviour is pinned.
#[test]
fn a_das_page_with_invalid_utf8_in_an_unknown_field_still_parses() {
    let body = b"{\"contacts\":[{\"conownField\":true}],\"n!xtCursor\":\"p\xc3\"}\n";
    let (page, next) = parse_page("test", body).unwrap();
    assert_eq!(page.contacts.len() + page.invalid.len(), 1);
    assert_eq!(next, None);
}

/// fuzz/run.sh das_page, crash-722062e0: `[[[[]]]]`. Also the property, not the parser: serde's
/// derived Deserialize reads a page from the array form `[contacts, nextCursor]` too (the same
/// fields by position); harmless, and kept as it is.
#[test]
fn a_das_page_in_array_form_reads_its_fields_by_position() {
    let (page, next) = parse_page("test", b"[[[[]]\n\n]]\n\n\n").unwrap();
    assert_eq!(page.contacts.len() + page.invalid.len(), 1);
    assert_eq!(next, None);
}

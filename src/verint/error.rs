//! Errors of the recording-side clients and the `{"error":{"code","message"}}` body both services
//! answer with (the simulators in `crate::sim::recording` write their own, from the contract).

use serde::{Deserialize, Serialize};

use crate::http::SendError;

/// Longest piece of an unparsable error body kept in an error message.
const MAX_BODY_EXCERPT: usize = 200;

/// The recording side's error body: `{"error":{"code":..,"message":..}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Inside [`ErrorBody`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Machine-readable code, e.g. `unauthorized`, `invalid.field`.
    #[serde(default)]
    pub code: String,
    /// Human-readable message (for 422: names the offending field).
    #[serde(default)]
    pub message: String,
}

impl ErrorBody {
    /// An error body with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}

/// `(code, message)` of an error response; a body that is not the documented shape gives code
/// `unknown` and an excerpt of the body as the message.
pub fn parse_error_body(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) if !parsed.error.code.is_empty() || !parsed.error.message.is_empty() => {
            (parsed.error.code, parsed.error.message)
        }
        _ => {
            let text = String::from_utf8_lossy(body);
            (
                "unknown".to_string(),
                text.chars().take(MAX_BODY_EXCERPT).collect(),
            )
        }
    }
}

/// Why a recording-side call failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordingSideError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {source}")]
    Client {
        /// Underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// A configured base URL is unusable.
    #[error("invalid recording-side URL {url}: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// No token, or no HTTP answer after the retries.
    #[error(transparent)]
    Send(#[from] SendError),
    /// The service answered with an error status that is not an outcome of the call.
    #[error("{endpoint} answered HTTP {status} ({code}): {message}")]
    Api {
        /// Endpoint (no query string, no credentials).
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// `error.code` from the body.
        code: String,
        /// `error.message` from the body.
        message: String,
    },
    /// A 2xx answer whose body does not follow the contract.
    #[error("{endpoint} answered with a malformed body: {reason}")]
    Malformed {
        /// Endpoint.
        endpoint: String,
        /// What was wrong.
        reason: String,
    },
    /// Capture stayed full (429/503 with Retry-After) for longer than the configured limit.
    #[error(
        "{endpoint} stayed busy for {waited_secs} s (limit reached); last answer HTTP {status}"
    )]
    BackPressureTimeout {
        /// Endpoint.
        endpoint: String,
        /// Seconds spent waiting.
        waited_secs: u64,
        /// Last status received.
        status: u16,
    },
    /// The interaction could not be serialised (never expected for well-formed input).
    #[error("cannot encode the request body: {source}")]
    Encode {
        /// Underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl RecordingSideError {
    /// True when the failure is an authentication problem (bad credentials, rejected token).
    pub fn is_auth(&self) -> bool {
        match self {
            RecordingSideError::Send(SendError::Token { .. }) => true,
            RecordingSideError::Api { status, .. } => matches!(status, 401 | 403),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape_and_tolerates_others() {
        let (code, message) = parse_error_body(br#"{"error":{"code":"bad","message":"why"}}"#);
        assert_eq!((code.as_str(), message.as_str()), ("bad", "why"));
        let long = "x".repeat(1000);
        let (code, message) = parse_error_body(long.as_bytes());
        assert_eq!(code, "unknown");
        assert_eq!(message.len(), MAX_BODY_EXCERPT);
        let (code, _) = parse_error_body(br#"{"error":"flat"}"#);
        assert_eq!(code, "unknown");
    }
}

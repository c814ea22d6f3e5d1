//! Errors of the Genesys Cloud client. Every variant names the endpoint; none carries a secret.

use crate::http::{SendError, TokenError};

/// A failed Genesys Cloud call.
#[derive(Debug, thiserror::Error)]
pub enum GenesysError {
    /// The API answered with an error status (after retries, where retrying made sense).
    #[error("{endpoint}: HTTP {status} {code}: {message} (contextId {context_id})", code = code.as_deref().unwrap_or("-"), message = message.as_deref().unwrap_or(""), context_id = context_id.as_deref().unwrap_or("-"))]
    Api {
        /// Endpoint, e.g. `POST /api/v2/analytics/conversations/details/query`.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// Genesys error `code`, e.g. `bad.request`.
        code: Option<String>,
        /// Genesys error `message`.
        message: Option<String>,
        /// `contextId` (= `ININ-Correlation-Id`), for Genesys support.
        context_id: Option<String>,
    },
    /// No token could be obtained.
    #[error("{endpoint}: {source}")]
    Auth {
        /// Endpoint the request was for.
        endpoint: String,
        /// Why.
        #[source]
        source: TokenError,
    },
    /// Connection, timeout or truncated-body errors on every attempt.
    #[error("{endpoint}: transport failure after {attempts} attempt(s): {source}")]
    Transport {
        /// Endpoint.
        endpoint: String,
        /// Attempts made.
        attempts: u32,
        /// Last error.
        #[source]
        source: reqwest::Error,
    },
    /// A 2xx answer whose body is not what the endpoint returns (malformed JSON, HTML, missing
    /// required fields, absurd numbers).
    #[error("{endpoint}: invalid response: {reason}")]
    InvalidResponse {
        /// Endpoint.
        endpoint: String,
        /// What was wrong (with a short, secret-free excerpt of the body).
        reason: String,
    },
    /// One conversation of a 2xx page that cannot be parsed, or lacks the fields every later
    /// stage relies on (id, start). Only that conversation is lost: the page's others are
    /// yielded, and the pipeline reports it as a failed item (`malformedConversation`).
    #[error("{endpoint}: malformed conversation: {reason}")]
    MalformedConversation {
        /// Endpoint.
        endpoint: String,
        /// Its `conversationId`, when one could be read.
        conversation_id: Option<String>,
        /// Its `conversationStart`, when one could be read.
        conversation_start: Option<jiff::Timestamp>,
        /// What was wrong.
        reason: String,
    },
    /// A slice held more conversations than the query can page through, and cannot be split
    /// further.
    #[error(
        "{endpoint}: more than {cap} conversations between {start} and {end}; the slice cannot be split further"
    )]
    PagingCap {
        /// Endpoint.
        endpoint: String,
        /// Results reachable by paging.
        cap: u64,
        /// Slice start.
        start: jiff::Timestamp,
        /// Slice end.
        end: jiff::Timestamp,
    },
    /// An async job ended FAILED, CANCELLED or EXPIRED, or did not finish in time.
    #[error("{endpoint}: analytics job {job_id} ended {state}{detail}", detail = message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    JobFailed {
        /// Endpoint.
        endpoint: String,
        /// Job id.
        job_id: String,
        /// Final state (or `TIMEOUT`).
        state: String,
        /// errorMessage, when given.
        message: Option<String>,
    },
    /// The recordings of a conversation were still transcoding after every re-poll.
    #[error("{endpoint}: recordings still transcoding after {attempts} poll(s)")]
    StillTranscoding {
        /// Endpoint.
        endpoint: String,
        /// Polls made.
        attempts: u32,
        /// The last 202's Retry-After, when it gave one: when to ask again.
        retry_after: Option<std::time::Duration>,
    },
    /// Genesys refused (403) to restore an archived recording: the OAuth client's role lacks the
    /// permission. Final for the conversation: asking again changes nothing until a person
    /// grants it.
    #[error("{endpoint}: HTTP 403 {code}: Genesys refused to restore the archived recording; the OAuth client's role needs the permission {permission} (Genesys said: {message}; contextId {context_id})", code = code.as_deref().unwrap_or("-"), permission = super::restore::RESTORE_PERMISSION, message = message.as_deref().unwrap_or("-"), context_id = context_id.as_deref().unwrap_or("-"))]
    RestoreForbidden {
        /// Endpoint, `PUT /api/v2/conversations/{id}/recordings/{id}`.
        endpoint: String,
        /// Genesys error `code`, e.g. `missing.permissions`.
        code: Option<String>,
        /// Genesys error `message`.
        message: Option<String>,
        /// `contextId`, for Genesys support.
        context_id: Option<String>,
    },
    /// Bad client configuration (unknown region, bad URL, missing credentials).
    #[error("invalid Genesys configuration: {0}")]
    Config(String),
}

impl GenesysError {
    /// The HTTP status, for API errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            GenesysError::Api { status, .. } => Some(*status),
            GenesysError::RestoreForbidden { .. } => Some(403),
            _ => None,
        }
    }

    /// The Genesys error code, for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            GenesysError::Api { code, .. } | GenesysError::RestoreForbidden { code, .. } => {
                code.as_deref()
            }
            _ => None,
        }
    }

    /// The endpoint the error is about.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            GenesysError::Api { endpoint, .. }
            | GenesysError::Auth { endpoint, .. }
            | GenesysError::Transport { endpoint, .. }
            | GenesysError::InvalidResponse { endpoint, .. }
            | GenesysError::MalformedConversation { endpoint, .. }
            | GenesysError::PagingCap { endpoint, .. }
            | GenesysError::JobFailed { endpoint, .. }
            | GenesysError::StillTranscoding { endpoint, .. }
            | GenesysError::RestoreForbidden { endpoint, .. } => Some(endpoint),
            GenesysError::Config(_) => None,
        }
    }
}

impl From<SendError> for GenesysError {
    fn from(err: SendError) -> Self {
        match err {
            SendError::Token { endpoint, source } => GenesysError::Auth { endpoint, source },
            SendError::Transport {
                endpoint,
                attempts,
                source,
            } => GenesysError::Transport {
                endpoint,
                attempts,
                source,
            },
        }
    }
}

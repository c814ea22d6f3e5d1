//! HTTP plumbing shared by every outbound client (Genesys Cloud, DAS, Interaction Capture):
//! secrets that never print, a client-credentials token source, a per-token rate budget, a retry
//! policy and the call/throttle counters the pipeline reports.
//!
//! The pieces are deliberately service-agnostic: each client parses its own error bodies from the
//! [`RawResponse`] that [`ApiTransport::send`] hands back.

mod budget;
mod counters;
mod retry;
mod secret;
mod token;
mod transport;

pub use budget::RateBudget;
pub use counters::{ApiCounters, CounterSnapshot};
pub use retry::{RetryPolicy, is_retryable_status, parse_retry_after};
pub use secret::Secret;
pub use token::{AccessToken, TokenError, TokenSource};
pub use transport::{ApiTransport, RawResponse, RetryHint, SendError};

use std::sync::Once;
use std::time::Duration;

/// An OAuth client's id and secret, as a Secret's `clientId` / `clientSecret` keys hold them.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    /// OAuth client id (not secret, but kept out of status all the same).
    pub client_id: String,
    /// OAuth client secret; prints as a placeholder.
    pub client_secret: Secret,
}

static CRYPTO_PROVIDER: Once = Once::new();

/// Installs rustls' `ring` provider for the process. reqwest is built with `rustls-no-provider`,
/// so a provider must exist before the first client is built. Safe to call any number of times.
pub fn install_crypto_provider() {
    CRYPTO_PROVIDER.call_once(|| {
        // Another component (kube, a test) may have installed one already; that one is fine too.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Builds the reqwest client every service client uses: rustls, bounded connect and request
/// timeouts, a recognisable user agent.
pub fn build_client(request_timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("digital-recovery/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10).min(request_timeout))
        .timeout(request_timeout)
        .pool_max_idle_per_host(32)
        .build()
}

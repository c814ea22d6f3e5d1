//! The credentials of both sides and the two clients one shard builds from them, whose counters
//! feed `apiCalls`.

use crate::api::{ApiCalls, ValidSpec};
use crate::genesys::{GenesysClient, GenesysConfig};
use crate::http::ClientCredentials;
use crate::verint::{RecordingSide, RecordingSideSettings};

use super::PipelineError;

/// The credentials of both sides.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// Genesys Cloud OAuth client.
    pub genesys: ClientCredentials,
    /// Recording side (DAS and Capture) OAuth client.
    pub recording_side: ClientCredentials,
}

/// The clients one shard uses. Built once; their counters feed `apiCalls`.
#[derive(Clone, Debug)]
pub struct Clients {
    /// Genesys Cloud (one token, one rate budget shared by every stage).
    pub genesys: GenesysClient,
    /// DAS and Capture.
    pub recording_side: RecordingSide,
}

impl Clients {
    /// Builds both clients for `spec` with `credentials`.
    pub fn connect(spec: &ValidSpec, credentials: &Credentials) -> Result<Clients, PipelineError> {
        let mut genesys = GenesysConfig::from_spec(
            spec,
            credentials.genesys.client_id.clone(),
            credentials.genesys.client_secret.clone(),
        )?;
        // Transcoding is retried later in the run rather than held in a recovery slot.
        genesys.transcode_polls = 2;
        let recording_side = RecordingSide::connect(&RecordingSideSettings {
            requests_per_minute: spec.recording_side.requests_per_minute,
            ..RecordingSideSettings::new(
                spec.recording_side.das_url.clone(),
                spec.recording_side.capture_url.clone(),
                spec.tenant.clone(),
                credentials.recording_side.client_id.clone(),
                credentials.recording_side.client_secret.clone(),
            )
        })?;
        Ok(Clients {
            genesys: GenesysClient::new(genesys)?,
            recording_side,
        })
    }

    /// Calls so far, by service, and 429s received.
    pub fn api_calls(&self) -> (ApiCalls, u64) {
        let genesys = self.genesys.counters();
        let das = self.recording_side.das_counters.snapshot();
        let capture = self.recording_side.capture_counters.snapshot();
        (
            ApiCalls {
                genesys: genesys.calls,
                das: das.calls,
                capture: capture.calls,
            },
            genesys.throttled + das.throttled + capture.throttled,
        )
    }
}

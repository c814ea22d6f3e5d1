//! The credentials of both sides and the two clients one shard builds from them, whose counters
//! feed `apiCalls`.

use tokio::sync::watch;
use tracing::debug;

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

    /// Follows the shard's share of its org's Genesys budget: every share published (the
    /// current one at once) becomes the Genesys client's limit. Runs until aborted or the share
    /// stops being published.
    pub fn follow_share(
        &self,
        mut share: watch::Receiver<Option<u32>>,
    ) -> tokio::task::JoinHandle<()> {
        let budget = self.genesys.budget().clone();
        tokio::spawn(async move {
            loop {
                let current = *share.borrow_and_update();
                if let Some(per_minute) = current {
                    debug!(per_minute, "following the org budget share");
                    budget.set_limit(per_minute);
                }
                if share.changed().await.is_err() {
                    return;
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DigitalRecoverySpec;
    use crate::http::{ClientCredentials, Secret};

    fn clients() -> Clients {
        let spec: DigitalRecoverySpec = serde_json::from_value(serde_json::json!({
            "tenant": "acme",
            "genesys": {"apiBaseUrl": "http://127.0.0.1:9", "credentialsSecret": "g"},
            "recordingSide": {"dasUrl": "http://127.0.0.1:9", "captureUrl": "http://127.0.0.1:9", "credentialsSecret": "v"},
            "window": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
            "mediaTypes": ["chat"]
        }))
        .unwrap();
        let credentials = |id: &str| ClientCredentials {
            client_id: id.into(),
            client_secret: Secret::new("s".to_string()),
        };
        Clients::connect(
            &spec.validate().unwrap(),
            &Credentials {
                genesys: credentials("g"),
                recording_side: credentials("v"),
            },
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_genesys_budget_follows_the_published_share() {
        let clients = clients();
        assert_eq!(clients.genesys.budget().current_per_minute(), Some(300));
        let (tx, rx) = watch::channel(Some(150));
        let follower = clients.follow_share(rx);
        let rate = || clients.genesys.budget().current_per_minute();
        let wait_for = |wanted: u32| async move {
            for _ in 0..100 {
                if rate() == Some(wanted) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            panic!(
                "the budget never followed the share to {wanted}: {:?}",
                rate()
            );
        };
        wait_for(150).await;
        tx.send(Some(75)).unwrap();
        wait_for(75).await;
        // No share published (the controller not dividing): the last one stays.
        tx.send(None).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(rate(), Some(75));
        follower.abort();
    }
}

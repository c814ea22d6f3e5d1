//! The credentials of both sides and the two clients one shard builds from them, whose counters
//! feed `apiCalls`.

use tokio::sync::watch;
use tracing::debug;

use crate::api::{ApiCalls, GenesysBudget, ValidSpec};
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

    /// Follows the shard's share of its org's Genesys budget: every division published (the
    /// current one at once, before any request) is taken ([`GenesysClient::take_share`]). Runs
    /// until aborted or the share stops being published.
    pub fn follow_share(
        &self,
        mut share: watch::Receiver<Option<GenesysBudget>>,
    ) -> tokio::task::JoinHandle<()> {
        self.genesys.take_share(*share.borrow_and_update());
        let genesys = self.genesys.clone();
        tokio::spawn(async move {
            while share.changed().await.is_ok() {
                if let Some(current) = *share.borrow_and_update() {
                    debug!(
                        per_minute = current.shard_requests_per_minute,
                        "following the org budget share"
                    );
                    genesys.take_share(Some(current));
                }
            }
        })
    }

    /// Calls so far and 429s received, by service.
    pub fn api_calls(&self) -> (ApiCalls, ApiCalls) {
        let genesys = self.genesys.counters();
        let das = self.recording_side.das_counters.snapshot();
        let capture = self.recording_side.capture_counters.snapshot();
        (
            ApiCalls {
                genesys: genesys.calls,
                das: das.calls,
                capture: capture.calls,
            },
            ApiCalls {
                genesys: genesys.throttled,
                das: das.throttled,
                capture: capture.throttled,
            },
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

    fn division(shard_requests_per_minute: u32) -> Option<GenesysBudget> {
        Some(GenesysBudget {
            org_requests_per_minute: 2400,
            org_shards: 8,
            shard_requests_per_minute,
        })
    }

    #[tokio::test]
    async fn the_genesys_budget_follows_the_published_share() {
        let clients = clients();
        assert_eq!(clients.genesys.budget().current_per_minute(), Some(300));
        let (tx, rx) = watch::channel(division(150));
        let follower = clients.follow_share(rx);
        let rate = || clients.genesys.budget().current_per_minute();
        // The current share is taken before the first request.
        assert_eq!(rate(), Some(150));
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
        tx.send(division(75)).unwrap();
        wait_for(75).await;
        // No share published (the controller not dividing): the last one stays.
        tx.send(None).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(rate(), Some(75));
        follower.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn no_opening_burst_before_the_share_is_known_or_when_the_org_has_none_spare() {
        // 300/min paced: one request now, then one every 200 ms (a bursting budget would let
        // 301 through at once).
        let paced = |clients: Clients| async move {
            let start = tokio::time::Instant::now();
            for _ in 0..7 {
                clients.genesys.budget().acquire().await;
            }
            tokio::time::Instant::now() - start
        };
        let unknown = clients();
        let follower = unknown.follow_share(watch::channel(None).1);
        assert_eq!(paced(unknown).await, std::time::Duration::from_millis(1200));
        follower.abort();
        // 8 shards of 300 use all of 2400: nothing spare for a burst.
        let whole = clients();
        whole
            .genesys
            .take_share(Some(GenesysBudget::divide(2400, 300, 8)));
        assert_eq!(paced(whole).await, std::time::Duration::from_millis(1200));
        // One shard alone: the org's spare (2100) is more than a minute's worth of its 300.
        let alone = clients();
        alone
            .genesys
            .take_share(Some(GenesysBudget::divide(2400, 300, 1)));
        let before = tokio::time::Instant::now();
        for _ in 0..301 {
            alone.genesys.budget().acquire().await;
        }
        assert_eq!(tokio::time::Instant::now(), before);
    }
}

//! Faithful local simulators of the services digital-recovery talks to: Genesys Cloud
//! ([`genesys`]) and the recording side (DAS, Interaction Capture). They share one seeded
//! [`dataset::Dataset`] per org ([`orgs`]: one by default, several on the same ports) and one
//! fault-injection model ([`faults`]).
//!
//! [`start`] serves them on loopback for `simulate`, `demo` and the tests.

pub mod dataset;
mod dispatch;
pub mod faults;
pub mod genesys;
pub mod orgs;
pub mod recording;
pub mod requests;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use jiff::{SignedDuration, Timestamp};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::dataset::{Dataset, DatasetConfig, StartProfile};
use self::faults::{FaultSpec, Faults};
use self::genesys::{
    ClientRates, GenesysOrgs, GenesysSim, GenesysSimConfig, GenesysSimStats, GenesysVariant,
};
pub use self::orgs::OrgConfig;
use crate::api::Window;

/// Everything `simulate` takes.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Dataset seed.
    pub seed: u64,
    /// Conversations in the window.
    pub conversations: usize,
    /// Seeded window.
    pub window: Window,
    /// Recording-side tenant.
    pub tenant: String,
    /// Share withheld entirely from the recording side.
    pub missing_rate: f64,
    /// Share held only partly.
    pub partial_rate: f64,
    /// Share of conversations that never end (open for good).
    pub open_rate: f64,
    /// Share of recorded text conversations whose recordings are deleted.
    pub deleted_rate: f64,
    /// Added to every response of every simulator.
    pub latency: Duration,
    /// Genesys requests per minute per token (None = unlimited).
    pub rate_limit: Option<u32>,
    /// Genesys requests per minute per OAuth client across all its tokens, on top of the
    /// per-token limit (Genesys' `org.app.user.rate.per.minute`; None = unlimited).
    pub org_rate_limit: Option<u32>,
    /// Fault spec for every simulator.
    pub faults: FaultSpec,
    /// Client id every simulator accepts.
    pub client_id: String,
    /// Client secret every simulator accepts.
    pub client_secret: String,
    /// Address to bind.
    pub bind: IpAddr,
    /// Host the simulators' URLs name (None: the bound address). Needed when `bind` is an
    /// unspecified address (`0.0.0.0`), or when clients reach the simulators through another
    /// name, e.g. pods of a local cluster.
    pub advertise: Option<String>,
    /// Genesys port (0 = any free one).
    pub genesys_port: u16,
    /// DAS port (0 = any free one).
    pub das_port: u16,
    /// Capture port (0 = any free one).
    pub capture_port: u16,
    /// Which reading of the UNCONFIRMED Genesys items to serve (default: the documented one).
    pub genesys_variant: GenesysVariant,
    /// Share of conversations starting exactly on a whole UTC minute.
    pub aligned_start_rate: f64,
    /// Share of recorded text conversations whose recordings are archived.
    pub archived_rate: f64,
    /// How long an archived recording stays RESTORING once its restoration is asked for.
    pub restore_delay: Duration,
    /// How conversation starts spread over the window (every org's).
    pub profile: StartProfile,
    /// The orgs served, each with its own client, tenant, dataset and limits (see
    /// [`SimConfig::with_orgs`]); empty: one org made of the fields above.
    pub orgs: Vec<OrgConfig>,
}

impl SimConfig {
    /// Defaults of `simulate`: seed 1, the 24 h ending one hour before now, `sim-client` /
    /// `sim-secret`, tenant `demo`, 300 requests a minute per token, no org limit.
    pub fn new(conversations: usize) -> Self {
        SimConfig {
            seed: 1,
            conversations,
            window: default_window(Timestamp::now()),
            tenant: "demo".into(),
            missing_rate: 0.05,
            partial_rate: 0.02,
            open_rate: 0.02,
            deleted_rate: 0.005,
            latency: Duration::ZERO,
            rate_limit: Some(300),
            org_rate_limit: None,
            faults: FaultSpec::default(),
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            advertise: None,
            genesys_port: 0,
            das_port: 0,
            capture_port: 0,
            genesys_variant: GenesysVariant::default(),
            aligned_start_rate: 0.02,
            archived_rate: 0.01,
            restore_delay: genesys::DEFAULT_RESTORE_DELAY,
            profile: StartProfile::Uniform,
            orgs: Vec::new(),
        }
    }

    /// The dataset configuration this simulation serves.
    pub fn dataset_config(&self) -> DatasetConfig {
        DatasetConfig {
            tenant: self.tenant.clone(),
            missing_rate: self.missing_rate,
            partial_rate: self.partial_rate,
            open_rate: self.open_rate,
            deleted_rate: self.deleted_rate,
            aligned_start_rate: self.aligned_start_rate,
            archived_rate: self.archived_rate,
            profile: self.profile,
            ..DatasetConfig::new(self.seed, self.conversations, self.window)
        }
    }
}

/// The `(client id, secret)` of an `Authorization: Basic` header (the scheme is
/// case-insensitive), as both simulators' token endpoints accept them.
pub(crate) fn basic_credentials(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// The 24 hours ending one hour before `now`, on whole minutes.
pub fn default_window(now: Timestamp) -> Window {
    let end = now - SignedDuration::from_hours(1);
    let end =
        Timestamp::from_second(end.as_second() - end.as_second().rem_euclid(60)).unwrap_or(end);
    Window {
        start: end - SignedDuration::from_hours(24),
        end,
    }
}

/// What the recording-side simulators get to build their routers from.
pub struct RecordingSideContext {
    /// The first org's dataset (source of truth for what DAS holds at seed time).
    pub dataset: Arc<Dataset>,
    /// The shared fault state.
    pub faults: Arc<Faults>,
    /// The whole simulation configuration.
    pub config: SimConfig,
    /// The restorations the first org's Genesys simulator was asked for (for `/sim/report`).
    pub restorations: Arc<genesys::Restorations>,
    /// Every org, the first included: one recording-side tenant each.
    pub orgs: Vec<RecordingSideOrg>,
}

/// One org as the recording side sees it: a tenant with its credentials and dataset.
pub struct RecordingSideOrg {
    /// Its client, tenant, seed and limits.
    pub config: OrgConfig,
    /// Its dataset.
    pub dataset: Arc<Dataset>,
    /// The restorations its Genesys org was asked for.
    pub restorations: Arc<genesys::Restorations>,
}

/// One org being served.
pub struct OrgSim {
    /// Its client, tenant, seed and limits.
    pub config: OrgConfig,
    /// Its dataset.
    pub dataset: Arc<Dataset>,
    /// Its Genesys simulator (stats, rates, forced faults).
    pub genesys: GenesysSim,
}

/// The recording side's routers, served on the DAS and Capture ports.
pub struct RecordingSideRouters {
    /// Data Access Services.
    pub das: Router,
    /// Interaction Capture (also serves `/sim/report`).
    pub capture: Router,
}

/// HOOK POINT for the recording-side simulators (DAS + Capture, built on the `recording`
/// branch): a function from the shared context to their routers. `start` serves them on the DAS
/// and Capture ports; without one those ports are not opened.
pub type RecordingSideFactory =
    Box<dyn FnOnce(&RecordingSideContext) -> RecordingSideRouters + Send>;

/// Why the simulators could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A port could not be bound.
    #[error("cannot listen on {addr} for the {service} simulator: {source}")]
    Bind {
        /// Which simulator.
        service: &'static str,
        /// Address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No org to serve ([`SimConfig::org_configs`] always gives one; kept rather than a panic).
    #[error("the simulation serves no org")]
    NoOrg,
}

/// Running simulators. Dropping the handles stops them.
pub struct SimHandles {
    /// Genesys base URL (`http://127.0.0.1:P`).
    pub genesys_url: String,
    /// DAS base URL, when the recording side is plugged in.
    pub das_url: Option<String>,
    /// Capture base URL, when the recording side is plugged in.
    pub capture_url: Option<String>,
    /// The served dataset (the first org's).
    pub dataset: Arc<Dataset>,
    /// The Genesys simulator (stats, forced faults; the first org's).
    pub genesys: GenesysSim,
    /// Every org served, the first included, in order.
    pub orgs: Vec<OrgSim>,
    /// The shared fault state.
    pub faults: Arc<Faults>,
    /// The configuration.
    pub config: SimConfig,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl SimHandles {
    /// The one-line JSON `simulate` prints once listening.
    pub fn address_line(&self) -> String {
        // Several orgs: the first org's tenant and client at the top, every org under `orgs`.
        let first = self.orgs.first().map(|org| &org.config);
        let mut line = serde_json::json!({
            "genesys": self.genesys_url,
            "das": self.das_url,
            "capture": self.capture_url,
            "tenant": first.map_or(&self.config.tenant, |org| &org.tenant),
            "window": format!("{}/{}", self.config.window.start, self.config.window.end),
            "clientId": first.map_or(&self.config.client_id, |org| &org.client_id),
        });
        if self.orgs.len() > 1
            && let Some(map) = line.as_object_mut()
        {
            let orgs = self
                .orgs
                .iter()
                .map(|org| {
                    serde_json::json!({"clientId": org.config.client_id, "tenant": org.config.tenant})
                })
                .collect();
            map.insert("orgs".into(), serde_json::Value::Array(orgs));
        }
        // Only when non-default, so the documented contract's line stays as it was.
        if !self.config.genesys_variant.is_default()
            && let Some(map) = line.as_object_mut()
        {
            map.insert(
                "genesysVariant".into(),
                self.config.genesys_variant.to_string().into(),
            );
        }
        line.to_string()
    }

    /// Per OAuth client id, per second, what its Genesys requests met at the rate limits
    /// (`GET /sim/rates`).
    pub fn client_rates(&self) -> ClientRates {
        self.orgs
            .iter()
            .flat_map(|org| org.genesys.client_rates())
            .collect()
    }

    /// Every org's Genesys counters summed.
    pub fn genesys_stats(&self) -> GenesysSimStats {
        self.orgs
            .iter()
            .map(|org| org.genesys.stats())
            .fold(GenesysSimStats::default(), GenesysSimStats::plus)
    }

    /// Stops every server and waits for them.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandles {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves `router` on `addr` until `shutdown`; returns its base URL (naming `advertise` as the
/// host when given) and the serving task.
async fn serve(
    service: &'static str,
    addr: SocketAddr,
    advertise: Option<&str>,
    router: Router,
    shutdown: CancellationToken,
) -> Result<(String, JoinHandle<()>), SimError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind {
            service,
            addr,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| SimError::Bind {
        service,
        addr,
        source,
    })?;
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!(service, error = %err, "simulator stopped");
        }
    });
    let url = match advertise {
        Some(host) => format!("http://{host}:{}", local.port()),
        None => format!("http://{local}"),
    };
    Ok((url, task))
}

/// Generates the dataset and serves the Genesys simulator, plus the recording side when a
/// factory is given (the hook point for the DAS and Capture simulators).
pub async fn start(
    config: SimConfig,
    recording_side: Option<RecordingSideFactory>,
) -> Result<SimHandles, SimError> {
    let faults = Arc::new(Faults::new(config.faults.clone(), config.seed));
    // Every dataset first, then the simulators, so that the orgs' per-second records
    // (`/sim/rates`) start within the same second.
    let datasets: Vec<(OrgConfig, Arc<Dataset>)> = config
        .org_configs()
        .into_iter()
        .map(|org| {
            let dataset = Arc::new(Dataset::generate(&config.org_dataset_config(&org)));
            (org, dataset)
        })
        .collect();
    let orgs: Vec<OrgSim> = datasets
        .into_iter()
        .map(|(org, dataset)| {
            let genesys = GenesysSim::new(
                dataset.clone(),
                GenesysSimConfig {
                    client_id: org.client_id.clone(),
                    client_secret: org.client_secret.clone(),
                    rate_limit: org.rate_limit,
                    org_rate_limit: org.org_rate_limit,
                    latency: config.latency,
                    variant: config.genesys_variant,
                    restore_delay: config.restore_delay,
                    ..GenesysSimConfig::default()
                },
                faults.clone(),
            );
            OrgSim {
                config: org,
                dataset,
                genesys,
            }
        })
        .collect();
    let (dataset, genesys) = match orgs.first() {
        Some(first) => (first.dataset.clone(), first.genesys.clone()),
        None => return Err(SimError::NoOrg),
    };
    let genesys_router = if orgs.len() == 1 {
        genesys.router()
    } else {
        GenesysOrgs::new(orgs.iter().map(|org| org.genesys.clone()).collect()).router()
    };
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    let (genesys_url, task) = serve(
        "genesys",
        SocketAddr::new(config.bind, config.genesys_port),
        config.advertise.as_deref(),
        genesys_router,
        shutdown.clone(),
    )
    .await?;
    tasks.push(task);
    let (mut das_url, mut capture_url) = (None, None);
    if let Some(factory) = recording_side {
        let routers = factory(&RecordingSideContext {
            dataset: dataset.clone(),
            faults: faults.clone(),
            config: config.clone(),
            restorations: genesys.restorations().clone(),
            orgs: orgs
                .iter()
                .map(|org| RecordingSideOrg {
                    config: org.config.clone(),
                    dataset: org.dataset.clone(),
                    restorations: org.genesys.restorations().clone(),
                })
                .collect(),
        });
        let (url, task) = serve(
            "das",
            SocketAddr::new(config.bind, config.das_port),
            config.advertise.as_deref(),
            routers.das,
            shutdown.clone(),
        )
        .await?;
        das_url = Some(url);
        tasks.push(task);
        let (url, task) = serve(
            "capture",
            SocketAddr::new(config.bind, config.capture_port),
            config.advertise.as_deref(),
            routers.capture,
            shutdown.clone(),
        )
        .await?;
        capture_url = Some(url);
        tasks.push(task);
    }
    Ok(SimHandles {
        genesys_url,
        das_url,
        capture_url,
        dataset,
        genesys,
        orgs,
        faults,
        config,
        shutdown,
        tasks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_address_line_names_a_non_default_variant_only() {
        let plain = start(SimConfig::new(10), None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let line: serde_json::Value =
            serde_json::from_str(&plain.address_line()).unwrap_or_else(|e| panic!("{e}"));
        assert!(line.get("genesysVariant").is_none(), "{line}");
        plain.shutdown().await;

        let mut config = SimConfig::new(10);
        config.genesys_variant = "retry-after-202,oauth-error=both"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let varied = start(config, None).await.unwrap_or_else(|e| panic!("{e}"));
        let line: serde_json::Value =
            serde_json::from_str(&varied.address_line()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            line["genesysVariant"],
            serde_json::json!("retry-after-202,oauth-error=both")
        );
        varied.shutdown().await;
    }

    #[tokio::test]
    async fn urls_name_the_advertised_host_and_lead_to_the_simulators() {
        // reqwest::get needs a crypto provider; run alone, no other test installed it.
        crate::http::install_crypto_provider();
        let mut config = SimConfig::new(10);
        config.bind = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        config.advertise = Some("localhost".into());
        let handles = start(config, Some(recording::factory(Default::default())))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for url in [
            Some(handles.genesys_url.clone()),
            handles.das_url.clone(),
            handles.capture_url.clone(),
        ] {
            let url = url.unwrap_or_else(|| panic!("a simulator did not start"));
            assert!(url.starts_with("http://localhost:"), "{url}");
            // Reachable under that name: any HTTP answer will do (these paths need a token).
            let answer = reqwest::get(format!("{url}/no-such-path")).await;
            assert!(answer.is_ok(), "{url}: {answer:?}");
        }
        handles.shutdown().await;
    }
}

//! Several orgs' Genesys simulators behind one origin, as one Genesys region serves many orgs.
//! Each request goes to the org of the OAuth client it comes from: a token request by the client
//! id it names, an API request by the client its bearer token was issued to, a media download
//! by the org whose conversation it names. An unknown client or token goes to the first org,
//! which refuses it as any org would. `/sim/genesys/stats`, `/sim/rates` and `/sim/requests`
//! answer for all orgs; every other `/sim/` route (forced faults: one fault state serves all orgs)
//! goes to the first.

use super::*;
use crate::sim::dispatch::{bearer, forward, token_client};

/// The orgs' simulators, in order (the first answers what belongs to none).
#[derive(Clone)]
pub struct GenesysOrgs {
    sims: Arc<Vec<(GenesysSim, Router)>>,
}

impl GenesysOrgs {
    /// One origin for `sims` (at least one).
    pub fn new(sims: Vec<GenesysSim>) -> Self {
        let sims = sims
            .into_iter()
            .map(|sim| {
                let router = sim.router();
                (sim, router)
            })
            .collect();
        GenesysOrgs {
            sims: Arc::new(sims),
        }
    }

    /// The orgs' simulators, in order.
    pub fn sims(&self) -> impl Iterator<Item = &GenesysSim> {
        self.sims.iter().map(|(sim, _)| sim)
    }

    /// Every org's [`GenesysSim::client_rates`].
    pub fn client_rates(&self) -> ClientRates {
        self.sims().flat_map(GenesysSim::client_rates).collect()
    }

    /// The sum of the orgs' counters.
    pub fn stats(&self) -> GenesysSimStats {
        self.sims()
            .map(GenesysSim::stats)
            .fold(GenesysSimStats::default(), GenesysSimStats::plus)
    }

    /// The routes of every org, on one origin.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/sim/genesys/stats", get(orgs_stats))
            .route("/sim/rates", get(orgs_rates))
            .route("/sim/requests", get(orgs_requests))
            .fallback(dispatch)
            .with_state(self.clone())
    }

    fn router_at(&self, index: usize) -> Option<&Router> {
        self.sims
            .get(index)
            .or_else(|| self.sims.first())
            .map(|(_, router)| router)
    }

    /// The index of the org `request` belongs to (the request comes back, its body possibly
    /// read and rebuilt), or the answer already given.
    async fn org_of(&self, request: Request) -> Result<(usize, Request), Response> {
        let path = request.uri().path().to_string();
        let index = if path == "/oauth/token" {
            let (client, request) = token_client(request).await?;
            let index = client.and_then(|id| self.sims().position(|s| s.client_id() == id));
            return Ok((index.unwrap_or(0), request));
        } else if path.starts_with("/api/") {
            bearer(&request).and_then(|token| self.sims().position(|s| s.holds_token(token)))
        } else if let Some(rest) = path.strip_prefix("/sim/media/") {
            rest.split('/')
                .next()
                .and_then(|id| Uuid::parse_str(id).ok())
                .and_then(|id| self.sims().position(|s| s.serves(id)))
        } else {
            None
        };
        Ok((index.unwrap_or(0), request))
    }
}

async fn dispatch(State(orgs): State<GenesysOrgs>, request: Request) -> Response {
    let (index, request) = match orgs.org_of(request).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    match orgs.router_at(index) {
        Some(router) => forward(router, request).await,
        None => not_found("The requested resource was not found."),
    }
}

/// The orgs' counters summed, and each org's under `orgs` by client id.
async fn orgs_stats(State(orgs): State<GenesysOrgs>) -> Response {
    let mut body = json!(orgs.stats());
    let per_org: serde_json::Map<String, Value> = orgs
        .sims()
        .map(|sim| (sim.client_id().to_string(), json!(sim.stats())))
        .collect();
    if let Some(map) = body.as_object_mut() {
        map.insert("orgs".into(), Value::Object(per_org));
    }
    json_response(StatusCode::OK, body)
}

async fn orgs_rates(State(orgs): State<GenesysOrgs>) -> Response {
    json_response(StatusCode::OK, json!(orgs.client_rates()))
}

async fn orgs_requests(State(orgs): State<GenesysOrgs>) -> Response {
    let mut all = RequestCounts::default();
    for sim in orgs.sims() {
        all.merge(sim.requests());
    }
    json_response(StatusCode::OK, json!(all))
}

//! The simulator's own routes under `/sim/`: counters, per-second rates and forced faults for
//! tests.

use super::*;

#[derive(Deserialize)]
pub(super) struct ForceFaults {
    kind: String,
    count: Option<u32>,
}

/// `POST /sim/faults {"kind":"429","count":2}`: the next requests fail that way (tests).
pub(super) async fn force_faults(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<ForceFaults>(&body) else {
        return bad_request("expected {\"kind\": \"429\", \"count\": 1}");
    };
    let Some(kind) = crate::sim::faults::FaultKind::parse(&request.kind) else {
        return bad_request(&format!("unknown fault kind {}", request.kind));
    };
    state.faults.force(kind, request.count.unwrap_or(1));
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn clear_faults(State(state): State<Arc<SimState>>) -> Response {
    state.faults.clear_forced();
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn sim_stats(State(state): State<Arc<SimState>>) -> Response {
    let sim = GenesysSim { state };
    json_response(StatusCode::OK, json!(sim.stats()))
}

/// `GET /sim/rates`: per client id, per second, requests let through and 429s of each limit.
pub(super) async fn sim_rates(State(state): State<Arc<SimState>>) -> Response {
    let sim = GenesysSim { state };
    json_response(StatusCode::OK, json!(sim.client_rates()))
}

//! Fault injection shared by every simulator: the `--faults` spec, a seeded roll per request, and
//! an axum middleware that turns a roll into a 429, a 5xx, a 408, a hang or a truncated body.
//!
//! Spec grammar: comma-separated `kind=value`.
//! - rates in [0, 1] (one roll per request; the rates of one spec add up to at most 1):
//!   `429` (with `Retry-After: 1`), `429-bare` (no Retry-After), `5xx` (500/502/503/504 evenly),
//!   `500`, `502`, `503`, `504`, `408`, `timeout` (no answer for `hang`, then 504), `truncate`
//!   (Content-Length promises the whole body, half is sent, the connection is cut),
//!   `token-revoke` (a valid token is answered 401 `bad.credentials` and forgotten),
//!   `transcode` (per recordings request: answer 202 while "transcoding" for `transcode-time`);
//! - `malformed` (a rate in [0, 1], per conversation, not per request): that share of the
//!   conversations, chosen by a seeded hash of their id (so the same ones in every answer), is
//!   spoiled wherever the Genesys simulator's analytics endpoints render it: half get a
//!   `conversationId` that is no UUID, half a `participants` that is no list (the conversation
//!   cannot be parsed) ([`Faults::malforms`] says which);
//! - `restore-forbidden` (a rate in [0, 1], per recording, chosen like `malformed`): a request to
//!   restore that share of the recordings is answered 403 `missing.permissions`, as Genesys
//!   answers an OAuth client without the permission (`1`: every one) ([`Faults::forbids_restore`]);
//! - durations (`500ms`, `60s`, `2m`, `1h`): `token-expiry` (lifetime of issued tokens),
//!   `transcode-time` (default 2s), `hang` (default 60s).
//!
//! Tests can also force the next N requests to fail a given way ([`Faults::force`]), which makes
//! every fault kind testable deterministically, and start a burst ([`Faults::burst`]): every request
//! to one simulator (or to all) fails a given way for a while, e.g. a DAS outage of a minute or a
//! 429 storm on Genesys. A route can be refused for good ([`Faults::refuse`]): every request to it
//! answered with one status, as Genesys answers a client without the route's permission (403) or
//! an org without the feature (404).

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One way a request can be made to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// 429 with `Retry-After: 1`.
    TooManyRequests,
    /// 429 without Retry-After.
    TooManyRequestsBare,
    /// A 5xx drawn from 500/502/503/504.
    ServerError,
    /// This exact status (408, 500, 502, 503, 504).
    Status(u16),
    /// No answer for the configured hang time, then 504.
    Timeout,
    /// Half the body, then the connection is cut.
    Truncate,
    /// The bearer token is rejected (401 `bad.credentials`) and forgotten.
    TokenRevoke,
    /// A recordings request answers 202 "transcoding" for a while.
    Transcode,
}

impl FaultKind {
    /// Parses a spec kind name.
    pub fn parse(name: &str) -> Option<FaultKind> {
        Some(match name {
            "429" => FaultKind::TooManyRequests,
            "429-bare" => FaultKind::TooManyRequestsBare,
            "5xx" => FaultKind::ServerError,
            "408" => FaultKind::Status(408),
            "500" => FaultKind::Status(500),
            "502" => FaultKind::Status(502),
            "503" => FaultKind::Status(503),
            "504" => FaultKind::Status(504),
            "timeout" => FaultKind::Timeout,
            "truncate" => FaultKind::Truncate,
            "token-revoke" => FaultKind::TokenRevoke,
            "transcode" => FaultKind::Transcode,
            _ => return None,
        })
    }
}

/// How the Genesys simulator spoils a conversation (fault `malformed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Malformation {
    /// `conversationId` is not a UUID.
    InvalidId,
    /// `participants` is a string, not a list: the conversation cannot be parsed.
    Unparsable,
}

impl Malformation {
    /// Spoils the rendered analytics conversation `value`.
    pub fn apply(self, value: &mut serde_json::Value) {
        let Some(object) = value.as_object_mut() else {
            return;
        };
        match self {
            Malformation::InvalidId => {
                let id = object
                    .get("conversationId")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .replace('-', "");
                object.insert("conversationId".into(), format!("conv#{id}").into());
            }
            Malformation::Unparsable => {
                object.insert("participants".into(), "garbled".into());
            }
        }
    }
}

/// Which simulator a request reached (bursts can target one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// The Genesys Cloud simulator.
    Genesys,
    /// The DAS simulator.
    Das,
    /// The Interaction Capture simulator.
    Capture,
}

/// Every request to `service` (all services when `None`) fails as `kind` until `until`.
#[derive(Clone, Copy, Debug)]
struct Burst {
    service: Option<Service>,
    kind: FaultKind,
    until: std::time::Instant,
}

/// A route answered with one status, always.
#[derive(Clone, Debug)]
struct Refusal {
    method: axum::http::Method,
    path: String,
    status: u16,
}

/// A bad `--faults` spec, naming the part at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad fault spec part `{part}`: {reason}")]
pub struct FaultSpecError {
    /// The offending `kind=value` part.
    pub part: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A parsed `--faults` spec.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    /// Per-request fault rates (transcode excluded).
    pub rates: Vec<(FaultKind, f64)>,
    /// Rate of recordings requests that find their recordings transcoding.
    pub transcode_rate: f64,
    /// How long a transcoding recording stays unavailable.
    pub transcode_time: Duration,
    /// Lifetime of issued tokens (`expires_in`), when set.
    pub token_expiry: Option<Duration>,
    /// How long a `timeout` fault keeps the client waiting.
    pub hang: Duration,
    /// Share of conversations the Genesys simulator's analytics answers spoil.
    pub malformed_rate: f64,
    /// Share of recordings whose restoration the Genesys simulator refuses with 403.
    pub restore_forbidden_rate: f64,
}

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec {
            rates: Vec::new(),
            transcode_rate: 0.0,
            transcode_time: Duration::from_secs(2),
            token_expiry: None,
            hang: Duration::from_secs(60),
            malformed_rate: 0.0,
            restore_forbidden_rate: 0.0,
        }
    }
}

/// Parses `500ms`, `60s`, `2m`, `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return None,
    };
    // Not from_secs_f64: it panics on values beyond Duration::MAX (found by fuzzing).
    Duration::try_from_secs_f64(seconds).ok()
}

impl FromStr for FaultSpec {
    type Err = FaultSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let mut parsed = FaultSpec::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = |reason: &str| FaultSpecError {
                part: part.to_string(),
                reason: reason.to_string(),
            };
            let (kind, value) = part
                .split_once('=')
                .ok_or_else(|| bad("expected kind=value"))?;
            let (kind, value) = (kind.trim(), value.trim());
            match kind {
                "token-expiry" | "transcode-time" | "hang" => {
                    let duration = parse_duration(value)
                        .ok_or_else(|| bad("expected a duration such as 500ms, 60s, 2m"))?;
                    if duration.is_zero() {
                        return Err(bad("duration must be positive"));
                    }
                    match kind {
                        "token-expiry" => parsed.token_expiry = Some(duration),
                        "transcode-time" => parsed.transcode_time = duration,
                        _ => parsed.hang = duration,
                    }
                }
                "malformed" | "restore-forbidden" => {
                    let rate: f64 = value
                        .parse()
                        .map_err(|_| bad("expected a rate between 0 and 1"))?;
                    if !(0.0..=1.0).contains(&rate) {
                        return Err(bad("rate must be between 0 and 1"));
                    }
                    if kind == "malformed" {
                        parsed.malformed_rate = rate;
                    } else {
                        parsed.restore_forbidden_rate = rate;
                    }
                }
                _ => {
                    let fault = FaultKind::parse(kind).ok_or_else(|| {
                        bad("unknown kind (429, 429-bare, 5xx, 408, 500, 502, 503, 504, timeout, truncate, token-revoke, transcode, malformed, restore-forbidden, token-expiry, transcode-time, hang)")
                    })?;
                    let rate: f64 = value
                        .parse()
                        .map_err(|_| bad("expected a rate between 0 and 1"))?;
                    if !(0.0..=1.0).contains(&rate) {
                        return Err(bad("rate must be between 0 and 1"));
                    }
                    if fault == FaultKind::Transcode {
                        parsed.transcode_rate = rate;
                    } else {
                        parsed.rates.push((fault, rate));
                    }
                }
            }
        }
        let total: f64 = parsed.rates.iter().map(|(_, r)| r).sum();
        if total > 1.0 + 1e-9 {
            return Err(FaultSpecError {
                part: spec.to_string(),
                reason: format!("request fault rates add up to {total} > 1"),
            });
        }
        Ok(parsed)
    }
}

/// Live fault state of one simulator: the spec, a seeded generator and forced faults.
#[derive(Debug)]
pub struct Faults {
    spec: FaultSpec,
    seed: u64,
    rng: Mutex<ChaCha8Rng>,
    forced: Mutex<VecDeque<FaultKind>>,
    forced_transcodes: Mutex<u32>,
    bursts: Mutex<Vec<Burst>>,
    refusals: Mutex<Vec<Refusal>>,
    injected: std::sync::atomic::AtomicU64,
}

impl Faults {
    /// Fault state for `spec`, rolling with a generator seeded by `seed`.
    pub fn new(spec: FaultSpec, seed: u64) -> Self {
        Faults {
            spec,
            seed,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0xFA17)),
            forced: Mutex::new(VecDeque::new()),
            forced_transcodes: Mutex::new(0),
            bursts: Mutex::new(Vec::new()),
            refusals: Mutex::new(Vec::new()),
            injected: Default::default(),
        }
    }

    /// No faults.
    pub fn none() -> Self {
        Self::new(FaultSpec::default(), 0)
    }

    /// The spec in force.
    pub fn spec(&self) -> &FaultSpec {
        &self.spec
    }

    /// How the Genesys simulator spoils `conversation` in analytics answers, if it does (fault
    /// `malformed`): the same answer for the same seed and id, every time.
    pub fn malforms(&self, conversation: uuid::Uuid) -> Option<Malformation> {
        if self.spec.malformed_rate <= 0.0 {
            return None;
        }
        let (high, low) = conversation.as_u64_pair();
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.seed ^ 0x0BAD_C0DE ^ high ^ low.rotate_left(17));
        if rng.random::<f64>() >= self.spec.malformed_rate {
            return None;
        }
        Some(if rng.random::<bool>() {
            Malformation::InvalidId
        } else {
            Malformation::Unparsable
        })
    }

    /// Whether the Genesys simulator refuses to restore `recording` (fault `restore-forbidden`):
    /// the same answer for the same seed and id, every time.
    pub fn forbids_restore(&self, recording: uuid::Uuid) -> bool {
        let rate = self.spec.restore_forbidden_rate;
        if rate <= 0.0 {
            return false;
        }
        let (high, low) = recording.as_u64_pair();
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.seed ^ 0x0403_0403 ^ high ^ low.rotate_left(29));
        rng.random::<f64>() < rate
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes the next `count` requests (or recordings requests, for `Transcode`) fail as `kind`.
    pub fn force(&self, kind: FaultKind, count: u32) {
        if kind == FaultKind::Transcode {
            *self.forced_transcodes.lock() += count;
        } else {
            self.forced
                .lock()
                .extend(std::iter::repeat_n(kind, count as usize));
        }
    }

    /// Makes every request to `service` (to every simulator when `None`) fail as `kind` for
    /// `duration` from now: an outage (`Status(503)`), a 429 storm, a hanging backend.
    pub fn burst(&self, service: Option<Service>, kind: FaultKind, duration: Duration) {
        self.bursts.lock().push(Burst {
            service,
            kind,
            until: std::time::Instant::now() + duration,
        });
    }

    /// Answers every `method` request to `path` (exactly, e.g.
    /// `/api/v2/recording/batchrequests`) with `status` from now on: 403 for a client without the
    /// route's permission, 404 for an org without the feature, 400 for a request it rejects.
    pub fn refuse(&self, method: axum::http::Method, path: &str, status: u16) {
        self.refusals.lock().push(Refusal {
            method,
            path: path.to_string(),
            status,
        });
    }

    /// The status `method path` is refused with, if it is.
    fn refusal(&self, method: &axum::http::Method, path: &str) -> Option<u16> {
        let refusals = self.refusals.lock();
        let status = refusals
            .iter()
            .find(|r| r.method == method && r.path == path)
            .map(|r| r.status)?;
        self.injected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(status)
    }

    /// Forgets forced faults not yet used, ends every burst and every refusal.
    pub fn clear_forced(&self) {
        self.forced.lock().clear();
        *self.forced_transcodes.lock() = 0;
        self.bursts.lock().clear();
        self.refusals.lock().clear();
    }

    /// The fault for the next request, if any: a forced one first, else a roll.
    pub fn next_request_fault(&self) -> Option<FaultKind> {
        self.fault_for(None)
    }

    /// The fault for the next request to `service` (`None`: not known): a burst in force first,
    /// then a forced one, else a roll.
    pub fn fault_for(&self, service: Option<Service>) -> Option<FaultKind> {
        let fault = self
            .burst_in_force(service)
            .or_else(|| self.forced.lock().pop_front())
            .or_else(|| self.roll());
        if fault.is_some() {
            self.injected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        fault
    }

    fn burst_in_force(&self, service: Option<Service>) -> Option<FaultKind> {
        let mut bursts = self.bursts.lock();
        if bursts.is_empty() {
            return None;
        }
        let now = std::time::Instant::now();
        bursts.retain(|b| b.until > now);
        bursts
            .iter()
            .find(|b| b.service.is_none() || b.service == service)
            .map(|b| b.kind)
    }

    fn roll(&self) -> Option<FaultKind> {
        if self.spec.rates.is_empty() {
            return None;
        }
        let mut rng = self.rng.lock();
        let mut roll: f64 = rng.random();
        for (kind, rate) in &self.spec.rates {
            if roll < *rate {
                return Some(match kind {
                    FaultKind::ServerError => {
                        FaultKind::Status([500, 502, 503, 504][rng.random_range(0..4)])
                    }
                    other => *other,
                });
            }
            roll -= rate;
        }
        None
    }

    /// Whether a recordings request should find its recordings transcoding.
    pub fn roll_transcode(&self) -> bool {
        let forced = {
            let mut forced = self.forced_transcodes.lock();
            let hit = *forced > 0;
            if hit {
                *forced -= 1;
            }
            hit
        };
        let hit = forced
            || self.spec.transcode_rate > 0.0
                && self.rng.lock().random_bool(self.spec.transcode_rate);
        if hit {
            self.injected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        hit
    }

    /// How long a transcoding recording stays unavailable.
    pub fn transcode_time(&self) -> Duration {
        self.spec.transcode_time
    }

    /// The lifetime of issued tokens, when the spec sets one.
    pub fn token_expiry(&self) -> Option<Duration> {
        self.spec.token_expiry
    }
}

/// Renders an error in a simulator's own error shape: (status, code, message) -> response.
pub type ErrorRenderer = fn(StatusCode, &str, &str) -> Response;

/// State of [`fault_middleware`]: the faults and how the simulator renders errors.
#[derive(Clone)]
pub struct FaultLayer {
    /// Fault state.
    pub faults: Arc<Faults>,
    /// The simulator's error renderer.
    pub render: ErrorRenderer,
    /// Which simulator this is (bursts may target it).
    pub service: Service,
}

/// Marker put into request extensions when the token of this request must be treated as revoked;
/// the simulator's auth check reads it.
#[derive(Clone, Copy, Debug)]
pub struct RevokeToken;

/// Axum middleware applying request-level faults. Use with
/// `axum::middleware::from_fn_with_state(layer, fault_middleware)`.
pub async fn fault_middleware(
    State(layer): State<FaultLayer>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(status) = layer.faults.refusal(request.method(), request.uri().path()) {
        return status_fault(layer.render, status);
    }
    let Some(fault) = layer.faults.fault_for(Some(layer.service)) else {
        return next.run(request).await;
    };
    let render = layer.render;
    match fault {
        FaultKind::TooManyRequests => {
            let mut response = render(
                StatusCode::TOO_MANY_REQUESTS,
                "too.many.requests.retry.after",
                "Rate limit exceeded the maximum. Retry the request in [1] seconds",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        FaultKind::TooManyRequestsBare => render(
            StatusCode::TOO_MANY_REQUESTS,
            "too.many.requests",
            "Rate limit exceeded the maximum",
        ),
        FaultKind::Status(code) => status_fault(render, code),
        FaultKind::ServerError => status_fault(render, 500),
        FaultKind::Timeout => {
            tokio::time::sleep(layer.faults.spec.hang).await;
            render(
                StatusCode::GATEWAY_TIMEOUT,
                "request.timeout",
                "The request timed out",
            )
        }
        FaultKind::Truncate => truncate(next.run(request).await).await,
        FaultKind::TokenRevoke => {
            request.extensions_mut().insert(RevokeToken);
            next.run(request).await
        }
        // Transcoding is applied by the recordings handlers, not per request.
        FaultKind::Transcode => next.run(request).await,
    }
}

fn status_fault(render: ErrorRenderer, code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (code, message) = match code {
        400 => (
            "bad.request",
            "The request could not be understood by the server",
        ),
        403 => (
            "missing.permissions",
            "Unable to perform the requested action. You are missing the following permission(s) for this route",
        ),
        404 => ("not.found", "The requested resource was not found."),
        408 => (
            "client.timeout",
            "The client did not send the request in time",
        ),
        502 => ("bad.gateway", "Bad gateway"),
        503 => ("service.unavailable", "Service unavailable"),
        504 => ("request.timeout", "The request timed out"),
        _ => (
            "internal.server.error",
            "The server encountered an internal error",
        ),
    };
    render(status, code, message)
}

/// Sends a Content-Length for the whole body but only its first half, then fails the stream so
/// the server cuts the connection: what a client sees when a proxy dies mid-response.
async fn truncate(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => Bytes::new(),
    };
    let full = bytes.len();
    let half = bytes.slice(0..full / 2);
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected truncation",
        )),
    ];
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full));
    Response::from_parts(parts, Body::from_stream(futures::stream::iter(chunks)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let spec: FaultSpec =
            "429=0.02,5xx=0.05,timeout=0.01,truncate=0.01,token-expiry=60s,transcode=0.3"
                .parse()
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            spec.rates,
            vec![
                (FaultKind::TooManyRequests, 0.02),
                (FaultKind::ServerError, 0.05),
                (FaultKind::Timeout, 0.01),
                (FaultKind::Truncate, 0.01)
            ]
        );
        assert_eq!(spec.token_expiry, Some(Duration::from_secs(60)));
        assert_eq!(spec.transcode_rate, 0.3);
        assert_eq!("".parse::<FaultSpec>(), Ok(FaultSpec::default()));
    }

    #[test]
    fn bad_parts_are_named() {
        for (spec, part) in [
            ("429=0.1,bogus=0.2", "bogus=0.2"),
            ("429", "429"),
            ("5xx=1.5", "5xx=1.5"),
            ("timeout=abc", "timeout=abc"),
            ("token-expiry=soon", "token-expiry=soon"),
            ("hang=0s", "hang=0s"),
        ] {
            let err = spec.parse::<FaultSpec>().unwrap_err();
            assert_eq!(err.part, part, "{spec}");
            assert!(err.to_string().contains(part));
        }
        assert!("429=0.6,5xx=0.6".parse::<FaultSpec>().is_err());
    }

    #[test]
    fn malformed_conversations_are_chosen_by_id_and_seed_the_same_every_time() {
        let spec: FaultSpec = "malformed=0.25".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.malformed_rate, 0.25);
        assert!(spec.rates.is_empty(), "no per-request fault");
        assert!("malformed=2".parse::<FaultSpec>().is_err());
        let faults = Faults::new(spec.clone(), 3);
        let ids: Vec<uuid::Uuid> = (0..4000u128).map(uuid::Uuid::from_u128).collect();
        let picks: Vec<_> = ids.iter().map(|id| faults.malforms(*id)).collect();
        // The same conversations in every answer, and for another simulator of the same seed.
        let again = Faults::new(spec.clone(), 3);
        assert!(
            ids.iter()
                .zip(&picks)
                .all(|(id, p)| again.malforms(*id) == *p)
        );
        let count = |m: Malformation| picks.iter().filter(|p| **p == Some(m)).count();
        let (bad_id, unparsable) = (
            count(Malformation::InvalidId),
            count(Malformation::Unparsable),
        );
        assert!(
            (800..1200).contains(&(bad_id + unparsable)),
            "{bad_id} {unparsable}"
        );
        assert!(bad_id > 300 && unparsable > 300, "{bad_id} {unparsable}");
        assert_eq!(Faults::none().malforms(ids[0]), None);

        let mut value = serde_json::json!({"conversationId": "5b3c2f4e-1d2a-4f6b-9a8c-0e1f2a3b4c5d", "participants": []});
        Malformation::InvalidId.apply(&mut value);
        assert_eq!(
            value["conversationId"],
            "conv#5b3c2f4e1d2a4f6b9a8c0e1f2a3b4c5d"
        );
        Malformation::Unparsable.apply(&mut value);
        assert_eq!(value["participants"], "garbled");
    }

    #[test]
    fn forbidden_restorations_are_chosen_by_recording_and_seed() {
        let spec: FaultSpec = "restore-forbidden=0.5"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.restore_forbidden_rate, 0.5);
        assert!(spec.rates.is_empty(), "no per-request fault");
        assert!("restore-forbidden=1.5".parse::<FaultSpec>().is_err());
        let ids: Vec<uuid::Uuid> = (0..2000u128).map(uuid::Uuid::from_u128).collect();
        let faults = Faults::new(spec.clone(), 5);
        let again = Faults::new(spec, 5);
        let picked: Vec<bool> = ids.iter().map(|id| faults.forbids_restore(*id)).collect();
        assert!(
            ids.iter()
                .zip(&picked)
                .all(|(id, p)| again.forbids_restore(*id) == *p)
        );
        let forbidden = picked.iter().filter(|p| **p).count();
        assert!((800..1200).contains(&forbidden), "{forbidden}");
        let all = Faults::new(
            "restore-forbidden=1"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
            5,
        );
        assert!(ids.iter().all(|id| all.forbids_restore(*id)));
        assert!(!Faults::none().forbids_restore(ids[0]));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), None);
    }

    #[test]
    fn rolls_are_seeded_and_close_to_the_rates() {
        let spec: FaultSpec = "429=0.1,5xx=0.2".parse().unwrap_or_else(|e| panic!("{e}"));
        let draw = |seed| {
            let faults = Faults::new(spec.clone(), seed);
            (0..10_000)
                .map(|_| faults.next_request_fault())
                .collect::<Vec<_>>()
        };
        let a = draw(1);
        assert_eq!(a, draw(1));
        assert_ne!(a, draw(2));
        let throttles = a
            .iter()
            .filter(|f| **f == Some(FaultKind::TooManyRequests))
            .count();
        let errors = a
            .iter()
            .filter(|f| matches!(f, Some(FaultKind::Status(500 | 502 | 503 | 504))))
            .count();
        assert!((800..1200).contains(&throttles), "{throttles}");
        assert!((1700..2300).contains(&errors), "{errors}");
    }

    #[test]
    fn forced_faults_come_first_and_run_out() {
        let faults = Faults::none();
        faults.force(FaultKind::Status(503), 2);
        faults.force(FaultKind::Transcode, 1);
        assert_eq!(faults.next_request_fault(), Some(FaultKind::Status(503)));
        assert_eq!(faults.next_request_fault(), Some(FaultKind::Status(503)));
        assert_eq!(faults.next_request_fault(), None);
        assert!(faults.roll_transcode());
        assert!(!faults.roll_transcode());
    }

    #[test]
    fn a_burst_hits_only_its_service_and_ends() {
        let faults = Faults::none();
        faults.burst(
            Some(Service::Das),
            FaultKind::Status(503),
            Duration::from_millis(200),
        );
        assert_eq!(
            faults.fault_for(Some(Service::Das)),
            Some(FaultKind::Status(503))
        );
        assert_eq!(faults.fault_for(Some(Service::Capture)), None);
        assert_eq!(faults.fault_for(Some(Service::Genesys)), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(faults.fault_for(Some(Service::Das)), None);

        faults.burst(None, FaultKind::TooManyRequests, Duration::from_secs(60));
        assert_eq!(
            faults.fault_for(Some(Service::Genesys)),
            Some(FaultKind::TooManyRequests)
        );
        assert_eq!(faults.injected(), 2);
        faults.clear_forced();
        assert_eq!(faults.fault_for(Some(Service::Genesys)), None);
    }
}

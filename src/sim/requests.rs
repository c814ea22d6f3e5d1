//! Ground truth for tests: the requests a simulator received, per route and per conversation a
//! request named (a `conversations/{id}` or `interactions/{id}` path segment, or the `id` list
//! of a lookup by ids), faulted ones included. Served as `GET /sim/requests`; bounded by the
//! routes and the dataset's conversations, not by the number of requests.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Path segments after which a UUID names a conversation.
const CONVERSATION_COLLECTIONS: [&str; 2] = ["conversations", "interactions"];

/// What `GET /sim/requests` answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// Requests per route: method and path, each UUID segment written `{id}`
    /// (e.g. `GET /api/v2/conversations/{id}/recordings`).
    pub routes: BTreeMap<String, u64>,
    /// Per conversation id named: requests per route.
    pub conversations: BTreeMap<Uuid, BTreeMap<String, u64>>,
}

impl RequestCounts {
    /// Requests of `route` that named `conversation`.
    pub fn of(&self, conversation: Uuid, route: &str) -> u64 {
        self.conversations
            .get(&conversation)
            .and_then(|routes| routes.get(route))
            .copied()
            .unwrap_or(0)
    }

    /// Adds `other`'s counts (another simulator's, e.g. another org's).
    pub fn merge(&mut self, other: RequestCounts) {
        for (route, count) in other.routes {
            *self.routes.entry(route).or_default() += count;
        }
        for (id, routes) in other.conversations {
            let mine = self.conversations.entry(id).or_default();
            for (route, count) in routes {
                *mine.entry(route).or_default() += count;
            }
        }
    }

    /// Every conversation some request of `route` named.
    pub fn named_by(&self, route: &str) -> Vec<Uuid> {
        self.conversations
            .iter()
            .filter(|(_, routes)| routes.contains_key(route))
            .map(|(id, _)| *id)
            .collect()
    }
}

/// A simulator's request log.
#[derive(Debug, Default)]
pub struct RequestLog {
    counts: Mutex<RequestCounts>,
}

impl RequestLog {
    /// Counts one request.
    pub fn note(&self, method: &str, path: &str, query: Option<&str>) {
        let segments: Vec<&str> = path.split('/').collect();
        let mut named = Vec::new();
        let template: Vec<&str> = segments
            .iter()
            .enumerate()
            .map(|(i, segment)| match Uuid::parse_str(segment) {
                Ok(id) => {
                    if i > 0 && CONVERSATION_COLLECTIONS.contains(&segments[i - 1]) {
                        named.push(id);
                    }
                    "{id}"
                }
                Err(_) => segment,
            })
            .collect();
        if let Some(query) = query {
            for list in query.split('&').filter_map(|pair| pair.strip_prefix("id=")) {
                let list = list.replace("%2C", ",").replace("%2c", ",");
                named.extend(
                    list.split(',')
                        .filter_map(|id| Uuid::parse_str(id.trim()).ok()),
                );
            }
        }
        named.sort_unstable();
        named.dedup();
        let route = format!("{method} {}", template.join("/"));
        let mut counts = self.counts.lock();
        *counts.routes.entry(route.clone()).or_default() += 1;
        for id in named {
            *counts
                .conversations
                .entry(id)
                .or_default()
                .entry(route.clone())
                .or_default() += 1;
        }
    }

    /// What was received so far.
    pub fn snapshot(&self) -> RequestCounts {
        self.counts.lock().clone()
    }
}

/// Middleware counting every request in the log.
pub async fn record_requests(
    State(log): State<Arc<RequestLog>>,
    request: Request,
    next: Next,
) -> Response {
    let uri = request.uri();
    log.note(request.method().as_str(), uri.path(), uri.query());
    next.run(request).await
}

/// `GET /sim/requests`.
pub async fn serve_requests(State(log): State<Arc<RequestLog>>) -> Response {
    Json(log.snapshot()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_per_route_and_per_named_conversation() {
        let (a, b, r) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(9));
        let log = RequestLog::default();
        log.note(
            "GET",
            &format!("/api/v2/conversations/{a}/recordings/{r}"),
            None,
        );
        log.note(
            "GET",
            "/api/v2/analytics/conversations/details",
            Some(&format!("id={a}%2C{b}")),
        );
        log.note(
            "GET",
            "/api/v2/analytics/conversations/details",
            Some(&format!("id={b}")),
        );
        log.note(
            "PUT",
            &format!("/api/v1/tenants/demo/interactions/{b}"),
            None,
        );
        log.note(
            "POST",
            "/api/v2/analytics/conversations/details/query",
            None,
        );
        let counts = log.snapshot();
        assert_eq!(
            counts.of(a, "GET /api/v2/conversations/{id}/recordings/{id}"),
            1
        );
        assert_eq!(
            counts.of(b, "GET /api/v2/analytics/conversations/details"),
            2
        );
        assert_eq!(
            counts.of(b, "PUT /api/v1/tenants/demo/interactions/{id}"),
            1
        );
        assert_eq!(
            counts.routes["GET /api/v2/analytics/conversations/details"],
            2
        );
        assert_eq!(
            counts.routes["POST /api/v2/analytics/conversations/details/query"],
            1
        );
        // A recording id is no conversation.
        assert!(!counts.conversations.contains_key(&r));
    }
}

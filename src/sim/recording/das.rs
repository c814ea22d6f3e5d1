//! The DAS simulator: `GET /api/v1/tenants/{tenant}/contacts` with cursor paging, plus
//! `POST /oauth/token`.
//!
//! Its wire types are its own, written from design.md section 8 (never the client's), so a
//! field the client and the contract spell differently fails the client's tests.

use std::ops::Bound;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jiff::Timestamp;
use serde::Serialize;
use tokio::time::Instant;
use uuid::Uuid;

use super::{RecordingStore, SimRequestKind, error_response, service_routes};
use crate::api::MediaType;
use crate::sim::faults::Service;

/// Largest `limit` the contract allows.
const MAX_PAGE_SIZE: usize = 1000;
/// `source` of every contact recorded from Genesys Cloud.
const GENESYS_SOURCE: &str = "genesys-cloud";

/// A contacts page: `{"contacts":[...],"nextCursor":null|"..."}`.
#[derive(Debug, Serialize)]
struct ContactsPage {
    #[serde(rename = "contacts")]
    contacts: Vec<WireContact>,
    #[serde(rename = "nextCursor")]
    next_cursor: Option<String>,
}

/// One contact: `{"contactId","externalId","source":"genesys-cloud","mediaType","messageType",
/// "startTime","endTime","sessionIds":[...]}`, every field always present (`null` when absent).
#[derive(Debug, Serialize)]
struct WireContact {
    #[serde(rename = "contactId")]
    contact_id: String,
    #[serde(rename = "externalId")]
    external_id: String,
    #[serde(rename = "source")]
    source: &'static str,
    #[serde(rename = "mediaType")]
    media_type: &'static str,
    #[serde(rename = "messageType")]
    message_type: Option<String>,
    #[serde(rename = "startTime")]
    start_time: String,
    #[serde(rename = "endTime")]
    end_time: Option<String>,
    #[serde(rename = "sessionIds")]
    session_ids: Vec<String>,
}

/// The DAS simulator's routes over `store`.
pub fn das_router(store: Arc<RecordingStore>) -> Router {
    let api = Router::new().route("/api/v1/tenants/{tenant}/contacts", get(contacts));
    service_routes(&store, Service::Das, api).with_state(store)
}

/// A 400: (error code, message naming the parameter).
type QueryError = (&'static str, String);

fn bad_parameter(message: String) -> QueryError {
    ("invalid.parameter", message)
}

/// The parsed contacts query.
struct ContactsQuery {
    from: Timestamp,
    to: Timestamp,
    media_types: Vec<MediaType>,
    limit: usize,
    after: Option<(i128, Uuid)>,
}

fn parse_query(pairs: Vec<(String, String)>) -> Result<ContactsQuery, QueryError> {
    let (mut from, mut to, mut limit, mut after) = (None, None, MAX_PAGE_SIZE, None);
    let mut media_types = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "from" | "to" => {
                let parsed: Timestamp = value.parse().map_err(|_| {
                    bad_parameter(format!("{key}: not an RFC 3339 timestamp: {value}"))
                })?;
                if key == "from" {
                    from = Some(parsed);
                } else {
                    to = Some(parsed);
                }
            }
            "mediaType" => media_types.push(match value.as_str() {
                "chat" => MediaType::Chat,
                "email" => MediaType::Email,
                "social" => MediaType::Social,
                _ => {
                    return Err(bad_parameter(format!(
                        "mediaType: expected chat, email or social, got {value}"
                    )));
                }
            }),
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|l| (1..=MAX_PAGE_SIZE).contains(l))
                    .ok_or_else(|| {
                        bad_parameter(format!("limit: expected 1..={MAX_PAGE_SIZE}, got {value}"))
                    })?;
            }
            "cursor" => {
                after = Some(
                    decode_cursor(&value)
                        .ok_or(("invalid.cursor", "cursor: unknown cursor".to_string()))?,
                );
            }
            // Unknown parameters are ignored, as the contract says of unknown fields.
            _ => {}
        }
    }
    let from = from.ok_or_else(|| bad_parameter("from: required".into()))?;
    let to = to.ok_or_else(|| bad_parameter("to: required".into()))?;
    if from >= to {
        return Err(bad_parameter("to: must be after from".into()));
    }
    Ok(ContactsQuery {
        from,
        to,
        media_types,
        limit,
        after,
    })
}

/// Cursors are opaque to clients: the paging key of the last contact sent.
fn encode_cursor(key: (i128, Uuid)) -> String {
    hex::encode(format!("{}/{}", key.0, key.1))
}

fn decode_cursor(cursor: &str) -> Option<(i128, Uuid)> {
    let text = String::from_utf8(hex::decode(cursor).ok()?).ok()?;
    let (nanos, id) = text.split_once('/')?;
    Some((nanos.parse().ok()?, id.parse().ok()?))
}

async fn contacts(
    State(store): State<Arc<RecordingStore>>,
    Path(tenant): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    if tenant != store.config().tenant {
        return error_response(StatusCode::NOT_FOUND, "not.found", "unknown tenant");
    }
    let parsed = match query {
        Ok(Query(pairs)) => parse_query(pairs),
        Err(err) => Err(bad_parameter(format!("query: {err}"))),
    };
    let query = match parsed {
        Ok(query) => query,
        Err((code, message)) => {
            return error_response(StatusCode::BAD_REQUEST, code, &message);
        }
    };
    let now = Instant::now();
    let inner = store.lock();
    let lower = match query.after {
        Some(key) => Bound::Excluded(key),
        None => Bound::Included((query.from.as_nanosecond(), Uuid::nil())),
    };
    let upper = query.to.as_nanosecond();
    let mut page = Vec::with_capacity(query.limit.min(64));
    let mut next_cursor = None;
    for key in inner.by_start.range((lower, Bound::Unbounded)) {
        if key.0 >= upper {
            break;
        }
        if key.0 < query.from.as_nanosecond() {
            continue;
        }
        let Some(contact) = inner.contacts.get(&key.1) else {
            continue;
        };
        if !query.media_types.is_empty() && !query.media_types.contains(&contact.media_type) {
            continue;
        }
        let Some(sessions) = contact.visible_sessions(now) else {
            continue;
        };
        if page.len() == query.limit {
            // One more matching contact exists: hand out a cursor to the last one sent.
            next_cursor = page
                .last()
                .map(|(key, _): &((i128, Uuid), WireContact)| encode_cursor(*key));
            break;
        }
        page.push((
            *key,
            WireContact {
                contact_id: contact.contact_id.clone(),
                external_id: key.1.to_string(),
                source: GENESYS_SOURCE,
                media_type: contact.media_type.as_str(),
                message_type: contact.message_type.clone(),
                start_time: contact.start.to_string(),
                end_time: contact.end.map(|e| e.to_string()),
                session_ids: sessions.to_vec(),
            },
        ));
    }
    drop(inner);
    store.timeline.note(SimRequestKind::DasContacts {
        from: query.from,
        to: query.to,
        cursor: query.after.is_some(),
        returned: page.len(),
    });
    let contacts = page.into_iter().map(|(_, c)| c).collect();
    Json(ContactsPage {
        contacts,
        next_cursor,
    })
    .into_response()
}

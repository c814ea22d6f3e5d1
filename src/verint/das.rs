//! Data Access Services client: the contacts the recording side holds, page by page.
//!
//! `GET {dasUrl}/api/v1/tenants/{tenant}/contacts?from&to&mediaType=..&limit&cursor` ->
//! `{"contacts":[..],"nextCursor":null|".."}`. Pages are streamed: the caller folds each page into
//! the matcher's index and drops it, so memory never holds the whole inventory.

use futures::StreamExt;
use futures::stream::BoxStream;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{RecordingSideError, endpoint, parse_error_body};
use crate::api::{MediaType, Window};
use crate::http::ApiTransport;
use crate::pipeline::matcher::ContactRecord;

/// Largest page the contract allows.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// `source` of every contact recorded from Genesys Cloud.
pub const GENESYS_SOURCE: &str = "genesys-cloud";

/// One contact as DAS returns it. Every field is optional on the wire so that one odd contact
/// is reported by the matcher instead of failing its page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// The recording side's id.
    #[serde(default)]
    pub contact_id: String,
    /// The Genesys conversation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Where it was recorded from (`genesys-cloud`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `chat`, `email` or `social`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Genesys message type for social contacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// RFC 3339 start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// RFC 3339 end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// Genesys session ids held.
    #[serde(default)]
    pub session_ids: Vec<String>,
}

impl Contact {
    /// The start time, if present and valid RFC 3339.
    pub fn start(&self) -> Option<Timestamp> {
        self.start_time.as_deref()?.parse().ok()
    }

    /// The view the matcher indexes.
    pub fn record(&self) -> ContactRecord<'_> {
        ContactRecord {
            contact_id: &self.contact_id,
            external_id: self.external_id.as_deref(),
            start_time: self.start(),
            session_ids: &self.session_ids,
            media_type: self.media_type.as_deref().and_then(MediaType::from_name),
        }
    }
}

/// A contacts page on the wire. `contacts` entries are kept raw first so that one entry of the
/// wrong shape fails alone.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePage {
    #[serde(default)]
    contacts: Vec<serde_json::Value>,
    #[serde(default)]
    next_cursor: Option<String>,
}

/// A contact entry that is not a contact object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidContact {
    /// Its position in the page.
    pub position: usize,
    /// Why it was refused.
    pub reason: String,
}

/// One page of contacts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactPage {
    /// Contacts of the page.
    pub contacts: Vec<Contact>,
    /// Entries that were not contacts (each fails alone).
    pub invalid: Vec<InvalidContact>,
}

/// What to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactQuery {
    /// Contacts whose startTime lies in [start, end) (already widened by the caller).
    pub range: Window,
    /// Media types; empty means every type.
    pub media_types: Vec<MediaType>,
    /// Page size, 1..=1000.
    pub limit: u32,
}

impl ContactQuery {
    /// Every contact of `media_types` starting in `range`, in pages of 1000.
    pub fn new(range: Window, media_types: Vec<MediaType>) -> Self {
        ContactQuery {
            range,
            media_types,
            limit: MAX_PAGE_SIZE,
        }
    }
}

/// Client of one tenant's DAS contacts API.
#[derive(Clone, Debug)]
pub struct DasClient {
    transport: ApiTransport,
    contacts_url: reqwest::Url,
}

impl DasClient {
    /// A client of `{das_url}/api/v1/tenants/{tenant}`.
    pub fn new(
        transport: ApiTransport,
        das_url: &str,
        tenant: &str,
    ) -> Result<Self, RecordingSideError> {
        let contacts_url = endpoint(das_url, &["api", "v1", "tenants", tenant, "contacts"])?;
        Ok(DasClient {
            transport,
            contacts_url,
        })
    }

    /// Streams the contacts pages of `query`, following `nextCursor` until it is null. The
    /// stream ends after the first error. Boxed, so callers can `try_next()` on it directly.
    pub fn contact_pages(
        &self,
        query: ContactQuery,
    ) -> BoxStream<'static, Result<ContactPage, RecordingSideError>> {
        let client = self.clone();
        // State: the cursor of the next page; `None` once the last page was read.
        futures::stream::try_unfold(Some(None::<String>), move |cursor| {
            let client = client.clone();
            let query = query.clone();
            async move {
                let Some(cursor) = cursor else {
                    return Ok(None);
                };
                let (page, next) = client.page(&query, cursor.as_deref()).await?;
                if next.is_some() && next == cursor {
                    return Err(RecordingSideError::Malformed {
                        endpoint: client.contacts_url.to_string(),
                        reason: "nextCursor repeats the cursor just sent (paging would loop)"
                            .to_string(),
                    });
                }
                Ok(Some((page, next.map(Some))))
            }
        })
        .boxed()
    }

    /// One page: the contacts and the next cursor.
    pub async fn page(
        &self,
        query: &ContactQuery,
        cursor: Option<&str>,
    ) -> Result<(ContactPage, Option<String>), RecordingSideError> {
        let mut params: Vec<(&str, String)> = vec![
            ("from", query.range.start.to_string()),
            ("to", query.range.end.to_string()),
        ];
        for media_type in &query.media_types {
            params.push(("mediaType", media_type.as_str().to_string()));
        }
        params.push(("limit", query.limit.clamp(1, MAX_PAGE_SIZE).to_string()));
        if let Some(cursor) = cursor {
            params.push(("cursor", cursor.to_string()));
        }
        let endpoint = self.contacts_url.as_str();
        let response = self
            .transport
            .send(endpoint, |http| {
                http.get(self.contacts_url.clone()).query(&params)
            })
            .await?;
        if !response.status.is_success() {
            let (code, message) = parse_error_body(&response.body);
            return Err(RecordingSideError::Api {
                endpoint: endpoint.to_string(),
                status: response.status.as_u16(),
                code,
                message,
            });
        }
        parse_page(endpoint, &response.body)
    }
}

/// Parses a successful contacts response body: the page (each entry a contact or an invalid
/// entry) and the next cursor (an empty cursor is none). `endpoint` only names the source in
/// errors. Public so that it can be fuzzed.
pub fn parse_page(
    endpoint: &str,
    body: &[u8],
) -> Result<(ContactPage, Option<String>), RecordingSideError> {
    let wire: WirePage =
        serde_json::from_slice(body).map_err(|err| RecordingSideError::Malformed {
            endpoint: endpoint.to_string(),
            reason: err.to_string(),
        })?;
    let mut page = ContactPage {
        contacts: Vec::with_capacity(wire.contacts.len()),
        invalid: Vec::new(),
    };
    for (position, raw) in wire.contacts.into_iter().enumerate() {
        match serde_json::from_value::<Contact>(raw) {
            Ok(contact) => page.contacts.push(contact),
            Err(err) => page.invalid.push(InvalidContact {
                position,
                reason: err.to_string(),
            }),
        }
    }
    Ok((page, wire.next_cursor.filter(|c| !c.is_empty())))
}

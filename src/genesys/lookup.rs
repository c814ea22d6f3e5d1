//! Conversations by id: `GET /api/v2/analytics/conversations/details?id=a,b,c`
//! (genesys-api.md 2.6), for a re-drive that names its conversations. One call answers up to
//! [`IDS_PER_LOOKUP`] ids whatever their dates; a query with `conversationId` predicates would
//! also need an interval and paging, and could not tell an unknown id from one outside it.

use http::Method;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::analytics::parse_conversation_json;
use super::{Conversation, GenesysClient, GenesysError};

/// Ids per lookup: the detail query's page size, and a URL of about 3.7 KB (100 UUIDs and
/// their commas), well inside what proxies and the API gateway accept.
pub const IDS_PER_LOOKUP: usize = 100;

const LOOKUP_ENDPOINT: &str = "GET /api/v2/analytics/conversations/details";

/// The answer: `{conversations:[...]}`; an empty one may be `{}` (as for empty query pages).
#[derive(Deserialize)]
struct LookupPage {
    #[serde(default)]
    conversations: Vec<Box<RawValue>>,
}

impl GenesysClient {
    /// The conversations Genesys knows among `ids` (at most [`IDS_PER_LOOKUP`]; callers batch),
    /// open ones included. An id Genesys does not know is simply absent from the answer; a
    /// conversation that cannot be parsed is one `Err` item.
    pub async fn conversations_by_id(
        &self,
        ids: &[String],
    ) -> Result<Vec<Result<Conversation, GenesysError>>, GenesysError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (_, page): (_, LookupPage) = self
            .send_json(
                Method::GET,
                "/api/v2/analytics/conversations/details",
                &[("id", ids.join(","))],
                None,
            )
            .await?;
        Ok(page
            .conversations
            .iter()
            .map(|text| parse_conversation_json(LOOKUP_ENDPOINT, text.get()))
            .collect())
    }
}

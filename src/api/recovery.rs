//! `DigitalRecovery`: one recovery of one tenant's text interactions for one time window.

use jiff::Timestamp;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What to recover: a tenant, a Genesys Cloud organisation, the recording side to compare it with,
/// a time window and the media types to look at.
#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "recovery.cxops.io",
    version = "v1alpha1",
    kind = "DigitalRecovery",
    namespaced,
    shortname = "dr",
    category = "recovery",
    status = "DigitalRecoveryStatus",
    printcolumn = r#"{"name":"Tenant","type":"string","jsonPath":".spec.tenant"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Missing","type":"integer","jsonPath":".status.match.missing"}"#,
    printcolumn = r#"{"name":"Recovered","type":"integer","jsonPath":".status.progress.recovered"}"#,
    printcolumn = r#"{"name":"Verified","type":"integer","jsonPath":".status.progress.verified"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","jsonPath":".status.progress.failed"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DigitalRecoverySpec {
    /// Tenant of the recording side whose contacts are compared and into which missing
    /// interactions are ingested.
    pub tenant: String,
    /// The Genesys Cloud CX organisation to read conversations and transcripts from.
    pub genesys: GenesysSpec,
    /// The recording side: Data Access Services (what is held) and Interaction Capture (ingestion).
    pub recording_side: RecordingSideSpec,
    /// The time window to recover. A conversation belongs to it when its start lies in [start, end).
    pub window: Window,
    /// Text media types to recover.
    pub media_types: Vec<MediaType>,
    /// Recover ingests missing interactions; DryRun only matches and reports.
    #[serde(default)]
    pub mode: Mode,
    /// Number of worker shards; each owns a contiguous slice of the window.
    #[serde(default = "default_parallelism")]
    pub parallelism: u32,
    /// Conversations that ended less than this long ago are skipped as not yet settled
    /// (a duration such as `30m` or `2h`).
    #[serde(default = "default_settle_delay")]
    pub settle_delay: String,
    /// Set to true to stop a running recovery. One-way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel: bool,
}

fn default_parallelism() -> u32 {
    1
}

fn default_settle_delay() -> String {
    "30m".to_string()
}

/// Where Genesys Cloud is and how to authenticate against it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GenesysSpec {
    /// Region domain, e.g. `mypurecloud.ie`. Exactly one of region or apiBaseUrl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Explicit API base URL (a proxy or the simulator); the token is requested from
    /// `{apiBaseUrl}/oauth/token`. Exactly one of region or apiBaseUrl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// Name of the Secret holding the OAuth client's `clientId` and `clientSecret`.
    pub credentials_secret: String,
    /// Only conversations of these divisions; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub division_ids: Vec<String>,
    /// Request budget per worker token and minute (Genesys' per-token limit is 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
}

/// The recording side's APIs.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RecordingSideSpec {
    /// Base URL of the Data Access Services API.
    pub das_url: String,
    /// Base URL of the Interaction Capture service.
    pub capture_url: String,
    /// Name of the Secret holding `clientId` and `clientSecret` for both services.
    pub credentials_secret: String,
}

/// A half-open time window [start, end).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct Window {
    /// Inclusive start (RFC 3339).
    #[schemars(with = "String")]
    pub start: Timestamp,
    /// Exclusive end (RFC 3339).
    #[schemars(with = "String")]
    pub end: Timestamp,
}

/// A text media type as the recording side names it.
#[derive(
    Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    /// Genesys legacy web chat (`mediaType: chat`).
    Chat,
    /// Genesys ACD email (`mediaType: email`).
    Email,
    /// Genesys messaging (`mediaType: message`): SMS, WhatsApp, Facebook, web messaging, ...
    Social,
}

impl MediaType {
    /// Every media type, in a stable order.
    pub const ALL: [MediaType; 3] = [MediaType::Chat, MediaType::Email, MediaType::Social];

    /// The Genesys analytics `mediaType` value for this media type.
    pub fn genesys_media_type(self) -> &'static str {
        match self {
            MediaType::Chat => "chat",
            MediaType::Email => "email",
            MediaType::Social => "message",
        }
    }

    /// The media type for a Genesys analytics `mediaType`, if it is a text type we recover.
    pub fn from_genesys(media_type: &str) -> Option<Self> {
        match media_type {
            "chat" => Some(MediaType::Chat),
            "email" => Some(MediaType::Email),
            "message" => Some(MediaType::Social),
            _ => None,
        }
    }

    /// Lower-case name as used in specs, DAS and Capture.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Chat => "chat",
            MediaType::Email => "email",
            MediaType::Social => "social",
        }
    }
}

impl std::fmt::Display for MediaType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a recovery changes anything.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum Mode {
    /// Ingest missing interactions and verify them.
    #[default]
    Recover,
    /// Match and report only; nothing is ingested.
    DryRun,
}

/// Observed state of a DigitalRecovery.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DigitalRecoveryStatus {
    /// Pending, Running, Succeeded, PartiallySucceeded, Failed or Cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the first worker started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When the recovery reached a final phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
    /// Totals of the comparison between Genesys and the recording side.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_counts: Option<MatchCounts>,
    /// Totals of the recovery of missing interactions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// API calls made, by service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_calls: Option<ApiCalls>,
}

/// Phase of a recovery.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum Phase {
    /// Accepted, no worker has started yet.
    Pending,
    /// Workers are running.
    Running,
    /// Every missing interaction was recovered and verified.
    Succeeded,
    /// Finished, but some interactions failed or could not be verified.
    PartiallySucceeded,
    /// The recovery could not run to the end.
    Failed,
    /// Stopped on request.
    Cancelled,
}

/// Result of matching Genesys conversations against recording-side contacts.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MatchCounts {
    /// Completed conversations Genesys returned for the window.
    pub genesys: u64,
    /// Contacts the recording side holds for the window.
    pub recording_side: u64,
    /// Conversations the recording side holds in full.
    pub matched: u64,
    /// Conversations the recording side lacks entirely.
    pub missing: u64,
    /// Conversations the recording side holds only some text sessions of.
    pub partial: u64,
    /// Conversations not considered (not settled, media type not requested, not recorded).
    pub skipped: u64,
    /// Recording-side contacts with no Genesys conversation (reported, never touched).
    pub extra: u64,
}

/// Progress of recovering the missing and partial conversations.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Missing plus partial conversations with a text recording.
    pub to_recover: u64,
    /// Accepted by Interaction Capture.
    pub recovered: u64,
    /// Seen in DAS after ingestion.
    pub verified: u64,
    /// Could not be recovered (the report says why).
    pub failed: u64,
    /// Not finished yet.
    pub pending: u64,
}

/// API calls made, by service.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiCalls {
    /// Calls to Genesys Cloud.
    pub genesys: u64,
    /// Calls to Data Access Services.
    pub das: u64,
    /// Calls to Interaction Capture.
    pub capture: u64,
}

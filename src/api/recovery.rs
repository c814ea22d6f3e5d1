//! `DigitalRecovery`: one recovery of one tenant's text interactions for one time window.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
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
    printcolumn = r#"{"name":"Queued","type":"integer","description":"Position in the admission queue while waiting to start","jsonPath":".status.queuePosition"}"#,
    printcolumn = r#"{"name":"Missing","type":"integer","jsonPath":".status.match.missing"}"#,
    printcolumn = r#"{"name":"Recovered","type":"integer","jsonPath":".status.progress.recovered"}"#,
    printcolumn = r#"{"name":"Verified","type":"integer","jsonPath":".status.progress.verified"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","jsonPath":".status.progress.failed"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    doc = "One recovery of one tenant's missing Genesys Cloud text interactions (chat, email, social messaging) for one time window."
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    message_types_need_social("mediaTypes"),
    {"rule": "(has(self.conversationIds) ? 1 : 0) + (has(self.conversationIdsFrom) ? 1 : 0) + (has(self.retryOf) ? 1 : 0) <= 1",
     "message": "set at most one of conversationIds, conversationIdsFrom and retryOf: each names the whole set of conversations to re-drive"},
    {"rule": "has(self.conversationIds) == has(oldSelf.conversationIds) && has(self.conversationIdsFrom) == has(oldSelf.conversationIdsFrom) && has(self.retryOf) == has(oldSelf.retryOf)",
     "message": "conversationIds, conversationIdsFrom and retryOf cannot be added or removed once the recovery exists; create a new DigitalRecovery instead"},
]))]
pub struct DigitalRecoverySpec {
    /// Tenant of the recording side whose contacts are compared and into which missing
    /// interactions are ingested. Immutable.
    #[schemars(length(min = 1, max = 63), extend("x-kubernetes-validations" = [
        {"rule": "self == oldSelf", "message": "tenant is immutable"},
        {"rule": "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')", "message": "tenant must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit"},
    ]))]
    pub tenant: String,
    /// The Genesys Cloud CX organisation to read conversations and transcripts from.
    /// Immutable.
    // Rules of nested structs live on the field: a field-level `extend` replaces the struct's.
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "has(self.region) != has(self.apiBaseUrl)", "message": "set exactly one of genesys.region and genesys.apiBaseUrl"},
        immutable("genesys"),
    ]))]
    pub genesys: GenesysSpec,
    /// The recording side: Data Access Services (what is held) and Interaction Capture
    /// (ingestion). Immutable.
    #[schemars(extend("x-kubernetes-validations" = [immutable("recordingSide")]))]
    pub recording_side: RecordingSideSpec,
    /// The time window to recover. A conversation belongs to it when its start lies in
    /// [start, end). At most 31 days. Immutable.
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.end > self.start", "message": "window.end must be after window.start"},
        {"rule": "self.end - self.start <= duration('744h')", "message": "window must span at most 31 days"},
        immutable("window"),
    ]))]
    pub window: Window,
    /// Text media types to recover: a non-empty set of `chat`, `email`, `social`. Immutable.
    #[schemars(extend(
        "maxItems" = 3,
        "x-kubernetes-list-type" = "set",
        "x-kubernetes-validations" = [
            {"rule": "size(self) > 0", "message": "mediaTypes must name at least one of chat, email, social"},
            immutable("mediaTypes"),
        ]
    ))]
    pub media_types: Vec<MediaType>,
    /// Narrows `social` to these Genesys messaging channels (`messageType`, lower case, e.g.
    /// `sms`, `whatsapp`, `facebook`); empty or absent means every channel. Needs `social` in
    /// `mediaTypes`. Immutable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend(
        "maxItems" = 32,
        "x-kubernetes-list-type" = "set",
        "items" = message_type_item("messageTypes"),
        "x-kubernetes-validations" = [immutable("messageTypes")]
    ))]
    pub message_types: Vec<String>,
    /// Recover ingests missing interactions and verifies them; DryRun only matches and
    /// reports. Immutable.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-validations" = [immutable("mode")]))]
    pub mode: Mode,
    /// Number of worker shards (1 to 64), or `auto` (the default): as many as the org's
    /// request budget feeds at the per-token rate (`orgRequestsPerMinute / requestsPerMinute`,
    /// 8 at the defaults), but no more than one per 1,000 conversations of the window (counted
    /// when the shards start; the Job's other indexes end at once, reason `NotNeeded`). Each
    /// shard owns a contiguous slice of the window, cut so that the shards hold about as many
    /// conversations each, and runs as one index of the recovery's Job. Immutable.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "type(self) == int ? (self >= 1 && self <= 64) : self == 'auto'", "message": "parallelism must be a number of shards between 1 and 64, or auto"},
        immutable("parallelism"),
    ]))]
    pub parallelism: Parallelism,
    /// Conversations that ended less than this long ago are skipped as not yet settled: a
    /// duration such as `30m`, `2h` or `1h30m` (units h, m, s, ms). Immutable.
    #[serde(default = "default_settle_delay")]
    #[schemars(extend("maxLength" = 32, "x-kubernetes-validations" = [
        {"rule": "self.matches('^([0-9]+(h|m|s|ms))+$')", "message": "settleDelay must be a duration such as 30m, 2h or 1h30m (units h, m, s, ms)"},
        immutable("settleDelay"),
    ]))]
    pub settle_delay: String,
    /// What to do when the Genesys recording of a conversation the recording side lacks is in
    /// Genesys' cloud archive: `Report` (the default) ends it not recovered with reason
    /// `archived` and the archive date; `Restore` asks Genesys to restore the recording (the
    /// OAuth client needs the `recording:recording:editRetention` permission), carries the
    /// conversation as `restoring`, and recovers it once the recording is RESTORED, in the same
    /// run or a later one. Immutable.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-validations" = [immutable("archivedRecordings")]))]
    pub archived_recordings: ArchivedRecordings,
    /// A conversation that started before this instant (RFC 3339) and would be carried over to
    /// a later run (not settled, still transcoding, unverified, failed in a way a later attempt
    /// may get past) ends final with reason `gaveUp` instead. A schedule sets it to the run's
    /// time minus its `giveUpAfter`; absent, nothing is given up. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", extend("format" = "date-time", "x-kubernetes-validations" = [immutable("giveUpBefore")]))]
    pub give_up_before: Option<Timestamp>,
    /// Set to true to stop a running recovery: its Job is deleted and the phase becomes
    /// Cancelled. One-way: it cannot be set back to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false, "x-kubernetes-validations" = [
        {"rule": "self || !oldSelf", "message": "cancel cannot be reverted once set to true"},
    ]))]
    pub cancel: bool,
    /// Settings of this recovery's worker pods that override the chart's defaults. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [immutable("worker")]))]
    pub worker: Option<WorkerSpec>,
    /// Re-drive exactly these Genesys conversation ids (UUIDs, at most 5000) instead of the
    /// whole window: only they are read from Genesys, matched, ingested and verified; the
    /// window then only bounds the recording-side lookups. Larger sets go in a ConfigMap
    /// (`conversationIdsFrom`). At most one of conversationIds, conversationIdsFrom and
    /// retryOf. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "conversation_ids_schema")]
    pub conversation_ids: Option<Vec<String>>,
    /// Re-drive the conversation ids listed in a ConfigMap of this namespace, one per line
    /// (the format of `digital-recovery report --output ids`; blank lines and lines starting
    /// with `#` are ignored). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [immutable("conversationIdsFrom")]))]
    pub conversation_ids_from: Option<ConversationIdsSource>,
    /// Re-drive what the named DigitalRecovery (of this namespace, finished) did not finish:
    /// the conversations its report lists as carried over or failed. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 253, "x-kubernetes-validations" = [
        {"rule": "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')", "message": "retryOf must be the name of a DigitalRecovery (DNS-1123 subdomain: lower-case letters, digits, '-' and '.')"},
        immutable("retryOf"),
    ]))]
    pub retry_of: Option<String>,
}

/// Most conversation ids `spec.conversationIds` may list.
pub const MAX_CONVERSATION_IDS: usize = 5000;

/// Where a re-drive's conversation ids are listed.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConversationIdsSource {
    /// Name of the ConfigMap (in the recovery's namespace).
    #[schemars(extend("maxLength" = 253, "x-kubernetes-validations" = [
        {"rule": "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')", "message": "conversationIdsFrom.configMapName must be a valid ConfigMap name (DNS-1123 subdomain: lower-case letters, digits, '-' and '.')"},
    ]))]
    pub config_map_name: String,
    /// The key (in `data` or `binaryData`) holding the ids; `ids` when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 253, "x-kubernetes-validations" = [
        {"rule": "self.matches('^[-._a-zA-Z0-9]+$')", "message": "conversationIdsFrom.key must be a ConfigMap key: letters, digits, '-', '_' and '.'"},
    ]))]
    pub key: Option<String>,
}

impl ConversationIdsSource {
    /// The key read when none is set.
    pub const DEFAULT_KEY: &'static str = "ids";

    /// The key holding the ids.
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or(Self::DEFAULT_KEY)
    }
}

/// Per-recovery settings of the worker pods.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSpec {
    /// Memory of each worker container, as a Kubernetes quantity such as `1Gi`: both its
    /// request and its limit (the chart's `worker.resources` otherwise). Raise it for a shard
    /// with millions of conversations; a worker over it is OOMKilled and the status says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 32, "x-kubernetes-validations" = [
        {"rule": "isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))", "message": "worker.memoryLimit must be a positive Kubernetes quantity such as 512Mi or 2Gi"},
    ]))]
    pub memory_limit: Option<String>,
}

// Helpers building the CEL rules (`x-kubernetes-validations`) of the schema.

fn immutable(field: &str) -> serde_json::Value {
    serde_json::json!({
        "rule": "self == oldSelf",
        "message": format!("{field} is immutable once the recovery exists (only cancel may change); create a new DigitalRecovery instead"),
    })
}

/// The schema of one `messageTypes` entry: a lower-case Genesys `messageType` value.
pub(super) fn message_type_item(field: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "string",
        "maxLength": 32,
        "x-kubernetes-validations": [{
            "rule": "self.matches('^[a-z][a-z0-9_-]*$')",
            "message": format!("{field} entries are Genesys messageType values in lower case, such as sms, whatsapp or facebook"),
        }],
    })
}

/// `messageTypes` only narrows `social`.
pub(super) fn message_types_need_social(media_types: &str) -> serde_json::Value {
    serde_json::json!({
        "rule": "!has(self.messageTypes) || size(self.messageTypes) == 0 || 'social' in self.mediaTypes",
        "message": format!("messageTypes narrows social messaging: add social to {media_types} or remove messageTypes"),
    })
}

/// `spec.conversationIds`: UUID strings, bounded so the object stays well below etcd's limit.
fn conversation_ids_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "maxItems": MAX_CONVERSATION_IDS,
        "items": {"type": "string", "format": "uuid", "maxLength": 36},
        "x-kubernetes-validations": [
            {"rule": "size(self) > 0", "message": "conversationIds must name at least one conversation (leave it out to recover the whole window)"},
            immutable("conversationIds"),
        ],
    })
}

fn url_rule(field: &str) -> serde_json::Value {
    serde_json::json!({
        "rule": "isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",
        "message": format!("{field} must be an absolute http or https URL"),
    })
}

fn secret_rule(field: &str) -> serde_json::Value {
    serde_json::json!({
        "rule": "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",
        "message": format!("{field} must be a valid Secret name (DNS-1123 subdomain: lower-case letters, digits, '-' and '.')"),
    })
}

fn region_rule() -> String {
    let list: Vec<String> = super::regions::region_domains()
        .map(|r| format!("'{r}'"))
        .collect();
    format!("self in [{}]", list.join(", "))
}

fn region_message() -> String {
    let list: Vec<&str> = super::regions::region_domains().collect();
    format!(
        "genesys.region must be one of the Genesys Cloud region domains: {}",
        list.join(", ")
    )
}

/// `spec.parallelism`: a number of shards, or `auto`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Parallelism {
    /// As many shards as the org's budget feeds at the per-token rate.
    #[default]
    Auto,
    /// This many.
    Shards(u32),
}

/// Genesys' documented per-token limit, the default of `requestsPerMinute`.
pub const DEFAULT_TOKEN_REQUESTS_PER_MINUTE: u32 = 300;
/// 80 % of Genesys' default limit of 3000 a minute per OAuth client: the rest is left to the
/// recording platform's own adapter, which uses the same org.
pub const DEFAULT_ORG_REQUESTS_PER_MINUTE: u32 = 2400;

impl GenesysSpec {
    /// The org's budget a minute, defaulted.
    pub fn org_budget(&self) -> u32 {
        self.org_requests_per_minute
            .unwrap_or(DEFAULT_ORG_REQUESTS_PER_MINUTE)
    }

    /// The per-token rate a minute, defaulted.
    pub fn token_budget(&self) -> u32 {
        self.requests_per_minute
            .unwrap_or(DEFAULT_TOKEN_REQUESTS_PER_MINUTE)
    }
}

impl DigitalRecoverySpec {
    /// The number of shards `parallelism` asks for (`auto` resolved from the budgets). A running
    /// recovery's Job may say otherwise (one created before `auto` existed): where a Job
    /// exists, its completions count.
    pub fn shards(&self) -> u32 {
        self.parallelism
            .resolve(self.genesys.org_budget(), self.genesys.token_budget())
    }
}

/// Most shards of one recovery.
pub const MAX_SHARDS: u32 = 64;

impl Parallelism {
    /// The number of shards for a recovery whose org budget and per-token rate are these.
    pub fn resolve(self, org_requests_per_minute: u32, token_requests_per_minute: u32) -> u32 {
        match self {
            Parallelism::Shards(n) => n,
            Parallelism::Auto => {
                (org_requests_per_minute / token_requests_per_minute.max(1)).clamp(1, MAX_SHARDS)
            }
        }
    }
}

impl Serialize for Parallelism {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Parallelism::Auto => serializer.serialize_str("auto"),
            Parallelism::Shards(n) => serializer.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Parallelism {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u32),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(Parallelism::Shards(n)),
            Raw::Text(t) if t == "auto" => Ok(Parallelism::Auto),
            Raw::Text(t) => Err(serde::de::Error::custom(format!(
                "parallelism must be a number of shards or \"auto\", not {t:?}"
            ))),
        }
    }
}

impl JsonSchema for Parallelism {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Parallelism".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "x-kubernetes-int-or-string": true,
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

fn default_settle_delay() -> String {
    "30m".to_string()
}

/// Where Genesys Cloud is and how to authenticate against it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GenesysSpec {
    /// Region domain, e.g. `mypurecloud.ie`: one of mypurecloud.com, use2.us-gov-pure.cloud,
    /// usw2.pure.cloud, cac1.pure.cloud, sae1.pure.cloud, mxc1.pure.cloud, mypurecloud.ie,
    /// euw2.pure.cloud, mypurecloud.de, euc2.pure.cloud, edee1.eusc-pure.cloud, mec1.pure.cloud,
    /// aps1.pure.cloud, mypurecloud.jp, apne2.pure.cloud, apne3.pure.cloud, apse1.pure.cloud,
    /// mypurecloud.com.au. Exactly one of region or apiBaseUrl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 64, "x-kubernetes-validations" = [
        {"rule": region_rule(), "message": region_message()},
    ]))]
    pub region: Option<String>,
    /// Explicit API base URL (a proxy or the simulator), http or https; the token is requested
    /// from `{apiBaseUrl}/oauth/token`. Exactly one of region or apiBaseUrl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 2048, "x-kubernetes-validations" = [url_rule("genesys.apiBaseUrl")]))]
    pub api_base_url: Option<String>,
    /// Name of the Secret (in the recovery's namespace) holding the OAuth client's `clientId`
    /// and `clientSecret`.
    #[schemars(extend("maxLength" = 253, "x-kubernetes-validations" = [secret_rule("genesys.credentialsSecret")]))]
    pub credentials_secret: String,
    /// Only conversations of these divisions (Genesys division ids); empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = 100))]
    pub division_ids: Vec<String>,
    /// Request budget per worker token and minute, 1 to 3000 (Genesys' per-token limit is 300,
    /// the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self >= 1 && self <= 3000", "message": "genesys.requestsPerMinute must be between 1 and 3000"},
    ]))]
    pub requests_per_minute: Option<u32>,
    /// Request budget of the whole Genesys org (this tenant) per minute, shared by every
    /// running recovery of the tenant: the controller divides it among their running shards
    /// (each still capped by `requestsPerMinute`). Default 2400, 80 % of Genesys' default
    /// limit of 3000 per OAuth client, leaving room for the recording platform's own adapter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self >= 1 && self <= 100000", "message": "genesys.orgRequestsPerMinute must be between 1 and 100000"},
    ]))]
    pub org_requests_per_minute: Option<u32>,
    /// Skip, without asking the recordings API, text conversations none of whose agent
    /// sessions carries the analytics `recording` flag. Off by default, and best left off:
    /// Genesys documents that flag as "an audio recording was started" and nothing says it is
    /// set on chat, email or messaging sessions, so trusting it can skip every text
    /// conversation of an org (skip reason `noRecordingFlag`). Turn it on only for an org where you have
    /// checked that the flag is set on text sessions; it saves one recordings call per
    /// conversation the recording side lacks and Genesys never recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub trust_recording_flag: bool,
}

/// The recording side's APIs.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RecordingSideSpec {
    /// Base URL (http or https) of the Data Access Services API.
    #[schemars(extend("maxLength" = 2048, "x-kubernetes-validations" = [url_rule("recordingSide.dasUrl")]))]
    pub das_url: String,
    /// Base URL (http or https) of the Interaction Capture service.
    #[schemars(extend("maxLength" = 2048, "x-kubernetes-validations" = [url_rule("recordingSide.captureUrl")]))]
    pub capture_url: String,
    /// Name of the Secret (in the recovery's namespace) holding `clientId` and `clientSecret`
    /// for both services.
    #[schemars(extend("maxLength" = 253, "x-kubernetes-validations" = [secret_rule("recordingSide.credentialsSecret")]))]
    pub credentials_secret: String,
    /// Requests a minute each worker may send to DAS, and as many to Capture (two budgets, so
    /// that Capture's back-pressure never holds DAS reads), 1 to 60000; unset: not paced. The
    /// token requests are not counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self >= 1 && self <= 60000", "message": "recordingSide.requestsPerMinute must be between 1 and 60000"},
    ]))]
    pub requests_per_minute: Option<u32>,
}

/// A half-open time window [start, end).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct Window {
    /// Inclusive start (RFC 3339, e.g. `2026-11-20T00:00:00Z`).
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub start: Timestamp,
    /// Exclusive end (RFC 3339), after start and at most 31 days later.
    #[schemars(with = "String", extend("format" = "date-time"))]
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

    /// The media type a lower-case name (as in specs, DAS and Capture) stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        MediaType::ALL.into_iter().find(|m| m.as_str() == name)
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

/// What to do with a recording Genesys has moved to its cloud archive (`fileState` ARCHIVED: a
/// stub without transcript).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum ArchivedRecordings {
    /// Report the conversation as not recovered, reason `archived`, with the archive date.
    #[default]
    Report,
    /// Ask Genesys to restore the recording, carry the conversation as `restoring`, and recover
    /// it once the recording is restored.
    Restore,
}

/// Observed state of a DigitalRecovery. The controller owns everything but `shards`; each
/// shard's worker owns its own `shards[]` entry (server-side apply, field manager
/// `digital-recovery-worker-<index>`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DigitalRecoveryStatus {
    /// Pending, Running, Succeeded, PartiallySucceeded, Failed or Cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// kstatus conditions: `Ready` (finished successfully), `Reconciling` (work in progress),
    /// `Stalled` (cannot make progress without a change: bad input, failed shards).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// When the recovery started (its Job was created), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When the recovery reached a final phase, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
    /// Totals of the comparison between Genesys and the recording side, over all shards.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_counts: Option<MatchCounts>,
    /// Per media type: outcomes of the conversations the shards reported on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = 3, "x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["mediaType"]))]
    pub by_media_type: Vec<MediaTypeCounts>,
    /// Totals of the recovery of missing interactions, over all shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// API calls made, by service, over all shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_calls: Option<ApiCalls>,
    /// Shards of the recovery's Job: `spec.parallelism`, with `auto` resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_count: Option<u32>,
    /// Shards that have finished (succeeded or failed) out of `shardCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards_finished: Option<u32>,
    /// One entry per shard, written by that shard's worker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = 64, "x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["index"]))]
    pub shards: Vec<ShardStatus>,
    /// The first failed conversations (at most 20); `digital-recovery report` lists them all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = MAX_FAILURES, "x-kubernetes-list-type" = "atomic"))]
    pub failures: Vec<FailureRecord>,
    /// Conversations that ended final without being recovered, by reason (`archived`,
    /// `deleted`, `rejected`, `conflict`, `gaveUp`, ...), over all shards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = MAX_REASONS, "x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["reason"]))]
    pub unrecoverable: Vec<ReasonCount>,
    /// The earliest `conversationStart` among the conversations carried over to a later run
    /// (not settled, still transcoding, unverified, or failed in a way a later attempt may get
    /// past), RFC 3339; for a shard that did not finish, the start of its slice. Absent when
    /// every shard finished and none carried anything. A schedule moves its watermark here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_from: Option<String>,
    /// While the recovery waits for admission (condition reason `Queued`): how many waiting
    /// recoveries are ahead of it, plus one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u32>,
    /// The share of its org's Genesys request budget each running shard of this recovery may
    /// spend now; the workers follow it without restarting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesys_budget: Option<GenesysBudget>,
}

/// How the controller divides an org's Genesys request budget.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GenesysBudget {
    /// The org's budget per minute (the least `orgRequestsPerMinute` among its running
    /// recoveries).
    pub org_requests_per_minute: u32,
    /// Shards of the org running or about to start, over all its recoveries, when this
    /// division was written (a new count that leaves every share alike is not pushed).
    pub org_shards: u32,
    /// Requests per minute each running shard of this recovery may send.
    pub shard_requests_per_minute: u32,
}

impl GenesysBudget {
    /// The org's budget divided over its `shards` running now: at most the per-token rate
    /// each, at least one request a minute.
    pub fn divide(
        org_requests_per_minute: u32,
        token_requests_per_minute: u32,
        shards: u32,
    ) -> Self {
        let shards = shards.max(1);
        GenesysBudget {
            org_requests_per_minute,
            org_shards: shards,
            shard_requests_per_minute: (org_requests_per_minute / shards)
                .clamp(1, token_requests_per_minute.max(1)),
        }
    }

    /// Whether a shard paces the same under `self` as under `other`: same org budget, share
    /// and opening burst (the shard count alone may differ).
    pub fn paces_like(&self, other: &GenesysBudget) -> bool {
        self.org_requests_per_minute == other.org_requests_per_minute
            && self.shard_requests_per_minute == other.shard_requests_per_minute
            && self.opening_burst() == other.opening_burst()
    }

    /// Requests a shard may send at once above its share before its first 429: its part of
    /// what the org's budget leaves over all the shares. A shard sending its share plus this in
    /// its first minute keeps the org within its budget in every minute (0 when the shares use
    /// the whole budget, as `parallelism: auto` makes them).
    pub fn opening_burst(&self) -> u32 {
        let shards = self.org_shards.max(1);
        self.org_requests_per_minute
            .saturating_sub(shards.saturating_mul(self.shard_requests_per_minute))
            / shards
    }
}

/// Most `status.failures` entries kept.
pub const MAX_FAILURES: usize = 20;
/// Most `status.shards[].failures` entries a worker keeps.
pub const MAX_SHARD_FAILURES: usize = 10;
/// Most reasons in an `unrecoverable` list (the pipeline writes fewer; see
/// [`crate::pipeline::settle::bounded_reason`]).
pub const MAX_REASONS: usize = 16;

/// The status of one shard, owned by its worker.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ShardStatus {
    /// Shard index (the Job's completion index), 0-based.
    pub index: u32,
    /// Running, Succeeded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ShardPhase>,
    /// Pipeline stage now running: collect, inventory, match, recover, verify, done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The slice of the window this shard owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<Window>,
    /// Match totals of this shard.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_counts: Option<MatchCounts>,
    /// Recovery totals of this shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// API calls of this shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_calls: Option<ApiCalls>,
    /// 429 responses this shard received.
    #[serde(default)]
    pub throttled: u64,
    /// The same 429s by service. Only Genesys' lower its org's Genesys budget: DAS and Capture
    /// are the recording side, paced by `spec.recordingSide.requestsPerMinute`. (Without it, as
    /// workers before it write, all of `throttled` counts as Genesys'.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_by: Option<ApiCalls>,
    /// Per media type outcomes of this shard.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = 3, "x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["mediaType"]))]
    pub by_media_type: Vec<MediaTypeCounts>,
    /// Why the shard failed, as one camelCase word (e.g. `CredentialsMissing`, `Unreachable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Details for a person. Never holds credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When this shard's current attempt started, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When this shard last wrote its status, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    /// Report ConfigMaps written (`<recovery>-report-<index>-<part>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_parts: Option<u32>,
    /// The first failed conversations of this shard (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = MAX_SHARD_FAILURES, "x-kubernetes-list-type" = "atomic"))]
    pub failures: Vec<FailureRecord>,
    /// This shard's conversations that ended final without being recovered, by reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = MAX_REASONS, "x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["reason"]))]
    pub unrecoverable: Vec<ReasonCount>,
    /// The earliest `conversationStart` among this shard's carried conversations, RFC 3339;
    /// absent when it carried none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_from: Option<String>,
}

/// Phase of one shard.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum ShardPhase {
    /// The worker is running the pipeline.
    Running,
    /// The pipeline finished (possibly with per-conversation failures).
    Succeeded,
    /// The shard could not run to the end; `reason` and `message` say why.
    Failed,
}

/// Counts of conversation outcomes of one media type.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MediaTypeCounts {
    /// chat, email or social.
    pub media_type: MediaType,
    /// Conversations of this type the recording side holds in full.
    #[serde(default)]
    pub matched: u64,
    /// Conversations of this type the recording side lacks entirely.
    #[serde(default)]
    pub missing: u64,
    /// Conversations of this type the recording side holds only some text sessions of.
    #[serde(default)]
    pub partial: u64,
    /// Recording-side contacts of this type with no Genesys conversation.
    #[serde(default)]
    pub extra: u64,
    /// Missing or partial conversations of this type (queued for recovery; once finished,
    /// recovered + failed + notRecorded).
    #[serde(default)]
    pub to_recover: u64,
    /// Accepted by Interaction Capture (including verified ones).
    #[serde(default)]
    pub recovered: u64,
    /// Seen in DAS after ingestion.
    #[serde(default)]
    pub verified: u64,
    /// Could not be recovered, conflicted or stayed unverified.
    #[serde(default)]
    pub failed: u64,
    /// Lacking on the recording side, and Genesys holds no text recording of it (final).
    #[serde(default)]
    pub not_recorded: u64,
    /// Not considered (not settled, media type not requested, ...).
    #[serde(default)]
    pub skipped: u64,
}

/// How many conversations ended for one reason.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReasonCount {
    /// The reason, a short camelCase word.
    #[schemars(length(max = 64))]
    pub reason: String,
    /// How many.
    pub count: u64,
}

/// One failed conversation.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FailureRecord {
    /// Genesys conversation id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Shard that handled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// Outcome: failed, conflict or unverified.
    pub outcome: String,
    /// Why, as a short camelCase word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Details for a person (never credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
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
    /// Conversations not considered (not settled, media type not requested, or no analytics
    /// recording flag when `genesys.trustRecordingFlag` is set).
    pub skipped: u64,
    /// Recording-side contacts with no Genesys conversation (reported, never touched).
    pub extra: u64,
}

/// Progress of recovering the missing and partial conversations.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Missing plus partial conversations, queued for recovery. Once finished it equals
    /// recovered + failed + notRecorded.
    pub to_recover: u64,
    /// Accepted by Interaction Capture.
    pub recovered: u64,
    /// Seen in DAS after ingestion.
    pub verified: u64,
    /// Could not be recovered (the report says why).
    pub failed: u64,
    /// Lacking on the recording side, but the recordings API holds no text recording of it:
    /// nothing to recover (final, not a failure).
    #[serde(default)]
    pub not_recorded: u64,
    /// Not finished yet.
    pub pending: u64,
    /// Conversations carried over to a later run (not settled, still transcoding, unverified,
    /// or failed in a way a later attempt may get past); see `resumeFrom`.
    #[serde(default)]
    pub carried: u64,
    /// Conversations that would have been carried but started before `spec.giveUpBefore`:
    /// final, with reason `gaveUp`.
    #[serde(default)]
    pub gave_up: u64,
}

/// API calls made (or 429s received), by service.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiCalls {
    /// Genesys Cloud.
    pub genesys: u64,
    /// Data Access Services.
    pub das: u64,
    /// Interaction Capture.
    pub capture: u64,
}

impl ApiCalls {
    /// All services together.
    pub fn total(self) -> u64 {
        self.genesys + self.das + self.capture
    }
}

/// Field-wise sums, used to fold shards into a recovery's totals.
macro_rules! impl_add_assign {
    ($ty:ty { $($field:ident),+ }) => {
        impl std::ops::AddAssign for $ty {
            fn add_assign(&mut self, other: Self) {
                $(self.$field += other.$field;)+
            }
        }
    };
}

impl_add_assign!(MatchCounts {
    genesys,
    recording_side,
    matched,
    missing,
    partial,
    skipped,
    extra
});
impl_add_assign!(Progress {
    to_recover,
    recovered,
    verified,
    failed,
    not_recorded,
    pending,
    carried,
    gave_up
});
impl_add_assign!(ApiCalls {
    genesys,
    das,
    capture
});
// The media type is the sum's key, not summed: add only counts of the same type.
impl_add_assign!(MediaTypeCounts {
    matched,
    missing,
    partial,
    extra,
    to_recover,
    recovered,
    verified,
    failed,
    not_recorded,
    skipped
});

impl MediaTypeCounts {
    /// Nothing counted yet for `media_type`.
    pub fn new(media_type: MediaType) -> MediaTypeCounts {
        MediaTypeCounts {
            media_type,
            matched: 0,
            missing: 0,
            partial: 0,
            extra: 0,
            to_recover: 0,
            recovered: 0,
            verified: 0,
            failed: 0,
            not_recorded: 0,
            skipped: 0,
        }
    }
}

impl MatchCounts {
    /// Counts one more Genesys conversation in the given match category.
    pub fn count(&mut self, category: MatchCategory) {
        self.genesys += 1;
        match category {
            MatchCategory::Matched => self.matched += 1,
            MatchCategory::Missing => self.missing += 1,
            MatchCategory::Partial => self.partial += 1,
            MatchCategory::Skipped => self.skipped += 1,
        }
    }
}

/// The match category of one conversation, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchCategory {
    Matched,
    Missing,
    Partial,
    Skipped,
}

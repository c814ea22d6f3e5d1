//! `DigitalRecoverySchedule`: automatic recovery. The system chooses each run's window from the
//! watermark (how far finished runs settled every conversation: their `resumeFrom`, or their
//! window's end when they carried nothing over) and creates one `DigitalRecovery` per run.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::recovery::{
    ArchivedRecordings, GenesysSpec, MediaType, Mode, Parallelism, RecordingSideSpec, Window,
    WorkerSpec, message_type_item, message_types_need_social,
};

/// Label on every DigitalRecovery a schedule created, naming the schedule.
pub const SCHEDULE_LABEL: &str = "recovery.cxops.io/schedule";
/// Annotation on every DigitalRecovery a schedule created: the schedule time (RFC 3339) that
/// made it.
pub const SCHEDULED_TIME_ANNOTATION: &str = "recovery.cxops.io/scheduled-time";

/// A duration as the schema accepts it: `30m`, `2h`, `1h30m` (units h, m, s, ms).
const DURATION_PATTERN: &str = "^([0-9]+(h|m|s|ms))+$";

fn duration_rules(field: &str, max: Option<(&str, &str)>) -> serde_json::Value {
    let mut rules = vec![
        serde_json::json!({
            "rule": format!("self.matches('{DURATION_PATTERN}')"),
            "message": format!("{field} must be a duration such as 30m, 2h or 1h30m (units h, m, s, ms)"),
        }),
        serde_json::json!({
            "rule": format!("!self.matches('{DURATION_PATTERN}') || duration(self) > duration('0s')"),
            "message": format!("{field} must be positive"),
        }),
    ];
    if let Some((limit, words)) = max {
        rules.push(serde_json::json!({
            "rule": format!("!self.matches('{DURATION_PATTERN}') || duration(self) <= duration('{limit}')"),
            "message": format!("{field} must be at most {words}"),
        }));
    }
    serde_json::Value::Array(rules)
}

/// Automatic recovery: runs a DigitalRecovery on a schedule, the system choosing each run's
/// window so that, run after run, every conversation is looked at until it ends final.
#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "recovery.cxops.io",
    version = "v1alpha1",
    kind = "DigitalRecoverySchedule",
    namespaced,
    shortname = "drs",
    category = "recovery",
    status = "DigitalRecoveryScheduleStatus",
    printcolumn = r#"{"name":"Schedule","type":"string","jsonPath":".spec.schedule"}"#,
    printcolumn = r#"{"name":"Every","type":"string","jsonPath":".spec.every"}"#,
    printcolumn = r#"{"name":"Suspend","type":"boolean","jsonPath":".spec.suspend"}"#,
    printcolumn = r#"{"name":"Watermark","type":"string","jsonPath":".status.watermark"}"#,
    printcolumn = r#"{"name":"Lag","type":"date","jsonPath":".status.watermark","description":"How far behind now the watermark is"}"#,
    printcolumn = r#"{"name":"Active","type":"string","jsonPath":".status.active[*].name"}"#,
    printcolumn = r#"{"name":"Last Success","type":"date","jsonPath":".status.lastSuccessfulTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    doc = "Automatic recovery: DigitalRecoveries created on a schedule, each for a window the system chooses from the watermark: how far finished runs settled every conversation."
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.schedule) != has(self.every)", "message": "set exactly one of schedule (a 5-field cron expression) and every (a duration)"},
    {"rule": "!has(self.timeZone) || has(self.schedule)", "message": "timeZone applies only to schedule, not to every"},
]))]
pub struct DigitalRecoveryScheduleSpec {
    /// The recoveries to create: a DigitalRecovery spec without `window` (the system sets it)
    /// and without `settleDelay` (the schedule's own applies).
    pub template: DigitalRecoveryTemplate,
    /// When to run, as a 5-field cron expression (minute hour day-of-month month day-of-week),
    /// e.g. `0 * * * *`, evaluated in `timeZone`. Exactly one of schedule and every.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 128, "x-kubernetes-validations" = [
        {"rule": "self.trim().split(' ').filter(f, f != '').size() == 5 || self.startsWith('@')", "message": "schedule must be a cron expression of 5 fields (minute hour day-of-month month day-of-week), e.g. '0 * * * *', or a macro such as @hourly"},
    ]))]
    pub schedule: Option<String>,
    /// IANA time zone of `schedule`, e.g. `Europe/Dublin`; default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 64, "x-kubernetes-validations" = [
        {"rule": "self.matches('^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$')", "message": "timeZone must be an IANA time zone name such as Europe/Dublin or UTC"},
    ]))]
    pub time_zone: Option<String>,
    /// Run at this interval instead of a cron schedule (runs fall on multiples of it since the
    /// Unix epoch, UTC), e.g. `1h`. Exactly one of schedule and every.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 32, "x-kubernetes-validations" = duration_rules("every", None)))]
    pub every: Option<String>,
    /// A window ends this long before the run's time, so that its conversations have
    /// completed and settled; the created recoveries use it as their settleDelay. Default 30m.
    #[serde(default = "default_settle_delay")]
    #[schemars(extend("maxLength" = 32, "x-kubernetes-validations" = duration_rules("settleDelay", None)))]
    pub settle_delay: String,
    /// Each window starts this long before the watermark, so that conversations at the edge
    /// are looked at twice (the recovery is idempotent): a safety margin only, since carried
    /// conversations (open ones included) hold the watermark themselves. `0s` for none.
    /// Default 15m.
    #[serde(default = "default_overlap")]
    #[schemars(extend("maxLength" = 32, "x-kubernetes-validations" = [{
        "rule": format!("self.matches('{DURATION_PATTERN}')"),
        "message": "overlap must be a duration such as 15m, 0s or 1h30m (units h, m, s, ms)",
    }]))]
    pub overlap: String,
    /// The first window starts this long before the first run. Default 24h.
    #[serde(default = "default_initial_lookback")]
    #[schemars(extend("maxLength" = 32, "x-kubernetes-validations" = duration_rules("initialLookback", Some(("744h", "31 days (744h)")))))]
    pub initial_lookback: String,
    /// Longest window of one run; a longer gap (after downtime) is caught up as consecutive
    /// runs of at most this span, in order. At most 31 days. Default 24h.
    #[serde(default = "default_max_window")]
    #[schemars(extend("maxLength" = 32, "x-kubernetes-validations" = duration_rules("maxWindow", Some(("744h", "31 days (744h)")))))]
    pub max_window: String,
    /// A conversation a run carries over to a later one (not settled, still transcoding,
    /// unverified, failed for now) is given up on once it started longer than this before the
    /// run: it ends final with reason `gaveUp` (counted in `progress.gaveUp`) and no longer holds
    /// the watermark back. The runs get it as `spec.giveUpBefore` (their creation time minus
    /// this). Default 24h.
    #[serde(default = "default_give_up_after")]
    #[schemars(extend("maxLength" = 32, "x-kubernetes-validations" = duration_rules("giveUpAfter", None)))]
    pub give_up_after: String,
    /// How long the ledger keeps a day of conversations the runs could not recover (see
    /// `digital-recovery report --schedule`): a day is removed once all of it started longer
    /// than this ago. Default 2160h (90 days).
    #[serde(default = "default_ledger_retention")]
    #[schemars(extend("maxLength" = 32, "x-kubernetes-validations" = duration_rules("ledgerRetention", None)))]
    pub ledger_retention: String,
    /// The schedule reports itself behind (`Ready=False`, `Stalled=True`, reason
    /// `WatermarkBehind`) when its watermark lags now, less `settleDelay`, by more than this many
    /// periods (the interval of `every`, or between two cron times): runs keep failing or
    /// carrying conversations over. Not while suspended. 1 to 1000; default 3.
    #[serde(default = "default_max_lag_periods")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self >= 1 && self <= 1000", "message": "maxLagPeriods must be between 1 and 1000"},
    ]))]
    pub max_lag_periods: u32,
    /// What to do when a run is due while an earlier one is still active.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,
    /// Stop creating runs (active ones go on). Runs missed while suspended are not lost: the
    /// next run after resuming starts from the watermark.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub suspend: bool,
    /// A run that could not start within this many seconds of its schedule time (controller
    /// down, suspended) is skipped; the next one covers its window. Default: no deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self > 0", "message": "startingDeadlineSeconds must be positive"},
    ]))]
    pub starting_deadline_seconds: Option<i64>,
    /// Finished Succeeded runs kept. Default 3.
    #[serde(default = "default_history")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self <= 100", "message": "successfulHistoryLimit must be at most 100"},
    ]))]
    pub successful_history_limit: u32,
    /// Finished runs that did not succeed (PartiallySucceeded, Failed, Cancelled) kept. Default 3.
    #[serde(default = "default_history")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self <= 100", "message": "failedHistoryLimit must be at most 100"},
    ]))]
    pub failed_history_limit: u32,
}

fn default_settle_delay() -> String {
    "30m".into()
}
fn default_overlap() -> String {
    "15m".into()
}
fn default_initial_lookback() -> String {
    "24h".into()
}
fn default_max_window() -> String {
    "24h".into()
}
fn default_give_up_after() -> String {
    "24h".into()
}
fn default_ledger_retention() -> String {
    "2160h".into()
}
fn default_max_lag_periods() -> u32 {
    3
}
fn default_history() -> u32 {
    3
}

/// The recovery a schedule creates: a DigitalRecovery spec without `window`, `settleDelay` and
/// `cancel`. Unlike a DigitalRecovery's spec it may be changed; later runs use the new template.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [message_types_need_social("template.mediaTypes")]))]
pub struct DigitalRecoveryTemplate {
    /// Tenant of the recording side (a DNS-1123 label).
    #[schemars(length(min = 1, max = 63), extend("x-kubernetes-validations" = [
        {"rule": "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')", "message": "template.tenant must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit"},
    ]))]
    pub tenant: String,
    /// The Genesys Cloud CX organisation.
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "has(self.region) != has(self.apiBaseUrl)", "message": "set exactly one of template.genesys.region and template.genesys.apiBaseUrl"},
    ]))]
    pub genesys: GenesysSpec,
    /// The recording side.
    pub recording_side: RecordingSideSpec,
    /// Text media types to recover: a non-empty set of `chat`, `email`, `social`.
    #[schemars(extend(
        "maxItems" = 3,
        "x-kubernetes-list-type" = "set",
        "x-kubernetes-validations" = [
            {"rule": "size(self) > 0", "message": "template.mediaTypes must name at least one of chat, email, social"},
        ]
    ))]
    pub media_types: Vec<MediaType>,
    /// Narrows `social` to these Genesys messaging channels, as a DigitalRecovery's
    /// `spec.messageTypes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend(
        "maxItems" = 32,
        "x-kubernetes-list-type" = "set",
        "items" = message_type_item("template.messageTypes"),
    ))]
    pub message_types: Vec<String>,
    /// Recover or DryRun.
    #[serde(default)]
    pub mode: Mode,
    /// `Report` (default) or `Restore` archived recordings, as in a DigitalRecovery's
    /// `spec.archivedRecordings`.
    #[serde(default)]
    pub archived_recordings: ArchivedRecordings,
    /// Worker shards per run (1 to 64), or `auto` (the default), as in a DigitalRecovery's
    /// `spec.parallelism`.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "type(self) == int ? (self >= 1 && self <= 64) : self == 'auto'", "message": "template.parallelism must be a number of shards between 1 and 64, or auto"},
    ]))]
    pub parallelism: Parallelism,
    /// Settings of each run's worker pods, as in a DigitalRecovery's `spec.worker`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerSpec>,
}

/// What to do when a run is due while an earlier one is still active.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum ConcurrencyPolicy {
    /// Skip the due run (recorded in `lastSkipped`); the next run covers its window.
    #[default]
    Forbid,
    /// Start the due run beside the active ones; its window starts where theirs end.
    Allow,
    /// Cancel the active runs (`spec.cancel: true`) and start the due run, which covers their
    /// windows too.
    Replace,
}

/// Observed state of a DigitalRecoverySchedule, written by the controller.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DigitalRecoveryScheduleStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Every conversation that started between `coverageStart` and this instant ended final in
    /// a finished run (RFC 3339): the `resumeFrom` of the latest run that touches it, or that
    /// run's window end when it carried nothing over. The next window starts `overlap` before
    /// it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<String>,
    /// Start of the first window (now minus initialLookback at the first run), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_start: Option<String>,
    /// The last schedule time acted on (a run created or skipped), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<String>,
    /// When a run of this schedule last finished Succeeded, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<String>,
    /// The next schedule time (absent while suspended or invalid), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<String>,
    /// Runs not yet finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub active: Vec<ActiveRun>,
    /// The last run that was due but not created, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_skipped: Option<SkippedRun>,
    /// kstatus conditions: `Ready` (the schedule is valid and being followed, its watermark
    /// within `maxLagPeriods`), `Stalled` (the spec cannot be followed, e.g. an invalid cron
    /// expression, reason `Invalid`; or the watermark is too far behind, reason
    /// `WatermarkBehind`), `Reconciling`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// One run not yet finished.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActiveRun {
    /// Name of the DigitalRecovery.
    pub name: String,
    /// Its window.
    pub window: Window,
}

/// A run that was due but not created.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SkippedRun {
    /// The schedule time of the skipped run, RFC 3339.
    pub schedule_time: String,
    /// `ConcurrencyForbid` (a run was active), `MissedStartingDeadline`, or `EmptyWindow`.
    pub reason: String,
    /// Details for a person.
    pub message: String,
}

//! `digital-recovery report`: the per-conversation outcomes of one recovery (its report
//! ConfigMaps) or a schedule's ledger (`--schedule`), filtered by outcome and reason, as a table,
//! JSON, CSV or bare conversation ids. Reading is in [`run`]; filtering and formatting are pure.

use std::collections::HashSet;
use std::io::Write;

use jiff::Timestamp;
use serde_json::Value;
use uuid::Uuid;

use super::CliError;
use crate::api::MediaType;
use crate::ledger::{LedgerEntry, Word, read_ledger, word_of};
use crate::pipeline::progress::{Outcome, OutcomeRecord};

/// What `report` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Aligned columns for a person.
    #[default]
    Table,
    /// One JSON array of records.
    Json,
    /// CSV with a header line (RFC 4180 quoting).
    Csv,
    /// One conversation id per line, each once (input for a re-drive).
    Ids,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Namespace of the recovery or schedule.
    #[arg(long)]
    pub namespace: String,
    /// The DigitalRecovery whose report to print.
    #[arg(required_unless_present = "schedule", conflicts_with = "schedule")]
    pub name: Option<String>,
    /// Print this DigitalRecoverySchedule's ledger instead: every conversation its runs could
    /// not recover, with the latest run's reason (kept past the runs' history limits).
    #[arg(long)]
    pub schedule: Option<String>,
    /// Only these outcomes (repeat, or comma-separate): verified, alreadyPresent, recovered,
    /// unverified, conflict, failed, notRecorded, skipped, wouldRecover, extra.
    #[arg(long, value_delimiter = ',')]
    pub outcome: Vec<String>,
    /// Only these reasons (repeat, or comma-separate), e.g. archived, deleted, gaveUp.
    #[arg(long, value_delimiter = ',')]
    pub reason: Vec<String>,
    /// Of a recovery's report, only what it could not recover (what it adds to a schedule's
    /// ledger): final outcomes that are not recovered, present or skipped by rule.
    #[arg(long, conflicts_with = "schedule")]
    pub not_recovered: bool,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub output: ReportFormat,
}

/// One printed line: a report record (with its shard) or a ledger entry (with its run).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub shard: Option<u32>,
    pub conversation_id: Option<Uuid>,
    pub media_type: Option<MediaType>,
    pub conversation_start: Option<Timestamp>,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub detail: Option<String>,
    pub archive_date: Option<Timestamp>,
    /// The run whose word a ledger entry is.
    pub recovery: Option<String>,
    pub recorded_at: Option<Timestamp>,
}

impl Row {
    pub fn of_record(shard: u32, r: &OutcomeRecord) -> Row {
        Row {
            shard: Some(shard),
            conversation_id: r.conversation_id,
            media_type: r.media_type,
            conversation_start: r.conversation_start,
            outcome: r.outcome,
            reason: r.reason.clone(),
            detail: r.detail.clone(),
            archive_date: r.archive_date,
            recovery: None,
            recorded_at: None,
        }
    }

    pub fn of_entry(e: LedgerEntry) -> Row {
        Row {
            shard: None,
            conversation_id: Some(e.conversation_id),
            media_type: e.media_type,
            conversation_start: e.conversation_start,
            outcome: e.outcome,
            reason: e.reason,
            detail: e.detail,
            archive_date: e.archive_date,
            recovery: Some(e.recovery),
            recorded_at: Some(e.recorded_at),
        }
    }
}

/// Which rows to keep: an empty list keeps all.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub outcomes: Vec<Outcome>,
    pub reasons: Vec<String>,
}

impl Filter {
    /// The filter of `--outcome` and `--reason`; an outcome no record can have is a usage error.
    pub fn new(outcomes: &[String], reasons: &[String]) -> Result<Filter, String> {
        let outcomes = outcomes
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
            .map(|o| {
                serde_json::from_value(Value::String(o.to_string())).map_err(|_| {
                    format!(
                        "--outcome {o:?} is not an outcome; use one of verified, alreadyPresent, \
                         recovered, unverified, conflict, failed, notRecorded, skipped, \
                         wouldRecover, extra"
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let reasons = reasons
            .iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        Ok(Filter { outcomes, reasons })
    }

    pub fn keeps(&self, row: &Row) -> bool {
        (self.outcomes.is_empty() || self.outcomes.contains(&row.outcome))
            && (self.reasons.is_empty()
                || row
                    .reason
                    .as_ref()
                    .is_some_and(|r| self.reasons.contains(r)))
    }
}

/// Whether a report record is one its run could not recover (it enters a schedule's ledger).
pub fn not_recovered(record: &OutcomeRecord) -> bool {
    matches!(
        word_of(record, "", Timestamp::UNIX_EPOCH),
        Some(Word::Enter(_))
    )
}

fn outcome_name(outcome: Outcome) -> String {
    serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn text(t: Option<impl ToString>) -> String {
    t.map(|t| t.to_string()).unwrap_or_default()
}

/// The columns of one kind of report, and each row's values in that order.
fn columns(ledger: bool) -> &'static [&'static str] {
    if ledger {
        &[
            "conversationId",
            "mediaType",
            "conversationStart",
            "outcome",
            "reason",
            "archiveDate",
            "recovery",
            "recordedAt",
            "detail",
        ]
    } else {
        &[
            "shard",
            "conversationId",
            "mediaType",
            "conversationStart",
            "outcome",
            "reason",
            "archiveDate",
            "detail",
        ]
    }
}

fn values(row: &Row, ledger: bool) -> Vec<String> {
    let mut v = Vec::with_capacity(9);
    if !ledger {
        v.push(text(row.shard));
    }
    v.extend([
        text(row.conversation_id),
        text(row.media_type.map(MediaType::as_str)),
        text(row.conversation_start),
        outcome_name(row.outcome),
        text(row.reason.as_deref()),
        text(row.archive_date),
    ]);
    if ledger {
        v.push(text(row.recovery.as_deref()));
        v.push(text(row.recorded_at));
    }
    v.push(text(row.detail.as_deref()));
    v
}

/// One CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
pub fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// Writes `rows` as `format`; `ledger` says which columns (a ledger's or a recovery's).
pub fn render(
    rows: &[Row],
    ledger: bool,
    format: ReportFormat,
    out: &mut impl Write,
) -> std::io::Result<()> {
    match format {
        ReportFormat::Ids => {
            let mut seen = HashSet::new();
            for id in rows.iter().filter_map(|r| r.conversation_id) {
                if seen.insert(id) {
                    writeln!(out, "{id}")?;
                }
            }
        }
        ReportFormat::Csv => {
            writeln!(out, "{}", columns(ledger).join(","))?;
            for row in rows {
                let line: Vec<String> = values(row, ledger).iter().map(|v| csv_field(v)).collect();
                writeln!(out, "{}", line.join(","))?;
            }
        }
        ReportFormat::Json => {
            let items: Vec<Value> = rows
                .iter()
                .map(|row| {
                    let map = columns(ledger)
                        .iter()
                        .zip(values(row, ledger))
                        .filter(|(_, v)| !v.is_empty())
                        .map(|(k, v)| {
                            let value = match (*k, row.shard) {
                                ("shard", Some(shard)) => Value::from(shard),
                                _ => Value::String(v),
                            };
                            (k.to_string(), value)
                        })
                        .collect();
                    Value::Object(map)
                })
                .collect();
            writeln!(out, "{}", Value::Array(items))?;
        }
        ReportFormat::Table if ledger => {
            writeln!(
                out,
                "{:<24} {:<38} {:<7} {:<13} {:<22} {:<24} {:<28} DETAIL",
                "START", "CONVERSATION", "MEDIA", "OUTCOME", "REASON", "ARCHIVED", "RUN"
            )?;
            for r in rows {
                writeln!(
                    out,
                    "{:<24} {:<38} {:<7} {:<13} {:<22} {:<24} {:<28} {}",
                    dash(text(r.conversation_start)),
                    dash(text(r.conversation_id)),
                    r.media_type.map(|m| m.as_str()).unwrap_or("-"),
                    outcome_name(r.outcome),
                    r.reason.as_deref().unwrap_or("-"),
                    dash(text(r.archive_date)),
                    r.recovery.as_deref().unwrap_or("-"),
                    r.detail.as_deref().unwrap_or("")
                )?;
            }
        }
        ReportFormat::Table => {
            writeln!(
                out,
                "{:<6} {:<38} {:<7} {:<15} {:<20} DETAIL",
                "SHARD", "CONVERSATION", "MEDIA", "OUTCOME", "REASON"
            )?;
            for r in rows {
                writeln!(
                    out,
                    "{:<6} {:<38} {:<7} {:<15} {:<20} {}",
                    dash(text(r.shard)),
                    dash(text(r.conversation_id)),
                    r.media_type.map(|m| m.as_str()).unwrap_or("-"),
                    outcome_name(r.outcome),
                    r.reason.as_deref().unwrap_or("-"),
                    r.detail.as_deref().unwrap_or("")
                )?;
            }
        }
    }
    Ok(())
}

fn dash(s: String) -> String {
    if s.is_empty() { "-".into() } else { s }
}

/// Reads the report or the ledger `args` names and prints it to stdout.
pub async fn run(client: kube::Client, args: ReportArgs) -> Result<(), CliError> {
    let filter = Filter::new(&args.outcome, &args.reason).map_err(CliError::Usage)?;
    let (rows, ledger): (Vec<Row>, bool) = match (&args.schedule, &args.name) {
        (Some(schedule), _) => (
            read_ledger(&client, &args.namespace, schedule)
                .await
                .map_err(|e| CliError::Failed(e.to_string()))?
                .into_iter()
                .map(Row::of_entry)
                .collect(),
            true,
        ),
        (None, Some(name)) => (
            crate::worker::read_report(&client, &args.namespace, name)
                .await
                .map_err(|e| CliError::Failed(e.to_string()))?
                .iter()
                .filter(|(_, r)| !args.not_recovered || not_recovered(r))
                .map(|(shard, r)| Row::of_record(*shard, r))
                .collect(),
            false,
        ),
        (None, None) => {
            return Err(CliError::Usage(
                "name a recovery, or a schedule with --schedule".into(),
            ));
        }
    };
    let rows: Vec<Row> = rows.into_iter().filter(|r| filter.keeps(r)).collect();
    let mut out = std::io::stdout().lock();
    render(&rows, ledger, args.output, &mut out)
        .map_err(|e| CliError::Failed(format!("cannot print the report: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u128, outcome: Outcome, reason: &str, detail: &str) -> Row {
        Row {
            shard: Some(1),
            conversation_id: Some(Uuid::from_u128(id)),
            media_type: Some(MediaType::Email),
            conversation_start: "2026-11-20T10:00:00Z".parse().ok(),
            outcome,
            reason: Some(reason.into()),
            detail: Some(detail.into()),
            archive_date: None,
            recovery: None,
            recorded_at: None,
        }
    }

    fn rendered(rows: &[Row], ledger: bool, format: ReportFormat) -> String {
        let mut out = Vec::new();
        render(rows, ledger, format, &mut out).expect("render");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn csv_quotes_commas_quotes_and_line_breaks() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\r"), "\"cr\r\"");
        assert_eq!(csv_field(""), "");
        let csv = rendered(
            &[row(
                1,
                Outcome::Failed,
                "rejected",
                "Capture answered 422, \"too big\"",
            )],
            false,
            ReportFormat::Csv,
        );
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some(
                "shard,conversationId,mediaType,conversationStart,outcome,reason,archiveDate,detail"
            )
        );
        assert_eq!(
            lines.next(),
            Some(
                "1,00000000-0000-0000-0000-000000000001,email,2026-11-20T10:00:00Z,failed,rejected,,\"Capture answered 422, \"\"too big\"\"\""
            )
        );
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn filters_take_repeated_or_comma_separated_values_and_refuse_unknown_outcomes() {
        let rows = [
            row(1, Outcome::Failed, "archived", ""),
            row(2, Outcome::Failed, "deleted", ""),
            row(3, Outcome::Conflict, "differentContentHeld", ""),
            row(4, Outcome::NotRecorded, "notRecorded", ""),
        ];
        let kept = |f: &Filter| -> Vec<u128> {
            rows.iter()
                .filter(|r| f.keeps(r))
                .filter_map(|r| r.conversation_id.map(|u| u.as_u128()))
                .collect()
        };
        let all = Filter::new(&[], &[]).expect("filter");
        assert_eq!(kept(&all), [1, 2, 3, 4]);
        let failed_or_conflict =
            Filter::new(&["failed".into(), "conflict".into()], &[]).expect("filter");
        assert_eq!(kept(&failed_or_conflict), [1, 2, 3]);
        let deleted = Filter::new(&["failed".into()], &["deleted".into()]).expect("filter");
        assert_eq!(kept(&deleted), [2]);
        let err = Filter::new(&["lost".into()], &[]).expect_err("unknown outcome");
        assert!(err.contains("\"lost\""), "{err}");
        assert!(err.contains("notRecorded"), "{err}");
    }

    #[test]
    fn ids_are_one_per_line_each_once_and_json_keeps_the_shard_a_number() {
        let rows = [
            row(1, Outcome::Failed, "archived", ""),
            row(1, Outcome::Failed, "archived", ""),
            row(2, Outcome::Conflict, "differentContentHeld", ""),
        ];
        assert_eq!(
            rendered(&rows, false, ReportFormat::Ids),
            "00000000-0000-0000-0000-000000000001\n00000000-0000-0000-0000-000000000002\n"
        );
        let json: Value =
            serde_json::from_str(&rendered(&rows[..1], false, ReportFormat::Json)).expect("json");
        assert_eq!(json[0]["shard"], 1);
        assert_eq!(json[0]["reason"], "archived");
        assert!(json[0].get("archiveDate").is_none());
    }

    #[test]
    fn a_ledger_row_names_its_run_and_archive_date() {
        let entry = LedgerEntry {
            conversation_id: Uuid::from_u128(5),
            media_type: Some(MediaType::Chat),
            conversation_start: "2026-11-20T10:00:00Z".parse().ok(),
            outcome: Outcome::Failed,
            reason: Some("archived".into()),
            detail: Some("recording r archived on 2026-11-21".into()),
            archive_date: "2026-11-21T00:00:00Z".parse().ok(),
            recovery: "acme-202611201000".into(),
            recorded_at: "2026-11-20T12:00:00Z".parse().expect("ts"),
        };
        let rows = [Row::of_entry(entry)];
        let csv = rendered(&rows, true, ReportFormat::Csv);
        assert_eq!(
            csv.lines().nth(1),
            Some(
                "00000000-0000-0000-0000-000000000005,chat,2026-11-20T10:00:00Z,failed,archived,2026-11-21T00:00:00Z,acme-202611201000,2026-11-20T12:00:00Z,recording r archived on 2026-11-21"
            )
        );
        let json: Value =
            serde_json::from_str(&rendered(&rows, true, ReportFormat::Json)).expect("json");
        assert_eq!(json[0]["archiveDate"], "2026-11-21T00:00:00Z");
        assert_eq!(json[0]["recovery"], "acme-202611201000");
        assert!(json[0].get("shard").is_none());
        let table = rendered(&rows, true, ReportFormat::Table);
        assert!(table.starts_with("START"), "{table}");
        assert!(table.contains("acme-202611201000"), "{table}");
    }

    #[test]
    fn not_recovered_keeps_final_losses_only() {
        let record = |outcome, reason: &str| OutcomeRecord {
            conversation_id: Some(Uuid::from_u128(1)),
            media_type: None,
            conversation_start: None,
            outcome,
            reason: Some(reason.into()),
            detail: None,
            archive_date: None,
        };
        assert!(not_recovered(&record(Outcome::Failed, "deleted")));
        assert!(not_recovered(&record(
            Outcome::Conflict,
            "differentContentHeld"
        )));
        assert!(!not_recovered(&record(Outcome::Failed, "transcoding")));
        assert!(!not_recovered(&record(Outcome::Verified, "")));
        assert!(!not_recovered(&record(
            Outcome::Skipped,
            "mediaTypeNotRequested"
        )));
    }
}

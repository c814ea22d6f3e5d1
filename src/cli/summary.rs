//! What `recover` and `demo` print: a live progress display on stderr while the pipeline runs, then
//! a summary table by media type (text) or one JSON object with fixed field names (design.md 4).

use std::collections::BTreeMap;

use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::api::{ApiCalls, MatchCounts, MediaType};
use crate::pipeline::{
    Outcome, OutcomeCounts, OutcomeRecord, ProgressReporter, ShardProgress, ShardSummary,
};

/// Output format of `recover` and `demo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A summary table.
    #[default]
    Text,
    /// One JSON object.
    Json,
}

/// The whole run's result, summed over shards.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    pub match_counts: MatchCounts,
    pub outcomes: OutcomeCounts,
    pub api_calls: ApiCalls,
    pub throttled: u64,
    /// The same 429s by service.
    pub throttled_by: ApiCalls,
    pub elapsed_seconds: f64,
    pub by_media_type: BTreeMap<MediaType, (MatchCounts, OutcomeCounts)>,
    /// Per-conversation failures (bounded sample, for the text output).
    pub failures: Vec<OutcomeRecord>,
    /// Conversations not recovered (failed, conflict, unverified), by reason.
    pub failure_reasons: BTreeMap<String, u64>,
    /// Conversations carried over to a later run (see `crate::pipeline::settle`).
    pub carried: u64,
    /// Conversations given up on (reason `gaveUp`).
    pub gave_up: u64,
    /// The earliest `conversationStart` among the carried conversations.
    pub resume_from: Option<Timestamp>,
    /// When each shard finished and what it did, by shard index: how evenly the work spread.
    pub shards: Vec<ShardTiming>,
}

/// One shard's share of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardTiming {
    pub index: u32,
    /// Seconds from the start of the run to the shard's end.
    pub elapsed_seconds: f64,
    /// Conversations Genesys listed in the shard's slice.
    pub conversations: u64,
    /// Of those, interactions Capture accepted (whichever shard's pool sent them).
    pub recovered: u64,
    /// Genesys calls the shard's clients made (for other shards' conversations too, as its
    /// pool took them from the shared queue).
    pub genesys_calls: u64,
}

impl RunSummary {
    /// Adds one shard's result.
    pub fn add_shard(&mut self, shard: &ShardSummary) {
        self.match_counts += shard.progress.match_counts;
        self.outcomes += shard.outcomes;
        self.api_calls += shard.progress.api_calls;
        self.throttled += shard.progress.throttled;
        self.throttled_by += shard.progress.throttled_by;
        self.carried += shard.progress.progress.carried;
        self.gave_up += shard.progress.progress.gave_up;
        self.resume_from =
            crate::pipeline::settle::earliest(self.resume_from, shard.progress.resume_from);
        if let Some(report) = &shard.match_report {
            for (media, counts) in &report.by_media_type {
                self.by_media_type.entry(*media).or_default().0 += *counts;
            }
        }
    }

    /// The JSON object of design.md section 4.
    pub fn to_json(&self) -> Value {
        json!({
            "match": self.match_counts,
            "outcomes": self.outcomes,
            "apiCalls": self.api_calls,
            "throttled": self.throttled,
            "throttledBy": self.throttled_by,
            "elapsedSeconds": self.elapsed_seconds,
            "carried": self.carried,
            "gaveUp": self.gave_up,
            "resumeFrom": self.resume_from.map(|t| t.to_string()),
            "shards": self.shards,
        })
    }

    /// A table by media type plus totals, for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let header = format!(
            "{:<8} {:>8} {:>8} {:>8} {:>8} {:>8} | {:>9} {:>8} {:>8} {:>8} {:>8} {:>10} {:>12}\n",
            "media",
            "genesys",
            "matched",
            "missing",
            "partial",
            "skipped",
            "recovered",
            "verified",
            "present",
            "conflict",
            "failed",
            "unverified",
            "not recorded"
        );
        out.push_str(&header);
        out.push_str(&"-".repeat(header.len() - 1));
        out.push('\n');
        let row = |name: &str, m: &MatchCounts, o: &OutcomeCounts| {
            format!(
                "{:<8} {:>8} {:>8} {:>8} {:>8} {:>8} | {:>9} {:>8} {:>8} {:>8} {:>8} {:>10} {:>12}\n",
                name,
                m.genesys,
                m.matched,
                m.missing,
                m.partial,
                m.skipped,
                o.recovered,
                o.verified,
                o.already_present,
                o.conflict,
                o.failed,
                o.unverified,
                o.not_recorded
            )
        };
        for media in MediaType::ALL {
            if let Some((m, o)) = self.by_media_type.get(&media) {
                out.push_str(&row(media.as_str(), m, o));
            }
        }
        out.push_str(&row("total", &self.match_counts, &self.outcomes));
        out.push_str(&format!(
            "\nrecording side held {} contacts ({} extra, not touched); API calls: genesys {}, das {}, capture {}; 429s {} (genesys {}, das {}, capture {}); {:.1} s\n",
            self.match_counts.recording_side,
            self.match_counts.extra,
            self.api_calls.genesys,
            self.api_calls.das,
            self.api_calls.capture,
            self.throttled,
            self.throttled_by.genesys,
            self.throttled_by.das,
            self.throttled_by.capture,
            self.elapsed_seconds
        ));
        if self.outcomes.not_recorded > 0 {
            out.push_str(&format!(
                "\n{} conversation(s) the recording side lacks have no text recording in Genesys (asked of its recordings API): nothing to recover\n",
                self.outcomes.not_recorded
            ));
        }
        if let Some(from) = self.resume_from {
            out.push_str(&format!(
                "\n{} conversation(s) carried over to a later run (not settled, transcoding, unverified or failed for now); resume from {from}\n",
                self.carried
            ));
        }
        if self.gave_up > 0 {
            out.push_str(&format!(
                "\n{} conversation(s) given up on (carried past giveUpBefore)\n",
                self.gave_up
            ));
        }
        if !self.failure_reasons.is_empty() {
            let reasons: Vec<String> = self
                .failure_reasons
                .iter()
                .map(|(reason, n)| format!("{reason} {n}"))
                .collect();
            out.push_str(&format!(
                "\nnot recovered, by reason: {}\n",
                reasons.join(", ")
            ));
        }
        if !self.failures.is_empty() {
            out.push_str(
                "\nnot recovered (first {MAX_FAILURES_SHOWN}):\n"
                    .replace("{MAX_FAILURES_SHOWN}", &MAX_FAILURES_SHOWN.to_string())
                    .as_str(),
            );
            for f in &self.failures {
                out.push_str(&format!(
                    "  {} {:?} {}: {}\n",
                    f.conversation_id
                        .map(|u| u.to_string())
                        .unwrap_or_else(|| "-".into()),
                    f.outcome,
                    f.reason.as_deref().unwrap_or("-"),
                    f.detail.as_deref().unwrap_or("")
                ));
            }
        }
        out
    }
}

/// Upper bound of failures kept for the text output.
const MAX_FAILURES_SHOWN: usize = 50;

#[derive(Default)]
struct Tallies {
    by_media_type: BTreeMap<MediaType, OutcomeCounts>,
    failures: Vec<OutcomeRecord>,
    failure_reasons: BTreeMap<String, u64>,
}

/// Reporter for a terminal: one progress line per shard on stderr (hidden when stderr is not a
/// terminal), outcome totals by media type for the summary.
pub struct TerminalReporter {
    bar: ProgressBar,
    tallies: Mutex<Tallies>,
}

impl TerminalReporter {
    /// A reporter drawing on `bar`.
    pub fn new(bar: ProgressBar) -> Self {
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        TerminalReporter {
            bar,
            tallies: Mutex::new(Default::default()),
        }
    }

    /// Moves the per-media-type outcome totals and failures into `summary`.
    pub fn fill(&self, summary: &mut RunSummary) {
        self.bar.finish_and_clear();
        let tallies = self.tallies.lock();
        for (media, counts) in &tallies.by_media_type {
            summary.by_media_type.entry(*media).or_default().1 += *counts;
        }
        let room = MAX_FAILURES_SHOWN.saturating_sub(summary.failures.len());
        summary
            .failures
            .extend(tallies.failures.iter().take(room).cloned());
        for (reason, n) in &tallies.failure_reasons {
            *summary.failure_reasons.entry(reason.clone()).or_default() += n;
        }
    }
}

impl ProgressReporter for TerminalReporter {
    fn progress(&self, p: &ShardProgress) {
        let stage = p.stage.map(|s| format!("{s:?}")).unwrap_or_default();
        self.bar.set_prefix(stage.to_lowercase());
        self.bar.set_message(format!(
            "conversations {} | missing {} partial {} | recovered {}/{} verified {} failed {} not recorded {} | calls {} | 429s {}",
            p.match_counts.genesys,
            p.match_counts.missing,
            p.match_counts.partial,
            p.progress.recovered,
            p.progress.to_recover,
            p.progress.verified,
            p.progress.failed,
            p.progress.not_recorded,
            p.api_calls.genesys + p.api_calls.das + p.api_calls.capture,
            p.throttled
        ));
    }

    fn outcome(&self, record: &OutcomeRecord) {
        let mut tallies = self.tallies.lock();
        if let Some(media) = record.media_type {
            let counts = tallies.by_media_type.entry(media).or_default();
            counts.add(record.outcome);
            // A verified or unverified conversation was ingested first.
            if matches!(record.outcome, Outcome::Verified | Outcome::Unverified) {
                counts.recovered += 1;
            }
        }
        if matches!(
            record.outcome,
            Outcome::Failed | Outcome::Conflict | Outcome::Unverified
        ) {
            let reason = record.reason.clone().unwrap_or_else(|| "unknown".into());
            *tallies.failure_reasons.entry(reason).or_default() += 1;
            if tallies.failures.len() < MAX_FAILURES_SHOWN {
                tallies.failures.push(record.clone());
            }
        }
    }
}

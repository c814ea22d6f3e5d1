//! What a schedule does next, decided without any API call or clock read: which window the next
//! run covers, whether a run is due, what to cancel, skip and prune, and the new watermark.
//!
//! Windows are chosen like this (all times truncated to the minute, so that names built from a
//! window's start are unique per minute):
//! - the start is `watermark - overlap`, or `now - initialLookback` for the very first run
//!   (kept as `coverageStart`);
//! - the end is `now - settleDelay`, but at most `start + maxWindow`; when capped, the rest of the
//!   gap (a backlog after downtime) is caught up by further runs, each started as soon as the
//!   previous one finished (Succeeded or PartiallySucceeded) carrying nothing, in order;
//! - the watermark moves over every finished run that touches it, as far as that run settled its
//!   window: a run that finished (Succeeded or PartiallySucceeded) moves it to its `resumeFrom`
//!   (the earliest start among the conversations it carried over: not settled, transcoding,
//!   unverified, failed for now), or to its window's end when it carried nothing. Conversations
//!   that ended final (recovered, present, deleted, archived, conflicting, rejected, given up)
//!   never hold it back, so one deleted recording does not stall the schedule. A Failed or
//!   Cancelled run moves it only as far as its `resumeFrom` says, which counts every shard that
//!   did not finish from the start of its slice; a run without one does not move it at all.
//!   Nothing is skipped: the next window starts at the watermark (less `overlap`), so every
//!   carried conversation is looked at again, until it ends final or is given up
//!   (`giveUpAfter`).

use jiff::Timestamp;

use crate::api::{ConcurrencyPolicy, Phase, SkippedRun, ValidSchedule, Window};
use crate::controller::fold::is_final;

/// One DigitalRecovery the schedule created, as seen now.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub name: String,
    pub window: Window,
    pub phase: Option<Phase>,
    pub cancel: bool,
    /// The schedule time that made it (annotation), if known.
    pub scheduled: Option<Timestamp>,
    /// When it finished, if it did.
    pub completion: Option<Timestamp>,
    /// Its status' `resumeFrom`: where a later run must resume (None: nothing carried, for a
    /// run that finished).
    pub resume_from: Option<Timestamp>,
}

impl Run {
    pub fn is_active(&self) -> bool {
        !is_final(self.phase)
    }
    fn succeeded(&self) -> bool {
        self.phase == Some(Phase::Succeeded)
    }

    /// Finished its window (Succeeded or PartiallySucceeded), with nothing carried over.
    fn settled_all(&self) -> bool {
        matches!(
            self.phase,
            Some(Phase::Succeeded | Phase::PartiallySucceeded)
        ) && self.resume_from.is_none()
    }

    /// How far a finished run settled its window: every conversation started before this
    /// instant ended final. None while it runs.
    pub fn settled_up_to(&self) -> Option<Timestamp> {
        let reached = match self.phase? {
            Phase::Succeeded | Phase::PartiallySucceeded => {
                self.resume_from.unwrap_or(self.window.end)
            }
            // Only what its status vouches for; without it, nothing.
            Phase::Failed | Phase::Cancelled => self.resume_from.unwrap_or(self.window.start),
            Phase::Pending | Phase::Running => return None,
        };
        Some(reached.clamp(self.window.start, self.window.end))
    }
}

/// What the schedule's status says and what exists.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub last_schedule_time: Option<Timestamp>,
    pub watermark: Option<Timestamp>,
    pub coverage_start: Option<Timestamp>,
    pub last_successful_time: Option<Timestamp>,
    pub runs: Vec<Run>,
}

/// A run to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRun {
    pub name: String,
    pub window: Window,
    /// The schedule time it is for (the time of the catch-up decision for catch-up runs).
    pub scheduled: Timestamp,
    /// True when it catches up a backlog rather than answering a schedule time.
    pub catch_up: bool,
}

/// What to do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub create: Option<NewRun>,
    /// Active runs to cancel (Replace).
    pub cancel: Vec<String>,
    /// Finished runs beyond the history limits.
    pub prune: Vec<String>,
    pub skipped: Option<SkippedRun>,
    pub watermark: Option<Timestamp>,
    pub coverage_start: Option<Timestamp>,
    pub last_schedule_time: Option<Timestamp>,
    pub last_successful_time: Option<Timestamp>,
    pub next_schedule_time: Option<Timestamp>,
}

/// `t` truncated to the minute.
pub fn floor_minute(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second().div_euclid(60) * 60).unwrap_or(t)
}

/// The name of the run whose window starts at `start`: `<schedule>-<yyyymmddhhmm>` in UTC, the
/// schedule's name shortened (with a hash) when the whole would not fit an object name with
/// room for a `-<n>` retry suffix.
pub fn run_name(schedule: &str, start: Timestamp) -> String {
    // "-" + 12 digits of the time + a retry suffix of up to "-999".
    let room = crate::contract::MAX_OBJECT_NAME - 1 - 12 - 4;
    format!(
        "{}-{}",
        crate::contract::shorten(schedule, room),
        start.strftime("%Y%m%d%H%M")
    )
}

/// The watermark after the runs seen: starting from `watermark` (or `coverage_start` when none
/// was set yet), it moves to [`Run::settled_up_to`] of every finished run that starts at or
/// before it, in order of start; never backwards. A run beyond a gap (a stretch no finished run
/// settled) does not move it.
pub fn advance_watermark(
    coverage_start: Option<Timestamp>,
    watermark: Option<Timestamp>,
    runs: &[Run],
) -> Option<Timestamp> {
    let Some(mut frontier) = watermark.or(coverage_start) else {
        return watermark;
    };
    let mut result = watermark;
    let mut done: Vec<(&Run, Timestamp)> = runs
        .iter()
        .filter_map(|r| Some((r, r.settled_up_to()?)))
        .collect();
    done.sort_by_key(|(r, _)| r.window.start);
    for (r, reached) in done {
        if r.window.start > frontier {
            break;
        }
        if reached > frontier {
            frontier = reached;
            result = Some(frontier);
        }
    }
    result
}

/// The next window starting at `start` (already minute-aligned): up to `now - settleDelay`, at
/// most `maxWindow` long. None when empty. The flag says whether it was capped by `maxWindow`
/// (more remains to catch up).
pub fn window_from(start: Timestamp, now: Timestamp, s: &ValidSchedule) -> Option<(Window, bool)> {
    let limit = floor_minute(now.checked_sub(s.settle_delay).ok()?);
    let capped_end = start.checked_add(s.max_window).ok()?;
    let (end, capped) = if capped_end < limit {
        (capped_end, true)
    } else {
        (limit, false)
    };
    (end > start).then_some((Window { start, end }, capped))
}

/// The start of the next window when no run is active: `watermark - overlap`, else the
/// coverage start.
pub fn next_start(
    watermark: Option<Timestamp>,
    coverage_start: Timestamp,
    s: &ValidSchedule,
) -> Timestamp {
    match watermark {
        Some(w) => w
            .checked_sub(s.overlap)
            .map(floor_minute)
            .unwrap_or(coverage_start)
            .max(coverage_start),
        None => coverage_start,
    }
}

fn skip(at: Timestamp, reason: &str, message: String) -> SkippedRun {
    SkippedRun {
        schedule_time: at.to_string(),
        reason: reason.to_string(),
        message,
    }
}

/// Decides what the schedule does at `now`.
pub fn plan(schedule: &str, s: &ValidSchedule, o: &Observed, now: Timestamp) -> Plan {
    let coverage_start = o
        .coverage_start
        .or_else(|| o.runs.iter().map(|r| r.window.start).min());
    let watermark = advance_watermark(coverage_start, o.watermark, &o.runs);
    let last_successful_time = o
        .runs
        .iter()
        .filter(|r| r.succeeded())
        .filter_map(|r| r.completion)
        .chain(o.last_successful_time)
        .max();
    let mut plan = Plan {
        watermark,
        coverage_start,
        last_schedule_time: o.last_schedule_time,
        last_successful_time,
        next_schedule_time: if s.suspend {
            None
        } else {
            s.trigger.next_after(now)
        },
        ..Plan::default()
    };
    let active: Vec<&Run> = o.runs.iter().filter(|r| r.is_active()).collect();
    plan.prune = prune(s, &o.runs);
    if s.suspend {
        return plan;
    }

    let tick = s.trigger.last_at_or_before(now);
    let due = tick.filter(|t| o.last_schedule_time.is_none_or(|l| *t > l));
    // The latest run, by window start: a backlog is caught up only while runs finish carrying
    // nothing (a run that carried something waits for the next schedule time, so a conversation
    // that keeps failing is not retried in a tight loop).
    let latest = o
        .runs
        .iter()
        .max_by(|a, b| (a.window.start, &a.name).cmp(&(b.window.start, &b.name)));
    let first_start = coverage_start
        .unwrap_or_else(|| floor_minute(now.checked_sub(s.initial_lookback).unwrap_or(now)));

    let (at, catch_up) = match due {
        Some(t) => (t, false),
        None => {
            let backlog = active.is_empty()
                && latest.is_some_and(|r| r.settled_all())
                && window_from(next_start(watermark, first_start, s), now, s)
                    .is_some_and(|(_, capped)| capped);
            if !backlog {
                return plan;
            }
            (now, true)
        }
    };
    if !catch_up {
        plan.last_schedule_time = Some(at);
        if let Some(deadline) = s.starting_deadline
            && now.duration_since(at) > deadline
        {
            plan.skipped = Some(skip(
                at,
                "MissedStartingDeadline",
                format!(
                    "the run due at {at} could not start within startingDeadlineSeconds ({}s); the next run covers its window",
                    deadline.as_secs()
                ),
            ));
            return plan;
        }
        // Made already (e.g. a reconcile whose status write failed).
        if o.runs.iter().any(|r| r.scheduled == Some(at)) {
            return plan;
        }
    }

    let mut start = next_start(watermark, first_start, s);
    if !active.is_empty() {
        match s.policy {
            ConcurrencyPolicy::Forbid => {
                let names: Vec<&str> = active.iter().map(|r| r.name.as_str()).collect();
                plan.skipped = Some(skip(
                    at,
                    "ConcurrencyForbid",
                    format!(
                        "concurrencyPolicy Forbid and {} still active; the next run covers this window",
                        names.join(", ")
                    ),
                ));
                return plan;
            }
            ConcurrencyPolicy::Replace => {
                plan.cancel = active
                    .iter()
                    .filter(|r| !r.cancel)
                    .map(|r| r.name.clone())
                    .collect();
            }
            ConcurrencyPolicy::Allow => {
                if let Some(end) = active.iter().map(|r| r.window.end).max()
                    && let Ok(from) = end.checked_sub(s.overlap)
                {
                    start = start.max(floor_minute(from));
                }
            }
        }
    }
    let Some((window, _)) = window_from(start, now, s) else {
        plan.skipped = Some(skip(
            at,
            "EmptyWindow",
            format!(
                "nothing to recover yet: the window would start at {start} and end before now minus settleDelay"
            ),
        ));
        return plan;
    };
    plan.coverage_start = Some(coverage_start.unwrap_or(first_start));
    plan.create = Some(NewRun {
        name: free_name(schedule, window.start, &o.runs),
        window,
        scheduled: at,
        catch_up,
    });
    plan
}

/// `<schedule>-<start>`, or with `-2`, `-3`, ... when a run of that name exists already (a
/// window retried after it did not succeed).
fn free_name(schedule: &str, start: Timestamp, runs: &[Run]) -> String {
    let base = run_name(schedule, start);
    let taken = |n: &str| runs.iter().any(|r| r.name == n);
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}-{i}"))
        .find(|n| !taken(n))
        .unwrap_or(base)
}

/// Finished runs beyond the history limits, oldest first out.
fn prune(s: &ValidSchedule, runs: &[Run]) -> Vec<String> {
    let mut out = Vec::new();
    for (succeeded, limit) in [
        (true, s.successful_history_limit),
        (false, s.failed_history_limit),
    ] {
        let mut done: Vec<&Run> = runs
            .iter()
            .filter(|r| !r.is_active() && r.succeeded() == succeeded)
            .collect();
        // Newest first: by window start, then by completion, then by name.
        done.sort_by(|a, b| {
            (b.window.start, b.completion, &b.name).cmp(&(a.window.start, a.completion, &a.name))
        });
        out.extend(done.into_iter().skip(limit).map(|r| r.name.clone()));
    }
    out
}

#[cfg(test)]
mod tests;

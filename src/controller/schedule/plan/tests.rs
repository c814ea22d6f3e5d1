use super::*;
use crate::api::{DigitalRecoveryScheduleSpec, InvalidSchedule};
use jiff::SignedDuration;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn spec(extra: serde_json::Value) -> DigitalRecoveryScheduleSpec {
    let mut v = serde_json::json!({
        "template": {
            "tenant": "acme",
            "genesys": {"region": "mypurecloud.ie", "credentialsSecret": "g"},
            "recordingSide": {"dasUrl": "https://d", "captureUrl": "https://c", "credentialsSecret": "v"},
            "mediaTypes": ["chat"]
        },
        "every": "1h"
    });
    if let (Some(base), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in extra {
            if val.is_null() {
                base.remove(k);
            } else {
                base.insert(k.clone(), val.clone());
            }
        }
    }
    serde_json::from_value(v).unwrap()
}

fn settings(extra: serde_json::Value) -> ValidSchedule {
    spec(extra).validate().unwrap()
}

fn run(name: &str, start: &str, end: &str, phase: Option<Phase>) -> Run {
    Run {
        name: name.into(),
        window: Window {
            start: ts(start),
            end: ts(end),
        },
        phase,
        cancel: false,
        scheduled: None,
        completion: phase.filter(|p| is_final(Some(*p))).map(|_| ts(end)),
        resume_from: None,
    }
}

fn carrying(mut r: Run, resume_from: &str) -> Run {
    r.resume_from = Some(ts(resume_from));
    r
}

#[test]
fn defaults_parse() {
    let s = settings(serde_json::json!({}));
    assert_eq!(s.settle_delay, SignedDuration::from_mins(30));
    assert_eq!(s.overlap, SignedDuration::from_mins(15));
    assert_eq!(s.initial_lookback, SignedDuration::from_hours(24));
    assert_eq!(s.max_window, SignedDuration::from_hours(24));
    assert_eq!(s.policy, ConcurrencyPolicy::Forbid);
    assert_eq!(s.successful_history_limit, 3);
    assert_eq!(s.give_up_after, SignedDuration::from_hours(24));
}

#[test]
fn overlap_may_be_zero() {
    let s = settings(serde_json::json!({"overlap": "0s"}));
    assert_eq!(s.overlap, SignedDuration::ZERO);
}

#[test]
fn invalid_specs_are_named() {
    let bad = |extra: serde_json::Value| spec(extra).validate().unwrap_err();
    assert!(matches!(
        bad(serde_json::json!({"every": null, "schedule": "61 * * * *"})),
        InvalidSchedule::Cron(..)
    ));
    assert!(matches!(
        bad(serde_json::json!({"every": null, "schedule": "0 * * * * *"})),
        InvalidSchedule::Cron(..)
    ));
    assert!(matches!(
        bad(
            serde_json::json!({"every": null, "schedule": "0 0 * * *", "timeZone": "Mars/Olympus"})
        ),
        InvalidSchedule::TimeZone(_)
    ));
    assert_eq!(
        bad(serde_json::json!({"schedule": "0 * * * *"})),
        InvalidSchedule::Trigger
    );
    assert!(matches!(
        bad(serde_json::json!({"overlap": "15 minutes"})),
        InvalidSchedule::Duration("overlap", _)
    ));
    assert_eq!(
        bad(serde_json::json!({"maxWindow": "745h"})),
        InvalidSchedule::MaxWindow
    );
    for give_up in ["0s", "a day", "-1h"] {
        assert!(
            matches!(
                bad(serde_json::json!({"giveUpAfter": give_up})),
                InvalidSchedule::Duration("giveUpAfter", _)
            ),
            "{give_up}"
        );
    }
}

#[test]
fn cron_in_a_time_zone() {
    let s = settings(
        serde_json::json!({"every": null, "schedule": "0 2 * * *", "timeZone": "Europe/Dublin"}),
    );
    // 02:00 in Dublin in summer (IST, UTC+1) is 01:00 UTC.
    let now = ts("2026-07-10T12:00:00Z");
    assert_eq!(
        s.trigger.last_at_or_before(now),
        Some(ts("2026-07-10T01:00:00Z"))
    );
    assert_eq!(s.trigger.next_after(now), Some(ts("2026-07-11T01:00:00Z")));
    // In winter Dublin is on UTC.
    assert_eq!(
        s.trigger.next_after(ts("2026-12-10T12:00:00Z")),
        Some(ts("2026-12-11T02:00:00Z"))
    );
}

#[test]
fn every_falls_on_multiples_since_the_epoch() {
    let s = settings(serde_json::json!({"every": "15m"}));
    let now = ts("2026-11-20T10:07:30Z");
    assert_eq!(
        s.trigger.last_at_or_before(now),
        Some(ts("2026-11-20T10:00:00Z"))
    );
    assert_eq!(s.trigger.next_after(now), Some(ts("2026-11-20T10:15:00Z")));
    assert_eq!(
        s.trigger.last_at_or_before(ts("2026-11-20T10:15:00Z")),
        Some(ts("2026-11-20T10:15:00Z"))
    );
}

#[test]
fn first_run_looks_back_initial_lookback_to_now_minus_settle_delay() {
    let s = settings(serde_json::json!({}));
    let now = ts("2026-11-20T10:07:30Z");
    let p = plan("acme", &s, &Observed::default(), now);
    let new = p.create.unwrap();
    assert_eq!(new.window.start, ts("2026-11-19T10:07:00Z"));
    assert_eq!(new.window.end, ts("2026-11-20T09:37:00Z"));
    assert_eq!(new.name, "acme-202611191007");
    assert_eq!(new.scheduled, ts("2026-11-20T10:00:00Z"));
    assert_eq!(p.coverage_start, Some(ts("2026-11-19T10:07:00Z")));
    assert_eq!(p.last_schedule_time, Some(ts("2026-11-20T10:00:00Z")));
    assert_eq!(p.next_schedule_time, Some(ts("2026-11-20T11:00:00Z")));
    assert_eq!(p.watermark, None);
}

#[test]
fn steady_state_window_starts_overlap_before_the_watermark() {
    let s = settings(serde_json::json!({}));
    let first = run(
        "acme-202611191007",
        "2026-11-19T10:07:00Z",
        "2026-11-20T09:37:00Z",
        Some(Phase::Succeeded),
    );
    let o = Observed {
        last_schedule_time: Some(ts("2026-11-20T10:00:00Z")),
        coverage_start: Some(ts("2026-11-19T10:07:00Z")),
        runs: vec![first],
        ..Observed::default()
    };
    // Before the next tick: the watermark moves, nothing is created.
    let p = plan("acme", &s, &o, ts("2026-11-20T10:30:00Z"));
    assert_eq!(p.watermark, Some(ts("2026-11-20T09:37:00Z")));
    assert_eq!(p.create, None);
    // At the next tick: [watermark - 15m, now - 30m).
    let p = plan("acme", &s, &o, ts("2026-11-20T11:00:10Z"));
    let new = p.create.unwrap();
    assert_eq!(new.window.start, ts("2026-11-20T09:22:00Z"));
    assert_eq!(new.window.end, ts("2026-11-20T10:30:00Z"));
    assert_eq!(new.name, "acme-202611200922");
    assert!(!new.catch_up);
}

#[test]
fn watermark_moves_over_finished_runs_to_their_resume_from() {
    let start = Some(ts("2026-11-01T00:00:00Z"));
    // A run that finished PartiallySucceeded carrying nothing (its failures were final: a
    // deleted recording, a 409) moves the watermark to its end; before, it held it back for good.
    let partial = vec![run(
        "p",
        "2026-11-01T00:00:00Z",
        "2026-11-02T00:00:00Z",
        Some(Phase::PartiallySucceeded),
    )];
    assert_eq!(
        advance_watermark(start, None, &partial),
        Some(ts("2026-11-02T00:00:00Z"))
    );
    // A run that carried conversations (not settled, failed for now) moves it to the earliest of
    // them, whatever its phase: also a Succeeded run, which used to move it past them.
    for phase in [Phase::Succeeded, Phase::PartiallySucceeded] {
        let carried = vec![carrying(
            run(
                "c",
                "2026-11-01T00:00:00Z",
                "2026-11-02T00:00:00Z",
                Some(phase),
            ),
            "2026-11-01T17:03:00Z",
        )];
        assert_eq!(
            advance_watermark(start, None, &carried),
            Some(ts("2026-11-01T17:03:00Z")),
            "{phase:?}"
        );
    }
    // The next run, starting before that instant, settles the rest and moves it on.
    let chain = vec![
        carrying(
            run(
                "a",
                "2026-11-01T00:00:00Z",
                "2026-11-02T00:00:00Z",
                Some(Phase::PartiallySucceeded),
            ),
            "2026-11-01T17:03:00Z",
        ),
        run(
            "b",
            "2026-11-01T16:45:00Z",
            "2026-11-03T00:00:00Z",
            Some(Phase::Succeeded),
        ),
    ];
    assert_eq!(
        advance_watermark(start, None, &chain),
        Some(ts("2026-11-03T00:00:00Z"))
    );
    // Nothing moves it backwards.
    assert_eq!(
        advance_watermark(None, Some(ts("2026-11-05T00:00:00Z")), &chain),
        Some(ts("2026-11-05T00:00:00Z"))
    );
}

#[test]
fn failed_and_cancelled_runs_move_the_watermark_only_as_far_as_their_finished_shards() {
    let start = Some(ts("2026-11-01T00:00:00Z"));
    let runs = vec![
        run(
            "a",
            "2026-11-01T00:00:00Z",
            "2026-11-02T00:00:00Z",
            Some(Phase::Succeeded),
        ),
        // Failed: its first shard finished, its second did not (resumeFrom: that slice's start).
        carrying(
            run(
                "b",
                "2026-11-01T23:45:00Z",
                "2026-11-03T00:00:00Z",
                Some(Phase::Failed),
            ),
            "2026-11-02T12:00:00Z",
        ),
        run(
            "c",
            "2026-11-02T23:45:00Z",
            "2026-11-04T00:00:00Z",
            Some(Phase::Succeeded),
        ),
    ];
    assert_eq!(
        advance_watermark(start, None, &runs),
        Some(ts("2026-11-02T12:00:00Z"))
    );
    // A Failed or Cancelled run whose status says nothing of its shards moves nothing.
    for phase in [Phase::Failed, Phase::Cancelled] {
        let unknown = vec![run(
            "f",
            "2026-11-01T00:00:00Z",
            "2026-11-02T00:00:00Z",
            Some(phase),
        )];
        assert_eq!(advance_watermark(start, None, &unknown), None, "{phase:?}");
    }
    // Nor does a run still going, whatever it has written so far.
    let running = vec![carrying(
        run(
            "r",
            "2026-11-01T00:00:00Z",
            "2026-11-02T00:00:00Z",
            Some(Phase::Running),
        ),
        "2026-11-01T20:00:00Z",
    )];
    assert_eq!(advance_watermark(start, None, &running), None);
    // Once the gap is covered by a later run, the watermark joins up with c.
    let mut healed = runs.clone();
    healed.push(run(
        "b-2",
        "2026-11-02T11:45:00Z",
        "2026-11-03T01:00:00Z",
        Some(Phase::Succeeded),
    ));
    assert_eq!(
        advance_watermark(start, None, &healed),
        Some(ts("2026-11-04T00:00:00Z"))
    );
}

#[test]
fn the_next_window_starts_at_a_carried_conversation_and_a_backlog_waits_for_the_tick() {
    let s = settings(serde_json::json!({"maxWindow": "24h"}));
    let o = Observed {
        last_schedule_time: Some(ts("2026-11-20T10:00:00Z")),
        coverage_start: Some(ts("2026-11-17T00:00:00Z")),
        runs: vec![carrying(
            run(
                "acme-202611170000",
                "2026-11-17T00:00:00Z",
                "2026-11-18T00:00:00Z",
                Some(Phase::PartiallySucceeded),
            ),
            "2026-11-17T08:20:30Z",
        )],
        ..Observed::default()
    };
    // A backlog, but the last run carried something: no catch-up before the tick.
    let p = plan("acme", &s, &o, ts("2026-11-20T10:30:00Z"));
    assert_eq!(p.watermark, Some(ts("2026-11-17T08:20:30Z")));
    assert_eq!(p.create, None);
    // At the tick: from the carried conversation, less overlap, to the minute.
    let new = plan("acme", &s, &o, ts("2026-11-20T11:00:00Z"))
        .create
        .unwrap();
    assert_eq!(new.window.start, ts("2026-11-17T08:05:00Z"));
    // A PartiallySucceeded run that carried nothing lets the backlog be caught up at once.
    let mut clean = o.clone();
    clean.runs[0].resume_from = None;
    let p = plan("acme", &s, &clean, ts("2026-11-20T10:30:00Z"));
    let new = p.create.unwrap();
    assert!(new.catch_up);
    assert_eq!(new.window.start, ts("2026-11-17T23:45:00Z"));
}

#[test]
fn a_failed_window_is_retried_under_a_new_name() {
    let s = settings(serde_json::json!({}));
    let o = Observed {
        last_schedule_time: Some(ts("2026-11-20T10:00:00Z")),
        coverage_start: Some(ts("2026-11-19T10:00:00Z")),
        watermark: Some(ts("2026-11-20T09:00:00Z")),
        runs: vec![run(
            "acme-202611200845",
            "2026-11-20T08:45:00Z",
            "2026-11-20T09:30:00Z",
            Some(Phase::Failed),
        )],
        ..Observed::default()
    };
    // No catch-up after a failure: wait for the tick.
    assert_eq!(
        plan("acme", &s, &o, ts("2026-11-20T10:40:00Z")).create,
        None
    );
    let p = plan("acme", &s, &o, ts("2026-11-20T11:00:00Z"));
    let new = p.create.unwrap();
    assert_eq!(new.window.start, ts("2026-11-20T08:45:00Z"));
    assert_eq!(new.window.end, ts("2026-11-20T10:30:00Z"));
    assert_eq!(new.name, "acme-202611200845-2");
    assert_eq!(p.watermark, Some(ts("2026-11-20T09:00:00Z")));
}

#[test]
fn a_long_gap_is_caught_up_in_ordered_runs_of_at_most_max_window() {
    let s = settings(serde_json::json!({"maxWindow": "24h"}));
    // Watermark three days old.
    let mut o = Observed {
        last_schedule_time: Some(ts("2026-11-17T10:00:00Z")),
        coverage_start: Some(ts("2026-11-16T00:00:00Z")),
        watermark: Some(ts("2026-11-17T09:30:00Z")),
        ..Observed::default()
    };
    let now = ts("2026-11-20T10:05:00Z");
    let mut windows = Vec::new();
    for _ in 0..10 {
        let p = plan("acme", &s, &o, now);
        o.watermark = p.watermark;
        o.last_schedule_time = p.last_schedule_time;
        let Some(new) = p.create else { break };
        assert!(new.window.end.duration_since(new.window.start) <= s.max_window);
        windows.push(new.window);
        // The run succeeds.
        o.runs.push(run(
            &new.name,
            &new.window.start.to_string(),
            &new.window.end.to_string(),
            Some(Phase::Succeeded),
        ));
    }
    let starts: Vec<String> = windows.iter().map(|w| w.start.to_string()).collect();
    // Three capped runs, each started as soon as the previous one Succeeded.
    assert_eq!(
        starts,
        [
            "2026-11-17T09:15:00Z",
            "2026-11-18T09:00:00Z",
            "2026-11-19T08:45:00Z",
        ]
    );
    for pair in windows.windows(2) {
        assert!(pair[1].start < pair[0].end, "consecutive windows overlap");
    }
    assert_eq!(o.watermark, Some(ts("2026-11-20T08:45:00Z")));
    // What is left is shorter than maxWindow: the next schedule time takes it, as in steady state.
    let p = plan("acme", &s, &o, ts("2026-11-20T11:00:00Z"));
    let last = p.create.unwrap();
    assert_eq!(last.window.start, ts("2026-11-20T08:30:00Z"));
    assert_eq!(last.window.end, ts("2026-11-20T10:30:00Z"));
    assert!(!last.catch_up);
}

#[test]
fn forbid_skips_while_a_run_is_active_and_replace_cancels_it() {
    let active = run(
        "acme-202611200845",
        "2026-11-20T08:45:00Z",
        "2026-11-20T09:30:00Z",
        Some(Phase::Running),
    );
    let o = Observed {
        last_schedule_time: Some(ts("2026-11-20T10:00:00Z")),
        coverage_start: Some(ts("2026-11-19T10:00:00Z")),
        watermark: Some(ts("2026-11-20T09:00:00Z")),
        runs: vec![active],
        ..Observed::default()
    };
    let now = ts("2026-11-20T11:00:00Z");
    let p = plan("acme", &settings(serde_json::json!({})), &o, now);
    assert_eq!(p.create, None);
    let skipped = p.skipped.unwrap();
    assert_eq!(skipped.reason, "ConcurrencyForbid");
    assert!(skipped.message.contains("acme-202611200845"));
    assert_eq!(p.last_schedule_time, Some(now));

    let p = plan(
        "acme",
        &settings(serde_json::json!({"concurrencyPolicy": "Replace"})),
        &o,
        now,
    );
    assert_eq!(p.cancel, ["acme-202611200845"]);
    let new = p.create.unwrap();
    assert_eq!(new.window.start, ts("2026-11-20T08:45:00Z"));
    assert_eq!(new.name, "acme-202611200845-2");

    let p = plan(
        "acme",
        &settings(serde_json::json!({"concurrencyPolicy": "Allow"})),
        &o,
        now,
    );
    assert!(p.cancel.is_empty());
    assert_eq!(p.create.unwrap().window.start, ts("2026-11-20T09:15:00Z"));
}

#[test]
fn suspended_schedules_create_nothing_and_resume_from_the_watermark() {
    let o = Observed {
        last_schedule_time: Some(ts("2026-11-20T10:00:00Z")),
        coverage_start: Some(ts("2026-11-19T10:00:00Z")),
        watermark: Some(ts("2026-11-20T09:30:00Z")),
        ..Observed::default()
    };
    let now = ts("2026-11-20T15:10:00Z");
    let p = plan(
        "acme",
        &settings(serde_json::json!({"suspend": true})),
        &o,
        now,
    );
    assert_eq!(p.create, None);
    assert_eq!(p.next_schedule_time, None);
    let p = plan("acme", &settings(serde_json::json!({})), &o, now);
    let new = p.create.unwrap();
    assert_eq!(new.window.start, ts("2026-11-20T09:15:00Z"));
    assert_eq!(new.window.end, ts("2026-11-20T14:40:00Z"));
    assert_eq!(new.scheduled, ts("2026-11-20T15:00:00Z"));
}

#[test]
fn a_run_past_its_starting_deadline_is_skipped() {
    let o = Observed {
        last_schedule_time: Some(ts("2026-11-20T10:00:00Z")),
        coverage_start: Some(ts("2026-11-19T10:00:00Z")),
        watermark: Some(ts("2026-11-20T09:30:00Z")),
        ..Observed::default()
    };
    let s = settings(serde_json::json!({"startingDeadlineSeconds": 60}));
    let p = plan("acme", &s, &o, ts("2026-11-20T11:05:00Z"));
    assert_eq!(p.create, None);
    assert_eq!(p.skipped.unwrap().reason, "MissedStartingDeadline");
    assert!(
        plan("acme", &s, &o, ts("2026-11-20T11:00:30Z"))
            .create
            .is_some()
    );
}

#[test]
fn a_schedule_time_already_served_creates_nothing() {
    let mut made = run(
        "acme-202611200915",
        "2026-11-20T09:15:00Z",
        "2026-11-20T10:30:00Z",
        Some(Phase::Succeeded),
    );
    made.scheduled = Some(ts("2026-11-20T11:00:00Z"));
    let o = Observed {
        // The status write after the create was lost.
        last_schedule_time: Some(ts("2026-11-20T10:00:00Z")),
        coverage_start: Some(ts("2026-11-19T10:00:00Z")),
        watermark: Some(ts("2026-11-20T09:30:00Z")),
        runs: vec![made],
        ..Observed::default()
    };
    let p = plan(
        "acme",
        &settings(serde_json::json!({})),
        &o,
        ts("2026-11-20T11:00:05Z"),
    );
    assert_eq!(p.create, None);
    assert_eq!(p.last_schedule_time, Some(ts("2026-11-20T11:00:00Z")));
}

#[test]
fn history_beyond_the_limits_is_pruned_oldest_first() {
    let s = settings(serde_json::json!({"successfulHistoryLimit": 2, "failedHistoryLimit": 1}));
    let runs = vec![
        run(
            "s1",
            "2026-11-01T00:00:00Z",
            "2026-11-02T00:00:00Z",
            Some(Phase::Succeeded),
        ),
        run(
            "s2",
            "2026-11-02T00:00:00Z",
            "2026-11-03T00:00:00Z",
            Some(Phase::Succeeded),
        ),
        run(
            "s3",
            "2026-11-03T00:00:00Z",
            "2026-11-04T00:00:00Z",
            Some(Phase::Succeeded),
        ),
        run(
            "f1",
            "2026-11-04T00:00:00Z",
            "2026-11-05T00:00:00Z",
            Some(Phase::Failed),
        ),
        run(
            "f2",
            "2026-11-04T00:00:00Z",
            "2026-11-05T01:00:00Z",
            Some(Phase::Cancelled),
        ),
        run(
            "r",
            "2026-11-04T00:00:00Z",
            "2026-11-05T02:00:00Z",
            Some(Phase::Running),
        ),
    ];
    let mut pruned = prune(&s, &runs);
    pruned.sort();
    assert_eq!(pruned, ["f1", "s1"]);
}

#[test]
fn an_empty_window_is_skipped() {
    // initialLookback shorter than settleDelay: nothing has settled yet.
    let s = settings(serde_json::json!({"initialLookback": "10m"}));
    let p = plan("acme", &s, &Observed::default(), ts("2026-11-20T10:00:00Z"));
    assert_eq!(p.create, None);
    assert_eq!(p.skipped.unwrap().reason, "EmptyWindow");
}

#[test]
fn a_long_schedule_name_makes_run_names_that_fit_with_a_retry_suffix() {
    let start = Timestamp::from_second(1_795_000_000).unwrap();
    let short = run_name("nightly", start);
    assert!(short.starts_with("nightly-"), "{short}");
    let long = "s".repeat(253);
    let name = run_name(&long, start);
    assert!(name.len() + "-999".len() <= 253, "{}", name.len());
    assert_ne!(
        name,
        run_name(&"s".repeat(252), start),
        "distinct schedules, distinct runs"
    );
    assert!(
        name.ends_with(&start.strftime("%Y%m%d%H%M").to_string()),
        "{name}"
    );
}

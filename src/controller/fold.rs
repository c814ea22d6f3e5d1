//! Folding what the controller observes (the recovery, its Job, the shards' status entries) into
//! the recovery's phase, totals and kstatus conditions. Pure: no API calls, no clock reads.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;

use crate::api::{
    ApiCalls, DigitalRecovery, DigitalRecoveryStatus, FailureRecord, MAX_FAILURES, MAX_REASONS,
    MatchCounts, MediaTypeCounts, Phase, Progress, ReasonCount, ShardPhase, ShardStatus,
};
use crate::kubeapi::condition;
use crate::pipeline::settle::earliest;

use super::worker_exits::{WorkerExit, summarize};

/// Whether a phase is final: a recovery in a final phase is never started again.
pub fn is_final(phase: Option<Phase>) -> bool {
    matches!(
        phase,
        Some(Phase::Succeeded | Phase::PartiallySucceeded | Phase::Failed | Phase::Cancelled)
    )
}

/// Whether a Job has finished (Complete or Failed).
pub fn job_finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

/// What the controller saw for one recovery.
pub struct Observed<'a> {
    pub dr: &'a DigitalRecovery,
    /// The recovery's Job, if it exists (only a Job this recovery owns).
    pub job: Option<&'a Job>,
    /// A Job of the recovery's Job name exists but belongs to another object, typically an
    /// earlier recovery of the same name that the garbage collector has not removed yet.
    pub job_name_taken: bool,
    /// Why the job controller cannot create the Job's pods (its latest `FailedCreate` Event).
    pub pods_not_created: Option<String>,
    /// A reason the spec cannot run, found by validation beyond the schema.
    pub invalid: Option<String>,
    /// How the Job's failed worker pods ended (read only once the Job counts failed pods).
    pub worker_exits: Vec<WorkerExit>,
    /// Admission holds the recovery back: its place in the queue and the cap that holds it.
    pub queued: Option<(u32, String)>,
    pub now: Timestamp,
}

impl<'a> Observed<'a> {
    /// `dr` with its Job (if any) and nothing else of note.
    pub fn new(dr: &'a DigitalRecovery, job: Option<&'a Job>, now: Timestamp) -> Observed<'a> {
        Observed {
            dr,
            job,
            job_name_taken: false,
            pods_not_created: None,
            invalid: None,
            worker_exits: Vec::new(),
            queued: None,
            now,
        }
    }
}

/// What the Job's own status says about workers that have not reported yet: pods created but not
/// running, or pods that failed before writing anything. Read from the Job alone (the controller
/// does not read Pods).
fn waiting_for_workers(job: &Job) -> String {
    let status = job.status.as_ref();
    let count = |n: Option<i32>| n.unwrap_or(0);
    let (active, ready, failed) = (
        count(status.and_then(|s| s.active)),
        count(status.and_then(|s| s.ready)),
        count(status.and_then(|s| s.failed)),
    );
    let pods = format!(
        "kubectl get pods -l batch.kubernetes.io/job-name={}",
        job.name_any()
    );
    if failed > 0 {
        format!(
            "waiting for the first worker: {failed} worker pod(s) failed before reporting \
             (see their logs: {pods})"
        )
    } else if active > 0 && ready == 0 {
        format!("waiting for the first worker: {active} pod(s) created, none running yet ({pods})")
    } else {
        "waiting for the first worker".into()
    }
}

/// The status of a recovery whose reconcile failed: what it showed before (never the workers'
/// `shards`), with conditions that say why the controller cannot go on: `Ready=False` and
/// `Stalled=True` with reason `ReconcileError` and `message`, until a reconcile succeeds.
pub fn with_reconcile_error(
    dr: &DigitalRecovery,
    message: &str,
    now: Timestamp,
) -> DigitalRecoveryStatus {
    let old = dr.status.clone().unwrap_or_default();
    let generation = dr.metadata.generation;
    let reason = "ReconcileError";
    let conditions = [("Ready", false), ("Reconciling", false), ("Stalled", true)]
        .map(|(type_, status)| {
            condition(
                &old.conditions,
                type_,
                status,
                reason,
                message,
                generation,
                now,
            )
        })
        .to_vec();
    DigitalRecoveryStatus {
        phase: Some(old.phase.unwrap_or(Phase::Pending)),
        observed_generation: generation,
        conditions,
        shards: Vec::new(),
        ..old
    }
}

/// Where a later run must resume so that nothing this recovery did not settle is skipped: the
/// earliest of each shard's `resumeFrom` (a shard that Succeeded), or of its slice's start (a
/// shard that did not: none of its work is counted as done), or the window's start (a shard that
/// never said which slice it had: the workers cut the slices by conversation counts, which the
/// controller does not know). None when every shard Succeeded carrying nothing.
pub fn resume_from(
    dr: &DigitalRecovery,
    parallelism: u32,
    shards: &[&ShardStatus],
) -> Option<Timestamp> {
    let (window, parallelism) = (dr.spec.window, parallelism.max(1));
    (0..parallelism)
        .map(|index| {
            let shard = shards.iter().find(|s| s.index == index);
            let slice_start = shard
                .and_then(|s| s.slice)
                .map_or(window.start, |slice| slice.start);
            match shard {
                // An instant that does not parse counts as the slice's start.
                Some(s) if s.phase == Some(ShardPhase::Succeeded) => s
                    .resume_from
                    .as_ref()
                    .map(|at| at.parse().unwrap_or(slice_start)),
                _ => Some(slice_start),
            }
        })
        .fold(None, earliest)
}

/// How many shards the recovery runs: its Job's completions once the Job exists (a Job created
/// before `parallelism: auto` existed ran one shard where the spec now says `auto`), else the
/// spec's.
pub fn shard_count(dr: &DigitalRecovery, job: Option<&Job>) -> u32 {
    job.and_then(|j| j.spec.as_ref())
        .and_then(|s| s.completions)
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or_else(|| dr.spec.shards())
}

/// The controller-owned part of the status (never `shards`, which the workers own).
pub fn fold(o: &Observed<'_>) -> DigitalRecoveryStatus {
    let dr = o.dr;
    let old = dr.status.clone().unwrap_or_default();
    let parallelism = shard_count(dr, o.job);
    let shards: Vec<_> = old
        .shards
        .iter()
        .filter(|s| s.index < parallelism)
        .collect();

    let mut match_counts = MatchCounts::default();
    let mut progress = Progress::default();
    let mut api_calls = ApiCalls::default();
    let mut by_media: Vec<MediaTypeCounts> = Vec::new();
    let mut failures: Vec<FailureRecord> = Vec::new();
    let mut unrecoverable: BTreeMap<String, u64> = BTreeMap::new();
    for s in &shards {
        for r in &s.unrecoverable {
            *unrecoverable.entry(r.reason.clone()).or_insert(0) += r.count;
        }
        if let Some(m) = s.match_counts {
            match_counts += m;
        }
        if let Some(p) = s.progress {
            progress += p;
        }
        if let Some(a) = s.api_calls {
            api_calls += a;
        }
        for m in &s.by_media_type {
            match by_media.iter_mut().find(|x| x.media_type == m.media_type) {
                Some(x) => *x += *m,
                None => by_media.push(*m),
            }
        }
        for f in &s.failures {
            if failures.len() < MAX_FAILURES {
                failures.push(FailureRecord {
                    shard: Some(s.index),
                    ..f.clone()
                });
            }
        }
    }
    by_media.sort_by_key(|m| m.media_type);
    let finished = shards
        .iter()
        .filter(|s| matches!(s.phase, Some(ShardPhase::Succeeded | ShardPhase::Failed)))
        .count();
    // A shard that failed for a reason retrying cannot fix (e.g. missing credentials).
    let blocked: Vec<String> = shards
        .iter()
        .filter(|s| s.phase == Some(ShardPhase::Failed))
        .map(|s| {
            format!(
                "shard {}: {}: {}",
                s.index,
                s.reason.as_deref().unwrap_or("Failed"),
                s.message.as_deref().unwrap_or("no message")
            )
        })
        .collect();

    let job_condition = |kind: &str| {
        o.job
            .and_then(|j| j.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == kind && c.status == "True"))
    };

    // The phase, what to say about it, and the conditions' reason.
    let (phase, message, reason): (Phase, String, &str) = if is_final(old.phase) {
        let phase = old.phase.unwrap_or(Phase::Failed);
        (phase, final_message(&old, phase), final_reason(&old, phase))
    } else if dr.spec.cancel {
        (
            Phase::Cancelled,
            "cancelled on request (spec.cancel)".into(),
            "Cancelled",
        )
    } else if let Some(why) = &o.invalid {
        (Phase::Failed, format!("invalid spec: {why}"), "InvalidSpec")
    } else if job_condition("Complete").is_some() && finished == parallelism as usize {
        // Every worker writes its final entry before exiting 0, so a complete Job whose shards
        // do not all look final means this view of the recovery is stale (e.g. its watch was
        // cut by an apiserver restart): wait for the fresh one (below: Running) rather than
        // freeze stale totals into a final phase.
        let partial = progress.failed > 0 || progress.pending > 0 || !failures.is_empty();
        if partial {
            (
                Phase::PartiallySucceeded,
                format!(
                    "finished: {} recovered, {} verified, {} failed, {} pending{}{}",
                    progress.recovered,
                    progress.verified,
                    progress.failed,
                    progress.pending,
                    not_recorded_note(&progress),
                    carried_note(&progress)
                ),
                "PartiallySucceeded",
            )
        } else {
            (
                Phase::Succeeded,
                format!(
                    "finished: {} of {} missing or partial conversations recovered, {} verified{}{}",
                    progress.recovered,
                    progress.to_recover,
                    progress.verified,
                    not_recorded_note(&progress),
                    carried_note(&progress)
                ),
                "Succeeded",
            )
        }
    } else if let Some(c) = job_condition("Failed") {
        let job_says = format!(
            "the worker Job failed: {}: {}",
            c.reason.as_deref().unwrap_or("Failed"),
            c.message.as_deref().unwrap_or("no message")
        );
        let pods_say = summarize(&o.worker_exits, o.job);
        if c.reason.as_deref() == Some("DeadlineExceeded") {
            (Phase::Failed, job_says, "DeadlineExceeded")
        } else if !blocked.is_empty() {
            (Phase::Failed, blocked.join("; "), "ShardsFailed")
        } else if let Some((reason, pods)) = pods_say {
            (Phase::Failed, format!("{job_says}; {pods}"), reason)
        } else {
            (Phase::Failed, job_says, "ShardsFailed")
        }
    } else if o.job_name_taken {
        (
            Phase::Pending,
            format!(
                "waiting for the Job {} of an earlier object of the same name to be deleted",
                crate::contract::job_name(&dr.name_any())
            ),
            "JobNameTaken",
        )
    } else if let (None, Some((position, cap))) = (o.job, &o.queued) {
        (
            Phase::Pending,
            format!("queued, position {position}: {cap}"),
            "Queued",
        )
    } else if o.job.is_none() {
        (Phase::Pending, "creating the worker Job".into(), "Pending")
    } else if let (true, Some(why)) = (shards.is_empty(), &o.pods_not_created) {
        (
            Phase::Pending,
            format!("no worker pod can be created: {why}"),
            "PodsNotCreated",
        )
    } else if let (true, Some(job)) = (shards.is_empty(), o.job) {
        let message = match summarize(&o.worker_exits, o.job) {
            Some((_, pods)) => format!("{}; {pods}", waiting_for_workers(job)),
            None => waiting_for_workers(job),
        };
        (Phase::Pending, message, "Pending")
    } else {
        (
            Phase::Running,
            format!("{finished} of {parallelism} shards finished"),
            "Running",
        )
    };

    // Why the recovery cannot progress while it is not final: a shard that retrying cannot
    // help, a Job bound to fail, pods that cannot be created.
    let job_failing = job_condition("FailureTarget").map(|c| {
        format!(
            "the worker Job is failing: {}: {}",
            c.reason.as_deref().unwrap_or("FailureTarget"),
            c.message.as_deref().unwrap_or("no message")
        )
    });
    let stall: Option<(&str, String)> = match phase {
        Phase::Failed => Some((reason, message.clone())),
        Phase::Running | Phase::Pending if !blocked.is_empty() => {
            Some(("ShardBlocked", blocked.join("; ")))
        }
        Phase::Running | Phase::Pending if job_failing.is_some() => {
            job_failing.map(|m| ("JobFailing", m))
        }
        Phase::Pending if reason == "PodsNotCreated" => Some((reason, message.clone())),
        _ => None,
    };
    // Ready: the recovery reached what was asked of it, a finished run (PartiallySucceeded is
    // a normal end: what failed for good is listed and no longer holds a schedule back) or the
    // cancellation asked for. kstatus reads Ready=False as "in progress", so a Cancelled
    // recovery with Ready=False would never be Current for Flux.
    let ready = matches!(
        phase,
        Phase::Succeeded | Phase::PartiallySucceeded | Phase::Cancelled
    );
    let reconciling = matches!(phase, Phase::Pending | Phase::Running) && stall.is_none();
    let generation = dr.metadata.generation;
    let conditions = vec![
        condition(
            &old.conditions,
            "Ready",
            ready,
            reason,
            &message,
            generation,
            o.now,
        ),
        condition(
            &old.conditions,
            "Reconciling",
            reconciling,
            reason,
            &message,
            generation,
            o.now,
        ),
        match &stall {
            Some((stall_reason, stall_message)) => condition(
                &old.conditions,
                "Stalled",
                true,
                stall_reason,
                stall_message,
                generation,
                o.now,
            ),
            None => condition(
                &old.conditions,
                "Stalled",
                false,
                reason,
                &message,
                generation,
                o.now,
            ),
        },
    ];

    let start_time = old
        .start_time
        .clone()
        .or_else(|| (o.job.is_some() || phase == Phase::Running).then(|| o.now.to_string()));
    let completion_time = if is_final(Some(phase)) {
        old.completion_time
            .clone()
            .or_else(|| Some(o.now.to_string()))
    } else {
        None
    };
    let keep_old_totals = is_final(old.phase) && shards.is_empty();
    DigitalRecoveryStatus {
        phase: Some(phase),
        observed_generation: dr.metadata.generation,
        conditions,
        start_time,
        completion_time,
        match_counts: if keep_old_totals {
            old.match_counts
        } else {
            Some(match_counts)
        },
        by_media_type: if keep_old_totals {
            old.by_media_type.clone()
        } else {
            by_media
        },
        progress: if keep_old_totals {
            old.progress
        } else {
            Some(progress)
        },
        api_calls: if keep_old_totals {
            old.api_calls
        } else {
            Some(api_calls)
        },
        shard_count: Some(parallelism),
        shards_finished: u32::try_from(finished).ok(),
        shards: Vec::new(),
        failures: if keep_old_totals {
            old.failures.clone()
        } else {
            failures
        },
        unrecoverable: if keep_old_totals {
            old.unrecoverable.clone()
        } else {
            unrecoverable
                .into_iter()
                .take(MAX_REASONS)
                .map(|(reason, count)| ReasonCount { reason, count })
                .collect()
        },
        resume_from: if keep_old_totals {
            old.resume_from.clone()
        } else {
            resume_from(dr, parallelism, &shards).map(|t| t.to_string())
        },
        queue_position: match (o.job, &o.queued) {
            (None, Some((position, _))) => Some(*position),
            _ => None,
        },
        // Set by the reconcile from the fleet's view, not from this recovery alone.
        genesys_budget: None,
    }
}

fn reason_of(phase: Phase) -> &'static str {
    match phase {
        Phase::Pending => "Pending",
        Phase::Running => "Running",
        Phase::Succeeded => "Succeeded",
        Phase::PartiallySucceeded => "PartiallySucceeded",
        Phase::Failed => "Failed",
        Phase::Cancelled => "Cancelled",
    }
}

/// The reason a final recovery ended with (`DeadlineExceeded`, `ShardsFailed`, `InvalidSpec`,
/// ...), kept as its message is, so later reconciles do not turn it into the phase's name.
fn final_reason(old: &DigitalRecoveryStatus, phase: Phase) -> &str {
    old.conditions
        .iter()
        .find(|c| c.type_ == "Ready" && !c.reason.is_empty())
        .map_or(reason_of(phase), |c| c.reason.as_str())
}

/// ", N not recorded in Genesys" when some lacking conversations have no text recording: a
/// final outcome found by asking the recordings API, not a failure.
fn not_recorded_note(progress: &Progress) -> String {
    match progress.not_recorded {
        0 => String::new(),
        n => format!(", {n} not recorded in Genesys"),
    }
}

/// ", N carried over to a later run" and ", N given up" when there are any (see
/// `status.resumeFrom`).
fn carried_note(progress: &Progress) -> String {
    let mut note = String::new();
    if progress.carried > 0 {
        note.push_str(&format!(
            ", {} carried over to a later run (see resumeFrom)",
            progress.carried
        ));
    }
    if progress.gave_up > 0 {
        note.push_str(&format!(", {} given up", progress.gave_up));
    }
    note
}

fn final_message(old: &DigitalRecoveryStatus, phase: Phase) -> String {
    old.conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_else(|| format!("{phase:?}"))
}

/// A short label for a recovery in logs and events.
pub fn describe(dr: &DigitalRecovery) -> String {
    format!("{}/{}", dr.namespace().unwrap_or_default(), dr.name_any())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
    use serde_json::json;

    fn recovery(shard_phases: &[&str]) -> DigitalRecovery {
        let shards: Vec<_> = shard_phases
            .iter()
            .enumerate()
            .map(|(i, phase)| {
                json!({"index": i, "phase": phase,
                       "progress": {"toRecover": 5, "recovered": 5, "verified": 5, "failed": 0, "pending": 0}})
            })
            .collect();
        serde_json::from_value(json!({
            "apiVersion": "recovery.cxops.io/v1alpha1",
            "kind": "DigitalRecovery",
            "metadata": {"name": "r", "namespace": "ns", "generation": 1},
            "spec": {
                "tenant": "demo",
                "genesys": {"apiBaseUrl": "https://api.mypurecloud.com", "credentialsSecret": "g"},
                "recordingSide": {"dasUrl": "https://das", "captureUrl": "https://capture", "credentialsSecret": "v"},
                "window": {"start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"},
                "mediaTypes": ["chat"],
                "parallelism": 2
            },
            "status": {"phase": "Running", "shards": shards}
        }))
        .expect("recovery")
    }

    fn complete_job() -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": "r"},
            "status": {"conditions": [{"type": "Complete", "status": "True"}]}
        }))
        .expect("job")
    }

    fn phase_of(dr: &DigitalRecovery, job: &Job) -> Option<Phase> {
        fold(&Observed::new(dr, Some(job), Timestamp::UNIX_EPOCH)).phase
    }

    #[test]
    fn a_complete_job_with_stale_shards_is_not_final_yet() {
        let job = complete_job();
        let stale = recovery(&["Succeeded", "Running"]);
        assert_eq!(phase_of(&stale, &job), Some(Phase::Running));
        let fresh = recovery(&["Succeeded", "Succeeded"]);
        let status = fold(&Observed::new(&fresh, Some(&job), Timestamp::UNIX_EPOCH));
        assert_eq!(status.phase, Some(Phase::Succeeded));
        assert_eq!(status.progress.map(|p| p.recovered), Some(10));
    }

    #[test]
    fn finished_and_cancelled_recoveries_are_ready_failed_ones_stalled() {
        let job = complete_job();
        let mut partial = recovery(&["Succeeded", "Succeeded"]);
        if let Some(status) = partial.status.as_mut() {
            status.shards[0].progress = Some(Progress {
                to_recover: 2,
                recovered: 1,
                failed: 1,
                ..Progress::default()
            });
        }
        let status = fold(&Observed::new(&partial, Some(&job), Timestamp::UNIX_EPOCH));
        assert_eq!(status.phase, Some(Phase::PartiallySucceeded));
        assert_eq!(condition_of(&status, "Ready").status, "True");
        assert_eq!(condition_of(&status, "Stalled").status, "False");

        let mut cancelled = recovery(&["Running"]);
        cancelled.spec.cancel = true;
        let status = fold(&Observed::new(&cancelled, None, Timestamp::UNIX_EPOCH));
        assert_eq!(status.phase, Some(Phase::Cancelled));
        let ready = condition_of(&status, "Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "Cancelled")
        );
        assert_eq!(condition_of(&status, "Reconciling").status, "False");
        assert_eq!(condition_of(&status, "Stalled").status, "False");
    }

    #[test]
    fn shards_media_counts_and_unrecoverable_reasons_are_summed() {
        let mut dr = recovery(&["Succeeded", "Succeeded"]);
        if let Some(status) = dr.status.as_mut() {
            for shard in &mut status.shards {
                let mut chat = MediaTypeCounts::new(crate::api::MediaType::Chat);
                (chat.matched, chat.missing, chat.partial, chat.extra) = (3, 2, 1, 4);
                shard.by_media_type = vec![chat];
                shard.unrecoverable = vec![ReasonCount {
                    reason: "archived".into(),
                    count: 2,
                }];
            }
            status.shards[1].unrecoverable.push(ReasonCount {
                reason: "gaveUp".into(),
                count: 1,
            });
        }
        let status = fold(&Observed::new(
            &dr,
            Some(&complete_job()),
            Timestamp::UNIX_EPOCH,
        ));
        let chat = status.by_media_type.first().copied();
        assert_eq!(
            chat.map(|c| (c.matched, c.missing, c.partial, c.extra)),
            Some((6, 4, 2, 8))
        );
        let reasons: Vec<(&str, u64)> = status
            .unrecoverable
            .iter()
            .map(|r| (r.reason.as_str(), r.count))
            .collect();
        assert_eq!(reasons, [("archived", 4), ("gaveUp", 1)]);
    }

    #[test]
    fn not_recorded_conversations_are_final_not_failures() {
        let mut dr = recovery(&["Succeeded", "Succeeded"]);
        if let Some(status) = dr.status.as_mut() {
            for shard in &mut status.shards {
                shard.progress = Some(Progress {
                    to_recover: 7,
                    recovered: 5,
                    verified: 5,
                    not_recorded: 2,
                    carried: 3,
                    gave_up: 1,
                    ..Progress::default()
                });
            }
        }
        let job = complete_job();
        let status = fold(&Observed::new(&dr, Some(&job), Timestamp::UNIX_EPOCH));
        assert_eq!(status.phase, Some(Phase::Succeeded));
        let progress = status.progress.unwrap_or_default();
        assert_eq!((progress.to_recover, progress.not_recorded), (14, 4));
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        assert!(
            ready.is_some_and(|c| c.message.contains("4 not recorded in Genesys")),
            "{ready:?}"
        );
        assert!(
            ready.is_some_and(|c| c
                .message
                .contains("6 carried over to a later run (see resumeFrom), 2 given up")),
            "{ready:?}"
        );
    }

    #[test]
    fn resume_from_is_the_earliest_carried_start_or_an_unfinished_slice() {
        let job = complete_job();
        let at = |dr: &DigitalRecovery| {
            fold(&Observed::new(dr, Some(&job), Timestamp::UNIX_EPOCH)).resume_from
        };
        // Both shards finished carrying nothing: nothing to resume.
        let mut dr = recovery(&["Succeeded", "Succeeded"]);
        assert_eq!(at(&dr), None);
        // The earliest carried start of any shard.
        if let Some(status) = dr.status.as_mut() {
            status.shards[0].resume_from = Some("2026-11-01T09:00:00Z".into());
            status.shards[1].resume_from = Some("2026-11-01T13:00:00Z".into());
        }
        assert_eq!(at(&dr).as_deref(), Some("2026-11-01T09:00:00Z"));
        // A shard that did not succeed counts from its slice's start (as it wrote it: slices
        // follow conversation counts), whatever it carried.
        let mut failed = recovery(&["Succeeded", "Failed"]);
        if let Some(status) = failed.status.as_mut() {
            status.shards[1].resume_from = Some("2026-11-01T23:00:00Z".into());
            status.shards[1].slice = Some(crate::api::Window {
                start: "2026-11-01T15:30:00Z".parse().unwrap(),
                end: "2026-11-02T00:00:00Z".parse().unwrap(),
            });
        }
        assert_eq!(at(&failed).as_deref(), Some("2026-11-01T15:30:00Z"));
        // A shard that never said its slice, or never wrote its entry, counts from the window's
        // start; so does an unreadable instant.
        if let Some(status) = failed.status.as_mut() {
            status.shards[1].slice = None;
        }
        assert_eq!(at(&failed).as_deref(), Some("2026-11-01T00:00:00Z"));
        let missing = recovery(&["Succeeded"]);
        assert_eq!(at(&missing).as_deref(), Some("2026-11-01T00:00:00Z"));
        let mut garbled = recovery(&["Succeeded", "Succeeded"]);
        if let Some(status) = garbled.status.as_mut() {
            status.shards[0].resume_from = Some("yesterday".into());
        }
        assert_eq!(at(&garbled).as_deref(), Some("2026-11-01T00:00:00Z"));
    }

    fn condition_of<'a>(status: &'a DigitalRecoveryStatus, type_: &str) -> &'a Condition {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap_or_else(|| panic!("no {type_} condition: {status:?}"))
    }

    fn running_job(status: serde_json::Value) -> Job {
        serde_json::from_value(json!({"metadata": {"name": "r"}, "status": status})).expect("job")
    }

    #[test]
    fn pods_that_cannot_be_created_stall_the_recovery_saying_why() {
        let dr = recovery(&[]);
        let job = running_job(json!({"active": 0}));
        let why = "Error creating: pods \"r-0-x7k2p\" is forbidden: violates PodSecurity \"restricted:latest\"";
        let status = fold(&Observed {
            pods_not_created: Some(why.into()),
            ..Observed::new(&dr, Some(&job), Timestamp::UNIX_EPOCH)
        });
        assert_eq!(status.phase, Some(Phase::Pending));
        let stalled = condition_of(&status, "Stalled");
        assert_eq!(
            (stalled.status.as_str(), stalled.reason.as_str()),
            ("True", "PodsNotCreated")
        );
        assert!(
            stalled.message.contains("violates PodSecurity"),
            "{stalled:?}"
        );
        assert_eq!(condition_of(&status, "Reconciling").status, "False");
        assert!(
            condition_of(&status, "Ready")
                .message
                .contains("no worker pod can be created")
        );
    }

    #[test]
    fn the_job_status_explains_a_wait_for_the_first_worker() {
        let dr = recovery(&[]);
        let message = |job: &Job| {
            let status = fold(&Observed::new(&dr, Some(job), Timestamp::UNIX_EPOCH));
            assert_eq!(status.phase, Some(Phase::Pending));
            condition_of(&status, "Ready").message.clone()
        };
        let pending = message(&running_job(json!({"active": 2, "ready": 0})));
        assert!(
            pending.contains("2 pod(s) created, none running yet"),
            "{pending}"
        );
        assert!(
            pending.contains("batch.kubernetes.io/job-name=r"),
            "{pending}"
        );
        let failed = message(&running_job(json!({"active": 2, "failed": 3})));
        assert!(
            failed.contains("3 worker pod(s) failed before reporting"),
            "{failed}"
        );
        assert_eq!(
            message(&running_job(json!({"active": 2, "ready": 2}))),
            "waiting for the first worker"
        );
    }

    #[test]
    fn a_job_bound_to_fail_stalls_the_recovery_before_it_fails() {
        let dr = recovery(&["Running", "Running"]);
        let job = running_job(
            json!({"conditions": [{"type": "FailureTarget", "status": "True",
            "reason": "PodFailurePolicy", "message": "Container worker for pod r-1 failed with exit code 3"}]}),
        );
        let status = fold(&Observed::new(&dr, Some(&job), Timestamp::UNIX_EPOCH));
        assert_eq!(status.phase, Some(Phase::Running));
        let stalled = condition_of(&status, "Stalled");
        assert_eq!(
            (stalled.status.as_str(), stalled.reason.as_str()),
            ("True", "JobFailing")
        );
        assert!(stalled.message.contains("exit code 3"), "{stalled:?}");
    }

    #[test]
    fn a_worker_over_its_memory_limit_fails_the_recovery_as_oom_killed() {
        let dr = recovery(&["Running"]);
        let job = running_job(
            json!({"failed": 4, "conditions": [{"type": "Failed", "status": "True",
            "reason": "FailedIndexes", "message": "Job has failed indexes"}]}),
        );
        let oom = WorkerExit {
            shard: Some(0),
            reason: "OOMKilled".into(),
            exit_code: Some(137),
            message: None,
        };
        let status = fold(&Observed {
            worker_exits: vec![oom; 4],
            ..Observed::new(&dr, Some(&job), Timestamp::UNIX_EPOCH)
        });
        assert_eq!(status.phase, Some(Phase::Failed));
        for type_ in ["Ready", "Stalled"] {
            let c = condition_of(&status, type_);
            assert_eq!(c.reason, "OOMKilled", "{c:?}");
            assert!(
                c.message.contains("shard 0: OOMKilled (exit code 137) x4")
                    && c.message.contains("spec.worker.memoryLimit"),
                "{c:?}"
            );
        }
        // Without the pods' word, the Job's.
        let status = fold(&Observed::new(&dr, Some(&job), Timestamp::UNIX_EPOCH));
        assert_eq!(condition_of(&status, "Ready").reason, "ShardsFailed");
    }

    #[test]
    fn a_final_reason_survives_later_reconciles() {
        let mut dr = recovery(&["Running", "Running"]);
        let job = running_job(json!({"conditions": [{"type": "Failed", "status": "True",
            "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]}));
        let first = fold(&Observed::new(&dr, Some(&job), Timestamp::UNIX_EPOCH));
        assert_eq!(first.phase, Some(Phase::Failed));
        assert_eq!(condition_of(&first, "Ready").reason, "DeadlineExceeded");
        dr.status = Some(DigitalRecoveryStatus {
            shards: dr.status.take().unwrap_or_default().shards,
            ..first
        });
        let again = fold(&Observed::new(&dr, Some(&job), Timestamp::UNIX_EPOCH));
        assert_eq!(again.phase, Some(Phase::Failed));
        for type_ in ["Ready", "Stalled"] {
            let c = condition_of(&again, type_);
            assert_eq!(c.reason, "DeadlineExceeded", "{c:?}");
            assert!(c.message.contains("deadline"), "{c:?}");
        }
    }

    #[test]
    fn a_job_left_by_an_earlier_recovery_of_the_same_name_is_waited_for() {
        let mut dr = recovery(&[]);
        dr.status = None;
        let status = fold(&Observed {
            job_name_taken: true,
            ..Observed::new(&dr, None, Timestamp::UNIX_EPOCH)
        });
        assert_eq!(status.phase, Some(Phase::Pending));
        let ready = condition_of(&status, "Ready");
        assert_eq!(ready.reason, "JobNameTaken");
        assert!(
            ready.message.contains("earlier object of the same name"),
            "{ready:?}"
        );
    }

    #[test]
    fn a_queued_recovery_is_pending_with_its_place_until_its_job_exists() {
        let mut dr = recovery(&[]);
        dr.status = None;
        let queued = Some((3, "maxConcurrentRecoveries 10 reached".to_string()));
        let status = fold(&Observed {
            queued: queued.clone(),
            ..Observed::new(&dr, None, Timestamp::UNIX_EPOCH)
        });
        assert_eq!(status.phase, Some(Phase::Pending));
        assert_eq!(status.queue_position, Some(3));
        assert_eq!(status.start_time, None);
        let reconciling = condition_of(&status, "Reconciling");
        assert_eq!(
            (reconciling.status.as_str(), reconciling.reason.as_str()),
            ("True", "Queued")
        );
        assert!(
            reconciling.message.contains("position 3")
                && reconciling.message.contains("maxConcurrentRecoveries 10"),
            "{reconciling:?}"
        );
        assert_eq!(condition_of(&status, "Stalled").status, "False");
        // Once its Job exists the place is gone.
        let job = running_job(json!({}));
        let started = fold(&Observed {
            queued,
            ..Observed::new(&dr, Some(&job), Timestamp::UNIX_EPOCH)
        });
        assert_eq!(started.queue_position, None);
        assert!(started.start_time.is_some());
    }

    #[test]
    fn a_reconcile_error_keeps_the_status_and_says_why() {
        let dr = recovery(&["Running", "Running"]);
        let before = fold(&Observed::new(
            &dr,
            Some(&running_job(json!({}))),
            Timestamp::UNIX_EPOCH,
        ));
        let mut dr = dr;
        if let Some(status) = dr.status.as_mut() {
            let shards = std::mem::take(&mut status.shards);
            *status = DigitalRecoveryStatus { shards, ..before };
        }
        let status = with_reconcile_error(
            &dr,
            "cannot apply the worker Job: quota",
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(status.phase, Some(Phase::Running));
        assert!(status.shards.is_empty(), "the workers own the shards");
        assert_eq!(status.progress.map(|p| p.recovered), Some(10));
        let stalled = condition_of(&status, "Stalled");
        assert_eq!(
            (stalled.status.as_str(), stalled.reason.as_str()),
            ("True", "ReconcileError")
        );
        assert!(stalled.message.contains("quota"));
        assert_eq!(condition_of(&status, "Ready").status, "False");
        assert_eq!(condition_of(&status, "Reconciling").status, "False");
        // A recovery the controller never wrote a status for still gets one.
        let mut new = dr.clone();
        new.status = None;
        let status = with_reconcile_error(&new, "x", Timestamp::UNIX_EPOCH);
        assert_eq!(status.phase, Some(Phase::Pending));
        assert_eq!(condition_of(&status, "Stalled").status, "True");
    }
}

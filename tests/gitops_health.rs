//! GitOps health on a real kube-apiserver: the objects the operator writes, judged by Flux's reader
//! (kstatus, `sigs.k8s.io/cli-utils/pkg/kstatus/status`) and by Argo CD's (the Lua checks of
//! docs/argocd/, run by gopher-lua), must agree on every object seen along the way. Both readers
//! run in tests/envtest/health, built from their Go modules by tests/envtest/build-health.sh.
//! Also: the per-object metrics of a deleted recovery or schedule disappear from /metrics.

mod support;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use jiff::Timestamp;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};
use support::health::{RECOVERY_CHECK, Recorder, SCHEDULE_CHECK};
use support::recovery::{self, recovery, wait_phase};
use support::{
    ControlPlane,
    control_plane::ADMIN_TOKEN,
    jobs::JobRunner,
    operator::{Operator, metric_in},
};

use digital_recovery::api::{
    DigitalRecovery, DigitalRecoverySchedule, Mode, Phase, SCHEDULE_LABEL,
};
use digital_recovery::controller::{
    metrics::Metrics,
    schedule::{self, Clock},
};

/// Watched by the controller binary.
const NS: &str = "tenant-health";
/// Not watched by it: a schedule reconciled in-process with a clock the test moves.
const CLOCKED_NS: &str = "schedules-clocked";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

struct FakeClock(Mutex<Timestamp>);

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

fn schedule_manifest(
    name: &str,
    ns: &str,
    sims: &digital_recovery::sim::SimHandles,
    extra: Value,
) -> DigitalRecoverySchedule {
    let mut spec = json!({"every": "1h"});
    for (k, v) in extra.as_object().expect("object") {
        spec[k] = v.clone();
    }
    recovery::schedule(name, ns, sims, json!({"mode": "DryRun"}), spec)
}

/// Polls until `check` holds for the scraped metrics (panics after `secs`).
async fn wait_scrape(operator: &Operator, secs: u64, what: &str, check: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let text = operator.scrape().await;
        if check(&text) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} not seen in /metrics:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flux_and_argo_agree_on_every_object_the_operator_writes() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    recovery::tenant_namespace(&client, NS).await;
    recovery::tenant_namespace(&client, CLOCKED_NS).await;
    // Fast simulators for runs to the end; slow ones for runs still going when looked at.
    let (sims, _store) =
        recovery::start_simulators(recovery::sim_config(2000, 0), recovery::recording_config())
            .await;
    let (slow, _slow_store) =
        recovery::start_simulators(recovery::sim_config(2000, 20), recovery::recording_config())
            .await;
    let recorder = Recorder::start(client.clone(), &[NS, CLOCKED_NS]);
    let _runner = JobRunner::start(&cp, client.clone());
    let args = [
        "controller",
        "--identity",
        "replica-a",
        "--worker-image",
        "digital-recovery:test",
        "--namespace",
        NS,
        "--log-format",
        "json",
    ]
    .map(String::from);
    let operator = Operator::start_with(
        &cp,
        "replica-a",
        ADMIN_TOKEN,
        &args,
        &[("RUST_LOG", "info")],
    )
    .await;
    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), NS);
    let create = |dr: DigitalRecovery| {
        let api = api.clone();
        async move {
            api.create(&PostParams::default(), &dr)
                .await
                .expect("create")
        }
    };

    // Succeeded: a DryRun changes nothing and fails nothing.
    let mut dry = recovery("dry", &sims, 2);
    dry.spec.mode = Mode::DryRun;
    create(dry).await;
    // PartiallySucceeded: the seeded dataset holds archived and deleted recordings.
    create(recovery("partial", &sims, 2)).await;
    // Failed: a settle delay the schema lets through and the controller cannot read.
    let mut invalid = recovery("invalid", &sims, 1);
    invalid.spec.settle_delay = "99999999999999999999h".into();
    create(invalid).await;
    // Cancelled while running; and one left running (Pending, then Running).
    create(recovery("cancelled", &slow, 1)).await;
    create(recovery("running", &slow, 1)).await;

    let done = |p: Phase| support::recovery::finished(p);
    let dry = wait_phase(&api, "dry", 240, done).await;
    assert_eq!(
        dry.status.as_ref().and_then(|s| s.phase),
        Some(Phase::Succeeded)
    );
    let partial = wait_phase(&api, "partial", 240, done).await;
    let status = partial.status.clone().expect("status");
    assert_eq!(status.phase, Some(Phase::PartiallySucceeded), "{status:?}");
    // Per media type the match counts add up to the totals; the failures are counted by reason.
    let totals = status.match_counts.expect("match");
    let sum = |f: fn(&digital_recovery::api::MediaTypeCounts) -> u64| {
        status.by_media_type.iter().map(f).sum::<u64>()
    };
    assert!(totals.missing > 0 && totals.matched > 0, "{totals:?}");
    assert_eq!(sum(|m| m.matched), totals.matched, "{status:?}");
    assert_eq!(sum(|m| m.missing), totals.missing, "{status:?}");
    assert_eq!(sum(|m| m.partial), totals.partial, "{status:?}");
    let unrecoverable: u64 = status.unrecoverable.iter().map(|r| r.count).sum();
    assert!(unrecoverable > 0, "{status:?}");
    wait_scrape(&operator, 30, "unrecoverable conversations", |t| {
        metric_in(t, "digital_recovery_conversations_unrecoverable_total") == unrecoverable as f64
    })
    .await;
    let invalid = wait_phase(&api, "invalid", 60, done).await;
    assert_eq!(
        invalid.status.as_ref().and_then(|s| s.phase),
        Some(Phase::Failed)
    );
    wait_phase(&api, "cancelled", 120, |p| p == Phase::Running).await;
    api.patch(
        "cancelled",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"cancel": true}})),
    )
    .await
    .expect("cancel");
    wait_phase(&api, "cancelled", 60, |p| p == Phase::Cancelled).await;
    wait_phase(&api, "running", 120, |p| p == Phase::Running).await;

    // The running recovery's deadline is exported while it runs, and goes with it.
    let deadline_series = r#"digital_recovery_recovery_deadline_timestamp_seconds{namespace="tenant-health",recovery="running"}"#;
    wait_scrape(&operator, 30, "the running recovery's deadline", |t| {
        t.contains(deadline_series)
    })
    .await;
    assert!(!operator.scrape().await.contains("recovery=\"dry\""));

    // Schedules the controller binary follows: one normal, one suspended.
    let schedules: Api<DigitalRecoverySchedule> = Api::namespaced(client.clone(), NS);
    for (name, extra) in [("hourly", json!({})), ("paused", json!({"suspend": true}))] {
        schedules
            .create(
                &PostParams::default(),
                &schedule_manifest(name, NS, &sims, extra),
            )
            .await
            .expect("create schedule");
    }
    // The normal one's first run finishes and sets the watermark, which /metrics exports.
    let watermark_series = r#"digital_recovery_schedule_watermark_timestamp_seconds{namespace="tenant-health",schedule="hourly"}"#;
    wait_scrape(&operator, 240, "the schedule's watermark", |t| {
        t.contains(watermark_series)
    })
    .await;
    let scraped = operator.scrape().await;
    assert!(
        scraped.contains(r#"digital_recovery_schedule_watermark_max_lag_seconds{namespace="tenant-health",schedule="hourly"} 12600"#),
        "30m settle + 3 periods of 1h:\n{scraped}"
    );

    // A schedule falling behind, reconciled in-process with a clock the test moves.
    let clock = Arc::new(FakeClock(Mutex::new(
        "2026-11-20T10:07:30Z".parse().expect("t"),
    )));
    let ctx = Arc::new(schedule::Context {
        client: client.clone(),
        clock: clock.clone(),
        metrics: Arc::new(Metrics::default()),
        events: None,
    });
    let clocked: Api<DigitalRecoverySchedule> = Api::namespaced(client.clone(), CLOCKED_NS);
    let clocked_runs: Api<DigitalRecovery> = Api::namespaced(client.clone(), CLOCKED_NS);
    clocked
        .create(
            &PostParams::default(),
            &schedule_manifest("behind", CLOCKED_NS, &sims, json!({})),
        )
        .await
        .expect("create schedule");
    let reconcile = || async {
        let s = clocked.get("behind").await.expect("get schedule");
        schedule::reconcile(Arc::new(s), ctx.clone())
            .await
            .expect("reconcile");
    };
    reconcile().await;
    let finish_runs = |phase: &'static str| {
        let clocked_runs = clocked_runs.clone();
        async move {
            let runs = clocked_runs
                .list(&ListParams::default().labels(&format!("{SCHEDULE_LABEL}=behind")))
                .await
                .expect("runs");
            for run in runs.items {
                clocked_runs
                .patch_status(
                    &run.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"phase": phase, "completionTime": "2026-11-20T10:20:00Z"}})),
                )
                .await
                .expect("finish run");
            }
        }
    };
    finish_runs("Succeeded").await;
    reconcile().await;
    let ready = |s: &DigitalRecoverySchedule, type_: &str| {
        s.status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
            .map(|c| (c.status.clone(), c.reason.clone()))
    };
    let on_time = clocked.get("behind").await.expect("get");
    assert_eq!(
        on_time.status.as_ref().and_then(|s| s.watermark.as_deref()),
        Some("2026-11-20T09:37:00Z")
    );
    assert_eq!(
        ready(&on_time, "Ready").map(|r| r.0).as_deref(),
        Some("True")
    );
    // Five hours later, its runs failing: 5h 30m behind is more than 30m + 3 x 1h.
    for hour in ["11:07:30", "12:07:30", "13:07:30", "14:07:30", "15:07:30"] {
        *clock.0.lock().unwrap() = format!("2026-11-20T{hour}Z").parse().expect("t");
        reconcile().await;
        finish_runs("Failed").await;
    }
    reconcile().await;
    let behind = clocked.get("behind").await.expect("get");
    assert_eq!(
        ready(&behind, "Stalled"),
        Some(("True".into(), "WatermarkBehind".into()))
    );
    assert_eq!(
        ready(&behind, "Ready").map(|r| r.0).as_deref(),
        Some("False")
    );

    // Let the recorder catch the last versions, then judge everything it saw.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut seen: BTreeSet<(String, String, String, String)> = BTreeSet::new();
    for (object, v) in recorder.judged_agreeing("gitops") {
        let state = match v.kind.as_str() {
            "DigitalRecovery" => object["status"]["phase"].as_str().unwrap_or("").to_string(),
            _ => v.name.clone(),
        };
        seen.insert((v.kind.clone(), state, v.kstatus.clone(), v.argo.clone()));
    }
    let expected = [
        ("DigitalRecovery", "Pending", "InProgress", "Progressing"),
        ("DigitalRecovery", "Running", "InProgress", "Progressing"),
        ("DigitalRecovery", "Succeeded", "Current", "Healthy"),
        (
            "DigitalRecovery",
            "PartiallySucceeded",
            "Current",
            "Healthy",
        ),
        ("DigitalRecovery", "Failed", "Failed", "Degraded"),
        ("DigitalRecovery", "Cancelled", "Current", "Suspended"),
        ("DigitalRecoverySchedule", "hourly", "Current", "Healthy"),
        ("DigitalRecoverySchedule", "paused", "Current", "Suspended"),
        ("DigitalRecoverySchedule", "behind", "Current", "Healthy"),
        ("DigitalRecoverySchedule", "behind", "Failed", "Degraded"),
    ];
    for (kind, state, kstatus, argo) in expected {
        let key = (kind.into(), state.into(), kstatus.into(), argo.into());
        assert!(seen.contains(&key), "never saw {key:?}; saw {seen:#?}");
    }

    // Deleting objects removes their series.
    api.delete("running", &DeleteParams::default())
        .await
        .expect("delete recovery");
    schedules
        .delete("hourly", &DeleteParams::default())
        .await
        .expect("delete schedule");
    wait_scrape(&operator, 30, "the deleted objects' series gone", |t| {
        !t.contains(deadline_series)
            && !t.contains(watermark_series)
            && !t.contains(r#"schedule="hourly""#)
    })
    .await;
}

/// docs/gitops.md ships the very scripts the test above runs.
#[test]
fn the_docs_embed_the_tested_argo_checks_verbatim() {
    let doc = std::fs::read_to_string(repo("docs/gitops.md")).expect("docs/gitops.md");
    for (key, path) in [
        (
            "resource.customizations.health.recovery.cxops.io_DigitalRecovery: |",
            RECOVERY_CHECK,
        ),
        (
            "resource.customizations.health.recovery.cxops.io_DigitalRecoverySchedule: |",
            SCHEDULE_CHECK,
        ),
    ] {
        let script = std::fs::read_to_string(repo(path)).expect("script");
        let indented: String = script
            .lines()
            .map(|l| {
                if l.is_empty() {
                    "\n".to_string()
                } else {
                    format!("    {l}\n")
                }
            })
            .collect();
        let embedded = format!("  {key}\n{indented}");
        assert!(
            doc.contains(&embedded),
            "docs/gitops.md does not embed {path} verbatim under `{key}`"
        );
    }
}

//! DigitalRecoverySchedule against a real kube-apiserver. The schedule reconciler runs in-process
//! with a fake clock that the tests move, so no test sleeps for a schedule; the runs'
//! phases are driven by patching their status (the DigitalRecovery controller is not needed).
//! One test runs the real controller binary to show the schedule controller is wired in.

mod support;

use std::{
    io::Write,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use jiff::Timestamp;
use kube::{
    Api, ResourceExt,
    api::{ListParams, Patch, PatchParams, PostParams},
    runtime::{reflector, watcher},
};
use serde_json::{Value, json};
use support::{ControlPlane, operator::Operator};

use digital_recovery::{
    api::{
        DigitalRecovery, DigitalRecoverySchedule, Parallelism, SCHEDULE_LABEL,
        SCHEDULED_TIME_ANNOTATION,
    },
    controller::{
        gauges::{self, Caches},
        metrics::Metrics,
        schedule::{self, Clock},
    },
};

const NS: &str = "default";

struct FakeClock(Mutex<Timestamp>);

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

struct Harness {
    clock: Arc<FakeClock>,
    ctx: Arc<schedule::Context>,
    schedules: Api<DigitalRecoverySchedule>,
    recoveries: Api<DigitalRecovery>,
}

impl Harness {
    async fn new(cp: &ControlPlane) -> Harness {
        let client = cp.client().await;
        support::crds::install(&client).await;
        let clock = Arc::new(FakeClock(Mutex::new(ts("2026-11-20T10:07:30Z"))));
        let ctx = Arc::new(schedule::Context {
            client: client.clone(),
            clock: clock.clone(),
            metrics: Arc::new(Metrics::default()),
            events: None,
        });
        Harness {
            schedules: Api::namespaced(client.clone(), NS),
            recoveries: Api::namespaced(client.clone(), NS),
            clock,
            ctx,
        }
    }

    fn set_time(&self, t: &str) {
        *self.clock.0.lock().unwrap() = ts(t);
    }

    /// One reconcile of `name` at the fake clock's time, with the schedule as stored now.
    async fn reconcile(&self, name: &str) {
        let s = self.schedules.get(name).await.expect("get schedule");
        schedule::reconcile(Arc::new(s), self.ctx.clone())
            .await
            .expect("reconcile");
    }

    async fn status(&self, name: &str) -> Value {
        let s = self.schedules.get(name).await.expect("get schedule");
        serde_json::to_value(s.status).expect("status json")
    }

    /// The schedule's runs as (name, window start, window end), sorted by name.
    async fn runs(&self, schedule: &str) -> Vec<(String, String, String)> {
        let list = self
            .recoveries
            .list(&ListParams::default().labels(&format!("{SCHEDULE_LABEL}={schedule}")))
            .await
            .expect("list runs");
        let mut out: Vec<_> = list
            .items
            .iter()
            .map(|d| {
                (
                    d.name_any(),
                    d.spec.window.start.to_string(),
                    d.spec.window.end.to_string(),
                )
            })
            .collect();
        out.sort();
        out
    }

    async fn set_phase(&self, recovery: &str, phase: &str) {
        let now = self.clock.now().to_string();
        let mut status = json!({"phase": phase});
        if phase != "Running" {
            status["completionTime"] = json!(now);
        }
        self.recoveries
            .patch_status(
                recovery,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .unwrap_or_else(|e| panic!("set {recovery} {phase}: {e}"));
    }
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn schedule_manifest(name: &str, extra: Value) -> Value {
    let mut spec = json!({
        "template": {
            "tenant": "acme",
            "genesys": {"region": "mypurecloud.ie", "credentialsSecret": "genesys-oauth"},
            "recordingSide": {
                "dasUrl": "https://das.example",
                "captureUrl": "https://capture.example",
                "credentialsSecret": "verint-api"
            },
            "mediaTypes": ["chat", "email"],
            "parallelism": 2
        },
        "every": "1h"
    });
    for (k, v) in extra.as_object().expect("object") {
        spec[k] = v.clone();
    }
    json!({
        "apiVersion": "recovery.cxops.io/v1alpha1",
        "kind": "DigitalRecoverySchedule",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    })
}

/// `kubectl apply -f -` of a manifest, as a GitOps tool would do it.
fn kubectl_apply(cp: &ControlPlane, manifest: &Value) {
    let mut child = cp
        .kubectl()
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubectl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(manifest.to_string().as_bytes())
        .expect("write manifest");
    let out = child.wait_with_output().expect("kubectl");
    assert!(
        out.status.success(),
        "kubectl apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(name: &str, start: &str, end: &str) -> (String, String, String) {
    (name.to_string(), start.to_string(), end.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_follow_the_watermark_through_retries_outages_and_pruning() {
    let cp = ControlPlane::start().await;
    let h = Harness::new(&cp).await;
    let manifest = schedule_manifest("acme", json!({}));
    kubectl_apply(&cp, &manifest);

    // First run: now - initialLookback (24h) to now - settleDelay (30m), to the minute.
    h.reconcile("acme").await;
    assert_eq!(
        h.runs("acme").await,
        [run(
            "acme-202611191007",
            "2026-11-19T10:07:00Z",
            "2026-11-20T09:37:00Z"
        )]
    );
    let first = h.recoveries.get("acme-202611191007").await.unwrap();
    let owner = &first.owner_references()[0];
    assert_eq!(owner.kind, "DigitalRecoverySchedule");
    assert_eq!(owner.name, "acme");
    assert_eq!(owner.controller, Some(true));
    assert_eq!(first.spec.tenant, "acme");
    assert_eq!(first.spec.parallelism, Parallelism::Shards(2));
    assert_eq!(first.spec.settle_delay, "30m");
    // giveUpAfter (default 24h) reaches the run as its creation time minus 24h.
    assert_eq!(first.spec.give_up_before, Some(ts("2026-11-19T10:07:30Z")));
    assert_eq!(
        first
            .annotations()
            .get(SCHEDULED_TIME_ANNOTATION)
            .map(String::as_str),
        Some("2026-11-20T10:00:00Z")
    );
    let status = h.status("acme").await;
    assert_eq!(status["lastScheduleTime"], "2026-11-20T10:00:00Z");
    assert_eq!(status["nextScheduleTime"], "2026-11-20T11:00:00Z");
    assert_eq!(status["coverageStart"], "2026-11-19T10:07:00Z");
    assert_eq!(status["active"][0]["name"], "acme-202611191007");
    assert!(status.get("watermark").is_none());

    // Re-applying the same schedule from Git and reconciling again creates nothing new.
    kubectl_apply(&cp, &manifest);
    h.reconcile("acme").await;
    h.set_time("2026-11-20T10:40:00Z");
    h.reconcile("acme").await;
    assert_eq!(h.runs("acme").await.len(), 1);

    // Forbid: the 11:00 run is skipped while the first one still runs.
    h.set_phase("acme-202611191007", "Running").await;
    h.set_time("2026-11-20T11:00:05Z");
    h.reconcile("acme").await;
    assert_eq!(h.runs("acme").await.len(), 1);
    let status = h.status("acme").await;
    assert_eq!(status["lastSkipped"]["reason"], "ConcurrencyForbid");
    assert_eq!(
        status["lastSkipped"]["scheduleTime"],
        "2026-11-20T11:00:00Z"
    );

    // It succeeds: the watermark moves to its end, and the metric says so.
    h.set_time("2026-11-20T11:10:00Z");
    h.set_phase("acme-202611191007", "Succeeded").await;
    h.reconcile("acme").await;
    let status = h.status("acme").await;
    assert_eq!(status["watermark"], "2026-11-20T09:37:00Z");
    assert_eq!(status["lastSuccessfulTime"], "2026-11-20T11:10:00Z");
    assert!(status.get("active").is_none());
    // The gauges read the schedule as the controller's cache holds it, at scrape time.
    let (cache, mut writer) = reflector::store::<DigitalRecoverySchedule>();
    writer.apply_watcher_event(&watcher::Event::Apply(
        h.schedules.get("acme").await.expect("get schedule"),
    ));
    let metrics = Metrics::default();
    let caches = Caches {
        recoveries: &[],
        schedules: &[cache],
        job_deadline_seconds: 0,
    };
    gauges::refresh(&metrics, &caches, h.clock.now());
    let metrics = metrics.encode().unwrap();
    let gauge = |name: &str| {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .unwrap_or_else(|| panic!("{name}:\n{metrics}"));
        assert!(line.contains(r#"schedule="acme""#), "{line}");
        line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok())
    };
    let expected = ts("2026-11-20T09:37:00Z").as_second() as f64;
    assert_eq!(
        gauge("digital_recovery_schedule_watermark_timestamp_seconds"),
        Some(expected)
    );
    // 11:10 - 09:37; the limit is settleDelay 30m + 3 periods of 1h.
    assert_eq!(
        gauge("digital_recovery_schedule_watermark_lag_seconds"),
        Some(93.0 * 60.0)
    );
    assert_eq!(
        gauge("digital_recovery_schedule_watermark_max_lag_seconds"),
        Some(210.0 * 60.0)
    );
    assert_eq!(h.runs("acme").await.len(), 1, "no run before the next tick");

    // Steady state at 12:00: [watermark - overlap, now - settleDelay).
    h.set_time("2026-11-20T12:00:10Z");
    h.reconcile("acme").await;
    assert!(h.runs("acme").await.contains(&run(
        "acme-202611200922",
        "2026-11-20T09:22:00Z",
        "2026-11-20T11:30:00Z"
    )));

    // It fails: the watermark stays, and the 13:00 run covers the same start again.
    h.set_phase("acme-202611200922", "Failed").await;
    h.set_time("2026-11-20T12:20:00Z");
    h.reconcile("acme").await;
    assert_eq!(h.runs("acme").await.len(), 2, "no catch-up after a failure");
    h.set_time("2026-11-20T13:00:00Z");
    h.reconcile("acme").await;
    assert!(h.runs("acme").await.contains(&run(
        "acme-202611200922-2",
        "2026-11-20T09:22:00Z",
        "2026-11-20T12:30:00Z"
    )));
    assert_eq!(h.status("acme").await["watermark"], "2026-11-20T09:37:00Z");
    h.set_phase("acme-202611200922-2", "Succeeded").await;
    h.set_time("2026-11-20T13:05:00Z");
    h.reconcile("acme").await;
    assert_eq!(h.status("acme").await["watermark"], "2026-11-20T12:30:00Z");

    // A 3-day outage: the controller comes back at 11-23 13:10 and catches up in order, one
    // run of at most maxWindow (24h) at a time, each started when the previous one Succeeded.
    h.set_time("2026-11-23T13:10:00Z");
    let mut caught_up = Vec::new();
    for _ in 0..6 {
        let before = h.runs("acme").await;
        h.reconcile("acme").await;
        let after = h.runs("acme").await;
        let new: Vec<_> = after
            .iter()
            .filter(|r| !before.contains(r))
            .cloned()
            .collect();
        if new.is_empty() {
            break;
        }
        assert_eq!(new.len(), 1, "one run at a time: {new:?}");
        let status = h.status("acme").await;
        assert_eq!(status["active"].as_array().map(Vec::len), Some(1));
        h.set_phase(&new[0].0, "Succeeded").await;
        caught_up.push(new[0].clone());
    }
    assert_eq!(
        caught_up,
        [
            run(
                "acme-202611201215",
                "2026-11-20T12:15:00Z",
                "2026-11-21T12:15:00Z"
            ),
            run(
                "acme-202611211200",
                "2026-11-21T12:00:00Z",
                "2026-11-22T12:00:00Z"
            ),
            run(
                "acme-202611221145",
                "2026-11-22T11:45:00Z",
                "2026-11-23T11:45:00Z"
            ),
        ]
    );
    h.reconcile("acme").await;
    assert_eq!(h.status("acme").await["watermark"], "2026-11-23T11:45:00Z");

    // History: 5 Succeeded and 1 Failed so far; the limits (3, 3) keep the 3 newest Succeeded.
    let left: Vec<String> = h.runs("acme").await.into_iter().map(|r| r.0).collect();
    assert_eq!(
        left,
        [
            "acme-202611200922",
            "acme-202611201215",
            "acme-202611211200",
            "acme-202611221145",
        ]
    );

    // A run that finishes PartiallySucceeded carrying a conversation (its worker wrote
    // resumeFrom, the earliest carried start) moves the watermark there, not to its end and not
    // nowhere; the next run starts from it (less overlap), so that conversation is looked at
    // again.
    h.set_time("2026-11-23T14:00:05Z");
    h.reconcile("acme").await;
    assert!(h.runs("acme").await.contains(&run(
        "acme-202611231130",
        "2026-11-23T11:30:00Z",
        "2026-11-23T13:30:00Z"
    )));
    h.recoveries
        .patch_status(
            "acme-202611231130",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "phase": "PartiallySucceeded",
                "completionTime": "2026-11-23T14:20:00Z",
                "resumeFrom": "2026-11-23T12:34:56Z",
            }})),
        )
        .await
        .expect("finish the run");
    h.set_time("2026-11-23T14:20:00Z");
    h.reconcile("acme").await;
    assert_eq!(h.status("acme").await["watermark"], "2026-11-23T12:34:56Z");
    h.set_time("2026-11-23T15:00:05Z");
    h.reconcile("acme").await;
    assert!(h.runs("acme").await.contains(&run(
        "acme-202611231219",
        "2026-11-23T12:19:00Z",
        "2026-11-23T14:30:00Z"
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_cancels_suspend_pauses_and_an_invalid_cron_stalls() {
    let cp = ControlPlane::start().await;
    let h = Harness::new(&cp).await;
    kubectl_apply(
        &cp,
        &schedule_manifest(
            "nightly",
            json!({"every": null, "schedule": "0 2 * * *", "timeZone": "Europe/Dublin", "concurrencyPolicy": "Replace"}),
        ),
    );
    // Winter: Dublin is on UTC. The first run is due at once (02:00 today).
    h.set_time("2026-11-20T10:07:30Z");
    h.reconcile("nightly").await;
    assert_eq!(
        h.runs("nightly").await,
        [run(
            "nightly-202611191007",
            "2026-11-19T10:07:00Z",
            "2026-11-20T09:37:00Z"
        )]
    );
    assert_eq!(
        h.status("nightly").await["nextScheduleTime"],
        "2026-11-21T02:00:00Z"
    );
    h.set_phase("nightly-202611191007", "Running").await;

    // Replace: the next night's run cancels the running one and covers its window too.
    h.set_time("2026-11-21T02:00:30Z");
    h.reconcile("nightly").await;
    let old = h.recoveries.get("nightly-202611191007").await.unwrap();
    assert!(old.spec.cancel, "the running recovery was cancelled");
    // Same start as the cancelled run (nothing has succeeded yet), capped at maxWindow.
    assert!(h.runs("nightly").await.contains(&run(
        "nightly-202611191007-2",
        "2026-11-19T10:07:00Z",
        "2026-11-20T10:07:00Z"
    )));
    h.set_phase("nightly-202611191007", "Cancelled").await;
    h.set_phase("nightly-202611191007-2", "Succeeded").await;
    h.reconcile("nightly").await;
    assert_eq!(
        h.status("nightly").await["watermark"],
        "2026-11-20T10:07:00Z"
    );

    // Suspend: nights pass, nothing is created, no next schedule time.
    h.schedules
        .patch(
            "nightly",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": true}})),
        )
        .await
        .unwrap();
    for day in ["22", "23", "24"] {
        h.set_time(&format!("2026-11-{day}T02:00:30Z"));
        h.reconcile("nightly").await;
    }
    assert_eq!(h.runs("nightly").await.len(), 2);
    let status = h.status("nightly").await;
    assert!(status.get("nextScheduleTime").is_none());
    let ready = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready["reason"], "Suspended");

    // Resume: the missed nights are one run from the watermark (up to maxWindow, then
    // catch-up), not lost.
    h.schedules
        .patch(
            "nightly",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": false}})),
        )
        .await
        .unwrap();
    h.set_time("2026-11-24T09:00:00Z");
    h.reconcile("nightly").await;
    assert!(h.runs("nightly").await.contains(&run(
        "nightly-202611200952",
        "2026-11-20T09:52:00Z",
        "2026-11-21T09:52:00Z"
    )));
    assert_eq!(
        h.status("nightly").await["lastScheduleTime"],
        "2026-11-24T02:00:00Z"
    );

    // A cron expression the schema lets through but the parser refuses: Stalled, named.
    kubectl_apply(
        &cp,
        &schedule_manifest("broken", json!({"every": null, "schedule": "61 * * * *"})),
    );
    h.reconcile("broken").await;
    let status = h.status("broken").await;
    let stalled = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Stalled")
        .unwrap()
        .clone();
    assert_eq!(stalled["status"], "True");
    assert!(
        stalled["message"].as_str().unwrap().contains("61 * * * *"),
        "{stalled}"
    );
    assert!(h.runs("broken").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_schedules_are_rejected_with_clear_messages() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let api: Api<DigitalRecoverySchedule> = Api::namespaced(client.clone(), NS);
    let create = |name: &str, extra: Value| {
        let api = api.clone();
        let obj: DigitalRecoverySchedule =
            serde_json::from_value(schedule_manifest(name, extra)).expect("schedule");
        async move { api.create(&PostParams::default(), &obj).await }
    };
    create("ok", json!({})).await.expect("a valid schedule");
    let cases = [
        (
            json!({"schedule": "0 * * * *"}),
            "set exactly one of schedule (a 5-field cron expression) and every",
        ),
        (json!({"every": null}), "set exactly one of schedule"),
        (
            json!({"every": null, "schedule": "0 * * *"}),
            "schedule must be a cron expression of 5 fields",
        ),
        (
            json!({"timeZone": "Europe/Dublin"}),
            "timeZone applies only to schedule",
        ),
        (json!({"every": "0m"}), "every must be positive"),
        (
            json!({"overlap": "15 minutes"}),
            "overlap must be a duration",
        ),
        (json!({"settleDelay": "0s"}), "settleDelay must be positive"),
        (
            json!({"ledgerRetention": "90 days"}),
            "ledgerRetention must be a duration such as 30m, 2h or 1h30m",
        ),
        (
            json!({"ledgerRetention": "0h"}),
            "ledgerRetention must be positive",
        ),
        (
            json!({"maxWindow": "745h"}),
            "maxWindow must be at most 31 days",
        ),
        (
            json!({"initialLookback": "800h"}),
            "initialLookback must be at most 31 days",
        ),
        (
            json!({"template": {
                "tenant": "acme",
                "genesys": {"region": "mypurecloud.ie", "credentialsSecret": "genesys-oauth"},
                "recordingSide": {
                    "dasUrl": "https://das.example",
                    "captureUrl": "https://capture.example",
                    "credentialsSecret": "verint-api"
                },
                "mediaTypes": ["chat", "email"],
                "messageTypes": ["sms"]
            }}),
            "messageTypes narrows social messaging: add social to template.mediaTypes",
        ),
        (
            json!({"maxLagPeriods": 0}),
            "maxLagPeriods must be between 1 and 1000",
        ),
        (
            json!({"maxLagPeriods": 1001}),
            "maxLagPeriods must be between 1 and 1000",
        ),
    ];
    for (i, (extra, message)) in cases.into_iter().enumerate() {
        match create(&format!("bad-{i}"), extra.clone()).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 422, "{extra}: {s:?}");
                assert!(s.message.contains(message), "{extra}: {}", s.message);
            }
            other => panic!("{extra}: expected a rejection, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_binary_runs_schedules_under_its_lease() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let operator = Operator::start(&cp, "replica-a").await;
    kubectl_apply(&cp, &schedule_manifest("live", json!({})));
    let recoveries: Api<DigitalRecovery> = Api::namespaced(client.clone(), NS);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let first = loop {
        let list = recoveries
            .list(&ListParams::default().labels(&format!("{SCHEDULE_LABEL}=live")))
            .await
            .unwrap();
        if let Some(dr) = list.items.into_iter().next() {
            break dr;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no run created: {}",
            operator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The real clock: the window ends 30m before now and spans 24h - 30m.
    let w = first.spec.window;
    assert_eq!(w.end.duration_since(w.start).as_secs(), 23 * 3600 + 30 * 60);
    let lag = Timestamp::now().duration_since(w.end).as_secs();
    assert!(
        (30 * 60..=32 * 60).contains(&lag),
        "window end lags now by {lag}s"
    );
    assert!(first.name_any().starts_with("live-"));
    // The status names it active.
    let schedules: Api<DigitalRecoverySchedule> = Api::namespaced(client.clone(), NS);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = schedules.get("live").await.unwrap();
        let active = s.status.map(|s| s.active).unwrap_or_default();
        if active.iter().any(|a| a.name == first.name_any()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "status never listed the run"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

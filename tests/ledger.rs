//! The ledger of a schedule on a real kube-apiserver: the real controller binary runs a schedule
//! over simulator data (archived, deleted, conflicting, unrecorded and still-open
//! conversations), the job stand-in runs the real workers, history pruning removes old runs,
//! and the ledger (read through the code `report --schedule` uses, and through the binary)
//! holds exactly the withheld conversations the recording side still lacks, each with its true
//! reason from the simulator's dataset and `/sim/report`. Also: concurrent merges into one day
//! lose no word, and a cancelled recovery still has its report.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp, civil::Date};
use k8s_openapi::api::{batch::v1::Job, core::v1::ConfigMap};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy},
};
use serde_json::{Value, json};
use support::recovery::{self, recovery, wait_phase};
use support::{ControlPlane, jobs::JobRunner, operator::Operator};
use uuid::Uuid;

use digital_recovery::api::{
    DigitalRecovery, DigitalRecoverySchedule, Phase, SCHEDULE_LABEL, Window,
};
use digital_recovery::contract::{DAY_LABEL, GENERATION_LABEL, LEDGER_LABEL, label_value};
use digital_recovery::ledger::{LedgerEntry, LedgerWriter, Word, prune_ledger, read_ledger};
use digital_recovery::pipeline::progress::Outcome;
use digital_recovery::sim::dataset::{FileState, RecordingSideState, SimConversation};
use digital_recovery::sim::recording::SimReport;

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn entry(id: u128, start: &str, reason: &str, at: Timestamp) -> LedgerEntry {
    LedgerEntry {
        conversation_id: Uuid::from_u128(id),
        media_type: None,
        conversation_start: Some(ts(start)),
        outcome: Outcome::Failed,
        reason: Some(reason.into()),
        detail: Some(format!("detail of {id} {}", Uuid::new_v4())),
        archive_date: None,
        recovery: "run".into(),
        recorded_at: at,
    }
}

async fn ledger_maps(client: &Client, ns: &str, schedule: &str) -> Vec<ConfigMap> {
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("{LEDGER_LABEL}={}", label_value(schedule))))
        .await
        .expect("list ledger")
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_merges_into_one_day_lose_no_word_and_leave_only_the_committed_parts() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    let ns = "default";
    // Small parts, so the day spans several ConfigMaps and every merge rewrites them all.
    let writer = || LedgerWriter::new(&client, ns, "busy", None).with_max_part_bytes(4 * 1024);
    let now = Timestamp::now();
    let mut tasks = Vec::new();
    for w in 0..6u128 {
        let ledger = writer();
        tasks.push(tokio::spawn(async move {
            let words: Vec<Word> = (0..60u128)
                .map(|i| Word::Enter(entry(w * 1000 + i, "2026-11-20T10:00:00Z", "archived", now)))
                .collect();
            ledger.merge(words, now).await.expect("merge")
        }));
    }
    for task in tasks {
        assert_eq!(
            task.await.expect("task"),
            1,
            "each writer changed the one day"
        );
    }
    let entries = read_ledger(&client, ns, "busy").await.expect("read");
    assert_eq!(entries.len(), 360, "no writer's words were lost");
    let maps = ledger_maps(&client, ns, "busy").await;
    assert!(
        maps.len() > 2,
        "the day spans several parts: {}",
        maps.len()
    );
    let generations: BTreeSet<&String> = maps
        .iter()
        .filter_map(|cm| cm.labels().get(GENERATION_LABEL))
        .collect();
    assert_eq!(
        generations.len(),
        1,
        "superseded parts are removed: {generations:?}"
    );

    // Leaves (a later run recovered them) and a later word replace, concurrently too.
    let later = now + SignedDuration::from_secs(60);
    let mut tasks = Vec::new();
    for w in 0..6u128 {
        let ledger = writer();
        tasks.push(tokio::spawn(async move {
            let words: Vec<Word> = (0..60u128)
                .map(|i| {
                    let id = w * 1000 + i;
                    if i % 2 == 0 {
                        Word::Leave {
                            conversation_id: Uuid::from_u128(id),
                            conversation_start: Some(ts("2026-11-20T10:00:00Z")),
                            at: later,
                        }
                    } else {
                        Word::Enter(entry(id, "2026-11-20T10:00:00Z", "deleted", later))
                    }
                })
                .collect();
            ledger.merge(words, now).await.expect("merge")
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let entries = read_ledger(&client, ns, "busy").await.expect("read");
    assert_eq!(entries.len(), 180);
    assert!(
        entries
            .iter()
            .all(|e| e.conversation_id.as_u128() % 2 == 1 && e.reason.as_deref() == Some("deleted"))
    );

    // Retention: a day all of whose conversations started before now - retention goes; the
    // others stay.
    writer()
        .merge(
            vec![Word::Enter(entry(
                9,
                "2020-01-01T08:00:00Z",
                "deleted",
                now,
            ))],
            now,
        )
        .await
        .expect("old day");
    let removed = prune_ledger(&client, ns, "busy", now, SignedDuration::from_hours(2160))
        .await
        .expect("prune");
    assert_eq!(removed, ["2020-01-01".parse::<Date>().expect("date")]);
    assert_eq!(
        read_ledger(&client, ns, "busy").await.expect("read").len(),
        180
    );

    // Everything leaves: the day's ConfigMaps go.
    let all_leave: Vec<Word> = entries
        .iter()
        .map(|e| Word::Leave {
            conversation_id: e.conversation_id,
            conversation_start: e.conversation_start,
            at: later + SignedDuration::from_secs(1),
        })
        .collect();
    writer().merge(all_leave, now).await.expect("merge");
    assert!(ledger_maps(&client, ns, "busy").await.is_empty());
}

/// What the recording side holds now must cover every session of `c` that has a downloadable
/// recording.
fn held_in_full(c: &SimConversation, held: Option<Vec<String>>) -> bool {
    let needed: Vec<String> = c
        .recordings
        .iter()
        .filter(|r| r.file_state == FileState::Available)
        .map(|r| r.session_id.to_string())
        .collect();
    !needed.is_empty() && held.is_some_and(|h| needed.iter().all(|s| h.contains(s)))
}

/// The reason the dataset says a withheld conversation cannot be recovered, with the archive
/// date; None when a recovery can fetch it.
fn true_loss(
    c: &SimConversation,
    conflicting: &BTreeSet<Uuid>,
) -> Option<(Outcome, String, Option<Timestamp>)> {
    if conflicting.contains(&c.id) {
        return Some((Outcome::Conflict, "differentContentHeld".into(), None));
    }
    if c.recordings.is_empty() {
        return Some((Outcome::NotRecorded, "notRecorded".into(), None));
    }
    let lacking: Vec<Uuid> = match &c.recording_side {
        RecordingSideState::Partial { lacking_sessions } => lacking_sessions.clone(),
        _ => c.sessions.iter().map(|s| s.id).collect(),
    };
    let of_lacking: Vec<_> = c
        .recordings
        .iter()
        .filter(|r| lacking.contains(&r.session_id))
        .collect();
    if of_lacking
        .iter()
        .any(|r| r.file_state == FileState::Available)
    {
        return None;
    }
    let r = of_lacking.first()?;
    match r.file_state {
        // An archived stub comes without its sessionId, so the date said is that of the
        // conversation's first archived recording (all of them are archived together).
        FileState::Archived => Some((
            Outcome::Failed,
            "archived".into(),
            c.recordings
                .iter()
                .find(|r| r.file_state == FileState::Archived)
                .and_then(|r| r.archive_date),
        )),
        FileState::Deleted => Some((Outcome::Failed, "deleted".into(), None)),
        other => Some((Outcome::Failed, format!("{other:?}"), None)),
    }
}

/// A PUT to Capture as another tool would make it: different content (a session the
/// conversation does not have) for a conversation the recording side lacks, so that the
/// recovery's PUT meets a 409.
async fn plant_conflict(capture_url: &str, das_url: &str, tenant: &str, c: &SimConversation) {
    let token: Value = reqwest::Client::new()
        .post(format!("{das_url}/oauth/token"))
        .basic_auth("sim-client", Some("sim-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token body");
    let media = c.media_type.spec_media_type().expect("text").as_str();
    let body = json!({
        "conversationId": c.id.to_string(),
        "source": "genesys-cloud",
        "mediaType": media,
        "messageType": c.message_type.map(|m| m.as_str()),
        "startTime": c.start.to_string(),
        "endTime": c.end.map(|e| e.to_string()),
        "participants": [],
        "sessions": [{"sessionId": Uuid::new_v4().to_string(), "mediaType": media}],
        "transcripts": [{"recordingId": Uuid::new_v4().to_string(), "media": "chat",
                         "messages": [{"body": "written by another tool"}]}],
    });
    let response = reqwest::Client::new()
        .put(format!(
            "{capture_url}/api/v1/tenants/{tenant}/interactions/{}",
            c.id
        ))
        .bearer_auth(token["access_token"].as_str().expect("access token"))
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .expect("put");
    assert_eq!(response.status().as_u16(), 201, "planting a conflict");
}

/// The garbage collector the test control plane lacks (no kube-controller-manager): deletes the
/// Jobs and ConfigMaps of `ns` whose owning DigitalRecovery is gone, as a cluster does after
/// history pruning. Without it a pruned run's Job would block a later run of the same name
/// (`JobNameTaken`), and its report would outlive it.
fn collect_garbage(client: Client, ns: &'static str) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let runs: Api<DigitalRecovery> = Api::namespaced(client.clone(), ns);
        let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
        let maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let background = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        };
        let orphaned = |owners: &[OwnerReference], alive: &BTreeSet<String>| {
            owners.iter().any(|o| o.kind == "DigitalRecovery")
                && owners
                    .iter()
                    .filter(|o| o.kind == "DigitalRecovery")
                    .all(|o| !alive.contains(&o.uid))
        };
        loop {
            if let Ok(list) = runs.list(&ListParams::default()).await {
                let alive: BTreeSet<String> = list.items.iter().filter_map(|d| d.uid()).collect();
                if let Ok(list) = jobs.list(&ListParams::default()).await {
                    for job in list
                        .items
                        .iter()
                        .filter(|j| orphaned(j.owner_references(), &alive))
                    {
                        let _ = jobs.delete(&job.name_any(), &background).await;
                    }
                }
                if let Ok(list) = maps.list(&ListParams::default()).await {
                    for cm in list
                        .items
                        .iter()
                        .filter(|c| orphaned(c.owner_references(), &alive))
                    {
                        let _ = maps.delete(&cm.name_any(), &background).await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

fn whole_minute(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second() - t.as_second().rem_euclid(60)).expect("minute")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedules_ledger_holds_every_withheld_conversation_it_could_not_recover_with_its_true_reason()
 {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    const NS: &str = "tenant-ledger";
    let ns = NS;
    recovery::tenant_namespace(&client, ns).await;

    // Simulator data from 3 h to 19 min ago. Conversations end at most 20 minutes past that,
    // a minute from now: the simulator shows those still open until then (no conversationEnd),
    // so the runs that first list them cannot recover them yet; with `overlap: 0` only the
    // carried state (resumeFrom) brings a later run back to them. No conversation stays open
    // for good here: that would hold the watermark until `giveUpAfter` (tests/pipeline.rs
    // covers giving up).
    let now = Timestamp::now();
    let mut config = recovery::sim_config(3000, 0);
    config.window = Window {
        start: whole_minute(now - SignedDuration::from_hours(3)),
        end: whole_minute(now - SignedDuration::from_mins(19)),
    };
    config.open_rate = 0.0;
    let (sims, store) = recovery::start_simulators(config, recovery::recording_config()).await;
    let capture = sims.capture_url.clone().expect("capture url");
    let das = sims.das_url.clone().expect("das url");
    let report = || async {
        reqwest::get(format!("{capture}/sim/report"))
            .await
            .expect("/sim/report")
            .json::<SimReport>()
            .await
            .expect("report body")
    };

    // Withheld: completed text conversations the recording side lacks in whole or in part.
    let withheld: Vec<&SimConversation> = sims
        .dataset
        .conversations
        .iter()
        .filter(|c| c.is_text() && c.is_completed() && c.recording_side != RecordingSideState::Held)
        .collect();
    // Withheld ones still open when the schedule starts.
    let open: Vec<&SimConversation> = withheld
        .iter()
        .copied()
        .filter(|c| c.end.is_some_and(|end| end > Timestamp::now()))
        .collect();
    // Two recoverable ones get different content from another tool first: conflicts.
    let conflicting: BTreeSet<Uuid> = withheld
        .iter()
        .filter(|c| {
            c.sessions.len() == 1
                && c.recording_side == RecordingSideState::Missing
                && c.has_available_recording()
        })
        .take(2)
        .map(|c| c.id)
        .collect();
    for c in withheld.iter().filter(|c| conflicting.contains(&c.id)) {
        plant_conflict(&capture, &das, &sims.config.tenant, c).await;
    }
    let expected: BTreeMap<Uuid, (Outcome, String, Option<Timestamp>)> = withheld
        .iter()
        .filter_map(|c| true_loss(c, &conflicting).map(|loss| (c.id, loss)))
        .collect();
    // The open ones a run can recover once they end.
    let open: Vec<&SimConversation> = open
        .into_iter()
        .filter(|c| !expected.contains_key(&c.id))
        .collect();
    let count = |reason: &str| expected.values().filter(|(_, r, _)| r == reason).count();
    assert!(
        count("archived") > 0
            && count("deleted") > 0
            && count("notRecorded") > 0
            && count("differentContentHeld") == 2
            && !open.is_empty(),
        "the dataset must hold every kind of loss: {expected:?}"
    );

    // An old ledger day from long ago: retention removes it with the first run.
    LedgerWriter::new(&client, ns, "nightly", None)
        .merge(
            vec![Word::Enter(entry(
                1,
                "2020-01-01T08:00:00Z",
                "deleted",
                now,
            ))],
            now,
        )
        .await
        .expect("old day");

    let _runner = JobRunner::start(&cp, client.clone());
    let _operator = Operator::start(&cp, "replica-a").await;
    let gc = collect_garbage(client.clone(), NS);
    let schedule = recovery::schedule(
        "nightly",
        ns,
        &sims,
        json!({"parallelism": 2}),
        json!({
            "every": "15s",
            "settleDelay": "1m",
            "initialLookback": "4h",
            "maxWindow": "2h",
            "overlap": "0s",
            "giveUpAfter": "4h",
            "successfulHistoryLimit": 1,
            "failedHistoryLimit": 1
        }),
    );
    let schedules: Api<DigitalRecoverySchedule> = Api::namespaced(client.clone(), ns);
    schedules
        .create(&PostParams::default(), &schedule)
        .await
        .expect("create schedule");

    // Run after run until the watermark has passed the data (the open ones ended a minute after
    // the start).
    let runs: Api<DigitalRecovery> = Api::namespaced(client.clone(), ns);
    let selector = format!("{SCHEDULE_LABEL}=nightly");
    // Every run seen, by uid (a pruned run's name can come back): name, window, creation.
    let mut seen: BTreeMap<String, (String, Window, String)> = BTreeMap::new();
    // Every resumeFrom a run reported.
    let mut resumed_from: BTreeSet<Timestamp> = BTreeSet::new();
    let mut note = |seen: &mut BTreeMap<String, (String, Window, String)>, dr: &DigitalRecovery| {
        if let Some(at) = dr
            .status
            .as_ref()
            .and_then(|s| s.resume_from.as_deref())
            .and_then(|at| at.parse::<Timestamp>().ok())
        {
            resumed_from.insert(at);
        }
        let created = dr
            .creation_timestamp()
            .map(|t| t.0.to_string())
            .unwrap_or_default();
        seen.insert(
            dr.uid().unwrap_or_default(),
            (dr.name_any(), dr.spec.window, created),
        );
    };
    let mut watermarks: Vec<Timestamp> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(420);
    loop {
        for dr in runs
            .list(&ListParams::default().labels(&selector))
            .await
            .expect("runs")
        {
            note(&mut seen, &dr);
        }
        let status = schedules.get("nightly").await.expect("schedule").status;
        if let Some(w) = status
            .and_then(|s| s.watermark)
            .and_then(|w| w.parse::<Timestamp>().ok())
            && watermarks.last() != Some(&w)
        {
            watermarks.push(w);
        }
        let past_data = watermarks
            .last()
            .is_some_and(|w| *w >= sims.config.window.end + SignedDuration::from_mins(20));
        if past_data && watermarks.len() >= 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the watermark stopped moving: {watermarks:?}, runs {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Stop creating runs and let the active ones finish.
    schedules
        .patch(
            "nightly",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": true}})),
        )
        .await
        .expect("suspend");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let left = loop {
        let left = runs
            .list(&ListParams::default().labels(&selector))
            .await
            .expect("runs")
            .items;
        for dr in &left {
            note(&mut seen, dr);
        }
        let finished = left.iter().all(|dr| {
            dr.status
                .as_ref()
                .and_then(|s| s.phase)
                .is_some_and(recovery::finished)
        });
        let active = schedules
            .get("nightly")
            .await
            .expect("schedule")
            .status
            .map(|s| s.active.len())
            .unwrap_or(0);
        if finished && active == 0 {
            break left;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "runs did not finish"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        watermarks.windows(2).all(|w| w[0] < w[1]),
        "the watermark moves forward run after run: {watermarks:?}"
    );
    // History pruning removed all but the newest runs.
    assert!(left.len() <= 2, "{} runs kept", left.len());
    assert!(seen.len() >= 4, "{} runs", seen.len());

    gc.abort();
    // The ground truth: the simulator's report and its dataset.
    let truth = report().await;
    assert_eq!(truth.duplicates, 0, "{truth:?}");
    assert!(truth.conflicts >= 2, "{truth:?}");
    assert_eq!(
        truth.still_missing, 2,
        "only the conflicting ones are still missing: {truth:?}"
    );
    let ledger = read_ledger(&client, ns, "nightly")
        .await
        .expect("read ledger");
    let by_id: HashMap<Uuid, &LedgerEntry> =
        ledger.iter().map(|e| (e.conversation_id, e)).collect();
    assert_eq!(by_id.len(), ledger.len(), "one entry per conversation");
    let got: BTreeMap<Uuid, (Outcome, String, Option<Timestamp>)> = ledger
        .iter()
        .map(|e| {
            (
                e.conversation_id,
                (
                    e.outcome,
                    e.reason.clone().unwrap_or_default(),
                    e.archive_date,
                ),
            )
        })
        .collect();
    eprintln!(
        "ledger: {} entries ({} archived, {} deleted, {} not recorded, {} conflicts) of {} \
         withheld; runs {:?}; watermarks {watermarks:?}; kept {:?}; {truth:?}",
        ledger.len(),
        count("archived"),
        count("deleted"),
        count("notRecorded"),
        count("differentContentHeld"),
        withheld.len(),
        seen,
        left.iter().map(|dr| dr.name_any()).collect::<Vec<_>>(),
    );
    assert_eq!(
        got, expected,
        "the ledger holds exactly the losses, with their true reasons"
    );
    // Every withheld conversation is in the recording side or in the ledger, never both.
    for c in &withheld {
        let held = held_in_full(c, store.held_sessions(c.id));
        assert!(
            held != by_id.contains_key(&c.id),
            "{}: held {held}, in the ledger {:?}",
            c.id,
            by_id.get(&c.id)
        );
    }
    // The ones open at first were carried (the watermark stopped at a run's resumeFrom), then
    // recovered by a later run: none is a loss.
    assert!(
        watermarks.iter().any(|w| resumed_from.contains(w)),
        "no watermark at a resumeFrom: {watermarks:?} {resumed_from:?}"
    );
    for c in &open {
        assert!(
            held_in_full(c, store.held_sessions(c.id)) && !by_id.contains_key(&c.id),
            "{} (open until {:?}) was recovered later",
            c.id,
            c.end
        );
    }
    // The ledger outlives the runs that wrote it; the runs that looked at a conversation last
    // replaced the words of the earlier ones.
    let writers: BTreeSet<&str> = ledger.iter().map(|e| e.recovery.as_str()).collect();
    let kept: BTreeSet<String> = left.iter().map(|dr| dr.name_any()).collect();
    assert!(
        writers.iter().any(|w| !kept.contains(*w)),
        "entries of pruned runs: {writers:?} {kept:?}"
    );
    let last_run = seen
        .values()
        .max_by_key(|(_, w, created)| (w.start, created.clone()))
        .map(|(name, w, _)| (name.clone(), *w))
        .expect("a run");
    for e in &ledger {
        let start = e.conversation_start.expect("start");
        if start >= last_run.1.start {
            assert_eq!(e.recovery, last_run.0, "{e:?}");
        }
    }
    // The old day went with the first run's retention pass.
    let days: BTreeSet<String> = ledger_maps(&client, ns, "nightly")
        .await
        .iter()
        .filter_map(|cm| cm.labels().get(DAY_LABEL).cloned())
        .collect();
    assert!(!days.contains("2020-01-01"), "{days:?}");

    // The binary prints the same ledger, filtered.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_digital-recovery"))
            .args(["report", "--namespace", ns, "--schedule", "nightly"])
            .args(args)
            .env("KUBECONFIG", cp.kubeconfig_path())
            .output()
            .expect("report");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let ids: BTreeSet<Uuid> = cli(&["--output", "ids"])
        .lines()
        .map(|l| l.parse().expect("an id per line"))
        .collect();
    assert_eq!(ids, expected.keys().copied().collect());
    let archived_csv = cli(&[
        "--outcome",
        "failed",
        "--reason",
        "archived,deleted",
        "--output",
        "csv",
    ]);
    assert_eq!(
        archived_csv.lines().count() - 1,
        count("archived") + count("deleted"),
        "{archived_csv}"
    );
    let conflicts: BTreeSet<Uuid> = cli(&["--outcome", "conflict", "--output", "ids"])
        .lines()
        .map(|l| l.parse().expect("id"))
        .collect();
    assert_eq!(conflicts, conflicting);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_recovery_still_reports_what_its_shards_did() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let ns = "tenant-cancel";
    recovery::tenant_namespace(&client, ns).await;
    // Slow simulators, so the cancel lands mid-run.
    let (sims, store) =
        recovery::start_simulators(recovery::sim_config(3000, 40), recovery::recording_config())
            .await;
    let _runner = JobRunner::start(&cp, client.clone());
    let _operator = Operator::start(&cp, "replica-a").await;
    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), ns);
    // Capture paced at 2 sends a second per shard keeps most of the run ahead when the cancel
    // lands (314 to send: over a minute). Genesys' pace does not: the transcripts come in batch
    // downloads of 100, and on a busy machine both shards had sent everything before the first
    // status write that showed a final word.
    let mut halted = recovery("halted", &sims, 2);
    halted.spec.recording_side.requests_per_minute = Some(120);
    api.create(&PostParams::default(), &halted)
        .await
        .expect("create");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        let dr = api.get("halted").await.expect("get");
        // Final words so far (not recorded, archived, ...), which the report must keep.
        let finals = dr
            .status
            .and_then(|s| s.progress)
            .map(|p| p.not_recorded + p.failed)
            .unwrap_or(0);
        if finals >= 3 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    api.patch(
        "halted",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"cancel": true}})),
    )
    .await
    .expect("cancel");
    wait_phase(&api, "halted", 120, |p| p == Phase::Cancelled).await;
    // The stopped workers write their report, then their last status entry, which names it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let shards = api
            .get("halted")
            .await
            .expect("get")
            .status
            .map(|s| s.shards)
            .unwrap_or_default();
        if shards.iter().all(|s| s.report_parts.is_some()) {
            assert!(
                shards
                    .iter()
                    .all(|s| s.reason.as_deref() == Some("Terminated")),
                "{shards:?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no report written by the stopped shards: {shards:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let rows = digital_recovery::worker::read_report(&client, ns, "halted")
        .await
        .expect("report");
    let not_recorded: Vec<Uuid> = rows
        .iter()
        .filter(|(_, r)| r.outcome == Outcome::NotRecorded)
        .filter_map(|(_, r)| r.conversation_id)
        .collect();
    assert!(
        !not_recorded.is_empty(),
        "the report holds what was done: {rows:?}"
    );
    // What it says, the dataset confirms: no recording, and the recording side lacks it.
    for id in &not_recorded {
        let c = sims
            .dataset
            .conversations
            .iter()
            .find(|c| c.id == *id)
            .expect("a dataset conversation");
        assert!(c.recordings.is_empty(), "{id}");
        assert!(store.held_sessions(*id).is_none(), "{id}");
    }
    let truth = store.report();
    assert!(
        truth.still_missing > 0,
        "cancelled before the end: {truth:?}"
    );
    assert_eq!(truth.duplicates, 0);
}

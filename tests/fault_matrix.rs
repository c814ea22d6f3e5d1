//! The fault matrix: full recoveries on a real kube-apiserver, through the real controller and
//! worker binaries, against simulators that inject one fault (or a mix) each. Every scenario must
//! end with nothing still missing, nothing ingested twice, no conflict, and a status that tells
//! the truth (checked against the simulators' ground truth and the recovery's report).
//!
//! `make reliability` runs this file with `DR_RELIABILITY_OUT` set: each scenario then writes its
//! row there (also when it fails, before asserting), and `scripts/reliability_table.py` renders
//! docs/reliability.md from the rows. `DR_FAULT_SEED` changes the random kill/restart moments
//! (the seed in use is printed and recorded in the row).

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kube::{Api, Client, ResourceExt, api::PostParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use uuid::Uuid;

use digital_recovery::api::{DigitalRecovery, Phase};
use digital_recovery::pipeline::progress::Outcome;
use digital_recovery::sim::SimHandles;
use digital_recovery::sim::dataset::{Dataset, FileState, RecordingSideState};
use digital_recovery::sim::faults::{FaultKind, FaultSpec, Service};
use digital_recovery::sim::recording::{RecordingSimConfig, RecordingStore};
use digital_recovery::worker::read_report;
use support::recovery::{self, finished, recovery, wait_phase};
use support::{ControlPlane, jobs::JobRunner, operator::Operator};

/// Longest a scenario's recovery may take before the test gives up on it.
const FINISH_SECS: u64 = 600;

/// One line of docs/reliability.md.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    scenario: String,
    injected: String,
    faults_hit: u64,
    phase: String,
    missing_and_partial: u64,
    recovered: u64,
    verified: u64,
    failed: u64,
    failed_reasons: String,
    still_missing: u64,
    duplicates: u64,
    conflicts: u64,
    resent: u64,
    worker_runs: usize,
    shards: u32,
    seconds: u64,
    /// Where the status disagrees with the ground truth; empty when it tells the truth.
    status_problems: Vec<String>,
}

/// Something done to a running recovery from outside the simulators' per-request faults.
#[derive(Clone, Copy, Debug)]
enum Disruption {
    None,
    /// Every request to `service` fails as `kind` for `secs`, starting when the recovery is
    /// Running (`mid_run`: once something has been ingested).
    Burst {
        service: Option<Service>,
        kind: FaultKind,
        secs: u64,
        mid_run: bool,
    },
}

struct Scenario {
    name: &'static str,
    injected: &'static str,
    faults: &'static str,
    latency_ms: u64,
    recording: fn(&mut RecordingSimConfig),
    disruption: Disruption,
}

fn keep(_: &mut RecordingSimConfig) {}

fn back_pressure(config: &mut RecordingSimConfig) {
    config.buffer_capacity = 4;
    config.drain_per_second = 15.0;
}

fn back_pressure_503(config: &mut RecordingSimConfig) {
    back_pressure(config);
    config.busy_status = 503;
}

fn network_scenarios() -> Vec<Scenario> {
    let plain = |name, injected, faults| Scenario {
        name,
        injected,
        faults,
        latency_ms: 0,
        recording: keep,
        disruption: Disruption::None,
    };
    vec![
        plain("baseline", "nothing", ""),
        Scenario {
            disruption: Disruption::Burst {
                service: Some(Service::Genesys),
                kind: FaultKind::TooManyRequests,
                secs: 20,
                mid_run: false,
            },
            ..plain(
                "429-storm",
                "every Genesys request answered 429 (Retry-After: 1) for 20 s, then 5 % 429 without Retry-After",
                "429-bare=0.05",
            )
        },
        plain(
            "5xx",
            "5 % of all requests answered 500/502/503/504",
            "5xx=0.05",
        ),
        plain(
            "timeouts",
            "2 % of requests never answered (the client gives up after 30 s)",
            "timeout=0.02,hang=45s",
        ),
        plain(
            "truncated-bodies",
            "5 % of responses cut in half (Content-Length promises more)",
            "truncate=0.05",
        ),
        plain(
            "token-expiry",
            "tokens live 2 s; 2 % of requests find their token revoked (401)",
            "token-expiry=2s,token-revoke=0.02",
        ),
        plain(
            "transcoding",
            "40 % of recordings requests answer 202 (transcoding) for 3 s",
            "transcode=0.4,transcode-time=3s",
        ),
        Scenario {
            recording: back_pressure,
            ..plain(
                "capture-back-pressure-429",
                "Capture buffer of 4 draining 15/s, full buffer answers 429 + Retry-After",
                "",
            )
        },
        Scenario {
            recording: back_pressure_503,
            ..plain(
                "capture-back-pressure-503",
                "Capture buffer of 4 draining 15/s, full buffer answers 503 + Retry-After",
                "",
            )
        },
        Scenario {
            disruption: Disruption::Burst {
                service: Some(Service::Das),
                kind: FaultKind::Status(503),
                secs: 60,
                mid_run: false,
            },
            ..plain(
                "das-outage-at-start",
                "DAS answers 503 to everything (token included) for 60 s from the start",
                "",
            )
        },
        Scenario {
            latency_ms: 15,
            disruption: Disruption::Burst {
                service: Some(Service::Das),
                kind: FaultKind::Status(503),
                secs: 60,
                mid_run: true,
            },
            ..plain(
                "das-outage-mid-run",
                "DAS answers 503 to everything for 60 s from the first ingestion (verify waits it out)",
                "",
            )
        },
        Scenario {
            recording: back_pressure,
            ..plain(
                "all-at-once",
                "2 % 429, 5 % 5xx, 1 % timeouts, 2 % truncated, 1 % token revoked, tokens live 5 s, 20 % transcoding, Capture back-pressure",
                "429=0.02,5xx=0.05,timeout=0.01,truncate=0.02,token-revoke=0.01,token-expiry=5s,transcode=0.2,transcode-time=2s,hang=45s",
            )
        },
    ]
}

/// Seed of the random moments, from `DR_FAULT_SEED` (default 7).
fn seed() -> u64 {
    let seed = std::env::var("DR_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    eprintln!("fault matrix seed: {seed} (DR_FAULT_SEED)");
    seed
}

async fn start_sims(
    scenario_faults: &str,
    latency_ms: u64,
    conversations: usize,
    recording: fn(&mut RecordingSimConfig),
) -> (SimHandles, std::sync::Arc<RecordingStore>) {
    let mut config = recovery::sim_config(conversations, latency_ms);
    config.faults = scenario_faults
        .parse::<FaultSpec>()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut recording_config = recovery::recording_config();
    recording(&mut recording_config);
    recovery::start_simulators(config, recording_config).await
}

/// Conversations withheld from the recording side whose lacking sessions' recordings are all
/// archived or deleted: a recovery must report each as failed, with that reason.
fn unrecoverable(dataset: &Dataset) -> BTreeSet<Uuid> {
    dataset
        .conversations
        .iter()
        .filter(|c| c.is_text() && c.is_completed())
        .filter_map(|c| {
            let lacking: Vec<Uuid> = match &c.recording_side {
                RecordingSideState::Held => return None,
                RecordingSideState::Missing => c.sessions.iter().map(|s| s.id).collect(),
                RecordingSideState::Partial { lacking_sessions } => lacking_sessions.clone(),
            };
            let mut recordings = c
                .recordings
                .iter()
                .filter(|r| lacking.contains(&r.session_id))
                .peekable();
            let gone = recordings.peek().is_some()
                && recordings.all(|r| r.file_state != FileState::Available);
            gone.then_some(c.id)
        })
        .collect()
}

/// Completed text conversations the recording side lacks and Genesys never recorded: each must
/// end `notRecorded`, found by one recordings call (never a failure, never skipped unasked).
fn not_recorded(dataset: &Dataset) -> BTreeSet<Uuid> {
    dataset
        .conversations
        .iter()
        .filter(|c| c.is_expected_not_recorded())
        .map(|c| c.id)
        .collect()
}

/// Compares the finished recovery's status and report with the simulators' ground truth.
async fn status_problems(
    client: &Client,
    dr: &DigitalRecovery,
    dataset: &Dataset,
    store: &RecordingStore,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    let Some(status) = dr.status.clone() else {
        return vec!["no status".into()];
    };
    let progress = status.progress.unwrap_or_default();
    let counts = status.match_counts.unwrap_or_default();
    let truth = store.report();
    let expected = store.expected();
    let recoverable: BTreeSet<Uuid> = expected
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(id, _)| *id)
        .collect();
    let unrecoverable = unrecoverable(dataset);
    let never_recorded = not_recorded(dataset);

    let phase_ok = match status.phase {
        Some(Phase::Succeeded) => progress.failed == 0,
        Some(Phase::PartiallySucceeded) => progress.failed > 0,
        _ => false,
    };
    check(
        phase_ok,
        format!("phase {:?} with {} failed", status.phase, progress.failed),
    );
    check(
        status.observed_generation == dr.metadata.generation,
        "observedGeneration behind".into(),
    );
    check(status.completion_time.is_some(), "no completionTime".into());
    check(
        progress.pending == 0,
        format!("{} still pending", progress.pending),
    );
    check(
        counts.genesys == counts.matched + counts.missing + counts.partial + counts.skipped,
        format!("match counts do not add up: {counts:?}"),
    );
    check(
        progress.to_recover == progress.recovered + progress.failed + progress.not_recorded,
        format!(
            "toRecover {} != recovered + failed + notRecorded ({progress:?})",
            progress.to_recover
        ),
    );

    let report =
        match read_report(client, &dr.namespace().unwrap_or_default(), &dr.name_any()).await {
            Ok(report) => report,
            Err(e) => return [problems, vec![format!("report unreadable: {e}")]].concat(),
        };
    let ids = |want: &dyn Fn(Outcome) -> bool| -> BTreeSet<Uuid> {
        report
            .iter()
            .filter(|(_, r)| want(r.outcome))
            .filter_map(|(_, r)| r.conversation_id)
            .collect()
    };
    let failed = ids(&|o| o == Outcome::Failed);
    let recovered = ids(&|o| {
        matches!(
            o,
            Outcome::Verified | Outcome::Recovered | Outcome::AlreadyPresent
        )
    });
    let unverified = ids(&|o| matches!(o, Outcome::Unverified | Outcome::Conflict));
    let reported_not_recorded = ids(&|o| o == Outcome::NotRecorded);
    check(
        reported_not_recorded == never_recorded,
        format!(
            "report's notRecorded ({}) != withheld conversations Genesys never recorded ({})",
            reported_not_recorded.len(),
            never_recorded.len()
        ),
    );
    check(
        progress.not_recorded == never_recorded.len() as u64,
        format!(
            "status notRecorded {} != withheld conversations never recorded {}",
            progress.not_recorded,
            never_recorded.len()
        ),
    );
    check(
        failed == unrecoverable,
        format!(
            "report's failed ({}) != conversations whose recordings are gone ({})",
            failed.len(),
            unrecoverable.len()
        ),
    );
    check(
        report
            .iter()
            .filter(|(_, r)| r.outcome == Outcome::Failed)
            .all(|(_, r)| matches!(r.reason.as_deref(), Some("archived" | "deleted"))),
        "a failure without its archived/deleted reason".into(),
    );
    check(
        unverified.is_empty(),
        format!("{} unverified or conflicting", unverified.len()),
    );
    check(
        progress.failed == failed.len() as u64,
        format!(
            "status failed {} != report {}",
            progress.failed,
            failed.len()
        ),
    );
    check(
        progress.recovered == recovered.len() as u64,
        format!(
            "status recovered {} != report {}",
            progress.recovered,
            recovered.len()
        ),
    );
    check(
        recovered.is_subset(&recoverable),
        "the report names a recovery of a conversation that was not missing".into(),
    );
    // Exact, also after worker retries: a retry reads the journal of earlier attempts.
    check(
        recovered == recoverable,
        format!(
            "report's recovered ({}) != conversations to recover ({})",
            recovered.len(),
            recoverable.len()
        ),
    );
    check(
        progress.recovered == truth.ingested && progress.verified == truth.ingested,
        format!(
            "status recovered {} / verified {} != ingested {}",
            progress.recovered, progress.verified, truth.ingested
        ),
    );
    let withheld = expected.len() + unrecoverable.len() + never_recorded.len();
    check(
        progress.to_recover == withheld as u64,
        format!(
            "toRecover {} != withheld conversations {withheld}",
            progress.to_recover,
        ),
    );
    problems
}

#[allow(clippy::too_many_arguments)]
async fn finish_row(
    client: &Client,
    api: &Api<DigitalRecovery>,
    name: &str,
    scenario: &str,
    injected: &str,
    dataset: &Dataset,
    store: &RecordingStore,
    worker_runs: usize,
    started: Instant,
) -> Row {
    let dr = wait_phase(api, name, FINISH_SECS, finished).await;
    let seconds = started.elapsed().as_secs();
    let shards = dr.spec.shards();
    let status_problems = status_problems(client, &dr, dataset, store).await;
    let status = dr.status.clone().unwrap_or_default();
    let progress = status.progress.unwrap_or_default();
    let counts = status.match_counts.unwrap_or_default();
    let truth = store.report();
    let mut reasons: Vec<String> = status
        .failures
        .iter()
        .filter_map(|f| f.reason.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    reasons.sort();
    Row {
        scenario: scenario.into(),
        injected: injected.into(),
        faults_hit: 0,
        phase: status
            .phase
            .map(|p| format!("{p:?}"))
            .unwrap_or_else(|| "none".into()),
        missing_and_partial: counts.missing + counts.partial,
        recovered: progress.recovered,
        verified: progress.verified,
        failed: progress.failed,
        failed_reasons: reasons.join(", "),
        still_missing: truth.still_missing,
        duplicates: truth.duplicates,
        conflicts: truth.conflicts,
        resent: truth.resent,
        worker_runs,
        shards,
        seconds,
        status_problems,
    }
}

/// Writes the row for docs/reliability.md (when asked to).
fn record(row: &Row) {
    if let Ok(dir) = std::env::var("DR_RELIABILITY_OUT") {
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir).expect("row directory");
        let json = serde_json::to_string_pretty(row).expect("row JSON");
        std::fs::write(dir.join(format!("{}.json", row.scenario)), json).expect("write row");
    }
    eprintln!("{row:?}");
}

/// Asserts what every row must show.
fn assert_row(row: &Row) {
    assert_eq!(row.still_missing, 0, "{}: still missing", row.scenario);
    assert_eq!(row.duplicates, 0, "{}: duplicates", row.scenario);
    assert_eq!(row.conflicts, 0, "{}: conflicts", row.scenario);
    assert!(
        row.status_problems.is_empty(),
        "{}: the status does not tell the truth: {:?}",
        row.scenario,
        row.status_problems
    );
}

fn runs_of(runner: &JobRunner, ns: &str) -> usize {
    runner
        .runs
        .lock()
        .expect("runs")
        .iter()
        .filter(|(n, ..)| n == ns)
        .count()
}

async fn run_network_scenario(client: Client, runner: &JobRunner, scenario: Scenario) -> Row {
    let ns = format!("fm-{}", scenario.name);
    recovery::tenant_namespace(&client, &ns).await;
    let (sims, store) = start_sims(
        scenario.faults,
        scenario.latency_ms,
        1000,
        scenario.recording,
    )
    .await;
    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), &ns);
    let started = Instant::now();
    api.create(&PostParams::default(), &recovery("run", &sims, 2))
        .await
        .expect("create");
    if let Disruption::Burst {
        service,
        kind,
        secs,
        mid_run,
    } = scenario.disruption
    {
        wait_phase(&api, "run", 120, |p| p != Phase::Pending).await;
        if mid_run {
            let deadline = Instant::now() + Duration::from_secs(120);
            while store.report().ingested == 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        sims.faults.burst(service, kind, Duration::from_secs(secs));
    }
    let row = finish_row(
        &client,
        &api,
        "run",
        scenario.name,
        scenario.injected,
        &sims.dataset,
        &store,
        0,
        started,
    )
    .await;
    Row {
        worker_runs: runs_of(runner, &ns),
        // Read now: the faults answered during the whole run, Capture's back-pressure included.
        faults_hit: sims.faults.injected() + store.stats().throttled,
        ..row
    }
}

/// Every per-request fault and upstream outage, each in its own namespace with its own
/// simulators, all at once on one control plane and one controller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_faults_never_lose_or_duplicate_and_the_status_tells_the_truth() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let runner = JobRunner::start(&cp, client.clone());
    let _operator = Operator::start(&cp, "replica-a").await;

    let rows = futures::future::join_all(
        network_scenarios()
            .into_iter()
            .map(|s| run_network_scenario(client.clone(), &runner, s)),
    )
    .await;
    rows.iter().for_each(record);
    rows.iter().for_each(assert_row);
}

/// What happens to the platform (not the upstream services) during a recovery.
enum Platform {
    /// SIGKILL the worker of `index` after `ms` (each delay counted from the previous kill).
    WorkerKills(Vec<(u64, u32)>),
    /// SIGKILL the controller after each delay and start a new replica at once.
    ControllerRestarts(Vec<u64>),
    /// SIGKILL the apiserver after each delay, leave it down for 5 s, start it again.
    ApiserverRestarts(Vec<u64>),
}

/// A platform scenario: one recovery of 2,000 conversations (two shards, slowed simulators so the
/// disruptions land mid-run), the controller kept running like a Deployment would (a replica
/// that exits, as it does when it loses its Lease, is replaced).
async fn platform_scenario(name: &str, injected: &str, faults: &str, platform: Platform) -> Row {
    let mut cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let ns = format!("fm-{name}");
    recovery::tenant_namespace(&client, &ns).await;
    let (sims, store) = start_sims(faults, 10, 2000, keep).await;
    let runner = JobRunner::start(&cp, client.clone());
    let mut replicas = 0;
    let mut operator = Operator::start(&cp, "replica-0").await;
    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), &ns);
    let started = Instant::now();
    api.create(&PostParams::default(), &recovery("run", &sims, 2))
        .await
        .expect("create");
    wait_phase(&api, "run", 120, |p| p != Phase::Pending).await;

    match platform {
        Platform::WorkerKills(kills) => {
            for (delay_ms, index) in kills {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                let killed = runner.kill(&ns, "run", index);
                eprintln!(
                    "{name}: +{delay_ms} ms SIGKILL worker {index}: {killed} (ingested so far {})",
                    store.report().ingested
                );
            }
        }
        Platform::ControllerRestarts(delays) => {
            for delay_ms in delays {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                drop(operator);
                replicas += 1;
                eprintln!("{name}: +{delay_ms} ms controller killed; replica-{replicas} starts");
                operator = Operator::start(&cp, &format!("replica-{replicas}")).await;
            }
        }
        Platform::ApiserverRestarts(delays) => {
            for delay_ms in delays {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                eprintln!(
                    "{name}: +{delay_ms} ms apiserver killed (ingested so far {})",
                    store.report().ingested
                );
                cp.restart_apiserver(Duration::from_secs(5)).await;
                eprintln!("{name}: apiserver back");
            }
        }
    }
    // Wait for the end, replacing a controller replica that exited.
    let deadline = Instant::now() + Duration::from_secs(FINISH_SECS);
    loop {
        if let Ok(dr) = api.get("run").await
            && dr
                .status
                .as_ref()
                .and_then(|s| s.phase)
                .is_some_and(finished)
        {
            break;
        }
        if let Ok(Some(status)) = operator.process.0.try_wait() {
            replicas += 1;
            eprintln!("{name}: controller exited ({status}); replica-{replicas} starts");
            operator = Operator::start(&cp, &format!("replica-{replicas}")).await;
        }
        assert!(Instant::now() < deadline, "{name}: not finished in time");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let row = finish_row(
        &client,
        &api,
        "run",
        name,
        injected,
        &sims.dataset,
        &store,
        runs_of(&runner, &ns),
        started,
    )
    .await;
    drop(operator);
    Row {
        faults_hit: sims.faults.injected() + store.stats().throttled,
        ..row
    }
}

/// Workers SIGKILLed at random moments (seeded), with upstream faults on top: each kill is retried
/// by the Job like a failed pod, and the retry must neither lose nor duplicate anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_at_random_points() {
    let mut rng = ChaCha8Rng::seed_from_u64(seed());
    // Two kills per shard: within the Job's backoffLimitPerIndex (3), so every shard must finish.
    let kills = (0..4u32)
        .map(|i| (rng.random_range(300..4000), i % 2))
        .collect();
    let row = platform_scenario(
        "worker-sigkill",
        "4 SIGKILLs of a running worker at seeded random moments, plus 3 % 5xx and 2 % truncated bodies",
        "5xx=0.03,truncate=0.02",
        Platform::WorkerKills(kills),
    )
    .await;
    record(&row);
    assert_row(&row);
    assert!(
        row.worker_runs > row.shards as usize,
        "no worker was killed: the run ended too soon"
    );
}

/// The controller SIGKILLed twice mid-run, with throttling on top; each time a new replica takes
/// over the Lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_restarted_mid_run() {
    let mut rng = ChaCha8Rng::seed_from_u64(seed() ^ 1);
    let delays = (0..2).map(|_| rng.random_range(200..3000)).collect();
    let row = platform_scenario(
        "controller-restart",
        "controller SIGKILLed twice at seeded random moments, a new replica each time, plus 5 % 429",
        "429=0.05",
        Platform::ControllerRestarts(delays),
    )
    .await;
    record(&row);
    assert_row(&row);
}

/// The apiserver SIGKILLed twice mid-run and down for 5 s each time, with 5 % upstream 5xx on
/// top: controller, workers and the job stand-in must carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_restarted_mid_run() {
    let mut rng = ChaCha8Rng::seed_from_u64(seed() ^ 2);
    let delays = (0..2).map(|_| rng.random_range(500..4000)).collect();
    let row = platform_scenario(
        "apiserver-restart",
        "kube-apiserver SIGKILLed twice at seeded random moments, down 5 s each, plus 5 % upstream 5xx",
        "5xx=0.05",
        Platform::ApiserverRestarts(delays),
    )
    .await;
    record(&row);
    assert_row(&row);
}

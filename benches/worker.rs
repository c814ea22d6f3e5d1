//! Worker benchmark: the peak memory of the cluster worker (`digital-recovery worker`, one shard
//! of one recovery) as the window grows 10x, against a real kube-apiserver (tests/support).
//!
//! The worker differs from `recover` in what it writes: the outcome records of its shard go into
//! the report ConfigMaps, encoded as they come and written a part (~900 KiB) at a time. So it
//! runs the same two windows as the `pipeline` bench's memory part (20,000 conversations over
//! 24 h, 200,000 over 240 h: the same density, ten times the span) against `simulate`, as its
//! Job would run it (the Job's env: the recovery's name and namespace, shard 0, the credentials;
//! an admin kubeconfig), and reads `ru_maxrss` from `wait4`. It also counts the outcome records
//! the report holds, so the share of memory that grows with them can be told apart.
//!
//! Then the report on its own: a child process pushes N outcome records into the report encoder
//! the way the worker's reporter does, taking full parts as the worker's status task does, for
//! N = 0, 100,000 and 1,000,000 (`ru_maxrss` again): the memory the report costs per record,
//! which streaming keeps near zero.
//!
//! Each window runs several times, the windows taking turns, each run against a fresh simulator
//! (`BENCH_MEMORY_RUNS`, default 3): one run moves by as much as 10x the window adds.
//!
//! Run: `cargo bench --bench worker` (knobs: BENCH_MEMORY_SMALL, BENCH_MEMORY_LARGE,
//! BENCH_MEMORY_RUNS, BENCH_WORKER_PARTS=run,encoder to run one part only). Figures go to
//! docs/benchmarks.md.

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::Instant;

use digital_recovery::api::{DigitalRecovery, ShardPhase};
use digital_recovery::contract::{
    ENV_GENESYS_CLIENT_ID, ENV_GENESYS_CLIENT_SECRET, ENV_RECORDING_CLIENT_ID,
    ENV_RECORDING_CLIENT_SECRET,
};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use support::ControlPlane;

use common::{BIN, Sim, memory_sim_args, memory_turns, simulate};

/// The recovery of the simulators' window, one shard, as the `pipeline` bench's manifest.
fn recovery(name: &str, sim: &Sim) -> DigitalRecovery {
    let s = |k: &str| sim.1[k].as_str().expect("field").to_string();
    let window = s("window");
    let (start, end) = window.split_once('/').expect("window");
    serde_json::from_value(json!({
        "apiVersion": "recovery.cxops.io/v1alpha1",
        "kind": "DigitalRecovery",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "tenant": "demo",
            "genesys": {"apiBaseUrl": s("genesys"), "credentialsSecret": "sim", "requestsPerMinute": 3000},
            "recordingSide": {"dasUrl": s("das"), "captureUrl": s("capture"), "credentialsSecret": "sim"},
            "window": {"start": start, "end": end},
            "mediaTypes": ["chat", "email", "social"],
            "mode": "Recover",
            "parallelism": 1
        }
    }))
    .expect("recovery")
}

/// Runs the worker of shard 0 of `name` as its Job would and returns its peak RSS in KiB and
/// whether it exited 0.
#[allow(clippy::zombie_processes)] // reaped by common::reap (wait4), which also gives ru_maxrss
fn worker(cp: &ControlPlane, name: &str, log: &std::path::Path) -> (i64, bool) {
    let child = Command::new(BIN)
        .args(["worker", "--namespace", "default", "--name", name])
        .env("JOB_COMPLETION_INDEX", "0")
        .env("KUBECONFIG", cp.kubeconfig_path())
        .env(ENV_GENESYS_CLIENT_ID, "sim-client")
        .env(ENV_GENESYS_CLIENT_SECRET, "sim-secret")
        .env(ENV_RECORDING_CLIENT_ID, "sim-client")
        .env(ENV_RECORDING_CLIENT_SECRET, "sim-secret")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("worker log"))
        .spawn()
        .expect("start worker");
    let pid = child.id();
    let (exited_ok, max_rss) = common::reap(pid);
    (max_rss, exited_ok)
}

/// The child's side of the encoder measurement: `records` outcome records like a shard's (seven
/// in ten verified, three not recorded with a reason and a detail), pushed into the report
/// encoder as the worker's reporter pushes them, full parts taken as its status task takes them
/// (and dropped here, as written). Prints the report's parts and compressed bytes.
fn encode_records(records: usize) {
    use digital_recovery::api::MediaType;
    use digital_recovery::pipeline::progress::{Outcome, OutcomeRecord};
    use digital_recovery::worker::report::ReportEncoder;
    let mut encoder = ReportEncoder::default();
    let (mut parts, mut bytes) = (0usize, 0usize);
    for i in 0..records {
        let verified = i % 10 < 7;
        let record = OutcomeRecord {
            conversation_id: Some(uuid::Uuid::new_v4()),
            media_type: Some(MediaType::Chat),
            conversation_start: None,
            outcome: if verified {
                Outcome::Verified
            } else {
                Outcome::NotRecorded
            },
            reason: (!verified).then(|| "notRecorded".to_string()),
            detail: (!verified)
                .then(|| "the recordings API lists none of text for this conversation".to_string()),
            archive_date: None,
        };
        encoder.push(&record).expect("encode");
        if i % 1_000 == 0 {
            for (_, part) in encoder.take_full() {
                parts += 1;
                bytes += part.len();
            }
        }
    }
    let (rest, count) = encoder.finish().expect("finish");
    bytes += rest.iter().map(|(_, p)| p.len()).sum::<usize>();
    assert_eq!(parts + rest.len(), count);
    println!("{count} {bytes}");
}

/// Runs [`encode_records`] in a child (this bench's own executable) and returns its peak RSS in
/// KiB, the report's parts and its compressed bytes.
#[allow(clippy::zombie_processes)] // reaped by common::reap (wait4), which also gives ru_maxrss
fn encoder_child(records: usize) -> (i64, u64, u64) {
    let mut child = Command::new(std::env::current_exe().expect("own executable"))
        .args(["--encode-records", &records.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the encoder child");
    let pid = child.id();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut out)
        .expect("read the child's output");
    let (exited_ok, max_rss) = common::reap(pid);
    assert!(exited_ok, "encoder child failed");
    let mut numbers = out.split_whitespace().map(|n| n.parse().unwrap_or(0));
    let parts = numbers.next().unwrap_or(0);
    let bytes = numbers.next().unwrap_or(0);
    (max_rss, parts, bytes)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--encode-records") {
        let records = args.get(at + 1).and_then(|n| n.parse().ok()).unwrap_or(0);
        encode_records(records);
        return;
    }
    let parts = std::env::var("BENCH_WORKER_PARTS").unwrap_or_else(|_| "run,encoder".into());
    let part = |name: &str| parts.split(',').any(|p| p.trim() == name);
    if part("run") {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(workers());
    }
    if part("encoder") {
        encoders();
    }
}

/// The records a worker keeps, and their report, on their own.
fn encoders() {
    let (baseline, _, _) = encoder_child(0);
    for records in [100_000, 1_000_000] {
        let (maxrss_kib, parts, bytes) = encoder_child(records);
        let per_record = (maxrss_kib - baseline) as f64 * 1024.0 / records as f64;
        println!(
            "report encoder: {records} outcome records kept and encoded, peak RSS {:.1} MiB ({:.1} MiB with none), {per_record:.0} bytes per record; {parts} report parts, {:.1} MiB compressed",
            maxrss_kib as f64 / 1024.0,
            baseline as f64 / 1024.0,
            bytes as f64 / 1024.0 / 1024.0,
        );
        println!(
            "BENCH_JSON {}",
            json!({
                "bench": "worker",
                "part": "report_encoder",
                "records": records,
                "peak_rss_mib": maxrss_kib as f64 / 1024.0,
                "baseline_rss_mib": baseline as f64 / 1024.0,
                "bytes_per_record": per_record,
                "report_parts": parts,
                "compressed_bytes": bytes,
            })
        );
    }
}

/// The worker runs at 1x and 10x the window, several times each ([`common::memory_turns`]).
async fn workers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), "default");
    for (run, (label, n, hours)) in memory_turns() {
        // A fresh simulator each run: the last one's recording side holds what it recovered.
        let sim = simulate(&memory_sim_args(n, hours));
        let name = format!("bench-{label}-{run}");
        api.create(&PostParams::default(), &recovery(&name, &sim))
            .await
            .expect("create the recovery");
        let log = dir.path().join(format!("worker-{label}.log"));
        let started = Instant::now();
        let (maxrss_kib, ok) = {
            let (cp, name, log) = (&cp, name.clone(), log.clone());
            tokio::task::block_in_place(|| worker(cp, &name, &log))
        };
        let elapsed = started.elapsed().as_secs_f64();
        assert!(
            ok,
            "worker {name} failed:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let dr = api.get(&name).await.expect("read the recovery");
        let shard = dr
            .status
            .as_ref()
            .and_then(|s| s.shards.first().cloned())
            .expect("the shard's status entry");
        assert_eq!(shard.phase, Some(ShardPhase::Succeeded), "{shard:?}");
        let records = digital_recovery::worker::read_report(&client, "default", &name)
            .await
            .expect("read the report")
            .len();
        let progress = shard.progress.unwrap_or_default();
        println!(
            "worker {label} (run {run}): {n} conversations over {hours} h, peak RSS {:.1} MiB, elapsed {elapsed:.1} s, {records} outcome records in {} report parts, recovered {}",
            maxrss_kib as f64 / 1024.0,
            shard.report_parts.unwrap_or(0),
            progress.recovered,
        );
        println!(
            "BENCH_JSON {}",
            json!({
                "bench": "worker",
                "part": "run",
                "label": label,
                "run": run,
                "generated": n,
                "window_hours": hours,
                "peak_rss_mib": maxrss_kib as f64 / 1024.0,
                "elapsed_s": elapsed,
                "outcome_records": records,
                "report_parts": shard.report_parts,
                "match": shard.match_counts,
                "progress": progress,
            })
        );
    }
}

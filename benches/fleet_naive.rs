//! `recover` with default settings against a naive sequential script on the official Python SDK
//! (benches/naive_sdk.py: one token, pages the detail query, lists DAS, fetches and ingests each
//! missing conversation in turn, leaving 429s to the SDK's urllib3 Retry). Both run against the
//! same simulator limits (300 requests/min per token, 3000/min per OAuth client, 30 ms latency),
//! each on a fresh simulator of the same seed, so both see the same data and an idle limiter.
//!
//! `recover` is the release binary with a manifest that sets no parallelism and no request rate
//! (`parallelism: auto`, the org budget and the per-token rate are the defaults: the org budget is
//! 80 % of the org limit, so `recover` may spend 8 tokens' worth, not 10). The speed-up is
//! the script's elapsed time over `recover`'s (each as it reports it); the simulators' own counts
//! (requests, 429s of each limit, ingested, still missing) sit beside each contender's claim.
//!
//! Run: `cargo bench --bench fleet_naive` (knob: BENCH_NAIVE_CONVERSATIONS, default 20,000; the
//! naive side takes several minutes at the default). Figures go to docs/benchmarks.md.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

mod common;
#[path = "../tests/support/pyvenv.rs"]
mod pyvenv;

use common::{Sim, env_usize, simulate};
use digital_recovery::api::DEFAULT_ORG_REQUESTS_PER_MINUTE;

const TOKEN_RATE: u32 = 300;
const ORG_RATE: u32 = 3000;
const LATENCY_MS: u32 = 30;
const MISSING_RATE: &str = "0.05";

fn field(sim: &Sim, key: &str) -> String {
    sim.1[key].as_str().expect("address field").to_string()
}

/// `GET url` answered with JSON (plain HTTP/1.0 on loopback, so no client library is needed).
fn get_json(url: &str) -> serde_json::Value {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the simulator");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.contains(" 200 "), "GET {url}: {head}");
    serde_json::from_str(body).expect("JSON body")
}

/// What the simulators counted of a run: Genesys' request and 429 counters and Capture's ground
/// truth report.
fn sim_counts(sim: &Sim) -> serde_json::Value {
    let genesys = get_json(&format!("{}/sim/genesys/stats", field(sim, "genesys")));
    let report = get_json(&format!("{}/sim/report", field(sim, "capture")));
    serde_json::json!({"genesys": genesys, "report": report})
}

/// Runs the naive script; returns its JSON line and the process's wall time.
fn run_naive(python: &Path, root: &Path, sim: &Sim, home: &Path) -> (serde_json::Value, f64) {
    let started = Instant::now();
    let out = Command::new(python)
        .arg(root.join("benches/naive_sdk.py"))
        .args(["--genesys", &field(sim, "genesys")])
        .args(["--das", &field(sim, "das")])
        .args(["--capture", &field(sim, "capture")])
        .args(["--tenant", &field(sim, "tenant")])
        .args(["--window", &field(sim, "window")])
        // Keep the SDK away from any user config file.
        .env("HOME", home)
        .stderr(Stdio::inherit())
        .output()
        .expect("run naive_sdk.py");
    let wall = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "naive_sdk.py failed");
    let line = String::from_utf8_lossy(&out.stdout);
    let last = line.lines().last().expect("the script's JSON line");
    (serde_json::from_str(last).expect("script JSON"), wall)
}

/// A manifest with default settings: no parallelism, no requestsPerMinute, no org budget.
fn manifest(dir: &Path, sim: &Sim) -> std::path::PathBuf {
    let window = field(sim, "window");
    let (start, end) = window.split_once('/').expect("window");
    let path = dir.join("defaults.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: recovery.cxops.io/v1alpha1\nkind: DigitalRecovery\nmetadata: {{name: bench, namespace: bench}}\nspec:\n  tenant: {}\n  genesys: {{apiBaseUrl: \"{}\", credentialsSecret: sim}}\n  recordingSide: {{dasUrl: \"{}\", captureUrl: \"{}\", credentialsSecret: sim}}\n  window: {{start: \"{start}\", end: \"{end}\"}}\n  mediaTypes: [chat, email, social]\n",
            field(sim, "tenant"),
            field(sim, "genesys"),
            field(sim, "das"),
            field(sim, "capture")
        ),
    )
    .expect("manifest");
    path
}

/// Runs `recover`; returns its JSON summary and the process's wall time.
fn run_recover(path: &Path) -> (serde_json::Value, f64) {
    let started = Instant::now();
    let out = common::recover_command(path, &[])
        .output()
        .expect("run recover");
    let wall = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "recover failed");
    (
        serde_json::from_slice(&out.stdout).expect("summary JSON"),
        wall,
    )
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = pyvenv::ensure_venv(root);
    let dir = tempfile::tempdir().expect("tempdir");
    let conversations = env_usize("BENCH_NAIVE_CONVERSATIONS", 20_000);
    let args: Vec<String> = [
        "--conversations",
        &conversations.to_string(),
        "--missing-rate",
        MISSING_RATE,
        "--rate-limit",
        &TOKEN_RATE.to_string(),
        "--org-rate-limit",
        &ORG_RATE.to_string(),
        "--latency-ms",
        &LATENCY_MS.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let sim = simulate(&args);
    let (naive, naive_wall) = run_naive(&python, root, &sim, dir.path());
    let naive_sim = sim_counts(&sim);
    drop(sim);
    let naive_s = naive["elapsedSeconds"].as_f64().unwrap_or(f64::NAN);
    let naive_throttled = throttled(&naive_sim);
    println!(
        "naive SDK script: {:.1} s (process {naive_wall:.1} s; collection and DAS {:.1} s); recovered {} of {} missing; Genesys calls {} ({} requests at the simulator, {naive_throttled} 429s); simulator: ingested {}, still missing {} of {}",
        naive_s,
        naive["collectSeconds"].as_f64().unwrap_or(f64::NAN),
        naive["recovered"],
        naive["missing"],
        naive["genesysCalls"],
        naive_sim["genesys"]["apiRequests"],
        naive_sim["report"]["ingested"],
        naive_sim["report"]["stillMissing"],
        naive_sim["report"]["expectedMissing"],
    );

    let sim = simulate(&args);
    let (run, recover_wall) = run_recover(&manifest(dir.path(), &sim));
    let recover_sim = sim_counts(&sim);
    drop(sim);
    let recover_s = run["elapsedSeconds"].as_f64().unwrap_or(f64::NAN);
    let recover_throttled = throttled(&recover_sim);
    let shards = run["shards"].as_array().cloned().unwrap_or_default();
    let shard_seconds: Vec<f64> = shards
        .iter()
        .filter_map(|s| s["elapsedSeconds"].as_f64())
        .collect();
    println!(
        "recover (defaults): {recover_s:.1} s (process {recover_wall:.1} s); {} shards ending {:.1} to {:.1} s; recovered {}; Genesys calls {} ({} requests at the simulator, {recover_throttled} 429s); simulator: ingested {}, still missing {} of {}",
        shards.len(),
        shard_seconds.iter().copied().fold(f64::INFINITY, f64::min),
        shard_seconds.iter().copied().fold(0.0, f64::max),
        run["outcomes"]["recovered"],
        run["apiCalls"]["genesys"],
        recover_sim["genesys"]["apiRequests"],
        recover_sim["report"]["ingested"],
        recover_sim["report"]["stillMissing"],
        recover_sim["report"]["expectedMissing"],
    );
    println!("recover summary: {run}");
    // What the limits allow at best: the requests each contender made, at the rate it may spend.
    let recover_requests = recover_sim["genesys"]["apiRequests"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let budget_bound_s = recover_requests / f64::from(DEFAULT_ORG_REQUESTS_PER_MINUTE) * 60.0;
    println!(
        "recover's {recover_requests} requests at the default org budget ({DEFAULT_ORG_REQUESTS_PER_MINUTE}/min) take at least {budget_bound_s:.1} s; it took {recover_s:.1} s ({:.2} of the budget used)",
        budget_bound_s / recover_s
    );

    let speedup = naive_s / recover_s;
    let naive_recovered = naive["recovered"].as_u64().unwrap_or(0);
    let recover_recovered = run["outcomes"]["recovered"].as_u64().unwrap_or(0);
    println!(
        "speed-up: {speedup:.2}x (target >= 8x; 10x is the org limit over one token's); recovered {recover_recovered} vs {naive_recovered} (target: at least as many)"
    );
    println!(
        "BENCH_JSON {}",
        serde_json::json!({
            "bench": "fleet_naive",
            "generated": conversations,
            "missing_rate": MISSING_RATE.parse::<f64>().unwrap_or(0.0),
            "token_rate_per_min": TOKEN_RATE,
            "org_rate_per_min": ORG_RATE,
            "latency_ms": LATENCY_MS,
            "naive": {
                "elapsed_s": naive_s,
                "process_s": naive_wall,
                "collect_s": naive["collectSeconds"],
                "recovered": naive_recovered,
                "missing": naive["missing"],
                "genesys_calls": naive["genesysCalls"],
                "sim_requests": naive_sim["genesys"]["apiRequests"],
                "throttled": naive_throttled,
                "capture_answers": naive["captureAnswers"],
                "sim": naive_sim["report"],
            },
            "recover": {
                "elapsed_s": recover_s,
                "process_s": recover_wall,
                "recovered": recover_recovered,
                "outcomes": run["outcomes"],
                "match": run["match"],
                "genesys_calls": run["apiCalls"]["genesys"],
                "sim_requests": recover_sim["genesys"]["apiRequests"],
                "throttled": recover_throttled,
                "throttled_reported": run["throttled"],
                "shards": shards.len(),
                "shard_elapsed_s": shard_seconds,
                "sim": recover_sim["report"],
                "org_budget_per_min": DEFAULT_ORG_REQUESTS_PER_MINUTE,
                "budget_bound_s": budget_bound_s,
            },
            "speedup": speedup,
        })
    );
}

/// 429s the simulator sent, of either limit.
fn throttled(counts: &serde_json::Value) -> u64 {
    let genesys = &counts["genesys"];
    genesys["rateLimited"].as_u64().unwrap_or(0) + genesys["orgRateLimited"].as_u64().unwrap_or(0)
}

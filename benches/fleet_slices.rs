//! Balanced shards on a business-hours day: the release `recover` with 8 shards over a day whose
//! conversations start ten times as densely from 08:00 to 18:00 UTC, once with the slices
//! balanced by Genesys' conversation counts (the default) and once cut into equal lengths of
//! time, on the same data (a fresh simulator of the same seed each). Each run's slowest shard is
//! set beside the ideal: the run's Genesys calls over the shards' total rate (8 x 300/min), the
//! time a perfectly even split would take.
//!
//! Run: `cargo bench --bench fleet_slices` (knob: BENCH_SLICES_CONVERSATIONS, default 40,000:
//! with batch fetch a run of 20,000 takes about 25 s, a sixth of it fixed costs).
//! Figures go to docs/benchmarks.md.

use std::path::Path;

mod common;

use common::{Sim, env_usize, simulate};

const SHARDS: u32 = 8;
const TOKEN_RATE: u32 = 300;

fn manifest(dir: &Path, sim: &Sim) -> std::path::PathBuf {
    let s = |k: &str| sim.1[k].as_str().expect("field").to_string();
    let window = s("window");
    let (start, end) = window.split_once('/').expect("window");
    let path = dir.join("business-hours.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: recovery.cxops.io/v1alpha1\nkind: DigitalRecovery\nmetadata: {{name: bench, namespace: bench}}\nspec:\n  tenant: demo\n  genesys: {{apiBaseUrl: \"{}\", credentialsSecret: sim, requestsPerMinute: {TOKEN_RATE}}}\n  recordingSide: {{dasUrl: \"{}\", captureUrl: \"{}\", credentialsSecret: sim}}\n  window: {{start: \"{start}\", end: \"{end}\"}}\n  mediaTypes: [chat, email, social]\n  parallelism: {SHARDS}\n",
            s("genesys"),
            s("das"),
            s("capture")
        ),
    )
    .expect("manifest");
    path
}

/// Runs `recover` with `--slicing slicing` and returns its JSON summary.
fn recover(path: &Path, slicing: &str) -> serde_json::Value {
    let out = common::recover_command(path, &["--slicing", slicing])
        .output()
        .expect("run recover");
    assert!(out.status.success(), "recover --slicing {slicing} failed");
    serde_json::from_slice(&out.stdout).expect("summary JSON")
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conversations = env_usize("BENCH_SLICES_CONVERSATIONS", 40_000).to_string();
    let args: Vec<String> = [
        "--conversations",
        &conversations,
        "--profile",
        "business-hours",
        "--missing-rate",
        "0.05",
        "--rate-limit",
        &TOKEN_RATE.to_string(),
        "--latency-ms",
        "30",
        "--ingest-lag-ms",
        "500",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut runs = Vec::new();
    for slicing in ["balanced", "equal-time"] {
        let sim = simulate(&args);
        let run = recover(&manifest(dir.path(), &sim), slicing);
        drop(sim);
        let shards = run["shards"].as_array().cloned().unwrap_or_default();
        let calls = run["apiCalls"]["genesys"].as_f64().unwrap_or(f64::NAN);
        let ideal = calls / f64::from(SHARDS * TOKEN_RATE) * 60.0;
        let slowest = shards
            .iter()
            .filter_map(|s| s["elapsedSeconds"].as_f64())
            .fold(0.0, f64::max);
        let fastest = shards
            .iter()
            .filter_map(|s| s["elapsedSeconds"].as_f64())
            .fold(f64::INFINITY, f64::min);
        let conversations_per_shard: Vec<u64> = shards
            .iter()
            .map(|s| s["conversations"].as_u64().unwrap_or(0))
            .collect();
        let calls_per_shard: Vec<u64> = shards
            .iter()
            .map(|s| s["genesysCalls"].as_u64().unwrap_or(0))
            .collect();
        println!(
            "{slicing}: {calls} Genesys calls; ideal {ideal:.1} s; shards ended between {fastest:.1} and {slowest:.1} s (slowest / ideal {:.3}); conversations per shard {conversations_per_shard:?}; Genesys calls per shard {calls_per_shard:?}; 429s {}",
            slowest / ideal,
            run["throttled"]
        );
        runs.push(serde_json::json!({
            "slicing": slicing,
            "genesys_calls": calls,
            "ideal_s": ideal,
            "slowest_shard_s": slowest,
            "fastest_shard_s": fastest,
            "slowest_over_ideal": slowest / ideal,
            "elapsed_s": run["elapsedSeconds"],
            "conversations_per_shard": conversations_per_shard,
            "calls_per_shard": calls_per_shard,
            "recovered": run["outcomes"]["recovered"],
            "throttled": run["throttled"],
        }));
    }
    println!(
        "BENCH_JSON {}",
        serde_json::json!({
            "bench": "fleet_slices",
            "generated": conversations.parse::<u64>().unwrap_or(0),
            "shards": SHARDS,
            "token_rate_per_min": TOKEN_RATE,
            "latency_ms": 30,
            "profile": "business-hours",
            "runs": runs,
        })
    );
}

//! Pipeline benchmarks against the simulators, each process on its own (the release binary's
//! `simulate` and `recover`), so the recovery's memory is its own:
//!
//! 1. API calls per recovered conversation and the share of the Genesys rate budget used, with
//!    `--rate-limit 600 --latency-ms 30` and `requestsPerMinute: 600` (one shard, one token).
//!    Fetch calls = Genesys calls of a recovery minus those of a DryRun of the same data (which
//!    makes exactly the collection calls).
//! 2. Peak memory (`ru_maxrss` of `recover`) as the window grows 10x: 20,000 conversations over
//!    24 hours and 200,000 over 240 hours (the same density over a ten times longer window),
//!    each window `BENCH_MEMORY_RUNS` times (default 3), the page showing the medians.
//! 3. What learning "not recorded" from the recordings API costs against trusting the analytics
//!    flag: `demo` over the same 20,000 conversations under the documented contract (no flag on
//!    text, flag not trusted) and as before (flag served and trusted); the difference in Genesys
//!    calls is one recordings call per conversation Genesys never recorded.
//!
//! Run: `cargo bench --bench pipeline` (knobs: BENCH_RATE_CONVERSATIONS, BENCH_MEMORY_SMALL,
//! BENCH_MEMORY_LARGE, BENCH_MEMORY_RUNS, BENCH_FLAG_CONVERSATIONS,
//! BENCH_PIPELINE_PARTS=rate,memory,flag to run some parts only). Figures go to docs/benchmarks.md.

use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::{BIN, Sim, env_usize, memory_sim_args, memory_turns, simulate};

fn manifest(dir: &Path, sim: &Sim, mode: &str, rpm: u32) -> std::path::PathBuf {
    let s = |k: &str| sim.1[k].as_str().expect("field").to_string();
    let window = s("window");
    let (start, end) = window.split_once('/').expect("window");
    let path = dir.join(format!("{mode}.yaml"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: recovery.cxops.io/v1alpha1\nkind: DigitalRecovery\nmetadata: {{name: bench, namespace: bench}}\nspec:\n  tenant: demo\n  genesys: {{apiBaseUrl: \"{}\", credentialsSecret: sim, requestsPerMinute: {rpm}}}\n  recordingSide: {{dasUrl: \"{}\", captureUrl: \"{}\", credentialsSecret: sim}}\n  window: {{start: \"{start}\", end: \"{end}\"}}\n  mediaTypes: [chat, email, social]\n  mode: {mode}\n  parallelism: 1\n",
            s("genesys"),
            s("das"),
            s("capture")
        ),
    )
    .expect("manifest");
    path
}

/// Runs `recover` and returns its JSON summary and peak RSS in KiB.
#[allow(clippy::zombie_processes)] // reaped by common::reap (wait4), which also gives ru_maxrss
fn recover(path: &Path) -> (serde_json::Value, i64) {
    let child = common::recover_command(path, &[])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start recover");
    let pid = child.id();
    let mut stdout = child.stdout.expect("stdout");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut out).expect("read summary");
    let (exited_ok, max_rss) = common::reap(pid);
    assert!(exited_ok, "recover failed");
    (serde_json::from_str(&out).expect("summary JSON"), max_rss)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let dir = tempfile::tempdir().expect("tempdir");
    let parts = std::env::var("BENCH_PIPELINE_PARTS").unwrap_or_else(|_| "rate,memory,flag".into());
    let part = |name: &str| parts.split(',').any(|p| p.trim() == name);
    if part("rate") {
        rate(dir.path());
    }
    if part("memory") {
        memory(dir.path());
    }
    if part("flag") {
        recording_flag_cost();
    }
}

/// API calls and rate budget at 600/min.
fn rate(dir: &Path) {
    let conversations = env_usize("BENCH_RATE_CONVERSATIONS", 20_000).to_string();
    let rate_args: Vec<String> = [
        "--conversations",
        &conversations,
        "--missing-rate",
        "0.05",
        "--partial-rate",
        "0.01",
        "--rate-limit",
        "600",
        "--latency-ms",
        "30",
        "--ingest-lag-ms",
        "500",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let dry_sim = simulate(&rate_args);
    let (dry, _) = recover(&manifest(dir, &dry_sim, "DryRun", 600));
    drop(dry_sim);
    let sim = simulate(&rate_args);
    let (run, _) = recover(&manifest(dir, &sim, "Recover", 600));
    drop(sim);
    let calls = |v: &serde_json::Value| v["apiCalls"]["genesys"].as_f64().unwrap_or(0.0);
    let recovered = run["outcomes"]["recovered"].as_f64().unwrap_or(0.0)
        + run["outcomes"]["alreadyPresent"].as_f64().unwrap_or(0.0)
        + run["outcomes"]["failed"].as_f64().unwrap_or(0.0)
        + run["outcomes"]["notRecorded"].as_f64().unwrap_or(0.0);
    let fetch_calls = calls(&run) - calls(&dry);
    let elapsed = run["elapsedSeconds"].as_f64().unwrap_or(f64::NAN);
    let budget = calls(&run) / (elapsed / 60.0 * 600.0);
    let bound = calls(&run) / 10.0;
    println!(
        "rate: {conversations} conversations; dry-run genesys calls {}; recovery genesys calls {} ({} conversations fetched); fetch calls per fetched conversation {:.3}; elapsed {:.1} s vs bound calls/rate {:.1} s; rate budget used {:.3}; 429s {}",
        calls(&dry),
        calls(&run),
        recovered,
        fetch_calls / recovered,
        elapsed,
        bound,
        budget,
        run["throttled"]
    );
    println!("rate summary: {run}");
    println!(
        "BENCH_JSON {}",
        serde_json::json!({
            "bench": "pipeline",
            "part": "rate",
            "generated": conversations.parse::<u64>().unwrap_or(0),
            "rate_limit_per_min": 600,
            "latency_ms": 30,
            "dry_run_genesys_calls": calls(&dry),
            "dry_run_match": dry["match"],
            "genesys_calls": calls(&run),
            "fetch_calls": fetch_calls,
            "conversations_fetched": recovered,
            "outcomes": run["outcomes"],
            "match": run["match"],
            "fetch_calls_per_conversation": fetch_calls / recovered,
            "elapsed_s": elapsed,
            "bound_s": bound,
            "elapsed_over_bound": elapsed / bound,
            "rate_budget_used": budget,
            "throttled": run["throttled"],
        })
    );
}

/// Peak memory of `recover` at 1x and 10x the window, several times each
/// ([`common::memory_turns`]), each run against a fresh simulator (the last one's recording
/// side holds what it recovered).
fn memory(dir: &Path) {
    for (run, (label, n, hours)) in memory_turns() {
        let sim = simulate(&memory_sim_args(n, hours));
        let n = n.to_string();
        let (summary, maxrss_kib) = recover(&manifest(dir, &sim, "Recover", 3000));
        println!(
            "memory {label} (run {run}): {n} conversations over {hours} h, recover peak RSS {:.1} MiB, elapsed {:.1} s, recovered {}",
            maxrss_kib as f64 / 1024.0,
            summary["elapsedSeconds"].as_f64().unwrap_or(f64::NAN),
            summary["outcomes"]["recovered"]
        );
        println!(
            "BENCH_JSON {}",
            serde_json::json!({
                "bench": "pipeline",
                "part": "memory",
                "label": label,
                "run": run,
                "generated": n.parse::<u64>().unwrap_or(0),
                "window_hours": hours,
                "peak_rss_mib": maxrss_kib as f64 / 1024.0,
                "elapsed_s": summary["elapsedSeconds"],
                "outcomes": summary["outcomes"],
                "match": summary["match"],
                "api_calls": summary["apiCalls"],
            })
        );
    }
}

/// `demo --output json` over `conversations` with the given extra flags.
fn demo(conversations: &str, extra: &[&str]) -> serde_json::Value {
    let output = Command::new(BIN)
        .args([
            "demo",
            "--output",
            "json",
            "--conversations",
            conversations,
            "--rate-limit",
            "0",
            "--ingest-lag-ms",
            "200",
        ])
        .args(extra)
        .stderr(Stdio::inherit())
        .output()
        .expect("run demo");
    serde_json::from_slice(&output.stdout).expect("demo JSON")
}

fn recording_flag_cost() {
    let conversations = env_usize("BENCH_FLAG_CONVERSATIONS", 20_000).to_string();
    let asked = demo(&conversations, &[]);
    let trusted = demo(
        &conversations,
        &[
            "--genesys-variant",
            "recording-flag",
            "--trust-recording-flag",
        ],
    );
    let number = |v: &serde_json::Value, path: &[&str]| {
        path.iter().fold(v, |v, key| &v[*key]).as_u64().unwrap_or(0)
    };
    let extra_calls = number(&asked, &["apiCalls", "genesys"]) as i64
        - number(&trusted, &["apiCalls", "genesys"]) as i64;
    println!(
        "recording flag: {conversations} conversations; asked: genesys calls {}, notRecorded {} (expected {}), stillMissing {} of {}; trusted flag (old): genesys calls {}, stillMissing {}; extra calls {extra_calls}",
        number(&asked, &["apiCalls", "genesys"]),
        number(&asked, &["outcomes", "notRecorded"]),
        number(&asked, &["sim", "expectedNotRecorded"]),
        number(&asked, &["sim", "stillMissing"]),
        number(&asked, &["sim", "expectedMissing"]),
        number(&trusted, &["apiCalls", "genesys"]),
        number(&trusted, &["sim", "stillMissing"]),
    );
    println!(
        "BENCH_JSON {}",
        serde_json::json!({
            "bench": "pipeline",
            "part": "recording_flag",
            "generated": conversations.parse::<u64>().unwrap_or(0),
            "asked": {
                "genesys_calls": asked["apiCalls"]["genesys"],
                "outcomes": asked["outcomes"],
                "match": asked["match"],
                "sim": asked["sim"],
                "genesys_sim": asked["simGenesys"],
            },
            "trusted": {
                "genesys_calls": trusted["apiCalls"]["genesys"],
                "outcomes": trusted["outcomes"],
                "match": trusted["match"],
                "sim": trusted["sim"],
                "genesys_sim": trusted["simGenesys"],
            },
            "extra_genesys_calls": extra_calls,
        })
    );
}

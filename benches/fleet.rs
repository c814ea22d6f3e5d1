//! Fleet benchmarks against the simulators (the release binary's `simulate` and `recover`, each
//! its own process):
//!
//! 1. One shard vs the fastest schedule: one `recover` shard (`parallelism: 1`,
//!    `requestsPerMinute: 300`) against `simulate --rate-limit 300 --latency-ms 30`, 12,000
//!    conversations, 5 % missing. The fastest schedule the simulator's limiter allows for the
//!    calls the run made: its burst (ten seconds' worth, `src/sim/genesys/limits.rs`) at once,
//!    then one call per interval. Reported: the run's time, that ideal time and their ratio
//!    (target <= 1.05), when the last Genesys call and the last 429 came (the bench polls the
//!    simulator's `/sim/genesys/stats` every 100 ms while the run goes).
//!
//! Run: `cargo bench --bench fleet` (knob: BENCH_FLEET_CONVERSATIONS). Figures go to
//! docs/benchmarks.md.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;

use common::{Sim, env_usize, simulate};

/// The per-token limit of the run, as Genesys' default.
const PER_MINUTE: u32 = 300;

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let dir = tempfile::tempdir().expect("tempdir");
    one_shard_vs_the_fastest_schedule(dir.path());
}

fn manifest(dir: &Path, sim: &Sim) -> std::path::PathBuf {
    let s = |k: &str| sim.1[k].as_str().expect("field").to_string();
    let window = s("window");
    let (start, end) = window.split_once('/').expect("window");
    let path = dir.join("shard.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: recovery.cxops.io/v1alpha1\nkind: DigitalRecovery\nmetadata: {{name: bench, namespace: bench}}\nspec:\n  tenant: demo\n  genesys: {{apiBaseUrl: \"{}\", credentialsSecret: sim, requestsPerMinute: {PER_MINUTE}}}\n  recordingSide: {{dasUrl: \"{}\", captureUrl: \"{}\", credentialsSecret: sim}}\n  window: {{start: \"{start}\", end: \"{end}\"}}\n  mediaTypes: [chat, email, social]\n  mode: Recover\n  parallelism: 1\n",
            s("genesys"),
            s("das"),
            s("capture")
        ),
    )
    .expect("manifest");
    path
}

/// `GET {base}/sim/genesys/stats` (the simulator's own counters), over a plain HTTP/1.1
/// connection so that the bench needs no runtime.
fn genesys_stats(base: &str) -> Option<serde_json::Value> {
    let address = base.strip_prefix("http://")?.trim_end_matches('/');
    let mut stream = TcpStream::connect(address).ok()?;
    write!(
        stream,
        "GET /sim/genesys/stats HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    serde_json::from_str(response.split_once("\r\n\r\n")?.1).ok()
}

/// What the simulator counted at one moment of the run.
struct Sample {
    at: Duration,
    api_requests: u64,
    rate_limited: u64,
}

/// Runs `recover` on `path`, sampling the simulator's counters while it goes; returns its JSON
/// summary and the samples.
fn recover_sampled(path: &Path, genesys: &str) -> (serde_json::Value, Vec<Sample>) {
    let started = Instant::now();
    let mut child = common::recover_command(path, &[])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start recover");
    let mut samples = Vec::new();
    let status = loop {
        if let Some(stats) = genesys_stats(genesys) {
            samples.push(Sample {
                at: started.elapsed(),
                api_requests: stats["apiRequests"].as_u64().unwrap_or(0),
                rate_limited: stats["rateLimited"].as_u64().unwrap_or(0),
            });
        }
        if let Some(status) = child.try_wait().expect("wait for recover") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "recover failed");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read summary");
    (serde_json::from_str(&out).expect("summary JSON"), samples)
}

/// When a counter last changed (the first sample that shows its final value), from the start.
fn last_change(samples: &[Sample], counter: impl Fn(&Sample) -> u64) -> Option<f64> {
    let last = samples.last().map(&counter)?;
    if last == 0 {
        return None;
    }
    samples
        .iter()
        .find(|sample| counter(sample) == last)
        .map(|sample| sample.at.as_secs_f64())
}

fn one_shard_vs_the_fastest_schedule(dir: &Path) {
    let conversations = env_usize("BENCH_FLEET_CONVERSATIONS", 12_000).to_string();
    let rate = PER_MINUTE.to_string();
    let args: Vec<String> = [
        "--conversations",
        &conversations,
        "--missing-rate",
        "0.05",
        "--rate-limit",
        &rate,
        "--latency-ms",
        "30",
        "--ingest-lag-ms",
        "200",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let sim = simulate(&args);
    let genesys = sim.1["genesys"].as_str().expect("genesys URL").to_string();
    let (run, samples) = recover_sampled(&manifest(dir, &sim), &genesys);
    let stats = genesys_stats(&genesys).expect("simulator stats");
    drop(sim);
    let number = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let api_requests = number(&stats["apiRequests"]);
    let rate_limited = number(&stats["rateLimited"]);
    // 429s cost the limiter nothing; the calls it let through are what the schedule must fit.
    let admitted = api_requests - rate_limited;
    // The simulator's per-token burst: ten seconds' worth (src/sim/genesys/limits.rs).
    let burst = f64::from((PER_MINUTE * 10).div_ceil(60));
    let ideal_s = (admitted - burst).max(0.0) * 60.0 / f64::from(PER_MINUTE);
    let elapsed_s = number(&run["elapsedSeconds"]);
    let last_call_s = last_change(&samples, |s| s.api_requests);
    let last_429_s = last_change(&samples, |s| s.rate_limited);
    let ratio = elapsed_s / ideal_s;
    println!(
        "shard: {conversations} conversations at {PER_MINUTE}/min, 30 ms; genesys calls {api_requests} ({rate_limited} 429s, last at {}); recover {elapsed_s:.1} s (last Genesys call at {}) vs fastest schedule {ideal_s:.1} s (burst {burst}, then {PER_MINUTE}/min): ratio {ratio:.3}",
        last_429_s.map_or("-".into(), |s| format!("{s:.1} s")),
        last_call_s.map_or("-".into(), |s| format!("{s:.1} s")),
    );
    println!("shard summary: {run}");
    println!(
        "BENCH_JSON {}",
        serde_json::json!({
            "bench": "fleet",
            "part": "shard",
            "generated": conversations.parse::<u64>().unwrap_or(0),
            "rate_limit_per_min": PER_MINUTE,
            "sim_burst": burst,
            "latency_ms": 30,
            "genesys_calls": api_requests,
            "rate_limited": rate_limited,
            "admitted_calls": admitted,
            "elapsed_s": elapsed_s,
            "ideal_s": ideal_s,
            "elapsed_over_ideal": ratio,
            "last_genesys_call_s": last_call_s,
            "last_429_s": last_429_s,
            "outcomes": run["outcomes"],
            "match": run["match"],
            "throttled": run["throttled"],
        })
    );
}

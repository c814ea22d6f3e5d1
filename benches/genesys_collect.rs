//! Genesys collection benchmark (a plain binary: `cargo bench --bench genesys_collect`).
//!
//! 1. throughput: collect 100,000 conversations from the in-process simulator (no rate limit,
//!    no latency), 3 runs, median conversations/s and the process's peak RSS;
//! 2. rate fidelity: simulator at `--rate-limit 600 --latency-ms 30`, client budget 600/min, sync
//!    paging for 90 s: achieved request rate as a fraction of the limit, and 429s after the first
//!    minute.
//!
//! Environment: BENCH_CONVERSATIONS (default 100000), BENCH_RUNS (default 3), BENCH_RATE_SECONDS
//! (default 75; must exceed 60 to see "after the first minute").

use std::time::{Duration, Instant};

use digital_recovery::api::MediaType;
use digital_recovery::genesys::{CollectQuery, GenesysClient, GenesysConfig, JobsMode};
use digital_recovery::http::Secret;
use digital_recovery::sim::{self, SimConfig};
use futures::StreamExt;

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn client(url: &str, rpm: u32, jobs: JobsMode) -> GenesysClient {
    let mut config =
        GenesysConfig::for_base_url(url, "sim-client", Secret::new("sim-secret")).expect("config");
    config.requests_per_minute = rpm;
    config.jobs = jobs;
    GenesysClient::new(config).expect("client")
}

async fn throughput(conversations: usize) {
    let mut config = SimConfig::new(conversations);
    config.rate_limit = None;
    let handles = sim::start(config, None).await.expect("simulator");
    let window = handles.config.window;
    let after_sim = rss_kib("VmRSS:");
    // Sync paging is the main figure (median of BENCH_RUNS); one jobs run shows the call savings.
    for (jobs, repeats) in [
        (JobsMode::Never, env_or("BENCH_RUNS", 3usize).max(1)),
        (JobsMode::Auto, 1),
    ] {
        let mut runs = Vec::new();
        for _ in 0..repeats {
            let client = client(&handles.genesys_url, 0, jobs);
            let started = Instant::now();
            let mut count = 0u64;
            let mut errors = 0u64;
            let mut stream = Box::pin(client.conversations(CollectQuery {
                slice: window,
                media_types: MediaType::ALL.to_vec(),
                message_types: vec![],
            }));
            while let Some(item) = stream.next().await {
                match item {
                    Ok(_) => count += 1,
                    Err(_) => errors += 1,
                }
            }
            let elapsed = started.elapsed().as_secs_f64();
            runs.push((
                count as f64 / elapsed,
                elapsed,
                count,
                errors,
                client.counters().calls,
            ));
        }
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (rate, elapsed, count, errors, calls) = runs[runs.len() / 2];
        println!(
            "throughput jobs={jobs:?}: median of {repeats}: {rate:.0} conversations/s ({count} completed text conversations in {elapsed:.2} s, {calls} API calls, {errors} errors)"
        );
        println!(
            "BENCH_JSON {}",
            serde_json::json!({
                "bench": "genesys_collect",
                "part": "throughput",
                "jobs": format!("{jobs:?}"),
                "generated": conversations,
                "runs": repeats,
                "conversations_per_s": rate,
                "elapsed_s": elapsed,
                "conversations": count,
                "calls": calls,
                "errors": errors,
            })
        );
    }
    println!(
        "memory: RSS after generating {conversations} conversations and starting the simulator {} MiB; peak RSS (simulator + client) {} MiB",
        after_sim / 1024,
        rss_kib("VmHWM:") / 1024
    );
    println!(
        "BENCH_JSON {}",
        serde_json::json!({
            "bench": "genesys_collect",
            "part": "memory",
            "generated": conversations,
            "rss_after_sim_mib": after_sim as f64 / 1024.0,
            "peak_rss_mib": rss_kib("VmHWM:") as f64 / 1024.0,
        })
    );
    handles.shutdown().await;
}

async fn rate_fidelity(seconds: u64) {
    let mut config = SimConfig::new(100_000);
    config.rate_limit = Some(600);
    config.latency = Duration::from_millis(30);
    let handles = sim::start(config, None).await.expect("simulator");
    let window = handles.config.window;
    let client = client(&handles.genesys_url, 600, JobsMode::Never);
    let mut stream = Box::pin(client.conversations(CollectQuery {
        slice: window,
        media_types: MediaType::ALL.to_vec(),
        message_types: vec![],
    }));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut throttled_at_minute = None;
    let mut conversations = 0u64;
    while Instant::now() < deadline {
        match tokio::time::timeout_at(deadline.into(), stream.next()).await {
            Ok(Some(Ok(_))) => conversations += 1,
            Ok(Some(Err(err))) => println!("error: {err}"),
            Ok(None) | Err(_) => break,
        }
        if throttled_at_minute.is_none() && started.elapsed() >= Duration::from_secs(60) {
            throttled_at_minute = Some(client.counters().throttled);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(stream);
    let counters = client.counters();
    // The first call is the token request; the rest are budgeted API calls.
    let api_calls = counters.calls.saturating_sub(1) as f64;
    let achieved = api_calls / elapsed * 60.0;
    let after_minute = counters.throttled - throttled_at_minute.unwrap_or(counters.throttled);
    println!(
        "rate fidelity (limit 600/min, latency 30 ms, {elapsed:.1} s): {achieved:.1} requests/min = {:.3} of the limit; {conversations} conversations; 429s total {}, after the first minute {after_minute}",
        achieved / 600.0,
        counters.throttled,
    );
    println!(
        "BENCH_JSON {}",
        serde_json::json!({
            "bench": "genesys_collect",
            "part": "rate_fidelity",
            "limit_per_min": 600,
            "latency_ms": 30,
            "elapsed_s": elapsed,
            "requests_per_min": achieved,
            "fraction_of_limit": achieved / 600.0,
            "conversations": conversations,
            "throttled": counters.throttled,
            "throttled_after_first_minute": after_minute,
        })
    );
    handles.shutdown().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        throughput(env_or("BENCH_CONVERSATIONS", 100_000)).await;
        rate_fidelity(env_or("BENCH_RATE_SECONDS", 75)).await;
    });
}

//! Controller benchmark on a real kube-apiserver: the real `controller` binary's idle RSS, the time
//! to reconcile N DigitalRecovery objects created at once (each to a Job and a Pending status with
//! observedGeneration), and its RSS while and after doing so.
//!
//! Run: `cargo bench --bench controller` (BENCH_RECOVERIES, default 1000). Figures go to
//! docs/benchmarks.md.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use digital_recovery::api::{DigitalRecovery, Phase};
use k8s_openapi::api::batch::v1::Job;
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use serde_json::json;
use support::{ControlPlane, operator::Operator};

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn recovery(name: &str) -> DigitalRecovery {
    serde_json::from_value(json!({
        "apiVersion": "recovery.cxops.io/v1alpha1",
        "kind": "DigitalRecovery",
        "metadata": {"name": name},
        "spec": {
            "tenant": "acme",
            "genesys": {"apiBaseUrl": "http://127.0.0.1:9", "credentialsSecret": "genesys-oauth"},
            "recordingSide": {"dasUrl": "http://127.0.0.1:9", "captureUrl": "http://127.0.0.1:9", "credentialsSecret": "verint-api"},
            "window": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
            "mediaTypes": ["chat", "email", "social"],
            "parallelism": 2
        }
    }))
    .expect("recovery")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("BENCH_RECOVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let operator = Operator::start(&cp, "bench").await;
    let pid = operator.process.0.id();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle = status_kib(pid, "VmRSS:");

    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), "default");
    let started = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let creates = chunk.iter().map(|i| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &recovery(&format!("r-{i:05}")))
                    .await
                    .expect("create")
            }
        });
        futures::future::join_all(creates).await;
    }
    let created = started.elapsed();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let mut busy_peak = 0;
    loop {
        busy_peak = busy_peak.max(status_kib(pid, "VmRSS:"));
        let n_jobs = jobs
            .list(&ListParams::default())
            .await
            .map(|l| l.items.len())
            .unwrap_or(0);
        let pending = api
            .list(&ListParams::default())
            .await
            .map(|l| {
                l.items
                    .iter()
                    .filter(|d| {
                        d.status.as_ref().and_then(|s| s.phase) == Some(Phase::Pending)
                            && d.status.as_ref().and_then(|s| s.observed_generation)
                                == d.metadata.generation
                    })
                    .count()
            })
            .unwrap_or(0);
        if n_jobs == n && pending == n {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "not reconciled in 15 min"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let reconciled = started.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = status_kib(pid, "VmRSS:");
    let hwm = status_kib(pid, "VmHWM:");
    let failures = operator
        .metric("digital_recovery_reconcile_failures_total")
        .await;
    let reconciles = operator.metric("digital_recovery_reconciles_total").await;
    println!(
        "controller: {n} recoveries created in {:.1} s; all reconciled (Job + Pending status) after {:.1} s = {:.1} recoveries/s; {reconciles} reconciles; reconcile failures {failures}",
        created.as_secs_f64(),
        reconciled.as_secs_f64(),
        n as f64 / reconciled.as_secs_f64()
    );
    println!(
        "controller RSS: idle {:.1} MiB, busy peak (sampled) {:.1} MiB, VmHWM {:.1} MiB, after {:.1} MiB",
        idle as f64 / 1024.0,
        busy_peak as f64 / 1024.0,
        hwm as f64 / 1024.0,
        after as f64 / 1024.0
    );
    println!(
        "BENCH_JSON {}",
        serde_json::json!({
            "bench": "controller",
            "recoveries": n,
            "created_s": created.as_secs_f64(),
            "reconciled_s": reconciled.as_secs_f64(),
            "recoveries_per_s": n as f64 / reconciled.as_secs_f64(),
            "reconciles": reconciles,
            "reconcile_failures": failures,
            "idle_rss_mib": idle as f64 / 1024.0,
            "busy_peak_sampled_mib": busy_peak as f64 / 1024.0,
            "peak_rss_mib": hwm as f64 / 1024.0,
            "after_rss_mib": after as f64 / 1024.0,
        })
    );
}

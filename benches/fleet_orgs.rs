//! A fleet of orgs sharing nothing but the operator: 40 recoveries for 8 orgs applied at once to
//! the real controller binary on a real kube-apiserver, each run by the job stand-in's real
//! workers, against one simulator serving the 8 orgs with a per-token limit (300/min) and a
//! per-org limit (per OAuth client across its tokens). Each org's recoveries cover 5 disjoint
//! parts of its day and share the org's `orgRequestsPerMinute`, which the controller divides
//! over the org's running shards; `parallelism` is left to `auto` (budget / per-token rate: 2
//! shards each here, when a recovery's part holds over 1,000 conversations). The simulator's per-second counts of each
//! org's client are the ground truth:
//! - no org ever above its budget: the most requests any org's client got through in 60
//!   seconds, against the budget (plus the pacing's tolerance: a second's worth, and one per
//!   shard, as the counts are whole seconds);
//! - 429s after the first minute (none expected);
//! - while an org has work (its first to its last request), the share of its budget it used;
//! - the total time against the bound: the most any org's requests take at its budget.
//!
//! Part `lower` runs the same with the last org's real limit 30 % below its configured budget:
//! its 429s should stop within the first minute and its rate settle under the real limit.
//!
//! Admission is left uncapped (`--max-concurrent-recoveries-per-tenant 0`: the 5 recoveries of an
//! org run together and share its budget); the caps are measured by tests/operator_fleet.rs.
//!
//! Run: `cargo bench --bench fleet_orgs` (knobs: BENCH_FLEET_ORGS_PARTS=budget,lower;
//! BENCH_FLEET_ORGS_CONVERSATIONS, the largest org's conversations, default 20,000; the other orgs
//! hold from half of it up). Needs the test control plane (`make control-plane`). Figures go to
//! docs/benchmarks.md.

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use common::env_usize;
use kube::{Api, ResourceExt, api::PostParams};
use serde_json::json;
use support::recovery::finished;
use support::{ControlPlane, jobs::JobRunner, operator::Operator, orgs};

use digital_recovery::api::{DigitalRecovery, Parallelism, Phase};
use digital_recovery::pipeline::shard;
use digital_recovery::sim::SimConfig;

const ORGS: usize = 8;
const RECOVERIES_PER_ORG: usize = 5;
/// What `parallelism: auto` makes of the budgets below.
const SHARDS_PER_RECOVERY: u32 = ORG_BUDGET / TOKEN_LIMIT;
/// Each org's configured budget, and the simulator's org limit it is 80 % of (Genesys' default
/// org limit and our default budget over 4, so that 8 orgs' workers fit on a small machine).
const ORG_BUDGET: u32 = 600;
const ORG_LIMIT: u32 = 750;
const TOKEN_LIMIT: u32 = 300;
const LATENCY_MS: u64 = 30;

fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// One part's run: every org's recoveries applied at once, waited for, judged.
async fn run(part: &str, largest: usize, lower_last_org: bool) -> serde_json::Value {
    let mut config = SimConfig::new(largest).with_orgs(ORGS);
    config.missing_rate = 0.15;
    config.partial_rate = 0.05;
    config.latency = Duration::from_millis(LATENCY_MS);
    config.rate_limit = Some(TOKEN_LIMIT);
    for (i, org) in config.orgs.iter_mut().enumerate() {
        // From half the largest org up: the orgs finish at different times.
        org.conversations = largest / 2 + largest / 2 * i / (ORGS - 1);
        org.rate_limit = Some(TOKEN_LIMIT);
        org.org_rate_limit = Some(ORG_LIMIT);
    }
    let real_limit_of_last = ORG_BUDGET * 7 / 10;
    if lower_last_org && let Some(last) = config.orgs.last_mut() {
        last.org_rate_limit = Some(real_limit_of_last);
    }
    let (sims, stores) =
        orgs::start_org_simulators(config, support::recovery::recording_config()).await;

    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let runner = JobRunner::start(&cp, client.clone());
    let args = [
        "controller",
        "--identity",
        "bench",
        "--worker-image",
        "digital-recovery:bench",
        "--max-concurrent-recoveries",
        "0",
        "--max-concurrent-recoveries-per-tenant",
        "0",
    ]
    .map(String::from);
    // BENCH_FLEET_ORGS_TRACE=dir keeps the controller's log (at info) and the workers'
    // logs (at the bench's RUST_LOG) in dir, beside a 10-second timeline of each org's counts.
    let trace = std::env::var("BENCH_FLEET_ORGS_TRACE").ok();
    let controller_log = if trace.is_some() { "info" } else { "warn" };
    let operator = Operator::start_with(
        &cp,
        "bench",
        support::control_plane::ADMIN_TOKEN,
        &args,
        &[("RUST_LOG", controller_log)],
    )
    .await;

    let mut manifests = Vec::new();
    for (i, org) in sims.orgs.iter().enumerate() {
        let ns = format!("org-{}", i + 1);
        support::recovery::namespace(&client, &ns).await;
        orgs::org_credentials(&client, &ns, &org.config).await;
        for (part, window) in shard::slices(sims.config.window, RECOVERIES_PER_ORG as u32)
            .into_iter()
            .enumerate()
        {
            let mut dr = orgs::org_recovery(&format!("part-{part}"), &sims, &org.config);
            dr.spec.window = window;
            dr.spec.genesys.org_requests_per_minute = Some(ORG_BUDGET);
            assert_eq!(dr.spec.parallelism, Parallelism::Auto);
            assert_eq!(dr.spec.shards(), SHARDS_PER_RECOVERY);
            manifests.push((ns.clone(), dr));
        }
    }

    let started = Instant::now();
    let started_at = unix_now();
    for (ns, dr) in &manifests {
        Api::<DigitalRecovery>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), dr)
            .await
            .expect("create recovery");
    }
    let all: Api<DigitalRecovery> = Api::all(client.clone());
    let deadline = started + Duration::from_secs(1800);
    let recoveries = loop {
        if let Ok(list) = all.list(&Default::default()).await
            && list.items.len() == manifests.len()
            && list.items.iter().all(|d| {
                d.status
                    .as_ref()
                    .and_then(|s| s.phase)
                    .is_some_and(finished)
            })
        {
            break list.items;
        }
        assert!(Instant::now() < deadline, "{part}: recoveries not final");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let elapsed = started.elapsed().as_secs_f64();
    let not_succeeded: Vec<String> = recoveries
        .iter()
        .filter(|d| {
            !matches!(
                d.status.as_ref().and_then(|s| s.phase),
                Some(Phase::Succeeded | Phase::PartiallySucceeded)
            )
        })
        .map(|d| format!("{}/{}", d.namespace().unwrap_or_default(), d.name_any()))
        .collect();

    let mut per_org = Vec::new();
    let mut bound: f64 = 0.0;
    let shards = RECOVERIES_PER_ORG as u64 * u64::from(SHARDS_PER_RECOVERY);
    for (i, (org, store)) in sims.orgs.iter().zip(&stores).enumerate() {
        let rates = org.genesys.rates();
        let truth = store.report();
        let accepted = rates.accepted_total();
        let first = rates.accepted.iter().position(|c| *c > 0).unwrap_or(0);
        let last = rates.accepted.iter().rposition(|c| *c > 0).unwrap_or(first);
        let busy_seconds = (last + 1 - first) as f64;
        let budget = if lower_last_org && i == ORGS - 1 {
            real_limit_of_last
        } else {
            ORG_BUDGET
        };
        let most_in_a_minute = rates.max_accepted_in(60);
        let after_first_minute = started_at + 60;
        // The most in 60 s once the first minute is over (the rate it settled at).
        let settled = {
            let skip = usize::try_from(after_first_minute - rates.start).unwrap_or(0);
            let mut late = rates.clone();
            late.accepted = late.accepted.split_off(skip.min(late.accepted.len()));
            late.max_accepted_in(60)
        };
        if !(lower_last_org && i == ORGS - 1) {
            bound = bound.max(accepted as f64 * 60.0 / f64::from(ORG_BUDGET));
        }
        per_org.push(json!({
            "org": i + 1,
            "conversations": org.config.conversations,
            "calls": accepted,
            "configuredBudget": ORG_BUDGET,
            "realLimit": org.config.org_rate_limit,
            "mostInAMinute": most_in_a_minute,
            "mostInAMinuteAfterTheFirst": settled,
            "allowedInAMinute": u64::from(budget) + u64::from(budget.div_ceil(60)) + shards,
            "throttled": rates.limited_since(rates.start),
            "throttledAfterFirstMinute": rates.limited_since(after_first_minute),
            "busySeconds": busy_seconds,
            "budgetUsed": accepted as f64 / (busy_seconds * f64::from(budget) / 60.0),
            "recovered": truth.ingested,
            "stillMissing": truth.still_missing,
            "duplicates": truth.duplicates,
        }));
    }
    if let Some(dir) = &trace {
        let dir = std::path::Path::new(dir).join(part);
        std::fs::create_dir_all(&dir).expect("trace dir");
        std::fs::write(dir.join("controller.log"), operator.log_text()).expect("trace");
        for (name, text) in runner.worker_logs() {
            std::fs::write(dir.join(name), text).expect("trace");
        }
        for (i, org) in sims.orgs.iter().enumerate() {
            let rates = org.genesys.rates();
            let mut timeline = String::from("second accepted token429 org429\n");
            for (chunk, at) in rates.accepted.chunks(10).zip((0..).step_by(10)) {
                let limited = |v: &Vec<u32>| v.iter().skip(at).take(10).sum::<u32>();
                timeline += &format!(
                    "{} {} {} {}\n",
                    rates.start + at as i64 - started_at,
                    chunk.iter().sum::<u32>(),
                    limited(&rates.token_limited),
                    limited(&rates.org_limited),
                );
            }
            std::fs::write(dir.join(format!("timeline-org-{}.txt", i + 1)), timeline)
                .expect("trace");
        }
    }
    let line = json!({
        "bench": "fleet_orgs",
        "part": part,
        "orgs": ORGS,
        "recoveries": manifests.len(),
        "shardsPerRecovery": SHARDS_PER_RECOVERY,
        "tokenLimit": TOKEN_LIMIT,
        "orgLimit": ORG_LIMIT,
        "orgBudget": ORG_BUDGET,
        "latencyMs": LATENCY_MS,
        "elapsedSeconds": elapsed,
        "boundSeconds": bound,
        "overBound": elapsed / bound,
        "notSucceeded": not_succeeded,
        "perOrg": per_org,
    });
    for org in line["perOrg"].as_array().into_iter().flatten() {
        println!(
            "{part} org {}: {} calls, at most {} in a minute ({} after the first; allowed {}), \
             {} 429s ({} after the first minute), budget used {:.2} over {} s, {} still missing, \
             {} duplicates",
            org["org"],
            org["calls"],
            org["mostInAMinute"],
            org["mostInAMinuteAfterTheFirst"],
            org["allowedInAMinute"],
            org["throttled"],
            org["throttledAfterFirstMinute"],
            org["budgetUsed"].as_f64().unwrap_or(0.0),
            org["busySeconds"],
            org["stillMissing"],
            org["duplicates"],
        );
    }
    println!(
        "{part}: {} recoveries of {ORGS} orgs in {elapsed:.1} s; bound {bound:.1} s ({:.3}x)",
        manifests.len(),
        elapsed / bound
    );
    println!("BENCH_JSON {line}");
    line
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let parts = std::env::var("BENCH_FLEET_ORGS_PARTS").unwrap_or_else(|_| "budget,lower".into());
    let largest = env_usize("BENCH_FLEET_ORGS_CONVERSATIONS", 20_000);
    for part in parts.split(',').map(str::trim) {
        match part {
            "budget" => {
                run(part, largest, false).await;
            }
            "lower" => {
                run(part, largest, true).await;
            }
            other => panic!("unknown part {other:?} (budget, lower)"),
        }
    }
}

//! Fleet behaviour of the real controller binary on a real kube-apiserver: admission under the
//! caps on running recoveries (first come first served, each run by the job stand-in's real
//! workers), and one Genesys request budget per org divided among its running shards.

mod support;

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use k8s_openapi::api::batch::v1::Job;
use kube::{
    Api, ResourceExt,
    api::{ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use support::recovery::{self, finished, recovery};
use support::{ControlPlane, jobs::JobRunner, operator::Operator};

use digital_recovery::api::{DigitalRecovery, GenesysBudget, Phase};
use digital_recovery::sim::SimHandles;
use digital_recovery::sim::recording::RecordingStore;

const NS: &str = "fleet";

/// Starts the controller with admission caps.
async fn operator(cp: &ControlPlane, max: u32, per_tenant: u32) -> Operator {
    let args = [
        "controller",
        "--identity",
        "replica-a",
        "--worker-image",
        "digital-recovery:test",
        "--log-format",
        "json",
        "--max-concurrent-recoveries",
        &max.to_string(),
        "--max-concurrent-recoveries-per-tenant",
        &per_tenant.to_string(),
    ]
    .map(String::from);
    Operator::start_with(
        cp,
        "replica-a",
        support::control_plane::ADMIN_TOKEN,
        &args,
        &[("RUST_LOG", "info")],
    )
    .await
}

/// Simulators of one small tenant.
async fn tenant(name: &str) -> (SimHandles, Arc<RecordingStore>) {
    let mut config = recovery::sim_config(40, 0);
    config.tenant = name.into();
    recovery::start_simulators(config, recovery::recording_config()).await
}

/// 200 recoveries of 4 tenants applied at once, with at most 6 running and 2 per tenant: never
/// more running than the caps, each tenant's recoveries start in the order they were created,
/// all complete, and each tenant's missing conversations are recovered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_recoveries_are_admitted_under_the_caps_first_come_first_served() {
    const RECOVERIES: usize = 200;
    const TENANTS: usize = 4;
    const MAX: usize = 6;
    const PER_TENANT: usize = 2;
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    recovery::tenant_namespace(&client, NS).await;
    let mut sims = Vec::new();
    for t in 0..TENANTS {
        sims.push(tenant(&format!("tenant-{t}")).await);
    }
    let runner = JobRunner::start(&cp, client.clone());
    let operator = operator(&cp, MAX as u32, PER_TENANT as u32).await;

    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), NS);
    let jobs: Api<Job> = Api::namespaced(client.clone(), NS);
    // Created one after the other, so that creation order is name order within each second.
    for i in 0..RECOVERIES {
        let (handles, _) = &sims[i % TENANTS];
        api.create(
            &PostParams::default(),
            &recovery(&format!("r-{i:03}"), handles, 1),
        )
        .await
        .expect("create");
    }

    // Watch until all are final: a recovery runs while its Job exists and it is not final.
    let mut started: Vec<String> = Vec::new();
    let mut most_running = 0;
    let mut most_per_tenant = 0;
    let mut queued_seen = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
    let recoveries = loop {
        // Jobs first: a Job in this list was created before the recoveries are read, so a
        // recovery whose slot it took is already final in the second list.
        let job_names: Vec<String> = match jobs.list(&ListParams::default()).await {
            Ok(list) => list.items.iter().map(|j| j.name_any()).collect(),
            Err(_) => continue,
        };
        let Ok(list) = api.list(&ListParams::default()).await else {
            continue;
        };
        let by_name: HashMap<String, &DigitalRecovery> =
            list.items.iter().map(|d| (d.name_any(), d)).collect();
        let phase = |d: &DigitalRecovery| d.status.as_ref().and_then(|s| s.phase);
        let mut running_by_tenant: BTreeMap<String, usize> = BTreeMap::new();
        for name in &job_names {
            if !started.contains(name) {
                started.push(name.clone());
            }
            if let Some(d) = by_name.get(name)
                && !phase(d).is_some_and(finished)
            {
                *running_by_tenant.entry(d.spec.tenant.clone()).or_default() += 1;
            }
        }
        most_running = most_running.max(running_by_tenant.values().sum());
        most_per_tenant =
            most_per_tenant.max(running_by_tenant.values().copied().max().unwrap_or(0));
        queued_seen = queued_seen.max(
            list.items
                .iter()
                .filter(|d| d.status.as_ref().and_then(|s| s.queue_position).is_some())
                .count(),
        );
        if list.items.len() == RECOVERIES
            && list.items.iter().all(|d| phase(d).is_some_and(finished))
        {
            break list.items;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all recoveries finished: {} started",
            started.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(most_running <= MAX, "{most_running} recoveries ran at once");
    assert!(
        most_per_tenant <= PER_TENANT,
        "{most_per_tenant} of one tenant ran at once"
    );
    assert!(
        most_running >= MAX - 1,
        "the cluster cap was never used: {most_running}"
    );
    assert!(
        queued_seen > 100,
        "few recoveries were ever shown queued: {queued_seen}"
    );
    for d in &recoveries {
        let phase = d.status.as_ref().and_then(|s| s.phase);
        assert!(
            matches!(phase, Some(Phase::Succeeded | Phase::PartiallySucceeded)),
            "{}: {phase:?}",
            d.name_any()
        );
    }
    // First come first served within each tenant: Jobs appeared in creation order. (Names sort
    // as they were created.)
    for t in 0..TENANTS {
        let tenant = format!("tenant-{t}");
        let order: Vec<&String> = started
            .iter()
            .filter(|name| {
                recoveries
                    .iter()
                    .any(|d| &d.name_any() == *name && d.spec.tenant == tenant)
            })
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        // Two may start together (the cap is 2), so a pair seen in one poll may swap.
        for (i, (seen, expected)) in order.iter().zip(&sorted).enumerate() {
            assert!(
                seen == expected
                    || sorted.get(i + 1) == Some(seen)
                    || i > 0 && sorted.get(i - 1) == Some(seen),
                "{tenant}: started out of order: {order:?}"
            );
        }
    }
    // Each worker watched its recovery for its org budget share (its Role allows watching
    // only that one object, by a field selector on its name).
    let logs = runner.worker_logs();
    assert!(
        logs.iter().any(|(_, text)| text.contains("shard started")),
        "no worker logged its start"
    );
    let refused: Vec<&String> = logs
        .iter()
        .filter(|(_, text)| text.contains("cannot watch the recovery"))
        .map(|(name, _)| name)
        .collect();
    assert!(refused.is_empty(), "workers could not watch: {refused:?}");
    for (handles, store) in &sims {
        let truth = store.report();
        assert_eq!(
            truth.still_missing, 0,
            "{}: {truth:?}",
            handles.config.tenant
        );
        assert_eq!(truth.duplicates, 0, "{}: {truth:?}", handles.config.tenant);
    }
    let text = operator.scrape().await;
    assert_eq!(
        support::operator::metric_in(&text, "digital_recovery_reconcile_failures_total"),
        0.0,
        "{text}"
    );
}

fn budget(dr: &DigitalRecovery) -> Option<GenesysBudget> {
    dr.status.as_ref().and_then(|s| s.genesys_budget)
}

async fn wait_budget(
    api: &Api<DigitalRecovery>,
    name: &str,
    wanted: impl Fn(Option<GenesysBudget>) -> bool,
) -> Option<GenesysBudget> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let seen = api.get(name).await.ok().and_then(|d| budget(&d));
        if wanted(seen) {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: budget never as wanted; last {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Two recoveries of one org share its budget by running shards; when one ends, the other's
/// shards get its share; a recovery of another org is not affected. (No workers run: the Jobs
/// stay without pods, so the shards count as running throughout.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_budget_is_divided_among_its_running_shards_and_redivided_when_one_ends() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    recovery::tenant_namespace(&client, NS).await;
    let (acme, _acme_store) = tenant("acme").await;
    let (other, _other_store) = tenant("globex").await;
    let _operator = operator(&cp, 0, 0).await;
    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), NS);
    let create = |name: &str, sims: &SimHandles, parallelism: u32| {
        let mut dr = recovery(name, sims, parallelism);
        dr.spec.genesys.org_requests_per_minute = Some(1200);
        dr
    };
    for dr in [
        create("acme-a", &acme, 2),
        create("acme-b", &acme, 6),
        create("globex", &other, 2),
    ] {
        api.create(&PostParams::default(), &dr)
            .await
            .expect("create");
    }
    let eight_shards = |b: Option<GenesysBudget>| {
        b == Some(GenesysBudget {
            org_requests_per_minute: 1200,
            org_shards: 8,
            shard_requests_per_minute: 150,
        })
    };
    wait_budget(&api, "acme-a", eight_shards).await;
    wait_budget(&api, "acme-b", eight_shards).await;
    // 1200 over 2 shards is 600, capped at the per-token 300.
    let globex = wait_budget(&api, "globex", |b| b.is_some()).await;
    assert_eq!(
        globex.map(|b| (b.org_shards, b.shard_requests_per_minute)),
        Some((2, 300))
    );

    // acme-b ends (cancelled): acme-a's two shards share the whole budget, up to 300 each.
    api.patch(
        "acme-b",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"cancel": true}})),
    )
    .await
    .expect("cancel");
    wait_budget(&api, "acme-a", |b| {
        b == Some(GenesysBudget {
            org_requests_per_minute: 1200,
            org_shards: 2,
            shard_requests_per_minute: 300,
        })
    })
    .await;
    wait_budget(&api, "acme-b", |b| b.is_none()).await;
}

//! Re-drive on a real kube-apiserver, through the real controller and worker binary (with the
//! worker ServiceAccount's token, so its RBAC is enforced): `retryOf` re-drives what a recovery
//! that met a Capture outage failed, and `conversationIdsFrom` what a ConfigMap lists; each
//! touches exactly those conversations, counted from the simulators' request logs and ground
//! truth. A re-drive whose ConfigMap does not exist fails with a reason a person understands.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, api::PostParams};
use serde_json::json;
use support::recovery::{self, finished, recovery, wait_phase};
use support::{ControlPlane, jobs::JobRunner, operator::Operator};
use uuid::Uuid;

use digital_recovery::api::{DigitalRecovery, Phase, Window};
use digital_recovery::sim::faults::{FaultKind, Service};

const NS: &str = "tenant-redrive";
const QUERY: &str = "POST /api/v2/analytics/conversations/details/query";
const LOOKUP: &str = "GET /api/v2/analytics/conversations/details";
const RECORDINGS: &str = "GET /api/v2/conversations/{id}/recordings";
const PUT: &str = "PUT /api/v1/tenants/demo/interactions/{id}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_of_and_a_config_map_re_drive_exactly_what_they_name() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    recovery::tenant_namespace(&client, NS).await;
    let (sims, store) =
        recovery::start_simulators(recovery::sim_config(600, 0), recovery::recording_config())
            .await;
    let _runner = JobRunner::start(&cp, client.clone());
    let operator = Operator::start(&cp, "replica-a").await;
    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), NS);
    let full = sims.config.window;
    let mid = full.start + full.end.duration_since(full.start) / 2;
    let (first_half, second_half) = (
        Window {
            start: full.start,
            end: mid,
        },
        Window {
            start: mid,
            end: full.end,
        },
    );
    let run = |name: &str, parallelism: u32, window: Window| {
        let mut dr = recovery(name, &sims, parallelism);
        dr.spec.window = window;
        dr
    };

    // 1. A recovery of the first half while Capture refuses every interaction (403): each
    //    conversation it sends fails (captureError, carried to a later run).
    sims.faults.burst(
        Some(Service::Capture),
        FaultKind::Status(403),
        Duration::from_secs(900),
    );
    api.create(&PostParams::default(), &run("night", 2, first_half))
        .await
        .expect("create night");
    let night = wait_phase(&api, "night", 240, finished).await;
    assert_eq!(
        night.status.as_ref().and_then(|s| s.phase),
        Some(Phase::PartiallySucceeded),
        "{:?}",
        night.status
    );
    let refused: BTreeSet<Uuid> = store.capture_requests().named_by(PUT).into_iter().collect();
    assert!(refused.len() > 3, "{refused:?}");
    assert_eq!(store.report().ingested, 0);
    sims.faults.clear_forced();
    let genesys_before = sims.genesys.requests();

    // 2. Re-drive it: exactly what it failed is sent again, once, and nothing else.
    let mut redo = run("redo", 2, first_half);
    redo.spec.retry_of = Some("night".into());
    api.create(&PostParams::default(), &redo)
        .await
        .expect("create redo");
    let redo = wait_phase(&api, "redo", 240, finished).await;
    let status = redo.status.clone().expect("status");
    assert!(
        matches!(
            status.phase,
            Some(Phase::Succeeded | Phase::PartiallySucceeded)
        ),
        "{status:?}\n{}",
        operator.log_text()
    );
    let capture = store.capture_requests();
    assert_eq!(
        capture.named_by(PUT).into_iter().collect::<BTreeSet<_>>(),
        refused
    );
    for id in &refused {
        assert_eq!(capture.of(*id, PUT), 2, "{id}");
    }
    let truth = store.report();
    assert_eq!(truth.ingested, refused.len() as u64, "{truth:?}");
    assert_eq!(truth.duplicates, 0, "{truth:?}");
    assert!(truth.still_missing > 0, "the second half is untouched");
    assert_eq!(
        status.progress.map(|p| p.recovered),
        Some(truth.ingested),
        "{status:?}"
    );
    assert_eq!(status.match_counts.map(|m| m.extra), Some(0));
    // Genesys: no listing of the window, only lookups of what the first run reported on.
    let genesys = sims.genesys.requests();
    assert_eq!(genesys.routes.get(QUERY), genesys_before.routes.get(QUERY));
    let in_first_half: BTreeSet<Uuid> = sims
        .dataset
        .conversations
        .iter()
        .filter(|c| c.start >= first_half.start && c.start < first_half.end)
        .map(|c| c.id)
        .collect();
    let looked_up: BTreeSet<Uuid> = genesys.named_by(LOOKUP).into_iter().collect();
    assert!(refused.is_subset(&looked_up), "{looked_up:?}");
    assert!(looked_up.is_subset(&in_first_half), "{looked_up:?}");

    // 3. A ConfigMap listing three withheld conversations of the second half.
    let chosen: BTreeSet<Uuid> = sims
        .dataset
        .conversations
        .iter()
        .filter(|c| c.start >= second_half.start && c.start < second_half.end)
        .filter(|c| c.is_expected_missing())
        .map(|c| c.id)
        .take(3)
        .collect();
    assert_eq!(chosen.len(), 3);
    let mut list = String::from("# from `digital-recovery report --output ids`\n");
    for id in &chosen {
        list.push_str(&format!("{id}\n"));
    }
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "to-redrive"},
        "data": {"ids": list}
    }))
    .expect("configmap");
    Api::<ConfigMap>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &cm)
        .await
        .expect("create configmap");
    let mut listed = run("listed", 1, second_half);
    listed.spec.conversation_ids_from =
        serde_json::from_value(json!({"configMapName": "to-redrive"})).expect("source");
    api.create(&PostParams::default(), &listed)
        .await
        .expect("create listed");
    let listed = wait_phase(&api, "listed", 240, finished).await;
    assert_ne!(
        listed.status.as_ref().and_then(|s| s.phase),
        Some(Phase::Failed),
        "{:?}",
        listed.status
    );
    let genesys = sims.genesys.requests();
    let fetched_second: BTreeSet<Uuid> = genesys
        .named_by(RECORDINGS)
        .into_iter()
        .filter(|id| !in_first_half.contains(id))
        .collect();
    assert_eq!(fetched_second, chosen);
    let sent: BTreeSet<Uuid> = store
        .capture_requests()
        .named_by(PUT)
        .into_iter()
        .filter(|id| !in_first_half.contains(id))
        .collect();
    assert!(sent.is_subset(&chosen), "{sent:?}");
    assert_eq!(
        store.report().ingested,
        truth.ingested + sent.len() as u64,
        "{:?}",
        store.report()
    );

    // 4. A ConfigMap that does not exist: the recovery fails and says which one.
    let mut orphan = run("orphan", 1, second_half);
    orphan.spec.conversation_ids_from =
        serde_json::from_value(json!({"configMapName": "no-such-list"})).expect("source");
    api.create(&PostParams::default(), &orphan)
        .await
        .expect("create orphan");
    let orphan = wait_phase(&api, "orphan", 120, |p| p == Phase::Failed).await;
    let status = orphan.status.expect("status");
    let shard = status.shards.first().expect("shard status");
    assert_eq!(shard.reason.as_deref(), Some("ConversationIdsNotFound"));
    assert!(
        shard
            .message
            .as_deref()
            .is_some_and(|m| m.contains("no-such-list")),
        "{shard:?}"
    );
    let stalled = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled")
        .expect("Stalled condition");
    assert!(
        stalled.message.contains("ConversationIdsNotFound"),
        "{stalled:?}"
    );
}

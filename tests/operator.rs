//! The operator against a real kube-apiserver: the real controller binary, the job stand-in
//! running the real worker binary with its ServiceAccount's token.

mod support;

use std::time::Duration;

use k8s_openapi::{
    ByteString,
    api::{
        batch::v1::Job,
        coordination::v1::Lease,
        core::v1::{Event, Namespace, Secret},
        rbac::v1::Role,
    },
};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, PostParams},
};
use serde_json::json;
use support::{ControlPlane, jobs::JobRunner, operator::Operator};

use digital_recovery::api::{DigitalRecovery, Phase};

async fn namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

async fn secret(client: &Client, ns: &str, name: &str, keys: &[(&str, &str)]) {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.data = Some(
        keys.iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect(),
    );
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &s)
        .await
        .expect("create secret");
}

fn recovery(name: &str, parallelism: u32) -> DigitalRecovery {
    serde_json::from_value(json!({
        "apiVersion": "recovery.cxops.io/v1alpha1",
        "kind": "DigitalRecovery",
        "metadata": {"name": name},
        "spec": {
            "tenant": "acme",
            "genesys": {"apiBaseUrl": "http://127.0.0.1:9", "credentialsSecret": "genesys-oauth"},
            "recordingSide": {
                "dasUrl": "http://127.0.0.1:9",
                "captureUrl": "http://127.0.0.1:9",
                "credentialsSecret": "verint-api"
            },
            "window": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
            "mediaTypes": ["chat", "email", "social"],
            "parallelism": parallelism
        }
    }))
    .expect("recovery")
}

async fn wait_for<T>(what: &str, secs: u64, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_secret_or_key_stalls_the_recovery_naming_it() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    namespace(&client, "tenant-acme").await;
    // The Genesys Secret lacks clientSecret; the recording side's Secret does not exist.
    secret(
        &client,
        "tenant-acme",
        "genesys-oauth",
        &[("clientId", "id-1")],
    )
    .await;
    let _runner = JobRunner::start(&cp, client.clone());
    let operator = Operator::start(&cp, "replica-a").await;

    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), "tenant-acme");
    api.create(&PostParams::default(), &recovery("acme-nov-20", 2))
        .await
        .expect("create recovery");

    // The controller made an Indexed Job owned by the recovery, run by the worker account.
    let jobs: Api<Job> = Api::namespaced(client.clone(), "tenant-acme");
    let job = wait_for("the Job", 30, async || {
        jobs.get_opt("acme-nov-20").await.ok().flatten()
    })
    .await;
    let spec = job.spec.clone().expect("job spec");
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(spec.completions, Some(2));
    assert!(spec.backoff_limit_per_index.is_some());
    assert!(spec.active_deadline_seconds.is_some());
    assert_eq!(job.owner_references()[0].kind, "DigitalRecovery");
    let pod = spec.template.spec.expect("pod spec");
    // Each recovery's workers have their own identity, whose Role names only that recovery.
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("digital-recovery-worker-acme-nov-20")
    );
    let env = pod.containers[0].env.clone().unwrap_or_default();
    assert!(
        env.iter()
            .all(|e| e.value.as_deref().is_none_or(|v| !v.contains("id-1"))),
        "no credential value in the Job"
    );
    let role = Api::<Role>::namespaced(client.clone(), "tenant-acme")
        .get_opt("digital-recovery-worker-acme-nov-20")
        .await
        .unwrap()
        .expect("the worker Role");
    let rules = role.rules.unwrap_or_default();
    assert!(
        rules
            .iter()
            .filter(|r| r.api_groups.as_deref() == Some(&["recovery.cxops.io".to_string()]))
            .all(|r| r.resource_names.as_deref() == Some(&["acme-nov-20".to_string()])),
        "{rules:?}"
    );

    // Stalled, saying which Secret and key; then Failed once the Job fails (no retries).
    let dr = wait_for("phase Failed", 60, async || {
        let dr = api.get("acme-nov-20").await.ok()?;
        (dr.status.as_ref()?.phase == Some(Phase::Failed)).then_some(dr)
    })
    .await;
    let status = dr.status.expect("status");
    let stalled = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled")
        .expect("Stalled condition");
    assert_eq!(stalled.status, "True");
    assert!(
        stalled
            .message
            .contains("Secret \"genesys-oauth\" key \"clientSecret\""),
        "{}",
        stalled.message
    );
    assert!(
        stalled
            .message
            .contains("Secret \"verint-api\" key \"clientId\""),
        "{}",
        stalled.message
    );
    assert!(
        !stalled.message.contains("id-1"),
        "a credential value leaked: {}",
        stalled.message
    );
    assert_eq!(status.observed_generation, dr.metadata.generation);
    assert_eq!(status.shards.len(), 2, "each worker wrote its own entry");
    for shard in &status.shards {
        assert_eq!(shard.reason.as_deref(), Some("CredentialsMissing"));
    }
    // Each shard entry is owned by that shard's field manager.
    let managers: Vec<String> = dr
        .metadata
        .managed_fields
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.contains(&"digital-recovery-worker-0".to_string()),
        "{managers:?}"
    );
    assert!(
        managers.contains(&"digital-recovery-worker-1".to_string()),
        "{managers:?}"
    );
    // Exit code 3 = no retry: exactly one run per index.
    let runs = _runner.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r.3 == Some(3)), "{runs:?}");

    // Events on transitions only, and kubectl shows the columns. The Event follows the status
    // write that made the recovery Failed, so it may arrive a moment after the phase.
    let events = Api::<Event>::namespaced(client.clone(), "tenant-acme");
    let event_reasons = async || -> Vec<String> {
        let listed = events.list(&ListParams::default()).await;
        listed
            .map(|l| l.items.iter().filter_map(|e| e.reason.clone()).collect())
            .unwrap_or_default()
    };
    wait_for("the Failed Event", 30, async || {
        event_reasons()
            .await
            .contains(&"Failed".to_string())
            .then_some(())
    })
    .await;
    let out = cp
        .kubectl()
        .args(["get", "dr", "-n", "tenant-acme"])
        .output()
        .expect("kubectl");
    let table = String::from_utf8_lossy(&out.stdout);
    for column in [
        "TENANT",
        "MODE",
        "PHASE",
        "MISSING",
        "RECOVERED",
        "VERIFIED",
        "FAILED",
        "AGE",
    ] {
        assert!(table.contains(column), "{table}");
    }
    assert!(
        table.contains("acme-nov-20") && table.contains("Failed"),
        "{table}"
    );

    // Exactly one Failed Event, also after the time taken by the checks above.
    let reasons = event_reasons().await;
    assert_eq!(
        reasons.iter().filter(|r| *r == "Failed").count(),
        1,
        "{reasons:?}"
    );

    // Metrics.
    let text = operator.scrape().await;
    assert!(
        support::operator::metric_in(&text, "digital_recovery_reconciles_total") >= 1.0,
        "{text}"
    );
    assert!(
        text.contains("digital_recovery_recoveries{phase=\"Failed\"} 1"),
        "{text}"
    );
    assert!(
        support::operator::metric_in(&text, "digital_recovery_leader") == 1.0,
        "{text}"
    );
    // The log is JSON lines and carries the recovery's name.
    let log = operator.log_text();
    assert!(
        log.lines()
            .any(|l| l.starts_with('{') && l.contains("acme-nov-20")),
        "{log}"
    );
}

/// Who holds the controller's Lease now.
async fn lease_holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get("digital-recovery-controller")
        .await
        .unwrap()
        .spec
        .and_then(|s| s.holder_identity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_reconciles_and_a_standby_takes_over() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let first = Operator::start(&cp, "replica-a").await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    wait_for("replica-a to hold the Lease", 30, async || {
        let l = leases.get_opt("digital-recovery-controller").await.ok()??;
        (l.spec?.holder_identity? == "replica-a").then_some(())
    })
    .await;
    let second = Operator::start(&cp, "replica-b").await;

    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &recovery("one", 1))
        .await
        .unwrap();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    wait_for("the first Job", 30, async || {
        jobs.get_opt("one").await.ok().flatten()
    })
    .await;
    assert!(first.metric("digital_recovery_reconciles_total").await >= 1.0);
    assert_eq!(
        second.metric("digital_recovery_reconciles_total").await,
        0.0,
        "the standby acted"
    );
    assert_eq!(second.metric("digital_recovery_leader").await, 0.0);

    // The holder dies; the standby takes the Lease once it expires and carries on.
    drop(first);
    api.create(&PostParams::default(), &recovery("two", 1))
        .await
        .unwrap();
    wait_for("the standby to create the second Job", 60, async || {
        jobs.get_opt("two").await.ok().flatten()
    })
    .await;
    assert_eq!(second.metric("digital_recovery_leader").await, 1.0);
    assert_eq!(lease_holder(&leases).await.as_deref(), Some("replica-b"));

    // SIGTERM (a rollout, a drained node): kube-runtime's graceful shutdown lets reconciles in
    // flight finish, the Lease is given up, and the process exits 0.
    let mut second = second;
    let pid = i32::try_from(second.process.0.id()).expect("pid");
    // SAFETY: kill(2) on a child process this test started and still owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = wait_for("replica-b to exit after SIGTERM", 30, async || {
        second.process.0.try_wait().ok().flatten()
    })
    .await;
    assert!(
        status.success(),
        "exit after SIGTERM: {status}\n{}",
        second.log_text()
    );
    let log = second.log_text();
    assert!(log.contains("controllers shut down"), "{log}");
    assert_ne!(
        lease_holder(&leases).await.as_deref(),
        Some("replica-b"),
        "the Lease was kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_recoveries_at_once_reconcile_without_errors() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let operator = Operator::start(&cp, "replica-a").await;
    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), "default");
    let creates = (0..200).map(|i| {
        let api = api.clone();
        async move {
            api.create(&PostParams::default(), &recovery(&format!("r-{i:03}"), 2))
                .await
                .expect("create")
        }
    });
    futures::future::join_all(creates).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    wait_for("200 Jobs and 200 Pending statuses", 120, async || {
        let n_jobs = jobs.list(&ListParams::default()).await.ok()?.items.len();
        let pending = api
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .iter()
            .filter(|d| {
                d.status.as_ref().and_then(|s| s.phase) == Some(Phase::Pending)
                    && d.status.as_ref().and_then(|s| s.observed_generation)
                        == d.metadata.generation
            })
            .count();
        (n_jobs == 200 && pending == 200).then_some(())
    })
    .await;
    let text = operator.scrape().await;
    assert_eq!(
        support::operator::metric_in(&text, "digital_recovery_reconcile_failures_total"),
        0.0,
        "{text}"
    );
    assert!(
        text.contains("digital_recovery_recoveries{phase=\"Pending\"} 200"),
        "{text}"
    );
}

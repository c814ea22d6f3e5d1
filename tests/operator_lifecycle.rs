//! The operator through what a real cluster does to it: a worker pod terminated mid-run, a
//! recovery deleted and created again under its name, a name as long as the API allows, a
//! namespace enforcing Pod Security `restricted`, quotas refusing Jobs or pods. A real
//! kube-apiserver, the real controller and worker binaries, and the job stand-in
//! (tests/support/jobs.rs), which creates each worker pod as a server-side dry run so admission
//! (Pod Security, quota) judges it.

mod support;

use std::time::Duration;

use k8s_openapi::{
    api::{
        batch::v1::Job,
        core::v1::{ConfigMap, Event, ResourceQuota, ServiceAccount},
        rbac::v1::{Role, RoleBinding},
    },
    apimachinery::pkg::apis::meta::v1::Condition,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;

use digital_recovery::api::{DigitalRecovery, Phase};
use digital_recovery::contract::{self, RECOVERY_LABEL};
use digital_recovery::worker::read_report;
use support::control_plane::ADMIN_TOKEN;
use support::recovery::{self, finished, recovery, wait_phase};
use support::{ControlPlane, jobs::JobRunner, operator::Operator, pod_security};

/// Longest a recovery may take here (a few hundred conversations, one or two shards).
const FINISH_SECS: u64 = 300;

/// An Event in `ns` about the object `name` with one of `reasons`, if one was published.
async fn event_about(client: &Client, ns: &str, name: &str, reasons: &[&str]) -> Option<Event> {
    let events = Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .ok()?;
    events.items.into_iter().find(|e| {
        e.involved_object.name.as_deref() == Some(name)
            && e.reason.as_deref().is_some_and(|r| reasons.contains(&r))
    })
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
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn condition(dr: &DigitalRecovery, type_: &str) -> Option<Condition> {
    dr.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
}

/// Waits until `name`'s condition `type_` is True with `reason`, and returns it.
async fn wait_condition(
    api: &Api<DigitalRecovery>,
    name: &str,
    type_: &str,
    reason: &str,
    secs: u64,
) -> Condition {
    wait_for(
        &format!("{name}: {type_}=True {reason}"),
        secs,
        async || {
            let dr = api.get(name).await.ok()?;
            condition(&dr, type_).filter(|c| c.status == "True" && c.reason == reason)
        },
    )
    .await
}

/// A recovery's final phase, asserting it is not Failed.
async fn wait_success(api: &Api<DigitalRecovery>, name: &str) -> DigitalRecovery {
    let dr = wait_phase(api, name, FINISH_SECS, finished).await;
    let phase = dr.status.as_ref().and_then(|s| s.phase);
    assert!(
        matches!(phase, Some(Phase::Succeeded | Phase::PartiallySucceeded)),
        "{name}: {:?}",
        dr.status
    );
    dr
}

/// The controller with the test's usual flags plus `extra`.
async fn operator(cp: &ControlPlane, extra: &[&str]) -> Operator {
    let mut args: Vec<String> = [
        "controller",
        "--identity",
        "replica-a",
        "--worker-image",
        "digital-recovery:test",
        "--lease-duration-seconds",
        "4",
        "--lease-grace-seconds",
        "2",
        "--log-format",
        "json",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|a| a.to_string()));
    Operator::start_with(cp, "replica-a", ADMIN_TOKEN, &args, &[("RUST_LOG", "info")]).await
}

/// A ResourceQuota in `ns` allowing none of `resource`, with the status the quota controller
/// (absent here) would write, once the apiserver's admission enforces it (`probe` is refused).
async fn quota_of_nothing(
    client: &Client,
    ns: &str,
    resource: &str,
    probe: impl AsyncFn() -> Result<(), String>,
) {
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), ns);
    let quota: ResourceQuota = serde_json::from_value(json!({
        "metadata": {"name": "nothing"},
        "spec": {"hard": {resource: "0"}}
    }))
    .expect("quota");
    quotas
        .create(&PostParams::default(), &quota)
        .await
        .expect("create the quota");
    quotas
        .patch_status(
            "nothing",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"hard": {resource: "0"}, "used": {resource: "0"}}})),
        )
        .await
        .expect("quota status");
    // Admission reads quotas from a cache; wait until it refuses.
    wait_for(
        &format!("the quota on {resource} to apply"),
        30,
        async || {
            probe()
                .await
                .is_err_and(|e| e.contains("exceeded quota"))
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_terminated_mid_run_is_retried_and_the_recovery_succeeds() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    recovery::tenant_namespace(&client, "tenant-demo").await;
    // Slow simulators, so the worker is mid-run when its pod is deleted.
    let (sims, store) =
        recovery::start_simulators(recovery::sim_config(2000, 20), recovery::recording_config())
            .await;
    let runner = JobRunner::start(&cp, client.clone());
    let _operator = Operator::start(&cp, "replica-a").await;

    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), "tenant-demo");
    api.create(&PostParams::default(), &recovery("evicted", &sims, 1))
        .await
        .expect("create");
    wait_for("the worker to ingest something", 120, async || {
        (store.report().ingested > 0).then_some(())
    })
    .await;
    // What kubelet does to a pod being deleted, evicted, drained or preempted.
    assert!(
        runner.terminate("tenant-demo", "evicted", 0),
        "the worker was running"
    );

    let dr = wait_success(&api, "evicted").await;
    let truth = store.report();
    assert_eq!(truth.still_missing, 0, "{truth:?}");
    assert_eq!(truth.duplicates, 0, "{truth:?}");
    let runs: Vec<Option<i32>> = runner
        .runs
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.1 == "evicted")
        .map(|r| r.3)
        .collect();
    // The terminated attempt exited retryable (not 3, which fails the index), the retry finished.
    assert_eq!(runs.first(), Some(&Some(143)), "{runs:?}");
    assert_eq!(runs.last(), Some(&Some(0)), "{runs:?}");
    let logs = runner.worker_logs();
    let (_, first_attempt) = logs
        .iter()
        .find(|(file, _)| file.contains("evicted-0-0"))
        .expect("the first attempt's log");
    assert!(first_attempt.contains("SIGTERM"), "{first_attempt}");
    let status = dr.status.expect("status");
    assert_eq!(status.shards.len(), 1);
    assert_ne!(
        status.shards[0].reason.as_deref(),
        Some("Cancelled"),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_deleted_and_created_again_under_its_name_runs_again() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let ns = "tenant-demo";
    recovery::tenant_namespace(&client, ns).await;
    let (sims, store) =
        recovery::start_simulators(recovery::sim_config(300, 0), recovery::recording_config())
            .await;
    let _runner = JobRunner::start(&cp, client.clone());
    let _operator = Operator::start(&cp, "replica-a").await;

    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &recovery("again", &sims, 2))
        .await
        .expect("create");
    let first = wait_success(&api, "again").await;
    let first_uid = first.uid().expect("uid");

    api.delete("again", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for("the recovery to go", 30, async || {
        api.get_opt("again").await.ok()?.is_none().then_some(())
    })
    .await;
    // The garbage collector (absent here) removes what the first recovery owned: its worker
    // identity and ConfigMaps now, its Job only later, to show that the new recovery waits for
    // that Job instead of taking it for its own.
    let account = "digital-recovery-worker-again";
    let dp = DeleteParams::default();
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .delete(account, &dp)
        .await
        .expect("delete the ServiceAccount");
    Api::<Role>::namespaced(client.clone(), ns)
        .delete(account, &dp)
        .await
        .expect("delete the Role");
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .delete(account, &dp)
        .await
        .expect("delete the RoleBinding");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    for cm in config_maps.list(&ListParams::default()).await.unwrap() {
        if cm.owner_references().iter().any(|o| o.uid == first_uid) {
            config_maps.delete(&cm.name_any(), &dp).await.unwrap();
        }
    }

    api.create(&PostParams::default(), &recovery("again", &sims, 2))
        .await
        .expect("create again");
    let waiting = wait_condition(&api, "again", "Reconciling", "JobNameTaken", 30).await;
    assert!(waiting.message.contains("same name"), "{waiting:?}");
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let old_job = jobs
        .get("again")
        .await
        .expect("the first Job is still there");
    assert!(
        old_job
            .owner_references()
            .iter()
            .all(|o| o.uid == first_uid)
    );
    jobs.delete("again", &DeleteParams::background())
        .await
        .expect("delete the first Job");

    let second = wait_success(&api, "again").await;
    let second_uid = second.uid().expect("uid");
    assert_ne!(second_uid, first_uid);
    assert_eq!(second.status.expect("status").shards.len(), 2);
    // The worker identity exists again, owned by the new recovery; so does its Job.
    let sa = Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .get(account)
        .await
        .expect("the worker ServiceAccount again");
    assert!(sa.owner_references().iter().any(|o| o.uid == second_uid));
    let job = jobs.get("again").await.expect("the second Job");
    assert!(job.owner_references().iter().any(|o| o.uid == second_uid));
    let truth = store.report();
    assert_eq!((truth.still_missing, truth.duplicates), (0, 0), "{truth:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_character_name_runs_and_reconcile_errors_reach_the_recovery() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let ns = "tenant-demo";
    recovery::tenant_namespace(&client, ns).await;
    let (sims, store) =
        recovery::start_simulators(recovery::sim_config(300, 0), recovery::recording_config())
            .await;
    let _runner = JobRunner::start(&cp, client.clone());
    let operator = Operator::start(&cp, "replica-a").await;

    // 100 characters, with dots (which pod host names, and so Job names, cannot hold).
    let name = "acme.recovery-2026-11-20.chat-email-social.after-the-capture-adapter-outage.of-the-night-shift.v2";
    let name = format!("{name}{}", "x".repeat(100 - name.len()));
    assert_eq!(name.len(), 100);
    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &recovery(&name, &sims, 2))
        .await
        .expect("create");
    let dr = wait_success(&api, &name).await;
    assert_eq!(dr.status.expect("status").shards.len(), 2);
    assert_eq!(store.report().still_missing, 0);

    let job_name = contract::job_name(&name);
    let job = Api::<Job>::namespaced(client.clone(), ns)
        .get(&job_name)
        .await
        .expect("the Job");
    let label = contract::label_value(&name);
    assert!(label.len() <= 63);
    assert_eq!(job.labels().get(RECOVERY_LABEL), Some(&label));
    let account = format!("digital-recovery-worker-{name}");
    let sa = Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .get(&account)
        .await
        .expect("the worker ServiceAccount");
    assert_eq!(sa.labels().get(RECOVERY_LABEL), Some(&label));
    // Workers wrote their reports under the same selector `report` reads them by.
    let report = read_report(&client, ns, &name).await.expect("report");
    assert!(!report.is_empty());
    // An Event about the final phase was published (right after the status write that set it).
    wait_for(
        "an Event about the recovery's final phase",
        30,
        async || event_about(&client, ns, &name, &["Succeeded", "PartiallySucceeded"]).await,
    )
    .await;

    // The longest name the API allows: too long to name an Event after as kube's Recorder does
    // (`<name>.<hex time>`); its Events come under a shortened name. Cancelled from the start, so
    // it publishes one at once and runs nothing.
    let longest = format!("{}.{}", "a".repeat(126), "b".repeat(126));
    assert_eq!(longest.len(), 253);
    let mut cancelled = recovery(&longest, &sims, 1);
    cancelled.spec.cancel = true;
    api.create(&PostParams::default(), &cancelled)
        .await
        .expect("create the 253-character recovery");
    wait_phase(&api, &longest, 60, |p| p == Phase::Cancelled).await;
    wait_for(
        "an Event about the 253-character recovery",
        30,
        async || {
            event_about(&client, ns, &longest, &["Cancelled"])
                .await
                .filter(|e| e.metadata.name.as_ref().is_some_and(|n| n.len() <= 253))
        },
    )
    .await;

    // A reconcile that fails (a quota refusing every Job) reaches the recovery: a condition and
    // one Warning Event, not only the controller's log.
    let blocked_ns = "tenant-quota";
    recovery::tenant_namespace(&client, blocked_ns).await;
    let job_probe = async || {
        let probe: Job = serde_json::from_value(json!({
            "metadata": {"generateName": "probe-"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox"}]}}}
        }))
        .expect("probe Job");
        let dry = PostParams {
            dry_run: true,
            ..Default::default()
        };
        Api::<Job>::namespaced(client.clone(), blocked_ns)
            .create(&dry, &probe)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    quota_of_nothing(&client, blocked_ns, "count/jobs.batch", job_probe).await;
    let blocked: Api<DigitalRecovery> = Api::namespaced(client.clone(), blocked_ns);
    blocked
        .create(&PostParams::default(), &recovery("blocked", &sims, 1))
        .await
        .expect("create");
    let stalled = wait_condition(&blocked, "blocked", "Stalled", "ReconcileError", 60).await;
    assert!(
        stalled.message.contains("cannot create the Job blocked")
            && stalled.message.contains("exceeded quota"),
        "{stalled:?}"
    );
    let dr = blocked.get("blocked").await.unwrap();
    assert_eq!(
        condition(&dr, "Ready").map(|c| c.status).as_deref(),
        Some("False")
    );
    // Retries go on with backoff; the same error is announced once.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        operator
            .metric("digital_recovery_reconcile_failures_total")
            .await
            >= 3.0,
        "retried"
    );
    let warnings: Vec<Event> = Api::<Event>::namespaced(client.clone(), blocked_ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("ReconcileError"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].type_.as_deref(), Some("Warning"));
    assert!(
        warnings[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("exceeded quota")),
        "{warnings:?}"
    );
    // Once the quota goes, the recovery runs.
    Api::<ResourceQuota>::namespaced(client.clone(), blocked_ns)
        .delete("nothing", &DeleteParams::default())
        .await
        .expect("delete the quota");
    wait_success(&blocked, "blocked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_run_under_restricted_pod_security_and_refused_pods_are_named() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let ns = "tenant-restricted";
    pod_security::restricted_namespace(&client, ns).await;
    recovery::credentials(&client, ns).await;
    // Enforcement is on: a pod without a security context is refused.
    let refused = pod_security::admit_pod(&client, ns, pod_security::unrestricted_pod_spec()).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("violates PodSecurity")),
        "{refused:?}"
    );
    let (sims, store) =
        recovery::start_simulators(recovery::sim_config(300, 0), recovery::recording_config())
            .await;
    let runner = JobRunner::start(&cp, client.clone());
    let _operator = operator(
        &cp,
        &[
            "--worker-image-pull-policy",
            "Never",
            "--worker-image-pull-secret",
            "regcred",
        ],
    )
    .await;

    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &recovery("locked-down", &sims, 2))
        .await
        .expect("create");
    wait_success(&api, "locked-down").await;
    assert_eq!(store.report().still_missing, 0);
    let job = Api::<Job>::namespaced(client.clone(), ns)
        .get("locked-down")
        .await
        .expect("the Job");
    // The stand-in's pods were admitted at once: no FailedCreate, one run per shard.
    let failed_creates = Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default().fields("reason=FailedCreate"))
        .await
        .unwrap()
        .items;
    assert!(failed_creates.is_empty(), "{failed_creates:?}");
    assert_eq!(runner.runs.lock().unwrap().len(), 2);
    // And explicitly: the Job's pod template as a Pod in the restricted namespace.
    let template =
        serde_json::to_value(&job.spec.as_ref().expect("spec").template.spec).expect("pod spec");
    let admitted = pod_security::admit_pod(&client, ns, template).await;
    assert!(admitted.is_ok(), "{admitted:?}");
    // Worker pods pull as the controller was told to.
    let pod = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .expect("pod spec");
    assert_eq!(
        pod.containers[0].image_pull_policy.as_deref(),
        Some("Never")
    );
    let secrets: Vec<String> = pod
        .image_pull_secrets
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(secrets, ["regcred"]);
    let owner = &job.owner_references()[0];
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );

    // Pods the apiserver refuses (a quota of no pods): the recovery says why no worker starts,
    // in words, instead of waiting silently; it runs once they are allowed.
    let starved_ns = "tenant-no-pods";
    recovery::tenant_namespace(&client, starved_ns).await;
    let pod_probe = async || {
        pod_security::admit_pod(&client, starved_ns, pod_security::unrestricted_pod_spec()).await
    };
    quota_of_nothing(&client, starved_ns, "pods", pod_probe).await;
    let starved: Api<DigitalRecovery> = Api::namespaced(client.clone(), starved_ns);
    starved
        .create(&PostParams::default(), &recovery("starved", &sims, 1))
        .await
        .expect("create");
    let stalled = wait_condition(&starved, "starved", "Stalled", "PodsNotCreated", 90).await;
    assert!(
        stalled.message.contains("no worker pod can be created")
            && stalled.message.contains("exceeded quota"),
        "{stalled:?}"
    );
    Api::<ResourceQuota>::namespaced(client.clone(), starved_ns)
        .delete("nothing", &DeleteParams::default())
        .await
        .expect("delete the quota");
    wait_success(&starved, "starved").await;
}

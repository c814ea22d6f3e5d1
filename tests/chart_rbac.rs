//! Least privilege, proven on a real kube-apiserver (RBAC mode): the chart's RBAC is applied for
//! real, the REAL controller binary runs with the chart's ServiceAccount token and the chart's
//! Deployment args, the REAL workers run with the token of the worker ServiceAccount the controller
//! created, and a full recovery against the simulators succeeds. Then SubjectAccessReviews and
//! real requests show what each account cannot do (Secrets, other namespaces), and no log line,
//! Event, status field, Job or report holds a credential value.

mod support;

use std::{io::Read, io::Write, process::Stdio, sync::Arc, sync::OnceLock, time::Duration};

use base64::Engine;
use k8s_openapi::{
    ByteString,
    api::{
        authentication::v1::{TokenRequest, TokenRequestSpec},
        authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec},
        batch::v1::Job,
        core::v1::{ConfigMap, Namespace, Secret, ServiceAccount},
        events::v1::Event,
    },
};
use kube::{
    Api, Client,
    api::{ListParams, PostParams},
};
use serde_json::{Value, json};
use support::{
    ControlPlane,
    helm::{documents, find, render},
    jobs::JobRunner,
    operator::Operator,
};

use digital_recovery::api::{DigitalRecovery, Phase};
use digital_recovery::sim::recording::{RecordingSimConfig, factory_with_store};
use digital_recovery::sim::{self, SimConfig};

/// Distinctive credential values: if any of them (or an encoding of them) shows up anywhere
/// outside the Secrets, it leaked.
const CLIENT_ID: &str = "cid-LEAKCANARY-7f3k9q2w";
const CLIENT_SECRET: &str = "csec-LEAKCANARY-m4x8v1z6p0";
const RELEASE: &str = "ops";
const SYSTEM_NS: &str = "dr-system";
const CONTROLLER_SA: &str = "ops-digital-recovery";
/// The worker identity the controller creates for the recovery `canary`.
const WORKER_SA: &str = "digital-recovery-worker-canary";

fn kubectl_apply(cp: &ControlPlane, manifests: &str) {
    let mut child = cp
        .kubectl()
        .args(["apply", "--server-side", "--field-manager=helm", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifests.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
}

async fn token(client: &Client, ns: &str, sa: &str) -> String {
    let req = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: None,
            expiration_seconds: Some(3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create_token_request(sa, &PostParams::default(), &req)
        .await
        .expect("token request")
        .status
        .and_then(|s| s.token)
        .expect("token")
}

/// Whether the ServiceAccount `ns/sa` may `verb` `resource` (optionally `sub`resource, `name`)
/// in namespace `in_ns` ("" = cluster-wide), as the apiserver's RBAC authorizer decides.
async fn can(
    admin: &Client,
    (ns, sa): (&str, &str),
    verb: &str,
    group: &str,
    resource: &str,
    in_ns: &str,
    name: Option<&str>,
) -> bool {
    let (resource, sub) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s.to_string())),
        None => (resource, None),
    };
    let sar = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(format!("system:serviceaccount:{ns}:{sa}")),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource: sub,
                namespace: (!in_ns.is_empty()).then(|| in_ns.to_string()),
                name: name.map(String::from),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<SubjectAccessReview>::all(admin.clone())
        .create(&PostParams::default(), &sar)
        .await
        .expect("SubjectAccessReview")
        .status
        .is_some_and(|s| s.allowed)
}

fn needles() -> Vec<(String, String)> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let b64url = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    vec![
        ("client id".into(), CLIENT_ID.into()),
        ("client secret".into(), CLIENT_SECRET.into()),
        // The secret's distinctive core, in case of truncation or escaping around it.
        ("client secret core".into(), "m4x8v1z6p0".into()),
        ("base64(secret)".into(), b64(CLIENT_SECRET)),
        (
            "base64(id:secret), an HTTP Basic header".into(),
            b64(&format!("{CLIENT_ID}:{CLIENT_SECRET}")),
        ),
        (
            "base64url(id:secret)".into(),
            b64url(&format!("{CLIENT_ID}:{CLIENT_SECRET}")),
        ),
    ]
}

/// The first credential form found in `text`, with the text around it.
fn find_credential(text: &str) -> Option<(String, String)> {
    needles().into_iter().find_map(|(form, needle)| {
        let at = text.find(&needle)?;
        let start = text[..at]
            .char_indices()
            .rev()
            .nth(120)
            .map_or(0, |(i, _)| i);
        Some((form, text[start..at + needle.len()].to_string()))
    })
}

/// Panics naming `what` and the leak when `text` holds a credential in any form.
fn assert_no_credentials(what: &str, text: &str) {
    if let Some((form, around)) = find_credential(text) {
        panic!("{what} contains the {form}: ...{around}...");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_rbac_runs_a_recovery_and_grants_no_secrets_and_nothing_leaks() {
    // The scanner itself finds planted credentials in every form it checks.
    for (form, needle) in needles() {
        let planted = format!("{{\"msg\":\"x\",\"v\":\"{needle}\"}}");
        assert!(
            find_credential(&planted).is_some(),
            "scanner misses the {form}"
        );
    }

    let cp = ControlPlane::start().await;
    let admin = cp.client().await;
    support::crds::install(&admin).await;
    for ns in [SYSTEM_NS, "tenant-a", "tenant-b"] {
        namespace(&admin, ns).await;
    }
    let scratch = tempfile::tempdir().unwrap();
    let manifests = render(scratch.path(), RELEASE, SYSTEM_NS, &[]);
    kubectl_apply(&cp, &manifests);
    let docs = documents(&manifests);

    // Credentials: distinctive values, accepted by the simulators.
    for name in ["genesys-oauth", "verint-api"] {
        let mut s = Secret::default();
        s.metadata.name = Some(name.into());
        s.data = Some(
            [("clientId", CLIENT_ID), ("clientSecret", CLIENT_SECRET)]
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        );
        Api::<Secret>::namespaced(admin.clone(), "tenant-a")
            .create(&PostParams::default(), &s)
            .await
            .expect("secret");
    }
    let mut config = SimConfig::new(600);
    config.seed = 23;
    config.missing_rate = 0.1;
    config.partial_rate = 0.05;
    config.rate_limit = None;
    config.client_id = CLIENT_ID.into();
    config.client_secret = CLIENT_SECRET.into();
    let slot = Arc::new(OnceLock::new());
    let recording = RecordingSimConfig {
        ingest_lag: Duration::from_millis(200),
        ..RecordingSimConfig::default()
    };
    let sims = sim::start(config, Some(factory_with_store(recording, slot.clone())))
        .await
        .expect("simulators");
    let store = slot.get().expect("store").clone();

    // The controller: the chart's ServiceAccount token, the chart's Deployment args and env.
    let deploy = find(&docs, "Deployment", "ops-digital-recovery-controller");
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    let mut args: Vec<String> = Vec::new();
    let mut rendered = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str);
    while let Some(a) = rendered.next() {
        if a == "--metrics-addr" {
            rendered.next(); // the test picks a free loopback port
        } else {
            args.push(a.to_string());
        }
    }
    let controller_token = token(&admin, SYSTEM_NS, CONTROLLER_SA).await;
    let operator = Operator::start_with(
        &cp,
        "ops-controller-0",
        &controller_token,
        &args,
        &[
            ("POD_NAME", "ops-controller-0"),
            ("POD_NAMESPACE", SYSTEM_NS),
            ("RUST_LOG", "info,digital_recovery=debug"),
        ],
    )
    .await;
    let runner = JobRunner::start(&cp, admin.clone());

    let api: Api<DigitalRecovery> = Api::namespaced(admin.clone(), "tenant-a");
    let dr = support::recovery::recovery("canary", &sims, 2);
    api.create(&PostParams::default(), &dr)
        .await
        .expect("create recovery");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let dr = loop {
        let dr = api.get("canary").await.expect("get");
        let phase = dr.status.as_ref().and_then(|s| s.phase);
        if matches!(
            phase,
            Some(Phase::Succeeded | Phase::PartiallySucceeded | Phase::Failed)
        ) {
            break dr;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no final phase: {:?}\ncontroller log:\n{}",
            dr.status,
            operator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let status = dr.status.clone().expect("status");
    let truth = store.report();
    assert_ne!(
        status.phase,
        Some(Phase::Failed),
        "{status:?}\n{}",
        operator.log_text()
    );
    assert_eq!(truth.still_missing, 0, "{truth:?}");
    assert!(truth.ingested > 0, "the run recovered nothing: {truth:?}");
    assert_eq!(
        status.progress.as_ref().map(|p| p.recovered),
        Some(truth.ingested)
    );

    // --- RBAC: the controller (as the chart grants it) -------------------------------------
    let ctl = (SYSTEM_NS, CONTROLLER_SA);
    let lease = "ops-digital-recovery-controller";
    for (verb, group, resource, ns, name) in [
        ("list", "recovery.cxops.io", "digitalrecoveries", "", None),
        ("watch", "recovery.cxops.io", "digitalrecoveries", "", None),
        (
            "patch",
            "recovery.cxops.io",
            "digitalrecoveries/status",
            "tenant-b",
            None,
        ),
        ("create", "batch", "jobs", "tenant-b", None),
        ("delete", "batch", "jobs", "tenant-b", None),
        // The schedule controller creates, cancels (patch) and prunes (delete) its runs.
        (
            "create",
            "recovery.cxops.io",
            "digitalrecoveries",
            "tenant-b",
            None,
        ),
        (
            "patch",
            "recovery.cxops.io",
            "digitalrecoveries",
            "tenant-b",
            None,
        ),
        (
            "delete",
            "recovery.cxops.io",
            "digitalrecoveries",
            "tenant-b",
            None,
        ),
        (
            "watch",
            "recovery.cxops.io",
            "digitalrecoveryschedules",
            "",
            None,
        ),
        (
            "patch",
            "recovery.cxops.io",
            "digitalrecoveryschedules/status",
            "tenant-b",
            None,
        ),
        (
            "create",
            "rbac.authorization.k8s.io",
            "roles",
            "tenant-b",
            None,
        ),
        ("create", "events.k8s.io", "events", "tenant-b", None),
        // The job controller's FailedCreate Events, read to say why a Job has no pods.
        ("list", "", "events", "tenant-b", None),
        // Failed worker pods, read to say how they ended (OOMKilled).
        ("list", "", "pods", "tenant-b", None),
        // Scheduled runs are owned by their schedule with blockOwnerDeletion.
        (
            "update",
            "recovery.cxops.io",
            "digitalrecoveryschedules/finalizers",
            "tenant-b",
            None,
        ),
        (
            "patch",
            "coordination.k8s.io",
            "leases",
            SYSTEM_NS,
            Some(lease),
        ),
    ] {
        assert!(
            can(&admin, ctl, verb, group, resource, ns, name).await,
            "controller cannot {verb} {resource} in {ns:?}"
        );
    }
    for (verb, group, resource, ns, name) in [
        ("get", "", "secrets", "tenant-a", Some("genesys-oauth")),
        ("get", "", "secrets", SYSTEM_NS, None),
        ("list", "", "secrets", "", None),
        ("list", "", "secrets", "tenant-a", None),
        ("watch", "", "secrets", "tenant-a", None),
        ("create", "", "pods", "tenant-a", None),
        ("create", "", "pods/exec", "tenant-a", None),
        ("get", "", "pods/log", "tenant-a", None),
        ("watch", "", "pods", "tenant-a", None),
        // Listing Events is enough; nothing watches them.
        ("watch", "", "events", "tenant-a", None),
        (
            "escalate",
            "rbac.authorization.k8s.io",
            "roles",
            "tenant-a",
            None,
        ),
        (
            "bind",
            "rbac.authorization.k8s.io",
            "roles",
            "tenant-a",
            None,
        ),
        (
            "create",
            "rbac.authorization.k8s.io",
            "clusterroles",
            "",
            None,
        ),
        (
            "patch",
            "coordination.k8s.io",
            "leases",
            SYSTEM_NS,
            Some("someone-elses-lease"),
        ),
        (
            "patch",
            "coordination.k8s.io",
            "leases",
            "tenant-a",
            Some(lease),
        ),
    ] {
        assert!(
            !can(&admin, ctl, verb, group, resource, ns, name).await,
            "controller may {verb} {resource} {name:?} in {ns:?}"
        );
    }
    // And for real, with its token.
    let as_controller = cp.client_for_token(&controller_token).await;
    let err = Api::<Secret>::namespaced(as_controller.clone(), "tenant-a")
        .get("genesys-oauth")
        .await;
    assert!(
        matches!(&err, Err(kube::Error::Api(s)) if s.code == 403),
        "{err:?}"
    );
    let err = Api::<Secret>::all(as_controller)
        .list(&ListParams::default())
        .await;
    assert!(
        matches!(&err, Err(kube::Error::Api(s)) if s.code == 403),
        "{err:?}"
    );

    // --- RBAC: the worker (as the controller created it in tenant-a) -----------------------
    let wrk = ("tenant-a", WORKER_SA);
    for (verb, group, resource, ns, name) in [
        (
            "get",
            "recovery.cxops.io",
            "digitalrecoveries",
            "tenant-a",
            Some("canary"),
        ),
        (
            "patch",
            "recovery.cxops.io",
            "digitalrecoveries/status",
            "tenant-a",
            Some("canary"),
        ),
        ("create", "", "configmaps", "tenant-a", None),
    ] {
        assert!(
            can(&admin, wrk, verb, group, resource, ns, name).await,
            "worker cannot {verb} {resource}"
        );
    }
    // Only its own recovery: not another one in the same namespace.
    for (verb, resource) in [
        ("get", "digitalrecoveries"),
        ("patch", "digitalrecoveries/status"),
    ] {
        assert!(
            !can(
                &admin,
                wrk,
                verb,
                "recovery.cxops.io",
                resource,
                "tenant-a",
                Some("other")
            )
            .await,
            "worker may {verb} {resource} of another recovery"
        );
    }
    for (verb, group, resource, ns) in [
        ("get", "", "secrets", "tenant-a"),
        ("list", "", "secrets", "tenant-a"),
        ("list", "", "secrets", ""),
        ("get", "recovery.cxops.io", "digitalrecoveries", "tenant-b"),
        ("list", "recovery.cxops.io", "digitalrecoveries", "tenant-b"),
        ("list", "recovery.cxops.io", "digitalrecoveries", ""),
        (
            "patch",
            "recovery.cxops.io",
            "digitalrecoveries/status",
            "tenant-b",
        ),
        (
            "patch",
            "recovery.cxops.io",
            "digitalrecoveries",
            "tenant-a",
        ),
        (
            "delete",
            "recovery.cxops.io",
            "digitalrecoveries",
            "tenant-a",
        ),
        (
            "create",
            "recovery.cxops.io",
            "digitalrecoveries",
            "tenant-a",
        ),
        ("create", "", "configmaps", "tenant-b"),
        ("create", "batch", "jobs", "tenant-a"),
        ("create", "", "pods", "tenant-a"),
        ("patch", "rbac.authorization.k8s.io", "roles", "tenant-a"),
    ] {
        assert!(
            !can(&admin, wrk, verb, group, resource, ns, None).await,
            "worker may {verb} {resource} in {ns:?}"
        );
    }
    let worker_token = token(&admin, "tenant-a", WORKER_SA).await;
    let as_worker = cp.client_for_token(&worker_token).await;
    let err = Api::<Secret>::namespaced(as_worker.clone(), "tenant-a")
        .get("verint-api")
        .await;
    assert!(
        matches!(&err, Err(kube::Error::Api(s)) if s.code == 403),
        "{err:?}"
    );
    let err = Api::<DigitalRecovery>::namespaced(as_worker.clone(), "tenant-b")
        .get("canary")
        .await;
    assert!(
        matches!(&err, Err(kube::Error::Api(s)) if s.code == 403),
        "{err:?}"
    );
    // Positive control for the worker token: its own recovery is readable.
    Api::<DigitalRecovery>::namespaced(as_worker, "tenant-a")
        .get("canary")
        .await
        .expect("worker reads its recovery");

    // --- No credential anywhere ----------------------------------------------------------
    let controller_log = operator.log_text();
    assert!(
        controller_log.lines().count() >= 3,
        "controller log too short to mean anything:\n{controller_log}"
    );
    assert!(
        controller_log.contains("creating the worker Job"),
        "{controller_log}"
    );
    assert_no_credentials("the controller log", &controller_log);
    let worker_logs = runner.worker_logs();
    assert!(
        worker_logs.len() >= 2,
        "expected a log per shard: {worker_logs:?}"
    );
    for (file, text) in &worker_logs {
        assert!(!text.trim().is_empty(), "{file} is empty");
        assert_no_credentials(file, text);
    }
    let dr_json = serde_json::to_string(&api.get("canary").await.unwrap()).unwrap();
    assert!(dr_json.contains("\"shards\""), "{dr_json}");
    assert_no_credentials("the DigitalRecovery (spec and status)", &dr_json);
    let events = Api::<Event>::namespaced(admin.clone(), "tenant-a")
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(!events.items.is_empty(), "no Events to check");
    assert_no_credentials("the Events", &serde_json::to_string(&events.items).unwrap());
    let job = Api::<Job>::namespaced(admin.clone(), "tenant-a")
        .get("canary")
        .await
        .unwrap();
    let job_json = serde_json::to_string(&job).unwrap();
    assert!(job_json.contains("secretKeyRef"), "{job_json}");
    assert_no_credentials("the worker Job", &job_json);
    let reports = Api::<ConfigMap>::namespaced(admin.clone(), "tenant-a")
        .list(&ListParams::default().labels("recovery.cxops.io/recovery=canary"))
        .await
        .unwrap();
    assert!(!reports.items.is_empty(), "no report ConfigMaps");
    let mut report_lines = 0;
    for cm in &reports.items {
        assert_no_credentials("a report ConfigMap", &serde_json::to_string(cm).unwrap());
        for (key, data) in cm.binary_data.iter().flatten() {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&data.0[..])
                .read_to_string(&mut text)
                .expect("gzip report");
            report_lines += text.lines().count();
            assert_no_credentials(&format!("report {key}"), &text);
        }
    }
    assert!(report_lines > 0, "the reports hold no outcome");

    // --- The alert rules and the dashboard name metrics the controller exports ------------
    let mut scrape = operator.scrape().await;
    // Families without a sample yet are not in a scrape; add every registered family.
    let registered = digital_recovery::controller::metrics::Metrics::default();
    use digital_recovery::controller::metrics::{
        ErrorLabels, PhaseLabels, RecoveryLabels, ScheduleLabels, TenantLabels,
    };
    registered
        .failures
        .get_or_create(&ErrorLabels { error: "x".into() })
        .inc();
    registered
        .recoveries
        .get_or_create(&PhaseLabels { phase: "x".into() })
        .set(1);
    let tenant = TenantLabels { tenant: "x".into() };
    registered.recovered.get_or_create(&tenant).inc();
    registered.last_success.get_or_create(&tenant).set(1.0);
    registered.gave_up.get_or_create(&tenant).inc();
    // Per-object gauges have series only while their objects exist (tests/gitops_health.rs).
    let schedule = ScheduleLabels {
        namespace: "x".into(),
        schedule: "x".into(),
    };
    for family in [
        &registered.schedule_watermark,
        &registered.schedule_lag,
        &registered.schedule_max_lag,
    ] {
        family.get_or_create(&schedule).set(1.0);
    }
    registered
        .recovery_deadline
        .get_or_create(&RecoveryLabels {
            namespace: "x".into(),
            recovery: "x".into(),
        })
        .set(1.0);
    scrape.push_str(&registered.encode().expect("encode metrics"));
    let all_on = render(
        scratch.path(),
        RELEASE,
        SYSTEM_NS,
        &[
            "prometheusRule.enabled=true",
            "grafanaDashboard.enabled=true",
        ],
    );
    let all_docs = documents(&all_on);
    let text = serde_json::to_string(&all_docs).unwrap();
    let mut named: Vec<String> = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("digital_recovery_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        named.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    named.sort();
    named.dedup();
    let exported = |name: &str| {
        let base = name.strip_suffix("_total").unwrap_or(name);
        scrape.contains(&format!("# TYPE {base} "))
            || scrape
                .lines()
                .any(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{")))
    };
    let missing: Vec<&str> = named
        .iter()
        .map(String::as_str)
        .filter(|n| !exported(n))
        .collect();
    // Every metric the chart names must be exported; anything missing is a typo.
    assert!(
        missing.is_empty(),
        "metrics named by the chart but not exported: {missing:?}\n{scrape}"
    );
    assert!(named.len() > 6, "{named:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_namespaces_confines_the_controller_to_those_namespaces() {
    let cp = ControlPlane::start().await;
    let admin = cp.client().await;
    support::crds::install(&admin).await;
    for ns in [SYSTEM_NS, "tenant-a", "tenant-b"] {
        namespace(&admin, ns).await;
    }
    let scratch = tempfile::tempdir().unwrap();
    kubectl_apply(
        &cp,
        &render(
            scratch.path(),
            RELEASE,
            SYSTEM_NS,
            &["watchNamespaces[0]=tenant-a"],
        ),
    );
    let ctl = (SYSTEM_NS, CONTROLLER_SA);
    for (verb, group, resource) in [
        ("list", "recovery.cxops.io", "digitalrecoveries"),
        ("watch", "batch", "jobs"),
        ("create", "rbac.authorization.k8s.io", "rolebindings"),
        ("list", "", "events"),
        ("list", "", "pods"),
    ] {
        assert!(
            can(&admin, ctl, verb, group, resource, "tenant-a", None).await,
            "cannot {verb} {resource} in tenant-a"
        );
        assert!(
            !can(&admin, ctl, verb, group, resource, "tenant-b", None).await,
            "may {verb} {resource} in tenant-b"
        );
        assert!(
            !can(&admin, ctl, verb, group, resource, "", None).await,
            "may {verb} {resource} cluster-wide"
        );
    }
    assert!(!can(&admin, ctl, "get", "", "secrets", "tenant-a", None).await);
    assert!(
        can(
            &admin,
            ctl,
            "get",
            "coordination.k8s.io",
            "leases",
            SYSTEM_NS,
            Some("ops-digital-recovery-controller")
        )
        .await
    );
}

//! The Helm chart: `helm lint`, its CRDs identical to the repo's, its schema rejecting bad values
//! with a clear message, and every rendering (defaults, each optional feature on) accepted by a
//! real kube-apiserver in a server-side dry run; its PrometheusRule through `promtool check rules`
//! and `promtool test rules`. helm is built from its Go module (tests/envtest/build-helm.sh),
//! promtool taken from Debian's `prometheus` package (tests/envtest/promtool.sh).

mod support;

use std::{io::Write, process::Stdio};

use serde_json::Value;
use support::{
    ControlPlane,
    helm::{self, chart_dir, documents, find, render},
};

/// Every optional switch on.
const ALL_ON: &[&str] = &[
    "serviceMonitor.enabled=true",
    "prometheusRule.enabled=true",
    "grafanaDashboard.enabled=true",
    "networkPolicy.enabled=true",
    "networkPolicy.apiServerCIDRs[0]=10.0.0.1/32",
    "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring",
    "podDisruptionBudget.minAvailable=1",
    "podDisruptionBudget.maxUnavailable=null",
    "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "imagePullSecrets[0].name=registry",
    "worker.captureWriters=3",
];

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn chart_crds_are_the_repos_crds() {
    // Helm installs crds/ verbatim and never upgrades them; the chart must ship exactly what
    // `digital-recovery crd` generates (tests/crds_up_to_date.rs ties crds/ to the code).
    let repo = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/digital-recovery.yaml"),
    )
    .expect("repo CRDs");
    let chart = std::fs::read_to_string(chart_dir().join("crds/digital-recovery.yaml"))
        .expect("chart CRDs");
    assert!(
        repo == chart,
        "charts/digital-recovery/crds/digital-recovery.yaml differs from crds/digital-recovery.yaml; \
         run `make chart-crds` (cp crds/*.yaml charts/digital-recovery/crds/)"
    );
}

#[test]
fn helm_lint_is_clean_for_defaults_and_every_feature() {
    let dir = scratch();
    for set in [
        &[][..],
        ALL_ON,
        &["watchNamespaces[0]=tenant-a", "watchNamespaces[1]=tenant-b"],
    ] {
        let mut cmd = helm::helm(dir.path());
        cmd.args(["lint", "--strict"]).arg(chart_dir());
        for s in set {
            cmd.args(["--set", s]);
        }
        let out = cmd.output().expect("helm lint");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "helm lint {set:?}:\n{text}");
        assert!(
            !text.contains("[WARNING]") && !text.contains("[ERROR]"),
            "helm lint {set:?} is not clean:\n{text}"
        );
        assert!(
            text.contains("1 chart(s) linted, 0 chart(s) failed"),
            "{text}"
        );
    }
}

#[test]
fn the_schema_rejects_bad_values_with_a_clear_message() {
    let dir = scratch();
    // (values, what helm must say)
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["controller.replicas=0"],
            &["/controller/replicas", "minimum: got 0, want 1"],
        ),
        (
            &["controller.replica=2"],
            &["/controller", "additional properties 'replica' not allowed"],
        ),
        (
            &["worker.captureWriters=0"],
            &["/worker/captureWriters", "minimum: got 0, want 1"],
        ),
        (
            &["controller.logFormat=xml"],
            &["/controller/logFormat", "'json', 'text'"],
        ),
        (
            &["securityContext.readOnlyRootFilesystem=false"],
            &["/securityContext/readOnlyRootFilesystem", "must be true"],
        ),
        (
            &["securityContext.capabilities.add[0]=NET_ADMIN"],
            &["/securityContext/capabilities/add"],
        ),
        (
            &["podSecurityContext.runAsUser=0"],
            &["/podSecurityContext/runAsUser", "minimum"],
        ),
        (
            &["watchNamespaces[0]=Bad_NS"],
            &["/watchNamespaces/0", "'Bad_NS' does not match pattern"],
        ),
        (
            &["watchNamespaces=tenant-a"],
            &["/watchNamespaces", "want array"],
        ),
        (
            &["image.digest=sha256:xyz"],
            &["/image/digest", "does not match pattern"],
        ),
        (
            &["image.pullPolicy=Sometimes"],
            &["/image/pullPolicy", "'Always', 'IfNotPresent', 'Never'"],
        ),
        (
            &["serviceMonitor.interval=30 seconds"],
            &["/serviceMonitor/interval", "does not match pattern"],
        ),
        (
            &["prometheusRule.noSuccessHours=0"],
            &["/prometheusRule/noSuccessHours", "exclusiveMinimum"],
        ),
        // Rules the schema cannot say clearly are template checks with their own message.
        (
            &["podDisruptionBudget.minAvailable=1"],
            &["set only one of minAvailable and maxUnavailable"],
        ),
        (
            &[
                "serviceMonitor.enabled=true",
                "metrics.service.enabled=false",
            ],
            &["serviceMonitor.enabled needs metrics.service.enabled"],
        ),
    ];
    for (set, needles) in cases {
        let out = helm::template(dir.path(), "r", "dr-system", set);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{set:?} was accepted");
        for needle in *needles {
            assert!(
                err.contains(needle),
                "{set:?}: expected {needle:?} in:\n{err}"
            );
        }
    }
    // And the defaults plus a good override pass the same schema.
    let out = helm::template(dir.path(), "r", "dr-system", &["controller.replicas=3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_rendered_deployment_is_locked_down_and_wired_to_the_controller_flags() {
    let dir = scratch();
    let docs = documents(&render(
        dir.path(),
        "ops",
        "dr-system",
        &["watchNamespaces[0]=tenant-a", "watchNamespaces[1]=tenant-b"],
    ));
    let deploy = find(&docs, "Deployment", "ops-digital-recovery-controller");
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(
        c["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    assert!(c["resources"]["requests"]["memory"].is_string());
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(&args[..3], ["controller", "--log-format", "json"]);
    let joined = args.join(" ");
    assert!(
        joined.contains("--namespace tenant-a --namespace tenant-b"),
        "{joined}"
    );
    assert!(
        joined.contains("--lease-name ops-digital-recovery-controller"),
        "{joined}"
    );
    let env: Vec<(&str, &str)> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?,
                e["valueFrom"]["fieldRef"]["fieldPath"].as_str()?,
            ))
        })
        .collect();
    assert!(env.contains(&("POD_NAME", "metadata.name")), "{env:?}");
    assert!(
        env.contains(&("POD_NAMESPACE", "metadata.namespace")),
        "{env:?}"
    );
    // The binary accepts exactly these flags (a renamed flag would crash-loop the pod).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_digital-recovery"))
        .args(&args)
        .arg("--help")
        .output()
        .expect("run the binary");
    assert!(
        out.status.success(),
        "the binary rejects the chart's args: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Worker pods pull as the controller does: the chart's pull policy and pull Secrets reach
    // the controller as flags (and the binary accepts them).
    assert!(
        joined.contains("--worker-image-pull-policy IfNotPresent"),
        "{joined}"
    );
    assert!(!joined.contains("--worker-image-pull-secret"), "{joined}");
    // The cap on a worker pod's concurrent Capture writers reaches the controller, which passes
    // it to every worker.
    assert!(joined.contains("--worker-capture-writers 8"), "{joined}");
    // The worker pods' resources reach the controller as one JSON flag.
    let resources = args
        .iter()
        .position(|a| *a == "--worker-resources")
        .and_then(|i| args.get(i + 1))
        .unwrap_or_else(|| panic!("no --worker-resources: {joined}"));
    let resources: Value = serde_json::from_str(resources).expect("JSON resources");
    assert_eq!(
        resources,
        serde_json::json!({"requests": {"cpu": "100m", "memory": "64Mi"},
                           "limits": {"memory": "512Mi"}})
    );
    let all_on = documents(&render(dir.path(), "ops", "dr-system", ALL_ON));
    let all_on_args: Vec<&str> =
        find(&all_on, "Deployment", "ops-digital-recovery-controller")["spec"]["template"]["spec"]
            ["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
    assert!(
        all_on_args.join(" ").contains(
            "--worker-image-pull-policy IfNotPresent --worker-image-pull-secret registry"
        ),
        "{all_on_args:?}"
    );
    assert!(
        all_on_args.join(" ").contains("--worker-capture-writers 3"),
        "{all_on_args:?}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_digital-recovery"))
        .args(&all_on_args)
        .arg("--help")
        .output()
        .expect("run the binary");
    assert!(
        out.status.success(),
        "the binary rejects the chart's args: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Single-tenant: Roles in the watched namespaces, no ClusterRole.
    assert!(!docs.iter().any(|d| d["kind"] == "ClusterRole"));
    for ns in ["tenant-a", "tenant-b"] {
        assert!(
            docs.iter()
                .any(|d| d["kind"] == "Role" && d["metadata"]["namespace"] == ns)
        );
    }
    // No rendering, with any switch, mentions Secrets in RBAC.
    let all = documents(&render(dir.path(), "ops", "dr-system", ALL_ON));
    for d in all.iter().chain(docs.iter()) {
        if d["kind"].as_str().is_some_and(|k| k.ends_with("Role")) {
            let rules = d["rules"].to_string();
            assert!(
                !rules.contains("secrets") && !rules.contains("\"*\""),
                "{rules}"
            );
        }
    }
    // The dashboard ConfigMap carries valid JSON.
    let dash = find(&all, "ConfigMap", "ops-digital-recovery-dashboard");
    let json: Value = serde_json::from_str(dash["data"]["digital-recovery.json"].as_str().unwrap())
        .expect("dashboard JSON");
    assert!(json["panels"].as_array().is_some_and(|p| p.len() >= 4));
}

/// Minimal CRDs for the prometheus-operator kinds the chart renders (a bare apiserver lacks them):
/// the real group, versions, kinds and names, with an open schema.
const MONITORING_CRDS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: servicemonitors.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: prometheusrules.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: PrometheusRule, listKind: PrometheusRuleList, plural: prometheusrules, singular: prometheusrule}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#;

fn kubectl_stdin(cp: &ControlPlane, args: &[&str], input: &str) -> (bool, String) {
    let mut child = cp
        .kubectl()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .expect("stdin");
    let out = child.wait_with_output().expect("kubectl");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rendering_passes_a_server_side_dry_run() {
    let cp = ControlPlane::start().await;
    let dir = scratch();
    // The chart's CRDs as helm would install them, and the monitoring CRDs.
    let crds = std::fs::read_to_string(chart_dir().join("crds/digital-recovery.yaml")).unwrap();
    for doc in [crds.as_str(), MONITORING_CRDS] {
        let (ok, out) = kubectl_stdin(&cp, &["apply", "--server-side", "-f", "-"], doc);
        assert!(ok, "{out}");
    }
    let (ok, out) = {
        let o = cp
            .kubectl()
            .args([
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd",
                "--all",
            ])
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    assert!(ok, "{out}");
    for ns in ["dr-system", "tenant-a", "tenant-b"] {
        let o = cp
            .kubectl()
            .args(["create", "namespace", ns])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let single_tenant = &["watchNamespaces[0]=tenant-a", "watchNamespaces[1]=tenant-b"][..];
    let mut everything = ALL_ON.to_vec();
    everything.extend_from_slice(single_tenant);
    for set in [&[][..], ALL_ON, single_tenant, &everything] {
        let manifests = render(dir.path(), "ops", "dr-system", set);
        let kinds: Vec<String> = documents(&manifests)
            .iter()
            .map(|d| d["kind"].as_str().unwrap_or_default().to_string())
            .collect();
        if set == ALL_ON {
            for kind in [
                "ServiceMonitor",
                "PrometheusRule",
                "NetworkPolicy",
                "ConfigMap",
                "PodDisruptionBudget",
            ] {
                assert!(
                    kinds.iter().any(|k| k == kind),
                    "{kind} not rendered: {kinds:?}"
                );
            }
        }
        let (ok, out) = kubectl_stdin(
            &cp,
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--field-manager=helm-test",
                "-f",
                "-",
            ],
            &manifests,
        );
        assert!(ok, "server-side dry run of {set:?} failed:\n{out}");
        // One line per object: nothing was skipped.
        let applied = out
            .lines()
            .filter(|l| l.contains("(server dry run)"))
            .count();
        assert_eq!(applied, kinds.len(), "{set:?}:\n{out}");
    }
    // The dry run is a real check: a broken manifest is refused.
    let bad = render(dir.path(), "ops", "dr-system", &[])
        .replace("maxUnavailable: 1", "maxUnavailable: -1");
    let (ok, out) = kubectl_stdin(
        &cp,
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        &bad,
    );
    assert!(!ok, "a negative maxUnavailable passed:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_pod_is_admitted_where_pod_security_is_restricted() {
    use support::pod_security::{admit_pod, restricted_namespace, unrestricted_pod_spec};
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    restricted_namespace(&client, "dr-system").await;
    // Enforcement is on: a pod without a security context is refused.
    let refused = admit_pod(&client, "dr-system", unrestricted_pod_spec()).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("violates PodSecurity")),
        "{refused:?}"
    );
    let dir = scratch();
    for set in [&[][..], ALL_ON] {
        let docs = documents(&render(dir.path(), "ops", "dr-system", set));
        let deploy = find(&docs, "Deployment", "ops-digital-recovery-controller");
        let spec = deploy["spec"]["template"]["spec"].clone();
        let admitted = admit_pod(&client, "dr-system", spec).await;
        assert!(
            admitted.is_ok(),
            "the controller pod ({set:?}) is refused: {admitted:?}"
        );
    }
}

/// The chart's PrometheusRule passes `promtool check rules`, and each alert fires (and only then)
/// on the series it is about in `promtool test rules`: one case per alert, with the labels and
/// annotations a receiver gets. promtool comes from the distribution's `prometheus` package
/// (tests/envtest/promtool.sh; DR_PROMTOOL_BIN=dir uses another).
#[test]
fn the_prometheus_rules_pass_promtool() {
    let promtool =
        support::control_plane::built_tools("DR_PROMTOOL_BIN", "tests/envtest/promtool.sh")
            .join("promtool");
    let dir = scratch();
    let docs = documents(&render(
        dir.path(),
        "digital-recovery",
        "dr-system",
        &["prometheusRule.enabled=true"],
    ));
    let rule = find(&docs, "PrometheusRule", "digital-recovery");
    let groups = &rule["spec"]["groups"];
    let rules_file = dir.path().join("rules.yaml");
    std::fs::write(
        &rules_file,
        serde_json::json!({ "groups": groups }).to_string(),
    )
    .expect("write rules");
    let check = std::process::Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&rules_file)
        .output()
        .expect("run promtool");
    let said = String::from_utf8_lossy(&check.stdout).into_owned()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "promtool check rules: {said}");
    assert!(said.contains("SUCCESS: 7 rules found"), "{said}");

    // The annotations of `alert`, `{{ $labels.schedule }}` (or recovery, tenant) expanded.
    let annotations = |alert: &str, schedule: &str| -> Value {
        let rules = groups[0]["rules"].as_array().expect("rules");
        let rule = rules
            .iter()
            .find(|r| r["alert"] == alert)
            .unwrap_or_else(|| panic!("no alert {alert}"));
        let mut a = rule["annotations"].clone();
        if let Some(map) = a.as_object_mut() {
            for v in map.values_mut() {
                if let Some(s) = v.as_str() {
                    let mut s = s.to_string();
                    for label in ["schedule", "recovery", "tenant"] {
                        s = s.replace(&format!("{{{{ $labels.{label} }}}}"), schedule);
                    }
                    *v = Value::from(s);
                }
            }
        }
        a
    };
    let sel = r#"namespace="dr-system",service="digital-recovery-metrics""#;
    // One case per alert: the series that make it fire, an evaluation after its `for`, the
    // alert expected with its labels and annotations; and a quiet case where it must not fire.
    let case = |series: Vec<(String, &str)>, at: &str, alert: &str, fired: Value| {
        serde_json::json!({
            "interval": "1m",
            "input_series": series.into_iter()
                .map(|(s, v)| serde_json::json!({"series": s, "values": v}))
                .collect::<Vec<_>>(),
            "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": fired}]
        })
    };
    let warning = |extra: Value, alert: &str, schedule: &str| {
        let mut labels = serde_json::json!({"severity": "warning"});
        if let (Some(l), Some(e)) = (labels.as_object_mut(), extra.as_object()) {
            l.extend(e.clone());
        }
        serde_json::json!([{"exp_labels": labels, "exp_annotations": annotations(alert, schedule)}])
    };
    let none = serde_json::json!([]);
    let tests = vec![
        // No replica reports itself leader for longer than controllerDownFor (5m).
        case(
            vec![(
                format!("digital_recovery_leader{{{sel},pod=\"a\"}}"),
                "0x20",
            )],
            "10m",
            "DigitalRecoveryControllerDown",
            serde_json::json!([{"exp_labels": {"severity": "critical"},
                "exp_annotations": annotations("DigitalRecoveryControllerDown", "")}]),
        ),
        case(
            vec![(
                format!("digital_recovery_leader{{{sel},pod=\"a\"}}"),
                "1x20",
            )],
            "10m",
            "DigitalRecoveryControllerDown",
            none.clone(),
        ),
        // A recovery ended Failed within the last hour.
        case(
            vec![(
                format!("digital_recovery_recoveries{{{sel},phase=\"Failed\"}}"),
                "0x60 1x30",
            )],
            "70m",
            "DigitalRecoveryFailed",
            warning(serde_json::json!({}), "DigitalRecoveryFailed", ""),
        ),
        case(
            vec![(
                format!("digital_recovery_recoveries{{{sel},phase=\"Failed\"}}"),
                "1x90",
            )],
            "70m",
            "DigitalRecoveryFailed",
            none.clone(),
        ),
        // Reconciles failing for more than 30 minutes.
        case(
            vec![(
                format!("digital_recovery_reconcile_failures_total{{{sel},error=\"Kube\"}}"),
                "0+1x60",
            )],
            "50m",
            "DigitalRecoveryReconcileErrors",
            warning(serde_json::json!({}), "DigitalRecoveryReconcileErrors", ""),
        ),
        case(
            vec![(
                format!("digital_recovery_reconcile_failures_total{{{sel},error=\"Kube\"}}"),
                "5x60",
            )],
            "50m",
            "DigitalRecoveryReconcileErrors",
            none.clone(),
        ),
        // A schedule whose last successful window ended at 0 (Unix time): at 27 h it is more than
        // noSuccessHours (26) old, for longer than 15 minutes.
        case(
            vec![(
                format!(
                    "digital_recovery_schedule_watermark_timestamp_seconds{{{sel},exported_namespace=\"tenant-a\",schedule=\"nightly\"}}"
                ),
                "0x1700",
            )],
            "27h",
            "DigitalRecoveryScheduleNoRecentSuccess",
            warning(
                serde_json::json!({"exported_namespace": "tenant-a", "schedule": "nightly"}),
                "DigitalRecoveryScheduleNoRecentSuccess",
                "nightly",
            ),
        ),
        case(
            vec![(
                format!(
                    "digital_recovery_schedule_watermark_timestamp_seconds{{{sel},exported_namespace=\"tenant-a\",schedule=\"nightly\"}}"
                ),
                "0+60x1700",
            )],
            "27h",
            "DigitalRecoveryScheduleNoRecentSuccess",
            none.clone(),
        ),
        // A schedule whose lag grows past its limit (7200 s) at 60 min, for longer than 15 min;
        // and one whose lag stays within it, and one with no limit (suspended).
        case(
            vec![
                (
                    format!(
                        "digital_recovery_schedule_watermark_lag_seconds{{{sel},exported_namespace=\"tenant-a\",schedule=\"hourly\"}}"
                    ),
                    "3600+60x120",
                ),
                (
                    format!(
                        "digital_recovery_schedule_watermark_max_lag_seconds{{{sel},exported_namespace=\"tenant-a\",schedule=\"hourly\"}}"
                    ),
                    "7200x120",
                ),
            ],
            "80m",
            "DigitalRecoveryScheduleBehind",
            warning(
                serde_json::json!({"exported_namespace": "tenant-a", "schedule": "hourly"}),
                "DigitalRecoveryScheduleBehind",
                "hourly",
            ),
        ),
        case(
            vec![
                (
                    format!(
                        "digital_recovery_schedule_watermark_lag_seconds{{{sel},exported_namespace=\"tenant-a\",schedule=\"hourly\"}}"
                    ),
                    "3600x120",
                ),
                (
                    format!(
                        "digital_recovery_schedule_watermark_max_lag_seconds{{{sel},exported_namespace=\"tenant-a\",schedule=\"hourly\"}}"
                    ),
                    "7200x120",
                ),
                (
                    format!(
                        "digital_recovery_schedule_watermark_lag_seconds{{{sel},exported_namespace=\"tenant-a\",schedule=\"paused\"}}"
                    ),
                    "90000x120",
                ),
            ],
            "80m",
            "DigitalRecoveryScheduleBehind",
            none.clone(),
        ),
        // A recovery whose deadline (Unix time 600 s) passed 30 minutes before the evaluation;
        // and one whose deadline is still ahead.
        case(
            vec![(
                format!(
                    "digital_recovery_recovery_deadline_timestamp_seconds{{{sel},exported_namespace=\"tenant-a\",recovery=\"stuck\"}}"
                ),
                "600x60",
            )],
            "40m",
            "DigitalRecoveryRunPastDeadline",
            warning(
                serde_json::json!({"exported_namespace": "tenant-a", "recovery": "stuck"}),
                "DigitalRecoveryRunPastDeadline",
                "stuck",
            ),
        ),
        case(
            vec![(
                format!(
                    "digital_recovery_recovery_deadline_timestamp_seconds{{{sel},exported_namespace=\"tenant-a\",recovery=\"busy\"}}"
                ),
                "7200x60",
            )],
            "40m",
            "DigitalRecoveryRunPastDeadline",
            none.clone(),
        ),
        // A tenant's gave-up counter rises; another's stays flat.
        case(
            vec![
                (
                    format!(
                        "digital_recovery_conversations_gave_up_total{{{sel},tenant=\"acme\"}}"
                    ),
                    "0x30 3x30",
                ),
                (
                    format!(
                        "digital_recovery_conversations_gave_up_total{{{sel},tenant=\"calm\"}}"
                    ),
                    "5x60",
                ),
            ],
            "45m",
            "DigitalRecoveryConversationsGaveUp",
            warning(
                serde_json::json!({"tenant": "acme"}),
                "DigitalRecoveryConversationsGaveUp",
                "acme",
            ),
        ),
        case(
            vec![(
                format!("digital_recovery_conversations_gave_up_total{{{sel},tenant=\"calm\"}}"),
                "5x60",
            )],
            "45m",
            "DigitalRecoveryConversationsGaveUp",
            none,
        ),
    ];
    let test_file = dir.path().join("tests.yaml");
    std::fs::write(
        &test_file,
        serde_json::json!({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests})
            .to_string(),
    )
    .expect("write tests");
    let run = std::process::Command::new(&promtool)
        .args(["test", "rules"])
        .arg(&test_file)
        .current_dir(dir.path())
        .output()
        .expect("run promtool");
    assert!(
        run.status.success(),
        "promtool test rules: {}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

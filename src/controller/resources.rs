//! The objects the controller creates for a recovery, built without any API call: the worker
//! Job, and the worker's ServiceAccount, Role and RoleBinding of a namespace.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        batch::v1::{
            Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
            PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
        },
        core::v1::{
            Capabilities, Container, EnvVar, EnvVarSource, LocalObjectReference,
            PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile,
            SecretKeySelector, SecurityContext, ServiceAccount,
        },
        rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject},
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{ObjectMeta, OwnerReference},
    },
};
use kube::{Resource, ResourceExt};

use crate::api::DigitalRecovery;
use crate::contract::{
    self, ENV_CAPTURE_WRITERS, ENV_GENESYS_CLIENT_ID, ENV_GENESYS_CLIENT_SECRET,
    ENV_RECORDING_CLIENT_ID, ENV_RECORDING_CLIENT_SECRET, EXIT_CONFIG_ERROR, RECOVERY_LABEL,
    TERMINATION_GRACE_SECONDS, job_name, label_value,
};

/// Retries per shard for errors worth retrying (network, 5xx storms, a killed pod).
pub const BACKOFF_LIMIT_PER_INDEX: i32 = 3;
/// User and group the worker runs as (the image's `nonroot` user, as in the Dockerfile).
pub const WORKER_UID: i64 = 65532;

/// How the controller shapes worker Jobs.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// Container image holding the `digital-recovery` binary.
    pub image: String,
    /// imagePullPolicy of the worker container; None leaves Kubernetes' default.
    pub image_pull_policy: Option<String>,
    /// Secrets the kubelet pulls the worker image with. Pods can only use Secrets of their own
    /// namespace, so each namespace with recoveries needs Secrets of these names.
    pub image_pull_secrets: Vec<String>,
    /// activeDeadlineSeconds of every Job.
    pub deadline_seconds: i64,
    /// Requests and limits of every worker container (a recovery's `spec.worker.memoryLimit`
    /// replaces the memory ones).
    pub resources: ResourceRequirements,
    /// Most Capture writes one worker pod has in flight (chart `worker.captureWriters`),
    /// passed as [`ENV_CAPTURE_WRITERS`].
    pub capture_writers: u32,
}

/// The worker resources the chart sets by default: the worker's memory is bounded by its
/// shard's conversation count (see docs/benchmarks.md), so 512Mi holds a large shard.
pub fn default_worker_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), Quantity("100m".to_string())),
            ("memory".to_string(), Quantity("64Mi".to_string())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_string(),
            Quantity("512Mi".to_string()),
        )])),
        ..Default::default()
    }
}

/// The resources of `dr`'s worker container: the chart's, with the recovery's memory (if it
/// sets one) as both request and limit, so that the request never exceeds the limit.
fn worker_resources(dr: &DigitalRecovery, settings: &JobSettings) -> ResourceRequirements {
    let mut resources = settings.resources.clone();
    if let Some(memory) = dr.spec.worker.as_ref().and_then(|w| w.memory_limit.clone()) {
        for side in [&mut resources.requests, &mut resources.limits] {
            side.get_or_insert_with(BTreeMap::new)
                .insert("memory".to_string(), Quantity(memory.clone()));
        }
    }
    resources
}

/// Labels of everything made for `dr`.
pub fn labels(dr: &DigitalRecovery) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_string(),
            "digital-recovery".to_string(),
        ),
        (
            "app.kubernetes.io/component".to_string(),
            "worker".to_string(),
        ),
        (
            "app.kubernetes.io/managed-by".to_string(),
            contract::CONTROLLER_MANAGER.to_string(),
        ),
        (RECOVERY_LABEL.to_string(), label_value(&dr.name_any())),
    ])
}

/// `dr` as the controlling owner of what is made for it: deleting `dr` deletes them, and with
/// `blockOwnerDeletion` a foreground deletion of `dr` waits for them.
pub fn controller_owner(dr: &DigitalRecovery) -> Option<OwnerReference> {
    let mut owner = dr.controller_owner_ref(&())?;
    owner.block_owner_deletion = Some(true);
    Some(owner)
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: key.to_string(),
                // Optional, so a missing Secret or key does not leave the pod stuck in
                // CreateContainerConfigError: the worker starts, sees the variable unset and
                // reports which Secret and key is missing in its shard status.
                optional: Some(true),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn plain_env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        ..Default::default()
    }
}

/// The Indexed Job running one worker per shard of `dr`. None when `dr` has no namespace or uid
/// (never the case for an object read from the apiserver).
pub fn worker_job(dr: &DigitalRecovery, settings: &JobSettings) -> Option<Job> {
    let owner = controller_owner(dr)?;
    let namespace = dr.namespace()?;
    let name = dr.name_any();
    let parallelism = i32::try_from(dr.spec.shards()).ok()?;
    let labels = labels(dr);
    let container = Container {
        name: "worker".to_string(),
        image: Some(settings.image.clone()),
        image_pull_policy: settings.image_pull_policy.clone(),
        args: Some(vec![
            "worker".to_string(),
            "--namespace".to_string(),
            namespace.clone(),
            "--name".to_string(),
            name.clone(),
        ]),
        env: Some(vec![
            plain_env("DR_LOG_FORMAT", "json"),
            plain_env(crate::contract::ENV_SHARDS, &parallelism.to_string()),
            plain_env(ENV_CAPTURE_WRITERS, &settings.capture_writers.to_string()),
            secret_env(
                ENV_GENESYS_CLIENT_ID,
                &dr.spec.genesys.credentials_secret,
                "clientId",
            ),
            secret_env(
                ENV_GENESYS_CLIENT_SECRET,
                &dr.spec.genesys.credentials_secret,
                "clientSecret",
            ),
            secret_env(
                ENV_RECORDING_CLIENT_ID,
                &dr.spec.recording_side.credentials_secret,
                "clientId",
            ),
            secret_env(
                ENV_RECORDING_CLIENT_SECRET,
                &dr.spec.recording_side.credentials_secret,
                "clientSecret",
            ),
        ]),
        resources: Some(worker_resources(dr, settings)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(WORKER_UID),
            run_as_group: Some(WORKER_UID),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_string(),
                localhost_profile: None,
            }),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_string()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    Some(Job {
        metadata: ObjectMeta {
            name: Some(job_name(&name)),
            namespace: Some(namespace),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".to_string()),
            completions: Some(parallelism),
            parallelism: Some(parallelism),
            backoff_limit_per_index: Some(BACKOFF_LIMIT_PER_INDEX),
            active_deadline_seconds: Some(settings.deadline_seconds),
            pod_failure_policy: Some(PodFailurePolicy {
                rules: vec![
                    // First, as the first matching rule decides: a pod evicted, preempted or
                    // drained did not fail, so it must not use up the shard's retries.
                    PodFailurePolicyRule {
                        action: "Ignore".to_string(),
                        on_exit_codes: None,
                        on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                            type_: "DisruptionTarget".to_string(),
                            status: Some("True".to_string()),
                        }]),
                    },
                    PodFailurePolicyRule {
                        action: "FailIndex".to_string(),
                        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                            operator: "In".to_string(),
                            values: vec![EXIT_CONFIG_ERROR],
                            container_name: None,
                        }),
                        on_pod_conditions: None,
                    },
                ],
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(worker_account(dr)),
                    restart_policy: Some("Never".to_string()),
                    containers: vec![container],
                    image_pull_secrets: (!settings.image_pull_secrets.is_empty()).then(|| {
                        settings
                            .image_pull_secrets
                            .iter()
                            .map(|name| LocalObjectReference { name: name.clone() })
                            .collect()
                    }),
                    // Pod Security "restricted" (with the container's context above), so
                    // namespaces enforcing it admit the workers.
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(WORKER_UID),
                        run_as_group: Some(WORKER_UID),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_string(),
                            localhost_profile: None,
                        }),
                        ..Default::default()
                    }),
                    termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
                    enable_service_links: Some(false),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    })
}

/// The ServiceAccount (and Role, RoleBinding) name of `dr`'s workers.
pub fn worker_account(dr: &DigitalRecovery) -> String {
    contract::worker_account(&dr.name_any())
}

fn worker_meta(dr: &DigitalRecovery) -> Option<ObjectMeta> {
    Some(ObjectMeta {
        name: Some(worker_account(dr)),
        namespace: dr.namespace(),
        // Owned by the recovery: deleting it removes its worker identity too.
        owner_references: Some(vec![controller_owner(dr)?]),
        labels: Some(labels(dr)),
        ..Default::default()
    })
}

/// The ServiceAccount of `dr`'s workers.
pub fn worker_service_account(dr: &DigitalRecovery) -> Option<ServiceAccount> {
    Some(ServiceAccount {
        metadata: worker_meta(dr)?,
        automount_service_account_token: Some(true),
        ..Default::default()
    })
}

/// What a worker may do, and nothing more: read its own recovery (and the one a re-drive's
/// `retryOf` names), patch its status (its own shard entry, by server-side apply), write its
/// report ConfigMaps and read ConfigMaps (a re-drive's id list, the report `retryOf` re-drives).
/// No Secrets: credentials reach the pod as Secret-backed env vars resolved by the kubelet.
pub fn worker_role(dr: &DigitalRecovery) -> Option<Role> {
    let own = vec![dr.name_any()];
    let readable: Vec<String> = own.iter().chain(dr.spec.retry_of.iter()).cloned().collect();
    let rule =
        |group: &str, resources: &[&str], verbs: &[&str], names: Option<Vec<String>>| PolicyRule {
            api_groups: Some(vec![group.to_string()]),
            resources: Some(resources.iter().map(|r| r.to_string()).collect()),
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            resource_names: names,
            ..Default::default()
        };
    Some(Role {
        metadata: worker_meta(dr)?,
        rules: Some(vec![
            rule(
                crate::api::GROUP,
                &["digitalrecoveries"],
                // watch: its own, for the org budget's new divisions (worker/share.rs).
                &["get", "watch"],
                Some(readable),
            ),
            rule(
                crate::api::GROUP,
                &["digitalrecoveries/status"],
                &["get", "patch"],
                Some(own),
            ),
            rule(
                "",
                &["configmaps"],
                &["get", "list", "create", "patch", "delete"],
                None,
            ),
        ]),
    })
}

/// Binds `dr`'s worker Role to its worker ServiceAccount.
pub fn worker_role_binding(dr: &DigitalRecovery) -> Option<RoleBinding> {
    let account = worker_account(dr);
    Some(RoleBinding {
        metadata: worker_meta(dr)?,
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_string()),
            kind: "Role".to_string(),
            name: account.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_string(),
            name: account,
            namespace: dr.namespace(),
            ..Default::default()
        }]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::EXIT_TERMINATED;
    use crate::contract::tests::is_label_value;
    use serde_json::json;

    fn recovery(name: &str) -> DigitalRecovery {
        serde_json::from_value(json!({
            "apiVersion": "recovery.cxops.io/v1alpha1",
            "kind": "DigitalRecovery",
            "metadata": {"name": name, "namespace": "tenant-acme", "uid": "0d6c3b1e-uid"},
            "spec": {
                "tenant": "acme",
                "genesys": {"region": "mypurecloud.ie", "credentialsSecret": "genesys-oauth"},
                "recordingSide": {"dasUrl": "https://das", "captureUrl": "https://capture",
                                  "credentialsSecret": "verint-api"},
                "window": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
                "mediaTypes": ["chat"],
                "parallelism": 64
            }
        }))
        .expect("recovery")
    }

    fn settings() -> JobSettings {
        JobSettings {
            image: "registry.example/digital-recovery:1.0".into(),
            image_pull_policy: Some("Always".into()),
            image_pull_secrets: vec!["registry-a".into(), "registry-b".into()],
            deadline_seconds: 3600,
            resources: default_worker_resources(),
            capture_writers: 3,
        }
    }

    #[test]
    fn the_chart_cap_on_capture_writers_reaches_every_worker() {
        let dr = recovery("r");
        let pod = worker_job(&dr, &settings())
            .and_then(|j| j.spec)
            .and_then(|s| s.template.spec)
            .expect("pod spec");
        let env = pod.containers[0].env.clone().unwrap_or_default();
        let writers = env
            .iter()
            .find(|e| e.name == ENV_CAPTURE_WRITERS)
            .and_then(|e| e.value.as_deref());
        assert_eq!(writers, Some("3"));
    }

    /// A DNS-1123 label: what a pod host name (and so an Indexed Job's name) must be.
    fn is_dns_label(s: &str) -> bool {
        (1..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    }

    /// A DNS-1123 subdomain: what most object names must be.
    fn is_dns_subdomain(s: &str) -> bool {
        s.len() <= 253 && s.split('.').all(is_dns_label)
    }

    /// A valid object name of exactly `len` characters, with dots and dashes in awkward places.
    fn name_of_length(len: usize) -> String {
        let mut name: String = "tenant-acme.recovery-2026-11-20.x"
            .chars()
            .cycle()
            .take(len)
            .collect();
        if name.ends_with(['-', '.']) {
            name.pop();
            name.push('z');
        }
        name
    }

    #[test]
    fn a_re_drive_worker_may_read_the_recovery_it_retries_and_no_other() {
        let mut dr = recovery("redo");
        dr.spec.retry_of = Some("last-night".into());
        let role = worker_role(&dr).expect("role");
        let get_recoveries = role
            .rules
            .iter()
            .flatten()
            .find(|r| r.resources.as_deref() == Some(&["digitalrecoveries".to_string()][..]))
            .expect("a rule for digitalrecoveries");
        assert_eq!(get_recoveries.verbs, vec!["get", "watch"]);
        assert_eq!(
            get_recoveries.resource_names,
            Some(vec!["redo".to_string(), "last-night".to_string()])
        );
        // Without retryOf, only its own.
        let role = worker_role(&recovery("plain")).expect("role");
        assert!(
            role.rules
                .iter()
                .flatten()
                .filter_map(|r| r.resource_names.as_ref())
                .all(|names| names == &vec!["plain".to_string()])
        );
    }

    #[test]
    fn every_derived_name_and_label_fits_its_limit() {
        for len in [1, 15, 52, 53, 60, 63, 64, 100, 200, 230, 236, 240, 253] {
            let name = name_of_length(len);
            assert!(is_dns_subdomain(&name), "bad test name {name}");
            let dr = recovery(&name);
            let job = worker_job(&dr, &settings()).expect("job");
            let job_name = job.metadata.name.clone().unwrap_or_default();
            // The apiserver refuses an Indexed Job whose last pod host name is not a DNS label.
            assert!(
                is_dns_label(&format!("{job_name}-63")),
                "{len}: job name {job_name}"
            );
            // Pod names `<job>-<index>-<5 random>` must fit too.
            assert!(job_name.len() + "-63-abcde".len() <= 63, "{job_name}");
            let account = worker_account(&dr);
            assert!(is_dns_subdomain(&account), "{len}: account {account}");
            let mut all_labels = vec![
                job.metadata.labels.clone().unwrap_or_default(),
                job.spec
                    .as_ref()
                    .and_then(|s| s.template.metadata.as_ref())
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default(),
            ];
            for meta in [
                worker_service_account(&dr).map(|o| o.metadata),
                worker_role(&dr).map(|o| o.metadata),
                worker_role_binding(&dr).map(|o| o.metadata),
            ] {
                let meta = meta.expect("worker identity object");
                assert_eq!(meta.name.as_deref(), Some(account.as_str()));
                all_labels.push(meta.labels.unwrap_or_default());
            }
            for labels in &all_labels {
                for (key, value) in labels {
                    assert!(is_label_value(value), "{len}: label {key}={value}");
                }
                // Every object of a recovery carries the same selector value the workers use.
                assert_eq!(labels.get(RECOVERY_LABEL), Some(&label_value(&name)));
            }
            // The Role still names the recovery itself (resourceNames are not labels).
            let role = worker_role(&dr).expect("role");
            assert!(
                role.rules
                    .iter()
                    .flatten()
                    .filter_map(|r| r.resource_names.as_ref())
                    .all(|names| names == &vec![name.clone()])
            );
            // Short, valid names stay as they are.
            if len <= 52 && !name.contains('.') {
                assert_eq!(job_name, name);
            }
            if len <= 63 {
                assert_eq!(label_value(&name), name);
            }
        }
    }

    #[test]
    fn the_worker_job_retries_terminated_pods_and_ignores_disruptions() {
        let job = worker_job(&recovery("acme-2026-11-20"), &settings()).expect("job");
        let spec = job.spec.expect("spec");
        let rules = spec.pod_failure_policy.expect("pod failure policy").rules;
        // The first matching rule decides, so the disruption rule comes first.
        assert_eq!(rules[0].action, "Ignore");
        let conditions = rules[0].on_pod_conditions.clone().unwrap_or_default();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].type_, "DisruptionTarget");
        assert_eq!(conditions[0].status.as_deref(), Some("True"));
        // Only the config-error exit code fails an index at once; SIGTERM's is retried.
        let final_codes: Vec<i32> = rules
            .iter()
            .filter(|r| r.action == "FailIndex" || r.action == "FailJob")
            .filter_map(|r| r.on_exit_codes.as_ref())
            .flat_map(|e| e.values.clone())
            .collect();
        assert_eq!(final_codes, vec![EXIT_CONFIG_ERROR]);
        assert!(!final_codes.contains(&EXIT_TERMINATED));
        assert_eq!(spec.backoff_limit_per_index, Some(BACKOFF_LIMIT_PER_INDEX));
        // The worker's wind-down and last status write fit the grace period.
        let pod = spec.template.spec.expect("pod spec");
        assert_eq!(
            pod.termination_grace_period_seconds,
            Some(TERMINATION_GRACE_SECONDS)
        );
        assert!(
            crate::worker::WIND_DOWN.as_secs() + 10 < TERMINATION_GRACE_SECONDS as u64,
            "wind-down too long for the grace period"
        );
    }

    #[test]
    fn owned_objects_name_the_recovery_as_blocking_controller() {
        let dr = recovery("acme-2026-11-20");
        let job = worker_job(&dr, &settings()).expect("job");
        let metas = [
            Some(job.metadata),
            worker_service_account(&dr).map(|o| o.metadata),
            worker_role(&dr).map(|o| o.metadata),
            worker_role_binding(&dr).map(|o| o.metadata),
        ];
        for meta in metas {
            let owners = meta.expect("object").owner_references.unwrap_or_default();
            assert_eq!(owners.len(), 1);
            let owner = &owners[0];
            assert_eq!(
                (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
                ("DigitalRecovery", "acme-2026-11-20", "0d6c3b1e-uid")
            );
            assert_eq!(owner.controller, Some(true));
            assert_eq!(owner.block_owner_deletion, Some(true));
        }
    }

    #[test]
    fn worker_pods_meet_the_restricted_pod_security_standard() {
        let job = worker_job(&recovery("acme-2026-11-20"), &settings()).expect("job");
        let pod = job.spec.expect("spec").template.spec.expect("pod spec");
        let pod_context = pod.security_context.clone().expect("pod security context");
        assert_eq!(pod_context.run_as_non_root, Some(true));
        assert_eq!(pod_context.run_as_user, Some(65532));
        assert_eq!(pod_context.run_as_group, Some(65532));
        assert_eq!(
            pod_context.seccomp_profile.map(|p| p.type_).as_deref(),
            Some("RuntimeDefault")
        );
        assert!(pod.volumes.is_none(), "restricted allows few volume types");
        for container in &pod.containers {
            let c = container
                .security_context
                .clone()
                .expect("container context");
            assert_eq!(c.allow_privilege_escalation, Some(false));
            assert_eq!(c.read_only_root_filesystem, Some(true));
            assert_eq!(c.run_as_non_root, Some(true));
            assert_ne!(c.run_as_user, Some(0));
            assert_eq!(
                c.capabilities.and_then(|caps| caps.drop),
                Some(vec!["ALL".to_string()])
            );
            assert!(c.privileged.is_none_or(|p| !p));
        }
    }

    #[test]
    fn worker_pods_pull_like_the_controller() {
        let dr = recovery("acme-2026-11-20");
        let job = worker_job(&dr, &settings()).expect("job");
        let pod = job.spec.expect("spec").template.spec.expect("pod spec");
        assert_eq!(
            pod.containers[0].image_pull_policy.as_deref(),
            Some("Always")
        );
        let secrets: Vec<String> = pod
            .image_pull_secrets
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(secrets, ["registry-a", "registry-b"]);
        // Unset: Kubernetes' defaults, and no empty list in the manifest.
        let plain = JobSettings {
            image_pull_policy: None,
            image_pull_secrets: Vec::new(),
            ..settings()
        };
        let pod = worker_job(&dr, &plain)
            .and_then(|j| j.spec)
            .and_then(|s| s.template.spec)
            .expect("pod spec");
        assert!(pod.containers[0].image_pull_policy.is_none());
        assert!(pod.image_pull_secrets.is_none());
    }

    #[test]
    fn a_recovery_sets_its_worker_memory_as_request_and_limit() {
        let container = |dr: &DigitalRecovery| {
            worker_job(dr, &settings())
                .and_then(|j| j.spec)
                .and_then(|s| s.template.spec)
                .map(|p| p.containers[0].clone())
                .expect("worker container")
        };
        let memory = |c: &Container, side: &str| {
            let r = c.resources.clone().unwrap_or_default();
            let map = if side == "limits" {
                r.limits
            } else {
                r.requests
            };
            map.and_then(|m| m.get("memory").map(|q| q.0.clone()))
        };
        let mut dr = recovery("memory");
        let chart = container(&dr);
        assert_eq!(memory(&chart, "requests").as_deref(), Some("64Mi"));
        assert_eq!(memory(&chart, "limits").as_deref(), Some("512Mi"));
        dr.spec.worker = Some(crate::api::WorkerSpec {
            memory_limit: Some("2Gi".into()),
        });
        let own = container(&dr);
        assert_eq!(memory(&own, "requests").as_deref(), Some("2Gi"));
        assert_eq!(memory(&own, "limits").as_deref(), Some("2Gi"));
        // The chart's other resources stay.
        let cpu = own
            .resources
            .and_then(|r| r.requests)
            .and_then(|m| m.get("cpu").cloned());
        assert_eq!(cpu, Some(Quantity("100m".into())));
    }
}

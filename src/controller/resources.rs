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
            Capabilities, Container, EnvVar, EnvVarSource, PodSpec, PodTemplateSpec,
            ResourceRequirements, SecretKeySelector, SecurityContext, ServiceAccount,
        },
        rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject},
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta},
};
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};

use crate::api::DigitalRecovery;

/// Name of the worker ServiceAccount, Role and RoleBinding in each namespace with recoveries.
pub const WORKER_ACCOUNT: &str = "digital-recovery-worker";
/// Label carrying the recovery's name on everything made for it.
pub const RECOVERY_LABEL: &str = "recovery.cxops.io/recovery";
/// Label carrying the shard index on report ConfigMaps.
pub const SHARD_LABEL: &str = "recovery.cxops.io/shard";
/// Exit code of a worker whose input is wrong (missing credentials, unusable spec): retrying
/// cannot help, so the Job's pod failure policy fails the index at once.
pub const EXIT_CONFIG_ERROR: i32 = 3;
/// Exit code of a worker stopped by SIGTERM (its pod deleted, evicted, drained or preempted):
/// 128 + 15, as a shell reports it. Retryable: the Job starts the shard again elsewhere. A user's
/// cancel never reaches the worker as a signal it must tell apart: cancelling deletes the Job,
/// after which nothing is retried.
pub const EXIT_TERMINATED: i32 = 143;
/// Retries per shard for errors worth retrying (network, 5xx storms, a killed pod).
pub const BACKOFF_LIMIT_PER_INDEX: i32 = 3;
/// Seconds a terminated worker pod gets before SIGKILL: the worker stops its pipeline within
/// [`crate::worker::WIND_DOWN`] and writes its progress so far.
pub const TERMINATION_GRACE_SECONDS: i64 = 30;

/// Env var names the worker reads its credentials from (Secret-backed, never logged).
pub const ENV_GENESYS_CLIENT_ID: &str = "DR_GENESYS_CLIENT_ID";
/// See [`ENV_GENESYS_CLIENT_ID`].
pub const ENV_GENESYS_CLIENT_SECRET: &str = "DR_GENESYS_CLIENT_SECRET";
/// See [`ENV_GENESYS_CLIENT_ID`].
pub const ENV_RECORDING_CLIENT_ID: &str = "DR_RECORDING_CLIENT_ID";
/// See [`ENV_GENESYS_CLIENT_ID`].
pub const ENV_RECORDING_CLIENT_SECRET: &str = "DR_RECORDING_CLIENT_SECRET";

/// How the controller shapes worker Jobs.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// Container image holding the `digital-recovery` binary.
    pub image: String,
    /// activeDeadlineSeconds of every Job.
    pub deadline_seconds: i64,
}

/// The name of a recovery's Job: the recovery's own name when it is short enough for the
/// `job-name` label and pod host names, else a prefix and a hash.
pub fn job_name(recovery: &str) -> String {
    const MAX: usize = 52; // 63 minus room for "-<index>-<random>" pod name suffixes.
    if recovery.len() <= MAX {
        return recovery.to_string();
    }
    let hash = hex::encode(&Sha256::digest(recovery.as_bytes())[..4]);
    let prefix: String = recovery.chars().take(MAX - 9).collect();
    format!("{}-{hash}", prefix.trim_end_matches(['-', '.']))
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
            "digital-recovery-controller".to_string(),
        ),
        (RECOVERY_LABEL.to_string(), label_value(&dr.name_any())),
    ])
}

/// A label value for a name (names can be longer than the 63 characters a label value holds).
pub fn label_value(name: &str) -> String {
    if name.len() <= 63 {
        name.to_string()
    } else {
        job_name(name)
    }
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
    let owner = dr.controller_owner_ref(&())?;
    let namespace = dr.namespace()?;
    let name = dr.name_any();
    let parallelism = i32::try_from(dr.spec.parallelism).ok()?;
    let labels = labels(dr);
    let container = Container {
        name: "worker".to_string(),
        image: Some(settings.image.clone()),
        args: Some(vec![
            "worker".to_string(),
            "--namespace".to_string(),
            namespace.clone(),
            "--name".to_string(),
            name.clone(),
        ]),
        env: Some(vec![
            plain_env("DR_LOG_FORMAT", "json"),
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
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("100m".to_string())),
                ("memory".to_string(), Quantity("64Mi".to_string())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_string(),
                Quantity("512Mi".to_string()),
            )])),
            ..Default::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
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
                    termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    })
}

/// The ServiceAccount (and Role, RoleBinding) name of one recovery's workers. One identity per
/// recovery lets its Role name that recovery alone (`resourceNames`), so a worker can read and
/// patch only its own DigitalRecovery.
pub fn worker_account(dr: &DigitalRecovery) -> String {
    let name = dr.name_any();
    let full = format!("{WORKER_ACCOUNT}-{name}");
    if full.len() <= 253 {
        return full;
    }
    // Object names are at most 253 characters: keep a readable prefix and a digest of the rest.
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    format!("{}-{}", &full[..230], &digest[..16])
}

fn worker_meta(dr: &DigitalRecovery) -> Option<ObjectMeta> {
    Some(ObjectMeta {
        name: Some(worker_account(dr)),
        namespace: dr.namespace(),
        // Owned by the recovery: deleting it removes its worker identity too.
        owner_references: Some(vec![dr.controller_owner_ref(&())?]),
        labels: Some(BTreeMap::from([
            (
                "app.kubernetes.io/name".to_string(),
                "digital-recovery".to_string(),
            ),
            (
                "app.kubernetes.io/component".to_string(),
                "worker".to_string(),
            ),
            (RECOVERY_LABEL.to_string(), dr.name_any()),
        ])),
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

/// What a worker may do, and nothing more: read its own recovery, patch its status (its own
/// shard entry, by server-side apply), and write its report ConfigMaps. No Secrets: credentials
/// reach the pod as Secret-backed env vars resolved by the kubelet.
pub fn worker_role(dr: &DigitalRecovery) -> Option<Role> {
    let own = vec![dr.name_any()];
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
                &["get"],
                Some(own.clone()),
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

/// The GVK fields an object needs in a server-side apply body.
pub fn apply_body<K: Resource<DynamicType = ()> + serde::Serialize>(
    obj: &K,
) -> Result<serde_json::Value, serde_json::Error> {
    let mut v = serde_json::to_value(obj)?;
    if let Some(map) = v.as_object_mut() {
        map.insert("apiVersion".into(), K::api_version(&()).into());
        map.insert("kind".into(), K::kind(&()).into());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
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
            deadline_seconds: 3600,
        }
    }

    #[test]
    fn long_names_get_a_short_stable_job_name() {
        assert_eq!(job_name("acme-2026-11-20"), "acme-2026-11-20");
        let long = "a".repeat(100);
        let name = job_name(&long);
        assert!(name.len() <= 52, "{name}");
        assert_eq!(name, job_name(&long));
        assert_ne!(name, job_name(&"b".repeat(100)));
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
}

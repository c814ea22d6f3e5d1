//! A re-drive's conversations, read once when a shard starts: the spec's ids, the ids listed
//! in a ConfigMap, or what the report of the recovery `retryOf` names carried over or failed.
//! Every shard reads the same set and takes its share ([`crate::pipeline::targets::share`]).

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client};
use tracing::{info, warn};
use uuid::Uuid;

use super::WorkerError;
use super::report::read_report;
use crate::api::{DigitalRecovery, Phase, Targets, ValidSpec};
use crate::kubeapi::is_transient;
use crate::pipeline::targets::{IdListError, parse_id_list, redrive_of};

/// Why a re-drive's conversations cannot be read. Never holds credentials.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    #[error(
        "ConfigMap {name:?} (spec.conversationIdsFrom) does not exist in this namespace; create it, one conversation id per line under key {key:?}, then re-create this DigitalRecovery"
    )]
    ConfigMapMissing { name: String, key: String },
    #[error(
        "ConfigMap {name:?} (spec.conversationIdsFrom) has no key {key:?} in data or binaryData"
    )]
    KeyMissing { name: String, key: String },
    #[error("ConfigMap {name:?} key {key:?}: {source}")]
    BadList {
        name: String,
        key: String,
        source: IdListError,
    },
    #[error("DigitalRecovery {0:?} (spec.retryOf) does not exist in this namespace")]
    RetryOfMissing(String),
    #[error("spec.retryOf names this recovery itself; name the recovery to re-drive")]
    RetryOfItself,
    #[error(
        "DigitalRecovery {name:?} (spec.retryOf) has not finished (phase {phase}); re-create this re-drive once it has"
    )]
    RetryOfNotFinished { name: String, phase: String },
    #[error(
        "DigitalRecovery {name:?} (spec.retryOf) is for tenant {theirs:?}, this one for {ours:?}"
    )]
    RetryOfOtherTenant {
        name: String,
        theirs: String,
        ours: String,
    },
    #[error(
        "DigitalRecovery {0:?} (spec.retryOf) left no report: none of its shards finished; recover its window again instead"
    )]
    ReportMissing(String),
    #[error("cannot read the report of {name:?}: {source}")]
    Report { name: String, source: WorkerError },
    #[error("Kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),
}

impl TargetsError {
    /// The shard status reason.
    pub fn reason(&self) -> &'static str {
        match self {
            TargetsError::ConfigMapMissing { .. } | TargetsError::KeyMissing { .. } => {
                "ConversationIdsNotFound"
            }
            TargetsError::BadList { .. } => "InvalidConversationIds",
            TargetsError::RetryOfMissing(_)
            | TargetsError::RetryOfItself
            | TargetsError::RetryOfOtherTenant { .. } => "InvalidRetryOf",
            TargetsError::RetryOfNotFinished { .. } => "RetryOfNotFinished",
            TargetsError::ReportMissing(_) => "ReportNotFound",
            TargetsError::Report { .. } | TargetsError::Kube(_) => "WorkerFailed",
        }
    }

    /// Whether a Job retry may help (the apiserver briefly away); everything else needs a
    /// person.
    pub fn is_retryable(&self) -> bool {
        match self {
            TargetsError::Kube(e) => is_transient(e),
            TargetsError::Report { source, .. } => {
                matches!(source, WorkerError::Kube(e) if is_transient(e))
            }
            _ => false,
        }
    }
}

/// The conversations the re-drive `spec` of recovery `own_name` names, sorted and without
/// duplicates; `None` for a whole-window recovery.
pub async fn resolve(
    client: &Client,
    namespace: &str,
    own_name: &str,
    spec: &ValidSpec,
) -> Result<Option<Vec<Uuid>>, TargetsError> {
    let ids = match spec.targets() {
        None => return Ok(None),
        Some(Targets::Ids(ids)) => ids.clone(),
        Some(Targets::ConfigMap { name, key }) => {
            from_config_map(client, namespace, name, key).await?
        }
        Some(Targets::RetryOf(name)) => {
            if name == own_name {
                return Err(TargetsError::RetryOfItself);
            }
            from_report(client, namespace, name, &spec.tenant).await?
        }
    };
    info!(
        conversations = ids.len(),
        "re-drive: the named conversations were read"
    );
    Ok(Some(ids))
}

async fn from_config_map(
    client: &Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Vec<Uuid>, TargetsError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let missing = || TargetsError::ConfigMapMissing {
        name: name.into(),
        key: key.into(),
    };
    let cm = api.get_opt(name).await?.ok_or_else(missing)?;
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(key).cloned())
        .or_else(|| {
            cm.binary_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        })
        .ok_or_else(|| TargetsError::KeyMissing {
            name: name.into(),
            key: key.into(),
        })?;
    parse_id_list(&text).map_err(|source| TargetsError::BadList {
        name: name.into(),
        key: key.into(),
        source,
    })
}

async fn from_report(
    client: &Client,
    namespace: &str,
    name: &str,
    tenant: &str,
) -> Result<Vec<Uuid>, TargetsError> {
    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), namespace);
    let earlier = api
        .get_opt(name)
        .await?
        .ok_or_else(|| TargetsError::RetryOfMissing(name.into()))?;
    if earlier.spec.tenant != tenant {
        return Err(TargetsError::RetryOfOtherTenant {
            name: name.into(),
            theirs: earlier.spec.tenant.clone(),
            ours: tenant.into(),
        });
    }
    let status = earlier.status.unwrap_or_default();
    let finished = matches!(
        status.phase,
        Some(Phase::Succeeded | Phase::PartiallySucceeded | Phase::Failed | Phase::Cancelled)
    );
    if !finished {
        return Err(TargetsError::RetryOfNotFinished {
            name: name.into(),
            phase: status
                .phase
                .map_or_else(|| "none yet".to_string(), |p| format!("{p:?}")),
        });
    }
    let without_report: Vec<u32> = status
        .shards
        .iter()
        .filter(|s| s.report_parts.is_none())
        .map(|s| s.index)
        .collect();
    if status.shards.iter().all(|s| s.report_parts.is_none()) {
        return Err(TargetsError::ReportMissing(name.into()));
    }
    if !without_report.is_empty() {
        warn!(
            recovery = name,
            shards = ?without_report,
            "shards of the re-driven recovery wrote no report; their conversations are not re-driven"
        );
    }
    let records = read_report(client, namespace, name)
        .await
        .map_err(|source| TargetsError::Report {
            name: name.into(),
            source,
        })?;
    Ok(redrive_of(records.iter().map(|(_, r)| r)))
}

//! How failed worker pods ended (OOMKilled, an exit code), read from their containers'
//! terminated state, and the words the recovery's status uses for them. The Job's own status
//! only counts failed pods; a shard killed by the kernel before it reported says nothing itself.

use std::collections::BTreeMap;

use k8s_openapi::api::{batch::v1::Job, core::v1::Pod};

/// How one failed worker pod ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerExit {
    /// The shard (the pod's completion index), when the pod says.
    pub shard: Option<u32>,
    /// The container runtime's reason (`OOMKilled`, `Error`, `ContainerCannotRun`, ...), or the
    /// pod's own (`Evicted`, `DeadlineExceeded`) when no container terminated.
    pub reason: String,
    pub exit_code: Option<i32>,
    /// What the runtime said besides (e.g. "container init was OOM-killed (memory limit too
    /// low?)" for a StartError), cut to a line.
    pub message: Option<String>,
}

/// Longest runtime message kept per failure.
const MESSAGE_CHARS: usize = 160;

/// The kernel's reason for a container killed over its memory limit.
pub const OOM_KILLED: &str = "OOMKilled";

/// How `pod` ended, if it failed.
pub fn exit_of(pod: &Pod) -> Option<WorkerExit> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Failed") {
        return None;
    }
    let shard = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("batch.kubernetes.io/job-completion-index"))
        .and_then(|i| i.parse().ok());
    let terminated = status
        .container_statuses
        .iter()
        .flatten()
        .find(|c| c.name == "worker")
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.as_ref());
    let (reason, exit_code, message) = match terminated {
        Some(t) => (t.reason.clone(), Some(t.exit_code), t.message.clone()),
        None => (status.reason.clone(), None, status.message.clone()),
    };
    Some(WorkerExit {
        shard,
        reason: reason.unwrap_or_else(|| "Failed".to_string()),
        exit_code,
        message: message
            .and_then(|m| {
                m.lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .map(str::to_string)
            })
            .map(|m| m.chars().take(MESSAGE_CHARS).collect()),
    })
}

/// The memory limit of `job`'s worker container, as written in its pod template.
fn memory_limit(job: &Job) -> Option<String> {
    job.spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == "worker")?
        .resources
        .as_ref()?
        .limits
        .as_ref()?
        .get("memory")
        .map(|q| q.0.clone())
}

/// One kind of failure: (shard, reason, exit code).
type Kind<'a> = (Option<u32>, &'a str, Option<i32>);

/// What the status says about `exits`: `OOMKilled` with advice when any worker ran out of
/// memory, else each shard's failures in short ("shard 1: Error (exit code 2) x3"). None when
/// no pod failed.
pub fn summarize(exits: &[WorkerExit], job: Option<&Job>) -> Option<(&'static str, String)> {
    if exits.is_empty() {
        return None;
    }
    // (shard, reason, exit code) -> (times, the first runtime message), in shard order.
    let mut counts: BTreeMap<Kind<'_>, (u32, Option<&str>)> = BTreeMap::new();
    for e in exits {
        let entry = counts
            .entry((e.shard, e.reason.as_str(), e.exit_code))
            .or_insert((0, e.message.as_deref()));
        entry.0 += 1;
    }
    let list = counts
        .iter()
        .map(|((shard, reason, code), (times, message))| {
            let shard = shard.map_or("a shard".to_string(), |s| format!("shard {s}"));
            let code = code.map_or(String::new(), |c| format!(" (exit code {c})"));
            let times = if *times > 1 {
                format!(" x{times}")
            } else {
                String::new()
            };
            let message = message.map_or(String::new(), |m| format!(" \"{m}\""));
            format!("{shard}: {reason}{code}{message}{times}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    if exits.iter().any(|e| e.reason == OOM_KILLED) {
        let limit = job
            .and_then(memory_limit)
            .map_or(String::new(), |l| format!(" of {l}"));
        Some((
            OOM_KILLED,
            format!(
                "worker pods ran out of memory (OOMKilled) over their limit{limit}: {list}; \
                 raise spec.worker.memoryLimit, or the chart's worker.resources.limits.memory"
            ),
        ))
    } else {
        Some(("WorkerFailed", format!("worker pods failed: {list}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(index: u32, phase: &str, terminated: Option<(&str, i32)>) -> Pod {
        let state = terminated.map_or(
            json!({"running": {}}),
            |(reason, code)| json!({"terminated": {"reason": reason, "exitCode": code}}),
        );
        serde_json::from_value(json!({
            "metadata": {"name": format!("w-{index}"),
                         "annotations": {"batch.kubernetes.io/job-completion-index": index.to_string()}},
            "status": {"phase": phase, "containerStatuses": [{
                "name": "worker", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": state}]}
        }))
        .expect("pod")
    }

    fn job(limit: &str) -> Job {
        serde_json::from_value(json!({
            "spec": {"template": {"spec": {"containers": [
                {"name": "worker", "resources": {"limits": {"memory": limit}}}]}}}
        }))
        .expect("job")
    }

    #[test]
    fn only_failed_pods_count() {
        assert_eq!(exit_of(&pod(0, "Running", None)), None);
        assert_eq!(exit_of(&pod(0, "Succeeded", Some(("Completed", 0)))), None);
        assert_eq!(
            exit_of(&pod(2, "Failed", Some(("OOMKilled", 137)))),
            Some(WorkerExit {
                shard: Some(2),
                reason: "OOMKilled".into(),
                exit_code: Some(137),
                message: None,
            })
        );
    }

    #[test]
    fn an_out_of_memory_worker_is_named_with_its_limit_and_the_fix() {
        let exits: Vec<_> = [
            pod(1, "Failed", Some(("OOMKilled", 137))),
            pod(1, "Failed", Some(("OOMKilled", 137))),
            pod(0, "Failed", Some(("Error", 1))),
        ]
        .iter()
        .filter_map(exit_of)
        .collect();
        let (reason, message) = summarize(&exits, Some(&job("24Mi"))).expect("summary");
        assert_eq!(reason, "OOMKilled");
        assert_eq!(
            message,
            "worker pods ran out of memory (OOMKilled) over their limit of 24Mi: \
             shard 0: Error (exit code 1), shard 1: OOMKilled (exit code 137) x2; \
             raise spec.worker.memoryLimit, or the chart's worker.resources.limits.memory"
        );
    }

    #[test]
    fn other_failures_are_listed_per_shard() {
        let exits = vec![
            WorkerExit {
                shard: None,
                reason: "Evicted".into(),
                exit_code: None,
                message: None,
            },
            WorkerExit {
                shard: Some(1),
                reason: "StartError".into(),
                exit_code: Some(128),
                message: Some("container init was OOM-killed (memory limit too low?)".into()),
            },
        ];
        assert_eq!(
            summarize(&exits, None),
            Some((
                "WorkerFailed",
                "worker pods failed: a shard: Evicted, shard 1: StartError (exit code 128) \
                 \"container init was OOM-killed (memory limit too low?)\""
                    .into()
            ))
        );
        assert_eq!(summarize(&[], None), None);
    }
}

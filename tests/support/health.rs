//! GitOps health as Flux and Argo CD read it: every version of the operator's objects recorded
//! from the apiserver, judged by tests/envtest/health (kstatus from `sigs.k8s.io/cli-utils`, and
//! the Argo CD Lua checks of docs/argocd/ run by gopher-lua).

use std::{
    collections::HashSet,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DynamicObject, ListParams},
};
use serde_json::Value;

use digital_recovery::api::{DigitalRecovery, DigitalRecoverySchedule};

pub const RECOVERY_CHECK: &str = "docs/argocd/digitalrecovery-health.lua";
pub const SCHEDULE_CHECK: &str = "docs/argocd/digitalrecoveryschedule-health.lua";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Every version of every object of both kinds in `namespaces`, as read from the apiserver
/// every 100 ms until dropped.
pub struct Recorder {
    seen: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    pub fn start(client: Client, namespaces: &[&str]) -> Recorder {
        let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
        let kinds = [
            ApiResource::erase::<DigitalRecovery>(&()),
            ApiResource::erase::<DigitalRecoverySchedule>(&()),
        ];
        let apis: Vec<(Api<DynamicObject>, ApiResource)> = namespaces
            .iter()
            .flat_map(|ns| {
                kinds
                    .iter()
                    .map(|ar| (Api::namespaced_with(client.clone(), ns, ar), ar.clone()))
            })
            .collect();
        let task = {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut versions: HashSet<String> = HashSet::new();
                loop {
                    for (api, ar) in &apis {
                        let Ok(list) = api.list(&ListParams::default()).await else {
                            continue;
                        };
                        for mut obj in list.items {
                            let version = format!(
                                "{}/{}",
                                obj.uid().unwrap_or_default(),
                                obj.resource_version().unwrap_or_default()
                            );
                            if versions.insert(version) {
                                obj.types = Some(kube::api::TypeMeta {
                                    api_version: ar.api_version.clone(),
                                    kind: ar.kind.clone(),
                                });
                                if let Ok(v) = serde_json::to_value(&obj) {
                                    seen.lock().unwrap().push(v);
                                }
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        Recorder { seen, task }
    }

    pub fn objects(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }

    /// Every version recorded once the operator had written conditions (before that kstatus has
    /// nothing to read and calls an object Current while Argo CD waits, Progressing; docs/gitops.md
    /// says so), judged by both readers, with the assertion that they agree on each; `what`
    /// prefixes the failure message.
    pub fn judged_agreeing(&self, what: &str) -> Vec<(Value, Verdict)> {
        let objects: Vec<Value> = self
            .objects()
            .into_iter()
            .filter(|o| o["status"]["conditions"].is_array())
            .collect();
        let verdicts = judge(&objects);
        assert_eq!(
            verdicts.len(),
            objects.len(),
            "{what}: a verdict per object"
        );
        for (object, v) in objects.iter().zip(&verdicts) {
            assert_eq!(
                v.argo,
                agreeing_argo(&v.kstatus, object),
                "{what}: {} {}: kstatus {} ({}) but Argo CD {} ({}); status: {}",
                v.kind,
                v.name,
                v.kstatus,
                v.kstatus_message,
                v.argo,
                v.argo_message,
                object["status"]
            );
        }
        objects.into_iter().zip(verdicts).collect()
    }
}

/// One object as both readers judge it.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub kind: String,
    pub name: String,
    pub kstatus: String,
    pub kstatus_message: String,
    pub argo: String,
    pub argo_message: String,
}

/// Runs the health reader on `objects`.
fn judge(objects: &[Value]) -> Vec<Verdict> {
    let health =
        super::control_plane::built_tools("DR_HEALTH_BIN", "tests/envtest/build-health.sh")
            .join("health");
    let mut child = Command::new(&health)
        .arg(format!(
            "DigitalRecovery={}",
            repo(RECOVERY_CHECK).display()
        ))
        .arg(format!(
            "DigitalRecoverySchedule={}",
            repo(SCHEDULE_CHECK).display()
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the health reader");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(Value::from(objects.to_vec()).to_string().as_bytes())
        .expect("write objects");
    let out = child.wait_with_output().expect("health reader");
    assert!(
        out.status.success(),
        "health reader: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("verdict"))
        .collect()
}

/// The Argo CD verdict that agrees with kstatus' for `object`: Current is Healthy, or Suspended
/// for what was stopped on purpose (a Cancelled recovery, a suspended schedule).
fn agreeing_argo(kstatus: &str, object: &Value) -> &'static str {
    let stopped = object["status"]["phase"] == "Cancelled" || object["spec"]["suspend"] == true;
    match kstatus {
        "Current" if stopped => "Suspended",
        "Current" => "Healthy",
        "InProgress" => "Progressing",
        "Failed" => "Degraded",
        _ => "Unknown",
    }
}

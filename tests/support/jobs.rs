//! A stand-in for kubelet and the job controller, which the test control plane lacks. It watches
//! Indexed Jobs and, for each index, runs the REAL `digital-recovery` binary with the Job's
//! container args and env (secretKeyRef resolved from the Secret through the admin client,
//! JOB_COMPLETION_INDEX set) and a kubeconfig holding a token of the Job's ServiceAccount
//! (TokenRequest API), so the worker's RBAC is enforced for real. It retries failed indexes up to
//! backoffLimitPerIndex, honours the pod failure policy's FailIndex exit codes, and writes the
//! Job's status (counts, completed/failed indexes, Complete/Failed conditions) through the status
//! subresource. Tests can kill a running worker (it is then retried like a failed pod) or
//! terminate it (SIGTERM, as kubelet does to a pod being deleted, evicted or drained); deleting
//! the Job terminates its workers. Like the job controller, it creates each attempt's pod first
//! (a server-side dry run of the Job's pod template, so every admission plugin such as Pod
//! Security and quota judges it); a refused pod is not run and leaves a `FailedCreate` Event on
//! the Job with the apiserver's message, as the job controller's would, and is tried again.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::{
    api::{
        authentication::v1::{TokenRequest, TokenRequestSpec},
        batch::v1::{Job, JobCondition, JobStatus},
        core::v1::{Event as CoreEvent, Pod, Secret, ServiceAccount},
    },
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams, PostParams},
    runtime::{
        WatchStreamExt,
        watcher::{self, Event},
    },
};

use super::ControlPlane;

type Key = (String, String, u32);
/// Every worker run: (namespace, job, index, exit code or None when killed).
pub type Runs = Arc<Mutex<Vec<(String, String, u32, Option<i32>)>>>;
/// What the stand-in writes to a Job's status.
#[derive(Clone, Default)]
struct IndexCounts {
    completed: BTreeSet<u32>,
    failed: BTreeSet<u32>,
    succeeded_pods: i32,
    failed_pods: i32,
    /// Indexes whose pod exists (admitted, worker not yet exited).
    active: BTreeSet<u32>,
}
type IndexState = Arc<Mutex<IndexCounts>>;

/// Handle of the stand-in; dropping it stops it and kills its workers.
pub struct JobRunner {
    task: tokio::task::JoinHandle<()>,
    running: Arc<Mutex<HashMap<Key, u32>>>,
    /// Every worker run: (namespace, job, index, exit code or None when killed).
    pub runs: Runs,
    _dir: Arc<tempfile::TempDir>,
}

impl Drop for JobRunner {
    fn drop(&mut self) {
        self.task.abort();
        for pid in self.running.lock().unwrap().values() {
            unsafe {
                libc::kill(*pid as i32, libc::SIGKILL);
            }
        }
    }
}

impl JobRunner {
    /// Starts watching Jobs in every namespace.
    pub fn start(cp: &ControlPlane, admin: Client) -> JobRunner {
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let running: Arc<Mutex<HashMap<Key, u32>>> = Arc::default();
        let runs: Arc<Mutex<Vec<_>>> = Arc::default();
        let kubeconfig_writer = Arc::new(cp.kubeconfig_template(dir.path()));
        let task = {
            let (running, runs, dir) = (running.clone(), runs.clone(), dir.clone());
            tokio::spawn(async move {
                let jobs: Api<Job> = Api::all(admin.clone());
                let mut seen: HashSet<String> = HashSet::new();
                // Like the real job controller, carry on through apiserver restarts.
                let mut events = watcher::watcher(jobs, watcher::Config::default())
                    .default_backoff()
                    .boxed();
                loop {
                    let event = match events.try_next().await {
                        Ok(Some(event)) => event,
                        Ok(None) => break,
                        Err(e) => {
                            eprintln!("job stand-in: watch error (retrying): {e}");
                            continue;
                        }
                    };
                    match event {
                        Event::Apply(job) | Event::InitApply(job) => {
                            let uid = job.uid().unwrap_or_default();
                            let done = job
                                .status
                                .as_ref()
                                .and_then(|s| s.conditions.as_ref())
                                .is_some_and(|cs| {
                                    cs.iter().any(|c| {
                                        (c.type_ == "Complete" || c.type_ == "Failed")
                                            && c.status == "True"
                                    })
                                });
                            if done || !seen.insert(uid) {
                                continue;
                            }
                            tokio::spawn(run_job(
                                admin.clone(),
                                job,
                                running.clone(),
                                runs.clone(),
                                dir.clone(),
                                kubeconfig_writer.clone(),
                            ));
                        }
                        Event::Delete(job) => {
                            let ns = job.namespace().unwrap_or_default();
                            let name = job.name_any();
                            for ((n, j, _), pid) in running.lock().unwrap().iter() {
                                if *n == ns && *j == name {
                                    unsafe {
                                        libc::kill(*pid as i32, libc::SIGTERM);
                                    }
                                }
                            }
                        }
                        Event::Init | Event::InitDone => {}
                    }
                }
            })
        };
        JobRunner {
            task,
            running,
            runs,
            _dir: dir,
        }
    }

    /// Kills (SIGKILL) the running worker of `index` of Job `ns/job`; false when none runs.
    pub fn kill(&self, ns: &str, job: &str, index: u32) -> bool {
        let key = (ns.to_string(), job.to_string(), index);
        match self.running.lock().unwrap().get(&key) {
            Some(pid) => unsafe { libc::kill(*pid as i32, libc::SIGKILL) == 0 },
            None => false,
        }
    }

    /// Terminates (SIGTERM, as kubelet does to a pod being deleted, evicted or drained) the
    /// running worker of `index` of Job `ns/job`; false when none runs.
    pub fn terminate(&self, ns: &str, job: &str, index: u32) -> bool {
        let key = (ns.to_string(), job.to_string(), index);
        match self.running.lock().unwrap().get(&key) {
            Some(pid) => unsafe { libc::kill(*pid as i32, libc::SIGTERM) == 0 },
            None => false,
        }
    }

    /// Whether a worker of `ns/job` index `index` runs now.
    pub fn is_running(&self, ns: &str, job: &str, index: u32) -> bool {
        self.running
            .lock()
            .unwrap()
            .contains_key(&(ns.to_string(), job.to_string(), index))
    }

    /// Everything the workers wrote to stdout and stderr so far, every attempt of every index,
    /// as (file name, text) pairs.
    pub fn worker_logs(&self) -> Vec<(String, String)> {
        let mut logs: Vec<(String, String)> = std::fs::read_dir(self._dir.path())
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with("worker-"))
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().to_string(),
                            std::fs::read_to_string(e.path()).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        logs.sort();
        logs
    }

    /// Number of workers running now.
    pub fn running_count(&self) -> usize {
        self.running.lock().unwrap().len()
    }
}

/// Writes a kubeconfig for `token`.
pub type KubeconfigWriter = Box<dyn Fn(&str, &std::path::Path) -> Result<(), String> + Send + Sync>;

impl ControlPlane {
    /// A function writing kubeconfigs for this control plane (usable after `self` is borrowed).
    pub fn kubeconfig_template(&self, scratch: &std::path::Path) -> KubeconfigWriter {
        let path = scratch.join("kubeconfig-template");
        self.write_kubeconfig("__TOKEN__", &path)
            .expect("write kubeconfig template");
        let template = std::fs::read_to_string(&path).expect("read kubeconfig template");
        Box::new(move |token: &str, path: &std::path::Path| {
            std::fs::write(path, template.replace("__TOKEN__", token)).map_err(|e| e.to_string())
        })
    }
}

async fn token_for(admin: &Client, ns: &str, sa: &str) -> String {
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), ns);
    // The controller creates the ServiceAccount just before the Job; allow a moment.
    for _ in 0..50 {
        let req = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: None,
                expiration_seconds: Some(3600),
                ..Default::default()
            }),
            ..Default::default()
        };
        if let Ok(tr) = sas
            .create_token_request(sa, &PostParams::default(), &req)
            .await
            && let Some(token) = tr.status.and_then(|s| s.token)
        {
            return token;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no token for ServiceAccount {ns}/{sa}");
}

async fn run_job(
    admin: Client,
    job: Job,
    running: Arc<Mutex<HashMap<Key, u32>>>,
    runs: Runs,
    dir: Arc<tempfile::TempDir>,
    kubeconfig: Arc<KubeconfigWriter>,
) {
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let spec = job.spec.clone().expect("job spec");
    let completions = spec.completions.unwrap_or(1) as u32;
    let backoff = spec.backoff_limit_per_index.unwrap_or(0) as u32;
    let fail_codes: Vec<i32> = spec
        .pod_failure_policy
        .as_ref()
        .map(|p| {
            p.rules
                .iter()
                .filter(|r| r.action == "FailIndex")
                .filter_map(|r| r.on_exit_codes.as_ref())
                .flat_map(|e| e.values.clone())
                .collect()
        })
        .unwrap_or_default();
    let pod = spec.template.spec.clone().expect("pod spec");
    let container = pod.containers[0].clone();
    let sa = pod
        .service_account_name
        .clone()
        .unwrap_or_else(|| "default".into());

    // Resolve env, as kubelet would.
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let mut env: Vec<(String, String)> = Vec::new();
    for var in container.env.clone().unwrap_or_default() {
        if let Some(v) = var.value {
            env.push((var.name, v));
        } else if let Some(r) = var.value_from.and_then(|f| f.secret_key_ref) {
            let secret = secrets.get_opt(&r.name).await.expect("get secret");
            let value = secret
                .and_then(|s| s.data)
                .and_then(|d| d.get(&r.key).cloned())
                .map(|b| String::from_utf8_lossy(&b.0).to_string());
            match value {
                Some(v) => env.push((var.name, v)),
                None => assert!(
                    r.optional == Some(true),
                    "required secretKeyRef {}/{} missing",
                    r.name,
                    r.key
                ),
            }
        }
    }

    let jobs: Api<Job> = Api::namespaced(admin.clone(), &ns);
    let state: IndexState = Arc::default();
    let events: Api<CoreEvent> = Api::namespaced(admin.clone(), &ns);
    let template = serde_json::to_value(&spec.template).expect("pod template JSON");
    let start = Time(jiff::Timestamp::now());
    write_status(&jobs, &name, &state, &start, None).await;
    let mut handles = Vec::new();
    for index in 0..completions {
        let log_dir = dir.path().to_path_buf();
        let (events, template, job, admin, sa, kubeconfig) = (
            events.clone(),
            template.clone(),
            job.clone(),
            admin.clone(),
            sa.clone(),
            kubeconfig.clone(),
        );
        let (env, args, running, runs, state, jobs, name, ns, fail_codes, start) = (
            env.clone(),
            container.args.clone().unwrap_or_default(),
            running.clone(),
            runs.clone(),
            state.clone(),
            jobs.clone(),
            name.clone(),
            ns.clone(),
            fail_codes.clone(),
            start.clone(),
        );
        handles.push(tokio::spawn(async move {
            let mut attempt = 0;
            loop {
                // A deleted Job runs no more pods.
                if !job_exists(&jobs, &name).await {
                    return;
                }
                if let Err(refusal) = create_pod(&admin, &ns, &template, &name, index, &sa).await {
                    failed_create(&events, &job, &refusal).await;
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    continue;
                }
                let token = token_for(&admin, &ns, &sa).await;
                let kc: PathBuf = log_dir.join(format!("kubeconfig-{ns}-{name}-{index}"));
                kubeconfig(&token, &kc).expect("write worker kubeconfig");
                state.lock().unwrap().active.insert(index);
                write_status(&jobs, &name, &state, &start, None).await;
                let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_digital-recovery"));
                cmd.args(&args)
                    .env_clear()
                    .env("KUBECONFIG", &kc)
                    .env("JOB_COMPLETION_INDEX", index.to_string())
                    .env(
                        "RUST_LOG",
                        std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
                    )
                    .envs(env.iter().map(|(k, v)| (k.clone(), v.clone())))
                    .stdin(Stdio::null())
                    .kill_on_drop(true);
                // Every run's stdout and stderr go to one file per attempt (JobRunner::worker_logs);
                // DR_TEST_WORKER_LOGS also prints them after the run.
                let log_path = log_dir.join(format!("worker-{ns}-{name}-{index}-{attempt}.log"));
                let log = std::fs::File::create(&log_path).expect("worker log file");
                cmd.stdout(log.try_clone().expect("worker log file"))
                    .stderr(log);
                let mut child = cmd.spawn().expect("spawn worker");
                let key = (ns.clone(), name.clone(), index);
                running
                    .lock()
                    .unwrap()
                    .insert(key.clone(), child.id().unwrap_or(0));
                let status = child.wait().await.expect("wait worker");
                running.lock().unwrap().remove(&key);
                if std::env::var("DR_TEST_WORKER_LOGS").is_ok() {
                    eprint!("{}", std::fs::read_to_string(&log_path).unwrap_or_default());
                }
                let code = status.code();
                runs.lock()
                    .unwrap()
                    .push((ns.clone(), name.clone(), index, code));
                {
                    let mut s = state.lock().unwrap();
                    s.active.remove(&index);
                    if code == Some(0) {
                        s.completed.insert(index);
                        s.succeeded_pods += 1;
                    } else {
                        s.failed_pods += 1;
                    }
                }
                let exhausted = code != Some(0)
                    && (attempt >= backoff || code.is_some_and(|c| fail_codes.contains(&c)));
                if exhausted {
                    state.lock().unwrap().failed.insert(index);
                }
                write_status(&jobs, &name, &state, &start, None).await;
                if code == Some(0) || exhausted {
                    return;
                }
                // The job controller's pod failure backoff (10 s doubling in a cluster; shorter
                // here), so a retry does not hit the same fault at once.
                tokio::time::sleep(Duration::from_secs(1 << attempt.min(4))).await;
                attempt += 1;
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    if job_exists(&jobs, &name).await {
        let failed = !state.lock().unwrap().failed.is_empty();
        write_status(&jobs, &name, &state, &start, Some(!failed)).await;
    }
}

/// Creates (as a server-side dry run: nothing runs it but this stand-in) the pod of `index`
/// from the Job's template, as the job controller would. Err holds the apiserver's refusal; an
/// unreachable apiserver counts as admitted (the worker then waits it out like any other).
async fn create_pod(
    admin: &Client,
    ns: &str,
    template: &serde_json::Value,
    job: &str,
    index: u32,
    service_account: &str,
) -> Result<(), String> {
    // What the ServiceAccount admission plugin (off in the test apiserver) would refuse.
    if let Ok(None) = Api::<ServiceAccount>::namespaced(admin.clone(), ns)
        .get_opt(service_account)
        .await
    {
        return Err(format!(
            "pods \"{job}-{index}-\" is forbidden: error looking up service account \
             {ns}/{service_account}: serviceaccount \"{service_account}\" not found"
        ));
    }
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": format!("{job}-{index}-"),
            "labels": template["metadata"]["labels"],
        },
        "spec": template["spec"],
    }))
    .expect("a pod from the Job's template");
    let params = PostParams {
        dry_run: true,
        ..Default::default()
    };
    match Api::<Pod>::namespaced(admin.clone(), ns)
        .create(&params, &pod)
        .await
    {
        Err(kube::Error::Api(status))
            if (400..500).contains(&status.code) && status.code != 429 =>
        {
            Err(status.message)
        }
        _ => Ok(()),
    }
}

/// The job controller's Event for a pod it could not create.
async fn failed_create(events: &Api<CoreEvent>, job: &Job, refusal: &str) {
    let now = Time(jiff::Timestamp::now());
    let event: CoreEvent = serde_json::from_value(serde_json::json!({
        "metadata": {"generateName": format!("{}.", job.name_any())},
        "involvedObject": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": job.name_any(),
            "namespace": job.namespace(),
            "uid": job.uid(),
        },
        "reason": "FailedCreate",
        "message": format!("Error creating: {refusal}"),
        "type": "Warning",
        "source": {"component": "job-controller"},
        "count": 1,
        "firstTimestamp": now,
        "lastTimestamp": now,
    }))
    .expect("event");
    if let Err(e) = events.create(&PostParams::default(), &event).await {
        eprintln!("job stand-in: cannot record FailedCreate: {e}");
    }
}

/// Whether the Job still exists; an unreachable apiserver is waited for (up to 3 minutes), not
/// taken for a deletion.
async fn job_exists(jobs: &Api<Job>, name: &str) -> bool {
    for _ in 0..180 {
        match jobs.get_opt(name).await {
            Ok(found) => return found.is_some(),
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    false
}

fn ranges(set: &BTreeSet<u32>) -> Option<String> {
    if set.is_empty() {
        return None;
    }
    Some(
        set.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(","),
    )
}

async fn write_status(
    jobs: &Api<Job>,
    name: &str,
    state: &IndexState,
    start: &Time,
    finished: Option<bool>,
) {
    let IndexCounts {
        completed,
        failed,
        succeeded_pods: succeeded,
        failed_pods: failures,
        active: with_pod,
    } = state.lock().unwrap().clone();
    let now = Time(jiff::Timestamp::now());
    let cond = |t: &str, reason: &str| JobCondition {
        type_: t.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(format!("set by the test job stand-in: {reason}")),
        last_transition_time: Some(now.clone()),
        last_probe_time: Some(now.clone()),
    };
    let conditions = match finished {
        Some(true) => Some(vec![
            cond("SuccessCriteriaMet", "CompletionsReached"),
            cond("Complete", "CompletionsReached"),
        ]),
        Some(false) => Some(vec![
            cond("FailureTarget", "FailedIndexes"),
            cond("Failed", "FailedIndexes"),
        ]),
        None => None,
    };
    let active = if finished.is_some() {
        0
    } else {
        with_pod.len() as i32
    };
    let status = JobStatus {
        active: Some(active),
        succeeded: Some(succeeded),
        failed: Some(failures),
        completed_indexes: ranges(&completed),
        failed_indexes: Some(ranges(&failed).unwrap_or_default()),
        start_time: Some(start.clone()),
        completion_time: (finished == Some(true)).then(|| now.clone()),
        conditions,
        ready: Some(0),
        terminating: Some(0),
        uncounted_terminated_pods: Some(Default::default()),
    };
    let patch = serde_json::json!({"status": status});
    // Retried while the apiserver is away (a restart), as the job controller would.
    for attempt in 0..180 {
        match jobs
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return,
            Err(kube::Error::Api(e)) if e.code == 404 => return,
            Err(e) => {
                if attempt == 0 {
                    eprintln!("job stand-in: cannot write status of {name} (retrying): {e}");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

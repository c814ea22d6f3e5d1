//! The cluster tier (docs/testing.md, "The cluster tier"): the operator as users run it, on a real
//! single-node cluster (`make cluster`: real kubelet, containerd, scheduler, job controller,
//! garbage collector, kube-proxy), installed with the chart (2 controller replicas) from an image
//! built from the binary cargo built for these tests (`scripts/image.sh`, Dockerfile target
//! `local`). Each scenario gets its own namespace and its own simulators, listening on the node
//! address so the worker pods reach them, and asserts against the simulators' ground truth
//! (`GET /sim/report`), never against the operator's own counts.
//!
//! One cluster per run: the scenarios run inside one `#[test]` (the leader kill first and alone,
//! then the rest at once, then the Job deadline alone), each as its own task so one failing scenario does not hide the others;
//! the cluster is torn down at the end (`scripts/cluster.sh down`), also when a scenario fails or
//! the test panics. It needs root (it adds an address on `lo`, a bridge, iptables rules); as
//! another user it says so and passes without running anything.
//!
//! Knobs: `DR_CLUSTER_SCENARIOS=name,name` runs only those scenarios (and is the only way to run
//! the opt-in ones: `shard_memory`, the cluster section of `make bench`, in [`bench`]); `DR_CLUSTER_KEEP=1` leaves
//! the cluster (and its namespaces) up for a look afterwards; `DR_CLUSTER_TIER=skip` skips the
//! tier. A cluster that is already running and was not started by this tier (a person's
//! `make cluster`) is never touched: the tier fails and says so. One tier runs at a time on a
//! machine (a lock in `$DR_CLUSTER_DIR`).

#[path = "cluster_tier/bench.rs"]
mod bench;
mod support;

use support::cargo_env::clean_env;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::{
    apps::v1::Deployment,
    batch::v1::Job,
    coordination::v1::Lease,
    core::v1::{ConfigMap, Namespace, Pod, ServiceAccount},
    rbac::v1::{Role, RoleBinding},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{ListParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use digital_recovery::api::{DigitalRecovery, DigitalRecoveryStatus, Phase, WorkerSpec};
use digital_recovery::sim::SimHandles;
use digital_recovery::sim::recording::{RecordingStore, SimReport};
use support::recovery::{self, finished};

/// Namespace and release of the chart-installed operator.
const SYSTEM_NS: &str = "dr-system";
const RELEASE: &str = "digital-recovery";
/// The chart's Deployment and Lease (`<fullname>-controller`).
const CONTROLLER: &str = "digital-recovery-controller";
/// Longest a recovery may take on this cluster before a scenario gives up on it.
const FINISH_SECS: u64 = 300;
/// Worker shards of every recovery (one worker pod per shard).
const SHARDS: u32 = 3;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cluster_dir() -> PathBuf {
    std::env::var_os("DR_CLUSTER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/dr-cluster"))
}

fn node_ip() -> IpAddr {
    let text = std::env::var("DR_NODE_IP").unwrap_or_else(|_| "10.99.0.1".into());
    text.parse()
        .unwrap_or_else(|e| panic!("DR_NODE_IP `{text}`: {e}"))
}

/// Free disk the tier needs where the cluster keeps its state.
const MIN_FREE_MIB: u64 = 600;

/// Free MiB on the filesystem holding `path` (or its nearest existing parent), from `df`.
fn free_disk_mib(path: &Path) -> u64 {
    let existing = path
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let out = Command::new("df")
        .args(["--output=avail", "-m"])
        .arg(existing)
        .output()
        .unwrap_or_else(|e| panic!("df: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("df {}: `{text}`", existing.display()))
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Runs `cmd` (stderr passed through, so the scripts' progress shows with --nocapture) and
/// returns its stdout; panics naming it when it fails.
fn run(what: &str, cmd: &mut Command) -> String {
    let started = Instant::now();
    let out = clean_env(cmd)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}); stdout:\n{stdout}",
        out.status
    );
    eprintln!(
        "cluster tier: {what}: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    stdout
}

fn last_line(text: &str) -> String {
    text.lines().last().unwrap_or_default().trim().to_string()
}

/// The running cluster: torn down on drop when this run started it.
struct Cluster {
    kubeconfig: PathBuf,
    bin: PathBuf,
    teardown: bool,
    /// Held for the whole run: one tier at a time on this machine.
    _lock: File,
}

impl Cluster {
    fn marker() -> PathBuf {
        cluster_dir().join(".cluster-tier-owned")
    }

    fn running() -> bool {
        cluster_dir().join("state").exists()
    }

    fn up() -> Cluster {
        let dir = cluster_dir();
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let lock_path = dir.join(".cluster-tier.lock");
        let lock =
            File::create(&lock_path).unwrap_or_else(|e| panic!("{}: {e}", lock_path.display()));
        eprintln!("cluster tier: waiting for {}", lock_path.display());
        lock.lock()
            .unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));
        if Self::running() {
            // Ours (a run that was killed before its teardown) or somebody's own cluster.
            assert!(
                Self::marker().exists(),
                "a cluster is already running in {} that the cluster tier did not start (a `make \
                 cluster` by hand?); the tier does not use or stop it: `make cluster-down` first",
                dir.display()
            );
            eprintln!("cluster tier: a cluster left by an earlier run: taking it down first");
            run(
                "cluster.sh down (left by an earlier run)",
                Command::new("bash")
                    .arg(repo().join("scripts/cluster.sh"))
                    .arg("down"),
            );
        }
        fs::write(Self::marker(), b"")
            .unwrap_or_else(|e| panic!("{}: {e}", Self::marker().display()));
        let mut cluster = Cluster {
            kubeconfig: PathBuf::new(),
            bin: dir.join("bin"),
            teardown: std::env::var("DR_CLUSTER_KEEP").as_deref() != Ok("1"),
            _lock: lock,
        };
        // `make cluster`: the control plane, node binaries and helm (cached), then `up`.
        let out = run(
            "make cluster",
            Command::new("make")
                .args(["--no-print-directory", "-C"])
                .arg(repo())
                .arg("cluster"),
        );
        cluster.kubeconfig = PathBuf::from(last_line(&out));
        cluster
    }

    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    async fn client(&self) -> Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("{}: {e}", self.kubeconfig.display()));
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .unwrap_or_else(|e| panic!("kubeconfig: {e}"));
        Client::try_from(config).unwrap_or_else(|e| panic!("client: {e}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.teardown {
            eprintln!(
                "cluster tier: DR_CLUSTER_KEEP=1: the cluster stays up (make cluster-down); \
                 KUBECONFIG={}",
                self.kubeconfig.display()
            );
            return;
        }
        let started = Instant::now();
        let status = Command::new("bash")
            .arg(repo().join("scripts/cluster.sh"))
            .arg("down")
            .status();
        match status {
            Ok(s) if s.success() => {
                let _ = fs::remove_file(Self::marker());
                eprintln!(
                    "cluster tier: cluster.sh down: {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
            // Not a panic inside drop (that would abort); the marker stays so the next run
            // takes the cluster down first.
            other => eprintln!("cluster tier: cluster.sh down failed: {other:?}"),
        }
    }
}

/// The image of the binary cargo built for this test. The debug binary's debug info is stripped
/// first (about a tenth of the size: less to copy into the image, the tar and containerd).
fn build_image(work: &Path) -> (String, String) {
    let built = PathBuf::from(env!("CARGO_BIN_EXE_digital-recovery"));
    let stripped = work.join("digital-recovery");
    let binary = match Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&stripped)
        .arg(&built)
        .status()
    {
        Ok(s) if s.success() => stripped,
        other => {
            eprintln!(
                "cluster tier: strip failed ({other:?}); the image gets the unstripped binary"
            );
            built
        }
    };
    let out = run(
        "scripts/image.sh app",
        Command::new("bash")
            .arg(repo().join("scripts/image.sh"))
            .arg("app")
            .env("DR_IMAGE_BINARY", &binary),
    );
    let reference = last_line(&out);
    let (repository, tag) = reference
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("image.sh printed `{reference}`, not REPOSITORY:TAG"));
    (repository.to_string(), tag.to_string())
}

/// What every scenario gets.
#[derive(Clone)]
struct Env {
    client: Client,
    kubeconfig: PathBuf,
    bin: PathBuf,
}

impl Env {
    fn helm(&self) -> Command {
        let mut cmd = Command::new(self.bin.join("helm"));
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.bin.join("kubectl"));
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    /// `kubectl ARGS` with `stdin`; stdout, or a panic with stderr.
    async fn kubectl_ok(&self, args: &[&str], stdin: Option<String>) -> String {
        let mut cmd = tokio::process::Command::from(self.kubectl());
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("kubectl {args:?}: {e}"));
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .await
                .unwrap_or_else(|e| panic!("kubectl {args:?}: stdin: {e}"));
        }
        let out = child
            .wait_with_output()
            .await
            .unwrap_or_else(|e| panic!("kubectl {args:?}: {e}"));
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A namespace of its own with the two credential Secrets, labelled `labels`.
    async fn namespace(&self, ns: &str, labels: &[(&str, &str)]) {
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": ns, "labels": labels}}))
                .unwrap_or_else(|e| panic!("namespace: {e}"));
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("namespace {ns}: {e}"));
        recovery::credentials(&self.client, ns).await;
    }

    /// A ResourceQuota `name` in `ns` with the `hard` limits.
    async fn quota(&self, ns: &str, name: &str, hard: serde_json::Value) {
        let quota = json!({
            "apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"hard": hard}
        });
        self.kubectl_ok(&["apply", "-f", "-"], Some(quota.to_string()))
            .await;
    }

    /// `kubectl apply` of a recovery of `sims`' whole window with SHARDS shards.
    async fn apply_recovery(&self, ns: &str, name: &str, sims: &SimHandles) -> DigitalRecovery {
        self.apply(ns, recovery::recovery(name, sims, SHARDS)).await
    }

    /// `kubectl apply` of `dr` in `ns`; the object as created.
    async fn apply(&self, ns: &str, mut dr: DigitalRecovery) -> DigitalRecovery {
        let name = dr.name_any();
        dr.metadata.namespace = Some(ns.to_string());
        let manifest =
            serde_json::to_string(&dr).unwrap_or_else(|e| panic!("recovery manifest: {e}"));
        self.kubectl_ok(&["apply", "-f", "-"], Some(manifest)).await;
        Api::<DigitalRecovery>::namespaced(self.client.clone(), ns)
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("{ns}/{name}: {e}"))
    }

    /// Polls `ns/name` until `pick` finds what it looks for in its status (panics after `secs`
    /// with the status).
    async fn wait_status<T>(
        &self,
        ns: &str,
        name: &str,
        secs: u64,
        pick: impl Fn(&DigitalRecoveryStatus) -> Option<T>,
    ) -> T {
        let api: Api<DigitalRecovery> = Api::namespaced(self.client.clone(), ns);
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let status = api
                .get(name)
                .await
                .ok()
                .and_then(|d| d.status)
                .unwrap_or_default();
            if let Some(found) = pick(&status) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{ns}/{name}: not seen in {secs} s; status: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Polls `ns/name` until it is in a final phase (panics after FINISH_SECS with its status
    /// and its Job's).
    async fn wait_finished(&self, ns: &str, name: &str) -> DigitalRecovery {
        let api: Api<DigitalRecovery> = Api::namespaced(self.client.clone(), ns);
        let deadline = Instant::now() + Duration::from_secs(FINISH_SECS);
        loop {
            let dr = api.get_opt(name).await.ok().flatten();
            if let Some(dr) = &dr
                && dr
                    .status
                    .as_ref()
                    .and_then(|s| s.phase)
                    .is_some_and(finished)
            {
                return dr.clone();
            }
            if Instant::now() > deadline {
                let jobs = self
                    .kubectl_ok(&["get", "jobs,pods", "-n", ns, "-o", "wide"], None)
                    .await;
                panic!(
                    "{ns}/{name}: no final phase in {FINISH_SECS} s; status: {:?}\n{jobs}",
                    dr.and_then(|d| d.status)
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Simulators of `conversations` (10 ms per response, so disruptions land mid-run) listening on
/// the node address, where the worker pods reach them.
async fn simulators(conversations: usize) -> (SimHandles, Arc<RecordingStore>) {
    slow_simulators(conversations, 10).await
}

/// Simulators answering every request after `latency_ms`, on the node address.
async fn slow_simulators(
    conversations: usize,
    latency_ms: u64,
) -> (SimHandles, Arc<RecordingStore>) {
    let mut config = recovery::sim_config(conversations, latency_ms);
    config.bind = node_ip();
    recovery::start_simulators(config, recovery::recording_config()).await
}

/// `GET {capture}/sim/report`: the simulators' ground truth, over HTTP as any client sees it.
async fn sim_report(sims: &SimHandles) -> SimReport {
    let capture = sims
        .capture_url
        .as_deref()
        .unwrap_or_else(|| panic!("the simulators run no Capture"));
    let body = http_get(capture, "/sim/report").await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/sim/report `{body}`: {e}"))
}

/// A plain HTTP/1.0 GET of `path` at `base` (`http://HOST:PORT`); the body.
async fn http_get(base: &str, path: &str) -> String {
    let authority = base
        .strip_prefix("http://")
        .unwrap_or(base)
        .trim_end_matches('/');
    let mut stream = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(authority),
    )
    .await
    .unwrap_or_else(|_| panic!("connect {authority}: timed out"))
    .unwrap_or_else(|e| panic!("connect {authority}: {e}"));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("GET {base}{path}: {e}"));
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .unwrap_or_else(|_| panic!("GET {base}{path}: timed out"))
    .unwrap_or_else(|e| panic!("GET {base}{path}: {e}"));
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("GET {base}{path}: no body in `{response}`"));
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "GET {base}{path}: {head}"
    );
    body.to_string()
}

/// A finished recovery against the ground truth: nothing still missing, nothing twice, every
/// count in the status equal to what the simulators saw, and the phase that follows.
fn assert_truth(what: &str, dr: &DigitalRecovery, truth: &SimReport) {
    let status = dr
        .status
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: no status"));
    assert!(
        truth.expected_missing > 0,
        "{what}: empty dataset {truth:?}"
    );
    assert_eq!(truth.still_missing, 0, "{what}: {truth:?} {status:?}");
    assert_eq!(truth.duplicates, 0, "{what}: {truth:?}");
    assert_eq!(truth.conflicts, 0, "{what}: {truth:?}");
    assert_eq!(
        truth.ingested, truth.expected_missing,
        "{what}: each withheld conversation ingested exactly once {truth:?}"
    );
    let progress = status
        .progress
        .unwrap_or_else(|| panic!("{what}: no progress in {status:?}"));
    assert_eq!(
        progress.recovered, truth.ingested,
        "{what}: {progress:?} {truth:?}"
    );
    assert_eq!(
        progress.verified, truth.ingested,
        "{what}: {progress:?} {truth:?}"
    );
    assert_eq!(
        progress.not_recorded, truth.expected_not_recorded,
        "{what}: {progress:?} {truth:?}"
    );
    assert_eq!(progress.pending, 0, "{what}: {progress:?}");
    let expected = if progress.failed == 0 {
        Phase::Succeeded
    } else {
        Phase::PartiallySucceeded
    };
    assert_eq!(status.phase, Some(expected), "{what}: {status:?}");
    assert_eq!(
        status.shards.len(),
        dr.spec.shards() as usize,
        "{what}: {status:?}"
    );
}

/// The recovery's Indexed Job (the one it controls), once the controller has created it
/// (panics after 60 s).
async fn job_of(env: &Env, dr: &DigitalRecovery) -> Job {
    let ns = dr.namespace().unwrap_or_default();
    let uid = dr.uid().unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = Api::<Job>::namespaced(env.client.clone(), &ns)
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("jobs in {ns}: {e}"));
        if let Some(job) = jobs
            .items
            .into_iter()
            .find(|j| j.owner_references().iter().any(|o| o.uid == uid))
        {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "{ns}: no Job owned by {} in 60 s",
            dr.name_any()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn job_pods(env: &Env, ns: &str, job: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(env.client.clone(), ns)
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
        .await
        .unwrap_or_else(|e| panic!("pods of {ns}/{job}: {e}"))
        .items
}

/// The id of a worker container the kubelet reports running, polled for while the run still has
/// work: under load the pod's status can trail its container's start.
async fn running_container(env: &Env, ns: &str, job: &str, sims: &SimHandles) -> String {
    loop {
        let running = job_pods(env, ns, job).await.into_iter().find_map(|p| {
            p.status?
                .container_statuses?
                .into_iter()
                .find(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))?
                .container_id
        });
        if let Some(id) = running {
            return id;
        }
        let truth = sim_report(sims).await;
        assert!(
            truth.still_missing > 0,
            "{job}: no running worker container before the run finished: {truth:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the recovery is Running and the simulators have ingested some but not all of
/// what is missing: a moment in the middle of the run. Panics when the run gets past it.
async fn wait_mid_run(what: &str, env: &Env, ns: &str, name: &str, sims: &SimHandles) {
    let api: Api<DigitalRecovery> = Api::namespaced(env.client.clone(), ns);
    let deadline = Instant::now() + Duration::from_secs(FINISH_SECS);
    loop {
        let truth = sim_report(sims).await;
        assert!(
            truth.still_missing > 0,
            "{what}: the run finished before the disruption could land: {truth:?}"
        );
        if truth.ingested > 0 {
            let phase = api
                .get(name)
                .await
                .ok()
                .and_then(|d| d.status)
                .and_then(|s| s.phase);
            if phase == Some(Phase::Running) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{what}: never mid-run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// (1) A recovery applied with kubectl runs as an Indexed Job of 3 real worker pods (Secrets via
/// secretKeyRef, read-only root, uid 65532) to its final phase; `kubectl get dr` shows it.
async fn indexed_job(env: Env) {
    let (ns, name) = ("ct-indexed", "indexed");
    env.namespace(ns, &[]).await;
    let (sims, _store) = simulators(2000).await;
    env.apply_recovery(ns, name, &sims).await;
    let dr = env.wait_finished(ns, name).await;
    let truth = sim_report(&sims).await;
    assert_truth(name, &dr, &truth);

    let job = job_of(&env, &dr).await;
    let spec = job.spec.clone().unwrap_or_default();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(spec.completions, Some(SHARDS as i32));
    let job_status = job.status.clone().unwrap_or_default();
    assert_eq!(job_status.succeeded, Some(SHARDS as i32), "{job_status:?}");
    let pods = job_pods(&env, ns, &job.name_any()).await;
    let mut indexes = BTreeSet::new();
    for pod in &pods {
        let status = pod.status.clone().unwrap_or_default();
        assert_eq!(
            status.phase.as_deref(),
            Some("Succeeded"),
            "{}",
            pod.name_any()
        );
        indexes.insert(
            pod.annotations()
                .get("batch.kubernetes.io/job-completion-index")
                .cloned()
                .unwrap_or_default(),
        );
        let pod_spec = pod.spec.clone().unwrap_or_default();
        let container = &pod_spec.containers[0];
        let security = container.security_context.clone().unwrap_or_default();
        assert_eq!(security.read_only_root_filesystem, Some(true));
        let env_vars = container.env.clone().unwrap_or_default();
        assert!(
            env_vars.iter().any(|e| e
                .value_from
                .as_ref()
                .is_some_and(|v| v.secret_key_ref.is_some())),
            "credentials from secretKeyRef: {env_vars:?}"
        );
        let pod_security = pod_spec.security_context.clone().unwrap_or_default();
        assert_eq!(pod_security.run_as_user, Some(65532), "{}", pod.name_any());
        // When the runtime reports the user it started the container as (containerd 1.6 does
        // not), it is 65532.
        let user = status
            .container_statuses
            .unwrap_or_default()
            .first()
            .and_then(|c| c.user.clone())
            .and_then(|u| u.linux)
            .map(|l| l.uid);
        assert!(
            user.is_none() || user == Some(65532),
            "{}: uid {user:?}",
            pod.name_any()
        );
    }
    assert_eq!(
        indexes,
        BTreeSet::from(["0".to_string(), "1".to_string(), "2".to_string()]),
        "one pod per index"
    );

    // kubectl get dr: NAME TENANT MODE PHASE MISSING RECOVERED VERIFIED FAILED AGE.
    let table = env
        .kubectl_ok(&["get", "dr", name, "-n", ns, "--no-headers"], None)
        .await;
    let columns: Vec<&str> = table.split_whitespace().collect();
    let status = dr.status.clone().unwrap_or_default();
    let progress = status.progress.unwrap_or_default();
    let missing = status.match_counts.unwrap_or_default().missing;
    assert_eq!(columns.len(), 9, "{table}");
    assert_eq!(columns[0], name, "{table}");
    assert_eq!(
        columns[3],
        format!("{:?}", status.phase.unwrap_or(Phase::Pending)),
        "{table}"
    );
    assert_eq!(columns[4], missing.to_string(), "{table}");
    assert_eq!(columns[5], truth.ingested.to_string(), "{table}");
    assert_eq!(columns[6], truth.ingested.to_string(), "{table}");
    assert_eq!(columns[7], progress.failed.to_string(), "{table}");
    let headers = env.kubectl_ok(&["get", "dr", "-n", ns], None).await;
    assert!(
        headers.starts_with("NAME") && headers.contains("PHASE") && headers.contains("RECOVERED"),
        "{headers}"
    );
    // `kubectl describe`: the phase changes as Normal Events, the last one with the totals.
    let phase = format!("{:?}", status.phase.unwrap_or(Phase::Pending));
    described_events(&env, ns, name, |events| {
        events.contains("Normal")
            && events.contains(&phase)
            && (events.contains(&format!("{} recovered", truth.ingested))
                || events.contains(&format!("{} of", truth.ingested)))
    })
    .await;
    // A finished recovery is not run again: the simulators see nothing more.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sim_report(&sims).await, truth);
}

/// The controller pods of the chart and the one the Lease names.
async fn controllers(env: &Env) -> (Vec<Pod>, Option<String>) {
    let pods = Api::<Pod>::namespaced(env.client.clone(), SYSTEM_NS)
        .list(&ListParams::default().labels("app.kubernetes.io/name=digital-recovery"))
        .await
        .unwrap_or_else(|e| panic!("controller pods: {e}"))
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let holder = Api::<Lease>::namespaced(env.client.clone(), SYSTEM_NS)
        .get_opt(CONTROLLER)
        .await
        .unwrap_or_else(|e| panic!("lease: {e}"))
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity);
    (pods, holder)
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Waits until both replicas are Ready and the Lease names one of them; (pods, holder).
async fn two_ready_one_leader(env: &Env) -> (Vec<Pod>, String) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (pods, holder) = controllers(env).await;
        let names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
        if pods.len() == 2
            && pods.iter().all(ready)
            && let Some(holder) = holder.clone()
            && names.contains(&holder)
        {
            return (pods, holder);
        }
        assert!(
            Instant::now() < deadline,
            "controllers: want 2 Ready and a Lease holder among them; pods {names:?}, holder {holder:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `digital_recovery_leader` of each controller pod, scraped from its /metrics on the pod IP.
async fn leader_gauges(pods: &[Pod]) -> BTreeMap<String, String> {
    let mut gauges = BTreeMap::new();
    for pod in pods {
        let ip = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .unwrap_or_else(|| panic!("{}: no pod IP", pod.name_any()));
        let metrics = http_get(&format!("http://{ip}:8080"), "/metrics").await;
        let value = metrics
            .lines()
            .find(|l| l.starts_with("digital_recovery_leader"))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or("absent")
            .to_string();
        gauges.insert(pod.name_any(), value);
    }
    gauges
}

/// (2) Two chart-installed replicas: both Ready, exactly one Lease holder (and only it says so on
/// /metrics); the leader's pod deleted mid-recovery: the other takes the Lease and the recovery
/// completes, nothing lost or twice.
async fn leader_failover(env: Env) {
    let (pods, leader) = two_ready_one_leader(&env).await;
    let gauges = leader_gauges(&pods).await;
    let leaders: Vec<&String> = gauges
        .iter()
        .filter(|(_, v)| v.as_str() == "1")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        leaders,
        vec![&leader],
        "/metrics digital_recovery_leader: {gauges:?}"
    );

    let (ns, name) = ("ct-failover", "failover");
    env.namespace(ns, &[]).await;
    let (sims, _store) = simulators(3000).await;
    env.apply_recovery(ns, name, &sims).await;
    wait_mid_run(name, &env, ns, name, &sims).await;
    env.kubectl_ok(
        &["delete", "pod", &leader, "-n", SYSTEM_NS, "--wait=false"],
        None,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let new_leader = loop {
        let (pods, holder) = controllers(&env).await;
        let names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
        if let Some(holder) = holder
            && holder != leader
            && names.contains(&holder)
        {
            break holder;
        }
        assert!(
            Instant::now() < deadline,
            "no new Lease holder after deleting {leader}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let dr = env.wait_finished(ns, name).await;
    assert_truth(name, &dr, &sim_report(&sims).await);
    // The Deployment replaces the deleted pod; the new leader keeps the Lease.
    let (_, holder) = two_ready_one_leader(&env).await;
    assert_eq!(holder, new_leader);
}

/// (3) A worker pod deleted mid-run (SIGTERM, exit 143): the job controller retries its index and
/// the recovery completes, nothing lost or twice.
async fn worker_deleted(env: Env) {
    let (ns, name) = ("ct-worker-deleted", "worker-deleted");
    env.namespace(ns, &[]).await;
    let (sims, _store) = simulators(3000).await;
    let dr = env.apply_recovery(ns, name, &sims).await;
    wait_mid_run(name, &env, ns, name, &sims).await;
    let job = job_of(&env, &dr).await;
    let running = job_pods(&env, ns, &job.name_any())
        .await
        .into_iter()
        .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .unwrap_or_else(|| panic!("{name}: no running worker pod mid-run"));
    env.kubectl_ok(
        &[
            "delete",
            "pod",
            &running.name_any(),
            "-n",
            ns,
            "--wait=false",
        ],
        None,
    )
    .await;
    let dr = env.wait_finished(ns, name).await;
    assert_truth(name, &dr, &sim_report(&sims).await);
    let job = job_of(&env, &dr).await;
    let job_status = job.status.unwrap_or_default();
    assert_eq!(job_status.succeeded, Some(SHARDS as i32), "{job_status:?}");
    assert!(
        job_status.failed.unwrap_or(0) >= 1,
        "the deleted pod counts as a failed attempt that was retried: {job_status:?}"
    );
}

/// (3b) A worker container SIGKILLed by the runtime (as the OOM killer or a node problem would;
/// exit 137): the index is retried and the recovery completes, nothing lost or twice.
async fn worker_killed(env: Env) {
    let (ns, name) = ("ct-worker-killed", "worker-killed");
    env.namespace(ns, &[]).await;
    // Slow enough that the run outlasts the kubelet's status updates on a loaded node.
    let (sims, _store) = slow_simulators(3000, 40).await;
    let dr = env.apply_recovery(ns, name, &sims).await;
    wait_mid_run(name, &env, ns, name, &sims).await;
    let job = job_of(&env, &dr).await;
    let container = running_container(&env, ns, &job.name_any(), &sims).await;
    let id = container
        .strip_prefix("containerd://")
        .unwrap_or_else(|| panic!("{name}: container id `{container}`"));
    let socket = cluster_dir().join("state/containerd/containerd.sock");
    let killed = tokio::process::Command::new("ctr")
        .arg("--address")
        .arg(&socket)
        .args(["-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", id])
        .status()
        .await
        .unwrap_or_else(|e| panic!("ctr: {e}"));
    assert!(killed.success(), "ctr tasks kill {id}: {killed}");
    let dr = env.wait_finished(ns, name).await;
    assert_truth(name, &dr, &sim_report(&sims).await);
    let job_status = job_of(&env, &dr).await.status.unwrap_or_default();
    assert_eq!(job_status.succeeded, Some(SHARDS as i32), "{job_status:?}");
    assert!(job_status.failed.unwrap_or(0) >= 1, "{job_status:?}");
}

/// (3c) `spec.cancel` set mid-run: the recovery ends Cancelled (the only way it does), its
/// workers stop, and nothing reached the recording side twice or after the end.
async fn cancelled(env: Env) {
    let (ns, name) = ("ct-cancel", "cancel");
    env.namespace(ns, &[]).await;
    // 40 ms a response: the rest of the run outlasts the cancel's way to the workers (at 10 ms
    // a busy machine once saw everything ingested before the workers stopped).
    let (sims, _store) = slow_simulators(3000, 40).await;
    let dr = env.apply_recovery(ns, name, &sims).await;
    wait_mid_run(name, &env, ns, name, &sims).await;
    // The controller deletes the Job of a cancelled recovery: its name, before.
    let job = job_of(&env, &dr).await.name_any();
    env.kubectl_ok(
        &[
            "patch",
            "dr",
            name,
            "-n",
            ns,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"cancel":true}}"#,
        ],
        None,
    )
    .await;
    let dr = env.wait_finished(ns, name).await;
    let status = dr.status.clone().unwrap_or_default();
    assert_eq!(status.phase, Some(Phase::Cancelled), "{status:?}");
    // The workers are gone within their grace period; after that nothing more arrives.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = job_pods(&env, ns, &job)
            .await
            .into_iter()
            .filter(|p| {
                matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Running" | "Pending")
                )
            })
            .count();
        if running == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{running} worker pods still running"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let truth = sim_report(&sims).await;
    assert_eq!(truth.duplicates, 0, "{truth:?}");
    assert_eq!(truth.conflicts, 0, "{truth:?}");
    assert!(
        truth.still_missing > 0,
        "cancelled before the end: {truth:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sim_report(&sims).await, truth);
}

/// (6b) A quota that admits no pod: the recovery says in its status why no worker starts.
async fn pods_refused(env: Env) {
    let (ns, name) = ("ct-quota", "quota");
    env.namespace(ns, &[]).await;
    env.quota(ns, "no-pods", json!({"pods": "0"})).await;
    let (sims, _store) = simulators(1000).await;
    env.apply_recovery(ns, name, &sims).await;
    let (stalled, phase) = env
        .wait_status(ns, name, 120, |s| {
            condition_with(s, "Stalled", "PodsNotCreated").map(|c| (c, s.phase))
        })
        .await;
    assert!(stalled.message.contains("exceeded quota"), "{stalled:?}");
    assert_eq!(phase, Some(Phase::Pending));
    assert_eq!(sim_report(&sims).await.ingested, 0);
}

/// The condition `type_` of `status` when it is True with `reason`.
fn condition_with(
    status: &DigitalRecoveryStatus,
    type_: &str,
    reason: &str,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True" && c.reason == reason)
        .cloned()
}

/// The `kubectl describe` Events of `ns/name`, as a person reads them, once they satisfy
/// `wanted` (an Event is published just after the status that it accompanies, so it may lag
/// what the status shows; panics after 30 s with what describe shows).
async fn described_events(
    env: &Env,
    ns: &str,
    name: &str,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let described = env
            .kubectl_ok(&["describe", "dr", name, "-n", ns], None)
            .await;
        let events = described
            .split("Events:")
            .nth(1)
            .unwrap_or_default()
            .to_string();
        if wanted(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{ns}/{name}: the Events wanted are not in `kubectl describe` after 30 s:\n{described}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// (5b) A reconcile that fails (here: a quota that admits no more ServiceAccounts, so the
/// worker identity cannot be created) shows as a Stalled condition and a Warning Event with the
/// apiserver's reason; once the quota is lifted the recovery runs to its final phase.
async fn reconcile_error(env: Env) {
    let (ns, name) = ("ct-reconcile-error", "blocked");
    env.namespace(ns, &[]).await;
    // The namespace's `default` ServiceAccount first, so that the quota admits it and no other.
    let accounts: Api<ServiceAccount> = Api::namespaced(env.client.clone(), ns);
    let deadline = Instant::now() + Duration::from_secs(60);
    while accounts.get_opt("default").await.ok().flatten().is_none() {
        assert!(
            Instant::now() < deadline,
            "no default ServiceAccount in {ns}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    env.quota(ns, "one-account", json!({"count/serviceaccounts": "1"}))
        .await;
    let (sims, _store) = simulators(1000).await;
    env.apply_recovery(ns, name, &sims).await;
    let stalled = env
        .wait_status(ns, name, 120, |s| {
            condition_with(s, "Stalled", "ReconcileError")
        })
        .await;
    assert!(
        stalled.message.contains("ServiceAccount") && stalled.message.contains("exceeded quota"),
        "the reconcile error in words: {stalled:?}"
    );
    described_events(&env, ns, name, |events| {
        events.contains("Warning") && events.contains("exceeded quota")
    })
    .await;
    assert_eq!(sim_report(&sims).await.ingested, 0);

    env.kubectl_ok(&["delete", "resourcequota", "one-account", "-n", ns], None)
        .await;
    let dr = env.wait_finished(ns, name).await;
    assert_truth("after the reconcile error", &dr, &sim_report(&sims).await);
}

/// Memory limit of the worker in the OOM scenario: below what a worker needs to start (12Mi
/// runs a 20,000-conversation shard here; 4Mi kills the runtime's init before the worker).
const TOO_LITTLE_MEMORY: &str = "8Mi";

/// (8) A worker over its memory limit (`spec.worker.memoryLimit`): the kernel kills it, the
/// Job retries it and gives up, and the recovery ends Failed with reason OOMKilled, the limit
/// and the fix in words; nothing reached the recording side twice.
async fn oom_killed(env: Env) {
    let (ns, name) = ("ct-oom", "oom");
    env.namespace(ns, &[]).await;
    let (sims, _store) = simulators(20_000).await;
    let mut dr = recovery::recovery(name, &sims, 1);
    dr.spec.worker = Some(WorkerSpec {
        memory_limit: Some(TOO_LITTLE_MEMORY.into()),
    });
    env.apply(ns, dr).await;
    let dr = env.wait_finished(ns, name).await;
    let status = dr.status.clone().unwrap_or_default();
    assert_eq!(status.phase, Some(Phase::Failed), "{status:?}");
    for type_ in ["Ready", "Stalled"] {
        let c = status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap_or_else(|| panic!("no {type_}: {status:?}"));
        assert_eq!(c.reason, "OOMKilled", "{c:?}");
        assert!(
            c.message.contains(&format!("limit of {TOO_LITTLE_MEMORY}"))
                && c.message.contains("spec.worker.memoryLimit"),
            "{c:?}"
        );
    }
    // What the kubelet says, independently of the operator.
    let job = job_of(&env, &dr).await;
    let pods = job_pods(&env, ns, &job.name_any()).await;
    let oom = pods
        .iter()
        .filter(|p| {
            p.status
                .iter()
                .flat_map(|s| s.container_statuses.iter().flatten())
                .filter_map(|c| c.state.as_ref()?.terminated.as_ref())
                .any(|t| t.reason.as_deref() == Some("OOMKilled"))
        })
        .count();
    assert!(oom > 0, "no pod OOMKilled: {pods:?}");
    described_events(&env, ns, name, |events| events.contains("OOMKilled")).await;
    let truth = sim_report(&sims).await;
    assert_eq!(truth.duplicates, 0, "{truth:?}");
    assert_eq!(truth.conflicts, 0, "{truth:?}");
}

/// Names of what `owner` controls, by kind.
async fn owned(env: &Env, ns: &str, owner_uid: &str) -> BTreeMap<&'static str, BTreeSet<String>> {
    fn owned_by<K: Resource>(items: Vec<K>, uid: &str) -> BTreeSet<String> {
        items
            .into_iter()
            .filter(|o| {
                o.meta()
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.uid == uid)
            })
            .filter_map(|o| o.meta().name.clone())
            .collect()
    }
    let c = &env.client;
    let lp = ListParams::default();
    let mut out = BTreeMap::new();
    macro_rules! kind {
        ($name:literal, $ty:ty) => {
            out.insert(
                $name,
                owned_by(
                    Api::<$ty>::namespaced(c.clone(), ns)
                        .list(&lp)
                        .await
                        .unwrap_or_else(|e| panic!("{} in {ns}: {e}", $name))
                        .items,
                    owner_uid,
                ),
            );
        };
    }
    kind!("Job", Job);
    kind!("ServiceAccount", ServiceAccount);
    kind!("Role", Role);
    kind!("RoleBinding", RoleBinding);
    kind!("ConfigMap", ConfigMap);
    out
}

/// (4) The recovery deleted: its Job, pods, worker ServiceAccount/Role/RoleBinding and report
/// ConfigMaps are garbage-collected; re-created under the same name (against fresh simulators)
/// it runs again to its final phase.
async fn deleted_and_recreated(env: Env) {
    let (ns, name) = ("ct-recreate", "recreate");
    env.namespace(ns, &[]).await;
    let (sims, _store) = simulators(1000).await;
    env.apply_recovery(ns, name, &sims).await;
    let dr = env.wait_finished(ns, name).await;
    assert_truth(name, &dr, &sim_report(&sims).await);
    let uid = dr.uid().unwrap_or_default();
    let before = owned(&env, ns, &uid).await;
    for kind in ["Job", "ServiceAccount", "Role", "RoleBinding", "ConfigMap"] {
        assert!(
            !before[kind].is_empty(),
            "{name}: no {kind} owned by the recovery: {before:?}"
        );
    }
    let job = job_of(&env, &dr).await;
    let job_uid = job.uid().unwrap_or_default();
    let pods_before = job_pods(&env, ns, &job.name_any()).await.len();
    assert_eq!(pods_before, SHARDS as usize);

    env.kubectl_ok(&["delete", "dr", name, "-n", ns], None)
        .await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let left = owned(&env, ns, &uid).await;
        let pods_left: Vec<String> = Api::<Pod>::namespaced(env.client.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("pods: {e}"))
            .items
            .into_iter()
            .filter(|p| p.owner_references().iter().any(|o| o.uid == job_uid))
            .map(|p| p.name_any())
            .collect();
        if left.values().all(BTreeSet::is_empty) && pods_left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: not garbage-collected after 90 s: {left:?}, pods {pods_left:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let (sims, _store) = simulators(1000).await;
    env.apply_recovery(ns, name, &sims).await;
    let dr = env.wait_finished(ns, name).await;
    assert_ne!(dr.uid().unwrap_or_default(), uid);
    assert_truth(
        &format!("{name} (re-created)"),
        &dr,
        &sim_report(&sims).await,
    );
}

/// (5) A 100-character recovery name runs to its final phase.
async fn long_name(env: Env) {
    let ns = "ct-long-name";
    let name = format!("long-{}", "n".repeat(95));
    assert_eq!(name.len(), 100);
    env.namespace(ns, &[]).await;
    let (sims, _store) = simulators(1000).await;
    env.apply_recovery(ns, &name, &sims).await;
    let dr = env.wait_finished(ns, &name).await;
    assert_truth("100-character name", &dr, &sim_report(&sims).await);
}

/// (6) A namespace enforcing Pod Security `restricted`: the worker pods are admitted and the
/// recovery runs there.
async fn restricted_namespace(env: Env) {
    let (ns, name) = ("ct-restricted", "restricted");
    env.namespace(ns, &[("pod-security.kubernetes.io/enforce", "restricted")])
        .await;
    let (sims, _store) = simulators(1000).await;
    env.apply_recovery(ns, name, &sims).await;
    let dr = env.wait_finished(ns, name).await;
    assert_truth("restricted namespace", &dr, &sim_report(&sims).await);
}

/// activeDeadlineSeconds of the worker Jobs in the deadline scenario: far shorter than its run.
/// (the chart's schema allows no less than 60).
const SHORT_DEADLINE_SECS: u64 = 60;

/// (7) The chart's Job deadline too short for the run (`controller.jobDeadlineSeconds`, set with
/// `helm upgrade`): the job controller stops the workers, the recovery ends Failed and says in
/// words that the deadline was exceeded, the shards' progress stays in its status, and nothing
/// reached the recording side twice. Runs last and alone (it restarts the controllers with the
/// new deadline).
async fn job_deadline(env: Env) {
    let mut upgrade = tokio::process::Command::from(env.helm());
    upgrade
        .args(["upgrade", RELEASE])
        .arg(repo().join("charts/digital-recovery"))
        .args([
            "-n",
            SYSTEM_NS,
            "--reuse-values",
            "--wait",
            "--timeout",
            "180s",
        ])
        .args([
            "--set",
            &format!("controller.jobDeadlineSeconds={SHORT_DEADLINE_SECS}"),
        ])
        .stdout(Stdio::null());
    let status = upgrade
        .status()
        .await
        .unwrap_or_else(|e| panic!("helm upgrade: {e}"));
    assert!(status.success(), "helm upgrade: {status}");
    two_ready_one_leader(&env).await;

    let (ns, name) = ("ct-deadline", "deadline");
    env.namespace(ns, &[]).await;
    // Paced at 100 requests a minute per shard, its calls take about three minutes, three times
    // the deadline (at the default 300 a minute, recordings fetched in batches brought the run
    // under it: 52 s).
    let (sims, _store) = slow_simulators(20_000, 40).await;
    let mut slow = recovery::recovery(name, &sims, SHARDS);
    slow.spec.genesys.requests_per_minute = Some(100);
    let dr = env.apply(ns, slow).await;
    let job = job_of(&env, &dr).await;
    assert_eq!(
        job.spec.as_ref().and_then(|s| s.active_deadline_seconds),
        Some(SHORT_DEADLINE_SECS as i64)
    );
    let dr = env.wait_finished(ns, name).await;
    let truth = sim_report(&sims).await;
    let status = dr.status.clone().unwrap_or_default();
    assert_eq!(status.phase, Some(Phase::Failed), "{status:?}");
    assert!(
        truth.still_missing > 0,
        "the run was not cut short: {truth:?}"
    );
    assert_eq!(truth.duplicates, 0, "{truth:?}");
    assert_eq!(truth.conflicts, 0, "{truth:?}");
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap_or_else(|| panic!("no Ready condition: {status:?}"));
    assert_eq!(ready.status, "False", "{ready:?}");
    for c in status
        .conditions
        .iter()
        .filter(|c| c.type_ == "Ready" || c.type_ == "Stalled")
    {
        // The reason stays DeadlineExceeded in later reconciles too (it used to turn "Failed").
        assert_eq!(c.reason, "DeadlineExceeded", "{c:?}");
        assert!(
            c.message.contains("longer than specified deadline"),
            "the deadline in words: {c:?}"
        );
    }
    // `kubectl describe` shows it as a Warning Event.
    described_events(&env, ns, name, |events| {
        events.contains("Warning") && events.contains("deadline")
    })
    .await;
    // The shards' progress is kept: what the workers reported before they were stopped, never
    // more than the recording side took in.
    assert_eq!(status.shards.len(), SHARDS as usize, "{status:?}");
    let reported: u64 = status
        .shards
        .iter()
        .filter_map(|s| s.progress)
        .map(|p| p.recovered)
        .sum();
    assert!(
        reported > 0 && reported <= truth.ingested,
        "shards' progress {reported} against {truth:?}"
    );
}

/// (13) A schedule over data with deleted recordings keeps moving: its watermark advances run
/// after run (each run PartiallySucceeded for the deleted ones), every deleted conversation the
/// recording side lacks is in the schedule's ledger with reason `deleted`, everything else
/// arrived once, and Flux's kstatus and the Argo CD checks of docs/argocd agree on every version
/// of the schedule and its runs seen along the way.
async fn schedule_past_deleted(env: Env) {
    use digital_recovery::api::DigitalRecoverySchedule;
    use digital_recovery::sim::dataset::{FileState, RecordingSideState};
    use jiff::{SignedDuration, Timestamp};

    let ns = "ct-schedule";
    env.namespace(ns, &[]).await;
    let recorder = support::health::Recorder::start(env.client.clone(), &[ns]);
    // Data from 2 h to 40 min ago, every conversation ended (by 20 min ago): nothing carried,
    // so only the deleted recordings could hold a schedule back, as they once did.
    let now = Timestamp::now();
    let mut config = recovery::sim_config(1500, 0);
    config.bind = node_ip();
    config.window = digital_recovery::api::Window {
        start: now - SignedDuration::from_hours(2),
        end: now - SignedDuration::from_mins(40),
    };
    config.open_rate = 0.0;
    config.deleted_rate = 0.1;
    let (sims, store) = recovery::start_simulators(config, recovery::recording_config()).await;
    let deleted: BTreeSet<String> = sims
        .dataset
        .conversations
        .iter()
        .filter(|c| {
            c.is_text()
                && c.recording_side == RecordingSideState::Missing
                && !c.recordings.is_empty()
                && c.recordings
                    .iter()
                    .all(|r| r.file_state == FileState::Deleted)
        })
        .map(|c| c.id.to_string())
        .collect();
    assert!(!deleted.is_empty(), "the data has deleted recordings");

    let schedule = recovery::schedule(
        "rolling",
        ns,
        &sims,
        json!({"parallelism": 2}),
        json!({
            "every": "20s",
            "settleDelay": "1m",
            "initialLookback": "3h",
            "maxWindow": "3h",
            "overlap": "0s",
            "successfulHistoryLimit": 2,
            "failedHistoryLimit": 2
        }),
    );
    let manifest =
        serde_json::to_string(&schedule).unwrap_or_else(|e| panic!("schedule manifest: {e}"));
    env.kubectl_ok(&["apply", "-f", "-"], Some(manifest)).await;

    // Three watermarks in a row (the first run covers all the data and ends PartiallySucceeded).
    let schedules: Api<DigitalRecoverySchedule> = Api::namespaced(env.client.clone(), ns);
    let mut watermarks: Vec<Timestamp> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(FINISH_SECS);
    while watermarks.len() < 3 {
        if let Some(w) = schedules
            .get("rolling")
            .await
            .ok()
            .and_then(|s| s.status)
            .and_then(|s| s.watermark)
            .and_then(|w| w.parse::<Timestamp>().ok())
            && watermarks.last() != Some(&w)
        {
            watermarks.push(w);
        }
        assert!(
            Instant::now() < deadline,
            "{ns}: the watermark stopped moving: {watermarks:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        watermarks[0] >= sims.config.window.end,
        "the first finished run moved past all the data: {watermarks:?}"
    );
    let truth = sim_report(&sims).await;
    assert_eq!((truth.still_missing, truth.duplicates), (0, 0), "{truth:?}");

    // The deleted ones are in the ledger with their reason, and nothing else is.
    let ledger = digital_recovery::ledger::read_ledger(&env.client, ns, "rolling")
        .await
        .unwrap_or_else(|e| panic!("{ns}: ledger: {e}"));
    let in_ledger: BTreeMap<String, String> = ledger
        .iter()
        .map(|e| {
            (
                e.conversation_id.to_string(),
                e.reason.clone().unwrap_or_default(),
            )
        })
        .collect();
    for id in &deleted {
        assert_eq!(
            in_ledger.get(id).map(String::as_str),
            Some("deleted"),
            "{ns}: {id} in the ledger: {in_ledger:?}"
        );
        assert!(
            store
                .held_sessions(id.parse().unwrap_or_default())
                .is_none()
        );
    }

    // Flux and Argo CD agree on every version of the schedule and its runs.
    schedules
        .patch(
            "rolling",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"suspend": true}})),
        )
        .await
        .unwrap_or_else(|e| panic!("{ns}: suspend: {e}"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut kinds = BTreeSet::new();
    for (_, v) in recorder.judged_agreeing(ns) {
        kinds.insert((v.kind.clone(), v.kstatus.clone()));
    }
    assert!(
        kinds.contains(&("DigitalRecovery".to_string(), "Current".to_string()))
            && kinds.contains(&("DigitalRecoverySchedule".to_string(), "Current".to_string())),
        "{ns}: finished runs and the schedule were judged: {kinds:?}"
    );
}

type Scenario = fn(Env) -> futures::future::BoxFuture<'static, ()>;
type Scenarios = Vec<(&'static str, Scenario)>;

/// The scenarios in three batches: the leader kill alone (it kills a controller), then the rest
/// at once, then the Job deadline alone (it changes the chart's values).
fn scenarios() -> (Scenarios, Scenarios, Scenarios) {
    use futures::FutureExt;
    let alone: Scenarios = vec![("leader_failover", |e| leader_failover(e).boxed())];
    let together: Scenarios = vec![
        ("indexed_job", |e| indexed_job(e).boxed()),
        ("worker_deleted", |e| worker_deleted(e).boxed()),
        ("worker_killed", |e| worker_killed(e).boxed()),
        ("cancelled", |e| cancelled(e).boxed()),
        ("pods_refused", |e| pods_refused(e).boxed()),
        ("deleted_and_recreated", |e| {
            deleted_and_recreated(e).boxed()
        }),
        ("long_name", |e| long_name(e).boxed()),
        ("restricted_namespace", |e| restricted_namespace(e).boxed()),
        ("reconcile_error", |e| reconcile_error(e).boxed()),
        ("oom_killed", |e| oom_killed(e).boxed()),
        ("schedule_past_deleted", |e| {
            schedule_past_deleted(e).boxed()
        }),
    ];
    let last: Scenarios = vec![("job_deadline", |e| job_deadline(e).boxed())];
    (alone, together, last)
}

/// Scenarios that run only when `DR_CLUSTER_SCENARIOS` names them: the cluster benchmarks.
fn opt_in() -> Scenarios {
    use futures::FutureExt;
    vec![("shard_memory", |e| bench::shard_memory(e).boxed())]
}

/// Runs `batch` at once, each in its own task; the names of those that failed.
async fn run_batch(env: &Env, batch: Scenarios) -> Vec<String> {
    let wanted: Option<Vec<String>> = std::env::var("DR_CLUSTER_SCENARIOS")
        .ok()
        .map(|s| s.split(',').map(|n| n.trim().to_string()).collect());
    let mut tasks = Vec::new();
    for (name, scenario) in batch {
        if wanted
            .as_ref()
            .is_some_and(|w| !w.iter().any(|n| n == name))
        {
            continue;
        }
        let env = env.clone();
        tasks.push((
            name,
            tokio::spawn(async move {
                let started = Instant::now();
                eprintln!("cluster tier: {name}: started");
                scenario(env).await;
                eprintln!(
                    "cluster tier: {name}: passed in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }),
        ));
    }
    let mut failed = Vec::new();
    for (name, task) in tasks {
        if let Err(err) = task.await {
            eprintln!("cluster tier: {name}: FAILED: {err}");
            failed.push(name.to_string());
        }
    }
    failed
}

/// What a person needs to see when a scenario failed: every object of the tier and the
/// controllers' logs.
fn diagnostics(cluster: &Cluster) {
    let mut out = cluster.command("kubectl");
    out.args(["get", "all,dr,leases", "-A", "-o", "wide"]);
    if let Ok(o) = out.output() {
        eprintln!("{}", String::from_utf8_lossy(&o.stdout));
    }
    // Evictions (disk or memory pressure on a shared machine) and other warnings.
    let mut events = cluster.command("kubectl");
    events.args(["get", "events", "-A", "--field-selector", "type=Warning"]);
    if let Ok(o) = events.output() {
        eprintln!("{}", String::from_utf8_lossy(&o.stdout));
    }
    let mut logs = cluster.command("kubectl");
    logs.args([
        "logs",
        "-n",
        SYSTEM_NS,
        "-l",
        "app.kubernetes.io/name=digital-recovery",
        "--tail",
        "60",
        "--prefix",
    ]);
    if let Ok(o) = logs.output() {
        eprintln!("{}", String::from_utf8_lossy(&o.stdout));
    }
}

#[test]
fn cluster_tier() {
    if std::env::var("DR_CLUSTER_TIER").as_deref() == Ok("skip") {
        eprintln!("cluster tier: skipped (DR_CLUSTER_TIER=skip)");
        return;
    }
    if !is_root() {
        eprintln!(
            "cluster tier: SKIPPED: needs root (a bridge, an address on lo, iptables rules); \
             run `make test` as root to include it"
        );
        return;
    }
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
    let free = free_disk_mib(&cluster_dir());
    assert!(
        free >= MIN_FREE_MIB,
        "only {free} MiB free on the disk of {}; the cluster tier needs {MIN_FREE_MIB} MiB (the \
         image, containerd's copy of it, etcd, pod logs)",
        cluster_dir().display()
    );
    let cluster = Cluster::up();
    let (repository, tag) = build_image(work.path());
    let mut helm = cluster.command("helm");
    helm.stderr(Stdio::inherit());
    let installed = helm
        .args(["install", RELEASE])
        .arg(repo().join("charts/digital-recovery"))
        .args([
            "-n",
            SYSTEM_NS,
            "--create-namespace",
            "--wait",
            "--timeout",
            "180s",
        ])
        .args(["--set", &format!("image.repository={repository}")])
        .args(["--set", &format!("image.tag={tag}")])
        .args(["--set", "image.pullPolicy=IfNotPresent"])
        .args(["--set", "controller.replicas=2"])
        // The scenarios are independent simulated orgs that share one tenant name: admission
        // must not run them one after the other.
        .args(["--set", "maxConcurrentRecoveriesPerTenant=0"])
        // A leader change within seconds rather than the default quarter minute.
        .args(["--set", "controller.leaseDurationSeconds=10"])
        .status();
    if !installed.as_ref().is_ok_and(|s| s.success()) {
        diagnostics(&cluster);
        panic!("helm install failed: {installed:?} (its output and the cluster's state are above)");
    }
    eprintln!(
        "cluster tier: ready for scenarios after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let failed = runtime.block_on(async {
        let env = Env {
            client: cluster.client().await,
            kubeconfig: cluster.kubeconfig.clone(),
            bin: cluster.bin.clone(),
        };
        // The chart's Deployment is there with 2 replicas.
        let deployment = Api::<Deployment>::namespaced(env.client.clone(), SYSTEM_NS)
            .get(CONTROLLER)
            .await
            .unwrap_or_else(|e| panic!("deployment: {e}"));
        assert_eq!(deployment.spec.replicas, Some(2));
        let (alone, together, last) = scenarios();
        let mut failed = run_batch(&env, alone).await;
        failed.extend(run_batch(&env, together).await);
        failed.extend(run_batch(&env, last).await);
        if std::env::var("DR_CLUSTER_SCENARIOS").is_ok() {
            failed.extend(run_batch(&env, opt_in()).await);
        }
        failed
    });
    if !failed.is_empty() {
        diagnostics(&cluster);
    }
    eprintln!(
        "cluster tier: scenarios done after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(runtime);
    drop(cluster);
    eprintln!(
        "cluster tier: {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
    assert!(
        failed.is_empty(),
        "cluster tier: failed scenarios: {failed:?}"
    );
}

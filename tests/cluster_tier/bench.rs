//! The worker's memory on the real node: the cluster section of `make bench` (opt-in scenario
//! `shard_memory`, never part of `make test`). One shard of 200,000 conversations over 240 h (the
//! worker bench's 10x window) runs under the chart's default worker resources; its peak is read
//! from the worker container's memory cgroup on the host (`memory.max_usage_in_bytes` on cgroup
//! v1, `memory.peak` on v2: what the kernel holds against the limit, page cache included) while
//! it runs, and printed as a `BENCH_JSON` line that scripts/bench.sh collects.

use super::*;

use jiff::{SignedDuration, Timestamp};

use digital_recovery::api::Window;

/// Conversations of the shard (`BENCH_CLUSTER_CONVERSATIONS` overrides).
const CONVERSATIONS: usize = 200_000;
/// Span of the window: ten days, the density of the worker bench's 10x run.
const SPAN_HOURS: i64 = 240;
/// How often the cgroup is read while the worker runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);
/// Longest the run may take here.
const BENCH_FINISH_SECS: u64 = 2400;

/// The cgroup directories of a pod's container, in whichever hierarchy holds memory.
fn container_cgroup(pod_uid: &str, container_id: &str) -> Option<(PathBuf, &'static str)> {
    let roots = [
        (
            Path::new("/sys/fs/cgroup/memory"),
            "memory.max_usage_in_bytes",
        ),
        (Path::new("/sys/fs/cgroup"), "memory.peak"),
    ];
    for (root, file) in roots {
        if let Some(pod) = find_dir(root, &format!("pod{pod_uid}"), 6) {
            let dir = pod.join(container_id);
            if dir.join(file).is_file() {
                return Some((dir.join(file), file));
            }
        }
    }
    None
}

/// The first directory named `name` under `dir`, at most `depth` levels down.
fn find_dir(dir: &Path, name: &str, depth: u32) -> Option<PathBuf> {
    let entries = fs::read_dir(dir).ok()?;
    let dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    if let Some(found) = dirs
        .iter()
        .find(|d| d.file_name().is_some_and(|n| n == name))
    {
        return Some(found.clone());
    }
    if depth == 0 {
        return None;
    }
    dirs.iter().find_map(|d| find_dir(d, name, depth - 1))
}

/// A memory quantity as the chart writes it (`512Mi`, `1Gi`), in bytes.
fn quantity_bytes(q: &str) -> Option<u64> {
    let units = [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().ok().map(|n| n * factor);
        }
    }
    q.parse().ok()
}

/// The running worker pod of `job`: (pod uid, container id without its runtime prefix).
async fn running_worker(env: &Env, ns: &str, job: &str) -> Option<(String, String)> {
    job_pods(env, ns, job).await.into_iter().find_map(|p| {
        let uid = p.uid()?;
        let id = p
            .status?
            .container_statuses?
            .into_iter()
            .find(|c| c.name == "worker" && c.state.as_ref().is_some_and(|s| s.running.is_some()))?
            .container_id?;
        Some((uid, id.rsplit("://").next()?.to_string()))
    })
}

/// One shard of 200,000 conversations under the default worker limit; prints its peak.
pub async fn shard_memory(env: Env) {
    let conversations = std::env::var("BENCH_CLUSTER_CONVERSATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CONVERSATIONS);
    let mut config = recovery::sim_config(conversations, 0);
    config.bind = node_ip();
    let end = config.window.end;
    config.window = Window {
        start: end - SignedDuration::from_hours(SPAN_HOURS),
        end,
    };
    let (sims, _store) = recovery::start_simulators(config, recovery::recording_config()).await;
    let (ns, name) = ("ct-bench-memory", "shard-memory");
    env.namespace(ns, &[]).await;
    let started = Instant::now();
    let mut dr = recovery::recovery(name, &sims, 1);
    // The per-token maximum, as the worker bench: the run is bound by the rate, not the data.
    dr.spec.genesys.requests_per_minute = Some(3000);
    let dr = env.apply(ns, dr).await;
    let job = job_of(&env, &dr).await;
    let limit = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| {
            c.resources
                .as_ref()?
                .limits
                .as_ref()?
                .get("memory")
                .cloned()
        })
        .unwrap_or_else(|| panic!("the worker container has no memory limit"));
    let limit_bytes =
        quantity_bytes(&limit.0).unwrap_or_else(|| panic!("memory limit `{}`", limit.0));

    let api: Api<DigitalRecovery> = Api::namespaced(env.client.clone(), ns);
    let deadline = Instant::now() + Duration::from_secs(BENCH_FINISH_SECS);
    let mut cgroup: Option<(PathBuf, &str)> = None;
    let (mut peak, mut samples) = (0u64, 0u64);
    let dr = loop {
        if cgroup.is_none()
            && let Some((uid, id)) = running_worker(&env, ns, &job.name_any()).await
        {
            cgroup = container_cgroup(&uid, &id);
        }
        if let Some((file, _)) = &cgroup
            && let Some(v) = fs::read_to_string(file)
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
        {
            peak = peak.max(v);
            samples += 1;
        }
        if let Some(dr) = api.get_opt(name).await.ok().flatten()
            && dr
                .status
                .as_ref()
                .and_then(|s| s.phase)
                .is_some_and(finished)
        {
            break dr;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: no final phase in {BENCH_FINISH_SECS} s"
        );
        tokio::time::sleep(SAMPLE_EVERY).await;
    };
    let elapsed = started.elapsed().as_secs_f64();
    let truth = sim_report(&sims).await;
    assert_truth("the 200,000-conversation shard", &dr, &truth);
    let (file, kind) =
        cgroup.unwrap_or_else(|| panic!("the worker's memory cgroup was never found"));
    assert!(samples > 0, "no sample of {}", file.display());
    let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
    let status = dr.status.clone().unwrap_or_default();
    let record = json!({
        "bench": "cluster", "part": "shard_memory",
        "conversations": conversations, "span_hours": SPAN_HOURS,
        "peak_mib": mib(peak), "limit": limit.0, "limit_mib": mib(limit_bytes),
        "fraction_of_limit": peak as f64 / limit_bytes as f64,
        "cgroup_file": kind, "samples": samples, "elapsed_s": elapsed,
        "phase": format!("{:?}", status.phase.unwrap_or(Phase::Pending)),
        "missing": status.match_counts.map(|m| m.missing + m.partial),
        "ingested": truth.ingested, "still_missing": truth.still_missing,
        "duplicates": truth.duplicates,
        "measured": Timestamp::now().to_string(),
        "commit": Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(repo())
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()),
    });
    println!("BENCH_JSON {record}");
    eprintln!(
        "cluster bench: {conversations} conversations in one shard: peak {:.1} MiB of {} \
         ({} samples of {kind}), {elapsed:.0} s",
        mib(peak),
        limit.0,
        samples
    );
    // Room to spare: under half the limit.
    assert!(
        peak < limit_bytes / 2,
        "peak {:.1} MiB is not under half the {} limit",
        mib(peak),
        limit.0
    );
}

#[test]
fn quantities_read_as_the_chart_writes_them() {
    assert_eq!(quantity_bytes("512Mi"), Some(512 << 20));
    assert_eq!(quantity_bytes("2Gi"), Some(2 << 30));
    assert_eq!(quantity_bytes("1000"), Some(1000));
    assert_eq!(quantity_bytes("lots"), None);
}

//! `digital-recovery worker`: one shard of one recovery, run as one index of the recovery's
//! Indexed Job. It reads its DigitalRecovery, computes its slice of the window, runs the pipeline,
//! writes its own `status.shards[index]` entry (server-side apply, field manager
//! `digital-recovery-worker-<index>`, at most about once a second) and its report ConfigMaps.
//!
//! Exit codes: 0 when the shard finished (also with per-conversation failures); 1 for errors a
//! Job retry can fix (the pipeline is idempotent: a retry matches again, and the recording side
//! already holds what an earlier attempt ingested); 3 ([`EXIT_CONFIG_ERROR`]) when retrying
//! cannot help (missing credentials, an unusable spec), which the Job's pod failure policy turns
//! into a failed index at once; 143 ([`EXIT_TERMINATED`]) when SIGTERM stopped it (its pod was
//! deleted, evicted, drained or preempted): retryable, and never written as a final shard entry.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    sync::{Arc, Mutex},
    time::Duration,
};

use flate2::{Compression, read::GzDecoder, write::GzEncoder};
use jiff::Timestamp;
use k8s_openapi::{
    ByteString, api::core::v1::ConfigMap, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::http::{ClientCredentials, Secret};
use crate::{
    api::{
        DigitalRecovery, DigitalRecoverySpec, FailureRecord, MAX_SHARD_FAILURES, MediaType,
        MediaTypeCounts, ShardPhase, ShardStatus, Window,
    },
    controller::resources::{
        ENV_GENESYS_CLIENT_ID, ENV_GENESYS_CLIENT_SECRET, ENV_RECORDING_CLIENT_ID,
        ENV_RECORDING_CLIENT_SECRET, EXIT_CONFIG_ERROR, EXIT_TERMINATED, RECOVERY_LABEL,
        SHARD_LABEL, label_value,
    },
    pipeline::{
        journal::{Journal, NoJournal},
        progress::{Outcome, OutcomeRecord, ProgressReporter, ShardProgress},
        shard::slice_of,
    },
};

mod journal;
pub use journal::{ConfigMapJournal, JOURNAL_KEY, JOURNAL_LABEL, journal_name};

/// Label of a report ConfigMap's part number.
pub const PART_LABEL: &str = "recovery.cxops.io/part";
/// Data key of a report ConfigMap.
pub const REPORT_KEY: &str = "outcomes.jsonl.gz";
/// Compressed bytes per report ConfigMap (the apiserver's limit is 1 MiB per object).
const REPORT_PART_BYTES: usize = 900 * 1024;
/// Least time between two status writes of one shard.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);
/// How long the worker keeps retrying an apiserver call that failed transiently (apiserver
/// restarting, overloaded) before giving up. Finished work must not be redone because the
/// apiserver was away for a minute when the shard wanted to write its result.
const APISERVER_PATIENCE: Duration = Duration::from_secs(180);
/// How long the pipeline gets to stop after SIGTERM before the worker abandons it; with the
/// status write below it stays well inside the pod's termination grace period.
pub const WIND_DOWN: Duration = Duration::from_secs(10);
/// How long a terminated worker tries to write its progress so far.
const STATUS_ON_TERMINATION: Duration = Duration::from_secs(5);

/// Whether a Kubernetes API error may go away by itself: no connection, a 429 or a 5xx.
fn transient_kube_error(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

impl WorkerError {
    fn is_transient(&self) -> bool {
        matches!(self, WorkerError::Kube(e) if transient_kube_error(e))
    }
}

/// Runs `call` until it succeeds, fails for good, or [`APISERVER_PATIENCE`] has passed, backing
/// off 0.5 s doubling to 10 s between transient failures.
async fn patiently<T, E, F, Fut>(what: &str, transient: fn(&E) -> bool, mut call: F) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + APISERVER_PATIENCE;
    let mut delay = Duration::from_millis(500);
    loop {
        match call().await {
            Err(e) if transient(&e) && tokio::time::Instant::now() + delay < deadline => {
                warn!(error = %e, what, "the apiserver is unavailable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            result => return result,
        }
    }
}

/// Everything one shard's pipeline run needs.
pub struct ShardInput {
    pub spec: DigitalRecoverySpec,
    pub namespace: String,
    pub name: String,
    pub slice: Window,
    pub shard: u32,
    pub genesys: ClientCredentials,
    pub recording_side: ClientCredentials,
    /// What earlier attempts of this shard set out to recover; notes what this one does.
    pub journal: Arc<dyn Journal>,
}

/// Why a shard's pipeline run stopped.
#[derive(Debug, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct ShardError {
    /// One camelCase word (e.g. `Unreachable`), shown in the shard's status.
    pub reason: String,
    /// Details for a person; never credentials.
    pub message: String,
    /// Whether a Job retry can help.
    pub retryable: bool,
}

/// Runs the pipeline for one shard. The production runner calls `crate::pipeline::run_shard`.
#[async_trait::async_trait]
pub trait ShardRunner: Send + Sync {
    async fn run(
        &self,
        input: ShardInput,
        reporter: Arc<dyn ProgressReporter>,
        cancel: CancellationToken,
    ) -> Result<ShardProgress, ShardError>;
}

/// Errors of the worker itself.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("no shard index: pass --shard or set JOB_COMPLETION_INDEX")]
    NoShard,
    #[error("Kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot serialize: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot compress the report: {0}")]
    Io(#[from] std::io::Error),
    #[error("shard {shard} is out of range for parallelism {parallelism}")]
    ShardOutOfRange { shard: u32, parallelism: u32 },
    #[error("credentials missing: {0}")]
    CredentialsMissing(String),
    #[error("pipeline failed: {0}")]
    Pipeline(ShardError),
    #[error(
        "stopped by SIGTERM (the pod is being deleted, evicted or preempted); the Job runs the shard again"
    )]
    Terminated,
}

impl WorkerError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            WorkerError::ShardOutOfRange { .. }
            | WorkerError::CredentialsMissing(_)
            | WorkerError::NoShard => EXIT_CONFIG_ERROR,
            WorkerError::Pipeline(e) if !e.retryable => EXIT_CONFIG_ERROR,
            WorkerError::Terminated => EXIT_TERMINATED,
            _ => 1,
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct WorkerArgs {
    pub namespace: String,
    pub name: String,
    pub shard: Option<u32>,
}

/// The shard index from `--shard` or `JOB_COMPLETION_INDEX`.
pub fn shard_index(explicit: Option<u32>) -> Result<u32, WorkerError> {
    if let Some(i) = explicit {
        return Ok(i);
    }
    std::env::var("JOB_COMPLETION_INDEX")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or(WorkerError::NoShard)
}

fn read_credentials(
    spec: &DigitalRecoverySpec,
) -> Result<(ClientCredentials, ClientCredentials), WorkerError> {
    let mut missing = Vec::new();
    let mut get = |env: &str, secret: &str, key: &str| -> String {
        match std::env::var(env) {
            Ok(v) if !v.is_empty() => v,
            _ => {
                missing.push(format!("Secret {secret:?} key {key:?}"));
                String::new()
            }
        }
    };
    let g = &spec.genesys.credentials_secret;
    let r = &spec.recording_side.credentials_secret;
    let genesys = ClientCredentials {
        client_id: get(ENV_GENESYS_CLIENT_ID, g, "clientId"),
        client_secret: Secret::new(get(ENV_GENESYS_CLIENT_SECRET, g, "clientSecret")),
    };
    let recording = ClientCredentials {
        client_id: get(ENV_RECORDING_CLIENT_ID, r, "clientId"),
        client_secret: Secret::new(get(ENV_RECORDING_CLIENT_SECRET, r, "clientSecret")),
    };
    if missing.is_empty() {
        Ok((genesys, recording))
    } else {
        Err(WorkerError::CredentialsMissing(format!(
            "{} not found (the Secret does not exist in this namespace or lacks the key)",
            missing.join(", ")
        )))
    }
}

/// Per-shard state the reporter accumulates and the status writer publishes.
#[derive(Default)]
struct Collected {
    progress: ShardProgress,
    outcomes: Vec<OutcomeRecord>,
    by_media: BTreeMap<MediaType, MediaTypeCounts>,
    failures: Vec<FailureRecord>,
    dirty: bool,
}

/// A [`ProgressReporter`] that only records; a background task writes the status at most once a
/// second, so the pipeline's tasks never wait for the apiserver.
struct ShardReporter {
    state: Mutex<Collected>,
}

impl ShardReporter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Collected> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ProgressReporter for ShardReporter {
    fn progress(&self, snapshot: &ShardProgress) {
        let mut s = self.lock();
        s.progress = *snapshot;
        s.dirty = true;
    }

    fn outcome(&self, record: &OutcomeRecord) {
        let mut s = self.lock();
        if let Some(mt) = record.media_type {
            let c = s.by_media.entry(mt).or_insert(MediaTypeCounts {
                media_type: mt,
                to_recover: 0,
                recovered: 0,
                verified: 0,
                failed: 0,
                not_recorded: 0,
                skipped: 0,
            });
            match record.outcome {
                Outcome::Recovered => {
                    c.to_recover += 1;
                    c.recovered += 1;
                }
                // Final once DAS shows it, like Verified.
                Outcome::Verified | Outcome::AlreadyPresent => {
                    c.to_recover += 1;
                    c.recovered += 1;
                    c.verified += 1;
                }
                Outcome::Failed | Outcome::Conflict | Outcome::Unverified => {
                    c.to_recover += 1;
                    c.failed += 1;
                }
                Outcome::NotRecorded => {
                    c.to_recover += 1;
                    c.not_recorded += 1;
                }
                Outcome::WouldRecover => c.to_recover += 1,
                Outcome::Skipped => c.skipped += 1,
                Outcome::Extra => {}
            }
        }
        if matches!(
            record.outcome,
            Outcome::Failed | Outcome::Conflict | Outcome::Unverified
        ) && s.failures.len() < MAX_SHARD_FAILURES
        {
            s.failures.push(FailureRecord {
                conversation_id: record.conversation_id.map(|u| u.to_string()),
                shard: None,
                outcome: serde_json::to_value(record.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                reason: record.reason.clone(),
                detail: record.detail.clone(),
            });
        }
        s.outcomes.push(record.clone());
        s.dirty = true;
    }
}

struct StatusWriter {
    api: Api<DigitalRecovery>,
    name: String,
    shard: u32,
    slice: Window,
    start_time: String,
}

impl StatusWriter {
    fn manager(&self) -> String {
        format!("digital-recovery-worker-{}", self.shard)
    }

    fn entry(&self, phase: ShardPhase, c: &Collected) -> ShardStatus {
        let stage = c.progress.stage.and_then(|s| {
            serde_json::to_value(s)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
        });
        ShardStatus {
            index: self.shard,
            phase: Some(phase),
            stage,
            slice: Some(self.slice),
            match_counts: Some(c.progress.match_counts),
            progress: Some(c.progress.progress),
            api_calls: Some(c.progress.api_calls),
            throttled: c.progress.throttled,
            by_media_type: c.by_media.values().copied().collect(),
            reason: None,
            message: None,
            start_time: Some(self.start_time.clone()),
            update_time: Some(Timestamp::now().to_string()),
            report_parts: None,
            failures: c.failures.clone(),
        }
    }

    /// [`Self::apply`], retried while the apiserver is unavailable.
    async fn apply_patiently(&self, entry: &ShardStatus) -> Result<(), kube::Error> {
        patiently("write the shard status", transient_kube_error, || {
            self.apply(entry)
        })
        .await
    }

    async fn apply(&self, entry: &ShardStatus) -> Result<(), kube::Error> {
        let body = serde_json::json!({
            "apiVersion": DigitalRecovery::api_version(&()),
            "kind": DigitalRecovery::kind(&()),
            "status": {"shards": [entry]},
        });
        self.api
            .patch_status(
                &self.name,
                &PatchParams::apply(&self.manager()).force(),
                &Patch::Apply(&body),
            )
            .await
            .map(|_| ())
    }
}

/// Runs one shard to its end. `Ok(())` means exit 0.
pub async fn run(
    client: Client,
    args: WorkerArgs,
    runner: &dyn ShardRunner,
) -> Result<(), WorkerError> {
    let shard = shard_index(args.shard)?;
    let span = info_span!("worker", recovery = %args.name, namespace = %args.namespace, shard);
    run_shard(client, args, shard, runner)
        .instrument(span)
        .await
}

async fn run_shard(
    client: Client,
    args: WorkerArgs,
    shard: u32,
    runner: &dyn ShardRunner,
) -> Result<(), WorkerError> {
    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), &args.namespace);
    let dr = patiently("read the recovery", transient_kube_error, || {
        api.get(&args.name)
    })
    .await?;
    let parallelism = dr.spec.parallelism;
    let slice = slice_of(dr.spec.window, shard, parallelism)
        .ok_or(WorkerError::ShardOutOfRange { shard, parallelism })?;
    let writer = Arc::new(StatusWriter {
        api: api.clone(),
        name: args.name.clone(),
        shard,
        slice,
        start_time: Timestamp::now().to_string(),
    });
    if dr.spec.cancel {
        info!("the recovery is cancelled; nothing to do");
        return Ok(());
    }
    let (genesys, recording_side) = match read_credentials(&dr.spec) {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "cannot start");
            let mut entry = writer.entry(ShardPhase::Failed, &Collected::default());
            entry.reason = Some("CredentialsMissing".into());
            entry.message = Some(e.to_string());
            writer.apply_patiently(&entry).await?;
            return Err(e);
        }
    };
    writer
        .apply_patiently(&writer.entry(ShardPhase::Running, &Collected::default()))
        .await?;
    info!(start = %slice.start, end = %slice.end, "shard started");

    let reporter = Arc::new(ShardReporter {
        state: Mutex::new(Collected::default()),
    });
    let cancel = CancellationToken::new();
    // Throttled status writer.
    let ticker = {
        let reporter = reporter.clone();
        let writer = writer.clone();
        let stop = cancel.child_token();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(STATUS_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return,
                }
                let entry = {
                    let mut s = reporter.lock();
                    if !s.dirty {
                        continue;
                    }
                    s.dirty = false;
                    writer.entry(ShardPhase::Running, &s)
                };
                if let Err(e) = writer.apply(&entry).await {
                    warn!(error = %e, "cannot write the shard status; will retry");
                    reporter.lock().dirty = true;
                }
            }
        })
    };
    // Accounting across attempts only: without a journal the shard still runs correctly.
    let journal: Arc<dyn Journal> = match ConfigMapJournal::open(&client, &dr, shard).await {
        Ok(journal) => {
            if !journal.earlier().is_empty() {
                info!(
                    conversations = journal.earlier().len(),
                    "an earlier attempt of this shard journaled conversations"
                );
            }
            Arc::new(journal)
        }
        Err(e) => {
            warn!(error = %e, "cannot open the journal; a retry of this shard would undercount");
            Arc::new(NoJournal::default())
        }
    };
    let input = ShardInput {
        journal,
        spec: dr.spec.clone(),
        namespace: args.namespace.clone(),
        name: args.name.clone(),
        slice,
        shard,
        genesys,
        recording_side,
    };
    // SIGTERM (a pod deleted, evicted, drained or preempted; or the Job deleted on cancel) stops
    // the pipeline. Listening replaces the signal's default action for good, so it starts only
    // now: before this, SIGTERM ends the process at once, with the same exit code.
    let terminated = CancellationToken::new();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            let (terminated, cancel) = (terminated.clone(), cancel.clone());
            tokio::spawn(async move {
                term.recv().await;
                info!("SIGTERM: stopping the shard");
                terminated.cancel();
                cancel.cancel();
            });
        }
        Err(e) => warn!(error = %e, "cannot listen for SIGTERM"),
    }
    let result = tokio::select! {
        result = runner.run(input, reporter.clone(), cancel.clone()) => result,
        // A pipeline slow to notice the cancel is abandoned: what it did is idempotent.
        () = async {
            terminated.cancelled().await;
            tokio::time::sleep(WIND_DOWN).await;
        } => Err(ShardError {
            reason: "Terminated".into(),
            message: "the pipeline did not stop in time".into(),
            retryable: true,
        }),
    };
    ticker.abort();

    match result {
        Ok(progress) => {
            let (entry, outcomes) = {
                let mut s = reporter.lock();
                s.progress = progress;
                (
                    writer.entry(ShardPhase::Succeeded, &s),
                    std::mem::take(&mut s.outcomes),
                )
            };
            let parts = patiently("write the report", WorkerError::is_transient, || {
                write_report(&client, &dr, shard, &outcomes)
            })
            .await?;
            let mut entry = entry;
            entry.report_parts = Some(parts);
            writer.apply_patiently(&entry).await?;
            info!(parts, outcomes = outcomes.len(), "shard finished");
            Ok(())
        }
        Err(e) => {
            let stop = Stopped::of(e, terminated.is_cancelled());
            let mut entry = writer.entry(stop.phase, &reporter.lock());
            entry.reason = Some(stop.reason);
            entry.message = Some(stop.message);
            if matches!(stop.error, WorkerError::Terminated) {
                // The grace period is running out: one short try, no patience.
                match tokio::time::timeout(STATUS_ON_TERMINATION, writer.apply(&entry)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => warn!(error = %e, "cannot write the shard status"),
                    Err(_) => warn!("cannot write the shard status in time"),
                }
            } else {
                writer.apply_patiently(&entry).await?;
            }
            warn!(error = %stop.error, "shard stopped");
            Err(stop.error)
        }
    }
}

/// What a pipeline run that stopped with an error means for the shard.
struct Stopped {
    /// Phase of the shard's status entry: `Failed` only when no retry can help, since the
    /// controller reads a `Failed` entry as final for the shard.
    phase: ShardPhase,
    reason: String,
    message: String,
    /// The worker's error, whose exit code tells the Job whether to retry.
    error: WorkerError,
}

impl Stopped {
    /// `terminated`: SIGTERM arrived. Whatever the pipeline then reports (it sees a cancel), the
    /// pod is going away and not the shard failing: retryable, never a final entry.
    fn of(error: ShardError, terminated: bool) -> Stopped {
        if terminated {
            return Stopped {
                phase: ShardPhase::Running,
                reason: "Terminated".into(),
                message: "the worker pod was stopped (SIGTERM: deleted, evicted, drained or \
                          preempted); the Job runs this shard again"
                    .into(),
                error: WorkerError::Terminated,
            };
        }
        Stopped {
            phase: if error.retryable {
                ShardPhase::Running
            } else {
                ShardPhase::Failed
            },
            reason: if error.retryable {
                format!("Retrying{}", error.reason)
            } else {
                error.reason.clone()
            },
            message: error.message.clone(),
            error: WorkerError::Pipeline(error),
        }
    }
}

/// Compresses `outcomes` as gzip JSON lines split into parts below ~900 KiB each.
pub fn encode_report(outcomes: &[OutcomeRecord]) -> Result<Vec<Vec<u8>>, WorkerError> {
    let mut parts = Vec::new();
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    let mut in_part = 0usize;
    for record in outcomes {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        enc.write_all(&line)?;
        in_part += 1;
        // The encoder buffers up to ~32 KiB internally; the margin below the 1 MiB object limit
        // covers that.
        if enc.get_ref().len() >= REPORT_PART_BYTES - 64 * 1024 {
            parts.push(enc.finish()?);
            enc = GzEncoder::new(Vec::new(), Compression::default());
            in_part = 0;
        }
    }
    if in_part > 0 || parts.is_empty() {
        parts.push(enc.finish()?);
    }
    Ok(parts)
}

/// Decodes one report part.
pub fn decode_report(bytes: &[u8]) -> Result<Vec<OutcomeRecord>, std::io::Error> {
    let mut text = String::new();
    GzDecoder::new(bytes).read_to_string(&mut text)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
        .collect()
}

/// Name of one report ConfigMap.
pub fn report_name(recovery: &str, shard: u32, part: usize) -> String {
    format!("{}-report-{shard}-{part}", label_value(recovery))
}

async fn write_report(
    client: &Client,
    dr: &DigitalRecovery,
    shard: u32,
    outcomes: &[OutcomeRecord],
) -> Result<u32, WorkerError> {
    let ns = dr.namespace().unwrap_or_default();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let parts = encode_report(outcomes)?;
    let manager = format!("digital-recovery-worker-{shard}");
    let owner = dr.controller_owner_ref(&()).map(|mut o| {
        o.controller = Some(false);
        o
    });
    for (i, bytes) in parts.iter().enumerate() {
        let name = report_name(&dr.name_any(), shard, i);
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([
                    (RECOVERY_LABEL.to_string(), label_value(&dr.name_any())),
                    (SHARD_LABEL.to_string(), shard.to_string()),
                    (PART_LABEL.to_string(), i.to_string()),
                ])),
                owner_references: owner.clone().map(|o| vec![o]),
                ..Default::default()
            },
            binary_data: Some(BTreeMap::from([(
                REPORT_KEY.to_string(),
                ByteString(bytes.clone()),
            )])),
            ..Default::default()
        };
        let mut body = serde_json::to_value(&cm)?;
        if let Some(m) = body.as_object_mut() {
            m.insert("apiVersion".into(), "v1".into());
            m.insert("kind".into(), "ConfigMap".into());
        }
        cms.patch(
            &name,
            &PatchParams::apply(&manager).force(),
            &Patch::Apply(&body),
        )
        .await?;
    }
    // Parts a longer earlier attempt left behind.
    let selector = format!(
        "{RECOVERY_LABEL}={},{SHARD_LABEL}={shard}",
        label_value(&dr.name_any())
    );
    for cm in cms.list(&ListParams::default().labels(&selector)).await? {
        let part: usize = cm
            .labels()
            .get(PART_LABEL)
            .and_then(|p| p.parse().ok())
            .unwrap_or(usize::MAX);
        if part >= parts.len() {
            cms.delete(&cm.name_any(), &DeleteParams::default()).await?;
        }
    }
    u32::try_from(parts.len())
        .map_err(|_| WorkerError::Io(std::io::Error::other("too many report parts")))
}

/// Reads every report part of a recovery, in shard and part order.
pub async fn read_report(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<(u32, OutcomeRecord)>, WorkerError> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let selector = format!("{RECOVERY_LABEL}={}", label_value(name));
    let mut found: Vec<(u32, usize, Vec<u8>)> = Vec::new();
    for cm in cms.list(&ListParams::default().labels(&selector)).await? {
        let label = |k: &str| cm.labels().get(k).and_then(|v| v.parse::<usize>().ok());
        let (Some(shard), Some(part)) = (label(SHARD_LABEL), label(PART_LABEL)) else {
            continue;
        };
        if let Some(bytes) = cm.binary_data.as_ref().and_then(|d| d.get(REPORT_KEY)) {
            found.push((
                u32::try_from(shard).unwrap_or(u32::MAX),
                part,
                bytes.0.clone(),
            ));
        }
    }
    found.sort_by_key(|(s, p, _)| (*s, *p));
    let mut out = Vec::new();
    for (shard, _, bytes) in found {
        for r in decode_report(&bytes)? {
            out.push((shard, r));
        }
    }
    Ok(out)
}

/// The production runner: the recovery pipeline of `crate::pipeline`.
pub struct PipelineRunner;

#[async_trait::async_trait]
impl ShardRunner for PipelineRunner {
    async fn run(
        &self,
        input: ShardInput,
        reporter: Arc<dyn ProgressReporter>,
        cancel: CancellationToken,
    ) -> Result<ShardProgress, ShardError> {
        use crate::pipeline::{self, Credentials, PipelineError, RecoveryRef, ShardRun};
        let run = ShardRun {
            spec: input.spec,
            recovery: RecoveryRef {
                namespace: input.namespace,
                name: input.name,
            },
            slice: input.slice,
            shard: input.shard,
            credentials: Credentials {
                genesys: input.genesys,
                recording_side: input.recording_side,
            },
        };
        let options = pipeline::PipelineOptions {
            journal: input.journal,
            ..Default::default()
        };
        match pipeline::run_shard_with(run, options, reporter, cancel).await {
            Ok(summary) => Ok(summary.progress),
            Err(err) => {
                let reason = match &err {
                    PipelineError::Invalid(_) => "InvalidSpec",
                    PipelineError::Genesys(_) => "GenesysFailed",
                    PipelineError::RecordingSide(_) => "RecordingSideFailed",
                    PipelineError::Cancelled => "Cancelled",
                };
                Err(ShardError {
                    reason: reason.into(),
                    retryable: err.is_retryable(),
                    message: err.to_string(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard_error(reason: &str, retryable: bool) -> ShardError {
        ShardError {
            reason: reason.into(),
            message: "details".into(),
            retryable,
        }
    }

    #[test]
    fn sigterm_is_retryable_and_never_a_final_shard_entry() {
        // The pipeline sees SIGTERM as a cancel and says so (not retryable); the worker knows
        // better: the pod is going away, the shard did not fail.
        let stop = Stopped::of(shard_error("Cancelled", false), true);
        assert_eq!(stop.phase, ShardPhase::Running);
        assert_eq!(stop.reason, "Terminated");
        assert!(matches!(stop.error, WorkerError::Terminated));
        assert_eq!(stop.error.exit_code(), EXIT_TERMINATED);
        assert_ne!(stop.error.exit_code(), EXIT_CONFIG_ERROR);
        // Also when SIGTERM interrupts an error the pipeline was already reporting.
        let stop = Stopped::of(shard_error("GenesysFailed", false), true);
        assert_eq!(stop.error.exit_code(), EXIT_TERMINATED);
    }

    #[test]
    fn exit_codes_tell_the_job_whether_to_retry() {
        let stop = Stopped::of(shard_error("GenesysFailed", true), false);
        assert_eq!(
            (stop.phase, stop.reason.as_str()),
            (ShardPhase::Running, "RetryingGenesysFailed")
        );
        assert_eq!(stop.error.exit_code(), 1);
        let stop = Stopped::of(shard_error("InvalidSpec", false), false);
        assert_eq!(
            (stop.phase, stop.reason.as_str()),
            (ShardPhase::Failed, "InvalidSpec")
        );
        assert_eq!(stop.error.exit_code(), EXIT_CONFIG_ERROR);
        assert_eq!(
            WorkerError::CredentialsMissing("x".into()).exit_code(),
            EXIT_CONFIG_ERROR
        );
        assert_eq!(WorkerError::NoShard.exit_code(), EXIT_CONFIG_ERROR);
        assert_eq!(WorkerError::Terminated.exit_code(), EXIT_TERMINATED);
        assert_eq!(
            WorkerError::Io(std::io::Error::other("disk")).exit_code(),
            1
        );
        // 143 is what a runtime reports for a process SIGTERM ended before the worker listened.
        assert_eq!(EXIT_TERMINATED, 128 + libc::SIGTERM);
    }

    #[test]
    fn report_round_trips_and_splits_below_the_object_limit() {
        let records: Vec<OutcomeRecord> = (0..60_000)
            .map(|i| OutcomeRecord {
                conversation_id: Some(uuid::Uuid::new_v4()),
                media_type: Some(MediaType::Chat),
                outcome: if i % 7 == 0 {
                    Outcome::Failed
                } else {
                    Outcome::Verified
                },
                reason: (i % 7 == 0).then(|| "rejected".to_string()),
                detail: Some(format!("detail {i} {}", uuid::Uuid::new_v4())),
            })
            .collect();
        let parts = encode_report(&records).expect("encode");
        assert!(
            parts.len() > 1,
            "60k records with random ids need more than one part"
        );
        assert!(
            parts.iter().all(|p| p.len() < 1000 * 1024),
            "a part exceeds ~1 MB"
        );
        let back: Vec<OutcomeRecord> = parts
            .iter()
            .flat_map(|p| decode_report(p).expect("decode"))
            .collect();
        assert_eq!(back, records);
    }
}

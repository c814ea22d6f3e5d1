//! `digital-recovery worker`: one shard of one recovery, run as one index of the recovery's
//! Indexed Job. It reads its DigitalRecovery, computes its slice of the window, runs the pipeline,
//! writes its own `status.shards[index]` entry (server-side apply, field manager
//! `digital-recovery-worker-<index>`, at most about once a second) and its report ConfigMaps.
//!
//! - [`runner`]: the shard from start to end, and what a stop means for the Job;
//! - [`status`]: collecting progress and writing the shard's status entry;
//! - [`report`]: the report codec and its ConfigMaps; [`journal`]: what earlier attempts sent.
//!
//! Exit codes: 0 when the shard finished (also with per-conversation failures); 1 for errors a
//! Job retry can fix (the pipeline is idempotent: a retry matches again, and the recording side
//! already holds what an earlier attempt ingested); 3 ([`EXIT_CONFIG_ERROR`]) when retrying
//! cannot help (missing credentials, an unusable spec), which the Job's pod failure policy turns
//! into a failed index at once; 143 ([`EXIT_TERMINATED`]) when SIGTERM stopped it (its pod was
//! deleted, evicted, drained or preempted): retryable, and never written as a final shard entry.

use std::{sync::Arc, time::Duration};

use kube::Client;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info_span};

use crate::api::{InvalidSpec, ValidSpec, Window};
use crate::contract::{ENV_SHARD_INDEX, EXIT_CONFIG_ERROR, EXIT_TERMINATED};
use crate::http::ClientCredentials;
use crate::kubeapi::is_transient;
use crate::pipeline::{
    journal::Journal,
    progress::{ProgressReporter, ShardProgress},
};

mod journal;
pub mod report;
pub mod runner;
pub mod share;
pub mod slices;
pub mod status;
pub mod targets;

pub use journal::ConfigMapJournal;
pub use report::{decode_report, encode_report, read_report};

/// How long the pipeline gets to stop after SIGTERM before the worker abandons it; with the
/// status write after it, it stays well inside the pod's termination grace period.
pub const WIND_DOWN: Duration = Duration::from_secs(10);

/// Everything one shard's pipeline run needs.
pub struct ShardInput {
    pub spec: ValidSpec,
    pub namespace: String,
    pub name: String,
    pub slice: Window,
    pub shard: u32,
    pub genesys: ClientCredentials,
    pub recording_side: ClientCredentials,
    /// What earlier attempts of this shard set out to recover; notes what this one does.
    pub journal: Arc<dyn Journal>,
    /// In a re-drive, this shard's share of the named conversations; `None`: the whole slice.
    pub targets: Option<Vec<uuid::Uuid>>,
    /// The shard's share of its org's Genesys budget, as the controller publishes it.
    pub genesys_share: Option<tokio::sync::watch::Receiver<Option<crate::api::GenesysBudget>>>,
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
    #[error("the spec cannot run: {0}")]
    InvalidSpec(InvalidSpec),
    #[error("cannot write the schedule's ledger: {0}")]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error("pipeline failed: {0}")]
    Pipeline(ShardError),
    #[error("cannot plan the shard slices: {0}")]
    Slices(String),
    #[error("the conversations to re-drive cannot be read: {0}")]
    Targets(Box<targets::TargetsError>),
    #[error(
        "stopped by SIGTERM (the pod is being deleted, evicted or preempted); the Job runs the shard again"
    )]
    Terminated,
}

impl WorkerError {
    /// The shard status reason of an error that stops a shard before its pipeline starts.
    pub fn reason(&self) -> &'static str {
        match self {
            WorkerError::CredentialsMissing(_) => "CredentialsMissing",
            WorkerError::InvalidSpec(_) => "InvalidSpec",
            WorkerError::Targets(e) => e.reason(),
            _ => "WorkerFailed",
        }
    }

    /// Whether the error may go away by itself (the apiserver briefly away).
    fn is_transient(&self) -> bool {
        matches!(self, WorkerError::Kube(e) if is_transient(e))
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            WorkerError::ShardOutOfRange { .. }
            | WorkerError::CredentialsMissing(_)
            | WorkerError::InvalidSpec(_)
            | WorkerError::NoShard => EXIT_CONFIG_ERROR,
            WorkerError::Pipeline(e) if !e.retryable => EXIT_CONFIG_ERROR,
            WorkerError::Targets(e) if !e.is_retryable() => EXIT_CONFIG_ERROR,
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
    std::env::var(ENV_SHARD_INDEX)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or(WorkerError::NoShard)
}

/// Runs one shard to its end. `Ok(())` means exit 0.
pub async fn run(
    client: Client,
    args: WorkerArgs,
    runner: &dyn ShardRunner,
) -> Result<(), WorkerError> {
    let shard = shard_index(args.shard)?;
    let span = info_span!("worker", recovery = %args.name, namespace = %args.namespace, shard);
    runner::run_shard(client, args, shard, runner)
        .instrument(span)
        .await
}

/// The production runner: the recovery pipeline of `crate::pipeline`.
pub struct PipelineRunner {
    /// Most Capture writes in flight in this pod (the chart's `worker.captureWriters`).
    pub capture_writers: usize,
}

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
            targets: input.targets,
        };
        let options = pipeline::PipelineOptions {
            journal: input.journal,
            genesys_share: input.genesys_share,
            capture_writers: self.capture_writers,
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
    use crate::api::ShardPhase;
    use runner::Stopped;

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
}

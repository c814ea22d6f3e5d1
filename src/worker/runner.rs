//! One shard from start to end: read the recovery, validate it, find the credentials, start the
//! status writer and the journal, run the pipeline (stopped by SIGTERM), then write the report
//! (also when the shard failed or was stopped: what it did so far), merge its final words into
//! its schedule's ledger (runs made by a schedule), and write the final status entry. What a
//! stop means for the Job is decided by [`Stopped::of`].

use std::sync::Arc;

use kube::{Api, Client};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{
    ShardError, ShardInput, ShardRunner, WIND_DOWN, WorkerArgs, WorkerError,
    journal::ConfigMapJournal,
    report::{ReportEncoder, ReportWriter},
    slices,
    status::{APISERVER_PATIENCE, Collected, ShardReporter, StatusTicker, StatusWriter},
    targets,
};
use crate::api::{DigitalRecovery, Parallelism, ShardPhase, ValidSpec};
use crate::contract::{
    ENV_GENESYS_CLIENT_ID, ENV_GENESYS_CLIENT_SECRET, ENV_RECORDING_CLIENT_ID,
    ENV_RECORDING_CLIENT_SECRET, ENV_SHARDS, EXIT_CONFIG_ERROR,
};
use crate::http::{ClientCredentials, Secret};
use crate::kubeapi::{is_transient, patiently};
use crate::ledger::{LedgerError, LedgerWriter, ShardWords};
use crate::pipeline::{
    balance::CONVERSATIONS_PER_AUTO_SHARD,
    journal::{Journal, NoJournal},
    targets::share,
};

/// How long a terminated worker tries to write its progress so far.
const STATUS_ON_TERMINATION: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a terminated worker tries to write its report and ledger words: with
/// [`WIND_DOWN`] and [`STATUS_ON_TERMINATION`] it stays inside the pod's grace period.
const REPORT_ON_TERMINATION: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs shard `shard` of the recovery `args` names. `Ok(())` means exit 0.
pub async fn run_shard(
    client: Client,
    args: WorkerArgs,
    shard: u32,
    runner: &dyn ShardRunner,
) -> Result<(), WorkerError> {
    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), &args.namespace);
    let dr = patiently(
        "read the recovery",
        APISERVER_PATIENCE,
        is_transient,
        || api.get(&args.name),
    )
    .await?;
    let parallelism = shard_count(&dr);
    if shard >= parallelism {
        return Err(WorkerError::ShardOutOfRange { shard, parallelism });
    }
    let early_writer = StatusWriter::new(api.clone(), args.name.clone(), shard, None);
    if dr.spec.cancel {
        info!("the recovery is cancelled; nothing to do");
        return Ok(());
    }
    // The org budget's division, before any Genesys request (counting the window included).
    let division = super::share::first_published(&api, &dr).await;
    let started = dr
        .spec
        .validate()
        .map_err(WorkerError::InvalidSpec)
        .and_then(|spec| Ok((read_credentials(&spec)?, spec)));
    let started = match started {
        Ok((credentials, spec)) => {
            match targets::resolve(&client, &args.namespace, &args.name, &spec).await {
                Ok(named) => Ok((credentials, spec, named)),
                Err(e) => Err(WorkerError::Targets(Box::new(e))),
            }
        }
        Err(e) => Err(e),
    };
    // A re-drive's shards each take a share of the named conversations, over the whole window;
    // the others their slice of the recovery's plan.
    let started = match started {
        Ok((credentials, spec, named)) if dr.spec.names_conversations() => {
            Ok((credentials, spec, named, dr.spec.window))
        }
        Ok((credentials, spec, named)) => {
            match slices::slice_of_shard(
                &client,
                &dr,
                &spec,
                &credentials.0,
                division,
                shard,
                parallelism,
            )
            .await
            {
                Ok(Some(slice)) => Ok((credentials, spec, named, slice)),
                Ok(None) => return not_needed(&early_writer).await,
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    let ((genesys, recording_side), spec, named, slice) = match started {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot start");
            // Failed only when no retry can help (the controller reads it as final).
            let phase = if e.exit_code() == EXIT_CONFIG_ERROR {
                ShardPhase::Failed
            } else {
                ShardPhase::Running
            };
            let mut entry = early_writer.entry(phase, &Collected::default());
            entry.reason = Some(e.reason().into());
            entry.message = Some(e.to_string());
            early_writer.apply_patiently(&entry).await?;
            return Err(e);
        }
    };
    let writer = Arc::new(StatusWriter::new(
        api.clone(),
        args.name.clone(),
        shard,
        Some(slice),
    ));
    writer
        .apply_patiently(&writer.entry(ShardPhase::Running, &Collected::default()))
        .await?;
    info!(start = %slice.start, end = %slice.end, "shard started");

    let ledger = LedgerWriter::for_run(&client, &dr);
    let reporter = Arc::new(if ledger.is_some() {
        ShardReporter::with_ledger(&args.name)
    } else {
        ShardReporter::default()
    });
    let report = Arc::new(ReportWriter::new(&client, &dr, shard));
    let ticker = StatusTicker::start(reporter.clone(), writer.clone(), report.clone());
    let cancel = CancellationToken::new();
    let genesys_share = super::share::follow(
        api.clone(),
        args.name.clone(),
        division,
        cancel.child_token(),
    );
    let input = ShardInput {
        journal: open_journal(&client, &dr, shard).await,
        spec,
        namespace: args.namespace.clone(),
        name: args.name.clone(),
        slice,
        shard,
        genesys,
        recording_side,
        targets: named.map(|ids| share(&ids, shard, parallelism).to_vec()),
        genesys_share: Some(genesys_share),
    };
    let terminated = stop_on_sigterm(&cancel);
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
    ticker.stop().await;

    match result {
        Ok(progress) => {
            let (mut entry, encoder, words) = {
                let mut s = reporter.lock();
                s.progress = progress;
                (
                    writer.entry(ShardPhase::Succeeded, &s),
                    std::mem::take(&mut s.report),
                    s.ledger.take(),
                )
            };
            let outcomes = encoder.records();
            let parts = finish_report(&report, encoder).await?;
            write_ledger(ledger.as_ref(), words, slice.start).await?;
            entry.report_parts = Some(parts);
            writer.apply_patiently(&entry).await?;
            info!(parts, outcomes, "shard finished");
            Ok(())
        }
        Err(e) => {
            let stop = Stopped::of(e, terminated.is_cancelled());
            let (mut entry, encoder, words) = {
                let mut s = reporter.lock();
                (
                    writer.entry(stop.phase, &s),
                    std::mem::take(&mut s.report),
                    s.ledger.take(),
                )
            };
            entry.reason = Some(stop.reason);
            entry.message = Some(stop.message);
            // What the shard did so far, for `report` and the ledger; the stop's error stays
            // the one returned.
            let written = async {
                let parts = finish_report(&report, encoder).await?;
                write_ledger(ledger.as_ref(), words, slice.start).await?;
                Ok::<_, WorkerError>(parts)
            };
            if matches!(stop.error, WorkerError::Terminated) {
                // The grace period is running out: short tries, no patience.
                match tokio::time::timeout(REPORT_ON_TERMINATION, written).await {
                    Ok(Ok(parts)) => entry.report_parts = Some(parts),
                    Ok(Err(e)) => warn!(error = %e, "cannot write the report or the ledger"),
                    Err(_) => warn!("cannot write the report and the ledger in time"),
                }
                match tokio::time::timeout(STATUS_ON_TERMINATION, writer.apply(&entry)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => warn!(error = %e, "cannot write the shard status"),
                    Err(_) => warn!("cannot write the shard status in time"),
                }
            } else {
                match written.await {
                    Ok(parts) => entry.report_parts = Some(parts),
                    Err(e) => warn!(error = %e, "cannot write the report or the ledger"),
                }
                writer.apply_patiently(&entry).await?;
            }
            warn!(error = %stop.error, "shard stopped");
            Err(stop.error)
        }
    }
}

/// Ends a shard the recovery's plan has no slice for (`parallelism: auto` found the window's
/// conversations need fewer shards than the Job runs): it succeeds at once, having nothing to
/// do and nothing to report, so its share of the org budget goes back to the others.
async fn not_needed(writer: &StatusWriter) -> Result<(), WorkerError> {
    info!("the window's conversations need fewer shards than the Job runs; nothing to do");
    let mut entry = writer.entry(ShardPhase::Succeeded, &Collected::default());
    entry.reason = Some("NotNeeded".into());
    entry.message = Some(format!(
        "parallelism auto gives a shard at least {CONVERSATIONS_PER_AUTO_SHARD} conversations of the window; the slices went to shards before this one"
    ));
    entry.report_parts = Some(0);
    writer.apply_patiently(&entry).await?;
    Ok(())
}

/// Writes the report's last parts and removes those a longer earlier attempt left; returns the
/// number of parts.
async fn finish_report(report: &ReportWriter, encoder: ReportEncoder) -> Result<u32, WorkerError> {
    let (parts, count) = encoder.finish()?;
    for (number, bytes) in &parts {
        patiently(
            "write the report",
            APISERVER_PATIENCE,
            WorkerError::is_transient,
            || report.write_part(*number, bytes),
        )
        .await?;
    }
    patiently(
        "remove stale report parts",
        APISERVER_PATIENCE,
        WorkerError::is_transient,
        || report.remove_parts_from(count),
    )
    .await?;
    u32::try_from(count)
        .map_err(|_| WorkerError::Io(std::io::Error::other("too many report parts")))
}

/// Merges the shard's words into its schedule's ledger (nothing for a recovery no schedule
/// made); `fallback` files words whose conversation start is unknown.
async fn write_ledger(
    ledger: Option<&LedgerWriter>,
    words: Option<ShardWords>,
    fallback: jiff::Timestamp,
) -> Result<(), WorkerError> {
    let (Some(ledger), Some(words)) = (ledger, words) else {
        return Ok(());
    };
    if words.is_empty() {
        return Ok(());
    }
    let words = words.into_words();
    let count = words.len();
    let days = patiently(
        "merge into the schedule's ledger",
        APISERVER_PATIENCE,
        LedgerError::is_transient,
        || ledger.merge(words.clone(), fallback),
    )
    .await?;
    info!(words = count, days, "merged into the schedule's ledger");
    Ok(())
}

/// The shard's journal; without one the shard still runs correctly (it only serves the
/// accounting across attempts).
async fn open_journal(client: &Client, dr: &DigitalRecovery, shard: u32) -> Arc<dyn Journal> {
    match ConfigMapJournal::open(client, dr, shard).await {
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
    }
}

/// SIGTERM (a pod deleted, evicted, drained or preempted; or the Job deleted on cancel) cancels
/// `cancel`; the returned token tells that it came. Listening replaces the signal's default
/// action for good, so it starts only now: before this, SIGTERM ends the process at once, with
/// the same exit code.
fn stop_on_sigterm(cancel: &CancellationToken) -> CancellationToken {
    let terminated = CancellationToken::new();
    match crate::signals::sigterm() {
        Ok(sigterm) => {
            let (terminated, cancel) = (terminated.clone(), cancel.clone());
            tokio::spawn(async move {
                sigterm.await;
                info!("SIGTERM: stopping the shard");
                terminated.cancel();
                cancel.cancel();
            });
        }
        Err(e) => warn!(error = %e, "cannot listen for SIGTERM"),
    }
    terminated
}

/// The shards of this worker's Job, as the controller wrote it into the pod (`DR_SHARDS`). A
/// Job without it was created before `parallelism: auto` existed, when a spec without a number
/// ran one shard.
fn shard_count(dr: &DigitalRecovery) -> u32 {
    match std::env::var(ENV_SHARDS).ok().and_then(|v| v.parse().ok()) {
        Some(shards) => shards,
        None => match dr.spec.parallelism {
            Parallelism::Shards(shards) => shards,
            Parallelism::Auto => 1,
        },
    }
}

/// The credentials of both sides from the pod's Secret-backed environment; the error names
/// every Secret and key missing (never a value).
fn read_credentials(
    spec: &ValidSpec,
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

/// What a pipeline run that stopped with an error means for the shard.
pub(super) struct Stopped {
    /// Phase of the shard's status entry: `Failed` only when no retry can help, since the
    /// controller reads a `Failed` entry as final for the shard.
    pub phase: ShardPhase,
    pub reason: String,
    pub message: String,
    /// The worker's error, whose exit code tells the Job whether to retry.
    pub error: WorkerError,
}

impl Stopped {
    /// `terminated`: SIGTERM arrived. Whatever the pipeline then reports (it sees a cancel), the
    /// pod is going away and not the shard failing: retryable, never a final entry.
    pub fn of(error: ShardError, terminated: bool) -> Stopped {
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

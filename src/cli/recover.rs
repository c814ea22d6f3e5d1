//! `digital-recovery recover -f recovery.yaml`: one DigitalRecovery run in-process, no cluster.
//! Shards run concurrently, each with its own clients and token, as the worker Jobs would, but
//! with one recovery queue between them: any shard's pool recovers any shard's missing
//! conversations, so where they fall does not decide which shard ends last. A re-drive by
//! `spec.conversationIds` runs too; the other two forms need the cluster.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar};
use tokio_util::sync::CancellationToken;

use uuid::Uuid;

use crate::api::{DigitalRecovery, GenesysBudget, Targets, ValidSpec};
use crate::cli::CliError;
use crate::cli::summary::{OutputFormat, RunSummary, ShardTiming, TerminalReporter};
use crate::manifest::{self, CredentialSource};
use crate::pipeline::{
    self, Clients, Credentials, PipelineError, PipelineOptions, RecoveryRef, ShardRun, balance,
    queue_capacity, shard, shared_queues, targets::share,
};

/// `recover`'s flags.
#[derive(clap::Args, Debug)]
pub struct RecoverArgs {
    /// The DigitalRecovery manifest (YAML).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Directory laid out like mounted Secrets: `DIR/<secret>/clientId` and `.../clientSecret`.
    /// Without it (or for a Secret not found there), `<SECRET>_CLIENT_ID` / `<SECRET>_CLIENT_SECRET`.
    #[arg(long)]
    pub secrets_dir: Option<PathBuf>,
    /// How the window is cut among the shards: `balanced` by Genesys' conversation counts (the
    /// default, as the operator's workers do), or `equal-time` slices.
    #[arg(long, value_enum, default_value_t = Slicing::Balanced)]
    pub slicing: Slicing,
}

/// `recover --slicing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Slicing {
    Balanced,
    EqualTime,
}

/// Runs `recover`.
pub fn run(args: RecoverArgs) -> Result<(), CliError> {
    let recovery = manifest::load(&args.file).map_err(|e| CliError::Usage(e.to_string()))?;
    let source = CredentialSource {
        secrets_dir: args.secrets_dir.clone(),
    };
    let credentials = Credentials {
        genesys: source
            .resolve(&recovery.spec.genesys.credentials_secret)
            .map_err(|e| CliError::Usage(format!("spec.genesys.credentialsSecret: {e}")))?,
        recording_side: source
            .resolve(&recovery.spec.recording_side.credentials_secret)
            .map_err(|e| CliError::Usage(format!("spec.recordingSide.credentialsSecret: {e}")))?,
    };
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::Failed(format!("cannot start the runtime: {e}")))?;
    let summary = runtime
        .block_on(run_recovery(
            &recovery,
            credentials,
            PipelineOptions {
                equal_time_slices: args.slicing == Slicing::EqualTime,
                ..PipelineOptions::default()
            },
        ))
        .map_err(|e| CliError::Failed(e.to_string()))?;
    print_summary(&summary, args.output, &[]);
    Ok(())
}

/// Runs every shard of `recovery` concurrently and sums their results.
pub async fn run_recovery(
    recovery: &DigitalRecovery,
    credentials: Credentials,
    options: PipelineOptions,
) -> Result<RunSummary, PipelineError> {
    let started = Instant::now();
    let spec = recovery
        .spec
        .validate()
        .map_err(|e| PipelineError::Invalid(e.to_string()))?;
    let recovery_ref = RecoveryRef {
        namespace: recovery
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        name: recovery
            .metadata
            .name
            .clone()
            .unwrap_or_else(|| "recovery".into()),
    };
    let bars = MultiProgress::new();
    let cancel = CancellationToken::new();
    let mut shards = Vec::new();
    let named = named_conversations(&spec)?;
    let shard_count = spec.shards().max(1);
    // One set of clients per shard; they also count the window (before any of them has other
    // work), so the counting calls are in their totals and no extra token is asked for.
    let clients: Vec<Clients> = (0..shard_count)
        .map(|_| Clients::connect(&spec, &credentials))
        .collect::<Result<_, _>>()?;
    // The shards share the org's budget as a controller would divide it for this recovery alone.
    let division = GenesysBudget::divide(
        spec.genesys.org_budget(),
        spec.genesys.token_budget(),
        shard_count,
    );
    for shard_clients in &clients {
        shard_clients.genesys.take_share(Some(division));
    }
    // The slices, cut once for every shard: balanced by Genesys' counts of the window.
    let slices = match &named {
        Some(_) => Vec::new(),
        None if options.equal_time_slices => shard::slices(spec.window, shard_count),
        None => {
            let counters: Vec<_> = clients.iter().map(|c| c.genesys.clone()).collect();
            balance::slices(
                &counters,
                spec.window,
                &spec.media_types,
                &spec.message_types,
                balance::ShardCount::of(spec.parallelism, shard_count),
            )
            .await
            .0
        }
    };
    // One recovery queue for every shard (a shard left without a slice drops its end).
    let queues = shared_queues(shard_count as usize, queue_capacity(&options));
    for ((index, clients), queue) in (0..shard_count).zip(clients).zip(queues) {
        let (slice, targets) = match &named {
            // A re-drive: every shard matches over the window, each its share of the ids.
            Some(ids) => (spec.window, Some(share(ids, index, shard_count).to_vec())),
            None => match slices.get(index as usize) {
                Some(slice) => (*slice, None),
                None => continue,
            },
        };
        let run = ShardRun {
            spec: spec.clone(),
            recovery: recovery_ref.clone(),
            slice,
            shard: index,
            credentials: credentials.clone(),
            targets,
        };
        let reporter = Arc::new(TerminalReporter::new(bars.add(ProgressBar::no_length())));
        let (options, cancel) = (options.clone(), cancel.clone());
        shards.push(tokio::spawn(async move {
            let result =
                pipeline::execute_on(&clients, &run, &options, queue, reporter.clone(), cancel)
                    .await;
            let timing = ShardTiming {
                index,
                elapsed_seconds: started.elapsed().as_secs_f64(),
                ..ShardTiming::default()
            };
            (result, reporter, timing)
        }));
    }
    let mut summary = RunSummary::default();
    let mut first_error = None;
    for shard in shards {
        match shard.await {
            Ok((Ok(result), reporter, timing)) => {
                summary.shards.push(ShardTiming {
                    conversations: result.progress.match_counts.genesys,
                    recovered: result.outcomes.recovered,
                    genesys_calls: result.progress.api_calls.genesys,
                    ..timing
                });
                summary.add_shard(&result);
                reporter.fill(&mut summary);
            }
            Ok((Err(err), _, _)) => {
                cancel.cancel();
                first_error.get_or_insert(err);
            }
            Err(join) => {
                cancel.cancel();
                first_error.get_or_insert(PipelineError::Invalid(format!(
                    "a shard task failed: {join}"
                )));
            }
        }
    }
    if let Some(err) = first_error {
        return Err(err);
    }
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The conversations a re-drive names, `None` for a whole-window recovery. Without a cluster
/// only `spec.conversationIds` can be read.
fn named_conversations(spec: &ValidSpec) -> Result<Option<Vec<Uuid>>, PipelineError> {
    match spec.targets() {
        None => Ok(None),
        Some(Targets::Ids(ids)) => Ok(Some(ids.clone())),
        Some(Targets::ConfigMap { name, .. }) => Err(PipelineError::Invalid(format!(
            "spec.conversationIdsFrom: `recover` runs without a cluster and cannot read ConfigMap {name:?}; \
             list the ids in spec.conversationIds instead (at most 5000)"
        ))),
        Some(Targets::RetryOf(name)) => Err(PipelineError::Invalid(format!(
            "spec.retryOf: `recover` runs without a cluster and cannot read the report of {name:?}; \
             print its ids with `digital-recovery report --output ids` and list them in spec.conversationIds"
        ))),
    }
}

/// Prints the summary in the chosen format; `extra` adds fields to the JSON object.
pub fn print_summary(
    summary: &RunSummary,
    output: OutputFormat,
    extra: &[(&str, serde_json::Value)],
) {
    match output {
        OutputFormat::Json => {
            let mut value = summary.to_json();
            if let Some(object) = value.as_object_mut() {
                for (key, extra) in extra {
                    object.insert(key.to_string(), extra.clone());
                }
            }
            println!("{value}");
        }
        OutputFormat::Text => {
            print!("{}", summary.to_text());
            for (key, extra) in extra {
                println!("{key}: {extra}");
            }
        }
    }
}

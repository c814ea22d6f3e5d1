//! `digital-recovery demo`: the simulators and a recovery against them in one process, with a
//! progress display, the summary table and the simulators' ground truth afterwards.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::api::{
    ArchivedRecordings, DigitalRecovery, DigitalRecoverySpec, GenesysSpec, MediaType, Mode,
    Parallelism, RecordingSideSpec,
};
use crate::cli::CliError;
use crate::cli::recover::{print_summary, run_recovery};
use crate::cli::simulate::SimArgs;
use crate::cli::summary::{OutputFormat, RunSummary};
use crate::http::{ClientCredentials, Secret};
use crate::pipeline::{Credentials, PipelineOptions};
use crate::sim::recording::{RecordingStore, factory_with_store};
use crate::sim::{self, SimHandles};

/// `demo`'s flags.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub sim: SimArgs,
    /// Worker shards (each with its own token, as the Jobs would run).
    #[arg(long, default_value_t = 2)]
    pub parallelism: u32,
    /// Only match and report; ingest nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip text conversations whose sessions lack the analytics `recording` flag without asking
    /// the recordings API (`spec.genesys.trustRecordingFlag`; the old behaviour, for comparison:
    /// against the documented contract it skips every text conversation).
    #[arg(long)]
    pub trust_recording_flag: bool,
    /// Ask Genesys to restore archived recordings and recover their conversations once restored
    /// (`spec.archivedRecordings: Restore`; see `--archived-rate`, `--restore-delay`).
    #[arg(long)]
    pub restore_archived: bool,
    /// Run the same recovery this many times in a row (the second run shows it is a no-op).
    #[arg(long, default_value_t = 1)]
    pub runs: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Runs `demo`.
pub fn run(args: DemoArgs) -> Result<(), CliError> {
    let (config, recording) = args.sim.config().map_err(CliError::Usage)?;
    if !(1..=64).contains(&args.parallelism) {
        return Err(CliError::Usage(
            "--parallelism: must be between 1 and 64".into(),
        ));
    }
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::Failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let slot = Arc::new(OnceLock::new());
        let handles = sim::start(config, Some(factory_with_store(recording, slot.clone())))
            .await
            .map_err(|e| CliError::Failed(e.to_string()))?;
        let mut recovery = demo_recovery(&handles, args.parallelism, args.dry_run)?;
        recovery.spec.genesys.trust_recording_flag = args.trust_recording_flag;
        if args.restore_archived {
            recovery.spec.archived_recordings = ArchivedRecordings::Restore;
        }
        let credentials = Credentials {
            genesys: client_credentials(&handles),
            recording_side: client_credentials(&handles),
        };
        let mut last: Option<RunSummary> = None;
        for _ in 0..args.runs.max(1) {
            let summary = run_recovery(&recovery, credentials.clone(), demo_options())
                .await
                .map_err(|e| CliError::Failed(e.to_string()))?;
            if args.output == OutputFormat::Text && last.is_some() {
                println!("\n(run again)");
            }
            if args.output == OutputFormat::Text || args.runs <= 1 {
                print_summary(&summary, args.output, &ground_truth(&handles, &slot));
            }
            last = Some(summary);
        }
        if args.output == OutputFormat::Json
            && args.runs > 1
            && let Some(summary) = &last
        {
            print_summary(summary, args.output, &ground_truth(&handles, &slot));
        }
        handles.shutdown().await;
        Ok(())
    })
}

/// What the simulators saw, printed after the run: `sim` (the recording side's `/sim/report`)
/// and `simGenesys` (Genesys' counters, e.g. recordings calls for never-recorded conversations).
fn ground_truth(
    handles: &SimHandles,
    store: &OnceLock<Arc<RecordingStore>>,
) -> Vec<(&'static str, serde_json::Value)> {
    let mut fields = Vec::new();
    if let Some(store) = store.get() {
        fields.push((
            "sim",
            serde_json::to_value(store.report()).unwrap_or_default(),
        ));
    }
    fields.push((
        "simGenesys",
        serde_json::to_value(handles.genesys.stats()).unwrap_or_default(),
    ));
    fields
}

pub fn client_credentials(handles: &SimHandles) -> ClientCredentials {
    ClientCredentials {
        client_id: handles.config.client_id.clone(),
        client_secret: Secret::new(handles.config.client_secret.clone()),
    }
}

/// Deadlines short enough for a demo: the simulator's ingest lag is seconds, not minutes.
pub fn demo_options() -> PipelineOptions {
    PipelineOptions {
        retry_interval: Duration::from_secs(1),
        retry_deadline: Duration::from_secs(120),
        verify_interval: Duration::from_secs(1),
        verify_max_interval: Duration::from_secs(5),
        verify_deadline: Duration::from_secs(120),
        ..PipelineOptions::default()
    }
}

/// The DigitalRecovery the demo runs: the simulators' whole window, every media type.
pub fn demo_recovery(
    handles: &SimHandles,
    parallelism: u32,
    dry_run: bool,
) -> Result<DigitalRecovery, CliError> {
    let (Some(das_url), Some(capture_url)) = (handles.das_url.clone(), handles.capture_url.clone())
    else {
        return Err(CliError::Failed(
            "the recording-side simulators did not start".into(),
        ));
    };
    let spec = DigitalRecoverySpec {
        tenant: handles.config.tenant.clone(),
        genesys: GenesysSpec {
            api_base_url: Some(handles.genesys_url.clone()),
            credentials_secret: "sim".into(),
            requests_per_minute: handles.config.rate_limit,
            ..GenesysSpec::default()
        },
        recording_side: RecordingSideSpec {
            das_url,
            capture_url,
            credentials_secret: "sim".into(),
            requests_per_minute: None,
        },
        window: handles.config.window,
        media_types: MediaType::ALL.to_vec(),
        message_types: Vec::new(),
        mode: if dry_run { Mode::DryRun } else { Mode::Recover },
        parallelism: Parallelism::Shards(parallelism),
        settle_delay: "30m".into(),
        archived_recordings: ArchivedRecordings::Report,
        give_up_before: None,
        cancel: false,
        worker: None,
        conversation_ids: None,
        conversation_ids_from: None,
        retry_of: None,
    };
    let mut recovery = DigitalRecovery::new("demo", spec);
    recovery.metadata.namespace = Some("demo".into());
    Ok(recovery)
}

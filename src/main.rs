//! The `digital-recovery` command line: the operator, its workers, and the same pipeline without a
//! cluster.

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand, ValueEnum};
use digital_recovery::{
    controller::{self, resources::JobSettings},
    pipeline::progress::{ProgressReporter, ShardProgress},
    telemetry::{self, LogFormat},
    worker::{self, ShardError, ShardInput, ShardRunner},
};
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(name = "digital-recovery", version, about, long_about = None)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "DR_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Run the operator (kubeconfig or in-cluster configuration).
    Controller(ControllerArgs),
    /// Run one shard of one recovery (the command of the recovery's Job).
    Worker {
        #[arg(long)]
        namespace: String,
        #[arg(long)]
        name: String,
        /// Shard index; defaults to JOB_COMPLETION_INDEX.
        #[arg(long)]
        shard: Option<u32>,
    },
    /// Print the per-conversation outcomes of a recovery.
    Report {
        #[arg(long)]
        namespace: String,
        name: String,
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        output: ReportFormat,
    },
    /// Serve faithful local Genesys Cloud, DAS and Capture simulators until SIGTERM/SIGINT.
    Simulate(SimulateArgs),
}

#[derive(clap::Args, Debug)]
struct ControllerArgs {
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080", env = "DR_METRICS_ADDR")]
    metrics_addr: SocketAddr,
    /// Image of the worker Jobs' container.
    #[arg(
        long,
        env = "DR_WORKER_IMAGE",
        default_value = "ghcr.io/cxops/digital-recovery:latest"
    )]
    worker_image: String,
    /// Namespace to watch (repeat for several); none means all namespaces.
    #[arg(long = "namespace")]
    namespaces: Vec<String>,
    /// activeDeadlineSeconds of each worker Job.
    #[arg(long, default_value_t = 6 * 3600)]
    job_deadline_seconds: i64,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "digital-recovery-controller")]
    lease_name: String,
    /// Namespace of the Lease (defaults to the pod's namespace, else `default`).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// This replica's identity in the Lease (defaults to the pod name, else a random id).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds a Lease stays valid without renewal.
    #[arg(long, default_value_t = 15)]
    lease_duration_seconds: u64,
    /// Seconds before expiry at which the holder renews.
    #[arg(long, default_value_t = 5)]
    lease_grace_seconds: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ReportFormat {
    Table,
    Json,
}

/// Stands in for `crate::pipeline::run_shard` until the pipeline lands on main: every shard
/// fails without retry, saying so. The worker around it (credentials, slice, status, report) is
/// complete.
struct PipelineNotInThisBuild;

#[async_trait::async_trait]
impl ShardRunner for PipelineNotInThisBuild {
    async fn run(
        &self,
        _input: ShardInput,
        _reporter: Arc<dyn ProgressReporter>,
        _cancel: CancellationToken,
    ) -> Result<ShardProgress, ShardError> {
        Err(ShardError {
            reason: "PipelineUnavailable".into(),
            message: "this build of digital-recovery has no recovery pipeline".into(),
            retryable: false,
        })
    }
}

async fn kube_client() -> Result<kube::Client, kube::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    kube::Client::try_default().await
}

#[derive(clap::Args, Debug)]
struct SimulateArgs {
    /// Genesys simulator port (0 = a free one).
    #[arg(long, default_value_t = 0)]
    genesys_port: u16,
    /// DAS simulator port (0 = a free one).
    #[arg(long, default_value_t = 0)]
    das_port: u16,
    /// Interaction Capture simulator port (0 = a free one).
    #[arg(long, default_value_t = 0)]
    capture_port: u16,
    /// Dataset seed: same seed, same data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Conversations in the window.
    #[arg(long, default_value_t = 10_000)]
    conversations: usize,
    /// Share of completed text conversations the recording side lacks.
    #[arg(long, default_value_t = 0.05)]
    missing_rate: f64,
    /// Share of transferred conversations the recording side holds only partly.
    #[arg(long, default_value_t = 0.02)]
    partial_rate: f64,
    /// Latency added to every response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Genesys requests per minute per token (0 = unlimited).
    #[arg(long, default_value_t = 300)]
    rate_limit: u32,
    /// Fault spec, e.g. `429=0.02,5xx=0.05,timeout=0.01,truncate=0.01,token-expiry=60s,transcode=0.3`.
    #[arg(long, default_value = "")]
    faults: String,
    /// Seeded window START/END (RFC 3339); default the 24 h ending one hour before now.
    #[arg(long)]
    window: Option<String>,
    /// OAuth client id the simulators accept.
    #[arg(long, default_value = "sim-client")]
    client_id: String,
    /// OAuth client secret the simulators accept.
    #[arg(long, default_value = "sim-secret")]
    client_secret: String,
    /// Recording-side tenant.
    #[arg(long, default_value = "demo")]
    tenant: String,
}

fn parse_window(text: &str) -> Result<digital_recovery::api::Window, String> {
    let (start, end) = text
        .split_once('/')
        .ok_or_else(|| format!("--window `{text}`: expected START/END"))?;
    let start = start
        .trim()
        .parse()
        .map_err(|err| format!("--window start `{start}`: {err}"))?;
    let end = end
        .trim()
        .parse()
        .map_err(|err| format!("--window end `{end}`: {err}"))?;
    if end <= start {
        return Err(format!("--window `{text}`: end must be after start"));
    }
    Ok(digital_recovery::api::Window { start, end })
}

fn simulate(args: SimulateArgs) -> Result<(), String> {
    use digital_recovery::sim::{self, SimConfig};
    let faults = args
        .faults
        .parse()
        .map_err(|err| format!("--faults: {err}"))?;
    let mut config = SimConfig::new(args.conversations);
    if let Some(window) = &args.window {
        config.window = parse_window(window)?;
    }
    config.seed = args.seed;
    config.missing_rate = args.missing_rate;
    config.partial_rate = args.partial_rate;
    config.latency = std::time::Duration::from_millis(args.latency_ms);
    config.rate_limit = (args.rate_limit > 0).then_some(args.rate_limit);
    config.faults = faults;
    config.client_id = args.client_id;
    config.client_secret = args.client_secret;
    config.tenant = args.tenant;
    config.genesys_port = args.genesys_port;
    config.das_port = args.das_port;
    config.capture_port = args.capture_port;
    let runtime =
        tokio::runtime::Runtime::new().map_err(|err| format!("cannot start the runtime: {err}"))?;
    runtime.block_on(async move {
        // HOOK: the recording-side factory (DAS + Capture) is passed here once merged.
        let handles = sim::start(config, None)
            .await
            .map_err(|err| err.to_string())?;
        println!("{}", handles.address_line());
        wait_for_shutdown_signal().await;
        handles.shutdown().await;
        Ok(())
    })
}

async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match cli.command {
        Command::Crd => match digital_recovery::crd::all_crds_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: cannot render the CRDs: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Controller(args) => runtime(async move {
            let client = match kube_client().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "cannot build a Kubernetes client");
                    return ExitCode::FAILURE;
                }
            };
            let settings = controller::Settings {
                jobs: JobSettings {
                    image: args.worker_image,
                    deadline_seconds: args.job_deadline_seconds,
                },
                namespaces: args.namespaces,
                listen: args.metrics_addr,
                lease_name: args.lease_name,
                lease_namespace: args.lease_namespace,
                identity: args.identity.unwrap_or_else(|| {
                    format!("digital-recovery-{}", uuid::Uuid::new_v4().simple())
                }),
                lease_duration: args.lease_duration_seconds,
                lease_grace: args
                    .lease_grace_seconds
                    .min(args.lease_duration_seconds.saturating_sub(1))
                    .max(1),
            };
            match controller::run(client, settings).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "controller stopped");
                    ExitCode::FAILURE
                }
            }
        }),
        Command::Worker {
            namespace,
            name,
            shard,
        } => runtime(async move {
            let client = match kube_client().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "cannot build a Kubernetes client");
                    return ExitCode::from(1);
                }
            };
            let args = worker::WorkerArgs {
                namespace,
                name,
                shard,
            };
            match worker::run(client, args, &PipelineNotInThisBuild).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "worker failed");
                    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
                }
            }
        }),
        Command::Report {
            namespace,
            name,
            output,
        } => runtime(async move {
            let client = match kube_client().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: cannot build a Kubernetes client: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match worker::read_report(&client, &namespace, &name).await {
                Ok(rows) => {
                    print_report(&rows, output);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }),
        Command::Simulate(args) => match simulate(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        },
    }
}

fn print_report(
    rows: &[(u32, digital_recovery::pipeline::progress::OutcomeRecord)],
    output: ReportFormat,
) {
    match output {
        ReportFormat::Json => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|(shard, r)| {
                    let mut v = serde_json::to_value(r).unwrap_or_default();
                    if let Some(m) = v.as_object_mut() {
                        m.insert("shard".into(), (*shard).into());
                    }
                    v
                })
                .collect();
            println!("{}", serde_json::Value::Array(items));
        }
        ReportFormat::Table => {
            println!(
                "{:<6} {:<38} {:<7} {:<15} {:<20} DETAIL",
                "SHARD", "CONVERSATION", "MEDIA", "OUTCOME", "REASON"
            );
            for (shard, r) in rows {
                let outcome = serde_json::to_value(r.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                println!(
                    "{:<6} {:<38} {:<7} {:<15} {:<20} {}",
                    shard,
                    r.conversation_id
                        .map(|u| u.to_string())
                        .unwrap_or_else(|| "-".into()),
                    r.media_type.map(|m| m.as_str()).unwrap_or("-"),
                    outcome,
                    r.reason.as_deref().unwrap_or("-"),
                    r.detail.as_deref().unwrap_or("")
                );
            }
        }
    }
}

fn runtime(fut: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

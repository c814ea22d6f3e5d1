//! The `digital-recovery` command line: the operator, its workers, and the same pipeline without a
//! cluster.

use std::{net::SocketAddr, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};
use digital_recovery::{
    cli::{self, CliError},
    contract,
    controller::{
        self,
        admission::AdmissionLimits,
        resources::{JobSettings, default_worker_resources},
    },
    telemetry::{self, LogFormat},
    worker,
};
use k8s_openapi::api::core::v1::ResourceRequirements;

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
        /// Most Capture writes in flight in this worker (the chart's worker.captureWriters,
        /// which the controller passes in DR_CAPTURE_WRITERS).
        #[arg(long, env = "DR_CAPTURE_WRITERS", default_value_t = contract::DEFAULT_CAPTURE_WRITERS,
              value_parser = clap::value_parser!(u32).range(1..))]
        capture_writers: u32,
    },
    /// Print the per-conversation outcomes of a recovery, or a schedule's ledger of what its
    /// runs could not recover (--schedule).
    Report(cli::report::ReportArgs),
    /// Serve faithful local Genesys Cloud, DAS and Capture simulators until SIGTERM/SIGINT.
    Simulate(cli::simulate::SimulateArgs),
    /// Run one DigitalRecovery manifest in-process, without a cluster.
    Recover(cli::recover::RecoverArgs),
    /// Start the simulators and run a recovery against them, with progress and a summary.
    Demo(cli::demo::DemoArgs),
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
    /// imagePullPolicy of the worker Jobs' container; unset leaves Kubernetes' default.
    #[arg(long, env = "DR_WORKER_IMAGE_PULL_POLICY", value_enum)]
    worker_image_pull_policy: Option<PullPolicy>,
    /// Secret the kubelet pulls the worker image with (repeat, or comma-separate in the env
    /// var). Pods use Secrets of their own namespace: each namespace with recoveries needs it.
    #[arg(
        long = "worker-image-pull-secret",
        env = "DR_WORKER_IMAGE_PULL_SECRETS",
        value_delimiter = ','
    )]
    worker_image_pull_secrets: Vec<String>,
    /// Namespace to watch (repeat for several); none means all namespaces.
    #[arg(long = "namespace")]
    namespaces: Vec<String>,
    /// activeDeadlineSeconds of each worker Job.
    #[arg(long, default_value_t = 6 * 3600)]
    job_deadline_seconds: i64,
    /// Most Capture writes each worker pod has in flight (passed to the workers).
    #[arg(long, default_value_t = contract::DEFAULT_CAPTURE_WRITERS,
          value_parser = clap::value_parser!(u32).range(1..))]
    worker_capture_writers: u32,
    /// Requests and limits of each worker container, as the JSON of a Kubernetes
    /// ResourceRequirements (e.g. '{"limits":{"memory":"1Gi"}}'); default: requests cpu 100m
    /// and memory 64Mi, limit memory 512Mi.
    #[arg(long, value_parser = parse_resources)]
    worker_resources: Option<ResourceRequirements>,
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
    /// Most recoveries running at once in the cluster; the rest wait, first come first
    /// served (0: no cap).
    #[arg(long, default_value_t = 0)]
    max_concurrent_recoveries: u32,
    /// Most recoveries of one tenant (one Genesys org) running at once (0: no cap; the chart
    /// sets 1).
    #[arg(long, default_value_t = 0)]
    max_concurrent_recoveries_per_tenant: u32,
}

/// A container's imagePullPolicy, spelled as Kubernetes spells it.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum PullPolicy {
    #[value(name = "Always")]
    Always,
    #[value(name = "IfNotPresent")]
    IfNotPresent,
    #[value(name = "Never")]
    Never,
}

impl PullPolicy {
    fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

async fn kube_client() -> Result<kube::Client, kube::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    kube::Client::try_default().await
}

/// glibc malloc as its defaults leave it keeps what the recovery frees: its mmap threshold climbs
/// to the largest block freed (up to 32 MiB), after which the big transient buffers (a
/// 1,000-conversation job page, each chunk's contact index) come from the heap and leave it
/// fragmented, and each thread gets an arena of its own. A fixed threshold, a low trim threshold
/// and two arenas took `recover`'s peak at 200,000 conversations from 48.7 to 29.1 MiB (the
/// fixed threshold alone: 29.5 MiB; docs/benchmarks.md); the cost is an mmap per big buffer,
/// small next to an HTTP call.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    // SAFETY: mallopt only sets allocator parameters; this runs first in main, before any other
    // thread exists. A refused setting (return 0) leaves glibc's default, which is harmless.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

fn main() -> ExitCode {
    tune_malloc();
    let cli = Cli::parse();
    // recover and demo show progress and a summary; their log stays quiet unless RUST_LOG says.
    let default_level = match cli.command {
        Command::Recover(_) | Command::Demo(_) => "warn",
        _ => "info",
    };
    telemetry::init(cli.log_format, default_level);
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
                    image_pull_policy: args
                        .worker_image_pull_policy
                        .map(|p| p.as_str().to_string()),
                    image_pull_secrets: args
                        .worker_image_pull_secrets
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect(),
                    deadline_seconds: args.job_deadline_seconds,
                    resources: args
                        .worker_resources
                        .unwrap_or_else(default_worker_resources),
                    capture_writers: args.worker_capture_writers,
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
                admission: AdmissionLimits {
                    max_running: (args.max_concurrent_recoveries > 0)
                        .then_some(args.max_concurrent_recoveries),
                    max_running_per_tenant: (args.max_concurrent_recoveries_per_tenant > 0)
                        .then_some(args.max_concurrent_recoveries_per_tenant),
                },
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
            capture_writers,
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
            let runner = worker::PipelineRunner {
                capture_writers: usize::try_from(capture_writers).unwrap_or(usize::MAX),
            };
            match worker::run(client, args, &runner).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "worker failed");
                    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
                }
            }
        }),
        Command::Report(args) => runtime(async move {
            let client = match kube_client().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: cannot build a Kubernetes client: {e}");
                    return ExitCode::FAILURE;
                }
            };
            exit(cli::report::run(client, args).await)
        }),
        Command::Simulate(args) => exit(cli::simulate::run(args).map_err(CliError::Usage)),
        Command::Recover(args) => exit(cli::recover::run(args)),
        Command::Demo(args) => exit(cli::demo::run(args)),
    }
}

/// `--worker-resources`: a ResourceRequirements in JSON, read once at start so that a typo
/// stops the controller with a message rather than failing every Job it creates.
fn parse_resources(json: &str) -> Result<ResourceRequirements, String> {
    serde_json::from_str(json).map_err(|e| {
        format!("not the JSON of a Kubernetes ResourceRequirements (e.g. '{{\"limits\":{{\"memory\":\"1Gi\"}}}}'): {e}")
    })
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

fn exit(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

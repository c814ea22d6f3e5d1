//! The `digital-recovery` command line: the operator, its workers, and the same pipeline without a
//! cluster.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use digital_recovery::telemetry::{self, LogFormat};

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
    /// Serve faithful local Genesys Cloud, DAS and Capture simulators until SIGTERM/SIGINT.
    Simulate(SimulateArgs),
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
        Command::Simulate(args) => match simulate(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        },
    }
}

//! The `digital-recovery` command line: the operator, its workers, and the same pipeline without a
//! cluster.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use digital_recovery::cli::{self, CliError};
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
    Simulate(cli::simulate::SimulateArgs),
    /// Run one DigitalRecovery manifest in-process, without a cluster.
    Recover(cli::recover::RecoverArgs),
    /// Start the simulators and run a recovery against them, with progress and a summary.
    Demo(cli::demo::DemoArgs),
}

fn main() -> ExitCode {
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
        Command::Simulate(args) => exit(cli::simulate::run(args).map_err(CliError::Usage)),
        Command::Recover(args) => exit(cli::recover::run(args)),
        Command::Demo(args) => exit(cli::demo::run(args)),
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

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
    }
}

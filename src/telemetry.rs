//! Logging set-up shared by every subcommand.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Log format chosen on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the default on a terminal).
    #[default]
    Text,
    /// One JSON object per line (what a cluster's log pipeline wants).
    Json,
}

/// Installs the global tracing subscriber. Logs go to stderr so stdout stays free for
/// machine-readable output (`--output json`, the simulator's address line).
/// `default_level` applies when `RUST_LOG` is not set.
pub fn init(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init(),
    };
    // A second init (tests, demo inside another command) keeps the first subscriber.
    let _ = result;
}

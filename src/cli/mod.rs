//! The subcommands that run without a cluster (`simulate`, `recover` and `demo`), and `report`,
//! which reads a recovery's report or a schedule's ledger from the cluster.

pub mod demo;
pub mod recover;
pub mod report;
pub mod simulate;
pub mod summary;

/// How a command failed, which decides its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input (manifest, flags, credentials): exit code 2, nothing was contacted.
    #[error("{0}")]
    Usage(String),
    /// The run itself failed: exit code 1.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

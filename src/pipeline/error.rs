//! Why a shard could not run to its end, and whether running it again may help.

use tokio_util::sync::CancellationToken;

use crate::genesys::GenesysError;
use crate::verint::RecordingSideError;

/// Why a shard could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("invalid recovery: {0}")]
    Invalid(String),
    #[error("Genesys Cloud: {0}")]
    Genesys(#[from] GenesysError),
    #[error("recording side: {0}")]
    RecordingSide(#[from] RecordingSideError),
    #[error("cancelled")]
    Cancelled,
}

impl PipelineError {
    /// Whether running the shard again may succeed (a Job retry is worth it). Configuration and
    /// credential problems and cancellation are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            PipelineError::Invalid(_) | PipelineError::Cancelled => false,
            PipelineError::Genesys(err) => {
                !matches!(err, GenesysError::Config(_) | GenesysError::Auth { .. })
                    && !matches!(err.status(), Some(400 | 401 | 403 | 404))
            }
            PipelineError::RecordingSide(err) => {
                !err.is_auth()
                    && !matches!(
                        err,
                        RecordingSideError::InvalidUrl { .. } | RecordingSideError::Client { .. }
                    )
            }
        }
    }
}

/// `Err(Cancelled)` once `cancel` fired: stages call it between steps.
pub(crate) fn check_cancel(cancel: &CancellationToken) -> Result<(), PipelineError> {
    if cancel.is_cancelled() {
        Err(PipelineError::Cancelled)
    } else {
        Ok(())
    }
}

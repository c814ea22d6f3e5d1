//! The shard's share of its org's Genesys request budget. The controller divides the org's
//! budget among the running shards and publishes each recovery's share in its status
//! (`status.genesysBudget.shardRequestsPerMinute`); the worker reads it every few seconds and
//! hands it on, so a new division (shards of the org starting or finishing) applies without a
//! restart.

use std::time::Duration;

use kube::{Api, ResourceExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::api::{DigitalRecovery, GenesysBudget};

/// How often the worker reads its recovery for a new share: one GET per shard, cheap next to
/// the status writes, and well within "a few seconds" of the controller's new division.
pub const SHARE_POLL: Duration = Duration::from_secs(3);

/// How long a starting worker waits for its recovery's first published division. The
/// controller publishes it in the same reconcile that creates the Job, so it is there within a
/// second or two; a controller that does not publish (an older version during an upgrade)
/// delays each worker this once.
pub const FIRST_SHARE_WAIT: Duration = Duration::from_secs(10);

/// The division published for `dr`, waiting up to [`FIRST_SHARE_WAIT`] for it: a shard that
/// started at its full per-token rate could take more than the org's budget leaves it.
pub async fn first_published(
    api: &Api<DigitalRecovery>,
    dr: &DigitalRecovery,
) -> Option<GenesysBudget> {
    if let Some(division) = published(dr) {
        return Some(division);
    }
    let name = dr.name_any();
    let deadline = tokio::time::Instant::now() + FIRST_SHARE_WAIT;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        match api.get(&name).await {
            Ok(current) => {
                if let Some(division) = published(&current) {
                    return Some(division);
                }
            }
            Err(e) => debug!(error = %e, "cannot read the recovery for its budget share"),
        }
    }
    debug!("no budget share published; starting paced at the per-token rate");
    None
}

/// The division published in `dr`'s status, if any.
pub fn published(dr: &DigitalRecovery) -> Option<GenesysBudget> {
    dr.status.as_ref().and_then(|s| s.genesys_budget)
}

/// Follows the share of recovery `name` until `cancel`: the receiver holds the latest one read
/// (`initial` until then). A failed read keeps the last share.
pub fn follow(
    api: Api<DigitalRecovery>,
    name: String,
    initial: Option<GenesysBudget>,
    cancel: CancellationToken,
) -> watch::Receiver<Option<GenesysBudget>> {
    let (tx, rx) = watch::channel(initial);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(SHARE_POLL) => {}
                () = cancel.cancelled() => return,
                () = tx.closed() => return,
            }
            match api.get(&name).await {
                Ok(dr) => {
                    let share = published(&dr);
                    tx.send_if_modified(|current| {
                        let changed = share.is_some() && *current != share;
                        if changed {
                            *current = share;
                        }
                        changed
                    });
                }
                Err(e) => debug!(error = %e, "cannot read the recovery for its budget share"),
            }
        }
    });
    rx
}

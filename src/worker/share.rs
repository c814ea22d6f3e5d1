//! The shard's share of its org's Genesys request budget. The controller divides the org's
//! budget among the running shards and publishes each recovery's share in its status
//! (`status.genesysBudget`); the worker watches its recovery and hands each new division on, so
//! it applies (shards of the org starting or finishing) at once and without a restart.

use std::time::Duration;

use futures::StreamExt;
use kube::api::{WatchEvent, WatchParams};
use kube::{Api, ResourceExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::api::{DigitalRecovery, GenesysBudget};

/// How long after a watch of its recovery ends (or is refused) the worker reads it again: one GET
/// per shard, cheap next to the status writes.
pub const SHARE_POLL: Duration = Duration::from_secs(3);
/// How long one watch of the recovery lasts before the server ends it (it is then renewed).
const WATCH_SECONDS: u32 = 290;

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

/// Follows the division published for recovery `name` until `cancel`: the receiver holds the
/// latest one seen (`initial` until then). It watches the one object, so a new division applies
/// within a moment; where the watch ends or is refused (a Role created before workers could
/// watch their recovery), it reads the recovery again every [`SHARE_POLL`]. A failed read keeps
/// the last share.
pub fn follow(
    api: Api<DigitalRecovery>,
    name: String,
    initial: Option<GenesysBudget>,
    cancel: CancellationToken,
) -> watch::Receiver<Option<GenesysBudget>> {
    let (tx, rx) = watch::channel(initial);
    tokio::spawn(async move {
        let mut refused = false;
        loop {
            let version = match api.get(&name).await {
                Ok(dr) => {
                    publish(&tx, &dr);
                    dr.resource_version()
                }
                Err(e) => {
                    debug!(error = %e, "cannot read the recovery for its budget share");
                    None
                }
            };
            if let Some(version) = version {
                match watch_from(&api, &name, &version, &tx, &cancel).await {
                    Ok(Watched::Stop) => return,
                    Ok(Watched::Ended) => {}
                    Err(e) if !refused => {
                        refused = true;
                        info!(error = %e, "cannot watch the recovery; reading it every few seconds");
                    }
                    Err(e) => debug!(error = %e, "cannot watch the recovery"),
                }
            }
            tokio::select! {
                () = tokio::time::sleep(SHARE_POLL) => {}
                () = cancel.cancelled() => return,
                () = tx.closed() => return,
            }
        }
    });
    rx
}

/// How a watch of the recovery ended.
enum Watched {
    /// The server ended it, it expired or broke: read and watch again.
    Ended,
    /// Cancelled, or nobody follows the share any more.
    Stop,
}

/// Watches recovery `name` from `version`, publishing every division it shows.
async fn watch_from(
    api: &Api<DigitalRecovery>,
    name: &str,
    version: &str,
    tx: &watch::Sender<Option<GenesysBudget>>,
    cancel: &CancellationToken,
) -> Result<Watched, kube::Error> {
    let params = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(WATCH_SECONDS);
    let events = api.watch(&params, version).await?;
    let mut events = std::pin::pin!(events);
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            () = cancel.cancelled() => return Ok(Watched::Stop),
            () = tx.closed() => return Ok(Watched::Stop),
        };
        match event {
            Some(Ok(WatchEvent::Added(dr) | WatchEvent::Modified(dr))) => publish(tx, &dr),
            Some(Ok(WatchEvent::Bookmark(_) | WatchEvent::Deleted(_))) => {}
            Some(Ok(WatchEvent::Error(_)) | Err(_)) | None => return Ok(Watched::Ended),
        }
    }
}

/// Hands on the division `dr` shows, if it shows one and it is new.
fn publish(tx: &watch::Sender<Option<GenesysBudget>>, dr: &DigitalRecovery) {
    let share = published(dr);
    tx.send_if_modified(|current| {
        let changed = share.is_some() && *current != share;
        if changed {
            *current = share;
        }
        changed
    });
}

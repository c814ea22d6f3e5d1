//! How often the controller rewrites a running recovery's totals. Every shard's status entry
//! (progress at most every 5 s, a stage or 429 count at once) wakes the controller, and each
//! new sum was a status apply of its own: at fleet scale (80 shards on one apiserver) these
//! applies were half of the apiserver's work and delayed the writes that matter (a new org
//! division, a phase). A status that differs from the one shown only in its totals waits until
//! [`TOTALS_INTERVAL`] has passed since the recovery's last write; any other change (phase,
//! conditions, shard count, budget, resume point) is written at once, with the totals.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kube::runtime::reflector::ObjectRef;
use parking_lot::Mutex;

use crate::api::{DigitalRecovery, DigitalRecoveryStatus};

/// Least time between two status writes of a recovery that change its totals only.
pub const TOTALS_INTERVAL: Duration = Duration::from_secs(10);

/// How long a recovery's last write is remembered.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// When each running recovery's status was last written.
#[derive(Default)]
pub struct TotalsPace(Mutex<HashMap<ObjectRef<DigitalRecovery>, Instant>>);

impl TotalsPace {
    /// How long the write of `status` over `dr`'s shown status should wait, at `now`: None when
    /// it is due now (something beyond the totals changed, or the interval has passed).
    pub fn wait(
        &self,
        dr: &DigitalRecovery,
        status: &DigitalRecoveryStatus,
        now: Instant,
    ) -> Option<Duration> {
        let shown = dr.status.as_ref()?;
        if !only_totals_differ(shown, status) {
            return None;
        }
        let last = *self.0.lock().get(&ObjectRef::from_obj(dr))?;
        TOTALS_INTERVAL
            .checked_sub(now.saturating_duration_since(last))
            .filter(|left| !left.is_zero())
    }

    /// Notes that `dr`'s status was written at `now`, and forgets recoveries not written for
    /// long (deleted while running: nothing else removes them; one that is still running only
    /// has its next totals written at once).
    pub fn wrote(&self, dr: &DigitalRecovery, now: Instant) {
        let mut last = self.0.lock();
        last.retain(|_, at| now.saturating_duration_since(*at) < FORGET_AFTER);
        last.insert(ObjectRef::from_obj(dr), now);
    }

    /// Forgets `dr` (it is final: its totals no longer move).
    pub fn forget(&self, dr: &DigitalRecovery) {
        self.0.lock().remove(&ObjectRef::from_obj(dr));
    }
}

/// Whether `next` (the controller's part) says what `shown` says, but for the running totals.
fn only_totals_differ(shown: &DigitalRecoveryStatus, next: &DigitalRecoveryStatus) -> bool {
    let without_totals = |status: &DigitalRecoveryStatus| DigitalRecoveryStatus {
        match_counts: None,
        by_media_type: Vec::new(),
        progress: None,
        api_calls: None,
        failures: Vec::new(),
        unrecoverable: Vec::new(),
        shards: Vec::new(),
        ..status.clone()
    };
    without_totals(shown) == without_totals(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Phase, Progress};

    fn recovery(status: DigitalRecoveryStatus) -> DigitalRecovery {
        let mut dr: DigitalRecovery = serde_json::from_value(serde_json::json!({
            "apiVersion": "recovery.cxops.io/v1alpha1",
            "kind": "DigitalRecovery",
            "metadata": {"name": "busy", "namespace": "tenant-a"},
            "spec": {
                "tenant": "acme",
                "genesys": {"apiBaseUrl": "https://api.mypurecloud.com", "credentialsSecret": "g"},
                "recordingSide": {"dasUrl": "https://das", "captureUrl": "https://capture", "credentialsSecret": "v"},
                "window": {"start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"},
                "mediaTypes": ["chat"]
            }
        }))
        .expect("a recovery");
        dr.status = Some(status);
        dr
    }

    fn running(recovered: u64) -> DigitalRecoveryStatus {
        DigitalRecoveryStatus {
            phase: Some(Phase::Running),
            progress: Some(Progress {
                recovered,
                ..Progress::default()
            }),
            ..DigitalRecoveryStatus::default()
        }
    }

    #[test]
    fn new_totals_wait_out_the_interval_since_the_last_write() {
        let pace = TotalsPace::default();
        let dr = recovery(running(1));
        let start = Instant::now();
        // Never written by this controller: due at once.
        assert_eq!(pace.wait(&dr, &running(2), start), None);
        pace.wrote(&dr, start);
        assert_eq!(
            pace.wait(&dr, &running(2), start + Duration::from_secs(4)),
            Some(Duration::from_secs(6))
        );
        assert_eq!(pace.wait(&dr, &running(2), start + TOTALS_INTERVAL), None);
        pace.forget(&dr);
        assert_eq!(
            pace.wait(&dr, &running(2), start + Duration::from_secs(1)),
            None
        );
    }

    #[test]
    fn any_change_beyond_the_totals_is_written_at_once() {
        let pace = TotalsPace::default();
        let dr = recovery(running(1));
        let start = Instant::now();
        pace.wrote(&dr, start);
        let soon = start + Duration::from_secs(1);
        let finished = DigitalRecoveryStatus {
            phase: Some(Phase::Succeeded),
            ..running(2)
        };
        assert_eq!(pace.wait(&dr, &finished, soon), None);
        let resumed = DigitalRecoveryStatus {
            resume_from: Some("2026-11-01T10:00:00Z".into()),
            ..running(1)
        };
        assert_eq!(pace.wait(&dr, &resumed, soon), None);
        let shard_count = DigitalRecoveryStatus {
            shard_count: Some(4),
            ..running(2)
        };
        assert_eq!(pace.wait(&dr, &shard_count, soon), None);
    }
}

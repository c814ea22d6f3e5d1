//! The controller's view across recoveries, for what one recovery cannot decide alone:
//! admission (running slots under the chart's caps) and each org's Genesys request budget. It
//! reads every scope's cache, remembers the slots it granted before the caches show them, and
//! wakes the recoveries whose admission or budget share another one's change has moved.

use std::{collections::HashSet, sync::Arc};

use futures::Stream;
use kube::{
    ResourceExt,
    runtime::reflector::{ObjectRef, Store},
};
use parking_lot::Mutex;
use tokio::sync::broadcast;

use super::{
    admission::{self, Admission, AdmissionLimits, Entrant},
    fold::is_final,
    org_budget::{self, Spender},
};
use crate::api::{DigitalRecovery, DigitalRecoveryStatus, GenesysBudget};

/// Wake-ups buffered per controller; one that lags further only misses wake-ups, which the
/// periodic requeue of waiting recoveries makes up for.
const WAKE_BUFFER: usize = 4096;

/// What the controller knows before its caches do.
#[derive(Default)]
struct Slots {
    /// Recoveries holding a running slot (admitted, or seen with a Job).
    holding: HashSet<ObjectRef<DigitalRecovery>>,
    /// Recoveries this controller saw finish, which a cache may still show running; forgotten
    /// once the caches show them final or gone.
    finished: HashSet<ObjectRef<DigitalRecovery>>,
}

/// Shared by every scope's recovery controller.
pub struct Fleet {
    limits: AdmissionLimits,
    stores: Mutex<Vec<Store<DigitalRecovery>>>,
    slots: Mutex<Slots>,
    wake: broadcast::Sender<ObjectRef<DigitalRecovery>>,
}

impl Fleet {
    pub fn new(limits: AdmissionLimits) -> Self {
        Fleet {
            limits,
            stores: Mutex::new(Vec::new()),
            slots: Mutex::new(Slots::default()),
            wake: broadcast::channel(WAKE_BUFFER).0,
        }
    }

    /// Adds a scope's cache of recoveries to the view.
    pub fn watch(&self, store: Store<DigitalRecovery>) {
        self.stores.lock().push(store);
    }

    /// The recoveries to reconcile because admission or their budget share changed; each
    /// controller takes its own stream (a recovery of another scope is not in its cache and is
    /// ignored there).
    pub fn wakeups(&self) -> impl Stream<Item = ObjectRef<DigitalRecovery>> + Send + 'static {
        futures::stream::unfold(self.wake.subscribe(), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(key) => return Some((key, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    /// Whether `dr`, which has no Job, may create it now. A start is recorded at once, under
    /// the same lock, so that concurrent reconciles never grant more slots than the caps.
    pub fn admit(&self, dr: &DigitalRecovery) -> Admission {
        let key = ObjectRef::from_obj(dr);
        let mut slots = self.slots.lock();
        let entrants = self.entrants(&slots, Some(dr));
        let decision = admission::admit(&key, &entrants, self.limits);
        if decision == Admission::Start {
            slots.holding.insert(key);
        }
        decision
    }

    /// `dr` has a Job: it holds a slot (also after a restart of the controller, whose memory
    /// of the slots it granted is gone).
    pub fn hold(&self, dr: &DigitalRecovery) {
        self.slots.lock().holding.insert(ObjectRef::from_obj(dr));
    }

    /// `dr` finished: its slot goes to the next in the queue, and its org's budget to the
    /// tenant's other recoveries.
    pub fn release(&self, dr: &DigitalRecovery) {
        let key = ObjectRef::from_obj(dr);
        let mut slots = self.slots.lock();
        slots.holding.remove(&key);
        slots.finished.insert(key);
        self.forget_settled(&mut slots);
        let entrants = self.entrants(&slots, None);
        drop(slots);
        for next in admission::startable(&entrants, self.limits) {
            let _ = self.wake.send(next);
        }
        let tenant = &dr.spec.tenant;
        for e in entrants.iter().filter(|e| e.running && &e.tenant == tenant) {
            let _ = self.wake.send(e.key.clone());
        }
    }

    /// The share of its org's budget `dr` may spend, its status being `status`; wakes the
    /// tenant's other running recoveries whose published share this changes.
    pub fn share(
        &self,
        dr: &DigitalRecovery,
        status: &DigitalRecoveryStatus,
    ) -> Option<GenesysBudget> {
        let key = ObjectRef::from_obj(dr);
        // Held, not copied: this runs on every reconcile. (Lock order as in `admit`: slots,
        // then the caches.)
        let slots = self.slots.lock();
        let no_status = DigitalRecoveryStatus::default();
        let mut others: Vec<(ObjectRef<DigitalRecovery>, Arc<DigitalRecovery>)> = Vec::new();
        let mut spenders = Vec::new();
        for other in self.recoveries() {
            let other_key = ObjectRef::from_obj(other.as_ref());
            if other_key == key
                || other.spec.tenant != dr.spec.tenant
                || slots.finished.contains(&other_key)
            {
                continue;
            }
            let other_status = other.status.as_ref().unwrap_or(&no_status);
            if let Some(spender) = spender(&other, other_status, slots.holding.contains(&other_key))
            {
                spenders.push(spender);
                others.push((other_key, other));
            }
        }
        let me = spender(dr, status, slots.holding.contains(&key))?;
        spenders.push(me.clone());
        let mine = org_budget::share(&me, &spenders);
        for (i, (other_key, other)) in others.iter().enumerate() {
            let now = org_budget::share(&spenders[i], &spenders);
            let published = other.status.as_ref().and_then(|s| s.genesys_budget);
            if now != published {
                let _ = self.wake.send(other_key.clone());
            }
        }
        mine
    }

    fn recoveries(&self) -> Vec<Arc<DigitalRecovery>> {
        self.stores.lock().iter().flat_map(|s| s.state()).collect()
    }

    /// Every unfinished recovery of the caches (with `current` in place of its cached copy).
    fn entrants(&self, slots: &Slots, current: Option<&DigitalRecovery>) -> Vec<Entrant> {
        let current_key = current.map(ObjectRef::from_obj);
        let mut entrants: Vec<Entrant> = self
            .recoveries()
            .iter()
            .filter(|dr| current_key.as_ref() != Some(&ObjectRef::from_obj(dr.as_ref())))
            .filter_map(|dr| entrant(dr, slots))
            .collect();
        entrants.extend(current.and_then(|dr| entrant(dr, slots)));
        entrants
    }

    /// Forgets finished recoveries the caches show final or no longer hold, and slots of
    /// recoveries deleted while running.
    fn forget_settled(&self, slots: &mut Slots) {
        let unfinished: HashSet<ObjectRef<DigitalRecovery>> = self
            .recoveries()
            .iter()
            .filter(|dr| !is_final(dr.status.as_ref().and_then(|s| s.phase)))
            .map(|dr| ObjectRef::from_obj(dr.as_ref()))
            .collect();
        slots.finished.retain(|k| unfinished.contains(k));
        slots.holding.retain(|k| unfinished.contains(k));
    }
}

/// `dr` as admission sees it; None once it is final (or cancelled: it will never start).
fn entrant(dr: &DigitalRecovery, slots: &Slots) -> Option<Entrant> {
    let status = dr.status.as_ref();
    let key = ObjectRef::from_obj(dr);
    if is_final(status.and_then(|s| s.phase))
        || slots.finished.contains(&key)
        || dr.spec.cancel
        || dr.metadata.deletion_timestamp.is_some()
    {
        return None;
    }
    let running = slots.holding.contains(&key) || status.is_some_and(|s| s.start_time.is_some());
    Some(Entrant {
        tenant: dr.spec.tenant.clone(),
        created: dr
            .creation_timestamp()
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
        running,
        key,
    })
}

/// `dr` as the budget sees it, with `status`: a running recovery's unfinished shards.
fn spender(dr: &DigitalRecovery, status: &DigitalRecoveryStatus, holding: bool) -> Option<Spender> {
    let running = !is_final(status.phase) && (holding || status.start_time.is_some());
    if !running {
        return None;
    }
    let finished = status.shards_finished.unwrap_or(0);
    Some(Spender {
        tenant: dr.spec.tenant.clone(),
        shards: status
            .shard_count
            .unwrap_or_else(|| dr.spec.shards())
            .saturating_sub(finished),
        org_requests_per_minute: dr.spec.genesys.org_budget(),
        token_requests_per_minute: dr.spec.genesys.token_budget(),
    })
}

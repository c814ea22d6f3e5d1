//! The controller's view across recoveries, for what one recovery cannot decide alone:
//! admission (running slots under the chart's caps) and each org's Genesys request budget. It
//! reads every scope's cache, remembers the slots it granted before the caches show them, and
//! wakes the recoveries whose admission or budget share another one's change has moved.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

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
    org_throttle::OrgThrottle,
};
use crate::api::{DigitalRecovery, DigitalRecoveryStatus, GenesysBudget, ShardPhase};
use crate::pipeline::Stage;

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
    /// Each tenant's org budget as its 429s have lowered it (see `org_throttle`).
    throttles: Mutex<HashMap<String, OrgThrottle>>,
    wake: broadcast::Sender<ObjectRef<DigitalRecovery>>,
    /// The division each recovery was last woken to publish, until it shows it. One wake per
    /// new division: the runtime's debounce postpones a recovery's reconcile while its
    /// triggers keep coming, so waking it on every reconcile of its org's other recoveries
    /// (each of them seeing its old division still published) held it off for over a minute
    /// while its org's budget was being lowered.
    woken: Mutex<HashMap<ObjectRef<DigitalRecovery>, Option<GenesysBudget>>>,
}

impl Fleet {
    pub fn new(limits: AdmissionLimits) -> Self {
        Fleet {
            limits,
            stores: Mutex::new(Vec::new()),
            slots: Mutex::new(Slots::default()),
            throttles: Mutex::new(HashMap::new()),
            wake: broadcast::channel(WAKE_BUFFER).0,
            woken: Mutex::new(HashMap::new()),
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
        self.woken.lock().remove(&key);
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
    /// tenant's other running recoveries whose published share this changes the pacing of (a
    /// new shard count alone does not: each wake is a reconcile and a status write).
    ///
    /// The division also counts the shards of the tenant's waiting recoveries that admission
    /// would start now. Several applied at once are reconciled one after another: a division
    /// over the started ones only would let the first ones spend the whole budget for a
    /// moment, and would change with every start, re-publishing every running recovery's
    /// share each time (measured: 5,696 reconciles for 1,000 recoveries of one tenant, against
    /// 2,463 with the waiting ones counted).
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
        let mut waiting = Vec::new();
        for other in self.recoveries() {
            // The tenant first: it rules out most recoveries without building their key.
            if other.spec.tenant != dr.spec.tenant {
                continue;
            }
            let other_key = ObjectRef::from_obj(other.as_ref());
            if other_key == key || slots.finished.contains(&other_key) {
                continue;
            }
            let other_status = other.status.as_ref().unwrap_or(&no_status);
            if let Some(spender) = spender(&other, other_status, slots.holding.contains(&other_key))
            {
                spenders.push(spender);
                others.push((other_key, other));
            } else if entrant(&other, &slots).is_some() {
                waiting.push(other);
            }
        }
        let me = spender(dr, status, slots.holding.contains(&key))?;
        spenders.push(me.clone());
        if !waiting.is_empty() {
            let startable: HashSet<ObjectRef<DigitalRecovery>> =
                admission::startable(&self.entrants(&slots, Some(dr)), self.limits)
                    .into_iter()
                    .collect();
            spenders.extend(
                waiting
                    .iter()
                    .filter(|w| startable.contains(&ObjectRef::from_obj(w.as_ref())))
                    .filter_map(|w| spender(w, &no_status, true)),
            );
        }
        let mut orgs = org_budget::per_tenant(&spenders);
        // Present even when no shard of the org spends right now (all verifying): the share
        // kept in reserve for a retried one is lowered too.
        let (budget, _) = orgs
            .entry(dr.spec.tenant.as_str())
            .or_insert((me.org_requests_per_minute, 0));
        let running = others.iter().map(|(_, other)| other.as_ref()).chain([dr]);
        *budget = self.lowered(&dr.spec.tenant, *budget, running);
        let mine = org_budget::share_in(&me, &orgs);
        let mut woken = self.woken.lock();
        woken.remove(&key);
        for (i, (other_key, other)) in others.iter().enumerate() {
            let now = org_budget::share_in(&spenders[i], &orgs);
            // One that shows no division yet is having its first reconcile now.
            let Some(old) = published(other) else {
                continue;
            };
            if paces_alike(now, Some(old)) {
                woken.remove(other_key);
            } else if woken.insert(other_key.clone(), now) != Some(now) {
                let _ = self.wake.send(other_key.clone());
            }
        }
        mine
    }

    /// The org budget `budget` of `tenant` as its 429s leave it, `running` being its running
    /// recoveries (their shards count their 429s into their status).
    fn lowered<'a>(
        &self,
        tenant: &str,
        budget: u32,
        running: impl Iterator<Item = &'a DigitalRecovery>,
    ) -> u32 {
        let now = tokio::time::Instant::now();
        let mut throttles = self.throttles.lock();
        let org = throttles
            .entry(tenant.to_string())
            .or_insert_with(|| OrgThrottle::new(now));
        let before = org.lowered(budget, now);
        let counts =
            running.filter_map(|dr| Some((dr.metadata.uid.as_deref()?, genesys_throttled(dr))));
        org.observe(counts, now);
        let after = org.lowered(budget, now);
        if after < before {
            tracing::info!(
                tenant,
                requests_per_minute = after,
                "Genesys answered 429s: the org's budget is lowered for all its shards"
            );
        }
        after
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

/// The division `dr`'s status shows.
fn published(dr: &DigitalRecovery) -> Option<GenesysBudget> {
    dr.status.as_ref().and_then(|s| s.genesys_budget)
}

/// Whether two divisions make a shard pace the same (both none, or alike).
fn paces_alike(a: Option<GenesysBudget>, b: Option<GenesysBudget>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.paces_like(&b),
        (a, b) => a == b,
    }
}

/// The Genesys 429s `dr`'s shards have counted so far: the recording side's say nothing about
/// the Genesys org's limit. A shard that reports no breakdown (a worker from before it) counts all
/// of its 429s, as every worker did before.
fn genesys_throttled(dr: &DigitalRecovery) -> u64 {
    dr.status.as_ref().map_or(0, |s| {
        s.shards
            .iter()
            .map(|shard| shard.throttled_by.map_or(shard.throttled, |by| by.genesys))
            .sum()
    })
}

/// `dr` as the budget sees it, with `status`: a running recovery's unfinished shards, and
/// those of them still spending Genesys requests.
fn spender(dr: &DigitalRecovery, status: &DigitalRecoveryStatus, holding: bool) -> Option<Spender> {
    let running = !is_final(status.phase) && (holding || status.start_time.is_some());
    if !running {
        return None;
    }
    let count = status.shard_count.unwrap_or_else(|| dr.spec.shards());
    let finished = status.shards_finished.unwrap_or(0);
    let unfinished = count.saturating_sub(finished);
    Some(Spender {
        tenant: dr.spec.tenant.clone(),
        shards: unfinished.saturating_sub(verifying(dr, count)),
        unfinished,
        org_requests_per_minute: dr.spec.genesys.org_budget(),
        token_requests_per_minute: dr.spec.genesys.token_budget(),
    })
}

/// The shards of `dr` (of `count`) still running but past their last Genesys request:
/// verifying reads only DAS, which takes seconds (the recording side's lag, then growing
/// pauses) that their org's other shards can spend. The shards write their stage as it
/// changes, so the share moves at once.
fn verifying(dr: &DigitalRecovery, count: u32) -> u32 {
    let Some(status) = dr.status.as_ref() else {
        return 0;
    };
    let past_genesys = |stage: &str| {
        serde_json::from_value::<Stage>(serde_json::Value::from(stage))
            .is_ok_and(|stage| matches!(stage, Stage::Verify | Stage::Done))
    };
    let verifying = status
        .shards
        .iter()
        .filter(|s| s.index < count && s.phase == Some(ShardPhase::Running))
        .filter(|s| s.stage.as_deref().is_some_and(past_genesys))
        .count();
    u32::try_from(verifying).unwrap_or(u32::MAX)
}
#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::{reflector, watcher};
    use serde_json::json;

    fn recovery(name: &str, tenant: &str, created: &str) -> DigitalRecovery {
        serde_json::from_value(json!({
            "apiVersion": "recovery.cxops.io/v1alpha1",
            "kind": "DigitalRecovery",
            "metadata": {"name": name, "namespace": "ops", "uid": format!("uid-{name}"),
                         "creationTimestamp": created},
            "spec": {
                "tenant": tenant,
                "genesys": {"region": "mypurecloud.ie", "credentialsSecret": "genesys-oauth",
                            "orgRequestsPerMinute": 600},
                "recordingSide": {"dasUrl": "https://das", "captureUrl": "https://capture",
                                  "credentialsSecret": "verint-api"},
                "window": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
                "mediaTypes": ["chat"],
                "parallelism": 2
            }
        }))
        .expect("recovery")
    }

    /// A fleet whose cache holds `recoveries`, none started yet.
    fn fleet(limits: AdmissionLimits, recoveries: &[DigitalRecovery]) -> Fleet {
        let (store, mut writer) = reflector::store();
        for dr in recoveries {
            writer.apply_watcher_event(&watcher::Event::Apply(dr.clone()));
        }
        let fleet = Fleet::new(limits);
        fleet.watch(store);
        fleet
    }

    fn three_of_acme() -> Vec<DigitalRecovery> {
        vec![
            recovery("first", "acme", "2026-11-21T01:00:00Z"),
            recovery("second", "acme", "2026-11-21T01:00:01Z"),
            recovery("third", "acme", "2026-11-21T01:00:02Z"),
        ]
    }

    #[test]
    fn the_first_of_several_applied_at_once_shares_with_those_about_to_start() {
        let drs = three_of_acme();
        let unlimited = AdmissionLimits {
            max_running: None,
            max_running_per_tenant: None,
        };
        let fleet = fleet(unlimited, &drs);
        assert_eq!(fleet.admit(&drs[0]), Admission::Start);
        // Reconciled first, it still divides the org's 600 over all 6 shards, not over its 2.
        let first = fleet.share(&drs[0], &DigitalRecoveryStatus::default());
        assert_eq!(first, Some(GenesysBudget::divide(600, 300, 6)));
        // The others, started, agree on the same division.
        assert_eq!(fleet.admit(&drs[1]), Admission::Start);
        assert_eq!(
            fleet.share(&drs[1], &DigitalRecoveryStatus::default()),
            first
        );
    }

    #[test]
    fn queued_recoveries_reserve_no_share() {
        let drs = three_of_acme();
        let one_per_tenant = AdmissionLimits {
            max_running: None,
            max_running_per_tenant: Some(1),
        };
        let fleet = fleet(one_per_tenant, &drs);
        assert_eq!(fleet.admit(&drs[0]), Admission::Start);
        assert_eq!(
            fleet.share(&drs[0], &DigitalRecoveryStatus::default()),
            Some(GenesysBudget::divide(600, 300, 2))
        );
        // Another tenant's waiting recovery is no part of acme's budget either.
        let mut mixed = three_of_acme();
        mixed.push(recovery("other", "globex", "2026-11-21T00:59:00Z"));
        let fleet = self::fleet(one_per_tenant, &mixed);
        assert_eq!(fleet.admit(&mixed[0]), Admission::Start);
        assert_eq!(
            fleet.share(&mixed[0], &DigitalRecoveryStatus::default()),
            Some(GenesysBudget::divide(600, 300, 2))
        );
    }

    /// `dr` running, its status showing `budget`.
    fn running(mut dr: DigitalRecovery, budget: GenesysBudget) -> DigitalRecovery {
        dr.status = Some(DigitalRecoveryStatus {
            phase: Some(crate::api::Phase::Running),
            start_time: Some("2026-11-21T01:00:05Z".into()),
            genesys_budget: Some(budget),
            ..Default::default()
        });
        dr
    }

    fn woken(
        wakeups: &mut (impl Stream<Item = ObjectRef<DigitalRecovery>> + Unpin),
    ) -> Vec<String> {
        use futures::{FutureExt, StreamExt};
        std::iter::from_fn(|| wakeups.next().now_or_never().flatten())
            .map(|key| key.name)
            .collect()
    }

    #[test]
    fn only_a_share_that_paces_differently_wakes_a_running_recovery() {
        let unlimited = AdmissionLimits {
            max_running: None,
            max_running_per_tenant: None,
        };
        let [first, second] = [
            recovery("first", "acme", "2026-11-21T01:00:00Z"),
            recovery("second", "acme", "2026-11-21T01:00:01Z"),
        ];
        let current = GenesysBudget::divide(600, 300, 4);
        // The same share over another shard count: alike (150 each, no opening burst).
        let same_pacing = GenesysBudget {
            org_shards: 5,
            ..current
        };
        assert!(same_pacing.paces_like(&current));
        let fleet = fleet(
            unlimited,
            &[first.clone(), running(second.clone(), same_pacing)],
        );
        let mut wakeups = Box::pin(fleet.wakeups());
        assert_eq!(fleet.admit(&first), Admission::Start);
        assert_eq!(
            fleet.share(&first, &DigitalRecoveryStatus::default()),
            Some(current)
        );
        assert!(
            woken(&mut wakeups).is_empty(),
            "a new count alone wakes nobody"
        );

        // Second still shows the share from when it ran alone: it must hear of the new one.
        let alone = GenesysBudget::divide(600, 300, 2);
        let fleet = self::fleet(unlimited, &[first.clone(), running(second, alone)]);
        let mut wakeups = Box::pin(fleet.wakeups());
        assert_eq!(fleet.admit(&first), Admission::Start);
        fleet.share(&first, &DigitalRecoveryStatus::default());
        assert_eq!(woken(&mut wakeups), ["second"]);
    }

    /// An unlimited fleet watching acme's `first` (not started) and `second` (running, 4
    /// shards of an org budget of 600), with the store's writer to change them.
    fn acme_with_second_running() -> (
        Fleet,
        reflector::store::Writer<DigitalRecovery>,
        DigitalRecovery,
        DigitalRecovery,
    ) {
        let unlimited = AdmissionLimits {
            max_running: None,
            max_running_per_tenant: None,
        };
        let first = recovery("first", "acme", "2026-11-21T01:00:00Z");
        let second = running(
            recovery("second", "acme", "2026-11-21T01:00:01Z"),
            GenesysBudget::divide(600, 300, 4),
        );
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Apply(first.clone()));
        writer.apply_watcher_event(&watcher::Event::Apply(second.clone()));
        let fleet = Fleet::new(unlimited);
        fleet.watch(store);
        (fleet, writer, first, second)
    }

    type Wakeups = std::pin::Pin<Box<dyn Stream<Item = ObjectRef<DigitalRecovery>> + Send>>;

    /// [`acme_with_second_running`] with `first` admitted and its opening division checked
    /// (the org's 600 over both recoveries' 4 shards), and the wake-ups from before that.
    fn first_admitted_beside_second() -> (
        Fleet,
        reflector::store::Writer<DigitalRecovery>,
        DigitalRecovery,
        DigitalRecovery,
        Wakeups,
    ) {
        let (fleet, writer, first, second) = acme_with_second_running();
        let wakeups: Wakeups = Box::pin(fleet.wakeups());
        assert_eq!(fleet.admit(&first), Admission::Start);
        assert_eq!(
            fleet.share(&first, &DigitalRecoveryStatus::default()),
            Some(GenesysBudget::divide(600, 300, 4))
        );
        (fleet, writer, first, second, wakeups)
    }

    #[test]
    fn a_shards_429s_lower_the_whole_orgs_division() {
        let (fleet, mut writer, first, second, mut wakeups) = first_admitted_beside_second();
        let none = DigitalRecoveryStatus::default();
        assert!(woken(&mut wakeups).is_empty());

        // One of second's shards was refused: the org's 600 becomes 420 for every shard.
        let mut refused = second.clone();
        if let Some(status) = refused.status.as_mut() {
            status.shards = vec![crate::api::ShardStatus {
                throttled: 2,
                ..Default::default()
            }];
        }
        writer.apply_watcher_event(&watcher::Event::Apply(refused));
        let lowered = GenesysBudget::divide(420, 300, 4);
        assert_eq!(fleet.share(&first, &none), Some(lowered));
        assert_eq!(woken(&mut wakeups), ["second"]);
    }

    #[test]
    fn only_genesys_429s_lower_the_orgs_division() {
        let (fleet, mut writer, first, second, mut wakeups) = first_admitted_beside_second();
        let none = DigitalRecoveryStatus::default();
        let whole = Some(GenesysBudget::divide(600, 300, 4));
        let with_429s = |genesys: u64, das: u64, capture: u64| {
            let mut refused = second.clone();
            if let Some(status) = refused.status.as_mut() {
                status.shards = vec![crate::api::ShardStatus {
                    throttled: genesys + das + capture,
                    throttled_by: Some(crate::api::ApiCalls {
                        genesys,
                        das,
                        capture,
                    }),
                    ..Default::default()
                }];
            }
            refused
        };

        // The recording side refused five requests: the Genesys org's budget stays whole.
        writer.apply_watcher_event(&watcher::Event::Apply(with_429s(0, 3, 2)));
        assert_eq!(fleet.share(&first, &none), whole);
        assert!(woken(&mut wakeups).is_empty());

        // Then Genesys refused one: lowered for every shard.
        writer.apply_watcher_event(&watcher::Event::Apply(with_429s(1, 3, 2)));
        assert_eq!(
            fleet.share(&first, &none),
            Some(GenesysBudget::divide(420, 300, 4))
        );
        assert_eq!(woken(&mut wakeups), ["second"]);
    }

    #[test]
    fn a_verifying_shard_hands_its_share_to_the_orgs_others_at_once() {
        let (fleet, mut writer, first, second, mut wakeups) = first_admitted_beside_second();
        let none = DigitalRecoveryStatus::default();
        let with_stages = |stages: [&str; 2]| {
            let mut later = second.clone();
            if let Some(status) = later.status.as_mut() {
                status.shards = (0..)
                    .zip(stages)
                    .map(|(index, stage)| crate::api::ShardStatus {
                        index,
                        phase: Some(ShardPhase::Running),
                        stage: Some(stage.into()),
                        ..Default::default()
                    })
                    .collect();
            }
            later
        };

        // Still recovering: nothing changes.
        writer.apply_watcher_event(&watcher::Event::Apply(with_stages(["recover", "collect"])));
        assert_eq!(
            fleet.share(&first, &none),
            Some(GenesysBudget::divide(600, 300, 4))
        );
        // One of second's shards verifies (DAS only): 3 shards share the org's 600.
        writer.apply_watcher_event(&watcher::Event::Apply(with_stages(["verify", "collect"])));
        assert_eq!(
            fleet.share(&first, &none),
            Some(GenesysBudget::divide(600, 300, 3))
        );
        assert_eq!(woken(&mut wakeups), ["second"]);
        // Both verify: first's 2 shards take a token's rate each; second keeps the share a
        // retried shard would get (a third spender), not its old one.
        let both = with_stages(["verify", "done"]);
        writer.apply_watcher_event(&watcher::Event::Apply(both.clone()));
        assert_eq!(
            fleet.share(&first, &none),
            Some(GenesysBudget::divide(600, 300, 2))
        );
        let status = both.status.clone().unwrap_or_default();
        assert_eq!(
            fleet.share(&both, &status),
            Some(GenesysBudget::divide(600, 300, 3))
        );
    }
}

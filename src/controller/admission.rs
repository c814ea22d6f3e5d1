//! Admission: which waiting recoveries may start their workers now, under the chart's caps on
//! running recoveries (`maxConcurrentRecoveries` for the cluster, `maxConcurrentRecoveriesPerTenant`
//! per tenant), first come first served. Pure: the caller hands in a view of the fleet.

use std::collections::HashMap;

use kube::runtime::reflector::ObjectRef;

use crate::api::DigitalRecovery;

/// The caps on running recoveries; `None` is no cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdmissionLimits {
    pub max_running: Option<u32>,
    pub max_running_per_tenant: Option<u32>,
}

/// One recovery as admission sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entrant {
    pub key: ObjectRef<DigitalRecovery>,
    pub tenant: String,
    /// Creation time, RFC 3339 (the apiserver's, second precision); ties go by namespace and
    /// name, so every reconcile orders the queue the same way.
    pub created: String,
    /// Holds a running slot already (its Job was created and it has not finished).
    pub running: bool,
}

/// What admission says about one waiting recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// It may start now.
    Start,
    /// It waits, `position`-th in the queue (1 = next); `cap` says which cap holds it.
    Queued { position: u32, cap: String },
}

/// Decides for `key`, a recovery that is waiting (not `running`), among `fleet` (which includes
/// it). The waiting ones are taken in creation order; each starts if neither cap is reached
/// counting the running ones and those started before it. A recovery held only by its
/// tenant's cap does not hold back later ones of other tenants, and takes the first free
/// slot once its tenant has room, before any later one.
pub fn admit(
    key: &ObjectRef<DigitalRecovery>,
    fleet: &[Entrant],
    limits: AdmissionLimits,
) -> Admission {
    match walk_queue(fleet, limits)
        .into_iter()
        .find(|(e, _)| &e.key == key)
    {
        Some((e, Some(held))) => Admission::Queued {
            position: held.position,
            cap: if held.by_tenant_cap {
                format!(
                    "maxConcurrentRecoveriesPerTenant {} reached for tenant {}",
                    limits.max_running_per_tenant.unwrap_or_default(),
                    e.tenant
                )
            } else {
                format!(
                    "maxConcurrentRecoveries {} reached",
                    limits.max_running.unwrap_or_default()
                )
            },
        },
        Some((_, None)) => Admission::Start,
        // Not in the view (a stale cache): let it start; the next view counts it as running.
        None => Admission::Start,
    }
}

/// The waiting recoveries of `fleet` that would start now, in queue order: those to wake when a
/// running one finishes.
pub fn startable(fleet: &[Entrant], limits: AdmissionLimits) -> Vec<ObjectRef<DigitalRecovery>> {
    walk_queue(fleet, limits)
        .into_iter()
        .filter(|(_, held)| held.is_none())
        .map(|(e, _)| e.key.clone())
        .collect()
}

/// Why a waiting recovery stays waiting.
struct Held {
    /// Its place among the waiting ones held back (1 = next).
    position: u32,
    /// Its tenant's cap holds it (else the cluster's).
    by_tenant_cap: bool,
}

/// Every waiting recovery of `fleet` in queue order, with what holds it back (None: it
/// starts). Each starts if neither cap is reached counting the running ones and those started
/// before it in the queue.
fn walk_queue(fleet: &[Entrant], limits: AdmissionLimits) -> Vec<(&Entrant, Option<Held>)> {
    let mut running_total = 0u32;
    let mut running_by_tenant: HashMap<&str, u32> = HashMap::new();
    for e in fleet.iter().filter(|e| e.running) {
        running_total += 1;
        *running_by_tenant.entry(e.tenant.as_str()).or_default() += 1;
    }
    let mut position = 0u32;
    queue(fleet)
        .into_iter()
        .map(|e| {
            let tenant_running = running_by_tenant.entry(e.tenant.as_str()).or_default();
            let cluster_full = limits.max_running.is_some_and(|max| running_total >= max);
            let tenant_full = limits
                .max_running_per_tenant
                .is_some_and(|max| *tenant_running >= max);
            if cluster_full || tenant_full {
                position += 1;
                return (
                    e,
                    Some(Held {
                        position,
                        by_tenant_cap: tenant_full,
                    }),
                );
            }
            running_total += 1;
            *tenant_running += 1;
            (e, None)
        })
        .collect()
}

/// The waiting recoveries of `fleet` in queue order: creation time, then namespace and name.
fn queue(fleet: &[Entrant]) -> Vec<&Entrant> {
    let mut waiting: Vec<&Entrant> = fleet.iter().filter(|e| !e.running).collect();
    waiting.sort_by(|a, b| {
        (
            a.created.as_str(),
            a.key.namespace.as_deref(),
            a.key.name.as_str(),
        )
            .cmp(&(
                b.created.as_str(),
                b.key.namespace.as_deref(),
                b.key.name.as_str(),
            ))
    });
    waiting
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entrant(name: &str, tenant: &str, second: u32, running: bool) -> Entrant {
        Entrant {
            key: ObjectRef::new(name).within("ns"),
            tenant: tenant.into(),
            created: format!("2026-12-01T00:00:{second:02}Z"),
            running,
        }
    }

    fn limits(max: Option<u32>, per_tenant: Option<u32>) -> AdmissionLimits {
        AdmissionLimits {
            max_running: max,
            max_running_per_tenant: per_tenant,
        }
    }

    fn decide(name: &str, fleet: &[Entrant], l: AdmissionLimits) -> Admission {
        admit(&ObjectRef::new(name).within("ns"), fleet, l)
    }

    #[test]
    fn startable_is_what_admit_starts_in_queue_order() {
        let fleet: Vec<Entrant> = (0..24u32)
            .map(|i| {
                let tenant = ["a", "b", "c"][(i * 7 % 3) as usize];
                entrant(&format!("r{i}"), tenant, (i * 11) % 60, i % 5 == 0)
            })
            .collect();
        for l in [
            limits(None, None),
            limits(Some(9), None),
            limits(None, Some(2)),
            limits(Some(8), Some(3)),
            limits(Some(7), Some(2)),
        ] {
            let mut by_admit: Vec<&Entrant> = fleet
                .iter()
                .filter(|e| !e.running && admit(&e.key, &fleet, l) == Admission::Start)
                .collect();
            by_admit.sort_by(|a, b| a.created.cmp(&b.created).then(a.key.name.cmp(&b.key.name)));
            let by_admit: Vec<ObjectRef<DigitalRecovery>> =
                by_admit.into_iter().map(|e| e.key.clone()).collect();
            assert!(!by_admit.is_empty(), "{l:?}");
            assert_eq!(startable(&fleet, l), by_admit, "{l:?}");
        }
    }

    #[test]
    fn without_caps_everything_starts() {
        let fleet = [entrant("a", "t", 1, true), entrant("b", "t", 2, false)];
        assert_eq!(decide("b", &fleet, limits(None, None)), Admission::Start);
    }

    #[test]
    fn the_cluster_cap_queues_in_creation_order() {
        let fleet = [
            entrant("running", "t1", 0, true),
            entrant("late", "t3", 9, false),
            entrant("early", "t2", 5, false),
            entrant("middle", "t4", 7, false),
        ];
        let l = limits(Some(2), None);
        assert_eq!(decide("early", &fleet, l), Admission::Start);
        assert_eq!(
            decide("middle", &fleet, l),
            Admission::Queued {
                position: 1,
                cap: "maxConcurrentRecoveries 2 reached".into()
            }
        );
        assert!(matches!(
            decide("late", &fleet, l),
            Admission::Queued { position: 2, .. }
        ));
        assert_eq!(startable(&fleet, l), [ObjectRef::new("early").within("ns")]);
    }

    #[test]
    fn one_per_tenant_lets_other_tenants_pass_but_not_later_ones_of_the_tenant() {
        let fleet = [
            entrant("a-running", "a", 0, true),
            entrant("a-next", "a", 1, false),
            entrant("b-first", "b", 2, false),
            entrant("b-second", "b", 3, false),
        ];
        let l = limits(Some(10), Some(1));
        match decide("a-next", &fleet, l) {
            Admission::Queued { position, cap } => {
                assert_eq!(position, 1);
                assert!(cap.contains("tenant a"), "{cap}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(decide("b-first", &fleet, l), Admission::Start);
        assert!(matches!(
            decide("b-second", &fleet, l),
            Admission::Queued { position: 2, .. }
        ));
    }

    #[test]
    fn a_waiting_recovery_is_not_overtaken_once_its_tenant_has_room() {
        // a-old waited behind its tenant's running one; when that finishes, it takes the one
        // free cluster slot before the later b-new.
        let fleet = [
            entrant("c-running", "c", 0, true),
            entrant("a-old", "a", 1, false),
            entrant("b-new", "b", 2, false),
        ];
        let l = limits(Some(2), Some(1));
        assert_eq!(decide("a-old", &fleet, l), Admission::Start);
        assert!(matches!(
            decide("b-new", &fleet, l),
            Admission::Queued { position: 1, .. }
        ));
    }

    #[test]
    fn a_manual_recovery_is_not_starved_by_later_schedule_runs() {
        let mut fleet = vec![
            entrant("run-1", "t", 0, true),
            entrant("manual", "t", 1, false),
        ];
        let l = limits(None, Some(1));
        // Schedule runs created after the manual one, as a schedule would keep doing.
        for i in 2..10 {
            fleet.push(entrant(&format!("run-{i}"), "t", i, false));
        }
        // run-1 finishes: the manual one is first.
        fleet.remove(0);
        assert_eq!(
            startable(&fleet, l),
            [ObjectRef::new("manual").within("ns")]
        );
    }
}

//! One Genesys request budget per org: the running shards of a tenant's recoveries share
//! `orgRequestsPerMinute` equally, each still capped by its own per-token `requestsPerMinute`.
//! Pure: the caller hands in the running recoveries.

use std::collections::BTreeMap;

use crate::api::GenesysBudget;

/// A running recovery, as the budget sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spender {
    pub tenant: String,
    /// Its shards still spending Genesys requests: running, and not yet past Genesys (a shard
    /// verifying reads only DAS).
    pub shards: u32,
    /// Its shards not finished, those past Genesys included.
    pub unfinished: u32,
    pub org_requests_per_minute: u32,
    pub token_requests_per_minute: u32,
}

/// Each tenant's budget: the least `orgRequestsPerMinute` among its running recoveries (the
/// stricter setting wins) over all their running shards.
pub fn per_tenant(running: &[Spender]) -> BTreeMap<&str, (u32, u32)> {
    let mut orgs: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for s in running.iter().filter(|s| s.shards > 0) {
        let (budget, shards) = orgs
            .entry(s.tenant.as_str())
            .or_insert((s.org_requests_per_minute, 0));
        *budget = (*budget).min(s.org_requests_per_minute);
        *shards += s.shards;
    }
    orgs
}

/// The share of `me` (one of `running`): its org's budget over the org's running shards, at
/// most its own per-token rate, at least one request a minute. None when it runs no shard.
pub fn share(me: &Spender, running: &[Spender]) -> Option<GenesysBudget> {
    share_in(me, &per_tenant(running))
}

/// The share of `me` in `orgs` (from [`per_tenant`] over the running recoveries, `me`
/// included): for dividing among many recoveries, counting the orgs once. None when all its
/// shards finished.
///
/// A recovery whose shards are all past Genesys but not finished shows the share one more
/// shard of the org would get: a shard retried after that spends it until the controller
/// sees it running again, and the org stays within its budget meanwhile.
pub fn share_in(me: &Spender, orgs: &BTreeMap<&str, (u32, u32)>) -> Option<GenesysBudget> {
    if me.unfinished == 0 {
        return None;
    }
    let (org, shards) = orgs
        .get(me.tenant.as_str())
        .copied()
        .unwrap_or((me.org_requests_per_minute, 0));
    let shards = if me.shards == 0 { shards + 1 } else { shards };
    Some(GenesysBudget::divide(
        org.min(me.org_requests_per_minute),
        me.token_requests_per_minute,
        shards,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spender(tenant: &str, shards: u32, org: u32) -> Spender {
        Spender {
            tenant: tenant.into(),
            shards,
            unfinished: shards,
            org_requests_per_minute: org,
            token_requests_per_minute: 300,
        }
    }

    #[test]
    fn an_org_budget_is_split_over_every_running_shard_of_the_tenant() {
        let running = [
            spender("a", 8, 2400),
            spender("a", 8, 2400),
            spender("b", 4, 2400),
        ];
        let a = share(&running[0], &running).unwrap();
        assert_eq!((a.org_shards, a.shard_requests_per_minute), (16, 150));
        // b alone: 600 each, capped at the per-token 300.
        let b = share(&running[2], &running).unwrap();
        assert_eq!((b.org_shards, b.shard_requests_per_minute), (4, 300));
    }

    #[test]
    fn the_stricter_org_setting_wins_and_no_share_is_zero() {
        let running = [spender("a", 2, 2400), spender("a", 3, 600)];
        let a = share(&running[0], &running).unwrap();
        assert_eq!(a.org_requests_per_minute, 600);
        assert_eq!(a.shard_requests_per_minute, 120);
        let crowded = [spender("c", 64, 10)];
        assert_eq!(
            share(&crowded[0], &crowded)
                .unwrap()
                .shard_requests_per_minute,
            1
        );
    }

    #[test]
    fn finished_shards_leave_their_share_to_the_rest() {
        let before = [spender("a", 8, 2400), spender("a", 8, 2400)];
        let after = [spender("a", 8, 2400), spender("a", 0, 2400)];
        assert_eq!(
            share(&before[0], &before)
                .unwrap()
                .shard_requests_per_minute,
            150
        );
        assert_eq!(
            share(&after[0], &after).unwrap().shard_requests_per_minute,
            300
        );
        assert_eq!(share(&after[1], &after), None);
    }

    #[test]
    fn shards_past_genesys_leave_their_share_but_their_recovery_keeps_one_in_reserve() {
        let verifying = Spender {
            unfinished: 2,
            ..spender("a", 0, 2400)
        };
        let running = [spender("a", 12, 2400), verifying.clone()];
        // The 2 verifying shards count for nothing: 12 share the budget.
        let a = share(&running[0], &running).unwrap();
        assert_eq!((a.org_shards, a.shard_requests_per_minute), (12, 200));
        // The verifying recovery shows what a 13th shard would get, should one be retried.
        let v = share(&verifying, &running).unwrap();
        assert_eq!((v.org_shards, v.shard_requests_per_minute), (13, 184));
        // Alone, it would get a whole token's rate.
        assert_eq!(
            share(&verifying, std::slice::from_ref(&verifying))
                .unwrap()
                .shard_requests_per_minute,
            300
        );
    }
}

//! The orgs one simulation serves. Each Genesys org has its own OAuth client, its own
//! recording-side tenant, its own seeded dataset and its own rate limits; the window, the rates
//! of each case, the latency and the faults are the simulation's. With no org listed the
//! simulation serves one org made of [`SimConfig`]'s own client, tenant, seed and limits, as it
//! always has.

use super::SimConfig;
use super::dataset::DatasetConfig;

/// One org (Genesys org and recording-side tenant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgConfig {
    /// OAuth client id its Genesys org and its recording-side tenant accept.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// Recording-side tenant (and Genesys org name).
    pub tenant: String,
    /// Dataset seed.
    pub seed: u64,
    /// Conversations in the window.
    pub conversations: usize,
    /// Genesys requests per minute per token (None = unlimited).
    pub rate_limit: Option<u32>,
    /// Genesys requests per minute of its OAuth client across its tokens (None = unlimited).
    pub org_rate_limit: Option<u32>,
}

impl SimConfig {
    /// Serves `count` orgs numbered 1 to `count`: org `i` has client id `{client_id}-i`, secret
    /// `{client_secret}-i`, tenant `{tenant}-i`, seed `seed + i - 1`, and the configuration's
    /// conversation count and limits (change them in [`orgs`](SimConfig::orgs) afterwards).
    /// One org or none: the single org of the configuration's own fields.
    pub fn with_orgs(mut self, count: usize) -> Self {
        self.orgs = if count <= 1 {
            Vec::new()
        } else {
            (1..=count)
                .map(|number| OrgConfig {
                    client_id: format!("{}-{number}", self.client_id),
                    client_secret: format!("{}-{number}", self.client_secret),
                    tenant: format!("{}-{number}", self.tenant),
                    seed: self.seed.wrapping_add(number as u64 - 1),
                    ..self.own_org()
                })
                .collect()
        };
        self
    }

    /// The orgs served, in order: [`orgs`](SimConfig::orgs), or when empty the one org of the
    /// configuration's own fields.
    pub fn org_configs(&self) -> Vec<OrgConfig> {
        if self.orgs.is_empty() {
            vec![self.own_org()]
        } else {
            self.orgs.clone()
        }
    }

    /// The dataset `org` serves.
    pub fn org_dataset_config(&self, org: &OrgConfig) -> DatasetConfig {
        DatasetConfig {
            seed: org.seed,
            conversations: org.conversations,
            tenant: org.tenant.clone(),
            ..self.dataset_config()
        }
    }

    fn own_org(&self) -> OrgConfig {
        OrgConfig {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            tenant: self.tenant.clone(),
            seed: self.seed,
            conversations: self.conversations,
            rate_limit: self.rate_limit,
            org_rate_limit: self.org_rate_limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_orgs_have_their_own_client_tenant_and_seed() {
        let mut config = SimConfig::new(100);
        config.seed = 7;
        config.org_rate_limit = Some(3000);
        let single = config.clone().with_orgs(1);
        assert_eq!(single.org_configs().len(), 1);
        assert_eq!(single.org_configs()[0].client_id, "sim-client");
        assert_eq!(single.org_dataset_config(&single.org_configs()[0]).seed, 7);

        let several = config.with_orgs(3);
        let orgs = several.org_configs();
        let names: Vec<_> = orgs
            .iter()
            .map(|o| {
                (
                    o.client_id.as_str(),
                    o.client_secret.as_str(),
                    o.tenant.as_str(),
                    o.seed,
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("sim-client-1", "sim-secret-1", "demo-1", 7),
                ("sim-client-2", "sim-secret-2", "demo-2", 8),
                ("sim-client-3", "sim-secret-3", "demo-3", 9),
            ]
        );
        assert!(orgs.iter().all(|o| o.org_rate_limit == Some(3000)));
        let dataset = several.org_dataset_config(&orgs[2]);
        assert_eq!((dataset.seed, dataset.tenant.as_str()), (9, "demo-3"));
        assert_eq!(dataset.missing_rate, several.missing_rate);
    }
}

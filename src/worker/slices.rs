//! The shard slices of a recovery, cut once. Shard 0's worker counts the window's conversations
//! and cuts balanced slices (`pipeline::balance`), then writes them to a ConfigMap
//! (`<recovery>-slices`, owned by the recovery) with a create only one worker can win; the other
//! shards wait for it (and cut it themselves if it does not come, shard 0 being unable to run).
//! Every worker, and every retry of one, uses what that ConfigMap holds, so the slices tile the
//! window exactly even when Genesys' counts move between two workers' reads. While the others
//! wait, shard 0 counts with as many tokens as the recovery has shards, each at the shard's
//! share of the org budget: the recovery spends no more than its shards would.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client, Resource, ResourceExt, api::PostParams};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::{WorkerError, status::APISERVER_PATIENCE};
use crate::api::{DigitalRecovery, GenesysBudget, ValidSpec, Window};
use crate::contract::{RECOVERY_LABEL, SLICES_KEY, label_value, slices_name};
use crate::genesys::{GenesysClient, GenesysConfig};
use crate::http::ClientCredentials;
use crate::kubeapi::{delete_exactly, is_transient, owned_by, patiently};
use crate::pipeline::balance::{self, Cut, ShardCount};

/// How long the other shards wait for shard 0's slices before cutting them themselves.
const PLAN_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
/// How often they look.
const PLAN_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// What the slices ConfigMap holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlicePlan {
    pub cut: Cut,
    pub slices: Vec<Window>,
}

/// Shard `shard`'s slice of `dr`, from the recovery's plan, cutting and writing the plan first
/// when no worker has yet. None: the plan has no slice for this shard (under `parallelism:
/// auto` the window's conversations need fewer shards than the Job runs).
pub async fn slice_of_shard(
    client: &Client,
    dr: &DigitalRecovery,
    spec: &ValidSpec,
    genesys: &ClientCredentials,
    division: Option<GenesysBudget>,
    shard: u32,
    parallelism: u32,
) -> Result<Option<Window>, WorkerError> {
    let plan = plan(client, dr, spec, genesys, division, shard, parallelism).await?;
    let fits = match ShardCount::of(spec.parallelism, parallelism) {
        ShardCount::Exactly(n) => plan.slices.len() == n as usize,
        ShardCount::AtMost(n) => (1..=n as usize).contains(&plan.slices.len()),
    };
    if !fits {
        return Err(WorkerError::Slices(format!(
            "the plan holds {} slices for parallelism {parallelism}",
            plan.slices.len()
        )));
    }
    Ok(plan.slices.get(shard as usize).copied())
}

async fn plan(
    client: &Client,
    dr: &DigitalRecovery,
    spec: &ValidSpec,
    genesys: &ClientCredentials,
    division: Option<GenesysBudget>,
    shard: u32,
    shards: u32,
) -> Result<SlicePlan, WorkerError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &dr.namespace().unwrap_or_default());
    let name = slices_name(&dr.name_any());
    if let Some(plan) = read(&api, &name, dr).await? {
        return Ok(plan);
    }
    if shard != 0 {
        let deadline = tokio::time::Instant::now() + PLAN_WAIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(PLAN_POLL).await;
            if let Some(plan) = read(&api, &name, dr).await? {
                return Ok(plan);
            }
        }
        info!("shard 0 wrote no slices in time; cutting them");
    }
    let counters = if shard == 0 { shards } else { 1 };
    let plan = cut(spec, genesys, division, shards, counters).await?;
    let (object, params) = (config_map(dr, &name, &plan), PostParams::default());
    let created = patiently("write the slices", APISERVER_PATIENCE, is_transient, || {
        api.create(&params, &object)
    })
    .await;
    match created {
        Ok(_) => {
            info!(cut = ?plan.cut, "wrote the recovery's shard slices");
            Ok(plan)
        }
        // Another worker was first: its plan is the one.
        Err(kube::Error::Api(s)) if s.code == 409 => read(&api, &name, dr)
            .await?
            .ok_or_else(|| WorkerError::Slices("the slices ConfigMap vanished".into())),
        Err(e) => Err(e.into()),
    }
}

/// The plan in `name`, if this recovery's. One left by an earlier recovery of the same name
/// (deleted, its ConfigMaps not yet collected) is deleted.
async fn read(
    api: &Api<ConfigMap>,
    name: &str,
    dr: &DigitalRecovery,
) -> Result<Option<SlicePlan>, WorkerError> {
    let existing = patiently("read the slices", APISERVER_PATIENCE, is_transient, || {
        api.get_opt(name)
    })
    .await?;
    let Some(cm) = existing else {
        return Ok(None);
    };
    if !owned_by(&cm, dr) {
        delete_exactly(api, &cm).await?;
        return Ok(None);
    }
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(SLICES_KEY))
        .ok_or_else(|| WorkerError::Slices(format!("ConfigMap {name} has no {SLICES_KEY}")))?;
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| WorkerError::Slices(format!("ConfigMap {name}: {e}")))
}

/// Cuts the window: balanced by Genesys' counts, or equal time when they cannot be had. The
/// counting client spends the shard's share of the org budget, as the shard will.
async fn cut(
    spec: &ValidSpec,
    credentials: &ClientCredentials,
    division: Option<GenesysBudget>,
    shards: u32,
    counters: u32,
) -> Result<SlicePlan, WorkerError> {
    let count = ShardCount::of(spec.parallelism, shards);
    let (slices, cut) = if shards <= 1 {
        (
            crate::pipeline::shard::slices(spec.window, 1),
            Cut::EqualTime,
        )
    } else {
        let config = GenesysConfig::from_spec(
            spec,
            credentials.client_id.clone(),
            credentials.client_secret.clone(),
        )
        .map_err(|e| WorkerError::Slices(e.to_string()))?;
        let counters = (0..counters.max(1))
            .map(|_| {
                let genesys = GenesysClient::new(config.clone())?;
                genesys.take_share(division);
                Ok(genesys)
            })
            .collect::<Result<Vec<_>, crate::genesys::GenesysError>>()
            .map_err(|e| WorkerError::Slices(e.to_string()))?;
        balance::slices(
            &counters,
            spec.window,
            &spec.media_types,
            &spec.message_types,
            count,
        )
        .await
    };
    Ok(SlicePlan { cut, slices })
}

fn config_map(dr: &DigitalRecovery, name: &str, plan: &SlicePlan) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.to_string());
    cm.metadata.labels = Some(BTreeMap::from([(
        RECOVERY_LABEL.to_string(),
        label_value(&dr.name_any()),
    )]));
    cm.metadata.owner_references = dr.controller_owner_ref(&()).map(|mut o| {
        o.controller = Some(false);
        vec![o]
    });
    cm.data = Some(BTreeMap::from([(
        SLICES_KEY.to_string(),
        serde_json::to_string(plan).unwrap_or_default(),
    )]));
    cm
}

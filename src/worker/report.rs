//! A shard's report: every outcome record of the shard as gzip'd JSON lines, in ConfigMaps of
//! about 900 KiB each (`<recovery>-report-<shard>-<part>`, owned by the recovery), and reading
//! them back for `digital-recovery report`.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
};

use flate2::{Compression, read::GzDecoder, write::GzEncoder};
use k8s_openapi::{
    ByteString, api::core::v1::ConfigMap, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ListParams},
};

use super::WorkerError;
use crate::api::DigitalRecovery;
use crate::contract::{
    PART_LABEL, RECOVERY_LABEL, REPORT_KEY, SHARD_LABEL, label_value, report_name, worker_manager,
};
use crate::kubeapi::{self, ApplyError};
use crate::pipeline::progress::OutcomeRecord;

/// Compressed bytes per report ConfigMap (the apiserver's limit is 1 MiB per object).
const REPORT_PART_BYTES: usize = 900 * 1024;

/// Compresses `outcomes` as gzip JSON lines split into parts below ~900 KiB each.
pub fn encode_report(outcomes: &[OutcomeRecord]) -> Result<Vec<Vec<u8>>, WorkerError> {
    let mut parts = Vec::new();
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    let mut in_part = 0usize;
    for record in outcomes {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        enc.write_all(&line)?;
        in_part += 1;
        // The encoder buffers up to ~32 KiB internally; the margin below the 1 MiB object limit
        // covers that.
        if enc.get_ref().len() >= REPORT_PART_BYTES - 64 * 1024 {
            parts.push(enc.finish()?);
            enc = GzEncoder::new(Vec::new(), Compression::default());
            in_part = 0;
        }
    }
    if in_part > 0 || parts.is_empty() {
        parts.push(enc.finish()?);
    }
    Ok(parts)
}

/// Decodes one report part.
pub fn decode_report(bytes: &[u8]) -> Result<Vec<OutcomeRecord>, std::io::Error> {
    let mut text = String::new();
    GzDecoder::new(bytes).read_to_string(&mut text)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
        .collect()
}

/// Writes shard `shard`'s report and removes parts a longer earlier attempt left; returns the
/// number of parts.
pub async fn write_report(
    client: &Client,
    dr: &DigitalRecovery,
    shard: u32,
    outcomes: &[OutcomeRecord],
) -> Result<u32, WorkerError> {
    let ns = dr.namespace().unwrap_or_default();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let parts = encode_report(outcomes)?;
    let manager = worker_manager(shard);
    // Owned but not controlled: the controller watches what it controls, not reports.
    let owner = dr.controller_owner_ref(&()).map(|mut o| {
        o.controller = Some(false);
        o
    });
    for (i, bytes) in parts.iter().enumerate() {
        let name = report_name(&dr.name_any(), shard, i);
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([
                    (RECOVERY_LABEL.to_string(), label_value(&dr.name_any())),
                    (SHARD_LABEL.to_string(), shard.to_string()),
                    (PART_LABEL.to_string(), i.to_string()),
                ])),
                owner_references: owner.clone().map(|o| vec![o]),
                ..Default::default()
            },
            binary_data: Some(BTreeMap::from([(
                REPORT_KEY.to_string(),
                ByteString(bytes.clone()),
            )])),
            ..Default::default()
        };
        kubeapi::apply(&cms, &name, &manager, &cm)
            .await
            .map_err(|e| match e {
                ApplyError::Serialize(e) => WorkerError::Json(e),
                ApplyError::Kube(e) => WorkerError::Kube(e),
            })?;
    }
    let selector = format!(
        "{RECOVERY_LABEL}={},{SHARD_LABEL}={shard}",
        label_value(&dr.name_any())
    );
    for cm in cms.list(&ListParams::default().labels(&selector)).await? {
        let part: usize = cm
            .labels()
            .get(PART_LABEL)
            .and_then(|p| p.parse().ok())
            .unwrap_or(usize::MAX);
        if part >= parts.len() {
            cms.delete(&cm.name_any(), &DeleteParams::default()).await?;
        }
    }
    u32::try_from(parts.len())
        .map_err(|_| WorkerError::Io(std::io::Error::other("too many report parts")))
}

/// Reads every report part of a recovery, in shard and part order.
pub async fn read_report(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<(u32, OutcomeRecord)>, WorkerError> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let selector = format!("{RECOVERY_LABEL}={}", label_value(name));
    let mut found: Vec<(u32, usize, Vec<u8>)> = Vec::new();
    for cm in cms.list(&ListParams::default().labels(&selector)).await? {
        let label = |k: &str| cm.labels().get(k).and_then(|v| v.parse::<usize>().ok());
        let (Some(shard), Some(part)) = (label(SHARD_LABEL), label(PART_LABEL)) else {
            continue;
        };
        if let Some(bytes) = cm.binary_data.as_ref().and_then(|d| d.get(REPORT_KEY)) {
            found.push((
                u32::try_from(shard).unwrap_or(u32::MAX),
                part,
                bytes.0.clone(),
            ));
        }
    }
    found.sort_by_key(|(s, p, _)| (*s, *p));
    let mut out = Vec::new();
    for (shard, _, bytes) in found {
        for r in decode_report(&bytes)? {
            out.push((shard, r));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MediaType;
    use crate::pipeline::progress::Outcome;

    #[test]
    fn report_round_trips_and_splits_below_the_object_limit() {
        let records: Vec<OutcomeRecord> = (0..60_000)
            .map(|i| OutcomeRecord {
                conversation_id: Some(uuid::Uuid::new_v4()),
                media_type: Some(MediaType::Chat),
                outcome: if i % 7 == 0 {
                    Outcome::Failed
                } else {
                    Outcome::Verified
                },
                reason: (i % 7 == 0).then(|| "rejected".to_string()),
                detail: Some(format!("detail {i} {}", uuid::Uuid::new_v4())),
            })
            .collect();
        let parts = encode_report(&records).expect("encode");
        assert!(
            parts.len() > 1,
            "60k records with random ids need more than one part"
        );
        assert!(
            parts.iter().all(|p| p.len() < 1000 * 1024),
            "a part exceeds ~1 MB"
        );
        let back: Vec<OutcomeRecord> = parts
            .iter()
            .flat_map(|p| decode_report(p).expect("decode"))
            .collect();
        assert_eq!(back, records);
    }
}

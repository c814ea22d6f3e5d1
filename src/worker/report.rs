//! A shard's report: every outcome record of the shard as gzip'd JSON lines, in ConfigMaps of
//! about 900 KiB each (`<recovery>-report-<shard>-<part>`, owned by the recovery), encoded and
//! written part by part while the shard runs, and reading them back for `digital-recovery report`.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
};

use flate2::{Compression, read::GzDecoder, write::GzEncoder};
use k8s_openapi::{
    ByteString,
    api::core::v1::ConfigMap,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};

use super::WorkerError;
use crate::api::DigitalRecovery;
use crate::contract::{
    PART_LABEL, RECOVERY_LABEL, REPORT_KEY, SHARD_LABEL, label_value, report_name, worker_manager,
};
use crate::pipeline::progress::OutcomeRecord;

/// Compressed bytes per report ConfigMap (the apiserver's limit is 1 MiB per object).
const REPORT_PART_BYTES: usize = 900 * 1024;

/// A report part: its number and its gzip'd bytes.
pub type Part = (usize, Vec<u8>);

/// Encodes outcome records into report parts as they come (gzip'd JSON lines, parts below
/// ~900 KiB each), so a shard holds at most the part being filled and the full parts not yet
/// written, however many conversations it handles.
pub struct ReportEncoder {
    encoder: GzEncoder<Vec<u8>>,
    /// Records in the part being filled.
    in_part: usize,
    /// Full parts not yet taken, with their part numbers.
    full: Vec<Part>,
    /// The next part's number.
    next_part: usize,
    /// Records encoded in all.
    records: u64,
}

impl Default for ReportEncoder {
    fn default() -> Self {
        ReportEncoder {
            encoder: GzEncoder::new(Vec::new(), Compression::default()),
            in_part: 0,
            full: Vec::new(),
            next_part: 0,
            records: 0,
        }
    }
}

impl ReportEncoder {
    /// Adds one record; a part that reaches the size limit is closed and waits to be taken.
    pub fn push(&mut self, record: &OutcomeRecord) -> Result<(), WorkerError> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.encoder.write_all(&line)?;
        self.in_part += 1;
        self.records += 1;
        // The encoder buffers up to ~32 KiB internally; the margin below the 1 MiB object limit
        // covers that.
        if self.encoder.get_ref().len() >= REPORT_PART_BYTES - 64 * 1024 {
            let done = std::mem::replace(
                &mut self.encoder,
                GzEncoder::new(Vec::new(), Compression::default()),
            );
            self.full.push((self.next_part, done.finish()?));
            self.next_part += 1;
            self.in_part = 0;
        }
        Ok(())
    }

    /// The full parts so far, numbered, to be written now.
    pub fn take_full(&mut self) -> Vec<Part> {
        std::mem::take(&mut self.full)
    }

    /// Gives back parts that could not be written yet.
    pub fn restore(&mut self, parts: Vec<Part>) {
        let mut parts = parts;
        parts.append(&mut self.full);
        self.full = parts;
    }

    /// Records encoded in all.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Closes the last part (a report always has at least one) and returns every part not yet
    /// taken, numbered, and the number of parts in all.
    pub fn finish(mut self) -> Result<(Vec<Part>, usize), WorkerError> {
        if self.in_part > 0 || self.next_part == 0 {
            self.full.push((self.next_part, self.encoder.finish()?));
            self.next_part += 1;
        }
        Ok((self.full, self.next_part))
    }
}

/// Compresses `outcomes` as gzip JSON lines split into parts below ~900 KiB each.
pub fn encode_report(outcomes: &[OutcomeRecord]) -> Result<Vec<Vec<u8>>, WorkerError> {
    let mut encoder = ReportEncoder::default();
    for record in outcomes {
        encoder.push(record)?;
    }
    let (parts, _) = encoder.finish()?;
    Ok(parts.into_iter().map(|(_, bytes)| bytes).collect())
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

/// Writes the report ConfigMaps of one shard.
pub struct ReportWriter {
    api: Api<ConfigMap>,
    recovery: String,
    shard: u32,
    /// Owned but not controlled: the controller watches what it controls, not reports.
    owner: Option<OwnerReference>,
}

impl ReportWriter {
    pub fn new(client: &Client, dr: &DigitalRecovery, shard: u32) -> ReportWriter {
        ReportWriter {
            api: Api::namespaced(client.clone(), &dr.namespace().unwrap_or_default()),
            recovery: dr.name_any(),
            shard,
            owner: dr.controller_owner_ref(&()).map(|mut o| {
                o.controller = Some(false);
                o
            }),
        }
    }

    /// Writes (server-side applies) part `part`.
    pub async fn write_part(&self, part: usize, bytes: &[u8]) -> Result<(), WorkerError> {
        let name = report_name(&self.recovery, self.shard, part);
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([
                    (RECOVERY_LABEL.to_string(), label_value(&self.recovery)),
                    (SHARD_LABEL.to_string(), self.shard.to_string()),
                    (PART_LABEL.to_string(), part.to_string()),
                ])),
                owner_references: self.owner.clone().map(|o| vec![o]),
                ..Default::default()
            },
            binary_data: Some(BTreeMap::from([(
                REPORT_KEY.to_string(),
                ByteString(bytes.to_vec()),
            )])),
            ..Default::default()
        };
        // A part is up to 900 KiB: serialized straight from the ConfigMap and answered with
        // metadata only, so a write does not hold it several times over (a JSON value of it, the
        // whole object sent back).
        let params = PatchParams::apply(&worker_manager(self.shard)).force();
        self.api
            .patch_metadata(&name, &params, &Patch::Apply(&cm))
            .await?;
        Ok(())
    }

    /// Removes the parts numbered `count` and above, which a longer earlier attempt left.
    pub async fn remove_parts_from(&self, count: usize) -> Result<(), WorkerError> {
        let selector = format!(
            "{RECOVERY_LABEL}={},{SHARD_LABEL}={}",
            label_value(&self.recovery),
            self.shard
        );
        for cm in self
            .api
            .list(&ListParams::default().labels(&selector))
            .await?
        {
            let part: usize = cm
                .labels()
                .get(PART_LABEL)
                .and_then(|p| p.parse().ok())
                .unwrap_or(usize::MAX);
            if part >= count {
                self.api
                    .delete(&cm.name_any(), &DeleteParams::default())
                    .await?;
            }
        }
        Ok(())
    }
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
    fn the_encoder_hands_out_full_parts_in_order_and_keeps_only_the_open_one() {
        let record = |i: u32| OutcomeRecord {
            conversation_id: Some(uuid::Uuid::new_v4()),
            media_type: Some(MediaType::Email),
            conversation_start: None,
            outcome: Outcome::Verified,
            reason: None,
            detail: Some(format!("detail {i} {}", uuid::Uuid::new_v4())),
            archive_date: None,
        };
        let mut encoder = ReportEncoder::default();
        let mut taken = Vec::new();
        let mut sent = Vec::new();
        for i in 0..60_000 {
            let r = record(i);
            encoder.push(&r).expect("push");
            sent.push(r);
            if i % 5_000 == 0 {
                let full = encoder.take_full();
                // Nothing full is held back once taken.
                assert!(encoder.full.is_empty());
                taken.extend(full);
            }
        }
        // A part that could not be written goes back, in order.
        let late = encoder.take_full();
        encoder.restore(late);
        assert_eq!(encoder.records(), 60_000);
        let (rest, count) = encoder.finish().expect("finish");
        taken.extend(rest);
        let numbers: Vec<usize> = taken.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, (0..count).collect::<Vec<_>>());
        assert!(count > 1);
        let back: Vec<OutcomeRecord> = taken
            .iter()
            .flat_map(|(_, p)| decode_report(p).expect("decode"))
            .collect();
        assert_eq!(back, sent);
        // An empty report is one empty part, so readers always find part 0.
        let (parts, count) = ReportEncoder::default().finish().expect("finish");
        assert_eq!((parts.len(), count), (1, 1));
        assert!(decode_report(&parts[0].1).expect("decode").is_empty());
    }

    #[test]
    fn report_round_trips_and_splits_below_the_object_limit() {
        let records: Vec<OutcomeRecord> = (0..60_000)
            .map(|i| OutcomeRecord {
                conversation_id: Some(uuid::Uuid::new_v4()),
                media_type: Some(MediaType::Chat),
                conversation_start: None,
                outcome: if i % 7 == 0 {
                    Outcome::Failed
                } else {
                    Outcome::Verified
                },
                reason: (i % 7 == 0).then(|| "rejected".to_string()),
                detail: Some(format!("detail {i} {}", uuid::Uuid::new_v4())),
                archive_date: None,
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

//! A schedule's ledger in ConfigMaps: one day per head ConfigMap (`<schedule>-ledger-<yyyymmdd>`,
//! owned by the schedule), which holds the day's first part and names its generation; a day too
//! big for one object has more parts (`...-<generation>-<n>`).
//!
//! A writer merges into a day copy-on-write: it lists the day, merges, creates the new
//! generation's extra parts, then commits by writing the head conditioned on the
//! resourceVersion it read (a 409 means another writer committed first: it drops its parts and
//! starts over), and only then deletes the parts it listed. A reader lists once (one consistent
//! snapshot) and takes the parts the head names, so it never sees half a merge.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp, civil::Date};
use k8s_openapi::{
    ByteString,
    api::core::v1::ConfigMap,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions},
};
use rand::Rng;
use tracing::{info, warn};

use super::LedgerError;
use super::day::{DayLedger, PART_BYTES, by_day, decode_part, expired, merge};
use super::entry::{LedgerEntry, Word};
use crate::api::{DigitalRecovery, DigitalRecoverySchedule};
use crate::contract::{
    DAY_LABEL, GENERATION_LABEL, LEDGER_KEY, LEDGER_LABEL, PART_LABEL, PARTS_ANNOTATION,
    label_value, ledger_name, ledger_part_name,
};

/// Attempts at merging into one day before giving up (each conflict means another writer
/// committed: progress was made, only not ours).
const MERGE_ATTEMPTS: u32 = 30;

/// Merges runs' words into the ledger of one schedule.
pub struct LedgerWriter {
    api: Api<ConfigMap>,
    schedule: String,
    owner: Option<OwnerReference>,
    max_part_bytes: usize,
}

impl LedgerWriter {
    /// The ledger of the schedule that made `dr`; None when no schedule did.
    pub fn for_run(client: &Client, dr: &DigitalRecovery) -> Option<LedgerWriter> {
        let api_version = DigitalRecoverySchedule::api_version(&());
        let kind = DigitalRecoverySchedule::kind(&());
        let owner = dr
            .owner_references()
            .iter()
            .find(|o| o.kind == kind && o.api_version == api_version)?;
        Some(LedgerWriter::new(
            client,
            &dr.namespace()?,
            &owner.name,
            Some(OwnerReference {
                api_version: owner.api_version.clone(),
                kind: owner.kind.clone(),
                name: owner.name.clone(),
                uid: owner.uid.clone(),
                // Owned, not controlled; no blockOwnerDeletion (it would need the schedule's
                // finalizers permission).
                controller: None,
                block_owner_deletion: None,
            }),
        ))
    }

    /// The ledger of schedule `schedule` in `namespace`, its ConfigMaps owned by `owner`.
    pub fn new(
        client: &Client,
        namespace: &str,
        schedule: &str,
        owner: Option<OwnerReference>,
    ) -> LedgerWriter {
        LedgerWriter {
            api: Api::namespaced(client.clone(), namespace),
            schedule: schedule.to_string(),
            owner,
            max_part_bytes: PART_BYTES,
        }
    }

    /// The same writer with smaller parts (tests of days that span several).
    pub fn with_max_part_bytes(mut self, bytes: usize) -> LedgerWriter {
        self.max_part_bytes = bytes.max(1);
        self
    }

    /// Merges `words` day by day (`fallback`, the run's slice start, files words whose
    /// conversation start is unknown); returns the number of days that changed.
    pub async fn merge(&self, words: Vec<Word>, fallback: Timestamp) -> Result<usize, LedgerError> {
        let mut changed = 0;
        for (day, words) in by_day(words, fallback) {
            if self.merge_day(day, &words).await? {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Merges `words` into `day`, retrying while other writers commit first; false when the
    /// words changed nothing.
    pub async fn merge_day(&self, day: Date, words: &[Word]) -> Result<bool, LedgerError> {
        let day_text = day.to_string();
        let head_name = ledger_name(&self.schedule, &day_text);
        let selector = day_selector(&self.schedule, &day_text);
        for attempt in 0..MERGE_ATTEMPTS {
            if attempt > 0 {
                let pause = rand::rng().random_range(20..200u64) * u64::from(attempt.min(5));
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            let listed = self
                .api
                .list(&ListParams::default().labels(&selector))
                .await?
                .items;
            let head = listed.iter().find(|cm| cm.name_any() == head_name);
            let (mut ledger, missing) = committed(&listed, head)?;
            if missing > 0 {
                warn!(day = %day_text, missing, "ledger day lacks parts its head names (removed meanwhile?)");
            }
            if !merge(&mut ledger, words) {
                return Ok(false);
            }
            let parts = ledger.encode(self.max_part_bytes)?;
            let generation = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
            let mut created = Vec::new();
            let mut outcome = Ok(());
            for (number, bytes) in parts.iter().enumerate().skip(1) {
                let part = self.part(&day_text, &generation, number, bytes);
                match self.api.create(&PostParams::default(), &part).await {
                    Ok(_) => created.push(part.name_any()),
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            if outcome.is_ok() {
                outcome = self
                    .commit(head, &day_text, &generation, &parts, ledger.is_empty())
                    .await;
            }
            match outcome {
                Ok(()) => {
                    // Superseded: the generation read, and anything a stopped writer left.
                    for stale in listed.iter().filter(|cm| cm.name_any() != head_name) {
                        self.delete(&stale.name_any(), None).await?;
                    }
                    return Ok(true);
                }
                Err(e) => {
                    for name in &created {
                        if let Err(e) = self.delete(name, None).await {
                            warn!(error = %e, part = %name, "cannot remove an uncommitted ledger part");
                        }
                    }
                    if !is_lost_race(&e) {
                        return Err(e.into());
                    }
                }
            }
        }
        Err(LedgerError::Contended {
            day: day_text,
            attempts: MERGE_ATTEMPTS,
        })
    }

    /// Writes the head of the new generation, conditioned on the head read (created when there
    /// was none; deleted when the day is now empty).
    async fn commit(
        &self,
        head: Option<&ConfigMap>,
        day: &str,
        generation: &str,
        parts: &[Vec<u8>],
        empty: bool,
    ) -> Result<(), kube::Error> {
        let name = ledger_name(&self.schedule, day);
        match head {
            Some(head) if empty => self.delete(&name, head.resource_version()).await,
            Some(head) => {
                let patch = serde_json::json!({
                    "metadata": {
                        "resourceVersion": head.resource_version(),
                        "labels": {GENERATION_LABEL: generation},
                        "annotations": {PARTS_ANNOTATION: parts.len().to_string()},
                    },
                    "binaryData": {LEDGER_KEY: ByteString(parts.first().cloned().unwrap_or_default())},
                });
                self.api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(|_| ())
            }
            None if empty => Ok(()),
            None => {
                let mut cm = self.part(day, generation, 0, parts.first().map_or(&[][..], |p| p));
                cm.metadata.name = Some(name);
                cm.metadata.annotations = Some(BTreeMap::from([(
                    PARTS_ANNOTATION.to_string(),
                    parts.len().to_string(),
                )]));
                self.api
                    .create(&PostParams::default(), &cm)
                    .await
                    .map(|_| ())
            }
        }
    }

    fn part(&self, day: &str, generation: &str, number: usize, bytes: &[u8]) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(ledger_part_name(&self.schedule, day, generation, number)),
                labels: Some(BTreeMap::from([
                    (LEDGER_LABEL.to_string(), label_value(&self.schedule)),
                    (DAY_LABEL.to_string(), day.to_string()),
                    (GENERATION_LABEL.to_string(), generation.to_string()),
                    (PART_LABEL.to_string(), number.to_string()),
                ])),
                owner_references: self.owner.clone().map(|o| vec![o]),
                ..Default::default()
            },
            binary_data: Some(BTreeMap::from([(
                LEDGER_KEY.to_string(),
                ByteString(bytes.to_vec()),
            )])),
            ..Default::default()
        }
    }

    /// Deletes `name` (only at `resource_version`, when given); gone already is fine.
    async fn delete(
        &self,
        name: &str,
        resource_version: Option<String>,
    ) -> Result<(), kube::Error> {
        let params = DeleteParams {
            preconditions: resource_version.map(|rv| Preconditions {
                resource_version: Some(rv),
                uid: None,
            }),
            ..Default::default()
        };
        match self.api.delete(name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 && params.preconditions.is_none() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A write that lost to another writer: the head changed (409) or went away (404) since it was
/// read.
fn is_lost_race(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 409 || s.code == 404)
}

fn day_selector(schedule: &str, day: &str) -> String {
    format!("{LEDGER_LABEL}={},{DAY_LABEL}={day}", label_value(schedule))
}

/// The committed day among `listed` (all ConfigMaps of one day) under `head`, and how many of
/// the parts the head names were not found.
fn committed(
    listed: &[ConfigMap],
    head: Option<&ConfigMap>,
) -> Result<(DayLedger, usize), LedgerError> {
    let Some(head) = head else {
        return Ok((DayLedger::default(), 0));
    };
    let generation = head.labels().get(GENERATION_LABEL);
    let count: usize = head
        .annotations()
        .get(PARTS_ANNOTATION)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let mut entries = data(head)?;
    let mut found = 1;
    for cm in listed {
        let number = cm
            .labels()
            .get(PART_LABEL)
            .and_then(|n| n.parse::<usize>().ok());
        if cm.labels().get(GENERATION_LABEL) == generation
            && number.is_some_and(|n| n >= 1 && n < count)
        {
            entries.extend(data(cm)?);
            found += 1;
        }
    }
    Ok((
        DayLedger::from_entries(entries),
        count.saturating_sub(found),
    ))
}

fn data(cm: &ConfigMap) -> Result<Vec<LedgerEntry>, LedgerError> {
    match cm.binary_data.as_ref().and_then(|d| d.get(LEDGER_KEY)) {
        Some(bytes) => decode_part(&bytes.0),
        None => Ok(Vec::new()),
    }
}

/// Every entry of schedule `schedule`'s ledger, read in one consistent list, ordered by
/// conversation start (unknown last) and id.
pub async fn read_ledger(
    client: &Client,
    namespace: &str,
    schedule: &str,
) -> Result<Vec<LedgerEntry>, LedgerError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let selector = format!("{LEDGER_LABEL}={}", label_value(schedule));
    let listed = api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    let mut days: BTreeMap<String, Vec<ConfigMap>> = BTreeMap::new();
    for cm in listed {
        if let Some(day) = cm.labels().get(DAY_LABEL).cloned() {
            days.entry(day).or_default().push(cm);
        }
    }
    let mut entries = Vec::new();
    for (day, cms) in days {
        let head_name = ledger_name(schedule, &day);
        let head = cms.iter().find(|cm| cm.name_any() == head_name);
        let (ledger, _) = committed(&cms, head)?;
        entries.extend(ledger.into_entries());
    }
    entries.sort_by_key(|e| {
        (
            e.conversation_start.is_none(),
            e.conversation_start,
            e.conversation_id,
        )
    });
    Ok(entries)
}

/// Removes the days of schedule `schedule`'s ledger that retention expired at `now`; returns
/// them.
pub async fn prune_ledger(
    client: &Client,
    namespace: &str,
    schedule: &str,
    now: Timestamp,
    retention: SignedDuration,
) -> Result<Vec<Date>, LedgerError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let selector = format!("{LEDGER_LABEL}={}", label_value(schedule));
    let listed = api
        .list_metadata(&ListParams::default().labels(&selector))
        .await?
        .items;
    let mut removed = BTreeSet::new();
    for cm in listed {
        let Some(day) = cm
            .labels()
            .get(DAY_LABEL)
            .and_then(|d| d.parse::<Date>().ok())
        else {
            continue;
        };
        if !expired(day, now, retention) {
            continue;
        }
        match api.delete(&cm.name_any(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
        removed.insert(day);
    }
    if !removed.is_empty() {
        info!(
            schedule,
            days = removed.len(),
            "removed ledger days past retention"
        );
    }
    Ok(removed.into_iter().collect())
}

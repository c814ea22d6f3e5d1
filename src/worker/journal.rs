//! The shard's journal in a ConfigMap (`<recovery>-journal-<shard>`, owned by the recovery): the
//! ids a shard is about to send to Capture, written before they are sent. Writes are batched: the
//! recovery pool journals each batch of conversations in one write before sending any of them,
//! and a conversation journaled alone waits for the next write. At fleet scale (80 shards on one
//! apiserver) one write per conversation was most of the apiserver's work and slowed every status
//! write behind it. Each write adds one part (a data key) with only its own entries, through a
//! merge patch answered with metadata only, so neither a write nor the worker's memory grows with
//! the journal: the worker keeps just the set of ids written.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::{
    ByteString, api::core::v1::ConfigMap, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams, PostParams},
};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;
use uuid::Uuid;

use super::{WorkerError, status::APISERVER_PATIENCE};
use crate::api::DigitalRecovery;
use crate::contract::{
    JOURNAL_KEY, JOURNAL_LABEL, JOURNAL_PART_PREFIX, journal_name, label_value, worker_manager,
};
use crate::kubeapi::{delete_exactly, is_transient, owned_by, patiently};
use crate::pipeline::journal::{Journal, JournalError, decode, decode_lines, encode};

/// Largest journal kept (the apiserver's limit is 1 MiB per object); beyond it entries are not
/// journaled and a retry would undercount them.
const JOURNAL_MAX_BYTES: usize = 900 * 1024;

type Request = (Vec<(Uuid, bool)>, oneshot::Sender<Result<(), JournalError>>);

/// A journal kept in a ConfigMap.
pub struct ConfigMapJournal {
    earlier: HashMap<Uuid, bool>,
    /// The ids written so far, earlier attempts' included: journaling one again returns at once,
    /// not after the write in flight.
    stored: Arc<Mutex<HashSet<Uuid>>>,
    requests: mpsc::UnboundedSender<Request>,
}

impl ConfigMapJournal {
    /// Reads what earlier attempts of `shard` journaled and starts the writer.
    pub async fn open(
        client: &Client,
        dr: &DigitalRecovery,
        shard: u32,
    ) -> Result<ConfigMapJournal, WorkerError> {
        let api: Api<ConfigMap> =
            Api::namespaced(client.clone(), &dr.namespace().unwrap_or_default());
        let name = journal_name(&dr.name_any(), shard);
        let existing = patiently("read the journal", APISERVER_PATIENCE, is_transient, || {
            api.get_opt(&name)
        })
        .await?;
        // A journal of an earlier recovery of the same name (deleted, its ConfigMaps not yet
        // collected) says nothing about this one: it goes, so that its parts do not mix in.
        let ours = existing.as_ref().filter(|cm| owned_by(*cm, dr));
        if let Some(stale) = existing.as_ref().filter(|_| ours.is_none()) {
            patiently(
                "remove a stale journal",
                APISERVER_PATIENCE,
                is_transient,
                || delete_exactly(&api, stale),
            )
            .await?;
        }
        let read = ours.map(read_parts).unwrap_or_default();
        let template = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([(
                    JOURNAL_LABEL.to_string(),
                    label_value(&dr.name_any()),
                )])),
                owner_references: dr.controller_owner_ref(&()).map(|mut o| {
                    o.controller = Some(false);
                    vec![o]
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let (requests, receiver) = mpsc::unbounded_channel();
        let stored = Arc::new(Mutex::new(read.entries.keys().copied().collect()));
        let writer = Writer {
            api,
            name,
            template,
            manager: worker_manager(shard),
            stored: stored.clone(),
            exists: ours.is_some(),
            next_part: read.next_part,
            bytes: read.bytes,
            full: false,
        };
        tokio::spawn(writer.run(receiver));
        Ok(ConfigMapJournal {
            earlier: read.entries,
            stored,
            requests,
        })
    }

    /// Hands `entries` to the writer, unless every one is stored already.
    async fn store(&self, entries: Vec<(Uuid, bool)>) -> Result<(), JournalError> {
        {
            let stored = self.stored.lock();
            if entries.iter().all(|(id, _)| stored.contains(id)) {
                return Ok(());
            }
        }
        let (done, answer) = oneshot::channel();
        self.requests
            .send((entries, done))
            .map_err(|_| JournalError::Write("the journal writer stopped".into()))?;
        answer
            .await
            .map_err(|_| JournalError::Write("the journal writer stopped".into()))?
    }
}

#[async_trait::async_trait]
impl Journal for ConfigMapJournal {
    fn earlier(&self) -> &HashMap<Uuid, bool> {
        &self.earlier
    }

    async fn record(&self, id: Uuid, partial: bool) -> Result<(), JournalError> {
        self.store(vec![(id, partial)]).await
    }

    async fn record_all(&self, entries: &[(Uuid, bool)]) -> Result<(), JournalError> {
        self.store(entries.to_vec()).await
    }
}

/// What a journal ConfigMap holds.
#[derive(Debug, Default)]
struct Parts {
    entries: HashMap<Uuid, bool>,
    /// The number the next part takes.
    next_part: usize,
    /// Bytes of data held, toward the size limit.
    bytes: usize,
}

/// Reads every part of `cm`, and the single key of journals written by earlier versions.
fn read_parts(cm: &ConfigMap) -> Parts {
    let mut parts = Parts::default();
    for (key, value) in cm.binary_data.iter().flatten() {
        parts.bytes += key.len() + value.0.len();
        if key == JOURNAL_KEY {
            match decode_lines(&value.0) {
                Ok(entries) => parts.entries.extend(entries),
                Err(err) => {
                    warn!(error = %err, "a part of the journal of an earlier attempt is unreadable; ignoring it")
                }
            }
        } else if let Some(number) = key.strip_prefix(JOURNAL_PART_PREFIX) {
            parts.entries.extend(decode(&value.0));
            if let Ok(number) = number.parse::<usize>() {
                parts.next_part = parts.next_part.max(number + 1);
            }
        }
    }
    parts
}

struct Writer {
    api: Api<ConfigMap>,
    name: String,
    /// The ConfigMap's metadata, for the write that creates it.
    template: ConfigMap,
    manager: String,
    stored: Arc<Mutex<HashSet<Uuid>>>,
    /// Whether the ConfigMap exists (else the next write creates it).
    exists: bool,
    next_part: usize,
    bytes: usize,
    full: bool,
}

impl Writer {
    async fn run(mut self, mut requests: mpsc::UnboundedReceiver<Request>) {
        while let Some(first) = requests.recv().await {
            // Everything waiting goes into one write.
            let mut batch = vec![first];
            while let Ok(more) = requests.try_recv() {
                batch.push(more);
            }
            let added = {
                let stored = self.stored.lock();
                let mut seen = HashSet::new();
                batch
                    .iter()
                    .flat_map(|(entries, _)| entries)
                    .filter(|(id, _)| !stored.contains(id) && seen.insert(*id))
                    .copied()
                    .collect::<Vec<_>>()
            };
            let result = if added.is_empty() {
                Ok(())
            } else {
                self.write(&added).await
            };
            if result.is_ok() {
                self.stored.lock().extend(added.iter().map(|(id, _)| *id));
            }
            for (_, done) in batch {
                let _ = done.send(result.as_ref().map(|_| ()).map_err(clone_error));
            }
        }
    }

    /// Writes `added` as the next part.
    async fn write(&mut self, added: &[(Uuid, bool)]) -> Result<(), JournalError> {
        let full = || JournalError::Full(self.stored.lock().len());
        if self.full {
            return Err(full());
        }
        let key = format!("{JOURNAL_PART_PREFIX}{}", self.next_part);
        let bytes = encode(added);
        let size = key.len() + bytes.len();
        if self.bytes + size > JOURNAL_MAX_BYTES {
            self.full = true;
            return Err(full());
        }
        let part = BTreeMap::from([(key, ByteString(bytes))]);
        // Another attempt of this shard may have created it meanwhile: the part goes into that.
        if self.exists || !self.create(&part).await? {
            self.add_part(part).await?;
        }
        self.exists = true;
        self.next_part += 1;
        self.bytes += size;
        Ok(())
    }

    /// Creates the ConfigMap holding `part`; false when it exists already.
    async fn create(&self, part: &BTreeMap<String, ByteString>) -> Result<bool, JournalError> {
        let mut cm = self.template.clone();
        cm.binary_data = Some(part.clone());
        let params = PostParams {
            field_manager: Some(self.manager.clone()),
            ..Default::default()
        };
        let created = patiently(
            "create the journal",
            APISERVER_PATIENCE,
            is_transient,
            || self.api.create(&params, &cm),
        )
        .await;
        match created {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(err) => Err(JournalError::Write(err.to_string())),
        }
    }

    /// Adds `part` to the ConfigMap with a merge patch, answered with its metadata only (the
    /// whole journal would come back otherwise).
    async fn add_part(&self, part: BTreeMap<String, ByteString>) -> Result<(), JournalError> {
        let patch = ConfigMap {
            binary_data: Some(part),
            ..Default::default()
        };
        let params = PatchParams {
            field_manager: Some(self.manager.clone()),
            ..Default::default()
        };
        let patch = Patch::Merge(&patch);
        patiently(
            "write the journal",
            APISERVER_PATIENCE,
            is_transient,
            || self.api.patch_metadata(&self.name, &params, &patch),
        )
        .await
        .map(|_| ())
        .map_err(|e| JournalError::Write(e.to_string()))
    }
}

fn clone_error(error: &JournalError) -> JournalError {
    match error {
        JournalError::Write(message) => JournalError::Write(message.clone()),
        JournalError::Full(n) => JournalError::Full(*n),
    }
}

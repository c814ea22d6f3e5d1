//! The shard's journal in a ConfigMap (`<recovery>-journal-<shard>`, owned by the recovery): the
//! ids a shard is about to send to Capture, written before they are sent. Writes are batched: the
//! recovery pool journals each batch of conversations in one write before sending any of them,
//! and a conversation journaled alone waits for the next write (one server-side apply of the
//! whole, gzip'd list). At fleet scale (80 shards on one apiserver) one write per conversation was
//! most of the apiserver's work and slowed every status write behind it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::{
    ByteString, api::core::v1::ConfigMap, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;
use uuid::Uuid;

use super::{WorkerError, status::APISERVER_PATIENCE};
use crate::api::DigitalRecovery;
use crate::contract::{JOURNAL_KEY, JOURNAL_LABEL, journal_name, label_value, worker_manager};
use crate::kubeapi::{apply_body, is_transient, patiently};
use crate::pipeline::journal::{Journal, JournalError, decode, encode};

/// Largest journal kept (the apiserver's limit is 1 MiB per object); beyond it entries are not
/// journaled and a retry would undercount them.
const JOURNAL_MAX_BYTES: usize = 900 * 1024;

type Request = (Vec<(Uuid, bool)>, oneshot::Sender<Result<(), JournalError>>);

/// A journal kept in a ConfigMap.
pub struct ConfigMapJournal {
    earlier: HashMap<Uuid, bool>,
    /// The ids written so far: journaling one again returns at once, not after the write in
    /// flight.
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
        // collected) says nothing about this one.
        let ours = existing.as_ref().is_some_and(|cm| {
            cm.owner_references()
                .iter()
                .any(|o| Some(&o.uid) == dr.meta().uid.as_ref())
        });
        let earlier = match existing
            .as_ref()
            .filter(|_| ours)
            .and_then(|cm| cm.binary_data.as_ref())
            .and_then(|d| d.get(JOURNAL_KEY))
        {
            Some(bytes) => decode(&bytes.0).unwrap_or_else(|err| {
                warn!(error = %err, "the journal of an earlier attempt is unreadable; ignoring it");
                HashMap::new()
            }),
            None => HashMap::new(),
        };
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
        let stored = Arc::new(Mutex::new(earlier.keys().copied().collect()));
        let writer = Writer {
            api,
            name,
            template,
            manager: worker_manager(shard),
            entries: earlier.clone(),
            stored: stored.clone(),
            full: false,
        };
        tokio::spawn(writer.run(receiver));
        Ok(ConfigMapJournal {
            earlier,
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

struct Writer {
    api: Api<ConfigMap>,
    name: String,
    template: ConfigMap,
    manager: String,
    entries: HashMap<Uuid, bool>,
    stored: Arc<Mutex<HashSet<Uuid>>>,
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
            let mut added = Vec::new();
            for (id, partial) in batch.iter().flat_map(|(entries, _)| entries) {
                if !self.entries.contains_key(id) {
                    self.entries.insert(*id, *partial);
                    added.push(*id);
                }
            }
            let result = if added.is_empty() {
                Ok(())
            } else {
                self.write().await
            };
            if result.is_err() {
                for id in &added {
                    self.entries.remove(id);
                }
            } else {
                self.stored.lock().extend(added);
            }
            for (_, done) in batch {
                let _ = done.send(result.as_ref().map(|_| ()).map_err(clone_error));
            }
        }
    }

    async fn write(&mut self) -> Result<(), JournalError> {
        if self.full {
            return Err(JournalError::Full(self.entries.len()));
        }
        let bytes = encode(&self.entries).map_err(|e| JournalError::Write(e.to_string()))?;
        if bytes.len() > JOURNAL_MAX_BYTES {
            self.full = true;
            return Err(JournalError::Full(self.entries.len()));
        }
        let mut cm = self.template.clone();
        cm.binary_data = Some(BTreeMap::from([(
            JOURNAL_KEY.to_string(),
            ByteString(bytes),
        )]));
        let body = apply_body(&cm).map_err(|e| JournalError::Write(e.to_string()))?;
        let params = PatchParams::apply(&self.manager).force();
        let patch = Patch::Apply(&body);
        patiently(
            "write the journal",
            APISERVER_PATIENCE,
            is_transient,
            || self.api.patch(&self.name, &params, &patch),
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

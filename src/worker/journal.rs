//! The shard's journal in a ConfigMap (`<recovery>-journal-<shard>`, owned by the recovery): the
//! ids a shard is about to send to Capture, written before they are sent. Writes are batched: a
//! conversation waits for the next write (one server-side apply of the whole, gzip'd list), so a
//! busy shard makes a few writes a second, not one per conversation.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::{
    ByteString, api::core::v1::ConfigMap, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
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

type Request = (Uuid, bool, oneshot::Sender<Result<(), JournalError>>);

/// A journal kept in a ConfigMap.
pub struct ConfigMapJournal {
    earlier: HashMap<Uuid, bool>,
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
        let writer = Writer {
            api,
            name,
            template,
            manager: worker_manager(shard),
            entries: earlier.clone(),
            full: false,
        };
        tokio::spawn(writer.run(receiver));
        Ok(ConfigMapJournal { earlier, requests })
    }
}

#[async_trait::async_trait]
impl Journal for ConfigMapJournal {
    fn earlier(&self) -> &HashMap<Uuid, bool> {
        &self.earlier
    }

    async fn record(&self, id: Uuid, partial: bool) -> Result<(), JournalError> {
        let (done, answer) = oneshot::channel();
        self.requests
            .send((id, partial, done))
            .map_err(|_| JournalError::Write("the journal writer stopped".into()))?;
        answer
            .await
            .map_err(|_| JournalError::Write("the journal writer stopped".into()))?
    }
}

struct Writer {
    api: Api<ConfigMap>,
    name: String,
    template: ConfigMap,
    manager: String,
    entries: HashMap<Uuid, bool>,
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
            for (id, partial, _) in &batch {
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
            }
            for (_, _, done) in batch {
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

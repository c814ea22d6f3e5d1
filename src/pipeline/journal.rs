//! The shard's journal: before a conversation goes to Capture its id is stored durably (the worker
//! keeps it in a ConfigMap), so that a later attempt of the shard, after a crash or a kill, can
//! tell a conversation an earlier attempt recovered from one the recording side held all along.
//! Without it a retry would count those as `matched`, and the status would undercount what the
//! recovery did. The journal only serves that accounting: recovery stays correct without it. It is
//! read when each conversation is decided (`chunks.rs`) and written by the recovery pool.

use std::collections::HashMap;

use uuid::Uuid;

/// Why the journal could not store an entry.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The store refused or could not be reached.
    #[error("cannot write the journal: {0}")]
    Write(String),
    /// The journal reached its size limit; later entries are not kept.
    #[error("the journal is full ({0} conversations)")]
    Full(usize),
}

/// Where a shard remembers the conversations it set out to recover.
#[async_trait::async_trait]
pub trait Journal: Send + Sync {
    /// Conversations earlier attempts of this shard set out to recover: id -> whether the
    /// recording side held part of it (partial) rather than nothing (missing).
    fn earlier(&self) -> &HashMap<Uuid, bool>;

    /// Stores `id` durably; returns once it is stored (at once when it already was).
    async fn record(&self, id: Uuid, partial: bool) -> Result<(), JournalError>;

    /// Stores every one of `entries` (id, partial) durably, in one write where the store
    /// allows: the conversations of a batch about to be sent.
    async fn record_all(&self, entries: &[(Uuid, bool)]) -> Result<(), JournalError> {
        for (id, partial) in entries {
            self.record(*id, *partial).await?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for dyn Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Journal({} earlier)", self.earlier().len())
    }
}

/// No journal (the CLI: a rerun is a new recovery there).
#[derive(Debug, Default)]
pub struct NoJournal(HashMap<Uuid, bool>);

#[async_trait::async_trait]
impl Journal for NoJournal {
    fn earlier(&self) -> &HashMap<Uuid, bool> {
        &self.0
    }

    async fn record(&self, _id: Uuid, _partial: bool) -> Result<(), JournalError> {
        Ok(())
    }
}

/// A journal in memory, seeded with what "earlier attempts" recorded (tests).
#[derive(Debug, Default)]
pub struct MemoryJournal {
    earlier: HashMap<Uuid, bool>,
    /// Everything recorded by this attempt, once each.
    pub recorded: parking_lot::Mutex<Vec<(Uuid, bool)>>,
    /// The calls that stored something new: the writes a durable journal would make.
    pub writes: std::sync::atomic::AtomicUsize,
}

impl MemoryJournal {
    /// A journal whose earlier attempts recorded `earlier`.
    pub fn with_earlier(earlier: HashMap<Uuid, bool>) -> Self {
        MemoryJournal {
            earlier,
            ..Default::default()
        }
    }
}

#[async_trait::async_trait]
impl Journal for MemoryJournal {
    fn earlier(&self) -> &HashMap<Uuid, bool> {
        &self.earlier
    }

    async fn record(&self, id: Uuid, partial: bool) -> Result<(), JournalError> {
        self.record_all(&[(id, partial)]).await
    }

    async fn record_all(&self, entries: &[(Uuid, bool)]) -> Result<(), JournalError> {
        let mut recorded = self.recorded.lock();
        let before = recorded.len();
        for entry in entries {
            if !recorded.iter().any(|(id, _)| *id == entry.0) {
                recorded.push(*entry);
            }
        }
        if recorded.len() > before {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Encodes journal entries as gzip'd lines `<uuid> m|p`.
pub fn encode(entries: &HashMap<Uuid, bool>) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut sorted: Vec<_> = entries.iter().collect();
    sorted.sort();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for (id, partial) in sorted {
        writeln!(enc, "{id} {}", if *partial { 'p' } else { 'm' })?;
    }
    enc.finish()
}

/// Decodes [`encode`]'s output; lines that do not parse are skipped (a journal is advisory).
pub fn decode(bytes: &[u8]) -> std::io::Result<HashMap<Uuid, bool>> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut text)?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let (id, kind) = line.split_once(' ')?;
            let id = Uuid::parse_str(id).ok()?;
            match kind {
                "m" => Some((id, false)),
                "p" => Some((id, true)),
                _ => None,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_garbage_is_skipped() {
        let entries: HashMap<Uuid, bool> = (0..500u128)
            .map(|i| (Uuid::from_u128(i * 7919), i % 3 == 0))
            .collect();
        let bytes = encode(&entries).expect("encode");
        assert_eq!(decode(&bytes).expect("decode"), entries);

        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"not-a-uuid m\n00000000-0000-0000-0000-000000000001 x\n00000000-0000-0000-0000-000000000002 p\n")
            .expect("write");
        let decoded = decode(&enc.finish().expect("finish")).expect("decode");
        assert_eq!(decoded, HashMap::from([(Uuid::from_u128(2), true)]));
        assert!(decode(b"not gzip").is_err());
    }
}

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

/// Bytes of one journal record: the conversation id's 16 bytes, then `m` (missing) or `p`
/// (partial).
pub const RECORD_BYTES: usize = 17;

/// Encodes journal entries as records of [`RECORD_BYTES`]: raw, since ids are random and gzip
/// would only add its own state (~300 KiB) to every write.
pub fn encode(entries: &[(Uuid, bool)]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(entries.len() * RECORD_BYTES);
    for (id, partial) in entries {
        bytes.extend_from_slice(id.as_bytes());
        bytes.push(if *partial { b'p' } else { b'm' });
    }
    bytes
}

/// Decodes [`encode`]'s output; a record that does not parse is skipped (a journal is advisory).
pub fn decode(bytes: &[u8]) -> impl Iterator<Item = (Uuid, bool)> + '_ {
    bytes.chunks_exact(RECORD_BYTES).filter_map(|record| {
        let (id, kind) = record.split_at(16);
        let id = Uuid::from_slice(id).ok()?;
        match kind {
            b"m" => Some((id, false)),
            b"p" => Some((id, true)),
            _ => None,
        }
    })
}

/// Decodes a journal written before records (gzip'd lines `<uuid> m|p`), which a shard retried
/// after an upgrade finds; lines that do not parse are skipped.
pub fn decode_lines(bytes: &[u8]) -> std::io::Result<HashMap<Uuid, bool>> {
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
        let entries: Vec<(Uuid, bool)> = (0..500u128)
            .map(|i| (Uuid::from_u128(i * 7919), i % 3 == 0))
            .collect();
        let bytes = encode(&entries);
        assert_eq!(bytes.len(), 500 * RECORD_BYTES);
        assert_eq!(decode(&bytes).collect::<Vec<_>>(), entries);

        let mut garbage = encode(&[(Uuid::from_u128(1), false), (Uuid::from_u128(2), true)]);
        garbage[RECORD_BYTES - 1] = b'x';
        garbage.extend_from_slice(b"short");
        assert_eq!(
            decode(&garbage).collect::<Vec<_>>(),
            vec![(Uuid::from_u128(2), true)]
        );
    }

    #[test]
    fn journals_of_earlier_versions_still_read() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"not-a-uuid m\n00000000-0000-0000-0000-000000000001 x\n00000000-0000-0000-0000-000000000002 p\n00000000-0000-0000-0000-000000000003 m\n")
            .expect("write");
        let decoded = decode_lines(&enc.finish().expect("finish")).expect("decode");
        assert_eq!(
            decoded,
            HashMap::from([(Uuid::from_u128(2), true), (Uuid::from_u128(3), false)])
        );
        assert!(decode_lines(b"not gzip").is_err());
    }
}

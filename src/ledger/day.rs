//! One day of a ledger (the conversations that started on one UTC day), pure: merging a run's
//! words into it, encoding it as gzip'd JSON-lines parts that each fit a ConfigMap, and which
//! days retention removes.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

use flate2::{Compression, read::GzDecoder, write::GzEncoder};
use jiff::{SignedDuration, Timestamp, civil::Date, tz::TimeZone};
use uuid::Uuid;

use super::LedgerError;
use super::entry::{LedgerEntry, Word};

/// Compressed bytes per ledger ConfigMap (the apiserver's limit is 1 MiB per object).
pub const PART_BYTES: usize = 900 * 1024;

/// The UTC day a conversation's entry is filed under; `fallback` (the run's slice start) when
/// its start is unknown.
pub fn day_of(start: Option<Timestamp>, fallback: Timestamp) -> Date {
    start.unwrap_or(fallback).to_zoned(TimeZone::UTC).date()
}

/// `words` grouped by the day each belongs to.
pub fn by_day(words: Vec<Word>, fallback: Timestamp) -> BTreeMap<Date, Vec<Word>> {
    let mut days: BTreeMap<Date, Vec<Word>> = BTreeMap::new();
    for word in words {
        days.entry(day_of(word.conversation_start(), fallback))
            .or_default()
            .push(word);
    }
    days
}

/// Whether retention removes `day`: all of it started longer than `retention` before `now`.
pub fn expired(day: Date, now: Timestamp, retention: SignedDuration) -> bool {
    let Ok(next) = day.tomorrow() else {
        return false;
    };
    match (
        next.to_zoned(TimeZone::UTC).map(|z| z.timestamp()),
        now.checked_sub(retention),
    ) {
        (Ok(end), Ok(limit)) => end <= limit,
        _ => false,
    }
}

/// The entries of one day, one per conversation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DayLedger {
    entries: BTreeMap<Uuid, LedgerEntry>,
}

impl DayLedger {
    /// The day from the entries of its parts. A conversation found twice (a writer stopped
    /// between writing parts and committing them leaves no such thing in a committed day, but
    /// a reader is not the place to trust that) keeps its latest word.
    pub fn from_entries(entries: impl IntoIterator<Item = LedgerEntry>) -> DayLedger {
        let mut day = DayLedger::default();
        for entry in entries {
            day.enter(entry);
        }
        day
    }

    fn enter(&mut self, entry: LedgerEntry) -> bool {
        match self.entries.get(&entry.conversation_id) {
            Some(held) if held.recorded_at > entry.recorded_at || *held == entry => false,
            _ => {
                self.entries.insert(entry.conversation_id, entry);
                true
            }
        }
    }

    /// Applies one word unless the ledger holds a later one for that conversation; true when
    /// the day changed.
    pub fn apply(&mut self, word: &Word) -> bool {
        match word {
            Word::Enter(entry) => self.enter(entry.clone()),
            Word::Leave {
                conversation_id,
                at,
                ..
            } => match self.entries.get(conversation_id) {
                Some(held) if held.recorded_at <= *at => {
                    self.entries.remove(conversation_id);
                    true
                }
                _ => false,
            },
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = &LedgerEntry> {
        self.entries.values()
    }

    pub fn into_entries(self) -> impl Iterator<Item = LedgerEntry> {
        self.entries.into_values()
    }

    /// The day as parts of at most `max_bytes` compressed each (at least one part), in
    /// conversation-id order.
    pub fn encode(&self, max_bytes: usize) -> Result<Vec<Vec<u8>>, LedgerError> {
        let entries: Vec<&LedgerEntry> = self.entries.values().collect();
        let mut parts = Vec::new();
        encode_split(&entries, max_bytes, &mut parts)?;
        Ok(parts)
    }
}

/// Encodes `entries` as one part, or, when that part is too big, each half on its own.
fn encode_split(
    entries: &[&LedgerEntry],
    max_bytes: usize,
    parts: &mut Vec<Vec<u8>>,
) -> Result<(), LedgerError> {
    let bytes = encode_part(entries)?;
    if bytes.len() <= max_bytes || entries.len() <= 1 {
        parts.push(bytes);
        return Ok(());
    }
    let (first, second) = entries.split_at(entries.len() / 2);
    encode_split(first, max_bytes, parts)?;
    encode_split(second, max_bytes, parts)
}

fn encode_part(entries: &[&LedgerEntry]) -> Result<Vec<u8>, LedgerError> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    for entry in entries {
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        encoder.write_all(&line)?;
    }
    Ok(encoder.finish()?)
}

/// Decodes one part.
pub fn decode_part(bytes: &[u8]) -> Result<Vec<LedgerEntry>, LedgerError> {
    let mut text = String::new();
    GzDecoder::new(bytes).read_to_string(&mut text)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(LedgerError::from))
        .collect()
}

/// Merges `words` into `day`; true when it changed. Words of one conversation apply in the
/// order they were said.
pub fn merge(day: &mut DayLedger, words: &[Word]) -> bool {
    let mut latest: HashMap<Uuid, &Word> = HashMap::new();
    for word in words {
        match latest.get(&word.conversation_id()) {
            Some(held) if held.at() > word.at() => {}
            _ => {
                latest.insert(word.conversation_id(), word);
            }
        }
    }
    let mut changed = false;
    for word in latest.values() {
        changed |= day.apply(word);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MediaType;
    use crate::pipeline::progress::Outcome;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn entry(id: u128, reason: &str, run: &str, at: &str) -> LedgerEntry {
        LedgerEntry {
            conversation_id: Uuid::from_u128(id),
            media_type: Some(MediaType::Chat),
            conversation_start: Some(ts("2026-11-20T10:00:00Z")),
            outcome: Outcome::Failed,
            reason: Some(reason.into()),
            detail: None,
            archive_date: None,
            recovery: run.into(),
            recorded_at: ts(at),
        }
    }

    fn leave(id: u128, at: &str) -> Word {
        Word::Leave {
            conversation_id: Uuid::from_u128(id),
            conversation_start: Some(ts("2026-11-20T10:00:00Z")),
            at: ts(at),
        }
    }

    fn reasons(day: &DayLedger) -> Vec<(u128, String, String)> {
        day.entries()
            .map(|e| {
                (
                    e.conversation_id.as_u128(),
                    e.reason.clone().unwrap_or_default(),
                    e.recovery.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn a_later_word_replaces_an_earlier_one_and_a_recovered_conversation_leaves() {
        let mut day = DayLedger::default();
        assert!(merge(
            &mut day,
            &[
                Word::Enter(entry(1, "archived", "run-1", "2026-11-20T12:00:00Z")),
                Word::Enter(entry(2, "gaveUp", "run-1", "2026-11-20T12:00:00Z")),
                Word::Enter(entry(3, "deleted", "run-1", "2026-11-20T12:00:00Z")),
            ],
        ));
        // The next run: 1 again (same reason, its word now), 2 recovered after all.
        assert!(merge(
            &mut day,
            &[
                Word::Enter(entry(1, "archived", "run-2", "2026-11-20T13:00:00Z")),
                leave(2, "2026-11-20T13:00:00Z"),
            ],
        ));
        assert_eq!(
            reasons(&day),
            [
                (1, "archived".into(), "run-2".into()),
                (3, "deleted".into(), "run-1".into())
            ]
        );
        // An older word (a slow shard of an earlier run) changes nothing, nor does a leave of
        // a conversation not in the ledger.
        assert!(!merge(
            &mut day,
            &[
                Word::Enter(entry(1, "conflict", "run-0", "2026-11-20T11:00:00Z")),
                leave(3, "2026-11-20T11:30:00Z"),
                leave(9, "2026-11-20T14:00:00Z"),
            ],
        ));
        assert_eq!(day.len(), 2);
        // The same word twice is no change (nothing to write).
        assert!(!merge(
            &mut day,
            &[Word::Enter(entry(
                3,
                "deleted",
                "run-1",
                "2026-11-20T12:00:00Z"
            ))]
        ));
        // Within one batch the latest word of a conversation wins, in any order.
        assert!(merge(
            &mut day,
            &[
                leave(1, "2026-11-20T15:00:00Z"),
                Word::Enter(entry(1, "archived", "run-3", "2026-11-20T14:00:00Z")),
            ],
        ));
        assert_eq!(reasons(&day), [(3, "deleted".into(), "run-1".into())]);
    }

    #[test]
    fn words_are_filed_by_the_utc_day_of_the_conversation_start() {
        let fallback = ts("2026-11-19T23:00:00Z");
        let mut late = entry(1, "archived", "r", "2026-11-21T00:00:00Z");
        late.conversation_start = Some(ts("2026-11-20T23:59:59.999Z"));
        let mut early = entry(2, "archived", "r", "2026-11-21T00:00:00Z");
        early.conversation_start = Some(ts("2026-11-21T00:00:00Z"));
        let mut unknown = entry(3, "malformedConversation", "r", "2026-11-21T00:00:00Z");
        unknown.conversation_start = None;
        let days = by_day(
            vec![Word::Enter(late), Word::Enter(early), Word::Enter(unknown)],
            fallback,
        );
        let keys: Vec<String> = days.keys().map(|d| d.to_string()).collect();
        assert_eq!(keys, ["2026-11-19", "2026-11-20", "2026-11-21"]);
        assert!(days.values().all(|w| w.len() == 1));
    }

    #[test]
    fn a_big_day_splits_into_parts_below_the_limit_and_reads_back_whole() {
        let day = DayLedger::from_entries((0..3_000u128).map(|i| {
            let mut e = entry(
                i * 7919 + u128::from(u64::MAX),
                "archived",
                "run",
                "2026-11-20T12:00:00Z",
            );
            e.detail = Some(format!("recording {} archived", Uuid::new_v4()));
            e
        }));
        let limit = 32 * 1024;
        let parts = day.encode(limit).expect("encode");
        assert!(parts.len() > 2, "{} parts", parts.len());
        assert!(parts.iter().all(|p| p.len() <= limit));
        let back =
            DayLedger::from_entries(parts.iter().flat_map(|p| decode_part(p).expect("decode")));
        assert_eq!(back, day);
        // The real limit keeps this day in one part; an empty day is one empty part.
        assert_eq!(day.encode(PART_BYTES).expect("encode").len(), 1);
        let empty = DayLedger::default().encode(PART_BYTES).expect("encode");
        assert_eq!(empty.len(), 1);
        assert!(decode_part(&empty[0]).expect("decode").is_empty());
    }

    #[test]
    fn reading_a_conversation_twice_keeps_its_latest_word() {
        let day = DayLedger::from_entries([
            entry(1, "archived", "run-2", "2026-11-20T13:00:00Z"),
            entry(1, "conflict", "run-1", "2026-11-20T12:00:00Z"),
        ]);
        assert_eq!(reasons(&day), [(1, "archived".into(), "run-2".into())]);
    }

    #[test]
    fn retention_removes_a_day_once_all_of_it_is_older_than_the_limit() {
        let day: Date = "2026-08-20".parse().expect("date");
        let ninety = SignedDuration::from_hours(90 * 24);
        // The day ends 2026-08-21T00:00Z; 90 days later is 2026-11-19T00:00Z.
        assert!(!expired(day, ts("2026-11-18T23:59:59Z"), ninety));
        assert!(expired(day, ts("2026-11-19T00:00:00Z"), ninety));
    }
}

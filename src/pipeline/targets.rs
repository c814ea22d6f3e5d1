//! A re-drive's conversations, pure: read from an id list (one per line, the format of
//! `digital-recovery report --output ids`), picked from an earlier run's report (what it carried
//! or failed, by [`super::settle`]), and shared among the shards.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::progress::{Outcome, OutcomeRecord};
use super::settle::{Settlement, settlement};

/// Why an id list cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdListError {
    /// A line that is not a UUID (lines count from 1).
    #[error("line {line}: {text:?} is not a conversation id (a UUID)")]
    NotAnId { line: usize, text: String },
    /// Nothing but blank lines and comments.
    #[error("lists no conversation ids")]
    Empty,
}

/// The ids of `text`, one per line; blank lines and lines starting with `#` are ignored.
/// Sorted, without duplicates.
pub fn parse_id_list(text: &str) -> Result<Vec<Uuid>, IdListError> {
    let mut ids = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id = Uuid::parse_str(line).map_err(|_| IdListError::NotAnId {
            line: i + 1,
            text: line.chars().take(64).collect(),
        })?;
        ids.insert(id);
    }
    if ids.is_empty() {
        return Err(IdListError::Empty);
    }
    Ok(ids.into_iter().collect())
}

/// What a re-drive of a run takes from its report: every conversation it carried over (see
/// [`super::settle`]) or that failed (final failures too: a person may have fixed their cause,
/// e.g. restored an archived recording). Sorted, without duplicates; extras (no Genesys
/// conversation) and records without an id are left out.
pub fn redrive_of<'a>(records: impl IntoIterator<Item = &'a OutcomeRecord>) -> Vec<Uuid> {
    let ids: BTreeSet<Uuid> = records
        .into_iter()
        .filter(|r| r.outcome != Outcome::Extra)
        .filter(|r| {
            r.outcome == Outcome::Failed
                || settlement(r.outcome, r.reason.as_deref()) == Settlement::Carried
        })
        .filter_map(|r| r.conversation_id)
        .collect();
    ids.into_iter().collect()
}

/// Shard `shard`'s share of `ids` (sorted, without duplicates) among `count` shards: contiguous
/// runs of about equal size, so every id belongs to exactly one shard. Empty when `shard` is out
/// of range.
pub fn share(ids: &[Uuid], shard: u32, count: u32) -> &[Uuid] {
    let count = count.max(1) as usize;
    let shard = shard as usize;
    if shard >= count {
        return &[];
    }
    let bound = |i: usize| ids.len() * i / count;
    &ids[bound(shard)..bound(shard + 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn an_id_list_ignores_blanks_and_comments_and_names_a_bad_line() {
        let text = format!("# re-drive\n\n{}\n  {}  \n{}\n", id(2), id(1), id(2));
        assert_eq!(parse_id_list(&text), Ok(vec![id(1), id(2)]));
        assert_eq!(
            parse_id_list(&format!("{}\nnot-an-id\n", id(1))),
            Err(IdListError::NotAnId {
                line: 2,
                text: "not-an-id".into()
            })
        );
        assert_eq!(parse_id_list("# nothing\n\n"), Err(IdListError::Empty));
    }

    #[test]
    fn a_report_gives_its_carried_and_failed_conversations() {
        let record = |n: u128, outcome: Outcome, reason: Option<&str>| OutcomeRecord {
            conversation_id: Some(id(n)),
            media_type: None,
            conversation_start: None,
            outcome,
            reason: reason.map(str::to_string),
            archive_date: None,
            detail: None,
        };
        let report = [
            record(1, Outcome::Verified, None),
            record(2, Outcome::Failed, Some("captureUnavailable")), // carried
            record(3, Outcome::Failed, Some("archived")),           // final, but failed
            record(4, Outcome::Skipped, Some("notSettled")),        // carried
            record(5, Outcome::Skipped, Some("mediaTypeNotRequested")),
            record(6, Outcome::Unverified, None), // carried
            record(7, Outcome::Extra, Some("noGenesysConversation")),
            record(8, Outcome::AlreadyPresent, None),
            record(9, Outcome::Conflict, None),
            record(2, Outcome::Failed, Some("captureUnavailable")), // twice: once
            OutcomeRecord {
                conversation_id: None,
                ..record(0, Outcome::Failed, Some("malformedConversation"))
            },
        ];
        assert_eq!(redrive_of(&report), vec![id(2), id(3), id(4), id(6)]);
    }

    #[test]
    fn shares_cover_every_id_once() {
        let ids: Vec<Uuid> = (0..103).map(id).collect();
        for count in [1, 2, 7, 64, 200] {
            let shares: Vec<&[Uuid]> = (0..count).map(|s| share(&ids, s, count)).collect();
            assert_eq!(shares.concat(), ids, "{count} shards");
            let sizes: Vec<usize> = shares.iter().map(|s| s.len()).collect();
            let (min, max) = (sizes.iter().min(), sizes.iter().max());
            assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1), "{sizes:?}");
        }
        assert!(share(&ids, 3, 3).is_empty());
        assert_eq!(share(&ids, 0, 0), &ids[..]);
    }
}

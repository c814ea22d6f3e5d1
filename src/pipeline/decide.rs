//! What the pipeline does with one conversation once the matcher has classified it: pure, so
//! every case (held, recovered by an earlier attempt, skipped, dry run, recover) is unit-tested
//! without a simulator.

use uuid::Uuid;

use crate::api::MatchCategory;
use crate::pipeline::matcher::{Category, SkipReason};

/// The next step for one classified conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The recording side holds it in full: nothing to do.
    Held,
    /// Held now because an earlier attempt of this shard recovered it: counted as what it was
    /// then (`Missing` or `Partial`) and as recovered and verified.
    RecoveredEarlier(MatchCategory),
    /// Not considered, for this reason.
    Skip(SkipReason),
    /// DryRun: reported as what a recovery would do, nothing sent.
    WouldRecover {
        /// The recording side holds part of it.
        partial: bool,
    },
    /// Fetch and ingest it; `lacking` are the sessions the recording side lacks (empty: all).
    Recover { lacking: Vec<Uuid> },
}

impl Decision {
    /// The match category the conversation is counted under, given the matcher's.
    pub fn counted_as(&self, matched_as: MatchCategory) -> MatchCategory {
        match self {
            Decision::RecoveredEarlier(then) => *then,
            _ => matched_as,
        }
    }

    /// Whether it goes into `progress.toRecover` (and, until it ends, `pending`).
    pub fn is_to_recover(&self) -> bool {
        matches!(
            self,
            Decision::WouldRecover { .. } | Decision::Recover { .. }
        )
    }
}

/// Decides for one conversation. `earlier` is what the shard's journal says an earlier attempt
/// did with it (`Some(partial)` when it sent it to Capture); `recover` is false in DryRun.
pub fn decide(category: &Category, earlier: Option<bool>, recover: bool) -> Decision {
    match category {
        Category::Matched => match earlier {
            Some(true) => Decision::RecoveredEarlier(MatchCategory::Partial),
            Some(false) => Decision::RecoveredEarlier(MatchCategory::Missing),
            None => Decision::Held,
        },
        Category::Skipped(reason) => Decision::Skip(*reason),
        Category::Missing if !recover => Decision::WouldRecover { partial: false },
        Category::Partial { .. } if !recover => Decision::WouldRecover { partial: true },
        Category::Missing => Decision::Recover {
            lacking: Vec::new(),
        },
        Category::Partial { lacking } => Decision::Recover {
            lacking: lacking.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Uuid {
        Uuid::from_u128(0x5E55_0000_0000_4000_8000_0000_0000_0001)
    }

    #[test]
    fn held_conversations_need_nothing_unless_an_earlier_attempt_sent_them() {
        assert_eq!(decide(&Category::Matched, None, true), Decision::Held);
        let earlier_missing = decide(&Category::Matched, Some(false), true);
        assert_eq!(
            earlier_missing,
            Decision::RecoveredEarlier(MatchCategory::Missing)
        );
        assert_eq!(
            earlier_missing.counted_as(MatchCategory::Matched),
            MatchCategory::Missing
        );
        assert_eq!(
            decide(&Category::Matched, Some(true), false).counted_as(MatchCategory::Matched),
            MatchCategory::Partial
        );
        assert!(!earlier_missing.is_to_recover());
    }

    #[test]
    fn missing_and_partial_are_recovered_or_reported_in_dry_run() {
        let partial = Category::Partial {
            lacking: vec![session()],
        };
        assert_eq!(
            decide(&partial, None, true),
            Decision::Recover {
                lacking: vec![session()]
            }
        );
        assert_eq!(
            decide(&Category::Missing, None, true),
            Decision::Recover {
                lacking: Vec::new()
            }
        );
        let dry = decide(&partial, None, false);
        assert_eq!(dry, Decision::WouldRecover { partial: true });
        assert!(dry.is_to_recover());
        assert_eq!(dry.counted_as(partial.kind()), MatchCategory::Partial);
    }

    #[test]
    fn skipped_ones_keep_their_reason_whatever_the_journal_says() {
        let skipped = Category::Skipped(SkipReason::NotSettled);
        let decision = decide(&skipped, Some(false), true);
        assert_eq!(decision, Decision::Skip(SkipReason::NotSettled));
        assert_eq!(decision.counted_as(skipped.kind()), MatchCategory::Skipped);
        assert!(!decision.is_to_recover());
    }
}

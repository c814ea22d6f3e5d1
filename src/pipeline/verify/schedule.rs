//! How long verification waits before each read: briefly at first, when what was ingested
//! last is about to show up, then twice as long each round up to a cap, since what is still
//! missing by then is behind a longer lag (or not coming), and re-reading it often only loads
//! the recording side.

use std::time::Duration;

/// The pause before read `round` (0 = the first read): `first` doubled `round` times,
/// at most `cap` (and `cap` when `first` already exceeds it).
pub fn verify_pause(first: Duration, cap: Duration, round: u32) -> Duration {
    2u32.checked_pow(round)
        .and_then(|factor| first.checked_mul(factor))
        .unwrap_or(cap)
        .min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn pauses_double_from_the_first_up_to_the_cap() {
        let pauses: Vec<u64> = (0..8)
            .map(|round| verify_pause(2 * SECOND, 30 * SECOND, round).as_secs())
            .collect();
        assert_eq!(pauses, [2, 4, 8, 16, 30, 30, 30, 30]);
    }

    #[test]
    fn the_cap_holds_for_any_round_and_any_first_pause() {
        assert_eq!(verify_pause(2 * SECOND, 30 * SECOND, u32::MAX), 30 * SECOND);
        assert_eq!(verify_pause(2 * SECOND, 30 * SECOND, 40), 30 * SECOND);
        assert_eq!(verify_pause(45 * SECOND, 30 * SECOND, 0), 30 * SECOND);
        assert_eq!(verify_pause(Duration::MAX, 30 * SECOND, 3), 30 * SECOND);
    }

    #[test]
    fn the_default_schedule_reads_thirteen_times_in_five_minutes() {
        let options = crate::pipeline::PipelineOptions::default();
        // The verify loop's pauses, the last one cut at the deadline.
        let mut pauses = Vec::new();
        let mut elapsed = Duration::ZERO;
        while elapsed < options.verify_deadline {
            let pause = verify_pause(
                options.verify_interval,
                options.verify_max_interval,
                pauses.len() as u32,
            )
            .min(options.verify_deadline - elapsed);
            pauses.push(pause.as_secs());
            elapsed += pause;
        }
        assert_eq!(pauses, [2, 4, 8, 16, 30, 30, 30, 30, 30, 30, 30, 30, 30]);
        // A read after each pause: 13 in five minutes, where one every 5 s made 60.
        assert_eq!(pauses.len(), 13);
    }
}

//! When in the window conversations start: evenly ([`StartProfile::Uniform`], the default) or
//! with a business day ([`StartProfile::BusinessHours`]).
//!
//! Business hours: a conversation is [`BUSINESS_HOURS_DENSITY`] (10) times as likely to start
//! in any given minute from 08:00 to 18:00 UTC as in a minute outside those hours, every day of
//! the window (weekends included); the density is flat within each part. Over a whole day that
//! puts 10 h x 10 / (10 h x 10 + 14 h x 1) = 100/114, about 88 %, of the starts in business
//! hours.
//!
//! The profile is applied to the same uniform draws, through the inverse of its cumulative
//! distribution over the window, so a seed draws exactly the same sequence under either profile:
//! conversation by conversation, only the start (and with it the end) moves; ids, media,
//! sessions, recordings and what the recording side holds stay the seed's.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;

use crate::api::Window;

/// How much denser starts are from 08:00 to 18:00 UTC than outside, under business hours.
pub const BUSINESS_HOURS_DENSITY: f64 = 10.0;
/// Business hours, in UTC hours of the day: [start, end).
pub const BUSINESS_HOURS_UTC: (i64, i64) = (8, 18);

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// How conversation starts spread over the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartProfile {
    /// Evenly.
    #[default]
    Uniform,
    /// Ten times denser from 08:00 to 18:00 UTC than the rest of the day.
    BusinessHours,
}

/// A profile name other than `uniform` or `business-hours`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}`: expected uniform or business-hours")]
pub struct ProfileParseError(String);

impl FromStr for StartProfile {
    type Err = ProfileParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "uniform" => Ok(StartProfile::Uniform),
            "business-hours" => Ok(StartProfile::BusinessHours),
            other => Err(ProfileParseError(other.to_string())),
        }
    }
}

impl fmt::Display for StartProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StartProfile::Uniform => "uniform",
            StartProfile::BusinessHours => "business-hours",
        })
    }
}

impl StartProfile {
    /// Relative start density at unix millisecond `at`.
    pub fn density_at(self, at: i64) -> f64 {
        match self {
            StartProfile::Uniform => 1.0,
            StartProfile::BusinessHours => {
                let hour = at.rem_euclid(DAY_MS) / HOUR_MS;
                let (open, close) = BUSINESS_HOURS_UTC;
                if (open..close).contains(&hour) {
                    BUSINESS_HOURS_DENSITY
                } else {
                    1.0
                }
            }
        }
    }

    /// Turns evenly drawn offsets into the window (milliseconds from its start, each below
    /// `span_ms`) into offsets spread by the profile. Monotone, so sorted stays sorted.
    pub(super) fn shape(self, offsets: &mut [i64], window: Window) {
        if self == StartProfile::Uniform {
            return;
        }
        let pieces = Pieces::new(self, window);
        for offset in offsets.iter_mut() {
            *offset = pieces.place(*offset);
        }
    }
}

/// The window cut where the density changes: (offset from the window's start in ms, length in
/// ms, density, mass before the piece).
struct Pieces {
    span_ms: i64,
    pieces: Vec<(i64, i64, f64, f64)>,
    total: f64,
}

impl Pieces {
    fn new(profile: StartProfile, window: Window) -> Self {
        let start = window.start.as_millisecond();
        let span_ms = (window.end.as_millisecond() - start).max(1);
        let mut pieces = Vec::new();
        let mut total = 0.0;
        let mut at = 0;
        while at < span_ms {
            // The next hour boundary: density only changes on whole UTC hours.
            let absolute = start + at;
            let next = (absolute - absolute.rem_euclid(HOUR_MS) + HOUR_MS - start).min(span_ms);
            let density = profile.density_at(absolute);
            let length = next - at;
            pieces.push((at, length, density, total));
            total += length as f64 * density;
            at = next;
        }
        Pieces {
            span_ms,
            pieces,
            total,
        }
    }

    /// The offset whose share of the profile's mass equals `uniform`'s share of the window.
    fn place(&self, uniform: i64) -> i64 {
        let target = uniform as f64 / self.span_ms as f64 * self.total;
        let index = self
            .pieces
            .partition_point(|(_, _, _, before)| *before <= target)
            .saturating_sub(1);
        let Some(&(at, length, density, before)) = self.pieces.get(index) else {
            return uniform;
        };
        let within = ((target - before) / density).floor() as i64;
        (at + within.clamp(0, length - 1)).clamp(0, self.span_ms - 1)
    }
}

/// Whether `at` lies in business hours (08:00-18:00 UTC).
pub fn in_business_hours(at: Timestamp) -> bool {
    StartProfile::BusinessHours.density_at(at.as_millisecond()) > 1.0
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;

    fn window(from: &str, hours: i64) -> Window {
        let start: Timestamp = from.parse().unwrap_or_else(|e| panic!("{e}"));
        Window {
            start,
            end: start + SignedDuration::from_hours(hours),
        }
    }

    #[test]
    fn profiles_parse_and_print_by_name() {
        for profile in [StartProfile::Uniform, StartProfile::BusinessHours] {
            assert_eq!(
                profile.to_string().parse::<StartProfile>().ok(),
                Some(profile)
            );
        }
        let err = "weekdays"
            .parse::<StartProfile>()
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("`weekdays`: expected uniform or business-hours")
        );
    }

    #[test]
    fn evenly_spread_offsets_land_ten_times_denser_in_business_hours() {
        // From 05:30 for two days: the window starts and ends off the hour and off the day.
        let window = window("2026-11-20T05:30:00Z", 48);
        let span = window.end.duration_since(window.start).as_millis() as i64;
        let steps = 100_000;
        let mut offsets: Vec<i64> = (0..steps).map(|i| i * span / steps).collect();
        StartProfile::BusinessHours.shape(&mut offsets, window);
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "not monotone");
        assert!(offsets.iter().all(|o| (0..span).contains(o)));
        let inside = offsets
            .iter()
            .filter(|o| in_business_hours(window.start + SignedDuration::from_millis(**o)))
            .count() as f64;
        // Business hours in the window: 20 h (two full days); outside: 28 h.
        let expected = 20.0 * 10.0 / (20.0 * 10.0 + 28.0);
        let share = inside / steps as f64;
        assert!((share - expected).abs() < 0.001, "{share} vs {expected}");
        // Per hour: every business hour holds about 10 times what an hour outside holds.
        let mut per_hour = [0u32; 48];
        for offset in &offsets {
            per_hour[(*offset / HOUR_MS) as usize] += 1;
        }
        let quiet = per_hour[0] as f64; // 05:30-06:30
        let busy = per_hour[4] as f64; // 09:30-10:30
        assert!((busy / quiet - 10.0).abs() < 0.1, "{busy} / {quiet}");
        // The first offset stays at the window's start.
        assert_eq!(offsets[0], 0);
    }

    #[test]
    fn uniform_leaves_offsets_alone() {
        let window = window("2026-11-20T00:00:00Z", 24);
        let mut offsets = vec![0, 5, 3_600_000 * 9, 86_399_999];
        let before = offsets.clone();
        StartProfile::Uniform.shape(&mut offsets, window);
        assert_eq!(offsets, before);
    }
}

//! Readings of the Genesys contract that no primary source settles (genesys-api.md, items marked
//! UNCONFIRMED). The default is the documented contract; every knob switches the simulator to
//! another plausible reading, so the client can be tested against each of them.
//!
//! Text form (`--genesys-variant`): a comma-separated list of `name` (booleans) or `name=value`,
//! e.g. `recording-flag,media=messaging,empty-page=bare`. Later items override earlier ones.

use std::fmt;
use std::str::FromStr;

/// How the Recording `media` of a messaging recording is spelled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MessagingMedia {
    /// `message` (RecordingMetadata's docstring; the default).
    #[default]
    Message,
    /// `messaging` (Recording's docstring).
    Messaging,
}

/// What a detail-query page with no conversations looks like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EmptyPage {
    /// `{"totalHits":N}`: nulls and empty lists omitted (the default).
    #[default]
    TotalHits,
    /// `{}`: no key at all.
    Bare,
    /// `{"conversations":[]}`: an explicit empty list, no totalHits.
    EmptyList,
}

/// Whether a conversation starting exactly at the interval's end belongs to the interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IntervalEnd {
    /// Half-open `[start, end)` (the default).
    #[default]
    Exclusive,
    /// Closed `[start, end]`.
    Inclusive,
}

/// The description field of an OAuth token error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OAuthError {
    /// `description`, as third-party clients observe it (the default).
    #[default]
    Description,
    /// `error_description`, as RFC 6749 names it.
    ErrorDescription,
    /// Both fields.
    Both,
}

/// One reading of every UNCONFIRMED item the simulator serves. `Default` is the documented
/// contract.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GenesysVariant {
    /// Recorded agent text sessions carry `"recording": true` (default: no flag on text).
    pub recording_flag: bool,
    /// Spelling of a messaging recording's `media`.
    pub media: MessagingMedia,
    /// Shape of an empty detail-query page.
    pub empty_page: EmptyPage,
    /// Every 202 carries `Retry-After` (default: none, as none is documented).
    pub retry_after_202: bool,
    /// Interval end exclusivity for the detail query and jobs.
    pub interval_end: IntervalEnd,
    /// Shape of OAuth token errors.
    pub oauth_error: OAuthError,
}

/// A bad `--genesys-variant` item, named, with the valid ones listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown genesys variant item `{item}`; valid items: {VALID}")]
pub struct VariantParseError {
    /// The offending item.
    pub item: String,
}

const VALID: &str = "recording-flag, media=message|messaging, \
    empty-page=total-hits|bare|empty-list, retry-after-202, interval-end=exclusive|inclusive, \
    oauth-error=description|error_description|both";

fn parse_bool(value: Option<&str>) -> Option<bool> {
    match value {
        None | Some("on") | Some("true") => Some(true),
        Some("off") | Some("false") => Some(false),
        Some(_) => None,
    }
}

impl MessagingMedia {
    /// The Recording `media` value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessagingMedia::Message => "message",
            MessagingMedia::Messaging => "messaging",
        }
    }
}

impl EmptyPage {
    fn as_str(self) -> &'static str {
        match self {
            EmptyPage::TotalHits => "total-hits",
            EmptyPage::Bare => "bare",
            EmptyPage::EmptyList => "empty-list",
        }
    }
}

impl IntervalEnd {
    fn as_str(self) -> &'static str {
        match self {
            IntervalEnd::Exclusive => "exclusive",
            IntervalEnd::Inclusive => "inclusive",
        }
    }
}

impl OAuthError {
    fn as_str(self) -> &'static str {
        match self {
            OAuthError::Description => "description",
            OAuthError::ErrorDescription => "error_description",
            OAuthError::Both => "both",
        }
    }
}

impl GenesysVariant {
    /// True for the documented contract.
    pub fn is_default(&self) -> bool {
        *self == GenesysVariant::default()
    }

    /// Every variant that differs from the default in exactly one knob, with its canonical name
    /// (test matrices run each of them).
    pub fn all_single() -> Vec<(String, GenesysVariant)> {
        let base = GenesysVariant::default();
        let variants = [
            GenesysVariant {
                recording_flag: true,
                ..base
            },
            GenesysVariant {
                media: MessagingMedia::Messaging,
                ..base
            },
            GenesysVariant {
                empty_page: EmptyPage::Bare,
                ..base
            },
            GenesysVariant {
                empty_page: EmptyPage::EmptyList,
                ..base
            },
            GenesysVariant {
                retry_after_202: true,
                ..base
            },
            GenesysVariant {
                interval_end: IntervalEnd::Inclusive,
                ..base
            },
            GenesysVariant {
                oauth_error: OAuthError::ErrorDescription,
                ..base
            },
            GenesysVariant {
                oauth_error: OAuthError::Both,
                ..base
            },
        ];
        variants.into_iter().map(|v| (v.to_string(), v)).collect()
    }

    fn apply(&mut self, item: &str) -> Option<()> {
        let (name, value) = match item.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim())),
            None => (item, None),
        };
        match name {
            "recording-flag" => self.recording_flag = parse_bool(value)?,
            "retry-after-202" => self.retry_after_202 = parse_bool(value)?,
            "media" => {
                self.media = match value? {
                    "message" => MessagingMedia::Message,
                    "messaging" => MessagingMedia::Messaging,
                    _ => return None,
                }
            }
            "empty-page" => {
                self.empty_page = match value? {
                    "total-hits" => EmptyPage::TotalHits,
                    "bare" => EmptyPage::Bare,
                    "empty-list" => EmptyPage::EmptyList,
                    _ => return None,
                }
            }
            "interval-end" => {
                self.interval_end = match value? {
                    "exclusive" => IntervalEnd::Exclusive,
                    "inclusive" => IntervalEnd::Inclusive,
                    _ => return None,
                }
            }
            "oauth-error" => {
                self.oauth_error = match value? {
                    "description" => OAuthError::Description,
                    "error_description" => OAuthError::ErrorDescription,
                    "both" => OAuthError::Both,
                    _ => return None,
                }
            }
            _ => return None,
        }
        Some(())
    }
}

impl FromStr for GenesysVariant {
    type Err = VariantParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut variant = GenesysVariant::default();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            variant.apply(item).ok_or_else(|| VariantParseError {
                item: item.to_string(),
            })?;
        }
        Ok(variant)
    }
}

/// The canonical list: non-default knobs only, in a fixed order; empty for the default.
impl fmt::Display for GenesysVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = GenesysVariant::default();
        let mut items: Vec<String> = Vec::new();
        if self.recording_flag {
            items.push("recording-flag".into());
        }
        if self.media != base.media {
            items.push(format!("media={}", self.media.as_str()));
        }
        if self.empty_page != base.empty_page {
            items.push(format!("empty-page={}", self.empty_page.as_str()));
        }
        if self.retry_after_202 {
            items.push("retry-after-202".into());
        }
        if self.interval_end != base.interval_end {
            items.push(format!("interval-end={}", self.interval_end.as_str()));
        }
        if self.oauth_error != base.oauth_error {
            items.push(format!("oauth-error={}", self.oauth_error.as_str()));
        }
        f.write_str(&items.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_empty_list() {
        let parsed: GenesysVariant = "".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(parsed.is_default());
        assert_eq!(parsed.to_string(), "");
        let spelled: GenesysVariant = "media=message, empty-page=total-hits,recording-flag=off"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(spelled.is_default());
    }

    #[test]
    fn a_full_list_round_trips() {
        let text = "recording-flag,media=messaging,empty-page=empty-list,retry-after-202,\
                    interval-end=inclusive,oauth-error=both";
        let parsed: GenesysVariant = text.parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(parsed.recording_flag && parsed.retry_after_202);
        assert_eq!(parsed.media, MessagingMedia::Messaging);
        assert_eq!(parsed.empty_page, EmptyPage::EmptyList);
        assert_eq!(parsed.interval_end, IntervalEnd::Inclusive);
        assert_eq!(parsed.oauth_error, OAuthError::Both);
        assert_eq!(parsed.to_string(), text);
        // Order does not matter; the canonical form is fixed.
        let shuffled: GenesysVariant = "oauth-error=both,interval-end=inclusive,retry-after-202,\
                                        empty-page=empty-list,media=messaging,recording-flag"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(shuffled, parsed);
    }

    #[test]
    fn bad_items_are_named_with_the_valid_ones() {
        for bad in [
            "recordingflag",
            "media=sms",
            "empty-page",
            "retry-after-202=maybe",
        ] {
            let err = format!("recording-flag,{bad}")
                .parse::<GenesysVariant>()
                .err()
                .unwrap_or_else(|| panic!("{bad} parsed"));
            assert_eq!(err.item, bad);
            let message = err.to_string();
            assert!(message.contains(&format!("`{bad}`")), "{message}");
            assert!(message.contains("oauth-error=description|error_description|both"));
        }
    }

    #[test]
    fn all_single_differs_from_the_default_in_one_knob_each() {
        let all = GenesysVariant::all_single();
        assert_eq!(all.len(), 8);
        let mut names = std::collections::HashSet::new();
        for (name, variant) in &all {
            assert!(!variant.is_default());
            assert!(!name.contains(','), "{name}");
            assert_eq!(
                &name
                    .parse::<GenesysVariant>()
                    .unwrap_or_else(|e| panic!("{e}")),
                variant
            );
            assert!(names.insert(name.clone()));
        }
    }
}

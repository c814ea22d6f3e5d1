//! The re-drive part of a spec's validation: at most one of `conversationIds`,
//! `conversationIdsFrom` and `retryOf`, each well formed, turned into [`Targets`].

use uuid::Uuid;

use super::recovery::{DigitalRecoverySpec, MAX_CONVERSATION_IDS};
use super::validate::InvalidSpec;

/// What a re-drive names instead of a whole window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Targets {
    /// `spec.conversationIds`, sorted and without duplicates.
    Ids(Vec<Uuid>),
    /// `spec.conversationIdsFrom`: a ConfigMap of the recovery's namespace and its key.
    ConfigMap { name: String, key: String },
    /// `spec.retryOf`: the carried and failed conversations of that recovery's report.
    RetryOf(String),
}

impl DigitalRecoverySpec {
    /// Whether this is a re-drive: the spec names its conversations (in one of three ways)
    /// rather than recovering its whole window.
    pub fn names_conversations(&self) -> bool {
        self.conversation_ids.is_some()
            || self.conversation_ids_from.is_some()
            || self.retry_of.is_some()
    }
}

/// The spec's re-drive targets, `None` for a whole-window recovery.
pub fn validate_targets(spec: &DigitalRecoverySpec) -> Result<Option<Targets>, InvalidSpec> {
    let named = [
        spec.conversation_ids.is_some(),
        spec.conversation_ids_from.is_some(),
        spec.retry_of.is_some(),
    ];
    if named.iter().filter(|set| **set).count() > 1 {
        return Err(InvalidSpec::new(
            "spec",
            "set at most one of conversationIds, conversationIdsFrom and retryOf",
        ));
    }
    if let Some(ids) = &spec.conversation_ids {
        return conversation_ids(ids).map(|ids| Some(Targets::Ids(ids)));
    }
    if let Some(source) = &spec.conversation_ids_from {
        let name = source.config_map_name.trim();
        if !is_dns_subdomain(name) {
            return Err(InvalidSpec::new(
                "spec.conversationIdsFrom.configMapName",
                format!("{name:?} is not a ConfigMap name"),
            ));
        }
        let key = source.key();
        if key.is_empty()
            || key.len() > 253
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        {
            return Err(InvalidSpec::new(
                "spec.conversationIdsFrom.key",
                format!("{key:?} is not a ConfigMap key"),
            ));
        }
        return Ok(Some(Targets::ConfigMap {
            name: name.to_string(),
            key: key.to_string(),
        }));
    }
    if let Some(name) = &spec.retry_of {
        if !is_dns_subdomain(name) {
            return Err(InvalidSpec::new(
                "spec.retryOf",
                format!("{name:?} is not the name of a DigitalRecovery"),
            ));
        }
        return Ok(Some(Targets::RetryOf(name.clone())));
    }
    Ok(None)
}

/// Parses `spec.conversationIds`: 1 to [`MAX_CONVERSATION_IDS`] UUIDs; sorted, deduplicated.
fn conversation_ids(ids: &[String]) -> Result<Vec<Uuid>, InvalidSpec> {
    const FIELD: &str = "spec.conversationIds";
    if ids.is_empty() {
        return Err(InvalidSpec::new(
            FIELD,
            "must name at least one conversation",
        ));
    }
    if ids.len() > MAX_CONVERSATION_IDS {
        return Err(InvalidSpec::new(
            FIELD,
            format!(
                "lists {} ids, more than {MAX_CONVERSATION_IDS}: put larger sets in a ConfigMap (conversationIdsFrom)",
                ids.len()
            ),
        ));
    }
    let mut parsed = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            Uuid::parse_str(id.trim()).map_err(|_| {
                InvalidSpec::new(
                    FIELD,
                    format!("item {i}: {id:?} is not a conversation id (a UUID)"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort_unstable();
    parsed.dedup();
    Ok(parsed)
}

/// A DNS-1123 subdomain: what Kubernetes accepts as a ConfigMap or custom resource name.
fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(extra: serde_json::Value) -> DigitalRecoverySpec {
        let mut v = json!({
            "tenant": "acme",
            "genesys": {"region": "mypurecloud.ie", "credentialsSecret": "g"},
            "recordingSide": {"dasUrl": "https://das", "captureUrl": "https://capture",
                              "credentialsSecret": "v"},
            "window": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
            "mediaTypes": ["chat"]
        });
        if let (Some(base), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        serde_json::from_value(v).unwrap_or_else(|e| panic!("test spec: {e}"))
    }

    const A: &str = "5b3c2f4e-1d2a-4f6b-9a8c-0e1f2a3b4c5d";
    const B: &str = "0b3c2f4e-1d2a-4f6b-9a8c-0e1f2a3b4c5d";

    #[test]
    fn a_whole_window_recovery_has_no_targets() {
        assert_eq!(validate_targets(&spec(json!({}))), Ok(None));
    }

    #[test]
    fn ids_are_parsed_sorted_and_deduplicated() {
        let targets = validate_targets(&spec(json!({"conversationIds": [A, B, A.to_uppercase()]})));
        let (a, b) = (Uuid::parse_str(A).unwrap(), Uuid::parse_str(B).unwrap());
        assert_eq!(targets, Ok(Some(Targets::Ids(vec![b, a]))));
    }

    #[test]
    fn each_form_is_checked_and_at_most_one_is_set() {
        let field = |extra: serde_json::Value| validate_targets(&spec(extra)).map_err(|e| e.field);
        assert_eq!(
            field(json!({"conversationIds": []})),
            Err("spec.conversationIds")
        );
        assert_eq!(
            field(json!({"conversationIds": [A, "abc"]})),
            Err("spec.conversationIds")
        );
        let too_many: Vec<String> = (0..=MAX_CONVERSATION_IDS)
            .map(|i| Uuid::from_u128(i as u128).to_string())
            .collect();
        assert_eq!(
            field(json!({"conversationIds": too_many})),
            Err("spec.conversationIds")
        );
        assert_eq!(
            field(json!({"conversationIds": [A], "retryOf": "last-night"})),
            Err("spec")
        );
        assert_eq!(
            field(json!({"conversationIdsFrom": {"configMapName": "ids"}, "retryOf": "x"})),
            Err("spec")
        );
        assert_eq!(
            field(json!({"conversationIdsFrom": {"configMapName": "Bad_Name"}})),
            Err("spec.conversationIdsFrom.configMapName")
        );
        assert_eq!(
            field(json!({"conversationIdsFrom": {"configMapName": "ids", "key": "a/b"}})),
            Err("spec.conversationIdsFrom.key")
        );
        assert_eq!(field(json!({"retryOf": "-x"})), Err("spec.retryOf"));
        assert_eq!(
            validate_targets(&spec(
                json!({"conversationIdsFrom": {"configMapName": "redo"}})
            )),
            Ok(Some(Targets::ConfigMap {
                name: "redo".into(),
                key: "ids".into()
            }))
        );
        assert_eq!(
            validate_targets(&spec(json!({"retryOf": "acme-2026-11-20"}))),
            Ok(Some(Targets::RetryOf("acme-2026-11-20".into())))
        );
    }

    #[test]
    fn a_bad_id_is_named_by_its_position() {
        let err = validate_targets(&spec(json!({"conversationIds": [A, "abc"]})))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("spec.conversationIds: item 1: \"abc\" is not a conversation id (a UUID)")
        );
    }
}

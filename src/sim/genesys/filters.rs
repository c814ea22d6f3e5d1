//! Conversation and segment filters of the analytics queries, evaluated against the dataset.
//!
//! Semantics (genesys-api.md 2.2): filters in one list are ANDed; a filter is `and`/`or` over its
//! predicates and clauses; a segment filter matches when at least one segment (in its session and
//! participant context) satisfies the whole filter.

use jiff::Timestamp;
use serde_json::Value;

use super::variant::GenesysVariant;
use crate::sim::dataset::{Dataset, SimConversation, SimMedia};

/// A bad filter, reported as 400 `bad.request` with this message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

const CONVERSATION_DIMENSIONS: &[&str] = &[
    "accessAttribute",
    "conversationEnd",
    "conversationId",
    "conversationInitiator",
    "conversationStart",
    "customerParticipation",
    "divisionId",
    "externalTag",
    "mediaStatsMinConversationMos",
    "originatingDirection",
    "originatingSocialMediaPublic",
];
const SEGMENT_DIMENSIONS: &[&str] = &[
    "mediaType",
    "messageType",
    "purpose",
    "direction",
    "userId",
    "queueId",
    "ani",
    "dnis",
    "addressFrom",
    "addressTo",
    "subject",
    "segmentType",
    "segmentEnd",
    "disconnectType",
    "wrapUpCode",
    "flowId",
    "provider",
    "recording",
    "remote",
    "teamId",
    "groupId",
    "externalContactId",
    "engagementSource",
    "deliveryStatus",
    "usedRouting",
    "requestedRoutingSkillId",
    "sessionId",
    "participantName",
    "conversationId",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Join {
    And,
    Or,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    Matches,
    Exists,
    NotExists,
}

#[derive(Clone, Debug)]
struct Range {
    gt: Option<String>,
    gte: Option<String>,
    lt: Option<String>,
    lte: Option<String>,
}

#[derive(Clone, Debug)]
struct Predicate {
    dimension: String,
    operator: Operator,
    value: Option<String>,
    range: Option<Range>,
}

#[derive(Clone, Debug)]
struct Filter {
    join: Join,
    predicates: Vec<Predicate>,
    clauses: Vec<Filter>,
}

/// The parsed filters of one query.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    conversation: Vec<Filter>,
    segment: Vec<Filter>,
}

fn parse_join(value: Option<&Value>) -> Result<Join, FilterError> {
    match value.and_then(Value::as_str) {
        None | Some("and") => Ok(Join::And),
        Some("or") => Ok(Join::Or),
        Some(other) => Err(FilterError(format!("Invalid filter type: {other}"))),
    }
}

fn parse_predicate(value: &Value, dimensions: &[&str]) -> Result<Predicate, FilterError> {
    let dimension = value
        .get("dimension")
        .or_else(|| value.get("metric"))
        .or_else(|| value.get("property"))
        .and_then(Value::as_str)
        .ok_or_else(|| FilterError("A predicate needs a dimension, metric or property".into()))?;
    if value.get("dimension").is_some() && !dimensions.contains(&dimension) {
        return Err(FilterError(format!("Invalid dimension: {dimension}")));
    }
    let operator = match value.get("operator").and_then(Value::as_str) {
        None | Some("matches") => Operator::Matches,
        Some("exists") => Operator::Exists,
        Some("notExists") => Operator::NotExists,
        Some(other) => return Err(FilterError(format!("Invalid operator: {other}"))),
    };
    let value_text = match value.get("value") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let range = value.get("range").map(|r| {
        let field = |name: &str| {
            r.get(name).map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
        };
        Range {
            gt: field("gt"),
            gte: field("gte"),
            lt: field("lt"),
            lte: field("lte"),
        }
    });
    if operator == Operator::Matches && value_text.is_none() && range.is_none() {
        return Err(FilterError(format!(
            "Predicate on {dimension} needs a value or a range"
        )));
    }
    Ok(Predicate {
        dimension: dimension.to_string(),
        operator,
        value: value_text,
        range,
    })
}

fn parse_filter(value: &Value, dimensions: &[&str], depth: usize) -> Result<Filter, FilterError> {
    if depth > 2 {
        return Err(FilterError("Filters may nest at most two levels".into()));
    }
    let join = parse_join(value.get("type"))?;
    let predicates = match value.get("predicates") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|p| parse_predicate(p, dimensions))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(FilterError("predicates must be a list".into())),
    };
    let clauses = match value.get("clauses") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|c| parse_filter(c, dimensions, depth + 1))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(FilterError("clauses must be a list".into())),
    };
    Ok(Filter {
        join,
        predicates,
        clauses,
    })
}

fn parse_list(body: &Value, key: &str, dimensions: &[&str]) -> Result<Vec<Filter>, FilterError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|f| parse_filter(f, dimensions, 1))
            .collect(),
        Some(_) => Err(FilterError(format!("{key} must be a list"))),
    }
}

impl Filters {
    /// Parses `conversationFilters` and `segmentFilters` of a query body.
    pub fn parse(body: &Value) -> Result<Filters, FilterError> {
        Ok(Filters {
            conversation: parse_list(body, "conversationFilters", CONVERSATION_DIMENSIONS)?,
            segment: parse_list(body, "segmentFilters", SEGMENT_DIMENSIONS)?,
        })
    }

    /// Whether the conversation passes every filter, as it is rendered under `variant`.
    pub fn matches(
        &self,
        dataset: &Dataset,
        conversation: &SimConversation,
        variant: &GenesysVariant,
    ) -> bool {
        let conversation_values =
            |dimension: &str| conversation_dimension(dataset, conversation, dimension);
        if !self
            .conversation
            .iter()
            .all(|f| eval_filter(f, &conversation_values))
        {
            return false;
        }
        if self.segment.is_empty() {
            return true;
        }
        let contexts = segment_contexts(dataset, conversation, variant);
        self.segment.iter().all(|filter| {
            contexts
                .iter()
                .any(|ctx| eval_filter(filter, &|d: &str| ctx.value(conversation, d)))
        })
    }
}

fn eval_filter(filter: &Filter, lookup: &dyn Fn(&str) -> Option<String>) -> bool {
    let mut results = filter
        .predicates
        .iter()
        .map(|p| eval_predicate(p, lookup))
        .chain(filter.clauses.iter().map(|c| eval_filter(c, lookup)));
    match filter.join {
        Join::And => results.all(|r| r),
        Join::Or => results.any(|r| r),
    }
}

fn eval_predicate(predicate: &Predicate, lookup: &dyn Fn(&str) -> Option<String>) -> bool {
    let actual = lookup(&predicate.dimension);
    match predicate.operator {
        Operator::Exists => actual.is_some(),
        Operator::NotExists => actual.is_none(),
        Operator::Matches => {
            let Some(actual) = actual else { return false };
            if let Some(expected) = &predicate.value {
                return actual.eq_ignore_ascii_case(expected);
            }
            predicate
                .range
                .as_ref()
                .is_some_and(|range| in_range(&actual, range))
        }
    }
}

/// Ranges compare as timestamps when both sides parse as one, else as numbers, else as text.
fn in_range(actual: &str, range: &Range) -> bool {
    let cmp = |bound: &str| -> Option<std::cmp::Ordering> {
        if let (Ok(a), Ok(b)) = (actual.parse::<Timestamp>(), bound.parse::<Timestamp>()) {
            return Some(a.cmp(&b));
        }
        if let (Ok(a), Ok(b)) = (actual.parse::<f64>(), bound.parse::<f64>()) {
            return a.partial_cmp(&b);
        }
        Some(actual.cmp(bound))
    };
    use std::cmp::Ordering::*;
    range.gt.as_deref().is_none_or(|b| cmp(b) == Some(Greater))
        && range
            .gte
            .as_deref()
            .is_none_or(|b| matches!(cmp(b), Some(Greater | Equal)))
        && range.lt.as_deref().is_none_or(|b| cmp(b) == Some(Less))
        && range
            .lte
            .as_deref()
            .is_none_or(|b| matches!(cmp(b), Some(Less | Equal)))
}

fn conversation_dimension(
    dataset: &Dataset,
    conversation: &SimConversation,
    dimension: &str,
) -> Option<String> {
    match dimension {
        "conversationId" => Some(conversation.id.to_string()),
        "conversationStart" => Some(conversation.start.to_string()),
        "conversationEnd" => conversation
            .end_as_of(Timestamp::now())
            .map(|e| e.to_string()),
        "divisionId" => dataset
            .divisions
            .get(conversation.division as usize)
            .map(|d| d.to_string()),
        "originatingDirection" => Some(conversation.direction.as_str().to_string()),
        "conversationInitiator" => Some(initiator(conversation).to_string()),
        "customerParticipation" => Some("true".to_string()),
        "originatingSocialMediaPublic" => Some("false".to_string()),
        _ => None,
    }
}

/// Who started the conversation: the customer for inbound, the agent leg (purpose `user`) for
/// outbound.
pub fn initiator(conversation: &SimConversation) -> &'static str {
    match conversation.direction {
        crate::sim::dataset::Direction::Inbound => "customer",
        crate::sim::dataset::Direction::Outbound => conversation.agent_purpose(),
    }
}

/// One segment in its participant and session context, reduced to what filters look at.
struct SegmentContext {
    purpose: &'static str,
    segment_type: &'static str,
    user_id: Option<String>,
    queue_id: Option<String>,
    recording: Option<bool>,
    session_id: Option<String>,
}

impl SegmentContext {
    fn value(&self, conversation: &SimConversation, dimension: &str) -> Option<String> {
        match dimension {
            "mediaType" => Some(conversation.media_type.genesys_media_type().to_string()),
            "messageType" => conversation.message_type.map(|m| m.as_str().to_string()),
            "purpose" => Some(self.purpose.to_string()),
            "direction" => Some(conversation.direction.as_str().to_string()),
            "userId" => self.user_id.clone(),
            "queueId" => self.queue_id.clone(),
            "segmentType" => Some(self.segment_type.to_string()),
            "recording" => self.recording.map(|r| r.to_string()),
            "sessionId" => self.session_id.clone(),
            "conversationId" => Some(conversation.id.to_string()),
            "provider" => Some("PureCloud".to_string()),
            _ => None,
        }
    }
}

fn segment_contexts(
    dataset: &Dataset,
    conversation: &SimConversation,
    variant: &GenesysVariant,
) -> Vec<SegmentContext> {
    let queue = dataset
        .queues
        .get(conversation.queue as usize)
        .map(|q| q.0.to_string());
    let mut contexts = vec![SegmentContext {
        purpose: "customer",
        segment_type: "interact",
        user_id: None,
        queue_id: None,
        recording: None,
        session_id: None,
    }];
    if conversation.media_type == SimMedia::Message {
        contexts.push(SegmentContext {
            purpose: "workflow",
            segment_type: "interact",
            user_id: None,
            queue_id: None,
            recording: None,
            session_id: None,
        });
    }
    contexts.push(SegmentContext {
        purpose: "acd",
        segment_type: "interact",
        user_id: None,
        queue_id: queue.clone(),
        recording: None,
        session_id: None,
    });
    for session in &conversation.sessions {
        let user = dataset
            .agents
            .get(session.agent as usize)
            .map(|a| a.0.to_string());
        for segment_type in ["alert", "interact", "wrapup"] {
            contexts.push(SegmentContext {
                purpose: conversation.agent_purpose(),
                segment_type,
                user_id: user.clone(),
                queue_id: queue.clone(),
                // What the rendering shows: the flag only under the variant, and only as true.
                recording: (variant.recording_flag && session.recorded).then_some(true),
                session_id: Some(session.id.to_string()),
            });
        }
    }
    contexts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Window;
    use crate::sim::dataset::DatasetConfig;
    use serde_json::json;

    fn dataset() -> Dataset {
        let start: Timestamp = "2026-11-20T00:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        Dataset::generate(&DatasetConfig::new(
            11,
            2000,
            Window {
                start,
                end: start + jiff::SignedDuration::from_hours(24),
            },
        ))
    }

    fn count(dataset: &Dataset, body: Value) -> usize {
        count_under(dataset, body, &GenesysVariant::default())
    }

    fn count_under(dataset: &Dataset, body: Value, variant: &GenesysVariant) -> usize {
        let filters = Filters::parse(&body).unwrap_or_else(|e| panic!("{e}"));
        dataset
            .conversations
            .iter()
            .filter(|c| filters.matches(dataset, c, variant))
            .count()
    }

    #[test]
    fn media_type_or_filter_and_end_exists() {
        let ds = dataset();
        let body = json!({
            "conversationFilters": [{"type": "and", "predicates": [{"type": "dimension", "dimension": "conversationEnd", "operator": "exists"}]}],
            "segmentFilters": [{"type": "or", "predicates": [{"dimension": "mediaType", "value": "chat"}, {"dimension": "mediaType", "value": "email"}]}]
        });
        let expected = ds
            .conversations
            .iter()
            .filter(|c| c.end.is_some() && matches!(c.media_type, SimMedia::Chat | SimMedia::Email))
            .count();
        assert_eq!(count(&ds, body), expected);
        assert!(expected > 0);
    }

    #[test]
    fn clauses_narrow_message_by_message_type() {
        let ds = dataset();
        let body = json!({"segmentFilters": [{"type": "or", "clauses": [
            {"type": "and", "predicates": [{"dimension": "mediaType", "value": "message"}, {"dimension": "messageType", "value": "sms"}]}
        ]}]});
        let expected = ds
            .conversations
            .iter()
            .filter(|c| c.message_type.map(|m| m.as_str()) == Some("sms"))
            .count();
        assert_eq!(count(&ds, body), expected);
    }

    #[test]
    fn not_exists_and_range_and_division() {
        let ds = dataset();
        let open = count(
            &ds,
            json!({"conversationFilters": [{"predicates": [{"dimension": "conversationEnd", "operator": "notExists"}]}]}),
        );
        assert_eq!(
            open,
            ds.conversations.iter().filter(|c| c.end.is_none()).count()
        );
        let division = ds.divisions[1].to_string();
        let in_division = count(
            &ds,
            json!({"conversationFilters": [{"predicates": [{"dimension": "divisionId", "value": division}]}]}),
        );
        assert_eq!(
            in_division,
            ds.conversations.iter().filter(|c| c.division == 1).count()
        );
        let early = count(
            &ds,
            json!({"conversationFilters": [{"predicates": [{"dimension": "conversationStart", "range": {"lt": "2026-11-20T06:00:00Z"}}]}]}),
        );
        let by_hand = ds
            .conversations
            .iter()
            .filter(|c| {
                c.start
                    < "2026-11-20T06:00:00Z"
                        .parse::<Timestamp>()
                        .unwrap_or_else(|e| panic!("{e}"))
            })
            .count();
        assert_eq!(early, by_hand);
    }

    #[test]
    fn rejects_unknown_dimensions_and_operators() {
        assert!(Filters::parse(&json!({"segmentFilters": [{"predicates": [{"dimension": "shoeSize", "value": "9"}]}]})).is_err());
        assert!(Filters::parse(&json!({"segmentFilters": [{"predicates": [{"dimension": "mediaType", "operator": "near", "value": "x"}]}]})).is_err());
        assert!(
            Filters::parse(&json!({"segmentFilters": [{"type": "xor", "predicates": []}]}))
                .is_err()
        );
    }

    #[test]
    fn recording_predicates_follow_the_rendered_flag() {
        let ds = dataset();
        let flagged = json!({"segmentFilters": [{"predicates": [{"dimension": "recording", "value": "true"}]}]});
        let exists = json!({"segmentFilters": [{"predicates": [{"dimension": "recording", "operator": "exists"}]}]});
        // Default: text sessions carry no flag, so nothing matches.
        assert_eq!(count(&ds, flagged.clone()), 0);
        assert_eq!(count(&ds, exists.clone()), 0);
        // With the flag: exactly the conversations with a recorded agent session.
        let variant = GenesysVariant {
            recording_flag: true,
            ..GenesysVariant::default()
        };
        let recorded = ds
            .conversations
            .iter()
            .filter(|c| c.sessions.iter().any(|s| s.recorded))
            .count();
        assert!(recorded > 0);
        assert_eq!(count_under(&ds, flagged, &variant), recorded);
        assert_eq!(count_under(&ds, exists, &variant), recorded);
    }

    #[test]
    fn purpose_user_selects_the_outbound_agent_legs() {
        let ds = dataset();
        let by_purpose = |purpose: &str| {
            count(
                &ds,
                json!({"segmentFilters": [{"predicates": [{"dimension": "purpose", "value": purpose}]}]}),
            )
        };
        let outbound = ds
            .conversations
            .iter()
            .filter(|c| c.direction == crate::sim::dataset::Direction::Outbound)
            .count();
        assert!(outbound > 0);
        assert_eq!(by_purpose("user"), outbound);
        assert_eq!(by_purpose("agent"), ds.conversations.len() - outbound);
    }
}

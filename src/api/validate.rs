//! The one validation of a DigitalRecovery's spec: [`DigitalRecoverySpec::validate`] turns it
//! into a [`ValidSpec`], which the controller, `recover`'s manifest reader, the worker and the
//! clients take. It checks again what the API server's schema and CEL rules check (a manifest
//! given to `recover` never went through an API server) and what they cannot express.

use jiff::SignedDuration;

use super::recovery::{
    DigitalRecoverySpec, GenesysSpec, MAX_SHARDS, MediaType, Parallelism, RecordingSideSpec, Window,
};
use super::regions::region_domain;
use super::validate_targets::{Targets, validate_targets};

/// The longest window one recovery (or one scheduled run) may cover: 31 days.
pub const MAX_WINDOW: SignedDuration = SignedDuration::from_hours(31 * 24);

/// Why a spec cannot run: the field at fault and what is wrong with it, for a person.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidSpec {
    /// The field's path, e.g. `spec.window`.
    pub field: &'static str,
    pub message: String,
}

impl InvalidSpec {
    pub(super) fn new(field: &'static str, message: impl Into<String>) -> InvalidSpec {
        InvalidSpec {
            field,
            message: message.into(),
        }
    }
}

/// Where the Genesys Cloud API of a spec is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenesysEndpoint {
    /// A Genesys Cloud region, by its domain (e.g. `mypurecloud.ie`).
    Region(&'static str),
    /// An explicit http(s) base URL (a proxy, the simulator), without a trailing `/`.
    BaseUrl(String),
}

/// A spec that passed [`DigitalRecoverySpec::validate`], with its parsed values. It derefs to
/// the spec, whose other fields the checks have vouched for.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidSpec {
    spec: DigitalRecoverySpec,
    genesys: GenesysEndpoint,
    settle_delay: SignedDuration,
    targets: Option<Targets>,
}

impl ValidSpec {
    /// What a re-drive names instead of the whole window (`None`: the whole window).
    pub fn targets(&self) -> Option<&Targets> {
        self.targets.as_ref()
    }

    /// Where Genesys is.
    pub fn genesys_endpoint(&self) -> &GenesysEndpoint {
        &self.genesys
    }

    /// Conversations that ended less than this long ago are not settled yet.
    pub fn settle_delay(&self) -> SignedDuration {
        self.settle_delay
    }

    /// The spec as written.
    pub fn spec(&self) -> &DigitalRecoverySpec {
        &self.spec
    }
}

impl std::ops::Deref for ValidSpec {
    type Target = DigitalRecoverySpec;

    fn deref(&self) -> &DigitalRecoverySpec {
        &self.spec
    }
}

impl DigitalRecoverySpec {
    /// Checks every rule a spec must meet to run; the first broken one is the error.
    pub fn validate(&self) -> Result<ValidSpec, InvalidSpec> {
        if self.tenant.trim().is_empty() {
            return Err(InvalidSpec::new("spec.tenant", "must not be empty"));
        }
        validate_window(&self.window)?;
        if self.media_types.is_empty() {
            return Err(InvalidSpec::new(
                "spec.mediaTypes",
                "name at least one of chat, email, social",
            ));
        }
        validate_message_types("spec.messageTypes", &self.media_types, &self.message_types)?;
        validate_parallelism(self.parallelism)?;
        let genesys = validate_genesys(&self.genesys)?;
        validate_recording_side(&self.recording_side)?;
        let settle_delay = duration("spec.settleDelay", &self.settle_delay)?;
        let targets = validate_targets(self)?;
        Ok(ValidSpec {
            spec: self.clone(),
            genesys,
            settle_delay,
            targets,
        })
    }
}

/// A duration as the schema accepts it (`30m`, `2h`, `1h30m`; units h, m, s, ms), not negative.
pub fn duration(field: &'static str, value: &str) -> Result<SignedDuration, InvalidSpec> {
    let valid_units = !value.is_empty()
        && value
            .trim_end_matches(|c: char| c.is_ascii_digit() || "hms".contains(c))
            .is_empty();
    match value.parse::<SignedDuration>() {
        Ok(d) if valid_units && !d.is_negative() => Ok(d),
        _ => Err(InvalidSpec::new(
            field,
            format!("{value:?} is not a duration such as 30m, 2h or 1h30m (units h, m, s, ms)"),
        )),
    }
}

/// `start < end`, at most [`MAX_WINDOW`] apart.
pub fn validate_window(window: &Window) -> Result<(), InvalidSpec> {
    if window.end <= window.start {
        return Err(InvalidSpec::new(
            "spec.window",
            format!(
                "end ({}) must be after start ({})",
                window.end, window.start
            ),
        ));
    }
    if window.end.duration_since(window.start) > MAX_WINDOW {
        return Err(InvalidSpec::new("spec.window", "may span at most 31 days"));
    }
    Ok(())
}

/// `messageTypes` narrows `social` only: lower-case Genesys `messageType` values (at most 32),
/// and `social` among the media types when any is given.
pub fn validate_message_types(
    field: &'static str,
    media_types: &[MediaType],
    message_types: &[String],
) -> Result<(), InvalidSpec> {
    if message_types.is_empty() {
        return Ok(());
    }
    if !media_types.contains(&MediaType::Social) {
        return Err(InvalidSpec::new(
            field,
            "narrows social messaging: add social to mediaTypes or remove messageTypes",
        ));
    }
    if message_types.len() > 32 {
        return Err(InvalidSpec::new(field, "may name at most 32 message types"));
    }
    let valid = |m: &str| {
        m.len() <= 32
            && m.starts_with(|c: char| c.is_ascii_lowercase())
            && m.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    };
    match message_types.iter().find(|m| !valid(m)) {
        Some(bad) => Err(InvalidSpec::new(
            field,
            format!(
                "{bad:?} is not a Genesys messageType in lower case, such as sms, whatsapp or facebook"
            ),
        )),
        None => Ok(()),
    }
}

/// `auto`, or 1 to 64 shards.
pub fn validate_parallelism(parallelism: Parallelism) -> Result<(), InvalidSpec> {
    let Parallelism::Shards(shards) = parallelism else {
        return Ok(());
    };
    if (1..=MAX_SHARDS).contains(&shards) {
        Ok(())
    } else {
        Err(InvalidSpec::new(
            "spec.parallelism",
            "must be a number of shards between 1 and 64, or auto",
        ))
    }
}

/// Exactly one of a known region and an http(s) base URL; a credentials Secret; a sane budget.
pub fn validate_genesys(spec: &GenesysSpec) -> Result<GenesysEndpoint, InvalidSpec> {
    if spec.credentials_secret.trim().is_empty() {
        return Err(InvalidSpec::new(
            "spec.genesys.credentialsSecret",
            "must name a Secret",
        ));
    }
    if let Some(rpm) = spec.requests_per_minute
        && !(1..=3000).contains(&rpm)
    {
        return Err(InvalidSpec::new(
            "spec.genesys.requestsPerMinute",
            "must be between 1 and 3000",
        ));
    }
    if let Some(rpm) = spec.org_requests_per_minute
        && !(1..=100_000).contains(&rpm)
    {
        return Err(InvalidSpec::new(
            "spec.genesys.orgRequestsPerMinute",
            "must be between 1 and 100000",
        ));
    }
    match (&spec.region, &spec.api_base_url) {
        (Some(region), None) => region_domain(region)
            .map(GenesysEndpoint::Region)
            .ok_or_else(|| {
                InvalidSpec::new(
                    "spec.genesys.region",
                    format!(
                        "{region:?} is not a Genesys Cloud region domain (e.g. mypurecloud.ie)"
                    ),
                )
            }),
        (None, Some(base)) => {
            let base = base.trim().trim_end_matches('/');
            http_url("spec.genesys.apiBaseUrl", base)?;
            Ok(GenesysEndpoint::BaseUrl(base.to_string()))
        }
        _ => Err(InvalidSpec::new(
            "spec.genesys",
            "set exactly one of region and apiBaseUrl",
        )),
    }
}

/// Both URLs http(s); a credentials Secret; a sane budget.
pub fn validate_recording_side(spec: &RecordingSideSpec) -> Result<(), InvalidSpec> {
    http_url("spec.recordingSide.dasUrl", &spec.das_url)?;
    http_url("spec.recordingSide.captureUrl", &spec.capture_url)?;
    if spec.credentials_secret.trim().is_empty() {
        return Err(InvalidSpec::new(
            "spec.recordingSide.credentialsSecret",
            "must name a Secret",
        ));
    }
    if let Some(rpm) = spec.requests_per_minute
        && !(1..=MAX_RECORDING_SIDE_REQUESTS_PER_MINUTE).contains(&rpm)
    {
        return Err(InvalidSpec::new(
            "spec.recordingSide.requestsPerMinute",
            format!("must be between 1 and {MAX_RECORDING_SIDE_REQUESTS_PER_MINUTE}"),
        ));
    }
    Ok(())
}

/// Highest `spec.recordingSide.requestsPerMinute` (a thousand a second): the same bound as the
/// CRD's CEL rule.
pub const MAX_RECORDING_SIDE_REQUESTS_PER_MINUTE: u32 = 60_000;

/// An absolute http or https URL with a host.
fn http_url(field: &'static str, url: &str) -> Result<(), InvalidSpec> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(InvalidSpec::new(
            field,
            format!("{url:?} must be an absolute http(s) URL"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(patch: serde_json::Value) -> DigitalRecoverySpec {
        let mut v = json!({
            "tenant": "acme",
            "genesys": {"region": "mypurecloud.ie", "credentialsSecret": "genesys-oauth"},
            "recordingSide": {"dasUrl": "https://das.example", "captureUrl": "https://capture.example",
                              "credentialsSecret": "verint-api"},
            "window": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
            "mediaTypes": ["chat"]
        });
        merge(&mut v, patch);
        serde_json::from_value(v).unwrap_or_else(|e| panic!("test spec: {e}"))
    }

    fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
        match (base, patch) {
            (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
                for (k, v) in p {
                    if v.is_null() {
                        b.remove(&k);
                    } else {
                        merge(b.entry(k).or_insert(serde_json::Value::Null), v);
                    }
                }
            }
            (b, p) => *b = p,
        }
    }

    fn field_of(patch: serde_json::Value) -> &'static str {
        match spec(patch).validate() {
            Ok(_) => "(valid)",
            Err(e) => e.field,
        }
    }

    #[test]
    fn a_valid_spec_carries_its_parsed_values() {
        let valid = spec(json!({"settleDelay": "1h30m"}))
            .validate()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(valid.settle_delay(), SignedDuration::from_mins(90));
        assert_eq!(
            valid.genesys_endpoint(),
            &GenesysEndpoint::Region("mypurecloud.ie")
        );
        // Defaults: auto shards (8 at the default budgets), 30 minutes.
        let valid = spec(json!({})).validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(valid.parallelism, Parallelism::Auto);
        assert_eq!(valid.shards(), 8);
        let fewer = spec(json!({"genesys": {"orgRequestsPerMinute": 600}}))
            .validate()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fewer.shards(), 2);
        let auto = spec(json!({"parallelism": "auto"})).validate();
        assert!(auto.is_ok_and(|v| v.parallelism == Parallelism::Auto));
        assert_eq!(valid.settle_delay(), SignedDuration::from_mins(30));
        let base =
            spec(json!({"genesys": {"region": null, "apiBaseUrl": "http://127.0.0.1:8080/"}}))
                .validate()
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            base.genesys_endpoint(),
            &GenesysEndpoint::BaseUrl("http://127.0.0.1:8080".into())
        );
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        let cases = [
            (json!({"tenant": " "}), "spec.tenant"),
            (
                json!({"window": {"end": "2026-11-19T00:00:00Z"}}),
                "spec.window",
            ),
            (
                json!({"window": {"end": "2026-12-22T00:00:00Z"}}),
                "spec.window",
            ),
            (json!({"mediaTypes": []}), "spec.mediaTypes"),
            (json!({"messageTypes": ["sms"]}), "spec.messageTypes"),
            (
                json!({"mediaTypes": ["social"], "messageTypes": ["SMS"]}),
                "spec.messageTypes",
            ),
            (
                json!({"mediaTypes": ["social"], "messageTypes": ["sms", ""]}),
                "spec.messageTypes",
            ),
            (
                json!({"mediaTypes": ["social"], "messageTypes": ["sms", "whatsapp"]}),
                "(valid)",
            ),
            (json!({"parallelism": 0}), "spec.parallelism"),
            (json!({"parallelism": 65}), "spec.parallelism"),
            (
                json!({"genesys": {"region": "moon"}}),
                "spec.genesys.region",
            ),
            (
                json!({"genesys": {"apiBaseUrl": "https://proxy"}}),
                "spec.genesys",
            ),
            (json!({"genesys": {"region": null}}), "spec.genesys"),
            (
                json!({"genesys": {"region": null, "apiBaseUrl": "ftp://x"}}),
                "spec.genesys.apiBaseUrl",
            ),
            (
                json!({"genesys": {"requestsPerMinute": 0}}),
                "spec.genesys.requestsPerMinute",
            ),
            (
                json!({"genesys": {"orgRequestsPerMinute": 0}}),
                "spec.genesys.orgRequestsPerMinute",
            ),
            (
                json!({"recordingSide": {"dasUrl": "das.example"}}),
                "spec.recordingSide.dasUrl",
            ),
            (
                json!({"recordingSide": {"captureUrl": "https://"}}),
                "spec.recordingSide.captureUrl",
            ),
            (
                json!({"recordingSide": {"requestsPerMinute": 0}}),
                "spec.recordingSide.requestsPerMinute",
            ),
            (
                json!({"recordingSide": {"requestsPerMinute": 60_001}}),
                "spec.recordingSide.requestsPerMinute",
            ),
            (
                json!({"recordingSide": {"requestsPerMinute": 60_000}}),
                "(valid)",
            ),
            (
                json!({"recordingSide": {"requestsPerMinute": 1}}),
                "(valid)",
            ),
            (json!({"settleDelay": "soon"}), "spec.settleDelay"),
            (json!({"settleDelay": "-5m"}), "spec.settleDelay"),
            (json!({"settleDelay": "1d"}), "spec.settleDelay"),
            (json!({"settleDelay": ""}), "spec.settleDelay"),
        ];
        for (patch, field) in cases {
            assert_eq!(field_of(patch.clone()), field, "{patch}");
        }
        assert_eq!(field_of(json!({"settleDelay": "0s"})), "(valid)");
        assert_eq!(
            field_of(json!({"genesys": {"region": "eu_west_1"}})),
            "(valid)"
        );
    }

    #[test]
    fn messages_say_what_is_wrong() {
        let e = spec(json!({"settleDelay": "soon"}))
            .validate()
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "spec.settleDelay: \"soon\" is not a duration such as 30m, 2h or 1h30m (units h, m, s, ms)"
            )
        );
    }
}

//! `digital-recovery simulate`: the three simulators on loopback until SIGTERM/SIGINT.

use std::time::Duration;

use crate::api::Window;
use crate::sim::dataset::StartProfile;
use crate::sim::genesys::GenesysVariant;
use crate::sim::recording::RecordingSimConfig;
use crate::sim::{self, SimConfig};

/// Dataset and behaviour of the simulators (shared by `simulate` and `demo`).
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Dataset seed: same seed, same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Conversations in the window.
    #[arg(long, default_value_t = 10_000)]
    pub conversations: usize,
    /// Share of completed text conversations the recording side lacks.
    #[arg(long, default_value_t = 0.05)]
    pub missing_rate: f64,
    /// Share of transferred conversations the recording side holds only partly.
    #[arg(long, default_value_t = 0.02)]
    pub partial_rate: f64,
    /// Latency added to every response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Genesys requests per minute per token (0 = unlimited). Like the org limit, it lets ten
    /// seconds' worth through at once, then one request every 60/N s.
    #[arg(long, default_value_t = 300)]
    pub rate_limit: u32,
    /// Genesys requests per minute per OAuth client across all its tokens, on top of the
    /// per-token limit (Genesys' default org limit is 3000; 0 = unlimited). A request over
    /// either limit gets a 429 with Retry-After and is not charged to the other.
    #[arg(long, default_value_t = 0)]
    pub org_rate_limit: u32,
    /// Fault spec, e.g. `429=0.02,5xx=0.05,timeout=0.01,truncate=0.01,token-expiry=60s,transcode=0.3`.
    #[arg(long, default_value = "")]
    pub faults: String,
    /// Seeded window START/END (RFC 3339); default the 24 h ending one hour before now.
    #[arg(long)]
    pub window: Option<String>,
    /// How conversation starts spread over the window: `uniform`, or `business-hours` (a start
    /// is 10 times as likely in any minute from 08:00 to 18:00 UTC as in one outside, every day;
    /// about 88 % of a whole day's starts). Same seed, same conversations either way: only their
    /// times move.
    #[arg(long, default_value = "uniform")]
    pub profile: StartProfile,
    /// Delay before an interaction Capture ingested shows up in DAS, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub ingest_lag_ms: u64,
    /// Share of conversations Capture rejects with 422 (the same ones for the same seed).
    #[arg(long, default_value_t = 0.0)]
    pub reject_rate: f64,
    /// Share of recorded text conversations whose Genesys recordings are archived.
    #[arg(long, default_value_t = 0.01)]
    pub archived_rate: f64,
    /// How long an archived recording stays RESTORING once its restoration is asked for
    /// (`PUT .../recordings/{id}` with a future archiveDate), e.g. `2s`, `500ms`, `1m`.
    #[arg(long, default_value = "2s", value_parser = parse_restore_delay)]
    pub restore_delay: Duration,
    /// Serve another reading of the Genesys items no primary source settles (default: the
    /// documented contract). Comma-separated:
    /// `recording-flag` (recorded text sessions carry `"recording": true`),
    /// `media=message|messaging` (a messaging recording's `media`),
    /// `empty-page=total-hits|bare|empty-list` (an empty detail-query page: `{"totalHits":N}`,
    /// `{}` or `{"conversations":[]}`),
    /// `retry-after-202` (202s carry Retry-After),
    /// `interval-end=exclusive|inclusive` (a conversation starting at the interval's end is out
    /// or in),
    /// `oauth-error=description|error_description|both` (token error body field).
    #[arg(long, default_value = "", verbatim_doc_comment)]
    pub genesys_variant: GenesysVariant,
}

/// `simulate`'s own flags.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Address the simulators listen on, e.g. `0.0.0.0` or a node address that pods of a local
    /// cluster can reach.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Host (name or address) the printed URLs use: how clients reach the simulators. Required
    /// with an unspecified `--bind` (0.0.0.0 or ::); default the bound address.
    #[arg(long)]
    pub advertise: Option<String>,
    /// Genesys simulator port (0 = a free one).
    #[arg(long, default_value_t = 0)]
    pub genesys_port: u16,
    /// DAS simulator port (0 = a free one).
    #[arg(long, default_value_t = 0)]
    pub das_port: u16,
    /// Interaction Capture simulator port (0 = a free one).
    #[arg(long, default_value_t = 0)]
    pub capture_port: u16,
    /// OAuth client id the simulators accept.
    #[arg(long, default_value = "sim-client")]
    pub client_id: String,
    /// OAuth client secret the simulators accept.
    #[arg(long, default_value = "sim-secret")]
    pub client_secret: String,
    /// Recording-side tenant.
    #[arg(long, default_value = "demo")]
    pub tenant: String,
    /// Orgs served at once. Above 1, org I (from 1) has client id `{client-id}-I`, secret
    /// `{client-secret}-I`, tenant `{tenant}-I`, seed `{seed}+I-1`, and the other flags' sizes and
    /// limits; one Genesys, one DAS and one Capture port serve them all.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub orgs: u16,
    /// One org's own settings, `I:KEY=VALUE[,KEY=VALUE...]` with KEY `rate-limit`,
    /// `org-rate-limit` (0 = unlimited) or `conversations`, e.g. `--org 3:org-rate-limit=2100`.
    /// Repeatable; needs `--orgs` of at least I.
    #[arg(long = "org", value_parser = parse_org_override)]
    pub org_overrides: Vec<OrgOverride>,
    #[command(flatten)]
    pub sim: SimArgs,
}

/// What `--org I:...` changes of org I.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrgOverride {
    /// The org's number, from 1.
    pub number: u16,
    /// Its per-token limit (Some(None): unlimited).
    pub rate_limit: Option<Option<u32>>,
    /// Its org limit (Some(None): unlimited).
    pub org_rate_limit: Option<Option<u32>>,
    /// Its conversation count.
    pub conversations: Option<usize>,
}

/// `I:KEY=VALUE[,KEY=VALUE...]`.
fn parse_org_override(text: &str) -> Result<OrgOverride, String> {
    let (number, settings) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}`: expected I:KEY=VALUE, e.g. 3:org-rate-limit=2100"))?;
    let number = number
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("`{text}`: the org number must be 1 or more"))?;
    let mut change = OrgOverride {
        number,
        ..OrgOverride::default()
    };
    for setting in settings.split(',').filter(|s| !s.trim().is_empty()) {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| format!("`{setting}`: expected KEY=VALUE"))?;
        let count = |value: &str| {
            value
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("`{setting}`: not a whole number"))
        };
        match key.trim() {
            "rate-limit" => change.rate_limit = Some(Some(count(value)?).filter(|v| *v > 0)),
            "org-rate-limit" => {
                change.org_rate_limit = Some(Some(count(value)?).filter(|v| *v > 0));
            }
            "conversations" => change.conversations = Some(count(value)? as usize),
            other => {
                return Err(format!(
                    "`{other}`: expected rate-limit, org-rate-limit or conversations"
                ));
            }
        }
    }
    Ok(change)
}

/// A non-negative duration in jiff's friendly form (`2s`, `500ms`, `1m 30s`) or ISO 8601.
fn parse_restore_delay(text: &str) -> Result<Duration, String> {
    let delay: jiff::SignedDuration = text
        .parse()
        .map_err(|err| format!("`{text}` is not a duration such as 2s, 500ms or 1m: {err}"))?;
    Duration::try_from(delay).map_err(|_| format!("`{text}` must not be negative"))
}

/// Parses `START/END`.
pub fn parse_window(text: &str) -> Result<Window, String> {
    let (start, end) = text
        .split_once('/')
        .ok_or_else(|| format!("--window `{text}`: expected START/END"))?;
    let start = start
        .trim()
        .parse()
        .map_err(|err| format!("--window start `{start}`: {err}"))?;
    let end = end
        .trim()
        .parse()
        .map_err(|err| format!("--window end `{end}`: {err}"))?;
    if end <= start {
        return Err(format!("--window `{text}`: end must be after start"));
    }
    Ok(Window { start, end })
}

impl SimArgs {
    /// The simulation configuration (default ports, credentials and tenant) and the recording
    /// side's knobs.
    pub fn config(&self) -> Result<(SimConfig, RecordingSimConfig), String> {
        for (name, rate) in [
            ("--missing-rate", self.missing_rate),
            ("--partial-rate", self.partial_rate),
            ("--reject-rate", self.reject_rate),
            ("--archived-rate", self.archived_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} {rate}: must be between 0 and 1"));
            }
        }
        let mut config = SimConfig::new(self.conversations);
        if let Some(window) = &self.window {
            config.window = parse_window(window)?;
        }
        config.seed = self.seed;
        config.profile = self.profile;
        config.missing_rate = self.missing_rate;
        config.partial_rate = self.partial_rate;
        config.latency = Duration::from_millis(self.latency_ms);
        config.rate_limit = (self.rate_limit > 0).then_some(self.rate_limit);
        config.org_rate_limit = (self.org_rate_limit > 0).then_some(self.org_rate_limit);
        config.faults = self
            .faults
            .parse()
            .map_err(|err| format!("--faults: {err}"))?;
        config.genesys_variant = self.genesys_variant;
        config.archived_rate = self.archived_rate;
        config.restore_delay = self.restore_delay;
        let recording = RecordingSimConfig {
            ingest_lag: Duration::from_millis(self.ingest_lag_ms),
            reject_rate: self.reject_rate,
            ..RecordingSimConfig::default()
        };
        Ok((config, recording))
    }
}

impl SimulateArgs {
    /// The configuration `simulate` serves.
    pub fn config(self) -> Result<(SimConfig, RecordingSimConfig), String> {
        let (mut config, recording) = self.sim.config()?;
        config.client_id = self.client_id;
        config.client_secret = self.client_secret;
        config.tenant = self.tenant;
        config.genesys_port = self.genesys_port;
        config.das_port = self.das_port;
        config.capture_port = self.capture_port;
        if self.bind.is_unspecified() && self.advertise.is_none() {
            return Err(format!(
                "--bind {}: also pass --advertise HOST, the address clients reach the simulators at",
                self.bind
            ));
        }
        config.bind = self.bind;
        config.advertise = self.advertise;
        let mut config = config.with_orgs(usize::from(self.orgs));
        for change in self.org_overrides {
            let count = config.orgs.len().max(1);
            let org = config
                .orgs
                .get_mut(usize::from(change.number) - 1)
                .ok_or_else(|| {
                    format!(
                        "--org {}: there are only {count} orgs (set --orgs)",
                        change.number
                    )
                })?;
            if let Some(limit) = change.rate_limit {
                org.rate_limit = limit;
            }
            if let Some(limit) = change.org_rate_limit {
                org.org_rate_limit = limit;
            }
            if let Some(conversations) = change.conversations {
                org.conversations = conversations;
            }
        }
        Ok((config, recording))
    }
}

/// Runs `simulate`.
pub fn run(args: SimulateArgs) -> Result<(), String> {
    let (config, recording) = args.config()?;
    let runtime =
        tokio::runtime::Runtime::new().map_err(|err| format!("cannot start the runtime: {err}"))?;
    runtime.block_on(async move {
        let handles = sim::start(config, Some(sim::recording::factory(recording)))
            .await
            .map_err(|err| err.to_string())?;
        println!("{}", handles.address_line());
        crate::signals::shutdown().await;
        handles.shutdown().await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[test]
    fn genesys_variant_flag_parses_into_the_config() {
        let args = Wrapper::try_parse_from(["x"]).unwrap_or_else(|e| panic!("{e}"));
        let (config, _) = args.sim.config().unwrap_or_else(|e| panic!("{e}"));
        assert!(config.genesys_variant.is_default());

        let args =
            Wrapper::try_parse_from(["x", "--genesys-variant", "media=messaging,recording-flag"])
                .unwrap_or_else(|e| panic!("{e}"));
        let (config, _) = args.sim.config().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.genesys_variant.to_string(),
            "recording-flag,media=messaging"
        );

        let err = Wrapper::try_parse_from(["x", "--genesys-variant", "empty-page=nothing"])
            .err()
            .unwrap_or_else(|| panic!("a bad variant parsed"))
            .to_string();
        assert!(err.contains("`empty-page=nothing`"), "{err}");
        assert!(
            err.contains("empty-page=total-hits|bare|empty-list"),
            "{err}"
        );
    }

    #[test]
    fn restore_delay_and_archived_rate_parse_into_the_config() {
        let args = Wrapper::try_parse_from(["x"]).unwrap_or_else(|e| panic!("{e}"));
        let (config, _) = args.sim.config().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.restore_delay, Duration::from_secs(2));
        assert_eq!(config.archived_rate, 0.01);
        let args =
            Wrapper::try_parse_from(["x", "--restore-delay", "1m 30s", "--archived-rate", "0.2"])
                .unwrap_or_else(|e| panic!("{e}"));
        let (config, _) = args.sim.config().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.restore_delay, Duration::from_secs(90));
        assert_eq!(config.dataset_config().archived_rate, 0.2);
        for bad in ["soon", "-2s"] {
            let err = Wrapper::try_parse_from(["x".to_string(), format!("--restore-delay={bad}")])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("--restore-delay"), "{bad}: {err}");
        }
        let args = Wrapper::try_parse_from(["x", "--profile", "business-hours"])
            .unwrap_or_else(|e| panic!("{e}"));
        let (config, _) = args.sim.config().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.dataset_config().profile, StartProfile::BusinessHours);
        let err = Wrapper::try_parse_from(["x", "--profile", "weekdays"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("expected uniform or business-hours"), "{err}");
        let args = Wrapper::try_parse_from(["x", "--archived-rate", "2"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(args.sim.config().is_err());
    }

    #[test]
    fn rate_limit_flags_parse_into_the_config() {
        let args = Wrapper::try_parse_from(["x"]).unwrap_or_else(|e| panic!("{e}"));
        let (config, _) = args.sim.config().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (config.rate_limit, config.org_rate_limit),
            (Some(300), None)
        );
        let args = Wrapper::try_parse_from(["x", "--rate-limit", "0", "--org-rate-limit", "3000"])
            .unwrap_or_else(|e| panic!("{e}"));
        let (config, _) = args.sim.config().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (config.rate_limit, config.org_rate_limit),
            (None, Some(3000))
        );
    }

    #[derive(Parser)]
    struct SimulateCommand {
        #[command(flatten)]
        args: SimulateArgs,
    }

    #[test]
    fn an_unspecified_bind_address_needs_an_advertised_host() {
        let parse = |argv: &[&str]| {
            SimulateCommand::try_parse_from(argv)
                .unwrap_or_else(|e| panic!("{e}"))
                .args
                .config()
                .map(|(config, _)| (config.bind.to_string(), config.advertise))
        };
        assert_eq!(parse(&["x"]), Ok(("127.0.0.1".into(), None)));
        let err = parse(&["x", "--bind", "0.0.0.0"]).err().unwrap_or_default();
        assert!(err.contains("--advertise"), "{err}");
        assert_eq!(
            parse(&["x", "--bind", "0.0.0.0", "--advertise", "10.99.0.1"]),
            Ok(("0.0.0.0".into(), Some("10.99.0.1".into())))
        );
    }

    #[test]
    fn orgs_and_one_orgs_own_limits_parse_into_the_config() {
        let parse = |argv: &[&str]| {
            SimulateCommand::try_parse_from(argv)
                .map_err(|e| e.to_string())
                .and_then(|command| command.args.config())
                .map(|(config, _)| config.org_configs())
        };
        let single = parse(&["x"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(single.len(), 1);
        assert_eq!(single[0].client_id, "sim-client");

        let orgs = parse(&[
            "x",
            "--orgs",
            "4",
            "--client-id",
            "acme",
            "--tenant",
            "t",
            "--org-rate-limit",
            "3000",
            "--org",
            "3:org-rate-limit=2100,rate-limit=0",
            "--org",
            "4:conversations=50",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let summary: Vec<_> = orgs
            .iter()
            .map(|o| {
                (
                    o.client_id.as_str(),
                    o.tenant.as_str(),
                    o.rate_limit,
                    o.org_rate_limit,
                    o.conversations,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("acme-1", "t-1", Some(300), Some(3000), 10_000),
                ("acme-2", "t-2", Some(300), Some(3000), 10_000),
                ("acme-3", "t-3", None, Some(2100), 10_000),
                ("acme-4", "t-4", Some(300), Some(3000), 50),
            ]
        );

        for (argv, needle) in [
            (
                &["x", "--orgs", "2", "--org", "3:rate-limit=1"][..],
                "only 2 orgs",
            ),
            (&["x", "--org", "1:rate-limit=1"][..], "only 1 orgs"),
            (&["x", "--orgs", "2", "--org", "2:burst=1"][..], "`burst`"),
            (
                &["x", "--orgs", "2", "--org", "0:rate-limit=1"][..],
                "1 or more",
            ),
            (&["x", "--orgs", "0"][..], "--orgs"),
        ] {
            let err = parse(argv).err().unwrap_or_default();
            assert!(err.contains(needle), "{argv:?}: {err}");
        }
    }
}

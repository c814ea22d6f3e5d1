//! The seeded dataset every simulator serves: Genesys conversations (with sessions, participants,
//! recordings and transcripts) and, per conversation, what the recording side holds of it.
//!
//! Same `DatasetConfig` (seed included), same data, byte for byte. Memory: a conversation keeps
//! only what identifies it (ids, times, media, sessions, recordings, recording-side state), about
//! 400 bytes, so 200,000 conversations stay under 100 MB. Transcripts are NOT stored: they are
//! generated on demand from the seed and the conversation's index ([`Dataset::transcript`]), which
//! is deterministic, so every simulator (Genesys serving them, Capture comparing them) sees the
//! same content.
//!
//! Vocabulary: a conversation's "sessions" ([`SimConversation::sessions`]) are its *agent* text
//! sessions, one per agent that handled it (a transfer makes two). Each recorded one has its own
//! recording. Customer, ACD and workflow participants have sessions too (in the analytics view),
//! but those are never recorded and never matched.

use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::Window;

/// What to generate.
#[derive(Clone, Debug)]
pub struct DatasetConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of conversations (text and voice) whose start lies in the window.
    pub conversations: usize,
    /// Window the conversations start in.
    pub window: Window,
    /// Recording-side tenant.
    pub tenant: String,
    /// Share of completed text conversations the recording side lacks entirely.
    pub missing_rate: f64,
    /// Share of completed text conversations the recording side holds only partly (drawn among
    /// the multi-session ones, which are `transfer_rate` of all, so it saturates there).
    pub partial_rate: f64,
    /// Share of conversations still open (no end).
    pub open_rate: f64,
    /// Share of voice conversations (the pipeline must ignore them).
    pub voice_rate: f64,
    /// Share of text conversations with no recording at all (the recording side holds none of
    /// them either).
    pub unrecorded_rate: f64,
    /// Share of recorded text conversations whose recordings are archived.
    pub archived_rate: f64,
    /// Share of recorded text conversations whose recordings are deleted.
    pub deleted_rate: f64,
    /// Share of text conversations transferred to a second agent (two sessions, two recordings).
    pub transfer_rate: f64,
    /// Share of conversations starting exactly on a whole UTC minute, so slice and shard
    /// boundaries on whole minutes or hours meet conversations that start right on them.
    pub aligned_start_rate: f64,
}

impl DatasetConfig {
    /// Defaults for everything but seed, size and window.
    pub fn new(seed: u64, conversations: usize, window: Window) -> Self {
        DatasetConfig {
            seed,
            conversations,
            window,
            tenant: "demo".to_string(),
            missing_rate: 0.05,
            partial_rate: 0.02,
            open_rate: 0.02,
            voice_rate: 0.05,
            unrecorded_rate: 0.03,
            archived_rate: 0.01,
            deleted_rate: 0.005,
            transfer_rate: 0.15,
            aligned_start_rate: 0.02,
        }
    }
}

/// Genesys analytics media type of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimMedia {
    /// Voice call (ignored by the pipeline).
    Voice,
    /// Legacy web chat.
    Chat,
    /// ACD email.
    Email,
    /// Messaging (SMS, WhatsApp, ...), told apart by [`MessageType`].
    Message,
}

impl SimMedia {
    /// The analytics `mediaType` value.
    pub fn genesys_media_type(self) -> &'static str {
        match self {
            SimMedia::Voice => "voice",
            SimMedia::Chat => "chat",
            SimMedia::Email => "email",
            SimMedia::Message => "message",
        }
    }

    /// The Recording `media` value.
    pub fn recording_media(self) -> &'static str {
        match self {
            SimMedia::Voice => "audio",
            SimMedia::Chat => "chat",
            SimMedia::Email => "email",
            SimMedia::Message => "message",
        }
    }

    /// The Recording field that holds this media's transcript.
    pub fn transcript_field(self) -> Option<&'static str> {
        match self {
            SimMedia::Voice => None,
            SimMedia::Chat => Some("transcript"),
            SimMedia::Email => Some("emailTranscript"),
            SimMedia::Message => Some("messagingTranscript"),
        }
    }

    /// True for chat, email and messaging.
    pub fn is_text(self) -> bool {
        !matches!(self, SimMedia::Voice)
    }

    /// The spec's media type (`social` for messaging), `None` for voice.
    pub fn spec_media_type(self) -> Option<crate::api::MediaType> {
        crate::api::MediaType::from_genesys(self.genesys_media_type())
    }
}

/// Messaging channel (`messageType`) of a `message` conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Web messaging (Messenger).
    WebMessaging,
    /// SMS.
    Sms,
    /// WhatsApp.
    WhatsApp,
    /// Facebook Messenger.
    Facebook,
    /// Instagram.
    Instagram,
    /// X / Twitter DM.
    Twitter,
    /// LINE.
    Line,
    /// Apple Messages for Business.
    Apple,
    /// Open messaging.
    Open,
}

impl MessageType {
    /// Every channel with its relative weight in the generated mix.
    pub const WEIGHTED: [(MessageType, u32); 9] = [
        (MessageType::WebMessaging, 30),
        (MessageType::Sms, 20),
        (MessageType::WhatsApp, 20),
        (MessageType::Facebook, 15),
        (MessageType::Instagram, 5),
        (MessageType::Twitter, 4),
        (MessageType::Line, 3),
        (MessageType::Apple, 2),
        (MessageType::Open, 1),
    ];

    /// The analytics `messageType` value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::WebMessaging => "webmessaging",
            MessageType::Sms => "sms",
            MessageType::WhatsApp => "whatsapp",
            MessageType::Facebook => "facebook",
            MessageType::Instagram => "instagram",
            MessageType::Twitter => "twitter",
            MessageType::Line => "line",
            MessageType::Apple => "apple",
            MessageType::Open => "open",
        }
    }
}

/// Where a recording's file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Downloadable now.
    Available,
    /// Moved to cloud archive: a stub with archiveDate/archiveMedium and no transcript.
    Archived,
    /// Deleted by retention policy.
    Deleted,
}

impl FileState {
    /// The Genesys `fileState` value.
    pub fn as_str(self) -> &'static str {
        match self {
            FileState::Available => "AVAILABLE",
            FileState::Archived => "ARCHIVED",
            FileState::Deleted => "DELETED",
        }
    }
}

/// What the recording side holds of a conversation at seed time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordingSideState {
    /// A contact with every session.
    Held,
    /// No contact at all.
    Missing,
    /// A contact lacking these sessions (always the later session of a transfer).
    Partial {
        /// Session ids the contact lacks.
        lacking_sessions: Vec<Uuid>,
    },
}

/// Inbound or outbound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Customer-initiated.
    Inbound,
    /// Agent-initiated.
    Outbound,
}

impl Direction {
    /// The analytics value.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// One agent session of a conversation.
#[derive(Clone, Debug)]
pub struct SimSession {
    /// Session id (`sessionId` in analytics and in the recording).
    pub id: Uuid,
    /// Media type (the conversation's).
    pub media_type: SimMedia,
    /// Messaging channel, for `message` only.
    pub message_type: Option<MessageType>,
    /// Index of the agent in [`Dataset::agents`].
    pub agent: u16,
    /// When the agent was offered the interaction.
    pub start: Timestamp,
    /// When the agent's part ended (None while open).
    pub end: Option<Timestamp>,
    /// A recording exists for this session (rendered as the analytics `recording` flag only
    /// under the `recording-flag` variant).
    pub recorded: bool,
}

/// One recording of a conversation (one per recorded agent session).
#[derive(Clone, Debug)]
pub struct SimRecording {
    /// Recording id.
    pub id: Uuid,
    /// The session it records.
    pub session_id: Uuid,
    /// Its media.
    pub media: SimMedia,
    /// AVAILABLE, ARCHIVED or DELETED.
    pub file_state: FileState,
    /// Set when archived.
    pub archive_date: Option<Timestamp>,
    /// Set when deleted (and, as a retention plan, for some available ones).
    pub delete_date: Option<Timestamp>,
    /// Start of the recorded session.
    pub start: Timestamp,
    /// End of the recorded session.
    pub end: Timestamp,
}

/// One participant of a conversation as analytics lists it.
#[derive(Clone, Debug)]
pub struct SimParticipant {
    /// Participant id.
    pub id: Uuid,
    /// customer, acd, workflow, or for the agent legs `agent` (inbound) or `user` (outbound).
    pub purpose: &'static str,
    /// Display name.
    pub name: String,
    /// The agent's user id (agents only).
    pub user_id: Option<Uuid>,
    /// Index into the conversation's sessions (agents only).
    pub agent_session: Option<usize>,
    /// Session id of a non-agent participant's own session.
    pub own_session: Option<Uuid>,
}

/// One generated conversation.
#[derive(Clone, Debug)]
pub struct SimConversation {
    /// Position in [`Dataset::conversations`] (sorted by start); seeds its lazy content.
    pub index: u32,
    /// Conversation id.
    pub id: Uuid,
    /// conversationStart.
    pub start: Timestamp,
    /// conversationEnd; None while open.
    pub end: Option<Timestamp>,
    /// Media type.
    pub media_type: SimMedia,
    /// Messaging channel, for `message` only.
    pub message_type: Option<MessageType>,
    /// Originating direction.
    pub direction: Direction,
    /// Index into [`Dataset::divisions`].
    pub division: u8,
    /// Index into [`Dataset::queues`].
    pub queue: u8,
    /// Agent sessions, in order (a transfer gives two).
    pub sessions: Vec<SimSession>,
    /// Recordings, one per recorded session.
    pub recordings: Vec<SimRecording>,
    /// What the recording side holds at seed time.
    pub recording_side: RecordingSideState,
}

impl SimConversation {
    /// True for chat, email and messaging.
    pub fn is_text(&self) -> bool {
        self.media_type.is_text()
    }

    /// True once the conversation has ended.
    pub fn is_completed(&self) -> bool {
        self.end.is_some()
    }

    /// True when at least one recording is downloadable.
    pub fn has_available_recording(&self) -> bool {
        self.recordings
            .iter()
            .any(|r| r.file_state == FileState::Available)
    }

    /// Sessions the recording side holds at seed time (empty when missing).
    pub fn held_sessions(&self) -> Vec<&SimSession> {
        match &self.recording_side {
            RecordingSideState::Held => self.sessions.iter().collect(),
            RecordingSideState::Missing => Vec::new(),
            RecordingSideState::Partial { lacking_sessions } => self
                .sessions
                .iter()
                .filter(|s| !lacking_sessions.contains(&s.id))
                .collect(),
        }
    }

    /// Completed text conversation with no recording at all, withheld from the recording side:
    /// what `/sim/report` calls expectedNotRecorded (a recovery must end it `notRecorded`).
    pub fn is_expected_not_recorded(&self) -> bool {
        self.is_text()
            && self.is_completed()
            && self.recordings.is_empty()
            && self.recording_side == RecordingSideState::Missing
    }

    /// The purpose of this conversation's agent participants: Genesys lists the agent who places
    /// an outbound interaction as `user`; both values name agent legs.
    pub fn agent_purpose(&self) -> &'static str {
        match self.direction {
            Direction::Inbound => "agent",
            Direction::Outbound => "user",
        }
    }

    /// Withheld at seed time (missing or partial) with a text recording a recovery can fetch:
    /// what `/sim/report` calls expectedMissing. Open conversations are never expected.
    pub fn is_expected_missing(&self) -> bool {
        if !self.is_text() || !self.is_completed() {
            return false;
        }
        match &self.recording_side {
            RecordingSideState::Held => false,
            RecordingSideState::Missing => self.has_available_recording(),
            RecordingSideState::Partial { lacking_sessions } => self.recordings.iter().any(|r| {
                r.file_state == FileState::Available && lacking_sessions.contains(&r.session_id)
            }),
        }
    }
}

/// A generated dataset.
#[derive(Debug)]
pub struct Dataset {
    /// The configuration it was generated from.
    pub config: DatasetConfig,
    /// Division ids.
    pub divisions: Vec<Uuid>,
    /// Queues (id, name).
    pub queues: Vec<(Uuid, String)>,
    /// Agents (user id, name).
    pub agents: Vec<(Uuid, String)>,
    /// Inbound message / chat flows (id, name).
    pub flows: Vec<(Uuid, String)>,
    /// Conversations sorted by start.
    pub conversations: Vec<SimConversation>,
}

const FIRST_NAMES: [&str; 16] = [
    "Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi",
    "Liam", "Maya", "Noor", "Oscar", "Priya",
];
const LAST_NAMES: [&str; 12] = [
    "Smith", "Okafor", "Garcia", "Nguyen", "Müller", "Rossi", "Kowalski", "Tanaka", "Silva",
    "Dubois", "Haddad", "Byrne",
];
const QUEUE_NAMES: [&str; 6] = [
    "Billing",
    "Technical Support",
    "Sales",
    "Retentions",
    "Claims",
    "General Enquiries",
];

/// A v4-shaped uuid drawn from the generator.
fn random_uuid(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// The generator for one conversation's lazy content (participants' ids, transcripts): depends
/// only on the seed, the conversation's index and a purpose salt.
fn content_rng(seed: u64, index: u32, salt: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9E37_79B9_7F4A_7C15);
    rng.set_stream(((index as u64) << 8) | salt);
    rng
}

fn person_name(rng: &mut ChaCha8Rng) -> String {
    let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
    let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
    format!("{first} {last}")
}

fn pick_message_type(rng: &mut ChaCha8Rng) -> MessageType {
    let total: u32 = MessageType::WEIGHTED.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (kind, weight) in MessageType::WEIGHTED {
        if roll < weight {
            return kind;
        }
        roll -= weight;
    }
    MessageType::WebMessaging
}

/// Moves `aligned_start_rate` of the start offsets onto a whole UTC minute, inside the window.
/// Its own generator, so the main sequence (and with it the rest of a seed's data) is unchanged.
fn align_some_starts(offsets: &mut [i64], config: &DatasetConfig) {
    let rate = config.aligned_start_rate.clamp(0.0, 1.0);
    if rate == 0.0 {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0xA11A_5EED);
    let window_start = config.window.start.as_millisecond();
    let window_end = config.window.end.as_millisecond();
    for offset in offsets.iter_mut() {
        if !rng.random_bool(rate) {
            continue;
        }
        let absolute = window_start + *offset;
        let down = absolute - absolute.rem_euclid(60_000);
        // A window not starting on a whole minute: round up instead, if that stays inside.
        let aligned = if down >= window_start {
            down
        } else {
            down + 60_000
        };
        if aligned < window_end {
            *offset = aligned - window_start;
        }
    }
}

fn minutes(rng: &mut ChaCha8Rng, low: i64, high: i64) -> SignedDuration {
    SignedDuration::from_secs(rng.random_range(low * 60..=high * 60))
}

impl Dataset {
    /// Generates the dataset `config` describes. Deterministic in `config`.
    pub fn generate(config: &DatasetConfig) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let divisions = (0..3).map(|_| random_uuid(&mut rng)).collect();
        let queues = QUEUE_NAMES
            .iter()
            .map(|name| (random_uuid(&mut rng), name.to_string()))
            .collect();
        let agents = (0..40)
            .map(|_| (random_uuid(&mut rng), person_name(&mut rng)))
            .collect();
        let flows = ["Inbound Messaging", "Web Chat Flow", "Email Routing"]
            .iter()
            .map(|name| (random_uuid(&mut rng), name.to_string()))
            .collect();

        let window = config.window;
        let span_ms = window.end.duration_since(window.start).as_millis().max(1) as i64;
        // Starts first, sorted, so indexes follow time order.
        let mut starts: Vec<i64> = (0..config.conversations)
            .map(|_| rng.random_range(0..span_ms))
            .collect();
        align_some_starts(&mut starts, config);
        starts.sort_unstable();
        // Ends are capped 20 minutes past the window so that, with the default window ending an
        // hour before now, every completed conversation is settled for a 30 minute settleDelay.
        let latest_end = window.end + SignedDuration::from_mins(20);

        let mut conversations = Vec::with_capacity(config.conversations);
        for (index, offset) in starts.into_iter().enumerate() {
            let start = window.start + SignedDuration::from_millis(offset);
            conversations.push(generate_conversation(
                config,
                &mut rng,
                index as u32,
                start,
                latest_end,
            ));
        }
        Dataset {
            config: config.clone(),
            divisions,
            queues,
            agents,
            flows,
            conversations,
        }
    }

    /// Conversations withheld at seed time that have a text recording available (the
    /// `/sim/report` expectedMissing).
    pub fn expected_missing(&self) -> usize {
        self.conversations
            .iter()
            .filter(|c| c.is_expected_missing())
            .count()
    }

    /// Completed text conversations with no recording at all, withheld from the recording side
    /// (the `/sim/report` expectedNotRecorded).
    pub fn expected_not_recorded(&self) -> usize {
        self.conversations
            .iter()
            .filter(|c| c.is_expected_not_recorded())
            .count()
    }

    /// The conversation with this id (binary search is impossible: ids are random; linear scan
    /// is fine for tests; simulators keep their own index).
    pub fn find(&self, id: Uuid) -> Option<&SimConversation> {
        self.conversations.iter().find(|c| c.id == id)
    }

    /// Participants of a conversation, in analytics order: customer, then workflow (messaging)
    /// or acd, then one agent per session. Deterministic.
    pub fn participants(&self, conversation: &SimConversation) -> Vec<SimParticipant> {
        let mut rng = content_rng(self.config.seed, conversation.index, 1);
        let mut participants = vec![SimParticipant {
            id: random_uuid(&mut rng),
            purpose: "customer",
            name: person_name(&mut rng),
            user_id: None,
            agent_session: None,
            own_session: Some(random_uuid(&mut rng)),
        }];
        if conversation.media_type == SimMedia::Message {
            let flow = &self.flows[0];
            participants.push(SimParticipant {
                id: random_uuid(&mut rng),
                purpose: "workflow",
                name: flow.1.clone(),
                user_id: None,
                agent_session: None,
                own_session: Some(random_uuid(&mut rng)),
            });
        }
        participants.push(SimParticipant {
            id: random_uuid(&mut rng),
            purpose: "acd",
            name: self.queues[conversation.queue as usize % self.queues.len()]
                .1
                .clone(),
            user_id: None,
            agent_session: None,
            own_session: Some(random_uuid(&mut rng)),
        });
        for (position, session) in conversation.sessions.iter().enumerate() {
            let (user_id, name) = &self.agents[session.agent as usize % self.agents.len()];
            participants.push(SimParticipant {
                id: random_uuid(&mut rng),
                purpose: conversation.agent_purpose(),
                name: name.clone(),
                user_id: Some(*user_id),
                agent_session: Some(position),
                own_session: None,
            });
        }
        participants
    }

    /// The transcript of one recording, in the Genesys shape for its media (ChatMessage,
    /// RecordingEmailMessage or RecordingMessagingMessage entries). Generated from the seed, so
    /// the same for every caller. Empty for voice and for recordings that are not available.
    pub fn transcript(
        &self,
        conversation: &SimConversation,
        recording: &SimRecording,
    ) -> Vec<Value> {
        if recording.file_state != FileState::Available || !recording.media.is_text() {
            return Vec::new();
        }
        let position = conversation
            .recordings
            .iter()
            .position(|r| r.id == recording.id)
            .unwrap_or(0);
        let mut rng = content_rng(self.config.seed, conversation.index, 16 + position as u64);
        let participants = self.participants(conversation);
        let customer = &participants[0];
        let session = conversation
            .sessions
            .iter()
            .find(|s| s.id == recording.session_id);
        let agent = session
            .and_then(|s| {
                participants.iter().find(|p| {
                    p.agent_session
                        .is_some_and(|i| conversation.sessions[i].id == s.id)
                })
            })
            .unwrap_or(customer);
        let turns = rng.random_range(3..=12);
        let span = recording
            .end
            .duration_since(recording.start)
            .as_millis()
            .max(1) as i64;
        let step = span / (turns as i64 + 1);
        let mut entries = Vec::with_capacity(turns);
        for turn in 0..turns {
            let at = recording.start + SignedDuration::from_millis(step * (turn as i64 + 1));
            let from_customer = turn % 2 == 0;
            let line = sentence(&mut rng, from_customer);
            let (speaker, purpose) = if from_customer {
                (customer, "customer")
            } else {
                (agent, agent.purpose)
            };
            entries.push(match recording.media {
                SimMedia::Chat => json!({
                    "id": random_uuid(&mut rng).to_string(),
                    "body": line,
                    "bodyType": "STANDARD",
                    "utc": at.as_millisecond().to_string(),
                    "participantPurpose": purpose,
                    "senderCommunicationId": speaker.id.to_string(),
                    "user": if from_customer { Value::Null } else {
                        json!({"id": agent.user_id.map(|u| u.to_string()), "displayName": agent.name})
                    },
                }),
                SimMedia::Email => json!({
                    "id": random_uuid(&mut rng).to_string(),
                    "from": {"email": email_of(&speaker.name), "name": speaker.name},
                    "to": [{"email": email_of(if from_customer { &agent.name } else { &customer.name }),
                            "name": if from_customer { &agent.name } else { &customer.name }}],
                    "subject": format!("Case {}", conversation.index),
                    "textBody": line,
                    "htmlBody": format!("<p>{line}</p>"),
                    "time": at.to_string(),
                }),
                _ => json!({
                    "id": random_uuid(&mut rng).to_string(),
                    "from": if from_customer { customer.own_session.map(|s| s.to_string()) } else { Some(recording.session_id.to_string()) },
                    "fromUser": if from_customer { Value::Null } else {
                        json!({"id": agent.user_id.map(|u| u.to_string()), "name": agent.name})
                    },
                    "to": if from_customer { recording.session_id.to_string() } else { customer.id.to_string() },
                    "timestamp": at.to_string(),
                    "purpose": purpose,
                    "participantId": speaker.id.to_string(),
                    "messageText": line,
                    "status": "delivered",
                }),
            });
        }
        strip_nulls(&mut entries);
        entries
    }
}

fn strip_nulls(entries: &mut [Value]) {
    for entry in entries {
        if let Value::Object(map) = entry {
            map.retain(|_, v| !v.is_null());
        }
    }
}

fn email_of(name: &str) -> String {
    let local: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    format!("{local}@example.com")
}

fn sentence(rng: &mut ChaCha8Rng, from_customer: bool) -> String {
    const CUSTOMER: [&str; 8] = [
        "Hi, I was charged twice for my last order.",
        "My parcel still hasn't arrived, can you check?",
        "I'd like to change the address on my account.",
        "The app keeps logging me out.",
        "Can I upgrade my plan before the renewal date?",
        "Thanks, that fixed it!",
        "Order number is {n}.",
        "Is there a fee for cancelling?",
    ];
    const AGENT: [&str; 8] = [
        "Thanks for reaching out, let me look into that.",
        "I can see the duplicate charge; I've issued a refund.",
        "Could you confirm the order number, please?",
        "I've updated your details, anything else?",
        "The courier shows it out for delivery today.",
        "There's no fee if you cancel within 14 days.",
        "I've reset your session; please try again.",
        "Happy to help, have a great day!",
    ];
    let pool = if from_customer { &CUSTOMER } else { &AGENT };
    pool[rng.random_range(0..pool.len())]
        .replace("{n}", &rng.random_range(100_000..999_999).to_string())
}

fn generate_conversation(
    config: &DatasetConfig,
    rng: &mut ChaCha8Rng,
    index: u32,
    start: Timestamp,
    latest_end: Timestamp,
) -> SimConversation {
    let id = random_uuid(rng);
    let media_type = if rng.random_bool(config.voice_rate.clamp(0.0, 1.0)) {
        SimMedia::Voice
    } else {
        match rng.random_range(0..100) {
            0..30 => SimMedia::Chat,
            30..55 => SimMedia::Email,
            _ => SimMedia::Message,
        }
    };
    let message_type = (media_type == SimMedia::Message).then(|| pick_message_type(rng));
    let direction = if rng.random_bool(0.85) {
        Direction::Inbound
    } else {
        Direction::Outbound
    };
    let division = rng.random_range(0..3u8);
    let queue = rng.random_range(0..QUEUE_NAMES.len() as u8);
    let open = rng.random_bool(config.open_rate.clamp(0.0, 1.0));
    let transferred = media_type.is_text() && rng.random_bool(config.transfer_rate.clamp(0.0, 1.0));
    let unrecorded =
        media_type.is_text() && rng.random_bool(config.unrecorded_rate.clamp(0.0, 1.0));

    let duration = match media_type {
        SimMedia::Voice => minutes(rng, 2, 20),
        SimMedia::Chat => minutes(rng, 3, 40),
        SimMedia::Email => minutes(rng, 5, 90),
        SimMedia::Message => minutes(rng, 4, 60),
    };
    let queue_wait = SignedDuration::from_secs(rng.random_range(5..=180));
    let end = (!open).then(|| {
        (start + duration)
            .min(latest_end)
            .max(start + queue_wait + SignedDuration::from_secs(30))
    });

    // Agent sessions: one, or two for a transfer (the second starts where the first ends).
    let agent_start = start + queue_wait;
    let session_count = if transferred { 2 } else { 1 };
    let split = end.map(|end| {
        agent_start
            + SignedDuration::from_millis(end.duration_since(agent_start).as_millis() as i64 / 2)
    });
    let mut sessions = Vec::with_capacity(session_count);
    let first_agent = rng.random_range(0..40u16);
    for position in 0..session_count {
        let s_start = if position == 0 {
            agent_start
        } else {
            split.unwrap_or(agent_start)
        };
        let s_end = if session_count == 2 && position == 0 {
            split
        } else {
            end
        };
        sessions.push(SimSession {
            id: random_uuid(rng),
            media_type,
            message_type,
            agent: (first_agent + position as u16 * 7) % 40,
            start: s_start,
            end: s_end,
            recorded: !open && !unrecorded,
        });
    }

    let archived = rng.random_bool(config.archived_rate.clamp(0.0, 1.0));
    let deleted = !archived && rng.random_bool(config.deleted_rate.clamp(0.0, 1.0));
    let mut recordings = Vec::new();
    for session in sessions.iter().filter(|s| s.recorded) {
        let s_end = session.end.unwrap_or(session.start);
        let (file_state, archive_date, delete_date) = if archived {
            (
                FileState::Archived,
                Some(s_end + SignedDuration::from_hours(1)),
                None,
            )
        } else if deleted {
            (
                FileState::Deleted,
                None,
                Some(s_end + SignedDuration::from_hours(2)),
            )
        } else {
            (
                FileState::Available,
                None,
                Some(s_end + SignedDuration::from_hours(24 * 365)),
            )
        };
        recordings.push(SimRecording {
            id: random_uuid(rng),
            session_id: session.id,
            media: media_type,
            file_state,
            archive_date,
            delete_date,
            start: session.start,
            end: s_end,
        });
    }

    let roll: f64 = rng.random();
    let recording_side = if open {
        // The recording side only ever sees finished interactions.
        RecordingSideState::Missing
    } else if !media_type.is_text() {
        RecordingSideState::Held
    } else if roll < config.missing_rate {
        RecordingSideState::Missing
    } else if sessions.len() > 1
        && rng.random_bool(
            (config.partial_rate / config.transfer_rate.max(f64::EPSILON)).clamp(0.0, 1.0),
        )
    {
        RecordingSideState::Partial {
            lacking_sessions: vec![sessions[sessions.len() - 1].id],
        }
    } else {
        RecordingSideState::Held
    };
    // Nothing recorded, nothing captured: the draws above still happen so the sequence (and the
    // rest of the seed's data) stays the same.
    let recording_side = if media_type.is_text() && recordings.is_empty() {
        RecordingSideState::Missing
    } else {
        recording_side
    };

    SimConversation {
        index,
        id,
        start,
        end,
        media_type,
        message_type,
        direction,
        division,
        queue,
        sessions,
        recordings,
        recording_side,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> Window {
        let start: Timestamp = "2026-11-20T00:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        Window {
            start,
            end: start + SignedDuration::from_hours(24),
        }
    }

    fn config(seed: u64, n: usize) -> DatasetConfig {
        DatasetConfig {
            missing_rate: 0.1,
            partial_rate: 0.05,
            ..DatasetConfig::new(seed, n, window())
        }
    }

    fn fingerprint(dataset: &Dataset) -> Vec<String> {
        dataset
            .conversations
            .iter()
            .map(|c| {
                let t: Vec<Value> = c
                    .recordings
                    .iter()
                    .flat_map(|r| dataset.transcript(c, r))
                    .collect();
                format!(
                    "{} {} {:?} {:?} {:?} {}",
                    c.id,
                    c.start,
                    c.end,
                    c.media_type,
                    c.recording_side,
                    serde_json::to_string(&t).unwrap_or_default()
                )
            })
            .collect()
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let a = Dataset::generate(&config(7, 300));
        let b = Dataset::generate(&config(7, 300));
        let c = Dataset::generate(&config(8, 300));
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn conversations_start_in_the_window_in_order() {
        let dataset = Dataset::generate(&config(1, 2000));
        let w = window();
        assert_eq!(dataset.conversations.len(), 2000);
        for pair in dataset.conversations.windows(2) {
            assert!(pair[0].start <= pair[1].start);
        }
        for (i, c) in dataset.conversations.iter().enumerate() {
            assert_eq!(c.index as usize, i);
            assert!(c.start >= w.start && c.start < w.end);
            if let Some(end) = c.end {
                assert!(end > c.start);
            }
        }
    }

    #[test]
    fn the_mix_holds_every_case_the_pipeline_must_handle() {
        let dataset = Dataset::generate(&config(3, 5000));
        let cs = &dataset.conversations;
        let has = |f: &dyn Fn(&SimConversation) -> bool| cs.iter().any(f);
        assert!(has(&|c| c.media_type == SimMedia::Voice));
        assert!(has(&|c| c.media_type == SimMedia::Chat));
        assert!(has(&|c| c.media_type == SimMedia::Email));
        for kind in [
            MessageType::Sms,
            MessageType::WhatsApp,
            MessageType::Facebook,
            MessageType::WebMessaging,
        ] {
            assert!(has(&|c| c.message_type == Some(kind)), "{kind:?}");
        }
        assert!(has(&|c| c.end.is_none()));
        assert!(has(&|c| c.is_text()
            && c.is_completed()
            && c.sessions.iter().all(|s| !s.recorded)));
        assert!(has(&|c| c
            .recordings
            .iter()
            .any(|r| r.file_state == FileState::Archived)));
        assert!(has(&|c| c
            .recordings
            .iter()
            .any(|r| r.file_state == FileState::Deleted)));
        assert!(has(&|c| c.sessions.len() == 2 && c.recordings.len() == 2));
        assert!(has(&|c| matches!(
            c.recording_side,
            RecordingSideState::Partial { .. }
        )));
        // Unrecorded conversations are always missing; the rate applies to the recorded ones.
        let recorded =
            |c: &&SimConversation| c.is_text() && c.is_completed() && !c.recordings.is_empty();
        let missing = cs
            .iter()
            .filter(recorded)
            .filter(|c| c.recording_side == RecordingSideState::Missing)
            .count();
        let text = cs.iter().filter(recorded).count();
        let rate = missing as f64 / text as f64;
        assert!((0.07..0.13).contains(&rate), "missing rate {rate}");
    }

    #[test]
    fn partial_lacks_the_later_session_of_a_transfer() {
        let dataset = Dataset::generate(&config(4, 5000));
        for c in &dataset.conversations {
            if let RecordingSideState::Partial { lacking_sessions } = &c.recording_side {
                assert_eq!(c.sessions.len(), 2);
                assert_eq!(lacking_sessions, &vec![c.sessions[1].id]);
                assert_eq!(c.held_sessions().len(), 1);
            }
        }
    }

    #[test]
    fn expected_missing_counts_only_recoverable_withheld_conversations() {
        let dataset = Dataset::generate(&config(5, 5000));
        let expected = dataset.expected_missing();
        let by_hand = dataset
            .conversations
            .iter()
            .filter(|c| {
                c.is_text() && c.end.is_some() && c.recording_side != RecordingSideState::Held
            })
            .filter(|c| {
                c.recordings.iter().any(|r| {
                    r.file_state == FileState::Available
                        && match &c.recording_side {
                            RecordingSideState::Partial { lacking_sessions } => {
                                lacking_sessions.contains(&r.session_id)
                            }
                            _ => true,
                        }
                })
            })
            .count();
        assert_eq!(expected, by_hand);
        assert!(expected > 0);
        // Withheld conversations whose recordings are all archived or deleted are not expected.
        assert!(dataset.conversations.iter().any(|c| c.recording_side
            == RecordingSideState::Missing
            && c.is_completed()
            && c.is_text()
            && !c.recordings.is_empty()
            && !c.has_available_recording()
            && !c.is_expected_missing()));
    }

    #[test]
    fn transcripts_have_the_shape_of_their_media() {
        let dataset = Dataset::generate(&config(6, 500));
        let mut seen = std::collections::HashSet::new();
        for c in &dataset.conversations {
            for r in &c.recordings {
                let t = dataset.transcript(c, r);
                if r.file_state != FileState::Available || !r.media.is_text() {
                    assert!(t.is_empty());
                    continue;
                }
                assert!(!t.is_empty());
                let key = match r.media {
                    SimMedia::Chat => "body",
                    SimMedia::Email => "textBody",
                    SimMedia::Message => "messageText",
                    SimMedia::Voice => "none",
                };
                assert!(t.iter().all(|e| e.get(key).is_some()), "{key}");
                seen.insert(key);
            }
        }
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn participants_are_stable_and_have_agents_per_session() {
        let dataset = Dataset::generate(&config(9, 200));
        for c in &dataset.conversations {
            let p = dataset.participants(c);
            let again = dataset.participants(c);
            assert_eq!(
                p.iter().map(|x| x.id).collect::<Vec<_>>(),
                again.iter().map(|x| x.id).collect::<Vec<_>>()
            );
            assert_eq!(p[0].purpose, "customer");
            assert_eq!(
                p.iter().filter(|x| x.purpose == c.agent_purpose()).count(),
                c.sessions.len()
            );
        }
    }

    fn on_a_whole_minute(c: &SimConversation) -> bool {
        c.start.as_millisecond().rem_euclid(60_000) == 0
    }

    #[test]
    fn some_conversations_start_on_a_whole_minute_inside_the_window() {
        let dataset = Dataset::generate(&config(12, 5000));
        let w = window();
        let aligned = dataset
            .conversations
            .iter()
            .filter(|c| on_a_whole_minute(c))
            .count();
        // 2% of 5000, give or take; a random millisecond start is almost never aligned.
        assert!((50..=160).contains(&aligned), "{aligned} aligned starts");
        for pair in dataset.conversations.windows(2) {
            assert!(pair[0].start <= pair[1].start);
        }
        assert!(
            dataset
                .conversations
                .iter()
                .all(|c| c.start >= w.start && c.start < w.end)
        );

        // Every start aligned, even in a window that does not begin on a whole minute.
        let odd = Window {
            start: w.start + SignedDuration::from_millis(12_345),
            end: w.start + SignedDuration::from_hours(2),
        };
        let all = Dataset::generate(&DatasetConfig {
            aligned_start_rate: 1.0,
            ..DatasetConfig::new(12, 500, odd)
        });
        for c in &all.conversations {
            assert!(on_a_whole_minute(c), "{}", c.start);
            assert!(c.start >= odd.start && c.start < odd.end, "{}", c.start);
        }
    }

    #[test]
    fn aligning_starts_leaves_the_rest_of_the_seed_alone() {
        let plain = Dataset::generate(&DatasetConfig {
            aligned_start_rate: 0.0,
            ..config(13, 3000)
        });
        let aligned = Dataset::generate(&config(13, 3000));
        assert_eq!(plain.agents, aligned.agents);
        assert_eq!(plain.queues, aligned.queues);
        // Same conversations by position, only their starts moved within their minute.
        let minute = |t: Timestamp| t.as_millisecond().div_euclid(60_000);
        let mut moved = 0;
        for (a, b) in plain.conversations.iter().zip(&aligned.conversations) {
            assert_eq!(a.id, b.id);
            assert_eq!(a.media_type, b.media_type);
            assert_eq!(a.recording_side, b.recording_side);
            if a.start != b.start {
                moved += 1;
            }
        }
        assert!(moved > 0);
        let mut a: Vec<i64> = plain
            .conversations
            .iter()
            .map(|c| minute(c.start))
            .collect();
        let mut b: Vec<i64> = aligned
            .conversations
            .iter()
            .map(|c| minute(c.start))
            .collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    }

    #[test]
    fn unrecorded_text_conversations_are_never_held() {
        let dataset = Dataset::generate(&config(14, 5000));
        let unrecorded: Vec<&SimConversation> = dataset
            .conversations
            .iter()
            .filter(|c| c.is_text() && c.recordings.is_empty())
            .collect();
        assert!(unrecorded.iter().any(|c| c.is_completed()));
        for c in &unrecorded {
            assert_eq!(c.recording_side, RecordingSideState::Missing, "{}", c.id);
            assert!(c.held_sessions().is_empty());
            assert!(!c.is_expected_missing());
        }
    }

    #[test]
    fn outbound_agent_legs_are_users() {
        let dataset = Dataset::generate(&config(15, 1000));
        let mut seen = [false; 2];
        for c in &dataset.conversations {
            let legs: Vec<SimParticipant> = dataset
                .participants(c)
                .into_iter()
                .filter(|p| p.agent_session.is_some())
                .collect();
            let wanted = match c.direction {
                Direction::Inbound => "agent",
                Direction::Outbound => "user",
            };
            seen[(c.direction == Direction::Outbound) as usize] = true;
            assert_eq!(legs.len(), c.sessions.len());
            assert!(legs.iter().all(|p| p.purpose == wanted));
            // The agent's transcript entries name the same purpose.
            if let Some(r) = c
                .recordings
                .iter()
                .find(|r| r.file_state == FileState::Available && r.media == SimMedia::Message)
            {
                assert!(
                    dataset
                        .transcript(c, r)
                        .iter()
                        .filter_map(|e| e["purpose"].as_str())
                        .all(|p| p == "customer" || p == wanted)
                );
            }
        }
        assert_eq!(seen, [true, true]);
    }

    #[test]
    fn expected_not_recorded_counts_completed_unrecorded_text() {
        let dataset = Dataset::generate(&config(16, 5000));
        let by_hand = dataset
            .conversations
            .iter()
            .filter(|c| {
                c.is_text()
                    && c.end.is_some()
                    && c.sessions.iter().all(|s| !s.recorded)
                    && c.recording_side == RecordingSideState::Missing
            })
            .count();
        assert_eq!(dataset.expected_not_recorded(), by_hand);
        assert!(by_hand > 50, "{by_hand}");
        // Open ones have no recording either, but are not expected to end notRecorded.
        assert!(
            dataset
                .conversations
                .iter()
                .any(|c| c.is_text() && !c.is_completed() && c.recordings.is_empty())
        );
        assert!(
            dataset
                .conversations
                .iter()
                .filter(|c| !c.is_completed())
                .all(|c| !c.is_expected_not_recorded())
        );
    }
}

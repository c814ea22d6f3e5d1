//! The dataset's vocabulary: media, channels, file states and directions, and the conversation,
//! session, recording and participant records the generator fills in.

use jiff::Timestamp;
use uuid::Uuid;

use super::RecordingSideState;

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

    /// The conversation as Genesys shows it at `now`: one that ends later is still open then
    /// (no end, its sessions that end later open too), so a dataset reaching past now has
    /// conversations that close while a schedule runs.
    pub fn as_of(&self, now: Timestamp) -> std::borrow::Cow<'_, SimConversation> {
        if self.end.is_none_or(|end| end <= now) {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut open = self.clone();
        open.end = None;
        for session in &mut open.sessions {
            session.end = session.end.filter(|end| *end <= now);
        }
        std::borrow::Cow::Owned(open)
    }

    /// conversationEnd as Genesys shows it at `now` (None while open).
    pub fn end_as_of(&self, now: Timestamp) -> Option<Timestamp> {
        self.end.filter(|end| *end <= now)
    }

    /// True when at least one recording is downloadable.
    pub fn has_available_recording(&self) -> bool {
        self.recordings
            .iter()
            .any(|r| r.file_state == FileState::Available)
    }

    /// The purpose of this conversation's agent participants: Genesys lists the agent who places
    /// an outbound interaction as `user`; both values name agent legs.
    pub fn agent_purpose(&self) -> &'static str {
        match self.direction {
            Direction::Inbound => "agent",
            Direction::Outbound => "user",
        }
    }
}

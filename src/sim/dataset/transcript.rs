//! The transcript of one recording, in the Genesys shape of its media, drawn on demand from the
//! seed, so Genesys serving it and Capture comparing it see the same content.

use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use uuid::Uuid;

use super::draw::{content_rng, random_uuid};
use super::{Dataset, FileState, SimConversation, SimMedia, SimParticipant, SimRecording};

impl Dataset {
    /// The transcript of one recording, in the Genesys shape for its media (ChatMessage,
    /// RecordingEmailMessage or RecordingMessagingMessage entries). Generated from the seed, so
    /// the same for every caller. Empty for voice and for recordings that are not available.
    pub fn transcript(
        &self,
        conversation: &SimConversation,
        recording: &SimRecording,
    ) -> Vec<Value> {
        if recording.file_state != FileState::Available {
            return Vec::new();
        }
        self.recorded_transcript(conversation, recording)
    }

    /// The transcript a recording holds whether or not it can be read now: an archived one's
    /// is served once it is restored. Empty for voice and for deleted recordings.
    pub fn recorded_transcript(
        &self,
        conversation: &SimConversation,
        recording: &SimRecording,
    ) -> Vec<Value> {
        if recording.file_state == FileState::Deleted || !recording.media.is_text() {
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
            let from_customer = turn % 2 == 0;
            let line = sentence(&mut rng, from_customer);
            let turn = Turn {
                id: random_uuid(&mut rng),
                at: recording.start + SignedDuration::from_millis(step * (turn as i64 + 1)),
                line,
                from_customer,
                customer,
                agent,
            };
            entries.push(match recording.media {
                SimMedia::Chat => turn.chat_message(),
                SimMedia::Email => turn.email_message(conversation.index),
                _ => turn.messaging_message(recording.session_id),
            });
        }
        strip_nulls(&mut entries);
        entries
    }
}

/// One line of a transcript, before it takes the shape of its media.
struct Turn<'a> {
    id: Uuid,
    at: Timestamp,
    line: String,
    from_customer: bool,
    customer: &'a SimParticipant,
    agent: &'a SimParticipant,
}

impl Turn<'_> {
    fn speaker(&self) -> &SimParticipant {
        if self.from_customer {
            self.customer
        } else {
            self.agent
        }
    }

    fn purpose(&self) -> &'static str {
        if self.from_customer {
            "customer"
        } else {
            self.agent.purpose
        }
    }

    /// A ChatMessage.
    fn chat_message(&self) -> Value {
        let agent = self.agent;
        json!({
            "id": self.id.to_string(),
            "body": self.line,
            "bodyType": "STANDARD",
            "utc": self.at.as_millisecond().to_string(),
            "participantPurpose": self.purpose(),
            "senderCommunicationId": self.speaker().id.to_string(),
            "user": if self.from_customer { Value::Null } else {
                json!({"id": agent.user_id.map(|u| u.to_string()), "displayName": agent.name})
            },
        })
    }

    /// A RecordingEmailMessage; `case` numbers the subject.
    fn email_message(&self, case: u32) -> Value {
        let speaker = self.speaker();
        let to = if self.from_customer {
            self.agent
        } else {
            self.customer
        };
        json!({
            "id": self.id.to_string(),
            "from": {"email": email_of(&speaker.name), "name": speaker.name},
            "to": [{"email": email_of(&to.name), "name": to.name}],
            "subject": format!("Case {case}"),
            "textBody": self.line,
            "htmlBody": format!("<p>{}</p>", self.line),
            "time": self.at.to_string(),
        })
    }

    /// A RecordingMessagingMessage of the agent session `session_id`.
    fn messaging_message(&self, session_id: Uuid) -> Value {
        let (customer, agent) = (self.customer, self.agent);
        json!({
            "id": self.id.to_string(),
            "from": if self.from_customer { customer.own_session.map(|s| s.to_string()) } else { Some(session_id.to_string()) },
            "fromUser": if self.from_customer { Value::Null } else {
                json!({"id": agent.user_id.map(|u| u.to_string()), "name": agent.name})
            },
            "to": if self.from_customer { session_id.to_string() } else { customer.id.to_string() },
            "timestamp": self.at.to_string(),
            "purpose": self.purpose(),
            "participantId": self.speaker().id.to_string(),
            "messageText": self.line,
            "status": "delivered",
        })
    }
}

/// Drops null fields: Genesys leaves absent fields out.
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

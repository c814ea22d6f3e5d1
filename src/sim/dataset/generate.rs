//! The seeded generator: the organisation (divisions, queues, agents, flows) and every
//! conversation with its sessions and recordings, in start order. The draws run in a fixed order
//! (each step below takes its turn of the one generator), so the same config gives the same data.

use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::draw::{person_name, random_uuid};
use super::holdings::draw_holding;
use super::{
    Dataset, DatasetConfig, Direction, FileState, MessageType, SimConversation, SimMedia,
    SimRecording, SimSession,
};

const QUEUE_NAMES: [&str; 6] = [
    "Billing",
    "Technical Support",
    "Sales",
    "Retentions",
    "Claims",
    "General Enquiries",
];

/// Agents of the generated organisation.
const AGENTS: u16 = 40;

impl Dataset {
    /// Generates the dataset `config` describes. Deterministic in `config`.
    pub fn generate(config: &DatasetConfig) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let divisions = (0..3).map(|_| random_uuid(&mut rng)).collect();
        let queues = QUEUE_NAMES
            .iter()
            .map(|name| (random_uuid(&mut rng), name.to_string()))
            .collect();
        let agents = (0..AGENTS)
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
        config.profile.shape(&mut starts, window);
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

/// One conversation starting at `start`: its kind, times, agent sessions, recordings and what
/// the recording side holds of it, drawn in that order.
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

    let (agent_start, end) = draw_times(rng, media_type, start, latest_end, open);
    let sessions = draw_sessions(
        rng,
        SessionPlan {
            media_type,
            message_type,
            agent_start,
            end,
            count: if transferred { 2 } else { 1 },
            recorded: !open && !unrecorded,
        },
    );
    let recordings = draw_recordings(config, rng, &sessions);
    let recording_side = draw_holding(config, rng, open, media_type, &sessions, &recordings);

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

fn minutes(rng: &mut ChaCha8Rng, low: i64, high: i64) -> SignedDuration {
    SignedDuration::from_secs(rng.random_range(low * 60..=high * 60))
}

/// When the first agent picks the conversation up, and when it ends (None while open).
fn draw_times(
    rng: &mut ChaCha8Rng,
    media_type: SimMedia,
    start: Timestamp,
    latest_end: Timestamp,
    open: bool,
) -> (Timestamp, Option<Timestamp>) {
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
    (start + queue_wait, end)
}

/// What the agent sessions of one conversation are made from.
struct SessionPlan {
    media_type: SimMedia,
    message_type: Option<MessageType>,
    agent_start: Timestamp,
    end: Option<Timestamp>,
    /// One, or two for a transfer.
    count: usize,
    recorded: bool,
}

/// The agent sessions: one, or two for a transfer (the second starts where the first ends).
fn draw_sessions(rng: &mut ChaCha8Rng, plan: SessionPlan) -> Vec<SimSession> {
    let SessionPlan {
        media_type,
        message_type,
        agent_start,
        end,
        count,
        recorded,
    } = plan;
    let split = end.map(|end| {
        agent_start
            + SignedDuration::from_millis(end.duration_since(agent_start).as_millis() as i64 / 2)
    });
    let mut sessions = Vec::with_capacity(count);
    let first_agent = rng.random_range(0..AGENTS);
    for position in 0..count {
        let s_start = if position == 0 {
            agent_start
        } else {
            split.unwrap_or(agent_start)
        };
        let s_end = if count == 2 && position == 0 {
            split
        } else {
            end
        };
        sessions.push(SimSession {
            id: random_uuid(rng),
            media_type,
            message_type,
            agent: (first_agent + position as u16 * 7) % AGENTS,
            start: s_start,
            end: s_end,
            recorded,
        });
    }
    sessions
}

/// One recording per recorded session; archived or deleted all together, as a retention policy
/// treats a conversation.
fn draw_recordings(
    config: &DatasetConfig,
    rng: &mut ChaCha8Rng,
    sessions: &[SimSession],
) -> Vec<SimRecording> {
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
            media: session.media_type,
            file_state,
            archive_date,
            delete_date,
            start: session.start,
            end: s_end,
        });
    }
    recordings
}

//! The dataset's tests: determinism per seed, the mix of cases, holdings, expectations, and the
//! shape of participants and transcripts.

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::*;
use crate::api::Window;

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
        .filter(|c| c.is_text() && c.end.is_some() && c.recording_side != RecordingSideState::Held)
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
    assert!(
        dataset
            .conversations
            .iter()
            .any(|c| c.recording_side == RecordingSideState::Missing
                && c.is_completed()
                && c.is_text()
                && !c.recordings.is_empty()
                && !c.has_available_recording()
                && !c.is_expected_missing())
    );
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

#[test]
fn business_hours_move_only_the_starts_and_make_them_ten_times_denser_by_day() {
    let uniform = Dataset::generate(&config(17, 20_000));
    let busy = Dataset::generate(&DatasetConfig {
        profile: StartProfile::BusinessHours,
        ..config(17, 20_000)
    });
    let again = Dataset::generate(&DatasetConfig {
        profile: StartProfile::BusinessHours,
        ..config(17, 20_000)
    });
    let times = |d: &Dataset| -> Vec<(Timestamp, Option<Timestamp>)> {
        d.conversations.iter().map(|c| (c.start, c.end)).collect()
    };
    assert_eq!(times(&busy), times(&again));
    // Conversation by conversation, the seed's draws are the same: only times moved.
    let mut moved = 0;
    for (u, b) in uniform.conversations.iter().zip(&busy.conversations) {
        assert_eq!(u.id, b.id);
        assert_eq!(u.media_type, b.media_type);
        assert_eq!(u.end.is_none(), b.end.is_none());
        assert_eq!(u.recording_side, b.recording_side);
        let states = |c: &SimConversation| -> Vec<FileState> {
            c.recordings.iter().map(|r| r.file_state).collect()
        };
        assert_eq!(states(u), states(b));
        moved += usize::from(u.start != b.start);
    }
    assert!(moved > 10_000, "{moved}");
    assert_eq!(
        uniform.expected_not_recorded(),
        busy.expected_not_recorded()
    );
    assert!(
        busy.conversations
            .windows(2)
            .all(|w| w[0].start <= w[1].start)
    );
    // The window is one whole UTC day: 10 business hours at 10x against 14 hours at 1x.
    let inside = |d: &Dataset| {
        d.conversations
            .iter()
            .filter(|c| in_business_hours(c.start))
            .count() as f64
            / d.conversations.len() as f64
    };
    let expected = 100.0 / 114.0;
    assert!((inside(&busy) - expected).abs() < 0.01, "{}", inside(&busy));
    assert!((inside(&uniform) - 10.0 / 24.0).abs() < 0.02);
}

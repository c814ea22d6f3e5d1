//! The matcher's tests: worked examples, properties against a naive model of design.md
//! section 7, page-at-a-time against one at a time, and chunked against whole.

use std::collections::{HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::api::{MatchCounts, MediaType, Window};
use crate::pipeline::shard::slices;

/// 2026-11-20T00:00:00Z
const BASE: i64 = 1_795_132_800;
const DAY: i64 = 86_400;

fn ts(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn day_window() -> Window {
    Window {
        start: ts(BASE),
        end: ts(BASE + DAY),
    }
}

fn config(slice: Window, media_types: Vec<MediaType>) -> MatchConfig {
    MatchConfig {
        slice,
        media_types,
        message_types: Vec::new(),
        settle_delay: SignedDuration::from_mins(30),
        now: ts(BASE + DAY + 3600),
        tolerance: DEFAULT_TOLERANCE,
        trust_recording_flag: false,
    }
}

fn conv_id(n: u32) -> Uuid {
    Uuid::from_u128(0xC0C0_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

fn session_id(n: u32) -> Uuid {
    Uuid::from_u128(0x5E55_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

/// Owned form of a contact, so tests can build and shuffle them.
#[derive(Clone, Debug)]
struct OwnedContact {
    contact_id: String,
    external_id: Option<String>,
    start_time: Option<Timestamp>,
    session_ids: Vec<String>,
    media_type: Option<MediaType>,
}

impl OwnedContact {
    fn record(&self) -> ContactRecord<'_> {
        ContactRecord {
            contact_id: &self.contact_id,
            external_id: self.external_id.as_deref(),
            start_time: self.start_time,
            session_ids: &self.session_ids,
            media_type: self.media_type,
        }
    }
}

fn contact_for(conv: &ConversationSummary, sessions: &[Uuid]) -> OwnedContact {
    OwnedContact {
        contact_id: format!("c-{}", conv.conversation_id),
        external_id: Some(conv.conversation_id.to_string()),
        start_time: Some(conv.start),
        session_ids: sessions.iter().map(Uuid::to_string).collect(),
        media_type: conv.sessions.first().and_then(|s| s.media_type),
    }
}

/// A chat session whose analytics `recording` flag is `true` when `flagged`, absent otherwise
/// (what Genesys documents for text).
fn chat_session(n: u32, flagged: bool) -> SessionSummary {
    SessionSummary {
        session_id: session_id(n),
        media_type: Some(MediaType::Chat),
        message_type: None,
        recording_flag: flagged.then_some(true),
    }
}

fn conversation(n: u32, start: i64, sessions: Vec<SessionSummary>) -> ConversationSummary {
    ConversationSummary {
        conversation_id: conv_id(n),
        start: ts(start),
        end: Some(ts(start + 600)),
        sessions,
    }
}

fn run(
    config: MatchConfig,
    contacts: &[OwnedContact],
    conversations: &[ConversationSummary],
) -> (Vec<Verdict>, MatchReport) {
    match_all(
        config,
        contacts.iter().map(OwnedContact::record),
        conversations,
    )
}

// ---------------------------------------------------------------- examples

#[test]
fn classifies_matched_missing_partial_and_extra() {
    let window = day_window();
    let held = conversation(1, BASE + 100, vec![chat_session(1, true)]);
    let lost = conversation(2, BASE + 200, vec![chat_session(2, true)]);
    let transfer = conversation(
        3,
        BASE + 300,
        vec![chat_session(3, true), chat_session(4, true)],
    );
    let contacts = vec![
        contact_for(&held, &[session_id(1)]),
        contact_for(&transfer, &[session_id(3)]),
        OwnedContact {
            contact_id: "orphan".into(),
            external_id: Some(conv_id(99).to_string()),
            start_time: Some(ts(BASE + 400)),
            session_ids: vec![],
            media_type: Some(MediaType::Email),
        },
    ];
    let (verdicts, report) = run(
        config(window, MediaType::ALL.to_vec()),
        &contacts,
        &[held, lost, transfer],
    );
    let categories: Vec<_> = verdicts.iter().map(|v| v.category.clone()).collect();
    assert_eq!(
        categories,
        vec![
            Category::Matched,
            Category::Missing,
            Category::Partial {
                lacking: vec![session_id(4)]
            }
        ]
    );
    assert_eq!(report.extras, vec![conv_id(99)]);
    assert_eq!(
        report.totals,
        MatchCounts {
            genesys: 3,
            recording_side: 3,
            matched: 1,
            missing: 1,
            partial: 1,
            skipped: 0,
            extra: 1
        }
    );
    assert_eq!(report.by_media_type[&MediaType::Chat].genesys, 3);
    assert_eq!(report.by_media_type[&MediaType::Chat].extra, 0);
    // The orphan is an email contact: an email extra, with no email conversation.
    assert_eq!(
        report.by_media_type[&MediaType::Email],
        MatchCounts {
            extra: 1,
            ..MatchCounts::default()
        }
    );
}

#[test]
fn skips_with_reasons() {
    let window = day_window();
    let cfg = config(window, vec![MediaType::Chat, MediaType::Social]);
    let now = cfg.now.as_second();
    let mut open = conversation(1, BASE + 10, vec![chat_session(1, true)]);
    open.end = None;
    // Ended 10 minutes before now, settle delay is 30 minutes.
    let mut recent = conversation(2, BASE + 20, vec![chat_session(2, true)]);
    recent.end = Some(ts(now - 600));
    let mut email = conversation(3, BASE + 30, vec![chat_session(3, true)]);
    email.sessions[0].media_type = Some(MediaType::Email);
    let mut voice = conversation(4, BASE + 40, vec![chat_session(4, true)]);
    voice.sessions[0].media_type = None;
    let unflagged = conversation(5, BASE + 50, vec![chat_session(5, false)]);
    let mut trusting = cfg.clone();
    trusting.trust_recording_flag = true;
    let (verdicts, report) = run(trusting, &[], &[open, recent, email, voice, unflagged]);
    let reasons: Vec<_> = verdicts.iter().map(|v| v.category.clone()).collect();
    assert_eq!(
        reasons,
        vec![
            Category::Skipped(SkipReason::NotSettled),
            Category::Skipped(SkipReason::NotSettled),
            Category::Skipped(SkipReason::MediaTypeNotRequested),
            Category::Skipped(SkipReason::MediaTypeNotRequested),
            Category::Skipped(SkipReason::NoRecordingFlag),
        ]
    );
    assert_eq!(report.totals.skipped, 5);
    assert_eq!(report.skipped_by_reason[&SkipReason::NotSettled], 2);
}

#[test]
fn settled_exactly_at_the_delay_counts() {
    let cfg = config(day_window(), vec![MediaType::Chat]);
    let mut c = conversation(1, BASE + 10, vec![chat_session(1, true)]);
    c.end = Some(cfg.now.checked_sub(cfg.settle_delay).unwrap());
    let (verdicts, _) = run(cfg, &[], &[c]);
    assert_eq!(verdicts[0].category, Category::Missing);
}

#[test]
fn message_types_narrow_social() {
    let mut cfg = config(day_window(), vec![MediaType::Social]);
    cfg.message_types = vec!["whatsapp".into()];
    let mut sms = conversation(1, BASE + 10, vec![chat_session(1, true)]);
    sms.sessions[0].media_type = Some(MediaType::Social);
    sms.sessions[0].message_type = Some("sms".into());
    let mut whatsapp = sms.clone();
    whatsapp.conversation_id = conv_id(2);
    whatsapp.sessions[0].message_type = Some("WhatsApp".into());
    let (verdicts, _) = run(cfg, &[], &[sms, whatsapp]);
    assert_eq!(
        verdicts[0].category,
        Category::Skipped(SkipReason::MediaTypeNotRequested)
    );
    assert_eq!(verdicts[1].category, Category::Missing);
}

#[test]
fn a_missing_or_false_recording_flag_never_skips_a_text_conversation() {
    let cfg = config(day_window(), vec![MediaType::Chat]);
    let absent = conversation(1, BASE + 10, vec![chat_session(1, false)]);
    let mut flagged_false = conversation(2, BASE + 20, vec![chat_session(2, false)]);
    flagged_false.sessions[0].recording_flag = Some(false);
    let held = conversation(3, BASE + 30, vec![chat_session(3, false)]);
    let contacts = vec![contact_for(&held, &[session_id(3)])];
    let (verdicts, report) = run(cfg, &contacts, &[absent, flagged_false, held]);
    let categories: Vec<_> = verdicts.iter().map(|v| v.category.clone()).collect();
    assert_eq!(
        categories,
        vec![Category::Missing, Category::Missing, Category::Matched]
    );
    assert_eq!(report.totals.skipped, 0);
}

#[test]
fn every_agent_text_session_is_expected_of_the_contact_without_the_flag() {
    let c = conversation(
        1,
        BASE + 10,
        vec![chat_session(1, true), chat_session(2, false)],
    );
    let contacts = vec![contact_for(&c, &[session_id(1)])];
    let (verdicts, _) = run(config(day_window(), vec![MediaType::Chat]), &contacts, &[c]);
    assert_eq!(
        verdicts[0].category,
        Category::Partial {
            lacking: vec![session_id(2)]
        }
    );
}

#[test]
fn a_trusted_flag_requires_only_flagged_sessions_of_the_contact() {
    let c = conversation(
        1,
        BASE + 10,
        vec![chat_session(1, true), chat_session(2, false)],
    );
    let contacts = vec![contact_for(&c, &[session_id(1)])];
    let mut cfg = config(day_window(), vec![MediaType::Chat]);
    cfg.trust_recording_flag = true;
    let (verdicts, _) = run(cfg, &contacts, &[c]);
    assert_eq!(verdicts[0].category, Category::Matched);
}

#[test]
fn bad_contacts_are_anomalies_not_panics() {
    let window = day_window();
    let c = conversation(
        1,
        BASE + 10,
        vec![chat_session(1, true), chat_session(2, true)],
    );
    let contacts = vec![
        OwnedContact {
            contact_id: "no-external".into(),
            external_id: None,
            start_time: Some(ts(BASE)),
            session_ids: vec![],
            media_type: None,
        },
        OwnedContact {
            contact_id: "garbage".into(),
            external_id: Some("x".repeat(10_000)),
            start_time: Some(ts(BASE)),
            session_ids: vec![],
            media_type: None,
        },
        // The nil UUID is no Genesys id (and the index's empty-slot marker).
        OwnedContact {
            contact_id: "nil".into(),
            external_id: Some(Uuid::nil().to_string()),
            start_time: Some(ts(BASE)),
            session_ids: vec![],
            media_type: None,
        },
        // Two halves of the same conversation: merged, so it is matched.
        contact_for(&c, &[session_id(1)]),
        OwnedContact {
            session_ids: vec![session_id(2).to_string(), "not-a-session".into()],
            ..contact_for(&c, &[])
        },
        OwnedContact {
            contact_id: "far".into(),
            external_id: Some(conv_id(50).to_string()),
            start_time: Some(ts(BASE - 30 * DAY)),
            session_ids: vec![],
            media_type: None,
        },
        OwnedContact {
            contact_id: "timeless".into(),
            external_id: Some(conv_id(51).to_string()),
            start_time: None,
            session_ids: vec![],
            media_type: None,
        },
    ];
    let (verdicts, report) = run(
        config(window, vec![MediaType::Chat]),
        &contacts,
        &[c.clone(), c],
    );
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0].category, Category::Matched);
    let a = &report.anomalies;
    assert_eq!(a.count(AnomalyKind::ContactWithoutExternalId), 1);
    assert_eq!(a.count(AnomalyKind::InvalidExternalId), 2);
    assert_eq!(a.count(AnomalyKind::DuplicateContact), 1);
    assert_eq!(a.count(AnomalyKind::InvalidSessionId), 1);
    assert_eq!(a.count(AnomalyKind::ContactOutsideWindow), 1);
    assert_eq!(a.count(AnomalyKind::ContactWithoutStartTime), 1);
    assert_eq!(a.count(AnomalyKind::DuplicateConversation), 1);
    assert!(a.samples.iter().all(|s| s.subject.chars().count() <= 80));
    // Neither the far contact nor the timeless one is this slice's extra.
    assert!(report.extras.is_empty());
    assert_eq!(report.contacts_received, 7);
}

#[test]
fn contacts_of_neighbouring_slices_are_not_extras() {
    let window = day_window();
    let [first, second]: [Window; 2] = slices(window, 2).try_into().unwrap();
    // Starts in the second slice, its contact (within tolerance) lies in the first.
    let c = conversation(
        1,
        second.start.as_second() + 10,
        vec![chat_session(1, true)],
    );
    let mut contact = contact_for(&c, &[session_id(1)]);
    contact.start_time = Some(ts(second.start.as_second() - 60));
    let cfg = config(first, vec![MediaType::Chat]);
    let (verdicts, report) = run(
        cfg,
        std::slice::from_ref(&contact),
        std::slice::from_ref(&c),
    );
    assert!(verdicts.is_empty());
    assert_eq!(report.not_owned, 1);
    assert!(
        report.extras.is_empty(),
        "claimed by a conversation of the neighbour"
    );
}

#[test]
fn slices_cover_the_window_contiguously() {
    let window = Window {
        start: ts(BASE),
        end: ts(BASE + 7),
    };
    let parts = slices(window, 3);
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0].start, window.start);
    assert_eq!(parts[2].end, window.end);
    assert!(parts.windows(2).all(|p| p[0].end == p[1].start));
}

// ---------------------------------------------------------------- properties

fn media() -> impl Strategy<Value = Option<MediaType>> {
    prop_oneof![
        Just(None),
        Just(Some(MediaType::Chat)),
        Just(Some(MediaType::Email)),
        Just(Some(MediaType::Social)),
    ]
}

fn session_strategy() -> impl Strategy<Value = SessionSummary> {
    (
        0u32..40,
        media(),
        prop::option::of(prop_oneof![Just("sms"), Just("whatsapp")]),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(n, media_type, message_type, recording_flag)| SessionSummary {
                session_id: session_id(n),
                media_type,
                message_type: message_type.map(str::to_string),
                recording_flag,
            },
        )
}

/// Conversations with distinct ids; starts from two hours before the window to two after.
fn conversations_strategy() -> impl Strategy<Value = Vec<ConversationSummary>> {
    prop::collection::vec(
        (
            -7200i64..DAY + 7200,
            prop::option::of(0i64..DAY),
            prop::collection::vec(session_strategy(), 0..4),
        ),
        0..40,
    )
    .prop_map(|items| {
        items
            .into_iter()
            .enumerate()
            .map(|(i, (offset, duration, sessions))| ConversationSummary {
                conversation_id: conv_id(i as u32),
                start: ts(BASE + offset),
                end: duration.map(|d| ts(BASE + offset + d)),
                sessions,
            })
            .collect()
    })
}

fn external_id_strategy() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        6 => (0u32..50).prop_map(|n| Some(conv_id(n).to_string())),
        1 => Just(None),
        1 => Just(Some("not-a-uuid".to_string())),
    ]
}

fn contacts_strategy() -> impl Strategy<Value = Vec<OwnedContact>> {
    prop::collection::vec(
        (
            external_id_strategy(),
            prop::option::of(-3 * DAY..4 * DAY),
            prop::collection::vec(
                prop_oneof![
                    8 => (0u32..40).prop_map(|n| session_id(n).to_string()),
                    1 => Just("bad".to_string()),
                ],
                0..4,
            ),
        ),
        0..40,
    )
    .prop_map(|items| {
        items
            .into_iter()
            .enumerate()
            .map(|(i, (external_id, offset, session_ids))| OwnedContact {
                contact_id: format!("contact-{i}"),
                external_id,
                start_time: offset.map(|o| ts(BASE + o)),
                session_ids,
                media_type: None,
            })
            .collect()
    })
}

fn media_types_strategy() -> impl Strategy<Value = Vec<MediaType>> {
    prop::sample::subsequence(MediaType::ALL.to_vec(), 0..=3)
}

fn sorted(mut verdicts: Vec<Verdict>) -> Vec<Verdict> {
    verdicts.sort_by_key(|v| v.conversation_id);
    verdicts
}

/// A deliberately naive model of section 7, written without the index, to check the compact
/// implementation against.
fn naive_category(
    cfg: &MatchConfig,
    contacts: &[OwnedContact],
    c: &ConversationSummary,
) -> Category {
    let settled_by = cfg.now.checked_sub(cfg.settle_delay).unwrap();
    if c.end.is_none_or(|end| end > settled_by) {
        return Category::Skipped(SkipReason::NotSettled);
    }
    let requested: Vec<&SessionSummary> = c
        .sessions
        .iter()
        .filter(|s| s.media_type.is_some_and(|m| cfg.media_types.contains(&m)))
        .collect();
    if requested.is_empty() {
        return Category::Skipped(SkipReason::MediaTypeNotRequested);
    }
    let expected: Vec<&SessionSummary> = requested
        .iter()
        .copied()
        .filter(|s| !cfg.trust_recording_flag || s.recording_flag == Some(true))
        .collect();
    if expected.is_empty() {
        return Category::Skipped(SkipReason::NoRecordingFlag);
    }
    let id = c.conversation_id.to_string();
    let mine: Vec<&OwnedContact> = contacts
        .iter()
        .filter(|k| k.external_id.as_deref() == Some(id.as_str()))
        .collect();
    if mine.is_empty() {
        return Category::Missing;
    }
    let held: HashSet<&str> = mine
        .iter()
        .flat_map(|k| k.session_ids.iter().map(String::as_str))
        .collect();
    let mut lacking = Vec::new();
    for s in expected {
        if !held.contains(s.session_id.to_string().as_str()) && !lacking.contains(&s.session_id) {
            lacking.push(s.session_id);
        }
    }
    if lacking.is_empty() {
        Category::Matched
    } else {
        Category::Partial { lacking }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every conversation of the slice gets exactly one category, and the counts add up.
    #[test]
    fn every_owned_conversation_gets_exactly_one_category(
        conversations in conversations_strategy(),
        contacts in contacts_strategy(),
        media_types in media_types_strategy(),
        trust_recording_flag in any::<bool>(),
    ) {
        let window = day_window();
        let cfg = MatchConfig { trust_recording_flag, ..config(window, media_types) };
        let (verdicts, report) = run(cfg.clone(), &contacts, &conversations);
        let owned: Vec<Uuid> = conversations
            .iter()
            .filter(|c| c.start >= window.start && c.start < window.end)
            .map(|c| c.conversation_id)
            .collect();
        let mut ids: Vec<Uuid> = verdicts.iter().map(|v| v.conversation_id).collect();
        ids.sort();
        let mut expected = owned.clone();
        expected.sort();
        prop_assert_eq!(ids, expected);
        let t = report.totals;
        prop_assert_eq!(t.genesys, owned.len() as u64);
        prop_assert_eq!(t.matched + t.missing + t.partial + t.skipped, t.genesys);
        let count = |f: fn(&Category) -> bool| verdicts.iter().filter(|v| f(&v.category)).count() as u64;
        prop_assert_eq!(count(|c| matches!(c, Category::Matched)), t.matched);
        prop_assert_eq!(count(|c| matches!(c, Category::Missing)), t.missing);
        prop_assert_eq!(count(|c| matches!(c, Category::Partial { .. })), t.partial);
        prop_assert_eq!(count(|c| matches!(c, Category::Skipped(_))), t.skipped);
        prop_assert_eq!(report.skipped_by_reason.values().sum::<u64>(), t.skipped);
        prop_assert_eq!(report.not_owned, (conversations.len() - owned.len()) as u64);
        // And each category is the one the naive model of section 7 gives.
        let by_id: HashMap<Uuid, &ConversationSummary> =
            conversations.iter().map(|c| (c.conversation_id, c)).collect();
        for v in &verdicts {
            prop_assert_eq!(&v.category, &naive_category(&cfg, &contacts, by_id[&v.conversation_id]));
        }
    }

    /// Shards partition the window: each conversation is owned by exactly one slice if it starts
    /// in the window, by none otherwise.
    #[test]
    fn no_conversation_is_owned_by_two_slices(
        conversations in conversations_strategy(),
        shards in 1u32..9,
        span in 1i64..3 * DAY,
    ) {
        let window = Window { start: ts(BASE), end: ts(BASE + span) };
        let mut owners: HashMap<Uuid, u32> = HashMap::new();
        let mut genesys_total = 0;
        for slice in slices(window, shards) {
            let (verdicts, report) = run(config(slice, MediaType::ALL.to_vec()), &[], &conversations);
            genesys_total += report.totals.genesys;
            for v in verdicts {
                *owners.entry(v.conversation_id).or_default() += 1;
            }
        }
        for c in &conversations {
            let in_window = c.start >= window.start && c.start < window.end;
            prop_assert_eq!(owners.get(&c.conversation_id).copied().unwrap_or(0), u32::from(in_window));
        }
        prop_assert_eq!(genesys_total, owners.len() as u64);
    }

    /// A contact sharing a conversation's times and sessions but not its id never matches it.
    #[test]
    fn a_contact_never_matches_on_time_alone(
        conversations in conversations_strategy(),
        media_types in media_types_strategy(),
    ) {
        let window = day_window();
        // Perfect look-alikes, except for the id (offset past every generated conversation id).
        let lookalikes: Vec<OwnedContact> = conversations
            .iter()
            .map(|c| {
                let sessions: Vec<Uuid> = c.sessions.iter().map(|s| s.session_id).collect();
                let mut k = contact_for(c, &sessions);
                k.external_id = Some(conv_id(1000 + c.conversation_id.as_u128() as u32 % 1000).to_string());
                k
            })
            .collect();
        let (verdicts, report) = run(config(window, media_types), &lookalikes, &conversations);
        for v in &verdicts {
            prop_assert!(matches!(v.category, Category::Missing | Category::Skipped(_)), "{:?}", v);
        }
        let in_slice = lookalikes
            .iter()
            .filter(|k| k.start_time.is_some_and(|s| s >= window.start && s < window.end))
            .count();
        prop_assert_eq!(report.extras.len(), in_slice);
    }

    /// Shuffling contacts and conversations (including exact duplicates) changes nothing.
    #[test]
    fn result_does_not_depend_on_input_order(
        (conversations, shuffled_conversations) in conversations_strategy()
            .prop_map(|mut cs| { let dup: Vec<_> = cs.iter().take(3).cloned().collect(); cs.extend(dup); cs })
            .prop_flat_map(|cs| (Just(cs.clone()), Just(cs).prop_shuffle())),
        (contacts, shuffled_contacts) in contacts_strategy()
            .prop_flat_map(|ks| (Just(ks.clone()), Just(ks).prop_shuffle())),
        media_types in media_types_strategy(),
    ) {
        let cfg = config(day_window(), media_types);
        let (a, report_a) = run(cfg.clone(), &contacts, &conversations);
        let (b, report_b) = run(cfg, &shuffled_contacts, &shuffled_conversations);
        prop_assert_eq!(sorted(a), sorted(b));
        prop_assert_eq!(report_a.totals, report_b.totals);
        prop_assert_eq!(&report_a.by_media_type, &report_b.by_media_type);
        prop_assert_eq!(&report_a.extras, &report_b.extras);
        prop_assert_eq!(&report_a.anomalies.counts, &report_b.anomalies.counts);
    }
}

proptest! {
    /// The fast UUID parser agrees with the `uuid` crate on every input.
    #[test]
    fn fast_uuid_parsing_agrees_with_the_uuid_crate(
        id in any::<u128>(),
        upper in any::<bool>(),
        corrupt in prop::option::of((0usize..36, any::<char>())),
    ) {
        let mut text = Uuid::from_u128(id).hyphenated().to_string();
        if upper {
            text = text.to_uppercase();
        }
        if let Some((at, c)) = corrupt {
            let mut chars: Vec<char> = text.chars().collect();
            chars[at] = c;
            text = chars.into_iter().collect();
        }
        prop_assert_eq!(super::keys::parse_uuid(&text), Uuid::try_parse(&text).ok());
    }
}

proptest! {
    /// Page-at-a-time indexing and classifying give exactly what one-at-a-time gives.
    #[test]
    fn pages_match_one_at_a_time(
        conversations in conversations_strategy(),
        contacts in contacts_strategy(),
        page in 1usize..7,
    ) {
        let cfg = config(day_window(), MediaType::ALL.to_vec());
        let (one_by_one, report_a) = run(cfg.clone(), &contacts, &conversations);
        let mut index = ContactIndex::new(cfg.slice, cfg.tolerance);
        for chunk in contacts.chunks(page) {
            index.insert_page(chunk.iter().map(OwnedContact::record));
        }
        let mut matcher = Matcher::new(cfg, index);
        let mut paged = Vec::new();
        for chunk in conversations.chunks(page) {
            for classified in matcher.classify_page(chunk) {
                if let Classified::Owned(verdict) = classified {
                    paged.push(verdict);
                }
            }
        }
        let report_b = matcher.finish();
        prop_assert_eq!(one_by_one, paged);
        prop_assert_eq!(report_a, report_b);
    }
}

// ---------------------------------------------------------------- chunks

/// Matches `window` as the pipeline does with `chunks` time chunks: each chunk indexes the
/// contacts DAS returns for its widened range and classifies the conversations Genesys returns
/// for it (those starting in it), carrying edge contacts over to the next chunk.
fn run_chunked(
    cfg: &MatchConfig,
    chunks: u32,
    contacts: &[OwnedContact],
    conversations: &[ConversationSummary],
) -> (Vec<Verdict>, MatchReport) {
    let parts = slices(cfg.slice, chunks);
    let mut verdicts = Vec::new();
    let mut report = MatchReport::default();
    let mut carry = ChunkCarry::default();
    for (i, chunk) in parts.iter().enumerate() {
        let position = ChunkPosition::of(i, parts.len());
        let mut index = ContactIndex::for_chunk(*chunk, cfg.tolerance, position, 0);
        let range = index.query_range();
        index.insert_page(
            contacts
                .iter()
                .filter(|k| {
                    k.start_time
                        .is_some_and(|s| s >= range.start && s < range.end)
                })
                .map(OwnedContact::record),
        );
        let mut matcher = Matcher::for_chunk(
            MatchConfig {
                slice: *chunk,
                ..cfg.clone()
            },
            index,
            carry,
        );
        let mine: Vec<&ConversationSummary> = conversations
            .iter()
            .filter(|c| c.start >= chunk.start && c.start < chunk.end)
            .collect();
        for classified in matcher.classify_page(mine) {
            if let Classified::Owned(verdict) = classified {
                verdicts.push(verdict);
            }
        }
        let (part, next) = matcher.finish_chunk(position.last);
        report.merge(part);
        carry = next;
    }
    assert!(carry.is_empty(), "the last chunk carries nothing");
    (verdicts, report)
}

/// The same, in one piece: contacts of the widened window, conversations starting in it.
fn run_whole(
    cfg: &MatchConfig,
    contacts: &[OwnedContact],
    conversations: &[ConversationSummary],
) -> (Vec<Verdict>, MatchReport) {
    let range = ContactIndex::new(cfg.slice, cfg.tolerance).query_range();
    let contacts: Vec<OwnedContact> = contacts
        .iter()
        .filter(|k| {
            k.start_time
                .is_some_and(|s| s >= range.start && s < range.end)
        })
        .cloned()
        .collect();
    let conversations: Vec<ConversationSummary> = conversations
        .iter()
        .filter(|c| c.start >= cfg.slice.start && c.start < cfg.slice.end)
        .cloned()
        .collect();
    run(cfg.clone(), &contacts, &conversations)
}

#[test]
fn a_contact_across_a_chunk_edge_is_matched_not_recovered() {
    let cfg = config(day_window(), vec![MediaType::Chat]);
    let edge = slices(cfg.slice, 2)[1].start.as_second();
    // Starts just after the edge (second chunk); its contact starts just before (first chunk).
    let late = conversation(1, edge + 10, vec![chat_session(1, true)]);
    let mut late_contact = contact_for(&late, &[session_id(1)]);
    late_contact.start_time = Some(ts(edge - 60));
    // Starts just before the edge; its contact just after.
    let early = conversation(2, edge - 10, vec![chat_session(2, true)]);
    let mut early_contact = contact_for(&early, &[session_id(2)]);
    early_contact.start_time = Some(ts(edge + 60));
    // An unclaimed contact near the edge: an extra, reported once.
    let stray = OwnedContact {
        external_id: Some(conv_id(99).to_string()),
        start_time: Some(ts(edge - 30)),
        ..contact_for(&late, &[])
    };
    let contacts = [late_contact, early_contact, stray];
    let conversations = [late, early];
    let (verdicts, report) = run_chunked(&cfg, 2, &contacts, &conversations);
    assert_eq!(verdicts.len(), 2);
    for v in &verdicts {
        assert_eq!(v.category, Category::Matched, "{v:?}");
    }
    assert_eq!(report.extras, vec![conv_id(99)]);
    assert_eq!(report.totals.recording_side, 3);
    assert_eq!(report.totals.extra, 1);
    // The stray contact is a chat contact: one chat extra, counted once across the edge.
    let chat = report.by_media_type.get(&MediaType::Chat).copied();
    assert_eq!(chat.map(|c| (c.matched, c.extra)), Some((2, 1)));
    assert_eq!(report.contacts_received, 3, "overlap contacts counted once");
    let (_, whole) = run_whole(&cfg, &contacts, &conversations);
    assert_eq!(report, whole);
}

#[test]
fn overlap_anomalies_are_counted_once() {
    let cfg = config(day_window(), vec![MediaType::Chat]);
    let edge = slices(cfg.slice, 2)[1].start.as_second();
    let c = conversation(1, edge - 10, vec![chat_session(1, true)]);
    let mut bad = contact_for(&c, &[session_id(1)]);
    bad.session_ids.push("not-a-session".into());
    let duplicate = bad.clone();
    let (_, report) = run_chunked(&cfg, 2, &[bad, duplicate], std::slice::from_ref(&c));
    assert_eq!(report.anomalies.count(AnomalyKind::DuplicateContact), 1);
    assert_eq!(report.anomalies.count(AnomalyKind::InvalidSessionId), 2);
    assert_eq!(report.contacts_received, 2);
}

/// Contacts as a recording side holds them: for some conversations one (or two) contacts
/// starting within the tolerance of the conversation, holding some of its sessions; plus
/// contacts of no conversation and malformed ones, anywhere in and around the window.
fn contacts_near(
    conversations: &[ConversationSummary],
) -> impl Strategy<Value = Vec<OwnedContact>> + use<> {
    let held: Vec<_> = conversations
        .iter()
        .map(|c| {
            (
                Just(c.clone()),
                0u8..4,
                -299i64..299,
                prop::collection::vec(any::<bool>(), c.sessions.len()),
            )
        })
        .collect();
    let others = prop::collection::vec((external_id_strategy(), -7200i64..DAY + 7200), 0..20);
    (held, others).prop_map(|(held, others)| {
        let mut contacts = Vec::new();
        for (c, copies, offset, keep) in held {
            // 0: missing; 1, 2: one contact; 3: two (a duplicate).
            let sessions: Vec<Uuid> = c
                .sessions
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(s, _)| s.session_id)
                .collect();
            let n = match copies {
                0 => 0,
                3 => 2,
                _ => 1,
            };
            for copy in 0..n {
                let mut k = contact_for(&c, &sessions);
                k.start_time = Some(ts(c.start.as_second() + offset - i64::from(copy)));
                contacts.push(k);
            }
        }
        for (i, (external_id, offset)) in others.into_iter().enumerate() {
            contacts.push(OwnedContact {
                contact_id: format!("other-{i}"),
                // Distinct ids unlike the conversations': contacts of no conversation. (The
                // same id on contacts far apart in time is an anomaly chunks, like shards,
                // count per chunk.)
                external_id: external_id.map(|e| {
                    if Uuid::try_parse(&e).is_ok() {
                        conv_id(10_000 + i as u32)
                            .to_string()
                            .replace("c0c0", "d0d0")
                    } else {
                        e
                    }
                }),
                start_time: Some(ts(BASE + offset)),
                session_ids: vec![session_id(i as u32).to_string()],
                media_type: Some(MediaType::ALL[i % 3]),
            });
        }
        contacts
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Matching a slice as consecutive chunks gives exactly what matching it whole gives:
    /// every verdict, every count, every extra, every anomaly count.
    #[test]
    fn chunks_match_exactly_like_the_whole_slice(
        (conversations, contacts) in conversations_strategy()
            .prop_flat_map(|cs| { let ks = contacts_near(&cs); (Just(cs), ks) }),
        chunks in 1u32..7,
        span in prop_oneof![Just(DAY), 3600i64..DAY],
        media_types in media_types_strategy(),
    ) {
        let cfg = config(Window { start: ts(BASE), end: ts(BASE + span) }, media_types);
        let (whole_verdicts, whole) = run_whole(&cfg, &contacts, &conversations);
        let (chunk_verdicts, chunked) = run_chunked(&cfg, chunks, &contacts, &conversations);
        prop_assert_eq!(sorted(whole_verdicts), sorted(chunk_verdicts));
        prop_assert_eq!(whole.totals, chunked.totals);
        prop_assert_eq!(&whole.by_media_type, &chunked.by_media_type);
        prop_assert_eq!(&whole.skipped_by_reason, &chunked.skipped_by_reason);
        prop_assert_eq!(&whole.extras, &chunked.extras);
        prop_assert_eq!(whole.contacts_received, chunked.contacts_received);
        prop_assert_eq!(&whole.anomalies.counts, &chunked.anomalies.counts);
    }
}

//! Matcher benchmark: 1,000,000 Genesys conversations of one 24 h slice against the 1,000,000
//! contacts DAS holds for it, matched the way a shard's pipeline matches them.
//!
//! `cargo bench --bench matcher` (optionally `-- ITERATIONS`). The path is the production one
//! (`pipeline::execute` -> `match_chunk`, `inventory::load_contacts`): the slice is cut into
//! time chunks of about `DEFAULT_CHUNK_CONVERSATIONS` conversations as `plan_chunks` cuts it
//! for Genesys' estimate (here exact); for each chunk a `ContactIndex::for_chunk` is filled one
//! `Contact::record()` at a time from the DAS pages of the chunk's range widened by the
//! tolerance (the client's `verint::das::Contact`, start time as RFC 3339 text, as parsed off
//! the wire), then a `Matcher::for_chunk` (taking the previous chunk's carry) classifies the
//! chunk's conversations one at a time, and `finish_chunk` + `MatchReport::merge` close it.
//! Inputs are generated a page (1,000) at a time, untimed; only matcher calls are timed.
//!
//! For comparison, the same chunks are also matched through the page APIs
//! (`ContactIndex::insert_page`, `Matcher::classify_page`), which the pipeline does not call.
//! Prints each run, the medians and the process's peak resident memory (VmHWM).

use std::time::{Duration, Instant};

use digital_recovery::api::{MediaType, Window};
use digital_recovery::pipeline::matcher::{
    ChunkCarry, ChunkPosition, Classified, ContactIndex, ConversationSummary, DEFAULT_TOLERANCE,
    MatchConfig, MatchReport, Matcher, SessionSummary,
};
use digital_recovery::pipeline::{DEFAULT_CHUNK_CONVERSATIONS, plan};
use digital_recovery::verint::das::Contact;
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

const CONVERSATIONS: u64 = 1_000_000;
const PAGE: u64 = 1_000;
/// 2026-11-20T00:00:00Z
const BASE: i64 = 1_795_132_800;
const DAY: i64 = 86_400;

/// Start (seconds) of conversation `i`, and of the contact derived from it.
fn start_second(i: u64) -> i64 {
    BASE + (i as i64 * DAY) / CONVERSATIONS as i64
}

/// The first index whose start is at or after `second`.
fn first_index_at(second: i64) -> u64 {
    let offset = (second - BASE).clamp(0, DAY) as u64;
    (offset * CONVERSATIONS).div_ceil(DAY as u64)
}

/// The same pseudo-random conversation for the same index, so contacts can be derived from it.
fn conversation(seed: u64, i: u64) -> ConversationSummary {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let start = start_second(i);
    let media_type = match rng.random_range(0..3) {
        0 => MediaType::Chat,
        1 => MediaType::Email,
        _ => MediaType::Social,
    };
    // One in five is a transfer with a second session.
    let sessions = if rng.random_range(0..5) == 0 { 2 } else { 1 };
    ConversationSummary {
        conversation_id: Uuid::from_u128(rng.random()),
        start: Timestamp::from_second(start).unwrap_or(Timestamp::UNIX_EPOCH),
        end: Timestamp::from_second(start + rng.random_range(60..3600)).ok(),
        sessions: (0..sessions)
            .map(|_| {
                let session_id = Uuid::from_u128(rng.random());
                // Once the recording flag's draw; kept so the data matches earlier figures.
                let _ = rng.random_range(0..50u32);
                SessionSummary {
                    session_id,
                    media_type: Some(media_type),
                    message_type: (media_type == MediaType::Social).then(|| "whatsapp".to_string()),
                    // Documented contract: text sessions carry no `recording` flag.
                    recording_flag: None,
                }
            })
            .collect(),
    }
}

/// DAS's view of conversation `i`: 95% held in full, 2% lacking the later session, 3% replaced
/// by an extra (a contact of no conversation), so the recording side also holds 1,000,000
/// contacts. The contact as the DAS client hands it to the pipeline.
fn contact(seed: u64, i: u64) -> Contact {
    let c = conversation(seed, i);
    let (external_id, sessions) = match i % 100 {
        0..=2 => (Uuid::from_u128(u128::from(i) << 64 | 0xE), &c.sessions[..]), // extra
        3..=4 => (c.conversation_id, &c.sessions[..1]),
        _ => (c.conversation_id, &c.sessions[..]),
    };
    let media_type = c.sessions.first().and_then(|s| s.media_type);
    Contact {
        contact_id: format!("vc-{i}"),
        external_id: Some(external_id.to_string()),
        source: Some("genesys-cloud".to_string()),
        media_type: media_type.map(|m| m.as_str().to_string()),
        message_type: c.sessions.first().and_then(|s| s.message_type.clone()),
        start_time: Some(c.start.to_string()),
        end_time: c.end.map(|e| e.to_string()),
        session_ids: sessions.iter().map(|s| s.session_id.to_string()).collect(),
    }
}

/// This thread's time on a CPU so far (`/proc/thread-self/schedstat`, nanoseconds): unlike wall
/// time it does not count waiting for a core, which matters on a shared 2-core machine.
fn on_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// A stopwatch over both wall time and on-CPU time.
#[derive(Default, Clone, Copy)]
struct Spent {
    wall: Duration,
    cpu: Duration,
}

impl Spent {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let (wall, cpu) = (Instant::now(), on_cpu());
        let out = f();
        self.cpu += on_cpu().saturating_sub(cpu);
        self.wall += wall.elapsed();
        out
    }
}

/// Which matcher calls feed the chunks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Calls {
    /// What the pipeline calls: `ContactIndex::insert` and `Matcher::classify`, one at a time.
    OneByOne,
    /// The page APIs: `ContactIndex::insert_page` and `Matcher::classify_page`.
    Pages,
}

/// What one full match measured.
struct Run {
    indexing: Spent,
    classifying: Spent,
    to_recover: u64,
    extras: u64,
    chunks: usize,
    /// Contacts inserted over all chunks (the overlap of neighbouring chunks' ranges twice).
    contacts_indexed: u64,
    /// Largest chunk index, in contacts.
    largest_index: usize,
}

/// One full match of the slice, chunk by chunk.
fn run(seed: u64, calls: Calls) -> Run {
    let slice = Window {
        start: Timestamp::from_second(BASE).unwrap_or(Timestamp::UNIX_EPOCH),
        end: Timestamp::from_second(BASE + DAY).unwrap_or(Timestamp::UNIX_EPOCH),
    };
    let now = Timestamp::from_second(BASE + 2 * DAY).unwrap_or(Timestamp::UNIX_EPOCH);
    let chunks = plan::cut(
        slice,
        CONVERSATIONS,
        DEFAULT_CHUNK_CONVERSATIONS,
        DEFAULT_TOLERANCE,
    );
    let (mut indexing, mut classifying) = (Spent::default(), Spent::default());
    let (mut to_recover, mut contacts_indexed, mut largest_index) = (0u64, 0u64, 0usize);
    let mut report = MatchReport::default();
    let mut carry = ChunkCarry::default();
    for (k, chunk) in chunks.iter().enumerate() {
        let position = ChunkPosition::of(k, chunks.len());
        // Inventory: DAS pages of the chunk's widened range.
        let mut index =
            indexing.time(|| ContactIndex::for_chunk(*chunk, DEFAULT_TOLERANCE, position, 0));
        let range = index.query_range();
        let (from, to) = (
            first_index_at(range.start.as_second()),
            first_index_at(range.end.as_second()).min(CONVERSATIONS),
        );
        let mut i = from;
        while i < to {
            let page: Vec<Contact> = (i..to.min(i + PAGE)).map(|j| contact(seed, j)).collect();
            i += PAGE;
            contacts_indexed += page.len() as u64;
            indexing.time(|| match calls {
                Calls::OneByOne => {
                    for contact in &page {
                        index.insert(contact.record());
                    }
                }
                Calls::Pages => index.insert_page(page.iter().map(Contact::record)),
            });
        }
        largest_index = largest_index.max(index.len());
        // Collect + match: the chunk's conversations, a page at a time.
        let mut matcher = classifying.time(|| {
            Matcher::for_chunk(
                MatchConfig {
                    slice: *chunk,
                    media_types: MediaType::ALL.to_vec(),
                    message_types: Vec::new(),
                    settle_delay: SignedDuration::from_mins(30),
                    now,
                    tolerance: DEFAULT_TOLERANCE,
                    trust_recording_flag: false,
                },
                index,
                std::mem::take(&mut carry),
            )
        });
        let (from, to) = (
            first_index_at(chunk.start.as_second()),
            first_index_at(chunk.end.as_second()).min(CONVERSATIONS),
        );
        let mut i = from;
        while i < to {
            let page: Vec<ConversationSummary> = (i..to.min(i + PAGE))
                .map(|j| conversation(seed, j))
                .collect();
            i += PAGE;
            let count = |classified: &Classified| match classified {
                Classified::Owned(v) => u64::from(v.needs_recovery()),
                Classified::NotOwned | Classified::Duplicate => 0,
            };
            to_recover += classifying.time(|| match calls {
                Calls::OneByOne => page.iter().map(|c| count(&matcher.classify(c))).sum(),
                Calls::Pages => matcher.classify_page(&page).iter().map(count).sum::<u64>(),
            });
        }
        classifying.time(|| {
            let (chunk_report, next) = matcher.finish_chunk(position.last);
            report.merge(chunk_report);
            carry = next;
        });
    }
    assert_eq!(
        report.totals.genesys, CONVERSATIONS,
        "every conversation owned by one chunk"
    );
    assert_eq!(
        report.totals.recording_side, CONVERSATIONS,
        "every contact counted by one chunk"
    );
    Run {
        indexing,
        classifying,
        to_recover,
        extras: report.totals.extra,
        chunks: chunks.len(),
        contacts_indexed,
        largest_index,
    }
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// Medians of several runs of one kind of calls.
struct Medians {
    walls: Vec<Duration>,
    wall: Duration,
    cpu: Duration,
    index: Duration,
    classify: Duration,
}

fn medians(runs: &[Run]) -> Medians {
    let of = |f: &dyn Fn(&Run) -> Duration| median(runs.iter().map(f).collect());
    Medians {
        walls: runs
            .iter()
            .map(|r| r.indexing.wall + r.classifying.wall)
            .collect(),
        wall: of(&|r| r.indexing.wall + r.classifying.wall),
        cpu: of(&|r| r.indexing.cpu + r.classifying.cpu),
        index: of(&|r| r.indexing.wall),
        classify: of(&|r| r.classifying.wall),
    }
}

fn main() {
    let iterations: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5)
        .max(1);
    let (mut production, mut pages) = (Vec::new(), Vec::new());
    for i in 0..iterations {
        // Alternate which goes first, so neither always runs on a warmer machine.
        let order = if i % 2 == 0 {
            [Calls::OneByOne, Calls::Pages]
        } else {
            [Calls::Pages, Calls::OneByOne]
        };
        for calls in order {
            let r = run(42, calls);
            println!(
                "run {i} {calls:?}: wall {:.3} s (index {:.3}, classify {:.3}), on-CPU {:.3} s; {} chunks, {} contacts indexed (largest index {}); {} to recover, {} extras",
                (r.indexing.wall + r.classifying.wall).as_secs_f64(),
                r.indexing.wall.as_secs_f64(),
                r.classifying.wall.as_secs_f64(),
                (r.indexing.cpu + r.classifying.cpu).as_secs_f64(),
                r.chunks,
                r.contacts_indexed,
                r.largest_index,
                r.to_recover,
                r.extras,
            );
            match calls {
                Calls::OneByOne => production.push(r),
                Calls::Pages => pages.push(r),
            }
        }
    }
    for (a, b) in production.iter().zip(&pages) {
        assert_eq!(
            (a.to_recover, a.extras),
            (b.to_recover, b.extras),
            "both kinds of calls match alike"
        );
    }
    let peak = peak_rss_mib().unwrap_or(f64::NAN);
    let (m, p) = (medians(&production), medians(&pages));
    let last = production.last().expect("at least one run");
    println!(
        "matcher 1,000,000 conversations x 1,000,000 contacts, production path ({} chunks, one call per item): median wall {:.3} s, median on-CPU {:.3} s over {iterations} runs; page APIs on the same chunks: median wall {:.3} s, on-CPU {:.3} s; peak RSS {peak:.1} MiB",
        last.chunks,
        m.wall.as_secs_f64(),
        m.cpu.as_secs_f64(),
        p.wall.as_secs_f64(),
        p.cpu.as_secs_f64(),
    );
    let secs = |v: &[Duration]| v.iter().map(Duration::as_secs_f64).collect::<Vec<_>>();
    // One machine-readable line for scripts/bench.sh.
    println!(
        "BENCH_JSON {}",
        serde_json::json!({
            "bench": "matcher",
            "path": "chunked, one call per item (the pipeline's)",
            "conversations": CONVERSATIONS,
            "contacts": CONVERSATIONS,
            "chunk_conversations": DEFAULT_CHUNK_CONVERSATIONS,
            "chunks": last.chunks,
            "contacts_indexed": last.contacts_indexed,
            "largest_index": last.largest_index,
            "runs": iterations,
            "wall_s": secs(&m.walls),
            "median_wall_s": m.wall.as_secs_f64(),
            "median_cpu_s": m.cpu.as_secs_f64(),
            "median_index_s": m.index.as_secs_f64(),
            "median_classify_s": m.classify.as_secs_f64(),
            "peak_rss_mib": peak,
            "to_recover": last.to_recover,
            "extras": last.extras,
            "page_api": {
                "wall_s": secs(&p.walls),
                "median_wall_s": p.wall.as_secs_f64(),
                "median_cpu_s": p.cpu.as_secs_f64(),
                "median_index_s": p.index.as_secs_f64(),
                "median_classify_s": p.classify.as_secs_f64(),
                "to_recover": pages.last().map(|r| r.to_recover),
                "extras": pages.last().map(|r| r.extras),
            },
        })
    );
}

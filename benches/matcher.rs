//! Matcher benchmark: 1,000,000 Genesys conversations against 1,000,000 DAS contacts.
//!
//! `cargo bench --bench matcher` (optionally `-- ITERATIONS`). Inputs are generated a page of
//! 1,000 at a time, as the pipeline receives them, and fed to the page APIs
//! (`ContactIndex::insert_page`, `Matcher::classify_page`), so peak memory is the matcher's own
//! plus one page; only the matcher calls are timed. Prints each run, the median and the process's peak
//! resident memory (VmHWM).

use std::time::{Duration, Instant};

use digital_recovery::api::{MediaType, Window};
use digital_recovery::pipeline::matcher::{
    Classified, ContactIndex, ContactRecord, ConversationSummary, DEFAULT_TOLERANCE, MatchConfig,
    Matcher, SessionSummary,
};
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

const CONVERSATIONS: u64 = 1_000_000;
const PAGE: u64 = 1_000;
/// 2026-11-20T00:00:00Z
const BASE: i64 = 1_795_132_800;
const DAY: i64 = 86_400;

/// The same pseudo-random conversation for the same index, so contacts can be derived from it.
fn conversation(seed: u64, i: u64) -> ConversationSummary {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let start = BASE + (i as i64 * DAY) / CONVERSATIONS as i64;
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

struct OwnedContact {
    contact_id: String,
    external_id: String,
    start: Timestamp,
    session_ids: Vec<String>,
}

/// DAS's view: 95% held in full, 2% lacking the later session, 3% missing, plus extras so the
/// recording side also holds 1,000,000 contacts.
fn contact_page(seed: u64, page: u64) -> Vec<OwnedContact> {
    let mut out = Vec::with_capacity(PAGE as usize);
    for i in page * PAGE..(page + 1) * PAGE {
        let c = conversation(seed, i);
        let roll = i % 100;
        let (external_id, sessions) = match roll {
            0..=2 => (Uuid::from_u128(u128::from(i) << 64 | 0xE), &c.sessions[..]), // extra
            3..=4 => (c.conversation_id, &c.sessions[..1]),
            _ => (c.conversation_id, &c.sessions[..]),
        };
        out.push(OwnedContact {
            contact_id: format!("vc-{i}"),
            external_id: external_id.to_string(),
            start: c.start,
            session_ids: sessions.iter().map(|s| s.session_id.to_string()).collect(),
        });
    }
    out
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

/// One full match; returns (index time, classify + finish time, to recover, extras).
fn run(seed: u64) -> (Spent, Spent, u64, u64) {
    let window = Window {
        start: Timestamp::from_second(BASE).unwrap_or(Timestamp::UNIX_EPOCH),
        end: Timestamp::from_second(BASE + DAY).unwrap_or(Timestamp::UNIX_EPOCH),
    };
    let config = MatchConfig {
        slice: window,
        media_types: MediaType::ALL.to_vec(),
        message_types: Vec::new(),
        settle_delay: SignedDuration::from_mins(30),
        now: Timestamp::from_second(BASE + 2 * DAY).unwrap_or(Timestamp::UNIX_EPOCH),
        tolerance: DEFAULT_TOLERANCE,
        trust_recording_flag: false,
    };
    let mut indexing = Spent::default();
    let mut classifying = Spent::default();
    let mut index = ContactIndex::with_capacity(window, DEFAULT_TOLERANCE, CONVERSATIONS as usize);
    for page in 0..CONVERSATIONS / PAGE {
        let contacts = contact_page(seed, page);
        indexing.time(|| {
            index.insert_page(contacts.iter().map(|c| ContactRecord {
                contact_id: &c.contact_id,
                external_id: Some(&c.external_id),
                start_time: Some(c.start),
                session_ids: &c.session_ids,
            }));
        });
    }
    let mut matcher = Matcher::new(config, index);
    let mut to_recover = 0u64;
    for page in 0..CONVERSATIONS / PAGE {
        let conversations: Vec<_> = (page * PAGE..(page + 1) * PAGE)
            .map(|i| conversation(seed, i))
            .collect();
        classifying.time(|| {
            for classified in matcher.classify_page(&conversations) {
                if let Classified::Owned(v) = classified {
                    to_recover += u64::from(v.needs_recovery());
                }
            }
        });
    }
    let report = classifying.time(|| matcher.finish());
    assert_eq!(
        report.totals.genesys, CONVERSATIONS,
        "every conversation owned"
    );
    (indexing, classifying, to_recover, report.totals.extra)
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

fn main() {
    let iterations: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5)
        .max(1);
    let (mut walls, mut cpus) = (Vec::new(), Vec::new());
    let (mut index_walls, mut classify_walls) = (Vec::new(), Vec::new());
    let (mut last_to_recover, mut last_extras) = (0, 0);
    for i in 0..iterations {
        let (indexing, classifying, to_recover, extras) = run(42);
        let wall = indexing.wall + classifying.wall;
        let cpu = indexing.cpu + classifying.cpu;
        println!(
            "run {i}: wall {:.3} s (index {:.3}, classify {:.3}), on-CPU {:.3} s; {to_recover} to recover, {extras} extras",
            wall.as_secs_f64(),
            indexing.wall.as_secs_f64(),
            classifying.wall.as_secs_f64(),
            cpu.as_secs_f64(),
        );
        walls.push(wall);
        cpus.push(cpu);
        index_walls.push(indexing.wall);
        classify_walls.push(classifying.wall);
        (last_to_recover, last_extras) = (to_recover, extras);
    }
    let peak = peak_rss_mib().unwrap_or(f64::NAN);
    let (wall, cpu) = (median(walls.clone()), median(cpus));
    println!(
        "matcher 1,000,000 conversations x 1,000,000 contacts: median wall {:.3} s, median on-CPU {:.3} s over {iterations} runs; peak RSS {peak:.1} MiB",
        wall.as_secs_f64(),
        cpu.as_secs_f64(),
    );
    // One machine-readable line for scripts/bench.sh.
    println!(
        "BENCH_JSON {}",
        serde_json::json!({
            "bench": "matcher",
            "conversations": CONVERSATIONS,
            "contacts": CONVERSATIONS,
            "runs": iterations,
            "wall_s": walls.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
            "median_wall_s": wall.as_secs_f64(),
            "median_cpu_s": cpu.as_secs_f64(),
            "median_index_s": median(index_walls).as_secs_f64(),
            "median_classify_s": median(classify_walls).as_secs_f64(),
            "peak_rss_mib": peak,
            "to_recover": last_to_recover,
            "extras": last_extras,
        })
    );
}

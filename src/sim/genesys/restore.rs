//! Restoring archived recordings, as `PUT /api/v2/conversations/{cid}/recordings/{rid}` documents
//! it ("a request to change the archival date of an archived recording will result in a
//! restoration of the recording until the new date set"): an ARCHIVED recording given an
//! `archiveDate` in the future turns RESTORING, then RESTORED after the simulator's restore
//! delay, and serves its transcript until that date. Asking again while it is RESTORING or
//! RESTORED changes nothing but a later date. The fault `restore-forbidden` answers 403
//! `missing.permissions`, as Genesys does for a client without the permission.
//!
//! [`Restorations`] is the ground truth of what was restored; `/sim/report` (capture port) and
//! `/sim/genesys/stats` show it.

use super::*;

/// Restorations asked of the simulator. Shared with the recording side's `/sim/report`.
#[derive(Debug, Default)]
pub struct Restorations {
    /// How long a recording stays RESTORING, in milliseconds (tests change it while serving).
    delay_ms: AtomicU64,
    /// Recording id -> its restoration.
    entries: Mutex<HashMap<Uuid, Restoration>>,
    /// PUTs that asked for (or confirmed) a restoration.
    requests: AtomicU64,
    /// PUTs answered 403.
    forbidden: AtomicU64,
}

#[derive(Clone, Copy, Debug)]
struct Restoration {
    /// When it was first asked for.
    asked: Instant,
    /// The `archiveDate` asked for: restored until then.
    until: Timestamp,
}

/// A recording's file as the simulator serves it now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveFile {
    /// As seeded (AVAILABLE, ARCHIVED, DELETED).
    Seeded(FileState),
    /// Being restored, until this date.
    Restoring(Timestamp),
    /// Restored, until this date.
    Restored(Timestamp),
}

impl LiveFile {
    /// The `fileState` value.
    pub fn file_state(self) -> &'static str {
        match self {
            LiveFile::Seeded(state) => state.as_str(),
            LiveFile::Restoring(_) => "RESTORING",
            LiveFile::Restored(_) => "RESTORED",
        }
    }

    /// Whether its transcript and media can be read.
    pub fn has_media(self) -> bool {
        matches!(
            self,
            LiveFile::Seeded(FileState::Available) | LiveFile::Restored(_)
        )
    }

    /// When a restoration ends (`restoreExpirationTime`, and the new `archiveDate`).
    pub fn restored_until(self) -> Option<Timestamp> {
        match self {
            LiveFile::Restoring(until) | LiveFile::Restored(until) => Some(until),
            LiveFile::Seeded(_) => None,
        }
    }
}

/// What [`Restorations`] counts, for `/sim/report` and the simulator's stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RestoreCounts {
    /// Distinct recordings a restoration was asked for (and not refused).
    pub requested: u64,
    /// Of those, the ones RESTORED now.
    pub restored: u64,
    /// PUTs that asked for or confirmed a restoration (a repeat is harmless).
    pub requests: u64,
    /// PUTs refused with 403.
    pub forbidden: u64,
}

impl Restorations {
    /// Restorations that take `delay`.
    pub fn new(delay: Duration) -> Self {
        Restorations {
            delay_ms: AtomicU64::new(delay.as_millis().try_into().unwrap_or(u64::MAX)),
            ..Restorations::default()
        }
    }

    /// Changes how long a restoration takes, for restorations already asked for too (tests:
    /// finish every restoration at once, or hold them all back).
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(
            delay.as_millis().try_into().unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms.load(Ordering::Relaxed))
    }

    /// `recording` as served now: a restoration in force overrides its seeded state (one whose
    /// date has passed is archived again).
    pub fn live(&self, recording: &SimRecording) -> LiveFile {
        let seeded = LiveFile::Seeded(recording.file_state);
        if recording.file_state != FileState::Archived {
            return seeded;
        }
        match self.entries.lock().get(&recording.id) {
            Some(r) if r.until > Timestamp::now() => {
                if r.asked.elapsed() >= self.delay() {
                    LiveFile::Restored(r.until)
                } else {
                    LiveFile::Restoring(r.until)
                }
            }
            _ => seeded,
        }
    }

    /// Asks for `recording` to be restored until `until` (a later date extends it; a running
    /// restoration is not started over).
    fn request(&self, recording: Uuid, until: Timestamp) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let now = Timestamp::now();
        let mut entries = self.entries.lock();
        let entry = entries.entry(recording).or_insert(Restoration {
            asked: Instant::now(),
            until,
        });
        if entry.until <= now {
            // Expired and archived again: a new restoration.
            *entry = Restoration {
                asked: Instant::now(),
                until,
            };
        }
        entry.until = entry.until.max(until);
    }

    /// The counts so far.
    pub fn counts(&self) -> RestoreCounts {
        let now = Timestamp::now();
        let entries = self.entries.lock();
        RestoreCounts {
            requested: entries.len() as u64,
            restored: entries
                .values()
                .filter(|r| r.until > now && r.asked.elapsed() >= self.delay())
                .count() as u64,
            requests: self.requests.load(Ordering::Relaxed),
            forbidden: self.forbidden.load(Ordering::Relaxed),
        }
    }

    /// The recordings restored now.
    pub fn restored(&self) -> HashSet<Uuid> {
        let now = Timestamp::now();
        self.entries
            .lock()
            .iter()
            .filter(|(_, r)| r.until > now && r.asked.elapsed() >= self.delay())
            .map(|(id, _)| *id)
            .collect()
    }
}

/// `PUT /api/v2/conversations/{cid}/recordings/{rid}` (body: a Recording; only `archiveDate`
/// is read): 200 with the Recording as it is after the change.
pub(super) async fn recording_update(
    State(state): State<Arc<SimState>>,
    Path((conversation_id, recording_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match parse_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let (c, r) = match state.recording(&conversation_id, &recording_id) {
        Ok(found) => found,
        Err(response) => return response,
    };
    if state.faults.forbids_restore(r.id) {
        state.restorations.forbidden.fetch_add(1, Ordering::Relaxed);
        return genesys_error(
            StatusCode::FORBIDDEN,
            "missing.permissions",
            "Unable to perform the requested action. You are missing the following permission(s): [recording:recording:editRetention]",
        );
    }
    let archive_date = match body.get("archiveDate") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match text.parse::<Timestamp>() {
            Ok(date) => Some(date),
            Err(_) => {
                return genesys_error(
                    StatusCode::BAD_REQUEST,
                    "invalid.date",
                    &format!("archiveDate {text:?} is not an ISO-8601 date"),
                );
            }
        },
        Some(other) => return bad_request(&format!("archiveDate must be a string, not {other}")),
    };
    match (state.restorations.live(r), archive_date) {
        (LiveFile::Seeded(FileState::Deleted), _) => {
            return bad_request(&format!("Recording {recording_id} is deleted"));
        }
        // Retention changes of an available recording are not modelled: nothing changes.
        (LiveFile::Seeded(FileState::Available), _) => {}
        (_, None) => {
            return bad_request("archiveDate is required to restore an archived recording");
        }
        (_, Some(date)) if date <= Timestamp::now() => {
            return genesys_error(
                StatusCode::BAD_REQUEST,
                "invalid.date",
                "archiveDate must be in the future to restore an archived recording",
            );
        }
        (_, Some(date)) => state.restorations.request(r.id, date),
    }
    let live = state.restorations.live(r);
    json_response(
        StatusCode::OK,
        render::recording(
            &state.dataset,
            c,
            r,
            live,
            &origin(&headers),
            &state.config.variant,
        ),
    )
}

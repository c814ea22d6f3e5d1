//! What a recovery over the dataset must find, as `/sim/report` states it: the conversations
//! withheld with a text recording to fetch (expectedMissing) and the completed text ones with no
//! recording at all (expectedNotRecorded), and the withheld ones whose recordings are archived
//! (expectedArchived: reported `archived`, or recovered once restored).

use uuid::Uuid;

use super::{Dataset, FileState, RecordingSideState, SimConversation};

impl SimConversation {
    /// Completed text conversation with no recording at all, withheld from the recording side:
    /// what `/sim/report` calls expectedNotRecorded (a recovery must end it `notRecorded`).
    pub fn is_expected_not_recorded(&self) -> bool {
        self.is_text()
            && self.is_completed()
            && self.recordings.is_empty()
            && self.recording_side == RecordingSideState::Missing
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

impl SimConversation {
    /// The sessions withheld at seed time (none when the recording side holds it all).
    fn withheld_sessions(&self) -> Vec<Uuid> {
        match &self.recording_side {
            RecordingSideState::Held => Vec::new(),
            RecordingSideState::Missing => self.sessions.iter().map(|s| s.id).collect(),
            RecordingSideState::Partial { lacking_sessions } => lacking_sessions.clone(),
        }
    }

    /// The withheld sessions whose recording is archived: what a recovery with
    /// `archivedRecordings: Restore` recovers once Genesys restored them.
    pub fn archived_withheld_sessions(&self) -> Vec<Uuid> {
        let withheld = self.withheld_sessions();
        self.recordings
            .iter()
            .filter(|r| r.file_state == FileState::Archived && withheld.contains(&r.session_id))
            .map(|r| r.session_id)
            .collect()
    }

    /// Completed text conversation withheld at seed time with no available recording of what
    /// is withheld but an archived one: what `/sim/report` calls expectedArchived (`Report` ends
    /// it `archived`, `Restore` recovers it).
    pub fn is_expected_archived(&self) -> bool {
        self.is_text()
            && self.is_completed()
            && !self.is_expected_missing()
            && !self.archived_withheld_sessions().is_empty()
    }
}

impl Dataset {
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
}

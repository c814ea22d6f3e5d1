//! Recordings of a conversation: metadata, full recordings with transcripts (re-polling while
//! they transcode), single recordings and batch downloads, classified into typed outcomes.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::models::{FileState, Recording};
use super::{GenesysClient, GenesysError, decode};
use crate::http::parse_retry_after;

/// What became of one recording.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordingOutcome {
    /// Downloadable, with its transcript entries (chat, email or messaging, as received).
    Available {
        /// Recording id.
        recording_id: String,
        /// The session it records.
        session_id: Option<String>,
        /// The Recording `media`.
        media: Option<String>,
        /// Transcript entries.
        transcript: Vec<Value>,
    },
    /// In cloud archive: no transcript until restored.
    Archived {
        /// Recording id.
        recording_id: String,
        /// Session id, when the stub has one.
        session_id: Option<String>,
        /// archiveDate.
        archive_date: Option<String>,
        /// archiveMedium.
        archive_medium: Option<String>,
    },
    /// Deleted.
    Deleted {
        /// Recording id.
        recording_id: String,
        /// Session id.
        session_id: Option<String>,
        /// deleteDate.
        delete_date: Option<String>,
    },
    /// Being restored from the archive (RESTORING): its transcript comes once it is RESTORED.
    Restoring {
        /// Recording id.
        recording_id: String,
        /// Session id, when given.
        session_id: Option<String>,
    },
    /// Some other state (UPLOADING, ERROR, unknown), or AVAILABLE with no transcript.
    Unavailable {
        /// Recording id.
        recording_id: String,
        /// Session id.
        session_id: Option<String>,
        /// The fileState as received (or why it is unusable).
        state: String,
    },
    /// A recording entry the client could not use (no id).
    Invalid {
        /// What was wrong.
        reason: String,
    },
}

impl RecordingOutcome {
    /// Classifies one recording.
    pub fn classify(recording: Recording) -> RecordingOutcome {
        let Some(recording_id) = recording.id.clone().filter(|id| !id.is_empty()) else {
            return RecordingOutcome::Invalid {
                reason: "a recording without id".into(),
            };
        };
        let session_id = recording.session_id.clone();
        match recording.file_state() {
            FileState::Available | FileState::Restored => match recording.transcript_entries() {
                Some(entries) => RecordingOutcome::Available {
                    recording_id,
                    session_id,
                    media: recording.media.clone(),
                    transcript: entries.clone(),
                },
                None => RecordingOutcome::Unavailable {
                    recording_id,
                    session_id,
                    state: "AVAILABLE without transcript".into(),
                },
            },
            FileState::Archived => RecordingOutcome::Archived {
                recording_id,
                session_id,
                archive_date: recording.archive_date,
                archive_medium: recording.archive_medium,
            },
            FileState::Restoring => RecordingOutcome::Restoring {
                recording_id,
                session_id,
            },
            FileState::Deleted => RecordingOutcome::Deleted {
                recording_id,
                session_id,
                delete_date: recording.delete_date,
            },
            other => RecordingOutcome::Unavailable {
                recording_id,
                session_id,
                state: match other {
                    FileState::Other(state) => state,
                    known => format!("{known:?}").to_uppercase(),
                },
            },
        }
    }
}

/// The recordings of one conversation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordingsFetch {
    /// Conversation id.
    pub conversation_id: String,
    /// One outcome per text recording (empty when Genesys holds none).
    pub outcomes: Vec<RecordingOutcome>,
    /// Recordings of other media (audio, screen) the conversation also has; not ours to send.
    pub non_text: usize,
}

/// A recording file a batch download prepared: where to download it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingFile {
    /// Recording id the batch named.
    pub recording_id: String,
    /// Its pre-signed download URL.
    pub url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchSubmitted {
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchStatus {
    expected_result_count: Option<u64>,
    result_count: Option<u64>,
    status: Option<String>,
    #[serde(default)]
    results: Vec<BatchItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchItem {
    conversation_id: Option<String>,
    recording_id: Option<String>,
    result_url: Option<String>,
    content_type: Option<String>,
    error_msg: Option<String>,
}

impl BatchItem {
    /// Whether the file may be a text recording (JSON): audio and screen files keep their codec
    /// and are not downloaded.
    fn holds_json(&self) -> bool {
        self.content_type
            .as_deref()
            .is_none_or(|content_type| content_type.to_ascii_lowercase().contains("json"))
    }
}

/// The first batch poll waits `job_poll_delay(BATCH_FIRST_POLL)` (400 ms).
const BATCH_FIRST_POLL: u32 = 2;
/// The longest wait for a batch of recordings before its conversations are fetched one by one.
const BATCH_TIMEOUT: Duration = Duration::from_secs(120);

/// The longest Retry-After of a 202 that the client waits for in place.
pub const MAX_TRANSCODE_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How long to wait after a 202: its Retry-After when it has one (capped), else `fallback`.
pub(crate) fn accepted_wait(retry_after: Option<Duration>, fallback: Duration) -> Duration {
    retry_after.map_or(fallback, |wait| wait.min(MAX_TRANSCODE_RETRY_AFTER))
}

impl GenesysClient {
    /// `GET /api/v2/conversations/{id}/recordingmetadata`.
    pub async fn recording_metadata(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<Recording>, GenesysError> {
        let (_, list) = self
            .send_json(
                Method::GET,
                &format!("/api/v2/conversations/{conversation_id}/recordingmetadata"),
                &[],
                None,
            )
            .await?;
        Ok(list)
    }

    /// `GET /api/v2/conversations/{id}/recordingmetadata/{recordingId}`.
    pub async fn recording_metadata_one(
        &self,
        conversation_id: &str,
        recording_id: &str,
    ) -> Result<Recording, GenesysError> {
        let path =
            format!("/api/v2/conversations/{conversation_id}/recordingmetadata/{recording_id}");
        let (_, recording) = self.send_json(Method::GET, &path, &[], None).await?;
        Ok(recording)
    }

    /// GETs `path`, re-polling while the answer is 202 (transcoding), at most
    /// `transcode_polls` times; then [`GenesysError::StillTranscoding`]. Whether a 202 carries
    /// Retry-After is not documented: when it does, the next poll waits that long (up to
    /// [`MAX_TRANSCODE_RETRY_AFTER`]), else `transcode_poll_delay`. A 202 may have no body.
    async fn get_transcoded(&self, path: &str) -> Result<bytes::Bytes, GenesysError> {
        let max_wait = self.config().transcode_max_wait.as_millis().to_string();
        let params = [("maxWaitMs", max_wait)];
        let polls = self.config().transcode_polls.max(1);
        let mut retry_after = None;
        for poll in 1..=polls {
            let response = self.send(Method::GET, path, &params, None).await?;
            if response.status != StatusCode::ACCEPTED {
                return Ok(response.body);
            }
            retry_after = parse_retry_after(&response.headers);
            tracing::debug!(path, poll, ?retry_after, "recording is transcoding");
            if poll < polls {
                tokio::time::sleep(accepted_wait(
                    retry_after,
                    self.config().transcode_poll_delay,
                ))
                .await;
            }
        }
        Err(GenesysError::StillTranscoding {
            endpoint: format!("GET {}", path_template(path)),
            attempts: polls,
            retry_after,
        })
    }

    /// `GET /api/v2/conversations/{id}/recordings`: every recording with its transcript.
    pub async fn recordings(&self, conversation_id: &str) -> Result<Vec<Recording>, GenesysError> {
        let path = format!("/api/v2/conversations/{conversation_id}/recordings");
        let body = self.get_transcoded(&path).await?;
        decode(&format!("GET {}", path_template(&path)), &body)
    }

    /// `GET /api/v2/conversations/{id}/recordings/{recordingId}`.
    pub async fn recording(
        &self,
        conversation_id: &str,
        recording_id: &str,
    ) -> Result<Recording, GenesysError> {
        let path = format!("/api/v2/conversations/{conversation_id}/recordings/{recording_id}");
        let body = self.get_transcoded(&path).await?;
        decode(&format!("GET {}", path_template(&path)), &body)
    }

    /// The text recordings of a conversation as typed outcomes: whether a text recording exists
    /// at all is learned here (an empty list: none), never from the analytics flag. An error is
    /// a per-conversation failure (404, still transcoding, malformed answer), never a reason to
    /// stop the run.
    pub async fn fetch_recordings(
        &self,
        conversation_id: &str,
    ) -> Result<RecordingsFetch, GenesysError> {
        let recordings = self.recordings(conversation_id).await?;
        let mut fetch = RecordingsFetch {
            conversation_id: conversation_id.to_string(),
            ..RecordingsFetch::default()
        };
        for recording in recordings {
            if recording.is_text() {
                fetch.outcomes.push(RecordingOutcome::classify(recording));
            } else {
                fetch.non_text += 1;
            }
        }
        Ok(fetch)
    }

    /// Submits a batch download of `items` and polls it until every result is in (or
    /// `timeout`).
    async fn batch_request(
        &self,
        items: &[(String, Option<String>)],
        timeout: Duration,
    ) -> Result<BatchStatus, GenesysError> {
        let endpoint = "POST /api/v2/recording/batchrequests";
        if items.is_empty() || items.len() > 100 {
            return Err(GenesysError::Config(format!(
                "a batch download takes 1 to 100 items, not {}",
                items.len()
            )));
        }
        let list: Vec<Value> = items
            .iter()
            .map(|(conversation, recording)| match recording {
                Some(recording) => {
                    json!({"conversationId": conversation, "recordingId": recording})
                }
                None => json!({"conversationId": conversation}),
            })
            .collect();
        let body = json!({"batchDownloadRequestList": list});
        let (_, submitted): (_, BatchSubmitted) = self
            .send_json(
                Method::POST,
                "/api/v2/recording/batchrequests",
                &[],
                Some(&body),
            )
            .await?;
        let batch_id = submitted.id.filter(|id| !id.is_empty()).ok_or_else(|| {
            GenesysError::InvalidResponse {
                endpoint: endpoint.into(),
                reason: "no batch id".into(),
            }
        })?;
        let started = tokio::time::Instant::now();
        // A batch takes a while to prepare: the first poll waits a few hundred milliseconds,
        // the later ones longer (each poll is a call against the rate budget).
        let mut poll = BATCH_FIRST_POLL;
        loop {
            tokio::time::sleep(super::analytics::job_poll_delay(poll)).await;
            poll += 1;
            let (_, status): (_, BatchStatus) = self
                .send_json(
                    Method::GET,
                    &format!("/api/v2/recording/batchrequests/{batch_id}"),
                    &[],
                    None,
                )
                .await?;
            let complete = status.status.as_deref() == Some("Completed")
                && status.expected_result_count.unwrap_or(0) == status.result_count.unwrap_or(0);
            if complete {
                return Ok(status);
            }
            if started.elapsed() > timeout {
                return Err(GenesysError::JobFailed {
                    endpoint: "GET /api/v2/recording/batchrequests/{id}".into(),
                    job_id: batch_id,
                    state: "TIMEOUT".into(),
                    message: None,
                });
            }
        }
    }

    /// Where the text recordings of `conversation_ids` (1 to 100) can be downloaded, from one
    /// batch download: a submit and a few polls instead of one `GET .../recordings` each. Only
    /// conversations all of whose results are files that may be text recordings are answered;
    /// for the rest (no recording at all, an archived, deleted or transcoding one, any error,
    /// an audio or screen file) the caller asks [`Self::fetch_recordings`], which alone decides
    /// `notRecorded` and reads archive dates, exactly as without a batch. The files are left
    /// for [`Self::download_recordings`], so that a batch's transcripts are not all held at
    /// once.
    pub async fn batch_recording_files(
        &self,
        conversation_ids: &[String],
    ) -> Result<HashMap<String, Vec<RecordingFile>>, GenesysError> {
        let items: Vec<(String, Option<String>)> = conversation_ids
            .iter()
            .map(|id| (id.clone(), None))
            .collect();
        let status = self
            .batch_request(&items, self.config().job_timeout.min(BATCH_TIMEOUT))
            .await?;
        let asked: HashSet<&str> = conversation_ids.iter().map(String::as_str).collect();
        // None: a result of that conversation cannot be used, so none of them is.
        let mut files: HashMap<String, Option<Vec<RecordingFile>>> = HashMap::new();
        for item in status.results {
            let Some(conversation_id) = item
                .conversation_id
                .clone()
                .filter(|id| asked.contains(id.as_str()))
            else {
                continue;
            };
            let entry = files
                .entry(conversation_id)
                .or_insert_with(|| Some(Vec::new()));
            let usable = item.holds_json() && item.error_msg.is_none();
            match (entry.as_mut(), item.recording_id, item.result_url) {
                (Some(list), Some(recording_id), Some(url)) if usable => {
                    list.push(RecordingFile { recording_id, url });
                }
                _ => *entry = None,
            }
        }
        Ok(files
            .into_iter()
            .filter_map(|(id, list)| list.map(|list| (id, list)))
            .collect())
    }

    /// The text recordings of `conversation_id` from the batch `files` found for it: what
    /// [`Self::fetch_recordings`] would give, or an error when any file is not an available
    /// text recording of the id the batch named (the caller then fetches the conversation's
    /// recordings itself).
    pub async fn download_recordings(
        &self,
        conversation_id: &str,
        files: &[RecordingFile],
    ) -> Result<RecordingsFetch, String> {
        let mut fetch = RecordingsFetch {
            conversation_id: conversation_id.to_string(),
            ..RecordingsFetch::default()
        };
        for file in files {
            let outcome = self.download(&file.url).await?;
            let usable = matches!(&outcome, RecordingOutcome::Available { recording_id, .. }
                if *recording_id == file.recording_id);
            if !usable {
                return Err(format!(
                    "the file of recording {} is not that recording, available",
                    file.recording_id
                ));
            }
            fetch.outcomes.push(outcome);
        }
        if fetch.outcomes.is_empty() {
            return Err("the batch holds no recording of it".into());
        }
        Ok(fetch)
    }

    /// Plain GET of a pre-signed result URL (no bearer token): the recording, when it is a text
    /// one.
    async fn download(&self, url: &str) -> Result<RecordingOutcome, String> {
        let response = self
            .inner
            .transport
            .http
            .get(url)
            .send()
            .await
            .map_err(|err| format!("download failed: {err}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|err| format!("download cut short: {err}"))?;
        if !status.is_success() {
            return Err(format!("download answered HTTP {}", status.as_u16()));
        }
        let recording: Recording =
            decode("GET {resultUrl}", &body).map_err(|err| err.to_string())?;
        if !recording.is_text() {
            return Err("not a text recording".to_string());
        }
        Ok(RecordingOutcome::classify(recording))
    }
}

fn path_template(path: &str) -> String {
    super::endpoint_template(path)
}

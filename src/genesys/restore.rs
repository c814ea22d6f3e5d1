//! Restoring an archived recording: `PUT /api/v2/conversations/{cid}/recordings/{rid}` with an
//! `archiveDate` in the future restores it until that date (the SDK's
//! `RecordingApi.put_conversation_recording`: "a request to change the archival date of an
//! archived recording will result in a restoration of the recording until the new date set").
//! The recording then goes RESTORING -> RESTORED and its transcript can be read again. Setting
//! the same date again changes nothing, so the transport's retry after a lost answer is
//! harmless.

use http::Method;
use jiff::Timestamp;
use serde_json::json;

use super::models::{FileState, Recording, format_timestamp};
use super::{GenesysClient, GenesysError};

/// The permission Genesys' API reference names for this PUT (besides `recording:recording:view`):
/// without it the answer is 403.
pub const RESTORE_PERMISSION: &str = "recording:recording:editRetention";

impl GenesysClient {
    /// Asks Genesys to restore an archived recording until `until`. Ok holds the `fileState`
    /// the answer gives (RESTORING, RESTORED, ...) when its body has one: a 2xx without a
    /// usable body still means the request was taken. A 403 is
    /// [`GenesysError::RestoreForbidden`]; other errors come as from any other call (retried
    /// by the transport where that makes sense).
    pub async fn restore_recording(
        &self,
        conversation_id: &str,
        recording_id: &str,
        until: Timestamp,
    ) -> Result<Option<FileState>, GenesysError> {
        let path = format!("/api/v2/conversations/{conversation_id}/recordings/{recording_id}");
        let body = json!({"archiveDate": format_timestamp(until)});
        match self.send(Method::PUT, &path, &[], Some(&body)).await {
            Ok(response) => Ok(serde_json::from_slice::<Recording>(&response.body)
                .ok()
                .and_then(|recording| recording.file_state_raw)
                .map(|state| FileState::parse(&state))),
            Err(GenesysError::Api {
                endpoint,
                status: 403,
                code,
                message,
                context_id,
            }) => Err(GenesysError::RestoreForbidden {
                endpoint,
                code,
                message,
                context_id,
            }),
            Err(err) => Err(err),
        }
    }
}

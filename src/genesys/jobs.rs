//! The async analytics jobs API: submit, poll, cursor-paged results, cancel, data availability.

use std::time::Duration;

use http::Method;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::analytics::{
    CollectQuery, Conversation, Emitter, job_poll_delay, parse_conversation_json,
};
use super::models::AsyncQueryStatus;
use super::{GenesysClient, GenesysError};
use crate::api::Window;

const JOBS_PATH: &str = "/api/v2/analytics/conversations/details/jobs";
/// Results per job page.
pub const JOB_PAGE_SIZE: u32 = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Submitted {
    job_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Availability {
    data_availability_date: Option<Timestamp>,
}

/// One page of job results.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobPage {
    /// Conversations, raw (parse each with its own error).
    #[serde(default)]
    pub conversations: Vec<Value>,
    /// Cursor of the next page; absent on the last.
    pub cursor: Option<String>,
    /// Up to when the data lake is complete.
    pub data_availability_date: Option<Timestamp>,
}

/// A job results page as the client reads it: each conversation's JSON text borrowed from the
/// body and parsed one at a time as it is emitted. (A `Value` tree of 1,000 conversations is
/// several times the body's size, and was the largest allocation of a big collection.)
#[derive(Deserialize)]
struct TextJobPage<'a> {
    #[serde(borrow, default)]
    conversations: Vec<&'a RawValue>,
    cursor: Option<String>,
}

impl GenesysClient {
    /// `GET .../details/jobs/availability`: the data lake is complete up to this instant.
    pub async fn data_availability(&self) -> Result<Timestamp, GenesysError> {
        let path = format!("{JOBS_PATH}/availability");
        let (_, body): (_, Availability) = self.send_json(Method::GET, &path, &[], None).await?;
        body.data_availability_date
            .ok_or_else(|| GenesysError::InvalidResponse {
                endpoint: format!("GET {path}"),
                reason: "no dataAvailabilityDate".into(),
            })
    }

    /// Submits a job for the conversations of `window` matching `query`'s media.
    pub async fn submit_job(
        &self,
        query: &CollectQuery,
        window: &Window,
    ) -> Result<String, GenesysError> {
        let (conversation_filters, segment_filters) = self.filters(query, Vec::new());
        let body = super::analytics::with_conversation_filters(
            json!({
                "interval": format!("{}/{}", super::models::format_timestamp(window.start), super::models::format_timestamp(window.end)),
                "order": "asc",
                "orderBy": "conversationStart",
                "segmentFilters": segment_filters,
            }),
            conversation_filters,
        );
        let (_, submitted): (_, Submitted) = self
            .send_json(Method::POST, JOBS_PATH, &[], Some(&body))
            .await?;
        submitted
            .job_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| GenesysError::InvalidResponse {
                endpoint: format!("POST {JOBS_PATH}"),
                reason: "no jobId in the answer".into(),
            })
    }

    /// `GET .../jobs/{jobId}` (200 or 202).
    pub async fn job_status(&self, job_id: &str) -> Result<AsyncQueryStatus, GenesysError> {
        Ok(self.job_status_with_wait(job_id).await?.0)
    }

    /// The job's status and, when the answer carried one (undocumented, so optional), its
    /// Retry-After.
    async fn job_status_with_wait(
        &self,
        job_id: &str,
    ) -> Result<(AsyncQueryStatus, Option<Duration>), GenesysError> {
        let path = format!("{JOBS_PATH}/{job_id}");
        let response = self.send(Method::GET, &path, &[], None).await?;
        let status = super::decode(&format!("GET {JOBS_PATH}/{{id}}"), &response.body)?;
        Ok((status, crate::http::parse_retry_after(&response.headers)))
    }

    /// `GET .../jobs/{jobId}/results`.
    pub async fn job_results_page(
        &self,
        job_id: &str,
        cursor: Option<&str>,
    ) -> Result<JobPage, GenesysError> {
        let mut params = vec![("pageSize", JOB_PAGE_SIZE.to_string())];
        if let Some(cursor) = cursor {
            params.push(("cursor", cursor.to_string()));
        }
        let (_, page) = self
            .send_json(
                Method::GET,
                &format!("{JOBS_PATH}/{job_id}/results"),
                &params,
                None,
            )
            .await?;
        Ok(page)
    }

    /// `DELETE .../jobs/{jobId}`.
    pub async fn cancel_job(&self, job_id: &str) -> Result<(), GenesysError> {
        self.send(Method::DELETE, &format!("{JOBS_PATH}/{job_id}"), &[], None)
            .await
            .map(|_| ())
    }

    /// Polls until the job is FULFILLED; FAILED, CANCELLED, EXPIRED or the configured timeout
    /// end it with [`GenesysError::JobFailed`] (a timed-out job is cancelled).
    pub async fn wait_for_job(&self, job_id: &str) -> Result<(), GenesysError> {
        let started = Instant::now();
        let endpoint = format!("GET {JOBS_PATH}/{{id}}");
        let mut poll = 0;
        loop {
            let (status, retry_after) = self.job_status_with_wait(job_id).await?;
            match status.state.as_deref() {
                Some("FULFILLED") => return Ok(()),
                Some(state @ ("FAILED" | "CANCELLED" | "EXPIRED")) => {
                    return Err(GenesysError::JobFailed {
                        endpoint,
                        job_id: job_id.into(),
                        state: state.into(),
                        message: status.error_message,
                    });
                }
                // QUEUED, PENDING, or a state this client does not know yet: keep waiting.
                _ => {}
            }
            if started.elapsed() > self.config().job_timeout {
                let _ = self.cancel_job(job_id).await;
                return Err(GenesysError::JobFailed {
                    endpoint,
                    job_id: job_id.into(),
                    state: "TIMEOUT".into(),
                    message: None,
                });
            }
            let wait = super::recordings::accepted_wait(retry_after, job_poll_delay(poll));
            tokio::time::sleep(wait).await;
            poll += 1;
        }
    }

    /// Runs a job over `window` and emits every result `keep` accepts.
    pub(crate) async fn run_job(
        &self,
        query: &CollectQuery,
        window: &Window,
        mut keep: impl FnMut(&Conversation) -> bool,
        out: &Emitter,
    ) -> Result<(), GenesysError> {
        let job_id = self.submit_job(query, window).await?;
        self.wait_for_job(&job_id).await?;
        let endpoint = format!("GET {JOBS_PATH}/{{id}}/results");
        let mut cursor: Option<String> = None;
        loop {
            let mut params = vec![("pageSize", JOB_PAGE_SIZE.to_string())];
            if let Some(cursor) = &cursor {
                params.push(("cursor", cursor.clone()));
            }
            let path = format!("{JOBS_PATH}/{job_id}/results");
            let body = self.send(Method::GET, &path, &params, None).await?.body;
            let page: TextJobPage<'_> =
                super::decode(&format!("GET {JOBS_PATH}/{{id}}/results"), &body)?;
            for text in page.conversations {
                match parse_conversation_json(&endpoint, text.get()) {
                    Ok(conversation) => {
                        if keep(&conversation) && !out.emit_one(conversation).await {
                            let _ = self.cancel_job(&job_id).await;
                            return Ok(());
                        }
                    }
                    Err(err) => {
                        out.send(Err(err)).await;
                    }
                }
            }
            match page.cursor.filter(|c| !c.is_empty()) {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                Some(_) => {
                    return Err(GenesysError::InvalidResponse {
                        endpoint,
                        reason: "the same cursor came back twice".into(),
                    });
                }
                None => return Ok(()),
            }
        }
    }
}

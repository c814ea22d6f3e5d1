"""The official Genesys Cloud Python SDK (purecloudplatformclientv2 269.0.0) against the simulator.

Nothing is patched but ``configuration.host``. The Rust test ``tests/python_sdk.rs`` starts the
simulator once per Genesys variant and passes its URL (GENESYS_SIM_URL), the seeded window
(GENESYS_SIM_WINDOW), the ground truth (GENESYS_SIM_EXPECTED: a JSON file) and the variant it
serves (GENESYS_SIM_VARIANT: the `--genesys-variant` list, empty for the documented contract) in
the environment. The variant-specific tests assert what the SDK sees of each reading.
"""

import base64
import datetime
import json
import os
import time
import urllib.error
import urllib.request

import PureCloudPlatformClientV2 as gc
import pytest

HOST = os.environ.get("GENESYS_SIM_URL")
pytestmark = pytest.mark.skipif(HOST is None, reason="run through `cargo test --test python_sdk`")


def parse_variant(text):
    """`recording-flag,media=messaging` -> {"recording-flag": "on", "media": "messaging"}."""
    knobs = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        knobs[name.strip()] = value.strip() or "on"
    return knobs


VARIANT = parse_variant(os.environ.get("GENESYS_SIM_VARIANT"))
RECORDING_FLAG = VARIANT.get("recording-flag") in ("on", "true")
MEDIA = VARIANT.get("media", "message")
EMPTY_PAGE = VARIANT.get("empty-page", "total-hits")
RETRY_AFTER_202 = VARIANT.get("retry-after-202") in ("on", "true")
INTERVAL_END = VARIANT.get("interval-end", "exclusive")
OAUTH_ERROR = VARIANT.get("oauth-error", "description")


@pytest.fixture(scope="module")
def expected():
    with open(os.environ["GENESYS_SIM_EXPECTED"]) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def api():
    gc.configuration.host = HOST
    client = gc.api_client.ApiClient().get_client_credentials_token("sim-client", "sim-secret")
    assert client is not None
    return client


def sim_post(path, body):
    request = urllib.request.Request(
        HOST + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request) as response:
        return response.status


def sim_stats():
    with urllib.request.urlopen(HOST + "/sim/genesys/stats") as response:
        return json.load(response)


def text_query(page_number, interval=None):
    query = gc.ConversationQuery()
    query.interval = interval or os.environ["GENESYS_SIM_WINDOW"]
    query.order = "asc"
    query.order_by = "conversationStart"
    query.paging = gc.PagingSpec()
    query.paging.page_size = 100
    query.paging.page_number = page_number
    end_exists = gc.ConversationDetailQueryPredicate()
    end_exists.type = "dimension"
    end_exists.dimension = "conversationEnd"
    end_exists.operator = "exists"
    conversation_filter = gc.ConversationDetailQueryFilter()
    conversation_filter.type = "and"
    conversation_filter.predicates = [end_exists]
    media = []
    for media_type in ("chat", "email", "message"):
        predicate = gc.SegmentDetailQueryPredicate()
        predicate.type = "dimension"
        predicate.dimension = "mediaType"
        predicate.value = media_type
        media.append(predicate)
    segment_filter = gc.SegmentDetailQueryFilter()
    segment_filter.type = "or"
    segment_filter.predicates = media
    query.conversation_filters = [conversation_filter]
    query.segment_filters = [segment_filter]
    return query


def agent_sessions(conversation):
    return [
        s
        for p in conversation.participants
        if p.purpose in ("agent", "user")
        for s in (p.sessions or [])
    ]


def test_token_and_paged_details_query_with_filters(api, expected):
    analytics = gc.AnalyticsApi(api)
    seen = set()
    page = 1
    total = None
    while True:
        response = analytics.post_analytics_conversations_details_query(text_query(page))
        if not response.conversations:
            break
        # Non-empty pages always carry totalHits, whatever the empty-page reading.
        assert response.total_hits is not None
        total = response.total_hits
        for conversation in response.conversations:
            assert conversation.conversation_end is not None
            assert conversation.participants
            purposes = {p.purpose for p in conversation.participants}
            assert "customer" in purposes and purposes & {"agent", "user"}
            seen.add(conversation.conversation_id)
        page += 1
    # The query's interval rule may return neighbours; everything seeded in the window is there.
    assert total == len(seen)
    assert set(expected["completedText"]).issubset(seen)


def test_an_empty_page_has_the_variants_shape(api, expected):
    analytics = gc.AnalyticsApi(api)
    first = analytics.post_analytics_conversations_details_query(text_query(1))
    beyond = first.total_hits // 100 + 2
    empty = analytics.post_analytics_conversations_details_query(text_query(beyond))
    assert api.last_response.status == 200
    raw = json.loads(api.last_response.data)
    if EMPTY_PAGE == "total-hits":
        assert raw == {"totalHits": first.total_hits}
        assert empty.conversations is None and empty.total_hits == first.total_hits
    elif EMPTY_PAGE == "bare":
        assert raw == {}
        assert empty.conversations is None and empty.total_hits is None
    else:
        assert raw == {"conversations": []}
        assert empty.conversations == [] and empty.total_hits is None


def test_recordingmetadata_and_recordings_with_transcripts(api, expected):
    recordings_api = gc.RecordingApi(api)
    for media, conversation_id in expected["recordedByMedia"].items():
        metadata = recordings_api.get_conversation_recordingmetadata(conversation_id)
        assert len(metadata) >= 1
        assert metadata[0].file_state == "AVAILABLE"
        recordings = recordings_api.get_conversation_recordings(conversation_id, max_wait_ms=5000)
        assert api.last_response.status == 200
        transcript = {
            "chat": recordings[0].transcript,
            "email": recordings[0].email_transcript,
            "message": recordings[0].messaging_transcript,
        }[media]
        assert transcript, media
        spelled = MEDIA if media == "message" else media
        assert metadata[0].media == spelled
        assert recordings[0].media == spelled
    archived = recordings_api.get_conversation_recordingmetadata(expected["archived"])
    assert archived[0].file_state == "ARCHIVED"
    assert archived[0].archive_date is not None


def test_restoring_an_archived_recording(api, expected):
    """`put_conversation_recording` with a future archiveDate restores an archived recording."""
    recordings_api = gc.RecordingApi(api)
    conversation_id = expected["restoreTarget"]
    archived = recordings_api.get_conversation_recordingmetadata(conversation_id)[0]
    assert archived.file_state == "ARCHIVED"
    body = gc.Recording()
    body.archive_date = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7)
    before = sim_stats()
    restoring = recordings_api.put_conversation_recording(conversation_id, archived.id, body)
    assert api.last_response.status == 200
    assert restoring.file_state in ("RESTORING", "RESTORED")
    assert restoring.restore_expiration_time is not None
    # Asking again (a retry after a lost answer) is harmless.
    again = recordings_api.put_conversation_recording(conversation_id, archived.id, body)
    assert again.file_state in ("RESTORING", "RESTORED")
    polls = 0
    while True:
        recording = recordings_api.get_conversation_recording(conversation_id, archived.id)
        if recording.file_state == "RESTORED":
            break
        assert recording.file_state == "RESTORING"
        polls += 1
        assert polls < 300, "never RESTORED"
        time.sleep(0.1)
    assert recording.transcript or recording.email_transcript or recording.messaging_transcript
    after = sim_stats()
    assert after["restoreRequested"] == before["restoreRequested"] + 1
    assert after["restoreRequests"] == before["restoreRequests"] + 2
    assert after["restored"] == before["restored"] + 1


def test_recording_flag_on_text_sessions(api, expected):
    analytics = gc.AnalyticsApi(api)
    recorded = analytics.get_analytics_conversation_details(expected["recordedByMedia"]["chat"])
    sessions = agent_sessions(recorded)
    assert sessions
    for session in sessions:
        assert session.recording is (True if RECORDING_FLAG else None)
    # An unrecorded conversation never carries the flag, and its recordings list is empty.
    unrecorded = analytics.get_analytics_conversation_details(expected["unrecorded"])
    assert all(s.recording is None for s in agent_sessions(unrecorded))
    before = sim_stats()
    assert gc.RecordingApi(api).get_conversation_recordings(expected["unrecorded"]) == []
    assert api.last_response.status == 200
    after = sim_stats()
    assert after["unrecordedRecordingsCalls"] == before["unrecordedRecordingsCalls"] + 1
    assert after["recordingsCalls"] == before["recordingsCalls"] + 1


def test_outbound_agent_legs_are_users(api, expected):
    conversation = gc.AnalyticsApi(api).get_analytics_conversation_details(expected["outbound"])
    assert conversation.originating_direction == "outbound"
    purposes = [p.purpose for p in conversation.participants]
    assert "user" in purposes and "agent" not in purposes


def test_202s_and_retry_after(api, expected):
    recordings_api = gc.RecordingApi(api)
    assert sim_post("/sim/faults", {"kind": "transcode", "count": 1}) == 204
    recordings_api.get_conversation_recordings(expected["transcodeTarget"], max_wait_ms=0)
    response = api.last_response
    assert response.status == 202
    retry_after = response.getheader("Retry-After")
    if RETRY_AFTER_202:
        assert retry_after is not None and 1 <= int(retry_after) <= 2
    else:
        assert retry_after is None
    # A job's submission is a 202 as well; its status is one while QUEUED or PENDING.
    analytics = gc.AnalyticsApi(api)
    job_query = gc.AsyncConversationQuery()
    job_query.interval = os.environ["GENESYS_SIM_WINDOW"]
    submitted = analytics.post_analytics_conversations_details_jobs(job_query)
    assert api.last_response.status == 202
    assert (api.last_response.getheader("Retry-After") is not None) == RETRY_AFTER_202
    analytics.get_analytics_conversations_details_job(submitted.job_id)
    if api.last_response.status == 202:
        assert (api.last_response.getheader("Retry-After") is not None) == RETRY_AFTER_202


def test_interval_end(api, expected):
    """A conversation starting exactly at the interval's end is in only under `inclusive`."""
    start = datetime.datetime.fromisoformat(expected["boundary"]["start"].replace("Z", "+00:00"))
    before = (start - datetime.timedelta(minutes=10)).isoformat(timespec="milliseconds")
    interval = before.replace("+00:00", "Z") + "/" + expected["boundary"]["start"]
    query = text_query(1, interval)
    by_id = gc.ConversationDetailQueryPredicate()
    by_id.type = "dimension"
    by_id.dimension = "conversationId"
    by_id.value = expected["boundary"]["id"]
    query.conversation_filters[0].predicates.append(by_id)
    response = gc.AnalyticsApi(api).post_analytics_conversations_details_query(query)
    ids = [c.conversation_id for c in response.conversations or []]
    assert ids == ([expected["boundary"]["id"]] if INTERVAL_END == "inclusive" else [])


def test_token_error_body(expected):
    credentials = base64.b64encode(b"sim-client:wrong").decode()
    request = urllib.request.Request(
        HOST + "/oauth/token",
        data=b"grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Basic " + credentials},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request)
    assert raised.value.code == 400
    body = json.load(raised.value)
    fields = {
        "description": {"error", "description"},
        "error_description": {"error", "error_description"},
        "both": {"error", "description", "error_description"},
    }[OAUTH_ERROR]
    assert set(body) == fields
    assert body["error"] == "invalid_client"
    assert all(body[f] == "authentication failed" for f in fields - {"error"})
    # The SDK's own token call raises with the same body.
    gc.configuration.host = HOST
    with pytest.raises(gc.rest.ApiException) as sdk_raised:
        gc.api_client.ApiClient().get_client_credentials_token("sim-client", "wrong")
    assert sdk_raised.value.status == 400
    assert json.loads(sdk_raised.value.body) == body


def test_429_with_retry_after_is_retried_by_urllib3(api, expected):
    before = sim_stats()["faultsInjected"]
    assert sim_post("/sim/faults", {"kind": "429", "count": 2}) == 204
    started = time.monotonic()
    metadata = gc.RecordingApi(api).get_conversation_recordingmetadata(expected["recordedByMedia"]["chat"])
    assert metadata
    assert sim_stats()["faultsInjected"] == before + 2
    assert time.monotonic() - started >= 1.5  # slept Retry-After: 1 twice


def test_401_on_a_forged_token(expected):
    gc.configuration.host = HOST
    forged = gc.api_client.ApiClient()
    forged.access_token = "forged"
    with pytest.raises(gc.rest.ApiException) as raised:
        gc.RecordingApi(forged).get_conversation_recordingmetadata(expected["recordedByMedia"]["chat"])
    assert raised.value.status == 401
    assert json.loads(raised.value.body)["code"] == "bad.credentials"

"""The official Genesys Cloud Python SDK (purecloudplatformclientv2 269.0.0) against the simulator.

Nothing is patched but ``configuration.host``. The Rust test ``tests/python_sdk.rs`` starts the
simulator and passes its URL (GENESYS_SIM_URL), the seeded window (GENESYS_SIM_WINDOW) and the
ground truth (GENESYS_SIM_EXPECTED: a JSON file) in the environment.
"""

import json
import os
import time
import urllib.request

import PureCloudPlatformClientV2 as gc
import pytest

HOST = os.environ.get("GENESYS_SIM_URL")
pytestmark = pytest.mark.skipif(HOST is None, reason="run through `cargo test --test python_sdk`")


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


def text_query(page_number):
    query = gc.ConversationQuery()
    query.interval = os.environ["GENESYS_SIM_WINDOW"]
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


def test_token_and_paged_details_query_with_filters(api, expected):
    analytics = gc.AnalyticsApi(api)
    seen = set()
    page = 1
    total = None
    while True:
        response = analytics.post_analytics_conversations_details_query(text_query(page))
        total = response.total_hits
        if not response.conversations:
            break
        for conversation in response.conversations:
            assert conversation.conversation_end is not None
            assert conversation.participants
            purposes = {p.purpose for p in conversation.participants}
            assert "customer" in purposes and "agent" in purposes
            seen.add(conversation.conversation_id)
        page += 1
    # The query's interval rule may return neighbours; everything seeded in the window is there.
    assert total == len(seen)
    assert set(expected["completedText"]).issubset(seen)


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
    archived = recordings_api.get_conversation_recordingmetadata(expected["archived"])
    assert archived[0].file_state == "ARCHIVED"
    assert archived[0].archive_date is not None


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

"""A naive recovery with the official Genesys Cloud Python SDK: the baseline of benches/fleet_naive.rs.

What a competent engineer would write in an afternoon: sequential, one client-credentials token,
no concurrency and no tricks, relying on the SDK's own 429 handling (its urllib3 Retry sleeps each
429's Retry-After and tries again, genesys-api.md 6.4).

1. Page through the analytics detail query over the window (100 per page; an interval with more
   hits than Genesys lets one page through, 100,000, is split in halves), keeping the completed
   chat, email and messaging conversations that started in the window.
2. List what the recording side's DAS holds for the window (plain HTTP, its own OAuth token).
3. Every conversation Genesys has and DAS lacks is missing: get its recordings (one
   `RecordingApi.get_conversation_recordings` call carries the transcripts) and PUT it to
   Interaction Capture (design.md section 8).

Prints one JSON line at the end: recovered (Capture answered 201 or 200), genesysCalls (SDK calls
made, retries inside the SDK not counted), elapsedSeconds and a few more counts.

Usage: naive_sdk.py --genesys URL --das URL --capture URL --tenant T --window START/END
       (credentials from NAIVE_CLIENT_ID / NAIVE_CLIENT_SECRET, default the simulator's)
"""

import argparse
import base64
import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import PureCloudPlatformClientV2 as gc

PAGE_SIZE = 100
# Genesys refuses to page past 100,000 results of one query (genesys-api.md 2.4).
PAGING_CAP = 100_000
TEXT_MEDIA = ("chat", "email", "message")
# Capture's mediaType for each Genesys text mediaType.
CAPTURE_MEDIA = {"chat": "chat", "email": "email", "message": "social"}


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(moment):
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Genesys:
    """The SDK, counting the calls made through it."""

    def __init__(self, host, client_id, client_secret):
        gc.configuration.host = host
        self.api = gc.api_client.ApiClient().get_client_credentials_token(client_id, client_secret)
        self.analytics = gc.AnalyticsApi(self.api)
        self.recordings = gc.RecordingApi(self.api)
        self.calls = 1  # the token

    def query(self, interval, page_number):
        body = gc.ConversationQuery()
        body.interval = interval
        body.order = "asc"
        body.order_by = "conversationStart"
        body.paging = gc.PagingSpec()
        body.paging.page_size = PAGE_SIZE
        body.paging.page_number = page_number
        ended = gc.ConversationDetailQueryPredicate()
        ended.type = "dimension"
        ended.dimension = "conversationEnd"
        ended.operator = "exists"
        completed = gc.ConversationDetailQueryFilter()
        completed.type = "and"
        completed.predicates = [ended]
        media = []
        for media_type in TEXT_MEDIA:
            predicate = gc.SegmentDetailQueryPredicate()
            predicate.type = "dimension"
            predicate.dimension = "mediaType"
            predicate.value = media_type
            media.append(predicate)
        text = gc.SegmentDetailQueryFilter()
        text.type = "or"
        text.predicates = media
        body.conversation_filters = [completed]
        body.segment_filters = [text]
        self.calls += 1
        return self.analytics.post_analytics_conversations_details_query(body)

    def conversations(self, start, end, found):
        """Adds the conversations of [start, end) to `found` (by id), splitting past the paging cap."""
        interval = f"{iso(start)}/{iso(end)}"
        first = self.query(interval, 1)
        total = first.total_hits or 0
        if total > PAGING_CAP and end - start > datetime.timedelta(minutes=1):
            middle = start + (end - start) / 2
            self.conversations(start, middle, found)
            self.conversations(middle, end, found)
            return
        page, response = 1, first
        while response.conversations:
            for conversation in response.conversations:
                found[conversation.conversation_id] = conversation
            if page * PAGE_SIZE >= total:
                break
            page += 1
            response = self.query(interval, page)

    def recordings_of(self, conversation_id):
        """The conversation's recordings; a 202 (still transcoding) is asked again a second later."""
        for _ in range(30):
            self.calls += 1
            recordings = self.recordings.get_conversation_recordings(conversation_id, max_wait_ms=5000)
            if self.api.last_response.status != 202:
                return recordings or []
            time.sleep(1)
        return []


class RecordingSide:
    """DAS and Capture over plain HTTP, with one client-credentials token (design.md section 8)."""

    def __init__(self, das, capture, tenant, client_id, client_secret):
        self.das, self.capture, self.tenant = das, capture, tenant
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        token = self.request(
            "POST",
            f"{das}/oauth/token",
            b"grant_type=client_credentials",
            {"Authorization": "Basic " + basic, "Content-Type": "application/x-www-form-urlencoded"},
        )[1]["access_token"]
        self.auth = {"Authorization": "Bearer " + token}
        self.das_calls = self.capture_calls = 0

    @staticmethod
    def request(method, url, body=None, headers=None):
        """(status, JSON body); waits out a 429/503 with Retry-After and tries again."""
        while True:
            request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
            try:
                with urllib.request.urlopen(request) as response:
                    return response.status, json.load(response)
            except urllib.error.HTTPError as err:
                retry_after = err.headers.get("Retry-After")
                if err.code in (429, 503) and retry_after:
                    time.sleep(int(retry_after))
                    continue
                return err.code, json.loads(err.read() or b"{}")

    def held_ids(self, start, end):
        """Genesys conversation ids of the contacts DAS holds that started in [start, end)."""
        held, cursor = set(), None
        while True:
            params = [("from", iso(start)), ("to", iso(end))]
            params += [("mediaType", m) for m in ("chat", "email", "social")]
            params.append(("limit", "1000"))
            if cursor:
                params.append(("cursor", cursor))
            url = f"{self.das}/api/v1/tenants/{self.tenant}/contacts?{urllib.parse.urlencode(params)}"
            self.das_calls += 1
            status, page = self.request("GET", url, headers=self.auth)
            if status != 200:
                raise RuntimeError(f"DAS answered {status}: {page}")
            held.update(c["externalId"] for c in page.get("contacts", []))
            cursor = page.get("nextCursor")
            if not cursor:
                return held

    def put(self, interaction):
        url = f"{self.capture}/api/v1/tenants/{self.tenant}/interactions/{interaction['conversationId']}"
        headers = dict(self.auth)
        headers["Content-Type"] = "application/json"
        headers["Idempotency-Key"] = "naive-" + interaction["conversationId"]
        self.capture_calls += 1
        return self.request("PUT", url, json.dumps(interaction).encode(), headers)[0]


def interaction(conversation, recordings, serialize):
    """The Capture body for `conversation` from its text recordings, or None when none is usable."""
    sessions = {}
    for participant in conversation.participants or []:
        if participant.purpose not in ("agent", "user"):
            continue
        for session in participant.sessions or []:
            if session.media_type in TEXT_MEDIA:
                sessions[session.session_id] = session
    used, transcripts = [], []
    for recording in recordings:
        messages = recording.messaging_transcript or recording.email_transcript or recording.transcript
        session = sessions.get(recording.session_id)
        if recording.file_state != "AVAILABLE" or not messages or session is None:
            continue
        if session not in used:
            used.append(session)
        transcripts.append({"recordingId": recording.id, "media": recording.media, "messages": serialize(messages)})
    if not transcripts:
        return None
    return {
        "conversationId": conversation.conversation_id,
        "source": "genesys-cloud",
        "mediaType": CAPTURE_MEDIA[used[0].media_type],
        "messageType": used[0].message_type,
        "startTime": iso(conversation.conversation_start),
        "endTime": iso(conversation.conversation_end),
        "participants": [
            {"participantId": p.participant_id, "purpose": p.purpose, "name": p.participant_name}
            for p in conversation.participants or []
        ],
        "sessions": [
            {"sessionId": s.session_id, "mediaType": CAPTURE_MEDIA[s.media_type], "messageType": s.message_type}
            for s in used
        ],
        "transcripts": transcripts,
        "recovery": {"namespace": "naive", "name": "naive-sdk"},
    }


def main():
    parser = argparse.ArgumentParser()
    for flag in ("--genesys", "--das", "--capture", "--tenant", "--window"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    client_id = os.environ.get("NAIVE_CLIENT_ID", "sim-client")
    client_secret = os.environ.get("NAIVE_CLIENT_SECRET", "sim-secret")
    start, end = (parse_time(t) for t in args.window.split("/"))

    started = time.monotonic()
    genesys = Genesys(args.genesys, client_id, client_secret)
    found = {}
    genesys.conversations(start, end, found)
    # The query also returns neighbours that overlap the window; keep those that started in it.
    in_window = [c for c in found.values() if start <= c.conversation_start < end]
    side = RecordingSide(args.das, args.capture, args.tenant, client_id, client_secret)
    held = side.held_ids(start, end)
    missing = [c for c in in_window if c.conversation_id not in held]
    collected = time.monotonic() - started

    answers = {}
    for conversation in missing:
        recordings = genesys.recordings_of(conversation.conversation_id)
        body = interaction(conversation, recordings, genesys.api.sanitize_for_serialization)
        status = side.put(body) if body else "none"
        answers[str(status)] = answers.get(str(status), 0) + 1

    print(
        json.dumps(
            {
                "recovered": answers.get("201", 0) + answers.get("200", 0),
                "genesysCalls": genesys.calls,
                "elapsedSeconds": time.monotonic() - started,
                "collectSeconds": collected,
                "genesysConversations": len(in_window),
                "held": len(held),
                "missing": len(missing),
                "captureAnswers": answers,
                "dasCalls": side.das_calls,
                "captureCalls": side.capture_calls,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())

"""A partner's journey against a running gateway, with a sandbox key (``lp_test_...``, scope *).

    LAYERS_BASE_URL=http://127.0.0.1:8080 LAYERS_API_KEY=lp_test_... python journey/journey.py

Webhook receiver, endpoint, project, content, a sandbox social account, a published post, its
signed ``post.published`` delivery verified with ``verify_webhook``, its metrics read with
``AsyncLayers``, and a typed ``LayersError``. One line per step; the whole run is bounded by
``DEADLINE_SECONDS`` and exits non-zero on the first failure. It cleans up after itself (the
webhook endpoint, the project's sandbox data), so it can run again and again.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import TypeVar

from layers_partner_api import (
    AsyncLayers,
    Event,
    Layers,
    LayersError,
    WebhookVerificationError,
    verify_webhook,
)
from layers_partner_api.models import Metrics, SandboxReset

DEADLINE_SECONDS = 60
JOB_TIMEOUT_SECONDS = 20.0
WEBHOOK_TIMEOUT_SECONDS = 20.0

T = TypeVar("T")


class JourneyFailure(Exception):
    """A step's answer was not what the journey expects."""


def check(condition: bool, what: str) -> None:
    if not condition:
        raise JourneyFailure(what)


def step(name: str, action: Callable[[], T], describe: Callable[[T], str]) -> T:
    """Run one step and print one line: its name, what it got and how long it took."""
    started = time.monotonic()
    result = action()
    print(f"ok  {name:<28} {describe(result)}  ({time.monotonic() - started:.2f} s)", flush=True)
    return result


class Receiver:
    """A webhook receiver on 127.0.0.1 (a free port), in a thread, as a partner writes one.

    It verifies each delivery with ``verify_webhook`` before anything else, answers 400 to one
    that fails, and hands verified events (deduplicated on their id) to the journey.
    """

    def __init__(self) -> None:
        self.secret = ""
        self.events: queue.Queue[Event] = queue.Queue()
        self.rejected: queue.Queue[str] = queue.Queue()
        self._seen: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = verify_webhook(body, dict(self.headers.items()), receiver.secret)
                except WebhookVerificationError as exc:
                    receiver.rejected.put(str(exc))
                    self.send_response(400)
                else:
                    if event["id"] not in receiver._seen:
                        receiver._seen.add(event["id"])
                        receiver.events.put(event)
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                """Deliveries are reported by the journey's own lines."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/webhooks/layers"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, matches: Callable[[Event], bool], timeout: float) -> Event:
        """The first verified event that ``matches``; others (earlier steps') are skipped."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if not self.rejected.empty():
                raise JourneyFailure(f"a delivery failed verification: {self.rejected.get()}")
            try:
                event = self.events.get(timeout=min(remaining, 0.25))
            except queue.Empty:
                continue
            if matches(event):
                return event
        raise TimeoutError(f"no matching webhook delivery within {timeout:g} s")


async def read_metrics(api_key: str, base_url: str, project_id: str, external_id: str) -> Metrics:
    """The post's metrics through the async client (retries and errors behave the same)."""
    async with AsyncLayers(api_key, base_url=base_url) as client:
        return await client.get_post_metrics(project_id, post_ids=[external_id])


def journey(client: Layers, api_key: str) -> None:
    receiver = step("webhook receiver", lambda: Receiver().start(), lambda r: r.url)
    project_id: str | None = None
    endpoint_id: str | None = None
    try:
        who = step(
            "whoami",
            client.whoami,
            lambda w: f"{w['organizationId']} scopes={','.join(w['scopes'])}",
        )
        check("*" in who["scopes"], "the journey needs a key of scope *")

        endpoint = step(
            "register webhook endpoint",
            lambda: client.create_webhook_endpoint(
                {"url": receiver.url, "events": ["post.published"], "description": "journey.py"}
            ),
            lambda e: f"{e['id']} events={e['events']}",
        )
        endpoint_id = endpoint["id"]
        secret = endpoint.get("secret")
        check(bool(secret and secret.startswith("whsec_")), "the endpoint came without a secret")
        receiver.secret = str(secret)

        project = step(
            "create project",
            lambda: client.create_project({"name": "Python journey", "timezone": "UTC"}),
            lambda p: p["id"],
        )
        project_id = project["id"]

        started = step(
            "generate content",
            lambda: client.generate_content(
                project["id"], "image", {"hook": "Plan your week in one minute"}
            ),
            lambda s: f"job {s['jobId']} {s['status']}, {len(s['containers'])} container(s)",
        )
        job = step(
            "wait for content job",
            lambda: client.wait_for_job(started["jobId"], timeout=JOB_TIMEOUT_SECONDS),
            lambda j: j["status"],
        )
        check(job["status"] == "succeeded", f"the content job ended {job['status']}")
        content = step(
            "read content",
            lambda: client.get_content(started["containers"][0]["id"]),
            lambda c: f"{c['id']} {c['status']}",
        )
        check(content["status"] == "completed", f"the content is {content['status']}")

        oauth = step(
            "oauth url",
            lambda: client.create_oauth_url(project["id"], {"platform": "instagram"}),
            lambda o: o["url"].split("?")[0],
        )
        connection = step(
            "connect account (sandbox)",
            lambda: client.complete_sandbox_connection(oauth["state"], "instagram"),
            lambda c: f"{c['socialAccountId']} @{c['handle']}",
        )
        accounts = step(
            "list social accounts",
            lambda: client.list_social_accounts(project["id"]),
            lambda a: ", ".join(f"{x['id']} {x['status']}" for x in a["data"]),
        )
        check(
            any(
                a["id"] == connection["socialAccountId"] and a["status"] == "active"
                for a in accounts["data"]
            ),
            "the connected account is not listed as active",
        )

        published = step(
            "publish",
            lambda: client.publish_content(
                content["id"],
                {"targets": [{"socialAccountId": connection["socialAccountId"], "caption": "Hi"}]},
            ),
            lambda p: f"post {p['scheduledPostId']} job {p['jobId']} {p['status']}",
        )
        publish_job = step(
            "wait for publish job",
            lambda: client.wait_for_job(published["jobId"], timeout=JOB_TIMEOUT_SECONDS),
            lambda j: j["status"],
        )
        check(
            publish_job["status"] == "succeeded", f"the publish job ended {publish_job['status']}"
        )
        post = step(
            "read post",
            lambda: client.get_scheduled_post(published["scheduledPostId"]),
            lambda p: f"{p['status']} {p['targets'][0]['externalId']}",
        )
        external_id = post["targets"][0]["externalId"]
        check(post["status"] == "published" and external_id is not None, "the post is not out")
        assert external_id is not None

        def ours(event: Event) -> bool:
            return (
                event["type"] == "post.published" and event["data"]["scheduledPostId"] == post["id"]
            )

        event = step(
            "webhook delivery verified",
            lambda: receiver.wait_for(ours, WEBHOOK_TIMEOUT_SECONDS),
            lambda e: f"{e['type']} {e['id']} meta={e.get('meta')}",
        )
        check(event["type"] == "post.published", f"unexpected event type {event['type']}")
        check(event.get("meta", {}).get("sandbox") is True, "the event is not marked sandbox")

        metrics = step(
            "metrics (AsyncLayers)",
            lambda: asyncio.run(read_metrics(api_key, client.base_url, project["id"], external_id)),
            lambda m: (
                f"{m['from']}..{m['to']}, last day views={m['data'][0]['series'][-1]['views']}"
                if m["data"] and m["data"][0]["series"]
                else "no series"
            ),
        )
        check(
            [m["externalId"] for m in metrics["data"]] == [external_id],
            "the metrics are not the post's",
        )
        check(len(metrics["data"][0]["series"]) > 0, "the post's series is empty")

        def bad_body() -> LayersError:
            try:
                client.create_project({"name": ""})
            except LayersError as exc:
                return exc
            raise JourneyFailure("an empty project name was accepted")

        error = step(
            "typed error",
            bad_body,
            lambda e: f"{e.status} {e.code} field={e.details.get('field')} {e.request_id}",
        )
        check(error.code == "VALIDATION_ERROR", f"expected VALIDATION_ERROR, got {error.code}")
    finally:
        if endpoint_id is not None:
            client.delete_webhook_endpoint(endpoint_id)
        receiver.stop()
        if project_id is not None:
            reset_project = project_id
            step(
                "clean up",
                lambda: client.request(
                    "POST",
                    "/v1/test_helpers/reset",
                    json={"projectId": reset_project},
                    cast_to=SandboxReset,
                ),
                lambda r: (
                    f"endpoint deleted; project reset: {r['deleted']['projects']} project, "
                    f"{r['deleted']['contents']} content, {r['deleted']['scheduledPosts']} post"
                ),
            )


def on_deadline(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError(f"the journey took more than {DEADLINE_SECONDS} s")


def main() -> int:
    api_key = os.environ.get("LAYERS_API_KEY", "")
    base_url = os.environ.get("LAYERS_BASE_URL", "http://127.0.0.1:8080")
    if not api_key.startswith("lp_test_"):
        print("set LAYERS_API_KEY to a sandbox key (lp_test_...)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGALRM, on_deadline)
    signal.alarm(DEADLINE_SECONDS)
    started = time.monotonic()
    try:
        with Layers(api_key, base_url=base_url, timeout=10.0) as client:
            journey(client, api_key)
    except Exception as exc:  # one line for whatever went wrong, then a non-zero exit
        print(f"FAIL {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.alarm(0)
    print(f"journey ok against {base_url} in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

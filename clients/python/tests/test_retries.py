"""Retries, Retry-After and Idempotency-Key, for Layers and AsyncLayers alike."""

from __future__ import annotations

import time
import unittest
import uuid

from layers_partner_api import AsyncLayers, Layers, LayersConnectionError, LayersError
from layers_partner_api.models import Project

from ._server import QuietLoop, Received, Reply, ScriptedServer, envelope

KEY = "lp_test_unit_secret"
PROJECT: Project = {
    "id": "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f",
    "name": "Acme",
    "customerExternalId": None,
    "timezone": "UTC",
    "primaryLanguage": "en",
    "status": "active",
    "testClockId": None,
    "archivedAt": None,
    "createdAt": "2026-05-08T12:00:00.000Z",
    "updatedAt": "2026-05-08T12:00:00.000Z",
}
RATE_LIMITED = Reply(
    429,
    envelope("RATE_LIMITED", "slow down", requestId="req_1", details={"retryAfterSeconds": 1}),
    {"Retry-After": "1"},
)


def rate_limited_then_created() -> list[Reply]:
    return [RATE_LIMITED, Reply(201, PROJECT)]


class RetryAssertions(unittest.TestCase):
    def assert_waited_about_one_second_with_one_key(self, received: list[Received]) -> None:
        self.assertEqual([r.method for r in received], ["POST", "POST"])
        waited = received[1].at - received[0].at
        self.assertGreaterEqual(waited, 0.95)
        self.assertLess(waited, 2.0)
        first, second = (r.headers.get("idempotency-key") for r in received)
        self.assertIsNotNone(first)
        self.assertEqual(first, second)
        self.assertEqual(uuid.UUID(str(first)).version, 4)
        for request in received:
            self.assertEqual(request.headers["authorization"], f"Bearer {KEY}")
            self.assertEqual(request.path, "/v1/projects")
            self.assertEqual(request.body, b'{"name":"Acme"}')


class SyncRetryTest(RetryAssertions):
    def test_429_with_retry_after_then_success(self) -> None:
        with ScriptedServer(rate_limited_then_created()) as server:
            with Layers(KEY, base_url=server.url) as client:
                project = client.create_project({"name": "Acme"})
        self.assertEqual(project["id"], PROJECT["id"])
        self.assert_waited_about_one_second_with_one_key(server.received)

    def test_given_idempotency_key_is_sent_on_every_attempt(self) -> None:
        replies = [Reply(503, envelope("SERVICE_UNAVAILABLE", "db"), {"Retry-After": "0"})]
        with ScriptedServer([*replies, Reply(201, PROJECT)]) as server:
            with Layers(KEY, base_url=server.url) as client:
                client.create_project({"name": "Acme"}, idempotency_key="order-42")
        self.assertEqual([r.headers["idempotency-key"] for r in server.received], ["order-42"] * 2)

    def test_reads_carry_no_idempotency_key_and_5xx_backs_off(self) -> None:
        with ScriptedServer(
            [Reply(502, envelope("PLATFORM_ERROR", "x")), Reply(201, PROJECT)]
        ) as s:
            with Layers(KEY, base_url=s.url) as client:
                started = time.monotonic()
                client.get_project(PROJECT["id"])
                elapsed = time.monotonic() - started
        self.assertEqual(len(s.received), 2)
        self.assertNotIn("idempotency-key", s.received[0].headers)
        self.assertGreaterEqual(elapsed, 0.25)  # the first backoff is 0.25 to 0.5 s
        self.assertLess(elapsed, 1.5)

    def test_gives_up_after_max_retries(self) -> None:
        with ScriptedServer([RATE_LIMITED]) as server:
            with Layers(KEY, base_url=server.url, max_retries=0) as client:
                with self.assertRaises(LayersError) as caught:
                    client.create_project({"name": "Acme"})
        self.assertEqual(len(server.received), 1)
        self.assertEqual(caught.exception.code, "RATE_LIMITED")
        self.assertEqual(caught.exception.details, {"retryAfterSeconds": 1})

    def test_a_retry_after_beyond_a_minute_is_not_waited_for(self) -> None:
        quota = Reply(429, envelope("QUOTA_EXCEEDED", "month"), {"Retry-After": "86400"})
        with ScriptedServer([quota]) as server:
            with Layers(KEY, base_url=server.url) as client:
                with self.assertRaises(LayersError) as caught:
                    client.whoami()
        self.assertEqual(len(server.received), 1)
        self.assertEqual(caught.exception.status, 429)

    def test_a_dropped_connection_is_retried_with_the_same_key(self) -> None:
        with ScriptedServer([Reply(drop=True), Reply(201, PROJECT)]) as server:
            with Layers(KEY, base_url=server.url) as client:
                client.create_project({"name": "Acme"})
        keys = {r.headers["idempotency-key"] for r in server.received}
        self.assertEqual((len(server.received), len(keys)), (2, 1))

    def test_no_answer_at_all_raises_a_connection_error(self) -> None:
        with ScriptedServer([Reply(drop=True)]) as server:
            with Layers(KEY, base_url=server.url, max_retries=1) as client:
                with self.assertRaises(LayersConnectionError):
                    client.whoami()
        self.assertEqual(len(server.received), 2)


class AsyncRetryTest(QuietLoop, unittest.IsolatedAsyncioTestCase, RetryAssertions):
    async def test_429_with_retry_after_then_success(self) -> None:
        with ScriptedServer(rate_limited_then_created()) as server:
            async with AsyncLayers(KEY, base_url=server.url) as client:
                project = await client.create_project({"name": "Acme"})
        self.assertEqual(project["name"], "Acme")
        self.assert_waited_about_one_second_with_one_key(server.received)

    async def test_gives_up_after_max_retries(self) -> None:
        with ScriptedServer([RATE_LIMITED]) as server:
            async with AsyncLayers(KEY, base_url=server.url, max_retries=1) as client:
                with self.assertRaises(LayersError) as caught:
                    await client.create_project({"name": "Acme"})
        self.assertEqual(len(server.received), 2)
        self.assertEqual(caught.exception.request_id, "req_1")


if __name__ == "__main__":
    unittest.main()

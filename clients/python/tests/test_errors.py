"""Non-2xx answers become LayersError, from the API's error envelope (CONTRACT §4)."""

from __future__ import annotations

import unittest

from layers_partner_api import AsyncLayers, Layers, LayersError

from ._server import QuietLoop, Reply, ScriptedServer, envelope

KEY = "lp_test_unit_secret"
VALIDATION = Reply(
    400,
    envelope(
        "VALIDATION_ERROR",
        "name: must not be empty",
        requestId="req_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f",
        details={"field": "name"},
    ),
    {"X-Request-Id": "req_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"},
)


class ErrorTest(unittest.TestCase):
    def test_an_envelope_becomes_a_layers_error(self) -> None:
        with ScriptedServer([VALIDATION]) as server:
            with Layers(KEY, base_url=server.url) as client:
                with self.assertRaises(LayersError) as caught:
                    client.create_project({"name": ""})
        error = caught.exception
        self.assertEqual(len(server.received), 1)  # a 400 is not retried
        self.assertEqual(error.status, 400)
        self.assertEqual(error.code, "VALIDATION_ERROR")
        self.assertEqual(error.message, "name: must not be empty")
        self.assertEqual(error.details, {"field": "name"})
        self.assertEqual(error.request_id, "req_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")
        self.assertIsNone(error.reason)
        self.assertIn("VALIDATION_ERROR", str(error))

    def test_an_unknown_code_and_a_reason_are_kept(self) -> None:
        conflict = Reply(
            409, envelope("SOMETHING_NEW", "later", requestId="req_2", reason="not_yet")
        )
        with ScriptedServer([conflict]) as server:
            with Layers(KEY, base_url=server.url) as client:
                with self.assertRaises(LayersError) as caught:
                    client.get_job("job_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")
        self.assertEqual(
            (caught.exception.code, caught.exception.reason), ("SOMETHING_NEW", "not_yet")
        )
        self.assertEqual(caught.exception.details, {})

    def test_an_answer_without_an_envelope_still_raises(self) -> None:
        html = Reply(502, raw=b"<html>bad gateway</html>", headers={"X-Request-Id": "req_3"})
        with ScriptedServer([html]) as server:
            with Layers(KEY, base_url=server.url, max_retries=0) as client:
                with self.assertRaises(LayersError) as caught:
                    client.whoami()
        self.assertEqual(caught.exception.status, 502)
        self.assertEqual(caught.exception.code, "HTTP_502")
        self.assertEqual(caught.exception.request_id, "req_3")
        self.assertIn("bad gateway", caught.exception.message)


class AsyncErrorTest(QuietLoop, unittest.IsolatedAsyncioTestCase):
    async def test_an_envelope_becomes_a_layers_error(self) -> None:
        with ScriptedServer([VALIDATION]) as server:
            async with AsyncLayers(KEY, base_url=server.url) as client:
                with self.assertRaises(LayersError) as caught:
                    await client.create_project({"name": ""})
        self.assertEqual(caught.exception.code, "VALIDATION_ERROR")
        self.assertEqual(caught.exception.details["field"], "name")
        self.assertEqual(caught.exception.request_id, "req_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")


if __name__ == "__main__":
    unittest.main()

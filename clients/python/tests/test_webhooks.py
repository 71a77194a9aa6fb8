"""verify_webhook against deliveries signed here the Standard Webhooks way (CONTRACT §10)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import unittest

from layers_partner_api import WebhookVerificationError, verify_webhook

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
EVENT_ID = "evt_01JTTW0V4K6X9B3M2N5P7Q8R1S"
BODY = json.dumps(
    {
        "id": EVENT_ID,
        "type": "post.published",
        "apiVersion": "v1",
        "createdAt": "2026-05-08T12:00:00.000Z",
        "meta": {"sandbox": True},
        "data": {"scheduledPostId": "sp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f", "targetIndex": 0},
    }
).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{EVENT_ID}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(*secrets: str, timestamp: int | None = None, body: bytes = BODY) -> dict[str, str]:
    t = int(time.time()) if timestamp is None else timestamp
    return {
        "Webhook-Id": EVENT_ID,
        "Webhook-Timestamp": str(t),
        "Webhook-Signature": " ".join(signature(s, t, body) for s in secrets),
    }


class VerifyWebhookTest(unittest.TestCase):
    def test_accepts_a_signed_delivery(self) -> None:
        event = verify_webhook(BODY, headers(SECRET), SECRET)
        self.assertEqual(event["id"], EVENT_ID)
        self.assertEqual(event["type"], "post.published")
        if event["type"] == "post.published":  # narrows the union to PostPublishedEvent
            self.assertEqual(event["data"]["targetIndex"], 0)
            self.assertEqual(event.get("meta"), {"sandbox": True})

    def test_accepts_a_str_body_and_any_matching_signature_of_a_rotation(self) -> None:
        event = verify_webhook(BODY.decode(), headers(OTHER_SECRET, SECRET), SECRET)
        self.assertEqual(event["type"], "post.published")

    def test_rejects_a_tampered_body(self) -> None:
        tampered = BODY.replace(b'"targetIndex": 0', b'"targetIndex": 1')
        self.assertNotEqual(tampered, BODY)
        with self.assertRaisesRegex(WebhookVerificationError, "no v1 signature"):
            verify_webhook(tampered, headers(SECRET), SECRET)

    def test_rejects_a_wrong_secret(self) -> None:
        with self.assertRaisesRegex(WebhookVerificationError, "no v1 signature"):
            verify_webhook(BODY, headers(SECRET), OTHER_SECRET)

    def test_rejects_a_stale_timestamp_even_when_signed(self) -> None:
        stale = int(time.time()) - 301
        with self.assertRaisesRegex(WebhookVerificationError, "300 s"):
            verify_webhook(BODY, headers(SECRET, timestamp=stale), SECRET)
        # The same delivery passes with a wider tolerance: only the clock refused it.
        verify_webhook(BODY, headers(SECRET, timestamp=stale), SECRET, tolerance_seconds=600)

    def test_rejects_a_timestamp_from_the_future(self) -> None:
        ahead = int(time.time()) + 600
        with self.assertRaises(WebhookVerificationError):
            verify_webhook(BODY, headers(SECRET, timestamp=ahead), SECRET)

    def test_rejects_missing_headers_and_other_versions(self) -> None:
        incomplete = headers(SECRET)
        del incomplete["Webhook-Signature"]
        with self.assertRaisesRegex(WebhookVerificationError, "missing"):
            verify_webhook(BODY, incomplete, SECRET)
        v2 = headers(SECRET)
        v2["Webhook-Signature"] = v2["Webhook-Signature"].replace("v1,", "v2,")
        with self.assertRaises(WebhookVerificationError):
            verify_webhook(BODY, v2, SECRET)


if __name__ == "__main__":
    unittest.main()

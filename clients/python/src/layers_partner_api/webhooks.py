"""Verifying webhook deliveries (CONTRACT §10), with the standard library only.

Each delivery carries the Standard Webhooks headers: ``webhook-id`` (the event id),
``webhook-timestamp`` (unix seconds) and ``webhook-signature``, a space-separated list of
``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">`` keyed with the base64-decoded
part of the endpoint's secret after ``whsec_``. During a secret rotation the list has one
signature per valid secret; any one that matches is enough.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import cast

from .models import Event

__all__ = ["WebhookVerificationError", "verify_webhook"]

SECRET_PREFIX = "whsec_"


class WebhookVerificationError(Exception):
    """A delivery that is not provably from the API: answer it 400 and do not act on it."""


def _secret_key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookVerificationError("the secret is not whsec_ followed by base64") from exc


def verify_webhook(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    tolerance_seconds: int = 300,
) -> Event:
    """Check a delivery's signature and timestamp, then return its envelope.

    ``payload`` is the raw request body, exactly as received (verify before parsing);
    ``headers`` the request's headers (any case); ``secret`` the endpoint's ``whsec_...``.
    Raises ``WebhookVerificationError`` when a header is missing, the timestamp is more than
    ``tolerance_seconds`` from this machine's clock, no ``v1`` signature matches, or the body
    is not an event envelope. Deliveries are at least once: deduplicate on ``event["id"]``.
    """
    body = payload.encode() if isinstance(payload, str) else payload
    lowered = {name.lower(): value for name, value in headers.items()}
    event_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not event_id or not timestamp or not signatures:
        raise WebhookVerificationError(
            "missing webhook-id, webhook-timestamp or webhook-signature header"
        )
    if not timestamp.isascii() or not timestamp.isdigit():
        raise WebhookVerificationError("webhook-timestamp is not unix seconds")
    if abs(time.time() - int(timestamp)) > tolerance_seconds:
        raise WebhookVerificationError(
            f"webhook-timestamp is more than {tolerance_seconds} s from this clock"
        )
    signed = f"{event_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(_secret_key(secret), signed, hashlib.sha256).digest())
    matched = False
    for candidate in signatures.split():
        version, _, signature = candidate.partition(",")
        # Compare every candidate, so the time taken does not tell which one matched.
        if version == "v1" and hmac.compare_digest(expected, signature.encode()):
            matched = True
    if not matched:
        raise WebhookVerificationError("no v1 signature matches the secret")
    try:
        event: object = json.loads(body)
    except ValueError as exc:
        raise WebhookVerificationError("the body is not JSON") from exc
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise WebhookVerificationError("the body is not an event envelope")
    if event.get("id") != event_id:
        raise WebhookVerificationError("the envelope's id is not the webhook-id header")
    return cast(Event, event)

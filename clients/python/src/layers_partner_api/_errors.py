"""The errors the client raises."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["LayersConnectionError", "LayersError"]


class LayersError(Exception):
    """A non-2xx answer of the API, from its error envelope (CONTRACT §4).

    ``code`` is an open set (``VALIDATION_ERROR``, ``NOT_FOUND``, ``RATE_LIMITED``, ...): branch
    on the codes you handle and fall back on ``status`` for the others. ``message`` is for
    people; ``reason`` refines some codes (``idempotency_in_progress``); ``details`` carries
    structured context such as ``field``; quote ``request_id`` to support.
    """

    status: int
    code: str
    message: str
    details: dict[str, Any]
    request_id: str | None
    reason: str | None

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details if details is not None else {}
        self.request_id = request_id
        self.reason = reason

    @classmethod
    def from_response(cls, response: httpx.Response) -> LayersError:
        """Read the envelope ``{"error": {code, message, requestId, reason?, details?}}``.

        An answer without one (a proxy's HTML page, say) still becomes a ``LayersError``, with
        the code ``HTTP_<status>`` and the start of the body as its message.
        """
        header_request_id = response.headers.get("x-request-id")
        try:
            payload: object = response.json()
        except ValueError:
            payload = None
        body = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            details = body.get("details")
            request_id = body.get("requestId")
            reason = body.get("reason")
            message = body.get("message")
            return cls(
                response.status_code,
                body["code"],
                message if isinstance(message, str) else "",
                details=details if isinstance(details, dict) else None,
                request_id=request_id if isinstance(request_id, str) else header_request_id,
                reason=reason if isinstance(reason, str) else None,
            )
        return cls(
            response.status_code,
            f"HTTP_{response.status_code}",
            response.text[:500] or response.reason_phrase,
            request_id=header_request_id,
        )


class LayersConnectionError(Exception):
    """No answer from the API (connection refused or reset, timeout) after every retry.

    The original ``httpx`` exception is the ``__cause__``.
    """

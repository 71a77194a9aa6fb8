"""``Layers`` and ``AsyncLayers``: the same methods, blocking and ``async``.

Every request sends ``Authorization: Bearer <key>``. Every write (POST, PATCH, PUT, DELETE)
sends an ``Idempotency-Key`` (a fresh UUID4 unless you give one), and each retry of that call
sends the same key, so a retried write happens once (CONTRACT §5). A 429, a 5xx or a transport
error is retried up to ``max_retries`` times, after ``Retry-After`` seconds when the answer
says so, else after a capped exponential backoff with jitter.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Final, Self, TypeVar, cast
from urllib.parse import quote

import httpx

from ._errors import LayersConnectionError, LayersError
from .models import (
    ContentContainer,
    ContentFormat,
    ContentStarted,
    CreateEndpoint,
    CreateProject,
    EventType,
    GenerateOptions,
    Job,
    ListEvent,
    ListSocialAccount,
    Metrics,
    OauthUrl,
    OauthUrlRequest,
    Project,
    PublishRequest,
    PublishStarted,
    SandboxConnection,
    ScheduledPost,
    SocialPlatform,
    WebhookEndpoint,
    WebhookEndpointDeleted,
    WhoAmI,
)

__all__ = ["AsyncLayers", "Layers", "QueryValue"]

T = TypeVar("T")

QueryValue = str | int | float | bool | None
"""A query parameter's value; ``None`` leaves the parameter out."""

DEFAULT_BASE_URL: Final = "http://127.0.0.1:8080"
WRITE_METHODS: Final = frozenset({"POST", "PATCH", "PUT", "DELETE"})
TERMINAL_JOB_STATUSES: Final = frozenset({"succeeded", "failed", "canceled"})
BACKOFF_BASE_SECONDS: Final = 0.5
BACKOFF_CAP_SECONDS: Final = 8.0
MAX_RETRY_AFTER_SECONDS: Final = 60.0
"""A longer ``Retry-After`` (a monthly quota, say) is not waited for: the 429 is raised."""


def _segment(value: str) -> str:
    """One path segment, percent-encoded."""
    return quote(value, safe="")


def _drop_none(params: Mapping[str, QueryValue] | None) -> dict[str, str | int | float | bool]:
    return {k: v for k, v in (params or {}).items() if v is not None}


class _Core:
    """What both clients share: configuration, headers, the retry policy and decoding."""

    def __init__(
        self, api_key: str, base_url: str | None, max_retries: int, timeout: float
    ) -> None:
        if not api_key:
            raise ValueError("api_key is required (lp_test_... or lp_live_...)")
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.api_key = api_key
        base_url = base_url or os.environ.get("LAYERS_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.timeout = timeout

    def default_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json",
            "User-Agent": "layers-partner-api-python/0.1.0",
        }

    @staticmethod
    def request_headers(method: str, idempotency_key: str | None) -> dict[str, str]:
        if method.upper() not in WRITE_METHODS:
            return {}
        return {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}

    @staticmethod
    def backoff(attempt: int) -> float:
        """Seconds before retry ``attempt + 1``: capped exponential, with jitter."""
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0**attempt)
        return ceiling * random.uniform(0.5, 1.0)

    def retry_delay(self, attempt: int, response: httpx.Response) -> float | None:
        """Seconds to wait before retrying this answer, or ``None`` to give up on it."""
        status = response.status_code
        if attempt >= self.max_retries or not (status == 429 or status >= 500):
            return None
        retry_after = response.headers.get("retry-after")
        if retry_after is not None:
            try:
                seconds = float(retry_after)
            except ValueError:
                seconds = -1.0
            if 0 <= seconds <= MAX_RETRY_AFTER_SECONDS:
                return seconds
            if seconds > MAX_RETRY_AFTER_SECONDS:
                return None
        return self.backoff(attempt)

    @staticmethod
    def decode(response: httpx.Response, cast_to: type[T]) -> T:
        """The JSON body of a 2xx answer as ``cast_to``; raise ``LayersError`` otherwise.

        The models are TypedDicts: the parsed JSON is the model, nothing is converted.
        """
        if not response.is_success:
            raise LayersError.from_response(response)
        return cast(T, response.json())


class Layers:
    """The blocking client.

    >>> client = Layers("lp_test_...", base_url="http://127.0.0.1:8080")  # doctest: +SKIP
    >>> project = client.create_project({"name": "Acme"})  # doctest: +SKIP

    ``base_url`` defaults to ``$LAYERS_BASE_URL``, else ``http://127.0.0.1:8080``. Use it as a
    context manager, or call ``close()``, to release its connections.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        max_retries: int = 2,
        timeout: float = 30.0,
    ) -> None:
        self._core = _Core(api_key, base_url, max_retries, timeout)
        self._http = httpx.Client(
            base_url=self._core.base_url,
            timeout=self._core.timeout,
            headers=self._core.default_headers(),
        )

    @property
    def base_url(self) -> str:
        return self._core.base_url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        cast_to: type[T],
        json: Mapping[str, object] | None = None,
        params: Mapping[str, QueryValue] | None = None,
        idempotency_key: str | None = None,
    ) -> T:
        """Any operation: ``request("GET", "/v1/jobs", params={"status": "running"}, cast_to=ListJob)``.

        ``cast_to`` is the generated model of the answer; raises ``LayersError`` on a non-2xx
        answer and ``LayersConnectionError`` when no answer came after every retry.
        """
        method = method.upper()
        headers = self._core.request_headers(method, idempotency_key)
        query = _drop_none(params)
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method, path, json=json, params=query, headers=headers
                )
            except httpx.TransportError as exc:
                if attempt >= self._core.max_retries:
                    raise LayersConnectionError(f"{method} {path}: {exc!r}") from exc
                delay = self._core.backoff(attempt)
            else:
                retry_delay = self._core.retry_delay(attempt, response)
                if retry_delay is None:
                    return self._core.decode(response, cast_to)
                response.close()
                delay = retry_delay
            attempt += 1
            time.sleep(delay)

    # -- the operations of a partner's journey --------------------------------------------

    def whoami(self) -> WhoAmI:
        """The key's organization, scopes and rate-limit tier."""
        return self.request("GET", "/v1/whoami", cast_to=WhoAmI)

    def create_webhook_endpoint(
        self, body: CreateEndpoint, *, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        """Register a receiver; the answer's ``secret`` is shown only now: keep it."""
        return self.request(
            "POST",
            "/v1/webhook-endpoints",
            json=body,
            cast_to=WebhookEndpoint,
            idempotency_key=idempotency_key,
        )

    def delete_webhook_endpoint(
        self, endpoint_id: str, *, idempotency_key: str | None = None
    ) -> WebhookEndpointDeleted:
        return self.request(
            "DELETE",
            f"/v1/webhook-endpoints/{_segment(endpoint_id)}",
            cast_to=WebhookEndpointDeleted,
            idempotency_key=idempotency_key,
        )

    def create_project(self, body: CreateProject, *, idempotency_key: str | None = None) -> Project:
        return self.request(
            "POST", "/v1/projects", json=body, cast_to=Project, idempotency_key=idempotency_key
        )

    def get_project(self, project_id: str) -> Project:
        return self.request("GET", f"/v1/projects/{_segment(project_id)}", cast_to=Project)

    def generate_content(
        self,
        project_id: str,
        format: ContentFormat,
        body: GenerateOptions | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> ContentStarted:
        """Start a generation job of one format; its containers are in the answer."""
        return self.request(
            "POST",
            f"/v1/projects/{_segment(project_id)}/content/{_segment(format)}",
            json=body or {},
            cast_to=ContentStarted,
            idempotency_key=idempotency_key,
        )

    def get_content(self, content_id: str) -> ContentContainer:
        return self.request("GET", f"/v1/content/{_segment(content_id)}", cast_to=ContentContainer)

    def get_job(self, job_id: str) -> Job:
        # (Job is a union of one TypedDict per family of kinds, which `type[T]` cannot name)
        return cast(Job, self.request("GET", f"/v1/jobs/{_segment(job_id)}", cast_to=object))

    def wait_for_job(self, job_id: str, *, timeout: float = 60.0, interval: float = 0.5) -> Job:
        """Poll a job until it is ``succeeded``, ``failed`` or ``canceled``; return it.

        Raises ``TimeoutError`` when it is still going after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job["status"] in TERMINAL_JOB_STATUSES:
                return job
            if time.monotonic() + interval > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout:g} s")
            time.sleep(interval)

    def create_oauth_url(
        self, project_id: str, body: OauthUrlRequest, *, idempotency_key: str | None = None
    ) -> OauthUrl:
        """The URL that connects an account: a person opens it live; see
        ``complete_sandbox_connection`` for a test key."""
        return self.request(
            "POST",
            f"/v1/projects/{_segment(project_id)}/social/oauth-url",
            json=body,
            cast_to=OauthUrl,
            idempotency_key=idempotency_key,
        )

    def complete_sandbox_connection(
        self, state: str, platform: SocialPlatform
    ) -> SandboxConnection:
        """Test keys: what opening the oauth URL does, without a browser."""
        return self.request(
            "GET",
            "/v1/social/sandbox-complete",
            params={"state": state, "platform": platform},
            cast_to=SandboxConnection,
        )

    def list_social_accounts(self, project_id: str) -> ListSocialAccount:
        return self.request(
            "GET",
            f"/v1/projects/{_segment(project_id)}/social/accounts",
            cast_to=ListSocialAccount,
        )

    def publish_content(
        self, container_id: str, body: PublishRequest, *, idempotency_key: str | None = None
    ) -> PublishStarted:
        """Publish now to one to ten accounts; the answer names the job and the post."""
        return self.request(
            "POST",
            f"/v1/content/{_segment(container_id)}/publish",
            json=body,
            cast_to=PublishStarted,
            idempotency_key=idempotency_key,
        )

    def get_scheduled_post(self, scheduled_post_id: str) -> ScheduledPost:
        return self.request(
            "GET", f"/v1/scheduled-posts/{_segment(scheduled_post_id)}", cast_to=ScheduledPost
        )

    def get_post_metrics(
        self,
        project_id: str,
        *,
        post_ids: Sequence[str] | None = None,
        from_date: str | None = None,
        to_date: str | None = None,
    ) -> Metrics:
        """Daily series of published posts; ``post_ids`` are the targets' ``externalId``s."""
        return self.request(
            "GET",
            f"/v1/projects/{_segment(project_id)}/metrics",
            params={
                "postIds": ",".join(post_ids) if post_ids else None,
                "from": from_date,
                "to": to_date,
            },
            cast_to=Metrics,
        )

    def list_events(
        self, *, type: EventType | None = None, limit: int | None = None, cursor: str | None = None
    ) -> ListEvent:
        """The events of the key's environment, newest first (for reconciliation)."""
        return self.request(
            "GET",
            "/v1/events",
            params={"type": type, "limit": limit, "cursor": cursor},
            cast_to=ListEvent,
        )


class AsyncLayers:
    """The ``async`` client: the methods of ``Layers``, awaited.

    Use it as an ``async`` context manager, or ``await client.aclose()``.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        max_retries: int = 2,
        timeout: float = 30.0,
    ) -> None:
        self._core = _Core(api_key, base_url, max_retries, timeout)
        self._http = httpx.AsyncClient(
            base_url=self._core.base_url,
            timeout=self._core.timeout,
            headers=self._core.default_headers(),
        )

    @property
    def base_url(self) -> str:
        return self._core.base_url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        cast_to: type[T],
        json: Mapping[str, object] | None = None,
        params: Mapping[str, QueryValue] | None = None,
        idempotency_key: str | None = None,
    ) -> T:
        """Any operation; see ``Layers.request``."""
        method = method.upper()
        headers = self._core.request_headers(method, idempotency_key)
        query = _drop_none(params)
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    method, path, json=json, params=query, headers=headers
                )
            except httpx.TransportError as exc:
                if attempt >= self._core.max_retries:
                    raise LayersConnectionError(f"{method} {path}: {exc!r}") from exc
                delay = self._core.backoff(attempt)
            else:
                retry_delay = self._core.retry_delay(attempt, response)
                if retry_delay is None:
                    return self._core.decode(response, cast_to)
                await response.aclose()
                delay = retry_delay
            attempt += 1
            await asyncio.sleep(delay)

    # -- the operations of a partner's journey --------------------------------------------

    async def whoami(self) -> WhoAmI:
        return await self.request("GET", "/v1/whoami", cast_to=WhoAmI)

    async def create_webhook_endpoint(
        self, body: CreateEndpoint, *, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        return await self.request(
            "POST",
            "/v1/webhook-endpoints",
            json=body,
            cast_to=WebhookEndpoint,
            idempotency_key=idempotency_key,
        )

    async def delete_webhook_endpoint(
        self, endpoint_id: str, *, idempotency_key: str | None = None
    ) -> WebhookEndpointDeleted:
        return await self.request(
            "DELETE",
            f"/v1/webhook-endpoints/{_segment(endpoint_id)}",
            cast_to=WebhookEndpointDeleted,
            idempotency_key=idempotency_key,
        )

    async def create_project(
        self, body: CreateProject, *, idempotency_key: str | None = None
    ) -> Project:
        return await self.request(
            "POST", "/v1/projects", json=body, cast_to=Project, idempotency_key=idempotency_key
        )

    async def get_project(self, project_id: str) -> Project:
        return await self.request("GET", f"/v1/projects/{_segment(project_id)}", cast_to=Project)

    async def generate_content(
        self,
        project_id: str,
        format: ContentFormat,
        body: GenerateOptions | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> ContentStarted:
        return await self.request(
            "POST",
            f"/v1/projects/{_segment(project_id)}/content/{_segment(format)}",
            json=body or {},
            cast_to=ContentStarted,
            idempotency_key=idempotency_key,
        )

    async def get_content(self, content_id: str) -> ContentContainer:
        return await self.request(
            "GET", f"/v1/content/{_segment(content_id)}", cast_to=ContentContainer
        )

    async def get_job(self, job_id: str) -> Job:
        # (Job is a union of one TypedDict per family of kinds, which `type[T]` cannot name)
        job = await self.request("GET", f"/v1/jobs/{_segment(job_id)}", cast_to=object)
        return cast(Job, job)

    async def wait_for_job(
        self, job_id: str, *, timeout: float = 60.0, interval: float = 0.5
    ) -> Job:
        deadline = time.monotonic() + timeout
        while True:
            job = await self.get_job(job_id)
            if job["status"] in TERMINAL_JOB_STATUSES:
                return job
            if time.monotonic() + interval > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout:g} s")
            await asyncio.sleep(interval)

    async def create_oauth_url(
        self, project_id: str, body: OauthUrlRequest, *, idempotency_key: str | None = None
    ) -> OauthUrl:
        return await self.request(
            "POST",
            f"/v1/projects/{_segment(project_id)}/social/oauth-url",
            json=body,
            cast_to=OauthUrl,
            idempotency_key=idempotency_key,
        )

    async def complete_sandbox_connection(
        self, state: str, platform: SocialPlatform
    ) -> SandboxConnection:
        return await self.request(
            "GET",
            "/v1/social/sandbox-complete",
            params={"state": state, "platform": platform},
            cast_to=SandboxConnection,
        )

    async def list_social_accounts(self, project_id: str) -> ListSocialAccount:
        return await self.request(
            "GET",
            f"/v1/projects/{_segment(project_id)}/social/accounts",
            cast_to=ListSocialAccount,
        )

    async def publish_content(
        self, container_id: str, body: PublishRequest, *, idempotency_key: str | None = None
    ) -> PublishStarted:
        return await self.request(
            "POST",
            f"/v1/content/{_segment(container_id)}/publish",
            json=body,
            cast_to=PublishStarted,
            idempotency_key=idempotency_key,
        )

    async def get_scheduled_post(self, scheduled_post_id: str) -> ScheduledPost:
        return await self.request(
            "GET", f"/v1/scheduled-posts/{_segment(scheduled_post_id)}", cast_to=ScheduledPost
        )

    async def get_post_metrics(
        self,
        project_id: str,
        *,
        post_ids: Sequence[str] | None = None,
        from_date: str | None = None,
        to_date: str | None = None,
    ) -> Metrics:
        return await self.request(
            "GET",
            f"/v1/projects/{_segment(project_id)}/metrics",
            params={
                "postIds": ",".join(post_ids) if post_ids else None,
                "from": from_date,
                "to": to_date,
            },
            cast_to=Metrics,
        )

    async def list_events(
        self, *, type: EventType | None = None, limit: int | None = None, cursor: str | None = None
    ) -> ListEvent:
        return await self.request(
            "GET",
            "/v1/events",
            params={"type": type, "limit": limit, "cursor": cursor},
            cast_to=ListEvent,
        )

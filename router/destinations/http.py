"""HTTP for destinations: one session each, only to the destination's own host.

Every request is checked against the origin of the configured URL and
redirects are never followed, so no answer from downstream can steer the
gateway to another host. Transport failures and statuses become
`DeliveryError`s here, once: 400, 410, 413 and 422 are permanent refusals;
429 and 503 carry the server's Retry-After; everything else is retried.
Error texts are scrubbed of the destination's secrets, since a server may
echo a request header back in its error body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import orjson

from router.destinations.base import DeliveryError

PERMANENT = frozenset({400, 410, 413, 422})
THROTTLED = frozenset({429, 503})
MAX_ANSWER_BYTES = 1024 * 1024
ERROR_SNIPPET = 300
DEFAULT_PORTS = {"http": 80, "https": 443}


class ForbiddenHostError(DeliveryError):
    """A request to a host the destination is not configured for."""

    def __init__(self, url: str) -> None:
        super().__init__(f"refused to send to {_origin_text(url)}: not the destination's configured host",
                         permanent=True)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme, 0)


def _origin_text(url: str) -> str:
    scheme, host, port = _origin(url)
    return f"{scheme}://{host}:{port}"


class OutboundHttp:
    def __init__(self, base_url: str, timeout_s: float, *, secrets: Sequence[str] = (), limit: int = 100) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._allowed = _origin(base_url)
        self._timeout = timeout_s
        self._secrets = tuple(s for s in secrets if s)
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None
        self._last_allowed = ""  # the last URL that passed the host check (most requests repeat it)

    def url(self, path: str) -> str:
        """A URL under the configured root (`path` is relative to it)."""
        return urljoin(self.base_url, path.lstrip("/"))

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit),
                trust_env=False,  # no proxies from the environment: only the configured host
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        if url != self._last_allowed and _origin(url) != self._allowed:
            raise ForbiddenHostError(url)
        self._last_allowed = url
        if self._session is None:
            await self.open()
        assert self._session is not None
        try:
            async with self._session.request(
                method, url, data=body, headers=dict(headers or {}), params=params, allow_redirects=False
            ) as response:
                data = await response.content.read(MAX_ANSWER_BYTES)
                return HttpAnswer(response.status, {k.lower(): v for k, v in response.headers.items()}, data)
        except TimeoutError:
            raise DeliveryError(f"no answer from {_origin_text(url)} within {self._timeout:g} s") from None
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror if exc.os_error and exc.os_error.strerror else str(exc.os_error)
            raise DeliveryError(f"cannot connect to {_origin_text(url)}: {self.redact(reason)}") from None
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            text = f"{type(exc).__name__} talking to {_origin_text(url)}: {self.redact(str(exc))}"
            raise DeliveryError(text[:500]) from None

    def check(self, answer: HttpAnswer, what: str) -> None:
        """Raise the fitting DeliveryError unless the answer is a 2xx."""
        if answer.ok:
            return
        status = answer.status
        if 300 <= status < 400:
            target = answer.headers.get("location", "?")
            raise DeliveryError(f"{what}: HTTP {status} redirect to {self.redact(target)[:200]} not followed")
        snippet = self.redact(answer.body[:ERROR_SNIPPET].decode("utf-8", "replace")).strip()
        message = f"{what}: HTTP {status}" + (f": {snippet}" if snippet else "")
        if status in PERMANENT:
            raise DeliveryError(message, permanent=True)
        retry_after = parse_retry_after(answer.headers.get("retry-after")) if status in THROTTLED else None
        raise DeliveryError(message, retry_after=retry_after)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())

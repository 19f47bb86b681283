"""The source protocol: an adapter knows HTTP and one API, nothing about the database.

Given its options, its secret and a cursor, an adapter returns normalised
mentions (dicts in the JSONL interchange shape that `inboxtui.ingest.parse_record`
accepts, with the API's own object under `raw`) and the next cursor. The poller
stores both in one transaction, so a cursor never runs ahead of what is stored.

Failures are `SourceError`s that say whether trying again later can help and
how long the server asked us to wait; the poller turns them into back-off.
"""

from __future__ import annotations

import email.utils
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from inboxtui import __version__

USER_AGENT = f"inboxtui/{__version__} (+https://github.com/inboxtui/inboxtui)"
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=10.0)


class SourceError(Exception):
    """A fetch or send that failed. `transient` errors are retried with back-off."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool = True,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after
        self.status = status


class ConfigError(SourceError):
    """Bad or missing options or secret: retrying will not help until a person fixes it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


@dataclass
class FetchResult:
    """What one poll produced. `cursor` is JSON-serialisable and opaque to the poller."""

    mentions: list[dict[str, Any]]
    cursor: dict[str, Any] | None
    # The server's own quota, when it told us: lets the poller slow down before a 429.
    rate_remaining: int | None = None
    rate_reset_after: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReplyRequest:
    """A reply to send. `idempotency_key` makes a retry safe on APIs that support it."""

    in_reply_to_external_id: str
    in_reply_to_url: str | None
    body: str
    idempotency_key: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplyResult:
    remote_id: str
    remote_url: str | None


class SourceAdapter(ABC):
    """One source kind. Subclasses set `kind`, `default_url`, `can_reply`."""

    kind: ClassVar[str]
    default_url: ClassVar[str | None] = None
    can_reply: ClassVar[bool] = False
    # option names this kind understands, with a one-line help each (for `source add`)
    options_help: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        name: str,
        options: Mapping[str, str],
        client: httpx.AsyncClient,
        secret: str | None = None,
    ) -> None:
        self.name = name
        self.options = dict(options)
        self.client = client
        self.secret = secret
        url = self.options.get("url") or self.default_url
        if not url:
            raise ConfigError(f"source {name!r}: option url= is required for kind {self.kind}")
        self.url = url.rstrip("/")
        # (remaining, seconds until reset) of the lowest quota seen since `fetch` began
        self.rate: tuple[int, float | None] | None = None

    @abstractmethod
    async def fetch(self, cursor: dict[str, Any] | None) -> FetchResult:
        """New mentions since `cursor` (None: first poll), oldest first, and the next cursor."""

    async def send_reply(self, request: ReplyRequest) -> ReplyResult:
        raise SourceError(
            f"{self.kind} has no reply API: open the post and reply there", transient=False
        )

    def decode(self, response: httpx.Response) -> Any:
        """The JSON body; an unusable one is a SourceError naming this source."""
        try:
            return decode_json(response)
        except SourceError as exc:
            raise SourceError(f"{self.name}: {exc}", status=exc.status) from exc

    def number_option(
        self,
        key: str,
        default: float,
        *,
        low: float = 0,
        high: float | None = None,
        whole: bool = False,
    ) -> float:
        """A numeric option, checked once at construction so a typo is a ConfigError."""
        raw = self.options.get(key)
        if raw in (None, ""):
            return default
        try:
            value: float = int(raw) if whole else float(raw)
        except ValueError:
            kind = "a whole number" if whole else "a number"
            raise ConfigError(f"option {key}={raw!r} is not {kind}") from None
        if value < low or (high is not None and value > high):
            bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise ConfigError(f"option {key}={raw} must be {bounds}")
        return value

    def record(self, **fields: Any) -> dict[str, Any]:
        """A JSONL-shaped mention of this source (kind and source name filled in)."""
        return {"kind": self.kind, "source": self.name, **fields}

    async def get_json(self, url: str, **kwargs: Any) -> tuple[Any, httpx.Response]:
        """GET and decode JSON, turning every failure into a `SourceError`."""
        response = await self.request("GET", url, **kwargs)
        return decode_json(response), response

    async def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One HTTP exchange, any status; transport failures become a `SourceError`.

        Every response's rate-limit headers are noted (`rate`): the lowest
        remaining quota of a poll, and when it resets, reach the poller.
        """
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise SourceError(f"{self.name}: timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise SourceError(f"{self.name}: network error: {type(exc).__name__}") from exc
        remaining = rate_remaining(response)
        if remaining is not None and (self.rate is None or remaining <= self.rate[0]):
            self.rate = (remaining, self.rate_reset(response))
        return response

    def rate_reset(self, response: httpx.Response) -> float | None:
        """Seconds until the quota resets; platforms that say it otherwise override this."""
        return retry_after_seconds(response)

    def rate_figures(self) -> tuple[int | None, float | None]:
        """(remaining, reset after) of this poll's lowest quota, for `FetchResult`."""
        return self.rate or (None, None)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """`send`, and a failing status is a `SourceError` (transient ones say when to retry)."""
        response = await self.send(method, url, **kwargs)
        raise_for_status(self.name, response)
        return response


def make_client(**overrides: Any) -> httpx.AsyncClient:
    """The one shared client: timeouts, a User-Agent naming us, HTTP/1.1 keep-alive."""
    settings: dict[str, Any] = {
        "timeout": DEFAULT_TIMEOUT,
        "headers": {"User-Agent": USER_AGENT},
        "follow_redirects": True,
        "limits": httpx.Limits(max_connections=50, max_keepalive_connections=20),
    }
    settings.update(overrides)
    return httpx.AsyncClient(**settings)


def retry_after_seconds(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: Retry-After (seconds or date) or a reset header."""
    now = time.time() if now is None else now
    value = response.headers.get("retry-after")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None:
            return max(0.0, parsed.timestamp() - now)
    for name in ("x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset"):
        value = response.headers.get(name)
        if not value:
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        # epoch seconds (GitHub, Mastodon as ISO is handled by adapters) or delta seconds
        return max(0.0, number - now) if number > 1_000_000_000 else number
    return None


def rate_remaining(response: httpx.Response) -> int | None:
    for name in ("x-ratelimit-remaining", "ratelimit-remaining", "x-rate-limit-remaining"):
        value = response.headers.get(name)
        if value:
            try:
                return int(float(value))
            except ValueError:
                return None
    return None


def raise_for_status(name: str, response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    wait = retry_after_seconds(response)
    if status == 429:
        raise SourceError(f"{name}: rate limited (429)", retry_after=wait, status=status)
    if status in (401, 403) and rate_remaining(response) != 0:
        raise SourceError(
            f"{name}: not authorised ({status}); check the source's secret",
            transient=False,
            status=status,
        )
    if status >= 500 or status in (403, 408, 425):
        raise SourceError(f"{name}: server error {status}", retry_after=wait, status=status)
    raise SourceError(f"{name}: request refused ({status})", transient=False, status=status)


def decode_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        snippet = response.text[:80].replace("\n", " ")
        raise SourceError(f"not JSON (truncated or an error page?): {snippet!r}") from exc

"""Test support for polling, sources and secrets: a real RSS server, a real keyring.

A real RSS server on 127.0.0.1: feeds that grow, faults, gates.

`FeedServer.route(path, handler)` serves `handler(request) -> Reply`; `Feed` is
a handler for an RSS 2.0 feed with ETag / 304 support that can grow on every
request (the kill test) and can be told to fail (`fail_with`) or to hold the
request until a gate opens (lease tests, a hanging server).

`FileKeyring` is a real keyring backend that keeps entries in a JSON file:
what a test host can offer in place of the desktop's Secret Service.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.compat import properties


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Request:
    path: str
    headers: dict[str, str]  # lower-case names


Handler = Callable[[Request], Reply]


class Feed:
    """An RSS feed of numbered items; thread-safe; conditional GET by ETag."""

    def __init__(self, name: str, items: int = 0, *, grow: int = 0) -> None:
        self.name = name
        self.count = items
        self.grow = grow  # items added before answering each request
        self.fail_with: Reply | None = None
        self.gate: threading.Event | None = None  # when set: requests wait for it
        self.entered = threading.Event()  # a request reached the handler
        self.requests = 0
        self.not_modified = 0
        self._lock = threading.Lock()
        self.base = datetime(2026, 11, 1, tzinfo=UTC)

    def add(self, n: int) -> None:
        with self._lock:
            self.count += n

    def ids(self) -> list[str]:
        with self._lock:
            return [self.item_id(i) for i in range(1, self.count + 1)]

    def item_id(self, i: int) -> str:
        return f"urn:{self.name}:item-{i}"

    def _xml(self, count: int) -> bytes:
        items = []
        for i in range(count, 0, -1):  # newest first, as feeds are
            when = format_datetime(self.base + timedelta(minutes=i))
            items.append(
                f'<item><guid isPermaLink="false">{self.item_id(i)}</guid>'
                f"<title>{escape(self.name)} post {i}</title>"
                f"<link>http://example.test/{self.name}/{i}</link>"
                f"<description>Entry {i} of {escape(self.name)} mentions Acme</description>"
                f"<author>writer{i % 7}@example.test (Writer {i % 7})</author>"
                f"<pubDate>{when}</pubDate></item>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(self.name)}</title><link>http://example.test/</link>"
            f"<description>test feed</description><language>en</language>"
            + "".join(items)
            + "</channel></rss>"
        ).encode()

    def __call__(self, request: Request) -> Reply:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(60)
        with self._lock:
            self.requests += 1
            if self.fail_with is not None:
                return self.fail_with
            self.count += self.grow
            count = self.count
        etag = f'"{self.name}-{count}"'
        if request.headers.get("if-none-match") == etag:
            with self._lock:
                self.not_modified += 1
            return Reply(304, {"ETag": etag})
        return Reply(
            200,
            {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag},
            self._xml(count),
        )


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Handler] = {}
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url + path

    def feed(self, name: str, items: int = 0, **kwargs: Any) -> tuple[Feed, str]:
        feed = Feed(name, items, **kwargs)
        return feed, self.route(f"/{name}.xml", feed)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that gave up (timeouts, killed pollers) are expected here

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FeedServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        handler = self.server.routes.get(path)
        request = Request(path, {k.lower(): v for k, v in self.headers.items()})
        reply = handler(request) if handler else Reply(404, {}, b"no such feed")
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.body:
            self.wfile.write(reply.body)


class FileKeyring(KeyringBackend):
    """A real keyring backend storing entries in a JSON file (what a test host can offer)."""

    @properties.classproperty
    def priority(cls) -> float:
        # not viable for discovery: a test backend is only ever chosen by set_keyring
        raise RuntimeError("test backend")

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _load(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self.path.write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise keyring.errors.PasswordDeleteError("no such entry")
        self.path.write_text(json.dumps(data))


@contextlib.contextmanager
def installed_keyring(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    """Use `backend` as the process's keyring, then put the previous one back."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def headless_keyring() -> KeyringBackend:
    """What a server without a desktop session has: keyring's `fail` backend."""
    return fail.Keyring()

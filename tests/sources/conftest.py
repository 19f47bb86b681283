"""A real HTTP server on 127.0.0.1 that plays a script, for testing source adapters.

Adapters are tested against real sockets, not mocked transports, so timeouts,
connection resets and truncated bodies behave as they do on the internet.

Usage (fixture `http_server`):

    http_server.add("/feed.xml", body=xml, headers={"ETag": '"v1"'})   # queue replies
    http_server.add("/feed.xml", status=304)                           # ...in order
    http_server.add("/api", handler=lambda req: {"json": {...}})       # computed per request
    http_server.url                         # "http://127.0.0.1:PORT"
    http_server.requests_to("/feed.xml")    # what the client sent (query, headers, body)

Each (method, path) has a queue: a request takes the first reply; the last one
left stays and answers every later request. A reply may set `status`,
`headers`, `body` (str/bytes) or `json`, `delay` (seconds before answering:
longer than the client's timeout makes it time out), `reset` (close the
connection with a TCP RST, nothing sent), `truncate_at` (announce the whole
body in Content-Length but send only that many bytes, then close).
Unscripted paths answer 404.

Fault scripts shared by every adapter's tests: a test that takes the argument
`transport_fault` runs once per HTTP/network failure (429 with and without
Retry-After, 500/502/503, timeout, reset, cut-off body); `body_fault` runs once
per unusable 200 body (truncated JSON, an HTML error page). Each `Fault` holds
the reply to script and the `SourceError` the adapter must raise.
"""

from __future__ import annotations

import json as jsonlib
import socket
import ssl
import struct
import threading
import traceback
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from inboxtui.sources.base import make_client

API_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "api"
_NO_JSON = object()


@dataclass
class Reply:
    status: int = 200
    headers: Mapping[str, str] | list[tuple[str, str]] = field(default_factory=dict)
    body: bytes | str | None = None
    json: Any = _NO_JSON
    delay: float = 0.0
    reset: bool = False
    truncate_at: int | None = None

    def encoded(self) -> tuple[bytes, list[tuple[str, str]]]:
        items = list(self.headers.items()) if isinstance(self.headers, Mapping) else self.headers
        names = {name.lower() for name, _ in items}
        if self.json is not _NO_JSON:
            payload = jsonlib.dumps(self.json).encode()
            content_type = "application/json; charset=utf-8"
        elif isinstance(self.body, str):
            payload, content_type = self.body.encode(), "text/plain; charset=utf-8"
        else:
            payload, content_type = self.body or b"", "application/octet-stream"
        if "content-type" not in names and payload:
            items.append(("Content-Type", content_type))
        return payload, items


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        return jsonlib.loads(self.body)


@dataclass(frozen=True)
class Fault:
    name: str
    reply: dict[str, Any]
    transient: bool = True
    retry_after: float | None = None
    status: int | None = None


TRANSPORT_FAULTS = [
    Fault("429-retry-after", {"status": 429, "headers": {"Retry-After": "7"}}, True, 7.0, 429),
    Fault("429-bare", {"status": 429, "body": "slow down"}, True, None, 429),
    Fault("500", {"status": 500, "body": "oops"}, True, None, 500),
    Fault("502", {"status": 502, "body": "<html>Bad Gateway</html>"}, True, None, 502),
    Fault("503-retry-after", {"status": 503, "headers": {"Retry-After": "30"}}, True, 30.0, 503),
    Fault("timeout", {"delay": 5.0, "json": {}}),  # with `impatient_client` (0.5 s)
    Fault("reset", {"reset": True}),
    Fault("cut-off-body", {"json": {"x": "y" * 200}, "truncate_at": 20}),
]
BODY_FAULTS = [
    Fault(
        "truncated-json",
        {"body": '{"items": [{"id": 1, "te', "headers": {"Content-Type": "application/json"}},
    ),
    Fault(
        "html-error-page",
        {
            "body": "<html><body>Service Unavailable</body></html>",
            "headers": {"Content-Type": "text/html"},
        },
    ),
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, faults in (("transport_fault", TRANSPORT_FAULTS), ("body_fault", BODY_FAULTS)):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, faults, ids=[f.name for f in faults])


Handler = Callable[[Request], "Reply | Mapping[str, Any]"]


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.closing = threading.Event()
        self.requests: list[Request] = []
        self.handler_errors: list[str] = []
        self._routes: dict[tuple[str, str], list[Reply | Handler]] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def add(
        self, path: str, *, method: str = "GET", handler: Handler | None = None, **reply: Any
    ) -> None:
        """Queue one reply (keyword fields of `Reply`) or a handler computing replies."""
        entry: Reply | Handler = handler if handler is not None else Reply(**reply)
        with self._lock:
            self._routes.setdefault((method.upper(), path), []).append(entry)

    def requests_to(self, path: str, method: str | None = None) -> list[Request]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path == path and (method is None or r.method == method.upper())
            ]

    def next_reply(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            queue = self._routes.get((request.method, request.path)) or self._routes.get(
                ("*", request.path)
            )
            if not queue:
                return Reply(status=404, json={"error": f"no script for {request.path}"})
            entry = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(entry, Reply):
            return entry
        try:
            produced = entry(request)
            return produced if isinstance(produced, Reply) else Reply(**produced)
        except Exception:  # a broken test handler: answer 500 and fail the test at teardown
            self.handler_errors.append(traceback.format_exc())
            return Reply(status=500, body="test handler failed")

    def handle_error(self, request: Any, client_address: Any) -> None:
        # clients that gave up (timeouts) make writes fail: that is the point, stay quiet
        pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real APIs
    disable_nagle_algorithm = True  # headers and body go out separately: no 40 ms stalls
    server: ScriptedServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        reply = self.server.next_reply(request)
        if reply.delay and self.server.closing.wait(reply.delay):
            self.close_connection = True
            return
        if reply.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        payload, headers = reply.encoded()
        self.send_response(reply.status)
        for name, value in headers:
            self.send_header(name, value)
        if reply.status >= 200 and reply.status not in (204, 304):
            self.send_header("Content-Length", str(len(payload)))
        else:
            payload = b""
        self.end_headers()
        if reply.truncate_at is not None:
            self.wfile.write(payload[: reply.truncate_at])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)


@pytest.fixture
def http_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.closing.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    assert not server.handler_errors, "a scripted handler raised:\n" + server.handler_errors[0]


@pytest.fixture(scope="session")
def tls_context() -> ssl.SSLContext:
    # building one per client (loading the CA bundle) costs ~0.2 s: share one
    return ssl.create_default_context()


@pytest.fixture
async def source_client(tls_context: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    """The adapters' shared client, with a timeout short enough for tests."""
    client = make_client(timeout=httpx.Timeout(5.0), verify=tls_context)
    yield client
    await client.aclose()


@pytest.fixture
async def impatient_client(tls_context: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    """A client that gives up after 0.5 s: pair with a reply `delay` to cause a timeout."""
    client = make_client(timeout=httpx.Timeout(0.5), verify=tls_context)
    yield client
    await client.aclose()


@pytest.fixture
def api_fixture() -> Callable[[str], Any]:
    """Load one of the services' documented example payloads from ../shared/fixtures/api."""

    def load(relative: str) -> Any:
        path = API_FIXTURES / relative
        if not path.exists():
            pytest.skip(f"API example payload not found: {path}")
        return jsonlib.loads(path.read_text(encoding="utf-8"))

    return load

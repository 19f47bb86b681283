"""Mastodon adapter: end to end against mastodon-mock, plus recorded responses and faults locally.

mastodon-mock (a stateful Mastodon API server from PyPI) runs as a subprocess:
real notifications, Link headers, Idempotency-Key handling and its own fault
injection. What it cannot do (recorded real headers such as the ISO
X-RateLimit-Reset, connection resets, hostile HTML in `content`) is served
by the local scripted server from the Mastodon.py cassettes and the
documentation's examples.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from inboxtui.sources.base import ConfigError, ReplyRequest, SourceError, make_client
from inboxtui.sources.mastodon import (
    MastodonAdapter,
    id_order,
    parse_link_header,
    reset_after,
)
from inboxtui.sources.registry import adapter_class

from ._servers_social import API_FIXTURES, MastodonMock

BRAND = "ada_token"  # the demo community's @ada plays the brand account
FAN = "grace_token"
NOTIFICATIONS = "/api/v1/notifications"


@pytest.fixture(scope="module")
def mock_server() -> Iterator[MastodonMock]:
    executable = Path(sys.executable).parent / "mastodon_mock"
    if not executable.exists():
        pytest.fail("mastodon-mock is not installed: pip install -e '.[test]'")
    server = MastodonMock(executable)
    yield server
    server.stop()


@pytest.fixture
def mock(mock_server: MastodonMock) -> MastodonMock:
    mock_server.reset()  # fresh demo data and no fault rules for every test
    return mock_server


@pytest.fixture
async def logged() -> AsyncIterator[tuple[httpx.AsyncClient, list[httpx.Request]]]:
    """The adapters' client, recording every request it sends."""
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    client = make_client(timeout=httpx.Timeout(10.0), event_hooks={"request": [record]})
    yield client, sent
    await client.aclose()


def adapter(url: str, client: httpx.AsyncClient, token: str | None = BRAND, **options: str):
    return MastodonAdapter("acme-masto", {"url": url, **options}, client, token)


def texts(result) -> list[str]:
    return [m["text"] for m in result.mentions]


# -- end to end against mastodon-mock ----------------------------------------------


async def test_mentions_from_an_empty_start_paged_by_link_headers(mock, logged) -> None:
    client, sent = logged
    source = adapter(mock.url, client, page_size="2")
    start = await source.fetch(None)
    assert start.mentions == [] and start.cursor == {"streams": {"mentions": "0"}}

    for n in range(5):
        mock.post(FAN, status=f"@ada hello {n} <b>bold</b> & more")
    mock.post(FAN, status="no mention here")
    sent.clear()
    result = await source.fetch(start.cursor)

    assert texts(result) == [f"@ada hello {n} <b>bold</b> & more" for n in range(5)]
    mention = result.mentions[0]
    assert mention["kind"] == "mastodon" and mention["source"] == "acme-masto"
    assert mention["author"]["handle"] == "@grace@127.0.0.1"
    assert mention["author"]["name"] == "Grace Hopper"
    assert isinstance(mention["author"]["followers"], int)
    assert mention["created_at"].endswith("Z") and mention["in_reply_to"] is None
    assert (
        mention["url"] == mention["raw"]["url"] and mention["raw"]["id"] == mention["external_id"]
    )
    assert set(mention["engagement"]) == {"replies", "likes", "boosts", "points"}
    # three pages of two, then the empty page that ends the walk along rel="prev"
    pages = [r for r in sent if r.url.path == NOTIFICATIONS]
    assert len(pages) == 4
    assert all(r.url.params.get_list("types[]") == ["mention"] for r in pages)
    assert pages[0].url.params["min_id"] == "0"
    assert [r.url.params["min_id"] for r in pages[1:]] == sorted(
        {r.url.params["min_id"] for r in pages[1:]}, key=id_order
    )
    assert all(r.headers["authorization"] == "Bearer ada_token" for r in pages)

    assert (await source.fetch(result.cursor)).mentions == []
    json.dumps(result.cursor)


async def test_page_budget_cut_leaves_no_gap(mock, source_client) -> None:
    source = adapter(mock.url, source_client, page_size="2", max_pages="2")
    cursor = (await source.fetch(None)).cursor
    for n in range(5):
        mock.post(FAN, status=f"@ada burst {n}")
    first = await source.fetch(cursor)
    second = await source.fetch(first.cursor)
    assert texts(first) + texts(second) == [f"@ada burst {n}" for n in range(5)]
    assert len(first.mentions) == 4


async def test_first_poll_takes_only_the_newest_page(mock, source_client) -> None:
    for n in range(3):
        mock.post(FAN, status=f"@ada old {n}")
    source = adapter(mock.url, source_client, page_size="2")
    first = await source.fetch(None)
    assert texts(first) == ["@ada old 1", "@ada old 2"]
    assert (await source.fetch(first.cursor)).mentions == []


async def test_hashtag_timeline_needs_no_token(mock, source_client) -> None:
    source = adapter(mock.url, source_client, token=None, listen="hashtag:#Acme")
    cursor = (await source.fetch(None)).cursor
    for n in range(3):
        mock.post(FAN, status=f"loving #acme part {n}")
    mock.post(FAN, status="not tagged")
    result = await source.fetch(cursor)
    assert texts(result) == [f"loving #acme part {n}" for n in range(3)]


async def test_keyword_search_and_dedup_across_streams(mock, source_client) -> None:
    source = adapter(mock.url, source_client, listen="mentions,search:zanzibar,hashtag:acme")
    cursor = (await source.fetch(None)).cursor
    mock.post(FAN, status="@ada zanzibar #acme all three")
    mock.post(FAN, status="just zanzibar")
    result = await source.fetch(cursor)
    assert texts(result) == ["@ada zanzibar #acme all three", "just zanzibar"]
    assert (await source.fetch(result.cursor)).mentions == []


async def test_reply_with_the_same_idempotency_key_twice_posts_once(mock, source_client) -> None:
    parent = mock.post(FAN, status="@ada my order never arrived")
    source = adapter(mock.url, source_client)
    request = ReplyRequest(parent["id"], parent["url"], "@grace sorry! DM us please", "outbox-42")

    first = await source.send_reply(request)
    again = await adapter(mock.url, source_client).send_reply(request)
    assert first == again and first.remote_url
    context = mock.get(f"/api/v1/statuses/{parent['id']}/context", BRAND)
    assert [s["id"] for s in context["descendants"]] == [first.remote_id]
    sent = mock.get(f"/api/v1/statuses/{first.remote_id}", BRAND)
    assert sent["in_reply_to_id"] == parent["id"] and sent["account"]["username"] == "ada"

    other = await source.send_reply(
        ReplyRequest(parent["id"], None, "@grace one more thing", "outbox-43")
    )
    assert other.remote_id != first.remote_id
    context = mock.get(f"/api/v1/statuses/{parent['id']}/context", BRAND)
    assert len(context["descendants"]) == 2


MOCK_FAULTS = [
    pytest.param(
        {"type": "status", "status": 429, "headers": {"X-RateLimit-Remaining": "0"}},
        True,
        (100.0, 121.0),
        id="429-iso-reset",
    ),
    pytest.param({"type": "ratelimit"}, True, (300.0, 300.0), id="429-retry-after"),
    pytest.param({"type": "status", "status": 500}, True, None, id="500"),
    pytest.param({"type": "status", "status": 502}, True, None, id="502"),
    pytest.param({"type": "status", "status": 503}, True, None, id="503"),
    pytest.param({"type": "malformed", "truncate": True}, True, None, id="truncated-json"),
    pytest.param({"type": "malformed", "truncate": False}, True, None, id="not-json"),
    pytest.param({"type": "latency", "delay_ms": 3000}, True, None, id="timeout"),
]


@pytest.mark.parametrize(("effect", "transient", "wait"), MOCK_FAULTS)
async def test_mock_faults_then_recovery(
    mock, source_client, impatient_client, effect, transient, wait
) -> None:
    if effect.get("status") == 429 and effect["type"] == "status":
        reset = datetime.now(UTC) + timedelta(seconds=120)
        effect["headers"]["X-RateLimit-Reset"] = reset.isoformat().replace("+00:00", "Z")
    client = impatient_client if effect["type"] == "latency" else source_client
    source = adapter(mock.url, client)
    cursor = (await source.fetch(None)).cursor
    mock.post(FAN, status="@ada still there?")
    mock.fault(NOTIFICATIONS, effect)
    with pytest.raises(SourceError) as info:
        await source.fetch(cursor)
    error = info.value
    assert error.transient is transient and "acme-masto" in str(error)
    if wait is None:
        assert error.retry_after is None
    else:
        assert wait[0] <= error.retry_after <= wait[1]
    assert texts(await source.fetch(cursor)) == ["@ada still there?"]


async def test_unknown_token_is_not_retried(mock, source_client) -> None:
    with pytest.raises(SourceError) as info:
        await adapter(mock.url, source_client, token="stolen-or-typo").fetch(None)
    assert info.value.transient is False and info.value.status == 401
    assert "stolen-or-typo" not in str(info.value)


# -- recorded responses and faults on the local scripted server ----------------------


def cassette(name: str, path: str) -> dict[str, Any]:
    """The recorded response to GET `path` in a Mastodon.py cassette: body and real headers."""
    data = yaml.safe_load((API_FIXTURES / "mastodon/cassettes" / name).read_text())
    for interaction in data["interactions"]:
        request = interaction["request"]
        if request["method"] == "GET" and httpx.URL(request["uri"]).path == path:
            response = interaction["response"]
            headers = [(k, v) for k, values in response["headers"].items() for v in values]
            return {"body": response["body"]["string"], "headers": headers}
    raise AssertionError(f"{path} not in {name}")


async def test_recorded_mention_notifications(http_server, source_client) -> None:
    recorded = cassette("test_notifications_mentions_only.yaml", NOTIFICATIONS)
    http_server.add(NOTIFICATIONS, **recorded)
    http_server.add(NOTIFICATIONS, json=[])
    result = await adapter(http_server.url, source_client).fetch({"streams": {"mentions": "20"}})

    (mention,) = result.mentions
    assert mention["external_id"] == "117020577157693549"
    assert mention["text"] == "@mastodonpy_test hello!"
    assert mention["created_at"] == "2026-08-01T13:51:42.823000Z"
    assert mention["author"] == {"handle": "@admin@127.0.0.1", "name": "admin", "followers": 1}
    assert mention["lang"] == "en"
    assert result.rate_remaining == 299 and result.rate_reset_after == 0.0  # reset has passed
    first, second = http_server.requests_to(NOTIFICATIONS)
    assert first.query["min_id"] == ["20"] and first.query["types[]"] == ["mention"]
    # the recorded Link rel="prev" carried min_id=21 and types[]=mention
    assert second.query["min_id"] == ["21"] and second.query["types[]"] == ["mention"]
    assert result.cursor == {"streams": {"mentions": "21"}}


async def test_recorded_hashtag_timeline(http_server, source_client) -> None:
    path = "/api/v1/timelines/tag/hoot"
    http_server.add(path, **cassette("test_hashtag_tl.yaml", path))
    http_server.add(path, json=[])
    source = adapter(http_server.url, source_client, token=None, listen="hashtag:hoot")
    result = await source.fetch({"streams": {"hashtag:hoot": "117020593741189000"}})
    assert [m["external_id"] for m in result.mentions] == ["117020593741189701"]
    assert http_server.requests_to(path)[1].query["min_id"] == ["117020593741189701"]


def status_example(**changes: Any) -> dict[str, Any]:
    status = json.loads((API_FIXTURES / "mastodon/Status.example.json").read_text())
    status.update(changes)
    return status


async def test_documented_status_and_hostile_html(http_server, source_client) -> None:
    documented = status_example()
    hostile = status_example(
        id="103270115826048976",
        content=(
            "<p>Hi <script>alert('x')</script>[bold]there[/]<br>second\x1b[31m line"
            "</p><p>para &amp; <a href='https://x'>link</a><style>p{}</style></p><unclosed"
        ),
        spoiler_text="complaint",
        language=None,
    )
    reblog = status_example(id="103270115826048977", reblog=status_example(id="1000"))
    http_server.add("/api/v1/timelines/tag/acme", json=[documented, hostile, reblog, {"x": 1}])
    source = adapter(http_server.url, source_client, token=None, listen="hashtag:acme")
    result = await source.fetch(None)

    by_id = {m["external_id"]: m for m in result.mentions}
    first = by_id["103270115826048975"]
    assert first["text"] == (
        '"I lost my inheritance with one wrong digit on my sort code"\n\n'
        "https://www.theguardian.com/money/2019/dec/07/"
        "i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code"
    )
    assert first["author"] == {"handle": "@Gargron@127.0.0.1", "name": "Eugen", "followers": 322930}
    assert first["engagement"] == {"replies": 5, "likes": 11, "boosts": 6, "points": None}
    text = by_id["103270115826048976"]["text"]
    assert text.startswith("CW: complaint\n\nHi [bold]there[/]\nsecond\x1b[31m line")
    for markup in ("alert", "<script", "<a ", "<p>", "<br>", "p{}", "&amp;"):
        assert markup not in text
    assert "1000" in by_id  # a boost is the boosted status
    assert len(result.mentions) == 3


async def test_transport_faults_then_recovery(
    http_server, source_client, impatient_client, transport_fault
):
    client = impatient_client if transport_fault.name == "timeout" else source_client
    path = "/api/v1/timelines/tag/acme"
    http_server.add(path, **transport_fault.reply)
    http_server.add(path, json=[status_example()])
    source = adapter(http_server.url, client, token=None, listen="hashtag:acme")
    with pytest.raises(SourceError) as info:
        await source.fetch(None)
    error = info.value
    assert error.transient is transport_fault.transient
    assert error.retry_after == transport_fault.retry_after
    assert error.status == transport_fault.status
    assert "acme-masto" in str(error) and "Traceback" not in str(error)
    assert len((await source.fetch(None)).mentions) == 1


async def test_body_faults(http_server, source_client, body_fault) -> None:
    http_server.add(NOTIFICATIONS, **body_fault.reply)
    with pytest.raises(SourceError):
        await adapter(http_server.url, source_client).fetch(None)


async def test_search_answer_without_statuses_is_an_error(http_server, source_client) -> None:
    http_server.add("/api/v2/search", json={"accounts": []})
    with pytest.raises(SourceError, match="statuses"):
        await adapter(http_server.url, source_client, listen="search:x").fetch(None)


async def test_refused_reply_is_permanent(http_server, source_client) -> None:
    refusal = json.loads((API_FIXTURES / "mastodon/statuses.create.422.json").read_text())
    http_server.add("/api/v1/statuses", method="POST", status=422, json=refusal)
    request = ReplyRequest("103270115826048975", None, "", "k-1")
    with pytest.raises(SourceError) as info:
        await adapter(http_server.url, source_client).send_reply(request)
    assert info.value.transient is False and info.value.status == 422
    (sent,) = http_server.requests_to("/api/v1/statuses")
    assert sent.headers["idempotency-key"] == "k-1"


def test_options_are_checked(source_client) -> None:
    assert adapter_class("mastodon") is MastodonAdapter and MastodonAdapter.can_reply
    with pytest.raises(ConfigError, match="url="):
        MastodonAdapter("m", {}, source_client, "t")
    with pytest.raises(ConfigError, match="access token"):
        MastodonAdapter("m", {"url": "https://example.social"}, source_client)
    with pytest.raises(ConfigError, match="listen="):
        MastodonAdapter("m", {"url": "https://x", "listen": "home"}, source_client, "t")
    with pytest.raises(ConfigError, match="page_size"):
        MastodonAdapter("m", {"url": "https://x", "page_size": "99"}, source_client, "t")


async def test_reply_needs_a_token(source_client) -> None:
    source = MastodonAdapter("m", {"url": "https://x", "listen": "hashtag:a"}, source_client)
    with pytest.raises(ConfigError, match="access token"):
        await source.send_reply(ReplyRequest("1", None, "hi", "k"))


def test_link_header_and_reset_parsing() -> None:
    links = parse_link_header(
        '<https://m.example/api/v1/notifications?max_id=21&types%5B%5D=mention>; rel="next", '
        '<https://m.example/api/v1/notifications?min_id=21&types%5B%5D=mention>; rel="prev"'
    )
    assert links["prev"].endswith("min_id=21&types%5B%5D=mention")
    assert links["next"].endswith("max_id=21&types%5B%5D=mention")
    assert parse_link_header("garbage, <<>>;;") == {} or "prev" not in parse_link_header("x")

    def reset(value: str) -> float | None:
        response = httpx.Response(200, headers={"X-RateLimit-Reset": value})
        return reset_after(response, now=1_000_000_000.0)

    assert reset("2001-09-09T01:48:20Z") == 100.0  # epoch 1e9 is 01:46:40Z
    assert reset("2001-09-09T01:46:00Z") == 0.0  # in the past
    assert reset("1000000030") == 30.0 and reset("45") == 45.0 and reset("soon") is None
    assert id_order("99") < id_order("100") < id_order("117020577157693549")

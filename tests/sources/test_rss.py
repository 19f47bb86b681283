"""RSS/Atom adapter against a real local HTTP server serving RSS 2.0 and Atom 1.0 feeds."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from inboxtui.ingest import parse_record
from inboxtui.sources.base import ConfigError, SourceError
from inboxtui.sources.registry import adapter_class
from inboxtui.sources.rss import RssAdapter

FEED = "/blog/feed.xml"
RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}


def rss_item(n: int, *, day: int | None = None, guid: bool = True, body: str | None = None) -> str:
    day = n if day is None else day
    guid_xml = (
        f'<guid isPermaLink="false">tag:blog.example.com,2026:post-{n}</guid>' if guid else ""
    )
    description = (
        body
        or f"&lt;p&gt;Post {n} about &lt;b&gt;Acme&lt;/b&gt;.&lt;/p&gt;&lt;p&gt;More.&lt;/p&gt;"
    )
    return f"""
    <item>
      <title>Post {n}</title>
      <link>https://blog.example.com/posts/{n}</link>
      <description>{description}</description>
      <dc:creator>Writer {n}</dc:creator>
      <pubDate>Tue, {day:02d} Nov 2026 10:00:00 GMT</pubDate>
      {guid_xml}
    </item>"""


def rss_feed(*items: str) -> str:
    # newest first, like real feeds
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>Example Blog</title>
    <link>https://blog.example.com/</link>
    <description>Posts</description>
    <language>en-us</language>
    <atom:link href="https://blog.example.com/feed.xml" rel="self" type="application/rss+xml"/>
    {"".join(items)}
  </channel>
</rss>
"""


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de">
  <title>Beispiel</title>
  <link href="https://news.example.org/"/>
  <updated>2026-11-20T12:00:00Z</updated>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <entry>
    <title type="html">Acme &amp;lt;3 &lt;em&gt;neu&lt;/em&gt;</title>
    <link href="https://news.example.org/2"/>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6b</id>
    <published>2026-11-20T11:00:00+01:00</published>
    <updated>2026-11-20T11:30:00+01:00</updated>
    <author><name>Erika Muster</name><email>erika@example.org</email></author>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">
      <p>Erster Absatz.</p><p>Zweiter <a href="/x">Absatz</a>.</p>
    </div></content>
  </entry>
  <entry>
    <title>Ältere Meldung</title>
    <link href="https://news.example.org/1"/>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <updated>2026-11-19T08:00:00Z</updated>
    <summary>Nur Text &amp; Zeichen</summary>
  </entry>
</feed>
"""


def adapter(url: str, client: httpx.AsyncClient) -> RssAdapter:
    return RssAdapter("acme-blog", {"url": url}, client)


def ids(mentions: list[dict[str, Any]]) -> list[str]:
    return [m["external_id"] for m in mentions]


async def test_registry_and_required_url(source_client: httpx.AsyncClient) -> None:
    assert adapter_class("rss") is RssAdapter
    assert RssAdapter.can_reply is False
    with pytest.raises(ConfigError, match="url="):
        RssAdapter("acme-blog", {}, source_client)


async def test_first_fetch_rss2(http_server, source_client) -> None:
    http_server.add(FEED, body=rss_feed(rss_item(3), rss_item(2), rss_item(1)), headers=RSS_TYPE)
    result = await adapter(http_server.url + FEED, source_client).fetch(None)

    assert ids(result.mentions) == [f"tag:blog.example.com,2026:post-{n}" for n in (1, 2, 3)]
    first = result.mentions[0]
    assert first["kind"] == "rss" and first["source"] == "acme-blog"
    assert first["created_at"] == "2026-11-01T10:00:00Z"
    assert first["title"] == "Post 1"
    assert first["text"] == "Post 1 about Acme.\n\nMore."
    assert first["url"] == "https://blog.example.com/posts/1"
    assert first["author"] == {"handle": "Writer 1", "name": "Writer 1", "followers": None}
    assert first["lang"] == "en"
    assert first["in_reply_to"] is None
    json.dumps(first["raw"])  # the raw entry is JSON-serialisable
    assert first["raw"]["title"] == "Post 1"
    assert result.notes == []
    assert all(parse_record(m).external_id for m in result.mentions)  # the ingest path agrees
    sent = http_server.requests_to(FEED)[0]
    assert sent.headers["user-agent"].startswith("inboxtui/")
    assert "if-none-match" not in sent.headers


async def test_first_fetch_atom(http_server, source_client) -> None:
    http_server.add(FEED, body=ATOM, headers={"Content-Type": "application/atom+xml"})
    result = await adapter(http_server.url + FEED, source_client).fetch(None)

    older, newer = result.mentions
    assert newer["external_id"] == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6b"
    assert newer["created_at"] == "2026-11-20T10:00:00Z"  # published, in UTC
    assert newer["title"] == "Acme <3 neu"
    assert newer["text"] == "Erster Absatz.\n\nZweiter Absatz."
    assert newer["author"]["handle"] == "Erika Muster"
    assert newer["lang"] == "de"
    assert older["created_at"] == "2026-11-19T08:00:00Z"  # no published: updated
    assert older["text"] == "Nur Text & Zeichen"
    # no author anywhere: the feed's title stands in, so author.handle is never empty
    assert older["author"]["handle"] == "Beispiel"


async def test_incremental_polls_conditional_get_and_304(http_server, source_client) -> None:
    http_server.add(
        FEED,
        body=rss_feed(rss_item(3), rss_item(2), rss_item(1)),
        headers={**RSS_TYPE, "ETag": '"v1"', "Last-Modified": "Tue, 03 Nov 2026 10:00:00 GMT"},
    )
    # item 1 fell off the window, 4 and 5 are new
    http_server.add(
        FEED,
        body=rss_feed(rss_item(5), rss_item(4), rss_item(3), rss_item(2)),
        headers={**RSS_TYPE, "ETag": '"v2"', "Last-Modified": "Thu, 05 Nov 2026 10:00:00 GMT"},
    )
    http_server.add(FEED, status=304, headers={"ETag": '"v2"'})
    source = adapter(http_server.url + FEED, source_client)

    first = await source.fetch(None)
    second = await source.fetch(first.cursor)
    third = await source.fetch(second.cursor)

    assert ids(second.mentions) == [f"tag:blog.example.com,2026:post-{n}" for n in (4, 5)]
    assert third.mentions == [] and third.cursor == second.cursor
    sent = http_server.requests_to(FEED)
    assert sent[1].headers["if-none-match"] == '"v1"'
    assert sent[1].headers["if-modified-since"] == "Tue, 03 Nov 2026 10:00:00 GMT"
    assert sent[2].headers["if-none-match"] == '"v2"'
    assert sent[2].headers["if-modified-since"] == "Thu, 05 Nov 2026 10:00:00 GMT"
    json.dumps(second.cursor)


async def test_same_feed_again_without_validators_gives_nothing(http_server, source_client):
    body = rss_feed(rss_item(2, guid=False), rss_item(1, guid=False))
    http_server.add(FEED, body=body, headers=RSS_TYPE)
    source = adapter(http_server.url + FEED, source_client)
    first = await source.fetch(None)
    again = await source.fetch(first.cursor)
    # no guid: the link is the identity
    assert ids(first.mentions) == [f"https://blog.example.com/posts/{n}" for n in (1, 2)]
    assert again.mentions == []


async def test_back_dated_entry_is_still_new(http_server, source_client) -> None:
    http_server.add(FEED, body=rss_feed(rss_item(5), rss_item(4)), headers=RSS_TYPE)
    # post 9 appears late but claims an older date than everything seen
    http_server.add(
        FEED, body=rss_feed(rss_item(9, day=1), rss_item(5), rss_item(4)), headers=RSS_TYPE
    )
    source = adapter(http_server.url + FEED, source_client)
    first = await source.fetch(None)
    second = await source.fetch(first.cursor)
    assert ids(second.mentions) == ["tag:blog.example.com,2026:post-9"]
    assert second.mentions[0]["created_at"] == "2026-11-01T10:00:00Z"


async def test_entries_without_id_or_link_get_a_stable_hash(http_server, source_client) -> None:
    body = """<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
    <item><title>Only a title</title><description>and words</description></item>
    </channel></rss>"""
    http_server.add(FEED, body=body, headers=RSS_TYPE)
    source = adapter(http_server.url + FEED, source_client)
    first = await source.fetch(None)
    second = await source.fetch(first.cursor)
    assert len(first.mentions) == 1 and first.mentions[0]["external_id"].startswith("sha1:")
    assert second.mentions == []
    # undated: the time of the fetch, still an ISO Z timestamp
    assert first.mentions[0]["created_at"].endswith("Z")


async def test_cut_off_feed_keeps_complete_entries_and_rereads_later(http_server, source_client):
    full = rss_feed(rss_item(3), rss_item(2), rss_item(1))
    cut = full[: full.index("<title>Post 1</title>") + 30]  # stops inside item 1
    http_server.add(FEED, body=cut, headers={**RSS_TYPE, "ETag": '"broken"'})
    http_server.add(FEED, body=full, headers={**RSS_TYPE, "ETag": '"v1"'})
    source = adapter(http_server.url + FEED, source_client)

    first = await source.fetch(None)
    assert ids(first.mentions) == [f"tag:blog.example.com,2026:post-{n}" for n in (2, 3)]
    assert first.notes and "malformed" in first.notes[0]
    assert "etag" not in first.cursor  # a broken copy's validators are not trusted

    second = await source.fetch(first.cursor)
    assert ids(second.mentions) == ["tag:blog.example.com,2026:post-1"]
    assert "if-none-match" not in http_server.requests_to(FEED)[1].headers


async def test_malformed_but_complete_feed_keeps_every_entry(http_server, source_client) -> None:
    # an HTML entity XML does not know: strict parsing fails, every entry is still there
    body = rss_feed(rss_item(2, body="caf&eacute; &nbsp;ok"), rss_item(1))
    http_server.add(FEED, body=body, headers=RSS_TYPE)
    result = await adapter(http_server.url + FEED, source_client).fetch(None)
    assert len(result.mentions) == 2
    assert result.notes and "malformed" in result.notes[0]


@pytest.mark.parametrize(
    "body",
    [
        "<html><head><title>Moved</title></head><body>Nothing here</body></html>",
        "<rss version='2.0'><channel><item><title>x",  # cut off before any complete entry
        "",
        '{"feed": "this is JSON"}',
    ],
    ids=["html-page", "cut-before-entries", "empty", "json"],
)
async def test_not_a_feed_is_a_source_error(http_server, source_client, body: str) -> None:
    http_server.add(FEED, body=body, headers={"Content-Type": "text/html"})
    with pytest.raises(SourceError) as info:
        await adapter(http_server.url + FEED, source_client).fetch(None)
    assert "acme-blog" in str(info.value)


async def test_body_faults(http_server, source_client, body_fault) -> None:
    http_server.add(FEED, **body_fault.reply)
    with pytest.raises(SourceError):
        await adapter(http_server.url + FEED, source_client).fetch(None)


async def test_transport_faults_then_recovery(http_server, impatient_client, transport_fault):
    http_server.add(FEED, **transport_fault.reply)
    http_server.add(FEED, body=rss_feed(rss_item(2), rss_item(1)), headers=RSS_TYPE)
    source = adapter(http_server.url + FEED, impatient_client)

    with pytest.raises(SourceError) as info:
        await source.fetch({"seen": ["tag:blog.example.com,2026:post-1"]})
    error = info.value
    assert error.transient is transport_fault.transient
    assert error.retry_after == transport_fault.retry_after
    assert error.status == transport_fault.status
    assert "acme-blog" in str(error) and "Traceback" not in str(error)

    recovered = await source.fetch({"seen": ["tag:blog.example.com,2026:post-1"]})
    assert ids(recovered.mentions) == ["tag:blog.example.com,2026:post-2"]


async def test_hostile_html_becomes_plain_text(http_server, source_client) -> None:
    hostile = (
        "&lt;script&gt;alert('x')&lt;/script&gt;&lt;p&gt;Hi [bold]there[/] \x1b[31mred"
        "&lt;/p&gt;&lt;style&gt;p{}&lt;/style&gt;&lt;img src=x onerror=alert(1)&gt;"
    )
    body = rss_feed(rss_item(1, body=hostile)).replace("\x1b", "&#x1b;")
    http_server.add(FEED, body=body, headers=RSS_TYPE)
    result = await adapter(http_server.url + FEED, source_client).fetch(None)
    text = result.mentions[0]["text"]
    assert "alert" not in text and "<" not in text and "p{}" not in text
    assert "Hi [bold]there[/]" in text  # markup-looking text stays text (render escapes it)


async def test_hostile_ids_and_links_still_ingest(http_server, source_client) -> None:
    body = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>
    <item><title>spoof</title><guid isPermaLink="false">post-1\u200b\u202e</guid>
      <link>javascript:alert(1)</link><description>x</description></item>
    <item><title>guid as link</title><guid>tag:example.com,2026:2</guid></item>
    </channel></rss>"""
    http_server.add(FEED, body=body, headers=RSS_TYPE)
    result = await adapter(http_server.url + FEED, source_client).fetch(None)
    spoof, tagged = sorted(result.mentions, key=lambda m: m["title"], reverse=True)
    assert spoof["external_id"].startswith("sha1:") and spoof["url"] is None
    assert tagged["external_id"] == "tag:example.com,2026:2" and tagged["url"] is None
    for mention in result.mentions:
        parse_record(mention)  # ingest would refuse an invisible character or a javascript: URL


async def test_latin1_feed_is_decoded(http_server, source_client) -> None:
    body = rss_feed(rss_item(1, body="Caf\u00e9 cr\u00e8me")).replace("UTF-8", "ISO-8859-1")
    http_server.add(
        FEED, body=body.encode("iso-8859-1"), headers={"Content-Type": "application/rss+xml"}
    )
    result = await adapter(http_server.url + FEED, source_client).fetch(None)
    assert result.mentions[0]["text"] == "Café crème"


async def test_seen_list_is_bounded(http_server, source_client) -> None:
    http_server.add(FEED, body=rss_feed(rss_item(2), rss_item(1)), headers=RSS_TYPE)
    cursor = {"seen": [f"old-{n}" for n in range(1000)]}
    result = await adapter(http_server.url + FEED, source_client).fetch(cursor)
    assert len(result.mentions) == 2
    seen = result.cursor["seen"]
    assert seen[:2] == [f"tag:blog.example.com,2026:post-{n}" for n in (2, 1)]
    assert len(seen) == 2 + 200

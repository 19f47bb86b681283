"""Mastodon and Discourse records carry `edited_at` when the API says a post was edited."""

from __future__ import annotations

from inboxtui.ingest import parse_record

from .test_discourse import documented, forum, ids
from .test_discourse import make as discourse
from .test_mastodon import adapter as mastodon
from .test_mastodon import status_example

__all__ = ["documented", "forum"]  # fixtures, imported for this module's tests


async def test_mastodon_status_edited_at(http_server, source_client) -> None:
    plain = status_example(id="1", edited_at=None)
    edited = status_example(id="2", edited_at="2026-11-20T10:05:00.123Z")
    broken = status_example(id="3", edited_at="not a time")
    http_server.add("/api/v1/timelines/tag/acme", json=[plain, edited, broken])
    source = mastodon(http_server.url, source_client, token=None, listen="hashtag:acme")
    by_id = {m["external_id"]: m for m in (await source.fetch(None)).mentions}
    assert "edited_at" not in by_id["1"] and "edited_at" not in by_id["3"]
    assert by_id["2"]["edited_at"] == "2026-11-20T10:05:00.123000Z"
    assert parse_record(by_id["2"]).edited_at is not None


async def test_discourse_version_above_one_is_an_edit(http_server, source_client, forum) -> None:
    forum.posts.clear()
    forum.add(1, 10, 1, version=1, updated_at="2026-11-20T10:01:00.000Z")
    forum.add(2, 10, 2, version=3, updated_at="2026-11-20T11:30:00.000Z")
    result = await discourse(http_server, source_client).fetch(None)
    by_id = dict(zip(ids(result.mentions), result.mentions, strict=True))
    assert "edited_at" not in by_id["10/1"]
    assert parse_record(by_id["10/2"]).edited_at is not None
    assert by_id["10/2"]["edited_at"].startswith("2026-11-20T11:30:00")

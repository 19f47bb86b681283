"""The reach cache shared by the Bluesky, GitHub and Hacker News adapters."""

from __future__ import annotations

from inboxtui.sources.profiles import ReachCache


def test_fresh_stale_and_bounded() -> None:
    cache = ReachCache(ttl=3600, max_entries=2)
    cache.put("a", 1)
    cache.put("b", None)  # known: no such author
    assert "a" in cache and "b" in cache
    assert cache.stale(["a", "b", "c", "c", None, ""]) == ["c"]
    cache.put("a", 5)  # refreshed entries move to the back
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 5 and cache.get("c") == 3


def test_expired_entries_are_stale_but_still_read() -> None:
    cache = ReachCache(ttl=0)
    cache.put("a", 7)
    assert cache.stale(["a"]) == ["a"]
    assert cache.get("a") == 7  # a stale count still beats none if the lookup fails

"""Author reach (followers, or karma on Hacker News) for listings that lack it.

Bluesky, GitHub and Hacker News list posts without the author's audience, so
the adapter asks the API's profile endpoint. Reach is nice to have; the
mentions are not optional. Hence the rules shared here, written once:

- a TTL cache per adapter instance (the poller keeps adapters between polls,
  see `polling.AdapterCache`, so an author is looked up once per `ttl`; a
  process that polls once, `inboxtui poll --once`, starts with an empty cache);
- at most `max_requests` profile requests per poll, so a storm of new authors
  cannot burn the rate limit that the listing itself needs;
- no request while the API's remaining quota is at or below `reserve`;
- a failed lookup ends the lookups of this poll, never the poll: the authors
  not looked up keep `followers` None and a note says why.

Not-found authors are cached as None (a deleted account stays deleted); failed
lookups are not cached, so the next poll tries again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from inboxtui.sources.base import SourceError

MAX_ENTRIES = 10_000  # authors remembered per adapter; the oldest entries go first

# keys to look up -> {key: reach or None (no such author / no count)}
Lookup = Callable[[list[str]], Awaitable[dict[str, int | None]]]


class ReachCache:
    """Author key -> (reach, expiry on the monotonic clock), bounded in size."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._items: dict[str, tuple[int | None, float]] = {}

    def __contains__(self, key: str) -> bool:
        item = self._items.get(key)
        return item is not None and item[1] > time.monotonic()

    def get(self, key: str) -> int | None:
        """The cached reach, fresh or not (a stale count beats none when a lookup fails)."""
        item = self._items.get(key)
        return item[0] if item is not None else None

    def put(self, key: str, reach: int | None) -> None:
        self._items.pop(key, None)
        self._items[key] = (reach, time.monotonic() + self.ttl)
        while len(self._items) > self.max_entries:
            del self._items[next(iter(self._items))]

    def stale(self, keys: Iterable[str | None]) -> list[str]:
        """The distinct keys, in order, that need a lookup."""
        return [key for key in dict.fromkeys(keys) if key and key not in self]


async def add_reach(
    mentions: list[dict[str, Any]],
    key_of: Callable[[dict[str, Any]], str | None],
    cache: ReachCache,
    lookup: Lookup,
    *,
    notes: list[str],
    batch_size: int = 1,
    max_requests: int,
    quota: Callable[[], int | None] = lambda: None,
    reserve: int = 0,
    what: str = "follower counts",
) -> int:
    """Fill `author.followers` of `mentions` from `cache`, looking up what it lacks.

    `quota` reads the API's remaining requests as last reported (None: unknown).
    Returns the number of profile requests made.
    """
    wanted = cache.stale(key_of(m) for m in mentions)
    batches = [wanted[i : i + batch_size] for i in range(0, len(wanted), batch_size)]
    made = 0
    for number, batch in enumerate(batches):
        remaining = quota()
        if number >= max_requests or (remaining is not None and remaining <= reserve):
            why = "quota kept for listing" if number < max_requests else "lookup limit per poll"
            skipped = len(wanted) - number * batch_size
            authors = "author" if skipped == 1 else "authors"
            notes.append(f"{what} skipped for {skipped} {authors} ({why})")
            break
        made += 1
        try:
            found = await lookup(batch)
        except SourceError as exc:
            notes.append(f"{what} unavailable: {exc}")
            break
        for key in batch:
            cache.put(key, found.get(key))
    for mention in mentions:
        key = key_of(mention)
        if key:
            reach = cache.get(key)
            if reach is not None:
                mention["author"]["followers"] = reach
    return made

"""Source kinds -> adapter classes, imported on first use (startup stays fast).

Each `inboxtui/sources/<kind>.py` module exposes its adapter class as `ADAPTER`.
"""

from __future__ import annotations

import importlib

from inboxtui.sources.base import ConfigError, SourceAdapter

KINDS = ("rss", "mastodon", "bluesky", "reddit", "hackernews", "github", "discourse")


def adapter_class(kind: str) -> type[SourceAdapter]:
    if kind not in KINDS:
        raise ConfigError(f"unknown source kind {kind!r} (kinds: {', '.join(KINDS)})")
    module = importlib.import_module(f"inboxtui.sources.{kind}")
    return module.ADAPTER

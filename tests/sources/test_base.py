"""The protocol's shared pieces: option checking and error mapping every adapter relies on."""

from __future__ import annotations

import httpx
import pytest

from inboxtui.sources.base import ConfigError, SourceError, raise_for_status, retry_after_seconds
from inboxtui.sources.registry import adapter_class


def _adapter(**options: str):
    return adapter_class("reddit")("r-acme", {"subreddit": "acme", **options}, client=None)  # type: ignore[arg-type]


def test_numeric_options_are_checked_when_the_source_is_built() -> None:
    assert _adapter(max_pages="7").max_pages == 7
    with pytest.raises(ConfigError, match=r"max_pages='seven' is not a whole number"):
        _adapter(max_pages="seven")
    with pytest.raises(ConfigError, match=r"max_pages=0 must be at least 1"):
        _adapter(max_pages="0")
    mastodon = adapter_class("mastodon")
    with pytest.raises(ConfigError, match=r"page_size=99 must be between 1 and 40"):
        mastodon(
            "m",
            {"url": "https://example.org", "listen": "hashtag:acme", "page_size": "99"},
            client=None,
        )  # type: ignore[arg-type]


def test_decode_names_the_source() -> None:
    response = httpx.Response(200, text='{"truncated": [1, 2')
    with pytest.raises(SourceError, match=r"^r-acme: not JSON"):
        _adapter().decode(response)


def test_status_mapping_and_retry_after() -> None:
    with pytest.raises(SourceError) as limited:
        raise_for_status("s", httpx.Response(429, headers={"Retry-After": "30"}))
    assert limited.value.transient and limited.value.retry_after == 30
    with pytest.raises(SourceError) as refused:
        raise_for_status("s", httpx.Response(401))
    assert not refused.value.transient
    date = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_seconds(date, now=1445412420.0) == 60.0
    reset = httpx.Response(
        403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1445412480"}
    )
    with pytest.raises(SourceError) as exhausted:
        raise_for_status("s", reset)
    assert exhausted.value.transient

"""GitHub adapter against a local server answering like the REST API.

Comments are built from GitHub's documented example (`issue-comment-items`),
and the fake honours `since` (inclusive), `sort=updated&direction=asc`,
`per_page`/`page` with `Link` headers, ETag / If-None-Match (304) and the
X-RateLimit-* headers.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from inboxtui.ingest import parse_record
from inboxtui.sources.base import ConfigError, ReplyRequest, SourceError
from inboxtui.sources.github import GitHubAdapter
from inboxtui.sources.registry import adapter_class
from inboxtui.timeutil import iso, parse_iso, utcnow

REPO = "octocat/Hello-World"
PATH = f"/repos/{REPO}/issues/comments"
BASE = parse_iso("2026-11-20T10:00:00Z")


def stamp(seconds: int) -> str:
    return iso(BASE + timedelta(seconds=seconds))


class FakeGitHub:
    """Issue comments of one repository, served like GET /repos/{o}/{r}/issues/comments."""

    def __init__(self, template: dict[str, Any], repo: str = REPO) -> None:
        self.template = template
        self.repo = repo
        self.comments: list[dict[str, Any]] = []
        self.remaining = 4999
        self.on_request: Any = None

    def comment(self, cid: int, at: int, *, issue: int = 1347, body: str | None = None):
        item = copy.deepcopy(self.template)
        item["id"] = cid
        item["node_id"] = f"IC_{cid}"
        item["url"] = f"https://api.github.com/repos/{self.repo}/issues/comments/{cid}"
        item["html_url"] = f"https://github.com/{self.repo}/issues/{issue}#issuecomment-{cid}"
        item["issue_url"] = f"https://api.github.com/repos/{self.repo}/issues/{issue}"
        item["body"] = body if body is not None else f"Comment {cid} about Acme"
        item["user"] = {**item["user"], "login": f"user{cid}"}
        item["created_at"] = item["updated_at"] = stamp(at)
        self.comments.append(item)
        return item

    def edit(self, cid: int, at: int, body: str) -> None:
        for item in self.comments:
            if item["id"] == cid:
                item["body"], item["updated_at"] = body, stamp(at)

    def rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(int(time.time()) + 1800),
            "X-RateLimit-Used": str(5000 - self.remaining),
            "X-RateLimit-Resource": "core",
        }

    def __call__(self, request) -> dict[str, Any]:
        if self.on_request:
            self.on_request(self, request)
        since = request.arg("since")
        assert request.arg("sort") == "updated" and request.arg("direction") == "asc"
        items = [c for c in self.comments if since is None or c["updated_at"] >= since]
        items.sort(key=lambda c: (c["updated_at"], c["id"]))
        per_page = int(request.arg("per_page") or 30)
        page = int(request.arg("page") or 1)
        body = items[(page - 1) * per_page : page * per_page]
        etag = '"' + hashlib.sha1(json.dumps(body).encode()).hexdigest() + '"'
        headers = {"ETag": etag, **self.rate_headers()}
        if request.headers.get("if-none-match") == etag:
            return {"status": 304, "headers": headers}
        self.remaining = max(0, self.remaining - 1)
        headers.update(self.rate_headers())
        if page * per_page < len(items):
            query = {k: v[0] for k, v in request.query.items()}
            base = f"http://{request.headers['host']}{request.path}"
            next_url = f"{base}?{urlencode({**query, 'page': page + 1})}"
            last_page = (len(items) + per_page - 1) // per_page
            last_url = f"{base}?{urlencode({**query, 'page': last_page})}"
            headers["Link"] = f'<{next_url}>; rel="next", <{last_url}>; rel="last"'
        return {"json": body, "headers": headers}


@pytest.fixture
def github(http_server, api_fixture) -> FakeGitHub:
    (template,) = api_fixture("github/issue-comment-items.example.json")
    fake = FakeGitHub(template)
    http_server.add(PATH, handler=fake)
    return fake


def make(http_server, client, *, per_page: int = 100, secret: str | None = "ghp_test", **opts):
    options = {"url": http_server.url, "repos": REPO, "since": "3650d", **opts}
    source = GitHubAdapter("gh-acme", options, client, secret=secret)
    source.per_page = per_page
    return source


def ids(mentions: list[dict[str, Any]]) -> list[str]:
    return [m["external_id"] for m in mentions]


async def test_registry_and_options(source_client) -> None:
    assert adapter_class("github") is GitHubAdapter
    assert GitHubAdapter.can_reply and GitHubAdapter.default_url == "https://api.github.com"
    with pytest.raises(ConfigError, match="repos="):
        GitHubAdapter("gh", {}, source_client)
    with pytest.raises(ConfigError, match="owner/name"):
        GitHubAdapter("gh", {"repos": "just-a-name"}, source_client)
    with pytest.raises(ConfigError, match="since="):
        GitHubAdapter("gh", {"repos": REPO, "since": "yesterday-ish"}, source_client)


async def test_documented_comment_shape(http_server, source_client, api_fixture) -> None:
    items = api_fixture("github/issue-comment-items.example.json")
    http_server.add(PATH, json=items)
    result = await make(http_server, source_client).fetch(None)

    (mention,) = result.mentions
    assert mention == {
        "kind": "github",
        "source": "gh-acme",
        "external_id": "1",
        "created_at": "2011-04-14T16:00:49Z",
        "text": "Me too",
        "title": None,
        "url": "https://github.com/octocat/Hello-World/issues/1347#issuecomment-1",
        "author": {"handle": "octocat", "name": None, "followers": None},
        "lang": None,
        "in_reply_to": "octocat/Hello-World#1347",  # the issue is the thread root
        "raw": items[0],
    }
    assert parse_record(mention).in_reply_to == "octocat/Hello-World#1347"  # ingest agrees
    sent = http_server.requests_to(PATH)[0]
    assert sent.headers["authorization"] == "Bearer ghp_test"
    assert sent.headers["accept"] == "application/vnd.github+json"
    assert sent.headers["x-github-api-version"] == "2022-11-28"
    assert (sent.arg("sort"), sent.arg("direction"), sent.arg("per_page")) == (
        "updated",
        "asc",
        "100",
    )


async def test_first_poll_looks_back_by_the_since_option(http_server, source_client, github):
    await make(http_server, source_client, since="2d", secret=None).fetch(None)
    sent = http_server.requests_to(PATH)[0]
    asked = parse_iso(sent.arg("since"))
    assert 2 * 86400 - 120 < (utcnow() - asked).total_seconds() < 2 * 86400 + 120
    assert "authorization" not in sent.headers  # public repositories need no token


async def test_incremental_edits_and_etag(http_server, source_client, github) -> None:
    github.comment(1, 0)
    github.comment(2, 10)
    source = make(http_server, source_client)
    first = await source.fetch(None)

    github.comment(3, 10)  # lands in the second already read
    github.comment(4, 20)
    github.edit(1, 30, "Me too (edited)")
    second = await source.fetch(first.cursor)
    third = await source.fetch(second.cursor)  # nothing changed: 304
    fourth = await source.fetch(third.cursor)

    assert ids(first.mentions) == ["1", "2"]
    assert ids(second.mentions) == ["3", "4", "1"]  # the edit comes back, same external id
    assert second.mentions[2]["text"] == "Me too (edited)"
    assert third.mentions == [] and fourth.mentions == []
    sent = http_server.requests_to(PATH)
    assert sent[1].arg("since") == stamp(9)  # one second before the watermark
    assert "if-none-match" not in sent[1].headers  # a new watermark: a new URL
    assert sent[2].arg("since") == stamp(29)
    assert sent[3].headers["if-none-match"]  # the 304 came from the stored ETag
    assert third.cursor == fourth.cursor
    assert third.rate_remaining is not None and third.rate_reset_after > 0
    json.dumps(fourth.cursor)


async def test_paging_by_since_then_by_link(http_server, source_client, github) -> None:
    for cid in range(1, 8):
        github.comment(cid, cid * 10)  # distinct seconds: keyset paging by since
    for cid in range(8, 13):
        github.comment(cid, 100)  # one second for five comments: needs Link rel=next
    result = await make(http_server, source_client, per_page=2).fetch(None)

    assert ids(result.mentions) == [str(cid) for cid in range(1, 13)]
    sent = http_server.requests_to(PATH)
    assert len({r.arg("since") for r in sent}) > 3  # the watermark moved between pages
    assert any(r.arg("page") for r in sent)  # and a Link page was followed


async def test_a_comment_updated_during_paging_shifts_nothing_out(
    http_server, source_client, github
):
    for cid in range(1, 7):
        github.comment(cid, cid * 10)

    def bump_first_on_second_request(fake: FakeGitHub, request) -> None:
        if len(http_server.requests_to(PATH)) == 2:
            fake.edit(1, 500, "edited while we paged")

    github.on_request = bump_first_on_second_request
    result = await make(http_server, source_client, per_page=2).fetch(None)
    assert set(ids(result.mentions)) == {str(cid) for cid in range(1, 7)}


async def test_page_budget_resumes_next_poll(http_server, source_client, github) -> None:
    for cid in range(1, 10):
        github.comment(cid, cid * 10)
    source = make(http_server, source_client, per_page=2)
    source.max_pages = 2
    cursor, seen = None, []
    for _ in range(5):
        result = await source.fetch(cursor)
        seen += ids(result.mentions)
        cursor = result.cursor
    assert seen == [str(cid) for cid in range(1, 10)]


async def test_rate_limit_exhausted_stops_paging(http_server, source_client, github) -> None:
    for cid in range(1, 6):
        github.comment(cid, cid * 10)
    github.remaining = 2
    source = make(http_server, source_client, per_page=2)
    result = await source.fetch(None)
    assert len(http_server.requests_to(PATH)) == 2
    assert ids(result.mentions) == ["1", "2", "3"]  # pages overlap by a second
    assert result.rate_remaining == 0 and result.rate_reset_after > 1000
    github.remaining = 100
    later = await source.fetch(result.cursor)
    assert ids(later.mentions) == ["4", "5"]


async def test_secondary_rate_limit_403_is_transient(http_server, source_client) -> None:
    reset = str(int(time.time()) + 60)
    http_server.add(
        PATH,
        status=403,
        json={"message": "API rate limit exceeded"},
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
    )
    with pytest.raises(SourceError) as info:
        await make(http_server, source_client).fetch(None)
    assert info.value.transient and 0 < info.value.retry_after <= 60


async def test_bad_token_is_not_transient(http_server, source_client) -> None:
    http_server.add(PATH, status=401, json={"message": "Bad credentials"})
    with pytest.raises(SourceError) as info:
        await make(http_server, source_client).fetch(None)
    assert not info.value.transient and "ghp_test" not in str(info.value)


async def test_several_repos_and_a_missing_one(http_server, source_client, github, api_fixture):
    (template,) = api_fixture("github/issue-comment-items.example.json")
    other = FakeGitHub(template, repo="acme/site")
    http_server.add("/repos/acme/site/issues/comments", handler=other)
    github.comment(1, 10)
    other.comment(2, 5, issue=7)
    source = make(http_server, source_client, repos=f"{REPO}, acme/site")
    result = await source.fetch(None)
    assert ids(result.mentions) == ["2", "1"]  # oldest first across repositories
    assert result.mentions[0]["in_reply_to"] == "acme/site#7"
    assert set(result.cursor["repos"]) == {REPO, "acme/site"}

    missing = make(http_server, source_client, repos="acme/gone")
    with pytest.raises(SourceError, match="acme/gone not found") as info:
        await missing.fetch(None)
    assert info.value.transient is False


async def test_body_faults(http_server, source_client, body_fault) -> None:
    http_server.add(PATH, **body_fault.reply)
    with pytest.raises(SourceError):
        await make(http_server, source_client).fetch(None)


async def test_not_a_list_is_a_source_error(http_server, source_client) -> None:
    http_server.add(PATH, json={"message": "Moved"})
    with pytest.raises(SourceError, match="list of comments"):
        await make(http_server, source_client).fetch(None)


async def test_transport_faults_then_recovery(
    http_server, impatient_client, api_fixture, transport_fault
) -> None:
    (template,) = api_fixture("github/issue-comment-items.example.json")
    fake = FakeGitHub(template)
    fake.comment(1, 0)
    fake.comment(2, 10)
    http_server.add(PATH, **transport_fault.reply)
    http_server.add(PATH, handler=fake)
    source = make(http_server, impatient_client)
    cursor = {"repos": {REPO: {"since": stamp(0), "seen": {"1": stamp(0)}}}}

    with pytest.raises(SourceError) as info:
        await source.fetch(cursor)
    error = info.value
    assert error.transient is transport_fault.transient
    assert error.retry_after == transport_fault.retry_after
    assert error.status == transport_fault.status
    assert "gh-acme" in str(error)

    recovered = await source.fetch(cursor)
    assert ids(recovered.mentions) == ["2"]


async def test_hostile_bodies_pass_through_as_text(http_server, source_client, github) -> None:
    github.comment(1, 0, body="\x1b]8;;http://evil\x07click\x1b]8;;\x07 [red]x[/red] \u202etxt")
    github.comment(2, 1, body=None)
    github.comments[1]["body"] = None
    github.comments[1]["user"] = None  # a deleted account
    result = await make(http_server, source_client).fetch(None)
    first, second = result.mentions
    assert first["text"].startswith("\x1b]8;;")  # untouched here: ingest sanitises
    assert second["text"] == "" and second["author"]["handle"] == "ghost"


async def test_send_reply_posts_a_comment(http_server, source_client, api_fixture) -> None:
    created = api_fixture("github/issue-comment.example.json")
    path = f"/repos/{REPO}/issues/1347/comments"
    http_server.add(path, method="POST", status=201, json=created)
    source = make(http_server, source_client)
    request = ReplyRequest(
        in_reply_to_external_id="1",
        in_reply_to_url="https://github.com/octocat/Hello-World/issues/1347#issuecomment-1",
        body="Thanks, we are on it.",
        idempotency_key="k-1",
    )
    result = await source.send_reply(request)
    assert result.remote_id == str(created["id"])
    assert result.remote_url == created["html_url"]
    (sent,) = http_server.requests_to(path, "POST")
    assert sent.json() == {"body": "Thanks, we are on it."}
    assert sent.headers["authorization"] == "Bearer ghp_test"

    to_root = ReplyRequest("octocat/Hello-World#1347", None, "hi", "k-2")
    await source.send_reply(to_root)
    assert len(http_server.requests_to(path, "POST")) == 2


async def test_send_reply_needs_a_token_and_a_target(http_server, source_client) -> None:
    request = ReplyRequest("1", None, "hi", "k")
    with pytest.raises(ConfigError, match="token"):
        await make(http_server, source_client, secret=None).send_reply(request)
    with pytest.raises(SourceError, match="which issue"):
        await make(http_server, source_client).send_reply(request)

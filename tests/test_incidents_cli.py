"""`inboxtui topic|incidents|incident|detect`, and replays of streams with known truth."""

from __future__ import annotations

import io
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from detection_support import NOW, Stream
from polling_support import FileKeyring, installed_keyring

from inboxtui import cli
from inboxtui.db import open_database
from inboxtui.detection import synthetic
from inboxtui.detection.replay import records_to_mentions, replay

# Small streams (2 days, 1-day baseline, 30-minute steps) keep the replays fast;
# benchmarks/detection.py replays the full 8-day streams with the default settings.
DAYS = 2
TOPIC = {"name": "acme", "query": synthetic.TOPIC_QUERY, "baseline_days": 1}
STEP = timedelta(minutes=30)


def _replayed(make) -> tuple[synthetic.Stream, synthetic.Score]:
    stream = make(days=DAYS)
    report = replay(records_to_mentions(stream.records), [TOPIC], step=STEP)
    return stream, synthetic.score(stream, report.incidents)


def test_replay_steady_week_opens_nothing() -> None:
    _, result = _replayed(synthetic.steady)
    assert result.incidents == 0 and result.false_alarms == 0


def test_replay_storm_opens_one_incident_within_the_first_window() -> None:
    _, result = _replayed(synthetic.storm)
    assert result.incidents == 1 and result.false_alarms == 0
    assert result.missing == [] and result.forbidden == []
    assert result.delay is not None and 0 <= result.delay <= 3600
    assert result.kind_delays["influencer"] <= STEP.total_seconds()


def test_replay_positive_viral_spike_alarms_on_volume_only() -> None:
    _, result = _replayed(synthetic.viral)
    assert result.incidents == 1 and result.false_alarms == 0
    assert "volume" in result.kind_delays and result.kind_delays["volume"] <= 3600
    assert result.forbidden == []  # no negative-share or influencer alarm


def test_replay_slow_burn_alarms_on_negative_share_after_it_starts() -> None:
    stream, result = _replayed(synthetic.slow_burn)
    assert result.false_alarms == 0 and result.incidents == 1
    assert result.missing == [] and result.forbidden == []
    burn = (stream.end - stream.onset).total_seconds()
    assert result.delay is not None and 0 <= result.delay < burn


# ---------------------------------------------------------------- the CLI


def run(capsys: pytest.CaptureFixture[str], dbfile: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--db", str(dbfile), "--as", "alice", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def dbfile(tmp_path: Path) -> Path:
    return tmp_path / "inbox.db"


def _storm_stream() -> Stream:
    stream = Stream()
    stream.add(NOW - timedelta(seconds=30), "negative", followers=500_000, handle="@anchor")
    for i in range(15):
        stream.add(NOW - timedelta(seconds=20 - i), "negative", text=f"acme scam {i}")
    return stream


def test_topic_commands(capsys: pytest.CaptureFixture[str], dbfile: Path) -> None:
    code, out, _ = run(
        capsys,
        dbfile,
        "topic",
        "add",
        "acme",
        "acme OR @acme",
        "--window",
        "30m",
        "--baseline",
        "3d",
        "--k",
        "2.5",
        "--reach",
        "hackernews=300",
        "--cooldown",
        "1h",
    )
    assert code == 0
    assert out.startswith("topic acme added: 'acme OR @acme', window 30m vs 3d, k=2.5")
    code, out, _ = run(capsys, dbfile, "topic", "list", "--json")
    data = json.loads(out)
    assert data["window_seconds"] == 1800 and data["baseline_days"] == 3
    assert data["influencer_reach"] == {"default": 10000, "hackernews": 300}
    assert data["cooldown_seconds"] == 3600
    code, _, err = run(capsys, dbfile, "topic", "add", "bad", "nope:1")
    assert code == 2 and "topic query" in err
    code, _, err = run(capsys, dbfile, "topic", "add", "x", "acme", "--window", "soon")
    assert code == 2 and "--window: not a duration" in err
    code, _, err = run(capsys, dbfile, "topic", "add", "x", "acme", "--reach", "lots")
    assert code == 2 and "--reach takes KIND=NUMBER" in err
    code, out, _ = run(capsys, dbfile, "topic", "set", "acme", "--disable")
    assert code == 0 and "(disabled)" in out
    code, out, _ = run(capsys, dbfile, "topic", "remove", "acme")
    assert code == 0
    code, _, err = run(capsys, dbfile, "topic", "remove", "acme")
    assert code == 2 and "no topic 'acme'" in err


def test_detect_and_incident_lifecycle(capsys: pytest.CaptureFixture[str], dbfile: Path) -> None:
    run(capsys, dbfile, "topic", "add", "acme", "acme", "--window", "1m", "--baseline", "1d")
    database = open_database(str(dbfile))
    _storm_stream().store(database)
    database.dispose()
    # `detect` runs at the wall clock: the stream is in the past, so first replay it
    # through the detector at its own time via the library, then use the CLI on the result.
    from inboxtui.detection import detect

    database = open_database(str(dbfile))
    detect(database, now=NOW + timedelta(seconds=1))
    database.dispose()
    code, out, _ = run(capsys, dbfile, "incidents", "--json")
    incident = json.loads(out)
    assert incident["status"] == "open" and incident["topic"] == "acme"
    assert incident["triggers"] == ["influencer", "negative_share"]
    assert incident["severity"] == 3 and incident["conversations"] == 16
    number = str(incident["id"])
    code, out, _ = run(capsys, dbfile, "incident", "ack", number)
    assert code == 0 and "\tacknowledged\t" in out
    code, out, _ = run(capsys, dbfile, "incident", "own", number)
    assert "owner alice" in out
    code, _, err = run(capsys, dbfile, "incident", "resolve", number)
    assert code == 2 and "needs --note" in err
    code, out, _ = run(capsys, dbfile, "incident", "resolve", number, "--note", "refunded")
    assert code == 0 and "\tresolved\t" in out
    code, out, _ = run(capsys, dbfile, "incident", "show", number)
    assert "post-mortem: refunded" in out and "alice\tresolved  refunded" in out
    code, out, _ = run(capsys, dbfile, "incident", "show", number, "--json")
    shown = json.loads(out)
    assert [e["action"] for e in shown["timeline"]][:2] == ["opened", "trigger"]
    assert len(shown["conversation_ids"]) == 16
    code, _, err = run(capsys, dbfile, "incident", "ack", "99")
    assert code == 2 and "no incident #99" in err
    code, out, _ = run(capsys, dbfile, "incidents", "--open")
    assert out == ""
    code, out, _ = run(capsys, dbfile, "detect")  # now: the storm is long over
    assert code == 0 and out == "acme: quiet\n"
    code, out, _ = run(capsys, dbfile, "detect", "--json")
    assert json.loads(out) == {
        "topic": "acme",
        "triggers": [],
        "incident": None,
        "action": None,
        "escalated": 0,
    }


def test_detect_replay_prints_when_incidents_would_have_opened(
    capsys: pytest.CaptureFixture[str], dbfile: Path, tmp_path: Path
) -> None:
    stream = synthetic.storm(days=1, replies=80)
    path = tmp_path / "storm.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in stream.records))
    code, _, err = run(capsys, dbfile, "detect", "--replay", str(path))
    assert code == 2 and "no topics to detect" in err
    code, out, err = run(
        capsys,
        dbfile,
        "detect",
        "--replay",
        str(path),
        "--step",
        "30m",
        "--topic",
        "acme=acme",
    )
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith("2026-03-02T10:30:00Z\tincident #1 opened\tacme\tsev 3\t")
    assert "influencer alarm: negative mastodon post by @famousblogger" in first
    assert "1 incident(s)" in err
    code, out, _ = run(
        capsys,
        dbfile,
        "detect",
        "--replay",
        str(path),
        "--step",
        "30m",
        "--topic",
        "acme=acme",
        "--json",
    )
    assert json.loads(out.splitlines()[0])["first_trigger"]["influencer"].startswith(
        "2026-03-02T10:30:00"
    )
    code, out, _ = run(capsys, dbfile, "incidents", "--json")
    assert out == ""  # the replays ran in scratch databases, never in the store
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(stream.records[0]) + "\n" + '{"kind": "rss"}\n')
    code, _, err = run(capsys, dbfile, "detect", "--replay", str(bad), "--topic", "a=acme")
    assert code == 2 and f"{bad}:2: source: required" in err


def test_webhook_commands_keep_the_url_in_the_keyring(
    capsys: pytest.CaptureFixture[str],
    dbfile: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    posted: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            posted.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks/SECRET"
    try:
        with installed_keyring(FileKeyring(tmp_path / "keyring.json")):
            code, _, err = run(capsys, dbfile, "incident", "webhook", "test")
            assert code == 2 and "no incident webhook" in err
            monkeypatch.setattr("sys.stdin", io.StringIO("ftp://nope\n"))
            code, _, err = run(capsys, dbfile, "incident", "webhook", "set", "--stdin")
            assert code == 2 and "http(s) URL" in err
            monkeypatch.setattr("sys.stdin", io.StringIO(url + "\n"))
            code, out, _ = run(capsys, dbfile, "incident", "webhook", "set", "--stdin")
            assert code == 0 and "keyring" in out
            assert "SECRET" not in dbfile.read_bytes().decode("latin-1")
            code, out, _ = run(capsys, dbfile, "incident", "webhook", "test")
            assert code == 0 and json.loads(posted[-1])["text"].startswith("[inboxtui] test")
            code, out, _ = run(capsys, dbfile, "incident", "webhook", "send")
            assert code == 0 and out.startswith("0 post(s)")
            code, out, _ = run(capsys, dbfile, "incident", "webhook", "remove")
            assert out == "incident webhook removed\n"
    finally:
        server.shutdown()
        server.server_close()

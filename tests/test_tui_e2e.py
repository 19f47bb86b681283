"""The real `inboxtui` executable in a real terminal (tmux): triage by keys, check the database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from test_tui_helpers import fill, state

from inboxtui import query as q
from inboxtui.db import Database

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
EXECUTABLE = Path(sys.executable).with_name("inboxtui")


class Tmux:
    """One tmux server on a private socket, so nothing else is touched."""

    def __init__(self) -> None:
        self.socket = f"inboxtui-test-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        )
        return result.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "inbox")

    def wait_for(self, predicate, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{self.screen()}")

    def press_until(self, key: str, predicate, what: str) -> None:
        """Send `key`, and once more if nothing happened within 15 s.

        A loaded CI machine once lost the first key of a freshly started app (the
        screen was idle and correct, the key had no effect, no error showed);
        the screen seen at the retry goes in the failure message.
        """
        self.run("send-keys", "-t", "inbox", key)
        try:
            self.wait_for(predicate, what, timeout=15)
            return
        except AssertionError:
            first = self.screen()
        self.run("send-keys", "-t", "inbox", key)
        try:
            self.wait_for(predicate, what, timeout=45)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nscreen before the second {key!r}:\n{first}") from None

    def alive(self) -> bool:
        return "inbox" in self.run("list-sessions", "-F", "#{session_name}")

    def kill(self) -> None:
        self.run("kill-server")


def test_the_real_executable_triages_in_a_terminal(sqlite_db: Database, tmp_path: Path) -> None:
    fill(sqlite_db, 20)
    with sqlite_db.read() as session:
        first, second = q.matching_ids(session, "-is:resolved")[:2]
    path = sqlite_db.display_name
    tmux = Tmux()
    env = {"INBOXTUI_HOME": str(tmp_path / "home"), "TERM": "xterm-256color"}
    command = " ".join(
        [*(f"{k}={v}" for k, v in env.items()), str(EXECUTABLE), "--db", path, "--as", "tester"]
    )
    tmux.run("new-session", "-d", "-s", "inbox", "-x", "120", "-y", "40", command)
    try:
        # the count and the first page load apart: the thread in the detail pane means a
        # row is selected, so `t` has something to take (before, nothing is selected)
        tmux.wait_for(
            lambda: "20 conversations" in (s := tmux.screen()) and "── Thread" in s, "the queue"
        )
        tmux.press_until("t", lambda: state(sqlite_db, first)["agent"] == "tester", "take")
        tmux.run("send-keys", "-t", "inbox", "j")
        tmux.wait_for(lambda: "2/20" in tmux.screen(), "the cursor to move")
        tmux.run("send-keys", "-t", "inbox", "x")
        tmux.wait_for(lambda: state(sqlite_db, second)["status"] == "resolved", "resolve")
        screen = tmux.screen()
        assert "\x1b" not in screen
        tmux.run("send-keys", "-t", "inbox", "q")
        tmux.wait_for(lambda: not tmux.alive(), "the app to quit")
    finally:
        tmux.kill()
    assert state(sqlite_db, first)["agent"] == "tester"
    assert state(sqlite_db, first)["status"] == "open"
    assert state(sqlite_db, second)["status"] == "resolved"
    assert os.path.exists(path)

"""Detection after each poll's commit and on a timer: one run at a time, never raising.

The poller calls `detect_quietly(db)` in a worker thread after a poll stored
new mentions (after the commit: detection never runs inside the ingest
transaction, so a slow or failing detection can never hold up or roll back
ingest) and on its timer. Polls that finish while a run is going on ask for
one more run instead of starting their own, so a burst of polls costs at most
two runs. A failure is logged with its traceback and polling goes on.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from inboxtui.db import Database

log = logging.getLogger(__name__)

DETECT_SECONDS = 60.0  # the timer: windows slide even when nothing new arrives


class _Runner:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = False
        self.pending = False
        self.runs = 0
        self.failures = 0


_RUNNERS: weakref.WeakKeyDictionary[Any, _Runner] = weakref.WeakKeyDictionary()
_RUNNERS_LOCK = threading.Lock()


def _runner(db: Database) -> _Runner:
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(db.engine)
        if runner is None:
            runner = _RUNNERS[db.engine] = _Runner()
        return runner


def detect_quietly(db: Database) -> None:
    """Run detection now (or once more after the run in progress); log failures, never raise."""
    from inboxtui.detection.detector import detect
    from inboxtui.detection.webhook import deliver_quietly

    runner = _runner(db)
    with runner.lock:
        if runner.running:
            runner.pending = True
            return
        runner.running = True
    try:
        while True:
            try:
                detect(db)
            except Exception:
                runner.failures += 1
                log.exception("crisis detection failed; polling goes on")
            deliver_quietly(db)  # the webhook's outbox (a no-op when none is configured)
            runner.runs += 1
            with runner.lock:
                if not runner.pending:
                    runner.running = False
                    return
                runner.pending = False
    except BaseException:
        with runner.lock:
            runner.running = False
        raise


def stats(db: Database) -> tuple[int, int]:
    """(runs, failures) of detection for this database in this process."""
    runner = _runner(db)
    return runner.runs, runner.failures


__all__ = ["DETECT_SECONDS", "detect_quietly", "stats"]

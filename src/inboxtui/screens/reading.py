"""Screens that re-read their data in a thread, where the newest read wins.

Sources, Team and Incidents all do the same: `load()` numbers a read and runs
it in a thread worker (never on the UI thread); an older read's answer that
arrives after a newer one was asked for is dropped; a database failure is a
notification and the screen keeps what it shows. `_loading` is true from the
newest request until its answer arrives (screens count it in `is_busy`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from textual import work


class NewestReadWins:
    """Mixin for a `Screen`: define `read()` (runs in a thread) and `show_read(data)`."""

    read_error = "could not read the data"  # the notification's start when `read()` fails
    _loads = 0  # the newest read's number
    _loading = False

    def read(self) -> Any:
        """The screen's data, from the database (a worker thread; None is a failure)."""
        raise NotImplementedError

    def show_read(self, data: Any) -> None:
        """Show what `read()` returned (the UI thread)."""
        raise NotImplementedError

    def say(self, message: str, severity: str = "information") -> None:
        """Notify with plain text: messages may quote hostile data."""
        self.app.notify(message, severity=severity, markup=False)  # type: ignore[attr-defined]

    def load(self) -> None:
        """Re-read (the newest request wins)."""
        self._loading = True
        self._loads += 1
        self._read_worker(self._loads)

    @work(thread=True, exclusive=True, exit_on_error=False, group="screen-read")
    def _read_worker(self, number: int) -> None:
        try:
            data, error = self.read(), None
        except Exception as exc:  # a database failure: said plainly, the screen stays
            data, error = None, f"{self.read_error}: {exc}"
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._read_done, number, data, error)  # type: ignore[attr-defined]

    def _read_done(self, number: int, data: Any, error: str | None) -> None:
        if number != self._loads:
            return  # a newer read is on its way
        self._loading = False
        if data is None:
            self.say(error or self.read_error, "error")
            return
        self.show_read(data)

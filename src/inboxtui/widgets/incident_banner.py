"""The incident banner across the top of the inbox while any incident is open.

Every agent's TUI shows it: it re-reads the open incidents when the inbox hears
of a database change (`inboxtui.live`) and, when the app is live, every few
seconds too (an incident acknowledged in another process changes no queue
table, which is what PostgreSQL's change notifications watch). A newly opened
incident rings the terminal bell once. Titles quote authors' handles and topic
names: the banner is built as plain `Text`, never markup.
"""

from __future__ import annotations

import contextlib

from rich.text import Text
from textual import work
from textual.widgets import Static

from inboxtui.db import Database
from inboxtui.detection.incidents import IncidentView, open_incidents
from inboxtui.text import one_line, sanitize

POLL_SECONDS = 3.0


def banner_text(views: list[IncidentView]) -> Text:
    """`⚠ INCIDENT #3 acme · severity 3 · open · <reason> · 16 conversations · I: incidents`."""
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    if not views:
        return out
    top = views[0]
    if len(views) == 1:
        out.append(f" ⚠ INCIDENT #{top.id} ", "bold reverse")
        out.append(f" {sanitize(top.topic or '-')} · severity {top.severity} · {top.status}")
        owner = f" · owner {sanitize(top.owner)}" if top.owner else " · no owner"
        out.append(owner)
        out.append(f" · {top.conversations} conversation{'s' if top.conversations != 1 else ''}")
        out.append(" · " + one_line(sanitize(top.reason or top.title), 120))
    else:
        out.append(f" ⚠ {len(views)} OPEN INCIDENTS ", "bold reverse")
        listed = ", ".join(
            f"#{v.id} {one_line(sanitize(v.topic or '-'), 20)} (sev {v.severity}, {v.status})"
            for v in views[:4]
        )
        out.append(" " + listed)
    out.append("  ·  I: incidents", "bold")
    return out


class IncidentBanner(Static):
    DEFAULT_CSS = """
    IncidentBanner {
        height: 1;
        width: 100%;
        background: $error;
        color: $text;
        display: none;
    }
    IncidentBanner.-acknowledged {
        background: $warning;
        color: $text;
    }
    """

    def __init__(self, db: Database, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.db = db
        self.views: list[IncidentView] = []
        self.rung: set[int] = set()  # incidents the bell has rung for
        self.bells = 0
        self.is_loading = False

    def on_mount(self) -> None:
        self.load()
        if getattr(self.app, "live", False):
            self.set_interval(POLL_SECONDS, self.load)

    def load(self) -> None:
        self.is_loading = True
        self._load_worker()

    @work(thread=True, exclusive=True, exit_on_error=False, group="incident-banner")
    def _load_worker(self) -> None:
        try:
            with self.db.read() as session:
                views = open_incidents(session)
        except Exception:  # a database hiccup: keep what is shown, try again later
            views = None
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._loaded, views)

    def _loaded(self, views: list[IncidentView] | None) -> None:
        self.is_loading = False
        if views is None:
            return
        self.views = views
        fresh = [v for v in views if v.status == "open" and v.id not in self.rung]
        if fresh:
            self.rung.update(v.id for v in fresh)
            self.bells += 1
            self.app.bell()
        self.update(banner_text(views))
        self.set_class(bool(views) and all(v.status != "open" for v in views), "-acknowledged")
        self.display = bool(views)

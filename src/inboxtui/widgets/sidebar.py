"""Saved views with live counts: where a shift starts ("what is waiting for me?").

Built-in views (Inbox, Mine, Unassigned, one per role, Escalated, Breaching
once some role has an SLA policy, Snoozed, Resolved) are queries in the filter
language, followed by the views saved in the database (the agent's own and the
team's). Counts run in a thread worker: at a million conversations each is an
index scan of tens of milliseconds.
Names come from users; prompts are plain `Text`, never markup.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from rich.text import Text
from sqlalchemy import or_, select
from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from inboxtui import query as q
from inboxtui.db import Database
from inboxtui.models import Role, SavedView
from inboxtui.widgets.queue_list import fit, fit_right


@dataclass(frozen=True)
class View:
    id: str
    name: str
    query: str
    shared: bool | None = None  # saved views: the team's (True) or the agent's own; else None


def _quoted(name: str) -> str:
    return f'"{name}"' if any(c.isspace() for c in name) else name


def builtin_views(roles: list[str], sla: bool = False) -> list[View]:
    """`sla`: some role has an SLA policy, so the Breaching view (next to Escalated) shows."""
    views = [
        View("inbox", "Inbox", "-is:resolved"),
        View("mine", "Mine", "is:mine -is:resolved"),
        View("unassigned", "Unassigned", "is:unassigned -is:resolved"),
    ]
    views += [View(f"role-{r}", f"  {r}", f"role:{_quoted(r)} -is:resolved") for r in roles]
    views += [
        View("escalated", "Escalated", "is:escalated -is:resolved"),
        *([View("breaching", "Breaching", "is:breached")] if sla else []),
        View("snoozed", "Snoozed", "is:snoozed"),
        View("resolved", "Resolved", "is:resolved"),
    ]
    return views


def short_count(value: int | None) -> str:
    if value is None:
        return "…"
    if value < 100_000:
        return f"{value:,}"
    if value < 10_000_000:
        return f"{value // 1000:,}k"
    return f"{value / 1_000_000:.0f}M"


class Sidebar(OptionList):
    """The list of views; selecting one posts `Sidebar.ViewSelected`."""

    DEFAULT_CSS = """
    Sidebar {
        width: 24;
        height: 1fr;
        border: none;
        border-right: vkey $foreground 10%;
        padding: 0;
        background: $panel;
    }
    """
    BINDINGS = [
        Binding("j", "cursor_down", "Next view", show=False, id="sidebar.down"),
        Binding("k", "cursor_up", "Previous view", show=False, id="sidebar.up"),
        Binding("l", "select", "Open view", show=False, id="sidebar.open"),
        Binding("d,delete", "remove", "Remove view", show=False, id="sidebar.remove"),
    ]

    class ViewSelected(Message):
        def __init__(self, view: View) -> None:
            super().__init__()
            self.view = view

    class RemoveRequested(Message):
        """The highlighted saved view should go (the screen asks first)."""

        def __init__(self, view: View) -> None:
            super().__init__()
            self.view = view

    def action_remove(self) -> None:
        if self.highlighted is None or self.highlighted >= len(self.views):
            return
        view = self.views[self.highlighted]
        if view.shared is None:
            self.app.notify("Built-in views cannot be removed", severity="warning")
            return
        self.post_message(self.RemoveRequested(view))

    def __init__(
        self, db: Database, *, me_id: int | None = None, agent: str = "", id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.db = db
        self.me_id = me_id
        self.agent = agent
        self.views: list[View] = builtin_views([])
        self.counts: dict[str, int | None] = {}
        self.active_id = "inbox"
        self._counting = False
        self._count_again = False
        self._prompt_width = 0

    def on_mount(self) -> None:
        self._show()
        self.load()

    @property
    def is_loading(self) -> bool:
        return self._counting

    def _prompt(self, view: View) -> Text:
        # From the widget's outer width (minus border and a scrollbar's column), not the
        # live content region: that one flickers while a scrollbar comes and goes.
        width = max(10, (self._prompt_width or 24) - 2)
        count = short_count(self.counts.get(view.id))
        count_width = 6 if width < 20 else 7
        name_width = width - 1 - count_width
        marker = "▸" if view.id == self.active_id else " "
        text = Text(no_wrap=True, end="")
        text.append(marker, "bold")
        text.append(fit(view.name, name_width), "bold" if view.id == self.active_id else "")
        text.append(fit_right(count, count_width), "dim")
        return text

    def _show(self) -> None:
        highlighted = self.highlighted
        self.set_options(Option(self._prompt(v), id=v.id) for v in self.views)
        if self.views:
            self.highlighted = min(highlighted or 0, len(self.views) - 1)

    def _update_prompts(self) -> None:
        for view in self.views:
            self.replace_option_prompt(view.id, self._prompt(view))

    def view(self, view_id: str) -> View | None:
        return next((v for v in self.views if v.id == view_id), None)

    def set_active(self, view_id: str) -> None:
        """Mark `view_id` active ("" for none: a typed filter); repaints two prompts at most."""
        previous, self.active_id = self.active_id, view_id
        index = next((i for i, v in enumerate(self.views) if v.id == view_id), None)
        if index is not None and self.highlighted != index:
            self.highlighted = index
        for changed in {previous, view_id}:
            view = self.view(changed)
            if view is not None:
                self.replace_option_prompt(view.id, self._prompt(view))

    def load(self) -> None:
        """Re-read roles and saved views, then counts (thread workers)."""
        if self._counting:
            self._count_again = True
            return
        self._counting = True
        self._load_worker()

    @work(thread=True, exit_on_error=False, group="sidebar")
    def _load_worker(self) -> None:
        try:
            with self.db.read() as session:
                roles = list(session.execute(select(Role.name).order_by(Role.name)).scalars())
                saved = session.execute(
                    select(SavedView)
                    .where(or_(SavedView.agent_id.is_(None), SavedView.agent_id == self.me_id))
                    .order_by(SavedView.position, SavedView.name)
                ).scalars()
                with_sla = session.execute(
                    select(Role.id).where(Role.sla_policy_id.is_not(None)).limit(1)
                ).first()
                views = builtin_views(roles, sla=with_sla is not None) + [
                    View(f"saved-{s.id}", s.name, s.query, s.agent_id is None) for s in saved
                ]
                self.app.call_from_thread(self._views_loaded, views)
                counts: dict[str, int | None] = {}
                for view in views:
                    try:
                        counts[view.id] = q.count(session, view.query, me_id=self.me_id)
                    except q.QueryError:
                        counts[view.id] = None
                    self.app.call_from_thread(self._count_loaded, view.id, counts[view.id])
        except RuntimeError:  # app closing
            return
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"view counts failed: {exc}", severity="error")
        finally:
            with contextlib.suppress(RuntimeError):
                self.app.call_from_thread(self._done)

    def _views_loaded(self, views: list[View]) -> None:
        if [v.id for v in views] != [v.id for v in self.views]:
            self.views = views
            self._show()

    def _count_loaded(self, view_id: str, value: int | None) -> None:
        self.counts[view_id] = value
        view = self.view(view_id)
        if view is not None:
            self.replace_option_prompt(view.id, self._prompt(view))

    def _done(self) -> None:
        self._counting = False
        if self._count_again:
            self._count_again = False
            self.load()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        view = self.view(event.option.id or "")
        if view is not None:
            self.set_active(view.id)
            self.post_message(self.ViewSelected(view))

    def on_resize(self) -> None:
        if self.option_count and self.size.width != self._prompt_width:
            self._prompt_width = self.size.width
            self._update_prompts()

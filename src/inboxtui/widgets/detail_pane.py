"""The selected conversation: thread, author card, internal notes, audit trail.

Read in a thread worker (`inboxtui.details.load` + `audit.history`, one
session) so holding `j` never waits on the database; the newest request wins.
Everything shown is built from plain `Text` (sanitised again here); a huge post
is cut to a readable length with a note saying how much was left out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from inboxtui import details
from inboxtui.db import Database
from inboxtui.services import audit
from inboxtui.text import sanitize
from inboxtui.timeutil import utcnow
from inboxtui.widgets.queue_list import age, reach, set_virtual_size

MAX_POST_CHARS = 8000
# replies shown after the first mention; `inboxtui show ID` prints a whole thread
THREAD_SHOWN = 50


def _when(now: datetime, then: datetime | None) -> str:
    if then is None:
        return ""
    return f"{age(now, then)} ago · {then:%b %d %H:%M} UTC"


def _plain(value: str | None, limit: int = MAX_POST_CHARS) -> Text:
    cleaned = sanitize(value or "")
    if len(cleaned) > limit:
        extra = len(cleaned) - limit
        text = Text(cleaned[:limit])
        text.append(f" … ({extra:,} more characters)", "dim italic")
        return text
    return Text(cleaned)


def _heading(title: str) -> Text:
    return Text(f"── {title} ", style="bold")


def render_detail(
    detail: details.ConversationDetail, history: list[audit.EventRow], now: datetime
) -> RenderableType:
    """The whole pane as a Rich Group of plain Text blocks."""
    row = detail.row
    parts: list[RenderableType] = []
    head = Text(f"#{row.id} ", style="bold")
    head.append(sanitize(row.kind))
    head.append(" · ")
    head.append(sanitize(row.source))
    head.append(" · ")
    head.append(row.status, "bold")
    if row.snooze_until is not None:
        head.append(f" until {row.snooze_until.strftime('%Y-%m-%d %H:%M')}Z")
    head.append(f" · {row.priority}")
    who = " / ".join(sanitize(x) for x in (row.role, row.agent and "@" + row.agent) if x)
    head.append(f" · {who or 'unassigned'}")
    if row.tags:
        head.append(" · " + " ".join("#" + sanitize(t) for t in row.tags))
    parts.append(head)
    if row.escalated:
        escalation = Text(f"▲ escalated, severity {row.severity}: ", style="bold red")
        escalation.append(sanitize(row.escalation_reason or ""))
        parts.append(escalation)
    if row.title:
        parts.append(Text(sanitize(row.title), style="bold"))
    if detail.source_url:
        parts.append(Text(sanitize(detail.source_url), style="dim"))

    parts.append(Text(""))
    parts.append(_heading(f"Thread ({len(detail.mentions) + detail.hidden:,})"))
    for index, mention in enumerate(detail.mentions):
        if index == 1 and detail.hidden:
            parts.append(
                Padding(
                    Text(
                        f"… {detail.hidden:,} earlier replies not shown"
                        f" (all of them: inboxtui show {row.id})",
                        style="dim italic",
                    ),
                    (0, 0, 1, 0),
                )
            )
        line = Text("↳ " if mention.depth else "", style="dim")
        line.append(sanitize(mention.author_handle), "bold")
        if mention.author_name:
            line.append(f" ({sanitize(mention.author_name)})")
        line.append(f" · {_when(now, mention.created_at)}", "dim")
        if mention.sentiment_label:
            line.append(f" · {sanitize(mention.sentiment_label)}", "dim")
        body: list[RenderableType] = [line]
        if mention.title and mention.title != row.title:
            body.append(Text(sanitize(mention.title), style="bold"))
        body.append(_plain(mention.text))
        if mention.url:
            body.append(Text(sanitize(mention.url), style="dim underline"))
        indent = min(mention.depth, 8) * 2
        parts.append(Padding(Group(*body), (0, 0, 1, indent)))

    parts.append(_heading("Author"))
    card = detail.author
    if card is None:
        parts.append(Text("unknown", style="dim"))
    else:
        author = Text(sanitize(card.handle), style="bold")
        if card.name:
            author.append(f" · {sanitize(card.name)}")
        if card.followers is not None:
            author.append(f" · {reach(card.followers)} followers")
        author.append(f" · {card.conversations} conversation(s)")
        parts.append(author)
        if card.person is not None:  # linked or tagged: its person (P / enter: the profile)
            person = Text("person ", style="dim")
            person.append(sanitize(card.person), "bold")
            for tag in card.person_tags:
                person.append(" ")
                person.append(f" {sanitize(tag)} ", "reverse")
            parts.append(person)
        if card.url:
            parts.append(Text(sanitize(card.url), style="dim"))

    parts.append(Text(""))
    parts.append(_heading(f"Notes ({len(detail.notes)})"))
    for note in detail.notes:
        line = Text(sanitize(note.agent or "?"), style="bold")
        line.append(f" · {_when(now, note.created_at)}", "dim")
        parts.append(Padding(Group(line, _plain(note.body)), (0, 0, 0, 2)))
    if not detail.notes:
        parts.append(Text("none (i adds one)", style="dim"))

    parts.append(Text(""))
    parts.append(_heading(f"Audit ({len(history)})"))
    for event in history:
        line = Text(event.created_at.strftime("%m-%d %H:%M "), style="dim")
        line.append(sanitize(event.actor), "bold")
        line.append(" ")
        line.append(sanitize(event.describe()))
        parts.append(line)
    return Group(*parts)


class DetailPane(ScrollView, can_focus=True):
    """Shows one conversation; `show(id)` loads it, `reload()` re-reads it.

    A Line API view: the worker renders the whole conversation into lines for
    the pane's width off the UI thread (a 100 KB post costs the loop nothing);
    the UI only hands out the visible lines.
    """

    BINDINGS = [
        Binding("j,down", "scroll_down", "Scroll down", show=False, id="detail.down"),
        Binding("k,up", "scroll_up", "Scroll up", show=False, id="detail.up"),
        Binding("g,home", "scroll_home", "Top", show=False, id="detail.top"),
        Binding("G,end", "scroll_end", "Bottom", show=False, id="detail.bottom"),
        Binding("pagedown,ctrl+d", "page_down", "Page down", show=False, id="detail.page_down"),
        Binding("pageup,ctrl+u", "page_up", "Page up", show=False, id="detail.page_up"),
        # the author card is part of the pane's text: enter opens the author's profile
        Binding("enter", "screen.profile", "Author profile", show=False, id="detail.profile"),
    ]
    # The gutter is kept whether or not the scrollbar shows: text is wrapped to the
    # width before anyone knows whether it will need one, and must not lose its end.
    DEFAULT_CSS = """
    DetailPane { overflow-x: hidden; overflow-y: auto; scrollbar-gutter: stable; }
    """

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.db = db
        self.clock = clock
        self.conversation_id: int | None = None
        self._loading = False
        self._renderable: RenderableType = Text("Select a conversation", style="dim")
        self._lines: list[Strip] = []
        self._painted: LRUCache[tuple, Strip] = LRUCache(256)
        self._width = 0

    @property
    def is_loading(self) -> bool:
        return self._loading

    @property
    def text(self) -> str:
        """Everything the pane shows, as plain text (tests read it)."""
        return "\n".join(strip.text.rstrip() for strip in self._lines)

    def show(self, conversation_id: int | None) -> None:
        if conversation_id == self.conversation_id:
            return
        self.conversation_id = conversation_id
        self.reload(top=True)

    def reload(self, *, top: bool = False) -> None:
        if self.conversation_id is None:
            self._set(Text("Nothing selected", style="dim"), None, top=True)
            return
        self._loading = True
        self._load_worker(self.conversation_id, self._content_width(), top)

    def _content_width(self) -> int:
        return max(20, self.scrollable_content_region.width or self.size.width or 60)

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail")
    def _load_worker(self, conversation_id: int, width: int, top: bool) -> None:
        try:
            with self.db.read() as session:
                detail = details.load(session, conversation_id, newest=THREAD_SHOWN)
                history = audit.history(session, conversation_id) if detail else []
            shown: RenderableType = (
                render_detail(detail, history, self.clock())
                if detail
                else Text(f"#{conversation_id} no longer exists", style="dim")
            )
        except Exception as exc:
            shown = Text(f"could not load #{conversation_id}: {exc}", style="red")
        lines = self._render(shown, width)
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._loaded, conversation_id, shown, (width, lines), top)

    def _render(self, renderable: RenderableType, width: int) -> list[Strip]:
        console = self.app.console
        options = console.options.update(width=width, height=None)
        return [Strip(line) for line in console.render_lines(renderable, options, pad=False)]

    def _loaded(
        self,
        conversation_id: int,
        shown: RenderableType,
        rendered: tuple[int, list[Strip]],
        top: bool,
    ) -> None:
        if conversation_id != self.conversation_id:
            return
        self._loading = False
        self._set(shown, rendered, top=top)

    def _set(
        self, shown: RenderableType, rendered: tuple[int, list[Strip]] | None, *, top: bool
    ) -> None:
        self._renderable = shown
        width = self._content_width()
        if rendered is not None and rendered[0] == width:
            self._lines = rendered[1]
        else:
            self._lines = self._render(shown, width)
        self._width = width
        self._painted.clear()
        set_virtual_size(self, Size(width, len(self._lines)))
        if top:
            self.scroll_to(y=0, animate=False)
        self.refresh()

    def on_resize(self) -> None:
        if self._content_width() != self._width:
            self._set(self._renderable, None, top=False)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self._width:
            self._lines = self._render(self._renderable, self._width)
            self._painted.clear()
            self.refresh()

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_offset.y) + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, base)
        key = (index, width, base)
        strip = self._painted.get(key)
        if strip is None:
            strip = self._lines[index].crop_extend(0, width, base).apply_style(base)
            self._painted[key] = strip
        return strip

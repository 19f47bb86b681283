"""The queue: a virtual list that stays instant at a million conversations.

Why it is built this way:
- Textual's Line API (`ScrollView.render_line`): the widget paints only the
  lines on screen; `virtual_size.height` is the match count, so the scrollbar
  is honest without one widget per row.
- Rows live in a *sparse* map index -> row, filled in blocks fetched by keyset
  (`query.fetch_page(after=...)`) in thread workers, and pruned to the
  neighbourhood of the viewport: the inbox is never in memory.
- A row's keyset position (`Cursor.after_row`) is known as soon as the row is;
  so any loaded row is an anchor to fetch the block after it, and (for
  `sort:newest`/`oldest`, which reverse each other) the block before it. `G`
  fetches the last block with the reverse sort; a jump into the unknown middle
  walks by strides of several thousand rows, reading only the anchors.
- Reads go ahead in the direction of travel (`_window`), the screen's rows
  first; keys that outrun the reads coalesce: the next read starts from where
  the screen is by then.
- Rendered rows are cached as `Strip`s (LRU, keyed by row id + version + the
  state that changes their look), so cursor moves repaint two lines; the text
  half (`RowText`) is cached apart, the next page is drawn after each scroll,
  and `render_lines` hands the cached strips to the compositor as they are.
- Untrusted text is sanitised and emitted as plain segments, never markup;
  columns are cut and padded by terminal cells so wide CJK text aligns.
- "Lin is replying" (`✎Lin` before the excerpt) is read for the loaded window
  every `PRESENCE_REFRESH` seconds and after a reload, in one query; a row
  pays one dict lookup, and its marker is part of its cache keys.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from rich.cells import cell_len, get_character_cell_size, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.cache import LRUCache
from textual.color import Color
from textual.filter import ANSIToTruecolor, DimFilter, LineFilter, Monochrome, NoColor
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from inboxtui import query as q
from inboxtui.db import Database
from inboxtui.keymap import QUEUE_KEYS, bindings
from inboxtui.models import PRIORITY_RANK
from inboxtui.presence import HEARTBEAT, replying_on
from inboxtui.text import one_line, sanitize
from inboxtui.timeutil import utcnow

BLOCK = 50  # rows per fetch near the viewport (at least)
AHEAD = 4  # pages kept loaded in the direction of travel (a read starts when fewer are)
FILL = 8  # pages one read-ahead fills up to
BEHIND = 1  # pages kept loaded against the direction of travel
MAX_FETCH = 200  # rows per fetch at most (a missing run of the window is read at once)
STRIDE = 5000  # rows per fetch when walking to a far position (only the last is kept)
MAX_ROWS = 4000  # rows kept in memory around the viewport
CACHED_PAGES = 12  # pages of drawn rows kept (read-ahead, behind, cursor variants)
PRESENCE_REFRESH = HEARTBEAT  # seconds between reads of who is replying on loaded rows
PRERENDER_SLICE = 0.003  # seconds of read-ahead row drawing per turn of the event loop
INLINE_READ_SECONDS = 0.020  # CPU seconds over which an inline read-ahead counts as slow
SLOW_READS_TO_THREADS = 2  # slow inline reads in a row that send a query's reads to threads
UNPAINTED_READ_DELAY = 0.1  # seconds an inline read waits for a frame before running anyway
REVERSE_SORT = {"newest": "oldest", "oldest": "newest"}

# --------------------------------------------------------------------------- row text

KIND_CODES = {
    "mastodon": "mast",
    "bluesky": "bsky",
    "reddit": "rddt",
    "hackernews": "hn",
    "hn": "hn",
    "github": "gh",
    "rss": "rss",
    "atom": "rss",
    "discourse": "disc",
}
PRIORITY_MARK = {"urgent": "‼", "high": "!", "low": "↓"}


_EMOJI_JOINERS = ("\u200d", "\ufe0f")  # change a grapheme's width: rich measures those
_CHAR_CELLS: dict[str, int] = {}


def _char_cells(char: str) -> int:
    cells = _CHAR_CELLS.get(char)
    if cells is None:
        cells = _CHAR_CELLS[char] = get_character_cell_size(char)
    return cells


def fit(value: str, width: int) -> str:
    """Exactly `width` terminal cells: cut with an ellipsis, or padded with spaces.

    One pass over the characters (rich's `set_cell_size` splits the whole text
    into graphemes first, a quarter of a row's cost with CJK); a wide character
    that would straddle the cut becomes a space, as rich does. Emoji sequences
    (ZWJ, VS16) take rich's grapheme-aware path.
    """
    if width <= 0:
        return ""
    if value.isascii():
        return value[: width - 1] + "…" if len(value) > width else value.ljust(width)
    if _EMOJI_JOINERS[0] in value or _EMOJI_JOINERS[1] in value:
        if cell_len(value) > width:
            return set_cell_size(value, width - 1) + "…"
        return set_cell_size(value, width)
    used = 0
    cut = 0 if width == 1 else -1  # index of the first character past `width - 1` cells
    cut_used = 0
    known = _CHAR_CELLS.get
    for index, char in enumerate(value):
        cells = known(char)
        if cells is None:
            cells = _char_cells(char)
        if cut < 0 and used + cells > width - 1:
            cut, cut_used = index, used
        used += cells
        if used > width:
            return value[:cut] + " " * (width - 1 - cut_used) + "…"
    return value + " " * (width - used)


def fit_right(value: str, width: int) -> str:
    size = cell_len(value)
    return fit(value, width) if size >= width else " " * (width - size) + value


def age(now: datetime, then: datetime | None) -> str:
    """Compact relative age: `now`, `5m`, `3h`, `2d`, `6w`, `2y`."""
    if then is None:
        return ""
    seconds = int((now - then).total_seconds())
    if seconds < 60:
        return "now"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    if seconds < 86400 * 14:
        return f"{seconds // 86400}d"
    if seconds < 86400 * 365:
        return f"{seconds // (86400 * 7)}w"
    return f"{seconds // (86400 * 365)}y"


def reach(followers: int | None) -> str:
    """12300 -> `12k`, 1_250_000 -> `1.2M`."""
    if followers is None or followers < 0:
        return ""
    if followers < 1000:
        return str(followers)
    if followers < 10_000:
        return f"{followers / 1000:.1f}".rstrip("0").rstrip(".") + "k"
    if followers < 1_000_000:
        return f"{followers // 1000}k"
    return f"{followers / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"


def urgency(now: datetime, row: q.ConversationRow) -> str:
    """SLA colour of the age: waiting conversations turn `warn` at 1 h, `late` at 4 h."""
    if row.status not in ("new", "open"):
        return "quiet"
    seconds = (now - row.last_activity_at).total_seconds()
    return "late" if seconds >= 4 * 3600 else "warn" if seconds >= 3600 else "ok"


def sla_left(row: q.ConversationRow, now: datetime) -> tuple[str, str] | None:
    """SLA time left (`2h`, `-15m` when breached, `‖3h` paused) and its `age` colour:
    `quiet` while over a quarter of the span is left or paused, `warn` under it, `late`
    breached."""
    if row.sla_due_at is None or row.status == "resolved":
        return None
    paused = row.status in ("pending", "snoozed") and row.sla_paused_at is not None
    at = row.sla_paused_at if paused and row.sla_paused_at is not None else now
    left = (row.sla_due_at - at).total_seconds()
    span = (row.sla_due_at - row.created_at).total_seconds()
    text = ("-" if left < 0 else "") + compact_span(abs(left))
    if paused:
        return "‖" + text, "late" if left < 0 else "quiet"
    if left < 0:
        return text, "late"
    return text, "warn" if span > 0 and left < span / 4 else "quiet"


def compact_span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return "0m"


def display(value: str | None, limit: int = 400) -> str:
    """Untrusted text as one inert line; cut early so a 100 KB post costs nothing."""
    if not value:
        return ""
    return one_line(sanitize(value[: limit * 4]), limit)


@dataclass(frozen=True)
class Columns:
    """Cell widths per column for a given row width; 0 drops the column."""

    author: int
    reach: int
    assignee: int
    status: int
    tags: int

    @classmethod
    def for_width(cls, width: int) -> Columns:
        """The excerpt gets what is left: columns shrink, then drop, as the list narrows."""
        if width >= 130:
            return cls(author=18, reach=5, assignee=12, status=8, tags=16)
        if width >= 100:
            return cls(author=14, reach=5, assignee=10, status=8, tags=10)
        if width >= 80:
            return cls(author=12, reach=4, assignee=9, status=7, tags=0)
        if width >= 70:
            return cls(author=11, reach=4, assignee=8, status=0, tags=0)
        return cls(author=10, reach=0, assignee=7, status=0, tags=0)


@lru_cache(maxsize=64)
def _columns(width: int) -> Columns:
    return Columns.for_width(width)


@dataclass(frozen=True)
class RowStyles:
    """Rich styles for each part of a row, read from the component classes."""

    base: Style
    muted: Style
    author: Style
    kind: Style
    assignee: Style
    tags: Style
    escalated: Style
    mark: Style
    priority: Style
    age: dict[str, Style]
    status: dict[str, Style]


@dataclass(frozen=True, slots=True)
class RowText:
    """A row's columns cut to their cells, before cursor and mark styling.

    The costly part of drawing a row (sanitising, measuring, cutting CJK text):
    cached, while the strip is built from it each frame (`text_strip`, about
    1/40 of a frame for a page of rows). The columns exclude the mark column;
    `styles[i]` is column i's style, None for the base. Texts and styles are two
    flat tuples, not (text, style) pairs, and the class has slots: a cached row
    is then three objects for the cycle collector to walk, not fifteen.
    `exact`: the parts add up to the width (else `row_strip` adjusts them).
    """

    texts: tuple[str, ...]
    styles: tuple[Style | None, ...]
    exact: bool


def row_text(
    row: q.ConversationRow, width: int, now: datetime, styles: RowStyles, replying: str = ""
) -> RowText:
    """Every column but the mark, each cut to its cells; see `row_segments`.

    `replying` ("✎Lin") takes the start of the excerpt's cells: the layout stays.
    """
    cols = _columns(width)
    author = display(row.author_name or row.author_handle, 60) or "?"
    parts: list[tuple[str, Style | None]] = [
        (fit_right(age(now, row.last_activity_at), 4) + " ", styles.age[urgency(now, row)]),
        (fit(KIND_CODES.get(row.kind) or display(row.kind, 4), 4) + " ", styles.kind),
        (fit(author, cols.author) + " ", styles.author),
    ]
    used = 2 + 5 + 5 + cols.author + 1
    if cols.reach:
        parts.append((fit_right(reach(row.followers), cols.reach) + " ", styles.muted))
        used += cols.reach + 1
    parts.append((fit(PRIORITY_MARK.get(row.priority, " "), 1) + " ", styles.priority))
    used += 2
    clock = sla_left(row, now)
    if clock is not None:  # only rows under an SLA: the others keep their layout
        parts.append((fit_right(clock[0], 5) + " ", styles.age[clock[1]]))
        used += 6
    tail = cols.assignee + 1 + 3
    tail += cols.status + 1 if cols.status else 0
    tail += cols.tags + 1 if cols.tags else 0
    excerpt_width = max(width - used - tail, 6)
    title = display(row.title, 200)
    excerpt = display(row.excerpt, excerpt_width + 20)
    line = f"{title} — {excerpt}" if title and excerpt and title != excerpt else title or excerpt
    if replying:
        marker = min(cell_len(replying) + 1, excerpt_width // 2)
        parts.append((fit(replying, marker - 1) + " ", styles.assignee))
        excerpt_width -= marker
    parts.append((fit(line, excerpt_width) + " ", None))
    if row.agent:
        parts.append((fit("@" + display(row.agent, 40), cols.assignee) + " ", styles.assignee))
    else:
        parts.append((fit(display(row.role, 40) or "—", cols.assignee) + " ", styles.muted))
    if cols.status:
        status_style = styles.status.get(row.status, styles.muted)
        parts.append((fit(row.status, cols.status) + " ", status_style))
    if cols.tags:
        tags = " ".join("#" + display(t, 30) for t in row.tags)
        parts.append((fit(tags, cols.tags) + " ", styles.tags))
    escalation = f"▲{row.severity or ''}" if row.escalated else ""
    # The escalation column is 3 cells and ends the row; the excerpt takes one cell
    # too many, so the row is cut there (as `Strip.adjust_cell_length` would).
    over = used + excerpt_width + 1 + tail - width
    exact = 0 <= over < 3
    parts.append((fit(escalation, 3 - over if exact else 3), styles.escalated))
    return RowText(tuple(t for t, _ in parts), tuple(st for _, st in parts), exact)


def _same(style: Style) -> Style:
    return style


class LineStrip(Strip):
    """A queue line: a `Strip` that the compositor's whole-width cuts leave acyclic.

    `Strip.divide([width])` and `Strip.adjust_cell_length(width)` return the
    strip itself and cache that answer in the strip: a reference cycle, so
    every line drawn (a dozen segments, seven small caches) outlived its frame
    until the cycle collector's next young pass found it, and those passes were
    the slowest part of a page down. The same answers, not cached, let lines go
    the moment the frame is written.
    """

    __slots__ = ()

    def divide(self, cuts: Iterable[int]) -> Sequence[Strip]:
        cell_length = self.cell_length
        kept = [cut for cut in cuts if cut <= cell_length]
        if kept == [cell_length]:
            return [self]
        return super().divide(kept)

    def adjust_cell_length(self, cell_length: int, style: Style | None = None) -> Strip:
        if cell_length == self.cell_length:
            return self
        return super().adjust_cell_length(cell_length, style)


def text_segments(
    text: RowText,
    styles: RowStyles,
    marked: bool,
    overlay: Style | None = None,
    restyle: Callable[[Style], Style] = _same,
) -> list[Segment]:
    """`text` styled: the base, then `overlay` (cursor, mark), then each column's colour.

    `restyle` maps each resulting style (the app's colour filters, cached by style).
    """
    base = styles.base + overlay if overlay is not None else styles.base
    out = [Segment("● " if marked else "  ", restyle(base + styles.mark))]
    out += [
        Segment(t, restyle(base + style if style is not None else base))
        for t, style in zip(text.texts, text.styles, strict=True)
    ]
    return out


def text_strip(
    text: RowText,
    width: int,
    styles: RowStyles,
    marked: bool,
    overlay: Style | None = None,
    restyle: Callable[[Style], Style] = _same,
) -> Strip:
    segments = text_segments(text, styles, marked, overlay, restyle)
    if text.exact:
        return LineStrip(segments, width)
    strip = LineStrip(segments)
    if strip.cell_length != width:  # a narrow list: the excerpt's minimum overflows
        base = styles.base + overlay if overlay is not None else styles.base
        strip = LineStrip(list(strip.adjust_cell_length(width, restyle(base))), width)
    return strip


def row_segments(
    row: q.ConversationRow,
    width: int,
    now: datetime,
    styles: RowStyles,
    marked: bool,
    overlay: Style | None = None,
) -> list[Segment]:
    """One conversation as plain segments (about `width` cells wide: see `row_strip`).

    Segments, not `Text`: each column is already cut to its cells, so no
    wrapping or markup machinery is needed. The space after a column shares
    its segment (a space looks the same in any foreground), which halves the
    segments the compositor has to cut and filter on every frame. `overlay`
    (cursor, mark) is added on top of every part.
    """
    return text_segments(row_text(row, width, now, styles), styles, marked, overlay)


def row_strip(
    row: q.ConversationRow,
    width: int,
    now: datetime,
    styles: RowStyles,
    marked: bool,
    overlay: Style | None = None,
) -> Strip:
    """One conversation as a strip of exactly `width` cells."""
    return text_strip(row_text(row, width, now, styles), width, styles, marked, overlay)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class _Fetch:
    """One planned read: `limit` rows from `anchor` (keyset) going `forward` or back."""

    start: int  # index of the first row the fetch returns
    forward: bool
    anchor: q.Cursor | None
    limit: int
    keep: int  # how many of the returned rows to keep (walks keep only the last)


def cursor_after(sort: str, row: q.ConversationRow) -> q.Cursor:
    """The keyset position just after `row` in `sort` order: any loaded row is an anchor.

    Mirrors the sort keys of `query._ORDERS` (the queue tests fail if they drift).
    """
    values: tuple[datetime | int, ...]
    if sort == "priority":
        values = (PRIORITY_RANK[row.priority], row.last_activity_at)
    elif sort == "followers":
        values = (row.followers if row.followers is not None else -1,)
    else:
        values = (row.last_activity_at,)
    return q.Cursor(sort, values, row.id)


def _load(
    db: Database, query: q.Query, me_id: int | None, fetch: _Fetch
) -> tuple[list[q.ConversationRow], int]:
    """The rows `fetch` keeps, and how many rows its read covered (a walk keeps one)."""
    run = query if fetch.forward else dataclasses.replace(query, sort=REVERSE_SORT[query.sort])
    with db.read() as session:
        page = q.fetch_page(
            session,
            run,
            me_id=me_id,
            limit=fetch.limit,
            after=fetch.anchor,
            only_last=fetch.keep == 1,
        )
    return page.rows, len(page.rows) + page.skipped


# --------------------------------------------------------------------------- widget


# Textual's filters that map each segment's style alone: applied to the few distinct
# styles of the list (cached) instead of to every line drawn.
STYLE_FILTERS = (ANSIToTruecolor, DimFilter, Monochrome, NoColor)


@dataclass(frozen=True)
class _Frame:
    """What the lines of one frame share: position, clock, focus, the app's line filters."""

    top: int
    width: int
    now: datetime
    focused: bool
    filters: tuple[LineFilter, ...]  # () when Textual's general path filters the lines
    background: Color | None
    restyle: Callable[[Style], Style]  # the filters in STYLE_FILTERS, per style

    def finish(self, strip: Strip, *, restyled: bool = True) -> Strip:
        """Apply the line filters not already applied by `restyle` (all, if not `restyled`)."""
        for line_filter in self.filters:
            if not restyled or not isinstance(line_filter, STYLE_FILTERS):
                strip = strip.apply_filter(line_filter, self.background)
        return strip


def _has_text(node: q.Node | None) -> bool:
    if isinstance(node, q.TextTerm):
        return True
    if isinstance(node, q.Not):
        return _has_text(node.node)
    if isinstance(node, q.And | q.Or):
        return any(_has_text(n) for n in node.nodes)
    return False


def set_virtual_size(widget: ScrollView, size: Size) -> None:
    """Resize a Line API view's scrollable area without a layout pass of the whole screen.

    Assigning `virtual_size` asks Textual for a full layout (and so a full-screen
    repaint, tens of milliseconds) although only this widget's scrollbar changes.
    This updates the scrollbar directly; Textual still lays out if the scrollbar
    appears or disappears.
    """
    if size == widget.virtual_size:
        return
    widget.set_reactive(ScrollView.virtual_size, size)
    widget._scroll_update(size)
    widget.refresh()


def _css() -> str:
    return (Path(__file__).with_suffix(".tcss")).read_text(encoding="utf-8")


class QueueList(ScrollView, can_focus=True):
    """The conversation queue (virtual, keyset-paged, cached)."""

    DEFAULT_CSS = _css()
    BINDINGS = bindings(QUEUE_KEYS)
    COMPONENT_CLASSES = {
        "queue-list--cursor",
        "queue-list--cursor-blurred",
        "queue-list--marked",
        "queue-list--placeholder",
        "queue-list--muted",
        "queue-list--author",
        "queue-list--kind",
        "queue-list--assignee",
        "queue-list--tags",
        "queue-list--escalated",
        "queue-list--mark",
        "queue-list--priority",
        "queue-list--age-ok",
        "queue-list--age-warn",
        "queue-list--age-late",
        "queue-list--age-quiet",
        "queue-list--status-new",
        "queue-list--status-open",
        "queue-list--status-pending",
        "queue-list--status-snoozed",
        "queue-list--status-resolved",
    }

    class CursorMoved(Message):
        """The highlighted conversation changed (row is None while it loads)."""

        def __init__(self, index: int, row: q.ConversationRow | None) -> None:
            super().__init__()
            self.index = index
            self.row = row

    class Opened(Message):
        """Enter/l/double click on a row: open it in the detail pane."""

        def __init__(self, row: q.ConversationRow) -> None:
            super().__init__()
            self.row = row

    class Changed(Message):
        """Count, marks or loading state changed (status line, footer)."""

    class LoadFailed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(
        self,
        db: Database,
        *,
        me_id: int | None = None,
        clock: Callable[[], datetime] = utcnow,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.db = db
        self.me_id = me_id
        self.clock = clock
        self.query_obj: q.Query = q.parse("")
        self.total: int | None = None
        self.cursor = 0
        self.marks: set[int] = set()
        self.mark_anchor: int | None = None
        self.first_paint: float | None = None  # monotonic time real rows were first rendered
        self._rows: dict[int, q.ConversationRow] = {}
        self._stale: dict[int, q.ConversationRow] = {}
        self._gen = 0
        self._inflight: _Fetch | None = None
        self._paint_then_read: _Fetch | None = None  # an inline read waiting for the next frame
        # (generation, its inline reads in a row over INLINE_READ_SECONDS): at
        # SLOW_READS_TO_THREADS, that generation's reads go to threads
        self._slow_reads = (-1, 0)
        self._follow_id: int | None = None
        self._known_end: int | None = None  # the list's end, once a read came up short
        self._reread: set[int] = set()  # anchor rows a reload kept: read again once settled
        self._approximate = False  # positions come from an old anchor (until the next query)
        self._reload_pending = False
        self._counting = False
        # Placeholder and blank lines (a few). Rows' strips are not kept: a strip is
        # ~25 objects (segments, Textual's per-strip caches), and a cache of a dozen
        # pages of them made the collector's young-generation passes the slowest part
        # of a page down (4-11 ms each). Their text is kept, sized to the read-ahead
        # (`on_resize`).
        self._strips: dict[tuple, Strip] = {}
        self._texts: LRUCache[tuple, RowText] = LRUCache(CACHED_PAGES * 50)
        self._styles: RowStyles | None = None
        self._cursor_styles: dict[bool, Style] = {}
        self._plain_styles: dict[str, Style] = {}
        self._frame: _Frame | None = None
        self._look: tuple[tuple[LineFilter, ...], Color | None] = ((), None)
        self._restyled: dict[Style, Style] = {}
        self._prerender_queue: list[int] = []
        self._prerender_scheduled = False
        self._ensure_scheduled = False
        self._direction = 1  # of the last cursor move or scroll: read-ahead goes that way
        self.replying: dict[int, str] = {}  # conversation id -> "✎Lin" (loaded rows only)

    # ------------------------------------------------------------------ public API

    @property
    def current_row(self) -> q.ConversationRow | None:
        return self._rows.get(self.cursor) or self._stale.get(self.cursor)

    @property
    def is_loading(self) -> bool:
        return self._inflight is not None or self._counting or self._ensure_scheduled

    @property
    def loaded_count(self) -> int:
        return len(self._rows)

    @property
    def screen_filled(self) -> bool:
        """Every visible line shows a real row (the count may still be on its way)."""
        top = int(self.scroll_offset.y)
        height = max(1, self.scrollable_content_region.height)
        end = self.total if self.total is not None else self._known_end
        if end is None:
            end = top + height
        return all(i in self._rows for i in range(top, min(top + height, end)))

    def _provisional_total(self) -> int:
        if self._known_end is not None:
            return self._known_end
        return max(self._rows, default=-1) + 1

    def row_at(self, index: int) -> q.ConversationRow | None:
        return self._rows.get(index) or self._stale.get(index)

    def index_of(self, conversation_id: int) -> int | None:
        for index, row in self._rows.items():
            if row.id == conversation_id:
                return index
        return None

    def set_query(self, query: q.Query) -> None:
        """Show `query`'s matches from the top (filters, saved views)."""
        self.query_obj = query
        self._gen += 1
        self._rows.clear()
        self._stale.clear()
        self._prerender_queue.clear()
        self._known_end = None
        self._approximate = False
        self._inflight = None
        self._follow_id = None
        self.total = None
        self.cursor = 0
        self.mark_anchor = None
        self.scroll_to(y=0, animate=False)
        self._direction = 1
        self._count()
        self._schedule_ensure()
        self.refresh()
        self._post_cursor()

    def reload(self) -> None:
        """Re-read count and visible rows after someone changed the database.

        Keeps the cursor on the same conversation id (when it is still shown),
        keeps marks, and keeps showing the old rows until the new ones arrive.
        """
        if self._inflight is not None or self._counting:
            self._reload_pending = True
            return
        self._reload_pending = False
        current = self.current_row
        self._follow_id = current.id if current else None
        self._known_end = None
        self._gen += 1
        self._stale = {**self._stale, **self._rows}
        # One old row at the top of the read-ahead window is the keyset anchor of the
        # refetch (rows above it may shift by a few; the window is exact). Ideally the
        # row just above the window; else the window's first row, re-read on its own.
        window = self._window()
        anchor = next((i for i in range(window.start - 1, window.stop) if i in self._stale), None)
        self._rows = {}
        # Near the top the window is simply read again from the start: exact.
        self._approximate = window.start > 0 and anchor is not None
        if self._approximate:
            self._rows[anchor] = self._stale[anchor]
            if anchor >= window.start:
                self._reread.add(self._stale[anchor].id)
        self._count()
        self._schedule_ensure()
        self.refresh_presence()

    def refresh_rows(self, rows: Iterable[q.ConversationRow]) -> None:
        """Replace loaded rows in place (after an action), keeping position and marks."""
        by_id = {row.id: row for row in rows}
        if not by_id:
            return
        for mapping in (self._rows, self._stale):
            for index, row in list(mapping.items()):
                if row.id in by_id:
                    mapping[index] = by_id[row.id]
        self.refresh()
        self._post_cursor()

    def loaded_ids(self) -> list[int]:
        return [row.id for row in self._rows.values()]

    # ------------------------------------------------------------------ marks

    def toggle_mark(self) -> None:
        row = self.current_row
        if row is None:
            return
        if row.id in self.marks:
            self.marks.discard(row.id)
        else:
            self.marks.add(row.id)
        self.mark_anchor = self.cursor
        self._line_changed(self.cursor)
        self.post_message(self.Changed())

    def range_mark(self) -> None:
        """Mark every row between the last marked row and the cursor."""
        if self.mark_anchor is None:
            self.toggle_mark()
            return
        low, high = sorted((self.mark_anchor, self.cursor))
        missing = [i for i in range(low, high + 1) if self.row_at(i) is None]
        if not missing:
            self.marks.update(self.row_at(i).id for i in range(low, high + 1))  # type: ignore[union-attr]
            self.mark_anchor = self.cursor
            self.refresh()
            self.post_message(self.Changed())
            return
        anchor_row = self.row_at(low - 1) if low > 0 else None
        if low > 0 and anchor_row is None:
            self.app.notify("Scroll through the range first, or mark with * (all matches)")
            return
        anchor = cursor_after(self.query_obj.sort, anchor_row) if anchor_row else None
        self._range_worker(self.query_obj, anchor, high - low + 1)
        self.mark_anchor = self.cursor

    def mark_ids(self, ids: Iterable[int]) -> None:
        self.marks.update(ids)
        self.refresh()
        self.post_message(self.Changed())

    def clear_marks(self) -> None:
        self.marks.clear()
        self.mark_anchor = None
        self.refresh()
        self.post_message(self.Changed())

    @work(thread=True, exit_on_error=False, group="queue-marks")
    def _range_worker(self, query: q.Query, anchor: q.Cursor | None, limit: int) -> None:
        fetch = _Fetch(0, True, anchor, limit, limit)
        rows, _ = _load(self.db, query, self.me_id, fetch)
        self.app.call_from_thread(self.mark_ids, [row.id for row in rows])

    # ------------------------------------------------------------------ cursor

    def move_to(self, index: int, *, follow: bool = False) -> None:
        """Put the cursor on `index` (clamped) and keep it on screen."""
        total = self.total if self.total is not None else self._provisional_total()
        index = max(0, min(index, total - 1)) if total else 0
        if not follow:
            self._follow_id = None
        old = self.cursor
        self.cursor = index
        if index != old:
            self._direction = 1 if index > old else -1
        height = self.scrollable_content_region.height or 1
        top = int(self.scroll_offset.y)
        if index < top or index >= top + height:
            # Off screen: re-centre (like less and mutt) rather than creep a line at a
            # time, so most cursor moves repaint two lines instead of the whole list.
            self.scroll_to(y=max(0, index - height // 2), animate=False)
        self._line_changed(old)
        self._line_changed(index)
        self._schedule_ensure()
        if old != index:
            self._post_cursor()

    def _post_cursor(self) -> None:
        self.post_message(self.CursorMoved(self.cursor, self.current_row))

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height)

    def action_cursor_down(self) -> None:
        self.move_to(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor - 1)

    def action_cursor_top(self) -> None:
        self.move_to(0)

    def action_cursor_bottom(self) -> None:
        self.move_to((self.total or 1) - 1)

    def _scroll_by(self, lines: int) -> None:
        target = max(0, int(self.scroll_offset.y) + lines)
        self.scroll_to(y=target, animate=False)
        self.move_to(self.cursor + lines)

    def action_half_page_down(self) -> None:
        self._scroll_by(self._page() // 2)

    def action_half_page_up(self) -> None:
        self._scroll_by(-(self._page() // 2))

    def action_page_down(self) -> None:
        self._scroll_by(self._page())

    def action_page_up(self) -> None:
        self._scroll_by(-self._page())

    def action_open(self) -> None:
        row = self.current_row
        if row is not None:
            self.post_message(self.Opened(row))

    def action_toggle_mark(self) -> None:
        self.toggle_mark()

    def action_range_mark(self) -> None:
        self.range_mark()

    def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_offset.y) + event.y
        if self.total and 0 <= index < self.total:
            self.focus()
            self.move_to(index)
            if event.chain == 2:
                self.action_open()

    # ------------------------------------------------------------------ loading

    def _set_height(self, total: int) -> None:
        set_virtual_size(self, Size(self.scrollable_content_region.width, total))

    def on_mount(self) -> None:
        self.set_interval(PRESENCE_REFRESH, self.refresh_presence)

    def refresh_presence(self) -> None:
        """Re-read who has a composer open on the loaded window's rows (one query)."""
        window = self._window()
        ids = tuple(row.id for i, row in self._rows.items() if i in window)
        if ids or self.replying:
            self._presence_worker(ids)

    @work(thread=True, exclusive=True, exit_on_error=False, group="queue-presence")
    def _presence_worker(self, ids: tuple[int, ...]) -> None:
        try:
            found = replying_on(self.db, ids)
        except Exception:  # the database is away: the markers wait for the next read
            return
        markers = {cid: "✎" + display(", ".join(names), 60) for cid, names in found.items()}
        self._call(self._presence_loaded, markers)

    def _presence_loaded(self, markers: dict[int, str]) -> None:
        if markers != self.replying:
            self.replying = markers
            self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        lines = CACHED_PAGES * max(50, self.scrollable_content_region.height)
        self._texts.maxsize = lines
        self._set_height(self.total or 0)
        self._schedule_ensure()

    def watch_scroll_y(self, old: float, new: float) -> None:
        # As ScrollView does, but without moving a scrollbar the CSS hides (size 0):
        # that widget is not on screen, so each move made Textual re-arrange the screen.
        if self.show_vertical_scrollbar and self.styles.scrollbar_size_vertical:
            self.vertical_scrollbar.position = new
        if round(old) != round(new):
            self.refresh(self.size.region)
        if new != old:
            self._direction = 1 if new > old else -1
            self._schedule_prerender()
        self._schedule_ensure()

    def _count(self) -> None:
        self._counting = True
        self._count_worker(self._gen, self.query_obj)

    @work(thread=True, exit_on_error=False, group="queue-count")
    def _count_worker(self, gen: int, query: q.Query) -> None:
        try:
            with self.db.read() as session:
                total = q.count(session, query, me_id=self.me_id)
        except Exception as exc:  # shown, never a traceback
            self._call(self._failed, gen, f"counting failed: {exc}")
            return
        self._call(self._counted, gen, total)

    def _call(self, callback: Callable, *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the app is shutting down
            self.app.call_from_thread(callback, *args)

    def _counted(self, gen: int, total: int) -> None:
        if gen != self._gen:
            return
        self._counting = False
        self.total = total
        self._set_height(total)
        if total and self.cursor >= total:
            self.move_to(total - 1, follow=True)
        self._schedule_ensure()
        self.refresh()
        self.post_message(self.Changed())

    def _failed(self, gen: int, error: str) -> None:
        if gen != self._gen:
            return
        self._counting = False
        self._inflight = None
        self.post_message(self.LoadFailed(error))

    def _schedule_ensure(self) -> None:
        if not self._ensure_scheduled:
            self._ensure_scheduled = True
            self.call_later(self._ensure)

    def _window(self) -> range:
        """The rows that must be loaded: the screen, and read-ahead around it.

        `AHEAD` pages in the direction of travel, `BEHIND` pages the other way.
        A missing row starts a read that fills up to `FILL` pages ahead (`_reach`):
        a few pages per read (each read has a fixed cost), started while several
        pages are still loaded ahead, so keys faster than the reads (a reader
        thread waits for the GIL while the UI draws) still find their rows.
        """
        return self._around(AHEAD, BEHIND)

    def _reach(self) -> range:
        return self._around(FILL, BEHIND)

    def _around(self, ahead_pages: int, behind_pages: int) -> range:
        top = int(self.scroll_offset.y)
        height = max(1, self.scrollable_content_region.height)
        ahead = max(BLOCK // 2, ahead_pages * height)
        behind = max(BLOCK // 2, behind_pages * height)
        if self._direction < 0:
            ahead, behind = behind, ahead
        low = max(0, min(top, self.cursor) - behind)
        high = max(top + height, self.cursor + 1) + ahead
        if self.total is not None:
            high = min(high, self.total)
        return range(low, high)

    def _ensure(self) -> None:
        """Start the next fetch the viewport needs (one at a time, newest generation).

        The screen's rows come first, in a read just big enough for them (so a
        jump or a new filter paints after one small read); then read-ahead in
        the direction of travel, then behind.
        """
        self._ensure_scheduled = False
        if self._inflight is not None:
            return
        window = self._window()
        missing = [i for i in window if i not in self._rows]
        if not missing:
            self._settle()
            return
        top = int(self.scroll_offset.y)
        bottom = top + max(1, self.scrollable_content_region.height)
        on_screen = [i for i in missing if top <= i < bottom]
        if on_screen:
            first = on_screen[0]
            reach = range(window.start, min(bottom, window.stop))
        else:
            ahead = [i for i in missing if i >= bottom]
            behind = [i for i in missing if i < top]
            if self._direction < 0:
                first = behind[-1] if behind else ahead[0]
            else:
                first = ahead[0] if ahead else behind[-1]
            reach = self._reach()
        if self.total is None and first > 0 and (first - 1) not in self._rows:
            return  # wait for the count before walking anywhere
        fetch = self._plan(first, reach)
        if fetch is None:
            return
        self._inflight = fetch
        if not on_screen and fetch.keep > 1 and self._inline_reads():
            # after the frame: the rows on screen are loaded, the read is for later pages
            self._read_after_paint(fetch)
        else:
            self._fetch_worker(self._gen, self.query_obj, fetch)

    def _inline_reads(self, query: q.Query | None = None) -> bool:
        """Whether read-aheads of `query` (default: the shown one) run on the UI thread."""
        if query is None:
            gen, slow = self._slow_reads
            if gen == self._gen and slow >= SLOW_READS_TO_THREADS:
                return False
            query = self.query_obj
        return self.db.dialect == "sqlite" and not _has_text(query.root)

    def _read_after_paint(self, fetch: _Fetch) -> None:
        """Run `fetch` inline once the list has painted its next frame.

        Not `call_after_refresh` alone: a page down scrolls after a refresh, so
        "after the next refresh" could come before the frame showing the new
        page, which then waited for the read (10-15 ms). `render_lines` hands
        the read on; a timer covers a list that does not paint (another screen
        on top).
        """
        self._paint_then_read = fetch
        self.refresh()
        self.set_timer(UNPAINTED_READ_DELAY, lambda: self._start_unpainted(fetch))

    def _start_unpainted(self, fetch: _Fetch) -> None:
        if self._paint_then_read is fetch:
            self._paint_then_read = None
            self._read_inline(fetch)

    def _read_inline(self, fetch: _Fetch) -> None:
        """A read-ahead on the UI thread: cheaper than a reader thread's, for a cheap read.

        SQLite hands over each result row with the GIL released and retaken;
        while keys are handled, every retake waits for the UI thread to yield
        it, so a 200-row read in a thread cost the UI more (30-50 ms frames)
        than reading the rows itself (about 6 ms at a million). Only keyset
        continuations of a query without full-text terms on SQLite come here
        (an index walk of a page or a few). `SLOW_READS_TO_THREADS` reads in a
        row that cost over `INLINE_READ_SECONDS` of this thread's CPU send the
        query's next reads back to threads: one alone may be a cold cache or a
        collection, and sending a whole query to threads for it made every
        later page down slow.
        """
        if self._inflight is not fetch:
            return  # a new query or a reload since it was planned
        gen, started = self._gen, time.thread_time()
        try:
            rows, covered = _load(self.db, self.query_obj, self.me_id, fetch)
        except Exception as exc:
            self._failed(gen, f"loading the queue failed: {exc}")
            return
        slow_gen, slow = self._slow_reads
        if time.thread_time() - started <= INLINE_READ_SECONDS:
            self._slow_reads = (gen, 0)
        else:
            self._slow_reads = (gen, slow + 1 if slow_gen == gen else 1)
        self._fetched(gen, fetch, rows, covered)

    def _plan(self, first: int, window: range) -> _Fetch | None:
        """One read towards the missing run around `first` (within `window`)."""
        sort = self.query_obj.sort
        total = self.total
        reversible = sort in REVERSE_SORT and total is not None
        # the missing run that contains `first`: one read fills it
        low = high = first
        while low - 1 in window and low - 1 not in self._rows:
            low -= 1
        while high + 1 in window and high + 1 not in self._rows:
            high += 1
        size = min(max(BLOCK, high - low + 1), MAX_FETCH)
        if low == 0 or (low - 1) in self._rows:
            anchor_row = self._rows.get(low - 1)
            anchor = cursor_after(sort, anchor_row) if anchor_row else None
            return _Fetch(low, True, anchor, size, size)
        if reversible and (high == total - 1 or (high + 1) in self._rows):
            anchor_row = self._rows.get(high + 1)
            rsort = REVERSE_SORT[sort]
            anchor = cursor_after(rsort, anchor_row) if anchor_row else None
            return _Fetch(high, False, anchor, size, size)
        # walk: from the nearest known row below, or from the end when nearer
        below = max((i for i in self._rows if i < low), default=-1)
        forward_gap = low - below - 1
        if reversible:
            above = min((i for i in self._rows if i > high), default=total)
            backward_gap = above - high - 1
            if backward_gap < forward_gap:
                step = min(backward_gap, STRIDE)
                row = self._rows.get(above)
                anchor = cursor_after(REVERSE_SORT[sort], row) if row else None
                return _Fetch(above - 1, False, anchor, step, 1)
        step = min(forward_gap, STRIDE)
        row = self._rows.get(below)
        anchor = cursor_after(sort, row) if row else None
        return _Fetch(below + 1, True, anchor, step, 1)

    @work(thread=True, exit_on_error=False, group="queue-fetch")
    def _fetch_worker(self, gen: int, query: q.Query, fetch: _Fetch) -> None:
        try:
            rows, covered = _load(self.db, query, self.me_id, fetch)
        except Exception as exc:
            self._call(self._failed, gen, f"loading the queue failed: {exc}")
            return
        self._call(self._fetched, gen, fetch, rows, covered)

    def _fetched(
        self,
        gen: int,
        fetch: _Fetch,
        rows: list[q.ConversationRow],
        covered: int,
    ) -> None:
        if gen != self._gen:
            return
        self._inflight = None
        step = 1 if fetch.forward else -1
        # the rows kept are the last `len(rows)` of the `covered` the read went through
        first = fetch.start + step * (covered - len(rows))
        placed = {first + step * n: row for n, row in enumerate(rows)}
        if fetch.keep < len(placed):
            last = first + step * (len(rows) - 1)
            placed = {last: placed[last]}
        self._rows.update(placed)
        for index in placed:
            self._stale.pop(index, None)
        if covered < fetch.limit and fetch.forward:
            end = fetch.start + covered
            self._known_end = end
            if self.total is not None and end < self.total and not self._approximate:
                # The list ended earlier than counted (rows left the filter): trust the rows.
                self.total = end
                self._set_height(end)
                self.post_message(self.Changed())
        if self.total is None:
            # Still counting (full-text counts take a while at a million): the rows
            # already read are scrollable meanwhile.
            self._set_height(self._provisional_total())
        self._prune()
        self._follow()
        if placed and self._visible(min(placed), max(placed)):
            self.refresh()
        self._schedule_prerender()
        if self.cursor in placed:
            self._post_cursor()
        self._schedule_ensure()

    def _visible(self, low: int, high: int) -> bool:
        top = int(self.scroll_offset.y)
        return high >= top and low < top + max(1, self.scrollable_content_region.height)

    @work(thread=True, exit_on_error=False, group="queue-reread")
    def _reread_worker(self, ids: list[int]) -> None:
        with self.db.read() as session:
            rows = q.fetch_rows(session, ids)
        self._call(self.refresh_rows, rows)

    def _settle(self) -> None:
        """The window is complete: drop stale rows, run a reload that waited."""
        if self._reread:
            ids, self._reread = sorted(self._reread), set()
            self._reread_worker(ids)
        if self._stale:
            self._stale.clear()
            self.refresh()
        self.post_message(self.Changed())
        if self._reload_pending:
            self.reload()

    def _follow(self) -> None:
        """After a reload, keep the cursor on the conversation it was on."""
        if self._follow_id is None:
            return
        index = self.index_of(self._follow_id)
        if index is not None:
            self._follow_id = None
            if index != self.cursor:
                self.move_to(index, follow=True)

    def _prune(self) -> None:
        """Over `MAX_ROWS`, keep the read-ahead window and the rows nearest to it.

        (Nearest to the window, not to the cursor: the window reaches further
        ahead than behind, and dropping its far end would read it again at once.)
        """
        if len(self._rows) <= MAX_ROWS:
            return
        window = self._reach()
        low, high = window.start, window.stop - 1

        def distance(index: int) -> int:
            return 0 if index in window else min(abs(index - low), abs(index - high))

        keep = sorted(self._rows, key=distance)[: max(MAX_ROWS * 3 // 4, len(window))]
        if self.mark_anchor is not None:
            # `v` reads a range from the row before its start: keep that anchor however far
            keep += [i for i in (self.mark_anchor - 1, self.mark_anchor) if i in self._rows]
        self._rows = {i: self._rows[i] for i in keep}

    # ------------------------------------------------------------------ rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._cursor_styles.clear()
        self._plain_styles.clear()
        self._texts.clear()
        self._strips.clear()

    def _row_styles(self) -> RowStyles:
        if self._styles is None:
            part = self.get_component_rich_style

            def comp(name: str) -> Style:
                return part(f"queue-list--{name}", partial=True)

            self._styles = RowStyles(
                base=self.rich_style,
                muted=comp("muted"),
                author=comp("author"),
                kind=comp("kind"),
                assignee=comp("assignee"),
                tags=comp("tags"),
                escalated=comp("escalated"),
                mark=comp("mark"),
                priority=comp("priority"),
                age={k: comp(f"age-{k}") for k in ("ok", "warn", "late", "quiet")},
                status={
                    k: comp(f"status-{k}")
                    for k in ("new", "open", "pending", "snoozed", "resolved")
                },
            )
        return self._styles

    def _plain_style(self, name: str) -> Style:
        """The list's own style ("") or a component's, cached until the styles change.

        (`rich_style` is recomputed after every `refresh()`: once per line, a
        tenth of a frame.)
        """
        style = self._plain_styles.get(name)
        if style is None:
            style = self.rich_style if not name else self.get_component_rich_style(name)
            self._plain_styles[name] = style
        return style

    def _line_changed(self, index: int) -> None:
        self.refresh_line(index)

    def render_lines(self, crop: Region) -> list[Strip]:
        """The visible lines, each built once from its cached text with the filters applied.

        Textual's general path rebuilds every line into a new strip each frame
        (for borders, padding, tint, opacity) and filters it again: a third of a
        page-down frame, and much of the garbage the collector then chases. The
        list has none of those styles (its CSS), so the strip `render_line`
        builds, with the app's line filters applied, is the final line. If a
        theme adds any of them, the general path runs with unfiltered strips.
        """
        if self._paint_then_read is not None:
            self.call_after_refresh(self._read_inline, self._paint_then_read)
            self._paint_then_read = None
        plain = self._plain()
        self._frame = self._new_frame(filtered=plain)
        try:
            if not plain:
                return super().render_lines(crop)
            render_line = self.render_line
            strips = [render_line(y) for y in crop.line_range]
            width = self._frame.width
            if crop.column_span != (0, width):
                x1, x2 = crop.column_span
                strips = [strip.crop(x1, x2) for strip in strips]
            return strips
        finally:
            self._frame = None

    def _plain(self) -> bool:
        """No border, padding, outline, tint, opacity or hatch: lines need no restyling."""
        styles = self.styles
        return (
            not any(styles.gutter)
            and not any(edge for edge, _ in styles.outline)
            and styles.opacity == 1
            and styles.text_opacity == 1
            and not styles.tint.a
            and not (styles.has_rule("hatch") and styles.hatch != "none")
            and self.size.width == self.scrollable_content_region.width
        )

    def _new_frame(self, *, filtered: bool) -> _Frame:
        """What every line of a frame shares, read once (region lookups, the clock).

        Cached strips carry the line filters of the frame that built them: when
        those change (theme, colour mode), the cache starts over.
        """
        filters = tuple(self.get_line_filters()) if filtered else ()
        background = self.background_colors[1] if filters else None
        if (filters, background) != self._look:
            self._look = (filters, background)
            self._strips.clear()
            self._restyled.clear()
        return _Frame(
            int(self.scroll_offset.y),
            self.scrollable_content_region.width,
            self.clock(),
            self.has_focus,
            filters,
            background,
            self._restyle if any(isinstance(f, STYLE_FILTERS) for f in filters) else _same,
        )

    def _restyle(self, style: Style) -> Style:
        """`style` through the current frame's per-style filters (cached until they change)."""
        restyled = self._restyled.get(style)
        if restyled is None:
            filters, background = self._look
            segments = [Segment(" ", style)]
            for line_filter in filters:
                if isinstance(line_filter, STYLE_FILTERS):
                    segments = line_filter.apply(segments, background)  # type: ignore[arg-type]
            restyled = self._restyled[style] = segments[0].style or style
        return restyled

    def render_line(self, y: int) -> Strip:
        frame = self._frame or self._new_frame(filtered=self._plain())
        width = frame.width
        index = frame.top + y
        total = self.total if self.total is not None else self._provisional_total()
        if index >= total:
            return self._plain_line("blank", width, frame)
        row = self._rows.get(index) or self._stale.get(index)
        selected = index == self.cursor
        if row is None:
            self._schedule_ensure()
            return self._plain_line("selected" if selected else "loading", width, frame)
        if self.first_paint is None:
            self.first_paint = time.monotonic()
        return self._strip_for(row, width, selected, frame)

    def _plain_line(self, kind: str, width: int, frame: _Frame) -> Strip:
        """A blank line past the end, or a placeholder while its row loads (cached)."""
        key = (kind, width, frame.focused)
        strip = self._strips.get(key)
        if strip is None:
            if kind == "blank":
                strip = Strip.blank(width, self._plain_style(""))
            else:
                style = self._plain_style("queue-list--placeholder")
                if kind == "selected":
                    style += self._cursor_style()
                strip = Strip([Segment(fit("  ⋯ loading", width), style)], width)
            strip = self._strips[key] = frame.finish(strip, restyled=False)
        return strip

    def _strip_for(
        self, row: q.ConversationRow, width: int, selected: bool, frame: _Frame
    ) -> Strip:
        """The row's strip: its cached `RowText`, styled for cursor and mark."""
        styles = self._row_styles()
        text = self._text_for(row, width, frame.now, styles)
        marked = row.id in self.marks
        overlay: Style | None = None
        if marked:
            overlay = self.get_component_rich_style("queue-list--marked", partial=True)
        if selected:
            cursor = self._cursor_style()
            overlay = overlay + cursor if overlay is not None else cursor
        return frame.finish(text_strip(text, width, styles, marked, overlay, frame.restyle))

    def _text_for(
        self, row: q.ConversationRow, width: int, now: datetime, styles: RowStyles
    ) -> RowText:
        """The row's columns cut to `width`, cached while its age and SLA colour hold."""
        replying = self.replying.get(row.id, "")
        when, sla = age(now, row.last_activity_at), urgency(now, row)
        key = (row.id, row.version, width, when, sla, replying)
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = row_text(row, width, now, styles, replying)
        return text

    def _schedule_prerender(self) -> None:
        """After the next frame, cut the text of the page a page down (or up) would show next.

        One page per move, not a whole read-ahead read at once: each key then
        carries about the same work, and a page down only styles rows whose
        text is already measured and cut.
        """
        top = int(self.scroll_offset.y)
        height = max(1, self.scrollable_content_region.height)
        start = top + height if self._direction >= 0 else max(0, top - height)
        # popped from the end: the rows nearest the screen first
        upcoming = range(start, start + height)
        self._prerender_queue = [
            i for i in (upcoming if self._direction < 0 else reversed(upcoming)) if i in self._rows
        ]
        if self._prerender_queue and not self._prerender_scheduled:
            self._prerender_scheduled = True
            self.call_after_refresh(self._prerender)

    def _prerender(self) -> None:
        """Cut the queued rows' text, a few milliseconds per turn of the event loop."""
        self._prerender_scheduled = False
        width = self.scrollable_content_region.width
        now, styles = self.clock(), self._row_styles()
        deadline = time.perf_counter() + PRERENDER_SLICE
        while self._prerender_queue and time.perf_counter() < deadline:
            index = self._prerender_queue.pop()
            row = self._rows.get(index)
            if row is not None and width > 0:
                self._text_for(row, width, now, styles)
        if self._prerender_queue:
            self._prerender_scheduled = True
            self.call_later(self._prerender)

    def _cursor_style(self) -> Style:
        focused = self.has_focus
        cached = self._cursor_styles.get(focused)
        if cached is None:
            name = "queue-list--cursor" if focused else "queue-list--cursor-blurred"
            cached = self._cursor_styles[focused] = self.get_component_rich_style(
                name, partial=True
            )
        return cached

    def on_focus(self) -> None:
        self.refresh_line(self.cursor)

    def on_blur(self) -> None:
        self.refresh_line(self.cursor)

"""Help for the current context: every key, grouped, scrollable and filterable.

The caller passes (key, description, group) rows, so help always matches the
bindings actually in force (including keys remapped in the config). `/`
filters: every word typed must appear in the key, description or group,
folded like search (case, accents, 繁/简). `escape` leaves the filter first,
then closes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label

from inboxtui.screens.picker import key_hint, plain
from inboxtui.text import fold


def filter_bindings(
    bindings: Sequence[tuple[str, str, str]], query: str
) -> list[tuple[str, str, str]]:
    """The rows where every word of `query` appears in key, description or group."""
    words = fold(query).split()
    return [row for row in bindings if all(word in fold(" ".join(row)) for word in words)]


class HelpScreen(ModalScreen[None]):
    """Keys grouped under headings; dismissed with None."""

    CSS_PATH = "help.tcss"
    AUTO_FOCUS = "#keys"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,q", "close", "Close", id="help.close"),
        Binding("escape", "back", "Close", id="help.back"),
        Binding("slash", "filter", "Filter", id="help.filter"),
        Binding("j", "scroll(1)", "Down", show=False, id="help.down"),
        Binding("k", "scroll(-1)", "Up", show=False, id="help.up"),
        Binding("g", "edge(False)", "Top", show=False, id="help.top"),
        Binding("G", "edge(True)", "Bottom", show=False, id="help.bottom"),
    ]

    def __init__(self, bindings: Sequence[tuple[str, str, str]], title: str = "Keys") -> None:
        super().__init__()
        self._rows = list(bindings)
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(plain(self._title), id="title")
            yield Input(placeholder="filter keys", id="filter")
            table: DataTable[Text] = DataTable(
                id="keys", cursor_type="none", show_header=False, zebra_stripes=False
            )
            yield table
            yield Label(id="empty")
            yield Label(
                key_hint(("/", "filter"), ("j/k g/G", "scroll"), ("?/q/esc", "close")),
                id="hint",
            )

    def on_mount(self) -> None:
        table = self.query_one("#keys", DataTable)
        table.add_column("key", key="key")
        table.add_column("description", key="description")
        self.query_one("#filter", Input).display = False
        self._fill(self._rows, "")

    def _fill(self, rows: Sequence[tuple[str, str, str]], query: str) -> None:
        table = self.query_one("#keys", DataTable)
        table.clear()
        groups: dict[str, list[tuple[str, str]]] = {}
        for key, description, group in rows:
            groups.setdefault(group, []).append((key, description))
        for number, (group, members) in enumerate(groups.items()):
            if number:
                table.add_row(Text(""), Text(""))
            table.add_row(Text(""), Text.assemble((plain(group).plain, "bold underline")))
            for key, description in members:
                table.add_row(Text(key, style="bold"), plain(description))
        empty = self.query_one("#empty", Label)
        empty.update(Text(f"no key matches {query!r}" if query and not rows else ""))
        empty.display = bool(query and not rows)

    @property
    def shown(self) -> list[tuple[str, str]]:
        """(key, description) rows currently listed, group headings left out (for tests)."""
        table = self.query_one("#keys", DataTable)
        out: list[tuple[str, str]] = []
        for index in range(table.row_count):
            key, description = (cell.plain for cell in table.get_row_at(index))
            if key:
                out.append((key, description))
        return out

    @on(Input.Changed, "#filter")
    def _changed(self, event: Input.Changed) -> None:
        self._fill(filter_bindings(self._rows, event.value), event.value.strip())

    @on(Input.Submitted, "#filter")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#keys", DataTable).focus()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_scroll(self, step: int) -> None:
        table = self.query_one("#keys", DataTable)
        if step > 0:
            table.action_scroll_down()
        else:
            table.action_scroll_up()

    def action_edge(self, bottom: bool) -> None:
        table = self.query_one("#keys", DataTable)
        if bottom:
            table.action_scroll_bottom()
        else:
            table.action_scroll_top()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            box.value = ""
            box.display = False
            self._fill(self._rows, "")
            self.query_one("#keys", DataTable).focus()
            return
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)

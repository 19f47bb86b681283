"""The line above the queue: what is shown, and `/` to change it.

Closed, it is a status line (view, query, count, marks, pending bulk action).
Open, an `Input` takes a query in the filter language; `enter` parses it and
either posts `FilterBar.Applied` or shows the parse error under the input with
a caret at the culprit (the `QueryError` text, as plain `Text`); `esc` closes.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from inboxtui import query as q


class FilterBar(Vertical):
    DEFAULT_CSS = """
    FilterBar {
        height: auto;
        background: $boost;
    }
    FilterBar #filter-status {
        height: 1; padding: 0 1; color: $text-muted;
        text-wrap: nowrap; text-overflow: ellipsis;  /* a long status never wraps out of sight */
    }
    FilterBar #filter-input { display: none; border: none; height: 1; padding: 0 1; }
    FilterBar #filter-error { display: none; height: auto; padding: 0 1; color: $text-error; }
    FilterBar.-editing #filter-input { display: block; }
    FilterBar.-editing #filter-status { display: none; }
    FilterBar.-error #filter-error { display: block; }
    """

    class Applied(Message):
        """A query parsed cleanly: show its matches."""

        def __init__(self, query: q.Query) -> None:
            super().__init__()
            self.query = query

    class Closed(Message):
        """The input closed (applied or cancelled): focus goes back to the queue."""

    def compose(self) -> ComposeResult:
        yield Static(Text(""), id="filter-status")
        yield Input(
            placeholder="filter: is:open tag:refund 退款 sort:oldest  (enter applies, esc closes)",
            id="filter-input",
            select_on_focus=False,  # `/` refines the current query: the cursor goes to its end
        )
        yield Static(Text(""), id="filter-error")

    @property
    def is_open(self) -> bool:
        return self.has_class("-editing")

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    def open(self, text: str) -> None:
        self.add_class("-editing")
        self.input.value = text
        self.input.cursor_position = len(text)
        self.input.focus()

    def close(self) -> None:
        if self.is_open:
            self.remove_class("-editing", "-error")
            self.post_message(self.Closed())

    def set_status(self, text: Text) -> None:
        # One line, always: no layout pass for a status change (it happens on every key).
        self.query_one("#filter-status", Static).update(text, layout=False)

    def show_error(self, error: q.QueryError) -> None:
        self.query_one("#filter-error", Static).update(Text(str(error)))
        self.add_class("-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            parsed = q.parse(event.value.strip())
        except q.QueryError as error:
            self.show_error(error)
            return
        self.remove_class("-error")
        self.post_message(self.Applied(parsed))
        self.close()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.remove_class("-error")

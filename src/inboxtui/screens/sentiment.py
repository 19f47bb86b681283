"""Correct the sentiment label of a conversation's root mention: `1`-`3`, or arrows and enter."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from inboxtui.screens.picker import key_hint
from inboxtui.sentiment import LABELS


class SentimentModal(ModalScreen[str | None]):
    """-> "negative" | "neutral" | "positive", or None on escape.

    `current` is the root mention's label (the model's or an earlier
    correction); choosing it again still pins it against re-scoring.
    """

    CSS_PATH = "sentiment.tcss"
    AUTO_FOCUS = "#labels"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="sentiment.cancel"),
        *(
            Binding(str(key), f"choose({key - 1})", name.capitalize(), id=f"sentiment.{name}")
            for key, name in enumerate(LABELS, 1)
        ),
    ]

    def __init__(self, current: str | None, corrected: bool = False) -> None:
        super().__init__()
        self._current = current
        self._corrected = corrected

    def compose(self) -> ComposeResult:
        mark = "✓ set by an agent" if self._corrected else "✓ the model's"
        with Vertical(id="dialog"):
            yield Label(Text("Sentiment of the first post"), id="title")
            yield OptionList(
                *(
                    Option(
                        Text.assemble(
                            (str(key), "bold"),
                            f"  {name:<9}",
                            (mark if name == self._current else "", "dim"),
                        ),
                        id=name,
                    )
                    for key, name in enumerate(LABELS, 1)
                ),
                id="labels",
                markup=False,
            )
            yield Label(
                key_hint(("1-3", "set"), ("enter", "choose"), ("esc", "cancel")),
                id="hint",
            )

    def on_mount(self) -> None:
        if self._current in LABELS:
            self.query_one("#labels", OptionList).highlighted = LABELS.index(self._current)

    def action_choose(self, index: int) -> None:
        self.dismiss(LABELS[index])

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected, "#labels")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_choose(event.option_index)

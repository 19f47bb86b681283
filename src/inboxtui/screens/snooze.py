"""Snooze until a preset or a typed time; always returns aware UTC in the future.

Presets are in the agent's local time ("tomorrow 09:00" means their morning)
and are computed from wall-clock dates, so a daylight-saving change in between
still lands on 09:00. A typed date or time without an offset is local for the
same reason (the CLI's `--until` takes UTC; here a person is reading a clock);
durations (`3h`, `2d`) and times with an offset go through
`inboxtui.timeutil.parse_when`. A date alone means 09:00 that day. The
resolved time is previewed while typing so nothing is ambiguous.

Focus starts on the presets so `1`-`5` choose at once; `tab` reaches the
typed time (where digits are text).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from inboxtui.screens.picker import key_hint
from inboxtui.timeutil import parse_when, to_utc, utcnow

MORNING = time(9, 0)


def _local(value: datetime, tz: tzinfo | None) -> datetime:
    return value.astimezone(tz) if tz is not None else value.astimezone()


def _wall_clock(day: date, at: time, tz: tzinfo | None) -> datetime:
    """`day` at `at` local time, as aware UTC (DST-correct for that day)."""
    wall = datetime.combine(day, at)
    # A naive datetime's astimezone() asks the system for the offset on that date.
    return to_utc(wall.replace(tzinfo=tz) if tz is not None else wall.astimezone())


def snooze_presets(now: datetime, tz: tzinfo | None = None) -> list[tuple[str, datetime]]:
    """The five presets, (label, aware UTC), for keys 1-5. `tz` None = system local."""
    today = _local(now, tz).date()
    days_to_monday = (7 - today.weekday()) % 7 or 7
    return [
        ("in 1 hour", now + timedelta(hours=1)),
        ("in 3 hours", now + timedelta(hours=3)),
        ("tomorrow 09:00", _wall_clock(today + timedelta(days=1), MORNING, tz)),
        ("next Monday 09:00", _wall_clock(today + timedelta(days=days_to_monday), MORNING, tz)),
        ("in 1 week", now + timedelta(weeks=1)),
    ]


def parse_snooze(text: str, now: datetime, tz: tzinfo | None = None) -> datetime:
    """Typed text -> aware UTC strictly after `now`. Raises ValueError with a user message."""
    text = text.strip()
    if not text:
        raise ValueError("type a time: 3h, 2d, 2026-11-01 or 2026-11-01 14:30")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None:
        when = _wall_clock(day, MORNING, tz)
    else:
        try:
            naive = datetime.fromisoformat(text)
        except ValueError:
            naive = None
        if naive is not None and naive.tzinfo is None:
            when = _wall_clock(naive.date(), naive.time(), tz)
        else:
            when = parse_when(text, now=now, future=True)
    if when <= now:
        raise ValueError(f"{describe(when, tz)} is in the past")
    return when


def describe(when: datetime, tz: tzinfo | None = None) -> str:
    """`Mon 2 Nov 09:00` in local time."""
    local = _local(when, tz)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


class SnoozeModal(ModalScreen[datetime | None]):
    """-> the time to wake the conversation (aware UTC, in the future), or None."""

    CSS_PATH = "snooze.tcss"
    AUTO_FOCUS = "#presets"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="snooze.cancel"),
        *(
            Binding(str(key), f"preset({key - 1})", f"Preset {key}", id=f"snooze.preset_{key}")
            for key in range(1, 6)
        ),
    ]

    def __init__(self, now: datetime | None = None, *, tz: tzinfo | None = None) -> None:
        super().__init__()
        self._fixed_now = to_utc(now) if now is not None else None
        self._tz = tz
        self._presets = snooze_presets(self._now(), tz)

    def _now(self) -> datetime:
        return self._fixed_now or utcnow()

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text("Snooze until"), id="title")
            yield OptionList(
                *(
                    Option(
                        Text.assemble(
                            (str(key), "bold"),
                            f"  {label:<20}",
                            (describe(when, self._tz), "dim"),
                        ),
                        id=f"preset-{key - 1}",
                    )
                    for key, (label, when) in enumerate(self._presets, 1)
                ),
                id="presets",
                markup=False,
            )
            yield Label(Text("or a time (local)"), id="when-label")
            yield Input(placeholder="3h, 2d, 2026-11-01, 2026-11-01 14:30", id="when")
            yield Label(id="preview")
            yield Label(id="error")
            yield Label(
                key_hint(
                    ("1-5", "preset"),
                    ("tab", "type"),
                    ("enter", "snooze"),
                    ("esc", "cancel"),
                ),
                id="hint",
            )

    def on_mount(self) -> None:
        self._set("#preview", "")
        self._set("#error", "")

    def _set(self, selector: str, message: str) -> None:
        label = self.query_one(selector, Label)
        label.update(Text(message))
        label.display = bool(message)

    def action_preset(self, index: int) -> None:
        when = self._presets[index][1]
        if when <= self._now():  # only if the modal sat open for a long while
            self._set("#error", f"{describe(when, self._tz)} is in the past")
            return
        self.dismiss(when)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected, "#presets")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_preset(event.option_index)

    @on(Input.Changed, "#when")
    def _changed(self, event: Input.Changed) -> None:
        self._set("#error", "")
        try:
            when = parse_snooze(event.value, self._now(), self._tz)
        except ValueError:
            self._set("#preview", "")
        else:
            self._set("#preview", f"→ {describe(when, self._tz)}")

    @on(Input.Submitted, "#when")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            when = parse_snooze(event.value, self._now(), self._tz)
        except ValueError as error:
            self._set("#preview", "")
            self._set("#error", str(error))
            return
        self.dismiss(when)

"""Modal screens driven by the keyboard through a tiny host app.

Each test pushes one modal, presses keys as a person would, and checks what
the modal was dismissed with (or that it stayed open with an inline error).
What is on screen is read from the rendered lines, so a label that were
parsed as markup would show up wrong here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Label, OptionList, TextArea

from inboxtui.screens.confirm import ConfirmModal
from inboxtui.screens.escalate import EscalateModal
from inboxtui.screens.help import HelpScreen, filter_bindings
from inboxtui.screens.note import NoteModal
from inboxtui.screens.picker import AssignPicker, FuzzyPicker
from inboxtui.screens.priority import PriorityModal
from inboxtui.screens.snooze import SnoozeModal, parse_snooze, snooze_presets
from inboxtui.screens.tag import TagModal, tag_name_error

HOSTILE = "[bold]x"
ANSI = "\x1b[31mred\x1b[0m\x1b]52;c;aGk=\x07\u202e"


class Host(App[None]):
    """Pushes one modal at start and records every value it is dismissed with."""

    def __init__(self, modal: Screen) -> None:
        super().__init__()
        self.modal = modal
        self.results: list[object] = []

    def on_mount(self) -> None:
        self.push_screen(self.modal, self.results.append)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # What the inbox app does too: while a modal is open, ctrl+p belongs to it.
        return not (action == "command_palette" and isinstance(self.screen, ModalScreen))


@asynccontextmanager
async def hosted(modal: Screen, size: tuple[int, int] = (100, 34)) -> AsyncIterator[Host]:
    app = Host(modal)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.pilot = pilot  # type: ignore[attr-defined]
        yield app


async def outcome(modal: Screen, *keys: str) -> list[object]:
    """Press `keys` and return what the modal was dismissed with ([] = still open)."""
    async with hosted(modal) as app:
        await press(app, *keys)
        return app.results


async def press(app: Host, *keys: str) -> None:
    pilot: Pilot = app.pilot  # type: ignore[attr-defined]
    await pilot.press(*keys)
    await pilot.pause()


def screen_text(app: App) -> str:
    """The modal as rendered, one line per row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def error_text(app: App) -> str:
    error = app.screen.query_one("#error", Label)
    return str(error.content) if error.display else ""


def still_open(app: Host, kind: type[Screen]) -> bool:
    return isinstance(app.screen, kind) and app.results == []


# -- AssignPicker / FuzzyPicker --------------------------------------------------

ROLES = ["support", "sales", "press"]
AGENTS: list[tuple[str, str]] = [("alice", "Alice Smith"), ("bob", "Bob Jones"), ("wei", "营销 王")]


def picker() -> AssignPicker:
    return AssignPicker(ROLES, AGENTS)


async def test_assign_labels_list_roles_then_agents() -> None:
    async with hosted(picker()) as app:
        options = app.screen.query_one(OptionList)
        labels = [option.prompt.plain for option in options.options]
        assert labels == [
            "role  support",
            "role  sales",
            "role  press",
            "agent alice (Alice Smith)",
            "agent bob (Bob Jones)",
            "agent wei (营销 王)",
        ]


async def test_assign_typing_filters_and_enter_picks_agent() -> None:
    assert await outcome(picker(), *"ali", "enter") == [("agent", "alice")]


async def test_assign_typing_filters_and_enter_picks_role() -> None:
    assert await outcome(picker(), *"supp", "enter") == [("role", "support")]


async def test_assign_matches_display_name_and_traditional_chinese() -> None:
    assert await outcome(picker(), *"jones", "enter") == [("agent", "bob")]
    assert await outcome(picker(), *"營銷", "enter") == [("agent", "wei")]


async def test_assign_plain_handles_are_accepted() -> None:
    modal = AssignPicker(["support"], ["carol", "dan"])
    assert await outcome(modal, *"dan", "enter") == [("agent", "dan")]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["enter"], ("role", "support")),
        (["down", "enter"], ("role", "sales")),
        (["ctrl+n", "ctrl+n", "ctrl+n", "enter"], ("agent", "alice")),
        (["down", "down", "up", "enter"], ("role", "sales")),
        (["ctrl+n", "ctrl+n", "ctrl+p", "enter"], ("role", "sales")),
    ],
)
async def test_assign_arrow_and_emacs_keys_move(keys: list[str], expected: tuple) -> None:
    assert await outcome(picker(), *keys) == [expected]


async def test_assign_movement_follows_the_filtered_order() -> None:
    # "s": roles sales/support/press and agents with an s; moving down picks the second.
    async with hosted(picker()) as app:
        await press(app, "s")
        labels = [option.prompt.plain for option in app.screen.query_one(OptionList).options]
        await press(app, "down", "enter")
        second = labels[1].split()
        assert app.results == [(second[0], second[1])]


async def test_assign_escape_returns_none() -> None:
    assert await outcome(picker(), "escape") == [None]
    assert await outcome(picker(), *"ali", "escape") == [None]


async def test_assign_no_match_shows_error_and_stays_open() -> None:
    async with hosted(picker()) as app:
        await press(app, *"zzz", "enter")
        assert still_open(app, AssignPicker)
        assert "no match" in error_text(app)
        await press(app, "backspace", "backspace", "backspace")
        assert error_text(app) == ""


async def test_assign_empty_lists_say_so() -> None:
    async with hosted(AssignPicker([], [])) as app:
        assert "no roles or agents yet" in error_text(app)
        await press(app, "enter")
        assert still_open(app, AssignPicker)


async def test_assign_hostile_names_show_literally_and_return_raw() -> None:
    modal = AssignPicker([HOSTILE, "[/]"], [("[link=http://x]evil", "[red]Ev" + ANSI + "il")])
    async with hosted(modal) as app:
        text = screen_text(app)
        assert "role  [bold]x" in text
        assert "role  [/]" in text
        assert "agent [link=http://x]evil ([red]Evredil)" in text
        assert "\x1b" not in text and "\u202e" not in text
        await press(app, *"[link", "enter")
        assert app.results == [("agent", "[link=http://x]evil")]


async def test_fuzzy_picker_returns_the_value_not_the_label() -> None:
    items = [("t-refund", "Refund apology"), ("t-delay", "Shipping delay"), ("t-x", HOSTILE)]
    assert await outcome(FuzzyPicker("Templates", items), *"ship", "enter") == ["t-delay"]
    assert await outcome(FuzzyPicker("Templates", items), "down", "down", "enter") == ["t-x"]
    assert await outcome(FuzzyPicker("Templates", items), "escape") == [None]
    async with hosted(FuzzyPicker("Pick [b]one[/b]", items)) as app:
        text = screen_text(app)
        assert "Pick [b]one[/b]" in text
        assert "[bold]x" in text


# -- EscalateModal ---------------------------------------------------------------


async def test_escalate_digit_chooses_severity_and_enter_submits() -> None:
    for level in (1, 2, 3):
        result = await outcome(EscalateModal(), str(level), *"bad press", "enter")
        assert result == [(level, "bad press")]


async def test_escalate_defaults_to_current_severity() -> None:
    # enter on the severity list moves to the reason.
    assert await outcome(EscalateModal(3), "enter", *"still bad", "enter") == [(3, "still bad")]
    assert await outcome(EscalateModal(), "enter", *"hm", "enter") == [(1, "hm")]


async def test_escalate_shows_severity_words_and_current() -> None:
    async with hosted(EscalateModal(2)) as app:
        text = screen_text(app)
        for words in ("1  watch", "2  serious", "3  crisis", "now 2 serious"):
            assert words in text


async def test_escalate_digits_in_the_reason_are_text() -> None:
    result = await outcome(EscalateModal(), "3", *"12 posts", "enter")
    assert result == [(3, "12 posts")]


async def test_escalate_arrows_change_severity_from_the_reason() -> None:
    assert await outcome(EscalateModal(), "1", "down", "down", "x", "enter") == [(3, "x")]
    assert await outcome(EscalateModal(), "3", "up", "x", "enter") == [(2, "x")]
    assert await outcome(EscalateModal(), "down", "down", "down", "enter", "x", "enter") == [
        (3, "x")
    ]


async def test_escalate_reason_is_required() -> None:
    async with hosted(EscalateModal()) as app:
        await press(app, "2", "enter")
        assert still_open(app, EscalateModal)
        assert error_text(app) == "a reason is required"
        await press(app, "space", "space", "enter")
        assert still_open(app, EscalateModal)
        await press(app, *"ok", "enter")
        assert app.results == [(2, "ok")]


async def test_escalate_escape_returns_none() -> None:
    assert await outcome(EscalateModal(2), "escape") == [None]
    assert await outcome(EscalateModal(), "2", *"why", "escape") == [None]


# -- SnoozeModal -----------------------------------------------------------------

# A Tuesday, 13:00 in UTC+2.
NOW = datetime(2026, 11, 3, 11, 0, tzinfo=UTC)
PLUS2 = timezone(timedelta(hours=2))


def snooze() -> SnoozeModal:
    return SnoozeModal(NOW, tz=PLUS2)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("1", NOW + timedelta(hours=1)),
        ("2", NOW + timedelta(hours=3)),
        ("3", datetime(2026, 11, 4, 7, 0, tzinfo=UTC)),  # Wed 09:00 +02:00
        ("4", datetime(2026, 11, 9, 7, 0, tzinfo=UTC)),  # Mon 09:00 +02:00
        ("5", NOW + timedelta(weeks=1)),
    ],
)
async def test_snooze_presets_by_key(key: str, expected: datetime) -> None:
    result = await outcome(snooze(), key)
    assert result == [expected]
    assert result[0].tzinfo == UTC  # type: ignore[union-attr]


async def test_snooze_preset_by_arrows_and_enter() -> None:
    assert await outcome(snooze(), "down", "enter") == [NOW + timedelta(hours=3)]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("3h", NOW + timedelta(hours=3)),
        ("2d", NOW + timedelta(days=2)),
        ("2026-11-05 14:30", datetime(2026, 11, 5, 12, 30, tzinfo=UTC)),  # local
        ("2026-11-05", datetime(2026, 11, 5, 7, 0, tzinfo=UTC)),  # 09:00 local
        ("2026-11-05T14:30Z", datetime(2026, 11, 5, 14, 30, tzinfo=UTC)),
        ("2026-11-05T14:30+05:00", datetime(2026, 11, 5, 9, 30, tzinfo=UTC)),
    ],
)
async def test_snooze_typed_time(typed: str, expected: datetime) -> None:
    result = await outcome(snooze(), "tab", *typed, "enter")
    assert result == [expected]
    assert result[0].tzinfo == UTC  # type: ignore[union-attr]


async def test_snooze_preview_while_typing() -> None:
    async with hosted(snooze()) as app:
        await press(app, "tab", *"2026-11-05 14:30")
        assert "→ Thu 5 Nov 14:30" in screen_text(app)


async def test_snooze_unparseable_time_is_an_inline_error() -> None:
    async with hosted(snooze()) as app:
        await press(app, "tab", *"soon", "enter")
        assert still_open(app, SnoozeModal)
        assert error_text(app).startswith("not a time: 'soon'")
        await press(app, "tab", "enter")  # back on the presets, enter picks one
        assert app.results == [NOW + timedelta(hours=1)]


async def test_snooze_refuses_the_past() -> None:
    async with hosted(snooze()) as app:
        await press(app, "tab", *"2026-11-01", "enter")
        assert still_open(app, SnoozeModal)
        assert error_text(app) == "Sun 1 Nov 09:00 is in the past"
        await press(app, *["backspace"] * 10, "enter")
        assert still_open(app, SnoozeModal)
        assert "type a time" in error_text(app)


async def test_snooze_hostile_input_is_shown_literally() -> None:
    async with hosted(snooze()) as app:
        await press(app, "tab", *HOSTILE, "enter")
        assert "not a time: '[bold]x'" in screen_text(app)


async def test_snooze_escape_returns_none() -> None:
    assert await outcome(snooze(), "escape") == [None]
    assert await outcome(snooze(), "tab", *"3h", "escape") == [None]


async def test_snooze_without_now_is_in_the_future() -> None:
    result = await outcome(SnoozeModal(), "1")
    assert len(result) == 1 and result[0] > datetime.now(UTC)  # type: ignore[operator]


def test_next_monday_from_a_monday_is_a_week_later_and_from_sunday_tomorrow() -> None:
    monday = datetime(2026, 11, 9, 10, 0, tzinfo=UTC)
    assert snooze_presets(monday, UTC)[3][1] == datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    sunday = datetime(2026, 11, 8, 10, 0, tzinfo=UTC)
    assert snooze_presets(sunday, UTC)[3][1] == datetime(2026, 11, 9, 9, 0, tzinfo=UTC)


def test_presets_follow_local_dates_and_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # Saturday 28 March 2026, 23:30 in Berlin (UTC+1): "tomorrow" is Sunday 29 March,
    # the day clocks go forward, so 09:00 there is 07:00 UTC.
    now = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)
    labels_and_times = dict(snooze_presets(now, berlin))
    assert labels_and_times["tomorrow 09:00"] == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert labels_and_times["next Monday 09:00"] == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    # Just after midnight local time (still the previous day in UTC) "tomorrow" is local.
    now = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)  # Tue 3 Nov 00:30 in Berlin
    assert dict(snooze_presets(now, berlin))["tomorrow 09:00"].date() == date(2026, 11, 4)


def test_parse_snooze_errors_are_messages() -> None:
    with pytest.raises(ValueError, match="not a time"):
        parse_snooze("next week", NOW, UTC)
    with pytest.raises(ValueError, match="in the past"):
        parse_snooze("0h", NOW, UTC)


# -- PriorityModal ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"), [("1", "low"), ("2", "normal"), ("3", "high"), ("4", "urgent")]
)
async def test_priority_by_key(key: str, expected: str) -> None:
    assert await outcome(PriorityModal("normal"), key) == [expected]


async def test_priority_arrows_start_at_current() -> None:
    assert await outcome(PriorityModal("normal"), "down", "enter") == ["high"]
    assert await outcome(PriorityModal("urgent"), "up", "up", "enter") == ["normal"]
    assert await outcome(PriorityModal("low"), "enter") == ["low"]


async def test_priority_marks_current_and_escape_returns_none() -> None:
    async with hosted(PriorityModal("high")) as app:
        assert "3  high    ✓ current" in screen_text(app)
        await press(app, "escape")
        assert app.results == [None]


# -- TagModal --------------------------------------------------------------------

EXISTING = ["refund", "bug", "outage-2026", "營銷", HOSTILE]


def tags(current: list[str] | None = None) -> TagModal:
    return TagModal(EXISTING, current if current is not None else ["refund"])


async def test_tag_adds_existing_by_fuzzy_match() -> None:
    assert await outcome(tags([]), *"ref", "enter") == [("add", "refund")]
    assert await outcome(tags(), *"outage", "enter") == [("add", "outage-2026")]


async def test_tag_choosing_a_current_tag_removes_it() -> None:
    assert await outcome(tags(), *"refund", "enter") == [("remove", "refund")]
    # With nothing typed, tags on the conversation come first.
    assert await outcome(tags(["bug"]), "enter") == [("remove", "bug")]


async def test_tag_current_tags_are_checked() -> None:
    async with hosted(tags(["bug"])) as app:
        text = screen_text(app)
        assert "✓ bug" in text
        assert "✓ refund" not in text and "refund" in text


async def test_tag_new_name_is_added() -> None:
    assert await outcome(tags(), *"shipping", "enter") == [("add", "shipping")]
    assert await outcome(tags(), *"退款", "enter") == [("add", "退款")]


async def test_tag_new_name_is_never_the_default_over_a_match() -> None:
    # "bu" matches "bug" first; the new-tag row is last and reachable by arrows.
    assert await outcome(tags(), *"bu", "enter") == [("add", "bug")]
    assert await outcome(tags(), *"bu", "down", "enter") == [("add", "bu")]
    assert await outcome(tags(), *"bu", "ctrl+n", "ctrl+p", "enter") == [("add", "bug")]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("big deal", "tag names have no spaces: try 'big-deal'"),
        ("Urgent", "tag names are lowercase: try 'urgent'"),
        ("-x", "a tag name starts with a letter or digit"),
        ("a" * 41, "a tag name is at most 40 characters"),
    ],
)
async def test_tag_invalid_new_names_are_inline_errors(typed: str, message: str) -> None:
    async with hosted(TagModal([], [])) as app:
        # Typed a key at a time, except the bulk of a very long name.
        app.screen.query_one(Input).value = typed[:-2]
        await press(app, *typed[-2:], "enter")
        assert still_open(app, TagModal)
        assert error_text(app).startswith(message)
        # Editing clears the error.
        await press(app, "backspace")
        assert error_text(app) == ""


async def test_tag_enter_with_nothing_typed_and_no_tags() -> None:
    async with hosted(TagModal([], [])) as app:
        await press(app, "enter")
        assert still_open(app, TagModal)
        assert error_text(app) == "type a tag name"


async def test_tag_cjk_folding_finds_existing() -> None:
    assert await outcome(tags(), *"营销", "enter") == [("add", "營銷")]


async def test_tag_hostile_existing_name_is_literal_and_returned_raw() -> None:
    async with hosted(tags()) as app:
        assert "[bold]x" in screen_text(app)
        await press(app, *"[bold", "enter")
        assert app.results == [("add", HOSTILE)]


async def test_tag_escape_returns_none() -> None:
    assert await outcome(tags(), "escape") == [None]
    assert await outcome(tags(), *"bug", "escape") == [None]


def test_tag_name_rules() -> None:
    for good in ("refund", "bug-2026", "v1.2", "team/emea", "退款", "café", "a_b"):
        assert tag_name_error(good) is None, good
    for bad in ("", "a b", "A", "_x", ".x", "x!", "[bold]x", "x\ty"):
        assert tag_name_error(bad) is not None, bad


# -- NoteModal -------------------------------------------------------------------


async def test_note_enter_is_newline_and_ctrl_s_saves() -> None:
    result = await outcome(NoteModal(), *"called them", "enter", *"refund sent", "ctrl+s")
    assert result == ["called them\nrefund sent"]


async def test_note_trims_surrounding_blank_space() -> None:
    assert await outcome(NoteModal(), "enter", *"  ok ", "enter", "ctrl+s") == ["ok"]


async def test_note_empty_is_refused_inline() -> None:
    async with hosted(NoteModal()) as app:
        await press(app, "ctrl+s")
        assert still_open(app, NoteModal)
        assert error_text(app) == "the note is empty"
        await press(app, "space", "enter", "ctrl+s")
        assert still_open(app, NoteModal)
        await press(app, "x")
        assert error_text(app) == ""


async def test_note_escape_returns_none_even_with_text() -> None:
    assert await outcome(NoteModal(), *"draft", "escape") == [None]


async def test_note_text_is_kept_verbatim() -> None:
    async with hosted(NoteModal()) as app:
        await press(app, *HOSTILE)
        assert app.screen.query_one(TextArea).text == HOSTILE
        assert "[bold]x" in screen_text(app)
        await press(app, "ctrl+s")
        assert app.results == [HOSTILE]


# -- ConfirmModal ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"), [("y", True), ("enter", True), ("n", False), ("escape", False)]
)
async def test_confirm_keys(key: str, expected: bool) -> None:
    assert await outcome(ConfirmModal("Resolve 42 conversations?"), key) == [expected]


async def test_confirm_other_keys_do_nothing() -> None:
    async with hosted(ConfirmModal("Sure?")) as app:
        await press(app, "x", "tab", "space")
        assert still_open(app, ConfirmModal)
        await press(app, "enter")  # tab did not move focus onto "No"
        assert app.results == [True]


async def test_confirm_buttons_work_with_the_mouse() -> None:
    async with hosted(ConfirmModal("Sure?")) as app:
        await app.pilot.click("#no")  # type: ignore[attr-defined]
        await app.pilot.pause()  # type: ignore[attr-defined]
        assert app.results == [False]
    async with hosted(ConfirmModal("Sure?")) as app:
        await app.pilot.click("#yes")  # type: ignore[attr-defined]
        await app.pilot.pause()  # type: ignore[attr-defined]
        assert app.results == [True]


async def test_confirm_message_is_plain_text() -> None:
    async with hosted(ConfirmModal(f"Remove tag {HOSTILE} from 42? {ANSI}")) as app:
        text = screen_text(app)
        assert "Remove tag [bold]x from 42? red" in text
        assert "\x1b" not in text


# -- HelpScreen ------------------------------------------------------------------

KEYS = [
    ("j/k", "move down / up", "Queue"),
    ("g/G", "first / last", "Queue"),
    ("a", "assign to a role or agent", "Triage"),
    ("A", "unassign", "Triage"),
    ("e", "escalate", "Triage"),
    ("/", "filter [bold]x", "Search"),
    ("x", "营销 view", "Views"),
    *((f"f{n}", f"function {n}", "More") for n in range(1, 40)),
]


async def test_help_lists_keys_grouped_in_order() -> None:
    async with hosted(HelpScreen(KEYS)) as app:
        text = screen_text(app)
        assert text.index("Queue") < text.index("j/k") < text.index("Triage")
        assert text.index("Triage") < text.index("assign to a role or agent")
        assert "filter [bold]x" in text
        shown = app.screen.shown  # type: ignore[attr-defined]
        assert shown[:3] == [("j/k", "move down / up"), ("g/G", "first / last"), ("a", KEYS[2][1])]
        assert len(shown) == len(KEYS)


async def test_help_scrolls() -> None:
    async with hosted(HelpScreen(KEYS), size=(100, 24)) as app:
        table = app.screen.query_one(DataTable)
        assert "f39" not in screen_text(app)
        await press(app, "j", "j")
        assert table.scroll_y == 2
        await press(app, "k")
        assert table.scroll_y == 1
        await press(app, "down", "up", "up")
        assert table.scroll_y == 0
        await press(app, "G")
        assert "f39" in screen_text(app)
        await press(app, "g")
        assert table.scroll_y == 0
        await press(app, "pagedown")
        assert table.scroll_y > 2


@pytest.mark.parametrize("key", ["question_mark", "q", "escape"])
async def test_help_closes(key: str) -> None:
    assert await outcome(HelpScreen(KEYS), key) == [None]


async def test_help_filter() -> None:
    async with hosted(HelpScreen(KEYS, title="Queue keys")) as app:
        await press(app, "slash", *"assign")
        assert app.screen.shown == [("a", "assign to a role or agent"), ("A", "unassign")]  # type: ignore[attr-defined]
        # q and ? are text while filtering.
        await press(app, "q")
        assert still_open(app, HelpScreen)
        assert "no key matches 'assignq'" in screen_text(app)
        # escape leaves the filter first, then closes.
        await press(app, "escape")
        assert still_open(app, HelpScreen)
        assert len(app.screen.shown) == len(KEYS)  # type: ignore[attr-defined]
        await press(app, "escape")
        assert app.results == [None]


async def test_help_filter_enter_returns_to_the_table() -> None:
    async with hosted(HelpScreen(KEYS)) as app:
        await press(app, "slash", *"营銷", "enter")
        assert app.screen.shown == [("x", "营销 view")]  # type: ignore[attr-defined]
        assert not isinstance(app.focused, Input)
        await press(app, "q")
        assert app.results == [None]


def test_help_filter_words_all_match_folded() -> None:
    assert filter_bindings(KEYS, "TRIAGE esc") == [KEYS[4]]
    assert filter_bindings(KEYS, "") == KEYS

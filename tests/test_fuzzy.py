"""Fuzzy matching: what matches, and that the ranking puts the intended item first."""

from __future__ import annotations

import itertools
import random
import string

import pytest

from inboxtui.fuzzy import match, rank, score


def test_query_must_be_a_subsequence() -> None:
    assert score("ace", "alice") is not None
    assert score("eca", "alice") is None
    assert score("alicex", "alice") is None
    assert score("x", "") is None


def test_empty_query_matches_everything_equally() -> None:
    assert score("", "anything") == 0.0
    assert score("   ", "anything") == 0.0
    assert rank("", ["b", "a", "c"]) == ["b", "a", "c"]


def test_case_insensitive() -> None:
    assert score("ALI", "alice") == score("ali", "alice")
    assert score("ali", "ALICE") is not None


def test_word_start_beats_middle_of_word() -> None:
    assert score("al", "alice") > score("al", "hal")
    assert rank("ss", ["class", "support-sales"]) == ["support-sales", "class"]
    assert rank("as", ["gas", "alice smith"]) == ["alice smith", "gas"]


def test_contiguous_run_beats_scattered_letters() -> None:
    assert score("sup", "support") > score("sup", "sxuxpport")
    assert rank("port", ["pxoxrxtal", "support"]) == ["support", "pxoxrxtal"]
    # ...but initials of separate words are a strong match too (fzy's acronyms).
    assert score("prt", "pull-request-template") > score("prt", "sprint")


def test_exact_beats_prefix_and_shorter_beats_longer() -> None:
    assert rank("bug", ["bugs", "bug-report", "bug"]) == ["bug", "bugs", "bug-report"]
    assert score("Bug", "bug") > score("bug", "bugs")


def test_camel_case_and_separators_count_as_word_starts() -> None:
    assert score("fb", "FooBar") > score("fb", "foobar")
    assert score("fb", "foo/bar") > score("fb", "fxxb")
    assert score("fb", "foo_bar") > score("fb", "fxxb")


def test_cjk_and_traditional_simplified_fold_together() -> None:
    assert score("营销", "營銷團隊") is not None
    assert score("營銷", "营销团队") is not None
    assert rank("退款", ["客服", "退货", "申请退款"]) == ["申请退款"]
    # A word start in the middle of mixed text still earns its bonus.
    assert score("营销", "team 营销") > score("营销", "team营营销")


def test_accents_and_width_fold() -> None:
    assert score("cafe", "Café") is not None
    assert score("café", "CAFE") is not None
    assert score("alice", "ａｌｉｃｅ") is not None  # full-width Latin
    assert score("strasse", "Straße") is not None


def test_positions_point_into_the_original_string() -> None:
    found = match("ce", "Café")
    assert found is not None and found.positions == (0, 3)
    found = match("smith", "agent alice (Alice Smith)")
    assert found is not None
    assert found.positions == tuple(range(19, 24))
    found = match("营销", "團隊營銷")
    assert found is not None and found.positions == (2, 3)
    # ß folds to "ss": both letters map back to the one character.
    found = match("ss", "Straße")
    assert found is not None and found.positions == (4,)


def test_positions_prefer_the_best_placement() -> None:
    found = match("ali", "agent alice")
    assert found is not None and found.positions == (6, 7, 8)


def test_rank_uses_key_and_drops_non_matches() -> None:
    items = [("r", "role  support"), ("a", "agent sue (Sue Park)"), ("b", "agent bob")]
    assert rank("supp", items, key=lambda item: item[1]) == [items[0]]
    # Same prefix match: the shorter label (less left unmatched) comes first.
    assert rank("agent", items, key=lambda item: item[1]) == [items[2], items[1]]


def test_rank_is_stable_for_ties() -> None:
    names = ["bob-1", "bob-2", "bob-3", "alice", "bob-4"]
    assert rank("bob", names) == ["bob-1", "bob-2", "bob-3", "bob-4"]


def test_very_long_candidates_still_match_and_rank_last() -> None:
    long = "x" * 5000 + "needle"
    assert score("needle", long) is not None
    assert rank("needle", [long, "the needle"]) == ["the needle", long]


@pytest.mark.parametrize("seed", range(5))
def test_rank_properties_on_random_data(seed: int) -> None:
    """Whatever the input: only matches come back, best first, ties in input order."""
    generator = random.Random(seed)
    alphabet = string.ascii_letters + "-_ /."
    items = ["".join(generator.choices(alphabet, k=generator.randint(0, 20))) for _ in range(300)]
    for _ in range(20):
        query = "".join(generator.choices(string.ascii_lowercase, k=generator.randint(1, 3)))
        ranked = rank(query, items)
        expected = [item for item in items if score(query, item) is not None]
        assert sorted(ranked) == sorted(expected)
        scores = [score(query, item) for item in ranked]
        assert all(a >= b for a, b in itertools.pairwise(scores))
        for first, second in itertools.pairwise(ranked):
            if score(query, first) == score(query, second):
                assert items.index(first) <= items.index(second) or first == second
        # Every match is a real subsequence of the lowercased candidate.
        for item in ranked:
            found = match(query, item)
            assert found is not None
            assert "".join(item[p] for p in found.positions).lower() == query

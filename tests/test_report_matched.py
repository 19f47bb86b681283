"""A report filter's conversations collected once (`reports.matched`) are exactly the filter's.

Search words compile to `conversation.id IN (...)` sets; collecting takes the
sets' union / intersection directly, and must find what the condition finds.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from inboxtui import query as q
from inboxtui.db import Database
from inboxtui.models import Conversation
from inboxtui.reports import matched
from inboxtui.seed import seed_demo

QUERIES = [
    ("refund", True),
    ("refund OR 退款", True),
    ("refund battery", True),
    ("(refund OR 退款) battery", True),
    ("refund OR (battery x2)", True),
    ("refund is:open", False),
    ("refund OR is:open", False),
    ("-refund", False),
]


@pytest.fixture(scope="module")
def seeded(sqlite_template, tmp_path_factory) -> Database:  # type: ignore[no-untyped-def]
    import shutil

    from inboxtui.db import open_database

    path = tmp_path_factory.mktemp("matched") / "inbox.db"
    shutil.copy(sqlite_template, path)
    database = open_database(str(path))
    seed_demo(database, 1500, seed=11)
    return database


@pytest.mark.parametrize(("text", "as_sets"), QUERIES)
def test_collected_ids_are_the_filters(seeded: Database, text: str, as_sets: bool) -> None:
    condition = q.conversation_filter(q.parse(text), dialect="sqlite", me_id=None)
    assert (matched._id_sets(condition) is not None) is as_sets
    with seeded.read() as session:
        expected = set(
            session.connection().execute(select(Conversation.id).where(condition)).scalars()
        )
        listed = matched.collected(session, condition)
        assert listed is not None
        (ids,) = listed.compile().params.values()  # the one bound JSON array
        found = set(json.loads(ids))
    assert found == expected
    assert expected  # every query here matches something in the demo data

"""What the demo inbox needs besides mentions: templates, a team with SLAs, rules, topics.

Also each source's `account` (the brand's handle there), so replies greet the
customer rather than the brand's own earlier answer.

`inboxtui demo` calls `furnish` once, right after seeding, so that a newcomer's
first `r` finds canned replies in three languages, the sidebar has a Breaching
view, the routing rules and watched topics are there to read, and the demo's
storm is the incident of a watched topic (detection in the running app extends
it instead of opening a second one). Everything goes through the same services
a team would use, so the demo also shows what the files look like.

The person running the demo becomes a lead: permissions start once a team has a
lead, and the demo must not refuse its own user.
"""

from __future__ import annotations

import json
from importlib import resources

from sqlalchemy import select, update

from inboxtui.db import Database
from inboxtui.detection.topics import add_topic
from inboxtui.models import Incident, Source
from inboxtui.routing import parse_rules, save_rules
from inboxtui.seed import BRAND_ACCOUNTS
from inboxtui.team import import_team, parse_team
from inboxtui.templates import import_templates

ACTOR = "system:demo"
STORM_TOPIC = "x2-battery"  # the seed's incident (`seed._work_the_queue`) names this topic


TEAM = """
lead_role = "lead"

[[sla]]
name = "standard"
urgent = { first_response = "30m", resolution = "4h" }
high = { first_response = "1h", resolution = "8h" }
normal = { first_response = "4h", resolution = "2d" }
low = { first_response = "1d", resolution = "5d" }

[[role]]
name = "support"
description = "orders, refunds, bugs"
sla = "standard"

[[role]]
name = "community"
description = "first answers on social channels"
sla = "standard"

[[role]]
name = "lead"
description = "team lead: escalations and staffing"

[[agent]]
handle = {handle}
roles = ["lead", "support"]
"""

RULES = """
[[rule]]
name = "refunds to support"
when = 'refund OR 退款 OR "money back"'
then = { role = "support", priority = "high", tags = ["refund"] }

[[rule]]
name = "x2 battery to pr"
when = 'x2 battery OR 電池 OR 电池'
then = { role = "pr", priority = "urgent", tags = ["battery"] }
"""


def furnish(db: Database, user: str) -> None:
    """Templates, team and SLAs (with `user` as a lead), routing rules and watched topics."""
    templates = resources.files("inboxtui").joinpath("demo_templates.toml").read_text("utf-8")
    import_templates(db, templates, source="demo_templates.toml", actor=ACTOR)
    team = parse_team(TEAM.replace("{handle}", json.dumps(user)), "<demo team>")
    import_team(db, team, actor=ACTOR, source="<demo team>")
    save_rules(db, parse_rules(RULES, "<demo rules>"), actor=user, source="<demo rules>")
    storm = add_topic(db, STORM_TOPIC, "x2", actor=ACTOR)
    quiet = {"default": 1_000_000}  # product topics for share of voice, not alarms
    add_topic(db, "acme-watch", "watch", actor=ACTOR, influencer_reach=quiet)
    add_topic(db, "acme-buds", "buds", actor=ACTOR, influencer_reach=quiet)
    with db.write() as session:
        for source in session.execute(select(Source)).scalars():
            config = json.loads(source.config or "{}")
            if source.kind in BRAND_ACCOUNTS and "account" not in config:
                source.config = json.dumps({**config, "account": BRAND_ACCOUNTS[source.kind]})
        session.execute(
            update(Incident)
            .where(Incident.topic == STORM_TOPIC, Incident.topic_id.is_(None))
            .values(topic_id=storm.id)
        )
    from inboxtui.demo_people import furnish_people  # persons, tags, notes (author profiles)

    furnish_people(db)

"""How person names and person tags are normalised, shared by the services and the filter.

One definition, so `person:"Ada Lovelace"` in a query finds exactly the person
`inboxtui person rename` stored, and `author-tag:VIP` the tag `#` added.
"""

from __future__ import annotations

from inboxtui.text import sanitize

MAX_NAME = 80
MAX_TAG = 40
# the tags the UI offers first; any other one-word tag is allowed too
SUGGESTED_TAGS: tuple[str, ...] = ("advocate", "vip", "influencer", "detractor")


def clean_person_name(name: str) -> str:
    """The name as shown: control and spoofing characters removed, spaces collapsed."""
    return " ".join(sanitize(name or "").split())[:MAX_NAME]


def person_key(name: str) -> str:
    """The case-insensitive identity of a name (`person.name_key`)."""
    return clean_person_name(name).casefold()


def person_tag(name: str) -> str:
    """A person tag: trimmed, lower case, one word. Raises ValueError with a user message."""
    tag = sanitize(name or "").strip().lstrip("#").lower()
    if not tag:
        raise ValueError("a person tag needs a name (e.g. advocate, vip, detractor)")
    if any(ch.isspace() for ch in tag):
        raise ValueError(f"a person tag is one word: '{tag}'")
    if len(tag) > MAX_TAG:
        raise ValueError(f"a person tag has at most {MAX_TAG} characters")
    return tag


__all__ = [
    "MAX_NAME",
    "SUGGESTED_TAGS",
    "clean_person_name",
    "person_key",
    "person_tag",
]

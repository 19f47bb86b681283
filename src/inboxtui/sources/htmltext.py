"""HTML to plain text for feed entries and forum posts.

Feeds and forums hand us HTML (RSS descriptions, Atom content, Discourse
`cooked`). The inbox shows plain text, so tags go and paragraphs become line
breaks. This is not a sanitiser: control characters survive here and are
stripped once, at ingest. It must never raise, whatever the input.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements that start a new line (block level) and those that separate paragraphs.
_LINE_TAGS = frozenset(
    {"br", "div", "li", "tr", "dt", "dd", "figcaption", "caption", "section", "article"}
)
_PARAGRAPH_TAGS = frozenset(
    {"p", "blockquote", "pre", "ul", "ol", "dl", "table", "hr", "aside", "header", "footer"}
    | {f"h{level}" for level in range(1, 7)}
)
_SKIP_TAGS = frozenset({"script", "style", "template", "head", "noscript"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_TAG = re.compile(r"<[^>]*>")
_PRE_NEWLINE = "\ue000"  # private use: survives tidying, becomes \n again at the end


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "pre":
            self._pre += 1
            self.parts.append("\n\n")
        elif tag in _PARAGRAPH_TAGS:
            self.parts.append("\n\n")
        elif tag in _LINE_TAGS:
            self.parts.append("\n")
            if tag == "li":
                self.parts.append("- ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <img/>, <hr/>: same as an open tag, and no matching end tag will come
        if tag not in _SKIP_TAGS and tag != "pre":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
            self.parts.append("\n\n")
        elif tag in _PARAGRAPH_TAGS:
            self.parts.append("\n\n")
        elif tag in _LINE_TAGS and tag not in ("br", "li"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._pre:
            # keep the preformatted layout; U+E000 marks newlines that must survive tidying
            self.parts.append(data.replace("\n", _PRE_NEWLINE))
        else:
            self.parts.append(data.replace("\n", " "))


def html_to_text(markup: str | None) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, paragraphs kept."""
    if not markup:
        return ""
    try:
        parser = _TextExtractor()
        parser.feed(markup)
        parser.close()
        raw = "".join(parser.parts)
    except Exception:  # a hostile fragment must never stop a poll
        raw = _TAG.sub(" ", markup)
    lines = [_SPACES.sub(" ", line).strip() for line in raw.split("\n")]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return text.replace(_PRE_NEWLINE, "\n")

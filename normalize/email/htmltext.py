"""HTML bodies: readable text for the ticket, sanitized markup for display.

html2text renders the text (blockquotes become "> " lines, so the quote
splitter treats HTML replies like plain ones); nh3 (ammonia) sanitizes the
markup with its allow-list: no scripts, event handlers, `javascript:` URLs,
style attributes (CSS `url()` trackers) or `<meta>` refreshes survive.

Both libraries slow down badly on deeply nested markup (html5ever's scope
checks are quadratic in nesting; html2text indents each nested list or quote
level, so its output grows quadratically). `limit_nesting` drops the tags
that nest beyond a small depth before either sees the markup: linear, and
real mail never nests that deep.
"""

from __future__ import annotations

import html
import re

import html2text
import nh3

# Elements whose nesting html2text turns into indentation: kept shallow.
_INDENTING = frozenset({"ul", "ol", "blockquote", "dl", "menu", "dir"})
# Elements that close themselves or never hold content: no nesting to count.
_NOT_NESTING = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "tbody", "thead",
        "tfoot", "colgroup", "option", "optgroup", "rt", "rp",
    }
)  # fmt: skip
MAX_INDENT_DEPTH = 10
MAX_NESTING_DEPTH = 100
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]{0,30})\b[^<>]*>")


# A start tag of an indenting element, or more (any case, any ending): an upper bound on their number.
_INDENTING_START = re.compile(r"<(?:ul|ol|blockquote|dl|menu|dir)", re.IGNORECASE)


def limit_nesting(markup: str) -> str:
    """Remove start/end tags nested deeper than the limits; text is kept."""
    # A tag is dropped only at a depth reached after that many start tags (of
    # any element, or of indenting ones), and an end tag only after a start
    # tag was dropped: with fewer tags than that, nothing changes.
    if markup.count("<") <= MAX_NESTING_DEPTH and len(_INDENTING_START.findall(markup)) <= MAX_INDENT_DEPTH:
        return markup
    return _limit_nesting(markup)


def _limit_nesting(markup: str) -> str:
    depth = {"indent": 0, "all": 0}
    dropped: dict[str, int] = {}

    def _tag(match: re.Match[str]) -> str:
        closing, name = match.group(1), match.group(2).lower()
        if name in _NOT_NESTING:
            return match.group(0)
        kinds = ("indent", "all") if name in _INDENTING else ("all",)
        if closing:
            if dropped.get(name, 0) > 0:
                dropped[name] -= 1
                return ""
            for kind in kinds:
                depth[kind] = max(0, depth[kind] - 1)
            return match.group(0)
        too_deep = depth["all"] >= MAX_NESTING_DEPTH
        if too_deep or (name in _INDENTING and depth["indent"] >= MAX_INDENT_DEPTH):
            dropped[name] = dropped.get(name, 0) + 1
            return ""
        for kind in kinds:
            depth[kind] += 1
        return match.group(0)

    return _TAG.sub(_tag, markup)


def html_to_text(markup: str) -> str:
    """Readable plain text of an HTML body (links kept as `[text](url)`)."""
    converter = html2text.HTML2Text()
    converter.body_width = 0  # no hard wrapping: the helpdesk wraps
    converter.ignore_images = True
    converter.ignore_emphasis = True  # `**From:**` would hide quote headers
    converter.unicode_snob = True
    try:
        text = str(converter.handle(limit_nesting(markup)))
    except Exception:
        text = strip_tags(markup)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


def strip_tags(markup: str) -> str:
    """Fallback: every tag removed, entities decoded."""
    try:
        return html.unescape(nh3.clean(limit_nesting(markup), tags=set()))
    except Exception:
        return html.unescape(_TAG.sub(" ", markup))


def sanitize_html(markup: str) -> str:
    """The HTML safe to show an agent: nh3's default allow-list."""
    try:
        return nh3.clean(limit_nesting(markup))
    except Exception:
        return html.escape(strip_tags(markup))

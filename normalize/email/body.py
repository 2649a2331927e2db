"""The readable body of a message: text/plain preferred, HTML as a fallback.

Body leaves are taken in document order. Within one multipart/alternative
the text/plain branch is the text (unless it is empty, as some senders send
it) and the text/html branch is the HTML; without a text/plain branch the
HTML is rendered to text. Several body leaves outside alternatives (Apple
Mail's text, image, text) are joined. Decoded text is capped at
`max_text_chars` before any further work, so the rest stays linear.
"""

from __future__ import annotations

from dataclasses import dataclass

from normalize.email.charset import decode_text
from normalize.email.htmltext import html_to_text, sanitize_html
from normalize.email.parts import Leaf, MimeLayout, charset_of, payload_bytes
from normalize.sanitize import clean_body_text

TEXT_TRUNCATED = "TextTruncated"


@dataclass(frozen=True)
class Body:
    text: str  # the whole readable body
    html: str | None  # sanitized, when the message had HTML
    defects: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Piece:
    kind: str  # "plain" or "html"
    content: str


class _Budget:
    """Characters of decoded text still allowed; records when it ran out."""

    def __init__(self, max_chars: int) -> None:
        self.left = max_chars
        self.exhausted = False

    def take(self, text: str) -> str:
        if len(text) > self.left:
            text = text[: self.left]
            self.exhausted = True
        self.left -= len(text)
        return text


def extract_body(layout: MimeLayout, max_text_chars: int) -> Body:
    defects: list[str] = []
    budget = _Budget(max_text_chars)
    groups = _group_by_alternative([leaf for leaf in layout.leaves if leaf.is_body])
    texts: list[str] = []
    htmls: list[str] = []
    for group in groups:
        pieces = [_decode(leaf, budget, defects) for leaf in group]
        plain = [p.content for p in pieces if p.kind == "plain"]
        html = [sanitize_html(p.content) for p in pieces if p.kind == "html" and p.content.strip()]
        htmls.extend(html)
        if "".join(plain).strip() or not html:
            texts.extend(plain)
        else:  # rendered from the sanitized markup: no script text, no javascript: links
            texts.extend(html_to_text(markup) for markup in html)
    text = "\n\n".join(t.strip("\n") for t in texts if t.strip())
    if budget.exhausted or len(text) > max_text_chars:
        text = text[:max_text_chars]
        defects.append(TEXT_TRUNCATED)
    markup = "\n".join(htmls)
    if len(markup) > max_text_chars:  # cut, then sanitized again so no tag is left open
        markup = sanitize_html(markup[:max_text_chars])
        defects.append(TEXT_TRUNCATED)
    html_out = markup if markup.strip() else None
    return Body(text, html_out, tuple(defects))


def _group_by_alternative(leaves: list[Leaf]) -> list[list[Leaf]]:
    """Leaves of one alternative group together, at the group's first position."""
    groups: list[list[Leaf]] = []
    by_key: dict[int, list[Leaf]] = {}
    for leaf in leaves:
        if leaf.alternative is None:
            groups.append([leaf])
            continue
        key = leaf.alternative[0]
        if key not in by_key:
            by_key[key] = []
            groups.append(by_key[key])
        by_key[key].append(leaf)
    return [_prefer_first_plain_branch(group) for group in groups]


def _prefer_first_plain_branch(group: list[Leaf]) -> list[Leaf]:
    """One alternative's text comes from one branch: the first holding text/plain."""
    alternative = [leaf.alternative for leaf in group if leaf.alternative is not None]
    if len(group) < 2 or not alternative:
        return group
    plain_branches = [leaf.alternative[1] for leaf in group if leaf.alternative and leaf.content_type == "text/plain"]
    html_branches = [leaf.alternative[1] for leaf in group if leaf.alternative and leaf.content_type == "text/html"]
    keep = set(plain_branches[:1]) | set(html_branches[-1:])
    return [leaf for leaf in group if leaf.alternative is not None and leaf.alternative[1] in keep]


def _decode(leaf: Leaf, budget: _Budget, defects: list[str]) -> _Piece:
    decoded = decode_text(payload_bytes(leaf.part), charset_of(leaf.part))
    defects.extend(decoded.defects)
    content = budget.take(clean_body_text(decoded.text))
    return _Piece("html" if leaf.content_type == "text/html" else "plain", content)

"""The one text a classifier reads for a message, the same in training and in use.

Structured facts (the channel, the portal category the user picked) become
marker tokens appended to subject and body, so a plain text pipeline can weigh
them: the portal category is a strong hint, yet users misfile, so the model
learns how much to trust it instead of a rule obeying it.
"""

from __future__ import annotations

import functools
import re

from normalize.schema import MessageDraft
from router.text import nfc

_NON_WORD = re.compile(r"\W+")
MODEL_TEXT_CHARS = 4_000
"""How much of a message's text the model reads (the subject always whole). A request says what it
is about early; and scoring grows with the text: a 100 KB mail body would hold the intake writer
for a tenth of a second."""


def feature_text(subject: str, text: str, channel: str | None = None, portal_category: str | None = None) -> str:
    """The same in training and in use, so a model sees what it was trained on: the non-empty parts of
    subject, text and markers, one per line."""
    head, body = nfc(subject), nfc(text[:MODEL_TEXT_CHARS])
    words = f"{head}\n{body}" if head and body else head or body
    tail = _markers(channel, portal_category)
    return f"{words}\n{tail}" if words and tail else words or tail


def draft_features(draft: MessageDraft) -> str:
    # str(): an Enum member hashes in Python, and the marker cache hashes what it is given
    return feature_text(draft.subject, draft.text, str(draft.channel), draft.category_hint)


@functools.lru_cache(maxsize=1024)  # channels and portal categories: a few values, on every message
def _markers(channel: str | None, portal_category: str | None) -> str:
    """The marker line(s) of a message's structured facts, made once per combination."""
    parts = [marker("channel", channel) if channel else "",
             marker("portal_category", portal_category) if portal_category else ""]
    return "\n".join(part for part in parts if part)


def marker(name: str, value: str) -> str:
    """One word token such as `__portal_category__vpn_access` (word tokenizers keep underscores)."""
    slug = _NON_WORD.sub("_", nfc(value).casefold()).strip("_")
    return f"__{name}__{slug}"

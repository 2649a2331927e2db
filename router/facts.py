"""The facts about one message that rules test, computed once from the draft.

Conditions never look at the draft itself: every value is read and normalized
(NFC, casefolded, domains in IDNA form) here, so each condition is a plain
comparison and a draft field that moves only changes this module.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Generic, NamedTuple, TypeVar

from normalize.schema import MessageDraft, Requester
from router.text import fold, nfc, normalize_address, normalize_domain

IDENTITY_PREFIXES = ("email:", "phone:", "telegram:", "portal:")
RULE_TEXT_CHARS = 65_536
"""How much of a message's text `text` and `keywords` conditions search: ten patterns over a 1 MB
mail body cost tens of milliseconds on the event loop, for words a request states early."""
T = TypeVar("T")


class _computed_once(Generic[T]):
    """`functools.cached_property` without its lock (Python 3.11 takes one per first access, which
    costs more than most facts): the value lands in the instance's dict, read directly afterwards."""

    def __init__(self, compute: Callable[[Any], T]) -> None:
        self.compute = compute
        self.name = compute.__name__

    def __get__(self, instance: Any, owner: type | None = None) -> T:
        if instance is None:
            return self  # type: ignore[return-value]
        value = instance.__dict__[self.name] = self.compute(instance)
        return value



class MessageFacts:
    """Normalized facts, each computed on first use: a rule set reads only a few of them, and the
    others (sender identities, form fields) cost more than the comparisons that would use them.
    Tuples hold every value a condition may match."""

    def __init__(self, draft: MessageDraft, now: datetime) -> None:
        """Facts of `draft` as decided at `now` (a naive `now` is taken as UTC)."""
        self._draft = draft
        self.channel: str = str(draft.channel)  # StrEnums: str() is the value, without `.value`'s Python-level lookup
        self.transport: str = str(draft.transport)
        self.moment: datetime = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self._subject: tuple[str, str | None] | None = None
        self._searchable: tuple[str, str | None] | None = None

    @_computed_once
    def recipients(self) -> tuple[str, ...]:
        return _recipients(self._draft.extras.get("rcpt_tos"))

    @_computed_once
    def sender_ids(self) -> tuple[str, ...]:
        return _sender_ids(self._draft.requester)

    @_computed_once
    def sender_domains(self) -> tuple[str, ...]:
        email = self._draft.requester.email
        return _domain_and_parents(email.rpartition("@")[2] if email else "")

    @_computed_once
    def phone(self) -> str | None:
        phone = self._draft.requester.phone
        return normalize_phone(phone) if phone else None

    @_computed_once
    def portal_category(self) -> str | None:
        hint = self._draft.category_hint
        return fold(hint) if hint else None

    def field(self, folded_name: str) -> tuple[str, ...]:
        """One form field's values (`_field_values`), by its folded name; () when the form has no such field.
        Only the fields a rule names are folded: a form may carry a hundred that none does."""
        fields = self._draft.fields
        name = _folded_names(tuple(fields)).get(folded_name)
        return () if name is None else _field_values(fields[name])

    @_computed_once
    def attachment_types(self) -> tuple[str, ...]:
        return tuple(media_type(a.content_type) for a in self._draft.attachments)

    # The texts are methods, not computed attributes: a text condition reads them for every message, and a
    # Python call costs a fraction of a descriptor's (the interpreter calls it without re-entering itself).
    def subject(self) -> tuple[str, str | None]:
        """The subject (NFC) and its lowercase when all ASCII, else None: see `searchable`."""
        subject = self._subject
        if subject is None:
            subject = self._subject = _with_ascii_lower(nfc(self._draft.subject))
        return subject

    def searchable(self) -> tuple[str, str | None]:
        """Subject and text (NFC, the text's first `RULE_TEXT_CHARS`), and its lowercase when all ASCII, else
        None: there, matching without case is plain lowercasing, so conditions look for the words they need
        in it before running a pattern."""
        searchable = self._searchable
        if searchable is None:
            text = nfc(f"{self._draft.subject}\n{self._draft.text[:RULE_TEXT_CHARS]}")
            searchable = self._searchable = _with_ascii_lower(text)
        return searchable

    def lowered(self) -> str | None:
        """`searchable`'s lowercase, None when the text is not all ASCII."""
        searchable = self._searchable
        return (searchable if searchable is not None else self.searchable())[1]

    def lowered_subject(self) -> str | None:
        """`subject`'s lowercase, None when the subject is not all ASCII."""
        subject = self._subject
        return (subject if subject is not None else self.subject())[1]


class Fact(NamedTuple):
    """What a condition on a fact compares: `read` gives the normalized value, `source` what it is
    computed from (a part of the draft, or the time), hashable and cheap to read. Equal sources give equal
    values, so a verdict on one message holds for every message with the same source (`router.plan`).

    `source` is None for facts that differ from requester to requester (an address, a phone number) or
    may differ on every message (a free-text form field): judging every rule again for each new value
    would cost more than testing the one condition on each message."""

    read: Callable[[MessageFacts], Any]
    source: Callable[[MessageFacts], Hashable] | None


def _channels(facts: MessageFacts) -> tuple[str, ...]:
    return (facts.channel,)


def _transports(facts: MessageFacts) -> tuple[str, ...]:
    return (facts.transport,)


def _portal_categories(facts: MessageFacts) -> tuple[str, ...]:
    return (facts.portal_category,) if facts.portal_category else ()


def _recipient_source(facts: MessageFacts) -> tuple[str, ...] | None:
    raw = facts._draft.extras.get("rcpt_tos")
    return tuple(item for item in raw if isinstance(item, str)) if isinstance(raw, _SEQUENCES) else None


def _domain_source(facts: MessageFacts) -> str | None:
    email = facts._draft.requester.email
    return email.rpartition("@")[2] if email else None


def _content_types(facts: MessageFacts) -> tuple[str, ...]:
    attachments = facts._draft.attachments
    return tuple(map(_CONTENT_TYPE, attachments)) if attachments else ()


def _minute(facts: MessageFacts) -> tuple[Any, ...]:
    """The decision time to the minute, all that `hours` verdicts depend on (time zones' offsets are whole
    minutes): equal tuples are the same minute. Its fields, not `timestamp()`, which costs several times as
    much (an aware datetime's goes through a timedelta and Python integers)."""
    moment = facts.moment
    return moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.fold, moment.tzinfo


_CONTENT_TYPE = operator.attrgetter("content_type")
_SEQUENCES = (list, tuple)
"""For `isinstance` on every message: `list | tuple` would build a union object at each call."""
# Read by C-level getters where they can be: the sources are read for every message.
CHANNEL = Fact(_channels, operator.attrgetter("channel"))
TRANSPORT = Fact(_transports, operator.attrgetter("transport"))
RECIPIENTS = Fact(operator.attrgetter("recipients"), _recipient_source)
SENDER_IDS = Fact(operator.attrgetter("sender_ids"), None)
SENDER_DOMAINS = Fact(operator.attrgetter("sender_domains"), _domain_source)
PHONE = Fact(operator.attrgetter("phone"), None)
RAW_PHONE = operator.attrgetter("_draft.requester.phone")
"""The requester's phone number as given: when None or empty, `phone` is None."""
PORTAL_CATEGORY = Fact(_portal_categories, operator.attrgetter("_draft.category_hint"))
ATTACHMENT_TYPES = Fact(operator.attrgetter("attachment_types"), _content_types)
MOMENT = Fact(operator.attrgetter("moment"), _minute)


@functools.cache  # one per name in the configuration
def form_field(folded_name: str) -> Fact:
    """One portal form field's values, by its folded name."""

    def values(facts: MessageFacts) -> tuple[str, ...]:
        return facts.field(folded_name)

    return Fact(values, None)


def _with_ascii_lower(text: str) -> tuple[str, str | None]:
    return text, text.lower() if text.isascii() else None


def normalize_phone(number: str) -> str:
    """E.164 digits with the leading '+', separators dropped ("+36 1 234-5678" -> "+3612345678")."""
    return "".join(ch for ch in number if ch.isdigit() or ch == "+")


def normalize_sender(value: str) -> str:
    """The comparable form of a configured or observed sender identity."""
    folded = fold(value)
    prefix = next((p for p in IDENTITY_PREFIXES if folded.startswith(p)), "")
    bare = folded[len(prefix) :]
    if bare.startswith("+") or prefix == "phone:":
        bare = normalize_phone(bare)
    elif "@" in bare.lstrip("@"):
        bare = normalize_address(bare)
    return prefix + bare


def media_type(content_type: str) -> str:
    """`type/subtype` without parameters, casefolded ("Image/PNG; name=x" -> "image/png")."""
    return fold(content_type.partition(";")[0])


def _recipients(raw: Any) -> tuple[str, ...]:
    """Each envelope recipient, and its `@domain`, so both forms of a rule match by equality."""
    if not isinstance(raw, _SEQUENCES):
        return ()
    found: list[str] = []
    for item in raw:
        if isinstance(item, str) and "@" in item:
            address = normalize_address(item)
            found += [address, "@" + address.rpartition("@")[2]]
    return tuple(dict.fromkeys(found))


def _sender_ids(requester: Requester) -> tuple[str, ...]:
    """Every form in which a rule may name the sender: bare or as an identity key."""
    ids: list[str] = []
    if requester.email:
        ids.append(normalize_sender(requester.email))
    if requester.phone:
        ids.append(normalize_phone(requester.phone))
    if requester.telegram_id is not None:
        ids.append(str(requester.telegram_id))
    if requester.telegram_username:
        username = fold(requester.telegram_username).lstrip("@")
        ids += [username, "@" + username, "telegram:" + username, "telegram:@" + username]
    ids += [normalize_sender(key) for key in requester.identity_keys()]
    return tuple(dict.fromkeys(ids))


@functools.lru_cache(maxsize=4096)  # a portal's forms repeat their field names
def _folded_names(names: tuple[str, ...]) -> Mapping[str, str]:
    """Form field names as compared (folded), to each as written."""
    return MappingProxyType({fold(name): name for name in names})


@functools.lru_cache(maxsize=4096)  # a desk hears from the same domains over and over
def _domain_and_parents(domain: str) -> tuple[str, ...]:
    """The domain and each parent (mail.example.org, example.org, org): a rule may name any of them."""
    if not domain:
        return ()
    labels = normalize_domain(domain).split(".")
    return tuple(".".join(labels[i:]) for i in range(len(labels)) if labels[i])


def _field_values(value: Any) -> tuple[str, ...]:
    """A form field's value(s) as folded strings; lists give one value per item."""
    items: Iterable[Any] = value if isinstance(value, _SEQUENCES) else (value,)
    return tuple(scalar_text(item) for item in items if isinstance(item, str | int | float | bool))


def scalar_text(value: str | int | float | bool) -> str:
    """A scalar as compared: booleans as JSON spells them, everything folded."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return fold(str(value))

"""Acknowledgement mail: whether to send one, and what it says, per language.

RFC 3834 is the guide: never answer mail that is itself automatic
(`Auto-Submitted` other than `no`, a known auto-reply header), a bounce
(null return path, `multipart/report`), bulk or list mail (`Precedence`,
`List-*`), mail that asks not to be answered (`X-Auto-Response-Suppress`),
or the gateway's own mail (its loop header, its Message-ID domain, its From
address). The acknowledgement itself says what it is (`Auto-Submitted:
auto-replied`, `X-Auto-Response-Suppress: All`), threads under the user's
mail (`In-Reply-To`, `References`) and carries the ticket reference in the
subject the way `[email] ticket_ref_format` writes it, so a reply finds its
ticket. Every header value is one cleaned line (see `destinations.mail`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses

from router.destinations.mail import clean_header

LOOP_HEADER = "X-Gateway-Loop"
LIST_HEADERS = ("list-id", "list-post", "list-unsubscribe", "list-help", "list-owner")
AUTO_REPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-auto-response")
QUIET_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply"})
SUPPRESS_VALUES = frozenset({"all", "autoreply", "oof"})


@dataclass(frozen=True, slots=True)
class Template:
    subject: str  # "{tag} ..." with {subject}
    greeting: str  # with {name}
    greeting_anonymous: str
    body: str  # with {ref} and {tag}


TEMPLATES: dict[str, Template] = {
    "en": Template(
        subject="{tag} Received: {subject}",
        greeting="Hello {name},",
        greeting_anonymous="Hello,",
        body=(
            "Thank you for contacting us. We have received your request and recorded it as {ref}.\n\n"
            "To add anything, reply to this message and keep {tag} in the subject.\n\n"
            "This is an automatic message."
        ),
    ),
    "hu": Template(
        subject="{tag} Beérkezett: {subject}",
        greeting="Kedves {name}!",
        greeting_anonymous="Kedves Ügyfelünk!",
        body=(
            "Köszönjük, hogy felvette velünk a kapcsolatot. Kérését megkaptuk, a hivatkozási száma {ref}.\n\n"
            "Ha valamit hozzáfűzne, válaszoljon erre az üzenetre, és hagyja a tárgyban ezt: {tag}.\n\n"
            "Ez egy automatikus üzenet."
        ),
    ),
    "id": Template(
        subject="{tag} Diterima: {subject}",
        greeting="Halo {name},",
        greeting_anonymous="Halo,",
        body=(
            "Terima kasih telah menghubungi kami. Permintaan Anda sudah kami terima dengan nomor referensi {ref}.\n\n"
            "Untuk menambahkan sesuatu, balas pesan ini dan biarkan {tag} tetap ada di subjek.\n\n"
            "Ini adalah pesan otomatis."
        ),
    ),
}


@dataclass(frozen=True, slots=True)
class Ack:
    """One acknowledgement, everything decided; `compose_ack` renders it."""

    to: str
    sender: Address
    ticket_ref: str
    ref_format: str
    subject: str
    name: str | None
    language: str
    message_id: str  # ours, without angle brackets
    in_reply_to: str | None  # the user's Message-ID, without angle brackets
    own_domain: str
    sent_at: datetime


def choose_language(candidates: list[str | None], default: str) -> str:
    """The first candidate (a language tag such as `hu-HU`) we have a template for, else `default`."""
    for tag in candidates:
        if tag:
            base = tag.strip().split(",")[0].split(";")[0].split("-")[0].split("_")[0].lower()
            if base in TEMPLATES:
                return base
    return default if default in TEMPLATES else "en"


def compose_ack(ack: Ack) -> EmailMessage:
    template = TEMPLATES[ack.language]
    tag = ack.ref_format.format(ref=ack.ticket_ref)
    name = clean_header(ack.name or "", 128)
    subject = clean_header(template.subject.format(tag=tag, subject=clean_header(ack.subject, 400)))
    greeting = template.greeting.format(name=name) if name else template.greeting_anonymous
    mail = EmailMessage()
    mail["From"] = ack.sender
    mail["To"] = ack.to
    mail["Subject"] = subject
    mail["Date"] = format_datetime(ack.sent_at)
    mail["Message-ID"] = f"<{ack.message_id}>"
    if ack.in_reply_to:
        mail["In-Reply-To"] = f"<{clean_header(ack.in_reply_to)}>"
        mail["References"] = f"<{clean_header(ack.in_reply_to)}>"
    mail["Auto-Submitted"] = "auto-replied"
    mail["X-Auto-Response-Suppress"] = "All"
    mail[LOOP_HEADER] = clean_header(ack.own_domain)
    mail["X-Gateway-Ticket"] = clean_header(ack.ticket_ref)
    mail.set_content(f"{greeting}\n\n{template.body.format(ref=ack.ticket_ref, tag=tag)}\n")
    mail["Content-Language"] = ack.language  # after set_content, which clears Content-* headers
    return mail


def refusal(headers: Message, *, own_domain: str, own_addresses: frozenset[str]) -> str | None:
    """Why this mail must not be acknowledged, or None when it may be."""
    auto = str(headers.get("auto-submitted") or "").strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"it is automatic mail (Auto-Submitted: {clean_header(auto, 60)})"
    for name in AUTO_REPLY_HEADERS:
        if headers.get(name) is not None:
            return f"it is an automatic reply ({name})"
    precedence = str(headers.get("precedence") or "").strip().lower()
    if precedence in QUIET_PRECEDENCE:
        return f"it is bulk or list mail (Precedence: {precedence})"
    for name in LIST_HEADERS:
        if headers.get(name) is not None:
            return f"it is mailing-list mail ({name})"
    suppress = {v.strip().lower() for v in str(headers.get("x-auto-response-suppress") or "").split(",")}
    if suppress & SUPPRESS_VALUES:
        return "it asks not to be answered (X-Auto-Response-Suppress)"
    if str(headers.get("return-path") or "").strip() == "<>":
        return "it has a null return path (a bounce)"
    if headers.get_content_type() == "multipart/report":
        return "it is a delivery or read report"
    if headers.get(LOOP_HEADER) is not None:
        return "it is the gateway's own mail"
    mid = str(headers.get("message-id") or "").strip().strip("<>").lower()
    if own_domain and mid.endswith("@" + own_domain.lower()):
        return "it is the gateway's own mail (its Message-ID domain)"
    senders = {address.lower() for _, address in getaddresses([str(v) for v in headers.get_all("from") or []])}
    if senders & own_addresses:
        return "it is from the gateway's own address"
    return None

"""`normalize_email` against a bare stdlib parse-and-extract of the same messages, same run.

Run by hand (not in CI):  .venv/bin/python bench/normalize_bench.py [--rounds 7] [--per-kind 50]

Four kinds of generated ~5 KB mail, each with its own Message-ID: plain text,
multipart/alternative (text and HTML), text with a small PDF attachment, and a
reply with quoted history (Outlook-style header block plus `>` lines). The
bare baseline is what any consumer of the standard library must do at least:
`email.message_from_bytes(raw, policy=email.policy.default)`, the body from
`get_body(('plain', 'html')).get_content()`, and every part of
`iter_attachments()` read with `get_content()`. Rounds alternate bare and
normalize over the whole set; the median round is printed per kind and
overall, in microseconds per message, with the ratio (target: within 2x).
The rounds reuse the same messages, so parsed header values are reused from
the second round on (as a desk's recurring Content-Type values are); a last
line measures the four kinds again with every From, To and Subject unique
and each message new in each round, as real traffic is.

Then the off-loop check: a ~1.5 MB message goes through the gateway's own
`IntakeService._normalize` on a running event loop while a heartbeat task
ticks every millisecond; the normalizer records which thread ran it, and the
longest heartbeat gap is compared with the time the same normalization takes
when run inline (which is how long it would have blocked the loop).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email
import email.policy
import os
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from types import SimpleNamespace

from gateway.config import EmailConfig
from gateway.email_wiring import EmailNormalizer
from gateway.intake import OFF_LOOP_BYTES, IntakeService, _Pending
from normalize.email import normalize_email
from normalize.raw import RawInbound
from normalize.schema import Transport

WHEN = datetime(2024, 6, 4, 9, 12, 30, tzinfo=UTC)
PARAGRAPH = (
    "Since this morning the VPN client on my laptop disconnects every few minutes. I have "
    "restarted the laptop and reinstalled the client, but the problem stays. The log shows "
    "'TLS handshake timeout' before each drop; colleagues on the same floor have the same issue.\n\n"
)


def _base(n: int, kind: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Received"] = ("from mail.example.net (mail.example.net [192.0.2.10]) by mx.example.org "
                       f"with ESMTPS id 4Xy7Q0{n:04d}; Tue, 4 Jun 2024 09:12:33 +0200")
    msg["From"] = "Anna Kovács <anna.kovacs@example.net>"
    msg["To"] = "Support <support@example.org>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(WHEN)
    msg["Message-ID"] = f"<{kind}-{n}@example.net>"
    msg["User-Agent"] = "Mozilla/5.0 Thunderbird/115.11.0"
    return msg


def _size(text: str, target: int) -> str:
    while len(text) < target:
        text += PARAGRAPH
    return text


def plain(n: int) -> EmailMessage:
    msg = _base(n, "plain", "VPN keeps disconnecting")
    msg.set_content(_size("Hello,\n\n", 4300) + "Best regards,\nAnna Kovács\n")
    return msg


def alternative(n: int) -> EmailMessage:
    msg = _base(n, "alt", "Printer on floor 3: error E-502")
    text = _size("Hello,\n\n", 1700) + "Thanks,\nAnna\n"
    msg.set_content(text)
    html = "".join(f"<p>{p}</p>" for p in text.split("\n\n") if p)
    msg.add_alternative(f"<html><body><div style=\"font-family:Calibri\">{html}</div></body></html>", subtype="html")
    return msg


def attachment(n: int) -> EmailMessage:
    msg = _base(n, "att", "Invoice 2024-0611 does not match the order")
    msg.set_content(_size("Hello,\n\nplease find the invoice attached.\n\n", 1200) + "Anna\n")
    pdf = b"%PDF-1.4\n" + bytes((i * 37 + n) % 256 for i in range(2400)) + b"\n%%EOF\n"
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"invoice-{n}.pdf")
    return msg


def reply(n: int) -> EmailMessage:
    msg = _base(n, "reply", "RE: [#T-1042] VPN keeps disconnecting")
    msg["In-Reply-To"] = "<ack-1042@gateway.invalid>"
    msg["References"] = "<vpn-1@example.net> <ack-1042@gateway.invalid>"
    quoted = "\n".join("> " + line for line in _size("", 2600).splitlines())
    msg.set_content(
        "Hi,\n\nit happened again just now, at 10:41. I attach nothing new; the log is the same.\n\n"
        "Anna\n\n-- \nAnna Kovács | Finance | +36 1 555 0100\n\n"
        "From: Support <support@example.org>\nSent: Tuesday, June 4, 2024 9:20 AM\n"
        "To: Anna Kovács <anna.kovacs@example.net>\nSubject: [#T-1042] VPN keeps disconnecting\n\n"
        + _size("Dear Anna,\n\nthank you for your report; we are looking into it.\n\n", 800) + "\n"
        + "On Tue, 4 Jun 2024 at 09:12, Anna Kovács <anna.kovacs@example.net> wrote:\n" + quoted + "\n"
    )
    return msg


KINDS: dict[str, Callable[[int], EmailMessage]] = {
    "plain": plain, "alternative": alternative, "attachment": attachment, "reply": reply,
}


def corpus(per_kind: int) -> dict[str, list[bytes]]:
    return {kind: [make(i).as_bytes(policy=email.policy.SMTP) for i in range(per_kind)]
            for kind, make in KINDS.items()}


def unique_headers(msg: EmailMessage, n: int) -> EmailMessage:
    """Every sender, recipient and subject different, as in a real intake (no parsed header is reused);
    half the names ASCII, half not (RFC 2047 encoded)."""
    name = f"Péter Nagy-Kovács {n}" if n % 2 else f"Peter Nagy {n}"
    msg.replace_header("From", f"{name} <peter.nagy{n}@dept{n % 13}.example.net>")
    msg.replace_header("To", f"Support {n % 5} <support{n % 5}@example.org>, helpdesk{n}@example.org")
    msg.replace_header("Subject", f"{msg['Subject']} (case {n})")
    return msg


def unique_corpus(per_kind: int, first: int) -> dict[str, list[bytes]]:
    numbers = {kind: range(first + k * per_kind, first + (k + 1) * per_kind) for k, kind in enumerate(KINDS)}
    return {kind: [unique_headers(make(n), n).as_bytes(policy=email.policy.SMTP) for n in numbers[kind]]
            for kind, make in KINDS.items()}


def bare(raw: bytes) -> None:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = msg.get_body(("plain", "html"))  # type: ignore[attr-defined]
    if body is not None:
        body.get_content()
    for part in msg.iter_attachments():  # type: ignore[attr-defined]
        part.get_content()


def ours(raw: bytes) -> None:
    normalize_email(raw, transport=Transport.SMTP, received_at=WHEN, mail_from="anna.kovacs@example.net",
                    rcpt_tos=("support@example.org",))


def per_message_us(fn: Callable[[bytes], None], messages: list[bytes]) -> float:
    start = time.perf_counter()
    for raw in messages:
        fn(raw)
    return (time.perf_counter() - start) / len(messages) * 1e6


def run_compare(rounds: int, per_kind: int) -> None:
    messages = corpus(per_kind)
    sizes = {k: statistics.mean(len(m) for m in v) for k, v in messages.items()}
    for v in messages.values():  # warm-up (imports, regex compilation, caches)
        for raw in v[:5]:
            bare(raw)
            ours(raw)
    timings: dict[str, dict[str, list[float]]] = {k: {"bare": [], "ours": []} for k in messages}
    for _ in range(rounds):
        for kind, batch in messages.items():
            timings[kind]["bare"].append(per_message_us(bare, batch))
            timings[kind]["ours"].append(per_message_us(ours, batch))
    print(f"normalize_email vs bare parse-and-extract, {per_kind} messages per kind, "
          f"{rounds} alternating rounds, median, us/message")
    total_bare = total_ours = 0.0
    for kind, t in timings.items():
        b, o = statistics.median(t["bare"]), statistics.median(t["ours"])
        total_bare += b
        total_ours += o
        print(f"  {kind:12s} {sizes[kind]:6.0f} B   bare {b:7.0f} us   normalize_email {o:7.0f} us   "
              f"ratio {o / b:4.2f}x")
    n = len(timings)
    print(f"  {'all kinds':12s} {'':8s}   bare {total_bare / n:7.0f} us   normalize_email {total_ours / n:7.0f} us   "
          f"ratio {total_ours / total_bare:4.2f}x  (target: within 2x)")
    # The same kinds with every From, To and Subject different and each message seen once (a new boundary, new
    # names): nothing parsed before is reused, as with real traffic, where the rounds above reuse headers.
    fresh = {"bare": [], "ours": []}
    for r in range(rounds):
        for who, fn in (("bare", bare), ("ours", ours)):
            batch = [raw for v in unique_corpus(per_kind, (2 * r + (who == "ours")) * 10_000 + 100_000).values()
                     for raw in v]
            fresh[who].append(per_message_us(fn, batch))
    b, o = statistics.median(fresh["bare"]), statistics.median(fresh["ours"])
    print(f"  {'unique hdrs':12s} {'':8s}   bare {b:7.0f} us   normalize_email {o:7.0f} us   ratio {o / b:4.2f}x  "
          "(every message new: its own names, subject, boundary)")


def big_message() -> bytes:
    msg = _base(0, "big", "Scanned contract, 1.5 MB")
    msg.set_content("Hello,\n\nthe scanned contract is attached.\n\nAnna\n")
    msg.add_attachment(os.urandom(1_100_000), maintype="application", subtype="pdf", filename="contract.pdf")
    msg.add_attachment(base64.b64encode(os.urandom(30_000)).decode(), subtype="plain", filename="notes.txt")
    return msg.as_bytes(policy=email.policy.SMTP)


async def off_loop_check() -> None:
    raw_bytes = big_message()
    assert len(raw_bytes) > OFF_LOOP_BYTES
    threads: list[str] = []
    normalizer = EmailNormalizer(EmailConfig())

    def normalize(raw: RawInbound) -> object:
        threads.append(threading.current_thread().name)
        return normalizer(raw)

    raw = RawInbound(channel="email", transport="smtp", external_id="big-0@example.net", received_at=WHEN,
                     payload=raw_bytes,
                     meta={"mail_from": "anna.kovacs@example.net", "rcpt_tos": ["support@example.org"]})
    inline_start = time.perf_counter()
    normalizer(raw)
    inline_ms = (time.perf_counter() - inline_start) * 1000

    gaps: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.01)
    fake_service = SimpleNamespace(_processor=SimpleNamespace(normalize=normalize))
    item = _Pending(raw=raw, future=asyncio.get_running_loop().create_future())
    start = time.perf_counter()
    await IntakeService._normalize(fake_service, item)  # type: ignore[arg-type]
    took_ms = (time.perf_counter() - start) * 1000
    done.set()
    await beat
    assert item.draft is not None and item.error is None
    print(f"off-loop check: a {len(raw_bytes) / 1e6:.2f} MB message (limit {OFF_LOOP_BYTES / 1e6:.2f} MB) "
          f"through IntakeService._normalize")
    print(f"  normalized in thread {threads[0]!r} (the loop runs in {threading.main_thread().name!r}); "
          f"{took_ms:.0f} ms there, {inline_ms:.0f} ms inline")
    print(f"  heartbeat every 1 ms meanwhile: {len(gaps)} ticks, longest gap {max(gaps) * 1000:.1f} ms "
          f"(inline would have blocked the loop for ~{inline_ms:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-kind", type=int, default=50)
    args = parser.parse_args()
    run_compare(args.rounds, args.per_kind)
    asyncio.run(off_loop_check())


if __name__ == "__main__":
    main()

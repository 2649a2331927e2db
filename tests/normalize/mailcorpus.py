"""A wide, reproducible corpus of mail for comparing normalizer outputs, and their canonical form.

`generated(count, seed)` builds varied raw messages from a seeded RNG (the same
bytes on every run and machine): header values in the shapes real mail has and
the odd ones (encoded words in several charsets, quoted and commented names,
groups, lists, raw 8-bit bytes, folding, RFC 2231 parameters, bogus types and
encodings), single parts, alternatives, attachments, nested and forwarded
messages, delivery reports, auto-reply and threading headers.

`corpus()` is every message the comparisons run on: the fixtures, CPython's own
email test data where this Python ships it, the benchmark's four kinds and the
generated ones. `canonical(raw)` is the normalizer's whole result for one
message as JSON text (the draft's stored form, each attachment's content
digest), or the NormalizeError it raised.

Run as a script to write the digests of the current code's results
(`python -m tests.normalize.mailcorpus --write`): the file
`fixtures/normalized_digests.json` holds them for the code before the fast
paths, and `test_email_fast_paths.py` checks that nothing changed since.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import json
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from normalize.email import normalize_email
from normalize.errors import NormalizeError
from normalize.schema import Transport

HERE = Path(__file__).parent
FIXTURES = sorted((HERE / "fixtures" / "email").glob("*.eml"))
DIGESTS = HERE / "fixtures" / "normalized_digests.json"
RECEIVED = datetime(2024, 6, 4, 9, 0, tzinfo=UTC)
SEED = 20241122
GENERATED = 400

_WORDS = ["VPN", "printer", "invoice", "Rechnung", "számla", "tagihan", "счёт", "hello", "urgent!", "a", "ÁRVÍZTŰRŐ",
          "naïve", "日本語", "x" * 80, "(note)", '"quoted"', "semi;colon", "comma,", "a\\b", "tab\there", "=?", "?="]
_NAMES = ["Anna Kovacs", "Anna Kovács", "Jörg Müller", "O'Brien, Pat", "Ivan Иванов", "Budi", "J. R. R. Tolkien",
          "support@example.org", "Dr. No", "", "  spaced   out  ", "Name (with comment)", "a\u202eb"]
_LOCALS = ["anna.kovacs", "j", "first.last+tag", "UPPER", "under_score", "o'brien", '"john doe"', '"a@b"', "a..b",
           ".dot", "x" * 70]
_DOMAINS = ["example.org", "Example.NET", "sub.mail.example.co.uk", "[192.0.2.1]", "localhost", "xn--bcher-kva.example",
            "bücher.example", "exa mple.org"]
_CHARSETS = ["utf-8", "UTF-8", "iso-8859-1", "iso-8859-2", "windows-1252", "koi8-r", "shift_jis", "us-ascii",
             "utf8", "bogus-charset", "", "utf-16"]
_CTES = ["7bit", "8bit", "base64", "quoted-printable", "Base64", "binary", "x-uuencode", "bogus", ""]
_BODY_LINES = [
    "Hello,", "", "the VPN drops every few minutes since this morning.", "Köszönöm szépen!", "Спасибо.",
    "> quoted line", "On Tue, 4 Jun 2024 at 09:12, Anna <anna@example.org> wrote:", "-- ", "Anna",
    "Sent from my iPhone", "-----Original Message-----", "From: Support <support@example.org>",
    "Sent: Tuesday, June 4, 2024 9:20 AM", "Am 04.06.2024 um 09:12 schrieb Anna:", "\tindented\ttext",
    "trailing spaces   ", "x" * 200, "=3D not qp", "a\x00b\x07c", "line with CR\r inside",
]


def _pick(rng: random.Random, items: list[str]) -> str:
    return items[rng.randrange(len(items))]


def _encoded_word(rng: random.Random, text: str) -> str:
    charset = rng.choice(["utf-8", "UTF-8", "iso-8859-2", "koi8-r", "bogus"])
    try:
        data = text.encode("utf-8" if charset == "bogus" else charset)
    except UnicodeEncodeError:
        charset, data = "utf-8", text.encode("utf-8")
    if rng.random() < 0.5:
        return f"=?{charset}?b?{base64.b64encode(data).decode()}?="
    quoted = "".join(chr(b) if chr(b).isalnum() and b < 128 else "_" if b == 32 else f"={b:02X}" for b in data)
    return f"=?{charset}?q?{quoted}?="


def _text_value(rng: random.Random) -> str:
    """An unstructured value (Subject and the like), in one of many shapes."""
    words = [_pick(rng, _WORDS) for _ in range(rng.randrange(0, 8))]
    shape = rng.random()
    if shape < 0.45:  # plain ASCII, the common case
        words = [w for w in words if w.isascii()] or ["Question"]
        value = " ".join(words)
    elif shape < 0.65:
        value = " ".join(_encoded_word(rng, w) if not w.isascii() or rng.random() < 0.3 else w for w in words)
    elif shape < 0.75:
        value = " ".join(words)  # raw 8-bit, as SMTPUTF8 mail sends it
    else:
        value = rng.choice(["", " ", "  leading and trailing  ", "Re: [#T-1042] VPN", "RE: AW: Fwd: x",
                            "=?utf-8?q?broken", "=?utf-8?b?!!!?=", "a =?utf-8?q?b?= c", "=?utf-8?q?a?==?utf-8?q?b?=",
                            "Out of Office: back Monday", "Automatische Antwort: Urlaub", "Undelivered Mail",
                            "tab\tin\tsubject", "multiple    spaces", "ends with =?", "(comment?) x", "\x01ctl",
                            "Réponse automatique", "x" * 300])
    if rng.random() < 0.15 and len(value) > 10:  # folded
        cut = value.find(" ", 5)
        if cut > 0:
            value = value[:cut] + "\r\n\t" + value[cut + 1 :]
    return value


def _address(rng: random.Random) -> str:
    odd = rng.random() < 0.25
    local = _pick(rng, _LOCALS) if odd else rng.choice(["anna.kovacs", "j", "first.last+tag", "support"])
    domain = _pick(rng, _DOMAINS) if odd else rng.choice(["example.org", "Example.NET", "mail.example.co.uk"])
    spec = f"{local}@{domain}"
    name = _pick(rng, _NAMES)
    shape = rng.random()
    if shape < 0.3 or not name.strip():
        return spec if rng.random() < 0.8 else f"<{spec}>"
    if shape < 0.55 and name.isascii() and all(ch.isalnum() or ch in " .'" for ch in name):
        return f"{name} <{spec}>"
    if shape < 0.7:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{spec}>'
    if shape < 0.82:
        return f"{_encoded_word(rng, name)} <{spec}>"
    if shape < 0.88:
        return f"{spec} ({name})"
    if shape < 0.94:
        return f"{name}<{spec}>"  # no space, raw (maybe 8-bit) name
    return rng.choice(["undisclosed-recipients:;", "Team: a@example.org, b@example.org;", "a@b <c@d>",
                       "alice@example.org<bob@evil.example>", "<>", "MAILER-DAEMON@mx.example.org",
                       "Name <a@example.org", "a@example.org, b@example.org", "=?utf-8?q?a=0Ab?= <x@example.org>",
                       '"unbalanced <u@example.org>', "Mail Delivery System <MAILER-DAEMON@example.org>",
                       "a@example.org (comment (nested)) ", "   ", "@example.org", "x@", "\"\" <q@example.org>"])


def _params(rng: random.Random, base: str, extra: dict[str, str]) -> str:
    parts = [base]
    for key, value in extra.items():
        style = rng.random()
        if style < 0.5:
            parts.append(f'{key}="{value}"')
        elif style < 0.75 and value and all(ch.isalnum() or ch in "-._" for ch in value):
            parts.append(f"{key}={value}")
        elif style < 0.85:
            encoded = "".join(ch if ch.isalnum() and ch.isascii() else "".join(f"%{b:02X}" for b in ch.encode())
                              for ch in value)
            parts.append(f"{key}*=utf-8''{encoded}")
        elif style < 0.92:
            parts.append(f'{key}="{_encoded_word(rng, value)}"')
        else:
            parts.append(f"{key} = \"{value}\" (comment)")
    separator = rng.choice(["; ", ";", ";\r\n\t", " ; "])
    return separator.join(parts) + (";" if rng.random() < 0.05 else "")


def _filename(rng: random.Random) -> str:
    return rng.choice(["invoice.pdf", "Számla 2024.pdf", "../../etc/passwd", "report final.docx", "a;b.txt",
                       "image.png", "данные.xlsx", "x" * 120 + ".zip", "noext", "quote\".txt", ""])


def _leaf(rng: random.Random, ctype: str, depth: int) -> list[str]:
    charset = _pick(rng, _CHARSETS)
    cte = _pick(rng, _CTES) if rng.random() < 0.6 else ""
    extra: dict[str, str] = {}
    if ctype.startswith("text/") and charset:
        extra["charset"] = charset
    if not ctype.startswith("text/") and rng.random() < 0.5:
        extra["name"] = _filename(rng)
    lines = [f"Content-Type: {_params(rng, ctype, extra)}"]
    if cte:
        lines.append(f"Content-Transfer-Encoding: {cte}")
    if rng.random() < 0.4 or not ctype.startswith("text/"):
        disposition = rng.choice(["attachment", "inline", "ATTACHMENT", "form-data", ""])
        dparams = {"filename": _filename(rng)} if rng.random() < 0.7 else {}
        lines.append(f"Content-Disposition: {_params(rng, disposition, dparams)}")
    if rng.random() < 0.1:
        lines.append(f"Content-ID: <part{depth}.{rng.randrange(1000)}@example.org>")
    if ctype == "text/html":
        text = "<html><body>" + "".join(f"<p>{line}</p>" for line in rng.sample(_BODY_LINES, 5)) + \
            rng.choice(["", "<script>alert(1)</script>", "<blockquote>old</blockquote>", "<a href='x'>l</a>"]) + \
            "</body></html>"
    elif ctype.startswith("text/"):
        text = "\r\n".join(rng.choice(_BODY_LINES) for _ in range(rng.randrange(1, 25)))
    else:
        text = ""
    codec = {"": "utf-8", "bogus-charset": "utf-8", "utf8": "utf-8"}.get(charset.lower(), charset.lower())
    try:
        data = text.encode(codec, "replace") if text else bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
    except LookupError:
        data = text.encode("utf-8")
    if cte.lower() == "base64":
        body = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
        if rng.random() < 0.05:
            body = body[:-3] + "!!\r\n"  # broken padding
    elif cte.lower() == "quoted-printable":
        body = "".join(chr(b) if 32 <= b < 127 and b != 61 else "\r\n" if b == 10 else f"={b:02X}" for b in data)
    else:
        body = data.decode("latin-1")
    return [*lines, "", body]


def _part(rng: random.Random, depth: int) -> list[str]:
    roll = rng.random()
    if depth >= 3 or roll < 0.45:
        ctype = rng.choice(["text/plain", "text/plain", "text/html", "application/pdf", "image/png", "TEXT/PLAIN",
                            "text/calendar", "application/octet-stream", "badtype", "text/"])
        return _leaf(rng, ctype, depth)
    if roll < 0.55:
        inner = _message(rng, depth + 1)
        return [f"Content-Type: {rng.choice(['message/rfc822', 'message/global'])}", "", inner]
    if roll < 0.6:
        return ["Content-Type: message/delivery-status", "",
                "Reporting-MTA: dns; mx.example.org", "",
                f"Final-Recipient: rfc822; {_pick(rng, _LOCALS)}@{_pick(rng, _DOMAINS)}",
                f"Action: {rng.choice(['failed', 'delayed', 'delivered'])}", "Status: 5.1.1", ""]
    if roll < 0.63:
        return ["Content-Type: text/rfc822-headers", "", f"Message-ID: <orig{rng.randrange(99)}@gateway.invalid>",
                "Subject: x", ""]
    sub = rng.choice(["mixed", "alternative", "related", "report; report-type=delivery-status",
                      "report; report-type=disposition-notification", "digest", "signed"])
    return _multipart(rng, sub, depth)


def _multipart(rng: random.Random, sub: str, depth: int) -> list[str]:
    boundary = rng.choice([f"=_b{depth}_{rng.randrange(10**9)}", f"----=_Part_{rng.randrange(10**6)}.{depth}",
                           f"b{depth} with spaces", f"b{depth}"])
    quoted = f'"{boundary}"' if " " in boundary or rng.random() < 0.6 else boundary
    lines = [f"Content-Type: multipart/{sub}; boundary={quoted}"]
    if rng.random() < 0.05:
        lines.append("Content-Transfer-Encoding: base64")  # invalid on a multipart
    lines.append("")
    if rng.random() < 0.2:
        lines.append("This is a multi-part message in MIME format.")
    for _ in range(rng.randrange(0 if rng.random() < 0.05 else 1, 4)):
        lines.append(f"--{boundary}" + rng.choice(["", "", "  "]))
        lines.extend(_part(rng, depth + 1))
    if rng.random() < 0.93:
        lines.append(f"--{boundary}--")
    if rng.random() < 0.1:
        lines.append("epilogue text")
    return lines


def _message(rng: random.Random, depth: int = 0) -> str:
    n = rng.randrange(10**6)
    headers = []
    if rng.random() < 0.3:
        headers.append(f"Received: from mx{n}.example.net by mx.example.org; Tue, 4 Jun 2024 09:12:33 +0200")
    if rng.random() < 0.97:
        headers.append(f"From: {_address(rng)}")
    if rng.random() < 0.9:
        headers.append("To: " + ", ".join(_address(rng) for _ in range(rng.randrange(1, 4))))
    if rng.random() < 0.25:
        headers.append("Cc: " + ", ".join(_address(rng) for _ in range(rng.randrange(1, 3))))
    if rng.random() < 0.1:
        headers.append(f"Reply-To: {_address(rng)}")
    if rng.random() < 0.95:
        headers.append(f"Subject: {_text_value(rng)}")
    if rng.random() < 0.9:
        headers.append("Date: " + rng.choice(["Tue, 04 Jun 2024 09:12:30 +0200", "4 Jun 2024 09:12 GMT", "bogus",
                                              "Tue, 04 Jun 2024 09:12:30 -0000", "Tue, 4 Jun 2024 25:99:99 +0000"]))
    if rng.random() < 0.9:
        headers.append("Message-ID: " + rng.choice([f"<m{n}@example.net>", f"<m{n}@gateway.invalid>", f"m{n}@bare",
                                                    "<>", f"<m{n}@example.net> (comment)"]))
    if rng.random() < 0.3:
        headers.append(f"In-Reply-To: <ack-{n % 50}@gateway.invalid>")
        headers.append(f"References: <r{n}@example.net>\r\n <ack-{n % 50}@gateway.invalid>")
    for name, values, chance in (
        ("Auto-Submitted", ["auto-replied", "no", "auto-generated; owner=x"], 0.05),
        ("Precedence", ["bulk", "list", "first-class"], 0.05),
        ("List-Id", ["Support <support.lists.example.org>"], 0.03),
        ("X-Autoreply", ["yes", "no"], 0.03),
        ("Return-Path", ["<>", "<a@example.org>"], 0.1),
        ("Content-Language", ["hu-HU", "en, de", "x", "=?utf-8?q?de?="], 0.1),
        ("X-Gateway-Loop", ["1"], 0.02),
        ("X-MS-Exchange-Message-Is-Ndr", [""], 0.02),
        ("X-Unicode", ["ünïcödé", "=?utf-8?q?=C3=BC?="], 0.05),
    ):
        if rng.random() < chance:
            headers.append(f"{name}: {rng.choice(values)}")
    if rng.random() < 0.9:
        headers.append("MIME-Version: 1.0")
    body = _part(rng, depth) if rng.random() < 0.85 else ["", "\r\n".join(rng.sample(_BODY_LINES, 6))]
    # A part's own headers (its Content-Type first) continue the message's header block.
    return "\r\n".join(headers + body) + "\r\n"


def generated(count: int = GENERATED, seed: int = SEED) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    for i in range(count):
        text = _message(rng)
        yield f"generated-{i:04d}", text.encode("utf-8", "surrogateescape")


def corpus() -> Iterator[tuple[str, bytes]]:
    """(name, raw) of every message compared."""
    from bench.normalize_bench import KINDS
    from tests.normalize.test_email_robustness import CPYTHON_DATA

    for path in FIXTURES:
        yield f"fixture/{path.name}", path.read_bytes()
    for path in CPYTHON_DATA:
        yield f"cpython/{path.name}", path.read_bytes()
    for kind, make in KINDS.items():
        for n in range(3):
            yield f"bench/{kind}-{n}", make(n).as_bytes(policy=email.policy.SMTP)
    yield from generated()


def canonical(raw: bytes) -> str:
    """Everything `normalize_email` returns for `raw` (as the SMTP path calls it), as stable JSON text."""
    try:
        draft, attachments = normalize_email(raw, transport=Transport.SMTP, received_at=RECEIVED,
                                             mail_from="anna.kovacs@example.net", rcpt_tos=("support@example.org",))
    except NormalizeError as exc:
        return json.dumps({"error": str(exc)})
    result = {
        "draft": draft.to_json(),
        "defects": list(draft.defects),
        "extras": draft.extras,
        "full_text": draft.full_text,
        "attachments": [None if a.content is None else hashlib.sha256(a.content).hexdigest() for a in attachments],
    }
    return json.dumps(result, sort_keys=True, ensure_ascii=False, default=repr)


def digest(raw: bytes) -> str:
    return hashlib.sha256(canonical(raw).encode("utf-8", "surrogatepass")).hexdigest()


def runtime() -> str:
    return ".".join(str(v) for v in sys.version_info[:3])


def main() -> None:
    if "--write" in sys.argv:
        entries = {name: {"input": hashlib.sha256(raw).hexdigest(), "output": digest(raw)} for name, raw in corpus()}
        DIGESTS.write_text(json.dumps({"python": runtime(), "messages": entries}, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(entries)} digests to {DIGESTS}")
    elif len(sys.argv) > 1:  # print one message's canonical result, to diff two versions of the code
        wanted = sys.argv[1]
        for name, raw in corpus():
            if name == wanted:
                print(json.dumps(json.loads(canonical(raw)), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""Email intake side by side with django-helpdesk: the same .eml files, a ticket per message, ms per message.

Run by hand (not in CI):
    .venv/bin/python bench/django_helpdesk_bench.py [--messages 500] [--venv PATH] [--skip-install]

The target (from the email issue): at least 10x faster per message than
django-helpdesk ingesting the same generated mail.

The mail: `--messages` generated ~5 KB .eml files in a temp folder, each with
its own Message-ID, the four kinds of bench/normalize_bench.py in turn (plain
text, multipart/alternative, text with a small PDF attachment, a reply with
quoted history), CRLF line ends as they come off SMTP. A hundred more,
numbered apart (their own Message-IDs and boundaries), are the warm-up of each
side (ingested first, untimed): enough for either side's caches of its own
machinery to reach their steady state, none of it the timed mail.

django-helpdesk runs in a virtualenv of its own (default
`~/.cache/gateway-bench/django-helpdesk-venv`, made and filled with
`pip install django-helpdesk` on the first run, reused afterwards). A child
process there (bench/django_helpdesk/ingest.py) configures a minimal Django
project on a fresh SQLite file, migrates, creates one Queue reading a local
mail folder (`email_box_type = "local"`) and times django-helpdesk's own
`get_email` management command over a copy of the files: it reads each file,
parses it, creates a Ticket and its FollowUp, stores the attachments (and the
HTML body) as files, renders the acknowledgement to the submitter (handed to
Django's in-memory mail backend, so no network), deletes the file.

The gateway runs in this process, on a fresh SQLite file per run, with the
email normalizer and router of its defaults; only the flood limit is off, as
django-helpdesk has none and all the mail comes from one sender. Each file is
read and handed to the intake function exactly as the SMTP adapter does
(`channels/smtp/handler.py`: the external id from `email_external_id`, the
envelope in `meta`), with the HTTP server and the SMTP listener left out:
  * sequential: one message at a time, each awaited (django-helpdesk's loop);
  * concurrent: 16 callers taking files from one list, as 16 SMTP sessions
    would.
Each of the two runs is a fresh process (as django-helpdesk's run is), so the
second run cannot reuse what the first parsed of the same files (a real
gateway never sees the same mail twice).

Why it is fair: the same bytes on both sides, read from disk inside the timed
part on both sides; both write SQLite with the same settings (WAL,
synchronous=FULL: every commit survives power loss) and both end with one
ticket per message, which is checked afterwards (django-helpdesk: Ticket
count and no file left; the gateway: every intake result processed with a
ticket id, and the inbound, ticket and message rows counted in the database
file). Neither side's setup (virtualenv, Django start, migrations, the
gateway's start) is timed. django-helpdesk keeps no copy of the raw mail; the
gateway does (in the same commit), so it does more durable work, not less.

Printed: wall and CPU milliseconds per message of each, messages/s, the
speed-up over django-helpdesk and whether the 10x target is met; and, to show
where the budget goes, what the gateway's email normalizer and a bare stdlib
parse (bench/normalize_bench.py's `bare`) cost alone over the same files.
One batch each, no rounds: on a shared machine compare the CPU column too.
"""

from __future__ import annotations

import argparse
import asyncio
import email.policy
import json
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.normalize_bench import KINDS, bare  # noqa: E402
from gateway.app import Gateway  # noqa: E402
from gateway.config import Secrets, parse_config  # noqa: E402
from gateway.email_wiring import EmailNormalizer  # noqa: E402
from normalize.email import email_external_id  # noqa: E402
from normalize.raw import IntakeStatus, RawInbound  # noqa: E402

HELPER = ROOT / "bench" / "django_helpdesk" / "ingest.py"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
DEFAULT_VENV = CACHE / "gateway-bench" / "django-helpdesk-venv"
SENDER = "anna.kovacs@example.net"  # the envelope sender; the generators' From: address
RCPT = "support@example.org"
WARMUP = 100  # messages per side ingested before the clock starts
WARMUP_FIRST = 1_000_000  # their numbers, so their Message-IDs are apart from the timed ones
CONCURRENCY = 16
TARGET = 10.0
INSTALL_TIMEOUT_S = 900
HELPDESK_TIMEOUT_S = 900
SECRETS = Secrets(api_token="bench-api", portal_token="bench-portal")


def write_mail(folder: Path, count: int, first: int = 0) -> list[Path]:
    """`count` .eml files, the four kinds in turn; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    kinds = list(KINDS.items())
    paths = []
    for i in range(count):
        kind, make = kinds[i % len(kinds)]
        path = folder / f"{first + i:07d}-{kind}.eml"
        path.write_bytes(make(first + i // len(kinds)).as_bytes(policy=email.policy.SMTP))
        paths.append(path)
    return paths


# --- django-helpdesk --------------------------------------------------------------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def helpdesk_works(venv: Path) -> bool:
    python = venv_python(venv)
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", "import django, helpdesk"], capture_output=True, timeout=120)
    return probe.returncode == 0


def ensure_venv(venv: Path, skip_install: bool, spec: str) -> None:
    if helpdesk_works(venv):
        return
    if skip_install:
        raise SystemExit(
            f"--skip-install: no working django-helpdesk virtualenv at {venv} "
            f"(run once without --skip-install, or pass --venv)"
        )
    print(f"creating {venv} and installing {spec} from PyPI (once; reused by later runs) ...", flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=INSTALL_TIMEOUT_S)
    subprocess.run(
        [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check", "-q", spec],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    if not helpdesk_works(venv):
        raise SystemExit(f"{spec} installed into {venv}, but `import django, helpdesk` fails there")


def run_helpdesk(venv: Path, work: Path, mail: Path, warmup: Path) -> dict[str, Any]:
    """django-helpdesk's get_email over copies of the folders, in its virtualenv; the child's JSON report."""
    base = work / "helpdesk"
    base.mkdir()
    shutil.copytree(warmup, base / "warmup")  # get_email deletes what it ingested
    shutil.copytree(mail, base / "mail")
    env = {**os.environ, "PYTHONUTF8": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [
            str(venv_python(venv)),
            str(HELPER),
            "--work",
            str(base),
            "--warmup",
            str(base / "warmup"),
            "--maildir",
            str(base / "mail"),
        ],
        capture_output=True,
        text=True,
        timeout=HELPDESK_TIMEOUT_S,
        env=env,
        cwd=base,
    )
    if done.returncode != 0:
        raise SystemExit(f"the django-helpdesk run failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the gateway ------------------------------------------------------------------------------------------------------


@dataclass
class GatewayRun:
    seconds: float
    cpu_seconds: float
    stored: set[str]
    rows: dict[str, int]


def gateway_config(work: Path, name: str) -> Any:
    data = {
        "http": {"port": 0},
        "storage": {"url": f"sqlite+aiosqlite:///{work / (name + '.db')}", "auto_migrate": True},
        "smtp": {"enabled": False},
        "portal": {"enabled": False},
        "phone": {"enabled": False},
        "email": {"flood_messages": 0},  # django-helpdesk has no flood limit; all the mail has one sender
        "logging": {"level": "WARNING"},
    }
    return parse_config(data, base_dir=work)


def smtp_record(raw: bytes) -> RawInbound:
    """The record `IntakeHandler._store` makes of one DATA: external id from the bytes, envelope in meta."""
    return RawInbound(
        channel="email",
        transport="smtp",
        external_id=email_external_id(raw),
        received_at=datetime.now(UTC),
        payload=raw,
        meta={
            "mail_from": SENDER,
            "rcpt_tos": [RCPT],
            "peer": "127.0.0.1",
            "helo": "bench",
            "tls": False,
            "smtputf8": False,
        },
    )


async def feed(gateway: Gateway, paths: list[Path], callers: int) -> tuple[float, float, set[str]]:
    """`callers` tasks take files from one list until it is empty, each handed to intake as the SMTP
    adapter does (answered when stored, the ticket written right after); the clock stops when every
    record is processed. Wall time, CPU time and the inbound ids."""
    stored: set[str] = set()
    files: Iterator[Path] = iter(paths)

    async def caller() -> None:
        for path in files:
            result = await gateway.intake(smtp_record(path.read_bytes()), until="stored")
            if result.duplicate or result.status is not IntakeStatus.PENDING:
                raise SystemExit(f"{path.name}: not stored: {result}")
            stored.add(str(result.inbound_id))

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(callers)))
    while gateway.intake.backlog:  # the tickets too, not just the stored mail
        await asyncio.sleep(0.001)
    return time.perf_counter() - started, time.process_time() - cpu, stored


def count_rows(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        return {
            "inbound processed": db.execute("SELECT count(*) FROM inbound WHERE status = 'processed'").fetchone()[0],
            "tickets": db.execute("SELECT count(*) FROM tickets").fetchone()[0],
            "messages": db.execute("SELECT count(*) FROM messages").fetchone()[0],
        }


async def run_gateway(work: Path, name: str, paths: list[Path], warmup: list[Path], callers: int) -> GatewayRun:
    gateway = Gateway(gateway_config(work, name), SECRETS)
    await gateway.start()
    try:
        await feed(gateway, warmup, 1)
        seconds, cpu_seconds, stored = await feed(gateway, paths, callers)
    finally:
        await gateway.stop()
    rows = {key: value - len(warmup) for key, value in count_rows(work / (name + ".db")).items()}
    return GatewayRun(seconds, cpu_seconds, stored, rows)


def _run_gateway(work: Path, name: str, paths: list[Path], warmup: list[Path], callers: int) -> GatewayRun:
    return asyncio.run(run_gateway(work, name, paths, warmup, callers))


def gateway_in_child(work: Path, name: str, paths: list[Path], warmup: list[Path], callers: int) -> GatewayRun:
    """One gateway run in a fresh process, as django-helpdesk's runs in its own: nothing the gateway parsed or
    compiled for one run's mail (parsed headers, regexes) is still there for the next run, which gets the same
    files (a real gateway never sees the same mail twice)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as child:
        return child.submit(_run_gateway, work, name, paths, warmup, callers).result()


def parse_only(work: Path, paths: list[Path], warmup: list[Path]) -> tuple[float, float]:
    """Seconds per message, in memory, over the same files: the gateway's email normalizer alone (no storage,
    no router), and the bare stdlib parse-and-extract of bench/normalize_bench.py (the floor for any parser)."""
    normalizer = EmailNormalizer(gateway_config(work, "normalize-only").email)
    for path in warmup:
        normalizer(smtp_record(path.read_bytes()))
        bare(path.read_bytes())
    started = time.perf_counter()
    for path in paths:
        normalizer(smtp_record(path.read_bytes()))
    normalized = time.perf_counter()
    for path in paths:
        bare(path.read_bytes())
    return (normalized - started) / len(paths), (time.perf_counter() - normalized) / len(paths)


# --- report -----------------------------------------------------------------------------------------------------------


def check(label: str, found: dict[str, int], expected: int) -> None:
    wrong = {key: value for key, value in found.items() if value != expected}
    if wrong:
        raise SystemExit(f"{label}: expected {expected} of each, found {found}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument(
        "--venv",
        type=Path,
        default=DEFAULT_VENV,
        help="django-helpdesk's virtualenv (default: ~/.cache/gateway-bench/django-helpdesk-venv)",
    )
    parser.add_argument("--skip-install", action="store_true", help="use --venv as it is; fail if it does not work")
    parser.add_argument(
        "--helpdesk",
        default="django-helpdesk",
        help="the pip requirement to install (default: the latest django-helpdesk), e.g. 'django-helpdesk==2.6.1'",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (mail, databases)")
    args = parser.parse_args()
    if args.messages < 1:
        parser.error("--messages must be at least 1")

    ensure_venv(args.venv.expanduser(), args.skip_install, args.helpdesk)
    work = Path(tempfile.mkdtemp(prefix="gw-helpdesk-bench-"))
    try:
        paths = write_mail(work / "mail", args.messages)
        warmup = write_mail(work / "warmup", WARMUP, first=WARMUP_FIRST)
        size = sum(p.stat().st_size for p in paths) / len(paths)
        print(
            f"{len(paths)} generated .eml files, {size / 1024:.1f} KB on average "
            f"(plain, alternative, attachment, reply in turn); {WARMUP} more per side as warm-up",
            flush=True,
        )

        helpdesk = run_helpdesk(args.venv.expanduser(), work, work / "mail", work / "warmup")
        check(
            "django-helpdesk",
            {
                "tickets": helpdesk["tickets"],
                "followups": helpdesk["followups"],
                "files ingested": helpdesk["files"] - helpdesk["left_unprocessed"],
            },
            len(paths),
        )
        sequential = gateway_in_child(work, "sequential", paths, warmup, 1)
        concurrent = gateway_in_child(work, "concurrent", paths, warmup, CONCURRENCY)
        for label, run in (("gateway sequential", sequential), ("gateway concurrent", concurrent)):
            check(label, {"distinct records": len(run.stored), **run.rows}, len(paths))
        normalize_s, bare_s = parse_only(work, paths, warmup)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    n = len(paths)
    hd_ms = helpdesk["seconds"] / n * 1000
    rows = [
        (
            f"django-helpdesk {helpdesk['version']} (Django {helpdesk['django']}), get_email",
            hd_ms,
            helpdesk["cpu_seconds"] / n * 1000,
        ),
        ("gateway, sequential (1 caller)", sequential.seconds / n * 1000, sequential.cpu_seconds / n * 1000),
        (
            f"gateway, {CONCURRENCY} concurrent callers",
            concurrent.seconds / n * 1000,
            concurrent.cpu_seconds / n * 1000,
        ),
    ]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\n{n} messages each, wall time of the whole batch, SQLite (WAL, synchronous=FULL) on both sides; "
        f"{os.cpu_count()} cores, load average {load}"
    )
    print(f"  {'':52s} {'ms/message':>10s} {'CPU ms/msg':>10s} {'messages/s':>10s} {'speed-up':>8s}")
    for label, ms, cpu_ms in rows:
        speedup = "" if ms == hd_ms else f"{hd_ms / ms:.1f}x"
        print(f"  {label:52s} {ms:10.2f} {cpu_ms:10.2f} {1000 / ms:10.0f} {speedup:>8s}")
    print(
        f"  checked: django-helpdesk made {helpdesk['tickets']} tickets ({helpdesk['followups']} follow-ups, "
        f"{helpdesk['mails_sent']} acknowledgements rendered, {helpdesk['left_unprocessed']} files left);\n"
        f"           the gateway {len(sequential.stored)} and {len(concurrent.stored)} records, "
        f"every record processed and committed (inbound, ticket and message rows counted)"
    )
    print(
        f"  budget for {TARGET:.0f}x: {hd_ms / TARGET:.2f} ms/message; in memory over the same files, the gateway's "
        f"email normalizer alone takes {normalize_s * 1000:.2f} ms/message, a bare stdlib parse {bare_s * 1000:.2f}"
    )
    for label, ms, _cpu_ms in rows[1:]:
        ratio = hd_ms / ms
        verdict = "met" if ratio >= TARGET else "NOT met"
        print(
            f"  target >= {TARGET:.0f}x faster per message, {label.removeprefix('gateway, ')}: {ratio:.1f}x, {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""SMTP intake against a bare aiosmtpd sink, same run, alternating rounds.

Run by hand (not in CI):
    .venv/bin/python bench/smtp_bench.py [--seconds 8] [--rounds 3] [--connections 16] [--procs 1]

Two servers, each its own process on 127.0.0.1:
  * the gateway (`python -m gateway --config <tmp toml> run`): SMTP on, SQLite
    in a temp file, every 250 answered only after the mail's commit (its
    ticket is written right after, by the same writer, with a bounded
    backlog: the end of the report shows how much was still unprocessed);
  * a bare aiosmtpd server (this file with `--sink PORT`) on
    `loop.create_server`, same SIZE limit and line limit, whose DATA hook
    answers 250 and keeps nothing.
Both are loaded by the same client: `--connections` SMTP sessions (raw asyncio
streams, no PIPELINING, one message after another on each reused session),
spread over `--procs` client processes. Every message is ~5 KB of plain text
with its own Message-ID (so the gateway never takes the duplicate shortcut).
Rounds alternate bare, gateway, bare, gateway...; the median round of each is
printed: messages/s (250s completed within the round), p50/p99 from the end
of DATA (the `.` line written) to the 250 read, and the ratio.

The client's own ceiling is reported too: its CPU seconds per message, and so
the rate one client process could drive if it had a core to itself. When the
bare sink's rate is close to that ceiling, the sink figure is the client's,
not aiosmtpd's (raise `--procs`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MAX_MESSAGE_BYTES = 25 * 1024 * 1024  # the gateway's default [smtp] max_message_bytes, given to both
MAX_LINE_BYTES = 1024 * 1024  # the gateway's default [smtp] max_line_bytes
RCPT = "support@example.org"
PARAGRAPH = (
    "Since this morning the VPN client on my laptop disconnects every few minutes. "
    "I have restarted the laptop and reinstalled the client, but the problem stays. "
    "The log shows 'TLS handshake timeout' before each drop; colleagues on the same "
    "floor have the same issue. Could you please have a look? It blocks my work.\r\n\r\n"
)


def message_template() -> bytes:
    """A ~5 KB plain-text mail; `{n}` in the Message-ID is replaced per message."""
    head = (
        "Return-Path: <anna.kovacs@example.net>\r\n"
        "Received: from mail.example.net (mail.example.net [192.0.2.10])\r\n"
        "\tby mx.example.org with ESMTPS id 4Xy7Q0abcd; Tue, 4 Jun 2024 09:12:33 +0200\r\n"
        "From: Anna Kovacs <anna.kovacs@example.net>\r\n"
        f"To: Support <{RCPT}>\r\n"
        "Subject: VPN keeps disconnecting\r\n"
        "Date: Tue, 4 Jun 2024 09:12:30 +0200\r\n"
        "Message-ID: <bench-{n}@example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "User-Agent: Mozilla/5.0 Thunderbird/115.11.0\r\n"
        "\r\n"
    )
    body = "Hello,\r\n\r\n" + PARAGRAPH * 15 + "Best regards,\r\nAnna Kovács\r\nFinance, 3rd floor\r\n"
    text = (head + body).encode()
    assert 4800 < len(text) < 5400, len(text)
    assert b"\r\n." not in text  # no dot-stuffing needed
    return text


# ---------------------------------------------------------------- the sink


def run_sink(port: int) -> None:
    from aiosmtpd.smtp import SMTP

    class Discard:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 2.0.0 OK"

    class Sink(SMTP):
        line_length_limit = MAX_LINE_BYTES

    async def main() -> None:
        loop = asyncio.get_running_loop()
        handler = Discard()
        server = await loop.create_server(
            lambda: Sink(handler, data_size_limit=MAX_MESSAGE_BYTES, enable_SMTPUTF8=True, decode_data=False,
                         hostname="sink.bench", loop=loop),
            "127.0.0.1", port, reuse_address=True,
        )
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(json.dumps({"event": "started", "smtp_port": port}), flush=True)
        await stop.wait()
        server.close()

    asyncio.run(main())


# ---------------------------------------------------------------- the client


async def _reply(reader: asyncio.StreamReader) -> int:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            return int(line[:3])


async def _session(port: int, template: bytes, tag: str, start: float, end: float,
                   latencies: list[float], codes: dict[int, int]) -> int:
    done = 0
    seq = 0
    while time.monotonic() < end:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await _reply(reader)
            writer.write(b"EHLO client.bench\r\n")
            await _reply(reader)
            while time.monotonic() < end:
                writer.write(b"MAIL FROM:<anna.kovacs@example.net>\r\n")
                if (code := await _reply(reader)) != 250:
                    codes[code] = codes.get(code, 0) + 1
                    break
                writer.write(f"RCPT TO:<{RCPT}>\r\n".encode())
                if (code := await _reply(reader)) != 250:
                    codes[code] = codes.get(code, 0) + 1
                    writer.write(b"RSET\r\n")
                    await _reply(reader)
                    continue
                writer.write(b"DATA\r\n")
                if (code := await _reply(reader)) != 354:
                    codes[code] = codes.get(code, 0) + 1
                    break
                seq += 1
                data = template.replace(b"{n}", f"{tag}-{seq}".encode()) + b".\r\n"
                sent = time.perf_counter()
                writer.write(data)
                code = await _reply(reader)
                answered = time.perf_counter()
                codes[code] = codes.get(code, 0) + 1
                if code == 250 and start <= time.monotonic() <= end:
                    done += 1
                    latencies.append(answered - sent)
            writer.write(b"QUIT\r\n")
            await writer.drain()
        except ConnectionError:
            codes[-1] = codes.get(-1, 0) + 1
        finally:
            writer.close()
    return done


async def _load(port: int, connections: int, tag: str, start: float, end: float) -> dict[str, Any]:
    template = message_template()
    latencies: list[float] = []
    codes: dict[int, int] = {}
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    cpu0 = time.process_time()
    counts = await asyncio.gather(*(
        _session(port, template, f"{tag}-{i}", start, end, latencies, codes) for i in range(connections)
    ))
    return {"done": sum(counts), "latencies": latencies, "codes": codes, "cpu": time.process_time() - cpu0,
            "sent": sum(v for k, v in codes.items() if k > 0)}


def _worker(port: int, connections: int, tag: str, start: float, end: float) -> dict[str, Any]:
    return asyncio.run(_load(port, connections, tag, start, end))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_round(pool: ProcessPoolExecutor, procs: int, port: int, connections: int, seconds: float,
               tag: str, server_pid: int) -> dict[str, float]:
    server0 = cpu_seconds(server_pid)
    start = time.monotonic() + 0.3  # the workers are already up: connect and begin together
    end = start + seconds
    shares = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
    futures = [pool.submit(_worker, port, n, f"{tag}-p{i}", start, end) for i, n in enumerate(shares) if n]
    parts = [f.result() for f in futures]
    server_cpu = cpu_seconds(server_pid) - server0
    latencies = sorted(x for p in parts for x in p["latencies"])
    done = sum(p["done"] for p in parts)
    codes: dict[int, int] = {}
    for p in parts:
        for k, v in p["codes"].items():
            codes[k] = codes.get(k, 0) + v
    sent = sum(p["sent"] for p in parts)
    cpu = sum(p["cpu"] for p in parts)

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {"rate": done / seconds, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "not250": float(sum(v for k, v in codes.items() if k not in (250, 354))),
            "client_cpu_per_msg_us": cpu / max(sent, 1) * 1e6, "client_cpu_share": cpu / seconds / procs,
            "server_cpu_per_msg_us": server_cpu / max(sent, 1) * 1e6, "server_cpu_share": server_cpu / (seconds + 0.3)}


# ---------------------------------------------------------------- harness


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_started(proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"process {proc.pid} exited with {proc.wait()} before starting")
        if '"started"' in line:
            return
    raise RuntimeError(f"process {proc.pid} did not start")


def status_counts(db: Path) -> dict[str, int]:
    """Email records by status (pending: answered 250, ticket not written yet)."""
    try:
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT status, count(*) FROM inbound WHERE channel = 'email' GROUP BY status")
            return {str(status): int(count) for status, count in rows}
    except sqlite3.Error:
        return {}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--procs", type=int, default=1, help="client processes sharing the connections")
    parser.add_argument("--sqlite-synchronous", default="full", choices=["full", "normal"])
    parser.add_argument("--sink", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink)
        return 0

    work = Path(tempfile.mkdtemp(prefix="gw-smtp-bench-"))
    gw_smtp, gw_http, bare_port = free_port(), free_port(), free_port()
    db = work / "bench.db"
    # max_commands_per_session: the default 1,000 MAILs per session would close the reused
    # sessions mid-round (421); the bare sink has no such limit either.
    (work / "gw.toml").write_text(
        f'[http]\nport = {gw_http}\n[storage]\nurl = "sqlite+aiosqlite:///{db}"\nauto_migrate = true\n'
        f'sqlite_synchronous = "{args.sqlite_synchronous}"\n'
        f'[smtp]\nenabled = true\nhost = "127.0.0.1"\nport = {gw_smtp}\nrecipients = ["{RCPT}"]\n'
        f"max_message_bytes = {MAX_MESSAGE_BYTES}\nmax_line_bytes = {MAX_LINE_BYTES}\n"
        f"max_commands_per_session = 100000000\n"
        f'[portal]\nenabled = false\n[phone]\nenabled = false\n'
        f'[logging]\nlevel = "WARNING"\n[router]\ndefault_queue = "general"\n'
    )
    env = {**os.environ, "GATEWAY_API_TOKEN": "bench-api-token"}
    py = sys.executable
    gateway = subprocess.Popen([py, "-m", "gateway", "--config", str(work / "gw.toml"), "run"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, text=True)
    bare = subprocess.Popen([py, str(Path(__file__).resolve()), "--sink", str(bare_port)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    results: dict[str, list[dict[str, float]]] = {"bare": [], "gateway": []}
    at_end: dict[str, int] = {}
    after_stop: dict[str, int] = {}
    try:
        wait_started(gateway)
        wait_started(bare)
        with ProcessPoolExecutor(args.procs) as pool:
            load_round(pool, args.procs, bare_port, args.connections, 2, "warm-b", bare.pid)  # warm-up
            load_round(pool, args.procs, gw_smtp, args.connections, 2, "warm-g", gateway.pid)
            for rnd in range(args.rounds):
                results["bare"].append(load_round(pool, args.procs, bare_port, args.connections, args.seconds,
                                                  f"b{rnd}", bare.pid))
                results["gateway"].append(load_round(pool, args.procs, gw_smtp, args.connections, args.seconds,
                                                     f"g{rnd}", gateway.pid))
        at_end = status_counts(db)
    finally:
        for proc in (gateway, bare):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        after_stop = status_counts(db)
        shutil.rmtree(work, ignore_errors=True)

    def median(name: str) -> dict[str, float]:
        runs = results[name]
        return {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0]}  # per figure

    b, g = median("bare"), median("gateway")
    print(f"SMTP intake of 5 KB messages vs bare aiosmtpd sink, {args.connections} reused connections, "
          f"{args.procs} client process(es), {args.rounds}x{args.seconds:g}s alternating, median round, "
          f"SQLite synchronous={args.sqlite_synchronous.upper()}, {os.cpu_count()} cores")
    for name, r in (("bare", b), ("gateway", g)):
        print(f"  {name:8s} {r['rate']:8.0f} msg/s   end of DATA -> 250: p50 {r['p50_ms']:6.2f} ms   "
              f"p99 {r['p99_ms']:6.2f} ms   "
              f"non-250 {r['not250']:.0f}")
        print(f"  {'':8s} server CPU {r['server_cpu_per_msg_us']:5.0f} us/msg "
              f"({r['server_cpu_share']:4.0%} of a core)   "
              f"client CPU {r['client_cpu_per_msg_us']:5.0f} us/msg ({r['client_cpu_share']:4.0%} of its core(s))")
    print(f"  per round: bare {[round(r['rate']) for r in results['bare']]}  "
          f"gateway {[round(r['rate']) for r in results['gateway']]}")
    print(f"  ratio    {g['rate'] / b['rate']:.1%} of the bare sink's throughput")
    ceiling = 1e6 / b["client_cpu_per_msg_us"] * args.procs
    print(f"  client ceiling ~{ceiling:,.0f} msg/s ({args.procs} process(es) at 100% CPU each); "
          f"the bare figure is {b['rate'] / ceiling:.0%} of it")
    if at_end:
        # The 250 comes when a mail is stored, its ticket right after: what is still pending when the
        # last round ends shows that processing kept pace (the backlog is bounded), and stopping drains it.
        print(f"  gateway stored {sum(at_end.values()):,} email records (warm-up included); "
              f"not yet processed when the last round ended: {at_end.get('pending', 0):,}; "
              f"after stopping: {after_stop}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Durable portal intake against a bare aiohttp handler, same run, alternating.

Run by hand (not in CI):  .venv/bin/python bench/intake_bench.py [--pg URL] [--seconds 10] [--rounds 3]

Both servers run as their own processes and are loaded by `wrk` (Debian's
`wrk` package) at concurrency 64 with the same 1 KB JSON body, so the ratio
compares the whole durable path (stored, normalized, classified, ticket
written, group-committed) with the cost of HTTP and JSON alone. Prints both
throughputs, p50/p99 latency, non-2xx counts and the ratio; also the
gateway's resident memory after the run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-portal-token-0123456789"
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
wrk.body = '%s'
"""


def body_1kb() -> str:
    doc = {"requester": {"email": "bench@example.org", "name": "Bench User", "portal_user_id": "u-1"},
           "subject": "Printer on floor 3 does not print", "category": "hardware",
           "fields": {"floor": 3, "building": "B", "asset": "PRN-0042"},
           "body": "The printer shows error E-502 and the queue is stuck. " * 14}
    text = json.dumps(doc)
    assert 900 < len(text) < 1200, len(text)
    return text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def wrk(port: int, seconds: int, script: Path, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}/v1/portal/submissions"],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)

    def pct(label: str) -> float:
        m = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {"rps": rps, "p50_ms": pct("50"), "p99_ms": pct("99"), "non2xx": float(bad.group(1)) if bad else 0.0,
            "socket_errors": 1.0 if errors else 0.0}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", help="a postgresql+asyncpg:// URL of an empty database (default: SQLite)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--sqlite-synchronous", default="full", choices=["full", "normal"])
    parser.add_argument("--overload", action="store_true", help="finish with a round at 10x the connections")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("needs wrk: apt-get install wrk", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    script = work / "post.lua"
    script.write_text(LUA % (TOKEN, body_1kb().replace("'", "\\'")))
    gw_port, bare_port = free_port(), free_port()
    url = args.pg or f"sqlite+aiosqlite:///{work / 'bench.db'}"
    (work / "gw.toml").write_text(
        f'[http]\nport = {gw_port}\n[storage]\nurl = "{url}"\nauto_migrate = true\n'
        f'sqlite_synchronous = "{args.sqlite_synchronous}"\n'
        f'[smtp]\nenabled = false\n[logging]\nlevel = "WARNING"\n[router]\ndefault_queue = "general"\n'
    )
    env = {**os.environ, "GATEWAY_PORTAL_TOKEN": TOKEN, "GATEWAY_API_TOKEN": "bench-api-token"}
    py = sys.executable
    gateway = subprocess.Popen([py, "-m", "gateway", "--config", str(work / "gw.toml"), "run"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL)
    bare = subprocess.Popen([py, str(ROOT / "bench/bare_server.py"), str(bare_port)], cwd=ROOT)
    try:
        wait_port(gw_port)
        wait_port(bare_port)
        wrk(gw_port, 2, script, args.connections)  # warm-up
        wrk(bare_port, 2, script, args.connections)
        results: dict[str, list[dict[str, float]]] = {"bare": [], "gateway": []}
        for _ in range(args.rounds):
            results["bare"].append(wrk(bare_port, args.seconds, script, args.connections))
            results["gateway"].append(wrk(gw_port, args.seconds, script, args.connections))
        memory = rss_mb(gateway.pid)
        overload = wrk(gw_port, args.seconds, script, args.connections * 10) if args.overload else None
        memory_after_overload = rss_mb(gateway.pid)
    finally:
        for proc in (gateway, bare):
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)

    def best(name: str) -> dict[str, float]:
        runs = results[name]
        return {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0]}  # the median run

    b, g = best("bare"), best("gateway")
    backend = "PostgreSQL" if args.pg else f"SQLite (WAL, synchronous={args.sqlite_synchronous.upper()})"
    print(f"durable portal intake vs bare aiohttp handler, c={args.connections}, {args.rounds}x{args.seconds}s, "
          f"median round, {backend}")
    for name, r in (("bare", b), ("gateway", g)):
        print(f"  {name:8s} {r['rps']:9.0f} req/s   p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:6.2f} ms   "
              f"non-2xx {r['non2xx']:.0f}")
    print(f"  ratio    {g['rps'] / b['rps']:.1%} of the bare handler's throughput")
    total = sum(r["rps"] for r in results["gateway"]) * args.seconds + 2 * g["rps"]
    print(f"  gateway resident memory after ~{total:,.0f} submissions: {memory:.0f} MB")
    if overload:
        print(f"  10x overload (c={args.connections * 10}): {overload['rps']:.0f} req/s, p99 "
              f"{overload['p99_ms']:.1f} ms, non-2xx (503 with Retry-After) {overload['non2xx']:.0f}, "
              f"memory after {memory_after_overload:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

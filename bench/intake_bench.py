"""Durable portal intake against a bare aiohttp handler, same run, alternating.

Run by hand (not in CI):
    .venv/bin/python bench/intake_bench.py [--pg URL] [--seconds 10] [--rounds 3] [--routed]

Both servers run as their own processes and are loaded by `wrk` (Debian's
`wrk` package) at concurrency 64 with the same 1 KB JSON body, so the ratio
compares the whole durable path (stored, normalized, classified, ticket
written, group-committed) with the cost of HTTP and JSON alone. Prints both
throughputs, p50/p99 latency, non-2xx counts and the ratio; also the
gateway's resident memory after the run, and its group commits as its
/metrics counts them (records per commit, time per commit's transaction).

With `--routed`, a second gateway joins the alternation: the same, plus what
the router issue measures against this benchmark: the ten rules of
bench/routing_bench.py (none matches, so all are tried), a model trained on
the test corpus (it decides), and a route to a webhook destination (each
ticket also writes its outbox row; the dispatcher is off, only the write
counts). It prints what routing adds: to throughput, and to the gateway
process's CPU time per request (from /proc, which a noisy neighbour disturbs
less than wall time): from the median rounds, and as the median of each
round's own pair (the two gateways run back to back in a round).
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from routing_bench import RULES, WEBHOOK_SECRET, train_model  # noqa: E402

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


def wrk(port: int, seconds: int, script: Path, connections: int, pid: int | None = None) -> dict[str, float]:
    """wrk's figures; with `pid`, also that process's CPU seconds per request over the run."""
    cpu_before = cpu_seconds(pid) if pid else 0.0
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

    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    cpu = (cpu_seconds(pid) - cpu_before) / max(requests, 1) if pid else 0.0
    return {"rps": rps, "p50_ms": pct("50"), "p99_ms": pct("99"), "non2xx": float(bad.group(1)) if bad else 0.0,
            "socket_errors": 1.0 if errors else 0.0, "cpu_us": cpu * 1e6}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fsync_ms(directory: Path, count: int = 100) -> tuple[float, float]:
    """p50 and p99 of an 8 KB write plus fsync in `directory`: the disk the databases sit on, whose
    flush latency sets the floor of every commit (and varies between runs on a shared VM)."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    times = []
    try:
        for _ in range(count):
            os.write(fd, b"x" * 8192)
            started = time.perf_counter()
            os.fsync(fd)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, len(times) * 99 // 100)]


def group_commits(port: int) -> tuple[float, float]:
    """(mean records per group commit, mean commit duration in ms), from the gateway's /metrics."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    values = {name: float(value) for name, _, value in (line.partition(" ") for line in text.splitlines())
              if name.startswith("gateway_intake_commit_")}
    commits = values.get("gateway_intake_commit_records_count", 0.0) or 1.0
    return (values.get("gateway_intake_commit_records_sum", 0.0) / commits,
            values.get("gateway_intake_commit_seconds_sum", 0.0) / commits * 1000)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def toml_value(value: Any) -> str:
    """A value as TOML inline syntax (strings as JSON writes them, which TOML reads alike)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"


def write_config(path: Path, port: int, url: str, synchronous: str, routed: bool) -> None:
    text = (
        f'[http]\nport = {port}\n[storage]\nurl = "{url}"\nauto_migrate = true\n'
        f'sqlite_synchronous = "{synchronous}"\n'
        f'[smtp]\nenabled = false\n[logging]\nlevel = "WARNING"\n[router]\ndefault_queue = "general"\n'
    )
    if routed:
        model = train_model(path.parent)
        text += (
            f"rules = {toml_value(RULES)}\n"
            f"model = {toml_value({'path': str(model), 'threshold': 0.6})}\n"
            'routes = [{ queue = "*", to = "main" }]\n'
            '[destinations.main]\nkind = "webhook"\nurl = "http://127.0.0.1:9/hook"\nsecret_env = "BENCH_SECRET"\n'
            "[dispatch]\nenabled = false\n"
        )
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", help="a postgresql+asyncpg:// URL of an empty database (default: SQLite)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--sqlite-synchronous", default="full", choices=["full", "normal"])
    parser.add_argument("--overload", action="store_true", help="finish with a round at 10x the connections")
    parser.add_argument("--routed", action="store_true", help="also a gateway with rules, a model and an outbox route")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    if args.routed and args.pg:
        print("--routed runs on SQLite only (one empty database per gateway)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    script = work / "post.lua"
    script.write_text(LUA % (TOKEN, body_1kb().replace("'", "\\'")))
    names = ["gateway", "routed"] if args.routed else ["gateway"]
    ports = {name: free_port() for name in names}
    bare_port = free_port()
    for name in names:
        url = args.pg or f"sqlite+aiosqlite:///{work / (name + '.db')}"
        write_config(work / f"{name}.toml", ports[name], url, args.sqlite_synchronous, name == "routed")
    env = {**os.environ, "GATEWAY_PORTAL_TOKEN": TOKEN, "GATEWAY_API_TOKEN": "bench-api-token",
           "BENCH_SECRET": WEBHOOK_SECRET}
    py = sys.executable
    gateways = {
        name: subprocess.Popen([py, "-m", "gateway", "--config", str(work / f"{name}.toml"), "run"], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL)
        for name in names
    }
    bare = subprocess.Popen([py, str(ROOT / "bench/bare_server.py"), str(bare_port)], cwd=ROOT)
    disk_before = fsync_ms(work)
    try:
        for port in [*ports.values(), bare_port]:
            wait_port(port)
            wrk(port, 2, script, args.connections)  # warm-up
        results: dict[str, list[dict[str, float]]] = {"bare": [], **{name: [] for name in names}}
        for number in range(args.rounds):
            order = ["bare", *names]
            for name in order if number % 2 == 0 else reversed(order):
                port, pid = (bare_port, bare.pid) if name == "bare" else (ports[name], gateways[name].pid)
                results[name].append(wrk(port, args.seconds, script, args.connections, pid))
        memory = rss_mb(gateways["gateway"].pid)
        commits = {name: group_commits(ports[name]) for name in names}
        overload = wrk(ports["gateway"], args.seconds, script, args.connections * 10) if args.overload else None
        memory_after_overload = rss_mb(gateways["gateway"].pid)
        disk_after = fsync_ms(work)
    finally:
        for proc in [*gateways.values(), bare]:
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
    for name in ["bare", *names]:
        r = best(name)
        rounds = ", ".join(f"{x['rps']:.0f}" for x in results[name])
        print(f"  {name:8s} {r['rps']:9.0f} req/s   p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:6.2f} ms   "
              f"non-2xx {r['non2xx']:.0f}   CPU {r['cpu_us']:4.0f} us/request   (rounds: {rounds})")
    print(f"  ratio    {g['rps'] / b['rps']:.1%} of the bare handler's throughput")
    for name in names:
        size, ms = commits[name]
        print(f"  {name}: {size:.1f} records per group commit on average, {ms:.2f} ms per commit's transaction")
    print(f"  disk: 8 KB write + fsync p50/p99 {disk_before[0]:.2f}/{disk_before[1]:.2f} ms before the run, "
          f"{disk_after[0]:.2f}/{disk_after[1]:.2f} ms after")
    if args.routed:
        r = best("routed")
        print(f"  routing (rules, model, outbox write) adds {g['rps'] / r['rps'] - 1:+.1%} to the time per request "
              f"and {r['cpu_us'] / g['cpu_us'] - 1:+.1%} to the gateway's CPU per request "
              f"({r['cpu_us'] - g['cpu_us']:+.0f} us)")
        # The two gateways run back to back in every round, so each round's pair met the same machine;
        # the median of the rounds' own overheads moves less with the VM's speed than the medians' ratio.
        times = sorted(p["rps"] / q["rps"] - 1 for p, q in zip(results["gateway"], results["routed"], strict=True))
        cpus = sorted(q["cpu_us"] / p["cpu_us"] - 1 for p, q in zip(results["gateway"], results["routed"], strict=True))
        print(f"  paired by round: routing adds {times[len(times) // 2]:+.1%} to the time per request "
              f"(rounds {times[0]:+.1%} to {times[-1]:+.1%}) and {cpus[len(cpus) // 2]:+.1%} to the CPU per request "
              f"(rounds {cpus[0]:+.1%} to {cpus[-1]:+.1%})")
    total = sum(r["rps"] for r in results["gateway"]) * args.seconds + 2 * g["rps"]
    print(f"  gateway resident memory after ~{total:,.0f} submissions: {memory:.0f} MB")
    if overload:
        print(f"  10x overload (c={args.connections * 10}): {overload['rps']:.0f} req/s, p99 "
              f"{overload['p99_ms']:.1f} ms, non-2xx (503 with Retry-After) {overload['non2xx']:.0f}, "
              f"memory after {memory_after_overload:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

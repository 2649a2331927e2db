"""The core benchmark's comparison, counted in instructions: what routing adds to a durable HTTP intake.

Run by hand (not in CI; needs valgrind, Debian's `valgrind` package):
    .venv/bin/python bench/intake_instructions.py [--requests 1280]

bench/intake_bench.py times the gateway over HTTP with and without routing
(the ten rules, the model, the outbox write), but on a shared VM the time
per request moves by tens of percent between rounds minutes apart, more than
routing adds. Here the same three servers (the bare aiohttp handler as the
floor, the plain gateway, the routed gateway; configured by intake_bench)
each run under callgrind, one at a time; this process is the client. Each
server is warmed up, callgrind's counters are zeroed, exactly `--requests`
portal submissions are posted by 64 concurrent connections, and the counters
are dumped: instructions executed by every thread of the server (the event
loop, SQLite's) per request, which repeat to within about 1% between runs.
Each submission carries words of its own (bench/routing_bench.py's payload),
so neither the model's word cache nor the rules' plan sees only old values.

Instructions are not time (numpy's and numba's loops retire several a cycle,
the interpreter fewer); they compare what the code does, free of the
machine's noise. intake_bench gives the time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from intake_bench import TOKEN, free_port, write_config  # noqa: E402
from routing_bench import WEBHOOK_SECRET, payload  # noqa: E402
from routing_instructions import dumped  # noqa: E402

CONNECTIONS = 64
WARM_UP = 640
START_TIMEOUT = 600.0
"""Seconds a server under callgrind may take to open its port (imports run some fifty times slower)."""


async def post_all(port: int, requests: int, serial: int) -> None:
    """`requests` submissions from `CONNECTIONS` concurrent connections; every one must be accepted."""
    bodies = [payload(serial + i) for i in range(requests)]
    url = f"http://127.0.0.1:{port}/v1/portal/submissions"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=300)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONNECTIONS), timeout=timeout) as session:

        async def sender(share: list[bytes]) -> None:
            for body in share:
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    if answer.status != 202:
                        raise SystemExit(f"port {port}: {answer.status} to a submission: fix the bench")

        await asyncio.gather(*(sender(bodies[i::CONNECTIONS]) for i in range(CONNECTIONS)))


async def wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server on port {port} exited with {process.returncode} while starting")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        writer.close()
        return
    raise SystemExit(f"port {port} did not open within {START_TIMEOUT:.0f} s")


def server_command(name: str, port: int, work: Path) -> list[str]:
    if name == "bare":
        return [sys.executable, str(ROOT / "bench/bare_server.py"), str(port)]
    return [sys.executable, "-m", "gateway", "--config", str(work / f"{name}.toml"), "run"]


async def count(name: str, port: int, requests: int, work: Path) -> float:
    """Instructions per request of one server, run under callgrind."""
    out = work / f"callgrind-{name}"
    out.mkdir()
    env = {**os.environ, "GATEWAY_PORTAL_TOKEN": TOKEN, "GATEWAY_API_TOKEN": "bench-api-token",
           "BENCH_SECRET": WEBHOOK_SECRET}
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.%p", *server_command(name, port, work)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        await wait_port(port, process)
        await post_all(port, WARM_UP, serial=0)
        pid = str(process.pid)
        subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
        await post_all(port, requests, serial=1_000_000)  # words the warm-up did not bring
        subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return dumped(out, name) / requests


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1280)
    parser.add_argument("--keep", type=Path, help="copy callgrind's dumps here, to read with callgrind_annotate")
    args = parser.parse_args()
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        print("needs valgrind: apt-get install valgrind", file=sys.stderr)
        return 2
    if args.requests <= 0:
        parser.error("--requests must be positive")
    work = Path(tempfile.mkdtemp(prefix="gw-intake-instructions-"))
    counts: dict[str, float] = {}
    try:
        for name in ("bare", "gateway", "routed"):
            port = free_port()
            if name != "bare":
                write_config(work / f"{name}.toml", port, f"sqlite+aiosqlite:///{work / (name + '.db')}", "full",
                             name == "routed")
            counts[name] = asyncio.run(count(name, port, args.requests, work))
            if args.keep:
                shutil.copytree(work / f"callgrind-{name}", args.keep / name, dirs_exist_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"durable portal intake over HTTP under callgrind, c={CONNECTIONS}, {args.requests} requests after "
          f"{WARM_UP} of warm-up, instructions a request (all threads of the server)")
    plain = counts["gateway"]
    print(f"  bare     {counts['bare']:12,.0f}   (the floor: aiohttp and JSON alone)")
    print(f"  gateway  {plain:12,.0f}   ({plain / counts['bare']:.2f}x the floor)")
    routed = counts["routed"]
    print(f"  routed   {routed:12,.0f}   {routed - plain:+,.0f}")
    print(f"  routing (ten rules, the model, the outbox write) adds {routed / plain - 1:+.1%} to the durable intake's "
          "instructions per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What routing adds to durable intake, counted in instructions: the same variants as bench/routing_bench.py.

Run by hand (not in CI; needs valgrind, Debian's `valgrind` package):
    .venv/bin/python bench/routing_instructions.py [--records 640] [--variants plain,routed+outbox,...]

Timings on a shared VM move by tens of percent between runs of the same code
(docs/benchmarks.md), which hides any change of a few microseconds. Here each
variant runs in a process of its own under callgrind: the gateway is started
and warmed up (the model's first calls, SQLite's pages), then callgrind's
counters are zeroed (`callgrind_control -z`), `--records` portal records go
through the intake function from 64 concurrent callers exactly as in
routing_bench, and the counters are dumped. Instructions executed by every
thread (the event loop and SQLite's) per record repeat to within 0.1% between
runs, so two versions of the code can be compared one run each.

Instructions are not time: numpy's loops retire several per cycle, the
interpreter fewer, and cache misses cost none. Use this to compare versions of
the code and to see which part grew; use routing_bench and intake_bench for
what a request costs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from routing_bench import SECRETS, WEBHOOK_SECRET, one_round, train_model, variant_config  # noqa: E402

from gateway.app import Gateway  # noqa: E402
from gateway.cli import tune_garbage_collector  # noqa: E402

VARIANTS = ("plain", "rules", "model", "outbox", "routed+outbox")
WARM_UP = 640
CALLERS = 64


async def child(variant: str, records: int, work: Path) -> None:
    """Runs inside callgrind: warm up, zero the counters, intake `records` records, dump the counters."""
    gateway = Gateway(variant_config(variant, work), SECRETS)
    await gateway.start()
    tune_garbage_collector()
    try:
        await one_round(gateway, CALLERS, WARM_UP // CALLERS)
        pid = str(os.getpid())
        subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
        await one_round(gateway, CALLERS, records // CALLERS, serial=1_000_000)  # words the warm-up did not bring
        subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
    finally:
        await gateway.stop()


def count(variant: str, records: int, work: Path) -> float:
    """Instructions per record of one variant, from the dump its child wrote."""
    out = Path(tempfile.mkdtemp(prefix="callgrind-", dir=work))
    env = {**os.environ, "BENCH_SECRET": WEBHOOK_SECRET}
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.%p", sys.executable, __file__,
         "--child", variant, "--records", str(records), "--work", str(work)],
        check=True, cwd=out, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return dumped(out, variant) / records


def dumped(out: Path, name: str) -> int:
    """The instructions counted between `callgrind_control -z` and `-d`: the first dump's summary line."""
    dumps = sorted(out.glob("cg.*.1"))
    if not dumps:
        raise SystemExit(f"{name}: callgrind wrote no dump (did callgrind_control reach the process?)")
    for line in dumps[0].read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise SystemExit(f"{name}: no summary line in {dumps[0].name}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=640)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child, args.records, Path(args.work)))
        return 0
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        print("needs valgrind: apt-get install valgrind", file=sys.stderr)
        return 2
    if args.records <= 0 or args.records % CALLERS:
        parser.error(f"--records must be a positive multiple of {CALLERS} (one share per caller)")
    names = args.variants.split(",")
    if names[0] != "plain":
        names.insert(0, "plain")
    work = Path(tempfile.mkdtemp(prefix="gw-routing-instructions-"))
    try:
        train_model(work)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # counts do not depend on timing
            counts = dict(zip(names, pool.map(lambda name: count(name, args.records, work), names), strict=True))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"in-process durable portal intake under callgrind, {CALLERS} concurrent callers, {args.records} records "
          f"after {WARM_UP} of warm-up, instructions a record (all threads)")
    plain = counts["plain"]
    for name in names:
        extra = "" if name == "plain" else f"   {counts[name] - plain:+10,.0f} ({counts[name] / plain - 1:+.1%})"
        print(f"  {name:14s} {counts[name]:12,.0f}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

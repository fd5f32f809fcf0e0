"""`jeg-wizard --version` and `--help` wall time against the bare interpreter start, same venv.

Target: `--version` <= 3x `python -c pass`. Runs are interleaved (a busy moment hits both sides) and
the medians compared. The wizard is this checkout's (`python -m jeg_wizard`, run from the repo root).

Usage: python bench/version.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# with bytecode cached, as an installed wizard has it (pip compiles it at install)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def once(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args()
    py = sys.executable
    cases = {
        "python -c pass": [py, "-c", "pass"],
        "jeg-wizard --version": [py, "-m", "jeg_wizard", "--version"],
        "jeg-wizard --help": [py, "-m", "jeg_wizard", "--help"],
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for argv in cases.values():  # warm the page cache and the bytecode
        once(argv)
    for _ in range(args.runs):
        for name, argv in cases.items():
            times[name].append(once(argv))
    base = statistics.median(times["python -c pass"])
    print(f"{py}, median of {args.runs} runs")
    for name, t in times.items():
        med = statistics.median(t)
        print(f"{name:22s} {med * 1000:7.1f} ms   {med / base:5.2f}x")
    ratio = statistics.median(times["jeg-wizard --version"]) / base
    print(f"--version / python -c pass = {ratio:.2f}  target <= 3: {'met' if ratio <= 3 else 'MISSED'}")


if __name__ == "__main__":
    main()

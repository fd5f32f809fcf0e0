"""`jeg-wizard status --json` wall time on an install, healthy and with a hung gateway.

Targets (issue 15): <= 0.4 s including interpreter start (healthy); <= probe timeout + 0.3 s with an
endpoint that accepts connections and never answers. Figures are printed as ratios against a baseline run in
the same process: the bare interpreter start (`python -c pass`) and the CLI's own start (`--version`).

Usage: python bench/status_json.py --answers /var/lib/jeg-wizard/answers.toml [--runs 5]
(from the checkout whose jeg_wizard is measured; without an install: bench/standin_install.py makes one)
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(argv: list[str], runs: int) -> tuple[float, int]:
    times, rc = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        rc = subprocess.run(argv, capture_output=True).returncode
        times.append(time.perf_counter() - t0)
    return statistics.median(times), rc


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--answers", required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--timeout", type=float, default=1.0, help="probe timeout for the hung case")
    args = p.parse_args()
    py = sys.executable
    base, _ = timed([py, "-c", "pass"], args.runs)
    cli, _ = timed([py, "-m", "jeg_wizard", "--version"], args.runs)
    healthy, rc = timed([py, "-m", "jeg_wizard", "status", "--json", "--answers", args.answers], args.runs)
    print(f"interpreter start          {base:6.3f} s   (baseline, 1.00x)")
    print(f"jeg-wizard --version       {cli:6.3f} s   {cli / base:5.2f}x baseline")
    print(
        f"status --json, healthy     {healthy:6.3f} s   {healthy / base:5.2f}x baseline  exit {rc}  target <= 0.4 s: {'met' if healthy <= 0.4 else 'MISSED'}"
    )

    # the same install with the gateway port pointing at a listener that never answers
    text = Path(args.answers).read_text()
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        port = hung.getsockname()[1]
        import tomli_w
        import tomllib

        data = tomllib.loads(text)
        data.setdefault("gateway", {})["port"] = port
        data["gateway"]["ip"] = "127.0.0.1"
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(tomli_w.dumps(data))
        argv = [py, "-m", "jeg_wizard", "status", "--json", "--answers", f.name, "--timeout", str(args.timeout)]
        hung_t, rc = timed(argv, args.runs)
        Path(f.name).unlink()
    target = args.timeout + 0.3
    print(
        f"status --json, hung gateway {hung_t:5.3f} s   {hung_t / base:5.2f}x baseline  exit {rc}  "
        f"target <= {target:.1f} s (probe timeout + 0.3): {'met' if hung_t <= target else 'MISSED'}"
    )


if __name__ == "__main__":
    main()

"""A re-run on an installed box that has nothing to change: wall time, commands spawned, changes made.

Targets: <= 3 s and 0 changes. Changes are counted from the journal (every change is journaled before
it is made) and commands from the install log (every command is logged as `$ argv`); pip and
spark-submit among them are named. Runs this checkout's wizard (`python -m jeg_wizard` from the repo
root) with the same answers the install used, and the environment it was given (a password variable).

Usage: python bench/noop_rerun.py [--answers /var/lib/jeg-wizard/answers.toml] [--runs 3] [--verify]
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


def lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--answers", default="/var/lib/jeg-wizard/answers.toml")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--verify", action="store_true", help="time `install --verify` (the full end-to-end check) too")
    args = p.parse_args()
    sys.path.insert(0, str(REPO))
    from jeg_wizard.answers import load
    from jeg_wizard.layout import Layout

    if not Path(args.answers).exists():
        sys.exit(f"noop_rerun: no answers at {args.answers}: install first (./jeg-wizard), or give --answers")
    layout = Layout(load(args.answers))
    journal, log = layout.state_dir / "journal.jsonl", layout.install_log
    if not journal.exists():
        sys.exit(f"noop_rerun: nothing is installed with {args.answers} (no {journal}): install first")
    if os.geteuid() != 0:
        sys.exit("noop_rerun: run as root (the install does)")
    argv = [sys.executable, "-m", "jeg_wizard", "install", "--unattended", args.answers]
    cases = [("re-run", argv)] + ([("re-run --verify", [*argv, "--verify"])] if args.verify else [])
    # once untimed: the first re-run after an install by an older wizard (no marker yet) checks it all
    subprocess.run(argv, cwd=REPO, capture_output=True, stdin=subprocess.DEVNULL)
    for name, cmd in cases:
        times = []
        for _ in range(args.runs):
            j0, l0 = len(lines(journal)), len(lines(log))
            t0 = time.perf_counter()
            r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            times.append(time.perf_counter() - t0)
            if r.returncode != 0:
                sys.exit(f"noop_rerun: the re-run failed (exit {r.returncode}):\n{(r.stdout + r.stderr)[-3000:]}")
            changes = len(lines(journal)) - j0
            commands = [line.split(" $ ", 1)[1] for line in lines(log)[l0:] if " $ " in line]
            heavy = [c for c in commands if " pip " in f" {c} " or "spark-submit" in c]
        med = statistics.median(times)
        print(
            f"{name:16s} {med:6.2f} s (median of {args.runs})   changes {changes}   commands {len(commands)}"
            f" (pip/spark-submit {len(heavy)})"
        )
        if name == "re-run":
            ok = med <= 3 and changes == 0
            print(f"target <= 3 s and 0 changes: {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()

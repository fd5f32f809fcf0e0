"""Stream command output through the Run screen headless and measure it.

    /tmp/tv/bin/python bench/tui_log_stream.py [--lines 100000]

Each case runs in its own process (clean peak RSS). A real command prints the lines; the real
Runner reads them; the real Run screen shows them. Cases:
  noop     the same app and command, the screen's log sink discards lines (baseline)
  batched  the Run screen as shipped: LogStream queues, a 50 ms timer calls Log.write_lines
  naive    per-line Log.write_line via call_from_thread (fewer lines: it is slow), for contrast
Printed: wall time from the step's start until the last line is in the widget, the largest gap
between ticks of a 50 ms UI timer while streaming, and peak RSS; as ratios to noop and against
the targets (<= 1.5 s, <= 100 ms gap, memory flat from 100k to 200k and 1M lines).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(mode: str, lines: int) -> dict:
    from jeg_wizard import distro
    from jeg_wizard.answers import parse
    from jeg_wizard.engine import Engine, Step, make_context
    from jeg_wizard.runner import Runner
    from jeg_wizard.tui.app import build_app
    from jeg_wizard.tui.facts import Facts
    from jeg_wizard.tui.screens.plan import PlanScreen
    from jeg_wizard.tui.screens.run import RunScreen
    from jeg_wizard.tui.widgets import LogStream

    marks: dict[str, float] = {}
    code = f"import sys\nfor i in range({lines}): sys.stdout.write(f'Collecting package-{{i}} (from -r requirements.txt (line {{i}}))  Downloading 1.2 MB\\n')"

    @dataclass
    class Print:
        title = "print lines"
        verify_only = False

        def done(self, ctx):
            return False

        def preview(self, ctx):
            return []

        def apply(self, ctx):
            marks["start"] = time.monotonic()
            ctx.runner.run([sys.executable, "-c", code])
            marks["command_done"] = time.monotonic()

    tmp = tempfile.mkdtemp(prefix="jegw-bench-")
    dist = distro.Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)")
    answers = parse({"system": {"state_dir": f"{tmp}/state", "log_dir": f"{tmp}/log"}}, dist)
    engine = Engine(
        make_context(answers, Runner(), log_to_file=False),
        [Step("stream", "print many lines", "(bench)", lambda ctx: [Print()])],
    )
    facts = Facts("bench", "", "", "", False, True, ())
    app = build_app(
        answers,
        make_engine=lambda a: engine,
        facts=facts,
        dist=dist,
        admin_exists=True,
        probes=lambda ctx: [],
        health_interval=0,
        gate=lambda a, steps: [],
    )
    ticks: list[float] = []
    before = {}

    async def drive() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            app.set_interval(0.05, lambda: ticks.append(time.monotonic()))
            await pilot.press("enter")
            await pilot.pause()
            await pilot.press("ctrl+n")
            while not (isinstance(app.screen, PlanScreen) and app.screen.states):
                await asyncio.sleep(0.01)
            before["rss"] = rss_mb()
            if mode == "noop":
                LogStream.feed = lambda self, line: None  # lines go nowhere: the baseline
            elif mode == "naive":

                def per_line(self, line):
                    try:
                        self.app.call_from_thread(self.write_line, line)  # one UI round trip per line
                    except RuntimeError:  # already on the UI thread (the "answers saved" line)
                        self.write_line(line)
                    self.received += 1
                    self.written += 1

                LogStream.feed = per_line
            await pilot.press("s")
            while not isinstance(app.screen, RunScreen):
                await asyncio.sleep(0.001)
            if mode != "batched":  # the screen keeps a bound feed: point it at the patched one
                app.screen._feed = app.screen.query_one(LogStream).feed
            while not (isinstance(app.screen, RunScreen) and (app.screen.done or app.screen.failed is not None)):
                await asyncio.sleep(0.005)
            log = app.screen.query_one(LogStream)
            if mode != "noop":
                while log.written + log.dropped < lines:
                    await asyncio.sleep(0.002)
            marks["shown"] = time.monotonic()
            marks["widget_lines"] = len(log.lines)
            marks["failed"] = app.screen.failed is not None
            await pilot.press("q")

    asyncio.run(drive())
    window = [t for t in ticks if marks["start"] <= t <= marks["shown"] + 0.05]
    edges = [marks["start"], *window, marks["shown"]]
    gap = max(b - a for a, b in pairwise(edges))
    if os.environ.get("BENCH_GAPS"):  # where the worst gaps fell, for digging
        worst = sorted(((b - a, a - marks["start"]) for a, b in pairwise(edges)), reverse=True)[:5]
        print(
            "worst gaps (ms, at s after start):",
            [(round(g * 1000), round(t, 3)) for g, t in worst],
            "command done at",
            round(marks["command_done"] - marks["start"], 3),
            file=sys.stderr,
        )
    return {
        "mode": mode,
        "lines": lines,
        "failed": marks["failed"],
        "wall": marks["shown"] - marks["start"],
        "command": marks["command_done"] - marks["start"],
        "max_gap_ms": gap * 1000,
        "rss_before_mb": before["rss"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "widget_lines": marks["widget_lines"],
    }


def run_case(mode: str, lines: int, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--lines", str(lines)],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if out.returncode != 0:
            raise SystemExit(f"{mode} {lines} failed:\n{out.stderr[-3000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    runs.sort(key=lambda r: r["wall"])
    median = dict(runs[len(runs) // 2])
    median["worst_gap_ms"] = max(r["max_gap_ms"] for r in runs)
    median["worst_wall"] = runs[-1]["wall"]
    return median


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--lines", type=int, default=100_000)
    p.add_argument("--naive-lines", type=int, default=2_000)
    p.add_argument("--repeat", type=int, default=3, help="runs per case; the table shows the median run")
    p.add_argument("--child", metavar="MODE")
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.lines)))
        return 0

    n = args.lines
    cases = [
        ("noop", n, args.repeat),
        ("batched", n, args.repeat),
        ("batched", 2 * n, args.repeat),
        ("batched", 10 * n, 1),
        ("naive", args.naive_lines, args.repeat),
    ]
    results = [run_case(m, k, r) for m, k, r in cases]
    base = results[0]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"median of {args.repeat} runs per case (worst gap and worst wall over all runs)")
    print(
        f"{'case':<9}{'lines':>7}{'wall s':>8}{'worst':>7}{'x noop':>7}{'cmd s':>7}{'gap ms':>7}{'worst':>7}"
        f"{'x noop':>7}{'RSS0 MB':>8}{'peak MB':>8}{'x noop':>7}{'shown':>6}"
    )
    for r in results:
        print(
            f"{r['mode']:<9}{r['lines']:>7}{r['wall']:>8.2f}{r['worst_wall']:>7.2f}{r['wall'] / base['wall']:>7.2f}"
            f"{r['command']:>7.2f}{r['max_gap_ms']:>7.0f}{r['worst_gap_ms']:>7.0f}"
            f"{r['worst_gap_ms'] / base['worst_gap_ms']:>7.2f}{r['rss_before_mb']:>8.1f}{r['peak_rss_mb']:>8.1f}"
            f"{r['peak_rss_mb'] / base['peak_rss_mb']:>7.2f}{r['widget_lines']:>6}"
        )
    b1, b2, b10, naive = results[1], results[2], results[3], results[4]
    per_line_ms = naive["wall"] / naive["lines"] * 1000
    print(
        f"naive per-line write: {per_line_ms:.3f} ms/line -> {per_line_ms * n / 1000:.1f} s for {n} lines "
        f"({per_line_ms * n / 1000 / b1['wall']:.0f}x batched)"
    )
    checks = [
        (f"batched {n} lines wall <= 1.5 s", b1["wall"] <= 1.5, f"{b1['wall']:.2f} s"),
        ("batched max UI timer gap <= 100 ms (worst run)", b1["worst_gap_ms"] <= 100, f"{b1['worst_gap_ms']:.0f} ms"),
        (
            f"peak RSS flat from {n} to {2 * n} and {10 * n} lines (<= +10%)",
            max(b2["peak_rss_mb"], b10["peak_rss_mb"]) <= b1["peak_rss_mb"] * 1.10,
            f"{b1['peak_rss_mb']:.1f} -> {b2['peak_rss_mb']:.1f} -> {b10['peak_rss_mb']:.1f} MB",
        ),
        ("no step failed", not any(r["failed"] for r in results), ""),
    ]
    for name, ok, seen in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {name}: {seen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

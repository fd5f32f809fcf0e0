"""Render every screen of the wizard to SVG and PNG, from the same app states as the snapshot
tests (tests/tui/states.py: real steps through a recording runner, fixed facts and readings).

    /opt/jeg-wizard/venv/bin/python screenshots/make.py   # needs rsvg-convert (apt-get install librsvg2-bin)

The status screens (8, 9), the refused plan (10) and Change settings' diff (11) are the snapshot
tests' SVGs, converted with rsvg-convert (with xml:space="preserve", as below).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.tui.states import SIZE, STATES, fixed_machine  # noqa: E402


class _Patch:
    """monkeypatch.setattr without pytest."""

    def setattr(self, obj, name, value):
        setattr(obj, name, value)


async def render(name: str, size: tuple[int, int]) -> str:
    make, drive = STATES[name]
    app = make()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        if drive:
            await drive(pilot)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        return app.export_screenshot(title=f"jeg-wizard — {name.split('-', 1)[1]}")


def main() -> int:
    fixed_machine(_Patch())
    rsvg = shutil.which("rsvg-convert")
    if not rsvg:
        print("rsvg-convert is missing: apt-get install -y librsvg2-bin", file=sys.stderr)
        return 1
    sizes = {name: SIZE for name in STATES} | {"3-plan-100x30": (100, 30)}
    for shot, size in sizes.items():
        state = shot.removesuffix("-100x30")
        svg = asyncio.run(render(state, size))
        # rsvg drops the leading no-break spaces of a <text> unless told to keep whitespace
        svg = svg.replace("<svg ", '<svg xml:space="preserve" ', 1)
        with tempfile.TemporaryDirectory() as tmp:  # the PNGs are what the README shows
            src = Path(tmp) / f"{shot}.svg"
            src.write_text(svg)
            subprocess.run([rsvg, "--zoom", "1", src, "-o", HERE / f"{shot}.png"], check=True)
        print(f"screenshots/{shot}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

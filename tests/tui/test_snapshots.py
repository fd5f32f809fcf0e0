"""SVG snapshots of every screen at 80x24 (and the plan at 100x30), from the states in states.py
(the same ones screenshots/make.py renders). Update with: pytest tests/tui --snapshot-update"""

import pytest

from .states import SIZE, STATES


@pytest.mark.parametrize("name", list(STATES))
def test_screen(name, snap_compare, machine):
    make, drive = STATES[name]
    assert snap_compare(make(), terminal_size=SIZE, run_before=drive)


def test_plan_wide(snap_compare, machine):
    make, drive = STATES["3-plan"]
    assert snap_compare(make(), terminal_size=(100, 30), run_before=drive)


def test_no_secret_in_any_snapshot():
    """The states type PASSWORD into the masked fields; no stored screen may show it."""
    from pathlib import Path

    from .states import PASSWORD

    shots = sorted((Path(__file__).parent / "__snapshots__").rglob("*.svg"))
    assert len(shots) >= 8
    for svg in shots:
        assert PASSWORD not in svg.read_text(), svg

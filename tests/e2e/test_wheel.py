"""What pip, pipx and an index user get: the wheel built from this checkout, installed into a clean
venv with its dependencies from the index, carries the TUI and its stylesheet: the installed wizard
answers, and the wizard and the status screen start headless from the installed copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "README.md", "jeg_wizard", "steps", "kernels", "templates"]

HEADLESS = """
import asyncio, sys
from pathlib import Path
import jeg_wizard
from jeg_wizard.answers import Answers
from jeg_wizard.layout import Layout
from jeg_wizard.tui.app import build_app
from jeg_wizard.tui.status import StatusApp

assert Path(jeg_wizard.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()), jeg_wizard.__file__

async def main():
    wizard = build_app(gate=lambda answers, steps: [])
    async with wizard.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
        assert type(wizard.screen).__name__ == "WelcomeScreen", wizard.screen
        sheets = [path for path, _ in wizard.stylesheet.source if path.endswith("wizard.tcss")]
        assert sheets and Path(sheets[0]).resolve().is_relative_to(Path(sys.prefix).resolve()), sheets
    status = StatusApp(Layout(Answers()), interval=60)
    async with status.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.5)
        assert len(status.screen.query("*")) > 3
    print("headless ok")

asyncio.run(main())
"""


def run(argv, timeout=900, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw
    )


def test_the_wheel_holds_the_tui_and_starts_headless():
    work = Path(tempfile.mkdtemp(prefix="jegw-wheel-"))
    try:
        src, dist, venv = work / "src", work / "dist", work / "venv"
        src.mkdir()
        for name in SOURCES:  # a copy: a build writes build/ and *.egg-info next to the sources
            if (REPO / name).is_dir() and not (REPO / name).is_symlink():
                shutil.copytree(REPO / name, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(REPO / name, src / name)
        built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w", dist, src])
        assert built.returncode == 0, built.stderr[-3000:]
        (wheel,) = dist.glob("jeg_wizard-*.whl")
        names = set(zipfile.ZipFile(wheel).namelist())
        for must in [
            "jeg_wizard/tui/app.py",
            "jeg_wizard/tui/wizard.tcss",
            "jeg_wizard/tui/screens/plan.py",
            "jeg_wizard/tui/widgets/log_stream.py",
            "jeg_wizard/steps/spark.py",
            "jeg_wizard/templates/jupyterhub_config.py.j2",
            "jeg_wizard/kernels/spark_python_local/kernel.json.j2",
        ]:
            assert must in names, must
        packages = sorted(
            str(p.parent.relative_to(REPO)).replace("/", ".") for p in (REPO / "jeg_wizard").rglob("__init__.py")
        )
        for package in packages:  # every package of the checkout, found by discovery
            assert package.replace(".", "/") + "/__init__.py" in names, package

        made = run([sys.executable, "-m", "venv", venv], timeout=300)
        assert made.returncode == 0, made.stderr[-2000:]
        installed = run([venv / "bin" / "pip", "install", "--disable-pip-version-check", "-q", wheel])
        assert installed.returncode == 0, installed.stderr[-3000:]

        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        version = run([venv / "bin" / "jeg-wizard", "--version"], timeout=60, cwd="/", env=env)
        assert version.returncode == 0 and version.stdout.startswith("jeg-wizard "), version.stderr[-2000:]
        example = run([venv / "bin" / "jeg-wizard", "answers", "--example"], timeout=60, cwd="/", env=env)
        assert example.returncode == 0 and "[gateway]" in example.stdout, example.stderr[-2000:]
        headless = run([venv / "bin" / "python", "-c", HEADLESS], timeout=300, cwd="/", env=env)
        assert headless.returncode == 0 and "headless ok" in headless.stdout, headless.stderr[-3000:]
    finally:
        shutil.rmtree(work, ignore_errors=True)

"""The README's first command on a checkout the wizard may not write to: `./jeg-wizard` builds the
wizard from a copy, links it on PATH, and the installed wizard outlives the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PACKAGE_FILES = ["pyproject.toml", "README.md", "jeg-wizard", "jeg_wizard", "steps", "kernels", "templates"]


def run(argv, env, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def test_read_only_checkout_moved_then_deleted():
    if os.geteuid() != 0:
        pytest.skip("needs root (a read-only bind mount)")
    work = Path(tempfile.mkdtemp(prefix="jegw-boot-"))
    src, ro, venv, link = work / "src", work / "ro", work / "venv", work / "bin" / "jeg-wizard"
    src.mkdir()
    ro.mkdir()
    link.parent.mkdir()
    for name in PACKAGE_FILES:
        (shutil.copytree if (REPO / name).is_dir() and not (REPO / name).is_symlink() else shutil.copy2)(
            REPO / name, src / name, **({"symlinks": True} if (REPO / name).is_dir() else {})
        )
    env = {**os.environ, "JEG_WIZARD_VENV": str(venv), "JEG_WIZARD_LINK": str(link)}
    env.pop("JEG_WIZARD_EXTRAS", None)
    subprocess.run(["mount", "--bind", str(src), str(ro)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
        before = sorted(p.relative_to(src) for p in src.rglob("*"))
        first = run([str(ro / "jeg-wizard"), "--version"], env)
        assert first.returncode == 0, first.stderr[-3000:]
        assert "preparing" in first.stderr
        assert sorted(p.relative_to(src) for p in src.rglob("*")) == before, "the checkout was written to"
        assert os.readlink(link) == str(venv / "bin" / "jeg-wizard")
        # the installed copy carries every package of the checkout, the TUI and its stylesheet too
        packages = sorted(
            str(p.parent.relative_to(REPO)).replace("/", ".") for p in (REPO / "jeg_wizard").rglob("__init__.py")
        )
        probe = (
            "import importlib, importlib.resources as r, sys; [importlib.import_module(m) for m in sys.argv[1:]]; "
            "assert (r.files('jeg_wizard.tui') / 'wizard.tcss').is_file(); import jeg_wizard.tui.app"
        )
        carried = subprocess.run(
            [str(venv / "bin" / "python"), "-c", probe, *packages],
            capture_output=True,
            text=True,
            cwd="/",
            env=env,
            timeout=120,
        )
        assert carried.returncode == 0, carried.stderr[-2000:]
        again = run([str(ro / "jeg-wizard"), "--version"], env)
        assert again.returncode == 0 and "preparing" not in again.stderr, "an unchanged checkout rebuilt the venv"
        # tests/run asks for the test extras: added to the same venv, which the wizard then keeps
        extras = run([str(ro / "jeg-wizard"), "--version"], {**env, "JEG_WIZARD_EXTRAS": "test"})
        assert extras.returncode == 0, extras.stderr[-3000:]
        plain = run([str(ro / "jeg-wizard"), "--version"], env)
        assert "preparing" not in plain.stderr, "the two README commands rebuild the venv in turn"
    finally:
        subprocess.run(["umount", str(ro)], check=True)
    moved = work / "moved"
    src.rename(moved)
    shutil.rmtree(moved)
    example = run([str(link), "answers", "--example"], env, timeout=60)
    assert example.returncode == 0 and "[gateway]" in example.stdout, example.stderr[-2000:]
    shutil.rmtree(work)

"""`jeg-wizard uninstall`: fold the journal, undo by phase.

Each record an action journaled knows its undo and its phase (jeg_wizard/actions/records.py):
services stopped, files restored or deleted, our block taken out, our symlinks removed, leftovers
of interrupted runs removed, with the flags the software trees, users and packages. Then what is
ours alone: the logs, the state directory (the journal last: an interrupted uninstall is re-run),
and the directories we created, when empty. `plan()` only looks; every change goes through the
runner (logged, and only said by a DryRunRunner).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .actions import Op, ServiceRecord, Undo, fold
from .actions.files import DirRecord
from .actions.services import STOP_ORDER
from .engine import Journal, reap_leftovers
from .layout import Layout
from .runner import Runner
from .services import ProcessManager

STATE_ENTRIES = (
    "journal.jsonl",
    "answers.toml",
    "backups",
    "secrets",
    "services",
    "hub",
    "gateway",
    "downloads",
    "running",
    "apt-upgraded",
    "install.lock",
    "tls",
    "verified",
)


def plan(
    layout: Layout,
    *,
    remove_users: bool = False,
    remove_software: bool = False,
    remove_packages: bool = False,
    emit: Callable[[str], None] = print,
    runner: Runner | None = None,
) -> list[Op]:
    """Every step of the undo, in order; nothing is changed until the ops are run."""
    runner = runner or Runner(log=lambda line: emit(f"    {line}"))
    u = Undo(layout, runner, emit, remove_users, remove_software, remove_packages)
    state = layout.state_dir
    # a service the supervisor runs is stopped even when the journal line saying so was lost
    supervised = [ServiceRecord(n, ProcessManager.kind) for n in ProcessManager(layout.services_dir).names()]
    records = fold([*supervised, *Journal(state / "journal.jsonl").records()])

    ops: list[Op] = []
    running = state / "running"
    if running.is_dir() and any(running.iterdir()):
        ops.append(
            Op(
                f"stop commands an interrupted install left running ({running})",
                lambda: runner.effect(f"stop what {running} lists", lambda: reap_leftovers(running, emit)),
            )
        )
    undone = [(r.phase, r.sort_key(), op) for r in records for op in r.undo(u)]
    ops += [op for _, _, op in sorted(undone, key=lambda t: t[:2])]
    ops += _logs(layout, runner)
    ops += _unpacked_bundle(runner)
    state_ours = any(isinstance(r, DirRecord) and r.path == str(state) and r.created for r in records)
    ops += _state_dir(state, state_ours, runner)
    ops += _sweep(u)
    return ops


def _logs(layout: Layout, runner: Runner) -> list[Op]:
    logs = [
        layout.install_log,
        layout.step_logs_dir,
        layout.class_archive_log,
        *(layout.service_log(n) for n in STOP_ORDER),
    ]
    return [Op(f"delete {lg}", lambda lg=lg: runner.remove(lg)) for lg in logs if lg.exists()]


def _unpacked_bundle(runner: Runner) -> list[Op]:
    """install --bundle's unpacked copy (a cache: the bundle file itself is the operator's)."""
    from .bundle import UNPACK_ROOT

    if not UNPACK_ROOT.exists():
        return []
    return [Op(f"delete the unpacked offline bundle {UNPACK_ROOT}", lambda: runner.remove(UNPACK_ROOT))]


def _state_dir(state: Path, ours: bool, runner: Runner) -> list[Op]:
    """All of it when we made it; else what we put there, the journal last."""
    if not state.exists():
        return []
    if ours:
        return [Op(f"remove the state directory {state} (journal, backups, secrets)", lambda: runner.remove(state))]

    def clean() -> None:
        for n in STATE_ENTRIES:
            if n != "journal.jsonl" and (state / n).exists():
                runner.remove(state / n)
        runner.remove(state / "journal.jsonl")

    return [Op(f"remove what the install put in {state} (it was there before: kept)", clean)]


def _sweep(u: Undo) -> list[Op]:
    """The directories we created (and the log dir), deepest first, when empty: last of all."""
    dirs = list(u.sweep)
    if u.layout.log_dir not in dirs and u.layout.log_dir.exists():
        dirs.append(u.layout.log_dir)
    dirs.sort(key=lambda p: len(p.parts), reverse=True)
    if not dirs:
        return []

    def rmdirs() -> None:
        for d in dirs:
            try:
                u.runner.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                u.emit(f"kept {d}: not empty")

    return [Op("remove the directories the install created, when empty: " + ", ".join(map(str, dirs)), rmdirs)]


def run(ops: list[Op], emit: Callable[[str], None] = print) -> list[str]:
    """Do every op (one failing does not stop the others); returns the failures."""
    failed = []
    for op in ops:
        if op.do is None:
            emit(f"  {op.line}")
            continue
        try:
            op.do()
            emit(f"  done: {op.line}")
        except Exception as e:  # noqa: BLE001 - reported; the rest still runs
            failed.append(f"{op.line}: {e}")
            emit(f"  FAILED: {op.line}: {e}")
    return failed

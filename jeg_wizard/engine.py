"""The engine: steps made of actions, a plan that only looks, and a run that makes the plan true.

No textual here: the CLI, `--unattended` and the TUI all drive `Engine`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .answers import Answers
from .bundle import Bundle
from .layout import Layout
from .redact import Redactor
from .runner import Runner
from .secrets import Secrets
from .testhook import pause


class Action(Protocol):
    title: str
    verify_only: bool  # True: a check that changes nothing (runs every time, unless deep)
    # a check with `deep = True` (a Spark job, a program run to see it answers) runs only when the
    # engine is verifying: see Engine.verifying; other actions need not define it

    def done(self, ctx: Context) -> bool: ...
    def preview(self, ctx: Context) -> list[str]: ...
    def apply(self, ctx: Context) -> None: ...


@dataclass
class Step:
    id: str
    title: str
    readme: str  # the README stage this step performs
    build: Callable[[Context], list[Action]]
    skippable: bool = True
    # the hosts' parts (jeg_wizard.roles) this step belongs to; "all" is the one-host install
    roles: tuple[str, ...] = ("all", "gateway", "hub", "worker")
    titles: dict[str, str] = field(default_factory=dict)  # role -> its title where the part differs
    # the steps whose work this one uses (or a function of the answers giving them); None: every step before
    # it in the run (one after another). Steps not in a run (--only, another host's part) count as there.
    needs: tuple[str, ...] | Callable[[Any], tuple[str, ...]] | None = None

    def needs_for(self, answers) -> tuple[str, ...] | None:
        return self.needs(answers) if callable(self.needs) else self.needs


@dataclass
class Context:
    answers: Answers
    runner: Runner
    secrets: Secrets
    journal: Journal
    interactive: bool = False
    verify: bool = False  # --verify: the deep checks run even when nothing changed
    role: str = "all"  # this host's part of the site (jeg_wizard.roles)
    join: object = None  # the hub host: the gateway host's join file, read and checked (jeg_wizard.join.Join)
    bundle: Bundle | None = None  # install --bundle: packages come from it, nothing from a network
    step_logs: bool = False  # each step's lines also in a log file of its own (Layout.step_log)

    @property
    def layout(self) -> Layout:
        return Layout(self.answers, self.role)

    @property
    def dry_run(self) -> bool:
        return self.runner.dry_run

    def record(self, record) -> None:
        """Journal an action's typed record (jeg_wizard.actions.records) before its effect."""
        self.journal.write(record.entry())


class Journal:
    """Append-only, fsynced record of what each step did (what uninstall and resume read). Steps run
    side by side: each thread journals under its own step's id, one whole line per write."""

    def __init__(self, path: Path | None):
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._checked_tail = False

    @property
    def step(self) -> str:
        return getattr(self._local, "step", "")

    @step.setter
    def step(self, value: str) -> None:
        self._local.step = value

    def ensure(self) -> None:
        """The state dir exists (backups go there); when we make it, the journal says so first."""
        if self.path is not None and not self.path.parent.exists():
            self.write({"kind": "note", "what": "state directory"})

    def write(self, entry: dict) -> None:
        if self.path is None:
            return
        with self._lock:
            self._write(entry)

    def _write(self, entry: dict) -> None:
        lines = []
        if not self.path.parent.exists():  # the state dir is ours: say so, uninstall removes it
            from .actions import DirRecord

            new = [self.path.parent, *(p for p in self.path.parent.parents if not p.exists())]
            self.path.parent.mkdir(
                parents=True, mode=0o711
            )  # as steps/system.py sets it: the gateway user reaches its home
            lines += [DirRecord(str(d), created=True).entry() for d in reversed(new)]
        lines.append(entry)
        data = "".join(json.dumps({"ts": time.time(), "step": self.step, **e}, default=str) + "\n" for e in lines)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if not self._checked_tail:  # a line cut by a crash: end it, so ours is not glued to it
                self._checked_tail = True
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = "\n" + data
            os.write(fd, data.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> list[dict]:
        """Every complete entry; a line a crash cut short (or any unreadable one) is skipped."""
        if self.path is None or not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out

    def records(self) -> list:
        """The typed records (jeg_wizard.actions.records); notes and unknown kinds left out."""
        from .actions import from_entry

        return [r for r in map(from_entry, self.entries()) if r is not None]


# ------------------------------------------------------------------ events for the front ends


@dataclass
class StepState:
    step: Step
    actions: list[Action] = field(default_factory=list)
    pending: list[Action] = field(default_factory=list)  # actions whose end state does not hold yet
    status: str = "unknown"  # done | todo | check | running | ok | failed | skipped
    seconds: float = 0.0
    error: str = ""
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))  # its own last lines (steps run side by side)

    @property
    def changes(self) -> bool:
        return any(not a.verify_only for a in self.pending)


Listener = Callable[[str, StepState], None]  # (event, state): "plan", "start", "finish"


class StepFailed(Exception):
    def __init__(self, state: StepState, cause: BaseException):
        self.state, self.cause = state, cause
        super().__init__(f"step '{state.step.id}' ({state.step.title}) failed: {cause}")


class Engine:
    def __init__(self, ctx: Context, steps: list[Step]):
        self.ctx = ctx
        self.steps = steps
        self.listeners: list[Listener] = []
        self._recovered = False
        self._passed: set[str] = set()  # steps that ran to the end in this run
        self.workers = WORKERS

    # -- a re-run that only looks: the deep checks run when asked, or when something changed since
    # they last all passed (a marker in the state dir, removed before the first change of any run)
    @property
    def _verified_marker(self) -> Path:
        return self.ctx.layout.state_dir / "verified"

    @property
    def verifying(self) -> bool:
        return self.ctx.verify or not self._verified_marker.exists()

    def _changing(self) -> None:
        """Before a change: the last full check no longer speaks for this machine."""
        if not self.ctx.dry_run:
            self._verified_marker.unlink(missing_ok=True)

    def mark_verified(self) -> None:
        """Every step ran to the end in this run, deep checks included where anything changed:
        the next run with nothing to change only looks."""
        if self.ctx.dry_run or self.ctx.journal.path is None or self._passed != {s.id for s in self.steps}:
            return
        if self._verified_marker.exists():  # nothing changed: a run that only looked writes nothing
            return
        from . import files

        files.atomic_write(self._verified_marker, b"the deep checks passed after the last change\n", 0o600)

    def _emit(self, event: str, st: StepState) -> None:
        for listener in list(self.listeners):
            listener(event, st)

    def inspect(self, step: Step, deep: bool | None = None) -> StepState:
        """Look without changing anything: which of the step's actions still have work to do."""
        st = StepState(step)
        deep = self.verifying if deep is None else deep
        for a in step.build(self.ctx):  # in order, as run_step goes: a change makes the checks after it deep
            if a.verify_only and getattr(a, "deep", False) and not deep:
                continue
            st.actions.append(a)
            if a.verify_only:
                st.pending.append(a)
            elif not a.done(self.ctx):
                st.pending.append(a)
                deep = True
        if not st.pending:
            st.status = "done"
        elif st.changes:
            st.status = "todo"
        else:
            st.status = "check"
        return st

    def plan(self) -> list[StepState]:
        states, changes = [], False
        for step in self.steps:
            # as the run will: once a step changes something, the deep checks after it run
            st = self.inspect(step, deep=self.verifying or changes)
            changes = changes or st.changes
            states.append(st)
            self._emit("plan", st)
        return states

    def _recover(self) -> None:
        """Once per run: stop commands a killed earlier run left going (pip, tar, apt run in
        sessions of their own, so a kill of the installer does not reach them), and from now
        on keep the list of our running commands where the next run can find it."""
        if self.ctx.dry_run or self.ctx.journal.path is None:
            self._recovered = True
            return
        self.ctx.journal.ensure()
        lock_state_dir(self.ctx.journal.path.parent)  # before killing anything: it could be another live run's
        self._recovered = True
        running = self.ctx.journal.path.parent / "running"
        reap_leftovers(running, self.ctx.runner.emit)

        def track(pid: int, argv: list[str], started: bool) -> None:
            note = running / str(pid)
            if started:
                if not running.is_dir():
                    self.ctx.journal.ensure()
                    running.mkdir(mode=0o700, exist_ok=True)
                note.write_text(f"{pid} {_start_time(pid)} {os.path.basename(argv[0])}\n")
            else:
                note.unlink(missing_ok=True)

        self.ctx.runner.track = track

    def run_step(self, step: Step) -> StepState:
        pause(f"step {step.id}")
        self.ctx.journal.step = step.id
        st = StepState(step, status="running")
        log = self._step_log(step)

        def own(line: str) -> None:
            st.tail.append(line)
            if log:
                log.write(line)

        self.ctx.runner.step_sink(own)
        self._emit("start", st)
        t0 = time.monotonic()
        self.ctx.runner.emit(f"== {step.id}: {step.title}")
        try:
            if not self._recovered:
                self._recover()
            st.actions = step.build(self.ctx)
            changed = False
            for action in st.actions:
                if action.verify_only:
                    # left out before any change; a step that does not need the changing one (it runs
                    # beside it) does not depend on what it changed
                    if getattr(action, "deep", False) and not self.verifying:
                        continue
                elif action.done(self.ctx):
                    continue
                else:
                    self._changing()
                self.ctx.runner.emit(f"-- {action.title}")
                pause(f"before {action.title}")
                action.apply(self.ctx)
                pause(f"after {action.title}")
                if not action.verify_only:
                    changed = True
                    self.ctx.journal.write({"action": action.title})  # a note for the reader: which action finished
            st.status = "ok" if changed else "done"  # done: nothing to change (its checks still ran)
        except BaseException as e:  # noqa: BLE001 - reported, then re-raised
            st.status = "failed"
            st.error = str(e)
            st.seconds = time.monotonic() - t0
            self.ctx.runner.emit(f"!! {step.id} failed: {e}")
            self._emit("finish", st)
            raise StepFailed(st, e) from e
        finally:
            self.ctx.runner.step_sink(None)
            if log:
                log.close()
        st.seconds = time.monotonic() - t0
        self._passed.add(step.id)
        self.ctx.runner.emit(f"== {step.id}: {st.status} in {st.seconds:.1f}s")
        self._emit("finish", st)
        return st

    def _step_log(self, step: Step):
        """Each step's lines in a file of its own too (the install log has every step's, side by side)."""
        if not self.ctx.step_logs or self.ctx.dry_run:
            return None
        from .installlog import InstallLog

        return InstallLog(self.ctx.layout.step_log(step.id))

    @staticmethod
    def needs(steps: list[Step], answers) -> dict[str, set[str]]:
        """What each step of this run waits for: its needs that are in the run (None: all before it)."""
        ids = [s.id for s in steps]
        out = {}
        for i, s in enumerate(steps):
            needs = s.needs_for(answers)
            out[s.id] = set(ids[:i]) if needs is None else {n for n in needs if n in ids}
        return out

    def release(self) -> None:
        """The run is over: the state dir's lock goes (what waits for the install, the class archive's job,
        starts). A run after this takes it again. Without it (a failed step in the TUI) the lock is held
        until the process ends."""
        if self._recovered and self.ctx.journal.path is not None:
            unlock_state_dir(self.ctx.journal.path.parent)
        self._recovered = False

    def run(
        self,
        steps: list[Step] | None = None,
        finished: set[str] = frozenset(),
        stop: Callable[[], bool] = lambda: False,
    ) -> list[StepState]:
        """Run steps (default: all) side by side as their needs allow, at most WORKERS at once; those in
        finished (done earlier, or skipped) count as done and are not run. After a failure (or once stop()
        says so) no step starts, the running ones end, then StepFailed of the first failure is raised."""
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        steps = [s for s in (steps if steps is not None else self.steps) if s.id not in finished]
        waits = {sid: need - set(finished) for sid, need in self.needs(steps, self.ctx.answers).items()}
        if not self._recovered:
            self._recover()  # before any thread starts: the state dir's lock, leftovers of a killed run
        done: list[StepState] = []
        failed: StepFailed | None = None
        running: dict = {}
        interrupted: BaseException | None = None
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="step") as pool:
            while True:
                # the first ready in the README's order while a worker is free (one worker: that order)
                while failed is None and interrupted is None and not stop() and len(running) < self.workers:
                    s = next((s for s in steps if not waits[s.id]), None)
                    if s is None:
                        break
                    steps.remove(s)
                    running[pool.submit(self.run_step, s)] = s
                if not running:
                    break
                try:
                    ended, _ = wait(running, return_when=FIRST_COMPLETED)
                except BaseException as e:  # noqa: BLE001 - Ctrl+C: the steps' commands stop now, not when done
                    interrupted = interrupted or e
                    self.ctx.runner.terminate_all()
                    continue
                for future in ended:
                    s = running.pop(future)
                    try:
                        done.append(future.result())
                    except StepFailed as e:
                        failed = failed or e
                        continue
                    except BaseException as e:  # noqa: BLE001 - outside a step's own try (a listener)
                        failed = failed or StepFailed(StepState(s, status="failed", error=str(e)), e)
                        continue
                    for need in waits.values():
                        need.discard(s.id)
        if interrupted:
            raise interrupted
        if failed:
            raise failed
        if steps and not stop():  # needs nothing in the run provides: a step list's error, not the machine's
            raise RuntimeError(f"steps never ready: {', '.join(f'{s.id} (needs {waits[s.id]})' for s in steps)}")
        return done

    def install(self, only: set[str] | None = None) -> list[StepState]:
        try:
            done = self.run([s for s in self.steps if not only or s.id in only])
            self.mark_verified()
        finally:
            self.release()
        order = {s.id: i for i, s in enumerate(self.steps)}
        return sorted(done, key=lambda st: order[st.step.id])


# steps at once: pip, npm, downloads and extracting overlap; more would only share the same two cores
WORKERS = 3


_LOCKS: dict[str, int] = {}
INSTALL_LOCK = "install.lock"  # in the state dir


def lock_state_dir(state_dir: Path) -> None:
    """One install or uninstall at a time per state dir: an flock held until this process ends
    (a kill releases it). Raises, naming the holder, when another run has it."""
    import fcntl

    key = str(state_dir)
    if key in _LOCKS:
        return
    fd = os.open(Path(state_dir) / INSTALL_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise RuntimeError(
            f"another jeg-wizard run is working on {state_dir} (pid {holder or '?'}, "
            f"{state_dir}/install.lock); wait for it to finish or stop it, then run this again"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _LOCKS[key] = fd


def unlock_state_dir(state_dir: Path) -> None:
    fd = _LOCKS.pop(str(state_dir), None)
    if fd is not None:
        os.close(fd)


def reap_leftovers(running: Path, emit: Callable[[str], None]) -> None:
    """Kill (SIGKILL, whole process group) the commands an interrupted run noted in `running`."""
    import signal

    for note in sorted(running.glob("*")) if running.is_dir() else []:
        try:
            pid, start, what = note.read_text().split(" ", 2)
            if start and _start_time(int(pid)) == start:
                os.killpg(int(pid), signal.SIGKILL)
                for _ in range(100):
                    if _start_time(int(pid)) != start:
                        break
                    time.sleep(0.1)
                emit(f"stopped a command left running by an interrupted run: {what.strip()} (pid {pid})")
        except (OSError, ValueError):
            pass
        note.unlink(missing_ok=True)


def _start_time(pid: int) -> str:
    """The process's start time (field 22 of /proc/PID/stat): tells a pid from a reused one."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def make_context(
    answers: Answers,
    runner: Runner | None = None,
    *,
    dry_run: bool = False,
    interactive: bool = False,
    log_to_file: bool = True,
    verify: bool = False,
    role: str = "all",
    join=None,
    bundle: Bundle | None = None,
) -> Context:
    """The wiring both front ends use: redactor shared by runner, secrets and log file."""
    from .installlog import InstallLog
    from .runner import DryRunRunner

    layout = Layout(answers, role)
    redactor = runner.redactor if runner else Redactor()
    log = InstallLog(layout.install_log) if (log_to_file and not dry_run) else None
    if runner is None:
        runner = (DryRunRunner if dry_run else Runner)(redactor, log.write if log else None)
    secrets = Secrets(answers, layout, redactor, interactive=interactive)
    if join is not None:  # the hub host's gateway token comes from the join file
        secrets.set_gateway_token(join.token)
    journal = Journal(None if dry_run else layout.state_dir / "journal.jsonl")
    return Context(
        answers,
        runner,
        secrets,
        journal,
        interactive=interactive,
        verify=verify,
        role=role,
        join=join,
        bundle=bundle,
        step_logs=log is not None,
    )

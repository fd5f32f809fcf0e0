"""The one seam for effects: commands (argv lists only, secrets redacted, output streamed and
logged) and every change to files, directories, links and services.

`Runner` does them; `DryRunRunner` records commands and says "would ..." for the rest (plan, unit
tests) and can be told to fail a command. Read-only probes (`probe`) run in both, so a plan sees
the real machine. Actions never ask which one they have.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from . import files
from .redact import Redactor

T = TypeVar("T")

# tools that take a machine-wide lock and fail rather than wait while another holds it (dpkg's lock,
# /etc/passwd's): steps run side by side, so our commands of each kind take turns
_TAKE_TURNS = {
    **dict.fromkeys(["apt-get", "apt", "dpkg"], "packages"),
    **dict.fromkeys(["useradd", "usermod", "userdel", "groupadd", "groupdel", "chpasswd"], "accounts"),
}
_TURNS = {kind: threading.Lock() for kind in set(_TAKE_TURNS.values())}

OutputSink = Callable[[str], None]


class CommandFailed(Exception):
    def __init__(self, argv_shown: str, rc: int, tail: list[str]):
        self.argv_shown, self.rc, self.tail = argv_shown, rc, tail
        last = "\n".join(tail[-15:])
        super().__init__(f"command failed (exit {rc}): {argv_shown}\n{last}")


class SecretOnCommandLine(Exception):
    """A secret reached an argv: refuse rather than expose it in `ps`."""


@dataclass
class Result:
    rc: int
    output: list[str] = field(default_factory=list)  # the last lines (bounded)

    @property
    def text(self) -> str:
        return "\n".join(self.output)


class Runner:
    dry_run = False
    TAIL = 400  # lines kept in memory per command; the full output is in the log file

    def __init__(self, redactor: Redactor | None = None, log: OutputSink | None = None):
        self.redactor = redactor or Redactor()
        self._sinks: list[OutputSink] = []
        self._log = log
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self.track: Callable[[int, list[str], bool], None] | None = None  # (pid, argv, started): see Engine._recover
        self._step = threading.local()  # steps run side by side, one a thread: where this thread's lines go too

    def step_sink(self, sink: OutputSink | None) -> None:
        """Lines this thread emits from now on also go to sink (its step's own log and tail); None: no more."""
        self._step.sink = sink

    # -- listeners: the log file, the TUI's batched Log, the rich progress line
    def subscribe(self, sink: OutputSink) -> Callable[[], None]:
        self._sinks.append(sink)
        return lambda: self._sinks.remove(sink)

    def emit(self, line: str) -> None:
        line = self.redactor(line)
        if self._log:
            self._log(line)
        for sink in list(self._sinks):
            sink(line)
        own = getattr(self._step, "sink", None)
        if own:
            own(line)

    def show(self, argv: Sequence[str]) -> str:
        return self.redactor(shlex.join(argv))

    def _guard(self, argv: Sequence[str], env: dict | None) -> None:
        for a in argv:
            if self.redactor.contains_secret(a):
                raise SecretOnCommandLine(f"refusing to put a secret on a command line: {self.show(argv)}")

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> Result:
        argv = [str(a) for a in argv]
        self._guard(argv, env)
        self.emit(f"$ {self.show(argv)}")
        turn = _TURNS.get(_TAKE_TURNS.get(os.path.basename(argv[0]), ""))
        with turn or contextlib.nullcontext():
            return self._execute(argv, input=input, env=env, cwd=cwd, timeout=timeout, check=check, stream=True)

    def probe(self, argv: Sequence[str], *, timeout: float = 30, env: dict | None = None) -> Result:
        """A read-only command: runs in dry-run too, output kept but not streamed."""
        argv = [str(a) for a in argv]
        self._guard(argv, env)
        try:
            return self._execute(argv, input=None, env=env, cwd=None, timeout=timeout, check=False, stream=False)
        except FileNotFoundError:
            return Result(127, [f"{argv[0]}: not found"])

    def _execute(self, argv, *, input, env, cwd, timeout, check, stream) -> Result:
        full_env = {**os.environ, **(env or {})}
        full_env.setdefault("DEBIAN_FRONTEND", "noninteractive")
        tail: deque[str] = deque(maxlen=self.TAIL)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,  # Ctrl+C in the TUI is ours to handle; we stop children ourselves
        )
        with self._lock:
            self._procs.add(proc)
        if stream and self.track:
            self.track(proc.pid, argv, True)
        if input is not None:

            def feed():
                try:
                    proc.stdin.write(input.encode())
                    proc.stdin.close()
                except (BrokenPipeError, OSError):
                    pass

            threading.Thread(target=feed, daemon=True).start()
        timer = None
        if timeout:
            timer = threading.Timer(timeout, self._kill, args=(proc,))
            timer.start()
        try:
            # \r splits too: pip/apt progress redraws would otherwise become one giant line
            for raw in _lines(proc.stdout):
                line = self.redactor(raw)
                tail.append(line)
                if stream:
                    self.emit(line)
            rc = proc.wait()
        finally:
            if timer:
                timer.cancel()
            with self._lock:
                self._procs.discard(proc)
            if stream and self.track:
                self.track(proc.pid, argv, False)
        if check and rc != 0:
            raise CommandFailed(self.show(argv), rc, list(tail))
        return Result(rc, list(tail))

    # -- effects other than commands: each is said (logged, redacted), then done
    def effect(self, what: str, do: Callable[[], T]) -> T | None:
        self.emit(what)
        return do()

    def check(self, what: str, do: Callable[[], T]) -> T | None:
        """A verification that may run commands and connect: skipped by a dry run, which has run nothing."""
        return do()

    def write(self, path: Path, data: bytes, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
        """Atomically (temp file, fsync, rename), with the final mode and owner from the start."""
        self.effect(f"write {path} (mode {mode:o})", lambda: files.atomic_write(path, data, mode, owner))

    def backup(self, path: Path, backup_dir: Path) -> Path | None:
        """A copy of what is at path (None: nothing there) under backup_dir, before we replace it."""
        if not Path(path).exists():
            return None
        return self.effect(f"back up {path} under {backup_dir}", lambda: files.backup(path, backup_dir))

    def mkdir(self, path: Path, mode: int = 0o755) -> None:
        self.effect(f"mkdir -p -m {mode:o} {path}", lambda: Path(path).mkdir(parents=True, exist_ok=True, mode=mode))

    def chmod(self, path: Path, mode: int) -> None:
        self.effect(f"chmod {mode:o} {path}", lambda: os.chmod(path, mode))

    def chown(self, path: Path, ids: tuple[int, int]) -> None:
        self.effect(f"chown {ids[0]}:{ids[1]} {path}", lambda: os.chown(path, *ids))

    def rename(self, src: Path, dest: Path) -> None:
        self.effect(f"mv {src} {dest}", lambda: os.rename(src, dest))

    def symlink(self, link: Path, target: Path | str) -> None:
        """Point link at target in one step (a temp link renamed over it, as `ln -sfn` is not)."""

        def do() -> None:
            tmp = Path(link).with_name(f".{Path(link).name}.tmp-link")
            if tmp.is_symlink():
                tmp.unlink()
            Path(link).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, tmp)
            os.replace(tmp, link)

        self.effect(f"ln -sfn {target} {link}", do)

    def remove(self, path: Path) -> None:
        """A file, link or whole tree; for a file also the temps an interrupted write of it left."""

        def do() -> None:
            p = Path(path)
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
                files.remove_stale_temps(p)

        self.effect(f"rm -rf {path}", do)

    def rmdir(self, path: Path) -> None:
        self.effect(f"rmdir {path}", lambda: Path(path).rmdir())

    def systemctl(self, *args: str, check: bool = False) -> Result:
        return self.run(["systemctl", *args], check=check)

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, 15)
            time.sleep(2)
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass

    def terminate_all(self) -> None:
        """Ctrl+C / quit: no child command is left running."""
        with self._lock:
            procs = list(self._procs)
        for p in procs:
            threading.Thread(target=self._kill, args=(p,), daemon=True).start()


def _lines(stream) -> Iterable[str]:
    buf = b""
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            break
        buf += chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *done, buf = buf.split(b"\n")
        for d in done:
            if d.strip():
                yield d.decode("utf-8", "replace")
    if buf.strip():
        yield buf.decode("utf-8", "replace")


class DryRunRunner(Runner):
    """Records commands instead of running them; probes still look at the real machine."""

    dry_run = True

    def __init__(
        self,
        redactor: Redactor | None = None,
        log: OutputSink | None = None,
        fail: Callable[[list[str]], bool] | None = None,
        probe_results: dict | None = None,
    ):
        super().__init__(redactor, log)
        self.commands: list[list[str]] = []
        self.inputs: list[str | None] = []
        self._fail = fail
        self._probe_results = probe_results

    def run(self, argv, *, input=None, env=None, cwd=None, timeout=None, check=True) -> Result:
        argv = [str(a) for a in argv]
        self._guard(argv, env)
        self.commands.append(argv)
        self.inputs.append(input)
        self.emit(f"$ {self.show(argv)}  (dry run)")
        if self._fail and self._fail(argv):
            if check:
                raise CommandFailed(self.show(argv), 1, ["(dry run: injected failure)"])
            return Result(1, ["(dry run: injected failure)"])
        return Result(0, [])

    def effect(self, what, do):
        self.emit(f"would {what} (dry run)")
        return None

    def check(self, what, do):
        self.emit(f"would check: {what} (dry run)")
        return None

    def probe(self, argv, *, timeout=30, env=None) -> Result:
        if self._probe_results is not None:
            key = tuple(str(a) for a in argv)
            return self._probe_results.get(key, Result(1, []))
        return super().probe(argv, timeout=timeout, env=env)

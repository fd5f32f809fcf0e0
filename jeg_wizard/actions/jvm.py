"""Build the kernels' JVM class archive (jeg_wizard/class_archive.py says what it is, when it is current, and
runs the job that writes it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..class_archive import WRITE_OPTION, archive_state, builder, key_file, sidecar, stop_builder
from ..services import package_root
from .records import Op, Phase, Record, Undo, argv_line, record_new_dirs

UNIT = "jeg-class-archive"  # the job's transient unit where systemd runs the services
SIDECARS = (".partial", ".lock", ".failed", ".job.json", ".key.partial")


@dataclass
class ArchiveRecord(Record):
    """The archive, its key and its job's files; a job still writing it is stopped first."""

    path: str
    kind = "jvm-archive"
    phase = Phase.SERVICES

    def sort_key(self) -> tuple:
        return (-2,)  # among the services (whose keys are their stop order, from -1): stopped first

    def undo(self, u: Undo) -> list[Op]:
        archive = Path(self.path)
        files = [archive, key_file(archive), *(sidecar(archive, s) for s in SIDECARS)]
        pid = builder(archive)
        if pid is None and not any(f.exists() for f in files):
            return []

        def do() -> None:
            u.runner.effect(f"stop the job writing {archive}", lambda: stop_builder(archive))
            for f in files:
                if f.exists():
                    u.runner.remove(f)

        running = f"stop the job writing it (pid {pid}), then " if pid else ""
        return [Op(f"{running}delete the kernels' JVM class archive {archive} and its key", do)]


@dataclass
class JvmArchive:
    """Run one Spark job as a kernel's driver would, with the JVM writing the classes it loaded at exit (and
    its output holding `expect`'s text: the job is also a check). With a log, the job runs in the background
    at idle priority once the install has ended (on two cores any JVM beside the install slows every step
    and health's kernel): kernels start without the archive until it is written."""

    archive: Path
    argv: Callable[[str], list[str]]  # the spark-submit command, given the driver's java options
    env: dict
    key: Callable[[], str]
    conf_dir: Path | None = None  # Spark's conf/ on the driver's class path
    expect: tuple[str, str] | None = None  # (what the job proves, the text its output must hold)
    log: Path | None = None  # set: the job runs in the background, its output here
    systemd: bool = False  # background in a transient unit: a login session's end cannot stop it
    after: Path | None = None  # background: the job starts once this lock (the install's) is free
    verify_only = False

    @property
    def title(self) -> str:
        proves = f"{self.expect[0]}; " if self.expect else ""
        where = ", written in the background once the install has ended" if self.log else ""
        return f"{proves}its driver's classes kept in the JVM class archive {self.archive}{where}"

    def done(self, ctx) -> bool:
        state = archive_state(self.archive, self.key())
        return state == "current" or (self.log is not None and state == "building")

    def job(self) -> dict:
        """The job's spec (class_archive.run_job)."""
        return {
            "archive": str(self.archive),
            "argv": self.argv(WRITE_OPTION.format(path=sidecar(self.archive, ".partial"))),
            "env": self.env,
            "key": self.key(),
            "expect": list(self.expect) if self.expect else None,
            "wait": self.log is None,  # in the step: after a background job still running, not instead of it
            "idle": self.log is not None,
            "after": str(self.after) if self.log and self.after else None,
        }

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "jeg_wizard.class_archive", str(sidecar(self.archive, ".job.json"))]
        if self.log is None or not self.systemd:
            return cmd
        out = f"append:{self.log}"
        return [
            *("systemd-run", "--quiet", "--collect", f"--unit={UNIT}", f"--setenv=PYTHONPATH={package_root()}"),
            *("-p", "Nice=19", "-p", "CPUSchedulingPolicy=idle", "-p", f"StandardOutput={out}"),
            *("-p", f"StandardError={out}", *cmd),
        ]

    def preview(self, ctx) -> list[str]:
        how = f"# in the background, after the install, at idle priority (its output: {self.log}): "
        how = how if self.log else "# run by: "
        return [
            argv_line(ctx, self.job()["argv"]),
            f"{how}{ctx.runner.show(self.command())}",
            f"# then rename it to {self.archive} (its key in {key_file(self.archive)})",
        ]

    def apply(self, ctx) -> None:
        if self.conf_dir and self.conf_dir.is_dir() and any(self.conf_dir.iterdir()):
            raise RuntimeError(
                f"Spark's conf directory {self.conf_dir} is not empty: a JVM neither writes nor maps a class archive "
                "with a non-empty directory on its class path; set kernels.jvm_archive = false"
            )
        record_new_dirs(ctx, self.archive)
        ctx.record(ArchiveRecord(str(self.archive)))
        ctx.runner.mkdir(self.archive.parent, 0o755)
        ctx.runner.chmod(self.archive.parent, 0o755)  # whatever the umask: every kernel's user maps the archive
        if sidecar(self.archive, ".failed").exists():  # the last job's reason: this one says its own
            ctx.runner.remove(sidecar(self.archive, ".failed"))
        ctx.runner.write(sidecar(self.archive, ".job.json"), json.dumps(self.job(), indent=1).encode(), 0o600)
        cmd, env = self.command(), {"PYTHONPATH": package_root()}
        if self.log is None:
            ctx.runner.run(cmd, env=env, timeout=960)  # the job's verdict is its last line
        elif self.systemd:
            ctx.runner.run(cmd)
            ctx.runner.check("the job holds the archive's lock", lambda: _locked(self.archive))
        else:
            ctx.runner.effect(
                f"start at idle priority, in the background: {ctx.runner.show(cmd)} (its output: {self.log})",
                lambda: _locked(self.archive, _spawn(cmd, env, self.log)),
            )


def _locked(archive: Path, proc: subprocess.Popen | None = None, timeout: float = 15) -> None:
    """Back once the job holds the lock (from then on status and a re-run see it building), or ended."""
    deadline = time.monotonic() + timeout
    while builder(archive) is None and not sidecar(archive, ".failed").exists():
        if (proc and proc.poll() is not None) or time.monotonic() > deadline:
            return
        time.sleep(0.02)


def _spawn(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: uninstall stops it with its JVM
            close_fds=True,
            cwd="/",
            env={**os.environ, **env},
        )

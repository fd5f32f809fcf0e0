"""Build the kernels' JVM class archive (jeg_wizard/class_archive.py says what it is and when it is current)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..class_archive import WRITE_OPTION, archive_state, key_file
from .checks import output_holds
from .files import FileRecord
from .records import argv_line, record_new_dirs


@dataclass
class JvmArchive:
    """Run one Spark job as a kernel's driver would, with the JVM writing the classes it loaded at exit (and
    its output holding `expect`'s text: the job is also a check)."""

    archive: Path
    argv: Callable[[str], list[str]]  # the spark-submit command, given the driver's java options
    env: dict
    key: Callable[[], str]
    conf_dir: Path | None = None  # Spark's conf/ on the driver's class path
    expect: tuple[str, str] | None = None  # (what the job proves, the text its output must hold)
    verify_only = False

    @property
    def title(self) -> str:
        proves = f"{self.expect[0]}; " if self.expect else ""
        return f"{proves}its driver's classes kept in the JVM class archive {self.archive}"

    def partial(self) -> Path:
        return self.archive.with_name(self.archive.name + ".partial")

    def done(self, ctx) -> bool:
        return archive_state(self.archive, self.key()) == "current"

    def preview(self, ctx) -> list[str]:
        return [
            argv_line(ctx, self.argv(WRITE_OPTION.format(path=self.partial()))),
            f"# then rename it to {self.archive} (its key in {key_file(self.archive)})",
        ]

    def apply(self, ctx) -> None:
        tmp, key = self.partial(), self.key()
        if self.conf_dir and self.conf_dir.is_dir() and any(self.conf_dir.iterdir()):
            raise RuntimeError(
                f"Spark's conf directory {self.conf_dir} is not empty: a JVM neither writes nor maps a class archive "
                "with a non-empty directory on its class path; set kernels.jvm_archive = false"
            )
        record_new_dirs(ctx, self.archive)
        ctx.record(FileRecord(str(self.archive), created=not self.archive.exists(), scratch=str(tmp)))
        ctx.record(FileRecord(str(key_file(self.archive)), created=not key_file(self.archive).exists()))
        ctx.runner.mkdir(self.archive.parent, 0o755)
        ctx.runner.chmod(self.archive.parent, 0o755)  # whatever the umask: every kernel's user maps the archive
        if tmp.exists():
            ctx.runner.remove(tmp)
        r = ctx.runner.run(self.argv(WRITE_OPTION.format(path=tmp)), env=self.env, timeout=900)
        if self.expect:
            ctx.runner.check(self.expect[0], lambda: output_holds(self.expect[0], "the job", self.expect[1], r))
        ctx.runner.check(f"the JVM wrote {tmp}", lambda: self._written(tmp))
        ctx.runner.chmod(tmp, 0o644)  # kernels run as the gateway's user, or as each hub user
        ctx.runner.rename(tmp, self.archive)
        ctx.runner.write(key_file(self.archive), (key + "\n").encode(), 0o644)

    @staticmethod
    def _written(tmp: Path) -> None:
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise RuntimeError(
                f"the driver JVM ran the job but wrote no class archive at {tmp}: this java cannot write one "
                "(it needs OpenJDK 13 or later); set kernels.jvm_archive = false"
            )

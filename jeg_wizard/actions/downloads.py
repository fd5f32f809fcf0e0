"""Downloads (checksummed, resumable) and tarballs extracted into a tree that appears whole."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import download
from .files import DirRecord, FileRecord
from .records import argv_line, record_new_dirs


@dataclass
class Download:
    url: str
    dest: Path
    sha512: Callable[[], str]  # "" when no checksum exists
    verify_only = False

    @property
    def title(self) -> str:
        return f"download {self.url}"

    def done(self, ctx) -> bool:
        want = self.sha512()
        return self.dest.exists() and (not want or download.sha512_of(self.dest) == want)

    def preview(self, ctx) -> list[str]:
        want = self.sha512()
        return [
            f"# GET {self.url} -> {self.dest}" + (f" (sha512 {want[:16]}…)" if want else " (no checksum published)")
        ]

    def apply(self, ctx) -> None:
        record_new_dirs(ctx, self.dest)
        ctx.record(FileRecord(str(self.dest), created=True, scratch=str(self.dest) + ".part"))
        ctx.runner.effect(
            f"download {self.url} to {self.dest}",
            lambda: download.fetch(self.url, self.dest, self.sha512(), emit=ctx.runner.emit),
        )


@dataclass
class Extract:
    """Extract a tarball whose single top directory becomes dest; via a temp dir + rename."""

    tarball: Path
    dest: Path
    sentinel: str
    verify_only = False

    @property
    def title(self) -> str:
        return f"extract {self.tarball.name} to {self.dest}"

    def tmp(self) -> Path:
        return self.dest.with_name(f".{self.dest.name}.partial")

    def argv(self) -> list[str]:
        return ["tar", "-xzf", str(self.tarball), "-C", str(self.tmp()), "--strip-components=1", "--no-same-owner"]

    def done(self, ctx) -> bool:
        return (self.dest / self.sentinel).exists()

    def preview(self, ctx) -> list[str]:
        return [argv_line(ctx, self.argv()[:-1]), f"# then rename {self.tmp()} -> {self.dest}"]

    def apply(self, ctx) -> None:
        tmp = self.tmp()
        if tmp.exists():
            ctx.runner.remove(tmp)
        record_new_dirs(ctx, self.dest)
        ctx.record(DirRecord(str(self.dest), created=True, software=True, scratch=str(tmp)))
        ctx.runner.mkdir(tmp, 0o755)
        ctx.runner.run(self.argv())
        ctx.runner.check(f"{tmp} holds {self.sentinel}", lambda: self._check(ctx))
        if self.dest.exists():
            ctx.runner.remove(self.dest)
        ctx.runner.chmod(tmp, 0o755)
        ctx.runner.rename(tmp, self.dest)

    def _check(self, ctx) -> None:
        if not (self.tmp() / self.sentinel).exists():
            ctx.runner.remove(self.tmp())
            raise RuntimeError(f"{self.tarball} does not look like a Spark distribution (no {self.sentinel})")

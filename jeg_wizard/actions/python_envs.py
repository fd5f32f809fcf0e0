"""Python environments: venvs for the hub, the gateway and the kernels; pip --target trees (pyspark)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import files
from .files import DirRecord
from .records import Op, Undo, argv_line, ours, record_new_dirs

MARKER = ".jeg-wizard-requirements"  # written last: a venv without it was never finished


def recipe(requirements, no_deps=()) -> str:
    """A venv's whole recipe, as its marker file holds it: changing any line of it means another venv."""
    return "\n".join([*requirements, *(f"--no-deps {r}" for r in no_deps)]) + "\n"


def pip_source(ctx) -> list[str]:
    """With install --bundle: the bundle's wheels only, never an index."""
    return ctx.bundle.pip_options() if ctx.bundle else []


@dataclass
class VenvRecord(DirRecord):
    """A venv: software (removed with --remove-software when we created it)."""

    software: bool = True
    kind = "venv"

    def undo_foreign(self, u: Undo) -> list[Op]:
        marker = Path(self.path) / MARKER
        if marker.exists():
            return [
                Op(
                    f"keep {self.path} (a venv that was there before; only our marker goes)",
                    lambda: u.runner.remove(marker),
                )
            ]
        return []


@dataclass
class Venv:
    path: Path
    python: str
    requirements: list[str]
    # installed after requirements, with --no-deps: packages whose declared pins requirements replace
    no_deps: list[str] = field(default_factory=list)
    verify_only = False

    @property
    def title(self) -> str:
        return f"venv {self.path}: {' '.join([*self.requirements, *self.no_deps])}"

    @property
    def marker(self) -> Path:
        return self.path / MARKER

    def _wanted(self) -> str:
        # the whole recipe: changing any line of it makes done() false, so the venv is rebuilt
        return recipe(self.requirements, self.no_deps)

    def done(self, ctx) -> bool:
        # the marker is written last: a venv killed half-way never looks finished
        py = self.path / "bin" / "python"
        if files.read(self.marker) != self._wanted().encode() or not py.exists():
            return False
        return ctx.runner.probe([str(py), "-c", "pass"]).rc == 0

    def commands(self, ctx) -> list[list[str]]:
        pip = str(self.path / "bin" / "pip")
        install = [pip, "install", "--progress-bar", "off", "--disable-pip-version-check", *pip_source(ctx)]
        return [
            [self.python, "-m", "venv", str(self.path)],
            [*install, *self.requirements],
            *([[*install, "--no-deps", *self.no_deps]] if self.no_deps else []),
        ]

    def preview(self, ctx) -> list[str]:
        return [argv_line(ctx, c) for c in self.commands(ctx)]

    def apply(self, ctx) -> None:
        existed = self.path.exists()
        mine = existed and ours(ctx, VenvRecord, self.path)
        if existed and not self.marker.exists():
            if mine:
                ctx.runner.remove(
                    self.path
                )  # a half-made venv from an interrupted run: pip may have left half a package
                existed = False
            elif not (self.path / "bin" / "python").exists():
                # someone else's directory that is no venv: never removed, filled or chmodded
                raise RuntimeError(
                    f"{self.path} exists, is not a venv and was not made by jeg-wizard; move it away "
                    f"or choose another venv path"
                )
        record_new_dirs(ctx, self.path)
        ctx.record(VenvRecord(str(self.path), created=not existed))
        for c in self.commands(ctx):
            ctx.runner.run(c)
        if not existed or mine:
            ctx.runner.chmod(self.path, 0o755)  # user servers and kernels run as other users
        ctx.runner.write(self.marker, self._wanted().encode(), 0o644)


@dataclass
class PipTarget:
    """`pip install --target` into a new directory, then rename: never a partial tree."""

    path: Path
    requirement: str
    sentinel: str  # relative path that exists only in a complete tree
    no_deps: bool = False  # the package's files only (Toree: its jar)
    verify_only = False

    @property
    def title(self) -> str:
        return f"pip install {self.requirement} into {self.path}"

    def done(self, ctx) -> bool:
        return (self.path / self.sentinel).exists()

    def tmp(self) -> Path:
        return self.path.with_name(f".{self.path.name}.partial")

    def argv(self, ctx) -> list[str]:
        # the wizard's own pip (its venv always has one): a fresh server's python has no pip module
        return [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--progress-bar",
            "off",
            "--disable-pip-version-check",
            "--no-compile",
            *pip_source(ctx),
            *(["--no-deps"] if self.no_deps else []),
            "--target",
            str(self.tmp()),
            self.requirement,
        ]

    def preview(self, ctx) -> list[str]:
        return [argv_line(ctx, self.argv(ctx)), f"# then rename {self.tmp()} -> {self.path}"]

    def apply(self, ctx) -> None:
        tmp = self.tmp()
        if tmp.exists():
            ctx.runner.remove(tmp)
        record_new_dirs(ctx, self.path)
        ctx.record(DirRecord(str(self.path), created=True, software=True, scratch=str(tmp)))
        ctx.runner.run(self.argv(ctx))
        if self.path.exists():
            ctx.runner.remove(self.path)
        ctx.runner.chmod(tmp, 0o755)
        ctx.runner.rename(tmp, self.path)
